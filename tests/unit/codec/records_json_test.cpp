#include "gateway/codec/records_json.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/unit/codec/fast_check.h"
#include "tests/unit/codec/same.h"

namespace lintel::codec {
namespace {

using json = nlohmann::json;
using testing::IsSame;

// A realistic building: every record kind, every optional field set somewhere, every enum value
// of the wire format used at least once.
const char* const kFullRecords = R"({
  "schedules": [
    {"id": "office-hours",
     "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "07:30", "to": "18:00"},
                 {"days": ["sat"], "from": "09:00", "to": "12:00"}],
     "exceptions": [{"date": "2026-12-25", "windows": []},
                    {"date": "2026-12-24", "windows": [{"from": "07:30", "to": "12:00"}]}]},
    {"id": "late", "windows": [{"days": ["sun"], "from": "22:00", "to": "24:00"}],
     "exceptions": []}
  ],
  "groups": [
    {"id": "residents", "name": "Residents", "doors": ["main", "garage"], "schedule": "always"},
    {"id": "cleaners", "name": "Cleaning crew", "doors": ["main", "basement"],
     "schedule": "office-hours"}
  ],
  "people": [
    {"id": "p-1", "name": "Ana Müller", "role": "tenant", "inherit": false,
     "groups": ["residents"], "status": "active"},
    {"id": "p-2", "name": "Ben Müller", "role": "family", "primary": "p-1", "inherit": true,
     "groups": [], "status": "active"},
    {"id": "p-3", "name": "Carla Ruiz", "role": "staff", "inherit": false,
     "groups": ["cleaners"], "status": "suspended"},
    {"id": "p-4", "name": "Dan Okafor", "role": "alias", "inherit": false, "groups": [],
     "status": "active"},
    {"id": "p-5", "name": "Eve Lind", "role": "occupant", "primary": "p-1", "inherit": true,
     "groups": [], "status": "active"},
    {"id": "p-6", "name": "Finn Berg", "role": "guest", "inherit": false, "groups": ["residents"],
     "status": "active"}
  ],
  "leases": [
    {"id": "l-1", "unit": "3B", "members": ["p-1", "p-2", "p-5"], "groups": ["residents"],
     "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
     "paid_through": "2026-12-01T00:00:00Z", "grace_days": 5},
    {"id": "l-2", "unit": "4A", "members": ["p-4"], "groups": [],
     "starts_at": "2027-02-01T10:00:00Z"}
  ],
  "credentials": [
    {"id": "c-1", "person": "p-1", "type": "card", "status": "active",
     "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2027-01-01T00:00:00Z",
     "card": {"format": "h10301", "facility": 12, "number": 34567}},
    {"id": "c-2", "person": "p-2", "type": "card", "status": "suspended",
     "card": {"uid": "04A1B2C3D4E5F6"}},
    {"id": "c-3", "person": "p-1", "type": "pin", "status": "active", "pin": "0123"},
    {"id": "c-4", "person": "p-1", "type": "ble_key", "status": "revoked",
     "ble_key": {"lock": "main", "key": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=",
                 "name": "Ana's phone"}},
    {"id": "c-5", "person": "p-3", "type": "card", "status": "active",
     "card": {"format": "h10302", "number": 34359738367}},
    {"id": "c-6", "person": "p-3", "type": "card", "status": "active",
     "card": {"format": "h10306", "facility": 65535, "number": 65535}},
    {"id": "c-7", "person": "p-6", "type": "card", "status": "active",
     "card": {"format": "h10304", "facility": 1, "number": 524287}},
    {"id": "c-8", "person": "p-6", "type": "card", "status": "active",
     "card": {"format": "c1k35", "facility": 4095, "number": 1048575}},
    {"id": "c-9", "person": "p-6", "type": "card", "status": "active",
     "card": {"format": "c1k48", "facility": 4194303, "number": 8388607}}
  ],
  "door_modes": [
    {"id": "garage", "mode": "locked_down", "until": "2026-11-23T18:00:00Z"},
    {"id": "main", "mode": "normal"},
    {"id": "basement", "mode": "unlocked"}
  ]
})";

