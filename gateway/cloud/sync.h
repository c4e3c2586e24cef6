// CloudSync: the gateway's side of the cloud contract (shared/contract/cloud-mqtt.md), as a state
// machine on the core thread. It receives what the MqttLink reports (connect, loss, messages),
// verifies every message (ParseCloudMessage), applies state changes through the StateWorker (never
// on the core thread), publishes acks, requests, the retained `state`, the event outbox and
// command responses, and runs the offline policy. gateway/cloud/README.md describes the behaviour
// as a cloud engineer sees it.
//
// Threads: every member runs on the core thread (the MqttListener calls arrive through the loop).
// Decisions never wait for anything here: a new index is swapped into the engine when ready.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "config/config.h"
#include "gateway/base/clock.h"
#include "gateway/base/position.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "gateway/cloud/messages.h"
#include "gateway/cloud/mqtt_link.h"
#include "gateway/cloud/outbound.h"
#include "gateway/cloud/state_worker.h"
#include "gateway/cloud/sync_rules.h"
#include "gateway/store/store.h"
#include "rules/engine.h"

namespace lintel::cloud {

// What the gateway lends the sync (implemented by core::Gateway). Core thread only.
class SyncHost {
 public:
  virtual ~SyncHost() = default;
  // The core thread's store connection: journal (outbox), meta, commands, position.
  virtual store::Store& store() = 0;
  // The engine: its index is swapped, its offline restriction set, its clock read.
  virtual rules::Engine& engine() = 0;
  // Puts `index` in force (the engine's index), of the stored state `stamp` when known (the host
  // may then write an index image of it at a clean stop).
  virtual void InstallIndex(std::shared_ptr<const rules::Index> index,
                            std::optional<rules::ImageStamp> stamp) {
    static_cast<void>(stamp);
    engine().SwapIndex(std::move(index));
  }
  // The gateway's time (for freshness and expiry; the engine's floor is applied on top): the wall
  // clock, or the engine's estimate while the wall clock is suspect (rules/time_guard.h).
  virtual Instant WallNow() = 0;
  virtual bool ClockSynced() = 0;
  // A time the cloud signed, from a verified head or command (`issued_at`, `expires_at`) or delta
  // (`issued_at`, nullopt): a trusted time for the engine's time guard.
  virtual void NoteSignedTime(Instant issued_at, std::optional<Instant> expires_at) = 0;
  // Queues an event for the journal and writes the queue (durable before it returns when OK).
  virtual Status JournalNow(nlohmann::json event) = 0;
  // Queues an event for the journal; it is written with the next write or FlushJournal (keeps a
  // durable commit off paths where the doors wait, such as a revocation being swapped in).
  virtual void JournalLater(nlohmann::json event) = 0;
  virtual Status FlushJournal() = 0;
  // The cloud acknowledged the journal up to `seq`: removes those events from the outbox (the
  // store's DeleteUpTo). A host may hand it to another connection and return OK at once (the core
  // does: its thread never waits for the store's write lock); the removal is then its to retry.
  virtual Status DeleteEventsUpTo(uint64_t seq) { return store().DeleteUpTo(seq); }
  // Store::RecordCommand and PruneCommands, the same way: `done` gets the result on the core
  // thread, now or later.
  virtual void RecordCommandLater(std::string id, Instant at, std::string response,
                                  std::function<void(Status)> done) {
    done(store().RecordCommand(id, at, response));
  }
  virtual void PruneCommandsLater(Instant before, std::function<void(Status)> done) {
    done(store().PruneCommands(before));
  }
  // Store::SetMeta, the same way (a value the sync restores at start, such as the head's expiry).
  virtual Status SetMetaLater(std::string key, std::string value) {
    return store().SetMeta(key, value);
  }
  // Asks the door's lock to open for `duration` (a cloud `unlock` command) and returns at once;
  // the host journals what the hardware did (`door.unlocked`) when it knows. Errors: NotFound
  // when the door has no actuator; the actuator's own (its module offline).
  virtual Status Unlock(std::string_view door, std::chrono::milliseconds duration) = 0;
  // Journal events the store could not write yet (kept in memory: a full or read-only disk), and
  // events dropped since start because that memory queue overflowed. Both 0 while the store
  // works; published in `state` when not.
  virtual uint64_t UnwrittenEvents() { return 0; }
  virtual uint64_t LostEvents() { return 0; }
};

// Why the sync refused something from the cloud: the parser's reasons (RejectReason) and the
// sync layer's own. The names are the `reason` of `sync.rejected` events and of the counters.
enum class SyncRejectReason : uint8_t {
  kSignature,     // "signature": the JWS did not verify (forged, unsigned, unknown key)
  kNotJson,       // "not_json"
  kWrongType,     // "wrong_type"
  kWrongSite,     // "wrong_site": signed, but for another site (never answered)
  kWrongGateway,  // "wrong_gateway": signed, but for another gateway (never answered)
  kBadField,      // "bad_field"
  kBadRecords,    // "bad_records"
  kInternal,      // "internal": a caught exception
  kStale,         // "stale": an expired head, a head or snapshot page behind the position
  kValidation,    // "validation": the state a delta or snapshot would make breaks the rules
  kStore,         // "store": the store failed to apply it
  kTooLarge,      // "too_large": above its topic's cloud.limits (dropped unread)
  kOverload,      // "overload": a receive queue was full (dropped unread)
};
std::string_view SyncRejectReasonName(SyncRejectReason reason);
SyncRejectReason FromParse(RejectReason reason);

// Figures for `lintelctl status` and the tests.
struct SyncCounters {
  uint64_t messages = 0;
  uint64_t rejected = 0;
  std::map<std::string, uint64_t> rejected_by_reason;  // SyncRejectReasonName"
  uint64_t deltas_applied = 0;
  uint64_t snapshots_applied = 0;
  uint64_t duplicates = 0;
  uint64_t gaps = 0;
  uint64_t commands_executed = 0;
  uint64_t commands_refused = 0;
  uint64_t events_published = 0;
  uint64_t batches_published = 0;
  uint64_t rejected_journaled = 0;  // sync.rejected events written (coalesced: one per reason per
                                    // cloud.limits.reject_journal_interval_s)
  uint64_t index_failures = 0;      // committed changes whose index could not be built
  uint64_t worker_faults = 0;       // state worker jobs that threw
  uint64_t parser_faults = 0;       // parser thread jobs that threw
  uint64_t applied_in_memory = 0;   // restricting deltas put in force in memory only (store failed)
  uint64_t restricted_early = 0;    // deltas whose restrictions were in force before their commit
};

// Test seams (fault injection); empty in production. `worker` as StateWorker::FaultHook; `parser`
// runs on a parser thread before each message is verified (a throw is what a bug would do); the
// parser has two threads, so it may run on both at once.
struct SyncFaults {
  StateWorker::FaultHook worker;
  std::function<void()> parser;
};

class CloudSync final : public MqttListener {
 public:
  // Limits of the outbox sender.
  static constexpr uint64_t kMaxUnackedEvents = 20000;      // published, not yet acknowledged
  static constexpr std::chrono::seconds kAckTimeout{10};    // then resend from the first unacked
  static constexpr std::chrono::seconds kRequestRepeat{5};  // same sync/request not repeated sooner
  // How long a snapshot page waits on the MQTT client's thread (back-pressure to the broker) for a
  // credit (at most 8 pages in the process: then it goes on without one) and then for room in a
  // full parser queue (then it is dropped as overload).
  static constexpr std::chrono::milliseconds kSnapshotPageWait{5000};

