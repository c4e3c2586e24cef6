// Reader feedback: the LED and beeper lines of a Wiegand reader, played as timed patterns on the
// core loop (grant: green LED 1 s + one 100 ms beep; deny: three 100 ms beeps).
//
// The reader's LED/beeper inputs are driven by GPIO outputs (GpioOutput, libgpiod 1.6) or, in
// tests and the simulator, by any Output. A driver carries out feedback when the core asks; it
// never decides it.
//
// Threads: Feedback and GpioOutput are used on the loop thread only. Ownership: Feedback does not
// own its Outputs (they must outlive it); `loop` must outlive it; its destructor cancels pending
// steps and leaves the outputs as they are (call Stop() first to switch them off).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"

struct gpiod_chip;
struct gpiod_line;

namespace lintel::wiegand {

// One on/off output (an LED or beeper line). Set(true) = active (LED lit, beeper sounding).
// Errors: IoError when the hardware refuses.
class Output {
 public:
  virtual ~Output() = default;
  [[nodiscard]] virtual Status Set(bool on) = 0;
};

enum class FeedbackChannel { kGreen, kRed, kBeeper };

struct FeedbackStep {
  std::chrono::nanoseconds at{0};  // from the start of the pattern
  FeedbackChannel channel = FeedbackChannel::kGreen;
  bool on = false;
};

struct FeedbackPattern {
  std::string name;
  std::vector<FeedbackStep> steps;  // any order; equal times run in the order given

  // Green on 0-1000 ms, beeper on 0-100 ms.
  static FeedbackPattern Grant();
  // Red on 0-500 ms, beeper on 0-100, 200-300, 400-500 ms.
  static FeedbackPattern Deny();
};

struct FeedbackOutputs {
  Output* green = nullptr;  // any may be null: the reader has no such line wired
  Output* red = nullptr;
  Output* beeper = nullptr;
};

struct FeedbackCounters {
  uint64_t plays = 0;
  uint64_t interrupted = 0;    // a Play() that cut a pattern still running short
  uint64_t output_errors = 0;  // Output::Set failures (each reported to on_error)
};

class Feedback {
 public:
  using OnError = std::function<void(const Status&)>;

  Feedback(EventLoop& loop, FeedbackOutputs outputs, OnError on_error = nullptr);
  ~Feedback();
  Feedback(const Feedback&) = delete;
  Feedback& operator=(const Feedback&) = delete;

  // Starts `pattern` now: a pattern still running is cancelled and every wired output switched
  // off first; steps at 0 run before Play() returns, the rest on loop timers. Steps for channels
  // without an output are skipped. A failing Set() is counted, reported and the pattern goes on.
  void Play(const FeedbackPattern& pattern);
  // Cancels the running pattern and switches every wired output off.
  void Stop();
  bool playing() const { return !timers_.empty(); }

  const FeedbackCounters& counters() const { return counters_; }

 private:
  void Apply(FeedbackChannel channel, bool on);
  void CancelTimers();

  EventLoop& loop_;
  FeedbackOutputs outputs_;
  OnError on_error_;
  std::vector<EventLoop::TimerId> timers_;
  size_t pending_ = 0;
  FeedbackCounters counters_;
};

struct GpioOutputConfig {
  std::string chip = "gpiochip0";  // name, number, label or path
  unsigned offset = 0;
  bool active_low = false;  // the line is driven low for "on" (open-collector LED/beeper inputs)
  std::string consumer = "lintel";
};

// An Output on one GPIO line, requested as an output, initially off.
class GpioOutput final : public Output {
 public:
  // Errors: IoError naming the chip ("gpio chip \"gpiochip0\": cannot open: No such file or
  // directory") or the line ("... line 5: cannot request output: Device or resource busy").
  static Result<std::unique_ptr<GpioOutput>> Open(GpioOutputConfig config);
  ~GpioOutput() override;  // releases the line (it returns to its default state) and the chip
  GpioOutput(const GpioOutput&) = delete;
  GpioOutput& operator=(const GpioOutput&) = delete;

  // Errors: IoError naming the chip and line.
  Status Set(bool on) override;

 private:
  explicit GpioOutput(GpioOutputConfig config) : config_(std::move(config)) {}

  GpioOutputConfig config_;
  gpiod_chip* chip_ = nullptr;
  gpiod_line* line_ = nullptr;
};

}  // namespace lintel::wiegand