rules::Records FullRecords() {
  using namespace rules;
  Records r;
  r.schedules.push_back(Schedule{
      .id = "office-hours",
      .windows = {Window{.days = 0x1f, .from_min = 450, .to_min = 1080},
                  Window{.days = 0x20, .from_min = 540, .to_min = 720}},
      .exceptions = {
          ScheduleException{.date = 20812, .windows = {}},
          ScheduleException{.date = 20811, .windows = {Window{.from_min = 450, .to_min = 720}}}}});
  r.schedules.push_back(
      Schedule{.id = "late", .windows = {Window{.days = 0x40, .from_min = 1320, .to_min = 1440}}});
  r.groups.push_back(Group{"residents", "Residents", {"main", "garage"}, "always"});
  r.groups.push_back(Group{"cleaners", "Cleaning crew", {"main", "basement"}, "office-hours"});
  r.people.push_back(
      Person{.id = "p-1", .name = "Ana Müller", .role = Role::kTenant, .groups = {"residents"}});
  r.people.push_back(Person{
      .id = "p-2", .name = "Ben Müller", .role = Role::kFamily, .primary = "p-1", .inherit = true});
  r.people.push_back(Person{.id = "p-3",
                            .name = "Carla Ruiz",
                            .role = Role::kStaff,
                            .groups = {"cleaners"},
                            .status = PersonStatus::kSuspended});
  r.people.push_back(Person{.id = "p-4", .name = "Dan Okafor", .role = Role::kAlias});
  r.people.push_back(Person{
      .id = "p-5", .name = "Eve Lind", .role = Role::kOccupant, .primary = "p-1", .inherit = true});
  r.people.push_back(
      Person{.id = "p-6", .name = "Finn Berg", .role = Role::kGuest, .groups = {"residents"}});
  r.leases.push_back(Lease{.id = "l-1",
                           .unit = "3B",
                           .members = {"p-1", "p-2", "p-5"},
                           .groups = {"residents"},
                           .starts_at = FromUnix(1767225600),
                           .ends_at = FromUnix(1798761600),
                           .paid_through = FromUnix(1796083200),
                           .grace_days = 5});
  r.leases.push_back(
      Lease{.id = "l-2", .unit = "4A", .members = {"p-4"}, .starts_at = FromUnix(1801476000)});
  auto card = [](std::string id, std::string person, CardFormat f, uint32_t facility,
                 uint64_t number) {
    return Credential{.id = std::move(id),
                      .person = std::move(person),
                      .type = CredentialType::kCard,
                      .card = CardNumber{.format = f, .facility = facility, .number = number}};
  };
  Credential c1 = card("c-1", "p-1", CardFormat::kH10301, 12, 34567);
  c1.valid_from = FromUnix(1767225600);
  c1.valid_until = FromUnix(1798761600);
  r.credentials.push_back(c1);
  r.credentials.push_back(Credential{.id = "c-2",
                                     .person = "p-2",
                                     .type = CredentialType::kCard,
                                     .status = CredentialStatus::kSuspended,
                                     .card = CardNumber{.uid = "04A1B2C3D4E5F6"}});
  r.credentials.push_back(
      Credential{.id = "c-3", .person = "p-1", .type = CredentialType::kPin, .pin = "0123"});
  r.credentials.push_back(Credential{
      .id = "c-4",
      .person = "p-1",
      .type = CredentialType::kBleKey,
      .status = CredentialStatus::kRevoked,
      .ble_key = BleKey{"main", "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=", "Ana's phone"}});
  r.credentials.push_back(card("c-5", "p-3", CardFormat::kH10302, 0, 34359738367));
  r.credentials.push_back(card("c-6", "p-3", CardFormat::kH10306, 65535, 65535));
  r.credentials.push_back(card("c-7", "p-6", CardFormat::kH10304, 1, 524287));
  r.credentials.push_back(card("c-8", "p-6", CardFormat::kC1k35, 4095, 1048575));
  r.credentials.push_back(card("c-9", "p-6", CardFormat::kC1k48, 4194303, 8388607));
  r.door_modes.push_back(
      DoorMode{.door = "garage", .mode = DoorModeKind::kLockedDown, .until = FromUnix(1795456800)});
  r.door_modes.push_back(DoorMode{.door = "main", .mode = DoorModeKind::kNormal});
  r.door_modes.push_back(DoorMode{.door = "basement", .mode = DoorModeKind::kUnlocked});
  return r;
}

// The error message ParseRecords gives for `records`, or "OK".
// Every vector also goes through the fast path (records_fast.h): it gives up or agrees.
std::string ErrorOf(const json& records) {
  const std::string text = testing::Text(records);
  EXPECT_TRUE(testing::FastAgrees(testing::CheckRecordsText(text))) << text;
  Result<rules::Records> r = ParseRecords(records);
  return r.ok() ? "OK" : r.status().message();
}

// The error for a records object holding just `record` under `key`.
std::string ErrorOfOne(const char* key, const json& record) {
  json records = json::object();
  records[key] = json::array({record});
  return ErrorOf(records);
}

json CredentialJson(json overrides = json::object()) {
  json c = {{"id", "c-17"},
            {"person", "p-1"},
            {"type", "card"},
            {"status", "active"},
            {"card", {{"format", "h10301"}, {"facility", 12}, {"number", 345}}}};
  c.merge_patch(overrides);
  return c;
}

json PersonJson(json overrides = json::object()) {
  json p = {{"id", "p-3"}, {"name", "Carla"}, {"role", "staff"}};
  p.merge_patch(overrides);
  return p;
}