  // `config` gives site, gateway, keys, limits and the offline policy; `link` may be null until
  // SetLink (tests drive the listener directly). `clock` (Monotonic) times the ack timeout, the
  // request repeat, the index retry and the coalescing of rejections; it must outlive this.
  CloudSync(const config::Config& config, SyncHost& host, std::string boot_id, const Clock& clock);
  ~CloudSync() override;  // joins the parser and worker threads

  // Starts the state worker (its own store connection on config.store_path). Errors: the position
  // or the head expiry cannot be read from the store.
  Status Start(StateWorker::Poster post);
  // Before Start(): fault injection for tests.
  void SetFaultsForTest(SyncFaults faults) { faults_ = std::move(faults); }
  void SetLink(MqttLink* link) { link_ = link; }
  // How the state worker opens its store connection (before Start; default Store::Open). Tests
  // pass a fault-injecting opener (gateway/store/fault_store.h).
  void SetStoreOpener(store::StoreOpener open) { open_store_ = std::move(open); }
  const Topics& topics() const { return topics_; }
  const std::string& boot_id() const { return boot_id_; }

  // Whether Reload would take `config`, changing nothing (the daemon checks every part of a new
  // config before it commits any, core/reload.h). Errors: FailedPrecondition when the site or
  // gateway id changed (topics and signatures name them).
  Status CheckReload(const config::Config& config) const;
  // A new config (SIGHUP): keys, site and offline policy. Errors: those of CheckReload, and then
  // nothing changed.
  Status Reload(const config::Config& config);

