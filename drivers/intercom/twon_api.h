// The 2N HTTP API (shared/protocols/intercom-2n.md): reply parsers and request targets (library
// `lintel_intercom`, pure: no I/O, no clock, no logging).
//
// Every reply is JSON in an envelope, also errors (with HTTP 200):
//   {"success":true,"result":{...}}
//   {"success":false,"error":{"code":14,"param":"switch","description":"..."}}
//
// Input is outside bytes from a panel that may be broken or hostile. Every parser:
//  - refuses more than kMaxReplyBytes before looking at it, and JSON nested deeper than
//    kMaxJsonDepth before building anything (no input makes it allocate much more than its size);
//  - never throws (nlohmann-json is called without exceptions, and a last catch converts anything
//    else, e.g. bad_alloc, to Internal);
//  - reports malformed input as InvalidArgument "2N <what> reply: <reason>", the reason naming
//    the field, never quoting a code or card.
// A panel's error envelope is FailedPrecondition "2N error <code> (<param>): <description>" (the
// description cut to 120 printable characters), and when `error` is non-null the error is also
// stored there (so a caller can tell code 14, "switch locked", apart).
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/intercom/panel_event.h"
#include "gateway/base/status.h"

namespace lintel::intercom {

inline constexpr size_t kMaxReplyBytes = 1 << 20;  // 1 MiB
inline constexpr int kMaxJsonDepth = 16;
inline constexpr size_t kMaxPullEvents = 128;  // the API's own limit per pull reply
// 2N error code for a refused switch action (e.g. the switch is locked).
inline constexpr int64_t kTwoNErrorActionFailed = 14;

struct TwoNError {
  int64_t code = 0;
  std::string param;        // as sent, cut to 64 printable characters
  std::string description;  // as sent, cut to 120 printable characters
};

// The envelope alone: OK for "success": true (whatever the result). Errors: InvalidArgument,
// FailedPrecondition (see above).
Status CheckTwoNEnvelope(std::string_view body, TwoNError* error = nullptr);

// GET /api/system/info: {"variant","serialNumber","hwVersion","swVersion","deviceName"}, each
// optional (missing ones stay empty; non-strings are ignored; each cut to 64 printable chars).
struct SystemInfo {
  std::string variant;
  std::string serial_number;
  std::string hw_version;
  std::string sw_version;
  std::string device_name;
};
Result<SystemInfo> ParseSystemInfoReply(std::string_view body, TwoNError* error = nullptr);

// GET /api/log/subscribe: {"id": n}, n a non-negative integer.
Result<uint64_t> ParseSubscribeReply(std::string_view body, TwoNError* error = nullptr);

// One event of a pull reply that was refused, and why (no secret in `reason`).
struct RejectedEvent {
  std::optional<uint64_t> id;  // when the event had a usable id
  std::string name;            // the event name when it had one (printable, cut)
  std::string
      reason;  // "CodeEntered: code has a character that is not a digit", "event has no name"
};

struct PullReply {
  // Accepted events, in the order of the reply (kOther for unknown names). `channel` is 0: the
  // driver sets it.
  std::vector<PanelEvent> events;
  std::vector<RejectedEvent> rejected;  // malformed events, left out of `events`
  size_t unknown = 0;                   // events of `events` whose kind is kOther
};

// GET /api/log/pull: {"events":[{"id":1,"utcTime":..,"upTime":..,"event":"CodeEntered",
// "params":{...}}, ...]}. Per event: `id` (non-negative integer) and `event` (string) are
// required; `utcTime`/`upTime` optional integers; `params` an optional object, whose fields are
// read per event (see PanelEvent; CardEntered reads `uid`, or `card` when there is no `uid`).
// An event breaking these rules is rejected (RejectedEvent) and the others are kept. The whole
// reply is refused (InvalidArgument) when it is not such an envelope, when `events` is missing
// or not an array, or when it has more than kMaxPullEvents events.
Result<PullReply> ParsePullReply(std::string_view body, TwoNError* error = nullptr);

// GET /api/switch/ctrl: only the envelope matters (error 14: the action failed, e.g. locked).
Status ParseSwitchCtrlReply(std::string_view body, TwoNError* error = nullptr);

// Request targets (path and query).
// "/api/system/info"
std::string TwoNSystemInfoTarget();
// "/api/log/subscribe?include=new&duration=<s>" (duration in whole seconds, at least 1)
std::string TwoNSubscribeTarget(std::chrono::seconds duration);
// "/api/log/pull?id=<id>&timeout=<s>" (timeout in whole seconds, at least 0)
std::string TwoNPullTarget(uint64_t channel_id, std::chrono::seconds timeout);
// "/api/log/unsubscribe?id=<id>"
std::string TwoNUnsubscribeTarget(uint64_t channel_id);
// "/api/switch/ctrl?switch=<n>&action=trigger[&timeout=<s>]"
std::string TwoNSwitchTriggerTarget(int switch_number, std::optional<std::chrono::seconds> hold);

}  // namespace lintel::intercom
