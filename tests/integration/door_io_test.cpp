// Door I/O end to end: the real `lintel` with a Modbus module played by tools/modbus-sim (over TCP,
// and over RTU on a socat pseudo-terminal pair), readers played by tools/wiegand-sim, lintelctl for
// the journal and the status. Grant -> relay pulse -> door opens -> closes -> relock; a forced door
// with its automation; held open; fire release; the module unplugged and back.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/subprocess.h"

namespace lintel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::BinaryDir;
using testing::Child;
using testing::RunProgram;
using testing::RunResult;

class DoorIo : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("lintel-doorio-it");
    socket_ = (dir_ / "lintel.sock").string();
    std::ofstream(dir_ / "state.json") << R"({
      "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
      "leases": [{"id": "l1", "unit": "1", "members": ["p1"], "groups": ["default"],
                  "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}],
      "credentials": [{"id": "card1", "person": "p1", "type": "card", "status": "active",
                       "card": {"format": "h10301", "facility": 101, "number": 251}}]})";
  }
  void TearDown() override {
    daemon_.reset();
    sim_.reset();
    socat_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // modbus-sim over TCP on a free port; returns the port.
  int StartSimTcp() {
    sim_ = std::make_unique<Child>(
        std::vector<std::string>{BinaryDir() + "/tools/modbus-sim", "--tcp", "127.0.0.1:0",
                                 "--doors", "2", "--control", Path("io.ctl"), "--open-after-ms",
                                 "200", "--open-for-ms", "600"},
        Path("modbus-sim.log"), Path("modbus-sim.out"));
    int port = 0;
    testing::WaitFor(
        [&] {
          std::istringstream in(testing::ReadFile(Path("modbus-sim.out")));
          std::string line;
          if (!std::getline(in, line) || line.empty()) return false;
          port = json::parse(line)["port"].get<int>();
          return true;
        },
        std::chrono::seconds(10));
    EXPECT_GT(port, 0) << testing::ReadFile(Path("modbus-sim.log"));
    return port;
  }

  void WriteConfig(const std::string& transport) {
    std::ofstream(Path("lintel.yaml"))
        << "site: {id: s, time_zone: UTC}\n"
           "gateway: {id: g}\n"
           "store: {path: "
        << Path("lintel.db") << "}\ncontrol: {socket: " << socket_
        << "}\n"
           "doors:\n"
           "  - id: front\n"
           "    common: true\n"
           "    unlock_ms: "
        << front_unlock_ms_
        << "\n"
           "    held_open_s: 2\n"
           "    io: {lock: io1.front-lock, contact: io1.front-contact, rex: io1.front-rex,\n"
           "         fire_egress: true, held_warning_s: 1}\n"
           "  - id: garage\n"
           "    common: true\n"
           "    io: {lock: io1.garage-lock, contact: io1.garage-contact}\n"
           "readers:\n"
           "  - id: front-card\n"
           "    door: front\n"
           "    type: wiegand\n"
           "    wiegand: {replay: {socket: "
        << Path("card.sock")
        << "}}\n"
           "io_modules:\n"
           "  - id: io1\n"
           "    type: modbus\n"
           "    "
        << transport
        << "\n"
           "    timeout_ms: 200\n"
           "    poll_ms: 30\n"
           "    debounce_ms: 20\n"
           "    points:\n"
           "      - {name: front-lock, coil: 16}\n"
           "      - {name: garage-lock, coil: 17}\n"
           "      - {name: sounder, coil: 24}\n"
           "      - {name: front-contact, input: 0, inverted: true}\n"
           "      - {name: front-rex, input: 1}\n"
           "      - {name: garage-contact, input: 2, inverted: true}\n"
           "      - {name: fire, input: 12}\n"
           "      - {name: tamper, input: 13}\n"
           "io: {fire_release: io1.fire, tamper: io1.tamper}\n"
           "automations:\n"
           "  - id: forced-sounder\n"
           "    on: door.forced\n"
           "    actions:\n"
           "      - {output: io1.sounder, pulse_ms: 1500}\n"
           "      - {alarm: door_forced}\n";
  }

  void StartDaemon() {
    daemon_ = std::make_unique<Child>(
        std::vector<std::string>{BinaryDir() + "/gateway/lintel", "--config", Path("lintel.yaml")},
        Path("lintel.log"));
    ASSERT_TRUE(
        testing::WaitFor([&] { return Ctl({"status"}).exit_code == 0 || !daemon_->running(); },
                         std::chrono::seconds(10)));
    ASSERT_TRUE(daemon_->running()) << Log();
    RunResult imported = Ctl({"state", "import", Path("state.json")});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    ASSERT_TRUE(testing::WaitFor([&] { return ModuleOnline(); }, std::chrono::seconds(10)))
        << Log();
  }

  RunResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {BinaryDir() + "/tools/lintelctl", "--socket", socket_});
    return RunProgram(args);
  }
  json Status() {
    RunResult r = Ctl({"status", "--json"});
    return r.exit_code == 0 ? json::parse(r.out) : json();
  }
  bool ModuleOnline() {
    json s = Status();
    return s.contains("door_io") && s["door_io"]["modules"]["io1"]["online"] == true;
  }
  void Io(const std::string& command) {
    RunResult r =
        RunProgram({"/bin/sh", "-c", "printf '%s\\n' \"$0\" | socat -t 2 - UNIX-CONNECT:\"$1\"",
                    command, Path("io.ctl")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void Card() {
    RunResult r =
        RunProgram({BinaryDir() + "/tools/wiegand-sim", "card", "--socket", Path("card.sock"),
                    "--format", "h10301", "--facility", "101", "--number", "251"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::vector<json> Events() {
    RunResult r = Ctl({"events", "tail", "-n", "500", "--json"});
    std::vector<json> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) out.push_back(json::parse(line));
    return out;
  }
  // Waits until the journal has an event of `type` (at `door`, when given) after seq `after`.
  json WaitEvent(const std::string& type, const std::string& door = "", uint64_t after = 0) {
    json found;
    testing::WaitFor(
        [&] {
          for (const json& e : Events()) {
            if (e["seq"].get<uint64_t>() > after && e["type"] == type &&
                (door.empty() || e.value("door", "") == door)) {
              found = e;
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(10));
    EXPECT_FALSE(found.is_null()) << "no " << type << " " << door << " in\n"
                                  << json(Events()).dump(1);
    return found;
  }
  uint64_t LastSeq() {
    std::vector<json> e = Events();
    return e.empty() ? 0 : e.back()["seq"].get<uint64_t>();
  }
  // The module's lines (modbus-sim stdout) that match `pred`, in order.
  std::vector<json> SimLines(const std::function<bool(const json&)>& pred) {
    std::vector<json> out;
    std::istringstream in(testing::ReadFile(Path("modbus-sim.out")));
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded() && pred(j)) out.push_back(j);
    }
    return out;
  }
  bool Relay(int coil, const std::string& state) {
    std::vector<json> l = SimLines([&](const json& j) { return j.value("coil", -1) == coil; });
    return !l.empty() && l.back()["relay"] == state;
  }
  std::string Log() const { return testing::ReadFile(dir_ / "lintel.log"); }

  fs::path dir_;
  std::string socket_;
  int front_unlock_ms_ = 3000;  // the front door's unlock_ms in WriteConfig()
  std::unique_ptr<Child> sim_, daemon_, socat_;
};

TEST_F(DoorIo, AGrantPulsesTheRelayTheDoorOpensClosesAndRelocks) {
  front_unlock_ms_ = 600000;  // the pulse cannot end in this test: the relay goes off on close
  int port = StartSimTcp();
  WriteConfig("tcp: {host: 127.0.0.1, port: " + std::to_string(port) + "}");
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Card();
  json granted = WaitEvent("access.granted");
  EXPECT_EQ(granted["lock"], "pulsed");
  WaitEvent("door.opened", "front");
  json closed = WaitEvent("door.closed", "front");
  ASSERT_TRUE(testing::WaitFor([&] { return Relay(16, "off"); }, std::chrono::seconds(5)));
  // On the module's side: relay on, door open, door closed, relay off, in that order: the relay
  // went off when the door closed (relock on close), not at the end of the 10-minute pulse.
  std::vector<json> seq = SimLines([](const json& j) {
    return j.value("coil", -1) == 16 || (j.contains("contact") && j.value("door", -1) == 0);
  });
  ASSERT_EQ(seq.size(), 4u) << json(seq).dump();
  EXPECT_EQ(seq[0]["relay"], "on");
  EXPECT_EQ(seq[1]["contact"], "open");
  EXPECT_EQ(seq[2]["contact"], "closed");
  EXPECT_EQ(seq[3]["relay"], "off");
  EXPECT_TRUE(Events().back().is_object());
  for (const json& e : Events()) EXPECT_NE(e["type"], "door.forced") << e.dump();
}

// Issue 10 point 4: the module answered the relock with exception 6 once and the strike stayed
// energised (status said "locked"). The relock is re-asserted until the coil reads back off.
TEST_F(DoorIo, Issue10ARefusedRelockIsWrittenAgainAndStatusShowsTheReadBack) {
  int port = StartSimTcp();
  WriteConfig("tcp: {host: 127.0.0.1, port: " + std::to_string(port) + "}");
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Io("refuse 16 6 1 off");  // the next write turning the lock relay off: server device busy
  Card();
  EXPECT_EQ(WaitEvent("access.granted")["lock"], "pulsed");
  WaitEvent("door.closed", "front");  // relock on close: the write that is refused
  ASSERT_TRUE(testing::WaitFor(
      [&] { return !SimLines([](const json& j) { return j.contains("refused"); }).empty(); },
      std::chrono::seconds(5)));
  ASSERT_TRUE(testing::WaitFor([&] { return Relay(16, "off"); }, std::chrono::seconds(5)))
      << "the relock was never written again";
  std::vector<json> seq = SimLines([](const json& j) {
    return j.value("coil", -1) == 16 && (j.contains("refused") || j.contains("relay"));
  });
  ASSERT_EQ(seq.size(), 3u) << json(seq).dump();
  EXPECT_EQ(seq[0]["relay"], "on");
  EXPECT_EQ(seq[1]["refused"], "write");
  EXPECT_EQ(seq[2]["relay"], "off");
  EXPECT_LT(seq[2]["t_ms"].get<int64_t>() - seq[1]["t_ms"].get<int64_t>(), 1000)
      << "re-asserted within the backoff, not at the next grant";
  ASSERT_TRUE(
      testing::WaitFor([&] { return Status()["door_io"]["doors"]["front"]["lock"] == "locked"; },
                       std::chrono::seconds(5)));
  json st = Status()["door_io"];
  EXPECT_EQ(st["doors"]["front"]["wanted"], "locked");
  EXPECT_EQ(st["modules"]["io1"]["outputs"]["front-lock"]["read_back"], "off");
}

// Issue 10 point 5: a refused unlock write was journaled "lock": "pulsed".
TEST_F(DoorIo, Issue10ARefusedUnlockIsJournaledUnlockFailedWithADeviceFault) {
  int port = StartSimTcp();
  WriteConfig("tcp: {host: 127.0.0.1, port: " + std::to_string(port) + "}");
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Io("refuse 16 6 1000 on");  // every write turning the lock relay on is refused
  Card();
  json fault = WaitEvent("device.fault");
  EXPECT_EQ(fault["door"], "front");
  EXPECT_EQ(fault["point"], "front-lock");
  EXPECT_EQ(fault["wanted"], "on");
  json granted = WaitEvent("access.granted");
  EXPECT_EQ(granted["lock"], "unlock_failed") << granted.dump();
  EXPECT_EQ(WaitEvent("device.fault_cleared")["door"], "front") << "locked, as wanted again";
  EXPECT_TRUE(SimLines([](const json& j) {
                return j.value("coil", -1) == 16 && j.contains("relay");
              }).empty())
      << "the relay never moved";
}

TEST_F(DoorIo, AForcedDoorSoundsTheSounderAndHeldOpenAndFireAreReported) {
  int port = StartSimTcp();
  WriteConfig("tcp: {host: 127.0.0.1, port: " + std::to_string(port) + "}");
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Io("force 1");
  json forced = WaitEvent("door.forced", "garage");
  json alarm = WaitEvent("alarm");
  EXPECT_EQ(alarm["alarm"], "door_forced");
  EXPECT_EQ(alarm["automation"], "forced-sounder");
  ASSERT_TRUE(testing::WaitFor([&] { return Relay(24, "on"); }, std::chrono::seconds(5)));
  ASSERT_TRUE(testing::WaitFor([&] { return Relay(24, "off"); }, std::chrono::seconds(5)))
      << "the 1.5 s sounder pulse ends";

  // Held open: a grant, then the door is held for 4 s (held_open_s 2, warning 1 s before).
  uint64_t mark = LastSeq();
  Io("auto 0 off");
  Card();
  WaitEvent("access.granted", "", mark);
  Io("hold 0 4000");
  WaitEvent("door.held_open_warning", "front", mark);
  WaitEvent("door.held_open", "front", mark);
  json closed = WaitEvent("door.closed", "front", mark);
  EXPECT_EQ(closed["was_held"], true);

  // Fire release: the egress door (front) unlocks while the input is active.
  mark = LastSeq();
  Io("fire on");
  WaitEvent("fire.release", "", mark);
  ASSERT_TRUE(testing::WaitFor([&] { return Relay(16, "on"); }, std::chrono::seconds(5)));
  EXPECT_FALSE(Relay(17, "on")) << "the garage is not an egress door";
  Io("fire off");
  WaitEvent("fire.cleared", "", mark);
  ASSERT_TRUE(testing::WaitFor([&] { return Relay(16, "off"); }, std::chrono::seconds(5)));
}

TEST_F(DoorIo, AModuleThatStopsAnsweringIsOfflineGrantsSayLockFailedAndItComesBack) {
  int port = StartSimTcp();
  WriteConfig("tcp: {host: 127.0.0.1, port: " + std::to_string(port) + "}");
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  // Exception replies: the module answered, so it stays online; the refusal is logged.
  Io("exception 6");
  ASSERT_TRUE(testing::WaitFor([&] { return Log().find("io module io1: ") != std::string::npos; },
                               std::chrono::seconds(5)))
      << Log();
  EXPECT_TRUE(ModuleOnline());
  Io("exception off");
  uint64_t mark = LastSeq();
  Io("offline on");
  json off = WaitEvent("device.offline", "", mark);
  EXPECT_EQ(off["device"], "io1");
  ASSERT_TRUE(testing::WaitFor([&] { return !ModuleOnline(); }, std::chrono::seconds(5)));
  Card();
  json granted = WaitEvent("access.granted", "", mark);
  EXPECT_EQ(granted["lock"], "failed");
  Io("offline off");
  WaitEvent("device.online", "", mark);
  Card();
  mark = LastSeq() - 1;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        for (const json& e : Events()) {
          if (e["seq"].get<uint64_t>() > mark && e["type"] == "access.granted" &&
              e["lock"] == "pulsed") {
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(10)))
      << json(Events()).dump(1);
  EXPECT_NE(Log().find("io module io1 offline"), std::string::npos) << Log();
}

TEST_F(DoorIo, AStoppingGatewayLeavesTheLocksLocked) {
  int port = StartSimTcp();
  WriteConfig("tcp: {host: 127.0.0.1, port: " + std::to_string(port) + "}");
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Io("fire on");  // the front door is released while the fire input is active
  ASSERT_TRUE(testing::WaitFor([&] { return Relay(16, "on"); }, std::chrono::seconds(5)));
  daemon_->Signal(SIGTERM);
  ASSERT_EQ(daemon_->Wait(std::chrono::seconds(10)), 0) << Log();
  EXPECT_TRUE(Relay(16, "off")) << "the last word to the module before the gateway went away";
}

// Issue 14 point 4: `lintelctl door test front --yes` pulses the front lock once through the
// cloud's unlock path (journaled door.unlocked, source lintelctl) and shows the lock and the door
// contact as they change; a door locked down, the fire release, and no TTY without --yes refuse.
TEST_F(DoorIo, DoorTestPulsesTheLockOnceShowsTheChangesAndRefusesWhatItMust) {
  front_unlock_ms_ = 800;
  int port = StartSimTcp();
  WriteConfig("tcp: {host: 127.0.0.1, port: " + std::to_string(port) + "}");
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Io("auto 0 off");  // nobody walks through: the lock relocks at the end of its pulse
  auto no_tty = [&](const std::string& args) {
    return RunProgram({"/bin/sh", "-c",
                       "exec \"$0\" --socket \"$1\" door test front " + args + " </dev/null",
                       BinaryDir() + "/tools/lintelctl", socket_});
  };
  RunResult unconfirmed = no_tty("--watch-s 0");
  EXPECT_EQ(unconfirmed.exit_code, 2);
  EXPECT_NE(unconfirmed.err.find("--yes"), std::string::npos) << unconfirmed.err;

  uint64_t mark = LastSeq();
  RunResult r = no_tty("--yes --watch-s 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The reading before, the pulse, then the lock released and back, in that order.
  EXPECT_EQ(r.out.rfind("door front: lock locked, door closed, REX not pressed\n"
                        "door front: lock pulsed for 800 ms",
                        0),
            0u)
      << r.out;
  size_t released = r.out.find("lock locked -> released");
  size_t relocked = r.out.find("lock released -> locked");
  EXPECT_NE(released, std::string::npos) << r.out;
  EXPECT_NE(relocked, std::string::npos) << r.out;
  EXPECT_LT(released, relocked) << r.out;
  json unlocked = WaitEvent("door.unlocked", "front", mark);
  EXPECT_EQ(unlocked["source"], "lintelctl");
  EXPECT_EQ(unlocked["ms"], 800);
  EXPECT_EQ(unlocked["lock"], "pulsed");
  std::vector<json> relay =
      SimLines([](const json& j) { return j.value("coil", -1) == 16 && j.contains("relay"); });
  ASSERT_EQ(relay.size(), 2u) << json(relay).dump() << " (once, with the unconfirmed run not)";
  EXPECT_EQ(relay[0]["relay"], "on");
  EXPECT_EQ(relay[1]["relay"], "off");

  // --json: the reading before, the pulse, then one object per change; the simulated person
  // opens the door while the lock is released.
  Io("auto 0 on");
  Child watching({BinaryDir() + "/tools/lintelctl", "--socket", socket_, "door", "test", "front",
                  "--yes", "--watch-s", "3", "--json"},
                 Path("test.err"), Path("test.out"));
  ASSERT_EQ(watching.Wait(std::chrono::seconds(10)), 0) << testing::ReadFile(Path("test.err"));
  std::vector<json> lines;
  std::istringstream in(testing::ReadFile(Path("test.out")));
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  ASSERT_GE(lines.size(), 4u) << testing::ReadFile(Path("test.out"));
  EXPECT_EQ(lines[0]["lock"], "locked");
  EXPECT_EQ(lines[1]["pulsed"]["door"], "front");
  bool opened = false;
  for (const json& l : lines) opened = opened || l.value("open", false);
  EXPECT_TRUE(opened) << "modbus-sim walks through while the lock is released: "
                      << testing::ReadFile(Path("test.out"));

  // Fire release: refused, the relay does not move for the test.
  Io("fire on");
  WaitEvent("fire.release", "", mark);
  ASSERT_TRUE(testing::WaitFor([&] { return Status()["door_io"]["fire_release"] == true; },
                               std::chrono::seconds(5)));
  RunResult in_fire = no_tty("--yes --watch-s 0");
  EXPECT_EQ(in_fire.exit_code, 1);
  EXPECT_NE(in_fire.err.find("fire release"), std::string::npos) << in_fire.err;
  Io("fire off");
  ASSERT_TRUE(testing::WaitFor([&] { return Status()["door_io"]["fire_release"] == false; },
                               std::chrono::seconds(5)));

  // Locked down (the state's door mode): refused.
  std::ofstream(Path("locked.json")) << R"({
      "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
      "door_modes": [{"id": "front", "mode": "locked_down"}]})";
  ASSERT_EQ(Ctl({"state", "import", Path("locked.json")}).exit_code, 0);
  ASSERT_TRUE(testing::WaitFor(
      [&] { return Status()["door_io"]["doors"]["front"]["mode"] == "locked_down"; },
      std::chrono::seconds(10)));
  size_t relay_moves = SimLines([](const json& j) {
                         return j.value("coil", -1) == 16 && j.contains("relay");
                       }).size();
  RunResult locked = no_tty("--yes --watch-s 0");
  EXPECT_EQ(locked.exit_code, 1);
  EXPECT_NE(locked.err.find("door front is locked down"), std::string::npos) << locked.err;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(SimLines([](const json& j) {
              return j.value("coil", -1) == 16 && j.contains("relay");
            }).size(),
            relay_moves)
      << "the relay did not move";
  EXPECT_EQ(Ctl({"door", "test", "garden", "--yes"}).exit_code, 1) << "a door without I/O";
}

TEST_F(DoorIo, OverRtuOnAPseudoTerminalPair) {
  socat_ = std::make_unique<Child>(
      std::vector<std::string>{"/usr/bin/socat", "-d", "-d", "pty,raw,echo=0,link=" + Path("a"),
                               "pty,raw,echo=0,link=" + Path("b")},
      Path("socat.log"));
  ASSERT_TRUE(testing::WaitFor([&] { return fs::exists(Path("a")) && fs::exists(Path("b")); },
                               std::chrono::seconds(10)));
  sim_ = std::make_unique<Child>(
      std::vector<std::string>{BinaryDir() + "/tools/modbus-sim", "--rtu", Path("a"), "--doors",
                               "2", "--control", Path("io.ctl"), "--open-after-ms", "200",
                               "--open-for-ms", "600"},
      Path("modbus-sim.log"), Path("modbus-sim.out"));
  WriteConfig("rtu: {device: " + Path("b") + ", baud: 19200}");
  // The simulator's baud does not matter on a pty; the config's is checked and set.
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Card();
  json granted = WaitEvent("access.granted");
  EXPECT_EQ(granted["lock"], "pulsed");
  WaitEvent("door.opened", "front");
  WaitEvent("door.closed", "front");
  ASSERT_TRUE(testing::WaitFor([&] { return Relay(16, "off"); }, std::chrono::seconds(5)));
}

}  // namespace
}  // namespace lintel