  // MqttListener (through the core loop).
  void OnConnected(uint32_t session) override;
  void OnDisconnected(const std::string& reason) override;
  // Cheap on the core thread whatever arrives: a message above its topic's cloud.limits is
  // dropped unread; every other one is queued (bounded: cloud.limits.queue_*; full: dropped) for
  // the parser thread, which verifies the signature on the compact text before anything is
  // decoded. Only verified messages come back to the core thread, in arrival order; rejections
  // are counted and journaled coalesced (one `sync.rejected` per reason per interval).
  void OnMessage(const std::string& topic, const std::string& payload) override;
  // On the MQTT client's thread: hands the message straight to the parser thread's bounded queue
  // (after the topic's size limit), so a flood never reaches the core loop; a message the queue
  // cannot take is counted (`overload`) and dropped. A small one that finds the parser idle is
  // verified and parsed right here instead (rate-limited; see Parser::Submit). False before Start()
  // or for a message over its limit (OnMessage then counts it on the loop).
  bool TakeOffLoop(const std::string& topic, const std::string& payload) override;

  // The daemon is stopping: publishes the retained state as the will would ({"online":false}),
  // since a clean disconnect makes the broker drop the will.
  void OnStopping();

  // New events were journaled: publish them if connected.
  void OnJournal();
  // The core replaced its index `from` by `to`, the same state in other memory
  // (core::Gateway::SetIndexCopiedListener): the state worker adopts `to` if `from` is its index,
  // so that its edits stop sharing chunks with the mapped image.
  void OnIndexCopied(std::shared_ptr<const rules::Index> from,
                     std::shared_ptr<const rules::Index> to);
  // Every second: outbox ack timeout, offline policy, state republish when changed (also when the
  // core's journal backlog changed: at once when it appears or clears, else at most every 10 s),
  // coalesced rejections journaled, the link's drops collected, a failed index build retried.
  void Tick();

  // {"connected","session","epoch","version","pending_jobs","head":{..}?,"outbox","staff_only",
  //  "counters":{..},"components":{"parser"|"worker"|"link":{"ok":bool,"faults","error"?}},
  //  "index_failed":bool,"in_memory_revocations":n} for `lintelctl status`.
  nlohmann::json StatusJson();

  const SyncCounters& counters() const { return counters_; }
  // Restricting deltas the store could not write that the doors enforce from memory only (see
  // StateWorker): 0 once the store has them (or after a restart: then they are not enforced).
  size_t in_memory_revocations() const { return in_memory_deltas_; }
  Position applied() const { return applied_; }
  // applied() plus what is queued for the worker (a snapshot counts once its last page is in).
  Position pending() const { return pending_; }
  bool connected() const { return connected_; }
  // Messages being parsed off the core thread plus state jobs submitted to the worker, whose
  // outcome has not been handled yet.
  size_t pending_jobs() const { return parses_in_flight_.load() + jobs_outstanding_; }
  // WAL checkpoints the state worker completed between bursts (0 before Start).
  uint64_t wal_checkpoints() const { return worker_ ? worker_->wal_checkpoints() : 0; }
  // The state worker's idle upkeeps (StateWorker::idle_upkeeps; 0 before Start).
  uint64_t idle_upkeeps() const { return worker_ ? worker_->idle_upkeeps() : 0; }
  // A change is committed but the doors do not decide on it yet (its index failed to build).
  bool index_failed() const { return index_failed_; }

