#include "rules/engine.h"

#include <algorithm>
#include <optional>

namespace lintel::rules {
namespace {

std::string At(int64_t t) { return FormatRfc3339(FromUnix(t)); }

// Denials among access paths, most specific first.
int Rank(Reason r) {
  switch (r) {
    case Reason::kOutsideSchedule:
      return 0;
    case Reason::kRentOverdue:
      return 1;
    case Reason::kLeaseNotStarted:
      return 2;
    case Reason::kLeaseEnded:
      return 3;
    case Reason::kPersonSuspended:
      return 4;
    default:
      return 9;
  }
}

class Decider {
 public:
  Decider(const Index& x, Instant now, bool staff_only, Trace* trace,
          std::optional<DoorModeKind> local_mode = std::nullopt)
      : x_(x),
        now_(now),
        t_(ToUnix(now)),
        staff_only_(staff_only),
        trace_(trace),
        local_mode_(local_mode) {}

  // Details are built only when an explanation was asked for: the hot path allocates nothing.
  template <typename Detail>
  void Note(const char* name, bool passed, Detail&& detail) {
    if (trace_) trace_->push_back({name, passed, detail()});
  }

  Decision Run(const Request& req, int64_t locked_out_until) {
    d_.at = now_;
    uint32_t door = x_.FindDoor(req.door);
    if (door == kNone) {
      Note("door", false,
           [&] { return "door \"" + std::string(req.door) + "\" is not a door of this site"; });
      return Deny(Reason::kUnknownDoor);
    }
    door_ = static_cast<uint16_t>(door);
    Note("door", true, [&] { return "door " + std::string(req.door); });

    std::string why;
    CredentialKey key = KeyOf(req.credential, &why);
    if (key.empty()) {
      Note("format", false, [&] { return why; });
      return Deny(Reason::kBadFormat);
    }
    Note("format", true, [&] { return Describe(req.credential); });

    const DoorRec& dr = x_.doors()[door];
    bool mode_active = t_ < dr.mode_until;
    if (local_mode_ == DoorModeKind::kLockedDown) {
      Note("door_mode", false,
           [] { return std::string("door is locked down (local automation)"); });
      return Deny(Reason::kDoorLockedDown);
    }
    if (mode_active && dr.mode == DoorModeKind::kLockedDown) {
      Note("door_mode", false, [&] {
        return "door is locked down" +
               (dr.mode_until == INT64_MAX ? "" : " until " + At(dr.mode_until));
      });
      return Deny(Reason::kDoorLockedDown);
    }
    Note("door_mode", true,
         [&] { return std::string(DoorModeName(mode_active ? dr.mode : DoorModeKind::kNormal)); });

    if (req.credential.kind == PresentedKind::kPin) {
      if (t_ < locked_out_until) {
        Note("keypad_lockout", false,
             [&] { return "keypad locked out until " + At(locked_out_until); });
        return Deny(Reason::kKeypadLockedOut);
      }
      Note("keypad_lockout", true, [] { return std::string("keypad not locked out"); });
    }

    uint32_t c = PickCredential(x_.FindCredentialByKey(key));
    if (c == kNone) {
      Note("credential", false, [&] { return "no credential matches " + DescribeKey(key); });
      return Deny(Reason::kUnknownCredential);
    }
    const CredentialRec& cr = x_.credentials()[c];
    if (cr.person == kNone || x_.people()[cr.person].dead) {
      // Not reachable in a valid state (a delta deleting a holder must delete its credentials).
      Note("credential", false, [&] { return "no credential matches " + DescribeKey(key); });
      return Deny(Reason::kUnknownCredential);
    }
    d_.credential = x_.str(cr.id);
    const PersonRec& holder = x_.people()[cr.person];
    d_.person = x_.str(holder.id);
    Note("credential", true,
         [&] { return "credential " + d_.credential + " of person " + d_.person; });

    if (cr.status != CredentialStatus::kActive) {
      Note("credential_status", false,
           [&] { return std::string(CredentialStatusName(cr.status)); });
      return Deny(cr.status == CredentialStatus::kRevoked ? Reason::kCredentialRevoked
                                                          : Reason::kCredentialSuspended);
    }
    Note("credential_status", true, [] { return std::string("active"); });
    if (t_ < cr.valid_from) {
      Note("credential_validity", false, [&] { return "valid from " + At(cr.valid_from); });
      return Deny(Reason::kCredentialNotYetValid);
    }
    if (t_ >= cr.valid_until) {
      Note("credential_validity", false, [&] { return "expired at " + At(cr.valid_until); });
      return Deny(Reason::kCredentialExpired);
    }
    Note("credential_validity", true, [&] {
      return cr.valid_until == INT64_MAX ? std::string("no end")
                                         : "valid until " + At(cr.valid_until);
    });

    if (holder.status != PersonStatus::kActive) {
      Note("person_status", false, [&] { return "person " + d_.person + " is suspended"; });
      return Deny(Reason::kPersonSuspended);
    }
    Note("person_status", true, [&] { return "person " + d_.person + " is active"; });
    if (staff_only_ && holder.role != Role::kStaff) {
      Note("offline_policy", false, [&] {
        return std::string("no fresh cloud head for too long: only staff are admitted");
      });
      return Deny(Reason::kOfflineStaffOnly);
    }

    // Access paths: the holder's own, then up the primary chain while `inherit` is set.
    uint32_t subject = cr.person;
    bool any_path = false;
    for (int depth = 0; subject != kNone && depth < 8; ++depth) {
      const PersonRec& p = x_.people()[subject];
      uint32_t via = depth > 0 ? subject : kNone;
      if (depth > 0 && p.status != PersonStatus::kActive) {
        Consider(Reason::kPersonSuspended, kNone, kNone, via, [&] {
          return "primary " + std::string(x_.str(p.id)) + " is suspended: no inherited access";
        });
        break;
      }
      any_path |= p.groups_count > 0 || p.leases_count > 0;
      if (TryGroups(p.groups, p.groups_count, kNone, via)) return Grant();
      for (uint16_t i = 0; i < p.leases_count; ++i) {
        if (TryLease(x_.refs(p.leases)[i], via)) return Grant();
      }
      subject = p.inherit ? p.primary : kNone;
      if (subject != kNone && x_.people()[subject].dead) subject = kNone;
    }
    if (best_ != Reason::kUnknownCredential) {
      SetPath(best_lease_, best_group_, best_via_);
      Note("decision", false, [&] { return best_detail_; });
      return Deny(best_);
    }
    if (!any_path) {
      Note("access", false,
           [&] { return "person " + d_.person + " has no lease and no access groups"; });
      return Deny(Reason::kNoActiveLease);
    }
    Note("access", false, [&] {
      return "no access group of person " + d_.person + " includes door " + std::string(req.door);
    });
    return Deny(Reason::kNoAccessToDoor);
  }

