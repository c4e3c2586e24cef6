// ReplayEdgeSource: the text format, the anchoring, and the source over a real socket on a real
// loop.
#include "drivers/wiegand/replay_source.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace lintel::wiegand {
namespace {

constexpr int64_t kNone = std::numeric_limits<int64_t>::min();

TEST(ReplayFormat, ParsesLinesAndDeltas) {
  Result<std::vector<ReplayStep>> s = ParseReplayDatagram("0 0\n1 2000\r\n\n0 1500");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, (std::vector<ReplayStep>{{Line::kD0, 0}, {Line::kD1, 2000}, {Line::kD0, 1500}}));
}

TEST(ReplayFormat, RejectsBadLinesNamingTheLine) {
  for (const char* bad : {"", "\n\n", "2 100", "0 x", "0 -5", "0 100\n1", "0 99999999999",
                          "0 100 7", "0\t100", "0 1e3"}) {
    Result<std::vector<ReplayStep>> s = ParseReplayDatagram(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_EQ(ParseReplayDatagram("0 1\n1 x").status().message(),
            "replay datagram: line 2: delta is not a decimal number of microseconds");
  std::string many;
  for (size_t i = 0; i <= kMaxReplayEdges; ++i) many += "1 1\n";
  EXPECT_FALSE(ParseReplayDatagram(many).ok());
}

TEST(ReplayAnchor, LastEdgeLandsAtReceiptAndIntervalsAreKept) {
  std::vector<ReplayStep> steps = {{Line::kD0, 999}, {Line::kD1, 2000}, {Line::kD0, 1000}};
  std::vector<Edge> e = AnchorReplay(steps, 10'000'000, kNone);
  EXPECT_EQ(e, (std::vector<Edge>{
                   {Line::kD0, 7'000'000}, {Line::kD1, 9'000'000}, {Line::kD0, 10'000'000}}));
}

TEST(ReplayAnchor, NeverGoesBackwardsPastThePreviousBurst) {
  std::vector<ReplayStep> steps = {{Line::kD0, 500}, {Line::kD1, 2000}};
  // Placed back from receipt the burst would start at 8 ms, before the previous edge (9 ms).
  std::vector<Edge> e = AnchorReplay(steps, 10'000'000, 9'000'000);
  EXPECT_EQ(e, (std::vector<Edge>{{Line::kD0, 9'500'000}, {Line::kD1, 11'500'000}}));
}

TEST(ReplayFormat, FormatRoundTrips) {
  std::vector<Edge> edges = {{Line::kD1, 0}, {Line::kD0, 2'000'000}, {Line::kD0, 3'500'000}};
  std::string text = FormatReplayDatagram(edges, 7);
  EXPECT_EQ(text, "1 7\n0 2000\n0 1500\n");
  EXPECT_EQ(AnchorReplay(*ParseReplayDatagram(text), 3'500'000, kNone), edges);
}

class ReplaySourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/lintel-replay-test-" + std::to_string(::getpid()) + ".sock";
    auto loop = EventLoop::Create(clock_);
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
  }
  void Send(std::string_view text) {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(
        ::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
        static_cast<ssize_t>(text.size()))
        << std::strerror(errno);
    ::close(fd);
  }
  void Pump() {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(5)).ok());
  }

  SystemClock clock_;
  std::unique_ptr<EventLoop> loop_;
  std::string path_;
};

TEST_F(ReplaySourceTest, DeliversAnchoredEdgesFromARealSocket) {
  std::vector<std::vector<Edge>> got;
  std::vector<Status> errors;
  auto src = ReplayEdgeSource::Open(
      *loop_, clock_, {path_, 0660},
      [&](std::span<const Edge> e) { got.emplace_back(e.begin(), e.end()); },
      [&](const Status& s) { errors.push_back(s); });
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  int64_t before =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.Monotonic().time_since_epoch())
          .count();
  Send("0 0\n1 2000\n1 2000\n");
  Pump();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), 3u);
  EXPECT_EQ(got[0][0].line, Line::kD0);
  EXPECT_EQ(got[0][1].t_ns - got[0][0].t_ns, 2'000'000);
  EXPECT_EQ(got[0][2].t_ns - got[0][1].t_ns, 2'000'000);
  EXPECT_GE(got[0][2].t_ns, before) << "anchored at receipt";
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ((*src)->counters().edges, 3u);
  EXPECT_EQ((*src)->counters().batches, 1u);
}

TEST_F(ReplaySourceTest, BadDatagramsAreCountedAndReportedNeverDelivered) {
  int delivered = 0;
  std::vector<Status> errors;
  auto src = ReplayEdgeSource::Open(
      *loop_, clock_, {path_, 0660}, [&](std::span<const Edge>) { ++delivered; },
      [&](const Status& s) { errors.push_back(s); });
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  Send("0 0\n\x01\xff garbage\n");
  Send(std::string(kMaxReplayDatagram + 100, '1'));
  Send("1 0\n");
  Pump();
  EXPECT_EQ(delivered, 1);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].message(),
            "replay datagram: line 2: expected \"0 <delta_us>\" or \"1 <delta_us>\"");
  EXPECT_NE(errors[1].message().find("longer than"), std::string::npos);
  EXPECT_EQ((*src)->counters().errors, 2u);
}

TEST_F(ReplaySourceTest, ReplacesAStaleSocketAndRefusesAnOrdinaryFile) {
  {
    // A socket file left behind by a crashed run (bound, closed, never unlinked).
    int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  auto again = ReplayEdgeSource::Open(*loop_, clock_, {path_, 0660}, nullptr, nullptr);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  again = Status::Internal("drop");  // destroys the source
  std::string file = path_ + ".file";
  FILE* f = std::fopen(file.c_str(), "w");
  std::fclose(f);
  auto bad = ReplayEdgeSource::Open(*loop_, clock_, {file, 0660}, nullptr, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kAlreadyExists);
  ::unlink(file.c_str());
}

}  // namespace
}  // namespace lintel::wiegand
