// Gateway: the core of the daemon. Owns the engine, the store and the journal; answers the
// control commands. Everything it touches is injected (config, clock, store path), so tests run it
// in-process with a FakeClock.
//
// Thread rule: one thread (the core loop's) calls every method. Nothing here blocks on the network.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "gateway/base/clock.h"
#include "gateway/base/status.h"
#include "gateway/core/journal_queue.h"
#include "gateway/core/journal_writer.h"
#include "gateway/store/store.h"
#include "rules/engine.h"
#include "rules/index_image.h"

namespace lintel::core {

// A state as a local file or import gives it (a snapshot's `records` object), parsed and validated
// against the site. Errors: InvalidArgument with the codec's message, or "state rejected, nothing
// changed:" followed by every validation problem, one per line (never PIN digits).
Result<rules::Records> ParseValidState(const rules::Site& site, const nlohmann::json& records);

// {"schedules": n, "groups": n, "people": n, "leases": n, "credentials": n, "door_modes": n}.
nlohmann::json RecordCounts(const rules::Records& records);

// The cloud sync borrows its store connection, engine, clock and journal through
// wiring::CoreSyncHost (gateway/wiring/core_sync_host.h): the core does not know the cloud layer.
class Gateway final {
 public:
  // Opens (or creates) the store at config.store_path through `open` (default Store::Open; tests
  // pass a fault-injecting one), restores the engine's time floor from the store's last-known-good
  // time, loads the state into a fresh index and journals `gateway.started`. A store that cannot
  // be written (full or read-only disk) is no reason not to start: the store is opened read-only
  // if need be (StoreOptions::read_only_fallback), a failure to persist the time floor or the
  // first events is logged as a warning, and events wait in memory (see Tick). Errors: the
  // store's when it cannot even be read (Corruption for a damaged or newer-schema file, IoError),
  // never a crash.
  // The index comes from the index image `<store path>.index` when it is of the store's state
  // (position and state serial), this site config and this build, with a good checksum; otherwise
  // it is rebuilt from the store (the log says why) and its image written on a thread of its own.
  // `lintelctl status` shows which as "index_source" ("image" or "store").
  static Result<std::unique_ptr<Gateway>> Open(config::Config config, const Clock& clock,
                                               store::StoreOpener open = nullptr);
  ~Gateway();  // joins the image writer

  // Control commands (gateway/control protocol): {"cmd": "status" | "state.import" | "present" |
  // "explain" | "events.tail" | "events.since", ...}. Returns the result object or an error Status
  // whose message goes back to lintelctl. Events produced by a command are written before it
  // returns when the store can be written; when it cannot, they wait in memory (status shows
  // `unwritten`) and the command still answers. Commands that must write (state.import) fail with
  // the store's error. `state.import` here runs on the calling thread (in-process tools and tests);
  // the daemon routes `import` and `state.import` to a StateImporter (state_import.h), which works
  // off the loop.
  Result<nlohmann::json> Handle(const nlohmann::json& request);
  // The same for the daemon's control socket (main.cpp routes every command that is not deferred
  // otherwise here), without ever waiting on this thread, the doors' thread, for the journal's
  // writer (issue 13, point 3: a `lintelctl status` while the state worker held the store's write
  // lock for a snapshot held the doors until the writer got it). The command runs once what was
  // journaled before it is written, and `reply` is called once its own events are (or at once
  // while the store cannot be written: they wait in memory, as with Handle). At most
  // kMaxWaitingCommands wait; beyond that a command is answered Unavailable.
  // A write of the core's own other than the journal (a cloud command's id): on the journal
  // writer's connection, so this thread never waits for the store's write lock, with its result
  // to `done` on this thread; without a writer (tools, tests, after Stop) here and now.
  void WriteLater(std::function<Status(store::Store&)> op, std::function<void(Status)> done);

  using Reply = std::function<void(Result<nlohmann::json>)>;
  void HandleLater(nlohmann::json request, Reply reply);
  static constexpr size_t kMaxWaitingCommands = 64;

  // --- the steps of a local state import (StateImporter), on the loop thread ---

