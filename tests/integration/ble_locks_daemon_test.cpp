// BLE locks end to end (issue 11 point 7): the real `lintel` daemon talking BlueZ's D-Bus API
// (BluezGattLink, BluezScanner) to `lock-sim --peripheral nuki` on a private dbus-daemon the test
// starts; a reader played by tools/wiegand-sim; lintelctl for pairing, status and the journal.
// Pair via lintelctl (refused while the lock is not in pairing mode), unlatch on a grant, a code
// synced into the lock and typed at its keypad, a kill -9 of the daemon in the middle of a sync
// that loses no pending change, and a check-out date the lock enforces by its own clock after
// the gateway is gone.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/lock_sim.h"
#include "tests/integration/subprocess.h"

namespace lintel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::BinaryDir;
using testing::Child;
using testing::LockSimProcess;
using testing::PrivateBus;
using testing::RunProgram;
using testing::RunResult;

constexpr const char* kLock = "54:D2:72:00:00:07";
constexpr const char* kCode = "345678";

class BleLocksDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("lintel-blelocks-it");
    socket_ = Path("lintel.sock");
    bus_ = std::make_unique<PrivateBus>(dir_.string());
    ASSERT_TRUE(bus_->Start()) << testing::ReadFile(dir_ / "dbus-daemon.log");
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_->address().c_str(), 1);
    StartSim("10");
    std::ofstream(Path("lock.pin")) << "4321\n";
    ::chmod(Path("lock.pin").c_str(), 0600);
    ASSERT_TRUE(Peer("pin 4321").value("ok", false));
    std::ofstream(Path("lintel.yaml")) << "site: {id: s, time_zone: UTC}\n"
                                          "gateway: {id: g}\n"
                                          "store: {path: "
                                       << Path("lintel.db") << "}\ncontrol: {socket: " << socket_
                                       << "}\n"
                                          "doors:\n"
                                          "  - {id: unit-7, common: true, unlock_ms: 3000}\n"
                                          "readers:\n"
                                          "  - id: unit-7-card\n"
                                          "    door: unit-7\n"
                                          "    type: wiegand\n"
                                          "    wiegand: {replay: {socket: "
                                       << Path("card.sock")
                                       << "}}\n"
                                          "locks:\n"
                                          "  - id: lock-7\n"
                                          "    type: nuki\n"
                                          "    door: unit-7\n"
                                          "    address: \""
                                       << kLock << "\"\n    credentials: " << Path("lock-7.nuki")
                                       << "\n    security_pin_file: " << Path("lock.pin") << "\n";
    WriteState(true);
  }
  void TearDown() override {
    daemon_.reset();
    sim_.reset();
    bus_.reset();
    ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  void StartSim(const std::string& connect_delay_ms) {
    sim_ = std::make_unique<LockSimProcess>(
        dir_.string(), bus_->address(),
        std::vector<std::string>{"--lock", kLock, "--peripheral", "nuki", "--connect-delay-ms",
                                 connect_delay_ms, "--resolve-delay-ms", "10"});
    ASSERT_TRUE(sim_->Start()) << testing::ReadFile(sim_->log_path());
  }

  // The tenant with a card and PIN kCode (when `with_pin`), lease until `ends_at`.
  void WriteState(bool with_pin, const std::string& ends_at = "2099-01-01T00:00:00Z") {
    json state = json::parse(R"({
      "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
      "leases": [{"id": "l1", "unit": "7", "members": ["p1"], "groups": ["default"],
                  "starts_at": "2020-01-01T00:00:00Z"}],
      "credentials": [{"id": "card1", "person": "p1", "type": "card", "status": "active",
                       "card": {"format": "h10301", "facility": 101, "number": 251}}]})");
    state["leases"][0]["ends_at"] = ends_at;
    if (with_pin) {
      state["credentials"].push_back({{"id", "pin1"},
                                      {"person", "p1"},
                                      {"type", "pin"},
                                      {"status", "active"},
                                      {"pin", kCode}});
    }
    std::ofstream(Path("state.json"), std::ios::trunc) << state.dump();
  }

  void StartDaemon() {
    daemon_ = std::make_unique<Child>(
        std::vector<std::string>{BinaryDir() + "/gateway/lintel", "--config", Path("lintel.yaml")},
        Path("lintel.log"));
    ASSERT_TRUE(
        testing::WaitFor([&] { return Ctl({"status"}).exit_code == 0 || !daemon_->running(); },
                         std::chrono::seconds(10)));
    ASSERT_TRUE(daemon_->running()) << Log();
  }
  void Import() {
    RunResult imported = Ctl({"state", "import", Path("state.json")});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  RunResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {BinaryDir() + "/tools/lintelctl", "--socket", socket_});
    return RunProgram(args);
  }
  json Lock() {
    RunResult r = Ctl({"lock", "status", "--json"});
    if (r.exit_code != 0) return json();
    json j = json::parse(r.out, nullptr, false);
    return j.is_object() && !j["locks"].empty() ? j["locks"][0] : json();
  }
  json Peer(const std::string& args) {
    return sim_->Control(std::string("peer ") + kLock + " " + args);
  }
  std::vector<std::string> LockCodes() {
    json s = Peer("state codes");
    std::vector<std::string> out;
    for (const json& c : s["result"].value("codes", json::array())) {
      out.push_back(c.contains("code") ? c["code"].dump() : "?");
    }
    return out;
  }
  bool HoldsCode() {
    std::vector<std::string> codes = LockCodes();
    return codes.size() == 1 && codes[0].find(kCode) != std::string::npos;
  }
  std::vector<json> Events() {
    RunResult r = Ctl({"events", "tail", "-n", "500", "--json"});
    std::vector<json> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) out.push_back(json::parse(line));
    return out;
  }
  json WaitEvent(const std::string& type, const std::function<bool(const json&)>& match = nullptr) {
    json found;
    testing::WaitFor(
        [&] {
          for (const json& e : Events()) {
            if (e["type"] == type && (!match || match(e))) found = e;
          }
          return !found.is_null();
        },
        std::chrono::seconds(15));
    EXPECT_FALSE(found.is_null()) << "no " << type << " in\n" << json(Events()).dump(1) << Log();
    return found;
  }
  void Pair() {
    ASSERT_TRUE(Peer("press-button").value("ok", false));
    RunResult r = Ctl({"lock", "pair", "unit-7"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Log();
    EXPECT_NE(r.out.find("paired: lock lock-7"), std::string::npos) << r.out;
  }
  std::string Log() const { return testing::ReadFile(dir_ / "lintel.log"); }

  fs::path dir_;
  std::string socket_;
  std::unique_ptr<PrivateBus> bus_;
  std::unique_ptr<LockSimProcess> sim_;
  std::unique_ptr<Child> daemon_;
};

TEST_F(BleLocksDaemon, PairViaLintelctlUnlatchOnAGrantAndSyncACodeTheKeypadTakes) {
  StartDaemon();
  Import();
  RunResult refused = Ctl({"lock", "pair", "unit-7"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("not in pairing mode"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(Path("lock-7.nuki")));

  Pair();
  struct stat st {};
  ASSERT_EQ(::stat(Path("lock-7.nuki").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_TRUE(testing::WaitFor([&] { return HoldsCode(); }, std::chrono::seconds(15)))
      << json(LockCodes()).dump() << Log();
  WaitEvent("lock.synced");
  EXPECT_FALSE(Lock().contains("scan_error")) << Lock().dump();
  EXPECT_EQ(Lock()["reachable"], true);
  RunResult table = Ctl({"lock", "status"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("unit-7"), std::string::npos) << table.out;
  EXPECT_EQ(Log().find(kCode), std::string::npos) << "no code in the log";

  RunResult card =
      RunProgram({BinaryDir() + "/tools/wiegand-sim", "card", "--socket", Path("card.sock"),
                  "--format", "h10301", "--facility", "101", "--number", "251"});
  ASSERT_EQ(card.exit_code, 0) << card.err;
  json granted = WaitEvent("access.granted", [](const json& e) { return e.contains("lock"); });
  EXPECT_EQ(granted["lock"], "pulsed") << granted.dump();
  json peer = Peer("state");
  EXPECT_EQ(peer["result"]["last_action"]["action"], "unlatch") << peer.dump();

  json typed = Peer(std::string("keypad ") + kCode);
  EXPECT_EQ(typed["result"]["accepted"], true) << typed.dump();
  json keypad = WaitEvent("access.granted", [](const json& e) {
    return e.value("source", "") == "lock" && e.value("method", "") == "keypad";
  });
  EXPECT_EQ(keypad["credential"], "pin1");
}

TEST_F(BleLocksDaemon, AKillDashNineInTheMiddleOfASyncLosesNoPendingChange) {
  StartDaemon();
  Import();
  Pair();
  ASSERT_TRUE(testing::WaitFor([&] { return HoldsCode(); }, std::chrono::seconds(15))) << Log();
  WaitEvent("lock.synced");
  // A slow lock: the next sync is still connecting when the daemon is killed.
  ASSERT_TRUE(sim_->Control(std::string("connect-delay ") + kLock + " 5000").value("ok", false));
  // ... once the daemon has dropped the connection (disconnect_after_ms after the last message).
  ASSERT_TRUE(testing::WaitFor(
      [&] { return sim_->Control("state")["state"]["locks"][0].value("connected", true) == false; },
      std::chrono::seconds(10)));
  WriteState(false);  // check-out: the PIN is gone
  Import();
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        json l = Lock();
        return !l.is_null() && l["sync"]["pending_changes"] == 1 && l["sync"]["running"] == true;
      },
      std::chrono::seconds(10)))
      << Lock().dump() << Log();
  daemon_->Signal(SIGKILL);
  daemon_->Wait(std::chrono::seconds(5));
  daemon_.reset();
  EXPECT_TRUE(HoldsCode()) << "the removal never reached the lock";

  ASSERT_TRUE(sim_->Control(std::string("connect-delay ") + kLock + " 10").value("ok", false));
  StartDaemon();
  ASSERT_TRUE(testing::WaitFor([&] { return LockCodes().empty(); }, std::chrono::seconds(20)))
      << json(LockCodes()).dump() << Log();
  json synced = WaitEvent("lock.synced", [](const json& e) { return e.value("removed", 0) == 1; });
  EXPECT_EQ(synced["lock"], "lock-7");
  ASSERT_TRUE(testing::WaitFor([&] { return Lock()["sync"]["pending_changes"] == 0; },
                               std::chrono::seconds(10)));
}

// A check-out two days ahead is written into the lock as the code's end; with the gateway killed
// (no further sync can come), the lock itself refuses the code once its own clock passes it.
TEST_F(BleLocksDaemon, GatewayGoneLockEndsCodeAtCheckOut) {
  const std::time_t ends = std::time(nullptr) + 2 * 86400;
  char ends_at[32];
  std::strftime(ends_at, sizeof ends_at, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&ends));
  WriteState(true, ends_at);
  StartDaemon();
  Import();
  Pair();
  ASSERT_TRUE(testing::WaitFor([&] { return HoldsCode(); }, std::chrono::seconds(15))) << Log();
  WaitEvent("lock.synced");
  json held = Peer("state codes")["result"]["codes"][0]["window"];
  ASSERT_EQ(held.value("time_limited", false), true) << held.dump();
  char until[32];
  std::strftime(until, sizeof until, "%Y-%m-%d %H:%M", std::gmtime(&ends));
  EXPECT_EQ(held.value("until", "").substr(0, 16), until) << held.dump();

  daemon_->Signal(SIGKILL);
  daemon_->Wait(std::chrono::seconds(5));
  daemon_.reset();
  json before = Peer(std::string("keypad ") + kCode);
  EXPECT_EQ(before["result"]["accepted"], true) << before.dump();
  ASSERT_TRUE(Peer("advance " + std::to_string(2 * 86400 + 120)).value("ok", false));
  json after = Peer(std::string("keypad ") + kCode);
  EXPECT_EQ(after["result"]["accepted"], false) << after.dump();
  EXPECT_EQ(after["result"]["outcome"], "outside its window") << after.dump();
}

}  // namespace
}  // namespace lintel
