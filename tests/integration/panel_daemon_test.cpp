// Intercom panels in the running daemon (issue 12 point 6): a real `lintel` against tools/panel-sim
// (a 2N panel with Digest auth, and an Akuvox panel sending Action URLs to the daemon's listener),
// driven through panel-sim's control socket; what the panel did is read from panel-sim's stdout
// lines, what the gateway decided from lintelctl (journal, status). A Wiegand reader on another
// door (tools/wiegand-sim on a replay socket) shows the other doors keep deciding while a panel
// sends garbage. Waits are bounded polls; "nothing happened" is asserted only after a later event
// of the same stream was seen (ordering, not time).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/subprocess.h"

namespace lintel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BinaryDir;
using testing::Child;
using testing::RunProgram;
using testing::RunResult;

constexpr const char* kPassword = "Lobby-Pa55word";
constexpr const char* kSecret = "GateSecret_0123456789";

std::string PanelSim() { return BinaryDir() + "/tools/panel-sim/panel-sim"; }

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

// Every key of `want` is in `line` with that value (objects compared key by key).
bool Matches(const json& line, const json& want) {
  for (const auto& [k, v] : want.items()) {
    if (!line.contains(k)) return false;
    if (v.is_object() && line[k].is_object()) {
      if (!Matches(line[k], v)) return false;
    } else if (line[k] != v) {
      return false;
    }
  }
  return true;
}

// A port nobody listens on now (for the daemon's Action URL listener).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

