// MakeLibModbusLink against a real libmodbus server: TCP on 127.0.0.1 and RTU over a socat pty
// pair; and a ModbusModule over TCP losing its server and getting it back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "drivers/modbus/link.h"
#include "drivers/modbus/module.h"
#include "tests/unit/modbus/test_server.h"

extern char** environ;

namespace lintel::modbus {
namespace {

using namespace std::chrono_literals;
using fakes::TestServer;

TransportConfig Tcp(int port, std::string host = "127.0.0.1") {
  TransportConfig c;
  c.kind = TransportConfig::kTcp;
  c.host = std::move(host);
  c.port = port;
  return c;
}

std::unique_ptr<ModbusLink> Connected(const TransportConfig& c) {
  Result<std::unique_ptr<ModbusLink>> link = MakeLibModbusLink(c);
  EXPECT_TRUE(link.ok()) << link.status().ToString();
  if (!link.ok()) return nullptr;
  Status st = (*link)->Connect();
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(link).value();
}

TEST(LibModbusLink, ReadsInputsCoilsAndRegisterBitsOverTcp) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  server.SetDiscrete(0, true);
  server.SetDiscrete(3, true);
  server.SetCoil(17, true);
  server.SetHolding(40, 0x0008);
  server.SetInputRegister(1, 0x8000);
  auto link = Connected(Tcp(server.port()));
  ASSERT_NE(link, nullptr);

  Result<std::vector<uint8_t>> di = link->ReadBits(Table::kDiscreteInput, 0, 4);
  ASSERT_TRUE(di.ok()) << di.status().ToString();
  EXPECT_EQ(*di, (std::vector<uint8_t>{1, 0, 0, 1}));
  Result<std::vector<uint8_t>> coils = link->ReadBits(Table::kCoil, 16, 2);
  ASSERT_TRUE(coils.ok()) << coils.status().ToString();
  EXPECT_EQ(*coils, (std::vector<uint8_t>{0, 1}));
  Result<std::vector<uint16_t>> hr = link->ReadRegisters(Table::kHoldingRegister, 40, 2);
  ASSERT_TRUE(hr.ok()) << hr.status().ToString();
  EXPECT_EQ(*hr, (std::vector<uint16_t>{0x0008, 0}));
  Result<std::vector<uint16_t>> ir = link->ReadRegisters(Table::kInputRegister, 0, 2);
  ASSERT_TRUE(ir.ok()) << ir.status().ToString();

  // Through the pure mapping, as the module does it.
  std::vector<ReadBlock> blocks{{Table::kDiscreteInput, 0, 4},
                                {Table::kHoldingRegister, 40, 2},
                                {Table::kInputRegister, 0, 2}};
  std::vector<BlockData> data(3);
  data[0].bits = *di;
  data[1].registers = *hr;
  data[2].registers = *ir;
  EXPECT_EQ(PointValue({Table::kDiscreteInput, 3, -1, false}, blocks, data), true);
  EXPECT_EQ(PointValue({Table::kDiscreteInput, 3, -1, true}, blocks, data), false);
  EXPECT_EQ(PointValue({Table::kHoldingRegister, 40, 3, false}, blocks, data), true);
  EXPECT_EQ(PointValue({Table::kInputRegister, 1, 15, false}, blocks, data), true);
}

TEST(LibModbusLink, WritesCoilsAndRegistersOverTcp) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  auto link = Connected(Tcp(server.port()));
  ASSERT_NE(link, nullptr);
  ASSERT_TRUE(link->WriteCoil(16, true).ok());
  EXPECT_TRUE(server.Coil(16));
  ASSERT_TRUE(link->WriteCoil(16, false).ok());
  EXPECT_FALSE(server.Coil(16));
  ASSERT_TRUE(link->WriteRegister(41, 0x1234).ok());
  EXPECT_EQ(server.Holding(41), 0x1234);
}

