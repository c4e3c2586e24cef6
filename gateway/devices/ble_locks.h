// BleLocks: the daemon's BLE smart locks (config `locks:`, issue 11): each lock is the actuator of
// its door, its state is read and journaled, its keypad codes and authorizations are kept equal to
// the property system, and it is paired on request.
//
//   core loop (this class)                      one BleWorker thread per adapter (ble_worker.h)
//   grant / cloud unlock -> actuator  -------->  urgent job: connect, Lock Action
//   index changed -> DesiredLockEntries
//     -> outbox (SQLite, durable) ---------->  job: read codes, diff, write, re-read (Reconcile)
//   timers: poll, retry, disconnect   -------->  jobs: read state + access log; disconnect
//   lock.pair (control, deferred)     -------->  job: pairing, credentials file (0600, atomic)
//   results  <--------------------------------  EventLoop::Post (dropped once BleLocks is gone)
//
// Nothing here blocks the loop: every BLE operation runs on the adapter's worker, one at a time;
// the store is written on the loop (its calls take ~0.1 ms). The worker's link comes from the
// injected factory (MakeGattLink: BluezGattLink in the daemon, an in-process link to the simulated
// lock in tests). Every time-dependent step follows the injected Clock (timers on the loop), so
// tests run on a FakeClock.
//
// Unlock (the door's ReportingActuator): a grant or a cloud `unlock` queues the lock's
// unlock_action (unlatch or unlock) as an urgent job. Journaled "lock" word:
//   "pulsed"         the lock answered ACCEPTED ... COMPLETE;
//   "unlock_failed"  the lock refused (its error, e.g. motor blocked, is logged and journaled as
//                    `lock.action_failed`), or kept answering busy for the whole retry budget;
//   "failed"         the lock is not paired (at once: the actuator returns an error), or could not
//                    be reached within the retry budget.
// Retry budget: options.unlock_budget (3 s: a person is standing at the door). An attempt that
// fails to connect, times out or meets "busy" is retried after 200 ms, 400 ms, ... while the
// budget lasts; the connect timeout of each attempt is what is left of the budget (at least 1 s).
//
// State: Keyturner States is read at start, when the lock's advertisement raises its "state
// changed" flag (NoteAdvertisement), after every lock action (its last transition), and every
// poll_minutes. Journaled: `lock.state` {lock, door, state} when it changes (the first reading
// too), `door.opened` / `door.closed` {door, source: "lock"} when the door sensor changes (the
// first reading is the baseline), `lock.battery_low` {lock, door, low, percent} when the critical
// flag changes (the first reading only when low), `lock.jammed` {lock, door} when the lock
// reports motor blocked, `device.online` / `device.offline` {device, door, reason} when the lock
// starts or stops answering. After each state read and each sync, the lock's access log is
// fetched from the last index seen (kept in the store's meta "lock_log:<id>"); each keypad entry
// is journaled as `access.granted` / `access.denied` {door, source: "lock", method: "keypad",
// credential, person (when the code is the gateway's), lock_time, lock_log_index}, each manual
// operation as `access.granted` {door, source: "lock", method: "manual"|"button"}. Entries made
// through the gateway's own authorization are not journaled again.
//
// Sync (config sync.codes / sync.authorizations): at start, whenever the engine's index changes
// (checked every second), when a window starts or ends (LockSync::next_change) and every
// options.verify_every, the desired entries of the lock's door (rules/lock_sync.h, names with
// sync.name_prefix) are diffed against the store's entry map and written to the lock's outbox
// (Store::ReplaceLockOutbox, durable before anything is sent). The worker then reconciles against
// what the lock really holds (lock_reconcile.h: unknown codes removed, removals and shortenings
// first, re-read to confirm). On confirmation the entry map is replaced by what was confirmed, the
// outbox cleared, and `lock.synced` {lock, door, added, updated, removed, pending: 0} journaled
// when something was written or the lock had failed before. On failure: retried after 5 s,
// doubling to 10 min; the outbox ops keep their attempts and error; `lock.sync_failed` {lock,
// door, attempts, error} after 3 failed attempts in a row (once per run of failures). A kill -9
// loses nothing: the outbox is recomputed and retried at start.
//
// Pairing (Pair, the control command {"cmd":"lock.pair","door":D}): the worker connects to the
// lock held in pairing mode, pairs as a bridge named "Lintel <gateway id>", writes the credentials
// file (lock_credentials.h), sets the lock's clock with the security PIN (which checks the PIN),
// and starts the lock. Journaled `lock.paired` {lock, door}. The key is never logged.
//
// Threads: the core loop's only (construct, Apply, the actuator, Pair, Status, destroy);
// NoteAdvertisement from any thread. Ownership: the loop, clock and gateway outlive BleLocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "drivers/ble/ble_scan.h"
#include "drivers/ble/nuki_client.h"
#include "drivers/ble/nuki_commands.h"
#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"
#include "gateway/core/gateway.h"
#include "gateway/devices/ble_worker.h"
#include "gateway/devices/lock_credentials.h"
#include "gateway/devices/lock_reconcile.h"
#include "rules/lock_sync.h"

