// rules::ApplyOpsToIndex (issue 13, point 1): a delta applied to an index gives the index a
// rebuild of the new state gives (same records, same decisions), leaves the index it started
// from unchanged, and copies only what it touches.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <sstream>
#include <string>

#include "rules/engine.h"
#include "rules/index.h"
#include "rules/validate.h"
#include "tests/unit/rules/fixture.h"
#include "tests/rounds.h"
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

std::string KeyText(const CredentialKey& k) {
  return std::to_string(static_cast<int>(k.kind)) + "/" + std::to_string(k.format) + "/" +
         std::to_string(k.facility) + "/" + std::to_string(k.value) + "/" +
         std::to_string(k.length);
}

// What an index says about the records with the given ids, by id (row numbers and list order
// may differ between an edited and a rebuilt index; what they mean may not).
std::string Describe(const Index& x, const std::vector<std::string>& people,
                     const std::vector<std::string>& leases,
                     const std::vector<std::string>& credentials) {
  std::ostringstream o;
  auto ids = [&](const uint32_t* refs, uint16_t n, auto name, bool sort) {
    std::vector<std::string> v;
    for (uint16_t i = 0; i < n; ++i) v.push_back(name(refs[i]));
    if (sort) std::sort(v.begin(), v.end());
    std::string s;
    for (const auto& e : v) s += e + ",";
    return s;
  };
  auto group_id = [&](uint32_t g) { return std::string(x.str(x.groups()[g].id)); };
  auto person_id = [&](uint32_t p) { return std::string(x.str(x.people()[p].id)); };
  auto lease_id = [&](uint32_t l) { return std::string(x.str(x.leases()[l].id)); };
  o << "counts " << x.person_count() << " " << x.lease_count() << " " << x.credential_count()
    << "\n";
  for (const std::string& id : people) {
    uint32_t r = x.FindPerson(id);
    o << "person " << id << ": ";
    if (r == kNone) {
      o << "-\n";
      continue;
    }
    const PersonRec& p = x.people()[r];
    o << x.str(p.name) << " role " << static_cast<int>(p.role) << " status "
      << static_cast<int>(p.status) << " inherit " << p.inherit << " primary "
      << (p.primary == kNone ? "-" : person_id(p.primary)) << " groups "
      << ids(x.refs(p.groups), p.groups_count, group_id, false) << " leases "
      << ids(x.refs(p.leases), p.leases_count, lease_id, true) << "\n";
  }
  for (const std::string& id : leases) {
    uint32_t r = x.FindLease(id);
    o << "lease " << id << ": ";
    if (r == kNone) {
      o << "-\n";
      continue;
    }
    const LeaseRec& l = x.leases()[r];
    o << x.str(l.unit) << " " << l.starts_at << " " << l.ends_at << " " << l.paid_until
      << " groups " << ids(x.refs(l.groups), l.groups_count, group_id, false) << " members "
      << ids(x.refs(l.members), l.members_count, person_id, false) << "\n";
  }
  for (const std::string& id : credentials) {
    uint32_t r = x.FindCredentialById(id);
    o << "credential " << id << ": ";
    if (r == kNone) {
      o << "-\n";
      continue;
    }
    const CredentialRec& c = x.credentials()[r];
    o << KeyText(c.key) << " " << person_id(c.person) << " " << c.valid_from << " " << c.valid_until
      << " " << static_cast<int>(c.type) << " " << static_cast<int>(c.status);
    if (!c.key.empty()) {
      // The chain of its key: valid_from ascending; ids of equal valid_from in any order.
      std::vector<std::pair<int64_t, std::string>> chain;
      int64_t last = INT64_MIN;
      bool ordered = true;
      for (uint32_t k = x.FindCredentialByKey(c.key); k != kNone;
           k = x.credentials()[k].next_same_key) {
        const CredentialRec& e = x.credentials()[k];
        ordered &= e.valid_from >= last;
        last = e.valid_from;
        chain.emplace_back(e.valid_from, std::string(x.str(e.id)));
      }
      std::sort(chain.begin(), chain.end());
      o << " chain" << (ordered ? "" : " OUT OF ORDER");
      for (const auto& [from, cid] : chain) o << " " << cid;
    }
    o << "\n";
  }
  std::vector<std::string> groups;
  for (const GroupRec& g : x.groups()) {
    std::string s = "group " + std::string(x.str(g.id)) + " " + std::string(x.str(g.name)) + " ";
    for (uint16_t d : g.doors) s += x.doors()[d].id + ",";
    s += g.schedule == kNone ? "-" : std::string(x.str(x.schedules()[g.schedule].id));
    groups.push_back(s);
  }
  std::sort(groups.begin(), groups.end());
  for (const auto& g : groups) o << g << "\n";
  for (const DoorRec& d : x.doors()) {
    o << "door " << d.id << " " << static_cast<int>(d.mode) << " " << d.mode_until << "\n";
  }
  for (const ScheduleRec& s : x.schedules()) {
    o << "schedule " << x.str(s.id) << " " << s.windows.size() << " " << s.exceptions.size()
      << "\n";
  }
  return o.str();
}

