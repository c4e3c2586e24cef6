// BLE smart locks as door actuators (the `locks:` section, config/README.md): typed, validated
// values for the lock driver and the lock sync, and the reader of a lock's security PIN file.
//
// Included by config/config.h (Config::locks); include that header, not this one. The YAML side
// lives in config/locks.cpp.
//
// Thread-safety: plain values; ReadSecurityPinFile only reads its file, any thread may call it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/base/status.h"

namespace lintel::config {

inline constexpr std::string_view kDefaultBleAdapter = "hci0";

// What a grant makes the lock do.
enum class UnlockAction : uint8_t {
  kUnlatch,  // unlock and pull the latch: the door opens by a push (doors with a knob outside)
  kUnlock,   // retract the bolt only; the door stays unlocked until the lock's auto-lock or a hand
             // locks it again
};

// locks[]: one BLE lock, the actuator of one door.
struct LockConfig {
  std::string id;
  std::string type = "nuki";  // the factory key (gateway/devices); only "nuki" so far
  std::string door;           // the id of a door in Config::doors (checked): one lock per door,
                              // and a door with a lock has no io (wired lock point)
  std::string address;        // "54:D2:72:AB:CD:EF": six hex pairs, upper case, unique
  std::string adapter = std::string(kDefaultBleAdapter);  // the BlueZ adapter, "hciN"
  // Absolute path of the file holding the paired shared key and authorization id, written by
  // `lintelctl lock pair` (through the daemon, mode 0600). Need not exist when the configuration
  // is loaded: pairing creates it. Unique among locks, never a security_pin_file.
  std::string credentials;
  // Absolute path of the file holding the lock's security (admin) PIN, which the lock asks for
  // before it lists or changes keypad codes and authorizations, returns its log or sets its clock.
  // Never in the YAML itself; read with ReadSecurityPinFile each time the driver needs it.
  std::string security_pin_file;
  bool sync_codes = true;           // keep the lock's keypad codes equal to the property system
  bool sync_authorizations = true;  // the same for BLE key (ble_key) credentials
  // Prefixed to the name of every code and authorization Lintel writes into the lock (the lock
  // shows them in its app and log). Printable ASCII, at most kMaxLockNamePrefix bytes; may be
  // empty.
  std::string name_prefix;
  int32_t poll_minutes = 60;  // read the lock's state this often when it advertises no change
                              // (15..1440: every connection costs battery)
  UnlockAction unlock_action = UnlockAction::kUnlatch;
  int32_t disconnect_after_ms = 2000;  // drop the connection this long after the last message
                                       // (100..60000)
  friend bool operator==(const LockConfig&, const LockConfig&) = default;
};

// Keypad code names hold 20 bytes in the lock; the prefix leaves at least 12 for the name itself.
inline constexpr size_t kMaxLockNamePrefix = 8;

std::string_view UnlockActionName(UnlockAction action);  // "unlatch", "unlock"

// Reads a lock's security PIN from `path` (LockConfig::security_pin_file): a decimal number
// 0..65535 (the PIN the lock's app shows, usually 4 digits), blanks and one line end around it
// allowed. The file must be a regular file (symlinks are followed) that others cannot access and
// the group cannot write: 0600 owned by the daemon's user, or 0640 root:lintel like the other
// secrets in /etc/lintel (systemd/README.md).
// Errors: NotFound (no such file); FailedPrecondition (not a regular file, or its mode lets others
// read it or the group write it: the message says which and the chmod that fixes it); IoError
// (cannot be read); InvalidArgument (not such a number). Messages name the path, never the content.
Result<uint16_t> ReadSecurityPinFile(const std::string& path);

}  // namespace lintel::config
