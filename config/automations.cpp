// The automations section: reactions to door and device events.
#include "config/loader.h"

namespace lintel::config::internal {

namespace {

constexpr std::string_view kAutomationKeys[] = {"id", "on", "doors", "when", "actions"};
constexpr std::string_view kWhenKeys[] = {"door_mode", "schedule", "outside_schedule"};
constexpr std::string_view kActionKeys[] = {"output", "state",     "pulse_ms",
                                            "alarm",  "door_mode", "door"};
constexpr std::string_view kDoorModes[] = {"normal", "locked_down", "unlocked"};
constexpr std::string_view kOnOff[] = {"on", "off"};
// The events an automation can react to.
constexpr std::string_view kAutomationEvents[] = {
    "door.forced",  "door.held_open", "door.held_open_warning", "door.opened", "door.closed",
    "door.rex",     "device.offline", "device.online",          "tamper",      "fire.release",
    "fire.cleared", "device.fault",   "device.fault_cleared"};

rules::DoorModeKind ModeOf(std::string_view s) {
  return s == "locked_down" ? rules::DoorModeKind::kLockedDown
         : s == "unlocked"  ? rules::DoorModeKind::kUnlocked
                            : rules::DoorModeKind::kNormal;
}

void ParseAutomation(Loader& l, MapWalker& w) {
  rules::Automation a;
  if (auto id = w.Id("id", Need::kRequired)) {
    a.id = id->value;
    CheckUnique(l, l.automation_ids, "automation id", *id);
  }
  const std::string who = w.name();
  if (auto v = w.OneOf("on", Need::kRequired, kAutomationEvents)) a.on = v->value;
  if (auto list = w.ScalarList("doors", Need::kOptional, "a list of door ids")) {
    for (const Field<std::string>& d : *list) {
      a.doors.push_back(d.value);
      l.automation_door_refs.push_back({who, d.value, d.pos});
    }
  }
  w.Mapping("when", Need::kOptional, kWhenKeys, [&](MapWalker& c) {
    if (auto v = c.OneOf("door_mode", Need::kOptional, kDoorModes)) a.door_mode = ModeOf(v->value);
    if (auto v = c.Id("schedule", Need::kOptional)) a.schedule = v->value;
    if (auto v = c.Bool("outside_schedule", Need::kOptional)) {
      a.outside_schedule = v->value;
      if (a.schedule.empty()) {
        l.problems.Add(v->pos, "when.outside_schedule needs when.schedule");
      }
    }
  });
  w.List("actions", Need::kRequired, {"action", "", kActionKeys, true}, [&](MapWalker& act) {
    rules::AutomationAction x;
    int kinds = 0;
    if (auto v = PointRefKey(l, act, "output", Need::kOptional, who + " output", true)) {
      ++kinds;
      x.target = *v;
      auto state = act.OneOf("state", Need::kOptional, kOnOff);
      auto pulse = act.Int("pulse_ms", Need::kOptional, 10, 3'600'000);
      if (state.has_value() == pulse.has_value()) {
        l.problems.Add(act.pos(), who +
                                      ": an output action needs exactly one of state (on, off) "
                                      "or pulse_ms");
      } else if (pulse) {
        x.kind = rules::AutomationAction::Kind::kOutputPulse;
        x.duration_ms = pulse->value;
      } else {
        x.kind = state->value == "on" ? rules::AutomationAction::Kind::kOutputOn
                                      : rules::AutomationAction::Kind::kOutputOff;
      }
    } else if (act.Has("state") || act.Has("pulse_ms")) {
      l.problems.Add(act.pos(), who + ": state and pulse_ms belong to an output action");
    }
    if (auto v = act.Id("alarm", Need::kOptional)) {
      ++kinds;
      x.kind = rules::AutomationAction::Kind::kAlarm;
      x.target = v->value;
    }
    if (auto v = act.OneOf("door_mode", Need::kOptional, kDoorModes)) {
      ++kinds;
      x.kind = rules::AutomationAction::Kind::kSetDoorMode;
      x.mode = ModeOf(v->value);
      if (auto d = act.Id("door", Need::kOptional)) {
        x.target = d->value;
        l.automation_door_refs.push_back({who, d->value, d->pos});
      }
    } else if (act.Has("door")) {
      l.problems.Add(act.pos(), who + ": door belongs to a door_mode action");
    }
    if (kinds != 1) {
      l.problems.Add(act.pos(), who +
                                    ": each action is exactly one of output, alarm or "
                                    "door_mode");
    }
    a.actions.push_back(std::move(x));
  });
  l.config.automations.push_back(std::move(a));
}

}  // namespace

constinit const SectionSpec kAutomationsSection = {
    "automations",   Need::kOptional, Shape::kList, kAutomationKeys,
    ParseAutomation, "automation",    "id"};

}  // namespace lintel::config::internal
