#include "tools/lock-sim/echo_peripheral.h"

#include <cctype>
#include <string>

namespace lintel::locksim {
namespace {

constexpr uint8_t kCountPrefix = 0xEC;

Result<std::vector<uint8_t>> ParseHex(const std::string& hex) {
  if (hex.size() % 2 != 0) return Status::InvalidArgument("hex \"" + hex + "\": odd length");
  std::vector<uint8_t> out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (!std::isxdigit(static_cast<unsigned char>(hex[i])) ||
        !std::isxdigit(static_cast<unsigned char>(hex[i + 1]))) {
      return Status::InvalidArgument("hex \"" + hex + "\": not hexadecimal");
    }
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

}  // namespace

Result<std::vector<Peripheral::Indication>> EchoPeripheral::OnWrite(
    std::string_view characteristic_uuid, std::span<const uint8_t> value) {
  if (fail_writes_ > 0) {
    --fail_writes_;
    return Status::Unavailable("echo: write refused");
  }
  std::vector<Indication> out;
  const std::string uuid(characteristic_uuid);
  if (value.size() == 2 && value[0] == kCountPrefix) {
    for (int i = 0; i < value[1]; ++i) {
      out.push_back({uuid, {kCountPrefix, static_cast<uint8_t>(i)}});
    }
  } else {
    out.push_back({uuid, std::vector<uint8_t>(value.begin(), value.end())});
  }
  return out;
}

Result<std::string> EchoPeripheral::OnCommand(const std::vector<std::string>& args) {
  const char* kUsage = "echo commands: fail-writes N | indicate UUID HEX | state-changed on|off";
  if (args.size() == 2 && args[0] == "fail-writes") {
    size_t used = 0;
    int n = -1;
    try {
      n = std::stoi(args[1], &used);
    } catch (const std::exception&) {
    }
    if (used != args[1].size() || n < 0 || n > 1'000'000) {
      return Status::InvalidArgument("fail-writes N: N must be 0..1000000");
    }
    fail_writes_ = n;
    return std::string("{\"fail_writes\":" + std::to_string(n) + "}");
  }
  if (args.size() == 3 && args[0] == "indicate") {
    Result<std::vector<uint8_t>> bytes = ParseHex(args[2]);
    if (!bytes.ok()) return bytes.status();
    if (bytes->size() > kMaxValueLength) {
      return Status::InvalidArgument("indicate: at most 20 bytes");
    }
    host_.Indicate(args[1], std::move(*bytes));
    return std::string("\"sent\"");
  }
  if (args.size() == 2 && args[0] == "state-changed" && (args[1] == "on" || args[1] == "off")) {
    host_.SetStateChanged(args[1] == "on");
    return std::string("\"" + args[1] + "\"");
  }
  return Status::InvalidArgument(kUsage);
}

}  // namespace lintel::locksim