 private:
  // Prefers, among credentials sharing the key: one whose window holds now and is not revoked;
  // then one revoked within its window; then the next future one; then the last past one.
  uint32_t PickCredential(uint32_t head) const {
    uint32_t revoked_now = kNone, future = kNone, past = kNone;
    for (uint32_t c = head; c != kNone; c = x_.credentials()[c].next_same_key) {
      const CredentialRec& r = x_.credentials()[c];
      bool inside = r.valid_from <= t_ && t_ < r.valid_until;
      if (inside && r.status != CredentialStatus::kRevoked) return c;
      if (inside) {
        revoked_now = c;
      } else if (t_ < r.valid_from) {
        if (future == kNone) future = c;
      } else {
        past = c;
      }
    }
    return revoked_now != kNone ? revoked_now : future != kNone ? future : past;
  }

  // The site's local time of `now`, converted at most once per decision.
  const LocalTime& Local() {
    if (!local_) local_ = x_.site().zone->ToLocal(now_);
    return *local_;
  }

  bool DoorIn(const GroupRec& g) const {
    return std::binary_search(g.doors.begin(), g.doors.end(), door_);
  }

  std::string Owner(uint32_t lease, uint32_t via) const {
    if (lease != kNone) return "lease " + std::string(x_.str(x_.leases()[lease].id));
    return "person " + (via != kNone ? std::string(x_.str(x_.people()[via].id)) : d_.person);
  }

  // Tries each group (row numbers in refs at `off`); true when one includes the door and is open.
  bool TryGroups(uint32_t off, uint16_t n, uint32_t lease, uint32_t via) {
    for (uint16_t i = 0; i < n; ++i) {
      uint32_t gno = x_.refs(off)[i];
      const GroupRec& g = x_.groups()[gno];
      if (!DoorIn(g)) continue;
      if (g.schedule == 0 || x_.ScheduleOpen(g.schedule, Local())) {  // 0 = "always"
        SetPath(lease, gno, via);
        Note("access", true, [&] {
          return Owner(lease, via) + " -> group " + std::string(x_.str(g.id)) +
                 " includes the door and is open now";
        });
        return true;
      }
      Consider(Reason::kOutsideSchedule, lease, gno, via, [&] {
        std::string schedule = g.schedule == kNone
                                   ? std::string("(missing)")
                                   : std::string(x_.str(x_.schedules()[g.schedule].id));
        return Owner(lease, via) + " -> group " + std::string(x_.str(g.id)) + ": schedule " +
               schedule + " is closed now";
      });
    }
    return false;
  }

