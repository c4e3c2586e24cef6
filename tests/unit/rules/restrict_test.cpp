// rules::CredentialRestrictionsOf and rules::RestrictCredentials (issue 13, point 2): what a delta
// touching only existing cards and PINs takes away, put in force before its commit. The narrowed
// index never grants what the index it narrows denies, nor what the state after the delta
// denies; for a delta that only narrows, it decides as a rebuild of that state.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "rules/engine.h"
#include "rules/index.h"
#include "rules/validate.h"
#include "tests/unit/rules/fixture.h"
#include "tests/unit/rules/random_state.h"

namespace lintel::rules {
namespace {

using testing::Card;
using testing::MakeGroup;
using testing::MakePerson;
using testing::MapleCourt;
using testing::RandomState;
using testing::T;

// A random delta over the state's own credentials: deletes, puts with a stricter status or an
// earlier end, and (unless `narrow_only`) puts that lift a status and move the end later, or
// change the holder (which does not qualify).
std::vector<Op> CredentialDelta(RandomState& g, const Records& state, bool narrow_only) {
  std::vector<Op> ops;
  std::set<std::string> named;  // one op per credential: the last would be the one that counts
  for (int i = g.Pick(3); i >= 0 && !state.credentials.empty(); --i) {
    Credential c = state.credentials[g.Pick(static_cast<int>(state.credentials.size()))];
    if (!named.insert(c.id).second) continue;
    if (g.Coin(20)) {
      ops.push_back(DeleteOp(RecordKind::kCredential, c.id));
      continue;
    }
    const int change = g.Pick(narrow_only ? 2 : 4);
    if (change == 0) {
      const CredentialStatus was = c.status;
      c.status = g.Coin(50) ? CredentialStatus::kRevoked : CredentialStatus::kSuspended;
      if (c.status < was) c.status = was;
    } else if (change == 1) {
      Instant from = c.valid_from.value_or(T("2026-01-01T00:00:00Z"));
      Instant until = from + std::chrono::hours(24 * (1 + g.Pick(100)));
      if (!c.valid_until || until < *c.valid_until) c.valid_until = until;
    } else if (change == 2) {
      c.status = CredentialStatus::kActive;
      c.valid_until.reset();
    } else {
      c.person = g.PersonId();
    }
    ops.push_back(PutOp(c));
  }
  return ops;
}

bool Grants(const Index& x, const Request& req, const char* at) {
  return DecideWith(x, req, T(at), INT64_MIN, nullptr).granted;
}

TEST(RestrictCredentials, NeverGrantsWhatTheBaseOrTheNewStateDenies) {
  const Site site = MapleCourt();
  int narrowed = 0, compared = 0, exact = 0;
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    RandomState g(seed);
    const Records state = g.State(site);
    const std::shared_ptr<const Index> base = BuildIndex(site, state);
    for (int d = 0; d < 10; ++d) {
      const bool narrow_only = g.Coin(50);
      const std::vector<Op> ops = CredentialDelta(g, state, narrow_only);
      const std::string where = "seed " + std::to_string(seed) + " delta " + std::to_string(d);
      std::optional<std::vector<CredentialRestriction>> x = CredentialRestrictionsOf(*base, ops);
      // Only credentials of the base's state were named, but a base holds a credential only
      // when its holder resolved; the others make it "not for early enforcement".
      if (!x) continue;
      std::shared_ptr<const Index> narrowed_index = RestrictCredentials(*base, *x);
      ASSERT_EQ(narrowed_index == nullptr, x->empty()) << where;
      if (!narrowed_index) continue;
      ++narrowed;
      Records after = state;
      ApplyOpsTo(after, ops);
      const bool valid = Validate(site, after).empty();
      std::shared_ptr<const Index> final_index = valid ? BuildIndex(site, after) : nullptr;
      testing::ForEachProbe(*base, [&](const Request& req, const char* at) {
        const bool early = Grants(*narrowed_index, req, at);
        ++compared;
        if (early) {
          ASSERT_TRUE(Grants(*base, req, at))
              << where << " grants more than the base: " << req.door << " at " << at;
          if (final_index) {
            ASSERT_TRUE(Grants(*final_index, req, at))
                << where << " grants what the new state denies: " << req.door << " at " << at;
          }
        }
        if (narrow_only && final_index) {
          // Nothing but narrowing: in force early exactly as it will be after the commit.
          ASSERT_EQ(early, Grants(*final_index, req, at)) << where << " " << req.door << " " << at;
          ++exact;
        }
      });
    }
  }
  EXPECT_GT(narrowed, 500);
  EXPECT_GT(exact, 10000);
  EXPECT_GT(compared, 50000);
}

TEST(RestrictCredentials, OnlyCredentialOpsOnKnownCardsAndPinsQualify) {
  const Site site = MapleCourt();
  Records r;
  r.groups = {MakeGroup("g0", {"front"})};
  Person p = MakePerson("p1");
  p.groups = {"g0"};
  r.people = {p};
  r.credentials = {Card("c1", "p1", 101, 1), Card("c2", "p1", 101, 2)};
  std::shared_ptr<const Index> base = BuildIndex(site, r);

  Credential revoked = r.credentials[0];
  revoked.status = CredentialStatus::kRevoked;
  auto x = CredentialRestrictionsOf(*base, {PutOp(revoked)});
  ASSERT_TRUE(x);
  ASSERT_EQ(x->size(), 1u);
  EXPECT_EQ(x->front().status, CredentialStatus::kRevoked);

  // A new credential, a person, a different card number under the same id: not early.
  EXPECT_FALSE(CredentialRestrictionsOf(*base, {PutOp(Card("c9", "p1", 101, 9))}));
  EXPECT_FALSE(CredentialRestrictionsOf(*base, {PutOp(MakePerson("p2"))}));
  EXPECT_FALSE(
      CredentialRestrictionsOf(*base, {PutOp(revoked), DeleteOp(RecordKind::kPerson, "p1")}));
  Credential moved = revoked;  // to another holder: more than a restriction
  moved.person = "p2";
  EXPECT_FALSE(CredentialRestrictionsOf(*base, {PutOp(moved)}));
  Credential renumbered = r.credentials[0];
  renumbered.card.number = 5;
  EXPECT_FALSE(CredentialRestrictionsOf(*base, {PutOp(renumbered)}));
  // An extension narrows nothing: nothing to put in force early.
  Credential same = r.credentials[1];
  auto none = CredentialRestrictionsOf(*base, {PutOp(same)});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(RestrictCredentials(*base, *none), nullptr);

  // In force on the copy only; the base decides as before; a delete reads as an unknown card.
  auto narrowed = RestrictCredentials(*base, *x);
  ASSERT_TRUE(narrowed);
  Request c1{"front", "", testing::CardAt(101, 1)};
  EXPECT_TRUE(DecideWith(*base, c1, T("2026-03-01T10:00:00Z"), INT64_MIN, nullptr).granted);
  Decision d = DecideWith(*narrowed, c1, T("2026-03-01T10:00:00Z"), INT64_MIN, nullptr);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(d.reason, Reason::kCredentialRevoked);
  auto deleted = RestrictCredentials(
      *base, *CredentialRestrictionsOf(*base, {DeleteOp(RecordKind::kCredential, "c2")}));
  ASSERT_TRUE(deleted);
  Request c2{"front", "", testing::CardAt(101, 2)};
  EXPECT_EQ(DecideWith(*deleted, c2, T("2026-03-01T10:00:00Z"), INT64_MIN, nullptr).reason,
            Reason::kUnknownCredential);
  EXPECT_TRUE(DecideWith(*deleted, c1, T("2026-03-01T10:00:00Z"), INT64_MIN, nullptr).granted);
}

}  // namespace
}  // namespace lintel::rules
