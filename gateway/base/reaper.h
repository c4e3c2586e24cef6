// Releases shared objects on a background thread. The last reference to a large object (an index
// of 2,000,000 credentials: some 300 MB in chunks, or an index image's mapping) dropped on the core
// thread frees it there, and a snapshot's index swap held the doors for milliseconds while the old
// one was unmapped (issue 13, points 2 and 3). Handed to a Reaper, it is freed on the reaper's own
// thread, which runs nicer than the process.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <thread>

#include "gateway/base/mutex.h"

namespace lintel {

class Reaper {
 public:
  // Objects waiting to be released; a further one is released by the caller (the queue's bound).
  static constexpr size_t kMaxQueued = 8;

  Reaper();
  ~Reaper();  // releases what is still queued, then joins
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Any thread. Takes `p`: whether or not this was its last reference, it is dropped on the
  // reaper's thread (in the caller when kMaxQueued are waiting). Null is ignored.
  void Release(std::shared_ptr<const void> p) EXCLUDES(mu_);

  // Objects dropped on the reaper's thread / by callers because the queue was full (tests).
  size_t released() const;
  size_t released_inline() const;

 private:
  void Run() EXCLUDES(mu_);

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<std::shared_ptr<const void>> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  size_t released_ GUARDED_BY(mu_) = 0;
  size_t released_inline_ GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace lintel