// One panel-sim: started with its control socket; stdout lines in a file.
class Sim {
 public:
  Sim(const fs::path& dir, const std::string& name, std::vector<std::string> args)
      : out_(dir / (name + ".out")), control_(dir / (name + ".ctl")) {
    args.insert(args.begin(), PanelSim());
    args.insert(args.end(), {"--listen", "127.0.0.1:0", "--control", control_.string()});
    child_ = std::make_unique<Child>(args, (dir / (name + ".log")).string(), out_.string());
    testing::WaitFor([&] { return !Lines().empty() || !child_->running(); }, seconds(10));
    if (!Lines().empty() && Lines()[0].contains("listening")) {
      port_ = Lines()[0]["listening"]["port"].get<int>();
    }
  }
  ~Sim() {
    child_->Signal(SIGTERM);
    child_->Wait(seconds(5));
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<json> Lines() const { return JsonLines(testing::ReadFile(out_)); }
  size_t Count(const json& want) const {
    size_t n = 0;
    for (const json& l : Lines()) n += Matches(l, want) ? 1 : 0;
    return n;
  }
  bool WaitCount(const json& want, size_t n) {
    return testing::WaitFor([&] { return Count(want) >= n; }, seconds(20));
  }

  // One control command; the reply line.
  json Ctl(const std::string& command) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, control_.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      return {{"ok", false}, {"error", std::string("connect: ") + std::strerror(errno)}};
    }
    std::string text = command + "\n";
    (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    std::string reply;
    auto end = std::chrono::steady_clock::now() + seconds(5);
    while (reply.find('\n') == std::string::npos && std::chrono::steady_clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      reply.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    if (reply.find('\n') == std::string::npos) return {{"ok", false}, {"error", "no reply"}};
    return json::parse(reply.substr(0, reply.find('\n')));
  }

 private:
  fs::path out_, control_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

class PanelDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(PanelSim())) << PanelSim() << " is not built (tools/panel-sim)";
    dir_ = testing::FreshTestDir("lintel-panel-it");
    config_ = (dir_ / "lintel.yaml").string();
    socket_ = (dir_ / "lintel.sock").string();
    Secret("lobby.password", kPassword);
    Secret("sim.password", kPassword);
    Secret("wrong.password", "not-the-password");
    Secret("gate.secret", kSecret);
    std::ofstream(dir_ / "state.json") << R"({
      "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
      "leases": [{"id": "l1", "unit": "1", "members": ["p1"], "groups": ["default"],
                  "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}],
      "credentials": [
        {"id": "pin1", "person": "p1", "type": "pin", "status": "active", "pin": "2468"},
        {"id": "tag1", "person": "p1", "type": "card", "status": "active",
         "card": {"uid": "04A2B3C4"}},
        {"id": "card1", "person": "p1", "type": "card", "status": "active",
         "card": {"format": "h10301", "facility": 101, "number": 251}}]})";
  }
  void TearDown() override {
    if (daemon_) {
      daemon_->Signal(SIGTERM);
      EXPECT_EQ(daemon_->Wait(seconds(10)), 0) << Log();
    }
    daemon_.reset();
    sims_.clear();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  void Secret(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text << "\n";
    ::chmod((dir_ / name).c_str(), 0600);
  }

  Sim& StartSim(const std::string& name, std::vector<std::string> args) {
    sims_.push_back(std::make_unique<Sim>(dir_, name, std::move(args)));
    EXPECT_GT(sims_.back()->port(), 0) << testing::ReadFile(dir_ / (name + ".log"));
    return *sims_.back();
  }

  // A 2N lobby panel played by panel-sim with Digest auth.
  Sim& StartLobbySim() {
    return StartSim("lobby",
                    {"--family", "2n", "--auth", "digest", "--user", "lintel", "--password-file",
                     (dir_ / "sim.password").string(), "--switches", "2"});
  }

  std::string LobbyPanel(const Sim& sim, const std::string& password_file = "lobby.password") {
    return "  - id: lobby-panel\n"
           "    type: 2n\n"
           "    door: lobby\n"
           "    url: " +
           sim.url() +
           "\n"
           "    auth: digest\n"
           "    user: lintel\n"
           "    password_file: " +
           (dir_ / password_file).string() + "\n";
  }

  void WriteConfig(const std::string& panels, const std::string& extra = "") {
    std::ofstream(config_) << "site: {id: s, time_zone: UTC}\n"
                              "gateway: {id: g}\n"
                              "store: {path: "
                           << (dir_ / "lintel.db").string() << "}\n"
                           << "control: {socket: " << socket_ << "}\n"
                           << "policy:\n"
                              "  keypad_lockout: {failures: 3, within_s: 60, lockout_s: 300}\n"
                              "doors:\n"
                              "  - {id: lobby, common: true}\n"
                              "  - {id: gate, common: true}\n"
                              "  - {id: front, common: true}\n"
                              "readers:\n"
                              "  - id: front-card\n"
                              "    door: front\n"
                              "    type: wiegand\n"
                              "    wiegand: {formats: [h10301], replay: {socket: "
                           << (dir_ / "card.sock").string() << "}}\n"
                           << "panels:\n"
                           << panels << extra;
  }

  void Start() {
    daemon_ = std::make_unique<Child>(
        std::vector<std::string>{BinaryDir() + "/gateway/lintel", "--config", config_},
        (dir_ / "lintel.log").string());
    ASSERT_TRUE(testing::WaitFor(
        [&] { return Ctl({"status"}).exit_code == 0 || !daemon_->running(); }, seconds(10)));
    ASSERT_TRUE(daemon_->running()) << Log();
    RunResult imported = Ctl({"state", "import", (dir_ / "state.json").string()});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  RunResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {BinaryDir() + "/tools/lintelctl", "--socket", socket_});
    return RunProgram(args);
  }

  std::vector<json> Events(const std::string& type) {
    RunResult r = Ctl({"events", "tail", "-n", "500", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<json> out;
    for (json& e : JsonLines(r.out)) {
      if (e["type"] == type) out.push_back(std::move(e));
    }
    return out;
  }
  bool WaitEvents(const std::string& type, size_t n) {
    return testing::WaitFor([&] { return Events(type).size() >= n; }, seconds(20));
  }

  json Status() {
    RunResult r = Ctl({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }
  json Panel(const std::string& id) {
    json s = Status();
    return s.contains("panels") && s["panels"].contains(id) ? s["panels"][id] : json();
  }
  // Online, and its long poll is waiting in the panel (so a code typed now is delivered).
  bool WaitSubscribed(Sim& sim, size_t channels = 1) {
    return testing::WaitFor([&] { return Panel("lobby-panel")["online"] == true; }, seconds(20)) &&
           sim.WaitCount({{"channel", "opened"}}, channels);
  }

  std::string Log() const { return testing::ReadFile(dir_ / "lintel.log"); }

  fs::path dir_;
  std::string config_, socket_;
  std::vector<std::unique_ptr<Sim>> sims_;
  std::unique_ptr<Child> daemon_;
};

TEST_F(PanelDaemon, RightPinAtThePanelTriggersItsSwitch) {
  Sim& sim = StartLobbySim();
  WriteConfig(LobbyPanel(sim));
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(WaitSubscribed(sim)) << Log();
  EXPECT_EQ(sim.Ctl("code 2468")["ok"], true);
  ASSERT_TRUE(sim.WaitCount({{"switch", 1}, {"action", "trigger"}, {"result", "ok"}}, 1)) << Log();
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  json g = Events("access.granted")[0];
  EXPECT_EQ(g["door"], "lobby");
  EXPECT_EQ(g["reader"], "lobby-panel");
  EXPECT_EQ(g["source"], "panel");
  EXPECT_EQ(g["lock"], "pulsed");
  json p = Panel("lobby-panel");
  EXPECT_EQ(p["state"], "running");
  EXPECT_EQ(p["counters"]["granted"], 1);
  EXPECT_EQ(p["info"]["variant"], "2N IP Verso");
  // No secret in the status, the journal or the log.
  std::string all = Status().dump() + Ctl({"events", "tail", "-n", "500", "--json"}).out + Log();
  EXPECT_EQ(all.find(kPassword), std::string::npos);
  EXPECT_EQ(all.find("2468"), std::string::npos);
}

TEST_F(PanelDaemon, WrongPinsTriggerNothingAndLockThePanelsKeypadOut) {
  Sim& sim = StartLobbySim();
  WriteConfig(LobbyPanel(sim));
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(WaitSubscribed(sim));
  for (int i = 0; i < 3; ++i) sim.Ctl("code 1111");
  ASSERT_TRUE(WaitEvents("keypad.locked_out", 1));
  EXPECT_EQ(Events("keypad.locked_out")[0]["reader"], "lobby-panel");
  EXPECT_EQ(Events("access.denied").size(), 3u);
  sim.Ctl("code 2468");  // the right PIN, but the keypad is locked out
  ASSERT_TRUE(WaitEvents("access.denied", 4));
  EXPECT_EQ(Events("access.denied")[3]["reason"], "keypad_locked_out");
  // A card still works (a lockout must not shut tenants out); its trigger is the only one.
  sim.Ctl("card 04A2B3C4");
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  ASSERT_TRUE(sim.WaitCount({{"switch", 1}, {"action", "trigger"}}, 1));
  EXPECT_EQ(sim.Count({{"switch", 1}, {"action", "trigger"}}), 1u);
}

TEST_F(PanelDaemon, CardsByUidAndByCardBothOpen) {
  Sim& sim = StartLobbySim();
  WriteConfig(LobbyPanel(sim));
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(WaitSubscribed(sim));
  sim.Ctl("card 04A2B3C4 uid");
  sim.Ctl("card 04a2b3c4 card");
  ASSERT_TRUE(WaitEvents("access.granted", 2));
  ASSERT_TRUE(sim.WaitCount({{"switch", 1}, {"action", "trigger"}, {"result", "ok"}}, 2));
  EXPECT_EQ(Panel("lobby-panel")["counters"]["cards"], 2);
}

TEST_F(PanelDaemon, ChannelExpiryAndARebootResubscribeWithoutLosingOrRepeatingADecision) {
  Sim& sim = StartLobbySim();
  WriteConfig(LobbyPanel(sim));
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(WaitSubscribed(sim));
  // The channel expires under a waiting pull: the driver subscribes again.
  EXPECT_EQ(sim.Ctl("expire")["closed"], 1);
  ASSERT_TRUE(sim.WaitCount({{"channel", "opened"}}, 2));
  sim.Ctl("code 2468");
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  // The panel restarts: the old channel is gone, a new one is opened once it is back.
  sim.Ctl("reboot 500");
  ASSERT_TRUE(sim.WaitCount({{"reboot", "done"}}, 1));
  ASSERT_TRUE(sim.WaitCount({{"channel", "opened"}}, 3)) << Log();
  sim.Ctl("code 2468");
  sim.Ctl("card DEADBEEF");  // a later event: once it is decided, everything before it was
  ASSERT_TRUE(WaitEvents("access.denied", 1));
  // A grant is journaled once the panel acknowledged its trigger (after the denial maybe): the
  // door opened after the restart, on a new command connection.
  ASSERT_TRUE(WaitEvents("access.granted", 2));
  EXPECT_EQ(Events("access.granted").size(), 2u);
  EXPECT_EQ(Events("access.granted")[1]["lock"], "pulsed");
  EXPECT_EQ(sim.Count({{"switch", 1}, {"action", "trigger"}, {"result", "ok"}}), 2u);
  json p = Panel("lobby-panel");
  EXPECT_GE(p["counters"]["resubscribes"].get<int>(), 2);
  EXPECT_EQ(p["online"], true);
}

TEST_F(PanelDaemon, AWrongPasswordIsAClearErrorInStatus) {
  Sim& sim = StartLobbySim();
  WriteConfig(LobbyPanel(sim, "wrong.password"));
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(
      testing::WaitFor([&] { return Panel("lobby-panel")["online"] == false; }, seconds(20)));
  json p = Panel("lobby-panel");
  EXPECT_EQ(p["fault"], "auth_failed");
  EXPECT_NE(p["reason"].get<std::string>().find("wrong password for panel 'lobby-panel'"),
            std::string::npos)
      << p.dump();
  EXPECT_GE(sim.Count({{"auth", "failed"}, {"reason", "bad password"}}), 1u);
  ASSERT_TRUE(WaitEvents("device.offline", 1));
  EXPECT_EQ(Events("device.offline")[0]["fault"], "auth_failed");
  std::string all = Status().dump() + Log();
  EXPECT_EQ(all.find("not-the-password"), std::string::npos);
}

TEST_F(PanelDaemon, GarbageAndHugeRepliesAreCountedAndOtherDoorsKeepDeciding) {
  Sim& sim = StartLobbySim();
  WriteConfig(LobbyPanel(sim));
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(WaitSubscribed(sim));
  // The waiting pull is answered with garbage (the code's event with it), then 4 MiB.
  sim.Ctl("fault garbage 1");
  sim.Ctl("code 1111");
  ASSERT_TRUE(testing::WaitFor(
      [&] { return Panel("lobby-panel")["counters"]["rejected_replies"].get<int>() >= 1; },
      seconds(20)))
      << Panel("lobby-panel").dump();
  sim.Ctl("fault huge 1");
  sim.Ctl("code 1111");
  ASSERT_TRUE(sim.WaitCount({{"fault", "off"}}, 2));
  // Meanwhile a Wiegand card at the front door is decided as usual.
  RunResult card = RunProgram({BinaryDir() + "/tools/wiegand-sim", "card", "--socket",
                               (dir_ / "card.sock").string(), "--format", "h10301", "--facility",
                               "101", "--number", "251"});
  ASSERT_EQ(card.exit_code, 0) << card.err;
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  EXPECT_EQ(Events("access.granted")[0]["door"], "front");
  // The panel keeps working after both.
  ASSERT_TRUE(
      testing::WaitFor([&] { return Panel("lobby-panel")["online"] == true; }, seconds(20)));
  size_t opened = sim.Count({{"channel", "opened"}});
  ASSERT_TRUE(sim.WaitCount({{"channel", "opened"}}, opened));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        sim.Ctl("code 2468");
        return testing::WaitFor(
            [&] {
              for (const json& e : Events("access.granted")) {
                if (e["door"] == "lobby") return true;
              }
              return false;
            },
            seconds(3));
      },
      seconds(30)));
  json p = Panel("lobby-panel");
  EXPECT_GE(p["counters"]["rejected_replies"].get<int>() + p["counters"]["failures"].get<int>(), 2)
      << p.dump();
  EXPECT_TRUE(daemon_->running());
}