TEST(LibModbusLink, ExceptionRepliesAreFailedPreconditionNamingTheCode) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  auto link = Connected(Tcp(server.port()));
  ASSERT_NE(link, nullptr);
  // Outside the mapping: the server's own illegal data address.
  Result<std::vector<uint8_t>> r = link->ReadBits(Table::kCoil, 100, 8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "modbus exception 2 (illegal data address): tcp 127.0.0.1:" +
                                      std::to_string(server.port()) + " unit 1: read coil 100+8");
  // A server answering everything with modbus_reply_exception.
  server.SetMode(TestServer::Mode::kException, MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY);
  Status st = link->WriteCoil(16, true);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message().rfind("modbus exception 6 (slave device busy): ", 0), 0u) << st.message();
  // The connection is still good.
  server.SetMode(TestServer::Mode::kNormal);
  EXPECT_TRUE(link->ReadBits(Table::kCoil, 0, 8).ok());
}

TEST(LibModbusLink, AResponseTimeoutIsUnavailableAndTheLinkGoesOn) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  auto link = Connected(Tcp(server.port()));
  ASSERT_NE(link, nullptr);
  server.SetMode(TestServer::Mode::kSilent);
  // (How long the timeout takes is not asserted: no wall-clock figures in tests.)
  Result<std::vector<uint8_t>> r = link->ReadBits(Table::kDiscreteInput, 0, 8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().message();
  server.SetMode(TestServer::Mode::kNormal);
  EXPECT_TRUE(link->ReadBits(Table::kDiscreteInput, 0, 8).ok());
}

TEST(LibModbusLink, ConnectionRefusedAndServerGoneAreUnavailable) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  const int port = server.port();
  auto link = Connected(Tcp(port));
  ASSERT_NE(link, nullptr);
  ASSERT_TRUE(link->ReadBits(Table::kCoil, 0, 1).ok());
  server.Stop();
  Result<std::vector<uint8_t>> r = link->ReadBits(Table::kCoil, 0, 1);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  Status st = link->Connect();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("Connection refused"), std::string::npos) << st.message();
  // Back on the same port: the same link connects again.
  ASSERT_TRUE(server.StartTcp(port));
  ASSERT_TRUE(link->Connect().ok());
  EXPECT_TRUE(link->ReadBits(Table::kCoil, 0, 1).ok());
}

