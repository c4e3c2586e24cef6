// TimeGuard: the instant the engine decides at, and the time floor it persists, from the gateway's
// clocks and the times the cloud signs. Pure: every reading is passed in; no clock of its own.
//
// The rule (rules/README.md, "Time"), in short:
//  - The floor (persisted as the store's last-known-good time) only rises, and only from times the
//    gateway believes: a synchronized wall clock, a time the cloud signed (`issued_at` of a
//    verified head, delta or command), or an unsynchronized wall clock that is not far ahead of the
//    estimate. A decision is never made below the floor (a clock that jumps back revives nothing).
//  - The estimate is the latest believed time carried forward on the monotonic clock. An
//    unsynchronized wall clock more than `max_ahead` past it is *suspect*: it is not persisted and
//    does not move the floor. The gateway then decides at the estimate; if it has seen no trusted
//    time since it started (the estimate is the stored floor plus uptime, and the downtime is
//    unknown), a grant also needs a grant at the suspect wall time (fail secure, never forever: it
//    ends when the clock is corrected, synchronizes, or a signed cloud time arrives).
//  - A floor more than `max_ahead` above a synchronized wall clock, or above a wall clock that lies
//    inside the validity window of a signed head or command, is wrong (an old version persisted a
//    clock that had jumped forward): it is replaced by that trusted time, once, and reported.
//
// Thread rule: the owner's (the core loop's) thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "gateway/base/time.h"

namespace lintel::rules {

inline constexpr int32_t kDefaultClockMaxAheadDays = 3;
// How far an unsynchronized wall clock may lag a signed head's or command's `issued_at` and still
// count as lying inside its window (cloud and gateway clocks differ a little).
inline constexpr std::chrono::seconds kSignedTimeSkew{3600};

// One reading of the gateway's clocks.
struct ClockReading {
  Instant wall;
  bool synced = false;  // the wall clock is disciplined (NTP/PTP): Clock::Synchronized()
  int64_t mono_ms = 0;  // a monotonic clock in milliseconds (any origin; only differences count)
};

// When to decide for one reading.
struct DecisionTime {
  Instant at;                      // decide (and timestamp events) at this instant; >= the floor
  std::optional<Instant> also_at;  // set: grant only when a grant at this instant agrees
  bool went_back = false;          // the wall clock is below the floor; the floor is used
  bool suspect = false;            // the wall clock is far ahead of the estimate; not believed
};

// The floor was lowered (replaced) by a trusted time.
struct FloorReset {
  Instant from;
  Instant to;
  std::string source;  // "synchronized clock" or "signed cloud time"
};

class TimeGuard {
 public:
  // `max_ahead`: how far an unsynchronized wall clock may run ahead of the estimate (and a floor
  // above a trusted time) before it is suspect. At least one second.
  void SetMaxAhead(std::chrono::seconds max_ahead);
  std::chrono::seconds max_ahead() const { return max_ahead_; }

  // Start-up: the floor persisted by an earlier run; the estimate starts there at `mono_ms`.
  void Restore(Instant last_known_good, int64_t mono_ms);
  // Raises the floor to `t` if above it, believing `t` (what-if tools and tests).
  void Raise(Instant t);

  // A reading of the clocks: raises the floor from a believed wall clock, replaces a floor far
  // above a synchronized one, and says when to decide.
  DecisionTime Observe(const ClockReading& r);
  // A time the cloud signed (verified): `expires_at` for heads and commands, nullopt for deltas.
  // Raises the floor and the estimate to `issued_at`; replaces a floor far above `r.wall` when the
  // wall lies inside [issued_at - kSignedTimeSkew, expires_at].
  void ObserveSigned(Instant issued_at, std::optional<Instant> expires_at, const ClockReading& r);

  Instant floor() const { return floor_; }
  // The latest believed time carried forward to `mono_ms`, never below the floor; the floor when
  // nothing was believed yet.
  Instant Estimate(int64_t mono_ms) const;
  // Whether a synchronized clock or a fresh signed time was seen since start-up.
  bool trusted_this_run() const { return trusted_; }
  // The floor reset since the last call, if any (the owner journals and persists it).
  std::optional<FloorReset> TakeFloorReset();

 private:
  void Anchor(Instant t, int64_t mono_ms);
  void Reset(Instant to, int64_t mono_ms, std::string source);

  std::chrono::seconds max_ahead_{std::chrono::hours(24 * kDefaultClockMaxAheadDays)};
  Instant floor_ = kInstantMin;
  std::optional<Instant> anchor_;  // the latest believed time ...
  int64_t anchor_mono_ms_ = 0;     // ... and the monotonic reading it was seen at
  std::optional<Instant> latest_signed_;
  bool trusted_ = false;
  std::optional<FloorReset> reset_;
};

}  // namespace lintel::rules
