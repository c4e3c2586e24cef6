// BluezSim: lock-sim's org.bluez service (sdbus-c++ 1.2 adaptors). It plays bluetoothd for one
// adapter with one Device1 per simulated lock, each with its GATT services and characteristics,
// as BlueZ's D-Bus API documents them (doc/org.bluez.Adapter.rst, Device.rst, GattService.rst,
// GattCharacteristic.rst), and behaves as the gateway's BluezGattLink / BluezScanner need:
//
//   /                                   org.freedesktop.DBus.ObjectManager
//   /org/bluez/hci0                     Adapter1: Address, Name, Alias, Powered, Discovering;
//                                       StartDiscovery, StopDiscovery, SetDiscoveryFilter,
//                                       GetDiscoveryFilters, RemoveDevice
//   /org/bluez/hci0/dev_AA_.._FF        Device1: Address, AddressType, Name, Alias, Adapter,
//                                       Paired, Trusted, Blocked, Connected, ServicesResolved,
//                                       UUIDs, RSSI, ManufacturerData (iBeacon, 0x004C);
//                                       Connect, Disconnect
//   .../serviceXXXX                     GattService1: UUID, Device, Primary, Includes
//   .../serviceXXXX/charYYYY            GattCharacteristic1: UUID, Service, Value, Notifying,
//                                       Flags; ReadValue, WriteValue, StartNotify, StopNotify
//
// Behaviour: Device1.Connect answers connect-delay later (Connected = true, then resolve-delay
// later ServicesResolved = true, each a PropertiesChanged); out of range it fails then with
// org.bluez.Error.Failed "le-connection-abort-by-local". A disconnect (Device1.Disconnect, out of
// range, RemoveDevice) turns Notifying off on every characteristic: indications flow only after
// StartNotify in the current connection. WriteValue is acknowledged, then the peripheral's
// indications follow as PropertiesChanged(Value). Faults and switches come from Command().
//
// Threads: one. The bus connection is driven by the caller's EventLoop (the connection's fd and
// sd-bus timeouts are registered on it); every method here runs on the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"
#include "tools/lock-sim/peripheral.h"

namespace lintel::locksim {

struct GattCharacteristicSpec {
  std::string uuid;                // lower case
  std::vector<std::string> flags;  // BlueZ's names: "read", "write", "indicate", "notify", ...
};
struct GattServiceSpec {
  std::string uuid;
  std::vector<GattCharacteristicSpec> characteristics;
};

// The Nuki Smart Lock's GATT (shared/protocols/nuki-ble.md): the pairing service a92ee100 with
// its GDIO a92ee101, the keyturner service a92ee200 with GDIO a92ee201 and USDIO a92ee202; every
// characteristic "write" + "indicate".
std::vector<GattServiceSpec> NukiGattServices();
inline constexpr const char* kNukiPairingService = "a92ee100-5501-11e4-916c-0800200c9a66";
inline constexpr const char* kNukiKeyturnerService = "a92ee200-5501-11e4-916c-0800200c9a66";

struct LockSpec {
  std::string address;              // "AA:BB:CC:DD:EE:FF"
  std::string name;                 // "" = "Nuki_" + the last four address bytes
  std::string peripheral = "echo";  // which Peripheral plays it (main.cpp MakePeripheral)
  int connect_delay_ms = 50;        // Device1.Connect answers this long after the call
  int resolve_delay_ms = 100;       // ServicesResolved this long after Connected
  int16_t rssi = -60;
  bool in_range = true;
  std::vector<GattServiceSpec> services = NukiGattServices();
};

struct SimOptions {
  std::string bus_address;  // "" = the system bus (DBUS_SYSTEM_BUS_ADDRESS)
  std::string adapter = "hci0";
  std::string adapter_address = "00:1A:7D:DA:71:13";
  std::vector<LockSpec> locks;
  bool verbose = false;  // event lines carry the written and indicated bytes ("hex")
};

class BluezSim {
 public:
  using Json = nlohmann::ordered_json;
  // One output line per notable thing (the caller adds the time and prints it).
  using EventSink = std::function<void(const Json&)>;
  // Builds the peripheral of a lock; `host` outlives it.
  using PeripheralFactory =
      std::function<Result<std::unique_ptr<Peripheral>>(const LockSpec&, PeripheralHost&)>;
  // The bus connection failed (the daemon went away); the simulator is dead after this.
  using LostCallback = std::function<void(const std::string& why)>;

  // Connects to the bus, registers every object, then requests the name org.bluez, and hooks the
  // connection into `loop`. `loop`, `clock` must outlive the simulator.
  // Errors: InvalidArgument for a bad adapter or lock (address, duplicate, delays) or a
  // peripheral the factory refuses; Unavailable when the bus cannot be reached or org.bluez is
  // already owned.
  static Result<std::unique_ptr<BluezSim>> Start(EventLoop& loop, const Clock& clock,
                                                 SimOptions options, PeripheralFactory factory,
                                                 EventSink sink, LostCallback on_lost);
  // Answers pending Connect calls with an error, removes its fd and timers from the loop.
  ~BluezSim();
  BluezSim(const BluezSim&) = delete;
  BluezSim& operator=(const BluezSim&) = delete;

  // One control command (words split on blanks), LOCK being an address (any case), a name or a
  // 0-based index:
  //   range LOCK in|out           out: the link drops, Connect fails, no advertisements
  //   connect-delay LOCK MS       how long Device1.Connect takes (0..600000)
  //   resolve-delay LOCK MS       Connected -> ServicesResolved (0..600000)
  //   drop-indications LOCK N     the next N indications are lost (0..1000000)
  //   advertise LOCK [state-changed]   advertise now (flipping the state-changed bit first)
  //   disconnect LOCK             the lock drops the link
  //   stale-cache LOCK            the device's GATT objects vanish (as a stale cache) until the
  //                               device is removed and rediscovered
  //   peer LOCK ARGS...           passed to the lock's peripheral
  //   state                       the whole state
  // Returns the fields of the reply ({"state": ...}, {"result": ...} or {}). Errors:
  // InvalidArgument with the usage.
  Result<Json> Command(const std::vector<std::string>& words);

  Json State() const;
  // The connection's unique name (":1.7").
  std::string unique_name() const;

  class Impl;

 private:
  explicit BluezSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Usage of Command(), for error messages.
extern const char* const kSimCommandHelp;

}  // namespace lintel::locksim
