#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gateway/base/base64.h"

namespace lintel::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string SourceDir() {
  const char* dir = std::getenv("LINTEL_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

// Lines 1-7 of most test files; what a test appends starts at line 8.
constexpr const char kHead[] =
    "site:\n"
    "  id: maple-court\n"
    "  time_zone: Europe/Berlin\n"
    "gateway:\n"
    "  id: gw-1\n"
    "store:\n"
    "  path: lintel.db\n";

constexpr const char kOneDoor[] =
    "doors:\n"
    "  - id: front\n";

// Every problem as "line:column: message" (the file name is checked separately).
std::vector<std::string> Problems(const std::string& text) {
  std::vector<ConfigProblem> problems;
  Result<Config> r = LoadConfigText(text, "t.yaml", &problems);
  EXPECT_FALSE(r.ok()) << "expected problems in:\n" << text;
  std::vector<std::string> out;
  for (const ConfigProblem& p : problems) {
    EXPECT_EQ(p.file, "t.yaml");
    out.push_back(std::to_string(p.line) + ":" + std::to_string(p.column) + ": " + p.message);
  }
  return out;
}

Config Load(const std::string& text) {
  Result<Config> r = LoadConfigText(text, "t.yaml");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Config{};
}

// ---- valid files
// ---------------------------------------------------------------------------------

TEST(ConfigLoader, LoadsTheDemoExample) {
  Result<Config> r = LoadConfigFile(SourceDir() + "/config/examples/demo.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Config& c = *r;
  EXPECT_EQ(c.site_id, "maple-court");
  EXPECT_EQ(c.time_zone, "Europe/Berlin");
  ASSERT_NE(c.zone, nullptr);
  EXPECT_EQ(c.zone->name(), "Europe/Berlin");
  EXPECT_EQ(c.gateway_id, "gw-1");
  EXPECT_EQ(c.store_path, "/var/lib/lintel/lintel.db");
  EXPECT_EQ(c.log_level, LogLevel::kInfo);

  std::vector<std::string> door_ids;
  for (const DoorConfig& d : c.doors) door_ids.push_back(d.id);
  EXPECT_THAT(door_ids, ElementsAre("front", "garage", "bike-room", "unit-101", "unit-102", "roof",
                                    "unit-201", "lobby"));
  ASSERT_EQ(c.locks.size(), 1u);
  EXPECT_EQ(c.locks[0].door, "unit-201");
  EXPECT_TRUE(FindDoor(c, "front")->common);
  EXPECT_TRUE(FindDoor(c, "garage")->common);
  EXPECT_FALSE(FindDoor(c, "roof")->common);
  EXPECT_FALSE(FindDoor(c, "unit-101")->common);
  EXPECT_EQ(FindDoor(c, "front")->name, "Front entrance");

  ASSERT_EQ(c.readers.size(), 4u);
  EXPECT_EQ(c.readers[0].id, "front-keypad");
  EXPECT_EQ(c.readers[0].door, "front");
  EXPECT_TRUE(c.readers[0].keypad);
  EXPECT_FALSE(c.readers[1].keypad);
  EXPECT_EQ(c.readers[3].door, "unit-101");
  EXPECT_TRUE(c.readers[3].keypad);

  EXPECT_EQ(c.policy.rent_grace_days, 5);
  EXPECT_EQ(c.policy.pin_min_length, 4);
  EXPECT_EQ(c.policy.pin_max_length, 8);
  EXPECT_FALSE(c.policy.pin_allow_leading_9);
  EXPECT_EQ(c.policy.lockout_failures, 5);
  EXPECT_EQ(c.policy.lockout_window_s, 60);
  EXPECT_EQ(c.policy.lockout_s, 300);

  ASSERT_EQ(c.trusted_keys.size(), 1u);
  EXPECT_EQ(c.trusted_keys[0].kid, "demo-cloud-1");
}

TEST(ConfigLoader, LoadsTheMinimalExample) {
  Result<Config> r = LoadConfigFile(SourceDir() + "/config/examples/minimal.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->doors.size(), 1u);
  EXPECT_EQ(r->source_path, SourceDir() + "/config/examples/minimal.yaml");
}

TEST(ConfigLoader, AppliesDefaultsForEveryOptionalKey) {
  Config c = Load(std::string(kHead) + kOneDoor);
  EXPECT_EQ(c.source_path, "t.yaml");
  EXPECT_EQ(c.control_socket, "/run/lintel/lintel.sock");
  EXPECT_EQ(c.control_idle_timeout_s, 10);
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
  const rules::Policy defaults;
  EXPECT_EQ(c.policy.rent_grace_days, defaults.rent_grace_days);
  EXPECT_EQ(c.policy.pin_min_length, defaults.pin_min_length);
  EXPECT_EQ(c.policy.pin_max_length, defaults.pin_max_length);
  EXPECT_EQ(c.policy.pin_allow_leading_9, defaults.pin_allow_leading_9);
  EXPECT_EQ(c.policy.lockout_failures, defaults.lockout_failures);
  EXPECT_EQ(c.policy.lockout_window_s, defaults.lockout_window_s);
  EXPECT_EQ(c.policy.lockout_s, defaults.lockout_s);
  EXPECT_TRUE(c.trusted_keys.empty());
  EXPECT_TRUE(c.readers.empty());
  ASSERT_EQ(c.doors.size(), 1u);
  EXPECT_EQ(c.doors[0].name, "front");  // the id
  EXPECT_FALSE(c.doors[0].common);
  EXPECT_EQ(c.doors[0].unlock_ms, 5000);
  EXPECT_EQ(c.doors[0].held_open_s, 30);
}

TEST(ConfigLoader, StoreMaxUnwrittenEventsDefaultsAndRange) {
  EXPECT_EQ(Load(std::string(kHead) + kOneDoor).max_unwritten_events, 100000);
  EXPECT_EQ(
      Load(std::string(kHead) + "  max_unwritten_events: 5000\n" + kOneDoor).max_unwritten_events,
      5000);
  std::vector<std::string> p =
      Problems(std::string(kHead) + "  max_unwritten_events: 10\n" + kOneDoor);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("between 100 and 10000000"), std::string::npos) << p[0];
}

TEST(ConfigLoader, ReadsEveryOptionalKey) {
  Config c = Load(std::string(kHead) +
                  "control:\n"
                  "  socket: /tmp/l.sock\n"
                  "  idle_timeout_s: 3600\n"
                  "logging:\n"
                  "  level: debug\n"
                  "policy:\n"
                  "  rent_grace_days: 0\n"
                  "  pin:\n"
                  "    min_length: 2\n"
                  "    max_length: 2\n"
                  "    allow_leading_9: true\n"
                  "  keypad_lockout:\n"
                  "    failures: 0\n"
                  "    within_s: 86400\n"
                  "    lockout_s: 1\n"
                  "  clock:\n"
                  "    max_ahead_days: 365\n"
                  "doors:\n"
                  "  - id: front\n"
                  "    name: \"Front: main\"\n"
                  "    common: true\n"
                  "    unlock_ms: 600000\n"
                  "    held_open_s: 1\n");
  EXPECT_EQ(c.control_socket, "/tmp/l.sock");
  EXPECT_EQ(c.control_idle_timeout_s, 3600);
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.policy.pin_min_length, 2);
  EXPECT_EQ(c.policy.pin_max_length, 2);
  EXPECT_TRUE(c.policy.pin_allow_leading_9);
  EXPECT_EQ(c.policy.lockout_failures, 0);
  EXPECT_EQ(c.policy.lockout_window_s, 86400);
  EXPECT_EQ(c.policy.lockout_s, 1);
  EXPECT_EQ(c.policy.clock_max_ahead_days, 365);
  EXPECT_EQ(c.doors[0].name, "Front: main");
  EXPECT_TRUE(c.doors[0].common);
  EXPECT_EQ(c.doors[0].unlock_ms, 600000);
  EXPECT_EQ(c.doors[0].held_open_s, 1);
}

TEST(ConfigLoader, DecodesTrustedKeyBytes) {
  Config c = Load(std::string(kHead) + kOneDoor +
                  "cloud:\n"
                  "  trusted_keys:\n"
                  "    - kid: cloud-2026\n"
                  "      public_key: \"Bwc9rBiibmdRqg5RI0+BwipUvxOSk99eAf6ZD5TQ5ts=\"\n");
  ASSERT_EQ(c.trusted_keys.size(), 1u);
  EXPECT_EQ(c.trusted_keys[0].kid, "cloud-2026");
  EXPECT_EQ(c.trusted_keys[0].public_key[0], 0x07);
  EXPECT_EQ(c.trusted_keys[0].public_key[31], 0xdb);
}

// ---- one kind of problem each, at its line and column ---------------------------------------

TEST(ConfigLoader, ReportsUnknownKeyWithLineAndColumnAndSuggestion) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n"
                                            "  - id: front\n"
                                            "    unlok_ms: 5000\n"),
              ElementsAre("10:5: unknown key \"unlok_ms\" in door \"front\" "
                          "(did you mean \"unlock_ms\"?)"));
}

