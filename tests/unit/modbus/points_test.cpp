// The pure half of the Modbus driver: points, read planning, point values, debouncing, exception
// names (drivers/modbus/points.h).
#include "drivers/modbus/points.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace lintel::modbus {
namespace {

Point Coil(uint16_t a, bool inv = false) { return {Table::kCoil, a, -1, inv}; }
Point Di(uint16_t a, bool inv = false) { return {Table::kDiscreteInput, a, -1, inv}; }
Point Hr(uint16_t a, int bit, bool inv = false) { return {Table::kHoldingRegister, a, bit, inv}; }
Point Ir(uint16_t a, int bit, bool inv = false) { return {Table::kInputRegister, a, bit, inv}; }

TEST(CheckPoint, BitTablesTakeNoBitNumber) {
  EXPECT_TRUE(CheckPoint(Coil(16)).ok());
  EXPECT_TRUE(CheckPoint(Di(0)).ok());
  Status st = CheckPoint({Table::kCoil, 16, 3, false});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("coil 16"), std::string::npos) << st.message();
  EXPECT_FALSE(CheckPoint({Table::kDiscreteInput, 1, 0, false}).ok());
}

TEST(CheckPoint, RegisterTablesNeedABitFrom0To15) {
  EXPECT_TRUE(CheckPoint(Hr(40, 0)).ok());
  EXPECT_TRUE(CheckPoint(Ir(3, 15)).ok());
  EXPECT_FALSE(CheckPoint(Hr(40, -1)).ok()) << "bit missing";
  EXPECT_FALSE(CheckPoint(Hr(40, 16)).ok());
  Status st = CheckPoint(Ir(3, -1));
  EXPECT_NE(st.message().find("input_register 3"), std::string::npos) << st.message();
}

TEST(CheckPoint, OnlyCoilsAndHoldingRegisterBitsAreWritable) {
  EXPECT_TRUE(IsWritable(Coil(0)));
  EXPECT_TRUE(IsWritable(Hr(0, 1)));
  EXPECT_FALSE(IsWritable(Di(0)));
  EXPECT_FALSE(IsWritable(Ir(0, 1)));
}

TEST(PlanReads, CoalescesNearbyAddressesWithinTheGap) {
  std::vector<Point> pts{Coil(0), Coil(3), Coil(1), Coil(12)};
  // 3 -> 12 leaves 8 unused addresses (4..11): within max_gap 8, one block.
  EXPECT_EQ(PlanReads(pts, 8), (std::vector<ReadBlock>{{Table::kCoil, 0, 13}}));
  // With max_gap 7 it splits there.
  EXPECT_EQ(PlanReads(pts, 7),
            (std::vector<ReadBlock>{{Table::kCoil, 0, 4}, {Table::kCoil, 12, 1}}));
  // Gap 0: only adjacent addresses share a request.
  EXPECT_EQ(
      PlanReads(pts, 0),
      (std::vector<ReadBlock>{{Table::kCoil, 0, 2}, {Table::kCoil, 3, 1}, {Table::kCoil, 12, 1}}));
  EXPECT_EQ(PlanReads(pts, -5), PlanReads(pts, 0)) << "a negative gap counts as 0";
}

TEST(PlanReads, DuplicatesAndRegisterBitsShareOneAddress) {
  std::vector<Point> pts{Hr(40, 0), Hr(40, 7), Hr(40, 15, true), Hr(41, 2)};
  EXPECT_EQ(PlanReads(pts, 0), (std::vector<ReadBlock>{{Table::kHoldingRegister, 40, 2}}));
  EXPECT_TRUE(PlanReads({}, 8).empty());
}

TEST(PlanReads, MixedTablesComeInTableOrderNeverMerged) {
  std::vector<Point> pts{Ir(5, 0), Hr(5, 1), Di(5), Coil(5), Coil(6), Di(100)};
  EXPECT_EQ(PlanReads(pts, 8), (std::vector<ReadBlock>{{Table::kCoil, 5, 2},
                                                       {Table::kDiscreteInput, 5, 1},
                                                       {Table::kDiscreteInput, 100, 1},
                                                       {Table::kHoldingRegister, 5, 1},
                                                       {Table::kInputRegister, 5, 1}}));
}

