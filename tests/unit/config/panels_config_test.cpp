// panels: and intercom: (issue 12 point 4): what loads, every problem at its line and column, the
// cross-checks (one actuator per door, a panel is a reader, Akuvox needs the listener), the
// summary without secrets, and the panels' secret file reader with its mode check.
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

// Lines 1-8; what a test appends starts at line 9.
constexpr const char kHead[] =
    "site: {id: s, time_zone: UTC}\n"
    "gateway: {id: g}\n"
    "store: {path: l.db}\n"
    "doors:\n"
    "  - id: lobby\n"
    "  - id: gate\n"
    "  - id: garage\n"
    "readers: [{id: garage-card, door: garage}]\n";

// A 2N panel on the lobby with Digest auth (lines 10-16 after "panels:" at line 9).
constexpr const char kLobby[] =
    "  - id: lobby-panel\n"
    "    type: 2n\n"
    "    door: lobby\n"
    "    url: http://192.0.2.10\n"
    "    auth: digest\n"
    "    user: lintel\n"
    "    password_file: /etc/lintel/panels/lobby.password\n";

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

TEST(PanelsConfig, ReadsA2NPanelWithEveryDefault) {
  Config c = Load(std::string("panels:\n") + kLobby);
  ASSERT_EQ(c.panels.size(), 1u);
  const PanelConfig& p = c.panels[0];
  EXPECT_EQ(p.id, "lobby-panel");
  EXPECT_EQ(p.type, "2n");
  EXPECT_EQ(p.door, "lobby");
  EXPECT_EQ(p.url, "http://192.0.2.10");
  EXPECT_EQ(p.auth, PanelAuth::kDigest);
  EXPECT_EQ(p.user, "lintel");
  EXPECT_EQ(p.password_file, "/etc/lintel/panels/lobby.password");
  EXPECT_EQ(p.ca_file, "");
  EXPECT_EQ(p.pinned_sha256, "");
  EXPECT_EQ(p.output, 1);
  EXPECT_TRUE(p.keypad);
  EXPECT_FALSE(p.unlock_seconds.has_value());
  EXPECT_FALSE(p.action_url.has_value());
  EXPECT_EQ(FindPanelForDoor(c, "lobby"), &c.panels[0]);
  EXPECT_EQ(FindPanelForDoor(c, "gate"), nullptr);
  EXPECT_TRUE(c.intercom.listen_address.empty());  // no Akuvox panel, no listener needed
}

TEST(PanelsConfig, ReadsEveryKeyOfBothTypes) {
  Config c = Load(
      "panels:\n"
      "  - id: lobby-panel\n"
      "    type: 2n\n"
      "    door: lobby\n"
      "    url: https://lobby.example.net:8443\n"
      "    auth: basic\n"
      "    user: admin\n"
      "    password_file: /etc/lintel/panels/lobby.password\n"
      "    pinned_sha256: \"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:"
      "89:AB:CD:EF:01:23:45:67:89\"\n"
      "    switch: 2\n"
      "    keypad: false\n"
      "    unlock_seconds: 7\n"
      "  - id: gate-panel\n"
      "    type: akuvox\n"
      "    door: gate\n"
      "    url: https://[2001:db8::7]\n"
      "    ca_file: /etc/lintel/panels/ca.pem\n"
      "    relay: 3\n"
      "    action_url: {secret_file: /etc/lintel/panels/gate.secret, panel_address: "
      "\"2001:db8::7\"}\n"
      "intercom: {listen: \"[::]:8090\"}\n");
  ASSERT_EQ(c.panels.size(), 2u);
  PanelConfig want;
  want.id = "lobby-panel";
  want.type = "2n";
  want.door = "lobby";
  want.url = "https://lobby.example.net:8443";
  want.auth = PanelAuth::kBasic;
  want.user = "admin";
  want.password_file = "/etc/lintel/panels/lobby.password";
  want.pinned_sha256 =
      "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:"
      "67:89";
  want.output = 2;
  want.keypad = false;
  want.unlock_seconds = 7;
  EXPECT_EQ(c.panels[0], want);
  const PanelConfig& g = c.panels[1];
  EXPECT_EQ(g.type, "akuvox");
  EXPECT_EQ(g.auth, PanelAuth::kNone);
  EXPECT_EQ(g.ca_file, "/etc/lintel/panels/ca.pem");
  EXPECT_EQ(g.output, 3);
  ASSERT_TRUE(g.action_url.has_value());
  EXPECT_EQ(g.action_url->secret_file, "/etc/lintel/panels/gate.secret");
  EXPECT_EQ(g.action_url->panel_address, "2001:db8::7");
  EXPECT_EQ(c.intercom.listen_address, "::");
  EXPECT_EQ(c.intercom.listen_port, 8090);
}

