#include "rules/engine.h"

#include <algorithm>

namespace lintel::rules {
namespace {

std::string At(int64_t t) { return FormatRfc3339(FromUnix(t)); }

// Denials among access paths, most specific first.
int Rank(Reason r) {
  switch (r) {
    case Reason::kOutsideSchedule: return 0;
    case Reason::kRentOverdue: return 1;
    case Reason::kLeaseNotStarted: return 2;
    case Reason::kLeaseEnded: return 3;
    case Reason::kPersonSuspended: return 4;
    default: return 9;
  }
}

class Decider {
 public:
  Decider(const Index& x, Instant now, Trace* trace)
      : x_(x), now_(now), t_(ToUnix(now)), trace_(trace) {}

  void Note(std::string name, bool passed, std::string detail) {
    if (trace_) trace_->push_back({std::move(name), passed, std::move(detail)});
  }

  Decision Deny(Reason r) {
    d_.granted = false;
    d_.reason = r;
    return std::move(d_);
  }

  Decision Run(const Request& req, int64_t locked_out_until) {
    d_.at = now_;
    uint32_t door = x_.FindDoor(req.door);
    if (door == kNone) {
      Note("door", false, "door \"" + std::string(req.door) + "\" is not a door of this site");
      return Deny(Reason::kUnknownDoor);
    }
    door_ = static_cast<uint16_t>(door);
    Note("door", true, "door " + std::string(req.door));

    std::string why;
    CredentialKey key = KeyOf(req.credential, &why);
    if (key.empty()) {
      Note("format", false, why);
      return Deny(Reason::kBadFormat);
    }
    Note("format", true, Describe(req.credential));

    const DoorRec& dr = x_.doors()[door];
    bool mode_active = t_ < dr.mode_until;
    if (mode_active && dr.mode == DoorModeKind::kLockedDown) {
      Note("door_mode", false, "door is locked down" +
                                   (dr.mode_until == INT64_MAX ? "" : " until " + At(dr.mode_until)));
      return Deny(Reason::kDoorLockedDown);
    }
    Note("door_mode", true, std::string(DoorModeName(mode_active ? dr.mode : DoorModeKind::kNormal)));

    if (req.credential.kind == PresentedKind::kPin) {
      if (t_ < locked_out_until) {
        Note("keypad_lockout", false, "keypad locked out until " + At(locked_out_until));
        return Deny(Reason::kKeypadLockedOut);
      }
      Note("keypad_lockout", true, "keypad not locked out");
    }

    uint32_t c = PickCredential(x_.FindCredentialByKey(key));
    if (c == kNone) {
      Note("credential", false, "no credential matches " + DescribeKey(key));
      return Deny(Reason::kUnknownCredential);
    }
    const CredentialRec& cr = x_.credentials()[c];
    d_.credential = x_.str(cr.id);
    const PersonRec& holder = x_.people()[cr.person];
    d_.person = x_.str(holder.id);
    Note("credential", true, "credential " + d_.credential + " of person " + d_.person);

    if (cr.status != CredentialStatus::kActive) {
      Note("credential_status", false, std::string(CredentialStatusName(cr.status)));
      return Deny(cr.status == CredentialStatus::kRevoked ? Reason::kCredentialRevoked
                                                          : Reason::kCredentialSuspended);
    }
    Note("credential_status", true, "active");
    if (t_ < cr.valid_from) {
      Note("credential_validity", false, "valid from " + At(cr.valid_from));
      return Deny(Reason::kCredentialNotYetValid);
    }
    if (t_ >= cr.valid_until) {
      Note("credential_validity", false, "expired at " + At(cr.valid_until));
      return Deny(Reason::kCredentialExpired);
    }
    Note("credential_validity", true,
         cr.valid_until == INT64_MAX ? "no end" : "valid until " + At(cr.valid_until));

    if (holder.status != PersonStatus::kActive) {
      Note("person_status", false, "person " + d_.person + " is suspended");
      return Deny(Reason::kPersonSuspended);
    }
    Note("person_status", true, "person " + d_.person + " is active");

    // Access paths: the holder's own, then up the primary chain while `inherit` is set.
    uint32_t subject = cr.person;
    bool any_path = false;
    for (int depth = 0; subject != kNone && depth < 8; ++depth) {
      const PersonRec& p = x_.people()[subject];
      std::string pid(x_.str(p.id));
      if (depth > 0 && p.status != PersonStatus::kActive) {
        Consider(Reason::kPersonSuspended, "", "", pid,
                 "primary " + pid + " is suspended: no inherited access");
        break;
      }
      any_path |= p.groups_count > 0 || p.leases_count > 0;
      if (TryGroups(p.groups, p.groups_count, "", depth > 0 ? pid : "", "person " + pid)) {
        return Grant();
      }
      for (uint16_t i = 0; i < p.leases_count; ++i) {
        if (TryLease(x_.refs(p.leases)[i], depth > 0 ? pid : "")) return Grant();
      }
      subject = p.inherit ? p.primary : kNone;
    }
    if (best_ != Reason::kUnknownCredential) {
      d_.lease = best_lease_;
      d_.group = best_group_;
      d_.via = best_via_;
      Note("decision", false, best_detail_);
      return Deny(best_);
    }
    if (!any_path) {
      Note("access", false, "person " + d_.person + " has no lease and no access groups");
      return Deny(Reason::kNoActiveLease);
    }
    Note("access", false, "no access group of person " + d_.person + " includes door " +
                              std::string(req.door));
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

  bool DoorIn(const GroupRec& g) const {
    return std::binary_search(g.doors.begin(), g.doors.end(), door_);
  }

  // Tries each group (row numbers in refs at `off`); true when one includes the door and is open.
  bool TryGroups(uint32_t off, uint16_t n, const std::string& lease, const std::string& via,
                 const std::string& owner) {
    for (uint16_t i = 0; i < n; ++i) {
      const GroupRec& g = x_.groups()[x_.refs(off)[i]];
      if (!DoorIn(g)) continue;
      std::string gid(x_.str(g.id));
      if (x_.ScheduleOpen(g.schedule, now_)) {
        d_.group = gid;
        d_.lease = lease;
        d_.via = via;
        Note("access", true, owner + " -> group " + gid + " includes the door and is open now");
        return true;
      }
      Consider(Reason::kOutsideSchedule, lease, gid, via,
               owner + " -> group " + gid + ": schedule " +
                   (g.schedule == kNone ? std::string("(missing)")
                                        : std::string(x_.str(x_.schedules()[g.schedule].id))) +
                   " is closed now");
    }
    return false;
  }

  bool TryLease(uint32_t l, const std::string& via) {
    const LeaseRec& lease = x_.leases()[l];
    bool covers = false;
    for (uint16_t i = 0; i < lease.groups_count && !covers; ++i) {
      covers = DoorIn(x_.groups()[x_.refs(lease.groups)[i]]);
    }
    if (!covers) return false;
    std::string lid(x_.str(lease.id));
    if (t_ < lease.starts_at) {
      Consider(Reason::kLeaseNotStarted, lid, "", via,
               "lease " + lid + " starts at " + At(lease.starts_at));
      return false;
    }
    if (t_ >= lease.ends_at) {
      Consider(Reason::kLeaseEnded, lid, "", via, "lease " + lid + " ended at " + At(lease.ends_at));
      return false;
    }
    if (t_ >= lease.paid_until) {
      Consider(Reason::kRentOverdue, lid, "", via,
               "lease " + lid + ": rent paid only until " + At(lease.paid_until) +
                   " (paid_through + grace)");
      return false;
    }
    Note("lease", true, "lease " + lid + " is running and paid");
    return TryGroups(lease.groups, lease.groups_count, lid, via, "lease " + lid);
  }

  void Consider(Reason r, const std::string& lease, const std::string& group,
                const std::string& via, std::string detail) {
    Note(std::string(ReasonName(r)), false, detail);
    if (best_ == Reason::kUnknownCredential || Rank(r) < Rank(best_)) {
      best_ = r;
      best_lease_ = lease;
      best_group_ = group;
      best_via_ = via;
      best_detail_ = std::move(detail);
    }
  }

  Decision Grant() {
    d_.granted = true;
    d_.reason = Reason::kGranted;
    return std::move(d_);
  }

  const Index& x_;
  Instant now_;
  int64_t t_;
  Trace* trace_;
  uint16_t door_ = 0;
  Decision d_;
  Reason best_ = Reason::kUnknownCredential;  // "none yet"
  std::string best_lease_, best_group_, best_via_, best_detail_;
};

}  // namespace

std::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kGranted: return "granted";
    case Reason::kUnknownCredential: return "unknown_credential";
    case Reason::kCredentialRevoked: return "credential_revoked";
    case Reason::kCredentialSuspended: return "credential_suspended";
    case Reason::kCredentialNotYetValid: return "credential_not_yet_valid";
    case Reason::kCredentialExpired: return "credential_expired";
    case Reason::kPersonSuspended: return "person_suspended";
    case Reason::kNoActiveLease: return "no_active_lease";
    case Reason::kLeaseNotStarted: return "lease_not_started";
    case Reason::kLeaseEnded: return "lease_ended";
    case Reason::kRentOverdue: return "rent_overdue";
    case Reason::kNoAccessToDoor: return "no_access_to_door";
    case Reason::kOutsideSchedule: return "outside_schedule";
    case Reason::kDoorLockedDown: return "door_locked_down";
    case Reason::kKeypadLockedOut: return "keypad_locked_out";
    case Reason::kBadFormat: return "bad_format";
    case Reason::kUnknownDoor: return "unknown_door";
  }
  return "unknown";
}

