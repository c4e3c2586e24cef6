// Card formats: the public vectors byte for byte, and vectors derived by an independent method
// (proxmark3-style bit masks on the packed words) against the field-position implementation.
#include <gtest/gtest.h>

#include <bit>
#include <random>

#include "drivers/wiegand/wiegand.h"

namespace lintel::wiegand {
namespace {

constexpr CardFormat kFixed[] = {CardFormat::kH10301, CardFormat::kH10306, CardFormat::kH10302,
                                 CardFormat::kH10304, CardFormat::kC1k35,  CardFormat::kC1k48};

Frame Parse(int bits, std::string_view text) {
  auto f = ParseFrame(bits, text);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? *f : Frame{};
}

Frame Encode(CardFormat format, uint64_t fc, uint64_t cn) {
  auto f = EncodeCard(format, fc, cn);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? *f : Frame{};
}

// --- public vectors (../shared/protocols/wiegand.md) ---

TEST(WiegandDecoder, EncodesThePublicH10301Vectors) {
  EXPECT_EQ(FrameHex(Encode(CardFormat::kH10301, 101, 251)), "0x0CA01F6");
  EXPECT_EQ(FrameHex(Encode(CardFormat::kH10301, 101, 2592)), "0x0CA1440");
  EXPECT_EQ(FrameHex(Encode(CardFormat::kH10301, 255, 65535)), "0x1FFFFFF");
  EXPECT_EQ(FrameHex(Encode(CardFormat::kH10301, 0, 0)), "0x0000001");
}

TEST(WiegandDecoder, DecodesThePublicH10301Vectors) {
  const CardFormat accepted[] = {CardFormat::kH10301};
  struct V {
    const char* hex;
    uint64_t fc, cn;
  };
  for (V v : {V{"0x0CA01F6", 101, 251}, V{"0x0CA1440", 101, 2592}, V{"0x1FFFFFF", 255, 65535},
              V{"0x0000001", 0, 0}}) {
    auto read = DecodeCard(Parse(26, v.hex), accepted);
    ASSERT_TRUE(read) << v.hex;
    EXPECT_EQ(read->format, CardFormat::kH10301);
    EXPECT_EQ(read->facility, v.fc) << v.hex;
    EXPECT_EQ(read->number, v.cn) << v.hex;
    EXPECT_TRUE(read->parity_ok);
  }
}

TEST(WiegandDecoder, RejectsH10301WithBadEvenParity) {
  const CardFormat accepted[] = {CardFormat::kH10301};
  Frame f = Parse(26, "10110010100000000111110110");
  EXPECT_FALSE(DecodeCard(f, accepted));
  auto c = Candidates(f);
  ASSERT_EQ(c.size(), 2u);  // h10301 + raw
  EXPECT_EQ(c[0].format, CardFormat::kH10301);
  EXPECT_FALSE(c[0].parity_ok);
  EXPECT_EQ(c[0].facility, 101u);
  EXPECT_EQ(c[0].number, 251u);
}

TEST(WiegandDecoder, RejectsH10301WithBadOddParity) {
  const CardFormat accepted[] = {CardFormat::kH10301};
  Frame f = Parse(26, "00110010100000000111110111");
  EXPECT_FALSE(DecodeCard(f, accepted));
  EXPECT_FALSE(Candidates(f)[0].parity_ok);
}

TEST(WiegandDecoder, EncodesAndDecodesThePublicH10302Vector) {
  Frame f = Encode(CardFormat::kH10302, 0, 123456789);
  EXPECT_EQ(f.bits, 37);
  EXPECT_EQ(f.value, 0x100EB79A2Bu);
  EXPECT_EQ(FrameHex(f), "0x100EB79A2B");
  const CardFormat accepted[] = {CardFormat::kH10302};
  auto read = DecodeCard(Parse(37, "0x100EB79A2B"), accepted);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->number, 123456789u);
  EXPECT_FALSE(read->facility);
}

TEST(WiegandDecoder, ReadsH10302AndH10304FramesEitherWayAsTheReaderListSays) {
  Frame f = Parse(37, "0x100EB79A2B");
  const CardFormat as_04[] = {CardFormat::kH10304};
  auto read = DecodeCard(f, as_04);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->format, CardFormat::kH10304);
  EXPECT_EQ(read->facility, 123456789u >> 19);
  EXPECT_EQ(read->number, 123456789u & 0x7FFFF);
  auto c = Candidates(f);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].format, CardFormat::kH10302);
  EXPECT_EQ(c[1].format, CardFormat::kH10304);
  EXPECT_EQ(c[2].format, CardFormat::kRaw);
}

