// Lock sync (issue 11 point 5): the entries a lock on door D should hold, table by table, the diff
// order, and a property: the lock never admits at an instant the engine refuses.
#include "rules/lock_sync.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "rules/engine.h"
#include "rules/validate.h"
#include "tests/unit/rules/fixture.h"

namespace lintel::rules {
namespace {

using testing::MakeGroup;
using testing::MakePerson;
using testing::Pin;
using testing::T;

constexpr const char* kDoor = "unit-101";
const char* kNow = "2026-11-23T10:00:00Z";  // Monday 11:00 in Berlin
// A base64 32-byte key.
constexpr const char* kKey = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

Credential BleKeyCred(std::string id, std::string person, std::string lock) {
  Credential c;
  c.id = std::move(id);
  c.person = std::move(person);
  c.type = CredentialType::kBleKey;
  c.ble_key = {std::move(lock), kKey, "Ada's phone"};
  return c;
}

// Ada rents unit 101 from 2026-11-01 until 2027-10-31 (22:00Z), rent paid through 2026-11-30
// 23:00Z, grace 5 days (MapleCourt's policy). Her PIN is valid for a Nuki.
Records Building() {
  Records r;
  r.schedules.push_back(testing::WeekdaysNineToFive());  // "office"
  r.groups = {MakeGroup("residents-101", {"unit-101", "bike-room"}),
              MakeGroup("residents-102", {"unit-102"}),
              MakeGroup("cleaners", {"unit-101", "unit-102"}, "office")};
  Person ada = MakePerson("ada");
  ada.name = "Ada Lovelace";
  r.people = {ada};
  r.leases = {Lease{"lease-101",
                    "101",
                    {"ada"},
                    {"default", "residents-101"},
                    T("2026-11-01T00:00:00Z"),
                    T("2027-10-31T22:00:00Z"),
                    T("2026-11-30T23:00:00Z"),
                    {}}};
  r.credentials = {Pin("c-ada", "ada", "345678")};
  return r;
}

Person& FindPerson(Records& r, const std::string& id) {
  for (Person& p : r.people) {
    if (p.id == id) return p;
  }
  throw std::runtime_error("no person " + id);
}

LockSync Desired(const Records& r, const char* now = kNow, const LockCodeRules& rules = {},
                 const char* door = kDoor) {
  Site site = testing::MapleCourt();
  auto index = BuildIndex(site, r);
  Result<LockSync> out = DesiredLockEntries(*index, door, T(now), rules);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? std::move(out).value() : LockSync{};
}

std::string Opt(const std::optional<Instant>& t) { return t ? FormatRfc3339(*t) : "-"; }
// "c-ada 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z" plus the schedule when limited.
std::string Show(const LockEntry& e) {
  std::string s = e.credential + " " + Opt(e.from) + ".." + Opt(e.until);
  if (e.weekdays != 0 || e.from_min != 0 || e.until_min != 0) {
    s += " days=" + std::to_string(e.weekdays) + " " + FormatHhMm(e.from_min) + "-" +
         FormatHhMm(e.until_min);
  }
  return s;
}
std::vector<std::string> Windows(const LockSync& s) {
  std::vector<std::string> out;
  for (const LockEntry& e : s.entries) out.push_back(Show(e));
  return out;
}
std::vector<std::string> Skipped(const LockSync& s) {
  std::vector<std::string> out;
  for (const SkippedEntry& e : s.skipped) {
    out.push_back(e.credential + " " + std::string(SkipWhyName(e.why)) + ": " + e.reason);
  }
  return out;
}
using V = std::vector<std::string>;

// ---- windows ----------------------------------------------------------------------------------

TEST(LockSync, RentPaidThroughPlusGraceEndsTheWindow) {
  LockSync s = Desired(Building());
  EXPECT_EQ(Windows(s), V{"c-ada 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z"});
  ASSERT_EQ(s.entries.size(), 1u);
  const LockEntry& e = s.entries[0];
  EXPECT_EQ(e.kind, LockEntry::Kind::kKeypadCode);
  EXPECT_EQ(e.code, 345678u);
  EXPECT_EQ(e.person, "ada");
  EXPECT_EQ(e.name, "Ada Lovelace");
  EXPECT_TRUE(s.skipped.empty());
  EXPECT_EQ(Opt(s.next_change), "2026-12-05T23:00:00Z");
}

TEST(LockSync, LeaseEndEndsTheWindowWhenRentIsNotTracked) {
  Records r = Building();
  r.leases[0].paid_through.reset();
  EXPECT_EQ(Windows(Desired(r)), V{"c-ada 2026-11-01T00:00:00Z..2027-10-31T22:00:00Z"});
}

TEST(LockSync, LeaseGraceDaysOverrideThePolicy) {
  Records r = Building();
  r.leases[0].grace_days = 0;
  EXPECT_EQ(Windows(Desired(r)), V{"c-ada 2026-11-01T00:00:00Z..2026-11-30T23:00:00Z"});
}

TEST(LockSync, APaymentExtendsTheWindowAndIsAWideningUpdate) {
  Records r = Building();
  LockSync before = Desired(r);
  r.leases[0].paid_through = T("2026-12-31T23:00:00Z");
  LockSync after = Desired(r);
  EXPECT_EQ(Windows(after), V{"c-ada 2026-11-01T00:00:00Z..2027-01-05T23:00:00Z"});
  std::vector<LockOp> ops = DiffLockEntries(after.entries, before.entries);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].kind, LockOp::Kind::kUpdate);
  EXPECT_FALSE(ops[0].restricts);
  EXPECT_EQ(ops[0].entry, after.entries[0]);
}

