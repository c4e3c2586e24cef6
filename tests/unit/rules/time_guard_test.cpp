// TimeGuard (issue 10 point 3): a clock that jumps back never revives anything; a clock that jumps
// forward and is corrected never locks the building out; a floor persisted far in the future is
// replaced by trusted time. Readings are passed in: no clock, no sleeping.
#include "rules/time_guard.h"

#include <gtest/gtest.h>

#include "tests/unit/rules/fixture.h"

namespace lintel::rules {
namespace {

using testing::T;
constexpr int64_t kS = 1000;  // monotonic milliseconds per second

ClockReading Unsynced(const char* wall, int64_t mono_s) { return {T(wall), false, mono_s * kS}; }
ClockReading Synced(const char* wall, int64_t mono_s) { return {T(wall), true, mono_s * kS}; }

TEST(TimeGuard, WallClockBehindTheFloorDecidesAtTheFloor) {
  TimeGuard g;
  g.Restore(T("2026-12-10T00:00:00Z"), 0);
  DecisionTime t = g.Observe(Unsynced("1970-01-01T00:00:10Z", 5));
  EXPECT_EQ(t.at, T("2026-12-10T00:00:00Z"));
  EXPECT_TRUE(t.went_back);
  EXPECT_FALSE(t.also_at);
  // A synchronized clock a little behind (an NTP step back) is floored too.
  t = g.Observe(Synced("2026-12-09T00:00:00Z", 6));
  EXPECT_EQ(t.at, T("2026-12-10T00:00:00Z"));
  EXPECT_TRUE(t.went_back);
  EXPECT_EQ(g.floor(), T("2026-12-10T00:00:00Z"));
  EXPECT_FALSE(g.TakeFloorReset());
}

TEST(TimeGuard, UnsynchronizedForwardJumpIsSuspectNotStoredAndEndsWhenCorrected) {
  TimeGuard g;
  g.Restore(T("2026-06-01T10:00:00Z"), 0);
  EXPECT_EQ(g.Observe(Unsynced("2026-06-01T10:00:10Z", 10)).at, T("2026-06-01T10:00:10Z"));
  EXPECT_EQ(g.floor(), T("2026-06-01T10:00:10Z"));
  // Six seconds at 2099.
  DecisionTime t = g.Observe(Unsynced("2099-01-01T00:00:00Z", 16));
  EXPECT_TRUE(t.suspect);
  EXPECT_EQ(t.at, T("2026-06-01T10:00:16Z")) << "the estimate: last believed time + monotonic";
  ASSERT_TRUE(t.also_at) << "no trusted time this run: the wall time must agree with a grant";
  EXPECT_EQ(*t.also_at, T("2099-01-01T00:00:00Z"));
  EXPECT_EQ(g.floor(), T("2026-06-01T10:00:10Z")) << "a suspect clock never moves the floor";
  // Within max_ahead of the estimate is believed (a manual correction, a long power cut).
  t = g.Observe(Unsynced("2026-06-03T10:00:00Z", 22));
  EXPECT_FALSE(t.suspect);
  EXPECT_EQ(t.at, T("2026-06-03T10:00:00Z"));
  EXPECT_EQ(g.floor(), T("2026-06-03T10:00:00Z"));
  // Corrected back: the floor holds (rollback protection), nothing is locked out for long.
  t = g.Observe(Unsynced("2026-06-01T10:00:30Z", 30));
  EXPECT_TRUE(t.went_back);
  EXPECT_EQ(t.at, T("2026-06-03T10:00:00Z"));
}

TEST(TimeGuard, SuspectClockWithTrustedTimeDecidesAtTheEstimateOnly) {
  TimeGuard g;
  g.Restore(T("2026-06-01T10:00:00Z"), 0);
  g.ObserveSigned(T("2026-06-01T10:00:05Z"), T("2026-06-02T10:00:00Z"),
                  Unsynced("2026-06-01T10:00:05Z", 5));
  EXPECT_TRUE(g.trusted_this_run());
  DecisionTime t = g.Observe(Unsynced("2099-01-01T00:00:00Z", 65));
  EXPECT_TRUE(t.suspect);
  EXPECT_EQ(t.at, T("2026-06-01T10:01:05Z"));
  EXPECT_FALSE(t.also_at) << "the estimate is carried from a signed time on the monotonic clock";
}

TEST(TimeGuard, ReplayedOldSignedTimeIsNotFresh) {
  TimeGuard g;
  g.Restore(T("2026-06-01T10:00:00Z"), 0);
  g.ObserveSigned(T("2025-01-01T00:00:00Z"), T("2025-01-02T00:00:00Z"),
                  Unsynced("2026-06-01T10:00:00Z", 1));
  EXPECT_FALSE(g.trusted_this_run());
  EXPECT_EQ(g.floor(), T("2026-06-01T10:00:00Z"));
  EXPECT_FALSE(g.TakeFloorReset()) << "the wall is not inside the old head's window";
}

TEST(TimeGuard, SynchronizedClockForwardJumpIsBelieved) {
  TimeGuard g;
  g.Restore(T("2026-06-01T10:00:00Z"), 0);
  DecisionTime t = g.Observe(Synced("2099-01-01T00:00:00Z", 1));
  EXPECT_FALSE(t.suspect);
  EXPECT_EQ(g.floor(), T("2099-01-01T00:00:00Z"));
  // ... and when the synchronized clock comes back, the floor it left is replaced.
  t = g.Observe(Synced("2026-06-01T10:00:02Z", 2));
  EXPECT_FALSE(t.went_back);
  EXPECT_EQ(t.at, T("2026-06-01T10:00:02Z"));
  std::optional<FloorReset> reset = g.TakeFloorReset();
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->from, T("2099-01-01T00:00:00Z"));
  EXPECT_EQ(reset->to, T("2026-06-01T10:00:02Z"));
  EXPECT_EQ(reset->source, "synchronized clock");
  EXPECT_FALSE(g.TakeFloorReset()) << "reported once";
}

TEST(TimeGuard, FloorFarInTheFutureIsReplacedByASignedTimeTheWallClockAgreesWith) {
  TimeGuard g;
  g.Restore(T("2099-01-01T00:00:00Z"), 0);  // stored by an older version
  EXPECT_EQ(g.Observe(Unsynced("2026-11-23T12:00:00Z", 1)).at, T("2099-01-01T00:00:00Z"));
  g.ObserveSigned(T("2026-11-23T10:00:00Z"), T("2026-11-24T10:00:00Z"),
                  Unsynced("2026-11-23T12:00:00Z", 2));
  std::optional<FloorReset> reset = g.TakeFloorReset();
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->source, "signed cloud time");
  EXPECT_EQ(g.floor(), T("2026-11-23T10:00:00Z"));
  DecisionTime t = g.Observe(Unsynced("2026-11-23T12:00:01Z", 3));
  EXPECT_FALSE(t.went_back);
  EXPECT_FALSE(t.suspect);
  EXPECT_EQ(t.at, T("2026-11-23T12:00:01Z"));
}

