// io_modules, doors[].io, io and automations: what loads, and every problem at its line and column.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace lintel::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Lines 1-3; what a test appends starts at line 4.
constexpr const char kHead[] =
    "site: {id: s, time_zone: UTC}\n"
    "gateway: {id: g}\n"
    "store: {path: l.db}\n";

constexpr const char kModule[] =
    "io_modules:\n"
    "  - id: io1\n"
    "    type: modbus\n"
    "    tcp: {host: 127.0.0.1, port: 1502}\n"
    "    points:\n"
    "      - {name: lock, coil: 16}\n"
    "      - {name: contact, input: 0, inverted: true}\n"
    "      - {name: rex, input: 1}\n"
    "      - {name: bits, holding: 512, bit: 3}\n";  // lines 4-12

std::vector<std::string> Problems(const std::string& rest) {
  std::vector<ConfigProblem> problems;
  Result<Config> r = LoadConfigText(kHead + rest, "t.yaml", &problems);
  EXPECT_FALSE(r.ok()) << "expected problems in:\n" << rest;
  std::vector<std::string> out;
  for (const ConfigProblem& p : problems) {
    out.push_back(std::to_string(p.line) + ":" + std::to_string(p.column) + ": " + p.message);
  }
  return out;
}

Config Load(const std::string& rest) {
  Result<Config> r = LoadConfigText(kHead + rest, "t.yaml");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Config{};
}

