// The installer's YAML configuration as typed, validated values.
//
// config/README.md documents every key. Loading either yields a Config in which every value has
// been checked (ranges, ids, references between sections, the time zone), or every problem found
// in the file, each as `file:line:column: message` with 1-based line and column pointing at the
// offending key or value. Nothing here throws; yaml-cpp stays inside the library's source files
// (config/README.md, "Source files").
//
// Thread-safety: the functions are pure apart from reading the file (LoadConfigFile) and the system
// time zone database (both loaders, through lintel::LoadTimeZone); any thread may call them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/locks.h"
#include "config/panels.h"
#include "drivers/wiegand/wiegand.h"
#include "gateway/base/log.h"
#include "gateway/base/status.h"
#include "gateway/base/timezone.h"
#include "rules/automations.h"
#include "rules/model.h"

namespace lintel::config {

inline constexpr std::string_view kDefaultControlSocket = "/run/lintel/lintel.sock";
// Files larger than this are rejected before parsing (a site file is a few kilobytes).
inline constexpr size_t kMaxConfigBytes = 1 << 20;

// A door's wiring to door I/O points (doors[].io). Points are "module.point" (io_modules).
struct DoorIoConfig {
  std::string lock;     // output: active = lock released (invert the point for a maglock)
  std::string contact;  // input, optional: active = door open (invert for a contact that reads 1
                        // when closed)
  std::string rex;      // input, optional: active = exit button pressed
  bool unlock_on_rex = true;
  bool relock_on_close = true;
  bool fire_egress = false;     // released while the fire release input is active
  int32_t held_warning_s = 10;  // pre-alarm this long before held_open_s (0: none)
  friend bool operator==(const DoorIoConfig&, const DoorIoConfig&) = default;
};

struct DoorConfig {
  std::string id;
  std::string name;          // defaults to id
  bool common = false;       // member of the built-in "default" access group
  int32_t unlock_ms = 5000;  // 100..600000
  int32_t held_open_s = 30;  // 1..3600
  std::optional<DoorIoConfig> io;
};

// One point of an I/O module: a coil, a discrete input, or one bit of a holding or input register.
enum class IoTable : uint8_t { kCoil, kDiscreteInput, kHoldingRegister, kInputRegister };
struct IoPointConfig {
  std::string name;  // unique in its module
  IoTable table = IoTable::kCoil;
  int32_t address = 0;    // 0..65535
  int32_t bit = -1;       // 0..15 for register tables, -1 for coils and discrete inputs
  bool inverted = false;  // NC wiring / active-low: the logical value is the raw one negated
  bool writable() const { return table == IoTable::kCoil || table == IoTable::kHoldingRegister; }
  friend bool operator==(const IoPointConfig&, const IoPointConfig&) = default;
};

// io_modules[]: a door I/O module (type modbus: Modbus TCP or RTU).
struct IoModuleConfig {
  std::string id;
  std::string type = "modbus";  // the factory key (gateway/devices)
  bool rtu = false;
  std::string host;  // TCP
  int32_t port = 502;
  std::string device;  // RTU
  int32_t baud = 9600;
  char parity = 'N';         // 'N', 'E', 'O'
  int32_t unit_id = 1;       // 1..247 (0..255 on TCP)
  int32_t timeout_ms = 200;  // response timeout, 10..5000
  int32_t poll_ms = 50;      // input polling period, 10..10000
  int32_t debounce_ms = 30;  // 0..5000
  // The module's host watchdog: `value` written to holding register `address` every `every_ms`
  // (the module drops its outputs when it stops hearing from the gateway). address -1: none.
  int32_t watchdog_address = -1;
  int32_t watchdog_value = 0;
  int32_t watchdog_every_ms = 1000;
  // Or a heartbeat coil toggled every `every_ms` (modules without a watchdog register). -1: none.
  int32_t watchdog_coil = -1;
  std::vector<IoPointConfig> points;
  friend bool operator==(const IoModuleConfig&, const IoModuleConfig&) = default;
};

// Site-wide inputs (io:), each "module.point" or empty.
struct SiteIoConfig {
  std::string fire_release;  // active: fire alarm, egress doors released
  std::string tamper;        // active: enclosure or loop tampered
  friend bool operator==(const SiteIoConfig&, const SiteIoConfig&) = default;
};

// Where a Wiegand reader's frames come from (exactly one per reader).
enum class WiegandSource : uint8_t {
  kGpio,    // D0/D1 on two GPIO lines (libgpiod)
  kSerial,  // a Wiegand-to-serial converter
  kReplay   // edge timings on a Unix datagram socket (wiegand-sim, the demo)
};
enum class WiegandKeys : uint8_t { kNone, k4Bit, k8Bit };  // how a keypad sends each key
enum class SerialLineFormat : uint8_t { kHex, kDecimal10 };

// The reader's LED and beeper inputs on GPIO output lines; -1: not wired.
struct WiegandFeedbackConfig {
  std::string chip = "gpiochip0";
  int32_t green = -1;
  int32_t red = -1;
  int32_t beeper = -1;
  bool active_low = false;  // the line is pulled low for "on" (the usual open-collector inputs)
  bool any() const { return green >= 0 || red >= 0 || beeper >= 0; }
  friend bool operator==(const WiegandFeedbackConfig&, const WiegandFeedbackConfig&) = default;
};

// readers[].wiegand: the hardware binding of a `type: wiegand` reader.
struct WiegandConfig {
  WiegandSource source = WiegandSource::kReplay;
  std::string gpio_chip = "gpiochip0";  // kGpio
  int32_t d0 = 0;
  int32_t d1 = 1;
  std::string serial_device;  // kSerial
  int32_t baud = 9600;
  SerialLineFormat line_format = SerialLineFormat::kHex;
  int32_t raw_bits = 0;       // kSerial with formats [raw]: the frame length
  std::string replay_socket;  // kReplay
  // Card formats the reader sends, in order of preference (H10302 and H10304 look alike on the
  // wire: name the one it sends). A serial converter names exactly one.
  std::vector<wiegand::CardFormat> formats = {wiegand::CardFormat::kH10301};
  WiegandKeys keys = WiegandKeys::kNone;  // keypad readers default to k4Bit
  bool pin_burst = false;                 // keypad sends a whole PIN as one 26-bit frame
  bool star_hash_swapped = false;         // key_map: star_hash_swapped (0xA = '#', 0xB = '*')
  int32_t silence_ms = 25;                // end of frame after this much quiet (5..500)
  bool early_close = true;                // close a frame as soon as it is complete
  int32_t pin_timeout_s = 5;              // inter-key timeout (1..60)
  WiegandFeedbackConfig feedback;
  friend bool operator==(const WiegandConfig&, const WiegandConfig&) = default;
};

struct ReaderConfig {
  std::string id;
  std::string door;     // the id of a door in Config::doors (checked)
  bool keypad = false;  // keypad lockout (Policy::lockout_*) applies to keypads
  // The driver (the factory key, gateway/devices): "wiegand", or empty for a reader that has no
  // driver (named for `lintelctl present --reader` and the lockout only).
  std::string type;
  std::optional<WiegandConfig> wiegand;  // set when type == "wiegand"

