// ModbusLink: the transport seam of the Modbus driver (STYLE.md 3). One link talks to one unit
// (module) over Modbus TCP or RTU; ModbusModule polls through it, tests use a fake.
//
// Threads: a link is used by one thread at a time (libmodbus contexts are not thread-safe); the
// module's poll thread owns it. Every call blocks for at most about the response timeout (a reply
// that stalls half-way may take up to twice that, header and body each waiting).
//
// Error contract, for every call:
//  - Unavailable: the module is not answering: timeout, connection refused / reset / closed,
//    serial port failure, a reply that is garbled (bad CRC, wrong length, wrong transaction or
//    unit). The next call may succeed (a late reply is flushed first).
//  - FailedPrecondition "modbus exception N (name): ...": the module answered with an exception
//    reply (see ExceptionStatus in points.h). It is online, it refused this request.
//  - InvalidArgument: the request itself is impossible (count 0 or over the limit, a register
//    table passed to ReadBits, ...). Nothing was sent.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "drivers/modbus/points.h"
#include "gateway/base/status.h"

namespace lintel::modbus {

class ModbusLink {
 public:
  virtual ~ModbusLink() = default;

  // Opens the TCP connection (bounded by the response timeout) or the serial port. Closes first
  // when already open. For RTU, success only means the port opened: the module may still be dead.
  [[nodiscard]] virtual Status Connect() = 0;
  // Closes the connection or port; harmless when closed. The link may be connected again.
  virtual void Close() = 0;

  // FC01 (kCoil) / FC02 (kDiscreteInput): `count` (1..2000) values, one byte each, 0 or 1.
  [[nodiscard]] virtual Result<std::vector<uint8_t>> ReadBits(Table table, uint16_t start,
                                                              uint16_t count) = 0;
  // FC03 (kHoldingRegister) / FC04 (kInputRegister): `count` (1..125) registers.
  [[nodiscard]] virtual Result<std::vector<uint16_t>> ReadRegisters(Table table, uint16_t start,
                                                                    uint16_t count) = 0;
  // FC05: one coil on (0xFF00) or off (0x0000).
  [[nodiscard]] virtual Status WriteCoil(uint16_t address, bool on) = 0;
  // FC06: one holding register.
  [[nodiscard]] virtual Status WriteRegister(uint16_t address, uint16_t value) = 0;
};

struct TransportConfig {
  enum Kind { kTcp, kRtu };
  Kind kind = kTcp;
  // TCP: host name or address (resolved at each Connect), port.
  std::string host;
  int port = 502;
  // RTU: serial device, baud (a standard rate 1200..230400), parity 'N', 'E' or 'O', 7 or 8 data
  // bits, 1 or 2 stop bits.
  std::string device;
  int baud = 9600;
  char parity = 'N';
  int data_bits = 8;
  int stop_bits = 1;
  // Unit (slave) id: 1..247 for RTU; 0..255 for TCP (gateways often expect 1 or 255).
  int unit_id = 1;
  // How long a request waits for the reply (also the connect timeout, and the wait between two
  // bytes of one reply). 1 ms .. 60 s.
  std::chrono::milliseconds response_timeout{200};
};

// Errors: InvalidArgument naming the field when the config is out of range.
[[nodiscard]] Status CheckTransport(const TransportConfig& config);
// "tcp 10.0.0.5:502 unit 1", "rtu /dev/ttyUSB0 9600 8N1 unit 1": used in every error message.
std::string DescribeTransport(const TransportConfig& config);

// A link over libmodbus 3.1.6 (library `lintel_modbus_io`), not yet connected. TCP contexts use
// modbus_new_tcp_pi (host names work); RTU contexts use RS-232 mode (no RS-485 ioctls: an
// auto-direction adapter is assumed, and a pty works). Errors: InvalidArgument from
// CheckTransport(); IoError when libmodbus cannot allocate the context.
[[nodiscard]] Result<std::unique_ptr<ModbusLink>> MakeLibModbusLink(const TransportConfig& config);

// A TCP link over an already connected stream socket `fd` (the link owns it from now on, also on
// error), for the fuzzer and tests: `config.kind` must be kTcp; host and port are only used in
// messages. Connect() on it fails (Unavailable) once it was closed. Errors: as MakeLibModbusLink;
// InvalidArgument when fd < 0.
[[nodiscard]] Result<std::unique_ptr<ModbusLink>> MakeLibModbusLinkOnSocket(
    const TransportConfig& config, int fd);

}  // namespace lintel::modbus
