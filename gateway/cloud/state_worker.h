// StateWorker: applies cloud state changes off the core thread, so a decision never waits on a
// sync (DESIGN.md decision 2). One thread with its own connection to the store: it validates a
// delta by what it touches and what refers to it (rules::ValidateDelta, read through the store's
// indexes: Store::ReadState; whole-state rules::Validate only for a group delete) and a snapshot
// whole, commits it in one durable transaction (Store::ApplyOps / ReplaceState), builds the new
// index (streamed from the store: store::LoadIndex) and hands the outcome back through `post` (the
// core loop), where the index is swapped in and only then acknowledged.
//
// Revocations take a fast path: a delta that only changes the status or moves the end of existing
// cards and PINs is committed and the current index copied and patched (rules::PatchCredentials),
// with no revalidation of the whole state (such a change cannot break a valid state).
//
// Fail secure on a store that cannot be written (issue 10, point 2 follow-up): when a delta's
// commit fails with a store error (disk full, read-only, I/O; not a validation error) and its ops
// only take access away (rules::OnlyRestricts: revocations, suspensions, shorter validity, deletes
// of credentials, people and leases, smaller memberships), the worker keeps it in memory: the index
// of the store's state with every such delta applied on top is handed out with the failed outcome
// (`in_memory`), so the doors enforce it at once, while the store's position stays unchanged. A
// further restricting delta that follows the one in memory is kept the same way (no write is tried:
// the store is behind it; a granting one fails with that error). The deltas in memory stay applied
// on top of every index the worker builds until the store commits their position (the cloud sends
// them again) or a snapshot past them; a granting delta is never applied while the store cannot
// write it. They live in this process only: after a restart they are gone until the cloud sends
// them again.
//
// Jobs run in the order submitted. A delta whose `prev` does not match the store's position when
// its turn comes (an earlier job was rejected) is skipped with Outcome::kSkipped, changing
// nothing. One index is built after the last job of a burst (a burst of deltas costs one rebuild).
// The whole records are loaded only where a path needs them (a group delete, a delta kept in
// memory); they stay cached between bursts while the state is small (kCacheRecordsUpTo). At
// 2,000,000 credentials a delta adding a tenant is validated and committed in about 0.3 ms (p50;
// whole-state validation took 3.3 s). Its index is the current one edited
// (rules::ApplyOpsToIndex: O(change), every untouched chunk shared), not rebuilt; a rebuild is
// left for what an edit cannot do (a schedule or group delete, a new site, a full id table, too
// many edits since the last build), for snapshots, and after a failure.
//
// A snapshot arrives page by page (SnapshotPageJob, issue 13, point 5): each page is written into
// the store's stage tables as it comes and handed to a second thread that validates
// (rules::StateValidator) and indexes (rules::IndexBuilder) it, then freed; so the whole state is
// never held in memory. The SnapshotJob completing it waits for the validation, swaps the stage
// in (Store::StageCommit, one transaction) while the index is finished, and checkpoints. A
// snapshot that fails validation or a page write is dropped from the stage: nothing changed, the
// old state and index stay in force. Pages of a snapshot whose kinds come out of order (a person
// after a credential) are validated from the stage instead. Its `index_ms` is near zero and
// `apply_ms` holds the completion. A SnapshotJob with the records themselves (not staged) is
// validated whole and written by Store::ReplaceState, its index built alongside.
//
// Threads: Submit() and the destructor are called from the core thread; outcomes are posted.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "gateway/base/mutex.h"
#include "gateway/base/position.h"
#include "gateway/base/status.h"
#include "gateway/base/thread_priority.h"
#include "gateway/store/store.h"
#include "rules/index.h"
#include "rules/index_image.h"
#include "rules/model.h"
#include "rules/ops.h"