TEST(ConfigLoader, ReportsUnknownKeyWithoutCloseMatchListingTheExpectedKeys) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "readers:\n"
                       "  - id: r1\n"
                       "    door: front\n"
                       "    colour: red\n"),
              ElementsAre("13:5: unknown key \"colour\" in reader \"r1\" "
                          "(expected one of: id, door, keypad, type, wiegand)"));
}

TEST(ConfigLoader, ReportsUnknownSectionAtTheTopLevel) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor + "polcy:\n  rent_grace_days: 5\n"),
              ElementsAre("10:1: unknown key \"polcy\" at the top level "
                          "(did you mean \"policy\"?)"));
}

TEST(ConfigLoader, ReportsDuplicateKeyWithThePositionOfTheFirst) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n"
                                            "  - id: front\n"
                                            "    id: back\n"),
              ElementsAre("10:5: duplicate key \"id\" (first at 9:5)"));
}

TEST(ConfigLoader, ReportsARepeatedUnknownKeyOnceAndThenAsDuplicate) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n"
                                            "  - id: front\n"
                                            "    colour: red\n"
                                            "    colour: blue\n"),
              ElementsAre(HasSubstr("10:5: unknown key \"colour\""),
                          "11:5: duplicate key \"colour\" (first at 10:5)"));
}

