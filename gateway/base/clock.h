// Clock: the one way Lintel code reads the time. Injected everywhere (STYLE.md rule 4).
//
// Wall() is UTC wall-clock time used for validity windows; Monotonic() is for timeouts and
// intervals. Implementations are thread-safe.
#pragma once

#include <atomic>
#include <chrono>

#include "gateway/base/time.h"

namespace lintel {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant Wall() const = 0;
  // Wall time in milliseconds, for journal timestamps people read; Wall() where there is no finer
  // clock (the fake clock of tests).
  virtual std::chrono::sys_time<std::chrono::milliseconds> WallMillis() const { return Wall(); }
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
  // Whether wall time is disciplined (NTP/PTP); reported with every event as `clock_synced`.
  virtual bool Synchronized() const = 0;
};

// The operating system's clocks.
class SystemClock final : public Clock {
 public:
  Instant Wall() const override {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  }
  std::chrono::sys_time<std::chrono::milliseconds> WallMillis() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
  bool Synchronized() const override;  // adjtimex(2): kernel clock not marked unsynchronised
};

// A clock the test moves by hand. Wall time may be set backwards (to simulate a bad RTC);
// monotonic time only moves forwards with Advance().
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Instant wall) : wall_(ToUnix(wall)) {}
  Instant Wall() const override { return FromUnix(wall_.load()); }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point{std::chrono::nanoseconds{mono_ns_.load()}};
  }
  bool Synchronized() const override { return synced_; }
  void SetWall(Instant t) { wall_ = ToUnix(t); }
  void SetSynchronized(bool s) { synced_ = s; }
  void Advance(std::chrono::nanoseconds d) {
    mono_ns_ += d.count();
    wall_ += std::chrono::duration_cast<std::chrono::seconds>(d).count();
  }

 private:
  std::atomic<int64_t> wall_;
  std::atomic<int64_t> mono_ns_{1'000'000'000};
  std::atomic<bool> synced_{true};
};

}  // namespace lintel
