// EventLoop: the one epoll-based loop the core thread runs (DESIGN.md decision 1).
//
// Everything the daemon reacts to arrives here: readiness of file descriptors (sockets, serial
// lines, GPIO line fds), timers on the monotonic clock, work posted from other threads (drivers,
// Paho's MQTT callback thread) and the signals SIGTERM / SIGINT / SIGHUP through a signalfd.
//
// Threads. The loop belongs to the thread that calls Run() or RunOnce(), "the loop thread". Only
// Post() and Stop() may be called from any thread (Stop() also from a signal handler). Every other
// member is called on the loop thread, from inside a callback or while the loop is not running
// (setup before Run(), teardown after it returned). Callbacks always run on the loop thread, one at
// a time, so state touched only from callbacks needs no lock.
//
// Callbacks may call any member of the loop, including removing their own registration or
// cancelling their own timer. A registration removed while its event is pending is not called
// again, even in the same dispatch round. A callback must not destroy the loop, nor call Run() or
// RunOnce() (the loop is not re-entrant).
//
// Exceptions. A callback that throws does not take the loop down: the exception is caught, logged
// with LogError("event_loop", ...) and the loop continues with the next callback. This is a safety
// net, not an error channel: Lintel code reports errors with Status.
//
// Ownership. The loop owns its epoll, timer, wake and signal descriptors. It never owns the fds
// passed to AddFd(): call RemoveFd() before closing them. Destroying the loop drops (without
// running) posted work still queued and every registration.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/mutex.h"
#include "gateway/base/status.h"

namespace lintel {

// Blocks `signals` in the calling thread with pthread_sigmask(SIG_BLOCK). Threads inherit the mask
// of the thread that creates them, so main() calls this first thing, before any thread exists (the
// loop, Paho, sdbus-c++, drivers): a signal that is blocked in every thread stays pending until the
// loop reads it from its signalfd; a thread that left it unblocked would get the default action
// (termination) instead. Errors: InvalidArgument for a number that is not a signal.
Status BlockSignals(const std::vector<int>& signals);

class EventLoop {
 public:
  // Opaque identities of a registration; never reused during the loop's life.
  enum class FdHandle : uint64_t {};
  enum class TimerId : uint64_t {};

  using FdCallback = std::function<void(uint32_t revents)>;
  using Task = std::function<void()>;
  using SignalCallback = std::function<void(int signo)>;

  // Creates a loop whose timers follow the operating system's monotonic clock.
  // Errors: IoError when epoll, timerfd or eventfd cannot be created (e.g. out of descriptors).
  static Result<std::unique_ptr<EventLoop>> Create();

  // Creates a loop whose timers follow `clock.Monotonic()`; `clock` must outlive the loop. With a
  // FakeClock, a test moves time with FakeClock::Advance() and calls RunOnce(): every timer whose
  // deadline has been reached fires, without sleeping. Errors: as Create().
  static Result<std::unique_ptr<EventLoop>> Create(const Clock& clock);

  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // --- file descriptors (loop thread) ---

  // Watches `fd` for `events` (EPOLLIN, EPOLLOUT, EPOLLET, ...; EPOLLERR and EPOLLHUP are always
  // reported). Level-triggered unless EPOLLET is given. `callback` receives the ready events.
  // Errors: AlreadyExists when `fd` is already watched by this loop; InvalidArgument when epoll
  // cannot watch it (a regular file, a closed fd); IoError for other epoll_ctl failures.
  Result<FdHandle> AddFd(int fd, uint32_t events, FdCallback callback);

  // Changes the events watched for `handle`. Errors: NotFound for an unknown handle; IoError when
  // epoll_ctl refuses (the fd was closed before RemoveFd()).
  Status ModifyFd(FdHandle handle, uint32_t events);

  // Stops watching; the callback is not called again and is destroyed once it is not running.
  // Unknown handles are ignored, so removing twice is harmless.
  void RemoveFd(FdHandle handle);

  // --- timers (loop thread) ---

  // Runs `fn` once, `after` from now on the loop's monotonic clock (negative counts as zero).
  // Timers due in the same round run in deadline order, and in the order they were added when
  // the deadlines are equal. A timer added by a timer callback runs in a later round, never the
  // current one, so a zero-delay timer that re-adds itself cannot starve fds and posted work.
  TimerId AddTimer(std::chrono::nanoseconds after, Task fn);

