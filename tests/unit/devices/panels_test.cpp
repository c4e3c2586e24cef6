// Panels (issue 12 points 2, 3): intercom panels in the daemon, end to end on a FakeClock loop with
// a real core and store, against the in-test 2N fake (tests/unit/intercom/fake_panel.h, a real
// HTTP server on 127.0.0.1) and a small Akuvox fake; the drivers' threads read the system clock and
// post to the loop, which the test pumps. Waits are bounded by the fake's kWaitLimit so a broken
// driver fails instead of hanging; nothing asserts on elapsed time.
#include "gateway/devices/panels.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "tests/unit/intercom/fake_panel.h"

namespace lintel::devices {
namespace {

namespace fs = std::filesystem;
using intercom::testing::FakePanel;
using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPassword = "Lobby-Pa55word";
constexpr const char* kSecret = "GateSecret_0123456789";

// A small Akuvox panel: system info and the relay trigger (what AkuvoxPanel sends).
class FakeAkuvox {
 public:
  FakeAkuvox() {
    svr_.Get("/api/system/info", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"retcode":0,"message":"OK","data":{"Model":"R20A"}})",
                      "application/json");
    });
    svr_.Post("/api/relay/trig", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        bodies_.push_back(req.body);
      }
      cv_.notify_all();
      res.set_content(R"({"retcode":0,"message":"OK"})", "application/json");
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeAkuvox() {
    svr_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }

 private:
  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> bodies_;
};

class PanelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lintel-panels-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    panel_.SetAuth(FakePanel::Auth::kDigest, "lintel", kPassword);
    WriteSecret("lobby.password", kPassword, 0600);
    WriteSecret("gate.secret", kSecret, 0600);
  }

  void TearDown() override {
    panels_.reset();
    gw_.reset();
    loop_.reset();
    fs::remove_all(dir_);
  }

  void WriteSecret(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text << "\n";
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
  }

  std::string Yaml(const std::string& panels) const {
    return "site: {id: s, time_zone: UTC}\n"
           "gateway: {id: g}\n"
           "store: {path: " +
           (dir_ / "l.db").string() +
           "}\n"
           "policy:\n"
           "  pin: {min_length: 4, max_length: 6}\n"
           "  keypad_lockout: {failures: 3, within_s: 60, lockout_s: 300}\n"
           "doors:\n"
           "  - {id: lobby, common: true}\n"
           "  - {id: gate, common: true}\n"
           "panels:\n" +
           panels;
  }

  std::string Lobby(const std::string& extra = "") const {
    return "  - id: lobby-panel\n"
           "    type: 2n\n"
           "    door: lobby\n"
           "    url: " +
           panel_.url() +
           "\n"
           "    auth: digest\n"
           "    user: lintel\n"
           "    password_file: " +
           (dir_ / "lobby.password").string() + "\n" + extra;
  }

  std::string Gate(const FakeAkuvox& akuvox, const std::string& secret_file = "gate.secret") const {
    return "  - id: gate-panel\n"
           "    type: akuvox\n"
           "    door: gate\n"
           "    url: " +
           akuvox.url() +
           "\n"
           "    action_url: {secret_file: " +
           (dir_ / secret_file).string() +
           ", panel_address: 127.0.0.1}\n"
           "intercom: {listen: \"127.0.0.1:8090\"}\n";
  }

  void Start(const std::string& panels_yaml) {
    auto c = config::LoadConfigText(Yaml(panels_yaml), "t.yaml");
    ASSERT_TRUE(c.ok()) << c.status().message();
    config_ = *c;
    auto loop = EventLoop::Create(clock_);
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    auto g = core::Gateway::Open(config_, clock_);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    gw_ = std::move(*g);
    auto imported = gw_->Handle({{"cmd", "state.import"}, {"records", Records()}});
    ASSERT_TRUE(imported.ok()) << imported.status().ToString();
    PanelsOptions o;
    o.driver_clock = &system_clock_;
    o.listener_port_override = 0;
    panels_ = std::make_unique<Panels>(*loop_, clock_, *gw_, o);
    panels_->Apply(config_);
  }

  static json Records() {
    return json::parse(R"({
      "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
      "leases": [{"id": "l1", "unit": "1", "members": ["p1"], "groups": ["default"],
                  "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}],
      "credentials": [
        {"id": "pin1", "person": "p1", "type": "pin", "status": "active", "pin": "2468"},
        {"id": "uid1", "person": "p1", "type": "card", "status": "active",
         "card": {"uid": "04A2B3C4"}}
      ]
    })");
  }

  // Runs the loop until `pred` holds (the drivers post from their threads); false after the limit.
  bool Pump(const std::function<bool()>& pred) {
    auto limit = std::chrono::steady_clock::now() + intercom::testing::kWaitLimit;
    while (std::chrono::steady_clock::now() < limit) {
      if (pred()) return true;
      EXPECT_TRUE(loop_->RunOnce(milliseconds(20)).ok());
    }
    return pred();
  }

  std::vector<json> Events(const std::string& type) {
    auto r = gw_->Handle({{"cmd", "events.tail"}, {"n", 500}});
    std::vector<json> out;
    for (const json& e : (*r)["events"]) {
      if (e["type"] == type) out.push_back(e);
    }
    return out;
  }
  bool WaitEvents(const std::string& type, size_t n) {
    return Pump([&] { return Events(type).size() >= n; });
  }
  json PanelStatus(const std::string& id) { return panels_->Status()[id]; }
  bool WaitOnline() {
    return Pump([&] { return PanelStatus("lobby-panel")["online"] == true; }) &&
           panel_.WaitForPullWaiting();
  }

  fs::path dir_;
  FakeClock clock_{ParseRfc3339("2026-06-01T12:00:00Z").value()};
  SystemClock system_clock_;
  FakePanel panel_{/*keep_alive=*/false};
  config::Config config_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<core::Gateway> gw_;
  std::unique_ptr<Panels> panels_;
};

