// ModbusLink over libmodbus 3.1.6. The only library file that includes <modbus.h> (the tests'
// server uses it directly): libmodbus' errno codes become Status here (link.h has the contract).
#include <errno.h>
#include <modbus.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <string>

#include "drivers/modbus/link.h"

namespace lintel::modbus {
namespace {

constexpr std::array<int, 9> kBauds{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400};

class LibModbusLink final : public ModbusLink {
 public:
  LibModbusLink(modbus_t* ctx, const TransportConfig& config, bool adopted)
      : ctx_(ctx), describe_(DescribeTransport(config)), adopted_(adopted) {}
  ~LibModbusLink() override {
    modbus_close(ctx_);
    modbus_free(ctx_);
  }
  LibModbusLink(const LibModbusLink&) = delete;
  LibModbusLink& operator=(const LibModbusLink&) = delete;

  Status Connect() override {
    if (adopted_) {
      if (modbus_get_socket(ctx_) >= 0) return Status::Ok();
      return Status::Unavailable(describe_ + ": connect: a link made on a socket cannot reconnect");
    }
    modbus_close(ctx_);
    if (modbus_connect(ctx_) == -1) {
      const int err = errno;
      modbus_close(ctx_);
      return Status::Unavailable(describe_ + ": connect: " + modbus_strerror(err));
    }
    return Status::Ok();
  }

  void Close() override { modbus_close(ctx_); }

  Result<std::vector<uint8_t>> ReadBits(Table table, uint16_t start, uint16_t count) override {
    if (!IsBitTable(table)) {
      return Status::InvalidArgument(describe_ + ": ReadBits on a register table (" +
                                     std::string(TableName(table)) + ")");
    }
    LINTEL_RETURN_IF_ERROR(CheckRange(table, start, count));
    std::vector<uint8_t> bits(count);
    const int rc = table == Table::kCoil ? modbus_read_bits(ctx_, start, count, bits.data())
                                         : modbus_read_input_bits(ctx_, start, count, bits.data());
    const int err = errno;  // before anything else can touch it (the message allocates)
    if (rc != count) return Failure(rc, err, "read " + What(table, start, count));
    for (uint8_t& b : bits) b = b ? 1 : 0;
    return bits;
  }

  Result<std::vector<uint16_t>> ReadRegisters(Table table, uint16_t start,
                                              uint16_t count) override {
    if (IsBitTable(table)) {
      return Status::InvalidArgument(describe_ + ": ReadRegisters on a bit table (" +
                                     std::string(TableName(table)) + ")");
    }
    LINTEL_RETURN_IF_ERROR(CheckRange(table, start, count));
    std::vector<uint16_t> regs(count);
    const int rc = table == Table::kHoldingRegister
                       ? modbus_read_registers(ctx_, start, count, regs.data())
                       : modbus_read_input_registers(ctx_, start, count, regs.data());
    const int err = errno;
    if (rc != count) return Failure(rc, err, "read " + What(table, start, count));
    return regs;
  }

  Status WriteCoil(uint16_t address, bool on) override {
    const int rc = modbus_write_bit(ctx_, address, on ? 1 : 0);
    const int err = errno;
    if (rc != 1) {
      return Failure(rc, err, "write coil " + std::to_string(address) + (on ? " on" : " off"));
    }
    return Status::Ok();
  }

  Status WriteRegister(uint16_t address, uint16_t value) override {
    const int rc = modbus_write_register(ctx_, address, value);
    const int err = errno;
    if (rc != 1) {
      return Failure(
          rc, err,
          "write holding_register " + std::to_string(address) + " = " + std::to_string(value));
    }
    return Status::Ok();
  }

 private:
  static std::string What(Table table, uint16_t start, uint16_t count) {
    return std::string(TableName(table)) + " " + std::to_string(start) + "+" +
           std::to_string(count);
  }

  Status CheckRange(Table table, uint16_t start, uint16_t count) const {
    if (count == 0 || count > MaxReadCount(table) || int{start} + int{count} > 65536) {
      return Status::InvalidArgument(describe_ + ": cannot read " + What(table, start, count) +
                                     " (1.." + std::to_string(MaxReadCount(table)) +
                                     " items, ending at 65535 at most)");
    }
    return Status::Ok();
  }

  // A call that returned `rc` (-1, or a count other than the one asked for) with `call_errno`,
  // errno as read right after the call (building `what` allocates, and a successful call may
  // change errno). Exception replies are FailedPrecondition; everything else means the module did
  // not answer properly: drop any late or partial reply so the next request starts clean.
  Status Failure(int rc, int call_errno, const std::string& what) {
    const int err = rc == -1 ? call_errno : EMBBADDATA;
    if (err >= MODBUS_ENOBASE && err < MODBUS_ENOBASE + MODBUS_EXCEPTION_MAX) {
      return ExceptionStatus(err - MODBUS_ENOBASE, describe_ + ": " + what);
    }
    modbus_flush(ctx_);
    return Status::Unavailable(describe_ + ": " + what + ": " + modbus_strerror(err));
  }