TEST(PlanReads, NeverExceedsTheFunctionLimits) {
  // 2000 bits per FC01/02: coils 0..2000 (2001 addresses, no gaps) need two requests.
  std::vector<Point> bits;
  for (int a = 0; a <= 2000; ++a) bits.push_back(Coil(static_cast<uint16_t>(a)));
  EXPECT_EQ(PlanReads(bits, 8),
            (std::vector<ReadBlock>{{Table::kCoil, 0, 2000}, {Table::kCoil, 2000, 1}}));
  // 125 registers per FC03/04, even when the gap rule would merge.
  std::vector<Point> regs{Ir(0, 0), Ir(124, 0), Ir(125, 0)};
  EXPECT_EQ(PlanReads(regs, 1000), (std::vector<ReadBlock>{{Table::kInputRegister, 0, 125},
                                                           {Table::kInputRegister, 125, 1}}));
  // The top of the address space.
  std::vector<Point> top{Di(65535), Di(65530)};
  EXPECT_EQ(PlanReads(top, 8), (std::vector<ReadBlock>{{Table::kDiscreteInput, 65530, 6}}));
}

TEST(PlanReads, RandomPointSetsAreCoveredWithinLimitsAndGaps) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::vector<Point> pts;
    const int n = 1 + static_cast<int>(rng() % 60);
    const int spread = 1 + static_cast<int>(rng() % 5000);
    for (int i = 0; i < n; ++i) {
      const auto t = static_cast<Table>(rng() % 4);
      pts.push_back({t, static_cast<uint16_t>(rng() % spread), IsBitTable(t) ? -1 : 0, false});
    }
    const int gap = static_cast<int>(rng() % 20);
    std::vector<ReadBlock> plan = PlanReads(pts, gap);
    for (const ReadBlock& b : plan) {
      ASSERT_GE(b.count, 1);
      ASSERT_LE(b.count, MaxReadCount(b.table));
      ASSERT_LE(int{b.start} + b.count, 65536);
    }
    for (size_t i = 1; i < plan.size(); ++i) {
      if (plan[i].table == plan[i - 1].table) {
        // No overlap, and a split is forced by the gap or the limit.
        ASSERT_GT(plan[i].start, plan[i - 1].start + plan[i - 1].count - 1);
      }
    }
    for (const Point& p : pts) {
      int covering = 0;
      for (const ReadBlock& b : plan) {
        covering += b.table == p.table && p.address >= b.start && p.address < b.start + b.count;
      }
      ASSERT_EQ(covering, 1) << "address " << p.address;
    }
  }
}

TEST(PointValue, ReadsBitsAndAppliesInversion) {
  std::vector<ReadBlock> blocks{{Table::kCoil, 16, 4}, {Table::kDiscreteInput, 0, 3}};
  std::vector<BlockData> data(2);
  data[0].bits = {1, 0, 0, 1};
  data[1].bits = {0, 7, 0};  // any non-zero byte is a 1
  EXPECT_EQ(PointValue(Coil(16), blocks, data), true);
  EXPECT_EQ(PointValue(Coil(17), blocks, data), false);
  EXPECT_EQ(PointValue(Coil(19), blocks, data), true);
  EXPECT_EQ(PointValue(Coil(16, true), blocks, data), false) << "NC wiring";
  EXPECT_EQ(PointValue(Di(1), blocks, data), true);
  EXPECT_EQ(PointValue(Di(0, true), blocks, data), true);
  EXPECT_EQ(PointValue(Coil(20), blocks, data), std::nullopt) << "not covered";
  EXPECT_EQ(PointValue(Di(16), blocks, data), std::nullopt) << "other table";
}

TEST(PointValue, ReadsRegisterBits) {
  std::vector<ReadBlock> blocks{{Table::kHoldingRegister, 40, 2}, {Table::kInputRegister, 40, 1}};
  std::vector<BlockData> data(2);
  data[0].registers = {0x8001, 0x0004};
  data[1].registers = {0x0100};
  EXPECT_EQ(PointValue(Hr(40, 0), blocks, data), true);
  EXPECT_EQ(PointValue(Hr(40, 1), blocks, data), false);
  EXPECT_EQ(PointValue(Hr(40, 15), blocks, data), true);
  EXPECT_EQ(PointValue(Hr(41, 2), blocks, data), true);
  EXPECT_EQ(PointValue(Hr(41, 2, true), blocks, data), false);
  EXPECT_EQ(PointValue(Ir(40, 8), blocks, data), true);
  EXPECT_EQ(PointValue(Ir(40, 0), blocks, data), false);
  EXPECT_EQ(PointValue(Hr(40, -1), blocks, data), std::nullopt) << "no bit";
}

