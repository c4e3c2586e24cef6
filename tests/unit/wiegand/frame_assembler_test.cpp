// Frame assembly from edge timestamps, with realistic timing and noise.
#include "drivers/wiegand/frame_assembler.h"

#include <gtest/gtest.h>

#include <random>

namespace lintel::wiegand {
namespace {

constexpr int64_t kUs = 1'000;
constexpr int64_t kMs = 1'000'000;

struct Edge {
  Line line;
  int64_t t;
};

// Edges for a frame's bits: one every `interval` from `start`, +- `jitter` (uniform).
std::vector<Edge> EdgesFor(const Frame& f, int64_t start, int64_t interval, int64_t jitter = 0,
                           uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::vector<Edge> out;
  for (int i = 0; i < f.bits; ++i) {
    int64_t j = jitter ? static_cast<int64_t>(rng() % (2 * jitter + 1)) - jitter : 0;
    Line line = (f.value >> (f.bits - 1 - i)) & 1 ? Line::kD1 : Line::kD0;
    out.push_back({line, start + i * interval + j});
  }
  return out;
}

// Plays the edges as the driver loop would: Poll() at every Deadline() before the next edge, then
// until `end`.
std::vector<FrameResult> Play(FrameAssembler& a, const std::vector<Edge>& edges, int64_t end) {
  std::vector<FrameResult> out;
  auto drain = [&](int64_t until) {
    for (int guard = 0; a.Deadline() <= until && guard < 1000; ++guard) {
      if (auto r = a.Poll(a.Deadline())) out.push_back(*r);
    }
  };
  for (const Edge& e : edges) {
    drain(e.t);
    a.OnEdge(e.line, e.t);
  }
  drain(end);
  return out;
}

Frame Card(CardFormat f, uint64_t fc, uint64_t cn) { return *EncodeCard(f, fc, cn); }

FrameAssemblerConfig Readers(std::vector<CardFormat> accepted, bool early = true) {
  FrameAssemblerConfig c;
  c.accepted = std::move(accepted);
  c.early_close = early;
  return c;
}

TEST(WiegandFrameAssembler, IdleAssemblerHasNothingDue) {
  FrameAssembler a;
  EXPECT_EQ(a.Deadline(), INT64_MAX);
  EXPECT_FALSE(a.Poll(INT64_MAX));
  EXPECT_TRUE(a.idle());
}

TEST(WiegandFrameAssembler, ClosesAfter25MsOfSilence) {
  FrameAssembler a(Readers({CardFormat::kH10301}, /*early=*/false));
  Frame card = Card(CardFormat::kH10301, 101, 251);
  auto edges = EdgesFor(card, 1'000 * kMs, 2 * kMs, 100 * kUs);
  int64_t last = edges.back().t;
  for (const Edge& e : edges) a.OnEdge(e.line, e.t);
  EXPECT_EQ(a.Deadline(), last + 25 * kMs);
  EXPECT_FALSE(a.Poll(last + 25 * kMs - 1));
  auto r = a.Poll(last + 25 * kMs);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, FrameError::kNone);
  EXPECT_EQ(r->frame, card);
  EXPECT_FALSE(r->early);
  EXPECT_TRUE(a.idle());
  EXPECT_EQ(a.counters().frames, 1u);
}

TEST(WiegandFrameAssembler, ClosesEarlyAtAboutFourBitIntervals) {
  FrameAssembler a(Readers({CardFormat::kH10301}));
  Frame card = Card(CardFormat::kH10301, 101, 2592);
  auto edges = EdgesFor(card, 5 * kMs, 1 * kMs, 150 * kUs, 3);
  auto results = Play(a, edges, edges.back().t + 100 * kMs);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].frame, card);
  EXPECT_TRUE(results[0].early);
  EXPECT_EQ(a.counters().early, 1u);
  // Due at 4x the mean interval (~1 ms) after the last bit: well before 25 ms.
  FrameAssembler b(Readers({CardFormat::kH10301}));
  for (const Edge& e : edges) b.OnEdge(e.line, e.t);
  int64_t wait = b.Deadline() - edges.back().t;
  double mean = double(edges.back().t - edges.front().t) / 25;
  EXPECT_NEAR(double(wait), 4 * mean, 1'000);
  EXPECT_LT(wait, 5 * kMs);
}

TEST(WiegandFrameAssembler, EarlyCloseRespectsTheAbsoluteFloor) {
  FrameAssembler a(Readers({CardFormat::kH10301}));
  Frame card = Card(CardFormat::kH10301, 1, 2);
  auto edges = EdgesFor(card, 0, 250 * kUs);  // fast reader: 4x = 1 ms < 2 ms floor
  for (const Edge& e : edges) a.OnEdge(e.line, e.t);
  EXPECT_EQ(a.Deadline(), edges.back().t + 2 * kMs);
}

TEST(WiegandFrameAssembler, NoEarlyCloseForA34BitFrameWhose26BitPrefixHasValidParity) {
  // Find H10306 cards whose first 26 bits happen to be a valid H10301 frame.
  std::mt19937_64 rng(99);
  int found = 0;
  for (int i = 0; i < 2000 && found < 20; ++i) {
    Frame card = Card(CardFormat::kH10306, rng() & 0xFFFF, rng() & 0xFFFF);
    Frame prefix{26, card.value >> 8};
    if (!ParityOk(CardFormat::kH10301, prefix)) continue;
    ++found;
    // Sanity: the prefix alone would close early.
    {
      FrameAssembler p(Readers({CardFormat::kH10301, CardFormat::kH10306}));
      auto r = Play(p, EdgesFor(prefix, 0, 2 * kMs, 300 * kUs, i), 200 * kMs);
      ASSERT_EQ(r.size(), 1u);
      EXPECT_TRUE(r[0].early);
      EXPECT_EQ(r[0].frame, prefix);
    }
    FrameAssembler a(Readers({CardFormat::kH10301, CardFormat::kH10306}));
    auto results = Play(a, EdgesFor(card, 0, 2 * kMs, 300 * kUs, i), 200 * kMs);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].error, FrameError::kNone);
    EXPECT_EQ(results[0].frame, card);
    EXPECT_TRUE(results[0].early);  // at 34 bits
    const CardFormat accepted[] = {CardFormat::kH10301, CardFormat::kH10306};
    EXPECT_EQ(DecodeCard(results[0].frame, accepted)->format, CardFormat::kH10306);
  }
  EXPECT_GE(found, 10);
}

