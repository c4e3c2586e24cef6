// Table-driven engine tests: every denial reason, and each rental story of the issue.
#include "rules/engine.h"

#include <gtest/gtest.h>

#include "rules/ops.h"
#include "rules/validate.h"
#include "tests/unit/rules/fixture.h"

namespace lintel::rules {
namespace {

using testing::Card;
using testing::CardAt;
using testing::MakeGroup;
using testing::MakePerson;
using testing::Pin;
using testing::T;

// The building on 2026-11-23 (a Monday).
Records Building() {
  Records r;
  r.schedules.push_back(testing::WeekdaysNineToFive());
  r.groups = {MakeGroup("residents-101", {"unit-101", "bike-room"}),
              MakeGroup("residents-102", {"unit-102"}),
              MakeGroup("staff", {"roof", "front", "garage", "bike-room"}, "office")};

  Person alice = MakePerson("alice");
  Person bob = MakePerson("bob", Role::kFamily);
  bob.primary = "alice";
  bob.inherit = true;
  Person carol = MakePerson("carol", Role::kStaff);
  carol.groups = {"staff"};
  Person dave = MakePerson("dave", Role::kAlias);
  Person erin = MakePerson("erin");
  erin.status = PersonStatus::kSuspended;
  Person frank = MakePerson("frank");
  Person gina = MakePerson("gina");
  Person hugo = MakePerson("hugo", Role::kGuest);  // no lease, no groups
  r.people = {alice, bob, carol, dave, erin, frank, gina, hugo};

  Lease l101{"lease-101",
             "101",
             {"alice"},
             {"default", "residents-101"},
             T("2026-11-01T00:00:00Z"),
             T("2027-10-31T22:00:00Z"),
             T("2026-11-30T23:00:00Z"),
             {}};
  Lease frank_lease{"lease-102",
                    "102",
                    {"frank", "erin"},
                    {"default", "residents-102"},
                    T("2026-12-01T00:00:00Z"),
                    {},
                    {},
                    {}};
  Lease gina_lease{"lease-102-old",
                   "102",
                   {"gina"},
                   {"default", "residents-102"},
                   T("2025-11-01T00:00:00Z"),
                   T("2026-10-31T23:00:00Z"),
                   {},
                   {}};
  r.leases = {l101, frank_lease, gina_lease};

  Credential revoked = Card("c-revoked", "alice", 101, 800);
  revoked.status = CredentialStatus::kRevoked;
  Credential suspended = Card("c-suspended", "alice", 101, 801);
  suspended.status = CredentialStatus::kSuspended;
  Credential future = Card("c-future", "alice", 101, 802);
  future.valid_from = T("2027-01-01T00:00:00Z");
  Credential expired = Card("c-expired", "alice", 101, 803);
  expired.valid_until = T("2026-11-10T00:00:00Z");
  r.credentials = {Card("c-alice", "alice", 101, 251),
                   Pin("c-alice-pin", "alice", "1234"),
                   Card("c-bob", "bob", 101, 300),
                   Card("c-carol", "carol", 101, 400),
                   Card("c-erin", "erin", 101, 500),
                   Card("c-frank", "frank", 101, 600),
                   Card("c-gina", "gina", 101, 700),
                   Card("c-hugo", "hugo", 101, 900),
                   revoked,
                   suspended,
                   future,
                   expired};
  r.door_modes = {DoorMode{"roof", DoorModeKind::kLockedDown, {}}};
  return r;
}

struct Case {
  const char* name;
  const char* door;
  Presented credential;
  const char* at;
  Reason want;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class EngineTable : public ::testing::TestWithParam<Case> {};

TEST_P(EngineTable, DecidesWithTheContractReason) {
  const Case& c = GetParam();
  Site site = testing::MapleCourt();
  ASSERT_TRUE(Validate(site, Building()).empty());
  auto index = BuildIndex(site, Building());
  Engine engine(index);
  Trace trace;
  Decision d = engine.Decide({c.door, "", c.credential}, T(c.at), &trace);
  EXPECT_EQ(ReasonName(d.reason), ReasonName(c.want)) << c.name;
  EXPECT_EQ(d.granted, c.want == Reason::kGranted) << c.name;
  ASSERT_FALSE(trace.empty());
  EXPECT_EQ(trace.back().passed, d.granted) << "the last check decides";
}

const char* kMonNoon = "2026-11-23T11:00:00Z";  // 12:00 in Berlin

INSTANTIATE_TEST_SUITE_P(
    EveryReason, EngineTable,
    ::testing::Values(
        Case{"tenant at her unit", "unit-101", CardAt(101, 251), kMonNoon, Reason::kGranted},
        Case{"tenant at a common door via default", "front", CardAt(101, 251), kMonNoon,
             Reason::kGranted},
        Case{"tenant's PIN", "unit-101", PinPresented("1234"), kMonNoon, Reason::kGranted},
        Case{"unknown card", "front", CardAt(101, 999), kMonNoon, Reason::kUnknownCredential},
        Case{"unknown PIN", "front", PinPresented("5555"), kMonNoon, Reason::kUnknownCredential},
        Case{"revoked card", "front", CardAt(101, 800), kMonNoon, Reason::kCredentialRevoked},
        Case{"suspended card", "front", CardAt(101, 801), kMonNoon, Reason::kCredentialSuspended},
        Case{"card not yet valid", "front", CardAt(101, 802), kMonNoon,
             Reason::kCredentialNotYetValid},
        Case{"card expired", "front", CardAt(101, 803), kMonNoon, Reason::kCredentialExpired},
        Case{"suspended person", "unit-102", CardAt(101, 500), kMonNoon, Reason::kPersonSuspended},
        Case{"person with no lease or group", "front", CardAt(101, 900), kMonNoon,
             Reason::kNoActiveLease},
        Case{"lease not started", "unit-102", CardAt(101, 600), kMonNoon, Reason::kLeaseNotStarted},
        Case{"lease ended", "unit-102", CardAt(101, 700), kMonNoon, Reason::kLeaseEnded},
        Case{"rent overdue after grace", "unit-101", CardAt(101, 251), "2026-12-06T00:00:00Z",
             Reason::kRentOverdue},
        Case{"rent within grace", "unit-101", CardAt(101, 251), "2026-12-05T12:00:00Z",
             Reason::kGranted},
        Case{"tenant at another unit", "unit-102", CardAt(101, 251), kMonNoon,
             Reason::kNoAccessToDoor},
        Case{"staff outside office hours", "garage", CardAt(101, 400), "2026-11-23T18:00:00Z",
             Reason::kOutsideSchedule},
        Case{"staff in office hours", "garage", CardAt(101, 400), kMonNoon, Reason::kGranted},
        Case{"locked-down door", "roof", CardAt(101, 400), kMonNoon, Reason::kDoorLockedDown},
        Case{"PIN too long", "front", PinPresented("123456789"), kMonNoon, Reason::kBadFormat},
        Case{"UID not hex", "front", UidPresented("XYZ"), kMonNoon, Reason::kBadFormat},
        Case{"card field too wide", "front", CardAt(300, 1), kMonNoon, Reason::kBadFormat},
        Case{"unknown door", "cellar", CardAt(101, 251), kMonNoon, Reason::kUnknownDoor},
        Case{"family member inherits", "unit-101", CardAt(101, 300), kMonNoon, Reason::kGranted},
        Case{"family member loses access when rent overdue", "unit-101", CardAt(101, 300),
             "2026-12-07T00:00:00Z", Reason::kRentOverdue}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

Decision At(const Records& r, const char* door, Presented p, const char* at) {
  Engine engine(BuildIndex(testing::MapleCourt(), r));
  return engine.Decide({door, "", std::move(p)}, T(at));
}

Lease& FindLease(Records& r, const std::string& id) {
  for (Lease& l : r.leases) {
    if (l.id == id) return l;
  }
  throw std::runtime_error("no lease " + id);
}

TEST(RentalStory, AccessStartsAtMoveIn) {
  Records r = Building();
  EXPECT_EQ(At(r, "unit-102", CardAt(101, 600), "2026-11-30T23:59:59Z").reason,
            Reason::kLeaseNotStarted);
  Decision d = At(r, "unit-102", CardAt(101, 600), "2026-12-01T00:00:00Z");
  EXPECT_TRUE(d.granted);
  EXPECT_EQ(d.lease, "lease-102");
  EXPECT_EQ(d.group, "residents-102");
}

TEST(RentalStory, RenewalExtendsAccess) {
  Records r = Building();
  Lease& l = FindLease(r, "lease-101");
  l.paid_through = T("2028-01-01T00:00:00Z");
  EXPECT_EQ(At(r, "unit-101", CardAt(101, 251), "2027-11-01T00:00:00Z").reason,
            Reason::kLeaseEnded);
  l.ends_at = T("2028-10-31T22:00:00Z");  // the renewal delta
  EXPECT_TRUE(At(r, "unit-101", CardAt(101, 251), "2027-11-01T00:00:00Z").granted);
}

TEST(RentalStory, CheckOutEndsAccessExactlyAtEndsAt) {
  Records r = Building();
  Lease& l = FindLease(r, "lease-101");
  l.paid_through.reset();
  EXPECT_TRUE(At(r, "unit-101", CardAt(101, 251), "2027-10-31T21:59:59Z").granted);
  Decision d = At(r, "unit-101", CardAt(101, 251), "2027-10-31T22:00:00Z");
  EXPECT_EQ(d.reason, Reason::kLeaseEnded);
  EXPECT_EQ(d.lease, "lease-101");
  // The common door came only through the lease's default group: it ends too.
  EXPECT_EQ(At(r, "front", CardAt(101, 251), "2027-10-31T22:00:00Z").reason, Reason::kLeaseEnded);
}

TEST(RentalStory, OverdueThenPaymentRenewsAccess) {
  Records r = Building();
  const char* after_grace = "2026-12-06T00:00:00Z";  // paid through 11-30T23:00 + 5 days
  EXPECT_EQ(At(r, "unit-101", CardAt(101, 251), after_grace).reason, Reason::kRentOverdue);
  FindLease(r, "lease-101").paid_through = T("2026-12-31T23:00:00Z");  // the payment delta
  EXPECT_TRUE(At(r, "unit-101", CardAt(101, 251), after_grace).granted);
}

TEST(RentalStory, LeaseGraceDaysOverridePolicy) {
  Records r = Building();
  FindLease(r, "lease-101").grace_days = 0;
  EXPECT_EQ(At(r, "unit-101", CardAt(101, 251), "2026-12-01T00:00:00Z").reason,
            Reason::kRentOverdue);
}

TEST(RentalStory, FamilyInheritanceEndsWithThePrimarysLease) {
  Records r = Building();
  FindLease(r, "lease-101").paid_through.reset();
  Decision d = At(r, "unit-101", CardAt(101, 300), kMonNoon);
  EXPECT_TRUE(d.granted);
  EXPECT_EQ(d.via, "alice");
  EXPECT_EQ(d.lease, "lease-101");
  d = At(r, "unit-101", CardAt(101, 300), "2027-11-01T00:00:00Z");
  EXPECT_EQ(d.reason, Reason::kLeaseEnded);
  EXPECT_EQ(d.via, "alice");
}

TEST(RentalStory, FamilyWithoutInheritHasOnlyOwnGroups) {
  Records r = Building();
  r.people[1].inherit = false;
  r.people[1].groups = {"residents-102"};
  EXPECT_EQ(At(r, "unit-101", CardAt(101, 300), kMonNoon).reason, Reason::kNoAccessToDoor);
  EXPECT_TRUE(At(r, "unit-102", CardAt(101, 300), kMonNoon).granted);
}

TEST(RentalStory, FamilyLosesInheritedAccessWhenPrimaryIsSuspended) {
  Records r = Building();
  r.people[0].status = PersonStatus::kSuspended;
  Decision d = At(r, "unit-101", CardAt(101, 300), kMonNoon);
  EXPECT_EQ(d.reason, Reason::kPersonSuspended);
}

TEST(RentalStory, AliasGetsACardLaterWithoutReimport) {
  Records r = Building();
  Lease future{"lease-dave", "102", {"dave"}, {"default"}, T("2026-11-20T00:00:00Z"), {}, {}, {}};
  r.leases.push_back(future);
  ASSERT_TRUE(Validate(testing::MapleCourt(), r).empty()) << "an alias with no credential is valid";
  EXPECT_EQ(At(r, "front", CardAt(101, 42), kMonNoon).reason, Reason::kUnknownCredential);
  r.credentials.push_back(Card("c-dave", "dave", 101, 42));  // the credential delta
  Decision d = At(r, "front", CardAt(101, 42), kMonNoon);
  EXPECT_TRUE(d.granted);
  EXPECT_EQ(d.person, "dave");
}

TEST(RentalStory, HolidayExceptionClosesTheDay) {
  Records r = Building();
  r.schedules[0].exceptions.push_back({ParseDate("2026-12-24").value(), {}});
  r.schedules[0].exceptions.push_back(
      {ParseDate("2026-12-23").value(), {Window{0x7f, 9 * 60, 12 * 60}}});
  // Thursday 24 Dec, 10:00 Berlin: a holiday.
  EXPECT_EQ(At(r, "garage", CardAt(101, 400), "2026-12-24T09:00:00Z").reason,
            Reason::kOutsideSchedule);
  // Wednesday 23 Dec: short day until 12:00 Berlin.
  EXPECT_TRUE(At(r, "garage", CardAt(101, 400), "2026-12-23T10:30:00Z").granted);
  EXPECT_EQ(At(r, "garage", CardAt(101, 400), "2026-12-23T11:30:00Z").reason,
            Reason::kOutsideSchedule);
  // Tuesday 22 Dec: normal day.
  EXPECT_TRUE(At(r, "garage", CardAt(101, 400), "2026-12-22T15:30:00Z").granted);
}

TEST(RentalStory, ScheduleFollowsLocalTimeOnDstChangeDays) {
  Records r = Building();
  r.schedules.push_back(Schedule{"early", {Window{0x7f, 1 * 60, 3 * 60 + 30}}, {}});
  r.groups.push_back(MakeGroup("early-birds", {"bike-room"}, "early"));
  r.people[2].groups.push_back("early-birds");
  // Spring forward, Sunday 2027-03-28: 02:00 CET -> 03:00 CEST (01:00Z).
  // 00:30Z = 01:30 CET (open); 01:15Z = 03:15 CEST (open); 01:45Z = 03:45 CEST (closed).
  EXPECT_TRUE(At(r, "bike-room", CardAt(101, 400), "2027-03-28T00:30:00Z").granted);
  EXPECT_TRUE(At(r, "bike-room", CardAt(101, 400), "2027-03-28T01:15:00Z").granted);
  EXPECT_EQ(At(r, "bike-room", CardAt(101, 400), "2027-03-28T01:45:00Z").reason,
            Reason::kOutsideSchedule);
  // Fall back, Sunday 2026-10-25: 03:00 CEST -> 02:00 CET (01:00Z). Local 02:xx happens twice.
  EXPECT_TRUE(At(r, "bike-room", CardAt(101, 400), "2026-10-25T00:30:00Z").granted);  // 02:30 CEST
  EXPECT_TRUE(At(r, "bike-room", CardAt(101, 400), "2026-10-25T01:30:00Z").granted);  // 02:30 CET
  EXPECT_TRUE(At(r, "bike-room", CardAt(101, 400), "2026-10-25T02:15:00Z").granted);  // 03:15 CET
  EXPECT_EQ(At(r, "bike-room", CardAt(101, 400), "2026-10-25T02:45:00Z").reason,
            Reason::kOutsideSchedule);  // 03:45 CET
}

TEST(RentalStory, ClockJumpingBackCannotReviveAnEndedLease) {
  Records r = Building();
  Engine engine(BuildIndex(testing::MapleCourt(), r));
  engine.RaiseTimeFloor(T("2026-12-10T00:00:00Z"));  // last-known-good from the store: overdue
  Decision d = engine.Decide({"unit-101", "", CardAt(101, 251)}, T("1970-01-01T00:00:10Z"));
  EXPECT_EQ(d.reason, Reason::kRentOverdue);
  EXPECT_TRUE(d.clock_went_back);
  EXPECT_EQ(d.at, T("2026-12-10T00:00:00Z"));
  // A wall clock ahead of the floor moves it; going back again stays at the new floor.
  engine.Decide({"front", "", CardAt(101, 251)}, T("2026-12-11T00:00:00Z"));
  EXPECT_EQ(engine.time_floor(), T("2026-12-11T00:00:00Z"));
  d = engine.Decide({"unit-101", "", CardAt(101, 803)}, T("2026-11-01T00:00:00Z"));
  EXPECT_EQ(d.reason, Reason::kCredentialExpired) << "expired card stays expired";
}

TEST(KeypadLockout, LocksThatReaderAfterFailuresAndCardsStillWork) {
  Engine engine(BuildIndex(testing::MapleCourt(), Building()));
  Instant t = T(kMonNoon);
  Request bad{"front", "front-keypad", PinPresented("0000")};
  EXPECT_FALSE(engine.Decide(bad, t).lockout_started);
  EXPECT_FALSE(engine.Decide(bad, t + std::chrono::seconds(10)).lockout_started);
  EXPECT_TRUE(engine.Decide(bad, t + std::chrono::seconds(20)).lockout_started);
  Request good{"front", "front-keypad", PinPresented("1234")};
  EXPECT_EQ(engine.Decide(good, t + std::chrono::seconds(21)).reason, Reason::kKeypadLockedOut);
  // Another reader is not locked; cards at the locked reader still work.
  EXPECT_TRUE(engine
                  .Decide({"unit-101", "unit-101-keypad", PinPresented("1234")},
                          t + std::chrono::seconds(22))
                  .granted);
  EXPECT_TRUE(
      engine.Decide({"front", "front-keypad", CardAt(101, 251)}, t + std::chrono::seconds(23))
          .granted);
  // After lockout_s (300 s) the keypad works again.
  EXPECT_TRUE(engine.Decide(good, t + std::chrono::seconds(20 + 300)).granted);
}

TEST(KeypadLockout, FailuresOutsideTheWindowDoNotAccumulate) {
  Engine engine(BuildIndex(testing::MapleCourt(), Building()));
  Instant t = T(kMonNoon);
  Request bad{"front", "front-keypad", PinPresented("0000")};
  for (int i = 0; i < 6; ++i) {
    EXPECT_FALSE(engine.Decide(bad, t + std::chrono::seconds(61 * i)).lockout_started) << i;
  }
}

TEST(KeypadLockout, AGrantedPinClearsTheCount) {
  Engine engine(BuildIndex(testing::MapleCourt(), Building()));
  Instant t = T(kMonNoon);
  Request bad{"front", "kp", PinPresented("0000")};
  engine.Decide(bad, t);
  engine.Decide(bad, t);
  EXPECT_TRUE(engine.Decide({"front", "kp", PinPresented("1234")}, t).granted);
  EXPECT_FALSE(engine.Decide(bad, t).lockout_started);
}

TEST(Engine, SameCardWithDisjointBookingsPicksTheCurrentOne) {
  Records r = Building();
  Credential first = Card("booking-1", "carol", 7, 77);
  first.valid_from = T("2026-11-20T00:00:00Z");
  first.valid_until = T("2026-11-22T00:00:00Z");
  Credential second = Card("booking-2", "alice", 7, 77);
  second.valid_from = T("2026-11-22T00:00:00Z");
  second.valid_until = T("2026-11-25T00:00:00Z");
  r.credentials.push_back(second);
  r.credentials.push_back(first);
  ASSERT_TRUE(Validate(testing::MapleCourt(), r).empty());
  EXPECT_EQ(At(r, "front", CardAt(7, 77), "2026-11-21T11:00:00Z").credential, "booking-1");
  EXPECT_EQ(At(r, "front", CardAt(7, 77), kMonNoon).credential, "booking-2");
  EXPECT_EQ(At(r, "front", CardAt(7, 77), "2026-11-19T00:00:00Z").reason,
            Reason::kCredentialNotYetValid);
  EXPECT_EQ(At(r, "front", CardAt(7, 77), "2026-11-26T00:00:00Z").reason,
            Reason::kCredentialExpired);
}

TEST(Engine, DoorModeUntilExpires) {
  Records r = Building();
  r.door_modes = {DoorMode{"front", DoorModeKind::kLockedDown, T("2026-11-23T12:00:00Z")}};
  EXPECT_EQ(At(r, "front", CardAt(101, 251), kMonNoon).reason, Reason::kDoorLockedDown);
  EXPECT_TRUE(At(r, "front", CardAt(101, 251), "2026-11-23T12:00:00Z").granted);
}

TEST(Engine, UidCardsMatchCaseInsensitivelyAndKeepLeadingZeros) {
  Records r = Building();
  Credential uid = Card("c-uid", "alice", 0, 0);
  uid.card.format = CardFormat::kUid;
  uid.card.uid = "04A2B3C4";
  r.credentials.push_back(uid);
  EXPECT_TRUE(At(r, "front", UidPresented("04a2b3c4"), kMonNoon).granted);
  EXPECT_EQ(At(r, "front", UidPresented("4A2B3C4"), kMonNoon).reason, Reason::kUnknownCredential);
}

TEST(Engine, ExplainListsChecksInOrder) {
  Engine engine(BuildIndex(testing::MapleCourt(), Building()));
  Trace trace;
  Decision d =
      engine.Evaluate({"unit-101", "", CardAt(101, 251)}, T("2026-12-06T00:00:00Z"), &trace);
  EXPECT_EQ(d.reason, Reason::kRentOverdue);
  std::vector<std::string> names;
  for (const Check& c : trace) names.push_back(c.name);
  std::vector<std::string> want = {"door",
                                   "format",
                                   "door_mode",
                                   "credential",
                                   "credential_status",
                                   "credential_validity",
                                   "person_status",
                                   "rent_overdue",
                                   "decision"};
  EXPECT_EQ(names, want);
  EXPECT_NE(trace.back().detail.find("lease-101"), std::string::npos);
}

TEST(Engine, ExplainNeverShowsPinDigits) {
  Engine engine(BuildIndex(testing::MapleCourt(), Building()));
  Trace trace;
  engine.Evaluate({"front", "", PinPresented("7391")}, T(kMonNoon), &trace);
  for (const Check& c : trace) EXPECT_EQ(c.detail.find("7391"), std::string::npos) << c.detail;
}

TEST(Engine, StaleReferencesAreDroppedNotFatal) {
  Records r = Building();
  Site site = testing::MapleCourt();
  site.doors.erase(site.doors.begin() + 2);  // the installer removed the bike room
  std::vector<std::string> warnings;
  Engine engine(BuildIndex(site, r, &warnings));
  EXPECT_FALSE(warnings.empty());
  EXPECT_TRUE(engine.Decide({"unit-101", "", CardAt(101, 251)}, T(kMonNoon)).granted);
}

}  // namespace
}  // namespace lintel::rules

namespace lintel::rules {
namespace {

TEST(OfflinePolicy, StaffOnlyDeniesEveryoneButStaffWithItsOwnReason) {
  Engine engine(BuildIndex(testing::MapleCourt(), Building()));
  engine.SetStaffOnly(true);
  Decision tenant = engine.Decide({"unit-101", "", CardAt(101, 251)}, T(kMonNoon));
  EXPECT_EQ(tenant.reason, Reason::kOfflineStaffOnly);
  EXPECT_EQ(ReasonName(tenant.reason), "offline_staff_only");
  EXPECT_TRUE(engine.Decide({"garage", "", CardAt(101, 400)}, T(kMonNoon)).granted);
  // Revocations still come first: the restriction never grants anything.
  EXPECT_EQ(engine.Decide({"front", "", CardAt(101, 999)}, T(kMonNoon)).reason,
            Reason::kUnknownCredential);
  engine.SetStaffOnly(false);
  EXPECT_TRUE(engine.Decide({"unit-101", "", CardAt(101, 251)}, T(kMonNoon)).granted);
}

TEST(ApplyOpsTo, PutsReplaceByIdDeletesRemoveAndOrderIsKept) {
  Records r = Building();
  size_t credentials = r.credentials.size();
  Credential changed = r.credentials[0];
  changed.status = CredentialStatus::kRevoked;
  Credential added = r.credentials[1];
  added.id = "c-new";
  std::string gone = r.credentials[2].id;
  ApplyOpsTo(r, {PutOp(changed), PutOp(added), DeleteOp(RecordKind::kCredential, gone),
                 DeleteOp(RecordKind::kCredential, "not-there"),
                 DeleteOp(RecordKind::kCredential, "c-new"), PutOp(added)});
  ASSERT_EQ(r.credentials.size(), credentials);  // +1 new, -1 deleted
  EXPECT_EQ(r.credentials[0].id, changed.id);
  EXPECT_EQ(r.credentials[0].status, CredentialStatus::kRevoked);
  EXPECT_EQ(r.credentials.back().id, "c-new");
  for (const Credential& c : r.credentials) EXPECT_NE(c.id, gone);
  DoorMode m;
  m.door = "front";
  m.mode = DoorModeKind::kLockedDown;
  ApplyOpsTo(r, {PutOp(m)});
  ASSERT_FALSE(r.door_modes.empty());
  EXPECT_EQ(r.door_modes.back().door, "front");
}

}  // namespace
}  // namespace lintel::rules

namespace lintel::rules {
namespace {

Credential FindCred(const Records& r, const std::string& id) {
  for (const Credential& c : r.credentials) {
    if (c.id == id) return c;
  }
  throw std::runtime_error("no credential " + id);
}

TEST(PatchCredentials, RevocationPatchesACopyAndLeavesTheOriginal) {
  Records r = Building();
  auto base = BuildIndex(testing::MapleCourt(), r);
  uint32_t row = base->FindCredentialByKey(KeyOf(CardAt(101, 251), nullptr));
  ASSERT_NE(row, kNone);
  Credential c = FindCred(r, std::string(base->str(base->credentials()[row].id)));
  c.status = CredentialStatus::kRevoked;
  auto patched = PatchCredentials(*base, {c});
  ASSERT_TRUE(patched);
  Engine before(base), after(patched);
  EXPECT_TRUE(before.Decide({"unit-101", "", CardAt(101, 251)}, T(kMonNoon)).granted);
  EXPECT_EQ(after.Decide({"unit-101", "", CardAt(101, 251)}, T(kMonNoon)).reason,
            Reason::kCredentialRevoked);
  // The same as a rebuild of the changed records.
  for (Credential& x : r.credentials) {
    if (x.id == c.id) x = c;
  }
  Engine rebuilt(BuildIndex(testing::MapleCourt(), r));
  EXPECT_EQ(rebuilt.Decide({"unit-101", "", CardAt(101, 251)}, T(kMonNoon)).reason,
            Reason::kCredentialRevoked);
}

TEST(PatchCredentials, RefusesWhatCouldBreakTheStateOrNeedsARebuild) {
  Records r = Building();
  auto base = BuildIndex(testing::MapleCourt(), r);
  uint32_t row = base->FindCredentialByKey(KeyOf(CardAt(101, 251), nullptr));
  const Credential c = FindCred(r, std::string(base->str(base->credentials()[row].id)));
  Credential x = c;
  x.id = "c-unknown";
  EXPECT_FALSE(PatchCredentials(*base, {x})) << "a new credential";
  x = c;
  x.card.number = 252;
  EXPECT_FALSE(PatchCredentials(*base, {x})) << "another card";
  x = c;
  x.person = "someone-else";
  EXPECT_FALSE(PatchCredentials(*base, {x})) << "another holder";
  x = c;
  x.valid_until = T("2099-01-01T00:00:00Z");
  if (!c.valid_until) x.valid_until.reset();
  x.valid_from = T("2020-01-01T00:00:00Z");
  EXPECT_FALSE(PatchCredentials(*base, {x})) << "another start";
  x = c;
  x.valid_until = T("2026-11-30T00:00:00Z");
  EXPECT_TRUE(PatchCredentials(*base, {x})) << "an earlier end";
  x.status = CredentialStatus::kRevoked;
  auto revoked = PatchCredentials(*base, {x});
  ASSERT_TRUE(revoked);
  x.status = CredentialStatus::kActive;
  EXPECT_FALSE(PatchCredentials(*revoked, {x})) << "a revoked card coming back may overlap";
}

}  // namespace
// Issue 10 point 2 follow-up: what may go into force from memory when the store cannot write it.
TEST(OnlyRestricts, RevocationsDeletesAndSmallerMembershipsOnly) {
  const Records r = Building();
  auto restricts = [&](std::vector<Op> ops) { return OnlyRestricts(r, ops); };
  Credential c = r.credentials[0];
  ASSERT_EQ(c.status, CredentialStatus::kActive);
  Credential revoked = c;
  revoked.status = CredentialStatus::kRevoked;
  Credential suspended = c;
  suspended.status = CredentialStatus::kSuspended;
  Credential shorter = c;
  shorter.valid_until = T(kMonNoon);
  EXPECT_TRUE(restricts({PutOp(revoked)}));
  EXPECT_TRUE(restricts({PutOp(suspended), PutOp(revoked)}));
  EXPECT_TRUE(restricts({PutOp(shorter)}));
  EXPECT_TRUE(restricts(
      {DeleteOp(RecordKind::kCredential, c.id), DeleteOp(RecordKind::kLease, "lease-101"),
       DeleteOp(RecordKind::kPerson, "hugo"), DeleteOp(RecordKind::kCredential, "not-there")}));
  Person carol = r.people[2];
  ASSERT_EQ(carol.id, "carol");
  Person fewer = carol;
  fewer.groups.clear();
  fewer.status = PersonStatus::kSuspended;
  EXPECT_TRUE(restricts({PutOp(fewer)}));
  Lease lease = r.leases[0];
  lease.members.pop_back();
  EXPECT_TRUE(restricts({PutOp(lease)}));

  // Anything that can grant.
  std::string why;
  Credential added = c;
  added.id = "c-new";
  EXPECT_FALSE(OnlyRestricts(r, {PutOp(revoked), PutOp(added)}, &why));
  EXPECT_NE(why.find("a new credential"), std::string::npos) << why;
  EXPECT_FALSE(restricts({PutOp(suspended), PutOp(c)})) << "suspended, then active again";
  Credential longer = shorter;
  longer.valid_until = T(kMonNoon) + std::chrono::hours(1);
  EXPECT_FALSE(restricts({PutOp(shorter), PutOp(longer)}));
  Credential other_card = c;
  other_card.card.number += 1;
  other_card.card.uid = "FFFF";
  EXPECT_FALSE(restricts({PutOp(other_card)}));
  Person more = carol;
  more.groups.push_back("residents-101");
  EXPECT_FALSE(restricts({PutOp(more)}));
  Person promoted = r.people[0];
  promoted.role = Role::kStaff;
  EXPECT_FALSE(restricts({PutOp(promoted)}));
  Person erin = r.people[4];
  ASSERT_EQ(erin.status, PersonStatus::kSuspended);
  erin.status = PersonStatus::kActive;
  EXPECT_FALSE(restricts({PutOp(erin)}));
  Records ending = r;
  ending.leases[0].ends_at = T(kMonNoon);
  Lease earlier = ending.leases[0];
  earlier.ends_at = T(kMonNoon) - std::chrono::hours(1);
  EXPECT_TRUE(OnlyRestricts(ending, {PutOp(earlier)}));
  Lease extended = ending.leases[0];
  extended.ends_at = std::nullopt;
  EXPECT_FALSE(OnlyRestricts(ending, {PutOp(extended)})) << "no end is later than any end";
  extended.ends_at = T(kMonNoon) + std::chrono::hours(1);
  EXPECT_FALSE(OnlyRestricts(ending, {PutOp(extended)}));
  EXPECT_FALSE(restricts({DeleteOp(RecordKind::kGroup, "staff")})) << "default comes back";
  DoorMode m;
  m.door = "front";
  m.mode = DoorModeKind::kLockedDown;
  EXPECT_FALSE(restricts({PutOp(m)}));
  EXPECT_FALSE(restricts({DeleteOp(RecordKind::kCredential, c.id), PutOp(c)})) << "re-added";
}

}  // namespace lintel::rules