TEST(ConfigLoader, ReportsDuplicateSection) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor + "gateway:\n  id: gw-2\n"),
              ElementsAre("10:1: duplicate key \"gateway\" (first at 4:1)"));
}

TEST(ConfigLoader, ReportsWrongTypeAtTheValue) {
  EXPECT_THAT(
      Problems(std::string(kHead) + "doors:\n"
                                    "  - id: front\n"
                                    "    unlock_ms: fast\n"
                                    "    common: yes\n"
                                    "    held_open_s: [1, 2]\n"),
      ElementsAre("10:16: unlock_ms must be an integer between 100 and 600000, got \"fast\"",
                  "11:13: common must be true or false, got \"yes\"",
                  "12:18: held_open_s must be an integer between 1 and 3600, got a list"));
}

TEST(ConfigLoader, ReportsSectionOfTheWrongShape) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n  id: front\n"),
              ElementsAre("9:3: doors must be a list of doors, got a mapping"));
}

TEST(ConfigLoader, ReportsOutOfRangeValues) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "policy:\n"
                       "  rent_grace_days: 366\n"
                       "  keypad_lockout:\n"
                       "    within_s: 0\n"
                       "    failures: -1\n"),
              ElementsAre("11:20: policy.rent_grace_days must be an integer between 0 and 365, "
                          "got 366",
                          "13:15: policy.keypad_lockout.within_s must be an integer between 1 and "
                          "86400, got 0",
                          "14:15: policy.keypad_lockout.failures must be an integer between 0 and "
                          "100 (0 disables the lockout), got -1"));
  EXPECT_THAT(
      Problems(std::string(kHead) + kOneDoor + "policy:\n  clock:\n    max_ahead_days: 0\n"),
      ElementsAre("12:21: policy.clock.max_ahead_days must be an integer between 1 and "
                  "365, got 0"));
}

TEST(ConfigLoader, RejectsIntegersWithLeadingZerosThatYamlReadsAsOctal) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor + "policy:\n  rent_grace_days: 010\n"),
              ElementsAre("11:20: policy.rent_grace_days must be an integer between 0 and 365 "
                          "written in decimal without leading zeros (YAML would read 010 as "
                          "octal 8), got 010"));
}

TEST(ConfigLoader, RejectsQuotedIntegerWithAHint) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n"
                                            "  - id: front\n"
                                            "    unlock_ms: \"5000\"\n"),
              ElementsAre("10:16: unlock_ms must be an integer between 100 and 600000, got "
                          "\"5000\" (a quoted string; write the value without quotes)"));
}

TEST(ConfigLoader, RejectsNonDecimalIntegerForms) {
  for (const char* v : {"0x10", "1e3", "5.0", "1_000", "+5", "99999999999999999999"}) {
    std::vector<std::string> p =
        Problems(std::string(kHead) + "doors:\n  - id: front\n    held_open_s: " + v + "\n");
    ASSERT_EQ(p.size(), 1u) << v;
    EXPECT_THAT(p[0], HasSubstr("10:18: held_open_s must be an integer between 1 and 3600"));
  }
}

TEST(ConfigLoader, RejectsPinMaxLengthBelowMinLength) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "policy:\n"
                       "  pin:\n"
                       "    min_length: 6\n"
                       "    max_length: 5\n"),
              ElementsAre("13:17: policy.pin.max_length must be an integer between 6 and 8 (not "
                          "less than min_length), got 5"));
}

TEST(ConfigLoader, RejectsPinLengthsOutsideTwoToEight) {
  EXPECT_THAT(
      Problems(std::string(kHead) + kOneDoor +
               "policy:\n"
               "  pin:\n"
               "    min_length: 1\n"
               "    max_length: 9\n"),
      ElementsAre("12:17: policy.pin.min_length must be an integer between 2 and 8, got 1",
                  "13:17: policy.pin.max_length must be an integer between 2 and 8, got 9"));
}

TEST(ConfigLoader, ReportsUnknownTimeZoneAtItsValue) {
  EXPECT_THAT(Problems("site:\n"
                       "  id: maple-court\n"
                       "  time_zone: Europe/Berln\n"
                       "gateway:\n"
                       "  id: gw-1\n"
                       "store:\n"
                       "  path: lintel.db\n" +
                       std::string(kOneDoor)),
              ElementsAre("3:14: unknown time zone \"Europe/Berln\" (expected an IANA name such as "
                          "Europe/Berlin)"));
}