// --- parsing and names ---

TEST(WiegandDecoder, ParsesHexAndBinaryToTheSameFrame) {
  EXPECT_EQ(Parse(26, "0x0CA01F6"), Parse(26, "00110010100000000111110110"));
  EXPECT_EQ(Parse(26, "0xca01f6"), (Frame{26, 0xCA01F6}));
  EXPECT_EQ(FrameBinary(Frame{26, 0xCA01F6}), "00110010100000000111110110");
  EXPECT_EQ(Parse(64, "0xFFFFFFFFFFFFFFFF").value, UINT64_MAX);
}

TEST(WiegandDecoder, RefusesMalformedFrameText) {
  EXPECT_FALSE(ParseFrame(26, "0x4000000").ok());  // 27 bits
  EXPECT_FALSE(ParseFrame(26, "0x").ok());
  EXPECT_FALSE(ParseFrame(26, "0xG").ok());
  EXPECT_FALSE(ParseFrame(26, "0101").ok());  // wrong length
  EXPECT_FALSE(ParseFrame(4, "0121").ok());
  EXPECT_FALSE(ParseFrame(4, "").ok());
  EXPECT_FALSE(ParseFrame(0, "0x0").ok());
  EXPECT_FALSE(ParseFrame(65, "0x0").ok());
  EXPECT_FALSE(ParseFrame(64, "0x1FFFFFFFFFFFFFFFF").ok());
  EXPECT_TRUE(ParseFrame(64, "0x00000000000000000001").ok());  // leading zeros are fine
}

TEST(WiegandDecoder, FormatNamesRoundTrip) {
  for (CardFormat f : kFixed) {
    auto back = ParseCardFormat(CardFormatName(f));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, f);
  }
  EXPECT_EQ(*ParseCardFormat("raw"), CardFormat::kRaw);
  EXPECT_FALSE(ParseCardFormat("H10301").ok());
}

TEST(WiegandDecoder, EncodeRefusesOutOfRangeFields) {
  EXPECT_FALSE(EncodeCard(CardFormat::kH10301, 256, 0).ok());
  EXPECT_FALSE(EncodeCard(CardFormat::kH10301, 0, 65536).ok());
  EXPECT_FALSE(EncodeCard(CardFormat::kH10302, 1, 0).ok());
  EXPECT_FALSE(EncodeCard(CardFormat::kH10302, 0, uint64_t{1} << 35).ok());
  EXPECT_FALSE(EncodeCard(CardFormat::kC1k35, 4096, 0).ok());
  EXPECT_FALSE(EncodeCard(CardFormat::kC1k48, 0, 1 << 23).ok());
  EXPECT_FALSE(EncodeCard(CardFormat::kRaw, 0, 0).ok());
  EXPECT_TRUE(EncodeCard(CardFormat::kC1k48, (1 << 22) - 1, (1 << 23) - 1).ok());
}

// --- the independent method: proxmark3-style masks on the packed words ---

int EvenParity32(uint64_t x) { return std::popcount(static_cast<uint32_t>(x)) & 1; }
int OddParity32(uint64_t x) { return EvenParity32(x) ^ 1; }
int Bit(uint64_t v, int lsb_index) { return static_cast<int>((v >> lsb_index) & 1); }

struct Fields {
  uint64_t fc, cn;
};

