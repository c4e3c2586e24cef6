// EchoPeripheral: the test peripheral of lock-sim (`--peripheral echo`, the default until the Nuki
// lock model plugs in). It answers every write with indications on the written characteristic:
//   - `EC n` (first byte 0xEC, then a count n): n indications `EC i`, i = 0 .. n-1, in order;
//   - anything else: one indication carrying the written bytes.
// Commands (`peer LOCK ...` on the control socket): `fail-writes N` fails the next N writes
// (org.bluez.Error.Failed "echo: write refused"); `indicate UUID HEX` sends one indication
// unprompted; `state-changed on|off` sets the advertisement's state-changed bit.
#pragma once

#include "tools/lock-sim/peripheral.h"

namespace lintel::locksim {

class EchoPeripheral final : public Peripheral {
 public:
  // `host` must outlive the peripheral.
  explicit EchoPeripheral(PeripheralHost& host) : host_(host) {}

  Result<std::vector<Indication>> OnWrite(std::string_view characteristic_uuid,
                                          std::span<const uint8_t> value) override;
  Result<std::string> OnCommand(const std::vector<std::string>& args) override;

 private:
  PeripheralHost& host_;
  int fail_writes_ = 0;
};

}  // namespace lintel::locksim