json ScheduleJson(json overrides = json::object()) {
  json s = {{"id", "office"},
            {"windows", json::array({{{"days", {"mon"}}, {"from", "08:00"}, {"to", "17:00"}}})}};
  s.merge_patch(overrides);
  return s;
}

json LeaseJson(json overrides = json::object()) {
  json l = {{"id", "l-1"},
            {"unit", "3B"},
            {"members", {"p-1"}},
            {"groups", json::array()},
            {"starts_at", "2026-01-01T00:00:00Z"}};
  l.merge_patch(overrides);
  return l;
}

// ---- full records ------------------------------------------------------------------------------

TEST(RecordsJson, ParsesFullRecordsWithEveryOptionalField) {
  Result<rules::Records> r = ParseRecords(json::parse(kFullRecords));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_PRED_FORMAT2(IsSame, *r, FullRecords());
}

// Issue 13, point 7: every record kind and field, read by the simdjson fast path.
TEST(RecordsJson, FastPathReadsFullRecordsLikeTheCurrentParser) {
  EXPECT_TRUE(testing::FastAcceptsAndAgrees(testing::CheckRecordsText(kFullRecords)));
  EXPECT_TRUE(testing::FastAcceptsAndAgrees(
      testing::CheckRecordsText(testing::Text(RecordsToJson(FullRecords())))));
}

TEST(RecordsJson, WritesFullRecordsAsTheContractJson) {
  EXPECT_EQ(RecordsToJson(FullRecords()), json::parse(kFullRecords))
      << RecordsToJson(FullRecords()).dump(2);
}

TEST(RecordsJson, RoundTripsFullRecordsThroughJson) {
  rules::Records original = FullRecords();
  Result<rules::Records> back = ParseRecords(RecordsToJson(original));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_PRED_FORMAT2(IsSame, *back, original);
}

TEST(RecordsJson, RoundTripsFullRecordsThroughText) {
  rules::Records original = FullRecords();
  Result<rules::Records> back = ParseRecordsText(RecordsToJson(original).dump(), "full");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_PRED_FORMAT2(IsSame, *back, original);
}

TEST(RecordsJson, RoundTripsExtremeNumbers) {
  rules::Records r;
  r.credentials.push_back(
      rules::Credential{.id = "c-max",
                        .person = "p-1",
                        .card = rules::CardNumber{.format = rules::CardFormat::kH10302,
                                                  .facility = std::numeric_limits<uint32_t>::max(),
                                                  .number = std::numeric_limits<uint64_t>::max()}});
  r.leases.push_back(rules::Lease{.id = "l-neg",
                                  .unit = "1",
                                  .starts_at = FromUnix(0),
                                  .grace_days = std::numeric_limits<int32_t>::min()});
  r.leases.push_back(rules::Lease{.id = "l-pos",
                                  .unit = "1",
                                  .starts_at = FromUnix(253402300799),  // 9999-12-31T23:59:59Z
                                  .grace_days = std::numeric_limits<int32_t>::max()});
  Result<rules::Records> back = ParseRecordsText(RecordsToJson(r).dump(), "extremes");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_PRED_FORMAT2(IsSame, *back, r);
}

// ---- keys of `records` -------------------------------------------------------------------------

TEST(RecordsJson, TreatsMissingKeysAsEmptyArrays) {
  Result<rules::Records> r = ParseRecords(json::object());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_PRED_FORMAT2(IsSame, *r, rules::Records{});

  r = ParseRecords(json{{"people", json::array({PersonJson()})}, {"leases", nullptr}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->people.size(), 1u);
  EXPECT_TRUE(r->schedules.empty() && r->groups.empty() && r->leases.empty() &&
              r->credentials.empty() && r->door_modes.empty());
}

TEST(RecordsJson, RejectsUnknownTopLevelKey) {
  EXPECT_EQ(ErrorOf(json{{"credentails", json::array()}}),
            "records: unknown field \"credentails\" (expected one of "
            "schedules|groups|people|leases|credentials|door_modes)");
}

TEST(RecordsJson, RejectsRecordsThatAreNotAnObject) {
  EXPECT_EQ(ErrorOf(json::array()), "records must be an object");
  EXPECT_EQ(ErrorOf(json{{"people", json::object()}}), "records.people must be an array");
}

TEST(RecordsJson, RejectsRecordThatIsNotAnObject) {
  EXPECT_EQ(ErrorOf(json{{"people", {PersonJson(), 7}}}), "records.people[1]: must be an object");
}

// ---- ids and record names ----------------------------------------------------------------------

TEST(RecordsJson, NamesRecordWithoutIdByItsPosition) {
  json records = {{"credentials", json::array()}};
  for (int i = 0; i < 4; ++i)
    records["credentials"].push_back(CredentialJson({{"id", "c-" + std::to_string(i)}}));
  json bad = CredentialJson();
  bad.erase("id");
  records["credentials"].push_back(bad);
  EXPECT_EQ(ErrorOf(records), "records.credentials[4]: missing \"id\"");
}

TEST(RecordsJson, RejectsIdThatIsNotANonEmptyString) {
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"id", 3}})),
            "records.people[0]: id must be a string");
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"id", ""}})),
            "records.people[0]: id must not be empty");
}

