#include "rules/validate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "tests/unit/rules/fixture.h"

namespace lintel::rules {
namespace {

using testing::Card;
using testing::MakeGroup;
using testing::MakePerson;
using testing::Pin;
using testing::T;

Records Base() {
  Records r;
  r.groups = {MakeGroup("g", {"front"})};
  r.people = {MakePerson("p1"), MakePerson("p2")};
  return r;
}

bool Has(const std::vector<std::string>& errors, const std::string& text) {
  return std::any_of(errors.begin(), errors.end(), [&](const std::string& e) { return e == text; });
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += e + "\n";
  return s;
}

struct PinCase {
  const char* pin;
  const char* error;  // nullptr = valid
};

void PrintTo(const PinCase& c, std::ostream* os) { *os << "pin of " << strlen(c.pin) << " chars"; }

class PinRules : public ::testing::TestWithParam<PinCase> {};

TEST_P(PinRules, ChecksLengthDigitsAndLeadingNine) {
  Records r = Base();
  r.credentials = {Pin("c-17", "p1", GetParam().pin)};
  auto errors = Validate(testing::MapleCourt(), r);
  if (GetParam().error == nullptr) {
    EXPECT_TRUE(errors.empty()) << Join(errors);
  } else {
    EXPECT_TRUE(Has(errors, GetParam().error)) << Join(errors);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Pins, PinRules,
    ::testing::Values(PinCase{"1234", nullptr}, PinCase{"12345678", nullptr},
                      PinCase{"0123", nullptr},
                      PinCase{"123", "credential c-17: pin must have 4 to 8 digits, has 3"},
                      PinCase{"123456789", "credential c-17: pin must have 4 to 8 digits, has 9"},
                      PinCase{"12a4", "credential c-17: pin must contain digits only"},
                      PinCase{"", "credential c-17: pin must contain digits only"},
                      PinCase{"9123", "credential c-17: pin must not start with 9"}));

TEST(Validate, PolicyCanAllowLeadingNineAndTwoDigitPins) {
  Site site = testing::MapleCourt();
  site.policy.pin_allow_leading_9 = true;
  site.policy.pin_min_length = 2;
  Records r = Base();
  r.credentials = {Pin("a", "p1", "91"), Pin("b", "p2", "12")};
  EXPECT_TRUE(Validate(site, r).empty());
}

TEST(Validate, CardUidMustBeOneToSixteenHexDigits) {
  Records r = Base();
  Credential c = Card("c-1", "p1", 0, 0);
  c.card.format = CardFormat::kUid;
  for (const char* bad : {"", "12345678901234567", "04G2"}) {
    c.card.uid = bad;
    r.credentials = {c};
    EXPECT_TRUE(
        Has(Validate(testing::MapleCourt(), r), "credential c-1: card uid must be 1-16 hex digits"))
        << bad;
  }
  c.card.uid = "0123456789ABCDEF";
  r.credentials = {c};
  EXPECT_TRUE(Validate(testing::MapleCourt(), r).empty());
}

TEST(Validate, CardFieldsMustFitTheFormat) {
  Records r = Base();
  r.credentials = {Card("c-1", "p1", 256, 1), Card("c-2", "p1", 1, 65536)};
  auto errors = Validate(testing::MapleCourt(), r);
  EXPECT_TRUE(Has(errors, "credential c-1: card facility must be below 256 for h10301"))
      << Join(errors);
  EXPECT_TRUE(Has(errors, "credential c-2: card number must be below 65536 for h10301"))
      << Join(errors);
}

TEST(Validate, RejectsOverlappingWindowsForOneCardOrPin) {
  Records r = Base();
  Credential a = Card("c-a", "p1", 1, 1);
  a.valid_until = T("2026-12-01T00:00:00Z");
  Credential b = Card("c-b", "p2", 1, 1);
  b.valid_from = T("2026-11-30T00:00:00Z");
  Credential pin_a = Pin("pin-a", "p1", "4321");
  Credential pin_b = Pin("pin-b", "p2", "4321");
  r.credentials = {a, b, pin_a, pin_b};
  auto errors = Validate(testing::MapleCourt(), r);
  EXPECT_TRUE(Has(errors,
                  "credential c-b: card h10301:1:1 is already held by credential c-a in an "
                  "overlapping validity window (one card or pin has one holder at a time)"))
      << Join(errors);
  EXPECT_TRUE(Has(errors,
                  "credential pin-b: pin is already held by credential pin-a in an overlapping "
                  "validity window (one card or pin has one holder at a time)"))
      << Join(errors);
  for (const auto& e : errors) EXPECT_EQ(e.find("4321"), std::string::npos) << "PIN leaked: " << e;
  // Back-to-back windows do not overlap; a revoked holder does not block a new one.
  r.credentials[1].valid_from = T("2026-12-01T00:00:00Z");
  r.credentials[2].status = CredentialStatus::kRevoked;
  EXPECT_TRUE(Validate(testing::MapleCourt(), r).empty())
      << Join(Validate(testing::MapleCourt(), r));
}

TEST(Validate, ReportsUnknownReferences) {
  Records r = Base();
  r.groups.push_back(MakeGroup("g2", {"cellar"}, "nights"));
  r.people[0].groups = {"nope"};
  r.people[1].primary = "ghost";
  r.leases = {Lease{"l1", "101", {"p9"}, {"g"}, T("2026-01-01T00:00:00Z"), {}, {}, {}}};
  r.credentials = {Card("c-1", "p7", 1, 2)};
  r.door_modes = {DoorMode{"attic", DoorModeKind::kUnlocked, {}}};
  auto errors = Validate(testing::MapleCourt(), r);
  for (const char* want :
       {"group g2: door \"cellar\" is not a door of this site",
        "group g2: schedule \"nights\" does not exist", "person p1: group \"nope\" does not exist",
        "person p2: primary \"ghost\" does not exist", "lease l1: member \"p9\" does not exist",
        "credential c-1: person \"p7\" does not exist",
        "door_mode attic: not a door of this site"}) {
    EXPECT_TRUE(Has(errors, want)) << want << "\n" << Join(errors);
  }
}

TEST(Validate, ReportsDuplicatesCyclesAndBadWindows) {
  Records r = Base();
  r.people.push_back(MakePerson("p1"));
  r.people[0].primary = "p2";
  r.people[1].primary = "p1";
  r.schedules = {Schedule{"s", {Window{0x01, 600, 600}}, {}}, Schedule{"always", {}, {}}};
  r.leases = {
      Lease{"l1", "1", {"p1"}, {}, T("2026-02-01T00:00:00Z"), T("2026-01-01T00:00:00Z"), {}, 400}};
  auto errors = Validate(testing::MapleCourt(), r);
  for (const char* want :
       {"person p1: duplicate id", "person p1: primary chain loops back to this person",
        "schedule s: a window 10:00-10:00 must have from before to (to may be 24:00)",
        "schedule always: the id \"always\" is built in",
        "lease l1: ends_at must be after starts_at",
        "lease l1: grace_days must be between 0 and 365"}) {
    EXPECT_TRUE(Has(errors, want)) << want << "\n" << Join(errors);
  }
}

// Issue 10 point 14: list lengths have explicit limits (the index keeps per-person and per-lease
// counts in 16 bits); a state beyond them is refused with the count and the limit.
TEST(Validate, ListsLongerThanTheLimitsAreRefusedWithTheCountAndTheLimit) {
  Records r = Base();
  auto ids = [](const char* prefix, size_t n) {
    std::vector<std::string> v;
    for (size_t i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
    return v;
  };
  for (const std::string& g : ids("g-", kMaxGroupsPerPerson + 1)) {
    r.groups.push_back(MakeGroup(g, {"front"}));
  }
  r.people[0].groups = ids("g-", kMaxGroupsPerPerson + 1);  // one over
  r.people[1].groups = ids("g-", kMaxGroupsPerPerson);      // exactly at the limit: fine
  for (size_t i = 0; i < kMaxLeasesPerPerson + 1; ++i) {
    r.leases.push_back(
        Lease{"l-" + std::to_string(i), "1", {"p2"}, {}, T("2026-01-01T00:00:00Z"), {}, {}, {}});
  }
  r.leases.push_back(Lease{
      "big", "2", {}, ids("g-", kMaxGroupsPerLease + 1), T("2026-01-01T00:00:00Z"), {}, {}, {}});
  for (size_t i = 0; i < kMaxMembersPerLease + 1; ++i) {
    r.people.push_back(MakePerson("m-" + std::to_string(i)));
    r.leases.back().members.push_back("m-" + std::to_string(i));
  }
  Group wide = MakeGroup("wide", {});
  wide.doors.assign(kMaxDoorsPerGroup + 1, "front");
  r.groups.push_back(wide);
  Schedule busy{"busy", std::vector<Window>(kMaxWindowsPerDay + 1, Window{0x7f, 0, 60}), {}};
  for (size_t i = 0; i < kMaxExceptionsPerSchedule + 1; ++i) {
    busy.exceptions.push_back({static_cast<int32_t>(20000 + i), {}});
  }
  busy.exceptions[0].windows.assign(kMaxWindowsPerDay + 1, Window{0x7f, 0, 60});
  r.schedules.push_back(busy);

  auto errors = Validate(testing::MapleCourt(), r, SIZE_MAX);
  for (const char* want : {
           "person p1: has 257 groups, at most 256 are allowed",
           "person p2: has 257 leases naming them, at most 256 are allowed",
           "lease big: has 257 groups, at most 256 are allowed",
           "lease big: has 257 members, at most 256 are allowed",
           "group wide: has 4097 doors, at most 4096 are allowed",
           "schedule busy: has 65 windows, at most 64 are allowed",
           "schedule busy: exception 2024-10-04 has 65 windows, at most 64 are allowed",
           "schedule busy: has 4097 exceptions, at most 4096 are allowed",
       }) {
    EXPECT_TRUE(Has(errors, want)) << want << "\n" << Join(errors);
  }
  EXPECT_EQ(errors.size(), 8u) << "nothing at the limit is refused:\n" << Join(errors);
}

// A stored state from before the limits never wraps a 16-bit count: the index keeps the first
// entries up to the limit and says so.
TEST(IndexBuilder, ListsBeyondTheLimitsAreCutToTheLimitWithAWarning) {
  Records r = Base();
  r.people[0].groups.assign(70000, "g");  // 70000 mod 65536 = 4464, the old wrap
  for (size_t i = 0; i < kMaxLeasesPerPerson + 5; ++i) {
    r.leases.push_back(
        Lease{"l-" + std::to_string(i), "1", {"p2"}, {"g"}, T("2026-01-01T00:00:00Z"), {}, {}, {}});
  }
  std::vector<std::string> warnings;
  auto index = BuildIndex(testing::MapleCourt(), r, &warnings);
  const PersonRec& p1 = index->people()[index->FindPerson("p1")];
  const PersonRec& p2 = index->people()[index->FindPerson("p2")];
  EXPECT_EQ(p1.groups_count, kMaxGroupsPerPerson);
  EXPECT_EQ(p2.leases_count, kMaxLeasesPerPerson);
  EXPECT_TRUE(Has(warnings, "person p1: 70000 groups, only the first 256 are used"))
      << Join(warnings);
  EXPECT_TRUE(Has(warnings, "person p2: named by 261 leases, only the first 256 are used"))
      << Join(warnings);
}

TEST(Validate, DefaultGroupAndAlwaysScheduleAreBuiltIn) {
  Records r = Base();
  r.groups.push_back(MakeGroup("nightly", {"garage"}, "always"));
  r.people[0].groups = {"default"};
  EXPECT_TRUE(Validate(testing::MapleCourt(), r).empty());
}

TEST(Validate, StopsAtMaxErrors) {
  Records r = Base();
  for (int i = 0; i < 100; ++i) r.credentials.push_back(Pin("c" + std::to_string(i), "p1", "9"));
  EXPECT_EQ(Validate(testing::MapleCourt(), r, 10).size(), 10u);
}

}  // namespace
}  // namespace lintel::rules

namespace lintel::rules {
namespace {

TEST(Validate, BleKeyMustBeBase64OfThirtyTwoBytesForADoor) {
  Records r;
  r.people = {testing::MakePerson("p1")};
  Credential c;
  c.id = "k1";
  c.person = "p1";
  c.type = CredentialType::kBleKey;
  c.ble_key = {"unit-101", std::string(43, 'A') + "=", "phone"};  // 32 zero bytes
  r.credentials = {c};
  EXPECT_TRUE(Validate(testing::MapleCourt(), r).empty());
  r.credentials[0].ble_key.key = std::string(42, 'A') + "==";  // 31 bytes
  EXPECT_EQ(Validate(testing::MapleCourt(), r),
            std::vector<std::string>{"credential k1: ble_key key must be base64 of 32 bytes"});
  r.credentials[0].ble_key = {"attic", std::string(43, 'A') + "=", "phone"};
  EXPECT_EQ(
      Validate(testing::MapleCourt(), r),
      std::vector<std::string>{"credential k1: ble_key lock \"attic\" is not a door of this site"});
}

}  // namespace
}  // namespace lintel::rules

namespace lintel::rules {
namespace {

// Issue 13, point 5: a snapshot is validated page by page as it arrives (StateValidator), with
// the verdict and sentences of Validate over the whole state.
TEST(StateValidator, FedRecordByRecordItFindsWhatValidateFinds) {
  Records r = Base();
  r.people.push_back(MakePerson("p3"));
  r.people.back().primary = "p4";  // p4 -> p3 -> p4: a loop, named only after every person
  r.people.push_back(MakePerson("p4"));
  r.people.back().primary = "p3";
  r.credentials = {Card("c1", "p1", 1, 7), Card("c2", "nobody", 1, 8), Pin("c3", "p1", "1234"),
                   Pin("c4", "p2", "1234")};  // one PIN, two holders: found by the replay
  const std::vector<std::string> whole = Validate(testing::MapleCourt(), r, SIZE_MAX);
  ASSERT_FALSE(whole.empty());

  const Site site = testing::MapleCourt();
  StateValidator v(site, SIZE_MAX);
  v.AddAll(r);
  ASSERT_TRUE(v.ordered());
  ASSERT_TRUE(v.NeedsReplay());
  // In the records' order (which holder of a shared PIN is named first follows that order).
  for (const Credential& c : r.credentials) v.Replay(c);
  std::vector<std::string> streamed = v.Finish();
  std::vector<std::string> sorted_whole = whole;
  std::sort(streamed.begin(), streamed.end());
  std::sort(sorted_whole.begin(), sorted_whole.end());
  EXPECT_EQ(Join(streamed), Join(sorted_whole));
  EXPECT_TRUE(Has(streamed, "person p3: primary chain loops back to this person"))
      << Join(streamed);
  EXPECT_TRUE(Has(streamed, "credential c2: person \"nobody\" does not exist")) << Join(streamed);
}

TEST(StateValidator, AKindAfterALaterOneMakesTheRunVoid) {
  Records r = Base();
  r.credentials = {Card("c1", "p1", 1, 7)};
  const Site site = testing::MapleCourt();
  StateValidator v(site, 20);
  v.Add(r.credentials[0]);
  v.Add(r.people[0]);  // a person after a credential: the caller validates from an ordered source
  EXPECT_FALSE(v.ordered());
}

TEST(StateValidator, WithUniqueIdsFromTheSourceItSkipsOnlyTheDuplicateLookups) {
  Records r = Base();
  r.credentials = {Card("c1", "p1", 1, 7), Card("c1", "p2", 1, 8)};
  const Site site = testing::MapleCourt();
  StateValidator v(site, 20, {.ids_unique = true});
  v.AddAll(r);
  EXPECT_TRUE(v.Finish().empty()) << "the source (a primary key) refuses the duplicate itself";
  EXPECT_TRUE(Has(Validate(testing::MapleCourt(), r), "credential c1: duplicate id"));
}

}  // namespace
}  // namespace lintel::rules