  bool TryLease(uint32_t l, uint32_t via) {
    const LeaseRec& lease = x_.leases()[l];
    if (lease.dead) return false;
    bool covers = false;
    for (uint16_t i = 0; i < lease.groups_count && !covers; ++i) {
      covers = DoorIn(x_.groups()[x_.refs(lease.groups)[i]]);
    }
    if (!covers) return false;
    auto lid = [&] { return std::string(x_.str(lease.id)); };
    if (t_ < lease.starts_at) {
      Consider(Reason::kLeaseNotStarted, l, kNone, via,
               [&] { return "lease " + lid() + " starts at " + At(lease.starts_at); });
      return false;
    }
    if (t_ >= lease.ends_at) {
      Consider(Reason::kLeaseEnded, l, kNone, via,
               [&] { return "lease " + lid() + " ended at " + At(lease.ends_at); });
      return false;
    }
    if (t_ >= lease.paid_until) {
      Consider(Reason::kRentOverdue, l, kNone, via, [&] {
        return "lease " + lid() + ": rent paid only until " + At(lease.paid_until) +
               " (paid_through + grace)";
      });
      return false;
    }
    Note("lease", true, [&] { return "lease " + lid() + " is running and paid"; });
    return TryGroups(lease.groups, lease.groups_count, l, via);
  }

  template <typename Detail>
  void Consider(Reason r, uint32_t lease, uint32_t group, uint32_t via, Detail&& detail) {
    bool better = best_ == Reason::kUnknownCredential || Rank(r) < Rank(best_);
    if (!trace_ && !better) return;
    std::string text = trace_ ? detail() : std::string();
    if (trace_) trace_->push_back({std::string(ReasonName(r)), false, text});
    if (better) {
      best_ = r;
      best_lease_ = lease;
      best_group_ = group;
      best_via_ = via;
      best_detail_ = std::move(text);
    }
  }

  void SetPath(uint32_t lease, uint32_t group, uint32_t via) {
    if (lease != kNone) d_.lease = x_.str(x_.leases()[lease].id);
    if (group != kNone) d_.group = x_.str(x_.groups()[group].id);
    if (via != kNone) d_.via = x_.str(x_.people()[via].id);
  }

  Decision Deny(Reason r) {
    d_.granted = false;
    d_.reason = r;
    return std::move(d_);
  }

  Decision Grant() {
    d_.granted = true;
    d_.reason = Reason::kGranted;
    return std::move(d_);
  }

  const Index& x_;
  Instant now_;
  int64_t t_;
  bool staff_only_;
  Trace* trace_;
  std::optional<DoorModeKind> local_mode_;
  uint16_t door_ = 0;
  std::optional<LocalTime> local_;
  Decision d_;
  Reason best_ = Reason::kUnknownCredential;  // "none yet"
  uint32_t best_lease_ = kNone, best_group_ = kNone, best_via_ = kNone;
  std::string best_detail_;
};

}  // namespace

std::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kGranted:
      return "granted";
    case Reason::kUnknownCredential:
      return "unknown_credential";
    case Reason::kCredentialRevoked:
      return "credential_revoked";
    case Reason::kCredentialSuspended:
      return "credential_suspended";
    case Reason::kCredentialNotYetValid:
      return "credential_not_yet_valid";
    case Reason::kCredentialExpired:
      return "credential_expired";
    case Reason::kPersonSuspended:
      return "person_suspended";
    case Reason::kNoActiveLease:
      return "no_active_lease";
    case Reason::kLeaseNotStarted:
      return "lease_not_started";
    case Reason::kLeaseEnded:
      return "lease_ended";
    case Reason::kRentOverdue:
      return "rent_overdue";
    case Reason::kNoAccessToDoor:
      return "no_access_to_door";
    case Reason::kOutsideSchedule:
      return "outside_schedule";
    case Reason::kDoorLockedDown:
      return "door_locked_down";
    case Reason::kKeypadLockedOut:
      return "keypad_locked_out";
    case Reason::kBadFormat:
      return "bad_format";
    case Reason::kUnknownDoor:
      return "unknown_door";
    case Reason::kOfflineStaffOnly:
      return "offline_staff_only";
  }
  return "unknown";
}

Decision DecideWith(const Index& index, const Request& request, Instant now,
                    int64_t locked_out_until, Trace* trace, bool staff_only,
                    std::optional<DoorModeKind> local_mode) {
  return Decider(index, now, staff_only, trace, local_mode).Run(request, locked_out_until);
}

