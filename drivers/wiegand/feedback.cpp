#include "drivers/wiegand/feedback.h"

#include <gpiod.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace lintel::wiegand {

using std::chrono::milliseconds;

FeedbackPattern FeedbackPattern::Grant() {
  return {"grant",
          {{milliseconds(0), FeedbackChannel::kGreen, true},
           {milliseconds(0), FeedbackChannel::kBeeper, true},
           {milliseconds(100), FeedbackChannel::kBeeper, false},
           {milliseconds(1000), FeedbackChannel::kGreen, false}}};
}

FeedbackPattern FeedbackPattern::Deny() {
  FeedbackPattern p{"deny", {{milliseconds(0), FeedbackChannel::kRed, true}}};
  for (int i = 0; i < 3; ++i) {
    p.steps.push_back({milliseconds(200 * i), FeedbackChannel::kBeeper, true});
    p.steps.push_back({milliseconds(200 * i + 100), FeedbackChannel::kBeeper, false});
  }
  p.steps.push_back({milliseconds(500), FeedbackChannel::kRed, false});
  return p;
}

Feedback::Feedback(EventLoop& loop, FeedbackOutputs outputs, OnError on_error)
    : loop_(loop), outputs_(outputs), on_error_(std::move(on_error)) {}

Feedback::~Feedback() { CancelTimers(); }

void Feedback::CancelTimers() {
  for (EventLoop::TimerId id : timers_) loop_.CancelTimer(id);
  timers_.clear();
  pending_ = 0;
}

void Feedback::Apply(FeedbackChannel channel, bool on) {
  Output* out = channel == FeedbackChannel::kGreen ? outputs_.green
                : channel == FeedbackChannel::kRed ? outputs_.red
                                                   : outputs_.beeper;
  if (out == nullptr) return;
  Status st = out->Set(on);
  if (!st.ok()) {
    ++counters_.output_errors;
    if (on_error_) on_error_(st);
  }
}

void Feedback::Stop() {
  CancelTimers();
  for (FeedbackChannel c :
       {FeedbackChannel::kGreen, FeedbackChannel::kRed, FeedbackChannel::kBeeper}) {
    Apply(c, false);
  }
}

void Feedback::Play(const FeedbackPattern& pattern) {
  if (playing()) ++counters_.interrupted;
  Stop();
  ++counters_.plays;
  std::vector<FeedbackStep> steps = pattern.steps;
  std::stable_sort(steps.begin(), steps.end(),
                   [](const FeedbackStep& a, const FeedbackStep& b) { return a.at < b.at; });
  for (const FeedbackStep& s : steps) {
    if (s.at.count() <= 0) {
      Apply(s.channel, s.on);
      continue;
    }
    // Timers with equal deadlines run in the order added, so the sorted order holds.
    ++pending_;
    timers_.push_back(loop_.AddTimer(s.at, [this, s] {
      Apply(s.channel, s.on);
      if (--pending_ == 0) timers_.clear();
    }));
  }
}

Result<std::unique_ptr<GpioOutput>> GpioOutput::Open(GpioOutputConfig config) {
  std::string name = "gpio chip \"" + config.chip + "\"";
  std::unique_ptr<GpioOutput> out(new GpioOutput(config));
  errno = 0;
  out->chip_ = gpiod_chip_open_lookup(config.chip.c_str());
  if (out->chip_ == nullptr) {
    return Status::IoError(name + ": cannot open: " + std::strerror(errno != 0 ? errno : ENOENT));
  }
  std::string line_name = name + " line " + std::to_string(config.offset);
  gpiod_line* line = gpiod_chip_get_line(out->chip_, config.offset);
  if (line == nullptr)
    return Status::IoError(line_name + ": no such line: " + std::strerror(errno));
  int flags = config.active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
  if (gpiod_line_request_output_flags(line, config.consumer.c_str(), flags, 0) != 0) {
    return Status::IoError(line_name + ": cannot request output: " + std::strerror(errno));
  }
  out->line_ = line;
  return out;
}

GpioOutput::~GpioOutput() {
  if (line_ != nullptr) gpiod_line_release(line_);
  if (chip_ != nullptr) gpiod_chip_close(chip_);
}

Status GpioOutput::Set(bool on) {
  if (gpiod_line_set_value(line_, on ? 1 : 0) != 0) {
    return Status::IoError("gpio chip \"" + config_.chip + "\" line " +
                           std::to_string(config_.offset) +
                           ": cannot set: " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace lintel::wiegand