  // Observer, for benchmarks and tests: called on the core thread with every outcome of the state
  // worker, right after its index (if any) was swapped into the engine (`outcome.index` is then
  // null) and before the outcome is journaled or acknowledged. It must not call back into this
  // CloudSync. Empty: not called.
  void SetOutcomeObserver(std::function<void(const StateOutcome&)> observer) {
    outcome_observer_ = std::move(observer);
  }

 private:
  class Parser;
  struct Tally {  // rejections of one reason not yet journaled
    uint64_t count = 0;
    Instant first_at{};
    Instant last_at{};
    std::string topic;
    std::string error;  // the first one's
  };
  void Dispatch(Topic topic, const std::string& payload, Result<Message> m, const Rejection& why);
  void Reject(Topic topic, const std::string& payload, const Status& error,
              SyncRejectReason reason);
  // Counts `n` rejections and journals them coalesced: at once when nothing of this reason was
  // journaled within the interval, otherwise with the next FlushRejections that finds it due.
  void CountRejection(SyncRejectReason reason, std::string_view topic, const std::string& error,
                      uint64_t n = 1);
  void FlushRejections(bool force);
  static std::string OverloadError(Topic topic);
  void ShareWithOffLoop();
  // Core thread: counts what TakeOffLoop saw (messages, overload drops) into the counters.
  void CollectOffLoop();
  void JournalTally(SyncRejectReason reason, Tally& t);
  void CollectParserRejections();
  void CollectLinkDrops();
  void RetryIndex();
  void OnHead(const Head& head);
  void OnDelta(Delta delta);
  void OnSnapshotPage(SnapshotPage page);
  void OnEventsAck(const EventsAck& ack);
  void OnCommand(const Command& cmd);
  void RunCommand(const Command& cmd);  // recorded: journal it and carry it out
  void OnOutcome(StateOutcome outcome);

  void Submit(StateJob job);
  void EnforceEarly(Position to, const std::vector<rules::Op>& ops);
  void SettleEarly(const StateOutcome& o);
  // `again`: even when the same request went out less than kRequestRepeat ago (the deltas it
  // brought were shed, ShedDelta).
  void RequestDeltas(bool again = false);
  // A delta that finds the state worker with cloud.limits.queue_messages jobs queued is dropped,
  // counted (`overload`) and requested again once the queue is down to half (every queue has a
  // bound: a cloud catching up thousands of deltas while a snapshot applies waits in the cloud).
  // What it takes away from cards and PINs is put in force all the same (EnforceEarly).
  void ShedDelta(Position to, const std::vector<rules::Op>& ops);
  size_t MaxQueuedJobs() const {  // the config allows 16..100000
    return static_cast<size_t>(config_.cloud.limits.queue_messages);
  }
  void RequestSnapshot(const std::string& reason);
  void Publish(const std::string& topic, const std::string& payload, bool retain = false);
  void PublishState();
  void Respond(const Command& cmd, bool ok, const std::optional<nlohmann::json>& result,
               const std::string& error);
  void PumpOutbox();
  void ApplyOfflinePolicy();
  Instant Now();

  config::Config config_;
  SyncHost& host_;
  std::string boot_id_;
  const Clock& clock_;
  SyncFaults faults_;
  Topics topics_;
  std::shared_ptr<const Expect> expect_;  // shared with the messages queued for the parser
  // What TakeOffLoop (an MQTT client thread) reads: a copy of expect_ and the limits, replaced
  // under offloop_mu_ by Start/Reload; the messages and drops it counts, collected by the core.
  mutable std::mutex offloop_mu_;
  std::shared_ptr<const Expect> offloop_expect_;  // guarded by offloop_mu_
  config::CloudLimits offloop_limits_;            // guarded by offloop_mu_
  std::map<Topic, uint64_t> offloop_overload_;    // guarded by offloop_mu_
  std::atomic<uint64_t> offloop_messages_{0};
  MqttLink* link_ = nullptr;
  std::unique_ptr<Parser> parser_;           // before worker_: destroyed after it
  std::atomic<size_t> parses_in_flight_{0};  // submitted to the parser, not yet back
  std::unique_ptr<StateWorker> worker_;
  size_t jobs_outstanding_ = 0;
  bool shedding_ = false;  // deltas were shed (ShedDelta): requested again once there is room
  store::StoreOpener open_store_;
  // The journal backlog last published in `state` (unwritten, lost), and the tick it went out.
  std::pair<uint64_t, uint64_t> published_backlog_{0, 0};
  uint64_t backlog_published_tick_ = 0;

