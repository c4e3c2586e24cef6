// locks: BLE locks as door actuators (issue 11 point 3): what loads, every problem at its line and
// column, the example file, and the security PIN file reader.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"

namespace lintel::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string SourceDir() {
  const char* dir = std::getenv("LINTEL_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

// Lines 1-7; what a test appends starts at line 8.
constexpr const char kHead[] =
    "site: {id: s, time_zone: UTC}\n"
    "gateway: {id: g}\n"
    "store: {path: l.db}\n"
    "doors:\n"
    "  - id: front\n"
    "  - id: unit-101\n"
    "  - id: unit-102\n";

// A valid lock on unit-101 (7 lines).
constexpr const char kLock101[] =
    "  - id: lock-101\n"
    "    type: nuki\n"
    "    door: unit-101\n"
    "    address: \"54:D2:72:1A:2B:3C\"\n"
    "    credentials: /var/lib/lintel/locks/lock-101.nuki\n"
    "    security_pin_file: /etc/lintel/locks/101.pin\n";

std::vector<std::string> Problems(const std::string& rest) {
  std::vector<ConfigProblem> problems;
  Result<Config> r = LoadConfigText(kHead + rest, "t.yaml", &problems);
  EXPECT_FALSE(r.ok()) << "expected problems in:\n" << rest;
  std::vector<std::string> out;
  for (const ConfigProblem& p : problems) {
    EXPECT_EQ(p.file, "t.yaml");
    out.push_back(std::to_string(p.line) + ":" + std::to_string(p.column) + ": " + p.message);
  }
  return out;
}

Config Load(const std::string& rest) {
  Result<Config> r = LoadConfigText(kHead + rest, "t.yaml");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Config{};
}

// ---- what loads ---------------------------------------------------------------------------------

TEST(LocksConfig, ReadsALockWithEveryDefault) {
  Config c = Load(std::string("locks:\n") + kLock101);
  ASSERT_EQ(c.locks.size(), 1u);
  const LockConfig& k = c.locks[0];
  EXPECT_EQ(k.id, "lock-101");
  EXPECT_EQ(k.type, "nuki");
  EXPECT_EQ(k.door, "unit-101");
  EXPECT_EQ(k.address, "54:D2:72:1A:2B:3C");
  EXPECT_EQ(k.adapter, "hci0");
  EXPECT_EQ(k.credentials, "/var/lib/lintel/locks/lock-101.nuki");
  EXPECT_EQ(k.security_pin_file, "/etc/lintel/locks/101.pin");
  EXPECT_TRUE(k.sync_codes);
  EXPECT_TRUE(k.sync_authorizations);
  EXPECT_EQ(k.name_prefix, "");
  EXPECT_EQ(k.poll_minutes, 60);
  EXPECT_EQ(k.unlock_action, UnlockAction::kUnlatch);
  EXPECT_EQ(k.disconnect_after_ms, 2000);
  EXPECT_EQ(FindLockForDoor(c, "unit-101"), &c.locks[0]);
  EXPECT_EQ(FindLockForDoor(c, "front"), nullptr);
}

TEST(LocksConfig, ReadsEveryKeyAndUpperCasesTheAddress) {
  Config c = Load(std::string("locks:\n") + kLock101 +
                  "  - id: lock-102\n"
                  "    type: nuki\n"
                  "    door: unit-102\n"
                  "    address: 54:d2:72:4d:5e:6f\n"  // unquoted, lower case
                  "    adapter: hci1\n"
                  "    credentials: /var/lib/lintel/locks/lock-102.nuki\n"
                  "    security_pin_file: /etc/lintel/locks/101.pin\n"  // one PIN for both: fine
                  "    sync: {codes: false, authorizations: false, name_prefix: \"MC \"}\n"
                  "    poll_minutes: 15\n"
                  "    unlock_action: unlock\n"
                  "    disconnect_after_ms: 60000\n");
  ASSERT_EQ(c.locks.size(), 2u);
  LockConfig want;
  want.id = "lock-102";
  want.door = "unit-102";
  want.address = "54:D2:72:4D:5E:6F";
  want.adapter = "hci1";
  want.credentials = "/var/lib/lintel/locks/lock-102.nuki";
  want.security_pin_file = "/etc/lintel/locks/101.pin";
  want.sync_codes = false;
  want.sync_authorizations = false;
  want.name_prefix = "MC ";
  want.poll_minutes = 15;
  want.unlock_action = UnlockAction::kUnlock;
  want.disconnect_after_ms = 60000;
  EXPECT_EQ(c.locks[1], want);
}

TEST(LocksConfig, ReadsAnUnquotedAddressInAFlowMapping) {
  Config c = Load(
      "locks:\n"
      "  - {id: l, type: nuki, door: front, address: AA:BB:CC:DD:EE:FF, credentials: /c/l,\n"
      "     security_pin_file: /c/pin}\n");
  ASSERT_EQ(c.locks.size(), 1u);
  EXPECT_EQ(c.locks[0].address, "AA:BB:CC:DD:EE:FF");
}

TEST(LocksConfig, SummaryNamesEachLockButNoFile) {
  Config c = Load(std::string("locks:\n") + kLock101);
  std::string s = Summarize(c);
  EXPECT_THAT(s, HasSubstr("1 lock: lock-101 -> unit-101 (nuki 54:D2:72:1A:2B:3C on hci0, "
                           "unlatch, syncs codes and authorizations)\n"));
  EXPECT_THAT(s, Not(HasSubstr("/etc/lintel")));
  EXPECT_THAT(s, Not(HasSubstr("/var/lib/lintel/locks")));
}

TEST(LocksConfig, AFileWithoutLocksHasNoneAndNoLockLine) {
  Config c = Load("");
  EXPECT_TRUE(c.locks.empty());
  EXPECT_THAT(Summarize(c), Not(HasSubstr("lock:")));
  EXPECT_THAT(Summarize(c), Not(HasSubstr("locks:")));
}

TEST(LocksConfig, TheExampleFileLoads) {
  std::vector<ConfigProblem> problems;
  Result<Config> r = LoadConfigFile(SourceDir() + "/config/examples/ble-locks.yaml", &problems);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->locks.size(), 2u);
  EXPECT_EQ(r->locks[0].door, "unit-101");
  EXPECT_EQ(r->locks[0].unlock_action, UnlockAction::kUnlatch);
  EXPECT_EQ(r->locks[1].address, "54:D2:72:4D:5E:6F");
  EXPECT_EQ(r->locks[1].adapter, "hci1");
  EXPECT_FALSE(r->locks[1].sync_authorizations);
  EXPECT_EQ(r->locks[1].unlock_action, UnlockAction::kUnlock);
}

// ---- problems -----------------------------------------------------------------------------------

TEST(LocksConfig, RejectsALockOnAnUnknownDoor) {
  EXPECT_THAT(Problems("locks:\n"
                       "  - id: l\n"
                       "    type: nuki\n"
                       "    door: unit-103\n"
                       "    address: \"54:D2:72:1A:2B:3C\"\n"
                       "    credentials: /c/l\n"
                       "    security_pin_file: /c/pin\n"),
              ElementsAre("11:11: lock \"l\" refers to door \"unit-103\" which is not defined in "
                          "doors"));
}

TEST(LocksConfig, RejectsDuplicateIdsAddressesDoorsAndCredentials) {
  EXPECT_THAT(
      Problems(std::string("locks:\n") + kLock101 +
               "  - id: lock-101\n"                                      // line 15
               "    type: nuki\n"                                        // 16
               "    door: unit-101\n"                                    // 17
               "    address: \"54:d2:72:1a:2b:3c\"\n"                    // 18
               "    credentials: /var/lib/lintel/locks/lock-101.nuki\n"  // 19
               "    security_pin_file: /etc/lintel/locks/101.pin\n"),
      ElementsAre("15:9: duplicate lock id \"lock-101\" (first at 9:9)",
                  "17:11: lock \"lock-101\": door \"unit-101\" already has lock \"lock-101\" (at "
                  "11:11); a door has one lock",
                  "18:14: Bluetooth address 54:D2:72:1A:2B:3C is already used by lock "
                  "\"lock-101\" (at 12:14)",
                  "19:18: credentials file /var/lib/lintel/locks/lock-101.nuki is already used by "
                  "lock \"lock-101\" (at 13:18)"));
}

TEST(LocksConfig, RejectsADoorWithBothAnIoLockAndABleLock) {
  std::vector<ConfigProblem> problems;
  Result<Config> r = LoadConfigText(
      "site: {id: s, time_zone: UTC}\n"
      "gateway: {id: g}\n"
      "store: {path: l.db}\n"
      "io_modules:\n"
      "  - {id: io1, type: modbus, tcp: {host: 127.0.0.1}, points: [{name: lock, coil: 1}]}\n"
      "doors:\n"
      "  - id: unit-101\n"
      "    io: {lock: io1.lock}\n"
      "locks:\n"
      "  - id: l\n"
      "    type: nuki\n"
      "    door: unit-101\n"
      "    address: \"54:D2:72:1A:2B:3C\"\n"
      "    credentials: /c/l\n"
      "    security_pin_file: /c/pin\n",
      "t.yaml", &problems);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(problems.size(), 1u) << r.status().ToString();
  EXPECT_EQ(problems[0].ToString(),
            "t.yaml:12:11: lock \"l\": door \"unit-101\" is wired to an I/O lock point (its io at "
            "8:9); a door has one actuator: remove its io or this lock");
}

TEST(LocksConfig, RejectsABadAddressNamingTheRightForm) {
  EXPECT_THAT(Problems("locks:\n"
                       "  - id: l\n"
                       "    type: nuki\n"
                       "    door: front\n"
                       "    address: 54-D2-72-1A-2B-3C\n"
                       "    credentials: /c/l\n"
                       "    security_pin_file: /c/pin\n"),
              ElementsAre("12:14: address must be a Bluetooth address like 54:D2:72:AB:CD:EF (six "
                          "pairs of hex digits separated by \":\"), got \"54-D2-72-1A-2B-3C\""));
  EXPECT_THAT(Problems("locks:\n"
                       "  - id: l\n"
                       "    type: nuki\n"
                       "    door: front\n"
                       "    address: \"54:D2:72:1A:2B:3G\"\n"
                       "    credentials: /c/l\n"
                       "    security_pin_file: /c/pin\n"),
              ElementsAre(HasSubstr("12:14: address must be a Bluetooth address like")));
  EXPECT_THAT(Problems("locks:\n"
                       "  - id: l\n"
                       "    type: nuki\n"
                       "    door: front\n"
                       "    address: \"54:D2:72:1A:2B\"\n"
                       "    credentials: /c/l\n"
                       "    security_pin_file: /c/pin\n"),
              ElementsAre(HasSubstr("12:14: address must be a Bluetooth address like")));
}

// One lock on `front` with `line` as its last line (line 15).
std::string LockWith(const std::string& line) {
  return "locks:\n"
         "  - id: l\n"
         "    type: nuki\n"
         "    door: front\n"
         "    address: \"54:D2:72:1A:2B:3C\"\n"
         "    credentials: /c/l\n"
         "    security_pin_file: /c/pin\n"
         "    " +
         line + "\n";
}

TEST(LocksConfig, RejectsBadValuesWithWhatWouldBeRight) {
  EXPECT_THAT(Problems(LockWith("unlock_action: open")),
              ElementsAre("15:20: unlock_action must be one of unlatch, unlock, got \"open\""));
  EXPECT_THAT(Problems(LockWith("poll_minutes: 5")),
              ElementsAre("15:19: poll_minutes must be an integer between 15 and 1440 (minutes "
                          "between state reads when the lock advertises no change; every "
                          "connection costs battery), got 5"));
  EXPECT_THAT(Problems(LockWith("poll_minutes: 1441")),
              ElementsAre(HasSubstr("15:19: poll_minutes must be an integer between 15 and 1440")));
  EXPECT_THAT(Problems(LockWith("disconnect_after_ms: 99")),
              ElementsAre("15:26: disconnect_after_ms must be an integer between 100 and 60000, "
                          "got 99"));
  EXPECT_THAT(Problems(LockWith("adapter: hci")),
              ElementsAre("15:14: adapter must be a Bluetooth adapter name such as hci0, got "
                          "\"hci\""));
  EXPECT_THAT(Problems(LockWith("adapter: /org/bluez/hci0")),
              ElementsAre(HasSubstr("15:14: adapter must be a Bluetooth adapter name")));
  EXPECT_THAT(Problems(LockWith("sync: {codes: yes}")),
              ElementsAre("15:19: sync.codes must be true or false, got \"yes\""));
  EXPECT_THAT(Problems(LockWith("sync: {name_prefix: \"Maple Court \"}")),
              ElementsAre("15:25: sync.name_prefix must be up to 8 printable ASCII characters, "
                          "got \"Maple Court \""));
  EXPECT_THAT(Problems(LockWith("sync: {name_prefix: \"Café\"}")),
              ElementsAre(HasSubstr("15:25: sync.name_prefix must be up to 8 printable ASCII")));
}

TEST(LocksConfig, RejectsAnUnknownTypeNamingTheKnownOnes) {
  EXPECT_THAT(Problems("locks:\n"
                       "  - id: l\n"
                       "    type: august\n"
                       "    door: front\n"
                       "    address: \"54:D2:72:1A:2B:3C\"\n"
                       "    credentials: /c/l\n"
                       "    security_pin_file: /c/pin\n"),
              ElementsAre("10:11: type must be one of nuki, got \"august\""));
}

TEST(LocksConfig, RejectsUnknownKeysWithASuggestion) {
  EXPECT_THAT(Problems(LockWith("adress: \"54:D2:72:1A:2B:3C\"")),
              ElementsAre("15:5: unknown key \"adress\" in lock \"l\" (did you mean "
                          "\"address\"?)"));
  EXPECT_THAT(Problems(LockWith("unlock_acton: unlock")),
              ElementsAre("15:5: unknown key \"unlock_acton\" in lock \"l\" (did you mean "
                          "\"unlock_action\"?)"));
  // The PIN itself has no key: it lives in security_pin_file.
  EXPECT_THAT(Problems(LockWith("security_pin: 1234")),
              ElementsAre("15:5: unknown key \"security_pin\" in lock \"l\" (expected one of: id, "
                          "type, door, address, adapter, credentials, security_pin_file, sync, "
                          "poll_minutes, unlock_action, disconnect_after_ms)"));
  EXPECT_THAT(Problems(LockWith("sync: {code: true}")),
              ElementsAre("15:12: unknown key \"code\" in sync (did you mean \"codes\"?)"));
}

TEST(LocksConfig, RequiresTheIdentityKeys) {
  EXPECT_THAT(
      Problems("locks:\n"
               "  - id: l\n"),
      ElementsAre("9:5: missing required key \"type\" in lock \"l\"; expected one of nuki",
                  "9:5: missing required key \"door\" in lock \"l\"; expected " +
                      std::string("an id of 1 to 64 characters from A-Z, a-z, 0-9, \".\", \"_\" "
                                  "and \"-\""),
                  "9:5: missing required key \"address\" in lock \"l\"; expected a Bluetooth "
                  "address like 54:D2:72:AB:CD:EF (six pairs of hex digits separated by \":\")",
                  "9:5: missing required key \"credentials\" in lock \"l\"; expected an absolute "
                  "file path",
                  "9:5: missing required key \"security_pin_file\" in lock \"l\"; expected an "
                  "absolute file path"));
}

TEST(LocksConfig, RejectsRelativeFilePaths) {
  EXPECT_THAT(Problems("locks:\n"
                       "  - id: l\n"
                       "    type: nuki\n"
                       "    door: front\n"
                       "    address: \"54:D2:72:1A:2B:3C\"\n"
                       "    credentials: locks/l.nuki\n"
                       "    security_pin_file: /etc/lintel/locks/\n"),
              ElementsAre("13:18: credentials must be an absolute path of a file (such as "
                          "/var/lib/lintel/locks/front.nuki): the daemon, lintelctl and "
                          "--check-config run in different directories, got \"locks/l.nuki\"",
                          HasSubstr("14:24: security_pin_file must be an absolute path of a "
                                    "file")));
}

TEST(LocksConfig, RejectsCredentialsThatAreAPinFile) {
  EXPECT_THAT(Problems(std::string("locks:\n") + kLock101 +
                       "  - id: lock-102\n"
                       "    type: nuki\n"
                       "    door: unit-102\n"
                       "    address: \"54:D2:72:1A:2B:3D\"\n"
                       "    credentials: /etc/lintel/locks/101.pin\n"
                       "    security_pin_file: /etc/lintel/locks/102.pin\n"),
              ElementsAre("19:18: credentials file /etc/lintel/locks/101.pin is also the "
                          "security_pin_file of a lock (at 14:24); pairing would overwrite the "
                          "PIN: give the credentials a file of their own"));
  // Two locks share the PIN file the third uses as credentials: one problem, at the credentials.
  EXPECT_THAT(Problems(std::string("locks:\n") + kLock101 +
                       "  - id: lock-102\n"
                       "    type: nuki\n"
                       "    door: unit-102\n"
                       "    address: \"54:D2:72:1A:2B:3D\"\n"
                       "    credentials: /var/lib/lintel/locks/lock-102.nuki\n"
                       "    security_pin_file: /etc/lintel/locks/101.pin\n"
                       "  - id: lock-front\n"
                       "    type: nuki\n"
                       "    door: front\n"
                       "    address: \"54:D2:72:1A:2B:3E\"\n"
                       "    credentials: /etc/lintel/locks/101.pin\n"
                       "    security_pin_file: /etc/lintel/locks/101.pin\n"),
              ElementsAre("25:18: credentials file /etc/lintel/locks/101.pin is also the "
                          "security_pin_file of a lock (at 14:24); pairing would overwrite the "
                          "PIN: give the credentials a file of their own"));
}

// ---- the security PIN file ----------------------------------------------------------------------

class PinFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/lintel-pin-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (const std::string& p : files_) ::unlink(p.c_str());
    ::rmdir((dir_ + "/sub").c_str());
    ::rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(PinFile, ReadsThePinFromAPrivateFile) {
  Result<uint16_t> pin = ReadSecurityPinFile(Write("a.pin", "1234\n", 0600));
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  EXPECT_EQ(*pin, 1234);
  pin = ReadSecurityPinFile(Write("b.pin", " 0042 \r\n", 0640));  // root:lintel 0640 is fine
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  EXPECT_EQ(*pin, 42);
  pin = ReadSecurityPinFile(Write("c.pin", "65535", 0400));
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  EXPECT_EQ(*pin, 65535);
}

TEST_F(PinFile, RefusesAFileOthersCanReadOrTheGroupCanWrite) {
  Result<uint16_t> pin = ReadSecurityPinFile(Write("a.pin", "1234\n", 0644));
  EXPECT_EQ(pin.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(pin.status().message(), HasSubstr("is accessible by other users: chmod 0600"));
  pin = ReadSecurityPinFile(Write("b.pin", "1234\n", 0660));
  EXPECT_EQ(pin.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(pin.status().message(), HasSubstr("is writable by its group"));
  ASSERT_EQ(::mkdir((dir_ + "/sub").c_str(), 0700), 0);
  pin = ReadSecurityPinFile(dir_ + "/sub");
  EXPECT_EQ(pin.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(PinFile, ReportsAMissingFile) {
  Result<uint16_t> pin = ReadSecurityPinFile(dir_ + "/none.pin");
  EXPECT_EQ(pin.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(pin.status().message(), HasSubstr(dir_ + "/none.pin"));
}

TEST_F(PinFile, RefusesAnythingButOneNumberAndNeverEchoesTheContent) {
  for (const char* text : {"", "\n", "12a4\n", "65536\n", "123456\n", "12 34\n", "1234\n5678\n",
                           "-1\n", "0x10\n", "1234\n\n", "99999999999999999999999999999999999"}) {
    Result<uint16_t> pin = ReadSecurityPinFile(Write("x.pin", text, 0600));
    ASSERT_FALSE(pin.ok()) << "accepted " << text;
    EXPECT_EQ(pin.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(pin.status().message(), HasSubstr("must hold the lock's security PIN"));
  }
  Result<uint16_t> pin = ReadSecurityPinFile(Write("y.pin", "4711x\n", 0600));
  EXPECT_THAT(pin.status().message(), Not(HasSubstr("4711")));
}

}  // namespace
}  // namespace lintel::config
