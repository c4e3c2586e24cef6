// tools/modbus-sim as the gateway's Modbus driver and the demo meet it: the real program serving
// Modbus TCP on a free loopback port (or RTU on one end of a socat pty pair), read and written by a
// real libmodbus client, driven through its control socket and a scenario file. Every wait is a
// bounded poll; times are checked on the simulator's own "t_ms" stamps.
#include <errno.h>
#include <gtest/gtest.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/subprocess.h"

namespace lintel {
namespace {

using lintel::testing::BinaryDir;
using lintel::testing::Child;
using lintel::testing::FreshTestDir;
using lintel::testing::ReadFile;
using lintel::testing::RunProgram;
using lintel::testing::RunResult;
using lintel::testing::WaitFor;
using nlohmann::json;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

std::string Sim() { return BinaryDir() + "/tools/modbus-sim"; }

// The complete lines of `text` (a line still being written is left out).
std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = text.substr(start, nl - start);
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

// Sends one control command over a fresh connection and returns the reply line.
json Control(const fs::path& socket_path, const std::string& command) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return {{"ok", false}, {"error", std::string("connect: ") + std::strerror(errno)}};
  }
  std::string text = command + "\n";
  (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  std::string reply;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
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

struct ModbusClose {
  void operator()(modbus_t* c) const {
    modbus_close(c);
    modbus_free(c);
  }
};
using ModbusClient = std::unique_ptr<modbus_t, ModbusClose>;

void SetTimeout(modbus_t* c, milliseconds timeout) {
  modbus_set_response_timeout(c, static_cast<uint32_t>(timeout.count() / 1000),
                              static_cast<uint32_t>(timeout.count() % 1000) * 1000);
}

// A connected TCP client addressing `unit` (libmodbus's own TCP default is 0xFF).
ModbusClient TcpClient(int port, int unit = 1, milliseconds timeout = milliseconds(1000)) {
  ModbusClient c(modbus_new_tcp("127.0.0.1", port));
  modbus_set_slave(c.get(), unit);
  SetTimeout(c.get(), timeout);
  EXPECT_EQ(modbus_connect(c.get()), 0) << modbus_strerror(errno);
  return c;
}

// One discrete input / coil / holding register, or -1 (errno set by libmodbus).
int Input(modbus_t* c, int addr) {
  uint8_t v = 0;
  return modbus_read_input_bits(c, addr, 1, &v) == 1 ? v : -1;
}
int Coil(modbus_t* c, int addr) {
  uint8_t v = 0;
  return modbus_read_bits(c, addr, 1, &v) == 1 ? v : -1;
}
int Holding(modbus_t* c, int addr) {
  uint16_t v = 0;
  return modbus_read_registers(c, addr, 1, &v) == 1 ? v : -1;
}

// The errno a failed call left, read right after it.
int FailsWith(int rc) { return rc == -1 ? errno : 0; }

// One modbus-sim process with stdout and stderr in files under `dir`.
class SimProcess {
 public:
  SimProcess(const fs::path& dir, std::vector<std::string> args)
      : out_(dir / "sim.out"), err_(dir / "sim.err") {
    args.insert(args.begin(), Sim());
    child_ = std::make_unique<Child>(args, err_.string(), out_.string());
  }
  std::vector<json> Lines() const { return JsonLines(ReadFile(out_)); }
  std::string Err() const { return ReadFile(err_); }
  Child& child() { return *child_; }

  // The first line whose fields include every field of `want`, waiting up to `timeout`.
  std::optional<json> WaitLine(const json& want, milliseconds timeout = milliseconds(5000)) {
    std::optional<json> found;
    WaitFor(
        [&] {
          for (const json& l : Lines()) {
            if (Matches(l, want)) {
              found = l;
              return true;
            }
          }
          return false;
        },
        timeout);
    return found;
  }
  std::vector<json> All(const json& want) const {
    std::vector<json> out;
    for (const json& l : Lines()) {
      if (Matches(l, want)) out.push_back(l);
    }
    return out;
  }

  static bool Matches(const json& line, const json& want) {
    for (const auto& [k, v] : want.items()) {
      if (!line.contains(k) || line[k] != v) return false;
    }
    return true;
  }

 private:
  fs::path out_, err_;
  std::unique_ptr<Child> child_;
};

class ModbusSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTestDir("lintel-msim");
    control_ = dir_ / "ctl.sock";
  }
  void TearDown() override {
    sim_.reset();
    fs::remove_all(dir_);
  }

