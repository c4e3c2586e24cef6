// libFuzzer target for the Wiegand driver's pure half (STYLE.md 13): fuzz bytes become falling
// edges on D0/D1 with time deltas, fed to FrameAssembler as the driver loop would (Poll at every
// Deadline), and each closed frame goes through Interpret, Candidates, DecodeKey and PinAssembler.
// Invariants: never more than 64 bits, no card without its parity, Poll() at Deadline() always
// closes, text forms round-trip, PINs stay within their configured lengths.
//
// Input: byte 0 = profile flags, byte 1 = accepted formats (bit i = CardFormat i), then 2-byte
// edges: bit 0 of the first byte is the line, the other 15 bits a delta in units of 2 us (0-65 ms).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "drivers/wiegand/frame_assembler.h"
#include "drivers/wiegand/pin_assembler.h"
#include "drivers/wiegand/wiegand.h"

namespace {

using namespace lintel::wiegand;

void Check(bool ok) {
  if (!ok) std::abort();
}

void OnFrame(const FrameResult& r, const FrameAssemblerConfig& config, const ReaderProfile& profile,
             PinAssembler& pins, const PinConfig& pin_config, int64_t now) {
  Check(r.frame.bits >= 1 && r.frame.bits <= kMaxFrameBits && r.frame.bits <= config.max_bits);
  Check(IsValidFrame(r.frame));
  Check(r.first_ns <= r.last_ns && r.last_ns <= now);
  if (r.error != FrameError::kNone) return;
  Check(r.frame.bits >= config.min_bits && r.edges == r.frame.bits);

  Check(*ParseFrame(r.frame.bits, FrameHex(r.frame)) == r.frame);
  Check(*ParseFrame(r.frame.bits, FrameBinary(r.frame)) == r.frame);

  for (const CardRead& c : Candidates(r.frame)) {
    Check(c.parity_ok == ParityOk(c.format, r.frame));
    if (c.format != CardFormat::kRaw && c.parity_ok) {
      auto again = EncodeCard(c.format, c.facility.value_or(0), c.number);
      Check(again.ok() && *again == r.frame);
    }
  }
  Interpretation i = Interpret(r.frame, profile);
  if (i.card) {
    Check(i.kind == Interpretation::Kind::kCard && i.card->parity_ok);
    Check(ParityOk(i.card->format, r.frame));
    bool listed = false;
    for (CardFormat f : profile.accepted) listed |= f == i.card->format;
    Check(listed);
  }
  if (i.pin_burst) Check(*i.pin_burst >= 1 && *i.pin_burst <= 65534);
  if (i.key) {
    PinEvent e = pins.Feed(*i.key, now);
    if (e.kind == PinEvent::Kind::kSubmitted) {
      Check(e.pin.size() >= pin_config.min_length && e.pin.size() <= pin_config.max_length);
      for (char d : e.pin) Check(d >= '0' && d <= '9');
    }
    Check(pins.held() <= pin_config.max_length);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint8_t flags = data[0], formats = data[1];
  ReaderProfile profile;
  profile.accepted.clear();
  for (int f = 0; f <= static_cast<int>(CardFormat::kRaw); ++f) {
    if (formats & (1 << f)) profile.accepted.push_back(static_cast<CardFormat>(f));
  }
  profile.keys_4bit = flags & 1;
  profile.keys_8bit = flags & 2;
  profile.pin_burst = flags & 4;
  if (flags & 8) profile.key_map = KeyMap::StarHashSwapped();

  FrameAssemblerConfig config;
  config.early_close = flags & 16;
  config.accepted = profile.accepted;
  if (profile.keys_4bit) config.keypad_lengths.push_back(4);
  if (profile.keys_8bit) config.keypad_lengths.push_back(8);
  if (profile.pin_burst) config.keypad_lengths.push_back(26);
  if (flags & 32) config.max_bits = 37;
  if (flags & 64) config.min_bits = 26;
  FrameAssembler frames(config);
  PinConfig pin_config{.inter_key_timeout_ns = 5'000'000'000, .min_length = 4, .max_length = 8};
  PinAssembler pins(pin_config);

  auto drain = [&](int64_t until) {
    while (frames.Deadline() <= until) {
      int64_t due = frames.Deadline();
      std::optional<FrameResult> r = frames.Poll(due);
      Check(r.has_value());  // a Deadline always closes something
      OnFrame(*r, frames.config(), profile, pins, pin_config, due);
    }
    if (pins.Deadline() <= until) {
      Check(pins.Expire(until).kind == PinEvent::Kind::kTimedOut && pins.held() == 0);
    }
  };

  int64_t t = 1'000'000'000;
  for (size_t i = 2; i + 1 < size; i += 2) {
    int64_t delta = ((data[i] >> 1) | (int64_t{data[i + 1]} << 7)) * 2'000;
    t += delta;
    drain(t);
    frames.OnEdge(data[i] & 1 ? Line::kD1 : Line::kD0, t);
    Check(frames.Deadline() > t);
  }
  drain(t + 1'000'000'000);
  Check(frames.idle());
  return 0;
}