namespace lintel::cloud {

// States with at most this many records in total stay cached in the worker between jobs.
inline constexpr size_t kCacheRecordsUpTo = 200000;
// The worker thread runs this much nicer than the process (LowerThisThreadPriority): below the
// message parsers (gateway/base/thread_priority.h).
inline constexpr int kWorkerNiceAbove = kBulkNiceAbove;
// The worker checkpoints the WAL itself (its connection never does after a commit) once it has had
// no job for kIdleCheckpointAfter, when it committed since its last checkpoint or the WAL file
// holds more than kCheckpointWalBytes.
inline constexpr std::chrono::milliseconds kIdleCheckpointAfter{2000};
inline constexpr uint64_t kCheckpointWalBytes = uint64_t{4} << 20;

struct DeltaJob {
  Position from;  // (epoch, prev): the store must be here
  Position to;
  std::vector<rules::Op> ops;
};
struct SnapshotJob {
  Position to;
  std::string snapshot_id;
  rules::Records records;
  // Pages not merged yet (SnapshotStager::TakePages), in order: joined onto `records` by the
  // worker (MergePages), so the core thread never walks the records (issue 13).
  std::vector<rules::Records> pages;
  // The snapshot came as SnapshotPageJobs (`records` and `pages` empty): the worker completes
  // what it staged of `snapshot_id`, which must be every page 1..N in order.
  bool staged = false;
};
// One page of a snapshot, submitted as soon as the pages before it were (issue 13, point 5): the
// worker writes it into the store's stage tables (Store::StageRecords), validates and indexes it
// on a second thread as it goes, and frees it. Page 1 starts a new stage (dropping any other);
// a page that does not follow the staged ones, or any after a page that failed, is dropped and
// the SnapshotJob completing the snapshot fails or is rejected with the first page's error. No
// outcome is posted for a page, and the state does not change until that SnapshotJob.
struct SnapshotPageJob {
  Position to;
  std::string snapshot_id;
  uint64_t page = 0;
  uint64_t pages = 0;
  rules::Records records;
  std::shared_ptr<const void> hold;  // released with the page (SnapshotPage::hold)
};
// Ops applied without moving the position (a cloud command's door mode).
struct LocalOpsJob {
  std::string tag;  // echoed in the outcome (the command id)
  std::vector<rules::Op> ops;
};
// A new site (config reload): later validation and indexes use it; an index is rebuilt.
struct SiteJob {
  rules::Site site;
};
// Builds the index of the store's state again (after kIndexFailed): nothing is written.
struct IndexJob {};
// The core replaced its index `from` by `to`, the same state in chunks of its own
// (rules::CopyToOwnedChunks, after a start from the index image): the worker edits and patches
// `to` from now on if `from` is still its index. Nothing is written; the outcome carries no index.
struct AdoptIndexJob {
  std::shared_ptr<const rules::Index> from;
  std::shared_ptr<const rules::Index> to;
};
using StateJob = std::variant<DeltaJob, SnapshotJob, LocalOpsJob, SiteJob, IndexJob,
                              SnapshotPageJob, AdoptIndexJob>;

// Which kind of job an outcome answers; the values follow StateJob's alternatives (no outcome is
// posted for a kSnapshotPage).
enum class JobKind : uint8_t {
  kDelta,
  kSnapshot,
  kLocalOps,
  kSite,
  kIndex,
  kSnapshotPage,
  kAdoptIndex
};
// "delta", "snapshot", "local change", "site", "index", "snapshot page", "index copy": for logs
// and the journal's `kind`.
std::string_view JobKindName(JobKind kind);

struct StateOutcome {
  enum class Result : uint8_t {
    kApplied,   // committed durably (and, when the burst changed anything, `index` is set)
    kRejected,  // the state it would make is invalid, or the store refused it: nothing changed
    kSkipped,   // a delta that no longer follows the store's position: nothing changed
    kFailed,    // the store failed (I/O, corruption) or the job threw: nothing changed
    // Committed durably, but the index of the new state could not be built (the records could not
    // be loaded, or the build threw): the doors still decide on the previous index. Not to be
    // acknowledged as applied; `error` says why. The worker keeps the rebuild due: the next job
    // (an IndexJob to retry) builds it.
    kIndexFailed,
  };
  JobKind job = JobKind::kDelta;
  Result result = Result::kApplied;
  Position position;   // the job's target (delta, snapshot) or the store's position
  std::string tag;     // LocalOpsJob::tag, SnapshotJob::snapshot_id
  size_t changes = 0;  // ops, or records of a snapshot
  std::string error;   // kRejected / kSkipped / kFailed: one line per problem
  // Set on the last outcome of a burst that changed anything: the index of the store's state.
  std::shared_ptr<const rules::Index> index;
  bool patched = false;  // the index was edited by the change (O(change)), not rebuilt
  // With `index`: the stored state it is of (position and state serial), when the worker is
  // certain (no other writer committed in between); an index image of it may then be written.
  std::optional<rules::ImageStamp> stamp;
  // kFailed delta: the store could not write it, but it only restricts access, so `index` is the
  // store's state with it (and the earlier deltas kept in memory) applied: in force, not durable.
  bool in_memory = false;
  size_t in_memory_deltas = 0;  // deltas in force in memory only, after this job
  Position in_memory_upto;      // the last of them (when in_memory_deltas > 0)
  bool fault = false;           // the job or the build threw (a bug): `error` says what was caught
  double apply_ms = 0;          // validation + commit
  double commit_ms = 0;         // of which the store's commit (its write lock, writes, fsync)
  double index_ms = 0;          // index build (when `index` is set)
};

class StateWorker {
 public:
  using Poster = std::function<void(std::function<void()>)>;
  using OnOutcome = std::function<void(StateOutcome)>;
  // Test seam (fault injection), called on the worker thread at "job" (before each job runs) and
  // "index" (before an index is built). A non-OK Status at "index" fails the build as a store
  // failure would; a throw at either stage is what a bug would do. Empty in production.
  using FaultHook = std::function<Status(std::string_view stage)>;

