// The contract's sync rules, table-driven against the applied position.
#include "gateway/cloud/sync_rules.h"

#include <gtest/gtest.h>

namespace lintel::cloud {
namespace {

Head H(uint64_t e, uint64_t v) {
  Head h;
  h.epoch = e;
  h.version = v;
  return h;
}
Delta D(uint64_t e, uint64_t v) {
  Delta d;
  d.epoch = e;
  d.version = v;
  d.prev = v - 1;
  return d;
}
SnapshotPage Page(std::string id, uint64_t e, uint64_t v, uint64_t page, uint64_t pages,
                  std::string person) {
  SnapshotPage p;
  p.snapshot_id = std::move(id);
  p.epoch = e;
  p.version = v;
  p.page = page;
  p.pages = pages;
  rules::Person x;
  x.id = std::move(person);
  p.records.people.push_back(x);
  return p;
}

struct DeltaCase {
  Position applied;
  uint64_t epoch, version;
  DeltaVerdict::Action want;
};

class SyncDelta : public ::testing::TestWithParam<DeltaCase> {};

TEST_P(SyncDelta, AppliesOnlyOnPrevMatch) {
  const DeltaCase& c = GetParam();
  EXPECT_EQ(JudgeDelta(c.applied, D(c.epoch, c.version)).action, c.want)
      << JudgeDelta(c.applied, D(c.epoch, c.version)).reason;
}

using DA = DeltaVerdict::Action;
INSTANTIATE_TEST_SUITE_P(
    Rules, SyncDelta,
    ::testing::Values(DeltaCase{{3, 41}, 3, 42, DA::kApply},            // the next one
                      DeltaCase{{3, 41}, 3, 41, DA::kDuplicate},        // replayed
                      DeltaCase{{3, 41}, 3, 7, DA::kDuplicate},         // old
                      DeltaCase{{3, 41}, 2, 99, DA::kDuplicate},        // older epoch
                      DeltaCase{{3, 41}, 3, 44, DA::kGap},              // 42 and 43 missing
                      DeltaCase{{3, 41}, 4, 1, DA::kRequestSnapshot},   // new epoch
                      DeltaCase{{0, 0}, 1, 1, DA::kRequestSnapshot}));  // nothing applied yet

TEST(SyncHead, TellsWhatToRequest) {
  using A = HeadVerdict::Action;
  EXPECT_EQ(JudgeHead({3, 41}, H(3, 41)).action, A::kNothing);
  EXPECT_EQ(JudgeHead({3, 41}, H(3, 45)).action, A::kRequestDeltas);
  EXPECT_EQ(JudgeHead({3, 41}, H(4, 2)).action, A::kRequestSnapshot);
  EXPECT_EQ(JudgeHead({0, 0}, H(1, 9)).action, A::kRequestSnapshot);
  EXPECT_EQ(JudgeHead({3, 41}, H(3, 40)).action, A::kStale);
  EXPECT_EQ(JudgeHead({3, 41}, H(2, 500)).action, A::kStale);
}

TEST(SnapshotStager, CompletesWhenEveryPageIsInAndMergesInPageOrder) {
  SnapshotStager s;
  ASSERT_TRUE(s.Add({3, 41}, Page("snap-a", 4, 1, 2, 3, "p2")).ok());
  ASSERT_TRUE(s.Add({3, 41}, Page("snap-a", 4, 1, 3, 3, "p3")).ok());
  EXPECT_FALSE(s.complete());
  ASSERT_TRUE(s.Add({3, 41}, Page("snap-a", 4, 1, 3, 3, "p3")).ok())
      << "a repeated page is harmless";
  ASSERT_TRUE(s.Add({3, 41}, Page("snap-a", 4, 1, 1, 3, "p1")).ok());
  ASSERT_TRUE(s.complete());
  EXPECT_EQ(*s.position(), (Position{4, 1}));
  rules::Records r = s.TakeRecords();
  ASSERT_EQ(r.people.size(), 3u);
  EXPECT_EQ(r.people[0].id, "p1");
  EXPECT_EQ(r.people[2].id, "p3");
  EXPECT_FALSE(s.position().has_value()) << "taking clears the stage";
}

TEST(SnapshotStager, RefusesStaleAndContradictoryPages) {
  SnapshotStager s;
  EXPECT_EQ(s.Add({3, 41}, Page("old", 3, 41, 1, 1, "p")).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(s.Add({3, 41}, Page("b", 3, 50, 1, 2, "p1")).ok());
  EXPECT_EQ(s.Add({3, 41}, Page("b", 3, 51, 2, 2, "p2")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Add({3, 41}, Page("b", 3, 50, 2, 3, "p2")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Add({3, 41}, Page("older", 3, 45, 1, 1, "p")).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.Add({3, 41}, Page("b", 3, 50, 3, 2, "p")).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(s.complete());
}

TEST(SnapshotStager, ANewerSnapshotReplacesTheStagedOne) {
  SnapshotStager s;
  ASSERT_TRUE(s.Add({3, 41}, Page("b", 3, 50, 1, 2, "old")).ok());
  ASSERT_TRUE(s.Add({3, 41}, Page("c", 4, 1, 1, 1, "new")).ok());
  ASSERT_TRUE(s.complete()) << "the one-page newer snapshot is complete on its own";
  EXPECT_EQ(s.TakeRecords().people[0].id, "new");
}

}  // namespace
}  // namespace lintel::cloud