TEST(LockSync, ACheckOutShortensTheWindowAndIsARestrictingUpdate) {
  Records r = Building();
  r.leases[0].paid_through.reset();
  LockSync before = Desired(r);
  r.leases[0].ends_at = T("2026-11-28T10:00:00Z");
  LockSync after = Desired(r);
  EXPECT_EQ(Windows(after), V{"c-ada 2026-11-01T00:00:00Z..2026-11-28T10:00:00Z"});
  std::vector<LockOp> ops = DiffLockEntries(after.entries, before.entries);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].kind, LockOp::Kind::kUpdate);
  EXPECT_TRUE(ops[0].restricts);
}

TEST(LockSync, TheCredentialsOwnWindowNarrowsTheLeases) {
  Records r = Building();
  r.credentials[0].valid_from = T("2026-11-15T00:00:00Z");
  r.credentials[0].valid_until = T("2026-12-01T00:00:00Z");
  EXPECT_EQ(Windows(Desired(r)), V{"c-ada 2026-11-15T00:00:00Z..2026-12-01T00:00:00Z"});
}

TEST(LockSync, ALeaseNotStartedYetIsPushedWithItsStart) {
  Records r = Building();
  r.leases[0].starts_at = T("2026-12-01T00:00:00Z");
  r.leases[0].paid_through.reset();
  LockSync s = Desired(r);
  EXPECT_EQ(Windows(s), V{"c-ada 2026-12-01T00:00:00Z..2027-10-31T22:00:00Z"});
  EXPECT_EQ(Opt(s.next_change), "2026-12-01T00:00:00Z");
}

TEST(LockSync, AnEndedWindowGivesNoEntryAndSaysWhy) {
  Records r = Building();
  EXPECT_EQ(Skipped(Desired(r, "2026-12-06T00:00:00Z")),
            V{"c-ada no_window: lease lease-101: rent paid only until 2026-12-05T23:00:00Z "
              "(paid_through + grace)"});
  r.leases[0].paid_through.reset();
  r.leases[0].ends_at = T("2026-11-20T00:00:00Z");
  EXPECT_EQ(Skipped(Desired(r)),
            V{"c-ada no_window: lease lease-101 ended at 2026-11-20T00:00:00Z"});
  r.credentials[0].valid_until = T("2026-11-10T00:00:00Z");
  EXPECT_EQ(Skipped(Desired(r)),
            V{"c-ada no_window: credential c-ada expired at 2026-11-10T00:00:00Z"});
  EXPECT_TRUE(Desired(r).entries.empty());
}

TEST(LockSync, DisjointWindowsAreNeverJoinedTheOneHoldingNowIsChosen) {
  Records r = Building();
  r.leases[0].paid_through.reset();
  r.leases[0].ends_at = T("2026-12-01T00:00:00Z");
  r.leases.push_back(Lease{"lease-101-next",
                           "101",
                           {"ada"},
                           {"residents-101"},
                           T("2027-01-01T00:00:00Z"),
                           T("2027-07-01T00:00:00Z"),
                           {},
                           {}});
  LockSync s = Desired(r);
  EXPECT_EQ(Windows(s), V{"c-ada 2026-11-01T00:00:00Z..2026-12-01T00:00:00Z"});
  EXPECT_EQ(Opt(s.next_change), "2026-12-01T00:00:00Z");
  // Between the two, the next one to start.
  EXPECT_EQ(Windows(Desired(r, "2026-12-15T00:00:00Z")),
            V{"c-ada 2027-01-01T00:00:00Z..2027-07-01T00:00:00Z"});
}

TEST(LockSync, ARenewalThatFollowsWithoutAGapIsOneWindow) {
  Records r = Building();
  r.leases[0].paid_through.reset();
  r.leases[0].ends_at = T("2027-01-01T00:00:00Z");
  r.leases.push_back(Lease{"lease-101-renewal",
                           "101",
                           {"ada"},
                           {"residents-101"},
                           T("2027-01-01T00:00:00Z"),
                           T("2028-01-01T00:00:00Z"),
                           {},
                           {}});
  EXPECT_EQ(Windows(Desired(r)), V{"c-ada 2026-11-01T00:00:00Z..2028-01-01T00:00:00Z"});
}

TEST(LockSync, ADirectGroupHasOnlyTheCredentialsWindow) {
  Records r = Building();
  Person zoe = MakePerson("zoe", Role::kStaff);
  zoe.groups = {"residents-101"};
  r.people.push_back(zoe);
  Credential pin = Pin("c-zoe", "zoe", "987654");
  pin.valid_until = T("2027-03-01T00:00:00Z");
  r.credentials.push_back(pin);
  EXPECT_EQ(Windows(Desired(r)), (V{"c-ada 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z",
                                    "c-zoe -..2027-03-01T00:00:00Z"}));
}

// ---- family, occupants, status ----------------------------------------------------------------