TEST(ConfigLoader, RejectsTimeZoneNamesThatLookLikePaths) {
  for (const char* zone : {"../../etc/passwd", "/etc/localtime", "Europe/../UTC"}) {
    std::vector<std::string> p = Problems("site:\n  id: s\n  time_zone: \"" + std::string(zone) +
                                          "\"\ngateway:\n  id: g\nstore:\n  path: p\n" + kOneDoor);
    ASSERT_EQ(p.size(), 1u) << zone;
    EXPECT_THAT(p[0], HasSubstr("3:14: unknown time zone"));
  }
}

TEST(ConfigLoader, ReportsReaderReferringToUndefinedDoorAtTheDoorValue) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "readers:\n"
                       "  - id: lobby-kp\n"
                       "    door: lobby\n"
                       "    keypad: true\n"),
              ElementsAre("12:11: reader \"lobby-kp\" refers to door \"lobby\" which is not "
                          "defined in doors"));
}

TEST(ConfigLoader, ReportsDuplicateDoorIdWithThePositionOfTheFirst) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n"
                                            "  - id: front\n"
                                            "  - id: back\n"
                                            "  - id: front\n"),
              ElementsAre("11:9: duplicate door id \"front\" (first at 9:9)"));
}

TEST(ConfigLoader, ReportsDuplicateReaderIdAndKid) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "readers:\n"
                       "  - {id: r, door: front}\n"
                       "  - {id: r, door: front}\n"
                       "cloud:\n"
                       "  trusted_keys:\n"
                       "    - kid: k\n"
                       "      public_key: \"Bwc9rBiibmdRqg5RI0+BwipUvxOSk99eAf6ZD5TQ5ts=\"\n"
                       "    - kid: k\n"
                       "      public_key: \"Bwc9rBiibmdRqg5RI0+BwipUvxOSk99eAf6ZD5TQ5ts=\"\n"),
              ElementsAre("12:10: duplicate reader id \"r\" (first at 11:10)",
                          "17:12: duplicate trusted key kid \"k\" (first at 15:12)"));
}

TEST(ConfigLoader, ReportsMissingRequiredKeyAtTheParentMapping) {
  EXPECT_THAT(Problems("site:\n"
                       "  id: maple-court\n"
                       "gateway:\n"
                       "  id: gw-1\n"
                       "store:\n"
                       "  path: lintel.db\n"
                       "doors:\n"
                       "  - name: Front\n"),
              ElementsAre("2:3: missing required key \"time_zone\" in site; expected an IANA name "
                          "such as Europe/Berlin",
                          "8:5: missing required key \"id\" in door #1; expected an id of 1 to 64 "
                          "characters from A-Z, a-z, 0-9, \".\", \"_\" and \"-\""));
}

TEST(ConfigLoader, ReportsMissingRequiredSectionAtTheTopLevelMapping) {
  EXPECT_THAT(Problems("# a comment first\n"
                       "site:\n"
                       "  id: maple-court\n"
                       "  time_zone: UTC\n"
                       "store:\n"
                       "  path: lintel.db\n"),
              ElementsAre("2:1: missing required key \"gateway\" at the top level; expected a "
                          "mapping with the keys id",
                          "2:1: missing required key \"doors\" at the top level; expected a list "
                          "of doors"));
}

TEST(ConfigLoader, TreatsAnEmptyValueAsMissingNotAsTheStringNull) {
  EXPECT_THAT(Problems("site:\n"
                       "  id: maple-court\n"
                       "  time_zone:\n"
                       "gateway:\n"
                       "  id: ~\n"
                       "store:\n"
                       "  path: null\n" +
                       std::string(kOneDoor)),
              ElementsAre("3:3: site.time_zone is empty; it must be an IANA name such as "
                          "Europe/Berlin",
                          "5:3: gateway.id is empty; it must be an id of 1 to 64 characters from "
                          "A-Z, a-z, 0-9, \".\", \"_\" and \"-\"",
                          "7:3: store.path is empty; it must be a non-empty file path"));
}

TEST(ConfigLoader, EmptyOptionalValueKeepsTheDefaultButQuotedNullIsAString) {
  Config c = Load(std::string(kHead) +
                  "doors:\n"
                  "  - id: front\n"
                  "    name:\n"
                  "    unlock_ms:\n"
                  "  - id: back\n"
                  "    name: \"null\"\n"
                  "policy:\n");
  ASSERT_EQ(c.doors.size(), 2u);
  EXPECT_EQ(c.doors[0].name, "front");
  EXPECT_EQ(c.doors[0].unlock_ms, 5000);
  EXPECT_EQ(c.doors[1].name, "null");
}

