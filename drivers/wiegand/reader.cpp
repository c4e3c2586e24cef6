#include "drivers/wiegand/reader.h"

#include <algorithm>
#include <chrono>
#include <limits>

namespace lintel::wiegand {
namespace {

constexpr int64_t kIdle = std::numeric_limits<int64_t>::max();

FrameAssemblerConfig Derive(FrameAssemblerConfig frames, const ReaderProfile& profile) {
  if (frames.accepted.empty()) {
    for (CardFormat f : profile.accepted) {
      if (f != CardFormat::kRaw) frames.accepted.push_back(f);
    }
  }
  if (frames.keypad_lengths.empty()) {
    if (profile.keys_4bit) frames.keypad_lengths.push_back(4);
    if (profile.keys_8bit) frames.keypad_lengths.push_back(8);
    if (profile.pin_burst) frames.keypad_lengths.push_back(26);
  }
  return frames;
}

std::string Bits(int n) { return std::to_string(n) + " bits"; }

NoiseKind NoiseOf(FrameError error) {
  switch (error) {
    case FrameError::kTooLong:
      return NoiseKind::kTooLong;
    case FrameError::kGlitch:
      return NoiseKind::kGlitch;
    case FrameError::kOverlap:
      return NoiseKind::kOverlap;
    case FrameError::kNone:
    case FrameError::kTooShort:
      break;
  }
  return NoiseKind::kTooShort;
}

}  // namespace

std::string_view NoiseKindName(NoiseKind kind) {
  switch (kind) {
    case NoiseKind::kTooShort:
      return "too_short";
    case NoiseKind::kTooLong:
      return "too_long";
    case NoiseKind::kGlitch:
      return "glitch";
    case NoiseKind::kOverlap:
      return "overlap";
    case NoiseKind::kBadParity:
      return "bad_parity";
    case NoiseKind::kBadKey:
      return "bad_key";
    case NoiseKind::kUnknownLength:
      return "unknown_length";
    case NoiseKind::kPinTooShort:
      return "pin_too_short";
    case NoiseKind::kPinTooLong:
      return "pin_too_long";
    case NoiseKind::kPinTimeout:
      return "pin_timeout";
  }
  return "unknown";
}

WiegandReader::WiegandReader(EventLoop& loop, const Clock& clock, ReaderConfig config,
                             OnEvent on_event)
    : loop_(loop),
      clock_(clock),
      profile_(config.profile),
      frames_(Derive(std::move(config.frames), config.profile)),
      pins_(config.pin),
      on_event_(std::move(on_event)) {}

WiegandReader::~WiegandReader() {
  if (frame_timer_) loop_.CancelTimer(*frame_timer_);
  if (pin_timer_) loop_.CancelTimer(*pin_timer_);
}

int64_t WiegandReader::Now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.Monotonic().time_since_epoch())
      .count();
}

void WiegandReader::OnEdges(std::span<const Edge> edges) {
  ++counters_.edge_batches;
  counters_.edges += edges.size();
  for (const Edge& e : edges) {
    // A burst that was due before this edge closes first (the edge starts the next one).
    if (e.t_ns >= frames_.Deadline()) PollFrames(e.t_ns);
    frames_.OnEdge(e.line, e.t_ns);
  }
  PollFrames(Now());
  ArmFrameTimer();
}

void WiegandReader::OnFrame(const Frame& frame) {
  ++counters_.serial_frames;
  Interpreted(frame, Now());
}

void WiegandReader::OnSourceError(const Status&) { ++counters_.source_errors; }

void WiegandReader::PollFrames(int64_t now_ns) {
  while (std::optional<FrameResult> r = frames_.Poll(now_ns)) HandleFrame(*r);
}

void WiegandReader::HandleFrame(const FrameResult& r) {
  if (r.error != FrameError::kNone) {
    ++counters_.frame_errors;
    Remember({.t_ns = r.last_ns,
              .wall = clock_.Wall(),
              .edges = r.edges,
              .what = std::string(NoiseKindName(NoiseOf(r.error)))});
    Noise(NoiseOf(r.error), std::to_string(r.edges) + " edges", r.last_ns);
    return;
  }
  Interpreted(r.frame, r.last_ns);
}

