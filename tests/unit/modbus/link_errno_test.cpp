// Issue 10 point 14: the libmodbus adapter read errno late, after building its error message. A
// successful call may change errno (C11 7.5), and allocating the message did in this binary: every
// operator new here sets errno (to ENOMEM) and succeeds. An exception reply must still be
// FailedPrecondition naming its code, and a timeout Unavailable saying it timed out.
#include <errno.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

#include "drivers/modbus/link.h"
#include "tests/unit/modbus/test_server.h"

// Replaced global allocation functions (the sized and array forms forward to these).
void* operator new(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  errno = ENOMEM;  // allowed: errno is unspecified after a successful call
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace lintel::modbus {
namespace {

using fakes::TestServer;

std::unique_ptr<ModbusLink> Connected(int port) {
  TransportConfig c;
  c.kind = TransportConfig::kTcp;
  c.host = "127.0.0.1";
  c.port = port;
  Result<std::unique_ptr<ModbusLink>> link = MakeLibModbusLink(c);
  EXPECT_TRUE(link.ok()) << link.status().ToString();
  if (!link.ok()) return nullptr;
  EXPECT_TRUE((*link)->Connect().ok());
  return std::move(link).value();
}

TEST(LibModbusLinkErrno, Issue10AnExceptionReplyIsClassifiedByTheErrnoOfTheCallItself) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  auto link = Connected(server.port());
  ASSERT_NE(link, nullptr);
  server.SetMode(TestServer::Mode::kException, MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY);
  Status st = link->WriteCoil(16, false);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(st.message().rfind("modbus exception 6 (slave device busy): ", 0), 0u) << st.message();
  st = link->WriteRegister(40, 1);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  Result<std::vector<uint8_t>> bits = link->ReadBits(Table::kCoil, 0, 8);
  ASSERT_FALSE(bits.ok());
  EXPECT_EQ(bits.status().code(), StatusCode::kFailedPrecondition) << bits.status().ToString();
  Result<std::vector<uint16_t>> regs = link->ReadRegisters(Table::kHoldingRegister, 40, 2);
  ASSERT_FALSE(regs.ok());
  EXPECT_EQ(regs.status().code(), StatusCode::kFailedPrecondition) << regs.status().ToString();
}

TEST(LibModbusLinkErrno, Issue10ATimeoutSaysItTimedOut) {
  TestServer server;
  ASSERT_TRUE(server.StartTcp());
  auto link = Connected(server.port());
  ASSERT_NE(link, nullptr);
  server.SetMode(TestServer::Mode::kSilent);
  Status st = link->WriteCoil(16, false);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("timed out"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("allocate"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace lintel::modbus