  friend bool operator==(const ReaderConfig&, const ReaderConfig&) = default;
};

struct TrustedKey {
  std::string kid;                       // the JWS "kid" header value
  std::array<uint8_t, 32> public_key{};  // Ed25519 public key
};

// What the doors do when the cloud feed goes quiet: no fresh `sync/head` has been seen past the
// last head's `expires_at`.
enum class OfflinePolicy : uint8_t {
  kKeepEnforcing,  // keep deciding on everything known (validity windows, leases, rent) forever
  kStaffOnly,      // after `staff_only_after_h` hours past expires_at, admit only staff
};

// What a broker may push at the gateway (`cloud.limits`, issue 10 point 1). Sizes are of the
// message as received (the compact JWS text). A message above its topic's limit is dropped before
// it is copied or posted, counted and journaled (coalesced) as `too_large`; a message that finds
// its queue full is dropped and counted as `overload`. Correctness never depends on a message
// getting through (versions, the head and resync recover), so dropping is always safe.
struct CloudLimits {
  int32_t snapshot_page_bytes = 16 << 20;  // sync/snapshot, one page
  int32_t delta_bytes = 4 << 20;           // sync/delta
  int32_t command_bytes = 64 << 10;        // cmd/request
  int32_t head_bytes = 16 << 10;           // sync/head
  int32_t events_ack_bytes = 16 << 10;     // events/ack
  // Messages received and not yet verified (the link's queue into the core loop, and the parser
  // thread's queue behind it), each: at most this many and this many bytes.
  int32_t queue_messages = 1000;
  int32_t queue_bytes = 64 << 20;
  // Rejected messages are journaled as one `sync.rejected` event per reason per this interval,
  // with a `count` (the first of a quiet period at once).
  int32_t reject_journal_interval_s = 60;
  friend bool operator==(const CloudLimits&, const CloudLimits&) = default;
};

// The MQTT link to the cloud (`cloud:`). Empty `broker`: no link; the gateway runs on its store.
struct CloudConfig {
  std::string broker;     // tcp://host:port or ssl://host:port
  std::string client_id;  // defaults to "lintel-{site}-{gateway}"
  int mqtt_version = 4;   // 4 = MQTT 3.1.1, 5 = MQTT 5
  int32_t keep_alive_s = 30;
  std::string ca_file;    // ssl://: the broker's CA (empty: the system's trust store)
  std::string cert_file;  // ssl://: this gateway's client certificate and key (both or neither)
  std::string key_file;
  OfflinePolicy offline = OfflinePolicy::kKeepEnforcing;
  int32_t staff_only_after_h = 72;  // 1..8760
  CloudLimits limits;
};

struct Config {
  std::string source_path;  // the file (or the name given to LoadConfigText)
  std::string site_id;
  std::string time_zone;                 // IANA name as written, e.g. "Europe/Berlin"
  std::shared_ptr<const TimeZone> zone;  // never null in a loaded Config
  std::string gateway_id;
  std::string store_path;  // as written; relative paths are not resolved
  // Journal events held in memory while the store cannot be written (store.max_unwritten_events,
  // 100..10,000,000); past it the oldest non-access events are dropped first
  // (core/journal_queue.h).
  int32_t max_unwritten_events = 100000;
  std::string control_socket = std::string(kDefaultControlSocket);
  int32_t control_idle_timeout_s = 10;  // 1..3600: lintelctl connections idle longer are closed
  LogLevel log_level = LogLevel::kInfo;
  rules::Policy policy;                  // rules::Policy defaults where the file is silent
  std::vector<TrustedKey> trusted_keys;  // kids unique
  CloudConfig cloud;
  std::vector<DoorConfig> doors;           // non-empty, ids unique, in file order
  std::vector<ReaderConfig> readers;       // ids unique, in file order
  std::vector<IoModuleConfig> io_modules;  // ids unique, in file order
  SiteIoConfig io;
  std::vector<rules::Automation> automations;  // ids unique, in file order
  std::vector<LockConfig> locks;  // ids, doors, addresses and credentials unique, in file order
  // Intercom panels (ids unique among panels and readers, one per door, urls unique), in file
  // order; `intercom` is set whenever an Akuvox panel exists.
  std::vector<PanelConfig> panels;
  IntercomConfig intercom;
};

// The module and point a "module.point" reference names, or nullptr.
const IoPointConfig* FindPoint(const Config& config, std::string_view ref,
                               const IoModuleConfig** module = nullptr);

// One problem found in a file. line and column are 1-based.
struct ConfigProblem {
  std::string file;
  int line = 1;
  int column = 1;
  std::string message;  // what is wrong and what would be right