TEST(RecordsJson, ReportsMisspeltIdAsUnknownField) {
  json p = PersonJson({{"idd", "p-3"}});
  p.erase("id");
  EXPECT_EQ(ErrorOfOne("people", p),
            "records.people[0]: unknown field \"idd\" (expected one of "
            "id|name|role|primary|inherit|groups|status)");
}

TEST(RecordsJson, QuotesAndTruncatesUnusualIds) {
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"id", "p 3\n"}, {"name", 1}})),
            "person \"p 3\\n\": name must be a string");
  std::string long_id(100, 'x');
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"id", long_id}, {"name", 1}})),
            "person \"" + std::string(64, 'x') + "...\": name must be a string");
}

// ---- missing fields, wrong types, unknown fields -----------------------------------------------

TEST(RecordsJson, RejectsMissingRequiredField) {
  json p = PersonJson();
  p.erase("role");
  EXPECT_EQ(ErrorOfOne("people", p), "person p-3: missing \"role\"");
  json l = LeaseJson();
  l.erase("starts_at");
  EXPECT_EQ(ErrorOfOne("leases", l), "lease l-1: missing \"starts_at\"");
  EXPECT_EQ(ErrorOfOne("groups", json{{"id", "g"}, {"name", "G"}, {"doors", json::array()}}),
            "group g: missing \"schedule\"");
  EXPECT_EQ(ErrorOfOne("schedules", json{{"id", "s"}}), "schedule s: missing \"windows\"");
  EXPECT_EQ(ErrorOfOne("door_modes", json{{"id", "main"}}), "door_mode main: missing \"mode\"");
  json c = CredentialJson();
  c.erase("status");
  EXPECT_EQ(ErrorOfOne("credentials", c), "credential c-17: missing \"status\"");
}

TEST(RecordsJson, RejectsMissingNestedField) {
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"format", nullptr}}}})),
            "credential c-17: missing \"card.format\" (or \"card.uid\" for a UID card)");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"number", nullptr}}}})),
            "credential c-17: missing \"card.number\"");
  EXPECT_EQ(
      ErrorOfOne("schedules", ScheduleJson({{"windows", {{{"from", "08:00"}, {"to", "09:00"}}}}})),
      "schedule office: missing \"windows[0].days\"");
  EXPECT_EQ(ErrorOfOne("schedules", ScheduleJson({{"exceptions", {{{"date", "2026-12-25"}}}}})),
            "schedule office: missing \"exceptions[0].windows\"");
}

TEST(RecordsJson, RejectsWrongJsonType) {
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"name", 5}})), "person p-3: name must be a string");
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"inherit", "yes"}})),
            "person p-3: inherit must be true or false");
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"groups", "residents"}})),
            "person p-3: groups must be an array of strings");
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"groups", {"a", 2}}})),
            "person p-3: groups[1] must be a string");
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"role", 1}})),
            "person p-3: role must be a string, one of tenant|occupant|family|staff|alias|guest");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", "h10301:12:345"}})),
            "credential c-17: card must be an object");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"number", "345"}}}})),
            "credential c-17: card.number must be a non-negative integer");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"number", 345.0}}}})),
            "credential c-17: card.number must be a non-negative integer");
  EXPECT_EQ(ErrorOfOne("leases", LeaseJson({{"grace_days", "5"}})),
            "lease l-1: grace_days must be an integer");
  EXPECT_EQ(ErrorOfOne("leases", LeaseJson({{"starts_at", 1767225600}})),
            "lease l-1: starts_at must be a string (RFC 3339, e.g. 2026-11-23T10:00:00Z)");
  EXPECT_EQ(ErrorOfOne("schedules", ScheduleJson({{"windows", {"mon 08:00-17:00"}}})),
            "schedule office: windows[0] must be an object");
  EXPECT_EQ(ErrorOfOne("schedules",
                       ScheduleJson(
                           {{"windows", {{{"days", "mon"}, {"from", "08:00"}, {"to", "09:00"}}}}})),
            "schedule office: windows[0].days must be an array of weekdays "
            "mon|tue|wed|thu|fri|sat|sun");
}

TEST(RecordsJson, RejectsNullInRequiredField) {
  json p = PersonJson();
  p["name"] = nullptr;  // merge_patch would delete it
  EXPECT_EQ(ErrorOfOne("people", p), "person p-3: name must be a string");
}