TEST(ConfigLoader, RejectsPublicKeyThatIsNotBase64) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "cloud:\n"
                       "  trusted_keys:\n"
                       "    - kid: k1\n"
                       "      public_key: \"Bwc9rBiibmdRqg5RI0+BwipUvxOSk99eAf6ZD5TQ5t!=\"\n"),
              ElementsAre("13:19: public_key must be standard base64 (with \"=\" padding) of a "
                          "32-byte Ed25519 public key: invalid base64 character '!' at offset 42"));
}

TEST(ConfigLoader, RejectsPublicKeyOfTheWrongLength) {
  std::string key31 = Base64Encode(std::string(31, 'x'));
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "cloud:\n"
                       "  trusted_keys:\n"
                       "    - kid: k1\n"
                       "      public_key: " +
                       key31 + "\n"),
              ElementsAre("13:19: public_key must be base64 of exactly 32 bytes (an Ed25519 public "
                          "key), got 31 bytes"));
}

TEST(ConfigLoader, RejectsUrlSafeBase64ForPublicKeys) {
  std::vector<std::string> p = Problems(std::string(kHead) + kOneDoor +
                                        "cloud:\n"
                                        "  trusted_keys:\n"
                                        "    - kid: k1\n"
                                        "      public_key: " +
                                        Base64UrlEncode(std::string(32, '\xfb')) + "\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0], HasSubstr("13:19: public_key must be standard base64"));
}

TEST(ConfigLoader, ReportsYamlSyntaxErrorWithLineAndColumn) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n"
                                            "  - id: [front\n"),
              ElementsAre("10:1: YAML syntax error: end of sequence flow not found"));
  EXPECT_THAT(Problems("site:\n  id: a\n bad: indentation\n"),
              ElementsAre("3:2: YAML syntax error: end of map not found"));
}

TEST(ConfigLoader, ReportsNestingTooDeepAsASyntaxError) {
  std::vector<std::string> p =
      Problems("site: " + std::string(5000, '[') + std::string(5000, ']') + "\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0], HasSubstr("YAML syntax error: lists and mappings nested too deeply"));
}

TEST(ConfigLoader, ShortensLongValuesInMessages) {
  std::vector<std::string> p = Problems(std::string(kHead) + "doors:\n  - id: front\n" +
                                        "    unlock_ms: " + std::string(5000, '9') + "\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "10:16: unlock_ms must be an integer between 100 and 600000, got " +
                      std::string(60, '9') + "...");
}

TEST(ConfigLoader, ReportsEveryProblemInFileOrderNotOnlyTheFirst) {
  std::vector<std::string> p = Problems(
      "site:\n"
      "  id: maple court\n"
      "  time_zone: Mars/Olympus\n"
      "gateway:\n"
      "  id: gw-1\n"
      "store:\n"
      "  path: lintel.db\n"
      "doors:\n"
      "  - id: front\n"
      "    unlok_ms: 100\n"
      "  - id: front\n"
      "readers:\n"
      "  - id: r1\n"
      "    door: lobby\n");
  EXPECT_THAT(p, ElementsAre(HasSubstr("2:7: site.id must be an id"),
                             HasSubstr("3:14: unknown time zone \"Mars/Olympus\""),
                             HasSubstr("10:5: unknown key \"unlok_ms\""),
                             HasSubstr("11:9: duplicate door id \"front\""),
                             HasSubstr("14:11: reader \"r1\" refers to door \"lobby\"")));
}

TEST(ConfigLoader, StatusMessageHoldsOneFileLineColumnProblemPerLine) {
  Result<Config> r = LoadConfigText(std::string(kHead) +
                                        "doors:\n"
                                        "  - id: front\n"
                                        "    unlock_ms: 1\n"
                                        "    held_open_s: 0\n",
                                    "demo.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "demo.yaml:10:16: unlock_ms must be an integer between 100 and 600000, got 1\n"
            "demo.yaml:11:18: held_open_s must be an integer between 1 and 3600, got 0");
}

TEST(ConfigLoader, RejectsAnEmptyDoorList) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors: []\n"),
              ElementsAre("8:8: doors must list at least one door"));
}

TEST(ConfigLoader, ReportsAListItemThatIsNotAMappingAtItsDash) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n"
                                            "  - front\n"
                                            "  -\n"
                                            "  - id: back\n"),
              ElementsAre("9:5: door #1 must be a mapping with the keys id, name, common, "
                          "unlock_ms, held_open_s, io, got \"front\"",
                          "10:3: door #2 must be a mapping with the keys id, name, common, "
                          "unlock_ms, held_open_s, io, got nothing"));
}

TEST(ConfigLoader, RejectsIdsOutsideTheIdAlphabet) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n  - id: front door\n"),
              ElementsAre("9:9: id must be an id of 1 to 64 characters from A-Z, a-z, 0-9, \".\", "
                          "\"_\" and \"-\", got \"front door\""));
  std::vector<std::string> p =
      Problems(std::string(kHead) + "doors:\n  - id: " + std::string(65, 'a') + "\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0], HasSubstr("9:9: id must be an id of 1 to 64 characters"));
}