TEST_F(PanelsTest, RightPinAtThePanelTriggersItsSwitchAndIsJournaledPulsed) {
  Start(Lobby("    unlock_seconds: 4\n"));
  ASSERT_TRUE(WaitOnline());
  // The panel's own verdict says invalid: the gateway decides.
  panel_.Push(R"("event":"CodeEntered","params":{"code":"2468","valid":false})");
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  std::vector<json> granted = Events("access.granted");
  EXPECT_EQ(granted[0]["door"], "lobby");
  EXPECT_EQ(granted[0]["reader"], "lobby-panel");
  EXPECT_EQ(granted[0]["source"], "panel");
  EXPECT_EQ(granted[0]["lock"], "pulsed");  // journaled once the panel acknowledged the trigger
  EXPECT_THAT(panel_.ctrl_requests(),
              ::testing::ElementsAre("/api/switch/ctrl?switch=1&action=trigger&timeout=4"));
  EXPECT_EQ(Events("device.online").size(), 1u);
  json s = PanelStatus("lobby-panel");
  EXPECT_EQ(s["counters"]["granted"], 1);
  EXPECT_EQ(s["counters"]["unlocks_pulsed"], 1);
  EXPECT_EQ(s["info"]["variant"], "2N IP Verso");
  // Neither the PIN nor the password appears in the status or the journal.
  const std::string dump =
      panels_->Status().dump() + gw_->Handle({{"cmd", "events.tail"}, {"n", 500}})->dump();
  EXPECT_THAT(dump, Not(HasSubstr("2468")));
  EXPECT_THAT(dump, Not(HasSubstr(kPassword)));
}

