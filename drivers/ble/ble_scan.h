// BleScanner: the discovery seam. A scanner reports the advertisements of the devices that offer a
// given GATT service (for Nuki locks the keyturner service), so the gateway learns which locks are
// in range and when a lock raises its "state changed" flag. The BlueZ implementation is
// BluezScanner (bluez_link.h, lintel_ble_io); tests use fakes. Interface only: no D-Bus here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/status.h"

namespace lintel::ble {

// One advertisement (or a change of what a device advertises), as the stack reports it.
struct Advertisement {
  std::string address;             // "AA:BB:CC:DD:EE:FF", upper case
  std::optional<int16_t> rssi;     // dBm, when the stack reported one
  std::vector<std::string> uuids;  // advertised service UUIDs, lower case
  std::map<uint16_t, std::vector<uint8_t>> manufacturer_data;  // company id -> bytes
};

class BleScanner {
 public:
  // Called on the scanner's own thread (never the caller's, never the core loop), one call at a
  // time. It must return quickly (post the work elsewhere) and must not call Start() or Stop().
  // An exception thrown by it is caught and dropped.
  using AdvertisementCallback = std::function<void(const Advertisement&)>;

  virtual ~BleScanner() = default;

  // Starts LE discovery of the devices advertising `service_uuid` (e.g. the Nuki keyturner
  // service, any case). `on_advertisement` is called for each advertisement of such a device
  // from now until Stop(): when discovery starts for a device already known, when a device
  // appears, and when its RSSI or manufacturer data change. Errors: FailedPrecondition when
  // already scanning; InvalidArgument for a malformed UUID; Unavailable when the stack refused
  // (adapter missing or off, the stack not running), with its error name and message.
  virtual Status Start(std::string_view service_uuid, AdvertisementCallback on_advertisement) = 0;

  // Stops discovery. No callback runs after Stop() returns. Idempotent. Errors: Unavailable when
  // the stack refused to stop (discovery is then considered stopped on our side anyway).
  virtual Status Stop() = 0;

  virtual bool scanning() const = 0;
};

// Apple's company id, under which an iBeacon travels in the manufacturer data.
inline constexpr uint16_t kAppleCompanyId = 0x004C;

// The Nuki "state changed" flag: bit 0 of the TX-power byte of the lock's iBeacon, i.e. the last
// byte of Apple's manufacturer data `02 15 | proximity UUID (16) | major (2) | minor (2) | TX
// power (1)`. A paired lock sets it when its state changed; the gateway then reads the state.
// nullopt when the advertisement carries no iBeacon.
inline std::optional<bool> IBeaconStateChanged(const Advertisement& ad) {
  auto it = ad.manufacturer_data.find(kAppleCompanyId);
  if (it == ad.manufacturer_data.end()) return std::nullopt;
  const std::vector<uint8_t>& d = it->second;
  constexpr size_t kIBeaconLength = 23;
  if (d.size() != kIBeaconLength || d[0] != 0x02 || d[1] != 0x15) return std::nullopt;
  return (d[kIBeaconLength - 1] & 0x01) != 0;
}

}  // namespace lintel::ble