  // OK when a local import may replace the state. FailedPrecondition when the state belongs to the
  // cloud (cloud.broker is set, or a cloud position was applied), or the store's error.
  Status ImportAllowed();
  // Swaps in `index`, the index of the state an import has just stored, and journals
  // `sync.applied` (source local) with `counts` (written now, or kept queued for Tick() when the
  // store cannot take it). `generation` is the config_generation() the index
  // was built for: after a reload meanwhile the index is rebuilt from the store with the current
  // site. Returns {"imported": counts}.
  // `stamp`: the stored state `index` is of (rules/index_image.h), when the importer is certain
  // (no other commit between its own and the stamp it read); the image is then written at stop.
  Result<nlohmann::json> AdoptImport(std::shared_ptr<const rules::Index> index,
                                     nlohmann::json counts, uint64_t generation,
                                     std::optional<rules::ImageStamp> stamp = std::nullopt);
  // Changes with every successful Reload().
  uint64_t config_generation() const { return config_generation_; }

  // A new config (SIGHUP) in two steps, so the daemon can refuse it as a whole (core/reload.h):
  // PrepareReload checks it and rebuilds the index from the store with the new site, changing
  // nothing; CommitReload switches the engine and the config over and cannot fail.
  // Errors of PrepareReload: FailedPrecondition when the store path changed (it cannot at
  // runtime); the store's when the state cannot be read.
  struct PreparedReload {
    config::Config config;
    std::shared_ptr<const rules::Index> index;
    std::optional<rules::ImageStamp> stamp;  // the stored state `index` is of, when certain
  };
  Result<PreparedReload> PrepareReload(config::Config config);
  void CommitReload(PreparedReload prepared);
  // PrepareReload then CommitReload. On error nothing changes. A commit changes
  // config_generation().
  Status Reload(config::Config config);

  // Periodic housekeeping (every few seconds): persists the last-known-good time (the engine's
  // floor, which never rises from a suspect clock; a floor replaced by a trusted time is written
  // as it is, lower; with a JournalWriter it is handed to the writer's thread, as are removals and
  // meta values that failed there: the core never waits for the store's write lock) and writes the
  // journal events waiting in memory (in chunks, oldest first; with `events.lost` first when the
  // memory queue overflowed since the last write). After a failed write no other path tries to
  // write the journal until a Tick succeeds (the store is full, I/O failing or read-only: one
  // attempt per Tick, not one per decision); a busy store (Unavailable) is retried by the next
  // write as before. A store opened read-only is reopened for writing here when it can be.
  // Returns the first error; the events stay queued.
  Status Tick();

  // The daemon is stopping: a last Tick. Events that still cannot be written are lost; they are
  // logged as an error with their count by type and their time range. Returns Tick's error.
  // Then the index image (issue 13, point 4; gateway/store/index_image_file.h): when the engine's
  // index is one whose stored state is known (built or mapped at start, rebuilt by a reload,
  // imported) and the store is still at that state, its image is written to
  // `<store path>.index` unless it is there already (on this thread; the loop has stopped).
  // A failure to write it is logged, never an error: the next start rebuilds.
  Status Stop();

  // Journal events made but not written to the store (held in memory), and events dropped since
  // start because that queue was full (config max_unwritten_events).
  size_t unwritten_events() const { return pending_.size() + in_flight_events_.size(); }
  uint64_t lost_events() const { return pending_.lost_total(); }

  // Presents a credential at a door now (lintelctl `present`): decides and journals; never moves
  // a lock (a diagnostic must not open a real door).
  rules::Decision Present(const rules::Request& request, std::string_view source);

  // A credential read by a reader driver: decides; on a grant pulses the door's lock actuator for
  // the door's unlock_ms, then calls `decided` (the driver's feedback), both *before* anything is
  // written (the journal is not on the door's path); then journals the decision with "lock" and
  // flushes the journal (a store that cannot be written keeps it in memory: the decision stands).
  // "lock" says what the lock did: "pulsed" | "failed" (the actuator refused at once, e.g. its
  // module is offline) | "none" (no actuator configured), or what a reporting actuator reported
  // ("pulsed", "unlock_failed", ...). With a reporting actuator the grant is journaled when the
  // report comes (on this thread, at most the pulse's length later). A failing actuator is logged;
  // the decision stays a grant.
  rules::Decision Admit(const rules::Request& request, std::string_view source,
                        const std::function<void(const rules::Decision&)>& decided = nullptr);

