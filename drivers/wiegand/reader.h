// WiegandReader: the reader driver on the core loop. Edges (from an EdgeSource) or whole frames
// (from a SerialSource) in, ReaderEvents out: card reads, submitted PINs, and noise/errors to
// count and log. It never decides access.
//
// Pipeline: OnEdges -> FrameAssembler (closed by silence or early, on a loop timer armed at
// FrameAssembler::Deadline()) -> Interpret(frame, profile) -> a card, or a key fed to a
// PinAssembler (its inter-key timeout also on a loop timer), or a PIN burst, or noise.
//
// Timestamps are CLOCK_MONOTONIC nanoseconds (Clock::Monotonic(), gpiod event timestamps);
// ReaderEvent::last_bit_ns is the last edge of the frame (for serial frames: the time the line
// arrived), so latency = time of the event's handling - last_bit_ns.
//
// Threads: everything on the loop thread; `on_event` runs on it, from inside OnEdges/OnFrame or a
// timer, and must not destroy the reader (post the teardown with EventLoop::Post instead).
// Ownership: the reader does not own its source; the owner wires the source's callbacks to
// OnEdges/OnFrame/OnSourceError and destroys the source first (or together). `loop` and `clock`
// (the loop's clock) must outlive the reader; its destructor cancels its timers.
//
// Secrets: ReaderEvent::pin holds PIN digits: never log it. `detail` never contains card numbers
// or PIN digits (bit counts and error names only), so noise events may be logged freely.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "drivers/wiegand/frame_assembler.h"
#include "drivers/wiegand/gpio_source.h"
#include "drivers/wiegand/pin_assembler.h"
#include "drivers/wiegand/wiegand.h"
#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"

namespace lintel::wiegand {

struct ReaderConfig {
  FrameAssemblerConfig frames;  // `accepted` / `keypad_lengths` empty: derived from `profile`
  ReaderProfile profile;
  PinConfig pin;
};

// Why a kNoise event carries no card and no PIN. NoiseKindName() is its name in logs, status and
// the journal ("too_short", ...).
enum class NoiseKind {
  kTooShort,       // FrameAssembler: fewer bits than any accepted length
  kTooLong,        // FrameAssembler: more bits than any accepted length
  kGlitch,         // FrameAssembler: an edge too soon after the previous one
  kOverlap,        // FrameAssembler: D0 and D1 low together
  kBadParity,      // Interpret: a card length with wrong parity
  kBadKey,         // Interpret: a keypad length, but complement noise or an unmapped code
  kUnknownLength,  // Interpret: a length no accepted format or keypad mode has
  kPinTooShort,    // PinAssembler: '#' before the minimum digits
  kPinTooLong,     // PinAssembler: more than the maximum digits
  kPinTimeout,     // PinAssembler: digits left waiting past the inter-key timeout
};
std::string_view NoiseKindName(NoiseKind kind);

struct ReaderEvent {
  enum class Kind {
    kCard,  // card
    kPin,   // pin (digits; from keys ended by '#', or a 26-bit PIN burst). Secret.
    kNoise  // error + detail: a frame that means nothing, or a PIN entry that failed
  };
  Kind kind = Kind::kNoise;
  std::optional<CardRead> card;
  std::string pin;
  NoiseKind noise = NoiseKind::kTooShort;  // kNoise: what was wrong
  std::string detail;                      // e.g. "26 bits", "34 edges"
  int bits = 0;  // kCard: the frame length (a raw card's UID has ceil(bits / 4) hex digits)
  int64_t last_bit_ns = 0;
};

// One frame as the reader saw it, kept for installers (`lintelctl reader last`): what was on the
// wire and what this reader's profile made of it. A keypad frame (a key, a PIN burst, anything of
// a keypad length, a 26-bit non-card on a PIN-burst reader) keeps no value: PIN digits are never
// stored here, only the frame's length and what it was.
struct SeenFrame {
  int64_t t_ns = 0;            // CLOCK_MONOTONIC of the last bit (serial: when the line arrived)
  Instant wall{};              // Clock::Wall() when it was interpreted
  int bits = 0;                // 0 for a frame the assembler refused (see `edges`)
  int edges = 0;               // a refused frame: how many edges it had
  std::optional<Frame> frame;  // nullopt for a keypad frame or a refused one
  bool keypad = false;
  // "card", "key", "pin_burst", "bad_parity", "bad_key", "unknown_length", or for a refused frame
  // its NoiseKindName ("too_short", "too_long", "glitch", "overlap").
  std::string what;
  std::optional<CardRead> chosen;  // the card the profile's formats read ("card" only)
};
inline constexpr size_t kSeenFrames = 16;  // how many recent() keeps

struct ReaderCounters {
  uint64_t edges = 0, edge_batches = 0, serial_frames = 0, source_errors = 0;
  uint64_t frames = 0;  // frames interpreted (from edges or serial)
  uint64_t cards = 0, keys = 0, pins = 0, pin_bursts = 0;
  uint64_t bad_parity = 0, bad_key = 0, unknown_length = 0;
  uint64_t frame_errors = 0;  // too short/long, glitch, overlap (details: assembler counters)
  uint64_t pin_cleared = 0, pin_too_short = 0, pin_too_long = 0, pin_timeout = 0;
};

class WiegandReader {
 public:
  using OnEvent = std::function<void(const ReaderEvent&)>;

  // When config.frames.accepted is empty it becomes profile.accepted without kRaw; when
  // keypad_lengths is empty it becomes {4}/{8}/{26} from keys_4bit/keys_8bit/pin_burst.
  WiegandReader(EventLoop& loop, const Clock& clock, ReaderConfig config, OnEvent on_event);
  ~WiegandReader();
  WiegandReader(const WiegandReader&) = delete;
  WiegandReader& operator=(const WiegandReader&) = delete;

  // Edges from an EdgeSource, in time order.
  void OnEdges(std::span<const Edge> edges);
  // A whole frame from a serial converter (SerialSource::OnFrame), stamped with the clock's now.
  void OnFrame(const Frame& frame);
  // A source's error: counted only (the owner logs it).
  void OnSourceError(const Status& status);

  // Nothing in progress: no frame being assembled, no PIN digits held, no timer armed. Everything
  // given to the reader so far has become events (only new edges or frames can make more).
  bool idle() const { return frames_.idle() && pins_.held() == 0 && !frame_timer_ && !pin_timer_; }

  const ReaderCounters& counters() const { return counters_; }
  const FrameCounters& frame_counters() const { return frames_.counters(); }
  const PinCounters& pin_counters() const { return pins_.counters(); }
  // The last kSeenFrames frames, oldest first (SeenFrame: no PIN digits).
  const std::deque<SeenFrame>& recent() const { return recent_; }

 private:
  int64_t Now() const;
  void PollFrames(int64_t now_ns);
  void HandleFrame(const FrameResult& result);
  void Interpreted(const Frame& frame, int64_t t_ns);
  void HandlePin(const PinEvent& event, int64_t t_ns);
  void Noise(NoiseKind kind, std::string detail, int64_t t_ns);
  void Remember(SeenFrame seen);
  void ArmFrameTimer();
  void ArmPinTimer();

  EventLoop& loop_;
  const Clock& clock_;
  ReaderProfile profile_;
  FrameAssembler frames_;
  PinAssembler pins_;
  OnEvent on_event_;
  std::optional<EventLoop::TimerId> frame_timer_;
  std::optional<EventLoop::TimerId> pin_timer_;
  ReaderCounters counters_;
  std::deque<SeenFrame> recent_;
};

}  // namespace lintel::wiegand
