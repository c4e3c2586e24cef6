// GattLink: the transport seam between the pure Nuki client (LockClient, lintel_ble) and a BLE
// stack. The BlueZ implementation is BluezGattLink (bluez_link.h, lintel_ble_io); tests use fakes.
// Interface only: no D-Bus, no threads here.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "gateway/base/status.h"

namespace lintel::ble {

// Blocking; called from one thread at a time (the adapter's BLE worker), never the core loop.
class GattLink {
 public:
  virtual ~GattLink() = default;
  // Connects (BlueZ Device1.Connect), waits for ServicesResolved, finds the characteristics by
  // UUID through ObjectManager, StartNotify on each indicating one (every connect).
  virtual Status Connect(std::string_view address, std::chrono::milliseconds timeout) = 0;
  virtual Status Write(std::string_view characteristic_uuid,
                       std::span<const uint8_t> value) = 0;  // type=request
  // Next indication of that characteristic (FIFO, bounded); DeadlineExceeded on timeout.
  virtual Result<std::vector<uint8_t>> NextIndication(std::string_view characteristic_uuid,
                                                      std::chrono::milliseconds timeout) = 0;
  virtual void Disconnect() = 0;
  virtual bool connected() const = 0;
};

}  // namespace lintel::ble