  // "file:line:column: message"
  std::string ToString() const;
};

// Parses and validates YAML text. `name_for_errors` prefixes every problem and becomes
// Config::source_path.
// Errors: InvalidArgument whose message holds every problem, one `file:line:column: message` per
// line, sorted by position. When `problems` is not null it receives the same problems as values
// (cleared first; left empty on success).
Result<Config> LoadConfigText(std::string_view text, std::string name_for_errors,
                              std::vector<ConfigProblem>* problems = nullptr);

// Reads `path` and calls LoadConfigText with `path` as the name.
// Errors: IoError when the file cannot be read (`problems` left empty); InvalidArgument as
// LoadConfigText, also for a file larger than kMaxConfigBytes.
Result<Config> LoadConfigFile(const std::string& path,
                              std::vector<ConfigProblem>* problems = nullptr);

// A few human-readable lines (site and zone, gateway, doors, readers, trusted key ids, store path,
// policy figures), each ending in '\n'. Never contains key material.
std::string Summarize(const Config& config);

// The site facts the rules engine needs (id, doors with their `common` flag, policy, zone).
rules::Site MakeSite(const Config& config);

// The configured door with this id, or nullptr.
const DoorConfig* FindDoor(const Config& config, std::string_view id);

// The lock that is the actuator of this door, or nullptr (at most one per door).
const LockConfig* FindLockForDoor(const Config& config, std::string_view door);

// The panel that is the actuator of this door, or nullptr (at most one per door).
const PanelConfig* FindPanelForDoor(const Config& config, std::string_view door);

std::string_view LogLevelName(LogLevel level);
std::string_view WiegandSourceName(WiegandSource source);  // "gpio", "serial", "replay"
std::string_view WiegandKeysName(WiegandKeys keys);        // "none", "4bit", "8bit"
std::string_view SerialLineFormatName(
    SerialLineFormat f);  // "hex", "decimal10"  // "error", "warning", "info", "debug"

}  // namespace lintel::config
