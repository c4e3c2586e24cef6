// rules::ValidateDelta: incremental validation rejects exactly what whole-state validation
// rejects (issue 13, point 1), over random deltas on random valid states, plus the cases the
// random walk reaches rarely (list limits, a tolerated old problem, a group delete).
#include "rules/validate_delta.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

#include "rules/validate.h"
#include "tests/unit/rules/fixture.h"
#include "tests/unit/rules/random_state.h"

namespace lintel::rules {
namespace {

using testing::Card;
using testing::MakeGroup;
using testing::MakePerson;
using testing::MapleCourt;
using testing::Pin;
using testing::RandomState;
using testing::T;

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += e + "\n";
  return s;
}

TEST(ValidateDelta, RejectsExactlyWhatWholeStateValidationRejects) {
  const Site site = MapleCourt();
  int accepted = 0, rejected = 0;
  for (uint32_t seed = 1; seed <= 400; ++seed) {
    RandomState g(seed);
    const Records before = g.State(site);
    ASSERT_TRUE(Validate(site, before).empty()) << "seed " << seed;
    std::unique_ptr<StateReader> reader = ReadRecords(before);
    for (int d = 0; d < 25; ++d) {
      std::vector<Op> ops;
      for (int i = g.Pick(4); i >= 0; --i) ops.push_back(g.RandomOp());
      Records after = before;
      ApplyOpsTo(after, ops);
      const std::vector<std::string> whole = Validate(site, after, SIZE_MAX);
      std::optional<std::vector<std::string>> inc = ValidateDelta(site, *reader, ops, SIZE_MAX);
      ASSERT_TRUE(inc.has_value());
      ASSERT_EQ(inc->empty(), whole.empty()) << "seed " << seed << " delta " << d << "\nwhole:\n"
                                             << Join(whole) << "incremental:\n"
                                             << Join(*inc);
      for (const std::string& e : *inc) {
        // A card or PIN held twice is named by one pair of its holders; which pair depends on
        // the set sorted (and a holder whose own window is inverted can hide or show a pair), so
        // the whole state must report that key, or a problem of one of the two holders.
        const size_t held = e.find(" is already held by credential ");
        bool found = std::find(whole.begin(), whole.end(), e) != whole.end();
        if (!found && held != std::string::npos) {
          const std::string holder = e.substr(0, e.find(": ") + 2);  // "credential c4: "
          const std::string key = e.substr(holder.size(), held - holder.size());
          const size_t other_at = held + std::strlen(" is already held by credential ");
          const std::string other =
              "credential " + e.substr(other_at, e.find(' ', other_at) - other_at) + ": ";
          found = std::any_of(whole.begin(), whole.end(), [&](const std::string& w) {
            return w.find(key + " is already held by") != std::string::npos ||
                   w.rfind(holder, 0) == 0 || w.rfind(other, 0) == 0;
          });
        }
        EXPECT_TRUE(found) << "seed " << seed << ": not a problem of the whole state: " << e
                           << "\nwhole:\n"
                           << Join(whole);
      }
      (whole.empty() ? accepted : rejected)++;
    }
  }
  // Both outcomes are common, so the comparison above means something.
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(rejected, 1000);
}

TEST(ValidateDelta, FindsTheHolderOfADeletedPerson) {
  Records r;
  r.people = {MakePerson("p1"), MakePerson("p2")};
  r.people[1].primary = "p1";
  r.credentials = {Card("c1", "p1", 101, 7)};
  std::unique_ptr<StateReader> reader = ReadRecords(r);
  auto errors = ValidateDelta(MapleCourt(), *reader, {DeleteOp(RecordKind::kPerson, "p1")});
  ASSERT_TRUE(errors.has_value());
  EXPECT_EQ(Join(*errors),
            "person p2: primary \"p1\" does not exist\n"
            "credential c1: person \"p1\" does not exist\n");
}

TEST(ValidateDelta, CountsEveryLeaseNamingAMember) {
  Records r;
  r.people = {MakePerson("p1")};
  for (size_t i = 0; i < kMaxLeasesPerPerson; ++i) {
    Lease l;
    l.id = "l" + std::to_string(i);
    l.members = {"p1"};
    l.starts_at = T("2026-01-01T00:00:00Z");
    r.leases.push_back(l);
  }
  ASSERT_TRUE(Validate(MapleCourt(), r).empty());
  std::unique_ptr<StateReader> reader = ReadRecords(r);
  Lease one_more = r.leases[0];
  one_more.id = "l-new";
  auto errors = ValidateDelta(MapleCourt(), *reader, {PutOp(one_more)});
  ASSERT_TRUE(errors.has_value());
  EXPECT_EQ(Join(*errors), "person p1: has 257 leases naming them, at most 256 are allowed\n");
}

TEST(ValidateDelta, CardHeldInAnOverlappingWindowIsRefused) {
  Records r;
  r.people = {MakePerson("p1"), MakePerson("p2")};
  r.credentials = {Card("c1", "p1", 101, 7)};
  std::unique_ptr<StateReader> reader = ReadRecords(r);
  auto errors = ValidateDelta(MapleCourt(), *reader, {PutOp(Card("c2", "p2", 101, 7))});
  ASSERT_TRUE(errors.has_value());
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_NE((*errors)[0].find("is already held by credential"), std::string::npos) << (*errors)[0];
  // Revoking the first in the same delta frees the card.
  Credential revoked = r.credentials[0];
  revoked.status = CredentialStatus::kRevoked;
  errors = ValidateDelta(MapleCourt(), *reader, {PutOp(revoked), PutOp(Card("c2", "p2", 101, 7))});
  ASSERT_TRUE(errors.has_value());
  EXPECT_TRUE(errors->empty()) << Join(*errors);
}

TEST(ValidateDelta, AnOldProblemIsNotBlamedOnTheDelta) {
  // A 4-digit PIN stored before the YAML raised pin_min_length to 6.
  Records r;
  r.people = {MakePerson("p1")};
  r.credentials = {Pin("c1", "p1", "1234")};
  Site site = MapleCourt();
  site.policy.pin_min_length = 6;
  std::unique_ptr<StateReader> reader = ReadRecords(r);
  Person renamed = r.people[0];
  renamed.name = "New name";
  auto errors = ValidateDelta(site, *reader, {PutOp(renamed)});
  ASSERT_TRUE(errors.has_value());
  EXPECT_TRUE(errors->empty()) << Join(*errors);
  // A new PIN under the new rule is refused.
  errors = ValidateDelta(site, *reader, {PutOp(Pin("c2", "p1", "2345"))});
  ASSERT_TRUE(errors.has_value());
  EXPECT_EQ(Join(*errors), "credential c2: pin must have 6 to 8 digits, has 4\n");
}

TEST(ValidateDelta, AGroupDeleteAsksForWholeStateValidation) {
  Records r;
  r.groups = {MakeGroup("g", {"front"})};
  std::unique_ptr<StateReader> reader = ReadRecords(r);
  EXPECT_FALSE(ValidateDelta(MapleCourt(), *reader, {DeleteOp(RecordKind::kGroup, "g")}));
}

}  // namespace
}  // namespace lintel::rules
