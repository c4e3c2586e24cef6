// WiegandReader on a FakeClock-driven EventLoop: synthetic edges in, reader events out, with the
// frame and PIN timers running on fake time.
#include "drivers/wiegand/reader.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "drivers/wiegand/replay_source.h"

namespace lintel::wiegand {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kMs = 1'000'000;

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override { MakeReader({}); }

  void MakeReader(ReaderProfile profile) {
    reader_.reset();
    auto loop = EventLoop::Create(clock_);
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    ReaderConfig config;
    config.profile = profile;
    reader_ = std::make_unique<WiegandReader>(*loop_, clock_, config, [this](const ReaderEvent& e) {
      events_.push_back(e);
      at_ns_.push_back(Now());
    });
  }

  int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               clock_.Monotonic().time_since_epoch())
        .count();
  }

  // The frame's bits as falling edges `interval` apart starting now; the clock ends at the last
  // edge (as if the kernel delivered the batch right then). Returns the last edge's time.
  int64_t SendFrame(const Frame& f, int64_t interval_ns = 2 * kMs) {
    std::vector<Edge> edges;
    for (int i = f.bits - 1; i >= 0; --i) {
      if (!edges.empty()) clock_.Advance(std::chrono::nanoseconds(interval_ns));
      edges.push_back({(f.value >> i) & 1 ? Line::kD1 : Line::kD0, Now()});
    }
    reader_->OnEdges(edges);
    return edges.back().t_ns;
  }

  // Advances fake time by `ms` in 1 ms steps, running the loop's due timers after each.
  void Run(int ms) {
    for (int i = 0; i < ms; ++i) {
      clock_.Advance(milliseconds(1));
      ASSERT_TRUE(loop_->RunOnce(milliseconds(0)).ok());
    }
  }

  FakeClock clock_{Instant{}};
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<WiegandReader> reader_;
  std::vector<ReaderEvent> events_;
  std::vector<int64_t> at_ns_;
};

// Issue 10 point 20: noise kinds are an enum; their names are what logs and status show.
TEST(NoiseKind, NamesAreTheLoggedNames) {
  EXPECT_EQ(NoiseKindName(NoiseKind::kTooShort), "too_short");
  EXPECT_EQ(NoiseKindName(NoiseKind::kTooLong), "too_long");
  EXPECT_EQ(NoiseKindName(NoiseKind::kGlitch), "glitch");
  EXPECT_EQ(NoiseKindName(NoiseKind::kOverlap), "overlap");
  EXPECT_EQ(NoiseKindName(NoiseKind::kBadParity), "bad_parity");
  EXPECT_EQ(NoiseKindName(NoiseKind::kBadKey), "bad_key");
  EXPECT_EQ(NoiseKindName(NoiseKind::kUnknownLength), "unknown_length");
  EXPECT_EQ(NoiseKindName(NoiseKind::kPinTooShort), "pin_too_short");
  EXPECT_EQ(NoiseKindName(NoiseKind::kPinTooLong), "pin_too_long");
  EXPECT_EQ(NoiseKindName(NoiseKind::kPinTimeout), "pin_timeout");
}

TEST_F(ReaderTest, H10301CardClosesEarlyWellBeforeTheSilenceTimeout) {
  int64_t last = SendFrame({26, 0x0CA01F6});  // FC 101 / CN 251
  Run(7);
  EXPECT_TRUE(events_.empty()) << "not before 4 x the 2 ms bit interval";
  Run(3);
  ASSERT_EQ(events_.size(), 1u);
  const ReaderEvent& e = events_[0];
  EXPECT_EQ(e.kind, ReaderEvent::Kind::kCard);
  ASSERT_TRUE(e.card.has_value());
  EXPECT_EQ(e.card->format, CardFormat::kH10301);
  EXPECT_EQ(e.card->facility, 101u);
  EXPECT_EQ(e.card->number, 251u);
  EXPECT_EQ(e.last_bit_ns, last);
  EXPECT_LE(at_ns_[0] - last, 10 * kMs) << "closed early, well before 25 ms";
  EXPECT_EQ(reader_->counters().cards, 1u);
  EXPECT_EQ(reader_->frame_counters().early, 1u);
  Run(50);
  EXPECT_EQ(events_.size(), 1u) << "one card, once";
}

TEST_F(ReaderTest, TwoCardsBackToBackAreTwoReads) {
  SendFrame({26, 0x0CA01F6});
  Run(100);
  SendFrame({26, 0x0CA1440});  // FC 101 / CN 2592
  Run(100);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].card->number, 2592u);
}

