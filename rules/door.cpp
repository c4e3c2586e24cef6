#include "rules/door.h"

#include <algorithm>
#include <utility>

namespace lintel::rules {

namespace {
constexpr std::pair<DoorEventType, std::string_view> kDoorEventNames[] = {
    {DoorEventType::kOpened, "door.opened"},
    {DoorEventType::kClosed, "door.closed"},
    {DoorEventType::kForced, "door.forced"},
    {DoorEventType::kRex, "door.rex"},
    {DoorEventType::kHeldOpenWarning, "door.held_open_warning"},
    {DoorEventType::kHeldOpen, "door.held_open"},
};
}  // namespace

std::string_view DoorEventName(DoorEventType type) {
  for (const auto& [t, name] : kDoorEventNames) {
    if (t == type) return name;
  }
  return "door.unknown";
}

std::optional<DoorEventType> ParseDoorEventType(std::string_view name) {
  for (const auto& [t, n] : kDoorEventNames) {
    if (n == name) return t;
  }
  return std::nullopt;
}

void DoorMachine::Pulse(int64_t now_ms, int64_t duration_ms) {
  int64_t until = now_ms + std::max<int64_t>(duration_ms, 0);
  pulse_until_ = pulse_until_ ? std::max(*pulse_until_, until) : until;
  opened_in_pulse_ = false;
}

bool DoorMachine::HeldTimingApplies() const {
  return settings_.has_contact && mode_ != DoorModeKind::kUnlocked &&
         !(fire_ && settings_.fire_egress);
}

void DoorMachine::Update(int64_t now_ms) {
  if (pulse_until_ && now_ms >= *pulse_until_) pulse_until_.reset();
  bool fire_release = fire_ && settings_.fire_egress;
  lock_released_ = fire_release || pulse_until_.has_value() || mode_ == DoorModeKind::kUnlocked;
}

std::vector<DoorEvent> DoorMachine::Grant(int64_t now_ms) {
  return Unlock(now_ms, settings_.unlock_ms);
}

std::vector<DoorEvent> DoorMachine::Unlock(int64_t now_ms, int64_t duration_ms) {
  if (mode_ != DoorModeKind::kLockedDown) Pulse(now_ms, duration_ms);
  Update(now_ms);
  return {};
}

std::vector<DoorEvent> DoorMachine::Rex(int64_t now_ms) {
  last_rex_ = now_ms;
  if (settings_.unlock_on_rex) Pulse(now_ms, settings_.rex_unlock_ms);
  Update(now_ms);
  return {{DoorEventType::kRex}};
}

std::vector<DoorEvent> DoorMachine::Contact(bool open, int64_t now_ms) {
  std::vector<DoorEvent> events = Tick(now_ms);
  if (!settings_.has_contact || open == open_) return events;
  open_ = open;
  if (open) {
    bool recent_rex = last_rex_ && now_ms - *last_rex_ <= settings_.rex_grace_ms;
    events.push_back({DoorEventType::kOpened});
    if (!lock_released_ && !recent_rex) events.push_back({DoorEventType::kForced});
    opened_at_ = now_ms;
    warning_reported_ = false;
    held_reported_ = false;
    if (pulse_until_) opened_in_pulse_ = true;
  } else {
    events.push_back({DoorEventType::kClosed, held_reported_});
    opened_at_.reset();
    warning_reported_ = false;
    held_reported_ = false;
    if (settings_.relock_on_close && pulse_until_ && opened_in_pulse_) pulse_until_.reset();
    last_rex_.reset();  // that exit is over
  }
  Update(now_ms);
  return events;
}

std::vector<DoorEvent> DoorMachine::SetMode(DoorModeKind mode, int64_t now_ms) {
  mode_ = mode;
  if (mode == DoorModeKind::kLockedDown) pulse_until_.reset();  // a running grant ends now
  if (open_) {
    // A door standing open when the mode changes gets a fresh held-open allowance.
    opened_at_ = now_ms;
    warning_reported_ = false;
  }
  Update(now_ms);
  return Tick(now_ms);
}

std::vector<DoorEvent> DoorMachine::Fire(bool active, int64_t now_ms) {
  fire_ = active;
  if (open_) {
    opened_at_ = now_ms;
    warning_reported_ = false;
  }
  Update(now_ms);
  return Tick(now_ms);
}

std::vector<DoorEvent> DoorMachine::Tick(int64_t now_ms) {
  std::vector<DoorEvent> events;
  Update(now_ms);
  if (open_ && opened_at_ && HeldTimingApplies() && !held_reported_) {
    int64_t open_for = now_ms - *opened_at_;
    int64_t warn_at = settings_.held_open_ms - settings_.held_warning_ms;
    if (settings_.held_warning_ms > 0 && !warning_reported_ && open_for >= warn_at &&
        open_for < settings_.held_open_ms) {
      warning_reported_ = true;
      events.push_back({DoorEventType::kHeldOpenWarning});
    }
    if (open_for >= settings_.held_open_ms) {
      held_reported_ = true;
      events.push_back({DoorEventType::kHeldOpen});
    }
  }
  return events;
}

std::optional<int64_t> DoorMachine::Deadline() const {
  std::optional<int64_t> d = pulse_until_;
  auto consider = [&d](int64_t t) { d = d ? std::min(*d, t) : t; };
  if (open_ && opened_at_ && HeldTimingApplies() && !held_reported_) {
    int64_t warn_at = *opened_at_ + settings_.held_open_ms - settings_.held_warning_ms;
    if (settings_.held_warning_ms > 0 && !warning_reported_ &&
        settings_.held_warning_ms < settings_.held_open_ms) {
      consider(warn_at);
    }
    consider(*opened_at_ + settings_.held_open_ms);
  }
  return d;
}

}  // namespace lintel::rules
