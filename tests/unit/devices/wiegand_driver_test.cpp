// The Wiegand reader driver in the gateway: edges on the replay socket (or lines on a pty) ->
// reader -> Gateway::Admit -> the door's actuator and the journal, on a FakeClock loop with a real
// store. Keypad PINs and the per-reader lockout, noise, a missing source retried, SIGHUP's Apply.
#include "gateway/devices/wiegand_driver.h"

#include <gtest/gtest.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "drivers/wiegand/gpio_source.h"
#include "drivers/wiegand/replay_source.h"
#include "drivers/wiegand/wiegand.h"
#include "gateway/devices/readers.h"

namespace lintel::devices {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr int64_t kMs = 1'000'000;

struct Pulse {
  std::string door;
  int64_t ms;
  int64_t at_ns;
};

class WiegandDriverTest;

// A feedback line that records (offset, on, time) into the test.
class Recorder final : public wiegand::Output {
 public:
  Recorder(WiegandDriverTest* test, unsigned offset) : test_(test), offset_(offset) {}
  Status Set(bool on) override;

 private:
  WiegandDriverTest* test_;
  unsigned offset_;
};

struct Step {
  unsigned offset;
  bool on;
  int64_t at_ms;  // since the test's mark
  friend bool operator==(const Step&, const Step&) = default;
  friend void PrintTo(const Step& s, std::ostream* os) {
    *os << "{line " << s.offset << (s.on ? " on" : " off") << " at " << s.at_ms << " ms}";
  }
};

class WiegandDriverTest : public ::testing::Test {
 public:
  void Record(unsigned offset, bool on) {
    steps_.push_back({offset, on, (Now() - mark_ns_) / kMs});
  }

 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lintel-dev-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(Configure(Yaml()));
    auto loop = EventLoop::Create(clock_);
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    auto g = core::Gateway::Open(config_, clock_);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    gw_ = std::move(*g);
    auto imported = gw_->Handle({{"cmd", "state.import"}, {"records", Records()}});
    ASSERT_TRUE(imported.ok()) << imported.status().ToString();
    gw_->SetActuator("front", [this](milliseconds ms) {
      pulses_.push_back({"front", ms.count(), Now()});
      return Status::Ok();
    });
    ReaderContext context{*loop_, clock_, *gw_, milliseconds(5000)};
    context.open_output =
        [this](const wiegand::GpioOutputConfig& line) -> Result<std::unique_ptr<wiegand::Output>> {
      if (line.offset == 99) return Status::IoError("gpio chip \"gpiochip0\": no line 99");
      return std::unique_ptr<wiegand::Output>(std::make_unique<Recorder>(this, line.offset));
    };
    readers_ = std::make_unique<Readers>(context);
    readers_->Apply(config_);
  }

  void TearDown() override {
    readers_.reset();
    gw_.reset();
    loop_.reset();
    fs::remove_all(dir_);
  }

  std::string Sock(const std::string& name) const { return (dir_ / name).string(); }

  std::string Yaml(const std::string& extra_readers = "") const {
    return "site: {id: s, time_zone: UTC}\n"
           "gateway: {id: g}\n"
           "store: {path: " +
           (dir_ / "l.db").string() +
           "}\n"
           "policy:\n"
           "  pin: {min_length: 4, max_length: 6}\n"
           "  keypad_lockout: {failures: 3, within_s: 60, lockout_s: 300}\n"
           "doors:\n"
           "  - {id: front, common: true, unlock_ms: 3000}\n"
           "  - {id: garage, common: true}\n"
           "readers:\n"
           "  - id: front-card\n"
           "    door: front\n"
           "    type: wiegand\n"
           "    wiegand: {formats: [h10301], replay: {socket: " +
           Sock("card.sock") +
           "}}\n"
           "  - id: front-keypad\n"
           "    door: front\n"
           "    keypad: true\n"
           "    type: wiegand\n"
           "    wiegand: {replay: {socket: " +
           Sock("keypad.sock") +
           "}}\n"
           "  - id: garage-raw\n"
           "    door: garage\n"
           "    type: wiegand\n"
           "    wiegand: {formats: [raw], replay: {socket: " +
           Sock("raw.sock") + "}}\n" + extra_readers;
  }