TEST(IoConfig, ReadsModulesDoorWiringSiteInputsAndAutomations) {
  Config c = Load(std::string(kModule) +
                  "  - id: io2\n"
                  "    type: modbus\n"
                  "    rtu: {device: /dev/ttyUSB1, baud: 19200, parity: even}\n"
                  "    unit_id: 7\n"
                  "    timeout_ms: 300\n"
                  "    poll_ms: 100\n"
                  "    debounce_ms: 50\n"
                  "    watchdog: {register: 256, value: 2000, every_ms: 500}\n"
                  "    points: [{name: fire, input: 12}, {name: sounder, coil: 24}]\n"
                  "doors:\n"
                  "  - id: front\n"
                  "    held_open_s: 60\n"
                  "    io: {lock: io1.lock, contact: io1.contact, rex: io1.rex, unlock_on_rex: "
                  "false,\n"
                  "         relock_on_close: false, fire_egress: true, held_warning_s: 15}\n"
                  "  - id: back\n"
                  "    held_open_s: 10\n"
                  "    io: {lock: io1.bits}\n"
                  "io: {fire_release: io2.fire}\n"
                  "automations:\n"
                  "  - id: forced\n"
                  "    on: door.forced\n"
                  "    doors: [front]\n"
                  "    when: {door_mode: normal, schedule: office, outside_schedule: true}\n"
                  "    actions:\n"
                  "      - {output: io2.sounder, pulse_ms: 10000}\n"
                  "      - {output: io2.sounder, state: off}\n"
                  "      - {alarm: intrusion}\n"
                  "      - {door_mode: locked_down, door: back}\n");
  ASSERT_EQ(c.io_modules.size(), 2u);
  const IoModuleConfig& m = c.io_modules[0];
  EXPECT_FALSE(m.rtu);
  EXPECT_EQ(m.host, "127.0.0.1");
  EXPECT_EQ(m.port, 1502);
  EXPECT_EQ(m.unit_id, 1);
  EXPECT_EQ(m.timeout_ms, 200);
  EXPECT_EQ(m.poll_ms, 50);
  EXPECT_EQ(m.debounce_ms, 30);
  EXPECT_EQ(m.watchdog_address, -1);
  ASSERT_EQ(m.points.size(), 4u);
  EXPECT_EQ(m.points[1], (IoPointConfig{"contact", IoTable::kDiscreteInput, 0, -1, true}));
  EXPECT_EQ(m.points[3], (IoPointConfig{"bits", IoTable::kHoldingRegister, 512, 3, false}));
  const IoModuleConfig& r = c.io_modules[1];
  EXPECT_TRUE(r.rtu);
  EXPECT_EQ(r.device, "/dev/ttyUSB1");
  EXPECT_EQ(r.baud, 19200);
  EXPECT_EQ(r.parity, 'E');
  EXPECT_EQ(r.unit_id, 7);
  EXPECT_EQ(r.timeout_ms, 300);
  EXPECT_EQ(r.poll_ms, 100);
  EXPECT_EQ(r.debounce_ms, 50);
  EXPECT_EQ(r.watchdog_address, 256);
  EXPECT_EQ(r.watchdog_value, 2000);
  EXPECT_EQ(r.watchdog_every_ms, 500);

  ASSERT_TRUE(c.doors[0].io);
  const DoorIoConfig& io = *c.doors[0].io;
  EXPECT_EQ(io.lock, "io1.lock");
  EXPECT_EQ(io.contact, "io1.contact");
  EXPECT_EQ(io.rex, "io1.rex");
  EXPECT_FALSE(io.unlock_on_rex);
  EXPECT_FALSE(io.relock_on_close);
  EXPECT_TRUE(io.fire_egress);
  EXPECT_EQ(io.held_warning_s, 15);
  EXPECT_EQ(c.doors[1].io->held_warning_s, 5) << "the default 10 s, capped at half of held_open_s";
  EXPECT_EQ(c.io.fire_release, "io2.fire");
  const IoModuleConfig* module = nullptr;
  const IoPointConfig* p = FindPoint(c, "io1.rex", &module);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(module->id, "io1");
  EXPECT_EQ(FindPoint(c, "io1.nope"), nullptr);

  ASSERT_EQ(c.automations.size(), 1u);
  const rules::Automation& a = c.automations[0];
  EXPECT_EQ(a.on, "door.forced");
  EXPECT_EQ(a.doors, std::vector<std::string>{"front"});
  EXPECT_EQ(a.door_mode, rules::DoorModeKind::kNormal);
  EXPECT_EQ(a.schedule, "office");
  EXPECT_TRUE(a.outside_schedule);
  using Kind = rules::AutomationAction::Kind;
  ASSERT_EQ(a.actions.size(), 4u);
  EXPECT_EQ(a.actions[0], (rules::AutomationAction{Kind::kOutputPulse, "io2.sounder", 10000,
                                                   rules::DoorModeKind::kNormal}));
  EXPECT_EQ(a.actions[1].kind, Kind::kOutputOff);
  EXPECT_EQ(a.actions[2],
            (rules::AutomationAction{Kind::kAlarm, "intrusion", 0, rules::DoorModeKind::kNormal}));
  EXPECT_EQ(a.actions[3], (rules::AutomationAction{Kind::kSetDoorMode, "back", 0,
                                                   rules::DoorModeKind::kLockedDown}));
  EXPECT_THAT(Summarize(c), HasSubstr("2 io modules: io1 (modbus tcp 127.0.0.1:1502 unit 1, 4 "
                                      "points), io2 (modbus rtu /dev/ttyUSB1 19200 E unit 7, 2 "
                                      "points, watchdog)\ndoor I/O: front (lock io1.lock, "
                                      "contact, rex, fire egress), back (lock io1.bits); fire "
                                      "release io2.fire\n1 automation: forced (on door.forced)"));
}

TEST(IoConfig, ReportsPointReferencesThatDoNotResolveOrAreTheWrongWay) {
  EXPECT_THAT(
      Problems(std::string(kModule) + "doors:\n"
                                      "  - id: front\n"
                                      "    io: {lock: io1.contact, contact: io9.x, rex: io1.nope}\n"
                                      "io: {tamper: lock}\n"),
      ElementsAre(HasSubstr("15:16: door \"front\" io.lock must be an output (a coil or a "
                            "holding register bit), \"io1.contact\" is an input"),
                  HasSubstr("15:38: door \"front\" io.contact refers to \"io9.x\", which "
                            "is not an io module"),
                  HasSubstr("15:50: door \"front\" io.rex refers to \"io1.nope\", which is "
                            "not a point of io module \"io1\""),
                  HasSubstr("16:14: io.tamper must be a point reference \"module.point\"")));
}

TEST(IoConfig, ReportsBadPointsAndTransports) {
  EXPECT_THAT(
      Problems("io_modules:\n"
               "  - id: io1\n"
               "    type: modbus\n"
               "    points:\n"
               "      - {name: a, coil: 1, input: 2}\n"
               "      - {name: b, holding: 3}\n"
               "      - {name: c, coil: 4, bit: 2}\n"
               "doors: [{id: front}]\n"),
      ElementsAre(HasSubstr("5:5: io module \"io1\" needs exactly one of tcp or rtu, got 0"),
                  HasSubstr("8:9: point \"a\" needs exactly one address"),
                  HasSubstr("9:9: point \"b\" is a register: give the bit"),
                  HasSubstr("10:33: bit only applies to holding and input_register")));
}

