#include <gtest/gtest.h>

#include "rules/index.h"
#include "tests/unit/rules/fixture.h"

namespace lintel::rules {
namespace {

using testing::T;

std::shared_ptr<const Index> WithSchedule(Schedule s) {
  Records r;
  r.schedules.push_back(std::move(s));
  return BuildIndex(testing::MapleCourt(), r);
}

TEST(Schedule, AlwaysIsBuiltInAndOpen) {
  auto x = BuildIndex(testing::MapleCourt(), Records{});
  EXPECT_TRUE(x->ScheduleOpen(0, T("2026-11-23T00:00:00Z")));
  EXPECT_EQ(x->str(x->schedules()[0].id), "always");
}

TEST(Schedule, WindowIsHalfOpenInLocalTime) {
  auto x = WithSchedule(Schedule{"s", {Window{0x1f, 9 * 60, 17 * 60}}, {}});
  // Berlin is UTC+1 in November.
  EXPECT_FALSE(x->ScheduleOpen(1, T("2026-11-23T07:59:59Z")));
  EXPECT_TRUE(x->ScheduleOpen(1, T("2026-11-23T08:00:00Z")));
  EXPECT_TRUE(x->ScheduleOpen(1, T("2026-11-23T15:59:59Z")));
  EXPECT_FALSE(x->ScheduleOpen(1, T("2026-11-23T16:00:00Z")));
  EXPECT_FALSE(x->ScheduleOpen(1, T("2026-11-28T10:00:00Z"))) << "Saturday";
}

TEST(Schedule, MidnightBoundaryUsesTheLocalDay) {
  // Only Saturdays; 23:30Z Friday is 00:30 Saturday in Berlin.
  auto x = WithSchedule(Schedule{"s", {Window{1 << 5, 0, 1440}}, {}});
  EXPECT_TRUE(x->ScheduleOpen(1, T("2026-11-27T23:30:00Z")));
  EXPECT_FALSE(x->ScheduleOpen(1, T("2026-11-27T22:30:00Z")));
}

TEST(Schedule, ToMayBe2400) {
  auto x = WithSchedule(Schedule{"s", {Window{0x7f, 22 * 60, 1440}}, {}});
  EXPECT_TRUE(x->ScheduleOpen(1, T("2026-11-23T22:59:59Z")));   // 23:59:59 local
  EXPECT_FALSE(x->ScheduleOpen(1, T("2026-11-23T23:00:00Z")));  // 00:00 next day
}

TEST(Schedule, ExceptionReplacesTheDayInTheSiteZone) {
  Schedule s{"s", {Window{0x7f, 0, 1440}}, {}};
  s.exceptions.push_back({ParseDate("2026-12-25").value(), {}});
  auto x = WithSchedule(s);
  EXPECT_TRUE(x->ScheduleOpen(1, T("2026-12-24T22:59:00Z")));   // 23:59 on the 24th
  EXPECT_FALSE(x->ScheduleOpen(1, T("2026-12-24T23:00:00Z")));  // 00:00 on the 25th, Berlin
  EXPECT_TRUE(x->ScheduleOpen(1, T("2026-12-25T23:00:00Z")));
}

TEST(Schedule, HhMmParsing) {
  EXPECT_EQ(ParseHhMm("00:00"), 0);
  EXPECT_EQ(ParseHhMm("24:00"), 1440);
  EXPECT_EQ(ParseHhMm("09:30"), 570);
  EXPECT_FALSE(ParseHhMm("24:01"));
  EXPECT_FALSE(ParseHhMm("9:30"));
  EXPECT_FALSE(ParseHhMm("12:60"));
  EXPECT_EQ(FormatHhMm(570), "09:30");
}

}  // namespace
}  // namespace lintel::rules