TEST(WiegandFrameAssembler, BadParityFrameWaitsForTheFullSilenceAndYieldsNoCard) {
  FrameAssembler a(Readers({CardFormat::kH10301}));
  Frame bad = *ParseFrame(26, "10110010100000000111110110");
  auto edges = EdgesFor(bad, 0, 1 * kMs);
  for (const Edge& e : edges) a.OnEdge(e.line, e.t);
  EXPECT_EQ(a.Deadline(), edges.back().t + 25 * kMs);
  auto r = a.Poll(a.Deadline());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, FrameError::kNone);
  const CardFormat accepted[] = {CardFormat::kH10301};
  EXPECT_FALSE(DecodeCard(r->frame, accepted));
}

TEST(WiegandFrameAssembler, TwoFramesBackToBackAreSeparated) {
  FrameAssembler a(Readers({CardFormat::kH10301}, false));
  Frame c1 = Card(CardFormat::kH10301, 1, 1), c2 = Card(CardFormat::kH10301, 2, 2);
  auto edges = EdgesFor(c1, 0, 2 * kMs);
  auto more = EdgesFor(c2, edges.back().t + 30 * kMs, 2 * kMs);
  edges.insert(edges.end(), more.begin(), more.end());
  auto r = Play(a, edges, edges.back().t + kMs * 100);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].frame, c1);
  EXPECT_EQ(r[1].frame, c2);
}

TEST(WiegandFrameAssembler, SameLineEdgesInsideTheGlitchWindowPoisonTheFrame) {
  FrameAssembler a(Readers({CardFormat::kH10301}));
  auto edges = EdgesFor(Card(CardFormat::kH10301, 101, 251), 0, 2 * kMs);
  edges.insert(edges.begin() + 5, Edge{edges[4].line, edges[4].t + 40 * kUs});  // bounce
  auto r = Play(a, edges, edges.back().t + 100 * kMs);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error, FrameError::kGlitch);
  EXPECT_FALSE(r[0].early);
  EXPECT_EQ(r[0].last_ns + 25 * kMs, edges.back().t + 25 * kMs);  // swallowed the whole burst
  EXPECT_EQ(a.counters().glitch, 1u);
  EXPECT_EQ(a.counters().frames, 0u);
}

