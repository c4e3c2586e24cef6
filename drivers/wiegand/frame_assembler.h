// FrameAssembler: Wiegand bits from falling-edge timestamps on D0 and D1. Pure.
//
// The I/O adapter (libgpiod line events, CLOCK_MONOTONIC kernel timestamps) feeds every falling
// edge, merged across both lines in timestamp order, to OnEdge(), and calls Poll() whenever the
// time reaches Deadline() (arm a timer for it). Poll() closes the frame in progress when it is due.
// It reads no clock, does no I/O and never logs: errors come back as FrameResult::error and are
// counted in counters(); the adapter logs them. Not thread-safe: one instance per reader, used
// from one thread (the driver's or the core loop's).
//
// Timing (../shared/protocols/wiegand.md): pulses 20-100 us wide, 200 us - 20 ms apart (typically
// 50 us / 1-2 ms); lines idle high, a bit is a falling edge on D0 (0) or D1 (1).
//
// A frame ends:
//  - after `silence_ns` without an edge (default 25 ms, above the slowest legal interval of 20 ms);
//  - early, when `early_close` is on, the bits so far have the length and parity of an accepted
//    card format (or a keypad length, see below), and the silence since the last edge is at least
//    max(early_floor_ns, early_factor x the frame's mean bit interval).
//
// Why early close is safe although a 26-bit frame is a prefix of a 34-bit one (and a random 26-bit
// prefix has valid H10301 parity one time in four): a reader clocks its bits out at a steady
// interval, so mid-frame the gap to the next edge is about the mean interval, never early_factor
// (4) times it. The parity match only makes the decision cheap; the silence makes it safe. A reader
// whose bit spacing varies by more than the factor must be configured with early_close off.
//
// Noise never becomes a frame: two edges closer than `glitch_ns` (out of spec: the minimum legal
// interval is 200 us) are a glitch when on the same line and an overlap when on different lines
// (both lines low at once). Either poisons the frame in progress: it still waits for the silence
// (so the rest of the burst is swallowed) and then closes as an error, never as a Frame. So do
// frames longer than max_bits (too long) and shorter than min_bits (too short), and an edge whose
// timestamp goes backwards (a glitch).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "drivers/wiegand/wiegand.h"

namespace lintel::wiegand {

enum class Line { kD0, kD1 };

struct FrameAssemblerConfig {
  int64_t silence_ns = 25'000'000;  // end of frame after this much quiet
  int min_bits = 4;                 // shorter frames are noise (kTooShort)
  int max_bits = 64;                // longer frames are noise (kTooLong); at most 64
  int64_t glitch_ns = 150'000;      // edges closer than this are noise (legal minimum: 200 us)
  bool early_close = true;
  double early_factor = 4.0;           // x the mean bit interval of the frame so far
  int64_t early_floor_ns = 2'000'000;  // never close early on less silence than this
  std::vector<CardFormat> accepted;    // formats eligible for early close (kRaw never is)
  std::vector<int> keypad_lengths;     // 4, 8 and/or 26 when the reader is a keypad: eligible
                                       // too (4: any code; 8: nibbles complement; 26: H10301
                                       // parity)
};

enum class FrameError { kNone, kTooShort, kTooLong, kGlitch, kOverlap };
std::string_view FrameErrorName(FrameError error);  // "none", "too_short", "too_long", ...

struct FrameResult {
  FrameError error = FrameError::kNone;
  Frame frame;           // the frame when error == kNone; otherwise the bits seen (at most 64)
  int edges = 0;         // edges received in this burst (bits, or more on error)
  bool early = false;    // closed by the early rule rather than the full silence
  int64_t first_ns = 0;  // first and last edge of the burst
  int64_t last_ns = 0;
};

struct FrameCounters {
  uint64_t frames = 0;  // closed without error
  uint64_t early = 0;   // of which closed early
  uint64_t too_short = 0, too_long = 0, glitch = 0, overlap = 0;
};

class FrameAssembler {
 public:
  // An out-of-range config is clamped (max_bits to 1..64, min_bits to 1..max_bits, factor >= 1).
  explicit FrameAssembler(FrameAssemblerConfig config = {});

  // A falling edge on `line` at `t_ns` (monotonic). Call Poll(t_ns) first when t_ns >= Deadline(),
  // or the pending frame will absorb the edge.
  void OnEdge(Line line, int64_t t_ns);
  // Closes and returns the burst in progress when it is due at `now_ns`; nullopt otherwise.
  std::optional<FrameResult> Poll(int64_t now_ns);
  // The next time Poll() may close something; INT64_MAX when idle.
  int64_t Deadline() const;

  bool idle() const { return edges_ == 0; }
  const FrameCounters& counters() const { return counters_; }
  const FrameAssemblerConfig& config() const { return config_; }

 private:
  bool EarlyEligible() const;
  int64_t EarlyDeadline() const;  // INT64_MAX when not eligible
  FrameResult Close(bool early);

  FrameAssemblerConfig config_;
  int edges_ = 0;
  int bits_ = 0;  // bits kept in value_ (at most 64)
  uint64_t value_ = 0;
  FrameError error_ = FrameError::kNone;
  int64_t first_ns_ = 0;
  int64_t last_ns_ = 0;
  Line last_line_ = Line::kD0;
  FrameCounters counters_;
};

}  // namespace lintel::wiegand