TEST(ConfigLoader, RejectsUnknownLogLevelAndOverlongSocketPath) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "logging:\n"
                       "  level: verbose\n"
                       "control:\n"
                       "  socket: /" +
                       std::string(120, 's') + "\n"),
              ElementsAre("11:10: logging.level must be one of error, warning, info, debug, got "
                          "\"verbose\"",
                          "13:11: control.socket must be a path of at most 107 bytes (the limit of "
                          "a Unix socket address), got 121 bytes"));
}

TEST(ConfigLoader, RejectsControlCharactersEscapedInQuotedStrings) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n  - id: front\n    name: \"Front\\ndoor\"\n"),
              ElementsAre("10:11: name must be a non-empty string without control characters, got "
                          "\"Front\\x0adoor\""));
}

TEST(ConfigLoader, RejectsYamlMergeKeys) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n"
                                            "  - &base {id: front, unlock_ms: 3000}\n"
                                            "  - <<: *base\n"
                                            "    id: back\n"),
              ElementsAre("10:5: unknown key \"<<\" in door \"back\" (YAML merge keys are not "
                          "supported; write the keys out)"));
}

TEST(ConfigLoader, RejectsAnEmptyFile) {
  EXPECT_THAT(
      Problems("# nothing here\n"),
      ElementsAre("1:1: the file is empty; expected a mapping with the sections site, "
                  "gateway, store, control, logging, policy, cloud, doors, readers, io_modules, "
                  "io, automations, locks, panels, intercom (see config/README.md)"));
}

TEST(ConfigLoader, RejectsATopLevelThatIsNotAMapping) {
  EXPECT_THAT(Problems("- site\n"), ElementsAre(HasSubstr("1:1: the top level must be a mapping")));
}

TEST(ConfigLoader, RejectsASecondYamlDocument) {
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor + "---\nsite: {}\n"),
              ElementsAre("10:1: a second YAML document is not allowed; keep the whole "
                          "configuration in one"));
}

TEST(ConfigLoader, RejectsControlCharactersAtTheirPosition) {
  EXPECT_THAT(Problems(std::string(kHead) + "doors:\n  - id: fr\x01nt\n"),
              ElementsAre("9:11: control character 0x01 is not allowed in YAML (is this a text "
                          "file?)"));
}

// Found by tests/fuzz/config_fuzz.cpp: YAML::LoadAll never returned on a NUL inside a comment.
TEST(ConfigLoader, ReturnsOnANulByteInAComment) {
  EXPECT_THAT(Problems(std::string(",# x\0\0y\n", 9)),
              ElementsAre("1:5: control character 0x00 is not allowed in YAML (is this a text "
                          "file?)"));
}

TEST(ConfigLoader, ReportsMissingFileAsIoError) {
  std::vector<ConfigProblem> problems;
  Result<Config> r = LoadConfigFile("/nonexistent/lintel.yaml", &problems);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/lintel.yaml"));
  EXPECT_TRUE(problems.empty());
}

TEST(ConfigLoader, NamesTheFileInEveryProblem) {
  std::string path = ::testing::TempDir() + "/config_test_bad.yaml";
  {
    std::ofstream out(path);
    out << kHead << "doors:\n  - id: front\n    common: 1\n";
  }
  std::vector<ConfigProblem> problems;
  Result<Config> r = LoadConfigFile(path, &problems);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].ToString(), path + ":10:13: common must be true or false, got 1");
  EXPECT_EQ(r.status().message(), problems[0].ToString());
  std::remove(path.c_str());
}

TEST(ConfigLoader, RejectsFilesLargerThanTheLimit) {
  std::string path = ::testing::TempDir() + "/config_test_big.yaml";
  {
    std::ofstream out(path);
    out << kHead << kOneDoor << std::string(kMaxConfigBytes, '#') << "\n";
  }
  Result<Config> r = LoadConfigFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(":1:1: the file is larger than"));
  std::remove(path.c_str());
}

// ---- what the loaded config turns into -------------------------------------------------------

