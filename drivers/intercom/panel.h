// What both panel drivers (twon_panel.h, akuvox_panel.h) report, and how (library
// `lintel_intercom_io`).
//
// Callbacks are called on the driver's own threads (the event thread, the command thread), never
// on the caller's; they must return quickly and must not call Stop() of their panel. The daemon
// posts them to its core loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "drivers/intercom/panel_event.h"
#include "drivers/intercom/twon_api.h"
#include "gateway/base/status.h"

namespace lintel::intercom {

// Why a panel is offline.
enum class PanelFault {
  kNone,         // online (or not tried yet)
  kUnreachable,  // no answer: refused, reset, timed out (device.offline)
  kAuthFailed,   // HTTP 401/403: the configured password is wrong ("wrong password for panel X")
  kCertificate,  // https: the certificate does not match the pin or is not trusted
  kProtocol,     // it answers, but not as a panel of this family (HTTP 404, garbage, API error)
};
// "none", "unreachable", "auth_failed", "certificate", "protocol".
std::string_view PanelFaultName(PanelFault fault);

// The outcome of one switch / relay command.
struct CommandResult {
  uint64_t request_id = 0;  // as returned by TriggerSwitch / TriggerRelay
  int output = 0;           // the switch (2N) or relay (Akuvox) number
  // OK: the panel accepted it. Errors:
  //  - FailedPrecondition: the panel refused it: "panel 'lobby': switch 1 refused: 2N error 14
  //    (...)" (14: the switch is locked), "Akuvox error -1: ...", "wrong password for panel
  //    'lobby'", an HTTP status other than 200, a refused certificate;
  //  - Unavailable: no answer ("panel 'lobby': switch 1: ... cannot connect"), or not sent because
  //    it waited longer than command_max_age behind other commands;
  //  - InvalidArgument: the reply was garbage (the panel may or may not have done it);
  //  - Internal: an exception in the command thread.
  Status status;
};

struct PanelCallbacks {
  // An event (2N: pulled from the log, each (channel, id) once; Akuvox panels get theirs from
  // the ActionUrlListener instead). Event thread.
  std::function<void(const PanelEvent& event)> on_event;
  // Online/offline transitions (device.online / device.offline): online with fault kNone and
  // reason "answering"; offline with the fault and the error ("wrong password for panel
  // 'lobby'"). Called again only when `online` or `fault` changes. Event thread.
  std::function<void(bool online, PanelFault fault, const std::string& reason)> on_online;
  // Every command's outcome. Command thread.
  std::function<void(const CommandResult& result)> on_command;
  // Problems that are not transitions: a rejected event or reply (with the reason, never a code),
  // a lost channel, an exception in a driver thread. Event thread.
  std::function<void(const Status& error)> on_error;
};

struct PanelHealth {
  bool online = false;
  PanelFault fault = PanelFault::kNone;
  std::string last_error;         // Status::ToString() of the last failure, empty if none yet
  SystemInfo info;                // from the last health check
  uint64_t events = 0;            // delivered through on_event
  uint64_t unknown_events = 0;    // of those, kOther
  uint64_t rejected_events = 0;   // malformed events left out
  uint64_t rejected_replies = 0;  // whole replies refused (malformed, too big, over 128 events)
  uint64_t duplicates = 0;        // events dropped as already delivered in their channel
  uint64_t channel = 0;           // 2N: the channel generation (subscriptions so far)
  uint64_t resubscribes = 0;      // 2N: subscriptions after the first (expiry, error, restart)
  uint64_t failures = 0;          // failed requests of the event thread
  uint64_t commands_ok = 0;
  uint64_t commands_failed = 0;
};

}  // namespace lintel::intercom
