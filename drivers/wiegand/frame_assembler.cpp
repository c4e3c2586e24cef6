#include "drivers/wiegand/frame_assembler.h"

#include <algorithm>
#include <cmath>

namespace lintel::wiegand {
namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t SaturatingAdd(int64_t a, int64_t b) { return a > kNever - b ? kNever : a + b; }
}  // namespace

std::string_view FrameErrorName(FrameError error) {
  switch (error) {
    case FrameError::kNone:
      return "none";
    case FrameError::kTooShort:
      return "too_short";
    case FrameError::kTooLong:
      return "too_long";
    case FrameError::kGlitch:
      return "glitch";
    case FrameError::kOverlap:
      return "overlap";
  }
  return "unknown";
}

FrameAssembler::FrameAssembler(FrameAssemblerConfig config) : config_(std::move(config)) {
  config_.max_bits = std::clamp(config_.max_bits, 1, kMaxFrameBits);
  config_.min_bits = std::clamp(config_.min_bits, 1, config_.max_bits);
  config_.silence_ns = std::max<int64_t>(config_.silence_ns, 1);
  config_.glitch_ns = std::max<int64_t>(config_.glitch_ns, 0);
  config_.early_floor_ns = std::max<int64_t>(config_.early_floor_ns, 0);
  if (!(config_.early_factor >= 1.0)) config_.early_factor = 1.0;  // also catches NaN
}

void FrameAssembler::OnEdge(Line line, int64_t t_ns) {
  if (edges_ == 0) {
    first_ns_ = t_ns;
  } else if (error_ == FrameError::kNone) {
    if (t_ns < last_ns_) {
      error_ = FrameError::kGlitch;  // time went backwards: not a trustworthy burst
    } else if (t_ns - last_ns_ < config_.glitch_ns) {
      error_ = line == last_line_ ? FrameError::kGlitch : FrameError::kOverlap;
    }
  }
  last_ns_ = edges_ == 0 ? t_ns : std::max(last_ns_, t_ns);
  if (edges_ < std::numeric_limits<int>::max()) ++edges_;
  last_line_ = line;
  if (bits_ < config_.max_bits) {
    value_ = (value_ << 1) | (line == Line::kD1 ? 1u : 0u);
    ++bits_;
  } else if (error_ == FrameError::kNone) {
    error_ = FrameError::kTooLong;
  }
}

bool FrameAssembler::EarlyEligible() const {
  if (!config_.early_close || error_ != FrameError::kNone || bits_ < config_.min_bits ||
      bits_ < 2) {
    return false;
  }
  Frame f{bits_, value_};
  for (CardFormat format : config_.accepted) {
    if (format != CardFormat::kRaw && CardFormatBits(format) == bits_ && ParityOk(format, f)) {
      return true;
    }
  }
  for (int len : config_.keypad_lengths) {
    if (len != bits_) continue;
    if (len == 4) return true;
    if (len == 8 && ((value_ >> 4) & 0xF) == (~value_ & 0xF)) return true;
    if (len == 26 && ParityOk(CardFormat::kH10301, f)) return true;
  }
  return false;
}

int64_t FrameAssembler::EarlyDeadline() const {
  if (!EarlyEligible()) return kNever;
  double mean = static_cast<double>(last_ns_ - first_ns_) / (bits_ - 1);
  double wait = std::max(static_cast<double>(config_.early_floor_ns), config_.early_factor * mean);
  if (wait >= static_cast<double>(config_.silence_ns)) return kNever;  // the silence rule is sooner
  return SaturatingAdd(last_ns_, static_cast<int64_t>(std::ceil(wait)));
}

int64_t FrameAssembler::Deadline() const {
  if (edges_ == 0) return kNever;
  return std::min(SaturatingAdd(last_ns_, config_.silence_ns), EarlyDeadline());
}

std::optional<FrameResult> FrameAssembler::Poll(int64_t now_ns) {
  if (edges_ == 0) return std::nullopt;
  if (now_ns >= SaturatingAdd(last_ns_, config_.silence_ns)) return Close(false);
  if (now_ns >= EarlyDeadline()) return Close(true);
  return std::nullopt;
}

FrameResult FrameAssembler::Close(bool early) {
  FrameResult r;
  r.error = error_;
  if (r.error == FrameError::kNone && bits_ < config_.min_bits) r.error = FrameError::kTooShort;
  r.frame = Frame{bits_, value_};
  r.edges = edges_;
  r.early = early && r.error == FrameError::kNone;
  r.first_ns = first_ns_;
  r.last_ns = last_ns_;
  switch (r.error) {
    case FrameError::kNone:
      ++counters_.frames;
      if (r.early) ++counters_.early;
      break;
    case FrameError::kTooShort:
      ++counters_.too_short;
      break;
    case FrameError::kTooLong:
      ++counters_.too_long;
      break;
    case FrameError::kGlitch:
      ++counters_.glitch;
      break;
    case FrameError::kOverlap:
      ++counters_.overlap;
      break;
  }
  edges_ = 0;
  bits_ = 0;
  value_ = 0;
  error_ = FrameError::kNone;
  return r;
}

}  // namespace lintel::wiegand
