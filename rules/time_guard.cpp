#include "rules/time_guard.h"

#include <algorithm>

namespace lintel::rules {

void TimeGuard::SetMaxAhead(std::chrono::seconds max_ahead) {
  max_ahead_ = std::max(max_ahead, std::chrono::seconds(1));
}

void TimeGuard::Restore(Instant last_known_good, int64_t mono_ms) {
  floor_ = std::max(floor_, last_known_good);
  Anchor(floor_, mono_ms);
}

void TimeGuard::Raise(Instant t) { floor_ = std::max(floor_, t); }

Instant TimeGuard::Estimate(int64_t mono_ms) const {
  if (!anchor_) return floor_;
  int64_t elapsed_s = std::max<int64_t>(0, mono_ms - anchor_mono_ms_) / 1000;
  return std::max(floor_, *anchor_ + std::chrono::seconds(elapsed_s));
}

void TimeGuard::Anchor(Instant t, int64_t mono_ms) {
  anchor_ = t;
  anchor_mono_ms_ = mono_ms;
}

void TimeGuard::Reset(Instant to, int64_t mono_ms, std::string source) {
  // A second reset before the owner took the first keeps the first `from` (the persisted floor).
  Instant from = reset_ ? reset_->from : floor_;
  floor_ = to;
  Anchor(to, mono_ms);
  trusted_ = true;
  reset_ = FloorReset{from, to, std::move(source)};
}

DecisionTime TimeGuard::Observe(const ClockReading& r) {
  if (r.synced) {
    // A synchronized clock far below the floor: the floor is what is wrong, unless a signed cloud
    // time seen in this run says the synchronized clock is the one that is behind.
    bool contradicted = latest_signed_ && *latest_signed_ > r.wall + max_ahead_;
    if (floor_ > r.wall + max_ahead_ && !contradicted) {
      Reset(r.wall, r.mono_ms, "synchronized clock");
    }
    trusted_ = true;
    DecisionTime d{std::max(floor_, r.wall), std::nullopt, r.wall < floor_, false};
    floor_ = d.at;
    Anchor(r.wall, r.mono_ms);
    return d;
  }
  Instant estimate = Estimate(r.mono_ms);
  bool have_reference = anchor_.has_value() || floor_ != kInstantMin;
  if (have_reference && r.wall > estimate + max_ahead_) {
    DecisionTime d;
    d.at = estimate;
    d.suspect = true;
    if (!trusted_) d.also_at = r.wall;
    return d;
  }
  DecisionTime d{std::max(floor_, r.wall), std::nullopt, r.wall < floor_, false};
  if (r.wall >= floor_) {
    floor_ = r.wall;
    Anchor(std::max(r.wall, estimate), r.mono_ms);
  }
  return d;
}

void TimeGuard::ObserveSigned(Instant issued_at, std::optional<Instant> expires_at,
                              const ClockReading& r) {
  latest_signed_ = std::max(latest_signed_.value_or(kInstantMin), issued_at);
  bool wall_in_window =
      expires_at && r.wall >= issued_at - kSignedTimeSkew && r.wall <= *expires_at;
  if (wall_in_window && floor_ > r.wall + max_ahead_) {
    Reset(issued_at, r.mono_ms, "signed cloud time");
    return;
  }
  if (issued_at >= Estimate(r.mono_ms)) {
    // Fresh: at or past everything believed so far (a replayed old message never is).
    trusted_ = true;
    Anchor(issued_at, r.mono_ms);
  }
  floor_ = std::max(floor_, issued_at);
}

std::optional<FloorReset> TimeGuard::TakeFloorReset() {
  std::optional<FloorReset> r = std::move(reset_);
  reset_.reset();
  return r;
}

}  // namespace lintel::rules