void WiegandReader::Interpreted(const Frame& frame, int64_t t_ns) {
  ++counters_.frames;
  Interpretation in = Interpret(frame, profile_);
  // Keypad lengths never keep their value (a key is a PIN digit; a 26-bit frame that is not a card
  // on a PIN-burst reader may be a mistyped PIN).
  bool keypad = in.kind == Interpretation::Kind::kKey ||
                in.kind == Interpretation::Kind::kPinBurst ||
                in.kind == Interpretation::Kind::kBadKey || frame.bits == 4 || frame.bits == 8 ||
                (profile_.pin_burst && frame.bits == 26 && in.kind != Interpretation::Kind::kCard);
  Remember({.t_ns = t_ns,
            .wall = clock_.Wall(),
            .bits = frame.bits,
            .frame = keypad ? std::nullopt : std::optional<Frame>(frame),
            .keypad = keypad,
            .what = std::string(InterpretationKindName(in.kind)),
            .chosen = in.kind == Interpretation::Kind::kCard ? in.card : std::nullopt});
  switch (in.kind) {
    case Interpretation::Kind::kCard: {
      ++counters_.cards;
      ReaderEvent ev{.kind = ReaderEvent::Kind::kCard,
                     .card = in.card,
                     .bits = frame.bits,
                     .last_bit_ns = t_ns};
      if (on_event_) on_event_(ev);
      return;
    }
    case Interpretation::Kind::kKey:
      ++counters_.keys;
      HandlePin(pins_.Feed(*in.key, t_ns), t_ns);
      ArmPinTimer();
      return;
    case Interpretation::Kind::kPinBurst: {
      ++counters_.pin_bursts;
      ++counters_.pins;
      ReaderEvent ev{.kind = ReaderEvent::Kind::kPin,
                     .pin = std::to_string(*in.pin_burst),
                     .last_bit_ns = t_ns};
      if (on_event_) on_event_(ev);
      return;
    }
    case Interpretation::Kind::kBadParity:
      ++counters_.bad_parity;
      Noise(NoiseKind::kBadParity, Bits(frame.bits), t_ns);
      return;
    case Interpretation::Kind::kBadKey:
      ++counters_.bad_key;
      Noise(NoiseKind::kBadKey, Bits(frame.bits), t_ns);
      return;
    case Interpretation::Kind::kUnknownLength:
      ++counters_.unknown_length;
      Noise(NoiseKind::kUnknownLength, Bits(frame.bits), t_ns);
      return;
  }
}

void WiegandReader::HandlePin(const PinEvent& event, int64_t t_ns) {
  switch (event.kind) {
    case PinEvent::Kind::kSubmitted: {
      ++counters_.pins;
      ReaderEvent ev{.kind = ReaderEvent::Kind::kPin, .pin = event.pin, .last_bit_ns = t_ns};
      if (on_event_) on_event_(ev);
      return;
    }
    case PinEvent::Kind::kCleared:
      ++counters_.pin_cleared;
      return;
    case PinEvent::Kind::kTooShort:
      ++counters_.pin_too_short;
      Noise(NoiseKind::kPinTooShort, "", t_ns);
      return;
    case PinEvent::Kind::kTooLong:
      ++counters_.pin_too_long;
      Noise(NoiseKind::kPinTooLong, "", t_ns);
      return;
    case PinEvent::Kind::kTimedOut:
      ++counters_.pin_timeout;
      Noise(NoiseKind::kPinTimeout, std::to_string(event.length) + " digits", t_ns);
      return;
    case PinEvent::Kind::kNone:
    case PinEvent::Kind::kDigit:
    case PinEvent::Kind::kIgnored:
      return;
  }
}

void WiegandReader::Remember(SeenFrame seen) {
  if (recent_.size() == kSeenFrames) recent_.pop_front();
  recent_.push_back(std::move(seen));
}

void WiegandReader::Noise(NoiseKind kind, std::string detail, int64_t t_ns) {
  ReaderEvent ev{.kind = ReaderEvent::Kind::kNoise,
                 .noise = kind,
                 .detail = std::move(detail),
                 .last_bit_ns = t_ns};
  if (on_event_) on_event_(ev);
}

void WiegandReader::ArmFrameTimer() {
  if (frame_timer_) loop_.CancelTimer(*frame_timer_);
  frame_timer_.reset();
  int64_t deadline = frames_.Deadline();
  if (deadline == kIdle) return;
  frame_timer_ =
      loop_.AddTimer(std::chrono::nanoseconds(std::max<int64_t>(0, deadline - Now())), [this] {
        frame_timer_.reset();
        PollFrames(Now());
        ArmFrameTimer();
      });
}

void WiegandReader::ArmPinTimer() {
  if (pin_timer_) loop_.CancelTimer(*pin_timer_);
  pin_timer_.reset();
  int64_t deadline = pins_.Deadline();
  if (deadline == kIdle) return;
  pin_timer_ =
      loop_.AddTimer(std::chrono::nanoseconds(std::max<int64_t>(0, deadline - Now())), [this] {
        pin_timer_.reset();
        int64_t now = Now();
        size_t held = pins_.held();
        PinEvent e = pins_.Expire(now);
        if (e.kind == PinEvent::Kind::kTimedOut) e.length = held;
        HandlePin(e, now);
        ArmPinTimer();
      });
}

}  // namespace lintel::wiegand