TEST(LockSync, FamilyAndOccupantsWithInheritGetThePrimarysWindow) {
  Records r = Building();
  for (auto [id, role] : {std::pair{"ben", Role::kFamily}, std::pair{"olga", Role::kOccupant}}) {
    Person p = MakePerson(id, role);
    p.primary = "ada";
    p.inherit = true;
    r.people.push_back(p);
    r.credentials.push_back(
        Pin(std::string("c-") + id, id, id == std::string("ben") ? "456789" : "567891"));
  }
  EXPECT_EQ(Windows(Desired(r)), (V{"c-ada 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z",
                                    "c-ben 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z",
                                    "c-olga 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z"}));
  EXPECT_EQ(Desired(r).entries[1].name, "Name of ben");
}

TEST(LockSync, InheritOffOrASuspendedPrimaryGivesNothing) {
  Records r = Building();
  Person ben = MakePerson("ben", Role::kFamily);
  ben.primary = "ada";
  ben.inherit = false;
  r.people.push_back(ben);
  r.credentials.push_back(Pin("c-ben", "ben", "456789"));
  LockSync s = Desired(r);
  EXPECT_EQ(Windows(s), V{"c-ada 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z"});
  EXPECT_TRUE(s.skipped.empty()) << "no access to the door is not a skipped code";

  FindPerson(r, "ben").inherit = true;
  FindPerson(r, "ada").status = PersonStatus::kSuspended;
  s = Desired(r);
  EXPECT_TRUE(s.entries.empty());
  EXPECT_TRUE(s.skipped.empty());
}

TEST(LockSync, SuspendedPersonOrRevokedOrSuspendedCredentialGivesNoEntry) {
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    Records r = Building();
    if (variant == 0) r.people[0].status = PersonStatus::kSuspended;
    if (variant == 1) r.credentials[0].status = CredentialStatus::kRevoked;
    if (variant == 2) r.credentials[0].status = CredentialStatus::kSuspended;
    LockSync s = Desired(r);
    EXPECT_TRUE(s.entries.empty());
    EXPECT_TRUE(s.skipped.empty());
  }
}

TEST(LockSync, CardsNeverGoToALock) {
  Records r = Building();
  r.credentials = {testing::Card("c-card", "ada", 101, 251)};
  LockSync s = Desired(r);
  EXPECT_TRUE(s.entries.empty());
  EXPECT_TRUE(s.skipped.empty());
}

// ---- schedules --------------------------------------------------------------------------------

Records CleanerWith(Schedule schedule) {
  Records r = Building();
  r.schedules = {schedule};
  r.groups.push_back(MakeGroup("night", {"unit-101"}, schedule.id));
  Person cleo = MakePerson("cleo", Role::kStaff);
  cleo.groups = {"night"};
  r.people.push_back(cleo);
  r.credentials = {Pin("c-cleo", "cleo", "678912")};
  return r;
}

TEST(LockSync, OneWindowOnSomeDaysIsWrittenAsWeekdaysAndTimeOfDay) {
  LockSync s = Desired(CleanerWith(testing::WeekdaysNineToFive()));
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].weekdays, 0b1111100) << "Mon..Fri with bit 6 = Monday";
  EXPECT_EQ(s.entries[0].from_min, 9 * 60);
  EXPECT_EQ(s.entries[0].until_min, 17 * 60);
  EXPECT_TRUE(s.skipped.empty());
}

TEST(LockSync, TouchingWindowsOfADayJoinAndEqualDaysMerge) {
  Schedule s{"split-equal",
             {Window{0x1f, 540, 720}, Window{0x1f, 720, 1020}, Window{0x20, 540, 1020}},
             {}};
  LockSync out = Desired(CleanerWith(s));
  ASSERT_EQ(out.entries.size(), 1u);
  EXPECT_EQ(out.entries[0].weekdays, 0b1111110);
  EXPECT_EQ(out.entries[0].from_min, 540);
  EXPECT_EQ(out.entries[0].until_min, 1020);
}

TEST(LockSync, AllDayOnSomeDaysHasNoTimeOfDayAndAWindowTo2400EndsAt2359) {
  LockSync s = Desired(CleanerWith(Schedule{"weekend", {Window{0x60, 0, 1440}}, {}}));
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].weekdays, 0b0000011);
  EXPECT_EQ(s.entries[0].from_min, 0);
  EXPECT_EQ(s.entries[0].until_min, 0);
  s = Desired(CleanerWith(Schedule{"late", {Window{0x7f, 1200, 1440}}, {}}));
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].weekdays, 0);
  EXPECT_EQ(s.entries[0].from_min, 1200);
  EXPECT_EQ(s.entries[0].until_min, 1439);
}

TEST(LockSync, TwoDifferentWindowsAreNotExpressibleAndSkipped) {
  LockSync s =
      Desired(CleanerWith(Schedule{"s1", {Window{0x1f, 540, 1020}, Window{0x60, 600, 840}}, {}}));
  EXPECT_TRUE(s.entries.empty());
  EXPECT_EQ(Skipped(s),
            V{"c-cleo schedule: schedule s1 has 2 different windows; a lock holds one"});
  s = Desired(CleanerWith(Schedule{"s2", {Window{0x7f, 480, 600}, Window{0x7f, 900, 1000}}, {}}));
  EXPECT_EQ(Skipped(s), V{"c-cleo schedule: schedule s2 has 2 windows on mon; a lock holds one"});
}