TEST(WiegandFrameAssembler, OverlappingD0AndD1PulsesAreNoise) {
  FrameAssembler a(Readers({CardFormat::kH10301}));
  auto edges = EdgesFor(Card(CardFormat::kH10301, 101, 251), 0, 2 * kMs);
  Line other = edges[10].line == Line::kD0 ? Line::kD1 : Line::kD0;
  edges.insert(edges.begin() + 11, Edge{other, edges[10].t + 20 * kUs});
  auto r = Play(a, edges, edges.back().t + 100 * kMs);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error, FrameError::kOverlap);
  EXPECT_EQ(a.counters().overlap, 1u);
}

TEST(WiegandFrameAssembler, TimeGoingBackwardsIsAGlitch) {
  FrameAssembler a;
  a.OnEdge(Line::kD0, 10 * kMs);
  a.OnEdge(Line::kD1, 12 * kMs);
  a.OnEdge(Line::kD1, 11 * kMs);
  a.OnEdge(Line::kD1, 14 * kMs);
  auto r = a.Poll(100 * kMs);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, FrameError::kGlitch);
}

TEST(WiegandFrameAssembler, TooShortBurstsAreCounted) {
  FrameAssembler a;
  a.OnEdge(Line::kD1, 0);
  a.OnEdge(Line::kD0, 2 * kMs);
  auto r = a.Poll(a.Deadline());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, FrameError::kTooShort);
  EXPECT_EQ(r->frame.bits, 2);
  EXPECT_EQ(a.counters().too_short, 1u);
}

TEST(WiegandFrameAssembler, TooLongBurstsAreCountedAndKeepAtMost64Bits) {
  FrameAssembler a;
  for (int i = 0; i < 70; ++i) a.OnEdge(i % 3 ? Line::kD1 : Line::kD0, i * kMs);
  auto r = a.Poll(a.Deadline());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, FrameError::kTooLong);
  EXPECT_EQ(r->edges, 70);
  EXPECT_EQ(r->frame.bits, 64);
  EXPECT_EQ(a.counters().too_long, 1u);
}

TEST(WiegandFrameAssembler, ConfiguredMaxBitsBoundsFrames) {
  FrameAssemblerConfig c;
  c.max_bits = 37;
  FrameAssembler a(c);
  auto edges = EdgesFor(Card(CardFormat::kC1k48, 5, 5), 0, kMs);
  auto r = Play(a, edges, 1000 * kMs);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error, FrameError::kTooLong);
}

TEST(WiegandFrameAssembler, KeypadLengthsCloseEarly) {
  FrameAssemblerConfig c;
  c.keypad_lengths = {4, 8};
  FrameAssembler a(c);
  auto r = Play(a, EdgesFor(Frame{8, 0xE1}, 0, 2 * kMs), 200 * kMs);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].early);
  EXPECT_EQ(DecodeKey(r[0].frame, KeyMap::Default()), '1');
  FrameAssembler b(c);
  auto noisy = Play(b, EdgesFor(Frame{8, 0xE2}, 0, 2 * kMs), 200 * kMs);
  ASSERT_EQ(noisy.size(), 1u);
  EXPECT_FALSE(noisy[0].early);  // not a complement: waits the full silence
  EXPECT_FALSE(DecodeKey(noisy[0].frame, KeyMap::Default()));
}

TEST(WiegandFrameAssembler, RandomNoiseNeverYieldsACardWithBadParity) {
  std::mt19937_64 rng(12345);
  ReaderProfile profile;
  profile.accepted = {CardFormat::kH10301, CardFormat::kH10306, CardFormat::kC1k35};
  FrameAssembler a(Readers(profile.accepted));
  int64_t t = 0;
  std::vector<Edge> edges;
  for (int i = 0; i < 20000; ++i) {
    uint64_t r = rng();
    t += (r & 1) ? static_cast<int64_t>(r % (3 * kMs)) : static_cast<int64_t>(r % (40 * kMs));
    edges.push_back({(r >> 8) & 1 ? Line::kD1 : Line::kD0, t});
  }
  int cards = 0;
  for (const FrameResult& res : Play(a, edges, t + kMs * 100)) {
    ASSERT_LE(res.frame.bits, 64);
    if (res.error != FrameError::kNone) continue;
    Interpretation i = Interpret(res.frame, profile);
    if (i.card) {
      ++cards;
      EXPECT_TRUE(i.card->parity_ok);
      EXPECT_TRUE(ParityOk(i.card->format, res.frame));
    }
  }
  const FrameCounters& c = a.counters();
  EXPECT_GT(c.glitch + c.overlap + c.too_short, 0u);
  (void)cards;
}

}  // namespace
}  // namespace lintel::wiegand