  // Opens its own store connection to `store_path` on the worker thread, through `open` (default
  // Store::Open; tests pass a fault-injecting one); a failed open fails the job (kFailed) and is
  // retried by the next. `current` is the index of the store's state as it is now (the engine's at
  // start-up; null: built on first need); the revocation fast path patches it. Outcomes are
  // delivered as post([..]{ on_outcome(outcome); }).
  //
  // Exceptions: nothing escapes the worker thread. A job that throws ends as kFailed ("internal
  // error: ..." in `error`, logged); a build that throws ends as kIndexFailed. The thread goes on
  // with the next job, and the store is the truth the next job reloads from.
  StateWorker(std::string store_path, rules::Site site, std::shared_ptr<const rules::Index> current,
              Poster post, OnOutcome on_outcome, store::StoreOpener open = nullptr,
              FaultHook fault = nullptr);
  ~StateWorker();  // finishes the job in progress, drops the queued ones, joins
  StateWorker(const StateWorker&) = delete;
  StateWorker& operator=(const StateWorker&) = delete;

  void Submit(StateJob job);
  // WAL checkpoints the worker has completed between bursts (any thread).
  uint64_t wal_checkpoints() const { return wal_checkpoints_.load(std::memory_order_relaxed); }
  // Idle upkeeps done (every kIdleCheckpointAfter without a job), with or without a checkpoint:
  // once it has grown, whatever checkpoint was due after the last job is done (any thread).
  uint64_t idle_upkeeps() const { return idle_upkeeps_.load(std::memory_order_relaxed); }

 private:
  void Run();

  std::string store_path_;
  store::StoreOpener open_;
  rules::Site site_;
  std::shared_ptr<const rules::Index> current_;
  Poster post_;
  OnOutcome on_outcome_;
  FaultHook fault_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<StateJob> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> wal_checkpoints_{0};
  std::atomic<uint64_t> idle_upkeeps_{0};
  std::thread thread_;
};

}  // namespace lintel::cloud