TEST(LockSync, AnExceptionInsideTheWindowIsNotExpressibleOneBeforeItIsHarmless) {
  Schedule s = testing::WeekdaysNineToFive();
  s.exceptions = {{DaysFromCivil(2026, 12, 24), {}}};
  LockSync out = Desired(CleanerWith(s));
  EXPECT_TRUE(out.entries.empty());
  EXPECT_EQ(Skipped(out), V{"c-cleo schedule: schedule office has an exception (holiday) on "
                            "2026-12-24; a lock knows none"});
  // Past holidays, and holidays after the credential ends, do not matter.
  s.exceptions = {{DaysFromCivil(2026, 11, 1), {}}, {DaysFromCivil(2027, 12, 24), {}}};
  Records r = CleanerWith(s);
  r.credentials[0].valid_until = T("2027-06-01T00:00:00Z");
  out = Desired(r);
  EXPECT_EQ(Windows(out), V{"c-cleo -..2027-06-01T00:00:00Z days=124 09:00-17:00"});
}

TEST(LockSync, AnExpressiblePathWinsOverAnInexpressibleOne) {
  Records r = CleanerWith(Schedule{"s1", {Window{0x1f, 540, 1020}, Window{0x60, 600, 840}}, {}});
  r.groups.push_back(MakeGroup("keys", {"unit-101"}));
  FindPerson(r, "cleo").groups.push_back("keys");
  r.credentials[0].valid_until = T("2027-01-01T00:00:00Z");
  EXPECT_EQ(Windows(Desired(r)), V{"c-cleo -..2027-01-01T00:00:00Z"});
}

TEST(LockSync, AScheduleThatNeverOpensIsReported) {
  LockSync s = Desired(CleanerWith(Schedule{"never", {}, {}}));
  EXPECT_EQ(Skipped(s), V{"c-cleo schedule: schedule never never opens"});
}

// ---- code rules, keys -------------------------------------------------------------------------

TEST(LockSync, PinsBreakingTheLocksCodeRulesAreReportedWithoutTheirDigits) {
  Records r = Building();
  r.credentials = {Pin("c-3", "ada", "3456"), Pin("c-4", "ada", "345670"),
                   Pin("c-5", "ada", "123456"), Pin("c-6", "ada", "34567891")};
  LockSync s = Desired(r);
  EXPECT_TRUE(s.entries.empty());
  EXPECT_EQ(Skipped(s),
            (V{"c-3 code_rules: pin of credential c-3 has 4 digits; the lock takes 6",
               "c-4 code_rules: pin of credential c-4 contains the digit 0; the lock "
               "takes 1-9 only",
               "c-5 code_rules: pin of credential c-5 starts with 12, which the lock "
               "refuses",
               "c-6 code_rules: pin of credential c-6 has 8 digits; the lock takes 6"}));
  for (const SkippedEntry& e : s.skipped) {
    for (const char* digits : {"3456", "345670", "123456", "34567891"}) {
      EXPECT_EQ(e.reason.find(digits), std::string::npos) << e.reason;
    }
  }
}

TEST(LockSync, OtherCodeRulesKeepLeadingZeros) {
  Records r = Building();
  r.credentials = {Pin("c-1", "ada", "0123"), Pin("c-2", "ada", "123")};
  LockCodeRules rules;
  rules.digits = 4;
  rules.digit_zero_allowed = true;
  rules.forbidden_prefix = "";
  LockSync s = Desired(r, kNow, rules);
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].credential, "c-1");
  EXPECT_EQ(s.entries[0].code, 123u) << "0123: four digits, the leading zero by the rules' width";
  EXPECT_EQ(Skipped(s), V{"c-2 code_rules: pin of credential c-2 has 3 digits; the lock takes 4"});
}

TEST(LockSync, BleKeysOfThisLockBecomeAuthorizationsOthersAreIgnored) {
  Records r = Building();
  r.credentials.push_back(BleKeyCred("c-phone", "ada", kDoor));
  r.credentials.push_back(BleKeyCred("c-phone-102", "ada", "unit-102"));
  Credential bad = BleKeyCred("c-bad", "ada", kDoor);
  bad.ble_key.key = "c2hvcnQ=";
  r.credentials.push_back(bad);
  LockSync s = Desired(r);
  EXPECT_EQ(Windows(s), (V{"c-ada 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z",
                           "c-phone 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z"}));
  const LockEntry& phone = s.entries[1];
  EXPECT_EQ(phone.kind, LockEntry::Kind::kAuthorization);
  EXPECT_EQ(phone.key, kKey);
  EXPECT_EQ(phone.name, "Ada's phone");
  EXPECT_EQ(Skipped(s), V{"c-bad bad_key: ble_key of credential c-bad is not base64 of 32 bytes"});
}

TEST(LockSync, NamesAreCutToTheLocksFieldAtACharacterBoundary) {
  Records r = Building();
  r.people[0].name = "Zoë Ångström-Xøë";  // 21 bytes; the 20th is the first of "ë"
  LockSync s = Desired(r);
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].name, "Zoë Ångström-Xø");
}