TEST(RecordsJson, RejectsUnknownField) {
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"nmae", "Carla"}})),
            "person p-3: unknown field \"nmae\" (expected one of "
            "id|name|role|primary|inherit|groups|status)");
  EXPECT_EQ(ErrorOfOne("door_modes", json{{"id", "main"}, {"mode", "normal"}, {"untill", "x"}}),
            "door_mode main: unknown field \"untill\" (expected one of id|mode|until)");
}

TEST(RecordsJson, RejectsUnknownNestedField) {
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"fromat", "h10301"}}}})),
            "credential c-17: unknown field \"card.fromat\" (expected one of "
            "format|facility|number|uid)");
  EXPECT_EQ(ErrorOfOne("schedules",
                       ScheduleJson({{"windows", {{{"days", {"mon"}}, {"form", "08:00"}}}}})),
            "schedule office: unknown field \"windows[0].form\" (expected one of days|from|to)");
  EXPECT_EQ(
      ErrorOfOne("credentials",
                 CredentialJson(
                     {{"type", "ble_key"},
                      {"card", nullptr},
                      {"ble_key",
                       {{"lock", "main"}, {"key", "k"}, {"name", "n"}, {"expires", "never"}}}})),
      "credential c-17: unknown field \"ble_key.expires\" (expected one of lock|key|name)");
}

// ---- enums, times, dates ----------------------------------------------------------------------

TEST(RecordsJson, RejectsUnknownEnumString) {
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"role", "landlord"}})),
            "person p-3: role \"landlord\" is not one of tenant|occupant|family|staff|alias|guest");
  EXPECT_EQ(ErrorOfOne("people", PersonJson({{"status", "Active"}})),
            "person p-3: status \"Active\" is not one of active|suspended");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"status", "lost"}})),
            "credential c-17: status \"lost\" is not one of active|suspended|revoked");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"type", "face"}})),
            "credential c-17: type \"face\" is not one of card|pin|ble_key");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"format", "h10303"}}}})),
            "credential c-17: card.format \"h10303\" is not one of "
            "h10301|h10306|h10302|h10304|c1k35|c1k48");
  EXPECT_EQ(ErrorOfOne("door_modes", json{{"id", "main"}, {"mode", "open"}}),
            "door_mode main: mode \"open\" is not one of normal|locked_down|unlocked");
}

TEST(RecordsJson, RejectsBadTimestamp) {
  EXPECT_EQ(ErrorOfOne("leases", LeaseJson({{"ends_at", "2026-13-01T00:00:00Z"}})),
            "lease l-1: ends_at \"2026-13-01T00:00:00Z\" is not an RFC 3339 timestamp like "
            "2026-11-23T10:00:00Z");
  EXPECT_EQ(ErrorOfOne("leases", LeaseJson({{"starts_at", "2026-01-01T00:00:00"}})),
            "lease l-1: starts_at \"2026-01-01T00:00:00\" is not an RFC 3339 timestamp like "
            "2026-11-23T10:00:00Z");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"valid_until", "tomorrow"}})),
            "credential c-17: valid_until \"tomorrow\" is not an RFC 3339 timestamp like "
            "2026-11-23T10:00:00Z");
}

TEST(RecordsJson, RejectsBareDateAsTimestamp) {
  EXPECT_EQ(ErrorOfOne("leases", LeaseJson({{"starts_at", "2026-01-01"}})),
            "lease l-1: starts_at \"2026-01-01\" is not an RFC 3339 timestamp like "
            "2026-11-23T10:00:00Z");
}

TEST(RecordsJson, ConvertsTimestampOffsetToUtcAndDropsFraction) {
  Result<rules::Lease> l = ParseLease(LeaseJson({{"starts_at", "2026-01-01T01:00:00.750+01:00"}}));
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(ToUnix(l->starts_at), 1767225600);
  EXPECT_EQ(ToJson(*l)["starts_at"], "2026-01-01T00:00:00Z");
}

TEST(RecordsJson, RejectsBadHhMm) {
  EXPECT_EQ(
      ErrorOfOne(
          "schedules",
          ScheduleJson({{"windows", {{{"days", {"mon"}}, {"from", "8:00"}, {"to", "17:00"}}}}})),
      "schedule office: windows[0].from \"8:00\" is not a time HH:MM (00:00..24:00)");
  EXPECT_EQ(
      ErrorOfOne(
          "schedules",
          ScheduleJson({{"windows", {{{"days", {"mon"}}, {"from", "08:00"}, {"to", "24:01"}}}}})),
      "schedule office: windows[0].to \"24:01\" is not a time HH:MM (00:00..24:00)");
  EXPECT_EQ(ErrorOfOne("schedules",
                       ScheduleJson({{"exceptions",
                                      {{{"date", "2026-12-24"},
                                        {"windows", {{{"from", "7:30"}, {"to", "12:00"}}}}}}}})),
            "schedule office: exceptions[0].windows[0].from \"7:30\" is not a time HH:MM "
            "(00:00..24:00)");
}