void Engine::SetLocalDoorMode(std::string_view door, std::optional<DoorModeKind> mode) {
  if (mode) {
    local_modes_[std::string(door)] = *mode;
  } else {
    local_modes_.erase(std::string(door));
  }
}

std::optional<DoorModeKind> Engine::LocalDoorMode(std::string_view door) const {
  if (local_modes_.empty()) return std::nullopt;  // the hot path: no map lookup
  auto it = local_modes_.find(door);
  return it == local_modes_.end() ? std::nullopt : std::optional<DoorModeKind>(it->second);
}

int64_t KeypadLockout::LockedUntil(std::string_view reader) const {
  auto it = readers_.find(std::string(reader));
  return it == readers_.end() ? INT64_MIN : it->second.locked_until;
}

bool KeypadLockout::Record(std::string_view reader, const Decision& d, Instant now) {
  if (policy_.lockout_failures <= 0) return false;
  int64_t t = ToUnix(now);
  if (d.granted) {
    readers_.erase(std::string(reader));
    return false;
  }
  if (d.reason != Reason::kUnknownCredential && d.reason != Reason::kBadFormat) return false;
  ReaderState& s = readers_[std::string(reader)];
  s.failures.push_back(t);
  while (!s.failures.empty() && s.failures.front() <= t - policy_.lockout_window_s) {
    s.failures.pop_front();
  }
  if (static_cast<int32_t>(s.failures.size()) >= policy_.lockout_failures) {
    s.failures.clear();
    s.locked_until = t + policy_.lockout_s;
    return true;
  }
  return false;
}

Engine::Engine(std::shared_ptr<const Index> index)
    : index_(std::move(index)), lockout_(index_->site().policy) {
  time_.SetMaxAhead(std::chrono::hours(24) * index_->site().policy.clock_max_ahead_days);
}

void Engine::SwapIndex(std::shared_ptr<const Index> index) {
  index_ = std::move(index);
  lockout_.SetPolicy(index_->site().policy);
  time_.SetMaxAhead(std::chrono::hours(24) * index_->site().policy.clock_max_ahead_days);
}

Instant Engine::EffectiveNow(Instant wall, bool* went_back) {
  if (went_back) *went_back = wall < time_.floor();
  time_.Raise(wall);
  return time_.floor();
}

Decision Engine::Decide(const Request& request, Instant wall_now, Trace* trace) {
  DecisionTime t;
  t.at = EffectiveNow(wall_now, &t.went_back);
  return DecideAt(request, t, trace);
}

Decision Engine::Decide(const Request& request, const ClockReading& reading, Trace* trace) {
  return DecideAt(request, Now(reading), trace);
}

Decision Engine::DecideAt(const Request& request, const DecisionTime& t, Trace* trace) {
  std::string_view reader = request.reader.empty() ? request.door : request.reader;
  bool pin = request.credential.kind == PresentedKind::kPin;
  int64_t locked_until = pin ? lockout_.LockedUntil(reader) : INT64_MIN;
  std::optional<DoorModeKind> local = LocalDoorMode(request.door);
  Decision d = DecideWith(*index_, request, t.at, locked_until, trace, staff_only_, local);
  if (d.granted && t.also_at) {
    // Fail secure while the clock is suspect: the suspect wall time must agree.
    Decision at_wall =
        DecideWith(*index_, request, *t.also_at, locked_until, nullptr, staff_only_, local);
    if (trace) {
      trace->push_back({"suspect_clock", at_wall.granted,
                        "the wall clock " + FormatRfc3339(*t.also_at) +
                            " is far ahead of trusted time; at that time: " +
                            std::string(ReasonName(at_wall.reason))});
    }
    if (!at_wall.granted) d = std::move(at_wall);
  }
  d.clock_went_back = t.went_back;
  d.clock_suspect = t.suspect;
  if (pin && d.reason != Reason::kKeypadLockedOut && d.reason != Reason::kUnknownDoor) {
    d.lockout_started = lockout_.Record(reader, d, t.at);
  }
  return d;
}

Decision Engine::Evaluate(const Request& request, Instant at, Trace* trace) const {
  std::string_view reader = request.reader.empty() ? request.door : request.reader;
  bool pin = request.credential.kind == PresentedKind::kPin;
  return DecideWith(*index_, request, at, pin ? lockout_.LockedUntil(reader) : INT64_MIN, trace,
                    staff_only_, LocalDoorMode(request.door));
}

}  // namespace lintel::rules
