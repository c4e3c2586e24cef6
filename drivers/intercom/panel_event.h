// PanelEvent: what an intercom panel reports, typed (library `lintel_intercom`, pure: no I/O, no
// clock, no logging), and the credential rules shared by both panel families.
//
// A panel is a reader and an actuator, never an authority: its own verdict (`valid` on 2N, the
// Valid/Invalid split of Akuvox Action URLs) is kept in `panel_valid` for the journal and ignored
// by the gateway, which decides.
//
// Secrets: `code` holds PIN digits and `key` may be one digit of a PIN typed key by key. Neither
// may be logged or put into a message; Describe() leaves them out.
//
// Every function here is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/status.h"

namespace lintel::intercom {

enum class EventKind {
  kCode,              // 2N CodeEntered, Akuvox `code`: `code`
  kCard,              // 2N CardEntered (`uid` or `card`), Akuvox `card` (`card_sn`): `card_uid`
  kKey,               // 2N KeyPressed: `key`
  kCall,              // 2N CallStateChanged: `call_state`, `call_direction`
  kInput,             // 2N InputChanged: `port`, `state`/`active`
  kSwitchState,       // 2N SwitchStateChanged (`port` = the switch), Akuvox `relay` (relay1status)
  kDoorState,         // 2N DoorStateChanged: `state`/`active` (active = open)
  kUnauthorizedOpen,  // 2N UnauthorizedDoorOpen
  kOpenTooLong,       // 2N DoorOpenTooLong
  kTamper,            // 2N TamperSwitchActivated, Akuvox `tamper`
  kDeviceStartup,     // 2N DeviceState with state "startup": the panel restarted
  kOther,             // anything else (an unknown event name, DeviceState other than startup)
};

// "code", "card", "key", "call", "input", "switch_state", "door_state", "unauthorized_open",
// "open_too_long", "tamper", "device_startup", "other".
std::string_view EventKindName(EventKind kind);

struct PanelEvent {
  EventKind kind = EventKind::kOther;
  // The panel's own name for it: 2N "CodeEntered", ...; Akuvox the event segment of the Action
  // URL ("code"). For kOther the unknown name (at most kMaxNameLength printable characters).
  std::string name;
  // 2N: the driver's channel generation (1 for the first subscription, +1 for every
  // resubscription) and the event's id in that channel: (channel, id) identifies an event, and
  // the driver delivers each pair at most once. Akuvox: both 0.
  uint64_t channel = 0;
  uint64_t id = 0;
  std::optional<int64_t> utc_time;  // 2N utcTime: seconds since the Unix epoch, panel clock
  std::optional<int64_t> up_time;   // 2N upTime: seconds since the panel started

  std::string code;            // kCode: 2..8 ASCII digits. SECRET: never log.
  std::string card_uid;        // kCard: 1..16 upper-case hex digits
  std::string key;             // kKey: the key as sent (at most 8 printable characters). Never log.
  std::string call_state;      // kCall: "ringing", "connected", ... as sent (<= 32 printable)
  std::string call_direction;  // kCall: "incoming" / "outgoing" as sent (may be empty)
  // kInput: the port as sent ("input1", or a number as text); kSwitchState: the switch number.
  std::string port;
  // kInput, kSwitchState, kDoorState, kDeviceStartup, kOther: the state as sent, as text
  // (true/false, 0/1 and strings alike; <= 32 printable characters, empty when absent) ...
  std::string state;
  // ... and read as a boolean when it is one of true/false, 1/0, on/off, open/opened/closed,
  // active/inactive (case-insensitive); for kDoorState and Akuvox relay1status, true = open.
  std::optional<bool> active;
  std::optional<bool> panel_valid;  // the panel's verdict (2N `valid`), for the journal only
  std::string mac;                  // Akuvox `mac` when sent: 12 upper-case hex digits
};

// A one-line description without secrets, for logs and journals: "CodeEntered #12 (code)",
// "CardEntered #3 card 04A2B3C4", "SwitchStateChanged #7 port 1 state true", ...
std::string Describe(const PanelEvent& event);

inline constexpr size_t kMaxNameLength = 64;
inline constexpr size_t kMinCodeDigits = 2;
inline constexpr size_t kMaxCodeDigits = 8;
inline constexpr size_t kMaxCardDigits = 16;

// A keypad code: 2..8 ASCII digits. Errors: InvalidArgument saying what is wrong (length or a
// non-digit), never quoting the text.
Status CheckCode(std::string_view code);

// A card id: 1..16 hex digits, either case; returned upper-case. Errors: InvalidArgument
// ("card id is empty", "card id longer than 16 hex digits", "card id has a non-hex character").
Result<std::string> NormalizeCardUid(std::string_view text);

// Compares two secrets in time that depends only on their lengths, not on where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Reads a state text as a boolean (see PanelEvent::active); nullopt when it is none of those.
std::optional<bool> ParseActive(std::string_view text);

}  // namespace lintel::intercom