TEST(ConfigSummary, ListsIdsAndFiguresButNeverKeyMaterial) {
  const std::string key_text = "Bwc9rBiibmdRqg5RI0+BwipUvxOSk99eAf6ZD5TQ5ts=";
  Config c = Load(std::string(kHead) + kOneDoor +
                  "cloud:\n"
                  "  trusted_keys:\n"
                  "    - kid: cloud-2026\n"
                  "      public_key: \"" +
                  key_text + "\"\n");
  std::string summary = Summarize(c);
  EXPECT_THAT(summary, HasSubstr("maple-court"));
  EXPECT_THAT(summary, HasSubstr("Europe/Berlin"));
  EXPECT_THAT(summary, HasSubstr("gw-1"));
  EXPECT_THAT(summary, HasSubstr("lintel.db"));
  EXPECT_THAT(summary, HasSubstr("1 door: front"));
  EXPECT_THAT(summary, HasSubstr("1 trusted cloud key: cloud-2026"));
  EXPECT_THAT(summary, Not(HasSubstr(key_text)));
  EXPECT_THAT(summary, Not(HasSubstr(key_text.substr(0, 8))));
  EXPECT_THAT(summary, Not(HasSubstr("07073dac")));  // nor the bytes as hex
  for (uint8_t b : c.trusted_keys[0].public_key) {
    if (b >= 0x80 || (b < 0x20 && b != '\n')) {
      EXPECT_EQ(summary.find(static_cast<char>(b)), std::string::npos);
    }
  }
}

TEST(ConfigSummary, DescribesTheDemoBuilding) {
  Result<Config> r = LoadConfigFile(SourceDir() + "/config/examples/demo.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Summarize(*r),
            "site maple-court (time zone Europe/Berlin), gateway gw-1\n"
            "store /var/lib/lintel/lintel.db, control socket /run/lintel/lintel.sock, log level "
            "info\n"
            "8 doors: front (common), garage (common), bike-room, unit-101, unit-102, roof, "
            "unit-201, lobby (common)\n"
            "4 readers: front-keypad -> front (keypad, wiegand replay "
            "/run/lintel/front-keypad.wiegand, h10301, keys 4bit), front-card -> front (wiegand "
            "replay /run/lintel/front-card.wiegand, h10301/h10306), garage-card -> garage, "
            "unit-101-keypad -> unit-101 (keypad)\n"
            "1 io module: io1 (modbus tcp 127.0.0.1:1502 unit 1, 9 points, watchdog)\n"
            "door I/O: front (lock io1.front-lock, contact, rex, fire egress), garage (lock "
            "io1.garage-lock, contact, rex); fire release io1.fire; tamper io1.tamper\n"
            "1 lock: unit-201-lock -> unit-201 (nuki 54:D2:72:00:02:01 on hci0, unlatch, syncs "
            "codes and authorizations)\n"
            "1 panel: lobby-panel -> lobby (2n http://127.0.0.1:8081, digest auth, switch 1, "
            "keypad)\n"
            "1 automation: forced-sounder (on door.forced)\n"
            "1 trusted cloud key: demo-cloud-1\n"
            "cloud: no broker (runs on the stored state)\n"
            "policy: rent grace 5 days; PINs 4-8 digits, leading 9 reserved; keypad lockout after "
            "5 failures within 60 s, for 300 s\n");
}

TEST(ConfigSummary, SaysWhenTheKeypadLockoutIsOff) {
  Config c = Load(std::string(kHead) + kOneDoor + "policy:\n  keypad_lockout:\n    failures: 0\n");
  EXPECT_THAT(Summarize(c), HasSubstr("keypad lockout off"));
}

TEST(ConfigSite, MakeSiteCarriesDoorsPolicyAndZone) {
  Result<Config> r = LoadConfigFile(SourceDir() + "/config/examples/demo.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  rules::Site site = MakeSite(*r);
  EXPECT_EQ(site.id, "maple-court");
  ASSERT_EQ(site.doors.size(), 8u);
  EXPECT_EQ(site.doors[0].id, "front");
  EXPECT_TRUE(site.doors[0].common);
  EXPECT_EQ(site.doors[5].id, "roof");
  EXPECT_FALSE(site.doors[5].common);
  EXPECT_EQ(site.policy.rent_grace_days, 5);
  ASSERT_NE(site.zone, nullptr);
  EXPECT_EQ(site.zone->name(), "Europe/Berlin");
}

}  // namespace
}  // namespace lintel::config

// ---- cloud link (issue 3)
// ------------------------------------------------------------------------