std::vector<std::string> Ids(const char* prefix, int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
  return v;
}

// Every decision the two indexes can differ on: each card and PIN of the pools at each door, at
// times around the generator's dates.
void ExpectSameDecisions(const Index& edited, const Index& built, const std::string& where) {
  testing::ForEachProbe(built, [&](const Request& req, const char* at) {
    Decision a = DecideWith(edited, req, T(at), INT64_MIN, nullptr);
    Decision b = DecideWith(built, req, T(at), INT64_MIN, nullptr);
    ASSERT_EQ(a.granted, b.granted) << where << " door " << req.door << " at " << at;
    // Among several past, future or revoked credentials of one card, which one a denial
    // names follows row order (as it does between two rebuilds from differently ordered
    // rows); a grant names the one credential in force.
    uint32_t head = built.FindCredentialByKey(KeyOf(req.credential, nullptr));
    bool shared = head != kNone && built.credentials()[head].next_same_key != kNone;
    if (a.granted || !shared) {
      ASSERT_EQ(a.reason, b.reason) << where << " door " << req.door << " at " << at;
      ASSERT_EQ(a.credential, b.credential) << where << " door " << req.door << " at " << at;
    }
  });
}

TEST(IndexEdit, DecidesAsARebuildOverRandomDeltas) {
  const Site site = MapleCourt();
  const auto people = Ids("p", 16), leases = Ids("l", 9), creds = Ids("c", 21);
  int edited = 0, fell_back = 0;
  const auto seeds = static_cast<uint32_t>(TestRounds(300));
  for (uint32_t seed = 1; seed <= seeds; ++seed) {
    RandomState g(seed);
    Records state = g.State(site);
    std::shared_ptr<const Index> index = BuildIndex(site, state);
    for (int d = 0; d < 30; ++d) {
      std::vector<Op> ops;
      for (int i = g.Pick(5); i >= 0; --i) ops.push_back(g.RandomOp());
      Records after = state;
      ApplyOpsTo(after, ops);
      if (!Validate(site, after).empty()) continue;  // the worker rejects it: never applied
      const std::string where = "seed " + std::to_string(seed) + " delta " + std::to_string(d);
      const std::string base_before = Describe(*index, people, leases, creds);
      std::string why;
      std::shared_ptr<const Index> next = ApplyOpsToIndex(*index, ops, &why);
      std::shared_ptr<const Index> built = BuildIndex(site, after);
      if (!next) {
        // Only a delete of a schedule or group needs a rebuild at this size.
        ASSERT_NE(why.find("delete"), std::string::npos) << where << ": " << why;
        ++fell_back;
        index = built;
        state = std::move(after);
        continue;
      }
      ++edited;
      ASSERT_EQ(Describe(*next, people, leases, creds), Describe(*built, people, leases, creds))
          << where;
      ASSERT_EQ(Describe(*index, people, leases, creds), base_before)
          << where << ": the index edited from changed";
      ExpectSameDecisions(*next, *built, where);
      index = next;  // the next delta edits the edited index, as the worker does
      state = std::move(after);
    }
  }
  EXPECT_GT(edited, TestRounds(2000));
  EXPECT_GT(fell_back, 0);
}

