// BlueZ over D-Bus (sdbus-c++ 1.2): BluezGattLink implements GattLink and BluezScanner implements
// BleScanner, each for one adapter ("hci0"), each on its own bus connection whose sdbus-c++ event
// loop runs on its own thread (the "bus thread"). No sdbus-c++ type appears here: every D-Bus
// error is caught in bluez_link.cpp and returned as a Status whose message names the call, the
// D-Bus error name and BlueZ's message ("Device1.Connect AA:..: org.bluez.Error.Failed:
// le-connection-abort-by-local"). Nothing thrown by sdbus-c++ leaves a bus-thread handler.
//
// BlueZ objects used (https://git.kernel.org/pub/scm/bluetooth/bluez.git/tree/doc):
//   /org/bluez/<adapter>                          org.bluez.Adapter1
//   /org/bluez/<adapter>/dev_AA_BB_CC_DD_EE_FF    org.bluez.Device1
//   .../serviceXXXX                               org.bluez.GattService1
//   .../serviceXXXX/charYYYY                      org.bluez.GattCharacteristic1
//   /                                             org.freedesktop.DBus.ObjectManager
// Signals are taken only from the current owner of org.bluez (its unique name, followed through
// NameOwnerChanged), so another process on the bus cannot inject indications.
//
// Timeouts: DeadlineExceeded() of gatt_link.h (recognised by IsDeadlineExceeded(); the message
// contains "timed out").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/ble/ble_scan.h"
#include "drivers/ble/gatt_link.h"
#include "gateway/base/status.h"

namespace lintel::ble {

struct BluezOptions {
  std::string adapter = "hci0";  // [A-Za-z0-9_]+
  // Empty: the system bus (DBUS_SYSTEM_BUS_ADDRESS when set, else the standard socket). Otherwise
  // a D-Bus address ("unix:path=/run/x"), for a bus other than the system one.
  std::string bus_address;
  // Bound of every D-Bus call other than Device1.Connect (which gets what is left of the
  // Connect timeout): WriteValue, StartNotify, GetManagedObjects, Disconnect, discovery calls.
  std::chrono::milliseconds call_timeout{10'000};
  // Indications kept per characteristic, oldest dropped beyond it (see NextIndication). >= 1.
  size_t max_queued_indications = 64;
  // Characteristic UUIDs that must exist once ServicesResolved is true; one missing is taken as
  // a stale GATT cache (see Connect). Empty: only a device with no characteristic at all is.
  std::vector<std::string> required_characteristics;
};

// One connection to one device at a time.
//
// Threads: Connect, Write, NextIndication and Disconnect block and are called from one thread at
// a time (the adapter's BLE worker), never from the core loop; connected() from any thread. The
// bus thread only records signals (PropertiesChanged of Device1 and of the characteristics'
// Value, InterfacesRemoved, NameOwnerChanged) under a mutex and wakes the waiting caller.
class BluezGattLink final : public GattLink {
 public:
  // Opens the bus connection and starts its thread. Errors: InvalidArgument for a bad adapter
  // name or max_queued_indications 0; Unavailable when the bus cannot be reached. bluetoothd
  // need not be running yet (Connect reports it).
  static Result<std::unique_ptr<BluezGattLink>> Open(BluezOptions options);
  // Disconnects (best effort, bounded by call_timeout), stops the bus thread, closes the bus.
  ~BluezGattLink() override;
  BluezGattLink(const BluezGattLink&) = delete;
  BluezGattLink& operator=(const BluezGattLink&) = delete;

