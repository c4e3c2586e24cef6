#include "gateway/base/reaper.h"

#include <utility>

#include "gateway/base/thread_priority.h"

namespace lintel {

Reaper::Reaper() : thread_([this] { Run(); }) {}

Reaper::~Reaper() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Reaper::Release(std::shared_ptr<const void> p) {
  if (!p) return;
  MutexLock lock(mu_);
  if (queue_.size() >= kMaxQueued || stop_) {
    ++released_inline_;
    lock.unlock();
    p.reset();  // here, outside the lock
    return;
  }
  queue_.push_back(std::move(p));
  lock.unlock();
  cv_.notify_one();
}

size_t Reaper::released() const {
  MutexLock lock(mu_);
  return released_;
}

size_t Reaper::released_inline() const {
  MutexLock lock(mu_);
  return released_inline_;
}

void Reaper::Run() {
  LowerThisThreadPriority(10);  // freeing memory is never more urgent than a door
  MutexLock lock(mu_);
  while (true) {
    cv_.wait(lock, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopped, nothing left
    std::shared_ptr<const void> p = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    p.reset();
    lock.lock();
    ++released_;
  }
}

}  // namespace lintel
