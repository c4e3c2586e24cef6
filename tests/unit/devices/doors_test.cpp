// DoorIo on a FakeClock loop with a real core (store, engine, journal) and fake I/O modules:
// grants pulse the lock, relock on close, forced and held-open alarms with automations, REX, fire
// release, a module going offline, door modes from the state and from automations.
#include "gateway/devices/doors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "rules/presented.h"

namespace lintel::devices {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

// A module whose outputs are recorded and whose inputs and connection the test drives. Like the
// real one, it reports each output write and its read-back later, through the loop (`post`): by
// default the write is acknowledged and read back as written; a point in `refused` gets its writes
// refused (the relay keeps its state), like a module answering exception 6.
class FakeModule final : public IoModule {
 public:
  FakeModule(IoEvents events, std::function<void(std::function<void()>)> post)
      : events_(std::move(events)), post_(std::move(post)) {}
  ~FakeModule() override { *alive_ = false; }
  void SetOutput(std::string_view point, bool active) override {
    outputs[std::string(point)] = active;
    writes.push_back(std::string(point) + (active ? "=1" : "=0"));
    std::string p(point);
    const bool refused = refused_points.count(p) > 0;
    if (!refused) relays[p] = active;
    const bool now = relays[p];
    post_([alive = alive_, f = events_.on_output, p, active, refused, now] {
      if (!*alive || !f) return;  // like the real adapter: dropped once the module is gone
      f(p, {refused ? OutputEvent::Kind::kWriteFailed : OutputEvent::Kind::kWritten, active, active,
            0, refused ? "modbus exception 6" : ""});
      f(p, {OutputEvent::Kind::kReadBack, now, active, 0, ""});
    });
  }
  void Report(std::string_view point, OutputEvent e) { events_.on_output(point, e); }
  bool online() const override { return online_; }
  json Status() const override { return {{"online", online_}}; }

  void Input(std::string_view point, bool active) { events_.on_input(point, active, 0); }
  void SetOnline(bool online) {
    online_ = online;
    events_.on_online(online, online ? "" : "no answer");
  }

  std::map<std::string, bool> outputs;  // as written (wanted)
  std::map<std::string, bool> relays;   // as the module has them (read back)
  std::set<std::string> refused_points;
  std::vector<std::string> writes;

