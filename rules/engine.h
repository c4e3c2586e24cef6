// Engine: decides one door for one presented credential at one instant. Pure: no I/O, no clock of
// its own, no threads. Owned by the core thread; the Index it reads is immutable and swapped whole.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "rules/decision.h"
#include "rules/index.h"
#include "rules/presented.h"
#include "rules/time_guard.h"

namespace lintel::rules {

struct Request {
  std::string_view door;    // a door id of the site
  std::string_view reader;  // the reader it came from (keypad lockout is per reader); empty = door
  Presented credential;
};

// Decides against one index, with no state: the order of checks is
//   door known -> presentation well-formed -> door mode -> keypad lockout (PINs) ->
//   credential known -> credential status -> credential validity window -> person status ->
//   access paths (direct groups, leases, then inherited from the primary): door in group,
//   lease started / not ended / rent paid (+grace), schedule open.
// The first failing check decides, except among access paths, where any open path grants and
// otherwise the most specific denial wins (outside_schedule, rent_overdue, lease_not_started,
// lease_ended, person_suspended of the primary, then no_access_to_door / no_active_lease).
// `locked_out_until` is the reader's keypad lockout end (INT64_MIN when none). With `trace`, each
// check is appended in order. With `staff_only` (the offline policy's restricted mode), a holder
// whose role is not staff is denied `offline_staff_only` right after the person status check.
// `local_mode`: a door mode the gateway set itself (an automation); kLockedDown denies
// door_locked_down before the state's own door mode is looked at.
Decision DecideWith(const Index& index, const Request& request, Instant now,
                    int64_t locked_out_until, Trace* trace, bool staff_only = false,
                    std::optional<DoorModeKind> local_mode = std::nullopt);

// Keypad lockout per reader: `failures` failed PIN entries (unknown or malformed PINs) within
// `window_s` lock that reader's keypad for `lockout_s`; cards keep working (a lockout must not let
// a passer-by shut tenants out). A granted PIN clears the reader's count.
class KeypadLockout {
 public:
  explicit KeypadLockout(const Policy& policy) : policy_(policy) {}
  void SetPolicy(const Policy& policy) { policy_ = policy; }
  int64_t LockedUntil(std::string_view reader) const;
  // Records the outcome of a PIN decision; returns true when this failure started a lockout.
  bool Record(std::string_view reader, const Decision& d, Instant now);

 private:
  struct ReaderState {
    std::deque<int64_t> failures;
    int64_t locked_until = INT64_MIN;
  };
  Policy policy_;
  std::unordered_map<std::string, ReaderState> readers_;
};

// The stateful face of the rules: the current index, the keypad lockouts, and the time guard.
//
// Time floor: the engine never evaluates at a time below the floor (the latest time it believed,
// or the store's last-known-good time), so a clock that jumps back cannot revive an expired lease
// or credential. A wall time below the floor is flagged in the decision (clock_went_back). Which
// times are believed, and what a wall clock far ahead of them does, is TimeGuard's rule
// (rules/time_guard.h): the ClockReading overloads apply it; the Instant overloads take the wall
// time as believed (tools, tests, benchmarks).
class Engine {
 public:
  explicit Engine(std::shared_ptr<const Index> index);

  void SwapIndex(std::shared_ptr<const Index> index);
  const std::shared_ptr<const Index>& index() const { return index_; }

  // Raises the floor to `t` if above it.
  void RaiseTimeFloor(Instant t) { time_.Raise(t); }
  Instant time_floor() const { return time_.floor(); }
  // max(wall, floor), raising the floor to it: `wall` is believed.
  Instant EffectiveNow(Instant wall, bool* went_back = nullptr);
  // The time guard (start-up restore, signed cloud times, floor resets).
  TimeGuard& time() { return time_; }
  const TimeGuard& time() const { return time_; }
  // When to decide for a clock reading (TimeGuard::Observe): may raise the floor.
  DecisionTime Now(const ClockReading& reading) { return time_.Observe(reading); }

  // The offline policy's restricted mode: only staff are admitted while set.
  void SetStaffOnly(bool staff_only) { staff_only_ = staff_only; }
  bool staff_only() const { return staff_only_; }

  // A door mode set locally by an automation (nullopt clears it). It is not stored: a restart
  // and the cloud's next change of that door's mode end it (the door I/O layer clears it then).
  void SetLocalDoorMode(std::string_view door, std::optional<DoorModeKind> mode);
  std::optional<DoorModeKind> LocalDoorMode(std::string_view door) const;

  Decision Decide(const Request& request, Instant wall_now, Trace* trace = nullptr);
  // Decides at Now(reading). With a suspect clock and no trusted time this run, a grant stands
  // only if the request is also granted at the suspect wall time; otherwise that denial is
  // returned (evaluated at the wall time). Either way `clock_suspect` is set.
  Decision Decide(const Request& request, const ClockReading& reading, Trace* trace = nullptr);
  // Like Decide but changes nothing (no floor move, no lockout count): for "what if" queries.
  Decision Evaluate(const Request& request, Instant at, Trace* trace = nullptr) const;

 private:
  std::shared_ptr<const Index> index_;
  Decision DecideAt(const Request& request, const DecisionTime& t, Trace* trace);

  KeypadLockout lockout_;
  TimeGuard time_;
  bool staff_only_ = false;
  std::map<std::string, DoorModeKind, std::less<>> local_modes_;
};

}  // namespace lintel::rules