namespace lintel::config {
namespace {

constexpr const char kKey[] =
    "  trusted_keys:\n    - kid: cloud-1\n"
    "      public_key: \"Bwc9rBiibmdRqg5RI0+BwipUvxOSk99eAf6ZD5TQ5ts=\"\n";

TEST(ConfigCloud, ReadsBrokerTlsAndOfflinePolicy) {
  Config c = Load(std::string(kHead) + kOneDoor +
                  "cloud:\n"
                  "  broker: ssl://mqtt.example.com:8883\n"
                  "  mqtt_version: 5\n"
                  "  keep_alive_s: 20\n"
                  "  tls: {ca_file: /etc/lintel/ca.pem, cert_file: /etc/lintel/gw.crt, "
                  "key_file: /etc/lintel/gw.key}\n"
                  "  offline: {policy: staff_only, staff_only_after_h: 48}\n" +
                  kKey);
  EXPECT_EQ(c.cloud.broker, "ssl://mqtt.example.com:8883");
  EXPECT_EQ(c.cloud.mqtt_version, 5);
  EXPECT_EQ(c.cloud.keep_alive_s, 20);
  EXPECT_EQ(c.cloud.ca_file, "/etc/lintel/ca.pem");
  EXPECT_EQ(c.cloud.cert_file, "/etc/lintel/gw.crt");
  EXPECT_EQ(c.cloud.key_file, "/etc/lintel/gw.key");
  EXPECT_EQ(c.cloud.offline, OfflinePolicy::kStaffOnly);
  EXPECT_EQ(c.cloud.staff_only_after_h, 48);
  EXPECT_NE(Summarize(c).find("cloud: ssl://mqtt.example.com:8883 (MQTT 5, client certificate); "
                              "offline: staff only 48 h after the head expires"),
            std::string::npos)
      << Summarize(c);
}

TEST(ConfigCloud, DefaultsKeepEnforcingWithNoBroker) {
  Config c = Load(std::string(kHead) + kOneDoor);
  EXPECT_TRUE(c.cloud.broker.empty());
  EXPECT_EQ(c.cloud.mqtt_version, 4);
  EXPECT_EQ(c.cloud.offline, OfflinePolicy::kKeepEnforcing);
  EXPECT_EQ(c.cloud.staff_only_after_h, 72);
}

TEST(ConfigCloud, ReportsBadBrokerSettingsWithTheirPosition) {
  EXPECT_THAT(
      Problems(std::string(kHead) + kOneDoor + "cloud:\n  broker: mqtt.example.com\n" + kKey),
      ElementsAre("11:11: cloud.broker must be an address like tcp://127.0.0.1:1883 or "
                  "ssl://mqtt.example.com:8883, got \"mqtt.example.com\""));
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor + "cloud:\n  broker: tcp://127.0.0.1:1883\n"),
              ElementsAre("11:11: cloud.broker is set but cloud.trusted_keys is empty: every "
                          "cloud message would be rejected (add the cloud's signing key: kid and "
                          "public_key)"));
  EXPECT_THAT(
      Problems(std::string(kHead) + kOneDoor +
               "cloud:\n  broker: tcp://127.0.0.1:1883\n  tls:\n    cert_file: a.crt\n" + kKey),
      ElementsAre("13:5: cloud.tls is set but cloud.broker \"tcp://127.0.0.1:1883\" is not "
                  "a TLS address (use ssl://host:8883)",
                  "13:16: cloud.tls needs both cert_file and key_file (the client "
                  "certificate and its private key), or neither"));
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "cloud:\n  offline: {policy: staff_first, staff_only_after_h: 0}\n"),
              ::testing::SizeIs(2));
}

TEST(ConfigCloud, Issue10ReadsPerTopicLimitsWithSaneDefaults) {
  Config d = Load(std::string(kHead) + kOneDoor);
  EXPECT_EQ(d.cloud.limits.snapshot_page_bytes, 16 << 20);
  EXPECT_EQ(d.cloud.limits.delta_bytes, 4 << 20);
  EXPECT_EQ(d.cloud.limits.command_bytes, 64 << 10);
  EXPECT_EQ(d.cloud.limits.queue_messages, 1000);
  EXPECT_EQ(d.cloud.limits.reject_journal_interval_s, 60);
  Config c = Load(std::string(kHead) + kOneDoor +
                  "cloud:\n  limits: {snapshot_page_bytes: 2097152, delta_bytes: 65536, "
                  "command_bytes: 4096, head_bytes: 2048, events_ack_bytes: 2048, "
                  "queue_messages: 64, queue_bytes: 8388608, reject_journal_interval_s: 10}\n");
  EXPECT_EQ(c.cloud.limits.snapshot_page_bytes, 2097152);
  EXPECT_EQ(c.cloud.limits.delta_bytes, 65536);
  EXPECT_EQ(c.cloud.limits.command_bytes, 4096);
  EXPECT_EQ(c.cloud.limits.head_bytes, 2048);
  EXPECT_EQ(c.cloud.limits.events_ack_bytes, 2048);
  EXPECT_EQ(c.cloud.limits.queue_messages, 64);
  EXPECT_EQ(c.cloud.limits.queue_bytes, 8388608);
  EXPECT_EQ(c.cloud.limits.reject_journal_interval_s, 10);
  EXPECT_THAT(
      Problems(std::string(kHead) + kOneDoor + "cloud:\n  limits: {delta_bytes: 12, color: red}\n"),
      ::testing::SizeIs(2));
  EXPECT_THAT(Problems(std::string(kHead) + kOneDoor +
                       "cloud:\n  limits: {snapshot_page_bytes: 33554432, queue_bytes: 1048576}\n"),
              ElementsAre(::testing::HasSubstr("cloud.limits.queue_bytes (1048576) must hold at "
                                               "least the largest message allowed (33554432")));
}

}  // namespace
}  // namespace lintel::config