TEST(IoConfig, TwoModulesCannotShareAnAddressAndUnit) {
  EXPECT_THAT(
      Problems("io_modules:\n"
               "  - {id: a, type: modbus, tcp: {host: 10.0.0.5}, points: [{name: x, coil: 1}]}\n"
               "  - {id: b, type: modbus, tcp: {host: 10.0.0.5}, points: [{name: x, coil: 1}]}\n"
               "doors: [{id: front}]\n"),
      ElementsAre(HasSubstr("6:5: modbus tcp 10.0.0.5:502 unit 1 is already used by io "
                            "module \"a\" (at 5:5)")));
}

// Issue 10 point 7: a coil-only module refuses a register watchdog every second; a heartbeat coil
// is the watchdog such modules can have.
TEST(IoConfig, Issue10AWatchdogIsARegisterWithAValueOrAHeartbeatCoil) {
  const std::string kDoors = "doors: [{id: front}]\n";
  Config c = Load(std::string(kModule) + "    watchdog: {coil: 30, every_ms: 500}\n" + kDoors);
  ASSERT_EQ(c.io_modules.size(), 1u);
  EXPECT_EQ(c.io_modules[0].watchdog_coil, 30);
  EXPECT_EQ(c.io_modules[0].watchdog_address, -1);
  EXPECT_EQ(c.io_modules[0].watchdog_every_ms, 500);
  EXPECT_EQ(Load(std::string(kModule) + kDoors).io_modules[0].watchdog_coil, -1);
  EXPECT_THAT(Problems(std::string(kModule) +
                       "    watchdog: {coil: 30, register: 256, value: 1}\n" + kDoors),
              ElementsAre(HasSubstr("watchdog needs one of register"),
                          HasSubstr("watchdog.value goes with register")));
  EXPECT_THAT(Problems(std::string(kModule) + "    watchdog: {coil: 16}\n" + kDoors),
              ElementsAre("13:22: watchdog.coil 16 is also point lock: the heartbeat needs a coil "
                          "of its own"));
  EXPECT_THAT(Problems(std::string(kModule) + "    watchdog: {every_ms: 500}\n" + kDoors),
              ElementsAre(HasSubstr("(or coil: N for a module without a watchdog register)"),
                          HasSubstr("missing required key \"value\"")));
}

TEST(IoConfig, HeldWarningMustComeBeforeHeldOpen) {
  EXPECT_THAT(Problems(std::string(kModule) + "doors:\n"
                                              "  - id: front\n"
                                              "    held_open_s: 20\n"
                                              "    io: {lock: io1.lock, held_warning_s: 20}\n"),
              ElementsAre(HasSubstr("16:42: io.held_warning_s must be less than the door's "
                                    "held_open_s (20), got 20")));
}

TEST(IoConfig, ReportsBadAutomations) {
  EXPECT_THAT(
      Problems(std::string(kModule) + "doors: [{id: front}]\n"
                                      "automations:\n"
                                      "  - id: a\n"
                                      "    on: door.exploded\n"
                                      "    doors: [garage]\n"
                                      "    when: {outside_schedule: true}\n"
                                      "    actions:\n"
                                      "      - {output: io1.lock}\n"
                                      "      - {alarm: x, door_mode: normal}\n"
                                      "      - {output: io1.rex, state: on}\n"),
      ElementsAre(HasSubstr("16:9: on must be one of door.forced"),
                  HasSubstr("17:13: automation \"a\" refers to door \"garage\" which is not "
                            "defined"),
                  HasSubstr("18:30: when.outside_schedule needs when.schedule"),
                  HasSubstr("20:9: automation \"a\": an output action needs exactly one of state"),
                  HasSubstr("21:9: automation \"a\": each action is exactly one of output, alarm "
                            "or door_mode"),
                  HasSubstr("22:18: automation \"a\" output must be an output")));
}

}  // namespace
}  // namespace lintel::config