  // Starts the simulator on a free loopback port with a control socket; sets port_.
  void StartTcp(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--tcp", "127.0.0.1:0", "--control", control_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    sim_ = std::make_unique<SimProcess>(dir_, args);
    ASSERT_TRUE(WaitFor([&] { return !sim_->Lines().empty(); }, milliseconds(10000)))
        << sim_->Err();
    listening_ = sim_->Lines().front();
    ASSERT_EQ(listening_["listening"], "tcp") << listening_;
    port_ = listening_["port"].get<int>();
    ASSERT_GT(port_, 0);
  }

  json Ctl(const std::string& command) {
    json r = Control(control_, command);
    EXPECT_EQ(r["ok"], true) << command << " -> " << r;
    return r;
  }

  // With --manual-clock: moves the simulator's clock `ms` forward; returns once every timer due
  // by then has run. Times in these tests are the simulator's virtual ones, so exact.
  void Advance(int64_t ms) {
    Ctl("advance " + std::to_string(ms));
    ASSERT_TRUE(
        WaitFor([&] { return Ctl("state")["state"]["advancing"] == false; }, milliseconds(30000)))
        << "the simulator never finished advancing";
  }

  int64_t T(const std::optional<json>& line) const {
    return line ? line->at("t_ms").get<int64_t>() : -1;
  }

  fs::path dir_;
  fs::path control_;
  std::unique_ptr<SimProcess> sim_;
  json listening_;
  int port_ = 0;
};