  // Connects to `address` ("AA:BB:CC:DD:EE:FF", any case) within `timeout`:
  //  1. Device1.Connect (already connected at BlueZ's level counts as success);
  //  2. waits for ServicesResolved = true (PropertiesChanged, or the current value);
  //  3. GetManagedObjects: the GattCharacteristic1 objects under the device, keyed by UUID;
  //  4. StartNotify on every characteristic whose Flags contain "notify" or "indicate" — after
  //     every connect: BlueZ drops notification sessions when the link drops.
  // Indication queues start empty. Connecting again to the address already connected and healthy
  // is a no-op; to another address, disconnects first.
  // Stale GATT cache (ServicesResolved but no characteristic, or one of
  // required_characteristics missing): BlueZ's recovery is to disconnect, remove the device from
  // the adapter (Adapter1.RemoveDevice drops its cached services) and rediscover it. Connect does
  // the first two and returns Unavailable "stale GATT cache ... removed from <adapter>; scan
  // again and retry"; the caller runs discovery (the device reappears when it advertises) and
  // retries. Nuki locks do not use BLE bonding, so removing the device loses nothing.
  // Errors: InvalidArgument (malformed address, timeout <= 0); NotFound when BlueZ does not know
  // the device (never discovered, or removed: scan first); Unavailable for a timeout (BlueZ's
  // connection attempt is then cancelled with Device1.Disconnect), a failed connection (out of
  // range: org.bluez.Error.Failed le-connection-abort-by-local), a link that dropped or a
  // device that vanished while connecting, a stale cache, bluetoothd not on the bus; any failing
  // D-Bus call by its error. On any error the link is left disconnected.
  Status Connect(std::string_view address, std::chrono::milliseconds timeout) override;

  // GattCharacteristic1.WriteValue(value, {"type": "request"}): returns once the peripheral
  // acknowledged the write. Errors: FailedPrecondition when not connected; Unavailable when the
  // link dropped (the device disconnected or vanished) or the write failed or timed out;
  // NotFound for a characteristic the device does not have (UUID any case).
  Status Write(std::string_view characteristic_uuid, std::span<const uint8_t> value) override;

  // The oldest queued indication of that characteristic, waiting up to `timeout` for one. Only
  // PropertiesChanged(Value) signals of the characteristic's object fill the queue (BlueZ also
  // emits one after a ReadValue by any client; this link never reads). When more than
  // max_queued_indications are waiting the oldest is dropped, and the next call returns
  // Unavailable "N indications ... dropped" once, so the caller knows its stream has a hole.
  // Errors: DeadlineExceeded ("timed out") after `timeout`; Unavailable when the link dropped and
  // the queue is empty; FailedPrecondition when not connected; NotFound for an unknown UUID.
  Result<std::vector<uint8_t>> NextIndication(std::string_view characteristic_uuid,
                                              std::chrono::milliseconds timeout) override;

  // Device1.Disconnect (errors ignored: the device may already be gone), then forgets the
  // characteristics and drops queued indications. Harmless when not connected.
  void Disconnect() override;

  // True between a successful Connect and Disconnect, while the link has not dropped.
  bool connected() const override;

  class Impl;

 private:
  explicit BluezGattLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// LE discovery on one adapter. Start/Stop from one thread at a time; scanning() from any thread.
// Advertisements are reported from the bus thread (see BleScanner::AdvertisementCallback).
class BluezScanner final : public BleScanner {
 public:
  // Opens the bus connection and starts its thread. Errors: as BluezGattLink::Open.
  static Result<std::unique_ptr<BluezScanner>> Open(BluezOptions options);
  // Stops discovery (best effort) and the bus thread.
  ~BluezScanner() override;
  BluezScanner(const BluezScanner&) = delete;
  BluezScanner& operator=(const BluezScanner&) = delete;

  // Adapter1.SetDiscoveryFilter({UUIDs: [service_uuid], Transport: "le"}), then StartDiscovery.
  // A device is reported when it is added (InterfacesAdded) or its RSSI, ManufacturerData or
  // UUIDs change (PropertiesChanged), and it advertises `service_uuid` either in its UUIDs or as
  // the proximity UUID of its iBeacon (Nuki locks may do either). Errors: as BleScanner::Start.
  Status Start(std::string_view service_uuid, AdvertisementCallback on_advertisement) override;
  // Adapter1.StopDiscovery ("No discovery started" is not an error).
  Status Stop() override;
  bool scanning() const override;

  class Impl;

 private:
  explicit BluezScanner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "/org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF" for ("hci0", "aa:bb:cc:dd:ee:ff"); "" for a malformed
// address. Shared with tools/lock-sim, which serves the same paths.
std::string BluezDevicePath(std::string_view adapter, std::string_view address);

// The canonical forms used on the bus: "AA:BB:CC:DD:EE:FF" and lower-case UUIDs; nullopt-like
// empty string when malformed.
std::string CanonicalAddress(std::string_view address);
std::string CanonicalUuid(std::string_view uuid);

}  // namespace lintel::ble
