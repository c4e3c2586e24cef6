// Gateway: the core of the daemon. Owns the engine, the store and the journal; answers the
// control commands. Everything it touches is injected (config, clock, store path), so tests run it
// in-process with a FakeClock.
//
// Thread rule: one thread (the core loop's) calls every method. Nothing here blocks on the network.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "gateway/base/clock.h"
#include "gateway/base/status.h"
#include "gateway/cloud/sync.h"
#include "gateway/store/store.h"
#include "rules/engine.h"

namespace lintel::core {

// A state as a local file or import gives it (a snapshot's `records` object), parsed and validated
// against the site. Errors: InvalidArgument with the codec's message, or "state rejected, nothing
// changed:" followed by every validation problem, one per line (never PIN digits).
Result<rules::Records> ParseValidState(const rules::Site& site, const nlohmann::json& records);

// As a cloud::SyncHost it lends the cloud sync its store connection, engine, clock and journal.
class Gateway final : public cloud::SyncHost {
 public:
  // Opens (or creates) the store at config.store_path, restores the engine's time floor from the
  // store's last-known-good time, loads the state into a fresh index and journals
  // `gateway.started`. Errors: the store's (Corruption for a damaged or newer-schema file,
  // IoError), never a crash.
  static Result<std::unique_ptr<Gateway>> Open(config::Config config, const Clock& clock);

  // Control commands (gateway/control protocol): {"cmd": "status" | "state.import" | "present" |
  // "explain" | "events.tail", ...}. Returns the result object or an error Status whose message
  // goes back to lintelctl. Events produced by a command are durable before it returns.
  Result<nlohmann::json> Handle(const nlohmann::json& request);

  // A new config (SIGHUP) in two steps, so the daemon can refuse it as a whole (core/reload.h):
  // PrepareReload checks it and rebuilds the index from the store with the new site, changing
  // nothing; CommitReload switches the engine and the config over and cannot fail.
  // Errors of PrepareReload: FailedPrecondition when the store path changed (it cannot at
  // runtime); the store's when the state cannot be read.
  struct PreparedReload {
    config::Config config;
    std::shared_ptr<const rules::Index> index;
  };
  Result<PreparedReload> PrepareReload(config::Config config);
  void CommitReload(PreparedReload prepared);
  // PrepareReload then CommitReload. On error nothing changes.
  Status Reload(config::Config config);

  // Periodic housekeeping (every few seconds): persists the last-known-good time (the engine's
  // floor, which never rises from a suspect clock; a floor replaced by a trusted time is written
  // as it is, lower) and flushes any pending journal events.
  Status Tick();

  // Presents a credential at a door now (lintelctl `present`): decides and journals; never moves
  // a lock (a diagnostic must not open a real door).
  rules::Decision Present(const rules::Request& request, std::string_view source);

  // A credential read by a reader driver: decides; on a grant pulses the door's lock actuator for
  // the door's unlock_ms, then calls `decided` (the driver's feedback), both *before* anything is
  // written (the journal is not on the door's path); then journals the decision with "lock":
  // "pulsed" | "failed" | "none" (no actuator configured) and flushes the journal. A failing
  // actuator is logged; the decision stays a grant.
  rules::Decision Admit(const rules::Request& request, std::string_view source,
                        const std::function<void(const rules::Decision&)>& decided = nullptr);

  const config::Config& config() const { return config_; }
  const rules::Engine& engine() const { return engine_; }

  // Called after journal events were written (the cloud outbox publishes them).
  void SetJournalListener(std::function<void()> listener) { on_journal_ = std::move(listener); }
  // Adds a section to the `status` command's answer (the cloud sync's figures); null removes it.
  void SetStatusExtra(std::string key, std::function<nlohmann::json()> extra) {
    if (extra) {
      status_extra_[std::move(key)] = std::move(extra);
    } else {
      status_extra_.erase(key);
    }
  }
  // The lock actuator of a door (door I/O drivers): pulses the lock open for the duration. A null
  // actuator removes the door's (it then has none: grants are journaled with "lock": "none").
  using Actuator = std::function<Status(std::chrono::milliseconds)>;
  void SetActuator(std::string door, Actuator actuator) {
    if (actuator) {
      actuators_[std::move(door)] = std::move(actuator);
    } else {
      actuators_.erase(door);
    }
  }

  // cloud::SyncHost
  store::Store& store() override { return *store_; }
  rules::Engine& engine() override { return engine_; }
  Instant WallNow() override { return engine_.Now(Reading()).at; }
  bool ClockSynced() override { return clock_.Synchronized(); }
  void NoteSignedTime(Instant issued_at, std::optional<Instant> expires_at) override;
  Status JournalNow(nlohmann::json event) override;
  void JournalLater(nlohmann::json event) override { Journal(std::move(event)); }
  Status FlushJournal() override { return Flush(); }
  Status Unlock(std::string_view door, std::chrono::milliseconds duration) override;

 private:
  Gateway(config::Config config, const Clock& clock, std::unique_ptr<store::Store> store,
          std::shared_ptr<const rules::Index> index);
  static Result<std::shared_ptr<const rules::Index>> LoadIndex(store::Store& store,
                                                               const rules::Site& site);

  Result<nlohmann::json> StatusCmd();
  Result<nlohmann::json> Import(const nlohmann::json& request);
  Result<nlohmann::json> PresentCmd(const nlohmann::json& request, bool explain);
  Result<nlohmann::json> EventsTail(const nlohmann::json& request);
  // Journals a decision made now (access.granted / access.denied, keypad.locked_out).
  void JournalDecision(const rules::Request& request, const rules::Decision& d,
                       std::string_view source, std::string_view lock);

  rules::ClockReading Reading() const;
  // Journals `clock.jump` (and logs) once when the wall clock falls behind the time floor, and
  // logs when it has caught up again; likewise `clock.suspect` when the wall clock runs far ahead
  // of trusted time; not once per decision. Journals and persists a floor reset
  // (`clock.floor_reset`).
  void NoteClock(bool behind, bool suspect);
  Status SaveFloorReset();
  // Queues an event; Flush() writes the queue in one transaction.
  void Journal(nlohmann::json event);
  Status Flush();

  config::Config config_;
  const Clock& clock_;
  std::unique_ptr<store::Store> store_;
  rules::Engine engine_;
  std::vector<store::JournalEvent> pending_;  // seq assigned by the store on Flush()
  bool clock_behind_ = false;
  bool clock_suspect_ = false;
  bool floor_reset_unsaved_ = false;  // a lowered floor not yet written to the store
  Instant started_at_;
  std::function<void()> on_journal_;
  std::map<std::string, std::function<nlohmann::json()>> status_extra_;
  std::map<std::string, Actuator, std::less<>> actuators_;
};

}  // namespace lintel::core