TEST(PointValue, MissingOrShortDataIsNoValue) {
  std::vector<ReadBlock> blocks{{Table::kCoil, 0, 4}};
  std::vector<BlockData> data(1);
  EXPECT_EQ(PointValue(Coil(0), blocks, data), std::nullopt) << "the read failed";
  data[0].bits = {1, 1};
  EXPECT_EQ(PointValue(Coil(0), blocks, data), std::nullopt) << "shorter than the block";
  data[0].bits = {1, 1, 1, 1};
  EXPECT_EQ(PointValue(Coil(0), blocks, std::span<const BlockData>()), std::nullopt);
  data[0].registers = {1};
  EXPECT_EQ(PointValue(Coil(0), blocks, data), true);
}

constexpr int64_t kMs = 1'000'000;

TEST(Debouncer, ReportsTheFirstSampleAtOnce) {
  Debouncer d(30 * kMs);
  EXPECT_EQ(d.value(), std::nullopt);
  EXPECT_EQ(d.Feed(true, 1000 * kMs), true);
  EXPECT_EQ(d.value(), true);
  EXPECT_EQ(d.Deadline(), std::nullopt);
  EXPECT_EQ(d.Feed(true, 1050 * kMs), std::nullopt) << "no change";
}

TEST(Debouncer, AChangeMustBeStableForTheDebounceTime) {
  Debouncer d(30 * kMs);
  (void)d.Feed(false, 0);
  EXPECT_EQ(d.Feed(true, 100 * kMs), std::nullopt);
  EXPECT_EQ(d.Deadline(), 130 * kMs);
  EXPECT_EQ(d.Feed(true, 129 * kMs), std::nullopt);
  EXPECT_EQ(d.Feed(true, 130 * kMs), true);
  EXPECT_EQ(d.value(), true);
  EXPECT_EQ(d.Deadline(), std::nullopt);
}

TEST(Debouncer, ChatterShorterThanTheDebounceIsNeverReported) {
  Debouncer d(30 * kMs);
  (void)d.Feed(false, 0);
  for (int t = 10; t < 500; t += 10) {
    EXPECT_EQ(d.Feed(t % 20 == 0, t * kMs), std::nullopt) << t;
  }
  EXPECT_EQ(d.value(), false);
  // A bounce back to the reported value cancels the pending change.
  EXPECT_EQ(d.Feed(true, 600 * kMs), std::nullopt);
  EXPECT_EQ(d.Feed(false, 620 * kMs), std::nullopt);
  EXPECT_EQ(d.Deadline(), std::nullopt);
  EXPECT_EQ(d.Feed(true, 640 * kMs), std::nullopt);
  EXPECT_EQ(d.Feed(true, 669 * kMs), std::nullopt) << "stable only since 640";
  EXPECT_EQ(d.Feed(true, 670 * kMs), true);
}

TEST(Debouncer, ZeroDebounceReportsEveryChange) {
  Debouncer d(0);
  EXPECT_EQ(d.Feed(false, 0), false);
  EXPECT_EQ(d.Feed(true, 1), true);
  EXPECT_EQ(d.Feed(false, 1), false);
}

TEST(Debouncer, ResetReportsTheNextSampleAtOnce) {
  Debouncer d(30 * kMs);
  (void)d.Feed(true, 0);
  d.Reset();
  EXPECT_EQ(d.Feed(true, 5 * kMs), true) << "reported again after a reconnect";
}

TEST(Debouncer, TimeGoingBackwardsRestartsTheCount) {
  Debouncer d(30 * kMs);
  (void)d.Feed(false, 100 * kMs);
  (void)d.Feed(true, 200 * kMs);
  EXPECT_EQ(d.Feed(true, 150 * kMs), std::nullopt);
  EXPECT_EQ(d.Deadline(), 180 * kMs);
  EXPECT_EQ(d.Feed(true, 180 * kMs), true);
}

TEST(ExceptionName, NamesTheStandardCodes) {
  EXPECT_EQ(ExceptionName(1), "illegal function");
  EXPECT_EQ(ExceptionName(2), "illegal data address");
  EXPECT_EQ(ExceptionName(3), "illegal data value");
  EXPECT_EQ(ExceptionName(4), "slave device failure");
  EXPECT_EQ(ExceptionName(6), "slave device busy");
  EXPECT_EQ(ExceptionName(0x0B), "gateway target failed to respond");
  EXPECT_EQ(ExceptionName(0x42), "unknown exception");
  Status st = ExceptionStatus(2, "read coil 100+8");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "modbus exception 2 (illegal data address): read coil 100+8");
  EXPECT_EQ(ExceptionStatus(6).message(), "modbus exception 6 (slave device busy)");
}

}  // namespace
}  // namespace lintel::modbus