TEST(LockSync, TwoBookingsOfOnePinGetTheCodeInTurn) {
  Records r = Building();
  r.credentials[0].valid_until = T("2026-11-25T00:00:00Z");
  Credential next = Pin("c-ada-2", "ada", "345678");
  next.valid_from = T("2026-11-25T00:00:00Z");
  r.credentials.push_back(next);
  ASSERT_TRUE(Validate(testing::MapleCourt(), r).empty());
  LockSync s = Desired(r);
  EXPECT_EQ(Windows(s), V{"c-ada 2026-11-01T00:00:00Z..2026-11-25T00:00:00Z"});
  EXPECT_EQ(Skipped(s), V{"c-ada-2 same_code: pin of credential c-ada-2 is also credential "
                          "c-ada's; a lock holds a code once (it follows when c-ada's window "
                          "ends)"});
  EXPECT_EQ(Windows(Desired(r, "2026-11-25T00:00:00Z")),
            V{"c-ada-2 2026-11-25T00:00:00Z..2026-12-05T23:00:00Z"});
}

// ---- door modes, errors -----------------------------------------------------------------------

TEST(LockSync, ALockdownWithAnEndMovesTheStartWithoutAnEndRemovesTheCodes) {
  Records r = Building();
  r.door_modes = {DoorMode{kDoor, DoorModeKind::kLockedDown, T("2026-11-24T00:00:00Z")}};
  LockSync s = Desired(r);
  EXPECT_EQ(Windows(s), V{"c-ada 2026-11-24T00:00:00Z..2026-12-05T23:00:00Z"});
  EXPECT_EQ(Opt(s.next_change), "2026-11-24T00:00:00Z");
  r.door_modes[0].until.reset();
  s = Desired(r);
  EXPECT_TRUE(s.entries.empty());
  EXPECT_EQ(Skipped(s), V{"c-ada door_locked_down: door unit-101 is locked down with no end"});
  // Another door's lockdown changes nothing here.
  r.door_modes[0].door = "unit-102";
  EXPECT_EQ(Desired(r).entries.size(), 1u);
}

TEST(LockSync, AnUnknownDoorIsNotFound) {
  auto index = BuildIndex(testing::MapleCourt(), Building());
  Result<LockSync> s = DesiredLockEntries(*index, "cellar", T(kNow));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
}

// ---- entries, fingerprints, weekdays -----------------------------------------------------------

TEST(LockSync, WeekdaysAreTheLocksBitOrder) {
  EXPECT_EQ(LockWeekdays(0x01), 0x40) << "Monday";
  EXPECT_EQ(LockWeekdays(0x40), 0x01) << "Sunday";
  EXPECT_EQ(LockWeekdays(0x1f), 0x7c);
  EXPECT_EQ(LockWeekdays(0x7f), 0) << "every day";
}

LockEntry Code(std::string credential, uint32_t code, const char* from, const char* until) {
  LockEntry e;
  e.credential = std::move(credential);
  e.person = "p";
  e.name = "N";
  e.code = code;
  if (from) e.from = T(from);
  if (until) e.until = T(until);
  return e;
}

TEST(LockSync, FingerprintCoversWhatTheLockHoldsAndIsStable) {
  LockEntry a = Code("c-1", 345678, "2026-11-01T00:00:00Z", "2026-12-05T23:00:00Z");
  LockEntry b = a;
  b.credential = "c-other";
  b.person = "q";
  EXPECT_TRUE(SameOnLock(a, b));
  EXPECT_EQ(Fingerprint(a), Fingerprint(b));
  // Stored in the database: a change of this value needs a migration of lock_entries.
  EXPECT_EQ(Fingerprint(a), 0xd15b58bb1a087874ull) << std::hex << Fingerprint(a);
  std::set<uint64_t> seen{Fingerprint(a)};
  auto differs = [&](LockEntry e) {
    EXPECT_FALSE(SameOnLock(a, e));
    EXPECT_TRUE(seen.insert(Fingerprint(e)).second);
  };
  LockEntry e = a;
  e.code = 345679;
  differs(e);
  e = a;
  e.name = "M";
  differs(e);
  e = a;
  e.until.reset();
  differs(e);
  e = a;
  e.from.reset();
  differs(e);
  e = a;
  e.weekdays = 0x7c;
  differs(e);
  e = a;
  e.from_min = 1;
  differs(e);
  e = a;
  e.until_min = 1;
  differs(e);
  e = a;
  e.kind = LockEntry::Kind::kAuthorization;
  differs(e);
}