  // Runs `fn` every `interval` (at least 1 ns), first after one interval, until cancelled. When the
  // loop falls behind by more than one interval the missed ticks are coalesced into one call and
  // the schedule restarts from now (a timer never fires in a burst).
  TimerId AddPeriodic(std::chrono::nanoseconds interval, Task fn);

  // Cancels a pending timer. Returns false when the id is unknown or a one-shot timer has already
  // fired. Cancelling from inside the timer's own callback stops a periodic timer.
  bool CancelTimer(TimerId id);

  // --- cross-thread work (any thread) ---

  // Enqueues `task` to run on the loop thread. Tasks run in the order their Post() calls were
  // ordered (so in program order for each posting thread), after the fd and timer callbacks of the
  // round in which they are picked up. Never blocks on the loop; allocates. Thread-safe. Posting
  // after the loop is destroyed is a use-after-free: the owner stops producers first.
  void Post(Task task);

  // --- signals (loop thread) ---

  // Reads `signals` through a signalfd and calls `callback(signo)` on the loop thread for each one
  // delivered. The signals must already be blocked in every thread (see BlockSignals()); this is
  // checked for the calling thread. Standard signals do not queue: two SIGHUPs sent before the loop
  // reads them are reported once. May be called more than once with disjoint sets.
  // Errors: FailedPrecondition when a signal is not blocked in the calling thread; InvalidArgument
  // for a number that is not a signal; IoError when signalfd or epoll refuse.
  Status WatchSignals(const std::vector<int>& signals, SignalCallback callback);

  // --- running ---

  // Dispatches until Stop(). Returns OK after a Stop(); IoError when epoll_wait fails (never
  // expected: it is a bug or a corrupted process).
  Status Run();

  // Waits up to `timeout` (zero: do not wait) for something to be ready, then dispatches one round:
  // ready fds, due timers, posted tasks. Returns early when nothing is ready; a Stop() makes it
  // return as soon as the round ends. Errors: as Run().
  Status RunOnce(std::chrono::milliseconds timeout);

  // Makes the running Run() return after the callback in progress and the rest of its round; if no
  // Run() is running, the next Run() returns after one round. Thread-safe and async-signal-safe
  // (an atomic store and a write(2) to an eventfd), so a classic signal handler may call it.
  void Stop();

  // True when called from the thread currently inside Run()/RunOnce().
  bool IsLoopThread() const;

 private:
  struct FdEntry;
  struct TimerEntry;

  EventLoop(const Clock& clock, int epoll_fd, int timer_fd, int wake_fd);
  Status WaitAndDispatch(int timeout_ms);
  void RunDueTimers();
  void RunPostedTasks();
  void ArmTimerFd();
  void AssertOnLoopThread() const;
  TimerId AddTimerAt(std::chrono::steady_clock::time_point deadline,
                     std::chrono::nanoseconds interval, Task fn);

  std::unique_ptr<Clock> own_clock_;  // set when Create() picked the system clock
  const Clock& clock_;
  const int epoll_fd_;
  const int timer_fd_;
  const int wake_fd_;
  std::vector<int> signal_fds_;

  uint64_t next_id_ = 1;  // fd handles and timer ids; epoll tags 0 and ~0 are the loop's own fds
  std::unordered_map<uint64_t, std::shared_ptr<FdEntry>> fds_;
  std::unordered_map<int, uint64_t> fd_to_handle_;

  // Ordered by (deadline, id): the first entry is the next timer due.
  std::map<std::pair<std::chrono::steady_clock::time_point, uint64_t>, std::shared_ptr<TimerEntry>>
      timers_;
  std::unordered_map<uint64_t, std::chrono::steady_clock::time_point> timer_deadlines_;
  std::chrono::steady_clock::time_point armed_deadline_{};  // valid while timer_armed_
  bool timer_armed_ = false;

  Mutex post_mu_;
  std::vector<Task> posted_ GUARDED_BY(post_mu_);
  bool wake_pending_ GUARDED_BY(post_mu_) = false;  // an eventfd write is in flight
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::thread::id> loop_thread_{};
};

}  // namespace lintel
