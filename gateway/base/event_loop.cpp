#include "gateway/base/event_loop.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <utility>

#include "gateway/base/huge_pages.h"
#include "gateway/base/log.h"

namespace lintel {

struct EventLoop::FdEntry {
  int fd;
  FdCallback callback;
};

struct EventLoop::TimerEntry {
  std::chrono::nanoseconds interval;  // zero for a one-shot timer
  Task fn;
};

namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// epoll data tags of the loop's own descriptors; registrations use ids from 1 upwards.
constexpr uint64_t kTimerTag = 0;
constexpr uint64_t kWakeTag = std::numeric_limits<uint64_t>::max();
constexpr int kMaxEventsPerRound = 64;

std::string Errno(const char* what, int err) { return std::string(what) + ": " + strerror(err); }

std::string SignalName(int signo) {
  const char* abbrev = sigabbrev_np(signo);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(signo);
}

Status BuildSignalSet(const std::vector<int>& signals, sigset_t* set) {
  sigemptyset(set);
  for (int signo : signals) {
    if (sigaddset(set, signo) != 0) {
      return Status::InvalidArgument(std::to_string(signo) + " is not a signal number");
    }
  }
  return Status::Ok();
}

// Runs a callback behind the safety net promised in the header.
template <typename Fn>
void Guarded(const char* kind, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    LogError("event_loop", std::string(kind) + " threw, loop continues: " + e.what());
  } catch (...) {
    LogError("event_loop", std::string(kind) + " threw a non-std exception, loop continues");
  }
}

SteadyTime SaturatingAdd(SteadyTime t, std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) return t;
  if (d > SteadyTime::max() - t) return SteadyTime::max();
  return t + d;
}

}  // namespace

Status BlockSignals(const std::vector<int>& signals) {
  sigset_t set;
  LINTEL_RETURN_IF_ERROR(BuildSignalSet(signals, &set));
  int err = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (err != 0) return Status::IoError(Errno("pthread_sigmask", err));
  return Status::Ok();
}

Result<std::unique_ptr<EventLoop>> EventLoop::Create() {
  auto clock = std::make_unique<SystemClock>();
  auto loop = Create(*clock);
  if (loop.ok()) loop.value()->own_clock_ = std::move(clock);
  return loop;
}

Result<std::unique_ptr<EventLoop>> EventLoop::Create(const Clock& clock) {
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return Status::IoError(Errno("cannot create epoll instance", errno));
  int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd < 0) {
    int err = errno;
    close(epoll_fd);
    return Status::IoError(Errno("cannot create timerfd", err));
  }
  int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    int err = errno;
    close(timer_fd);
    close(epoll_fd);
    return Status::IoError(Errno("cannot create eventfd", err));
  }
  // From here the loop owns the three descriptors and closes them on every path.
  std::unique_ptr<EventLoop> loop(new EventLoop(clock, epoll_fd, timer_fd, wake_fd));
  for (auto [fd, tag] : {std::pair{timer_fd, kTimerTag}, std::pair{wake_fd, kWakeTag}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return Status::IoError(Errno("cannot watch the loop's own descriptors", errno));
    }
  }
  return loop;
}

EventLoop::EventLoop(const Clock& clock, int epoll_fd, int timer_fd, int wake_fd)
    : clock_(clock), epoll_fd_(epoll_fd), timer_fd_(timer_fd), wake_fd_(wake_fd) {}

EventLoop::~EventLoop() {
  for (int fd : signal_fds_) close(fd);
  close(wake_fd_);
  close(timer_fd_);
  close(epoll_fd_);
}

bool EventLoop::IsLoopThread() const { return loop_thread_.load() == std::this_thread::get_id(); }

void EventLoop::AssertOnLoopThread() const {
  assert((loop_thread_.load() == std::thread::id{} || IsLoopThread()) &&
         "EventLoop member called off the loop thread");
}

Result<EventLoop::FdHandle> EventLoop::AddFd(int fd, uint32_t events, FdCallback callback) {
  AssertOnLoopThread();
  if (fd_to_handle_.count(fd) != 0) {
    return Status(StatusCode::kAlreadyExists,
                  "fd " + std::to_string(fd) + " is already watched by this loop");
  }
  uint64_t id = next_id_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = id;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    std::string what = "cannot watch fd " + std::to_string(fd);
    if (err == EEXIST) return Status(StatusCode::kAlreadyExists, Errno(what.c_str(), err));
    if (err == EBADF || err == EPERM) return Status::InvalidArgument(Errno(what.c_str(), err));
    return Status::IoError(Errno(what.c_str(), err));
  }
  fds_.emplace(id, std::make_shared<FdEntry>(FdEntry{fd, std::move(callback)}));
  fd_to_handle_.emplace(fd, id);
  return FdHandle{id};
}