 private:
  IoEvents events_;
  std::function<void(std::function<void()>)> post_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool online_ = true;
};

class DoorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lintel-doors-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto c = config::LoadConfigText(Yaml(), "t.yaml");
    ASSERT_TRUE(c.ok()) << c.status().message();
    config_ = *c;
    auto loop = EventLoop::Create(clock_);
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    auto g = core::Gateway::Open(config_, clock_);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    gw_ = std::move(*g);
    Import(json::array());
    doors_ = std::make_unique<DoorIo>(
        *loop_, clock_, *gw_, [this](const config::IoModuleConfig& m, IoEvents ev) {
          auto f = std::make_unique<FakeModule>(
              std::move(ev), [this](std::function<void()> task) { loop_->Post(std::move(task)); });
          modules_[m.id] = f.get();
          return f;
        });
    doors_->Apply(config_);
    Settle();
  }

  // Runs what the modules posted (their write acknowledgements and read-backs).
  void Settle() { ASSERT_TRUE(loop_->RunOnce(milliseconds(0)).ok()); }

  void TearDown() override {
    doors_.reset();
    gw_.reset();
    loop_.reset();
    fs::remove_all(dir_);
  }

  std::string Yaml() const {
    return "site: {id: s, time_zone: UTC}\n"
           "gateway: {id: g}\n"
           "store: {path: " +
           (dir_ / "l.db").string() +
           "}\n"
           "doors:\n"
           "  - id: front\n"
           "    common: true\n"
           "    unlock_ms: 3000\n"
           "    held_open_s: 30\n"
           "    io: {lock: io1.front-lock, contact: io1.front-contact, rex: io1.front-rex,\n"
           "         fire_egress: true, held_warning_s: 10}\n"
           "  - id: garage\n"
           "    common: true\n"
           "    io: {lock: io1.garage-lock}\n"
           "io_modules:\n"
           "  - id: io1\n"
           "    type: modbus\n"
           "    tcp: {host: 127.0.0.1, port: 1502}\n"
           "    points:\n"
           "      - {name: front-lock, coil: 16}\n"
           "      - {name: garage-lock, coil: 17}\n"
           "      - {name: sounder, coil: 24}\n"
           "      - {name: front-contact, input: 0, inverted: true}\n"
           "      - {name: front-rex, input: 1}\n"
           "      - {name: fire, input: 12}\n"
           "      - {name: tamper, input: 13}\n"
           "io: {fire_release: io1.fire, tamper: io1.tamper}\n"
           "automations:\n"
           "  - id: forced-sounder\n"
           "    on: door.forced\n"
           "    doors: [front]\n"
           "    actions:\n"
           "      - {output: io1.sounder, pulse_ms: 10000}\n"
           "      - {alarm: intrusion}\n"
           "  - id: tamper-lockdown\n"
           "    on: tamper\n"
           "    actions:\n"
           "      - {door_mode: locked_down, door: garage}\n";
  }

  void Import(json door_modes) {
    json records = json::parse(R"({
      "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
      "leases": [{"id": "l1", "unit": "1", "members": ["p1"], "groups": ["default"],
                  "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}],
      "credentials": [{"id": "pin1", "person": "p1", "type": "pin", "status": "active",
                       "pin": "2468"}]})");
    records["door_modes"] = door_modes;
    auto r = gw_->Handle({{"cmd", "state.import"}, {"records", records}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  rules::Decision Pin(const std::string& door) {
    return gw_->Admit({door, "", rules::PinPresented("2468")}, "wiegand");
  }

  void Run(int ms, int step = 10) {
    for (int i = 0; i < ms; i += step) {
      clock_.Advance(milliseconds(step));
      ASSERT_TRUE(loop_->RunOnce(milliseconds(0)).ok());
    }
  }

  std::vector<std::string> Types() {
    auto r = gw_->Handle({{"cmd", "events.tail"}, {"n", 200}});
    std::vector<std::string> out;
    for (const json& e : (*r)["events"]) {
      std::string t = e["type"];
      if (t != "sync.applied" && t != "gateway.started") out.push_back(t);
    }
    return out;
  }
  json Last(const std::string& type) {
    auto r = gw_->Handle({{"cmd", "events.tail"}, {"n", 200}});
    json found;
    for (const json& e : (*r)["events"]) {
      if (e["type"] == type) found = e;
    }
    return found;
  }

  FakeModule& io1() { return *modules_.at("io1"); }

  fs::path dir_;
  FakeClock clock_{ParseRfc3339("2026-06-01T12:00:00Z").value()};
  config::Config config_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<core::Gateway> gw_;
  std::unique_ptr<DoorIo> doors_;
  std::map<std::string, FakeModule*> modules_;
};

TEST_F(DoorsTest, LocksStartLockedAndAGrantPulsesTheLockForUnlockMs) {
  EXPECT_EQ(io1().outputs["front-lock"], false);
  EXPECT_EQ(io1().outputs["garage-lock"], false);
  EXPECT_TRUE(Pin("front").granted);
  EXPECT_EQ(io1().outputs["front-lock"], true);
  Settle();
  EXPECT_EQ(Last("access.granted")["lock"], "pulsed");
  Run(2990);
  EXPECT_EQ(io1().outputs["front-lock"], true);
  Run(20);
  EXPECT_EQ(io1().outputs["front-lock"], false) << "relocked after the door's 3000 ms";
}

TEST_F(DoorsTest, TheDoorOpeningAfterAGrantIsNotForcedAndClosingRelocksAtOnce) {
  Pin("front");
  Settle();
  io1().Input("front-contact", true);  // logical: open
  Run(500);
  io1().Input("front-contact", false);
  EXPECT_EQ(io1().outputs["front-lock"], false) << "relock on close";
  EXPECT_EQ(Types(), (std::vector<std::string>{"access.granted", "door.opened", "door.closed"}));
}

TEST_F(DoorsTest, AForcedDoorRunsItsAutomationSounderFor10sAndAnAlarm) {
  io1().Input("front-contact", true);
  EXPECT_EQ(Types(), (std::vector<std::string>{"door.opened", "door.forced", "alarm"}));
  EXPECT_EQ(Last("alarm")["alarm"], "intrusion");
  EXPECT_EQ(Last("alarm")["automation"], "forced-sounder");
  EXPECT_EQ(io1().outputs["sounder"], true);
  Run(9990);
  EXPECT_EQ(io1().outputs["sounder"], true);
  Run(20);
  EXPECT_EQ(io1().outputs["sounder"], false);
}

TEST_F(DoorsTest, HeldOpenWarnsThenAlarms) {
  Pin("front");
  io1().Input("front-contact", true);
  Run(19'990);
  EXPECT_TRUE(Last("door.held_open_warning").is_null());
  Run(20);
  EXPECT_FALSE(Last("door.held_open_warning").is_null());
  Run(10'000);
  EXPECT_EQ(Last("door.held_open")["door"], "front");
  io1().Input("front-contact", false);
  EXPECT_EQ(Last("door.closed")["was_held"], true);
}

TEST_F(DoorsTest, RexReleasesTheLockAndTheExitIsNotForced) {
  io1().Input("front-rex", true);
  EXPECT_EQ(io1().outputs["front-lock"], true);
  io1().Input("front-rex", false);
  io1().Input("front-contact", true);
  io1().Input("front-contact", false);
  EXPECT_EQ(Types(), (std::vector<std::string>{"door.rex", "door.opened", "door.closed"}));
}

// Issue 14 point 4: `lintelctl door test` (door.test): one pulse of unlock_ms through the cloud's
// unlock path, journaled with source lintelctl; refused in fire release and while locked down.
TEST_F(DoorsTest, TestUnlockPulsesOnceAndIsRefusedInFireReleaseAndLockdown) {
  Result<json> pulsed = doors_->TestUnlock("front");
  ASSERT_TRUE(pulsed.ok()) << pulsed.status().ToString();
  EXPECT_EQ(*pulsed, (json{{"door", "front"}, {"ms", 3000}}));
  EXPECT_EQ(io1().outputs["front-lock"], true);
  Settle();
  json unlocked = Last("door.unlocked");
  EXPECT_EQ(unlocked["source"], "lintelctl");
  EXPECT_EQ(unlocked["lock"], "pulsed");
  EXPECT_EQ(unlocked["ms"], 3000);
  Run(3010);
  EXPECT_EQ(io1().outputs["front-lock"], false) << "relocked after unlock_ms";

  EXPECT_EQ(doors_->TestUnlock("nowhere").status().code(), StatusCode::kNotFound);

  io1().Input("fire", true);
  Result<json> in_fire = doors_->TestUnlock("garage");
  EXPECT_EQ(in_fire.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(in_fire.status().message().find("fire release"), std::string::npos);
  io1().Input("fire", false);

  Import(json::parse(R"([{"id": "garage", "mode": "locked_down"}])"));
  Run(300);
  Result<json> locked = doors_->TestUnlock("garage");
  EXPECT_EQ(locked.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(locked.status().message().find("locked down"), std::string::npos);
  EXPECT_EQ(io1().outputs["garage-lock"], false) << "never moved";
  EXPECT_TRUE(doors_->TestUnlock("front").ok()) << "only that door is locked down";
}

TEST_F(DoorsTest, StatusShowsTheRexInputAsLastRead) {
  EXPECT_TRUE(doors_->Status()["doors"]["garage"]["rex"].is_null()) << "no REX wired";
  io1().Input("front-rex", true);
  EXPECT_EQ(doors_->Status()["doors"]["front"]["rex"], true);
  io1().Input("front-rex", false);
  EXPECT_EQ(doors_->Status()["doors"]["front"]["rex"], false);
}

TEST_F(DoorsTest, FireReleaseUnlocksEgressDoorsWhileActive) {
  io1().Input("fire", true);
  EXPECT_EQ(io1().outputs["front-lock"], true);
  EXPECT_EQ(io1().outputs["garage-lock"], false) << "not an egress door";
  Run(60'000);
  EXPECT_EQ(io1().outputs["front-lock"], true) << "for as long as it is active";
  io1().Input("fire", false);
  EXPECT_EQ(io1().outputs["front-lock"], false);
  EXPECT_EQ(Types(), (std::vector<std::string>{"fire.release", "fire.cleared"}));
}

TEST_F(DoorsTest, AnOfflineModuleIsJournaledAndItsDoorsGrantsSayLockFailed) {
  io1().SetOnline(false);
  EXPECT_EQ(Last("device.offline")["device"], "io1");
  EXPECT_TRUE(Pin("front").granted);
  EXPECT_EQ(Last("access.granted")["lock"], "failed");
  io1().SetOnline(true);
  EXPECT_EQ(Last("device.online")["device"], "io1");
  Pin("front");
  Settle();
  EXPECT_EQ(Last("access.granted")["lock"], "pulsed");
}

TEST_F(DoorsTest, DoorModesFromTheStateDriveTheLock) {
  Import(json::parse(R"([{"id": "garage", "mode": "unlocked"}])"));
  Run(300);
  EXPECT_EQ(io1().outputs["garage-lock"], true) << "held unlocked";
  Import(json::array());
  Run(300);
  EXPECT_EQ(io1().outputs["garage-lock"], false);
}

TEST_F(DoorsTest, ATamperAutomationLocksTheGarageDownForTheEngineToo) {
  EXPECT_TRUE(Pin("garage").granted);
  Run(6000);
  io1().Input("tamper", true);
  EXPECT_EQ(Last("tamper")["active"], true);
  EXPECT_EQ(Last("door.mode")["mode"], "locked_down");
  rules::Decision d = Pin("garage");
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(rules::ReasonName(d.reason), "door_locked_down");
  EXPECT_EQ(io1().outputs["garage-lock"], false);
  EXPECT_TRUE(Pin("front").granted) << "only the garage";
  // The cloud's next change of the garage's mode ends the local lockdown.
  Import(json::parse(R"([{"id": "garage", "mode": "unlocked"}])"));
  Run(300);
  EXPECT_EQ(io1().outputs["garage-lock"], true) << "the cloud's mode wins";
  EXPECT_TRUE(Pin("garage").granted);
}

TEST_F(DoorsTest, ApplyWithoutDoorIoRemovesTheActuators) {
  config::Config bare = config_;
  for (config::DoorConfig& d : bare.doors) d.io.reset();
  bare.io_modules.clear();
  bare.io = {};
  bare.automations.clear();
  doors_->Apply(bare);
  EXPECT_TRUE(Pin("front").granted);
  EXPECT_EQ(Last("access.granted")["lock"], "none");
  EXPECT_TRUE(doors_->Status()["modules"].empty());
}

TEST_F(DoorsTest, ApplyWithTheSameSettingsKeepsTheModules) {
  FakeModule* before = &io1();
  doors_->Apply(config_);
  EXPECT_EQ(&io1(), before);
  json st = doors_->Status();
  EXPECT_EQ(st["doors"]["front"]["lock"], "locked");
  EXPECT_EQ(st["modules"]["io1"]["online"], true);
}

// Issue 10 point 5: a refused unlock write was journaled "lock": "pulsed".
TEST_F(DoorsTest, Issue10ARefusedUnlockIsJournaledAsUnlockFailed) {
  io1().refused_points.insert("front-lock");
  EXPECT_TRUE(Pin("front").granted);
  Settle();
  EXPECT_TRUE(Last("access.granted").is_null()) << "waiting for what the lock does";
  json st = doors_->Status()["doors"]["front"];
  EXPECT_EQ(st["lock"], "locked") << "as read back";
  EXPECT_EQ(st["wanted"], "released");
  Run(3010);  // the pulse ends without the lock ever reading back released
  json granted = Last("access.granted");
  EXPECT_EQ(granted["lock"], "unlock_failed");
  EXPECT_EQ(granted["door"], "front");
  // The module takes writes again: the next grant is pulsed.
  io1().refused_points.clear();
  Pin("front");
  Settle();
  EXPECT_EQ(Last("access.granted")["lock"], "pulsed");
}

// Issue 10 point 4: status said "lock": "locked" while the coil read back energised.
TEST_F(DoorsTest, Issue10StatusShowsTheLockAsReadBackAndFaultsAreJournaled) {
  Pin("front");
  Settle();
  EXPECT_EQ(doors_->Status()["doors"]["front"]["lock"], "released");
  io1().refused_points.insert("front-lock");  // the relock is refused (exception 6)
  Run(3010);
  EXPECT_EQ(io1().outputs["front-lock"], false) << "wanted locked";
  json st = doors_->Status()["doors"]["front"];
  EXPECT_EQ(st["lock"], "released") << "the strike is still energised";
  EXPECT_EQ(st["wanted"], "locked");
  // The module gave up for now (it keeps re-asserting): device.fault is journaled.
  io1().Report("front-lock", {OutputEvent::Kind::kFault, true, false, 3, "modbus exception 6"});
  json fault = Last("device.fault");
  EXPECT_EQ(fault["device"], "io1");
  EXPECT_EQ(fault["point"], "front-lock");
  EXPECT_EQ(fault["door"], "front");
  EXPECT_EQ(fault["wanted"], "off");
  EXPECT_EQ(fault["failures"], 3);
  EXPECT_EQ(doors_->Status()["doors"]["front"]["lock_fault"], true);
  io1().Report("front-lock", {OutputEvent::Kind::kReadBack, false, false, 3, ""});
  io1().Report("front-lock", {OutputEvent::Kind::kFaultCleared, false, false, 0, ""});
  EXPECT_EQ(Last("device.fault_cleared")["door"], "front");
  st = doors_->Status()["doors"]["front"];
  EXPECT_EQ(st["lock"], "locked");
  EXPECT_EQ(st["lock_fault"], false);
}

// Issue 10 point 6: `tamper {active: false}` was journaled at start and after every reconnect.
TEST_F(DoorsTest, Issue10TamperIsJournaledOnChangesOnly) {
  io1().Input("tamper", false);  // the first reading after start: the baseline, inactive
  io1().SetOnline(false);
  io1().SetOnline(true);
  io1().Input("tamper", false);  // read again after the reconnect: no change
  EXPECT_TRUE(Last("tamper").is_null());
  io1().Input("tamper", true);
  EXPECT_EQ(Last("tamper")["active"], true);
  io1().SetOnline(false);
  io1().SetOnline(true);
  io1().Input("tamper", true);
  io1().Input("tamper", false);
  std::vector<std::string> types = Types();
  EXPECT_EQ(std::count(types.begin(), types.end(), "tamper"), 2) << "true once, false once";
  EXPECT_EQ(Last("tamper")["active"], false);
}

}  // namespace
}  // namespace lintel::devices
