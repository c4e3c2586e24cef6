// PinAssembler: turns a keypad's key presses into submitted PINs. Pure.
//
// Driven by the caller's monotonic timestamps (nanoseconds, e.g. a gpiod event's CLOCK_MONOTONIC
// time or Clock::Monotonic()); it reads no clock and arms no timer: the caller calls Expire() at
// Deadline(). Not thread-safe: one instance per reader, used from one thread.
//
// Rules: digits accumulate; '#' submits (when at least min_length digits are held); '*' clears;
// a digit beyond max_length clears everything ("too long"); digits older than the inter-key
// timeout are discarded. Any other key is ignored. PIN digits are secrets: this class never logs,
// and PinEvent is the only way they leave it (callers must not log PinEvent::pin).
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace lintel::wiegand {

struct PinConfig {
  int64_t inter_key_timeout_ns = 5'000'000'000;  // 5 s between keys
  size_t min_length = 1;                         // '#' with fewer digits: kTooShort
  size_t max_length = 8;                         // a digit beyond this: kTooLong
};

struct PinEvent {
  enum class Kind {
    kNone,       // nothing happened (Expire with nothing due)
    kDigit,      // a digit was added; `length` digits held
    kCleared,    // '*' cleared the digits
    kSubmitted,  // '#': `pin` holds the digits, the buffer is empty again
    kTooShort,   // '#' with fewer than min_length digits: cleared
    kTooLong,    // a digit beyond max_length: cleared
    kTimedOut,   // the inter-key timeout passed: cleared
    kIgnored,    // a key that is neither a digit, '*' nor '#'
  };
  Kind kind = Kind::kNone;
  std::string pin;  // only for kSubmitted. Secret: never log.
  size_t length = 0;
};

struct PinCounters {
  uint64_t submitted = 0, cleared = 0, too_short = 0, too_long = 0, timed_out = 0, ignored = 0;
};

class PinAssembler {
 public:
  explicit PinAssembler(PinConfig config = {}) : config_(config) {}

  // A key pressed at `now_ns` (monotonic, non-decreasing across calls). If the digits held are
  // older than the timeout they are dropped first (counted as timed out) and the key then applies.
  PinEvent Feed(char key, int64_t now_ns);
  // kTimedOut when digits are held and the timeout has passed at `now_ns`; kNone otherwise.
  PinEvent Expire(int64_t now_ns);
  // When Expire() next has something to do; INT64_MAX when no digits are held.
  int64_t Deadline() const;

  size_t held() const { return digits_.size(); }
  const PinCounters& counters() const { return counters_; }

 private:
  void Clear();

  PinConfig config_;
  std::string digits_;
  int64_t last_key_ns_ = 0;
  PinCounters counters_;
};

}  // namespace lintel::wiegand