TEST(LockSync, LockAdmitsOnlyInsideItsWindowWeekdaysAndTimeOfDay) {
  auto zone = testing::MapleCourt().zone;
  LockEntry e = Code("c-1", 345678, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");
  e.weekdays = 0x7c;  // Mon-Fri
  e.from_min = 9 * 60;
  e.until_min = 17 * 60;
  auto admits = [&](const char* t) { return LockAdmits(e, T(t), zone->ToLocal(T(t))); };
  EXPECT_TRUE(admits("2026-11-23T08:00:00Z"));   // Mon 09:00 Berlin
  EXPECT_FALSE(admits("2026-11-23T07:59:59Z"));  // Mon 08:59:59
  EXPECT_FALSE(admits("2026-11-23T16:00:00Z"));  // Mon 17:00
  EXPECT_FALSE(admits("2026-11-22T10:00:00Z"));  // Sunday
  EXPECT_FALSE(admits("2026-12-01T08:00:00Z"));  // Tue after until
  EXPECT_FALSE(admits("2026-10-30T09:00:00Z"));  // Fri before from
}

// ---- diff -------------------------------------------------------------------------------------

TEST(DiffLockEntries, RemovalsAndShorteningsFirstThenWideningThenAdditions) {
  std::vector<LockEntry> actual = {
      Code("c-gone", 111111, nullptr, nullptr),
      Code("c-paid", 222222, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
      Code("c-out", 333333, "2026-11-01T00:00:00Z", "2027-11-01T00:00:00Z"),
      Code("c-same", 444444, nullptr, "2027-01-01T00:00:00Z"),
      Code("c-renamed", 555555, nullptr, nullptr),
      Code("c-newpin", 666666, nullptr, nullptr),
      Code("a-gone-too", 777777, nullptr, nullptr),
  };
  std::vector<LockEntry> desired = {
      Code("c-new", 888888, nullptr, nullptr),
      Code("c-paid", 222222, "2026-11-01T00:00:00Z", "2027-01-01T00:00:00Z"),
      Code("c-out", 333333, "2026-11-01T00:00:00Z", "2026-11-28T00:00:00Z"),
      Code("c-same", 444444, nullptr, "2027-01-01T00:00:00Z"),
      Code("c-renamed", 555555, nullptr, nullptr),
      Code("c-newpin", 666667, nullptr, nullptr),
      Code("a-added", 999999, nullptr, nullptr),
  };
  desired[4].name = "Renamed";
  desired[3].person = "someone else";  // not on the lock: no change
  std::vector<std::string> got;
  for (const LockOp& op : DiffLockEntries(desired, actual)) {
    got.push_back(std::string(LockOpKindName(op.kind)) + (op.restricts ? "!" : " ") +
                  op.entry.credential);
  }
  EXPECT_EQ(got, (V{"remove!a-gone-too", "remove!c-gone", "update!c-newpin", "update!c-out",
                    "update c-paid", "update c-renamed", "add a-added", "add c-new"}));
}

TEST(DiffLockEntries, NarrowingTheScheduleRestricts) {
  LockEntry old = Code("c-1", 345678, nullptr, nullptr);
  LockEntry now = old;
  now.weekdays = 0x7c;
  std::vector<LockOp> ops = DiffLockEntries({&now, 1}, {&old, 1});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_TRUE(ops[0].restricts);
  ops = DiffLockEntries({&old, 1}, {&now, 1});
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_FALSE(ops[0].restricts) << "every day again widens";
}

TEST(DiffLockEntries, AKindOrKeyChangeIsARemovalAndAnAddition) {
  LockEntry code = Code("c-1", 345678, nullptr, nullptr);
  LockEntry key = code;
  key.kind = LockEntry::Kind::kAuthorization;
  key.code = 0;
  key.key = kKey;
  std::vector<LockOp> ops = DiffLockEntries({&key, 1}, {&code, 1});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, LockOp::Kind::kRemove);
  EXPECT_EQ(ops[0].entry, code);
  EXPECT_EQ(ops[1].kind, LockOp::Kind::kAdd);
  EXPECT_EQ(ops[1].entry, key);
  LockEntry other_key = key;
  other_key.key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  ops = DiffLockEntries({&other_key, 1}, {&key, 1});
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, LockOp::Kind::kRemove);
  EXPECT_EQ(ops[1].kind, LockOp::Kind::kAdd);
}

TEST(DiffLockEntries, DuplicatesOfOneCredentialKeepTheMatchingOne) {
  LockEntry want = Code("c-1", 345678, nullptr, "2027-01-01T00:00:00Z");
  LockEntry stale = want;
  stale.until = T("2026-12-01T00:00:00Z");
  std::vector<LockEntry> actual = {stale, want, stale};
  std::vector<LockOp> ops = DiffLockEntries({&want, 1}, actual);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, LockOp::Kind::kRemove);
  EXPECT_EQ(ops[1].kind, LockOp::Kind::kRemove);
  EXPECT_TRUE(DiffLockEntries({&want, 1}, {&want, 1}).empty());
}

// ---- the index's ble_key side table -----------------------------------------------------------

TEST(LockSyncIndex, KeepsBleKeyDataOnlyForBleKeysAndPatchesKeepIt) {
  Records r = Building();
  r.credentials.push_back(BleKeyCred("c-phone", "ada", kDoor));
  r.credentials.push_back(BleKeyCred("c-lost", "ada", "cellar"));
  std::vector<std::string> warnings;
  auto index = BuildIndex(testing::MapleCourt(), r, &warnings);
  ASSERT_EQ(index->ble_keys().size(), 2u);
  uint32_t phone = index->FindCredentialById("c-phone");
  const BleKeyRec* b = index->FindBleKey(phone);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(index->doors()[b->door].id, kDoor);
  EXPECT_EQ(index->str(b->key), kKey);
  EXPECT_EQ(index->str(b->name), "Ada's phone");
  EXPECT_EQ(index->FindBleKey(index->FindCredentialById("c-ada")), nullptr);
  EXPECT_EQ(index->FindBleKey(index->FindCredentialById("c-lost"))->door, kNoDoor);
  EXPECT_NE(std::find_if(warnings.begin(), warnings.end(),
                         [](const std::string& w) { return w.find("c-lost") != w.npos; }),
            warnings.end());

  Credential revoke = r.credentials[0];
  revoke.status = CredentialStatus::kRevoked;
  auto patched = PatchCredentials(*index, {revoke});
  ASSERT_TRUE(patched);
  ASSERT_NE(patched->FindBleKey(phone), nullptr);
  EXPECT_EQ(patched->str(patched->FindBleKey(phone)->key), kKey);
  Result<LockSync> s = DesiredLockEntries(*patched, kDoor, T(kNow));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Windows(*s), V{"c-phone 2026-11-01T00:00:00Z..2026-12-05T23:00:00Z"});
  // A ble_key update is not patched: it needs a rebuild (a new lock or key).
  EXPECT_FALSE(PatchCredentials(*index, {r.credentials[1]}));
}