// Parity check and field extraction written from the packed value's low bits (bit 0 = last on
// the wire), not from field positions.
bool MaskParityOk(CardFormat format, uint64_t v) {
  uint64_t bot = v & 0xFFFFFFFF, mid = v >> 32;
  switch (format) {
    case CardFormat::kH10301:
      return Bit(v, 0) == OddParity32((v >> 1) & 0xFFF) &&
             Bit(v, 25) == EvenParity32((v >> 13) & 0xFFF);
    case CardFormat::kH10306:
      return Bit(v, 0) == OddParity32((v >> 1) & 0xFFFF) &&
             Bit(v, 33) == EvenParity32((v >> 17) & 0xFFFF);
    case CardFormat::kH10302:
    case CardFormat::kH10304:
      return Bit(v, 36) == EvenParity32((v >> 18) & 0x3FFFF) &&
             Bit(v, 0) == OddParity32((v >> 1) & 0x3FFFF);
    case CardFormat::kC1k35:
      return Bit(mid, 1) == EvenParity32((mid & 0x1) ^ (bot & 0xB6DB6DB6)) &&
             Bit(bot, 0) == OddParity32((mid & 0x3) ^ (bot & 0x6DB6DB6C)) &&
             Bit(mid, 2) == OddParity32((mid & 0x3) ^ bot);
    case CardFormat::kC1k48:
      return Bit(mid, 14) == (EvenParity32(mid & 0x1B6D) ^ EvenParity32(bot & 0xB6DB6DB6)) &&
             Bit(bot, 0) == (OddParity32(mid & 0x36DB) ^ EvenParity32(bot & 0x6DB6DB6C)) &&
             Bit(mid, 15) == (OddParity32(mid & 0x7FFF) ^ EvenParity32(bot));
    case CardFormat::kRaw:
      break;
  }
  return true;
}

Fields MaskFields(CardFormat format, uint64_t v) {
  switch (format) {
    case CardFormat::kH10301:
      return {(v >> 17) & 0xFF, (v >> 1) & 0xFFFF};
    case CardFormat::kH10306:
      return {(v >> 17) & 0xFFFF, (v >> 1) & 0xFFFF};
    case CardFormat::kH10302:
      return {0, (v >> 1) & 0x7FFFFFFFF};
    case CardFormat::kH10304:
      return {(v >> 20) & 0xFFFF, (v >> 1) & 0x7FFFF};
    case CardFormat::kC1k35:
      return {(v >> 21) & 0xFFF, (v >> 1) & 0xFFFFF};
    case CardFormat::kC1k48:
      return {(v >> 24) & 0x3FFFFF, (v >> 1) & 0x7FFFFF};
    case CardFormat::kRaw:
      break;
  }
  return {0, v};
}

TEST(WiegandDecoder, EncodedFramesPassTheIndependentMaskParity) {
  std::mt19937_64 rng(20241124);
  for (CardFormat format : kFixed) {
    for (int i = 0; i < 3000; ++i) {
      uint64_t fc = MaxFacility(format) ? rng() % (MaxFacility(format) + 1) : 0;
      uint64_t cn = rng() % (MaxNumber(format) + 1);
      Frame f = Encode(format, fc, cn);
      ASSERT_EQ(f.bits, CardFormatBits(format));
      ASSERT_TRUE(MaskParityOk(format, f.value))
          << CardFormatName(format) << " fc " << fc << " cn " << cn << " " << FrameHex(f);
      Fields fields = MaskFields(format, f.value);
      ASSERT_EQ(fields.fc, fc) << CardFormatName(format);
      ASSERT_EQ(fields.cn, cn) << CardFormatName(format);
      const CardFormat accepted[] = {format};
      auto read = DecodeCard(f, accepted);
      ASSERT_TRUE(read) << CardFormatName(format);
      EXPECT_EQ(read->number, cn);
      EXPECT_EQ(read->facility.value_or(0), fc);
    }
  }
}

TEST(WiegandDecoder, ParityCheckAgreesWithTheMasksOnRandomFrames) {
  std::mt19937_64 rng(7);
  for (CardFormat format : kFixed) {
    int bits = CardFormatBits(format);
    int ok = 0;
    for (int i = 0; i < 20000; ++i) {
      Frame f{bits, rng() & ((uint64_t{1} << bits) - 1)};
      bool mine = ParityOk(format, f);
      ASSERT_EQ(mine, MaskParityOk(format, f.value)) << CardFormatName(format) << FrameHex(f);
      ok += mine;
    }
    // Two parity bits pass one frame in 4, three one in 8: the check is not vacuous.
    EXPECT_GT(ok, 20000 / 10) << CardFormatName(format);
    EXPECT_LT(ok, 20000 / 3) << CardFormatName(format);
  }
}