  bool Configure(const std::string& yaml) {
    auto c = config::LoadConfigText(yaml, "t.yaml");
    EXPECT_TRUE(c.ok()) << c.status().message();
    if (!c.ok()) return false;
    config_ = *c;
    return true;
  }

  static json Records() {
    return json::parse(R"({
      "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
      "leases": [{"id": "l1", "unit": "1", "members": ["p1"], "groups": ["default"],
                  "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}],
      "credentials": [
        {"id": "pin1", "person": "p1", "type": "pin", "status": "active", "pin": "2468"},
        {"id": "card1", "person": "p1", "type": "card", "status": "active",
         "card": {"format": "h10301", "facility": 101, "number": 251}},
        {"id": "uid1", "person": "p1", "type": "card", "status": "active",
         "card": {"uid": "0004A2B3"}}
      ]
    })");
  }

  int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               clock_.Monotonic().time_since_epoch())
        .count();
  }

  // One datagram to a replay socket: the frame's bits 2 ms apart.
  void Send(const std::string& path, const wiegand::Frame& f) {
    std::vector<wiegand::Edge> edges;
    for (int i = f.bits - 1; i >= 0; --i) {
      edges.push_back({(f.value >> i) & 1 ? wiegand::Line::kD1 : wiegand::Line::kD0,
                       int64_t{f.bits - 1 - i} * 2 * kMs});
    }
    std::string text = wiegand::FormatReplayDatagram(edges);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ASSERT_EQ(
        sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr),
        static_cast<ssize_t>(text.size()))
        << strerror(errno);
    close(fd);
    ASSERT_TRUE(loop_->RunOnce(milliseconds(50)).ok());  // the datagram is received now
    last_bit_ns_ = Now();
  }

  void Card(uint64_t facility, uint64_t number, const std::string& socket = "") {
    auto f = wiegand::EncodeCard(wiegand::CardFormat::kH10301, facility, number);
    ASSERT_TRUE(f.ok());
    Send(socket.empty() ? Sock("card.sock") : socket, *f);
  }

  // Keys on the keypad as 4-bit frames, 300 ms apart (fake time).
  void Keys(std::string_view keys) {
    for (char k : keys) {
      uint64_t code = k == '*' ? 0xA : k == '#' ? 0xB : static_cast<uint64_t>(k - '0');
      Send(Sock("keypad.sock"), {4, code});
      Run(300);
    }
  }

  // Advances fake time by `ms` in 1 ms steps, running due timers after each.
  void Run(int ms) {
    for (int i = 0; i < ms; ++i) {
      clock_.Advance(milliseconds(1));
      ASSERT_TRUE(loop_->RunOnce(milliseconds(0)).ok());
    }
  }

  std::vector<json> Journal(const std::string& type) {
    auto r = gw_->Handle({{"cmd", "events.tail"}, {"n", 100}});
    EXPECT_TRUE(r.ok());
    std::vector<json> out;
    for (const json& e : (*r)["events"]) {
      if (e["type"] == type) out.push_back(e);
    }
    return out;
  }

  fs::path dir_;
  FakeClock clock_{ParseRfc3339("2026-06-01T12:00:00Z").value()};
  config::Config config_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<core::Gateway> gw_;
  std::unique_ptr<Readers> readers_;
  std::vector<Pulse> pulses_;
  int64_t last_bit_ns_ = 0;
  std::vector<Step> steps_;
  int64_t mark_ns_ = 0;
};

Status Recorder::Set(bool on) {
  test_->Record(offset_, on);
  return Status::Ok();
}

