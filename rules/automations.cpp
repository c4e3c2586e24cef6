#include "rules/automations.h"

#include <algorithm>

namespace lintel::rules {

std::vector<const Automation*> MatchAutomations(std::span<const Automation> automations,
                                                std::string_view type, std::string_view door,
                                                const AutomationFacts& facts) {
  std::vector<const Automation*> out;
  for (const Automation& a : automations) {
    if (a.on != type) continue;
    if (!a.doors.empty() && std::find(a.doors.begin(), a.doors.end(), door) == a.doors.end()) {
      continue;
    }
    if (a.door_mode) {
      if (door.empty() || !facts.door_mode || facts.door_mode(door) != *a.door_mode) continue;
    }
    if (!a.schedule.empty()) {
      std::optional<bool> open =
          facts.schedule_open ? facts.schedule_open(a.schedule) : std::nullopt;
      if (!open || *open == a.outside_schedule) continue;
    }
    out.push_back(&a);
  }
  return out;
}

}  // namespace lintel::rules