TEST(PanelsConfig, SummaryNamesEachPanelButNoFile) {
  Config c = Load(std::string("panels:\n") + kLobby);
  std::string s = Summarize(c);
  EXPECT_THAT(s, HasSubstr("1 panel: lobby-panel -> lobby (2n http://192.0.2.10, digest auth, "
                           "switch 1, keypad)\n"));
  EXPECT_THAT(s, Not(HasSubstr("/etc/lintel")));
  EXPECT_THAT(Summarize(Load("")), Not(HasSubstr("panel")));
}

TEST(PanelsConfig, TheDemoExampleHasTheLobbyPanel) {
  Result<Config> r = LoadConfigFile(SourceDir() + "/config/examples/demo.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->panels.size(), 1u);
  EXPECT_EQ(r->panels[0].type, "2n");
  EXPECT_EQ(FindPanelForDoor(*r, r->panels[0].door), &r->panels[0]);
}

// ---- problems -----------------------------------------------------------------------------------

// One 2N panel on `gate` with `line` as its last line (line 15).
std::string PanelWith(const std::string& line) {
  return "panels:\n"
         "  - id: p\n"
         "    type: 2n\n"
         "    door: gate\n"
         "    url: http://192.0.2.11\n"
         "    auth: none\n"
         "    " +
         line + "\n";
}

TEST(PanelsConfig, RejectsAPanelOnAnUnknownDoor) {
  EXPECT_THAT(Problems("panels:\n"
                       "  - {id: p, type: 2n, door: hall, url: \"http://192.0.2.11\"}\n"),
              ElementsAre("10:29: panel \"p\" refers to door \"hall\" which is not defined in "
                          "doors"));
}

TEST(PanelsConfig, RejectsBadValuesWithWhatWouldBeRight) {
  EXPECT_THAT(Problems("panels:\n  - {id: p, type: doorbird, door: gate, url: http://a}\n"),
              ElementsAre("10:19: type must be one of 2n, akuvox, got \"doorbird\""));
  EXPECT_THAT(Problems(PanelWith("switch: 5")),
              ElementsAre("15:13: switch must be an integer between 1 and 4 (the 2N switch that "
                          "opens the door), got 5"));
  EXPECT_THAT(Problems(PanelWith("unlock_seconds: 0")),
              ElementsAre("15:21: unlock_seconds must be an integer between 1 and 600, got 0"));
  EXPECT_THAT(Problems(PanelWith("keypad: yes")),
              ElementsAre("15:13: keypad must be true or false, got \"yes\""));
  EXPECT_THAT(Problems(PanelWith("relay: 1")),
              ElementsAre("15:12: panel \"p\": a 2N panel opens the door with a switch: write "
                          "switch, not relay"));
  EXPECT_THAT(Problems(PanelWith("action_url: {secret_file: /s, panel_address: 192.0.2.11}")),
              ElementsAre("15:17: panel \"p\": action_url is for Akuvox panels (a 2N panel's "
                          "events are pulled from its log)"));
}

TEST(PanelsConfig, RejectsUrlsThatAreNotABaseUrl) {
  for (const char* url :
       {"ftp://192.0.2.11", "http://192.0.2.11/api", "http://user@192.0.2.11",
        "http://192.0.2.11:0", "http://192.0.2.11:65536", "http://[::1", "192.0.2.11", "http://"}) {
    SCOPED_TRACE(url);
    EXPECT_THAT(
        Problems(std::string("panels:\n  - {id: p, type: 2n, door: gate, url: \"") + url + "\"}\n"),
        ElementsAre(HasSubstr("10:40: url must be the panel's base URL "
                              "\"http://host[:port]\" or \"https://host[:port]\"")));
  }
}

TEST(PanelsConfig, ChecksAuthAgainstUserAndPasswordFile) {
  EXPECT_THAT(Problems("panels:\n"
                       "  - id: p\n"
                       "    type: 2n\n"
                       "    door: gate\n"
                       "    url: http://192.0.2.11\n"
                       "    auth: digest\n"),
              ElementsAre("10:5: missing required key \"user\" in panel \"p\"; expected a user "
                          "name without control characters or \":\"",
                          "10:5: missing required key \"password_file\" in panel \"p\"; expected "
                          "an absolute file path"));
  EXPECT_THAT(Problems(PanelWith("user: admin")),
              ElementsAre("15:11: panel \"p\": user needs auth: basic or auth: digest (auth is "
                          "none)"));
  EXPECT_THAT(Problems(PanelWith("password_file: /etc/lintel/p.password")),
              ElementsAre("15:20: panel \"p\": password_file needs auth: basic or auth: digest "
                          "(auth is none)"));
  EXPECT_THAT(Problems("panels:\n"
                       "  - id: p\n"
                       "    type: 2n\n"
                       "    door: gate\n"
                       "    url: http://192.0.2.11\n"
                       "    auth: basic\n"
                       "    user: admin\n"
                       "    password_file: secrets/p.password\n"),
              ElementsAre(HasSubstr("16:20: password_file must be an absolute path of a file "
                                    "(such as /etc/lintel/panels/lobby.password)")));
  // The password itself has no key.
  EXPECT_THAT(Problems(PanelWith("password: hunter2")),
              ElementsAre(HasSubstr("15:5: unknown key \"password\" in panel \"p\" (expected one "
                                    "of: id, type, door, url, auth, user, password_file,")));
}

TEST(PanelsConfig, ChecksTlsSettingsAgainstTheScheme) {
  EXPECT_THAT(Problems(PanelWith("ca_file: /etc/lintel/ca.pem")),
              ElementsAre("15:14: panel \"p\": ca_file is for https panels; url is http"));
  EXPECT_THAT(Problems("panels:\n  - {id: p, type: 2n, door: gate, url: \"https://192.0.2.11\"}\n"),
              ElementsAre("10:40: panel \"p\": an https panel needs ca_file (the CA that signed "
                          "its certificate) or pinned_sha256 (its certificate's fingerprint)"));
  const std::string pin(64, 'a');
  EXPECT_THAT(Problems("panels:\n  - {id: p, type: 2n, door: gate, url: \"https://192.0.2.11\", "
                       "ca_file: /c.pem, pinned_sha256: " +
                       pin + "}\n"),
              ElementsAre(HasSubstr("panel \"p\": give either ca_file or pinned_sha256, not "
                                    "both")));
  EXPECT_THAT(Problems("panels:\n  - {id: p, type: 2n, door: gate, url: \"https://192.0.2.11\", "
                       "pinned_sha256: abc}\n"),
              ElementsAre(HasSubstr("10:77: pinned_sha256 must be the SHA-256 fingerprint of the "
                                    "panel's certificate: 64 hex digits")));
}

TEST(PanelsConfig, ADoorHasOneActuator) {
  // A second panel on the lobby, a panel on a door with a BLE lock, and one on a door with io.
  std::vector<ConfigProblem> problems;
  Result<Config> r = LoadConfigText(
      "site: {id: s, time_zone: UTC}\n"
      "gateway: {id: g}\n"
      "store: {path: l.db}\n"
      "io_modules:\n"
      "  - {id: io1, type: modbus, tcp: {host: 127.0.0.1}, points: [{name: lock, coil: 1}]}\n"
      "doors:\n"
      "  - id: lobby\n"
      "  - id: unit-101\n"
      "  - id: garage\n"
      "    io: {lock: io1.lock}\n"
      "locks:\n"
      "  - {id: lock-101, type: nuki, door: unit-101, address: \"54:D2:72:1A:2B:3C\", "
      "credentials: /c/l, security_pin_file: /c/pin}\n"
      "panels:\n"
      "  - {id: p1, type: 2n, door: lobby, url: \"http://192.0.2.1\"}\n"
      "  - {id: p2, type: 2n, door: lobby, url: \"http://192.0.2.2\"}\n"
      "  - {id: p3, type: 2n, door: unit-101, url: \"http://192.0.2.3\"}\n"
      "  - {id: p4, type: 2n, door: garage, url: \"http://192.0.2.4\"}\n",
      "t.yaml", &problems);
  ASSERT_FALSE(r.ok());
  std::vector<std::string> got;
  for (const ConfigProblem& p : problems) got.push_back(p.ToString());
  EXPECT_THAT(got,
              ElementsAre("t.yaml:15:30: panel \"p2\": door \"lobby\" already has panel \"p1\" "
                          "(at 14:30); a door has one actuator: one panel per door",
                          "t.yaml:16:30: panel \"p3\": door \"unit-101\" already has lock "
                          "\"lock-101\" (at 12:38); a door has one actuator: remove the lock or "
                          "this panel",
                          "t.yaml:17:30: panel \"p4\": door \"garage\" is wired to an I/O lock "
                          "point (its io at 10:9); a door has one actuator: remove its io or this "
                          "panel"));
}

TEST(PanelsConfig, RejectsDuplicateIdsUrlsAndAReaderId) {
  EXPECT_THAT(
      Problems("panels:\n"
               "  - {id: p, type: 2n, door: lobby, url: \"http://192.0.2.1\"}\n"
               "  - {id: p, type: 2n, door: gate, url: \"http://192.0.2.1\"}\n"
               "  - {id: garage-card, type: 2n, door: garage, url: \"http://192.0.2.3\"}\n"),
      ElementsAre("11:10: duplicate panel id \"p\" (first at 10:10)",
                  "11:40: panel URL http://192.0.2.1 is already used by panel \"p\" (at "
                  "10:41)",
                  "12:10: panel \"garage-card\": id \"garage-card\" is also a reader's "
                  "(at 8:16); a panel is a reader: give it an id of its own"));
}

TEST(PanelsConfig, AkuvoxNeedsActionUrlAndTheListener) {
  EXPECT_THAT(Problems("panels:\n"
                       "  - {id: g, type: akuvox, door: gate, url: \"http://192.0.2.7\"}\n"),
              ElementsAre("10:5: missing required key \"action_url\" in panel \"g\"; expected a "
                          "mapping with the keys secret_file, panel_address",
                          "10:19: panel \"g\": an Akuvox panel sends its codes and cards to the "
                          "gateway's Action URL listener: add intercom: {listen: "
                          "\"0.0.0.0:8090\"} (the address and port it binds)"));
  EXPECT_THAT(Problems("panels:\n"
                       "  - id: g\n"
                       "    type: akuvox\n"
                       "    door: gate\n"
                       "    url: http://192.0.2.7\n"
                       "    switch: 1\n"
                       "    action_url: {secret_file: /s, panel_address: gate.local}\n"
                       "intercom: {listen: \"0.0.0.0:8090\"}\n"),
              ElementsAre("14:13: panel \"g\": an Akuvox panel opens the door with a relay: write "
                          "relay, not switch",
                          "15:50: action_url.panel_address must be an IPv4 or IPv6 address such "
                          "as 192.0.2.10, got \"gate.local\""));
}

TEST(PanelsConfig, RejectsABadListenAddress) {
  for (const char* listen :
       {"0.0.0.0", "0.0.0.0:0", "gw.local:8090", "[::]", "::8090", "0.0.0.0:08090"}) {
    SCOPED_TRACE(listen);
    EXPECT_THAT(Problems(std::string("intercom: {listen: \"") + listen + "\"}\n"),
                ElementsAre(HasSubstr("9:20: intercom.listen must be \"ADDRESS:PORT\" with an IP "
                                      "address and a port 1..65535")));
  }
  Config c = Load("intercom: {listen: \"127.0.0.1:18090\"}\n");
  EXPECT_EQ(c.intercom.listen_address, "127.0.0.1");
  EXPECT_EQ(c.intercom.listen_port, 18090);
}

TEST(PanelsConfig, RejectsASecretFileThatIsALockCredentialsFile) {
  EXPECT_THAT(Problems("locks:\n"
                       "  - {id: l, type: nuki, door: garage, address: \"54:D2:72:1A:2B:3C\", "
                       "credentials: /c/l, security_pin_file: /c/pin}\n"
                       "panels:\n"
                       "  - {id: p, type: 2n, door: lobby, url: \"http://192.0.2.1\", auth: basic, "
                       "user: u, password_file: /c/l}\n"),
              ElementsAre("12:98: secret file /c/l is also the credentials file of lock \"l\" "
                          "(at 10:82); pairing would overwrite it: give each its own file"));
}

// ---- the secret files ---------------------------------------------------------------------------

class PanelSecretFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/lintel-panel-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (const std::string& p : files_) ::unlink(p.c_str());
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

TEST_F(PanelSecretFile, ReadsAPasswordFromAPrivateFile) {
  Result<std::string> p =
      ReadPanelSecretFile(Write("a", "s3cret pass\n", 0600), PanelSecretKind::kPassword);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, "s3cret pass");
  p = ReadPanelSecretFile(Write("b", "x\r\n", 0640), PanelSecretKind::kPassword);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, "x");
}