  const config::Config& config() const { return config_; }
  const rules::Engine& engine() const { return engine_; }

  // Moves the journal's writes to a JournalWriter thread with its own store connection (the
  // daemon does this; issue 13, point 3): a decision, a door event or a cloud event no longer
  // waits for the journal's commit (nor for the lock while the state worker writes a snapshot).
  // The events wait in the same bounded queue until written; `post` runs the writer's outcomes on
  // this (the core's) thread. Control commands (Handle) and Stop() still return only once the
  // events so far are written (or kept in memory on a failure), as before. Call once, before use.
  void StartJournalWriter(JournalWriter::Poster post);

  // The cloud acknowledged the journal up to `seq`: removes those events from the outbox. With a
  // JournalWriter it is handed to the writer's thread and returns OK at once (the removal is
  // retried by Tick after a failure and written again by Stop()); without one it is written now
  // and returns the store's error.
  Status DeleteEventsUpTo(uint64_t seq);
  // Store::SetMeta, the same way (the cloud head's expiry, with every new head).
  Status SetMetaLater(std::string key, std::string value);

  // Called after journal events were written (the cloud outbox publishes them).
  void SetJournalListener(std::function<void()> listener) { on_journal_ = std::move(listener); }
  // Called (core thread) when the engine's index `from` was replaced by `to`, the same state
  // copied out of the mapped index image (CopyIndexOutOfImage): whoever edits indexes from `from`
  // should edit from `to` (cloud::CloudSync::OnIndexCopied).
  using IndexCopiedListener = std::function<void(std::shared_ptr<const rules::Index> from,
                                                 std::shared_ptr<const rules::Index> to)>;
  void SetIndexCopiedListener(IndexCopiedListener listener) {
    on_index_copied_ = std::move(listener);
  }
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
  // A plain actuator's OK means "pulsed".
  using Actuator = std::function<Status(std::chrono::milliseconds)>;
  void SetActuator(std::string door, Actuator actuator);
  // What the hardware did with an unlock, as the journal's "lock" word ("pulsed": the lock was
  // seen released; "unlock_failed": it was not). Called at most once; harmless after the gateway
  // is gone.
  using LockReport = std::function<void(std::string_view lock)>;
  // An actuator that learns the outcome later (door I/O: the module's write and read-back): a
  // non-OK return means the unlock could not even be requested ("failed", `report` never called);
  // on OK it calls `report` exactly once, on the core thread, before or after returning. A null
  // actuator removes the door's.
  using ReportingActuator = std::function<Status(std::chrono::milliseconds, LockReport report)>;
  void SetReportingActuator(std::string door, ReportingActuator actuator);

  // What the cloud sync borrows (the contracts are cloud::SyncHost's, gateway/cloud/sync.h).
  store::Store& store() { return *store_; }
  rules::Engine& engine() { return engine_; }
  // Puts `index` in force, of the stored state `stamp` when known: the image written at a clean
  // stop is of it when the store is still there (issue 13, point 4).
  void InstallIndex(std::shared_ptr<const rules::Index> index,
                    std::optional<rules::ImageStamp> stamp);
  Instant WallNow() { return engine_.Now(Reading()).at; }
  bool ClockSynced() { return clock_.Synchronized(); }
  void NoteSignedTime(Instant issued_at, std::optional<Instant> expires_at);
  Status JournalNow(nlohmann::json event);
  void JournalLater(nlohmann::json event) { Journal(std::move(event)); }
  // OK also while the store cannot be written: the events wait in memory, the core has logged the
  // failure and reports it (status, UnwrittenEvents), and Tick retries.
  Status FlushJournal();
  // The cloud's `unlock` (and `lintelctl door test`, source "lintelctl"): asks the door's actuator
  // to unlock for `duration` and returns at once with whether it could be asked (NotFound: no
  // actuator; the actuator's error). What the hardware did is journaled, not returned:
  // `door.unlocked {door, ms, source, lock, ok}`
  // when the actuator reports (`lock` "pulsed" / "unlock_failed"; at most the pulse's length
  // later, on this thread) or at once with `lock: "failed"` and `error` when it returned an
  // error; `ok` is `lock == "pulsed"`. The event is written like any other (it may wait).
  Status Unlock(std::string_view door, std::chrono::milliseconds duration,
                std::string_view source = "cloud");
  uint64_t UnwrittenEvents() { return unwritten_events(); }
  uint64_t LostEvents() { return pending_.lost_total(); }

