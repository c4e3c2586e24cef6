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

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
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
  // Pulses the door's lock open for `duration` (a cloud `unlock` command). Errors: NotFound when
  // the door has no actuator.
  virtual Status Unlock(std::string_view door, std::chrono::milliseconds duration) = 0;
  // Journal events the store could not write yet (kept in memory: a full or read-only disk), and
  // events dropped since start because that memory queue overflowed. Both 0 while the store
  // works; published in `state` when not.
  virtual uint64_t UnwrittenEvents() { return 0; }
  virtual uint64_t LostEvents() { return 0; }
};

// Figures for `lintelctl status` and the tests.
struct SyncCounters {
  uint64_t messages = 0;
  uint64_t rejected = 0;
  std::map<std::string, uint64_t> rejected_by_reason;  // RejectReasonName, "stale", "validation"
  uint64_t deltas_applied = 0;
  uint64_t snapshots_applied = 0;
  uint64_t duplicates = 0;
  uint64_t gaps = 0;
  uint64_t commands_executed = 0;
  uint64_t commands_refused = 0;
  uint64_t events_published = 0;
  uint64_t batches_published = 0;
};

class CloudSync final : public MqttListener {
 public:
  // Limits of the outbox sender.
  static constexpr uint64_t kMaxUnackedEvents = 20000;      // published, not yet acknowledged
  static constexpr std::chrono::seconds kAckTimeout{10};    // then resend from the first unacked
  static constexpr std::chrono::seconds kRequestRepeat{5};  // same sync/request not repeated sooner

  // `config` gives site, gateway, keys and the offline policy. `worker` applies state changes;
  // `link` may be null until SetLink (tests drive the listener directly).
  CloudSync(const config::Config& config, SyncHost& host, std::string boot_id);
  ~CloudSync() override;  // joins the parser and worker threads

  // Starts the state worker (its own store connection on config.store_path). Errors: the position
  // or the head expiry cannot be read from the store.
  Status Start(StateWorker::Poster post);
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
  void OnMessage(const std::string& topic, const std::string& payload) override;

  // The daemon is stopping: publishes the retained state as the will would ({"online":false}),
  // since a clean disconnect makes the broker drop the will.
  void OnStopping();

  // New events were journaled: publish them if connected.
  void OnJournal();
  // Every second: outbox ack timeout, offline policy, state republish when changed (also when the
  // core's journal backlog changed: at once when it appears or clears, else at most every 10 s).
  void Tick();

  // {"connected","session","epoch","version","pending_jobs","head":{..}?,"outbox","staff_only",
  //  "counters":{..}} for `lintelctl status`.
  nlohmann::json StatusJson();

  const SyncCounters& counters() const { return counters_; }
  Position applied() const { return applied_; }
  bool connected() const { return connected_; }
  // Messages being parsed off the core thread plus state jobs submitted to the worker, whose
  // outcome has not been handled yet.
  size_t pending_jobs() const { return parses_in_flight_ + jobs_outstanding_; }

  // Observer, for benchmarks and tests: called on the core thread with every outcome of the state
  // worker, right after its index (if any) was swapped into the engine (`outcome.index` is then
  // null) and before the outcome is journaled or acknowledged. It must not call back into this
  // CloudSync. Empty: not called.
  void SetOutcomeObserver(std::function<void(const StateOutcome&)> observer) {
    outcome_observer_ = std::move(observer);
  }

 private:
  class Parser;
  void Dispatch(Topic topic, const std::string& payload, Result<Message> m, const Rejection& why);
  void Reject(Topic topic, const std::string& payload, const Status& error, std::string reason);
  void OnHead(const Head& head);
  void OnDelta(Delta delta);
  void OnSnapshotPage(SnapshotPage page);
  void OnEventsAck(const EventsAck& ack);
  void OnCommand(const Command& cmd);
  void OnOutcome(StateOutcome outcome);

  void Submit(StateJob job);
  void RequestDeltas();
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
  Topics topics_;
  Expect expect_;
  MqttLink* link_ = nullptr;
  std::unique_ptr<Parser> parser_;  // before worker_: destroyed after it
  size_t parses_in_flight_ = 0;
  std::unique_ptr<StateWorker> worker_;
  size_t jobs_outstanding_ = 0;
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
  std::chrono::steady_clock::time_point last_request_at_{};
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
  std::chrono::steady_clock::time_point last_ack_progress_{};

  // Commands waiting for the worker (set_door_mode), by id.
  std::map<std::string, Command> waiting_commands_;
  SyncCounters counters_;
  std::function<void(const StateOutcome&)> outcome_observer_;
};

}  // namespace lintel::cloud