TEST_F(PanelSecretFile, RefusesAFileOthersCanReadWithoutQuotingIt) {
  std::string path = Write("a", "hunter2\n", 0644);
  Result<std::string> p = ReadPanelSecretFile(path, PanelSecretKind::kPassword);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.status().message(), "panel password file " + path +
                                      " is accessible by other users: chmod 0600 (owned by the "
                                      "daemon's user) or 0640 (root:lintel)");
  p = ReadPanelSecretFile(Write("b", "hunter2\n", 0660), PanelSecretKind::kPassword);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("is writable by its group"));
  EXPECT_EQ(ReadPanelSecretFile(dir_ + "/none", PanelSecretKind::kPassword).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(ReadPanelSecretFile(dir_, PanelSecretKind::kPassword).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(PanelSecretFile, ChecksWhatTheFileHoldsWithoutQuotingIt) {
  for (const char* text : {"", "\n", "two\nlines\n", "tab\there"}) {
    Result<std::string> p = ReadPanelSecretFile(Write("p", text, 0600), PanelSecretKind::kPassword);
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    ::unlink((dir_ + "/p").c_str());
    files_.pop_back();
  }
  Result<std::string> s = ReadPanelSecretFile(Write("s1", "tooShort-secret\n", 0600),
                                              PanelSecretKind::kActionUrlSecret);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), Not(HasSubstr("tooShort")));
  EXPECT_THAT(s.status().message(), HasSubstr("16 to 128 characters from A-Z a-z 0-9 . _ ~ -"));
  s = ReadPanelSecretFile(Write("s2", "has/slash-0123456789\n", 0600),
                          PanelSecretKind::kActionUrlSecret);
  EXPECT_FALSE(s.ok());
  s = ReadPanelSecretFile(Write("s3", "Gate.secret_0123~-\n", 0600),
                          PanelSecretKind::kActionUrlSecret);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, "Gate.secret_0123~-");
}

}  // namespace
}  // namespace lintel::config
