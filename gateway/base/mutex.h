// Mutex, MutexLock and CondVar: std::mutex and friends with clang's capability annotations
// (gateway/base/thread_annotations.h), so -Wthread-safety checks every GUARDED_BY member.
//
//   mutable Mutex mu_;
//   std::deque<Task> queue_ GUARDED_BY(mu_);
//   void Push(Task t) { MutexLock lock(mu_); queue_.push_back(std::move(t)); cv_.notify_all(); }
//   Task Pop() {
//     MutexLock lock(mu_);
//     cv_.wait(lock, [&]() REQUIRES(mu_) { return !queue_.empty(); });
//     ...
//   }
//
// Same semantics as std::mutex / std::unique_lock; CondVar is std::condition_variable_any (a
// little dearer than std::condition_variable: fine for worker wake-ups, not for a hot path).
// Thread-safe as the std types are; header only, depends on nothing but the standard library.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "gateway/base/thread_annotations.h"

namespace lintel {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// Holds `mu` from construction to destruction, like std::unique_lock: unlock() and lock() release
// and take it again in between (the destructor releases it only if held). Drop-in for
// std::lock_guard / std::unique_lock, and the lock type CondVar waits on.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void lock() ACQUIRE() {
    mu_.lock();
    held_ = true;
  }
  void unlock() RELEASE() {
    held_ = false;
    mu_.unlock();
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

// A condition variable that waits on a MutexLock (std::condition_variable only takes
// std::unique_lock<std::mutex>). A predicate that reads guarded members says it runs with the
// lock held: `cv_.wait(lock, [&]() REQUIRES(mu_) { return stop_; });`.
using CondVar = std::condition_variable_any;

}  // namespace lintel