  modbus_t* const ctx_;
  const std::string describe_;
  const bool adopted_;
};

Status Configure(modbus_t* ctx, const TransportConfig& config) {
  const auto ms = config.response_timeout.count();
  const auto sec = static_cast<uint32_t>(ms / 1000);
  const auto usec = static_cast<uint32_t>((ms % 1000) * 1000);
  if (modbus_set_slave(ctx, config.unit_id) == -1 ||
      modbus_set_response_timeout(ctx, sec, usec) == -1 ||
      modbus_set_byte_timeout(ctx, sec, usec) == -1 ||
      modbus_set_error_recovery(ctx, MODBUS_ERROR_RECOVERY_NONE) == -1) {
    const int err = errno;
    return Status::InvalidArgument(DescribeTransport(config) +
                                   ": libmodbus refused the settings: " + modbus_strerror(err));
  }
  return Status::Ok();
}

}  // namespace

Status CheckTransport(const TransportConfig& config) {
  const std::string d = DescribeTransport(config);
  if (config.kind == TransportConfig::kTcp) {
    if (config.host.empty()) return Status::InvalidArgument(d + ": host is empty");
    if (config.port < 1 || config.port > 65535) {
      return Status::InvalidArgument(d + ": port must be 1..65535");
    }
    if (!((config.unit_id >= 0 && config.unit_id <= 247) || config.unit_id == 255)) {
      return Status::InvalidArgument(d + ": unit id must be 0..247 or 255 over TCP");
    }
  } else if (config.kind == TransportConfig::kRtu) {
    if (config.device.empty()) return Status::InvalidArgument(d + ": device is empty");
    if (std::find(kBauds.begin(), kBauds.end(), config.baud) == kBauds.end()) {
      return Status::InvalidArgument(d +
                                     ": baud must be one of 1200, 2400, 4800, 9600, 19200, "
                                     "38400, 57600, 115200, 230400");
    }
    if (config.parity != 'N' && config.parity != 'E' && config.parity != 'O') {
      return Status::InvalidArgument(d + ": parity must be 'N', 'E' or 'O'");
    }
    if (config.data_bits != 7 && config.data_bits != 8) {
      return Status::InvalidArgument(d + ": data bits must be 7 or 8");
    }
    if (config.stop_bits != 1 && config.stop_bits != 2) {
      return Status::InvalidArgument(d + ": stop bits must be 1 or 2");
    }
    if (config.unit_id < 1 || config.unit_id > 247) {
      return Status::InvalidArgument(d + ": unit id must be 1..247 over RTU");
    }
  } else {
    return Status::InvalidArgument("modbus transport: unknown kind");
  }
  if (config.response_timeout.count() < 1 || config.response_timeout.count() > 60000) {
    return Status::InvalidArgument(d + ": response timeout must be 1 ms .. 60 s");
  }
  return Status::Ok();
}

std::string DescribeTransport(const TransportConfig& config) {
  if (config.kind == TransportConfig::kRtu) {
    return "rtu " + config.device + " " + std::to_string(config.baud) + " " +
           std::to_string(config.data_bits) + std::string(1, config.parity) +
           std::to_string(config.stop_bits) + " unit " + std::to_string(config.unit_id);
  }
  return "tcp " + config.host + ":" + std::to_string(config.port) + " unit " +
         std::to_string(config.unit_id);
}

Result<std::unique_ptr<ModbusLink>> MakeLibModbusLink(const TransportConfig& config) {
  LINTEL_RETURN_IF_ERROR(CheckTransport(config));
  modbus_t* ctx = nullptr;
  int err = 0;
  if (config.kind == TransportConfig::kTcp) {
    const std::string port = std::to_string(config.port);
    ctx = modbus_new_tcp_pi(config.host.c_str(), port.c_str());
    err = errno;  // before `port` is freed
  } else {
    ctx = modbus_new_rtu(config.device.c_str(), config.baud, config.parity, config.data_bits,
                         config.stop_bits);
    err = errno;
  }
  if (ctx == nullptr) {
    return Status::IoError(DescribeTransport(config) +
                           ": libmodbus context: " + modbus_strerror(err));
  }
  Status st = Configure(ctx, config);
  if (!st.ok()) {
    modbus_free(ctx);
    return st;
  }
  return std::unique_ptr<ModbusLink>(new LibModbusLink(ctx, config, /*adopted=*/false));
}

Result<std::unique_ptr<ModbusLink>> MakeLibModbusLinkOnSocket(const TransportConfig& config,
                                                              int fd) {
  if (fd < 0) return Status::InvalidArgument("modbus link on socket: fd < 0");
  TransportConfig c = config;
  if (c.host.empty()) c.host = "socket";
  Status st = c.kind == TransportConfig::kTcp
                  ? CheckTransport(c)
                  : Status::InvalidArgument("modbus link on socket: kind must be tcp");
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  modbus_t* ctx = modbus_new_tcp("127.0.0.1", c.port);
  const int err = errno;
  if (ctx == nullptr) {
    ::close(fd);
    return Status::IoError(DescribeTransport(c) + ": libmodbus context: " + modbus_strerror(err));
  }
  st = Configure(ctx, c);
  if (!st.ok()) {
    ::close(fd);
    modbus_free(ctx);
    return st;
  }
  modbus_set_socket(ctx, fd);
  return std::unique_ptr<ModbusLink>(new LibModbusLink(ctx, c, /*adopted=*/true));
}

}  // namespace lintel::modbus