TEST(RecordsJson, RejectsBadWeekday) {
  EXPECT_EQ(
      ErrorOfOne("schedules",
                 ScheduleJson(
                     {{"windows",
                       {{{"days", {"mon", "tue", "Wed"}}, {"from", "08:00"}, {"to", "17:00"}}}}})),
      "schedule office: windows[0].days[2] \"Wed\" is not one of "
      "mon|tue|wed|thu|fri|sat|sun");
  EXPECT_EQ(ErrorOfOne(
                "schedules",
                ScheduleJson({{"windows", {{{"days", {1}}, {"from", "08:00"}, {"to", "17:00"}}}}})),
            "schedule office: windows[0].days[0] must be a string, one of "
            "mon|tue|wed|thu|fri|sat|sun");
}

TEST(RecordsJson, RejectsBadExceptionDate) {
  auto with_date = [](json date) {
    return ScheduleJson({{"exceptions", {{{"date", date}, {"windows", json::array()}}}}});
  };
  EXPECT_EQ(ErrorOfOne("schedules", with_date("2026-02-30")),
            "schedule office: exceptions[0].date \"2026-02-30\" is not a date YYYY-MM-DD");
  EXPECT_EQ(ErrorOfOne("schedules", with_date("2026-12-25T00:00:00Z")),
            "schedule office: exceptions[0].date \"2026-12-25T00:00:00Z\" is not a date "
            "YYYY-MM-DD");
  EXPECT_EQ(ErrorOfOne("schedules", with_date(20812)),
            "schedule office: exceptions[0].date must be a string");
}

TEST(RecordsJson, IgnoresDaysInsideExceptionButChecksThem) {
  Result<rules::Schedule> s = ParseSchedule(
      ScheduleJson({{"exceptions",
                     {{{"date", "2026-12-24"},
                       {"windows", {{{"days", {"mon"}}, {"from", "07:30"}, {"to", "12:00"}}}}}}}}));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->exceptions.at(0).windows.size(), 1u);
  EXPECT_EQ(s->exceptions[0].windows[0].days, 0x7f);
  EXPECT_FALSE(ToJson(*s)["exceptions"][0]["windows"][0].contains("days"));

  EXPECT_EQ(
      ErrorOfOne(
          "schedules",
          ScheduleJson(
              {{"exceptions",
                {{{"date", "2026-12-24"},
                  {"windows", {{{"days", {"xmas"}}, {"from", "07:30"}, {"to", "12:00"}}}}}}}})),
      "schedule office: exceptions[0].windows[0].days[0] \"xmas\" is not one of "
      "mon|tue|wed|thu|fri|sat|sun");
}

TEST(RecordsJson, ReadsWeekdaysAsBitmaskFromMonday) {
  Result<rules::Schedule> s = ParseSchedule(ScheduleJson(
      {{"windows", {{{"days", {"sun", "mon", "mon"}}, {"from", "00:00"}, {"to", "24:00"}}}}}));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->windows.at(0).days, 0x41);
  EXPECT_EQ(s->windows[0].from_min, 0);
  EXPECT_EQ(s->windows[0].to_min, 1440);
  EXPECT_EQ(ToJson(*s)["windows"][0]["days"], json({"mon", "sun"}));
}

TEST(RecordsJson, DefaultsScheduleExceptionsToEmpty) {
  Result<rules::Schedule> s = ParseSchedule(ScheduleJson());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->exceptions.empty());
}

// ---- numbers -----------------------------------------------------------------------------------

TEST(RecordsJson, RejectsNegativeFacility) {
  EXPECT_EQ(ErrorOf(json::parse(R"({"credentials":[{"id":"c-17","person":"p-1","type":"card",
              "status":"active","card":{"format":"h10301","facility":-1,"number":345}}]})")),
            "credential c-17: card.facility must be a non-negative integer");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"number", -5}}}})),
            "credential c-17: card.number must be a non-negative integer");
}

TEST(RecordsJson, RejectsFacilityAboveUint32Max) {
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"facility", 4294967296ull}}}})),
            "credential c-17: card.facility 4294967296 is out of range 0..4294967295");
}

TEST(RecordsJson, RejectsCardNumberAboveUint64Max) {
  EXPECT_EQ(ErrorOf(json::parse(R"({"credentials":[{"id":"c-17","person":"p-1","type":"card",
              "status":"active","card":{"format":"h10302","number":18446744073709551616}}]})")),
            "credential c-17: card.number is out of range 0..18446744073709551615");
}

TEST(RecordsJson, AcceptsCardNumberUint64Max) {
  Result<rules::Records> r = ParseRecordsText(R"({"credentials":[{"id":"c-17","person":"p-1",
      "type":"card","status":"active","card":{"format":"h10302","number":18446744073709551615}}]})",
                                              "max");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.at(0).card.number, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(r->credentials[0].card.facility, 0u);
}