TEST_F(ModbusSimTest, ServesTheDocumentedRegisterMap) {
  StartTcp({"--doors", "4"});
  EXPECT_EQ(listening_["host"], "127.0.0.1");
  EXPECT_EQ(listening_["unit"], 1);
  ModbusClient c = TcpClient(port_);

  // Discrete inputs 0..15: door d's contact at 2d (1 = closed), its REX at 2d+1; 12 fire, 13
  // tamper.
  uint8_t inputs[16] = {};
  ASSERT_EQ(modbus_read_input_bits(c.get(), 0, 16, inputs), 16) << modbus_strerror(errno);
  const uint8_t want_inputs[16] = {1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(inputs[i], want_inputs[i]) << "input " << i;
  EXPECT_EQ(FailsWith(Input(c.get(), 16)), EMBXILADD);

  // Coils 16..25: lock relays 16..23, sounder 24, spare 25; nothing below 16 or above 25.
  uint8_t coils[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  ASSERT_EQ(modbus_read_bits(c.get(), 16, 10, coils), 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(coils[i], 0) << "coil " << 16 + i;
  EXPECT_EQ(FailsWith(Coil(c.get(), 0)), EMBXILADD);
  EXPECT_EQ(FailsWith(Coil(c.get(), 15)), EMBXILADD);
  EXPECT_EQ(FailsWith(Coil(c.get(), 26)), EMBXILADD);
  EXPECT_EQ(FailsWith(modbus_write_bit(c.get(), 26, 1)), EMBXILADD);

  ASSERT_EQ(modbus_write_bit(c.get(), 24, 1), 1);
  ASSERT_EQ(modbus_write_bit(c.get(), 25, 1), 1);
  EXPECT_EQ(Coil(c.get(), 24), 1);
  EXPECT_EQ(Coil(c.get(), 25), 1);
  EXPECT_TRUE(sim_->WaitLine({{"coil", 24}, {"name", "sounder"}, {"relay", "on"}}));
  EXPECT_TRUE(sim_->WaitLine({{"coil", 25}, {"name", "spare"}, {"relay", "on"}}));
  const uint8_t off[2] = {0, 0};
  ASSERT_EQ(modbus_write_bits(c.get(), 24, 2, off), 2);  // FC15
  EXPECT_EQ(Coil(c.get(), 24), 0);
  EXPECT_TRUE(sim_->WaitLine({{"coil", 25}, {"relay", "off"}, {"cause", "modbus"}}));

  // Holding registers: 0x100 watchdog (r/w), 0x200 contact bits (read-only); nothing between.
  EXPECT_EQ(Holding(c.get(), 0x100), 0);
  EXPECT_EQ(Holding(c.get(), 0x200), 0x0F);
  EXPECT_EQ(FailsWith(Holding(c.get(), 0x101)), EMBXILADD);
  EXPECT_EQ(FailsWith(Holding(c.get(), 0x1FF)), EMBXILADD);
  EXPECT_EQ(FailsWith(Holding(c.get(), 0x0)), EMBXILADD);
  uint16_t two[2];
  EXPECT_EQ(FailsWith(modbus_read_registers(c.get(), 0x100, 2, two)), EMBXILADD);
  EXPECT_EQ(FailsWith(modbus_write_register(c.get(), 0x200, 0)), EMBXILADD);
  EXPECT_EQ(FailsWith(modbus_write_register(c.get(), 0x150, 1)), EMBXILADD);
  EXPECT_EQ(Holding(c.get(), 0x200), 0x0F);

  // Input register 0: firmware 1.3.
  uint16_t fw = 0;
  ASSERT_EQ(modbus_read_input_registers(c.get(), 0, 1, &fw), 1);
  EXPECT_EQ(fw, 0x0103);
  EXPECT_EQ(FailsWith(modbus_read_input_registers(c.get(), 1, 1, &fw)), EMBXILADD);

  // Another unit id, and libmodbus's TCP default 0xFF: "gateway target failed to respond".
  ModbusClient other = TcpClient(port_, 2);
  EXPECT_EQ(FailsWith(Input(other.get(), 0)), EMBXGTAR);
  ModbusClient unset = TcpClient(port_, MODBUS_TCP_SLAVE);
  EXPECT_EQ(FailsWith(Input(unset.get(), 0)), EMBXGTAR);
  EXPECT_TRUE(WaitFor(
      [&] {
        return sim_->All({{"client", "connected"}}).size() == 3;
      },
      milliseconds(3000)));
}

TEST_F(ModbusSimTest, UnlockOpensTheDoorAfterTheDelayAndItClosesAgain) {
  StartTcp({"--open-after-ms", "300", "--open-for-ms", "1000", "--manual-clock"});
  ModbusClient c = TcpClient(port_);
  ASSERT_EQ(modbus_write_bit(c.get(), 16, 1), 1);
  EXPECT_EQ(Coil(c.get(), 16), 1);

  Advance(299);
  EXPECT_EQ(Input(c.get(), 0), 1) << "not open before --open-after-ms";
  Advance(1);
  EXPECT_EQ(Input(c.get(), 0), 0);
  EXPECT_EQ(Holding(c.get(), 0x200) & 1, 0) << "the mirror follows the contact";
  Advance(999);
  EXPECT_EQ(Input(c.get(), 0), 0) << "not closed before --open-for-ms";
  Advance(1);
  EXPECT_EQ(Input(c.get(), 0), 1);
  EXPECT_EQ(Holding(c.get(), 0x200) & 1, 1);

  auto relay = sim_->WaitLine(
      {{"coil", 16}, {"door", 0}, {"name", "lock"}, {"relay", "on"}, {"cause", "modbus"}});
  auto opened = sim_->WaitLine({{"door", 0}, {"contact", "open"}, {"cause", "relay"}});
  auto closed = sim_->WaitLine({{"door", 0}, {"contact", "closed"}, {"cause", "timer"}});
  ASSERT_TRUE(relay && opened && closed);
  EXPECT_EQ(T(opened) - T(relay), 300);
  EXPECT_EQ(T(closed) - T(opened), 1000);

  ASSERT_EQ(modbus_write_bit(c.get(), 16, 0), 1);
  EXPECT_TRUE(sim_->WaitLine({{"coil", 16}, {"relay", "off"}}));
  EXPECT_EQ(sim_->All({{"contact", "open"}}).size(), 1u);
}

TEST_F(ModbusSimTest, RelockedBeforeTheDoorOpensItStaysShut) {
  StartTcp({"--open-after-ms", "600", "--manual-clock"});
  ModbusClient c = TcpClient(port_);
  ASSERT_EQ(modbus_write_bit(c.get(), 17, 1), 1);
  ASSERT_EQ(modbus_write_bit(c.get(), 17, 0), 1);
  Advance(1200);  // past the moment it would have opened
  EXPECT_EQ(Input(c.get(), 2), 1) << "door 1 is still shut";
  EXPECT_TRUE(sim_->All({{"door", 1}, {"contact", "open"}}).empty());
}

TEST_F(ModbusSimTest, ControlForcesDoorsPressesRexAndSetsFireAndTamper) {
  StartTcp({"--open-for-ms", "800", "--manual-clock"});
  struct stat st {};
  ASSERT_EQ(::stat(control_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ModbusClient c = TcpClient(port_);

  // A forced door: open with no relay, shut again open-for-ms later.
  Ctl("force 1");
  EXPECT_EQ(Input(c.get(), 2), 0);
  Advance(799);
  EXPECT_EQ(Input(c.get(), 2), 0);
  Advance(1);
  EXPECT_EQ(Input(c.get(), 2), 1);
  auto forced = sim_->WaitLine({{"door", 1}, {"contact", "open"}, {"cause", "forced"}});
  auto shut = sim_->WaitLine({{"door", 1}, {"contact", "closed"}});
  ASSERT_TRUE(forced && shut);
  EXPECT_EQ(T(shut) - T(forced), 800);
  EXPECT_TRUE(sim_->All({{"relay", "on"}}).empty());

  // REX: pressed for 200 ms, and the person opens the door 300 ms after pressing.
  Ctl("rex 2");
  EXPECT_EQ(Input(c.get(), 5), 1);
  Advance(200);
  EXPECT_EQ(Input(c.get(), 5), 0);
  EXPECT_EQ(Input(c.get(), 4), 1) << "not open yet";
  Advance(100);
  EXPECT_EQ(Input(c.get(), 4), 0);
  auto pressed = sim_->WaitLine({{"door", 2}, {"rex", "pressed"}});
  auto released = sim_->WaitLine({{"door", 2}, {"rex", "released"}});
  auto left = sim_->WaitLine({{"door", 2}, {"contact", "open"}, {"cause", "rex"}});
  ASSERT_TRUE(pressed && released && left);
  EXPECT_EQ(T(released) - T(pressed), 200);
  EXPECT_EQ(T(left) - T(pressed), 300);

  // REX --no-open: pressed and released, the door stays shut.
  Ctl("rex 3 --no-open");
  EXPECT_EQ(Input(c.get(), 7), 1);
  Advance(1000);  // well past release (200 ms) and when it would have opened (300 ms)
  EXPECT_TRUE(sim_->WaitLine({{"door", 3}, {"rex", "released"}}));
  EXPECT_EQ(Input(c.get(), 6), 1);
  EXPECT_TRUE(sim_->All({{"door", 3}, {"contact", "open"}}).empty());

  // Fire release and tamper inputs, as their own lines.
  Ctl("fire on");
  EXPECT_EQ(Input(c.get(), 12), 1);
  Ctl("tamper on");
  EXPECT_EQ(Input(c.get(), 13), 1);
  json state = Ctl("state")["state"];
  EXPECT_EQ(state["fire"], true);
  EXPECT_EQ(state["tamper"], true);
  EXPECT_EQ(state["discrete_inputs"]["12"], 1);
  EXPECT_EQ(state["doors"].size(), 4u);
  Ctl("fire off");
  Ctl("tamper off");
  EXPECT_EQ(Input(c.get(), 12), 0);
  EXPECT_EQ(Input(c.get(), 13), 0);
  EXPECT_TRUE(sim_->WaitLine({{"fire", "on"}}));
  EXPECT_TRUE(sim_->WaitLine({{"fire", "off"}}));
  EXPECT_TRUE(sim_->WaitLine({{"tamper", "on"}}));
  EXPECT_TRUE(sim_->WaitLine({{"tamper", "off"}}));
  EXPECT_TRUE(sim_->WaitLine({{"command", "rex 3 --no-open"}, {"source", "control"}}));

  // Bad commands are answered, not fatal.
  EXPECT_EQ(Control(control_, "force 4")["ok"], false);  // doors 0..3
  EXPECT_EQ(Control(control_, "rex 1 --run")["ok"], false);
  EXPECT_EQ(Control(control_, "dance")["ok"], false);
  EXPECT_EQ(Control(control_, "fire maybe")["ok"], false);
  EXPECT_TRUE(sim_->child().running());
}

TEST_F(ModbusSimTest, HoldOpenAndAutoOffControlTheDoor) {
  StartTcp({"--open-for-ms", "200", "--manual-clock"});
  ModbusClient c = TcpClient(port_);

  Ctl("hold 0 1500");
  EXPECT_EQ(Input(c.get(), 0), 0);
  Advance(1499);
  EXPECT_EQ(Input(c.get(), 0), 0) << "held past --open-for-ms";
  Advance(1);
  EXPECT_EQ(Input(c.get(), 0), 1);
  auto held = sim_->WaitLine({{"door", 0}, {"contact", "open"}, {"cause", "held"}});
  auto shut = sim_->WaitLine({{"door", 0}, {"contact", "closed"}});
  ASSERT_TRUE(held && shut);
  EXPECT_EQ(T(shut) - T(held), 1500);

  // `open` keeps it open past open-for-ms, until `close`.
  Ctl("open 1");
  EXPECT_EQ(Input(c.get(), 2), 0);
  Advance(1000);
  EXPECT_EQ(Input(c.get(), 2), 0);
  Ctl("close 1");
  EXPECT_EQ(Input(c.get(), 2), 1);

  // auto off: the relay energises, nobody opens the door.
  Ctl("auto 3 off");
  ASSERT_EQ(modbus_write_bit(c.get(), 19, 1), 1);
  Advance(1000);  // past --open-after-ms (300)
  EXPECT_EQ(Input(c.get(), 6), 1);
  Ctl("auto 3 on");
  ASSERT_EQ(modbus_write_bit(c.get(), 19, 0), 1);
  ASSERT_EQ(modbus_write_bit(c.get(), 19, 1), 1);
  Advance(300);
  EXPECT_EQ(Input(c.get(), 6), 0);
}

TEST_F(ModbusSimTest, ExceptionModeAnswersEveryRequestWithTheCode) {
  StartTcp();
  ModbusClient c = TcpClient(port_);
  Ctl("exception 2");
  EXPECT_EQ(FailsWith(Input(c.get(), 0)), EMBXILADD);
  EXPECT_EQ(FailsWith(modbus_write_bit(c.get(), 16, 1)), EMBXILADD);
  Ctl("exception 6");
  EXPECT_EQ(FailsWith(Holding(c.get(), 0x100)), EMBXSBUSY);
  EXPECT_EQ(Ctl("state")["state"]["exception"], 6);
  Ctl("exception off");
  EXPECT_EQ(Input(c.get(), 0), 1);
  EXPECT_EQ(Coil(c.get(), 16), 0) << "a write answered with an exception changes nothing";
  EXPECT_EQ(Control(control_, "exception 12")["ok"], false);
  EXPECT_EQ(Control(control_, "exception 0")["ok"], false);
}

TEST_F(ModbusSimTest, DelayBeyondTheResponseTimeoutTimesTheClientOut) {
  StartTcp();
  ModbusClient c = TcpClient(port_, 1, milliseconds(400));
  Ctl("delay 100");
  EXPECT_EQ(Input(c.get(), 0), 1) << "a delay within the timeout is only slow";
  Ctl("delay 1000");
  EXPECT_EQ(FailsWith(Input(c.get(), 0)), ETIMEDOUT);
  Ctl("delay 0");
  ModbusClient fresh = TcpClient(port_, 1, milliseconds(400));
  EXPECT_EQ(Input(fresh.get(), 0), 1);
}

TEST_F(ModbusSimTest, OfflineStopsAnsweringUntilTurnedBackOn) {
  StartTcp();
  ModbusClient c = TcpClient(port_, 1, milliseconds(400));
  EXPECT_EQ(Input(c.get(), 0), 1);

  Ctl("offline on");
  EXPECT_EQ(FailsWith(Input(c.get(), 0)), ETIMEDOUT);
  ModbusClient late(modbus_new_tcp("127.0.0.1", port_));
  modbus_set_slave(late.get(), 1);
  SetTimeout(late.get(), milliseconds(400));
  bool refused = modbus_connect(late.get()) != 0 || Input(late.get(), 0) == -1;
  EXPECT_TRUE(refused) << "a new connection must not be served while offline";
  EXPECT_TRUE(sim_->WaitLine({{"client", "refused"}, {"reason", "offline"}}));

  Ctl("offline off");
  modbus_close(c.get());
  ASSERT_EQ(modbus_connect(c.get()), 0);
  EXPECT_EQ(Input(c.get(), 0), 1);
}

TEST_F(ModbusSimTest, WatchdogDropsTheRelaysWhenTheHostGoesQuiet) {
  StartTcp({"--manual-clock"});
  ModbusClient c = TcpClient(port_);
  ASSERT_EQ(modbus_write_register(c.get(), 0x100, 500), 1);
  EXPECT_EQ(Holding(c.get(), 0x100), 500);
  EXPECT_TRUE(sim_->WaitLine({{"watchdog", "set"}, {"timeout_ms", 500}}));

  // Talking every 100 ms keeps the relay on.
  ASSERT_EQ(modbus_write_bit(c.get(), 16, 1), 1);
  for (int i = 0; i < 10; ++i) {
    Advance(100);
    ASSERT_EQ(Coil(c.get(), 16), 1) << "after " << (i + 1) * 100 << " ms of polling";
  }
  EXPECT_TRUE(sim_->All({{"watchdog", "expired"}}).empty());

  // Silence: both relays drop 500 ms after the last request (asked over the control socket,
  // which does not feed it).
  ASSERT_EQ(modbus_write_bit(c.get(), 24, 1), 1);
  auto coils = [&](int on) {
    json s = Control(control_, "state")["state"];
    return s["coils"]["16"] == on && s["coils"]["24"] == on;
  };
  Advance(499);
  EXPECT_TRUE(coils(1));
  Advance(1);
  EXPECT_TRUE(coils(0));
  auto sounder_on = sim_->WaitLine({{"coil", 24}, {"relay", "on"}});
  auto expired = sim_->WaitLine({{"watchdog", "expired"}, {"timeout_ms", 500}});
  ASSERT_TRUE(sounder_on && expired);
  EXPECT_EQ(T(expired) - T(sounder_on), 500);
  EXPECT_TRUE(sim_->WaitLine({{"coil", 16}, {"relay", "off"}, {"cause", "watchdog"}}));
  EXPECT_TRUE(sim_->WaitLine({{"coil", 24}, {"relay", "off"}, {"cause", "watchdog"}}));
  EXPECT_EQ(Control(control_, "state")["state"]["watchdog"]["expired"], true);

  // The next request re-arms it; the relays stay off until written again.
  EXPECT_EQ(Coil(c.get(), 16), 0);
  EXPECT_TRUE(sim_->WaitLine({{"watchdog", "rearmed"}}));

  // 0 turns it off: silence no longer drops anything.
  ASSERT_EQ(modbus_write_register(c.get(), 0x100, 0), 1);
  ASSERT_EQ(modbus_write_bit(c.get(), 16, 1), 1);
  Advance(2000);
  EXPECT_EQ(Control(control_, "state")["state"]["coils"]["16"], 1);
  EXPECT_EQ(sim_->All({{"watchdog", "expired"}}).size(), 1u);
}

TEST_F(ModbusSimTest, ScenarioDrivesRexAndAForcedDoorAtScriptedTimes) {
  const fs::path scenario = dir_ / "scenario.txt";
  std::ofstream(scenario) << "# someone leaves through door 0, then door 1 is forced\n"
                             "300 rex 0\n"
                             "\n"
                             "600 force 1\n"
                             "  # indented comment\n"
                             "2000 quit\n";
  StartTcp({"--scenario", scenario.string(), "--open-for-ms", "400", "--manual-clock"});
  ModbusClient c = TcpClient(port_);
  Advance(600);
  EXPECT_EQ(Input(c.get(), 2), 0) << "door 1 forced at 600";
  Ctl("advance 1400");  // to the scripted quit
  EXPECT_EQ(sim_->child().Wait(milliseconds(30000)), 0) << sim_->Err();

  auto rex_cmd = sim_->WaitLine({{"command", "rex 0"}, {"source", "scenario"}});
  auto pressed = sim_->WaitLine({{"door", 0}, {"rex", "pressed"}});
  auto left = sim_->WaitLine({{"door", 0}, {"contact", "open"}, {"cause", "rex"}});
  auto forced = sim_->WaitLine({{"door", 1}, {"contact", "open"}, {"cause", "forced"}});
  auto shut = sim_->WaitLine({{"door", 1}, {"contact", "closed"}});
  auto stopped = sim_->WaitLine({{"stopped", "quit"}});
  ASSERT_TRUE(rex_cmd && pressed && left && forced && shut && stopped);
  EXPECT_EQ(T(pressed), 300);
  EXPECT_EQ(T(left) - T(pressed), 300);
  EXPECT_EQ(T(forced), 600);
  EXPECT_EQ(T(shut) - T(forced), 400);
  EXPECT_EQ(T(stopped), 2000);
  EXPECT_FALSE(fs::exists(control_)) << "the control socket is removed on exit";
}

TEST_F(ModbusSimTest, StopsCleanlyOnSigtermAndQuit) {
  StartTcp();
  sim_->child().Signal(SIGTERM);
  EXPECT_EQ(sim_->child().Wait(milliseconds(5000)), 0);
  EXPECT_TRUE(sim_->WaitLine({{"stopped", "signal"}}));

  fs::remove(dir_ / "sim.out");
  StartTcp();
  EXPECT_EQ(Control(control_, "quit")["ok"], true);
  EXPECT_EQ(sim_->child().Wait(milliseconds(5000)), 0);
  EXPECT_TRUE(sim_->WaitLine({{"stopped", "quit"}}));
}

TEST_F(ModbusSimTest, BadUsageExitsWith1) {
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), Sim());
    return RunProgram(args);
  };
  EXPECT_EQ(run({}).exit_code, 1);
  EXPECT_EQ(run({"--tcp", "127.0.0.1:0", "--rtu", "/dev/null"}).exit_code, 1);
  RunResult lan = run({"--tcp", "192.168.1.10:502"});
  EXPECT_EQ(lan.exit_code, 1);
  EXPECT_NE(lan.err.find("loopback"), std::string::npos) << lan.err;
  EXPECT_EQ(run({"--tcp", "127.0.0.1:70000"}).exit_code, 1);
  EXPECT_EQ(run({"--tcp", "127.0.0.1"}).exit_code, 1);
  EXPECT_EQ(run({"--tcp", "127.0.0.1:0", "--doors", "7"}).exit_code, 1);
  EXPECT_EQ(run({"--tcp", "127.0.0.1:0", "--unit", "0"}).exit_code, 1);
  EXPECT_EQ(run({"--rtu", "/dev/null", "--parity", "X"}).exit_code, 1);

  const fs::path bad = dir_ / "bad.txt";
  std::ofstream(bad) << "100 rex 0\n200 force 4\n";
  RunResult r = run({"--tcp", "127.0.0.1:0", "--scenario", bad.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.txt:2:"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << "nothing is served before the scenario is known good";
  EXPECT_EQ(run({"--tcp", "127.0.0.1:0", "--scenario", (dir_ / "missing").string()}).exit_code, 1);
}

TEST_F(ModbusSimTest, CannotListenOrOpenTheDeviceExitsWith2) {
  int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  RunResult r = RunProgram({Sim(), "--tcp", "127.0.0.1:" + std::to_string(ntohs(addr.sin_port))});
  ::close(taken);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot listen"), std::string::npos) << r.err;

  RunResult dev = RunProgram({Sim(), "--rtu", (dir_ / "no-such-tty").string()});
  EXPECT_EQ(dev.exit_code, 2);
  EXPECT_NE(dev.err.find("cannot open"), std::string::npos) << dev.err;
}

// RTU on one end of a socat pty pair, a libmodbus RTU master on the other.
TEST_F(ModbusSimTest, RtuSlaveOnAPtyAnswersItsUnitOnly) {
  const fs::path a = dir_ / "a";
  const fs::path b = dir_ / "b";
  Child socat({"/usr/bin/socat", "-d", "-d", "pty,raw,echo=0,link=" + a.string(),
               "pty,raw,echo=0,link=" + b.string()},
              (dir_ / "socat.log").string());
  ASSERT_TRUE(WaitFor([&] { return fs::exists(a) && fs::exists(b); }, milliseconds(5000)))
      << ReadFile(dir_ / "socat.log");

  sim_ = std::make_unique<SimProcess>(
      dir_, std::vector<std::string>{"--rtu", a.string(), "--control", control_.string(),
                                     "--open-after-ms", "200"});
  ASSERT_TRUE(WaitFor([&] { return !sim_->Lines().empty(); }, milliseconds(10000))) << sim_->Err();
  json listening = sim_->Lines().front();
  EXPECT_EQ(listening["listening"], "rtu");
  EXPECT_EQ(listening["device"], a.string());
  EXPECT_EQ(listening["baud"], 9600);

  ModbusClient c(modbus_new_rtu(b.c_str(), 9600, 'N', 8, 1));
  ASSERT_TRUE(c);
  modbus_set_slave(c.get(), 1);
  SetTimeout(c.get(), milliseconds(1000));
  ASSERT_EQ(modbus_connect(c.get()), 0) << modbus_strerror(errno);

  uint8_t inputs[16] = {};
  ASSERT_EQ(modbus_read_input_bits(c.get(), 0, 16, inputs), 16) << modbus_strerror(errno);
  EXPECT_EQ(inputs[0], 1);
  EXPECT_EQ(inputs[1], 0);
  EXPECT_EQ(inputs[6], 1);
  uint16_t fw = 0;
  ASSERT_EQ(modbus_read_input_registers(c.get(), 0, 1, &fw), 1);
  EXPECT_EQ(fw, 0x0103);

  ASSERT_EQ(modbus_write_bit(c.get(), 16, 1), 1) << modbus_strerror(errno);
  EXPECT_EQ(Coil(c.get(), 16), 1);
  EXPECT_TRUE(WaitFor([&] { return Input(c.get(), 0) == 0; }, milliseconds(3000)));
  EXPECT_TRUE(sim_->WaitLine({{"door", 0}, {"contact", "open"}, {"cause", "relay"}}));

  // Another unit: silence (a timeout), and the next request to unit 1 is answered again.
  for (int i = 0; i < 2; ++i) {
    modbus_set_slave(c.get(), 2);
    EXPECT_EQ(FailsWith(Input(c.get(), 0)), ETIMEDOUT);
    modbus_set_slave(c.get(), 1);
    EXPECT_EQ(Holding(c.get(), 0x100), 0) << modbus_strerror(errno);
  }

  // Offline: the line stays silent until it is back.
  Ctl("offline on");
  EXPECT_EQ(FailsWith(Holding(c.get(), 0x100)), ETIMEDOUT);
  Ctl("offline off");
  EXPECT_EQ(Holding(c.get(), 0x100), 0) << modbus_strerror(errno);

  sim_->child().Signal(SIGTERM);
  EXPECT_EQ(sim_->child().Wait(milliseconds(5000)), 0);
}

}  // namespace
}  // namespace lintel
