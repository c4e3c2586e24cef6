// IP intercom panels as readers and door actuators (the `panels:` and `intercom:` sections,
// config/README.md; issue 12): typed, validated values for the panel drivers (gateway/devices/
// panels.h), and the reader of a panel's secret files (password, Action URL secret).
//
// Included by config/config.h (Config::panels, Config::intercom); include that header, not this
// one. The YAML side lives in config/panels.cpp.
//
// Secrets: the YAML names files, never a password or secret. ReadPanelSecretFile reads them when a
// panel starts (not --check-config); no message here quotes what a file holds.
//
// Thread-safety: plain values; ReadPanelSecretFile only reads its file, any thread may call it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/status.h"

namespace lintel::config {

// How the gateway authenticates to a panel's HTTP API.
enum class PanelAuth : uint8_t { kNone, kBasic, kDigest };
std::string_view PanelAuthName(PanelAuth auth);  // "none", "basic", "digest"

// panels[].action_url (Akuvox only): where the panel's Action URL requests come from and the
// shared secret they carry in their path (http://<intercom.listen>/akuvox/<id>/<secret>/<event>).
struct PanelActionUrlConfig {
  // Absolute path of a file holding the secret: 16..128 characters from A-Z a-z 0-9 . _ ~ -, on
  // one line (ReadPanelSecretFile with kActionUrlSecret).
  std::string secret_file;
  // The panel's own IP address (an IPv4 or IPv6 literal): requests from any other source are
  // refused.
  std::string panel_address;
  friend bool operator==(const PanelActionUrlConfig&, const PanelActionUrlConfig&) = default;
};

// panels[]: one intercom panel, a reader (its keypad and card reader) and the actuator (its switch
// or relay) of one door.
struct PanelConfig {
  std::string id;    // unique among panels and readers: the reader id of its decisions
  std::string type;  // the factory key (gateway/devices/panels.h): "2n" or "akuvox"
  // The id of a door in Config::doors (checked). The panel's switch / relay is that door's
  // actuator: the door has no io lock, no BLE lock and no other panel.
  std::string door;
  // The panel's HTTP API: "http://host[:port]" or "https://host[:port]" (host: a name, an IPv4
  // address or [IPv6]); no path, no user info.
  std::string url;
  PanelAuth auth = PanelAuth::kNone;
  std::string user;           // with basic / digest (required there, refused with none)
  std::string password_file;  // absolute path; with basic / digest (required there)
  // https only, exactly one of: a PEM CA file (absolute path), or the SHA-256 fingerprint of the
  // panel's certificate (64 hex digits, ':' separators allowed; kept as written).
  std::string ca_file;
  std::string pinned_sha256;
  // The output that opens the door: the 2N switch number (`switch`) or the Akuvox relay number
  // (`relay`), 1..4 (default 1).
  int32_t output = 1;
  // Codes typed at the panel are presented to the engine (with the keypad lockout per panel);
  // false: codes are ignored (counted), cards still work.
  bool keypad = true;
  // How long the switch / relay stays on (the 2N trigger's timeout, the Akuvox relay's delay);
  // absent: the panel's own setting.
  std::optional<int32_t> unlock_seconds;
  std::optional<PanelActionUrlConfig> action_url;  // Akuvox only, required there
  friend bool operator==(const PanelConfig&, const PanelConfig&) = default;
};

inline constexpr std::string_view kPanelType2N = "2n";
inline constexpr std::string_view kPanelTypeAkuvox = "akuvox";

// intercom: the gateway's side of the panels: the HTTP listener for Akuvox Action URLs.
struct IntercomConfig {
  // intercom.listen "ADDR:PORT" ("0.0.0.0:8090", "[::]:8090"): an IP literal and a port 1..65535.
  // Empty address: no intercom section (no listener).
  std::string listen_address;
  int32_t listen_port = 0;
  friend bool operator==(const IntercomConfig&, const IntercomConfig&) = default;
};

// What a secret file must hold.
enum class PanelSecretKind : uint8_t {
  kPassword,         // a panel's password: 1..256 bytes, no control characters
  kActionUrlSecret,  // an Action URL secret: 16..128 characters from A-Z a-z 0-9 . _ ~ -
};

// Reads a panel's secret from `path`: the first line (one line end after it allowed; blanks
// around it are kept for passwords, refused for secrets). The file must be a regular file
// (symlinks are followed) that others cannot access and the group cannot write: 0600 owned by the
// daemon's user, or 0640 root:lintel (as ReadSecurityPinFile).
// Errors: NotFound (no such file); FailedPrecondition (not a regular file, or its mode: the
// message says which and the chmod that fixes it); IoError (cannot be read); InvalidArgument (not
// what `kind` needs: empty, too long, a second line, a character out of range). Messages name the
// path and the rule, never the content.
Result<std::string> ReadPanelSecretFile(const std::string& path, PanelSecretKind kind);

}  // namespace lintel::config