TEST(LibModbusLink, ImpossibleRequestsAreInvalidArgumentAndSendNothing) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  auto link = Connected(Tcp(server.port()));
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(link->ReadBits(Table::kCoil, 0, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(link->ReadBits(Table::kCoil, 0, 2001).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(link->ReadBits(Table::kHoldingRegister, 40, 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(link->ReadRegisters(Table::kInputRegister, 0, 126).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(link->ReadRegisters(Table::kCoil, 0, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(link->ReadBits(Table::kCoil, 65535, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(server.requests(), 0);
}

TEST(LibModbusLink, CheckTransportNamesTheBadField) {
  TransportConfig c = Tcp(502, "");
  EXPECT_EQ(CheckTransport(c).message(), "tcp :502 unit 1: host is empty");
  c = Tcp(0);
  EXPECT_FALSE(CheckTransport(c).ok());
  c = Tcp(502);
  c.unit_id = 248;
  EXPECT_FALSE(CheckTransport(c).ok());
  c.unit_id = 255;
  EXPECT_TRUE(CheckTransport(c).ok());
  c.response_timeout = 0ms;
  EXPECT_FALSE(CheckTransport(c).ok());
  TransportConfig r;
  r.kind = TransportConfig::kRtu;
  r.device = "/dev/ttyUSB0";
  EXPECT_TRUE(CheckTransport(r).ok());
  EXPECT_EQ(DescribeTransport(r), "rtu /dev/ttyUSB0 9600 8N1 unit 1");
  r.parity = 'X';
  EXPECT_EQ(CheckTransport(r).message(),
            "rtu /dev/ttyUSB0 9600 8X1 unit 1: parity must be 'N', 'E' or 'O'");
  r.parity = 'E';
  r.baud = 1234;
  EXPECT_FALSE(CheckTransport(r).ok());
  r.baud = 19200;
  r.unit_id = 0;
  EXPECT_FALSE(CheckTransport(r).ok()) << "broadcast gets no reply";
  EXPECT_EQ(MakeLibModbusLink(r).status().code(), StatusCode::kInvalidArgument);
}

TEST(LibModbusLink, OnSocketReadsAReplyAlreadyWaiting) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  // FC01 reply to the link's first request (transaction 1): 3 coils, 0b101.
  const uint8_t reply[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x01, 0x01, 0x01, 0x05};
  ASSERT_EQ(write(sv[1], reply, sizeof reply), static_cast<ssize_t>(sizeof reply));
  TransportConfig c = Tcp(502, "");
  c.response_timeout = 2ms;
  Result<std::unique_ptr<ModbusLink>> link = MakeLibModbusLinkOnSocket(c, sv[0]);
  ASSERT_TRUE(link.ok()) << link.status().ToString();
  Result<std::vector<uint8_t>> r = (*link)->ReadBits(Table::kCoil, 0, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<uint8_t>{1, 0, 1}));
  // Nothing more to read: a timeout.
  EXPECT_EQ((*link)->ReadBits(Table::kCoil, 0, 3).status().code(), StatusCode::kUnavailable);
  close(sv[1]);
}

// --- RTU over a pseudo-terminal pair ---

// socat linking two ptys, `<dir>/A` and `<dir>/B`; killed (by its pid) at the end.
class SocatPair {
 public:
  SocatPair() {
    char tmpl[] = "/tmp/lintel-modbus-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    a_ = dir_ + "/A";
    b_ = dir_ + "/B";
    const std::string la = "pty,raw,echo=0,link=" + a_;
    const std::string lb = "pty,raw,echo=0,link=" + b_;
    const std::string log = dir_ + "/socat.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const char* argv[] = {"socat", "-d", "-d", la.c_str(), lb.c_str(), nullptr};
    if (posix_spawnp(&pid_, "socat", &fa, nullptr, const_cast<char* const*>(argv), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 500 && pid_ > 0; ++i) {
      if (std::filesystem::exists(a_) && std::filesystem::exists(b_)) {
        ready_ = true;
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
  }
  ~SocatPair() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  bool ready() const { return ready_; }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }

 private:
  std::string dir_, a_, b_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

TransportConfig Rtu(const std::string& device, int unit = 1) {
  TransportConfig c;
  c.kind = TransportConfig::kRtu;
  c.device = device;
  c.unit_id = unit;
  return c;
}

TEST(LibModbusLink, ReadsWritesAndGetsExceptionsOverRtu) {
  SocatPair pty;
  ASSERT_TRUE(pty.ready()) << "socat pty pair";
  TestServer server;
  ASSERT_TRUE(server.StartRtu(pty.b(), 1));
  server.SetDiscrete(2, true);
  server.SetHolding(41, 0x0004);
  auto link = Connected(Rtu(pty.a()));
  ASSERT_NE(link, nullptr);
  Result<std::vector<uint8_t>> di = link->ReadBits(Table::kDiscreteInput, 0, 8);
  ASSERT_TRUE(di.ok()) << di.status().ToString();
  EXPECT_EQ(*di, (std::vector<uint8_t>{0, 0, 1, 0, 0, 0, 0, 0}));
  ASSERT_TRUE(link->WriteCoil(5, true).ok());
  EXPECT_TRUE(server.Coil(5));
  Result<std::vector<uint16_t>> hr = link->ReadRegisters(Table::kHoldingRegister, 41, 1);
  ASSERT_TRUE(hr.ok()) << hr.status().ToString();
  EXPECT_EQ((*hr)[0], 0x0004);
  Result<std::vector<uint8_t>> bad = link->ReadBits(Table::kCoil, 100, 1);
  EXPECT_EQ(bad.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(bad.status().message().rfind("modbus exception 2 (illegal data address): rtu ", 0), 0u)
      << bad.status().message();
}

TEST(LibModbusLink, AnotherUnitIdOnRtuGetsNoAnswer) {
  SocatPair pty;
  ASSERT_TRUE(pty.ready()) << "socat pty pair";
  TestServer server;
  ASSERT_TRUE(server.StartRtu(pty.b(), 1));
  auto link = Connected(Rtu(pty.a(), 2));
  ASSERT_NE(link, nullptr);
  Result<std::vector<uint8_t>> r = link->ReadBits(Table::kDiscreteInput, 0, 8);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

// --- a module over TCP ---

class PostQueue {
 public:
  ModbusModule::PostFn Fn() {
    return [this](std::function<void()> task) {
      std::lock_guard l(mu_);
      tasks_.push_back(std::move(task));
      cv_.notify_all();
    };
  }
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      std::unique_lock l(mu_);
      if (!cv_.wait_until(l, end, [&] { return !tasks_.empty(); })) return done();
      std::deque<std::function<void()>> batch = std::move(tasks_);
      tasks_.clear();
      l.unlock();
      for (auto& t : batch) t();
    }
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
};

TEST(ModbusModuleOverTcp, GoesOfflineWhenTheServerGoesAndReassertsOutputsWhenItReturns) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  const int port = server.port();
  server.SetDiscrete(0, true);

  ModuleConfig c;
  c.id = "door-io-1";
  c.inputs = {{"dps", {Table::kDiscreteInput, 0, -1, false}}};
  c.outputs = {{"strike", {Table::kCoil, 16, -1, false}}};
  Result<std::unique_ptr<ModbusLink>> link = MakeLibModbusLink(Tcp(port, "localhost"));
  ASSERT_TRUE(link.ok());
  SystemClock clock;
  PostQueue q;
  std::vector<std::string> events;
  ModuleCallbacks cb;
  cb.on_input = [&](const std::string& n, bool v, int64_t) {
    events.push_back(n + "=" + (v ? "1" : "0"));
  };
  cb.on_online = [&](bool online, const std::string&) {
    events.push_back(online ? "online" : "offline");
  };
  cb.on_error = [&](const Status& st) { events.push_back("error: " + st.message()); };
  auto count = [&](const std::string& e) { return std::count(events.begin(), events.end(), e); };
  ModbusModule m(c, std::move(link).value(), clock, q.Fn(), cb);
  ASSERT_TRUE(m.Start().ok());
  ASSERT_TRUE(q.RunUntil([&] { return count("dps=1") == 1; }));
  EXPECT_EQ(events, (std::vector<std::string>{"online", "dps=1"}));

  ASSERT_TRUE(m.SetOutput("strike", true).ok());
  server.SetDiscrete(0, false);
  ASSERT_TRUE(q.RunUntil([&] { return count("dps=0") == 1; }));
  EXPECT_TRUE(server.Coil(16));

  // The module goes away (and forgets its outputs, as a power cycle would).
  server.Stop();
  server.SetCoil(16, false);
  ASSERT_TRUE(q.RunUntil([&] { return count("offline") == 1; }));
  EXPECT_FALSE(m.Health().online);
  ASSERT_TRUE(server.StartTcp(port));
  ASSERT_TRUE(q.RunUntil([&] { return count("online") == 2; }, 10s));
  ASSERT_TRUE(q.RunUntil([&] { return count("dps=0") == 2; }))
      << "the first reading after the reconnect is reported";
  EXPECT_TRUE(server.Coil(16)) << "the strike was re-asserted";
  ModuleHealth h = m.Health();
  EXPECT_TRUE(h.online);
  EXPECT_EQ(h.reconnects, 1u);
  EXPECT_GE(h.failures, 2u);
  EXPECT_EQ(count("offline"), 1);
  m.Stop();
}

// Issue 10 point 4, over the real protocol: the module answers the relock (FC05 coil off) with
// exception 6 (server device busy) twice; the driver re-asserts it until the coil reads back off.
TEST(ModbusModuleOverTcp, Issue10ARefusedRelockIsWrittenAgainUntilTheCoilReadsBackOff) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  ModuleConfig c;
  c.id = "door-io-1";
  c.inputs = {{"dps", {Table::kDiscreteInput, 0, -1, false}}};
  c.outputs = {{"strike", {Table::kCoil, 16, -1, false}}};
  Result<std::unique_ptr<ModbusLink>> link = MakeLibModbusLink(Tcp(server.port()));
  ASSERT_TRUE(link.ok());
  SystemClock clock;
  PostQueue q;
  std::vector<std::string> events;
  ModuleCallbacks cb;
  cb.on_online = [&](bool online, const std::string&) {
    events.push_back(online ? "online" : "offline");
  };
  cb.on_error = [&](const Status& st) { events.push_back("error: " + st.message()); };
  cb.on_output = [&](const std::string& n, const OutputReport& r) {
    if (r.kind == OutputReport::Kind::kReadBack)
      events.push_back(n + " reads " + (r.value ? "1" : "0"));
    if (r.kind == OutputReport::Kind::kWriteFailed) events.push_back(n + " refused");
  };
  auto count = [&](const std::string& e) { return std::count(events.begin(), events.end(), e); };
  ModbusModule m(c, std::move(link).value(), clock, q.Fn(), cb);
  ASSERT_TRUE(m.Start().ok());
  ASSERT_TRUE(m.SetOutput("strike", true).ok());
  ASSERT_TRUE(q.RunUntil([&] { return count("strike reads 1") == 1; }));
  ASSERT_TRUE(server.Coil(16));

  // The first poll may have read the coil off before the strike was set: count from here.
  const auto reads_off = count("strike reads 0");
  server.RefuseCoilWrites(16, MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY, 2);
  ASSERT_TRUE(m.SetOutput("strike", false).ok());
  ASSERT_TRUE(q.RunUntil([&] { return count("strike reads 0") == reads_off + 1; }))
      << "the strike must not stay energised after a refused relock";
  EXPECT_FALSE(server.Coil(16));
  EXPECT_EQ(server.refused(), 2);
  EXPECT_EQ(count("strike refused"), 2);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const std::string& e) {
                            return e.find("exception 6 (slave device busy)") != std::string::npos;
                          }),
            1)
      << "one error line for the streak";
  EXPECT_EQ(count("offline"), 0);
  ModuleHealth h = m.Health();
  ASSERT_EQ(h.outputs.size(), 1u);
  EXPECT_EQ(h.outputs[0].read_back, false);
  EXPECT_EQ(h.outputs[0].wanted, false);
  EXPECT_FALSE(h.outputs[0].fault);
  m.Stop();
}

TEST(ModbusModuleOverTcp, ExceptionsAreReportedWhileOnline) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  ModuleConfig c;
  c.id = "door-io-2";
  c.inputs = {{"dps", {Table::kDiscreteInput, 0, -1, false}},
              {"ghost", {Table::kDiscreteInput, 500, -1, false}}};  // not on this module
  Result<std::unique_ptr<ModbusLink>> link = MakeLibModbusLink(Tcp(server.port()));
  ASSERT_TRUE(link.ok());
  SystemClock clock;
  PostQueue q;
  std::vector<std::string> events;
  ModuleCallbacks cb;
  cb.on_input = [&](const std::string& n, bool v, int64_t) {
    events.push_back(n + "=" + (v ? "1" : "0"));
  };
  cb.on_online = [&](bool online, const std::string&) {
    events.push_back(online ? "online" : "offline");
  };
  cb.on_error = [&](const Status& st) { events.push_back("error: " + st.message()); };
  ModbusModule m(c, std::move(link).value(), clock, q.Fn(), cb);
  ASSERT_TRUE(m.Start().ok());
  ASSERT_TRUE(q.RunUntil([&] { return events.size() >= 3; }));
  (void)q.RunUntil([] { return false; }, 300ms);  // a few more polls
  ASSERT_EQ(events.size(), 3u) << "the refused block is reported once";
  EXPECT_EQ(events[0].rfind("error: modbus module 'door-io-2': poll discrete_input 500+1: "
                            "modbus exception 2 (illegal data address)",
                            0),
            0u)
      << events[0];
  EXPECT_EQ(events[1], "online");
  EXPECT_EQ(events[2], "dps=0");
  EXPECT_TRUE(m.Health().online);
  EXPECT_GE(m.Health().polls, 3u);
}

}  // namespace
}  // namespace lintel::modbus
