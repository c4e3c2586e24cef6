// JournalWriter: writes the core's journal batches on a thread of its own, with its own store
// connection, so a decision never waits for a commit, a busy lock or a slow disk (issue 13,
// point 3: the journal leaves the door's path).
//
// The core (Gateway) stays the owner of the events: they wait in its bounded JournalQueue, it
// hands one batch at a time to Write() and learns the outcome through `post` (its loop), where it
// drops the batch from memory or puts it back in front on a failure. So what the queue promises
// (bound, drop order, `events.lost`) and the retry rules are unchanged; only the I/O moved.
//
// Threads: Write(), WaitIdle() and the destructor are called from one thread (the core's); the
// outcome is posted. The store connection is opened on the writer's thread on first use and
// again after a failed open.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/mutex.h"
#include "gateway/base/status.h"
#include "gateway/store/store.h"

namespace lintel::core {

class JournalWriter {
 public:
  using Poster = std::function<void(std::function<void()>)>;
  using Done = std::function<void(Result<uint64_t>)>;

  // `open` opens `path` for the writer's connection (Store::Open with a busy timeout of
  // `busy_timeout_ms`: the writer may wait for the lock, the doors do not).
  JournalWriter(std::string path, store::StoreOpener open, Poster post, int busy_timeout_ms = 2000);
  ~JournalWriter();  // finishes the batch being written (its outcome is not posted), joins
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Writes `batch` in one transaction (Store::Append); its outcome (the last seq, or the error)
  // goes to `done` through `post`, unless WaitIdle() takes it first. One batch at a time: the
  // caller waits for the outcome before the next Write.
  void Write(std::vector<store::JournalEvent> batch, Done done);
  // Blocks until the batch handed to Write (if any) is written and returns its outcome, unless
  // `done` already received it (then nullopt); `done` is not called for an outcome taken here.
  std::optional<Result<uint64_t>> WaitIdle();

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
    // The outcome, once: by the posted task or by WaitIdle, whichever comes first.
    std::optional<Result<uint64_t>> Take() REQUIRES(mu);
  };
  void Run();

  std::string path_;
  store::StoreOpener open_;
  Poster post_;
  int busy_timeout_ms_;
  std::shared_ptr<Shared> s_ = std::make_shared<Shared>();
  std::thread thread_;
};

}  // namespace lintel::core