namespace lintel::devices {

struct BleLocksOptions {
  // How long an unlock may be retried (see the file comment).
  std::chrono::milliseconds unlock_budget{3000};
  std::chrono::milliseconds unlock_first_retry{200};
  // Connect timeout of state reads, syncs and pairing.
  std::chrono::milliseconds connect_timeout{10000};
  // Sync retries: first after sync_retry_min, doubling to sync_retry_max.
  std::chrono::milliseconds sync_retry_min{5000};
  std::chrono::milliseconds sync_retry_max{600000};
  int sync_failed_after = 3;  // failed attempts in a row before lock.sync_failed
  // A full reconcile (re-read of the lock's codes) this often even when nothing changed, so a lock
  // that lost its codes gets them back.
  std::chrono::minutes verify_every{360};
  // How often the engine's index is checked for a change.
  std::chrono::milliseconds index_check{1000};
  // Jobs waiting per adapter.
  size_t max_queued = 64;
  ble::LockClientOptions client;  // reply timeouts; app_id is set from the credentials
  // The lock's code rules (the defaults are a Nuki's).
  rules::LockCodeRules code_rules;
};

// Makes the scanner of an adapter (called on the loop when the adapter's first lock starts).
using MakeBleScanner =
    std::function<Result<std::unique_ptr<ble::BleScanner>>(const std::string& adapter)>;

// The daemon's transport (library lintel_ble_io): a BluezGattLink per adapter on the system bus
// (DBUS_SYSTEM_BUS_ADDRESS when set), requiring the Nuki characteristics (a device without them
// has a stale GATT cache), and a BluezScanner per adapter.
MakeGattLink BluezGattLinks();
MakeBleScanner BluezScanners();

class BleLocks {
 public:
  // `make_scanner` may be null (no scanning: state is polled only). Each adapter with a lock scans
  // for the Nuki keyturner service the whole time (BlueZ only connects to devices it has
  // discovered); a scanner that cannot start is logged and shown in status, and tried again at
  // the next Apply.
  BleLocks(EventLoop& loop, const Clock& clock, core::Gateway& gateway, MakeGattLink make_link,
           MakeBleScanner make_scanner = nullptr, BleLocksOptions options = {});
  ~BleLocks();  // removes the actuators, stops the workers (their posted results are dropped)
  BleLocks(const BleLocks&) = delete;
  BleLocks& operator=(const BleLocks&) = delete;

  // Starts the locks of `config` (at start and on SIGHUP). When `locks:` did not change nothing
  // restarts; otherwise every lock stops (waiting unlocks are journaled "failed", the workers
  // finish their current operation) and the new set starts.
  void Apply(const config::Config& config);

  // Pairs the lock of `door` (control command lock.pair). `reply` is called once on the loop with
  // {"lock", "door", "address", "authorization_id", "credentials", "steps": [...]} or an error:
  // NotFound (no lock at that door), FailedPrecondition "not in pairing mode: ..." (hold the
  // button), Unavailable "cannot reach ..." or "no answer ..." (timeout), the PIN's error when the
  // lock was paired but refused the security PIN (the credentials are kept).
  using PairReply = std::function<void(Result<nlohmann::json>)>;
  void Pair(const std::string& door, PairReply reply);

