// DoorMachine: what one door's lock should be and which door events happen, from the door's
// inputs and the time. Pure: no I/O, no clock (times are passed in as monotonic milliseconds), no
// threads; the door I/O driver carries out `lock_released()` and the core journals the events.
//
// The lock is released (relay energised on a fail-secure strike, de-energised on a maglock; the
// wiring is the driver's business) while any of these holds:
//   - an unlock pulse is running: a grant (unlock_ms) or a REX press (when unlock_on_rex);
//     with relock_on_close the pulse ends as soon as the door closes again after opening;
//   - the door mode is `unlocked` (and not locked down);
//   - the fire release is active and the door is an egress door (fire_egress): this overrides
//     every mode, lockdown included (life safety).
// Locked down: grants are ignored (the engine denies them anyway with door_locked_down); REX still
// releases the lock when unlock_on_rex (nobody is ever locked in).
//
// Events, in the order they happen (types are the cloud contract's where it has one):
//   door.opened / door.closed     the position contact changed (contact wired)
//   door.forced                   opened while the lock was engaged and no REX press was recent
//   door.rex                      the exit button was pressed
//   door.held_open_warning        the pre-alarm: open `held_warning_s` before held_open_s runs out
//   door.held_open                open longer than held_open_s (once per opening); the door
//                                 closing after it gives door.closed with "was_held": true
// Held-open timing does not run while the door may legitimately stand open (mode unlocked, fire
// release).
//
// Thread-safety: none needed; one owner (the core loop) calls everything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/model.h"

namespace lintel::rules {

struct DoorSettings {
  int64_t unlock_ms = 5000;          // a grant's unlock pulse
  int64_t rex_unlock_ms = 5000;      // a REX press's unlock pulse
  int64_t held_open_ms = 30'000;     // door open longer than this -> door.held_open
  int64_t held_warning_ms = 10'000;  // pre-alarm this long before held_open (0: none)
  int64_t rex_grace_ms = 10'000;     // an opening this soon after REX is an exit, not forced
  bool unlock_on_rex = true;
  bool relock_on_close = true;
  bool fire_egress = false;  // released while the site's fire release is active
  bool has_contact = true;   // a position contact is wired (else: no forced/held/opened)
};

// The kinds of door event; DoorEventName() gives the journal's (and the cloud contract's) type.
enum class DoorEventType : uint8_t {
  kOpened,           // "door.opened"
  kClosed,           // "door.closed"
  kForced,           // "door.forced"
  kRex,              // "door.rex"
  kHeldOpenWarning,  // "door.held_open_warning"
  kHeldOpen,         // "door.held_open"
};
std::string_view DoorEventName(DoorEventType type);
// The type named `name` (DoorEventName's inverse); nullopt for any other string.
std::optional<DoorEventType> ParseDoorEventType(std::string_view name);

struct DoorEvent {
  DoorEventType type;
  bool was_held = false;  // door.closed after door.held_open
  friend bool operator==(const DoorEvent&, const DoorEvent&) = default;
};

class DoorMachine {
 public:
  explicit DoorMachine(DoorSettings settings) : settings_(settings) {}

  // Inputs. Each returns the events it caused (often none).
  std::vector<DoorEvent> Grant(int64_t now_ms);  // an access grant from the core
  // An unlock for `duration_ms` from a command (cloud `unlock`); like a grant with its own length.
  std::vector<DoorEvent> Unlock(int64_t now_ms, int64_t duration_ms);
  std::vector<DoorEvent> Rex(int64_t now_ms);
  std::vector<DoorEvent> Contact(bool open, int64_t now_ms);
  std::vector<DoorEvent> SetMode(DoorModeKind mode, int64_t now_ms);
  std::vector<DoorEvent> Fire(bool active, int64_t now_ms);
  // Time passing: ends pulses, raises held-open warnings and alarms that are due.
  std::vector<DoorEvent> Tick(int64_t now_ms);

  // The earliest time Tick() has something to do, or nullopt when nothing is pending.
  std::optional<int64_t> Deadline() const;

  // What the lock should be now (call after any input or Tick).
  bool lock_released() const { return lock_released_; }
  bool open() const { return open_; }
  DoorModeKind mode() const { return mode_; }
  bool held() const { return held_reported_; }
  const DoorSettings& settings() const { return settings_; }

 private:
  void Pulse(int64_t now_ms, int64_t duration_ms);
  void Update(int64_t now_ms);
  bool HeldTimingApplies() const;

  DoorSettings settings_;
  DoorModeKind mode_ = DoorModeKind::kNormal;
  bool fire_ = false;
  bool open_ = false;
  std::optional<int64_t> pulse_until_;  // the running unlock pulse
  bool opened_in_pulse_ = false;        // the door opened during the pulse (relock on close)
  std::optional<int64_t> last_rex_;
  std::optional<int64_t> opened_at_;
  bool warning_reported_ = false;
  bool held_reported_ = false;
  bool lock_released_ = false;
};

}  // namespace lintel::rules