// ---- property: the lock never admits what the engine refuses ---------------------------------

// A random building around one lock door: leases with and without rent, family chains with and
// without inherit, suspended people, revoked credentials, schedules the lock can and cannot hold,
// PINs that do and do not meet the code rules, ble keys for this and another lock.
struct Random {
  std::mt19937_64 rng;
  explicit Random(uint64_t seed) : rng(seed) {}
  int64_t Int(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }
  bool Chance(int percent) { return Int(0, 99) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int64_t>(v.size()) - 1))];
  }
};

Records RandomBuilding(Random& rnd, int64_t now) {
  constexpr int64_t kDay = 86400;
  Records r;
  const int32_t holiday = static_cast<int32_t>(now / kDay + rnd.Int(-30, 60));
  r.schedules = {
      testing::WeekdaysNineToFive(),
      Schedule{"split", {Window{0x1f, 480, 720}, Window{0x1f, 780, 1080}}, {}},
      Schedule{"weekend", {Window{0x60, 600, 840}}, {}},
      Schedule{"late", {Window{0x7f, 1200, 1440}}, {}},
      Schedule{"holiday",
               {Window{0x1f, 420, 1140}},
               {{holiday, {}},
                {holiday + static_cast<int32_t>(rnd.Int(1, 60)), {Window{0x7f, 600, 700}}}}},
  };
  std::vector<std::string> schedules = {"always", "office", "split", "weekend", "late", "holiday"};
  for (int g = 0; g < 8; ++g) {
    std::vector<std::string> doors;
    if (rnd.Chance(60)) doors.push_back(kDoor);
    if (rnd.Chance(50)) doors.push_back("unit-102");
    if (rnd.Chance(30)) doors.push_back("front");
    r.groups.push_back(MakeGroup("g" + std::to_string(g), doors, rnd.Pick(schedules)));
  }
  std::vector<std::string> groups = {"default"};
  for (const Group& g : r.groups) groups.push_back(g.id);
  constexpr int kPeople = 24;
  for (int i = 0; i < kPeople; ++i) {
    Person p = MakePerson("p" + std::to_string(i),
                          static_cast<Role>(rnd.Int(0, static_cast<int>(Role::kGuest))));
    if (i > 0 && rnd.Chance(45)) {
      p.primary = "p" + std::to_string(rnd.Int(0, i - 1));  // earlier: no cycles
      p.inherit = rnd.Chance(70);
    }
    int n = static_cast<int>(rnd.Int(0, 2));
    for (int k = 0; k < n; ++k) {
      const std::string& g = rnd.Pick(groups);
      if (std::find(p.groups.begin(), p.groups.end(), g) == p.groups.end()) p.groups.push_back(g);
    }
    if (rnd.Chance(10)) p.status = PersonStatus::kSuspended;
    r.people.push_back(p);
  }
  for (int l = 0; l < 14; ++l) {
    Lease lease;
    lease.id = "l" + std::to_string(l);
    lease.unit = "u";
    int members = static_cast<int>(rnd.Int(1, 3));
    for (int k = 0; k < members; ++k) {
      std::string m = "p" + std::to_string(rnd.Int(0, kPeople - 1));
      if (std::find(lease.members.begin(), lease.members.end(), m) == lease.members.end()) {
        lease.members.push_back(m);
      }
    }
    int n = static_cast<int>(rnd.Int(1, 2));
    for (int k = 0; k < n; ++k) {
      const std::string& g = rnd.Pick(groups);
      if (std::find(lease.groups.begin(), lease.groups.end(), g) == lease.groups.end()) {
        lease.groups.push_back(g);
      }
    }
    int64_t start = now + rnd.Int(-300, 120) * kDay + rnd.Int(0, kDay);
    lease.starts_at = FromUnix(start);
    if (rnd.Chance(70)) lease.ends_at = FromUnix(start + rnd.Int(1, 400) * kDay + rnd.Int(0, kDay));
    if (rnd.Chance(60)) lease.paid_through = FromUnix(now + rnd.Int(-40, 60) * kDay);
    if (rnd.Chance(30)) lease.grace_days = static_cast<int32_t>(rnd.Int(0, 10));
    r.leases.push_back(lease);
  }
  std::set<std::string> pins;
  auto fresh_pin = [&] {
    for (;;) {
      std::string pin;
      int len = rnd.Chance(10) ? 4 : 6;
      // Some with a 0 (the lock refuses them); none starting with 9 (the policy refuses those).
      for (int k = 0; k < len; ++k) {
        pin += static_cast<char>('0' + rnd.Int(rnd.Chance(5) ? 0 : 1, k == 0 ? 8 : 9));
      }
      if (pins.insert(pin).second) return pin;
    }
  };
  int c = 0;
  for (const Person& p : r.people) {
    int n = static_cast<int>(rnd.Int(0, 2));
    for (int k = 0; k < n; ++k) {
      Credential cred = rnd.Chance(75) ? Pin("c" + std::to_string(c), p.id, fresh_pin())
                                       : BleKeyCred("c" + std::to_string(c), p.id,
                                                    rnd.Chance(70) ? kDoor : "unit-102");
      ++c;
      if (rnd.Chance(40)) cred.valid_from = FromUnix(now + rnd.Int(-200, 100) * kDay);
      if (rnd.Chance(40)) {
        cred.valid_until =
            FromUnix((cred.valid_from ? ToUnix(*cred.valid_from) : now) + rnd.Int(1, 300) * kDay);
      }
      int status = static_cast<int>(rnd.Int(0, 99));
      if (status < 8) cred.status = CredentialStatus::kSuspended;
      if (status >= 8 && status < 15) cred.status = CredentialStatus::kRevoked;
      r.credentials.push_back(cred);
    }
  }
  if (rnd.Chance(15)) {
    r.door_modes.push_back(
        DoorMode{kDoor, DoorModeKind::kLockedDown, FromUnix(now + rnd.Int(-5, 20) * kDay)});
  }
  return r;
}

