#include "drivers/wiegand/pin_assembler.h"

namespace lintel::wiegand {

void PinAssembler::Clear() {
  // Overwrite before clearing so the digits do not linger in the buffer.
  digits_.assign(digits_.size(), '\0');
  digits_.clear();
}

int64_t PinAssembler::Deadline() const {
  if (digits_.empty()) return std::numeric_limits<int64_t>::max();
  if (last_key_ns_ > std::numeric_limits<int64_t>::max() - config_.inter_key_timeout_ns) {
    return std::numeric_limits<int64_t>::max();
  }
  return last_key_ns_ + config_.inter_key_timeout_ns;
}

PinEvent PinAssembler::Expire(int64_t now_ns) {
  if (digits_.empty() || now_ns < Deadline()) return {};
  Clear();
  ++counters_.timed_out;
  return {PinEvent::Kind::kTimedOut, {}, 0};
}

PinEvent PinAssembler::Feed(char key, int64_t now_ns) {
  (void)Expire(now_ns);
  if (key >= '0' && key <= '9') {
    if (digits_.size() >= config_.max_length) {
      Clear();
      ++counters_.too_long;
      return {PinEvent::Kind::kTooLong, {}, 0};
    }
    digits_ += key;
    last_key_ns_ = now_ns;
    return {PinEvent::Kind::kDigit, {}, digits_.size()};
  }
  if (key == '*') {
    Clear();
    ++counters_.cleared;
    return {PinEvent::Kind::kCleared, {}, 0};
  }
  if (key == '#') {
    if (digits_.size() < config_.min_length) {
      Clear();
      ++counters_.too_short;
      return {PinEvent::Kind::kTooShort, {}, 0};
    }
    PinEvent e{PinEvent::Kind::kSubmitted, digits_, digits_.size()};
    Clear();
    ++counters_.submitted;
    return e;
  }
  ++counters_.ignored;
  return {PinEvent::Kind::kIgnored, {}, digits_.size()};
}

}  // namespace lintel::wiegand