TEST_F(WiegandDriverTest, TheFactoryTableNamesWiegand) {
  ASSERT_EQ(ReaderTypes().size(), 1u);
  EXPECT_EQ(ReaderTypes()[0].type, "wiegand");
  EXPECT_EQ(readers_->size(), 3u);
  EXPECT_EQ(readers_->Status()["front-card"]["state"], "running");
  struct stat st;
  ASSERT_EQ(stat(Sock("card.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "whoever can write to a replay socket presents cards";
}

TEST_F(WiegandDriverTest, ACardClosesEarlyAndPulsesTheDoorForItsUnlockTime) {
  Card(101, 251);
  Run(7);
  EXPECT_TRUE(pulses_.empty()) << "not before 4 x the 2 ms bit interval";
  Run(2);
  ASSERT_EQ(pulses_.size(), 1u);
  EXPECT_EQ(pulses_[0].ms, 3000) << "the door's unlock_ms";
  EXPECT_EQ(pulses_[0].at_ns - last_bit_ns_, 8 * kMs) << "last bit -> lock at the early close";
  std::vector<json> granted = Journal("access.granted");
  ASSERT_EQ(granted.size(), 1u);
  EXPECT_EQ(granted[0]["reader"], "front-card");
  EXPECT_EQ(granted[0]["source"], "wiegand");
  EXPECT_EQ(granted[0]["credential"], "card1");
  EXPECT_EQ(granted[0]["lock"], "pulsed");
  json st = readers_->Status()["front-card"];
  EXPECT_EQ(st["granted"], 1);
  EXPECT_EQ(st["cards"], 1);
  EXPECT_EQ(st["frames"]["early"], 1);
  EXPECT_DOUBLE_EQ(st["last_decision_us"].get<double>(), 8000.0);
}

TEST_F(WiegandDriverTest, AnUnknownCardIsDeniedAndMovesNothing) {
  Card(101, 252);
  Run(30);
  EXPECT_TRUE(pulses_.empty());
  std::vector<json> denied = Journal("access.denied");
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(denied[0]["reason"], "unknown_credential");
  EXPECT_FALSE(denied[0].contains("lock"));
  EXPECT_EQ(readers_->Status()["front-card"]["denied"], 1);
}

TEST_F(WiegandDriverTest, ARawFrameIsPresentedAsAUidWithItsLeadingZeros) {
  Send(Sock("raw.sock"), {32, 0x0004A2B3});
  Run(30);  // raw frames never close early: the full 25 ms silence
  std::vector<json> granted = Journal("access.granted");
  ASSERT_EQ(granted.size(), 1u);
  EXPECT_EQ(granted[0]["credential"], "uid1");
  EXPECT_EQ(granted[0]["door"], "garage");
  EXPECT_EQ(granted[0]["lock"], "none") << "the garage has no actuator";
  EXPECT_TRUE(pulses_.empty());
}

TEST_F(WiegandDriverTest, PinsFromTheKeypadAndItsLockoutLeaveTheCardReaderAlone) {
  Keys("2468#");
  ASSERT_EQ(pulses_.size(), 1u);
  EXPECT_EQ(Journal("access.granted").at(0)["reader"], "front-keypad");
  for (int i = 0; i < 3; ++i) Keys("1357#");
  std::vector<json> locked = Journal("keypad.locked_out");
  ASSERT_EQ(locked.size(), 1u);
  EXPECT_EQ(locked[0]["reader"], "front-keypad");
  Keys("2468#");
  std::vector<json> denied = Journal("access.denied");
  ASSERT_EQ(denied.size(), 4u);
  EXPECT_EQ(denied.back()["reason"], "keypad_locked_out");
  EXPECT_EQ(pulses_.size(), 1u);
  Card(101, 251);
  Run(30);
  EXPECT_EQ(pulses_.size(), 2u) << "a card on the other reader of the same door still opens it";
  // Nothing in the journal or the status holds the PIN digits.
  auto tail = gw_->Handle({{"cmd", "events.tail"}, {"n", 100}});
  EXPECT_EQ(tail->dump().find("2468"), std::string::npos);
  EXPECT_EQ(tail->dump().find("1357"), std::string::npos);
  EXPECT_EQ(readers_->Status().dump().find("2468"), std::string::npos);
}

TEST_F(WiegandDriverTest, APinLongerThanThePolicyIsRefusedAtTheKeypad) {
  Keys("2468135#");  // 7 digits, max_length 6: cleared at the 7th, '#' then submits nothing
  EXPECT_TRUE(pulses_.empty());
  EXPECT_EQ(readers_->Status()["front-keypad"]["noise"]["pin_too_long"], 1);
  EXPECT_TRUE(Journal("access.granted").empty());
}

TEST_F(WiegandDriverTest, NoiseIsCountedAndNeverReachesTheEngine) {
  Send(Sock("card.sock"), {26, 0x0CA01F6 ^ 1});  // FC 101 / CN 251 with the odd parity bit flipped
  Run(40);
  Send(Sock("card.sock"), {3, 0x5});  // too short
  Run(40);
  EXPECT_TRUE(pulses_.empty());
  EXPECT_TRUE(Journal("access.granted").empty());
  EXPECT_TRUE(Journal("access.denied").empty());
  json st = readers_->Status()["front-card"];
  EXPECT_EQ(st["noise"]["bad_parity"], 1);
  EXPECT_EQ(st["noise"]["too_short"], 1);
  // A datagram that is not edge timings: rejected whole by the source, counted.
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", Sock("card.sock").c_str());
  ASSERT_EQ(sendto(fd, "garbage", 7, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 7);
  close(fd);
  ASSERT_TRUE(loop_->RunOnce(milliseconds(50)).ok());
  EXPECT_EQ(readers_->Status()["front-card"]["source_errors"], 1);
  Card(101, 251);
  Run(30);
  EXPECT_EQ(pulses_.size(), 1u) << "and the reader keeps working";
}

TEST_F(WiegandDriverTest, ASourceThatCannotOpenIsRetriedWithBackoffUntilItCan) {
  std::string later = (dir_ / "later").string();
  ASSERT_TRUE(
      Configure(Yaml("  - id: late\n"
                     "    door: front\n"
                     "    type: wiegand\n"
                     "    wiegand: {replay: {socket: " +
                     later + "/late.sock}}\n")));
  readers_->Apply(config_);
  json st = readers_->Status()["late"];
  EXPECT_EQ(st["state"], "failed");
  EXPECT_NE(st["error"].get<std::string>().find(later), std::string::npos) << st.dump();
  Run(5001);  // the first retry, 5 s later, fails too: the next waits 10 s
  EXPECT_EQ(readers_->Status()["late"]["state"], "failed");
  fs::create_directory(later);
  Run(9000);
  EXPECT_EQ(readers_->Status()["late"]["state"], "failed") << "backing off, not every 5 s";
  Run(1001);
  EXPECT_EQ(readers_->Status()["late"]["state"], "running");
  Card(101, 251, later + "/late.sock");
  Run(30);
  EXPECT_EQ(pulses_.size(), 1u);
}

TEST_F(WiegandDriverTest, GrantAndDenyPlayTheirPatternsOnTheReadersFeedbackLines) {
  ASSERT_TRUE(
      Configure(Yaml("  - id: lit\n"
                     "    door: front\n"
                     "    type: wiegand\n"
                     "    wiegand: {replay: {socket: " +
                     Sock("lit.sock") +
                     "},\n"
                     "              feedback: {green: 22, red: 23, beeper: 24}}\n")));
  readers_->Apply(config_);
  Card(101, 251, Sock("lit.sock"));
  mark_ns_ = last_bit_ns_;
  Run(1200);
  ASSERT_EQ(pulses_.size(), 1u);
  // Grant: every wired line off first, then green 1 s and one 100 ms beep, starting at the
  // decision (8 ms after the last bit).
  EXPECT_EQ(steps_, (std::vector<Step>{{22, false, 8},
                                       {23, false, 8},
                                       {24, false, 8},
                                       {22, true, 8},
                                       {24, true, 8},
                                       {24, false, 108},
                                       {22, false, 1008}}));
  steps_.clear();
  Card(101, 999, Sock("lit.sock"));
  mark_ns_ = last_bit_ns_;
  Run(600);
  // Deny: red 0.5 s, three beeps (after every wired output was switched off first).
  std::vector<Step> on;
  for (const Step& s : steps_) {
    if (s.on) on.push_back(s);
  }
  EXPECT_EQ(on,
            (std::vector<Step>{{23, true, 8}, {24, true, 8}, {24, true, 208}, {24, true, 408}}));
  EXPECT_EQ(readers_->Status()["lit"]["feedback"], "ok");
}

TEST_F(WiegandDriverTest, AReaderWhoseFeedbackLinesFailStillDecides) {
  ASSERT_TRUE(
      Configure(Yaml("  - id: dark\n"
                     "    door: front\n"
                     "    type: wiegand\n"
                     "    wiegand: {replay: {socket: " +
                     Sock("dark.sock") + "}, feedback: {green: 22, beeper: 99}}\n")));
  readers_->Apply(config_);
  Card(101, 251, Sock("dark.sock"));
  Run(30);
  EXPECT_EQ(pulses_.size(), 1u);
  EXPECT_TRUE(steps_.empty()) << "no half-wired feedback";
  json st = readers_->Status()["dark"];
  EXPECT_EQ(st["state"], "running");
  EXPECT_NE(st["feedback"].get<std::string>().find("no line 99"), std::string::npos) << st.dump();
}

TEST_F(WiegandDriverTest, ApplyKeepsUnchangedReadersAndRestartsChangedOnes) {
  Card(101, 251);
  Run(30);
  Send(Sock("raw.sock"), {32, 0x0004A2B3});
  Run(30);
  ASSERT_EQ(readers_->Status()["front-card"]["granted"], 1);
  ASSERT_EQ(readers_->Status()["garage-raw"]["granted"], 1);
  std::string yaml = Yaml();
  size_t at = yaml.find("{formats: [raw]");
  ASSERT_NE(at, std::string::npos);
  yaml.insert(at + 1, "silence_ms: 50, ");
  ASSERT_TRUE(Configure(yaml));
  readers_->Apply(config_);
  EXPECT_EQ(readers_->Status()["front-card"]["granted"], 1) << "unchanged: kept";
  EXPECT_EQ(readers_->Status()["garage-raw"]["granted"], 0) << "changed: restarted";
  Send(Sock("raw.sock"), {32, 0x0004A2B3});
  Run(30);
  EXPECT_EQ(readers_->Status()["garage-raw"]["granted"], 0) << "now 50 ms of silence";
  Run(25);
  EXPECT_EQ(readers_->Status()["garage-raw"]["granted"], 1);
  // Removing a reader stops it and frees its socket.
  ASSERT_TRUE(Configure(Yaml().substr(0, Yaml().find("  - id: garage-raw"))));
  readers_->Apply(config_);
  EXPECT_EQ(readers_->size(), 2u);
  EXPECT_FALSE(fs::exists(Sock("raw.sock")));
}

TEST_F(WiegandDriverTest, ASerialConverterOnAPtyIsReadAndRetriedAfterItGoesAway) {
  int master = -1, slave = -1;
  char name[128];
  ASSERT_EQ(openpty(&master, &slave, name, nullptr, nullptr), 0);
  close(slave);
  ASSERT_TRUE(Configure(Yaml(std::string("  - id: conv\n"
                                         "    door: front\n"
                                         "    type: wiegand\n"
                                         "    wiegand: {serial: {device: ") +
                             name + "}}\n")));
  readers_->Apply(config_);
  ASSERT_EQ(readers_->Status()["conv"]["state"], "running");
  ASSERT_EQ(write(master, "6500FB\r", 7), 7);  // H10301 FC 101 CN 251 without parity
  for (int i = 0; i < 50 && pulses_.empty(); ++i) {
    ASSERT_TRUE(loop_->RunOnce(milliseconds(10)).ok());
  }
  ASSERT_EQ(pulses_.size(), 1u);
  EXPECT_EQ(Journal("access.granted").at(0)["reader"], "conv");
  close(master);  // unplugged
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(loop_->RunOnce(milliseconds(10)).ok());
  json st = readers_->Status()["conv"];
  EXPECT_EQ(st["state"], "failed");
  EXPECT_NE(st["error"].get<std::string>().find("device gone"), std::string::npos) << st.dump();
  Run(5001);  // the retry: the pty is gone for good, so now it cannot be opened
  st = readers_->Status()["conv"];
  EXPECT_EQ(st["state"], "failed");
  EXPECT_NE(st["error"].get<std::string>().find("cannot open"), std::string::npos) << st.dump();
  EXPECT_EQ(readers_->Status()["front-card"]["state"], "running") << "the other readers carry on";
}

}  // namespace
}  // namespace lintel::devices