TEST(WiegandDecoder, AnySingleBitFlipBreaksParity) {
  std::mt19937_64 rng(11);
  for (CardFormat format : kFixed) {
    for (int i = 0; i < 50; ++i) {
      uint64_t fc = MaxFacility(format) ? rng() % (MaxFacility(format) + 1) : 0;
      Frame f = Encode(format, fc, rng() % (MaxNumber(format) + 1));
      for (int b = 0; b < f.bits; ++b) {
        Frame g{f.bits, f.value ^ (uint64_t{1} << b)};
        const CardFormat accepted[] = {format};
        ASSERT_FALSE(DecodeCard(g, accepted)) << CardFormatName(format) << " bit " << b;
      }
    }
  }
}

TEST(WiegandDecoder, CorporateThousandHandVectors) {
  Frame f35 = Encode(CardFormat::kC1k35, 1, 1);
  EXPECT_TRUE(MaskParityOk(CardFormat::kC1k35, f35.value));
  Frame f48 = Encode(CardFormat::kC1k48, 1, 1);
  EXPECT_TRUE(MaskParityOk(CardFormat::kC1k48, f48.value));
  // All-zero fields: bit 2 (even, zero ones) = 0, bit 35 (odd, covers bit 2) = 1, bit 1 (odd over
  // bits 2..35 holding one 1) = 0.
  EXPECT_EQ(Encode(CardFormat::kC1k35, 0, 0).value, 0x1u);
  // 48: bit 2 = 0, bit 48 = 1, bit 1 = 0.
  EXPECT_EQ(Encode(CardFormat::kC1k48, 0, 0).value, 0x1u);
}

TEST(WiegandDecoder, DecodeCardPrefersTheCallersOrderAndFallsBackToRaw) {
  Frame f = Parse(37, "0x100EB79A2B");
  const CardFormat order[] = {CardFormat::kH10304, CardFormat::kH10302};
  EXPECT_EQ(DecodeCard(f, order)->format, CardFormat::kH10304);
  const CardFormat raw_only[] = {CardFormat::kRaw};
  auto raw = DecodeCard(Frame{13, 0x1ABC}, raw_only);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->number, 0x1ABCu);
  EXPECT_FALSE(raw->facility);
  // A bad-parity 26-bit frame is not read as H10301, but is raw when raw comes after it.
  Frame bad = Parse(26, "10110010100000000111110110");
  const CardFormat h_then_raw[] = {CardFormat::kH10301, CardFormat::kRaw};
  EXPECT_EQ(DecodeCard(bad, h_then_raw)->format, CardFormat::kRaw);
}

TEST(WiegandDecoder, InvalidFramesDecodeToNothing) {
  const CardFormat all[] = {CardFormat::kH10301, CardFormat::kRaw};
  EXPECT_FALSE(DecodeCard(Frame{0, 0}, all));
  EXPECT_FALSE(DecodeCard(Frame{65, 0}, all));
  EXPECT_FALSE(DecodeCard(Frame{26, uint64_t{1} << 26}, all));
  EXPECT_TRUE(Candidates(Frame{-3, 0}).empty());
}

TEST(WiegandDecoder, InterpretReportsBadParityWithoutACard) {
  ReaderProfile p;
  p.accepted = {CardFormat::kH10301};
  Interpretation i = Interpret(Parse(26, "10110010100000000111110110"), p);
  EXPECT_EQ(i.kind, Interpretation::Kind::kBadParity);
  EXPECT_FALSE(i.card);
  EXPECT_EQ(Interpret(Frame{30, 5}, p).kind, Interpretation::Kind::kUnknownLength);
  Interpretation ok = Interpret(Parse(26, "0x0CA01F6"), p);
  ASSERT_EQ(ok.kind, Interpretation::Kind::kCard);
  EXPECT_EQ(ok.card->number, 251u);
}

}  // namespace
}  // namespace lintel::wiegand