TEST(LockSyncProperty, TheLockNeverAdmitsWhereTheEngineRefuses) {
  Site site = testing::MapleCourt();
  const int64_t base = ToUnix(T("2026-11-23T10:00:00Z"));
  size_t entries = 0, checked = 0, limited = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Random rnd(seed);
    const int64_t now = base + rnd.Int(-100, 100) * 86400 + rnd.Int(0, 86399);
    Records r = RandomBuilding(rnd, now);
    ASSERT_EQ(Validate(site, r), std::vector<std::string>{});
    auto index = BuildIndex(site, r);
    // The engine cannot be asked about a ble key: a twin state where each ble key is a PIN of the
    // same holder, window and status answers for it.
    Records twin = r;
    std::map<std::string, std::string> presented;  // credential id -> PIN to present
    int twin_pin = 10000000;
    for (Credential& cred : twin.credentials) {
      if (cred.type == CredentialType::kBleKey) {
        cred.type = CredentialType::kPin;
        cred.pin = std::to_string(twin_pin++);
        cred.ble_key = {};
      }
      presented[cred.id] = cred.pin;
    }
    auto twin_index = BuildIndex(site, twin);

    Result<LockSync> sync = DesiredLockEntries(*index, kDoor, FromUnix(now));
    ASSERT_TRUE(sync.ok());
    std::set<std::string> accounted;
    for (const LockEntry& e : sync->entries) {
      ++entries;
      if (e.weekdays != 0 || e.until_min != 0) ++limited;
      EXPECT_TRUE(accounted.insert(e.credential).second) << "one entry per credential";
      int64_t lo = std::max(now, e.from ? ToUnix(*e.from) : now);
      int64_t hi = e.until ? ToUnix(*e.until) : now + 800 * 86400;
      ASSERT_LT(lo, hi) << Show(e);
      std::vector<int64_t> samples = {lo, hi - 1};
      for (int k = 0; k < 300; ++k) samples.push_back(rnd.Int(lo, hi - 1));
      for (int64_t t : samples) {
        Instant at = FromUnix(t);
        if (!LockAdmits(e, at, site.zone->ToLocal(at))) continue;
        ++checked;
        Decision d = DecideWith(*twin_index, {kDoor, "", PinPresented(presented[e.credential])}, at,
                                INT64_MIN, nullptr);
        ASSERT_TRUE(d.granted) << Show(e) << " admits at " << FormatRfc3339(at)
                               << " but the engine says " << ReasonName(d.reason);
      }
      // Outside the window the lock refuses.
      for (int k = 0; k < 20; ++k) {
        int64_t t = rnd.Chance(50)
                        ? (e.from ? ToUnix(*e.from) - rnd.Int(1, 400 * 86400) : INT64_MIN)
                        : (e.until ? ToUnix(*e.until) + rnd.Int(0, 400 * 86400) : INT64_MIN);
        if (t == INT64_MIN) continue;
        EXPECT_FALSE(LockAdmits(e, FromUnix(t), site.zone->ToLocal(FromUnix(t))));
      }
    }
    // Never silently dropped: a PIN or this lock's ble key the engine grants now at the door has
    // an entry or a reason.
    for (const SkippedEntry& s : sync->skipped) {
      EXPECT_TRUE(accounted.insert(s.credential).second) << "entry and skipped: " << s.credential;
    }
    for (const Credential& cred : r.credentials) {
      bool for_lock = cred.type == CredentialType::kPin ||
                      (cred.type == CredentialType::kBleKey && cred.ble_key.lock == kDoor);
      if (!for_lock) continue;
      Decision d = DecideWith(*twin_index, {kDoor, "", PinPresented(presented[cred.id])},
                              FromUnix(now), INT64_MIN, nullptr);
      if (d.granted) {
        EXPECT_TRUE(accounted.count(cred.id)) << cred.id
                                              << " is granted now but neither pushed "
                                                 "nor reported";
      }
    }
  }
  // The generator must exercise the property, not pass vacuously.
  EXPECT_GT(entries, 100u);
  EXPECT_GT(limited, 10u);
  EXPECT_GT(checked, 10000u);
}

}  // namespace
}  // namespace lintel::rules
