// Automations: "on this event (at these doors), when this holds, do these things". Pure: matching
// only; the core carries out the actions (outputs through the door I/O drivers, alarm events into
// the journal, door modes into the engine and the door machines).
//
// Actions never trigger further automations (an alarm raised by an automation is journaled but not
// matched again), so no configuration can loop.
//
// Thread-safety: plain values; matching is a pure function.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rules/model.h"

namespace lintel::rules {

struct AutomationAction {
  enum class Kind : uint8_t {
    kOutputOn,     // output (a named I/O point, "module.point") on
    kOutputOff,    // ... off
    kOutputPulse,  // on for duration_ms, then off
    kAlarm,        // journal {"type": "alarm", "alarm": name, "door"?, "automation": id}
    kSetDoorMode   // door (or the event's door when empty) to mode
  };
  Kind kind = Kind::kAlarm;
  std::string target;       // the output for kOutput*, the alarm name, the door (or empty)
  int64_t duration_ms = 0;  // kOutputPulse
  DoorModeKind mode = DoorModeKind::kNormal;  // kSetDoorMode
  friend bool operator==(const AutomationAction&, const AutomationAction&) = default;
};

struct Automation {
  std::string id;
  std::string on;                  // an event type: "door.forced", "door.held_open", ...
  std::vector<std::string> doors;  // only events at these doors; empty: any door (or none)
  // Conditions, all of which must hold (absent: no condition):
  std::optional<DoorModeKind> door_mode;  // the event's door is in this mode
  std::string schedule;                   // this schedule (a record id) is open now
  bool outside_schedule = false;          // ... or, with this, closed now
  std::vector<AutomationAction> actions;
  friend bool operator==(const Automation&, const Automation&) = default;
};

// What the conditions need to know about "now".
struct AutomationFacts {
  // The mode of a door (kNormal for an unknown door).
  std::function<DoorModeKind(std::string_view door)> door_mode;
  // Whether a schedule is open now; nullopt when no such schedule is known (the condition then
  // fails: an automation never acts on a schedule it cannot evaluate).
  std::function<std::optional<bool>(std::string_view schedule)> schedule_open;
};

// The automations that fire for an event of `type` at `door` (empty: not at a door), in
// configuration order.
std::vector<const Automation*> MatchAutomations(std::span<const Automation> automations,
                                                std::string_view type, std::string_view door,
                                                const AutomationFacts& facts);

}  // namespace lintel::rules