// A state over many chunks: edits that move rows between chains and empty table slots across
// chunk boundaries, checked record by record against a rebuild, and the copy-on-write cost.
TEST(IndexEdit, LargeStateKeepsEveryRecordAndCopiesOnlyWhatItTouches) {
  const Site site = MapleCourt();
  Records state;
  state.groups = {MakeGroup("g0", {"front"}), MakeGroup("g1", {"garage"})};
  const int kPeople = 20000;
  for (int i = 0; i < kPeople; ++i) {
    Person p = MakePerson("p" + std::to_string(i));
    p.groups = {"g" + std::to_string(i % 2)};
    state.people.push_back(p);
  }
  for (int i = 0; i < 8000; ++i) {
    Lease l;
    l.id = "l" + std::to_string(i);
    l.unit = std::to_string(i);
    l.members = {"p" + std::to_string(i), "p" + std::to_string(i + 8000)};
    l.groups = {"g1"};
    l.starts_at = T("2026-01-01T00:00:00Z");
    state.leases.push_back(l);
  }
  for (int i = 0; i < 40000; ++i) {
    state.credentials.push_back(
        Card("c" + std::to_string(i), "p" + std::to_string(i % kPeople), 7, 1000 + i));
  }
  ASSERT_TRUE(Validate(site, state).empty());
  std::shared_ptr<const Index> index = BuildIndex(site, state);

  // One tenant: a person, a lease naming them and an existing person, two cards.
  Person tenant = MakePerson("new-tenant");
  Lease lease;
  lease.id = "new-lease";
  lease.unit = "9-1";
  lease.members = {"new-tenant", "p5"};
  lease.groups = {"g0"};
  lease.starts_at = T("2026-01-01T00:00:00Z");
  std::vector<Op> tenant_ops = {PutOp(tenant), PutOp(lease),
                                PutOp(Card("new-c1", "new-tenant", 7, 64000)),
                                PutOp(Pin("new-c2", "new-tenant", "4711"))};
  std::shared_ptr<const Index> next = ApplyOpsToIndex(*index, tenant_ops);
  ASSERT_TRUE(next);
  const size_t total = next->MemoryBytes();
  const size_t copied = total - next->SharedBytes(*index);
  EXPECT_LT(copied, size_t{2} << 20) << "of " << total << " bytes";
  EXPECT_GT(total, size_t{4} << 20);  // the state spans many chunks, so the bound means something
  Decision d = DecideWith(*next, {"front", "", testing::CardAt(7, 64000)},
                          T("2026-03-01T10:00:00Z"), INT64_MIN, nullptr);
  EXPECT_TRUE(d.granted) << ReasonName(d.reason);
  d = DecideWith(*index, {"front", "", testing::CardAt(7, 64000)}, T("2026-03-01T10:00:00Z"),
                 INT64_MIN, nullptr);
  EXPECT_FALSE(d.granted);
  ApplyOpsTo(state, tenant_ops);
  index = next;

  // Churn: deletes, key moves onto other cards' keys (chains), re-puts of deleted ids.
  std::mt19937 rng(7);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  for (int round = 0; round < 40; ++round) {
    std::vector<Op> ops;
    for (int i = 0; i < 200; ++i) {
      std::string id = "c" + std::to_string(pick(40000));
      if (pick(3) == 0) {
        ops.push_back(DeleteOp(RecordKind::kCredential, id));
      } else {
        Credential c = Card(id, "p" + std::to_string(pick(kPeople)), 7, 1000 + pick(60000));
        // Same card, disjoint windows: a chain of several credentials.
        c.valid_from = T("2026-01-01T00:00:00Z") + std::chrono::hours(24 * 30 * (round % 12));
        c.valid_until = *c.valid_from + std::chrono::hours(24 * 30);
        ops.push_back(PutOp(c));
      }
    }
    ApplyOpsTo(state, ops);
    std::string why;
    next = ApplyOpsToIndex(*index, ops, &why);
    ASSERT_TRUE(next) << why;
    index = next;
  }
  std::shared_ptr<const Index> built = BuildIndex(site, state);
  EXPECT_EQ(index->credential_count(), built->credential_count());
  std::vector<std::string> ids;
  for (const Credential& c : state.credentials) ids.push_back(c.id);
  for (int i = 0; i < 40000; i += 97) ids.push_back("c" + std::to_string(i));  // deleted ones too
  EXPECT_EQ(Describe(*index, {}, {}, ids), Describe(*built, {}, {}, ids));
  // Every card of the pool finds the same chain (an emptied table slot lost nothing).
  auto chain = [](const Index& x, uint64_t n) {
    std::vector<std::string> ids;
    for (uint32_t k = x.FindCredentialByKey(KeyOf(Card("x", "p", 7, n))); k != kNone;
         k = x.credentials()[k].next_same_key) {
      ids.emplace_back(x.str(x.credentials()[k].id));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  for (uint64_t n = 1000; n < 61000; ++n) ASSERT_EQ(chain(*index, n), chain(*built, n)) << n;
}

TEST(IndexEdit, DeletesAndReputsOfPeopleAndLeases) {
  const Site site = MapleCourt();
  Records r;
  r.groups = {MakeGroup("g0", {"front"})};
  r.people = {MakePerson("p1"), MakePerson("p2")};
  r.people[1].primary = "p1";
  r.people[1].inherit = true;
  r.people[1].role = Role::kFamily;
  Lease l;
  l.id = "l1";
  l.unit = "101";
  l.members = {"p1"};
  l.groups = {"g0"};
  l.starts_at = T("2026-01-01T00:00:00Z");
  r.leases = {l};
  r.credentials = {Card("c1", "p1", 1, 1), Card("c2", "p2", 1, 2)};
  std::shared_ptr<const Index> x = BuildIndex(site, r);
  const Presented family = testing::CardAt(1, 2);
  const Instant at = T("2026-02-01T10:00:00Z");
  EXPECT_TRUE(DecideWith(*x, {"front", "", family}, at, INT64_MIN, nullptr).granted);

  // Move-out: the lease ends by delete; the family member loses the inherited access.
  x = ApplyOpsToIndex(*x, {DeleteOp(RecordKind::kLease, "l1")});
  ASSERT_TRUE(x);
  EXPECT_FALSE(DecideWith(*x, {"front", "", family}, at, INT64_MIN, nullptr).granted);
  EXPECT_EQ(x->FindLease("l1"), kNone);
  EXPECT_EQ(x->people()[x->FindPerson("p1")].leases_count, 0);

  // Everyone leaves, then the ids come back with a new lease: the rows are taken again.
  x = ApplyOpsToIndex(
      *x, {DeleteOp(RecordKind::kCredential, "c2"), DeleteOp(RecordKind::kCredential, "c1"),
           DeleteOp(RecordKind::kPerson, "p2"), DeleteOp(RecordKind::kPerson, "p1")});
  ASSERT_TRUE(x);
  EXPECT_EQ(x->person_count(), 0u);
  EXPECT_EQ(x->credential_count(), 0u);
  EXPECT_EQ(x->FindCredentialById("c1"), kNone);
  l.members = {"p2", "p1"};
  x = ApplyOpsToIndex(
      *x, {PutOp(Card("c2", "p2", 1, 2)), PutOp(l), PutOp(MakePerson("p1")), PutOp(r.people[1])});
  ASSERT_TRUE(x);
  EXPECT_EQ(x->person_count(), 2u);
  EXPECT_TRUE(DecideWith(*x, {"front", "", family}, at, INT64_MIN, nullptr).granted);
  EXPECT_EQ(x->lease_count(), 1u);
}

TEST(IndexEdit, FallsBackToARebuildForAGroupDelete) {
  const Site site = MapleCourt();
  Records r;
  r.groups = {MakeGroup("g0", {"front"})};
  std::shared_ptr<const Index> x = BuildIndex(site, r);
  std::string why;
  EXPECT_FALSE(ApplyOpsToIndex(*x, {DeleteOp(RecordKind::kGroup, "g0")}, &why));
  EXPECT_NE(why.find("group delete"), std::string::npos) << why;
}

}  // namespace
}  // namespace lintel::rules
