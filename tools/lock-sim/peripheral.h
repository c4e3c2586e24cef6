// The seam between lock-sim's BlueZ side (bluez_objects.h: the org.bluez objects, connections,
// notifications, faults) and a simulated device's application logic (the lock model). The BlueZ
// side owns the GATT objects and decides whether an indication reaches the central (connected,
// StartNotify called since the connect, no injected drop); the peripheral only sees writes and
// answers with indications.
//
// Threads: everything runs on lock-sim's one event-loop thread; no locking is needed.
// Implementations: EchoPeripheral (echo_peripheral.h) for the transport tests; the Nuki lock
// model (lock_peer.h, lintel_lock_peer) plugs in the same way (see main.cpp MakePeripheral).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/status.h"

namespace lintel::locksim {

// Characteristic values travel in at most this many bytes (ATT MTU 23 - 3): a longer write is
// refused with org.bluez.Error.InvalidValueLength; the peripheral splits longer answers.
inline constexpr size_t kMaxValueLength = 20;

// What the BlueZ side offers a peripheral. Valid for the peripheral's whole life.
class PeripheralHost {
 public:
  virtual ~PeripheralHost() = default;
  // Sends `value` (<= kMaxValueLength bytes) as an indication of `characteristic_uuid`, after
  // those already sent: Value is set and PropertiesChanged emitted. It is dropped (and reported
  // on stdout) when no central is connected, the central has not called StartNotify since it
  // connected, or a `drop-indications` fault is pending. Answers to a write are returned by
  // OnWrite instead: they must follow the write's acknowledgement, which Indicate() from inside
  // OnWrite would precede.
  virtual void Indicate(std::string_view characteristic_uuid, std::vector<uint8_t> value) = 0;
  // Runs `fn` on the loop `after` from now (a motor turning, a delayed answer).
  virtual void After(std::chrono::milliseconds after, std::function<void()> fn) = 0;
  // Sets bit 0 of the TX-power byte of the device's iBeacon ("state changed"); advertised at
  // once while a central is discovering and the device is in range.
  virtual void SetStateChanged(bool changed) = 0;
  // The simulator's clock (the lock's own clock for validity windows).
  virtual const Clock& clock() const = 0;
  // Something the device did that a test or benchmark may want to see: lock-sim prints an output
  // line {"lock": ADDRESS, key: value} at once (the Nuki model: "lock_action" when a Lock Action
  // command arrived). A host that shows nothing may ignore it.
  virtual void Report(std::string_view key, std::string_view value) {
    static_cast<void>(key);
    static_cast<void>(value);
  }
};

class Peripheral {
 public:
  // An indication to send: (characteristic UUID, lower case; value <= kMaxValueLength bytes).
  using Indication = std::pair<std::string, std::vector<uint8_t>>;

  virtual ~Peripheral() = default;

  // A central wrote `value` to `characteristic_uuid` (lower case) with WriteValue type "request"
  // or "command". Returns the indications to send, in order; they are sent after the write is
  // acknowledged. An error fails the write: the central gets org.bluez.Error.Failed with the
  // status message (a lock's own protocol errors are indications, not this).
  virtual Result<std::vector<Indication>> OnWrite(std::string_view characteristic_uuid,
                                                  std::span<const uint8_t> value) = 0;

  // A central connected (Device1.Connect succeeded) / the link dropped (Disconnect, out of range,
  // device removed). Reassembly state and the like belong to one connection.
  virtual void OnConnect() {}
  virtual void OnDisconnect() {}

  // `peer LOCK ARGS...` on the control socket. Returns the text put in the reply's "result"
  // (JSON when it parses as JSON, a string otherwise). Errors: InvalidArgument for an unknown
  // command.
  virtual Result<std::string> OnCommand(const std::vector<std::string>& args) {
    return Status::InvalidArgument("this peripheral takes no commands (got \"" +
                                   (args.empty() ? std::string() : args[0]) + "\")");
  }
};

}  // namespace lintel::locksim