TEST(RecordsJson, AcceptsIntegersBuiltAsSignedJson) {
  // json built in C++ from an int stores it signed; that is still a non-negative integer.
  Result<rules::Credential> c = ParseCredential(CredentialJson({{"card", {{"facility", int{7}}}}}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->card.facility, 7u);
}

TEST(RecordsJson, RejectsGraceDaysOutOfInt32Range) {
  EXPECT_EQ(ErrorOfOne("leases", LeaseJson({{"grace_days", 2147483648ll}})),
            "lease l-1: grace_days 2147483648 is out of range -2147483648..2147483647");
  EXPECT_EQ(ErrorOfOne("leases", LeaseJson({{"grace_days", -2147483649ll}})),
            "lease l-1: grace_days -2147483649 is out of range -2147483648..2147483647");
  EXPECT_EQ(ErrorOfOne("leases", LeaseJson({{"grace_days", 1e12}})),
            "lease l-1: grace_days is out of range -2147483648..2147483647");
}

// ---- credentials -------------------------------------------------------------------------------

TEST(RecordsJson, RejectsPinGivenAsNumber) {
  EXPECT_EQ(
      ErrorOfOne("credentials", CredentialJson({{"type", "pin"}, {"card", nullptr}, {"pin", 123}})),
      "credential c-17: pin must be a JSON string, not a number: a number loses leading "
      "zeros (write \"0123\", not 0123)");
}

TEST(RecordsJson, KeepsPinLeadingZeros) {
  Result<rules::Credential> c =
      ParseCredential(CredentialJson({{"type", "pin"}, {"card", nullptr}, {"pin", "0042"}}));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->type, rules::CredentialType::kPin);
  EXPECT_EQ(c->pin, "0042");
  EXPECT_EQ(ToJson(*c)["pin"], "0042");
}

TEST(RecordsJson, RejectsPayloadKeyNotMatchingType) {
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"pin", "1234"}})),
            "credential c-17: \"pin\" is not allowed with type card (a card credential carries "
            "\"card\")");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"type", "pin"}, {"pin", "1234"}})),
            "credential c-17: \"card\" is not allowed with type pin (a pin credential carries "
            "\"pin\")");
}

TEST(RecordsJson, AcceptsOtherPayloadKeysGivenAsNull) {
  json c = CredentialJson();
  c["pin"] = nullptr;
  c["ble_key"] = nullptr;
  EXPECT_EQ(ErrorOfOne("credentials", c), "OK");
}

TEST(RecordsJson, RejectsMissingPayloadForType) {
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"type", "pin"}, {"card", nullptr}})),
            "credential c-17: missing \"pin\"");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"type", "ble_key"}, {"card", nullptr}})),
            "credential c-17: missing \"ble_key\"");
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", nullptr}})),
            "credential c-17: missing \"card\"");
}

TEST(RecordsJson, RejectsCardWithBothUidAndFormat) {
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"uid", "04A1"}}}})),
            "credential c-17: card must be either {\"uid\":hex} or "
            "{\"format\",\"facility\"?,\"number\"}, not both");
}

TEST(RecordsJson, RejectsUidSpelledAsFormat) {
  EXPECT_EQ(ErrorOfOne("credentials", CredentialJson({{"card", {{"format", "uid"}}}})),
            "credential c-17: card.format \"uid\" is not one of "
            "h10301|h10306|h10302|h10304|c1k35|c1k48 (a UID card is written "
            "{\"uid\":\"hex digits\"})");
}

TEST(RecordsJson, UpperCasesCardUid) {
  json j = CredentialJson();
  j["card"] = {{"uid", "04a1b2ff"}};
  Result<rules::Credential> c = ParseCredential(j);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->card.format, rules::CardFormat::kUid);
  EXPECT_EQ(c->card.uid, "04A1B2FF");
  EXPECT_EQ(ToJson(*c)["card"], json({{"uid", "04A1B2FF"}}));
}

TEST(RecordsJson, RejectsUidThatIsNotOneToSixteenHexDigits) {
  auto uid = [](json u) {
    json c = CredentialJson();
    c["card"] = {{"uid", u}};
    return c;
  };
  EXPECT_EQ(ErrorOfOne("credentials", uid("04G1")),
            "credential c-17: card.uid \"04G1\" must be 1-16 hex digits");
  EXPECT_EQ(ErrorOfOne("credentials", uid("")),
            "credential c-17: card.uid \"\" must be 1-16 hex digits");
  EXPECT_EQ(ErrorOfOne("credentials", uid("0123456789ABCDEF0")),
            "credential c-17: card.uid \"0123456789ABCDEF0\" must be 1-16 hex digits");
  EXPECT_EQ(ErrorOfOne("credentials", uid(1234)), "credential c-17: card.uid must be a string");
  EXPECT_EQ(ErrorOfOne("credentials", uid("0123456789abcdef")), "OK");
}