Status EventLoop::ModifyFd(FdHandle handle, uint32_t events) {
  AssertOnLoopThread();
  auto it = fds_.find(static_cast<uint64_t>(handle));
  if (it == fds_.end()) return Status::NotFound("unknown fd handle");
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = it->first;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, it->second->fd, &ev) != 0) {
    return Status::IoError(
        Errno(("cannot modify fd " + std::to_string(it->second->fd)).c_str(), errno));
  }
  return Status::Ok();
}

void EventLoop::RemoveFd(FdHandle handle) {
  AssertOnLoopThread();
  auto it = fds_.find(static_cast<uint64_t>(handle));
  if (it == fds_.end()) return;
  // EBADF (closed before RemoveFd) and ENOENT leave nothing to undo, so errors are ignored.
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second->fd, nullptr);
  fd_to_handle_.erase(it->second->fd);
  fds_.erase(it);  // a callback running right now keeps its own reference
}

EventLoop::TimerId EventLoop::AddTimerAt(SteadyTime deadline, std::chrono::nanoseconds interval,
                                         Task fn) {
  AssertOnLoopThread();
  uint64_t id = next_id_++;
  timers_.emplace(std::pair{deadline, id},
                  std::make_shared<TimerEntry>(TimerEntry{interval, std::move(fn)}));
  timer_deadlines_.emplace(id, deadline);
  return TimerId{id};
}

EventLoop::TimerId EventLoop::AddTimer(std::chrono::nanoseconds after, Task fn) {
  return AddTimerAt(SaturatingAdd(clock_.Monotonic(), after), std::chrono::nanoseconds::zero(),
                    std::move(fn));
}

EventLoop::TimerId EventLoop::AddPeriodic(std::chrono::nanoseconds interval, Task fn) {
  interval = std::max(interval, std::chrono::nanoseconds{1});
  return AddTimerAt(SaturatingAdd(clock_.Monotonic(), interval), interval, std::move(fn));
}

bool EventLoop::CancelTimer(TimerId id) {
  AssertOnLoopThread();
  auto it = timer_deadlines_.find(static_cast<uint64_t>(id));
  if (it == timer_deadlines_.end()) return false;
  timers_.erase(std::pair{it->second, it->first});
  timer_deadlines_.erase(it);
  return true;
}

void EventLoop::Post(Task task) {
  bool must_wake = false;
  {
    MutexLock lock(post_mu_);
    posted_.push_back(std::move(task));
    if (!wake_pending_) must_wake = wake_pending_ = true;
  }
  if (must_wake) {
    uint64_t one = 1;
    // Only fails with EAGAIN when the counter would overflow, which means it is already readable.
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
  }
}

void EventLoop::Stop() {
  int saved_errno = errno;  // async-signal-safe: a signal handler's caller must see errno intact
  stop_requested_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
  errno = saved_errno;
}

Status EventLoop::WatchSignals(const std::vector<int>& signals, SignalCallback callback) {
  AssertOnLoopThread();
  sigset_t set;
  LINTEL_RETURN_IF_ERROR(BuildSignalSet(signals, &set));
  sigset_t blocked;
  pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
  for (int signo : signals) {
    if (sigismember(&blocked, signo) != 1) {
      return Status::FailedPrecondition(SignalName(signo) +
                                        " is not blocked in the calling thread: call "
                                        "BlockSignals() first thing in main(), before any thread "
                                        "starts");
    }
  }
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return Status::IoError(Errno("cannot create signalfd", errno));
  auto on_readable = [fd, callback = std::move(callback)](uint32_t) {
    signalfd_siginfo info;
    while (read(fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      int signo = static_cast<int>(info.ssi_signo);
      Guarded("signal callback", [&] { callback(signo); });
    }
  };
  auto handle = AddFd(fd, EPOLLIN, std::move(on_readable));
  if (!handle.ok()) {
    close(fd);
    return handle.status();
  }
  signal_fds_.push_back(fd);
  return Status::Ok();
}

void EventLoop::ArmTimerFd() {
  itimerspec spec{};
  if (timers_.empty()) {
    if (timer_armed_) timerfd_settime(timer_fd_, 0, &spec, nullptr);
    timer_armed_ = false;
    return;
  }
  SteadyTime earliest = timers_.begin()->first.first;
  if (timer_armed_ && earliest == armed_deadline_) return;
  // Relative arming follows clock_ (a FakeClock too); the timerfd only wakes epoll_wait, and
  // RunDueTimers() decides from clock_ what is due, so an early or late wake-up is harmless.
  auto rel = std::max(earliest - clock_.Monotonic(), SteadyTime::duration{1});
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(rel);
  spec.it_value.tv_sec =
      static_cast<time_t>(std::min<int64_t>(secs.count(), std::numeric_limits<time_t>::max() / 2));
  spec.it_value.tv_nsec =
      static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(rel - secs).count());
  if (timerfd_settime(timer_fd_, 0, &spec, nullptr) != 0) {
    LogError("event_loop", Errno("timerfd_settime", errno));
    return;
  }
  armed_deadline_ = earliest;
  timer_armed_ = true;
}