TEST_F(PanelsTest, WrongPinsTriggerNothingAndLockThePanelsKeypadOut) {
  Start(Lobby());
  ASSERT_TRUE(WaitOnline());
  for (const char* code : {"1111", "2222", "3333"}) {
    panel_.Push(std::string(R"("event":"CodeEntered","params":{"code":")") + code + R"("})");
  }
  ASSERT_TRUE(WaitEvents("access.denied", 3));
  ASSERT_TRUE(WaitEvents("keypad.locked_out", 1));
  EXPECT_EQ(Events("keypad.locked_out")[0]["reader"], "lobby-panel");
  // Locked out: the right PIN is denied too; a card still works.
  panel_.Push(R"("event":"CodeEntered","params":{"code":"2468"})");
  ASSERT_TRUE(WaitEvents("access.denied", 4));
  EXPECT_EQ(Events("access.denied")[3]["reason"], "keypad_locked_out");
  EXPECT_TRUE(panel_.ctrl_requests().empty());  // decided (and journaled) without a trigger
  panel_.Push(R"("event":"CardEntered","params":{"uid":"04a2b3c4"})");
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  EXPECT_EQ(panel_.ctrl_requests().size(), 1u);
}

TEST_F(PanelsTest, CardsByUidAndByCardAreBothPresented) {
  Start(Lobby());
  ASSERT_TRUE(WaitOnline());
  panel_.Push(R"("event":"CardEntered","params":{"uid":"04A2B3C4","valid":false})");
  panel_.Push(R"("event":"CardEntered","params":{"card":"04A2B3C4"})");
  panel_.Push(R"("event":"CardEntered","params":{"uid":"DEADBEEF","valid":true})");
  ASSERT_TRUE(WaitEvents("access.granted", 2));
  ASSERT_TRUE(WaitEvents("access.denied", 1));
  EXPECT_EQ(Events("access.denied")[0]["reason"], "unknown_credential");
  EXPECT_EQ(panel_.ctrl_requests().size(), 2u);
}

TEST_F(PanelsTest, ALockedSwitchIsJournaledUnlockFailedWithThePanelsError) {
  Start(Lobby());
  ASSERT_TRUE(WaitOnline());
  panel_.LockSwitch(true);
  panel_.Push(R"("event":"CodeEntered","params":{"code":"2468"})");
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  EXPECT_EQ(Events("access.granted")[0]["lock"], "unlock_failed");
  ASSERT_EQ(Events("panel.unlock_failed").size(), 1u);
  EXPECT_THAT(Events("panel.unlock_failed")[0]["error"].get<std::string>(), HasSubstr("14"));
  EXPECT_EQ(PanelStatus("lobby-panel")["counters"]["unlocks_refused"], 1);
}

TEST_F(PanelsTest, TheCloudsUnlockTriggersTheSwitch) {
  Start(Lobby());
  ASSERT_TRUE(WaitOnline());
  ASSERT_TRUE(gw_->Unlock("lobby", milliseconds(5000)).ok());
  ASSERT_TRUE(WaitEvents("door.unlocked", 1));
  json e = Events("door.unlocked")[0];
  EXPECT_EQ(e["lock"], "pulsed");
  EXPECT_EQ(e["ok"], true);
  EXPECT_EQ(panel_.ctrl_requests().size(), 1u);
}

TEST_F(PanelsTest, CallsDoorAndTamperEventsAreJournaledButPinKeysAreNot) {
  Start(Lobby());
  ASSERT_TRUE(WaitOnline());
  panel_.Push(R"("event":"KeyPressed","params":{"key":"7"})");
  panel_.Push(R"("event":"KeyPressed","params":{"key":"%1"})");
  panel_.Push(R"("event":"CallStateChanged","params":{"state":"ringing","direction":"incoming"})");
  panel_.Push(R"("event":"DoorStateChanged","params":{"state":"opened"})");
  panel_.Push(R"("event":"DoorStateChanged","params":{"state":"closed"})");
  panel_.Push(R"("event":"UnauthorizedDoorOpen","params":{})");
  panel_.Push(R"("event":"DoorOpenTooLong","params":{})");
  panel_.Push(R"("event":"TamperSwitchActivated","params":{})");
  ASSERT_TRUE(WaitEvents("tamper", 1));
  std::vector<json> calls = Events("intercom.call");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["state"], "button");
  EXPECT_EQ(calls[0]["button"], "%1");
  EXPECT_EQ(calls[1]["state"], "ringing");
  EXPECT_EQ(calls[1]["direction"], "incoming");
  EXPECT_EQ(calls[1]["panel"], "lobby-panel");
  EXPECT_EQ(Events("door.opened").size(), 1u);
  EXPECT_EQ(Events("door.closed").size(), 1u);
  ASSERT_EQ(Events("door.forced").size(), 1u);
  EXPECT_EQ(Events("door.forced")[0]["source"], "panel");
  EXPECT_EQ(Events("door.held_open").size(), 1u);
  EXPECT_EQ(Events("tamper")[0]["device"], "lobby-panel");
  EXPECT_EQ(PanelStatus("lobby-panel")["counters"]["keys"], 2);
}

TEST_F(PanelsTest, AWrongPasswordIsShownClearlyInStatusAndJournaledOffline) {
  panel_.SetAuth(FakePanel::Auth::kDigest, "lintel", "another-password");
  Start(Lobby());
  ASSERT_TRUE(Pump([&] { return PanelStatus("lobby-panel")["online"] == false; }));
  json s = PanelStatus("lobby-panel");
  EXPECT_EQ(s["fault"], "auth_failed");
  EXPECT_THAT(s["reason"].get<std::string>(), HasSubstr("wrong password for panel 'lobby-panel'"));
  ASSERT_EQ(Events("device.offline").size(), 1u);
  EXPECT_EQ(Events("device.offline")[0]["fault"], "auth_failed");
  EXPECT_THAT(s.dump(), Not(HasSubstr(kPassword)));
  // An unlock while offline fails at once.
  EXPECT_FALSE(gw_->Unlock("lobby", milliseconds(5000)).ok());
  EXPECT_EQ(Events("door.unlocked")[0]["lock"], "failed");
}