Decision DecideWith(const Index& index, const Request& request, Instant now,
                    int64_t locked_out_until, Trace* trace) {
  return Decider(index, now, trace).Run(request, locked_out_until);
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
    : index_(std::move(index)), lockout_(index_->site().policy) {}

void Engine::SwapIndex(std::shared_ptr<const Index> index) {
  index_ = std::move(index);
  lockout_.SetPolicy(index_->site().policy);
}

void Engine::RaiseTimeFloor(Instant t) { floor_ = std::max(floor_, t); }

Instant Engine::EffectiveNow(Instant wall, bool* went_back) {
  if (went_back) *went_back = wall < floor_;
  floor_ = std::max(floor_, wall);
  return floor_;
}

Decision Engine::Decide(const Request& request, Instant wall_now, Trace* trace) {
  bool went_back = false;
  Instant now = EffectiveNow(wall_now, &went_back);
  std::string_view reader = request.reader.empty() ? request.door : request.reader;
  bool pin = request.credential.kind == PresentedKind::kPin;
  Decision d = DecideWith(*index_, request, now, pin ? lockout_.LockedUntil(reader) : INT64_MIN,
                          trace);
  d.clock_went_back = went_back;
  if (pin && d.reason != Reason::kKeypadLockedOut && d.reason != Reason::kUnknownDoor) {
    d.lockout_started = lockout_.Record(reader, d, now);
  }
  return d;
}

Decision Engine::Evaluate(const Request& request, Instant at, Trace* trace) const {
  std::string_view reader = request.reader.empty() ? request.door : request.reader;
  bool pin = request.credential.kind == PresentedKind::kPin;
  return DecideWith(*index_, request, at, pin ? lockout_.LockedUntil(reader) : INT64_MIN, trace);
}

}  // namespace lintel::rules