  bool connected_ = false;
  uint32_t session_ = 0;
  Position applied_;
  Position pending_;  // applied_ plus the jobs queued in the worker
  SnapshotStager stager_;
  std::optional<Head> head_;                // the latest verified, unexpired head
  std::optional<Instant> head_expires_at_;  // persisted (meta "head_expires_at")
  std::string last_request_;
  std::chrono::steady_clock::time_point last_request_at_{};  // clock_.Monotonic()
  bool state_dirty_ = false;
  uint64_t ticks_ = 0;
  // A snapshot was requested (resync, new epoch): one at the applied position is accepted too.
  bool snapshot_requested_ = false;

  // Outbox: events with seq <= acked_ are deleted; next_send_ is the next seq to publish;
  // events with seq <= historical_upto_ waited (or are resent) and are flagged `historical`.
  uint64_t acked_ = 0;
  uint64_t next_send_ = 1;
  uint64_t sent_upto_ = 0;
  uint64_t historical_upto_ = 0;
  std::chrono::steady_clock::time_point last_ack_progress_{};  // clock_.Monotonic()

  // Coalesced rejections (issue 10, point 1): per reason, what is not yet journaled and when the
  // last sync.rejected of that reason was written.
  std::map<SyncRejectReason, Tally> tallies_;
  std::map<SyncRejectReason, std::chrono::steady_clock::time_point> last_journaled_;
  LinkHealth link_seen_;  // the link's drops already counted

  // A committed change whose index failed to build: retried (IndexJob) with backoff.
  bool index_failed_ = false;
  bool index_retry_queued_ = false;
  std::chrono::milliseconds index_retry_delay_{1000};
  std::chrono::steady_clock::time_point index_retry_at_{};
  std::optional<StateOutcome> unacked_;
  size_t in_memory_deltas_ = 0;  // StateOutcome::in_memory_deltas of the latest outcome
  Position in_memory_upto_;  // StateOutcome::in_memory_upto of the latest outcome  // the outcome
                             // not acknowledged while the index failed
  std::string worker_last_error_;
  std::string parser_last_error_;

  // Restrictions ahead of their commit (issue 13, point 2): a delta that only takes access away
  // from cards and PINs the doors' index holds (rules::CredentialRestrictionsOf: revocations,
  // suspensions, earlier ends, deletes) is put in force when it arrives, on top of the worker's
  // latest index, instead of after the jobs queued ahead of it and its durable commit. It stays
  // on top of every index the worker hands out until one covers its position, or until its own
  // outcome says it will not be (rejected, skipped, failed). Order is kept: the store commits
  // and acknowledges it after the deltas ahead; the doors only deny earlier. At most kMaxEarly.
  struct Early {
    Position to;
    std::vector<rules::CredentialRestriction> restrictions;
  };
  static constexpr size_t kMaxEarly = 64;
  std::deque<Early> early_;
  std::shared_ptr<const rules::Index> worker_index_;  // what early_ is put on (while not empty)

  // Commands whose id is being recorded (SyncHost::RecordCommandLater), and a token the
  // recording's answer checks: it may come after this object is gone.
  std::set<std::string> recording_commands_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  StateWorker::Poster post_;  // the core loop (Start)
  bool pump_posted_ = false;  // PumpOutbox's next turn is posted
  // Commands waiting for the worker (set_door_mode), by id.
  std::map<std::string, Command> waiting_commands_;
  SyncCounters counters_;
  std::function<void(const StateOutcome&)> outcome_observer_;
};

}  // namespace lintel::cloud