TEST(RecordsJson, WritesFacilityOnlyWhereTheFormatHasOne) {
  rules::Credential c{.id = "c-1",
                      .person = "p-1",
                      .card = rules::CardNumber{.format = rules::CardFormat::kH10302, .number = 9}};
  EXPECT_EQ(ToJson(c)["card"], json({{"format", "h10302"}, {"number", 9}}));
  c.card.format = rules::CardFormat::kH10301;
  EXPECT_EQ(ToJson(c)["card"], json({{"format", "h10301"}, {"facility", 0}, {"number", 9}}));
}

// ---- defaults and null -------------------------------------------------------------------------

TEST(RecordsJson, DefaultsPersonInheritGroupsAndStatus) {
  Result<rules::Person> p = ParsePerson(json{{"id", "p-3"}, {"name", "Carla"}, {"role", "alias"}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->primary.has_value());
  EXPECT_FALSE(p->inherit);
  EXPECT_TRUE(p->groups.empty());
  EXPECT_EQ(p->status, rules::PersonStatus::kActive);
}

TEST(RecordsJson, TreatsNullOptionalFieldsAsAbsent) {
  Result<rules::Person> p = ParsePerson(json{{"id", "p-3"},
                                             {"name", "Carla"},
                                             {"role", "family"},
                                             {"primary", nullptr},
                                             {"inherit", nullptr},
                                             {"groups", nullptr},
                                             {"status", nullptr}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->primary.has_value());
  EXPECT_EQ(p->status, rules::PersonStatus::kActive);

  json l = LeaseJson();
  l["ends_at"] = nullptr;
  l["paid_through"] = nullptr;
  l["grace_days"] = nullptr;
  Result<rules::Lease> lease = ParseLease(l);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_FALSE(lease->ends_at || lease->paid_through || lease->grace_days);
}

// ---- several errors ----------------------------------------------------------------------------

TEST(RecordsJson, ReportsFirstErrorOfEachBadRecord) {
  json records = {
      {"people", {PersonJson({{"role", "landlord"}, {"name", 1}}), PersonJson({{"id", "p-4"}})}},
      {"credentials", {CredentialJson({{"status", "lost"}}), CredentialJson({{"id", "c-18"}})}},
  };
  EXPECT_EQ(ErrorOf(records),
            "person p-3: name must be a string\n"
            "credential c-17: status \"lost\" is not one of active|suspended|revoked");
}

TEST(RecordsJson, StopsAfterTwentyErrors) {
  json records = {{"people", json::array()}};
  for (int i = 0; i < 30; ++i) {
    records["people"].push_back(PersonJson({{"id", "p-" + std::to_string(i)}, {"role", "x"}}));
  }
  std::string error = ErrorOf(records);
  EXPECT_NE(error.find("person p-19: role"), std::string::npos);
  EXPECT_EQ(error.find("person p-20:"), std::string::npos);
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 20);
  EXPECT_TRUE(error.ends_with("\n(stopped after 20 errors)")) << error;
}

// ---- single-record parsers ---------------------------------------------------------------------

TEST(RecordsJson, SingleRecordParsersNameTheKindBeforeTheId) {
  EXPECT_EQ(ParseCredential(json::object()).status().message(), "credential: missing \"id\"");
  EXPECT_EQ(ParseDoorMode(json::array()).status().message(), "door_mode: must be an object");
  EXPECT_EQ(ParseGroup(json::object(), "ops[2].data").status().message(),
            "ops[2].data: missing \"id\"");
}

TEST(RecordsJson, ReadsDoorModeIdAsDoor) {
  Result<rules::DoorMode> m = ParseDoorMode(
      json{{"id", "garage"}, {"mode", "unlocked"}, {"until", "2026-11-23T18:00:00Z"}});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->door, "garage");
  EXPECT_EQ(m->mode, rules::DoorModeKind::kUnlocked);
  EXPECT_EQ(ToUnix(*m->until), 1795456800);
}

// ---- text --------------------------------------------------------------------------------------

TEST(RecordsJson, PrefixesEveryTextErrorLineWithTheSource) {
  Result<rules::Records> r = ParseRecordsText(
      R"({"people":[{"id":"p-1","name":"A"},{"id":"p-2","name":"B","role":"x"}]})", "state.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "state.json: person p-1: missing \"role\"\n"
            "state.json: person p-2: role \"x\" is not one of "
            "tenant|occupant|family|staff|alias|guest");
}

TEST(RecordsJson, ReportsSyntaxErrorInTextWithLineAndColumn) {
  Result<rules::Records> r = ParseRecordsText("{\"people\": [\n  {\"id\": \"p-1\",}\n]}", "s.json");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(
      r.status().message().starts_with("s.json:2:16: syntax error while parsing object key"))
      << r.status().message();
}

}  // namespace
}  // namespace lintel::codec
