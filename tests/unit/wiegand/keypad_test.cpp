// Keypad keys (4-bit, 8-bit, 26-bit PIN burst) and PIN assembly.
#include <gtest/gtest.h>

#include "drivers/wiegand/pin_assembler.h"
#include "drivers/wiegand/wiegand.h"

namespace lintel::wiegand {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;

TEST(WiegandKeypad, Decodes4BitKeysWithTheDefaultMap) {
  KeyMap m = KeyMap::Default();
  for (int d = 0; d <= 9; ++d) EXPECT_EQ(DecodeKey(Frame{4, uint64_t(d)}, m), char('0' + d));
  EXPECT_EQ(DecodeKey(Frame{4, 0xA}, m), '*');
  EXPECT_EQ(DecodeKey(Frame{4, 0xB}, m), '#');
  for (uint64_t code = 0xC; code <= 0xF; ++code) EXPECT_FALSE(DecodeKey(Frame{4, code}, m));
}

TEST(WiegandKeypad, Decodes8BitKeysWithComplementedHighNibble) {
  KeyMap m = KeyMap::Default();
  EXPECT_EQ(DecodeKey(Frame{8, 0xE1}, m), '1');
  EXPECT_EQ(DecodeKey(Frame{8, 0xF0}, m), '0');
  EXPECT_EQ(DecodeKey(Frame{8, 0x5A}, m), '*');
  EXPECT_EQ(DecodeKey(Frame{8, 0x4B}, m), '#');
}

TEST(WiegandKeypad, Rejects8BitKeysWhoseNibblesAreNotComplements) {
  KeyMap m = KeyMap::Default();
  int accepted = 0;
  for (uint64_t v = 0; v < 256; ++v) {
    bool complement = ((v >> 4) & 0xF) == (~v & 0xF);
    auto k = DecodeKey(Frame{8, v}, m);
    if (!complement) {
      EXPECT_FALSE(k) << v;
    }
    accepted += k.has_value();
  }
  EXPECT_EQ(accepted, 12);  // 0-9, *, #
  EXPECT_FALSE(DecodeKey(Frame{8, 0x11}, m));
  EXPECT_FALSE(DecodeKey(Frame{8, 0xE2}, m));
}

TEST(WiegandKeypad, SwappedMapExchangesStarAndHash) {
  KeyMap m = KeyMap::StarHashSwapped();
  EXPECT_EQ(DecodeKey(Frame{4, 0xA}, m), '#');
  EXPECT_EQ(DecodeKey(Frame{4, 0xB}, m), '*');
  EXPECT_EQ(DecodeKey(Frame{8, 0x5A}, m), '#');
  EXPECT_EQ(DecodeKey(Frame{4, 0x7}, m), '7');
}

TEST(WiegandKeypad, IgnoresOtherLengths) {
  EXPECT_FALSE(DecodeKey(Frame{5, 1}, KeyMap::Default()));
  EXPECT_FALSE(DecodeKey(Frame{26, 1}, KeyMap::Default()));
}

TEST(WiegandKeypad, DecodesThe26BitPinBurst) {
  auto f = EncodeCard(CardFormat::kH10301, 0, 1234);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(DecodePinBurst(*f), 1234u);
  EXPECT_EQ(DecodePinBurst(*EncodeCard(CardFormat::kH10301, 0, 1)), 1u);
  EXPECT_EQ(DecodePinBurst(*EncodeCard(CardFormat::kH10301, 0, 65534)), 65534u);
}

TEST(WiegandKeypad, PinBurst65535IsTheKeypadsErrorCode) {
  EXPECT_FALSE(DecodePinBurst(*EncodeCard(CardFormat::kH10301, 0, 65535)));
  EXPECT_FALSE(DecodePinBurst(*EncodeCard(CardFormat::kH10301, 0, 0)));
}

TEST(WiegandKeypad, PinBurstNeedsFacilityZeroAndGoodParity) {
  EXPECT_FALSE(DecodePinBurst(*EncodeCard(CardFormat::kH10301, 1, 1234)));
  Frame f = *EncodeCard(CardFormat::kH10301, 0, 1234);
  f.value ^= 1;  // odd parity bit
  EXPECT_FALSE(DecodePinBurst(f));
  EXPECT_FALSE(DecodePinBurst(Frame{34, 1234}));
}

TEST(WiegandKeypad, InterpretPrefersPinBurstOverCardForFacilityZero) {
  ReaderProfile p;
  p.accepted = {CardFormat::kH10301};
  p.pin_burst = true;
  p.keys_4bit = true;
  Interpretation pin = Interpret(*EncodeCard(CardFormat::kH10301, 0, 4321), p);
  EXPECT_EQ(pin.kind, Interpretation::Kind::kPinBurst);
  EXPECT_EQ(pin.pin_burst, 4321u);
  EXPECT_FALSE(pin.card);
  EXPECT_EQ(Interpret(*EncodeCard(CardFormat::kH10301, 0, 65535), p).kind,
            Interpretation::Kind::kBadKey);
  EXPECT_EQ(Interpret(*EncodeCard(CardFormat::kH10301, 7, 4321), p).kind,
            Interpretation::Kind::kCard);
  EXPECT_EQ(Interpret(Frame{4, 0x5}, p).key, '5');
  EXPECT_EQ(Interpret(Frame{4, 0xE}, p).kind, Interpretation::Kind::kBadKey);
}

// --- PIN assembly ---

PinAssembler Typed(const std::string& keys, int64_t* t, PinConfig c = {}) {
  PinAssembler a(c);
  for (char k : keys) {
    a.Feed(k, *t);
    *t += 300 * kMs;
  }
  return a;
}

TEST(WiegandPin, HashSubmitsTheDigits) {
  PinAssembler a;
  int64_t t = 10 * kS;
  EXPECT_EQ(a.Feed('1', t).kind, PinEvent::Kind::kDigit);
  EXPECT_EQ(a.Feed('2', t + kS).length, 2u);
  a.Feed('3', t + 2 * kS);
  a.Feed('4', t + 3 * kS);
  PinEvent e = a.Feed('#', t + 4 * kS);
  EXPECT_EQ(e.kind, PinEvent::Kind::kSubmitted);
  EXPECT_EQ(e.pin, "1234");
  EXPECT_EQ(a.held(), 0u);
  EXPECT_EQ(a.counters().submitted, 1u);
}

TEST(WiegandPin, StarClears) {
  int64_t t = 0;
  PinAssembler a = Typed("12*", &t);
  EXPECT_EQ(a.held(), 0u);
  EXPECT_EQ(a.counters().cleared, 1u);
  a.Feed('5', t);
  a.Feed('6', t);
  EXPECT_EQ(a.Feed('#', t).pin, "56");
}

TEST(WiegandPin, InterKeyTimeoutDropsTheDigits) {
  PinAssembler a;
  int64_t t = 0;
  a.Feed('1', t);
  a.Feed('2', t + 4 * kS);
  EXPECT_EQ(a.Deadline(), t + 9 * kS);
  EXPECT_EQ(a.Expire(t + 9 * kS - 1).kind, PinEvent::Kind::kNone);
  EXPECT_EQ(a.Expire(t + 9 * kS).kind, PinEvent::Kind::kTimedOut);
  EXPECT_EQ(a.held(), 0u);
  EXPECT_EQ(a.Deadline(), INT64_MAX);
  EXPECT_EQ(a.counters().timed_out, 1u);
}

TEST(WiegandPin, AKeyAfterTheTimeoutStartsAfresh) {
  PinAssembler a;
  a.Feed('1', 0);
  a.Feed('2', 0);
  PinEvent e = a.Feed('3', 6 * kS);  // no Expire() call in between
  EXPECT_EQ(e.length, 1u);
  EXPECT_EQ(a.Feed('#', 6 * kS).pin, "3");
  EXPECT_EQ(a.counters().timed_out, 1u);
}

TEST(WiegandPin, DigitBeyondMaxLengthClears) {
  int64_t t = 0;
  PinAssembler a = Typed("12345678", &t);
  EXPECT_EQ(a.held(), 8u);
  EXPECT_EQ(a.Feed('9', t).kind, PinEvent::Kind::kTooLong);
  EXPECT_EQ(a.held(), 0u);
  EXPECT_EQ(a.counters().too_long, 1u);
  EXPECT_EQ(a.Feed('#', t).kind, PinEvent::Kind::kTooShort);
}

TEST(WiegandPin, HashBelowMinLengthIsTooShort) {
  int64_t t = 0;
  PinAssembler a = Typed("12", &t, PinConfig{.min_length = 4});
  EXPECT_EQ(a.Feed('#', t).kind, PinEvent::Kind::kTooShort);
  EXPECT_EQ(a.held(), 0u);
  EXPECT_EQ(a.counters().too_short, 1u);
}

TEST(WiegandPin, OtherKeysAreIgnored) {
  PinAssembler a;
  a.Feed('1', 0);
  EXPECT_EQ(a.Feed('A', 0).kind, PinEvent::Kind::kIgnored);
  EXPECT_EQ(a.Feed('\0', 0).kind, PinEvent::Kind::kIgnored);
  EXPECT_EQ(a.Feed('#', 0).pin, "1");
}

}  // namespace
}  // namespace lintel::wiegand
