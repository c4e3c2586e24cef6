// GattLink: the transport seam between the pure Nuki client (nuki_client.h) and BlueZ
// (BluezGattLink in lintel_ble_io, drivers/ble/bluez_link.h) or a test fake. Interface only,
// part of library `lintel_ble`.
//
// Threads: blocking; called from one thread at a time (the adapter's BLE worker), never from
// the core loop. An implementation may block for up to the timeout given.
//
// Characteristics are named by UUID in lower case (nuki_frame.h: kPairingGdioUuid,
// kKeyturnerUsdioUuid, ...). Values are at most 20 bytes in each direction on a real lock
// (the client chunks its writes; the lock sends long responses as several indications).
//
// Error contract (every implementation):
//  - Unavailable: not connected, the device went away, BlueZ refused or failed (the message
//    says what BlueZ said), a characteristic that is not there.
//  - DeadlineExceeded(...) (below): a timeout; IsDeadlineExceeded() recognises it.
//  - InvalidArgument: a malformed address or UUID.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/status.h"

namespace lintel::ble {

// gateway/base/status.h has no DeadlineExceeded code yet: a timeout is Unavailable with a
// message starting "deadline exceeded: ". Use these two so that only they change once it has.
inline Status DeadlineExceeded(std::string what) {
  return Status::Unavailable("deadline exceeded: " + std::move(what));
}
inline bool IsDeadlineExceeded(const Status& s) {
  return s.code() == StatusCode::kUnavailable && s.message().rfind("deadline exceeded: ", 0) == 0;
}

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