void EventLoop::RunDueTimers() {
  SteadyTime now = clock_.Monotonic();
  // Snapshot first: timers added or re-armed by these callbacks wait for the next round.
  std::vector<uint64_t> due;
  for (const auto& [key, entry] : timers_) {
    if (key.first > now) break;
    due.push_back(key.second);
  }
  for (uint64_t id : due) {
    auto dl = timer_deadlines_.find(id);
    if (dl == timer_deadlines_.end()) continue;  // cancelled by an earlier callback this round
    auto node = timers_.extract(std::pair{dl->second, id});
    std::shared_ptr<TimerEntry> entry = node.mapped();
    if (entry->interval.count() > 0) {
      SteadyTime next = SaturatingAdd(dl->second, entry->interval);
      if (next <= now) next = SaturatingAdd(now, entry->interval);  // coalesce missed ticks
      dl->second = next;
      node.key() = std::pair{next, id};
      timers_.insert(std::move(node));
    } else {
      timer_deadlines_.erase(dl);
    }
    Guarded("timer callback", [&] { entry->fn(); });
  }
}

void EventLoop::RunPostedTasks() {
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof count);
  std::vector<Task> batch;
  {
    MutexLock lock(post_mu_);
    batch.swap(posted_);
    wake_pending_ = false;
  }
  for (Task& task : batch) Guarded("posted task", task);
}

Status EventLoop::WaitAndDispatch(int timeout_ms) {
  std::thread::id previous = loop_thread_.exchange(std::this_thread::get_id());
  assert((previous == std::thread::id{} || previous == std::this_thread::get_id()) &&
         "EventLoop run from two threads");
  struct Restore {
    EventLoop* loop;
    std::thread::id previous;
    ~Restore() { loop->loop_thread_.store(previous); }
  } restore{this, previous};

  ArmTimerFd();
  if (stop_requested_.load()) timeout_ms = 0;
  if (!timers_.empty() && timers_.begin()->first.first <= clock_.Monotonic()) timeout_ms = 0;

  epoll_event events[kMaxEventsPerRound];
  int n = epoll_wait(epoll_fd_, events, kMaxEventsPerRound, timeout_ms);
  if (n < 0) {
    if (errno != EINTR) return Status::IoError(Errno("epoll_wait", errno));
    n = 0;
  }
  bool woken = false;
  for (int i = 0; i < n; ++i) {
    uint64_t tag = events[i].data.u64;
    if (tag == kTimerTag) {
      uint64_t expirations;
      [[maybe_unused]] ssize_t r = read(timer_fd_, &expirations, sizeof expirations);
      timer_armed_ = false;
      continue;
    }
    if (tag == kWakeTag) {
      woken = true;
      continue;
    }
    auto it = fds_.find(tag);
    if (it == fds_.end()) continue;  // removed by an earlier callback in this round
    std::shared_ptr<FdEntry> entry = it->second;
    uint32_t revents = events[i].events;
    Guarded("fd callback", [&] { entry->callback(revents); });
  }
  RunDueTimers();
  if (woken) RunPostedTasks();
  return Status::Ok();
}

Status EventLoop::RunOnce(std::chrono::milliseconds timeout) {
  auto ms = std::clamp<int64_t>(timeout.count(), 0, std::numeric_limits<int>::max());
  return WaitAndDispatch(static_cast<int>(ms));
}

Status EventLoop::Run() {
  // The loop's thread is the one that must never stall (the gateway's doors decide on it): the
  // first touch of a fresh huge-page slab cost it 2-7 ms of system time (issue 13, points 2, 3).
  KeepHugePageFaultsOffThisThread();
  for (;;) {
    LINTEL_RETURN_IF_ERROR(WaitAndDispatch(-1));
    if (stop_requested_.exchange(false)) return Status::Ok();
  }
}

}  // namespace lintel