TEST_F(ReaderTest, KeypadPinOf4BitKeysEndsWithHash) {
  ReaderProfile p;
  p.keys_4bit = true;
  MakeReader(p);
  for (uint64_t key : {1, 9, 8, 4}) {
    SendFrame({4, key});
    Run(300);
  }
  EXPECT_TRUE(events_.empty()) << "digits are held until '#'";
  int64_t last = SendFrame({4, 0xB});  // '#'
  Run(20);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, ReaderEvent::Kind::kPin);
  EXPECT_EQ(events_[0].pin, "1984");
  EXPECT_EQ(events_[0].last_bit_ns, last);
  EXPECT_EQ(reader_->counters().keys, 5u);
  EXPECT_EQ(reader_->counters().pins, 1u);
}

TEST_F(ReaderTest, PinTimesOutOnTheLoopTimer) {
  ReaderProfile p;
  p.keys_4bit = true;
  MakeReader(p);
  SendFrame({4, 1});
  Run(20);
  int64_t last = SendFrame({4, 2});
  Run(4900);
  EXPECT_TRUE(events_.empty());
  Run(200);  // 5 s after the last key
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, ReaderEvent::Kind::kNoise);
  EXPECT_EQ(events_[0].noise, NoiseKind::kPinTimeout);
  EXPECT_EQ(events_[0].detail, "2 digits");
  EXPECT_GE(at_ns_[0] - last, 5000 * kMs);
  EXPECT_EQ(reader_->counters().pin_timeout, 1u);
  // A '#' now submits nothing: the digits are gone.
  SendFrame({4, 0xB});
  Run(20);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].noise, NoiseKind::kPinTooShort);
}

// What the integration tests wait for instead of a fixed drain: the reader says when nothing is
// left that could still become an event.
TEST_F(ReaderTest, IdleOnlyWhenNoFrameNoDigitsAndNoTimerArePending) {
  ReaderProfile p;
  p.keys_4bit = true;
  MakeReader(p);
  EXPECT_TRUE(reader_->idle());
  SendFrame({4, 1});
  EXPECT_FALSE(reader_->idle()) << "a frame being assembled";
  Run(20);
  ASSERT_EQ(reader_->counters().keys, 1u);
  EXPECT_FALSE(reader_->idle()) << "a digit held, its timeout armed";
  Run(5100);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].noise, NoiseKind::kPinTimeout);
  EXPECT_TRUE(reader_->idle()) << "the timeout fired";
  SendFrame({4, 1});
  Run(20);
  SendFrame({4, 0xB});  // '#'
  EXPECT_FALSE(reader_->idle());
  Run(20);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].kind, ReaderEvent::Kind::kPin);
  EXPECT_TRUE(reader_->idle()) << "submitted: nothing held";
}

TEST_F(ReaderTest, NoiseNeverProducesACard) {
  // A glitch burst: 26 edges, two of them 50 us apart, on alternating lines.
  std::vector<Edge> edges;
  for (int i = 0; i < 26; ++i) {
    if (i > 0) clock_.Advance(std::chrono::nanoseconds(i == 13 ? 50'000 : 2 * kMs));
    edges.push_back({i % 3 ? Line::kD0 : Line::kD1, Now()});
  }
  reader_->OnEdges(edges);
  Run(100);
  // Two edges only: too short.
  SendFrame({2, 0x1});
  Run(100);
  // 30 bits: no accepted format.
  SendFrame({30, 0x1234567});
  Run(100);
  for (const ReaderEvent& e : events_)
    EXPECT_EQ(e.kind, ReaderEvent::Kind::kNoise) << NoiseKindName(e.noise);
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(events_[0].noise, NoiseKind::kOverlap);
  EXPECT_EQ(events_[1].noise, NoiseKind::kTooShort);
  EXPECT_EQ(events_[2].noise, NoiseKind::kUnknownLength);
  EXPECT_EQ(events_[2].detail, "30 bits");
  EXPECT_EQ(reader_->counters().cards, 0u);
  EXPECT_EQ(reader_->counters().frame_errors, 2u);
}

TEST_F(ReaderTest, BadParityFrameIsCountedAfterTheFullSilence) {
  Result<Frame> f = ParseFrame(26, "10110010100000000111110110");  // bad even parity
  ASSERT_TRUE(f.ok());
  int64_t last = SendFrame(*f);
  Run(20);
  EXPECT_TRUE(events_.empty()) << "bad parity is never eligible for early close";
  Run(10);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, ReaderEvent::Kind::kNoise);
  EXPECT_EQ(events_[0].noise, NoiseKind::kBadParity);
  EXPECT_EQ(events_[0].detail, "26 bits");
  EXPECT_GE(at_ns_[0] - last, 25 * kMs);
  EXPECT_EQ(reader_->counters().bad_parity, 1u);
  EXPECT_EQ(reader_->counters().cards, 0u);
}

TEST_F(ReaderTest, SerialFramesGoThroughTheSameDecoding) {
  reader_->OnFrame({26, 0x0CA01F6});
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].card->number, 251u);
  EXPECT_EQ(events_[0].last_bit_ns, Now());
  EXPECT_EQ(reader_->counters().serial_frames, 1u);
}