TEST(TimeGuard, SignedTimeContradictingASynchronizedClockKeepsTheFloor) {
  TimeGuard g;
  g.Restore(T("2026-11-23T10:00:00Z"), 0);
  g.ObserveSigned(T("2026-11-23T10:00:00Z"), std::nullopt, Unsynced("2026-11-23T10:00:00Z", 0));
  // A synchronized clock (a lying NTP server) a year back: the cloud says otherwise.
  DecisionTime t = g.Observe(Synced("2025-11-23T10:00:00Z", 1));
  EXPECT_TRUE(t.went_back);
  EXPECT_EQ(t.at, T("2026-11-23T10:00:00Z"));
  EXPECT_FALSE(g.TakeFloorReset());
}

TEST(TimeGuard, FreshStoreBelievesTheFirstWallClock) {
  TimeGuard g;  // nothing stored yet, nothing to compare with
  DecisionTime t = g.Observe(Unsynced("2026-06-01T10:00:00Z", 0));
  EXPECT_FALSE(t.suspect);
  EXPECT_EQ(g.floor(), T("2026-06-01T10:00:00Z"));
}

// The engine with a suspect clock and no trusted time: grant only what both times grant.
TEST(TimeGuard, EngineGrantsOnlyWhatTheSuspectWallTimeAlsoGrants) {
  Records r;
  r.people = {testing::MakePerson("p1"), testing::MakePerson("p2")};
  r.leases = {Lease{"ends",
                    "1",
                    {"p1"},
                    {"default"},
                    T("2026-01-01T00:00:00Z"),
                    T("2026-12-01T00:00:00Z"),
                    {},
                    {}},
              Lease{"later", "2", {"p2"}, {"default"}, T("2027-01-01T00:00:00Z"), {}, {}, {}}};
  r.credentials = {testing::Card("c1", "p1", 1, 1), testing::Card("c2", "p2", 1, 2)};
  Engine engine(BuildIndex(testing::MapleCourt(), r));
  engine.time().Restore(T("2026-06-01T10:00:00Z"), 0);
  Request p1{"front", "", testing::CardAt(1, 1)};
  Request p2{"front", "", testing::CardAt(1, 2)};
  EXPECT_TRUE(engine.Decide(p1, Unsynced("2026-06-01T10:00:01Z", 1)).granted);
  Decision d = engine.Decide(p1, Unsynced("2099-01-01T00:00:00Z", 2));
  EXPECT_EQ(d.reason, Reason::kLeaseEnded) << "fail secure while the clock is suspect";
  EXPECT_TRUE(d.clock_suspect);
  d = engine.Decide(p2, Unsynced("2099-01-01T00:00:00Z", 3));
  EXPECT_EQ(d.reason, Reason::kLeaseNotStarted) << "a forward jump never opens early";
  d = engine.Decide(p1, Unsynced("2026-06-01T10:00:04Z", 4));
  EXPECT_TRUE(d.granted) << "corrected: access restored";
  EXPECT_FALSE(d.clock_suspect);
  EXPECT_EQ(engine.time_floor(), T("2026-06-01T10:00:04Z"));
}

}  // namespace
}  // namespace lintel::rules
