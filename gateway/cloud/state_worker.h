// StateWorker: applies cloud state changes off the core thread, so a decision never waits on a
// sync (DESIGN.md decision 2). One thread with its own connection to the store: it validates a
// delta or snapshot against the whole resulting state (rules::Validate), commits it in one durable
// transaction (Store::ApplyOps / ReplaceState), builds the new index and hands the outcome back
// through `post` (the core loop), where the index is swapped in and only then acknowledged.
//
// Revocations take a fast path: a delta that only changes the status or moves the end of existing
// cards and PINs is committed and the current index copied and patched (rules::PatchCredentials),
// with no revalidation of the whole state (such a change cannot break a valid state).
//
// Jobs run in the order submitted. A delta whose `prev` does not match the store's position when
// its turn comes (an earlier job was rejected) is skipped with Outcome::kSkipped, changing
// nothing. Consecutive jobs share one load of the records, and one index is built after the last
// job of a burst (a burst of deltas costs one rebuild); the records stay cached between bursts
// while the state is small (kCacheRecordsUpTo), so a delta at a building-sized site costs a
// validation and a commit, not a reload.
//
// Threads: Submit() and the destructor are called from the core thread; outcomes are posted.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "gateway/base/mutex.h"
#include "gateway/base/position.h"
#include "gateway/base/status.h"
#include "rules/index.h"
#include "rules/model.h"
#include "rules/ops.h"

namespace lintel::cloud {

// States with at most this many records in total stay cached in the worker between jobs.
inline constexpr size_t kCacheRecordsUpTo = 200000;

struct DeltaJob {
  Position from;  // (epoch, prev): the store must be here
  Position to;
  std::vector<rules::Op> ops;
};
struct SnapshotJob {
  Position to;
  std::string snapshot_id;
  rules::Records records;
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
using StateJob = std::variant<DeltaJob, SnapshotJob, LocalOpsJob, SiteJob>;

struct StateOutcome {
  enum class Result : uint8_t {
    kApplied,   // committed durably
    kRejected,  // the state it would make is invalid, or the store refused it: nothing changed
    kSkipped,   // a delta that no longer follows the store's position: nothing changed
    kFailed,    // the store failed (I/O, corruption): nothing changed; error says why
  };
  size_t job_index = 0;  // StateJob alternative: 0 delta, 1 snapshot, 2 local ops, 3 site
  Result result = Result::kApplied;
  Position position;   // the job's target (delta, snapshot) or the store's position
  std::string tag;     // LocalOpsJob::tag, SnapshotJob::snapshot_id
  size_t changes = 0;  // ops, or records of a snapshot
  std::string error;   // kRejected / kSkipped / kFailed: one line per problem
  // Set on the last outcome of a burst that changed anything: the index of the store's state.
  std::shared_ptr<const rules::Index> index;
  bool patched = false;  // the revocation fast path: the index was patched, not rebuilt
  double apply_ms = 0;   // validation + commit
  double index_ms = 0;   // index build (when `index` is set)
};

class StateWorker {
 public:
  using Poster = std::function<void(std::function<void()>)>;
  using OnOutcome = std::function<void(StateOutcome)>;

  // Opens its own store connection to `store_path` on the worker thread. `current` is the index of
  // the store's state as it is now (the engine's at start-up; null: built on first need); the
  // revocation fast path patches it. Outcomes are delivered as post([..]{ on_outcome(outcome); }).
  StateWorker(std::string store_path, rules::Site site, std::shared_ptr<const rules::Index> current,
              Poster post, OnOutcome on_outcome);
  ~StateWorker();  // finishes the job in progress, drops the queued ones, joins
  StateWorker(const StateWorker&) = delete;
  StateWorker& operator=(const StateWorker&) = delete;

  void Submit(StateJob job);

 private:
  void Run();

  std::string store_path_;
  rules::Site site_;
  std::shared_ptr<const rules::Index> current_;
  Poster post_;
  OnOutcome on_outcome_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<StateJob> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace lintel::cloud