// Issue 14 point 4 (`lintelctl reader last`): the last frames with what they were; a card keeps its
// value and the chosen reading, a keypad frame never its value.
TEST_F(ReaderTest, RecentFramesKeepCardsButNoKeypadValues) {
  MakeReader({.accepted = {CardFormat::kH10301}, .keys_4bit = true, .pin_burst = true});
  reader_->OnFrame({26, 0x0CA01F6});         // FC 101 / CN 251
  reader_->OnFrame({4, 0x7});                // the key 7
  reader_->OnFrame({26, 0x00009A4});         // a PIN burst: 1234
  reader_->OnFrame({26, 0x00009A4 ^ 0x10});  // the same with a bit flipped: bad parity
  reader_->OnFrame({8, 0x78});               // an 8-bit frame on a 4-bit reader
  const std::deque<SeenFrame>& seen = reader_->recent();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].what, "card");
  EXPECT_FALSE(seen[0].keypad);
  ASSERT_TRUE(seen[0].frame.has_value());
  EXPECT_EQ(seen[0].frame->value, 0x0CA01F6u);
  ASSERT_TRUE(seen[0].chosen.has_value());
  EXPECT_EQ(seen[0].chosen->number, 251u);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_TRUE(seen[i].keypad) << i;
    EXPECT_FALSE(seen[i].frame.has_value()) << i << ": no value for a keypad frame";
    EXPECT_FALSE(seen[i].chosen.has_value()) << i;
  }
  EXPECT_EQ(seen[1].what, "key");
  EXPECT_EQ(seen[1].bits, 4);
  EXPECT_EQ(seen[2].what, "pin_burst");
  EXPECT_EQ(seen[3].what, "bad_parity");
  EXPECT_EQ(seen[4].what, "unknown_length");
}

TEST_F(ReaderTest, RecentFramesKeepTheLastSixteenAndRefusedBursts) {
  for (uint64_t n = 1; n <= 20; ++n) {
    Result<Frame> f = EncodeCard(CardFormat::kH10301, 1, n);
    ASSERT_TRUE(f.ok());
    reader_->OnFrame(*f);
  }
  ASSERT_EQ(reader_->recent().size(), kSeenFrames);
  EXPECT_EQ(reader_->recent().front().chosen->number, 5u) << "the oldest four dropped";
  EXPECT_EQ(reader_->recent().back().chosen->number, 20u);
  SendFrame({3, 0x5});  // too short for any format
  Run(30);
  const SeenFrame& last = reader_->recent().back();
  EXPECT_EQ(last.what, "too_short");
  EXPECT_EQ(last.bits, 0);
  EXPECT_EQ(last.edges, 3);
  EXPECT_FALSE(last.frame.has_value());
}

TEST_F(ReaderTest, DestroyingTheReaderCancelsItsTimers) {
  SendFrame({26, 0x0CA01F6});
  reader_.reset();
  Run(100);  // a dangling timer would touch the destroyed reader
  EXPECT_TRUE(events_.empty());
}

}  // namespace
}  // namespace lintel::wiegand

namespace lintel::wiegand {
namespace {

// End to end on the real clock: a datagram on the replay socket becomes a card read.
TEST(ReplayToReader, ADatagramOfEdgesBecomesACardRead) {
  SystemClock clock;
  auto loop = EventLoop::Create(clock);
  ASSERT_TRUE(loop.ok());
  std::vector<ReaderEvent> events;
  WiegandReader reader(**loop, clock, {}, [&](const ReaderEvent& e) { events.push_back(e); });
  std::string path = "/tmp/lintel-reader-test-" + std::to_string(::getpid()) + ".sock";
  auto src = ReplayEdgeSource::Open(
      **loop, clock, {path, 0660}, [&](std::span<const Edge> e) { reader.OnEdges(e); },
      [&](const Status& s) { reader.OnSourceError(s); });
  ASSERT_TRUE(src.ok()) << src.status().ToString();

  Frame f{26, 0x0CA1440};  // FC 101 / CN 2592
  std::vector<Edge> edges;
  for (int i = f.bits - 1; i >= 0; --i) {
    edges.push_back({(f.value >> i) & 1 ? Line::kD1 : Line::kD0, int64_t{25 - i} * 1'000'000});
  }
  std::string text = FormatReplayDatagram(edges);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(
      ::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
      static_cast<ssize_t>(text.size()));
  ::close(fd);

  auto start = std::chrono::steady_clock::now();
  while (events.empty() && std::chrono::steady_clock::now() - start < std::chrono::seconds(2)) {
    ASSERT_TRUE((*loop)->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  ASSERT_EQ(events.size(), 1u);
  ASSERT_EQ(events[0].kind, ReaderEvent::Kind::kCard);
  EXPECT_EQ(events[0].card->number, 2592u);
  EXPECT_EQ(reader.counters().edges, 26u);
}

}  // namespace
}  // namespace lintel::wiegand
