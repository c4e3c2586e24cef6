// GpioEdgeSource: this kernel (and CI) has no GPIO chip, so only the error path runs against
// libgpiod; the merge of the two lines' batches is a pure function tested here.
#include "drivers/wiegand/gpio_source.h"

#include <gtest/gtest.h>

#include <vector>

namespace lintel::wiegand {
namespace {

TEST(MergeEdges, InterleavesTheTwoLinesByTimestamp) {
  std::vector<Edge> d0 = {{Line::kD0, 100}, {Line::kD0, 300}, {Line::kD0, 600}};
  std::vector<Edge> d1 = {{Line::kD1, 200}, {Line::kD1, 400}, {Line::kD1, 500}};
  std::vector<Edge> want = {{Line::kD0, 100}, {Line::kD1, 200}, {Line::kD0, 300},
                            {Line::kD1, 400}, {Line::kD1, 500}, {Line::kD0, 600}};
  EXPECT_EQ(MergeEdges(d0, d1), want);
}

TEST(MergeEdges, HandlesEmptyBatchesAndTies) {
  std::vector<Edge> d0 = {{Line::kD0, 5}};
  std::vector<Edge> d1 = {{Line::kD1, 5}, {Line::kD1, 7}};
  EXPECT_EQ(MergeEdges(d0, {}), d0);
  EXPECT_EQ(MergeEdges({}, d1), d1);
  EXPECT_EQ(MergeEdges(d0, d1),
            (std::vector<Edge>{{Line::kD0, 5}, {Line::kD1, 5}, {Line::kD1, 7}}));
}

TEST(MergeEdges, FullKernelQueuesOfBothLinesStayOrdered) {
  // Two full 16-event batches (the v1 kernel queue), interleaved at 1 ms.
  std::vector<Edge> d0, d1;
  for (int i = 0; i < GpioEdgeSource::kBatch; ++i) {
    d0.push_back({Line::kD0, int64_t{2 * i} * 1'000'000});
    d1.push_back({Line::kD1, int64_t{2 * i + 1} * 1'000'000});
  }
  std::vector<Edge> m = MergeEdges(d0, d1);
  ASSERT_EQ(m.size(), 32u);
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(m[i].t_ns, int64_t(i) * 1'000'000);
    EXPECT_EQ(m[i].line, i % 2 ? Line::kD1 : Line::kD0);
  }
}

TEST(EventNs, CombinesSecondsAndNanoseconds) { EXPECT_EQ(EventNs(3, 250), 3'000'000'250); }

TEST(GpioEdgeSource, MissingChipIsAnIoErrorNamingTheChip) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  GpioEdgeConfig config;
  config.chip = "lintel-no-such-chip";
  auto src = GpioEdgeSource::Open(**loop, config, nullptr, nullptr);
  ASSERT_FALSE(src.ok());
  EXPECT_EQ(src.status().code(), StatusCode::kIoError);
  EXPECT_NE(src.status().message().find("gpio chip \"lintel-no-such-chip\": cannot open"),
            std::string::npos)
      << src.status().ToString();
  config.chip = "/dev/gpiochip0";
  src = GpioEdgeSource::Open(**loop, config, nullptr, nullptr);
  ASSERT_FALSE(src.ok()) << "this machine has no GPIO chip";
  EXPECT_NE(src.status().message().find("/dev/gpiochip0"), std::string::npos);
}

TEST(GpioEdgeSource, SameLineForD0AndD1IsInvalid) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  auto src = GpioEdgeSource::Open(**loop, {"gpiochip0", 4, 4, "lintel"}, nullptr, nullptr);
  ASSERT_FALSE(src.ok());
  EXPECT_EQ(src.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lintel::wiegand