  // An advertisement of a lock at `address` (the scanner's thread): a raised "state changed" flag
  // makes the lock's state be read. Any thread.
  void NoteAdvertisement(const std::string& address, std::optional<bool> state_changed);

  // Starts a sync of every lock now (tests, `lintelctl lock sync`).
  void SyncAll();

  // The `locks` section of lintelctl status / lock status: one object per lock (no secrets).
  nlohmann::json Status() const;

 private:
  struct Lock;
  struct Adapter;
  using Completion = std::function<void(BleLocks&)>;
  // Runs on the adapter's worker. `link` is null when the factory failed (`link_error` says why);
  // `connected_to` is the address the link is connected to ("" when none), worker thread only.
  using Work = std::function<Completion(ble::GattLink* link, const lintel::Status& link_error,
                                        std::string& connected_to, BleWorker& worker)>;

  // Queues `work` on the adapter's worker; its Completion (or `abandoned`) runs on the loop,
  // unless BleLocks is gone or restarted (Apply) meanwhile. `counts`: the job is activity that
  // keeps the connection (everything but the idle disconnect).
  void Submit(const std::string& adapter, bool urgent, bool counts, Work work,
              std::function<void(BleLocks&, const lintel::Status&)> abandoned);
  void JobDone(const std::string& adapter, bool counts);
  Adapter& AdapterFor(const std::string& name);

  void Stop();
  Lock* FindByDoor(const std::string& door);
  Lock* FindById(const std::string& id);
  Instant Now();
  int64_t MonoMs() const;
  // A one-shot loop timer that does nothing once BleLocks is gone.
  EventLoop::TimerId After(std::chrono::milliseconds delay, std::function<void(BleLocks&)> fn);
  void Cancel(std::optional<EventLoop::TimerId>& timer);

  // Unlock.
  lintel::Status Actuate(const std::string& id, std::chrono::milliseconds ms,
                         core::Gateway::LockReport report);
  void StartUnlockAttempt(const std::string& id, uint64_t unlock_id);
  void OnUnlockResult(const std::string& id, uint64_t unlock_id, const lintel::Status& st,
                      std::optional<ble::KeyturnerStates> last, bool reached);

  // State and log.
  void RequestStateRead(Lock& lock);
  void OnStateResult(const std::string& id, const Result<ble::KeyturnerStates>& st,
                     std::optional<Result<LogFetch>> log);
  void NoteState(Lock& lock, const ble::KeyturnerStates& s);
  void NoteReachable(Lock& lock, bool reachable, const std::string& reason);
  void NoteLog(Lock& lock, const std::optional<Result<LogFetch>>& log);

  // Sync.
  void CheckIndex();
  void Recompute(Lock& lock, bool force_sync);
  void RequestSync(Lock& lock);
  void OnSyncResult(const std::string& id, uint64_t generation, const ReconcileResult& result,
                    std::optional<Result<LogFetch>> log);
  void WriteOutbox(Lock& lock);

  // Pairing.
  void OnPairResult(const std::string& id, const Result<LockCredentials>& paired,
                    std::vector<std::string> steps, const lintel::Status& pin_check,
                    const PairReply& reply);

  void Journal(nlohmann::json event);
  std::optional<uint16_t> ReadPin(Lock& lock);

  EventLoop& loop_;
  const Clock& clock_;
  core::Gateway& gateway_;
  MakeGattLink make_link_;
  MakeBleScanner make_scanner_;
  BleLocksOptions options_;
  std::map<std::string, std::unique_ptr<Adapter>> adapters_;  // by adapter name
  std::map<std::string, std::unique_ptr<Lock>> locks_;        // by lock id
  std::vector<config::LockConfig> configs_;
  std::optional<EventLoop::TimerId> index_timer_;
  std::shared_ptr<const rules::Index> seen_index_;
  uint64_t next_unlock_id_ = 1;
  uint64_t epoch_ = 0;  // changes at every Stop: results of older jobs are dropped
  // Posted results and timers hold a weak_ptr to this: they do nothing once BleLocks is gone.
  std::shared_ptr<BleLocks*> self_ = std::make_shared<BleLocks*>(this);
};

}  // namespace lintel::devices
