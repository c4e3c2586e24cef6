// JournalWriter: writes the core's journal batches on a thread of its own, with its own store
// connection, so a decision never waits for a commit, a busy lock or a slow disk (issue 13,
// point 3: the journal leaves the door's path).
//
// The core (Gateway) stays the owner of the events: they wait in its bounded JournalQueue, it
// hands one batch at a time to Write() and learns the outcome through `post` (its loop), where it
// drops the batch from memory or puts it back in front on a failure. So what the queue promises
// (bound, drop order, `events.lost`) and the retry rules are unchanged; only the I/O moved.
//
// The core's other small writes go the same way (they too met the state worker's write lock on the
// core's connection): the time floor (Store::AdvanceLastKnownGood / ResetLastKnownGood, every Tick
// and on a floor reset), the outbox's acknowledged prefix (Store::DeleteUpTo after an events/ack)
// and meta values (Store::SetMeta, the cloud head's expiry with every new head). They are "upkeep":
// coalesced while waiting (the highest floor or the last reset; the highest seq; the last value of
// a meta key, e.g. the head's expiry), so what waits is bounded whatever the rate, and written
// after the journal batch in hand, each in its own transaction. A failed upkeep write is posted
// back (Upkept) for the core to hand over again; a successful one is not.
//
// Threads: Write(), WaitIdle(), SetFloor(), DeleteUpTo(), Submit(), WaitSettled() and the
// destructor are called from one thread (the core's); outcomes are posted. The store connection is
// opened on the writer's thread on first use and again after a failed open.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/mutex.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "gateway/store/store.h"

namespace lintel::core {

class JournalWriter {
 public:
  using Poster = std::function<void(std::function<void()>)>;
  using Done = std::function<void(Result<uint64_t>)>;
  // Upkeep writes waiting (or that failed): the floor to store, whether it replaces the stored one
  // (reset, which may lower it) or only advances it, and the seq up to which the journal is
  // deleted.
  struct Upkeep {
    std::optional<Instant> floor;
    bool reset = false;
    std::optional<uint64_t> delete_upto;
    std::map<std::string, std::string> meta;  // key -> value (Store::SetMeta)
    bool empty() const { return !floor && !delete_upto && meta.empty(); }
    // `later` after this one, as one write: an advance keeps the higher floor, a reset replaces
    // (a reset then an advance is the reset to the higher of the two); the higher seq; the later
    // value of a meta key.
    void Merge(const Upkeep& later);
  };
  // A failed upkeep write: what it was (for the core to hand over again) and the error.
  using Upkept = std::function<void(Upkeep failed, Status error)>;

  // `open` opens `path` for the writer's connection (Store::Open with a busy timeout of
  // `busy_timeout_ms`: the writer may wait for the lock, the doors do not).
  // `upkept` (may be null) gets the failed upkeep writes, through `post`.
  JournalWriter(std::string path, store::StoreOpener open, Poster post, int busy_timeout_ms = 2000,
                Upkept upkept = nullptr);
  ~JournalWriter();  // finishes the batch and the upkeep handed over, joins
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Writes `batch` in one transaction (Store::Append); its outcome (the last seq, or the error)
  // goes to `done` through `post`, unless WaitIdle() takes it first. One batch at a time: the
  // caller waits for the outcome before the next Write.
  void Write(std::vector<store::JournalEvent> batch, Done done);
  // Blocks until the batch handed to Write (if any) is written and returns its outcome, unless
  // `done` already received it (then nullopt); `done` is not called for an outcome taken here.
  std::optional<Result<uint64_t>> WaitIdle();

  // Upkeep (see the class comment): returns at once; written by the writer's thread.
  void SetFloor(Instant floor, bool reset);
  void DeleteUpTo(uint64_t seq);
  void SetMeta(std::string key, std::string value);
  // Blocks until the upkeep handed over so far is written (or failed: its failure is posted).
  void WaitSettled();

  // Another write of the core's (a cloud command's id: Store::RecordCommand, PruneCommands): `op`
  // runs on the writer's thread with its connection, after the batch in hand and before the
  // upkeep; its Status goes to `done` through `post`. Returns false, queuing nothing, while
  // kMaxOps wait.
  using StoreOp = std::function<Status(store::Store&)>;
  using OpDone = std::function<void(Status)>;
  static constexpr size_t kMaxOps = 64;
  bool Submit(StoreOp op, OpDone done);

 private:
  // Shared with the posted outcomes, which may run after the writer is gone.
  struct Shared {
    Mutex mu;
    CondVar cv;
    std::optional<std::vector<store::JournalEvent>> batch GUARDED_BY(mu);
    Done done GUARDED_BY(mu);
    bool busy GUARDED_BY(mu) = false;  // a batch was handed over and its outcome not yet taken
    std::optional<Result<uint64_t>> outcome GUARDED_BY(mu);
    bool stop GUARDED_BY(mu) = false;
    Upkeep upkeep GUARDED_BY(mu);           // waiting
    bool upkeeping GUARDED_BY(mu) = false;  // taken by the thread, being written
    std::deque<std::pair<StoreOp, OpDone>> ops GUARDED_BY(mu);  // Submit, in order
    // The outcome, once: by the posted task or by WaitIdle, whichever comes first.
    std::optional<Result<uint64_t>> Take() REQUIRES(mu);
  };
  void Run();
  // On the writer's thread, without the lock: writes `u` on `store` (opened if need be).
  Status WriteUpkeep(std::unique_ptr<store::Store>& store, const Upkeep& u, Upkeep* failed);
  Status EnsureOpen(std::unique_ptr<store::Store>& store);

  std::string path_;
  store::StoreOpener open_;
  Poster post_;
  int busy_timeout_ms_;
  Upkept upkept_;
  std::shared_ptr<Shared> s_ = std::make_shared<Shared>();
  std::thread thread_;
};

}  // namespace lintel::core