TEST_F(PanelDaemon, AkuvoxCodeByActionUrlTriggersTheRelayAndAWrongSecretIsRefused) {
  const int listen = FreePort();
  const std::string base = "http://127.0.0.1:" + std::to_string(listen) + "/akuvox/gate-panel/";
  Sim& sim = StartSim(
      "gate", {"--family", "akuvox", "--action-url",
               "invalid-code=" + base + "Wrong_Secret_0123456789/code?code=$code", "--action-url",
               "invalid-code=" + base + kSecret + "/code?code=$code&mac=$mac", "--action-url",
               "code=" + base + kSecret + "/code?code=$code&mac=$mac", "--action-url",
               "invalid-card=" + base + kSecret + "/card?card_sn=$card_sn", "--action-url",
               "card=" + base + kSecret + "/card?card_sn=$card_sn"});
  WriteConfig(
      "  - id: gate-panel\n"
      "    type: akuvox\n"
      "    door: gate\n"
      "    url: " +
          sim.url() +
          "\n"
          "    action_url: {secret_file: " +
          (dir_ / "gate.secret").string() + ", panel_address: 127.0.0.1}\n",
      "intercom: {listen: \"127.0.0.1:" + std::to_string(listen) + "\"}\n");
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(testing::WaitFor([&] { return Panel("gate-panel")["online"] == true; }, seconds(20)))
      << Log();
  sim.Ctl("code 2468");
  // The panel calls it "invalid" (not one of its own codes); the gateway decides.
  ASSERT_TRUE(sim.WaitCount({{"action_url", "invalid-code"}, {"status", 200}}, 1)) << Log();
  EXPECT_EQ(sim.Count({{"action_url", "invalid-code"}, {"status", 403}}), 1u);
  ASSERT_TRUE(sim.WaitCount({{"relay", 1}, {"action", "trig"}}, 1)) << Log();
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  json g = Events("access.granted")[0];
  EXPECT_EQ(g["reader"], "gate-panel");
  EXPECT_EQ(g["lock"], "pulsed");
  json intercom = Status()["intercom"];
  EXPECT_EQ(intercom["refused"]["wrong_secret"], 1);
  EXPECT_EQ(intercom["accepted"], 1);
  sim.Ctl("card 04A2B3C4");
  ASSERT_TRUE(WaitEvents("access.granted", 2));
  EXPECT_EQ(Status().dump().find(kSecret), std::string::npos);
  EXPECT_EQ(Log().find(kSecret), std::string::npos);
}

}  // namespace
}  // namespace lintel