 private:
  Gateway(config::Config config, const Clock& clock, std::unique_ptr<store::Store> store,
          std::shared_ptr<const rules::Index> index, store::StoreOpener open);
  // The engine's index is `index`, of the stored state `stamp` (nullopt: not known).
  void NoteIndexState(const std::shared_ptr<const rules::Index>& index,
                      std::optional<rules::ImageStamp> stamp);
  // Writes the image of stamped_index_ on image_writer_ (after a rebuild at start, and from Tick
  // once the index in force has been the same stamped one for kImageAfterQuiet). Never waits for
  // an earlier write: returns false (nothing started) while one runs.
  bool SaveImageInBackground();
  // From Tick: an image of the index in force when it is stamped, not on disk, unchanged for
  // kImageAfterQuiet, and the store still at its stamp (so a start after a crash finds it too).
  void RefreshImage();
  // While the engine's index aliases the mapped image (a start from the image, and the indexes
  // deltas edit from it), copies it into chunks of its own on index_copier_
  // (rules::CopyToOwnedChunks: 2 MiB pages instead of the file's 4 KiB ones, decide p99 about
  // 20 % lower at 2,000,000 credentials) and installs the copy on a later call when the engine
  // still has the index it was made from (else it copies the engine's index then). Called by
  // Tick (core thread): the first, in Open, starts the copy after a start from the image; the
  // housekeeping tick after it is done installs it.
  void CopyIndexOutOfImage();
  void SaveImageAtStop();

  static constexpr std::chrono::seconds kImageAfterQuiet{60};

  Result<nlohmann::json> StatusCmd();
  Result<nlohmann::json> Import(const nlohmann::json& request);
  Result<nlohmann::json> PresentCmd(const nlohmann::json& request, bool explain);
  Result<nlohmann::json> EventsTail(const nlohmann::json& request);
  // events.since {"after": seq, "since": RFC 3339, "limit": n}: events with seq > after (and ts >=
  // since), at most `limit` (500, at most 5000) read, ascending; with "next_after", "more" and the
  // store's "last_seq" so `lintelctl events tail --follow` can poll.
  Result<nlohmann::json> EventsSince(const nlohmann::json& request);
  // Journals a decision made now (access.granted / access.denied, keypad.locked_out).
  // With `later`, the decision's event is stored there instead of journaled (a reporting actuator
  // journals it with its "lock" when it reports); the rest is journaled now.
  void JournalDecision(const rules::Request& request, const rules::Decision& d,
                       std::string_view source, std::string_view lock,
                       std::optional<nlohmann::json>* later = nullptr);

  rules::ClockReading Reading() const;
  // Journals `clock.jump` (and logs) once when the wall clock falls behind the time floor, and
  // logs when it has caught up again; likewise `clock.suspect` when the wall clock runs far ahead
  // of trusted time; not once per decision. Journals and persists a floor reset
  // (`clock.floor_reset`).
  void NoteClock(bool behind, bool suspect);
  Status SaveFloorReset();
  // Queues an event; Flush() writes the queue in one transaction.
  void Journal(nlohmann::json event);
  store::JournalEvent MakeEvent(nlohmann::json event);
  // `events.lost` for what the queue dropped (journaled ahead of the events that survived).
  store::JournalEvent LostEvent(const JournalQueue::Lost& lost);
  // Writes the queue in chunks. While a write is failing (write_failing_) only a retry (Tick)
  // tries; otherwise returns the failure without writing. With a JournalWriter, hands the next
  // chunk to it and returns at once (OK; failures arrive later, OnJournalWritten).
  Status Flush(bool retry = false);
  // Flush on this thread, after the writer's batch in flight (if any) is done: what a control
  // command and Stop() need.
  Status FlushNow(bool retry = false);
  Status FlushSync(bool retry);
  Status FlushToWriter(bool retry);
  void OnJournalWritten(Result<uint64_t> result, bool continue_writing);
  Result<nlohmann::json> Dispatch(const nlohmann::json& request);
  // Calls `f` on this thread once every event journaled so far is written or dropped, or the
  // store is failing (at once when that is already so). False: kMaxWaitingCommands already wait.
  bool WhenJournalWritten(std::function<void()> f);
  void RunJournalWaiters();
  void DrainWriter();
  void NoteWriteFailure(const Status& error);
  // The writer could not store the floor or a removal: logged, and handed over again by Tick.
  void OnUpkeepFailed(const JournalWriter::Upkeep& failed, const Status& error);
  // A store opened read-only: try to open it for writing again.
  void ReopenForWriting();