TEST_F(PanelsTest, APasswordFileOthersCanReadKeepsThePanelStoppedUntilFixed) {
  WriteSecret("lobby.password", kPassword, 0644);
  Start(Lobby());
  json s = PanelStatus("lobby-panel");
  EXPECT_EQ(s["state"], "failed");
  EXPECT_THAT(s["error"].get<std::string>(), HasSubstr("is accessible by other users: chmod 0600"));
  EXPECT_EQ(panel_.subscribes(), 0);
  // The grant stands; the lock could not be moved.
  gw_->Admit({"lobby", "lobby-panel", rules::PinPresented("2468")}, "panel");
  EXPECT_EQ(Events("access.granted")[0]["lock"], "failed");
  // Fixed and reloaded (SIGHUP): it starts.
  WriteSecret("lobby.password", kPassword, 0600);
  panels_->Apply(config_);
  EXPECT_EQ(PanelStatus("lobby-panel")["state"], "running");
  EXPECT_TRUE(WaitOnline());
}

TEST_F(PanelsTest, AnUnchangedReloadKeepsTheChannelAndAChangedOneRestarts) {
  Start(Lobby());
  ASSERT_TRUE(WaitOnline());
  panels_->Apply(config_);
  EXPECT_EQ(panel_.subscribes(), 1);
  EXPECT_EQ(PanelStatus("lobby-panel")["counters"]["channel"], 1);
  auto c = config::LoadConfigText(Yaml(Lobby("    switch: 2\n")), "t.yaml");
  ASSERT_TRUE(c.ok());
  config_ = *c;
  panels_->Apply(config_);
  ASSERT_TRUE(panel_.WaitForSubscribes(2));
  ASSERT_TRUE(WaitOnline());
  panel_.Push(R"("event":"CodeEntered","params":{"code":"2468"})");
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  EXPECT_THAT(panel_.ctrl_requests(),
              ::testing::ElementsAre("/api/switch/ctrl?switch=2&action=trigger"));
}

TEST_F(PanelsTest, AMalformedReplyIsCountedAndThePanelKeepsDeciding) {
  Start(Lobby());
  ASSERT_TRUE(WaitOnline());
  panel_.NextPullBody(R"({"success":true,"result":{"events":[{"id":1,"event":)");
  ASSERT_TRUE(
      Pump([&] { return PanelStatus("lobby-panel")["counters"]["rejected_replies"] == 1; }));
  ASSERT_TRUE(panel_.WaitForPullWaiting());
  panel_.Push(R"("event":"CodeEntered","params":{"code":"2468"})");
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  EXPECT_EQ(PanelStatus("lobby-panel")["counters"]["errors"], 1);
}

TEST_F(PanelsTest, AkuvoxCodeByActionUrlTriggersTheRelayAndAWrongSecretIsRefused) {
  FakeAkuvox akuvox;
  Start(Gate(akuvox));
  int port = panels_->ListenerPort();
  ASSERT_GT(port, 0);
  std::atomic<int> status{0};
  auto get = [&](const std::string& target) {
    std::thread t([&, target] {
      httplib::Client client("127.0.0.1", port);
      auto res = client.Get(target);
      status = res ? res->status : -1;
    });
    // The listener answers once the event was posted: pump while the request is in flight.
    Pump([&] { return status != 0; });
    t.join();
    int s = status;
    status = 0;
    return s;
  };
  EXPECT_EQ(get(std::string("/akuvox/gate-panel/wrong-secret-0123456789/code?code=2468")), 403);
  EXPECT_EQ(panels_->ListenerStatus()["refused"]["wrong_secret"], 1);
  EXPECT_EQ(get(std::string("/akuvox/gate-panel/") + kSecret + "/code?code=2468"), 200);
  ASSERT_TRUE(WaitEvents("access.granted", 1));
  json g = Events("access.granted")[0];
  EXPECT_EQ(g["reader"], "gate-panel");
  EXPECT_EQ(g["lock"], "pulsed");
  ASSERT_EQ(akuvox.bodies().size(), 1u);
  EXPECT_EQ(akuvox.bodies()[0],
            R"({"target":"relay","action":"trig","data":{"num":1,"mode":0,"level":0,"delay":0}})");
  EXPECT_EQ(get(std::string("/akuvox/gate-panel/") + kSecret + "/card?card_sn=04A2B3C4"), 200);
  ASSERT_TRUE(WaitEvents("access.granted", 2));
  EXPECT_EQ(panels_->ListenerStatus()["accepted"], 2);
  EXPECT_THAT(panels_->ListenerStatus().dump() + panels_->Status().dump(), Not(HasSubstr(kSecret)));
}

}  // namespace
}  // namespace lintel::devices