  config::Config config_;
  const Clock& clock_;
  std::unique_ptr<store::Store> store_;
  rules::Engine engine_;
  store::StoreOpener open_;
  JournalQueue pending_;  // seq assigned by the store on Flush()
  std::unique_ptr<JournalWriter> writer_;
  bool in_flight_ = false;        // a batch is with the writer
  uint64_t journaled_total_ = 0;  // events pushed to pending_ since start
  uint64_t written_total_ = 0;    // of them, written to the store
  struct JournalWaiter {
    uint64_t upto;  // journaled_total_ when it began to wait
    std::function<void()> f;
  };
  std::vector<JournalWaiter> journal_waiters_;         // WhenJournalWritten, in order
  std::vector<store::JournalEvent> in_flight_events_;  // its events from pending_ (no events.lost)
  JournalQueue::Lost in_flight_lost_;                  // what its events.lost reported
  bool writer_stopped_ = false;                        // Stop(): every write on this thread again
  bool write_failing_ = false;  // the last journal write failed (not busy): only Tick retries
  Status write_error_;
  bool clock_behind_ = false;
  uint64_t config_generation_ = 0;
  bool clock_suspect_ = false;
  bool floor_reset_unsaved_ = false;  // a lowered floor not yet written to the store
  bool floor_reset_handed_ = false;   // a reset was handed to the writer (Stop writes it again)
  uint64_t delete_upto_ = 0;          // the highest removal handed to the writer (Stop: again)
  bool delete_retry_ = false;         // the writer failed it: Tick hands it over again
  std::map<std::string, std::string> meta_handed_;  // meta values handed over (Stop: again)
  std::map<std::string, std::string> meta_retry_;   // ... that failed: Tick hands them over again
  Instant started_at_;
  std::function<void()> on_journal_;
  IndexCopiedListener on_index_copied_;
  std::map<std::string, std::function<nlohmann::json()>> status_extra_;
  std::map<std::string, ReportingActuator, std::less<>> actuators_;
  // Index image (issue 13, point 4): the index whose stored state is known and that state, its
  // generation (one per NoteIndexState) and since when it is in force; the generation whose image
  // is on disk (set by image_writer_, which holds its own reference to the index it writes).
  std::shared_ptr<const rules::Index> stamped_index_;
  rules::ImageStamp stamped_at_;
  uint64_t stamped_generation_ = 1;
  std::chrono::steady_clock::time_point stamped_since_{};
  std::atomic<uint64_t> image_on_disk_{0};
  std::atomic<bool> image_writing_{false};  // image_writer_ runs (joined only once it is done)
  std::string index_source_ = "store";      // "image" when start-up mapped the image
  std::thread image_writer_;
  // CopyIndexOutOfImage: the index being copied and, once copied_ready_, its copy.
  std::shared_ptr<const rules::Index> copy_source_;
  std::shared_ptr<const rules::Index> copied_;
  std::atomic<bool> copied_ready_{false};
  bool copy_failed_ = false;  // a copy ran out of memory: not tried again
  std::thread index_copier_;
  // Deferred lock reports hold a weak_ptr to this: a report after the gateway is gone is dropped.
  std::shared_ptr<Gateway*> self_ = std::make_shared<Gateway*>(this);
};

}  // namespace lintel::core
