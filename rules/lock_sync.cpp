#include "rules/lock_sync.h"

#include <algorithm>
#include <array>
#include <utility>

#include "gateway/base/base64.h"

namespace lintel::rules {
namespace {

std::string At(int64_t t) { return FormatRfc3339(FromUnix(t)); }
std::optional<Instant> OptFrom(int64_t t) {
  return t == INT64_MIN ? std::nullopt : std::optional<Instant>(FromUnix(t));
}
std::optional<Instant> OptUntil(int64_t t) {
  return t == INT64_MAX ? std::nullopt : std::optional<Instant>(FromUnix(t));
}
int64_t FromOr(const std::optional<Instant>& t) { return t ? ToUnix(*t) : INT64_MIN; }

// `s` cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

// ---- schedules --------------------------------------------------------------------------------

// How a schedule fits a lock's one weekday set and one time of day.
struct LockSchedule {
  enum class Fit : uint8_t { kExact, kNever, kInexact };
  Fit fit = Fit::kExact;
  bool always = false;  // no limit at all
  uint8_t weekdays = 0;
  uint16_t from_min = 0;
  uint16_t until_min = 0;
  std::string why;  // kNever, kInexact

  // Admits everything `o` admits (both exact)?
  bool Covers(const LockSchedule& o) const {
    return always || (weekdays == o.weekdays && from_min == o.from_min && until_min == o.until_min);
  }
};

LockSchedule Fit(const Index& x, uint32_t s, int32_t first_day, int32_t last_day) {
  LockSchedule out;
  if (s == 0) {
    out.always = true;
    return out;
  }
  if (s >= x.schedules().size()) {
    out.fit = LockSchedule::Fit::kNever;
    out.why = "the group's schedule does not exist (never open)";
    return out;
  }
  const ScheduleRec& rec = x.schedules()[s];
  std::string id(x.str(rec.id));
  // Exceptions are sorted by date: one dated inside [first_day, last_day] changes that day.
  auto ex = std::lower_bound(rec.exceptions.begin(), rec.exceptions.end(), first_day,
                             [](const ScheduleException& e, int32_t d) { return e.date < d; });
  if (ex != rec.exceptions.end() && ex->date <= last_day) {
    CivilDate d = CivilFromDays(ex->date);
    out.fit = LockSchedule::Fit::kInexact;
    out.why = "schedule " + id + " has an exception (holiday) on " + std::to_string(d.year) + "-" +
              (d.month < 10 ? "0" : "") + std::to_string(d.month) + "-" + (d.day < 10 ? "0" : "") +
              std::to_string(d.day) + "; a lock knows none";
    return out;
  }
  // Each weekday's open intervals, touching windows joined.
  struct Interval {
    uint16_t from, to;
    bool operator==(const Interval&) const = default;
    bool operator<(const Interval& o) const { return from != o.from ? from < o.from : to < o.to; }
  };
  std::array<std::vector<Interval>, 7> days;
  for (unsigned d = 0; d < 7; ++d) {
    std::vector<Interval> w;
    for (const Window& win : rec.windows) {
      if ((win.days >> d & 1) && win.from_min < win.to_min) w.push_back({win.from_min, win.to_min});
    }
    std::sort(w.begin(), w.end());
    for (const Interval& i : w) {
      if (!days[d].empty() && i.from <= days[d].back().to) {
        days[d].back().to = std::max(days[d].back().to, i.to);
      } else {
        days[d].push_back(i);
      }
    }
  }
  std::vector<Interval> distinct;
  uint8_t model_days = 0;
  for (unsigned d = 0; d < 7; ++d) {
    if (days[d].size() > 1) {
      out.fit = LockSchedule::Fit::kInexact;
      out.why = "schedule " + id + " has " + std::to_string(days[d].size()) + " windows on " +
                std::string(WeekdayName(d)) + "; a lock holds one";
      return out;
    }
    if (days[d].empty()) continue;
    model_days |= static_cast<uint8_t>(1u << d);
    if (std::find(distinct.begin(), distinct.end(), days[d][0]) == distinct.end()) {
      distinct.push_back(days[d][0]);
    }
  }
  if (distinct.empty()) {
    out.fit = LockSchedule::Fit::kNever;
    out.why = "schedule " + id + " never opens";
    return out;
  }
  if (distinct.size() > 1) {
    out.fit = LockSchedule::Fit::kInexact;
    out.why = "schedule " + id + " has " + std::to_string(distinct.size()) +
              " different windows; a lock holds one";
    return out;
  }
  Interval i = distinct[0];
  out.weekdays = LockWeekdays(model_days);
  if (i.from == 0 && i.to == 1440) {
    out.always = out.weekdays == 0;
    return out;  // all day: 0/0
  }
  out.from_min = i.from;
  out.until_min = std::min<uint16_t>(i.to, 1439);  // 24:00 -> 23:59 (narrower, never wider)
  if (out.until_min <= out.from_min) {
    out.fit = LockSchedule::Fit::kInexact;
    out.why = "schedule " + id + " opens only from " + FormatHhMm(i.from) +
              " to 24:00; a lock's day ends at 23:59";
  }
  return out;
}

// ---- access paths -----------------------------------------------------------------------------

struct Path {
  int64_t from = INT64_MIN;
  int64_t until = INT64_MAX;
  uint32_t schedule = 0;
  uint32_t lease = kNone;  // kNone: a direct group
  uint32_t group = kNone;
  LockSchedule fit;
};

class Planner {
 public:
  Planner(const Index& x, uint16_t door, Instant now, const LockCodeRules& rules)
      : x_(x), door_(door), now_(ToUnix(now)), rules_(rules) {
    group_has_door_.resize(x.groups().size());
    for (size_t g = 0; g < x.groups().size(); ++g) {
      const GroupRec& rec = x.groups()[g];
      group_has_door_[g] = std::binary_search(rec.doors.begin(), rec.doors.end(), door);
    }
    const DoorRec& d = x.doors()[door];
    if (d.mode == DoorModeKind::kLockedDown && now_ < d.mode_until) {
      lockdown_until_ = d.mode_until;
      Boundary(d.mode_until);
    }
  }

  void Credential(uint32_t c, LockEntry::Kind kind, const BleKeyRec* ble) {
    const CredentialRec& cr = x_.credentials()[c];
    if (cr.person == kNone || cr.status != CredentialStatus::kActive) return;
    const PersonRec& holder = x_.people()[cr.person];
    if (holder.dead || holder.status != PersonStatus::kActive) return;
    Walk(cr);
    if (paths_.empty()) return;  // no access path to the door at all

    LockEntry e;
    e.kind = kind;
    e.credential = x_.str(cr.id);
    e.person = x_.str(holder.id);
    auto skip = [&](SkippedEntry::Why why, std::string reason) {
      out_.skipped.push_back({e.credential, e.person, why, std::move(reason)});
    };

    // 1. Windows that can still admit, with a schedule that opens. When none is left, the most
    // telling reason: a lockdown (it would work otherwise), a schedule that never opens, an empty
    // window, else the window that ended last.
    std::vector<Path*> live;
    const Path* ended = nullptr;
    const Path* empty = nullptr;
    const Path* never_open = nullptr;
    const Path* locked = nullptr;
    for (Path& p : paths_) {
      Boundary(p.from);
      Boundary(p.until);
      if (p.until <= now_) {
        if (!ended || p.until > ended->until) ended = &p;
        continue;
      }
      if (p.from >= p.until) {
        empty = &p;
        continue;
      }
      if (lockdown_until_ != INT64_MIN && lockdown_until_ > p.from) {
        p.from = lockdown_until_;
        if (p.from >= p.until) {
          locked = &p;
          continue;
        }
      }
      int32_t first = x_.site().zone->ToLocal(FromUnix(std::max(p.from, now_))).days;
      int32_t last =
          p.until == INT64_MAX ? INT32_MAX : x_.site().zone->ToLocal(FromUnix(p.until - 1)).days;
      p.fit = Fit(x_, p.schedule, first, last);
      if (p.fit.fit == LockSchedule::Fit::kNever) {
        never_open = &p;
        continue;
      }
      live.push_back(&p);
    }
    if (live.empty()) {
      if (locked) {
        skip(SkippedEntry::Why::kDoorLockedDown,
             "door " + x_.doors()[door_].id + " is locked down " +
                 (lockdown_until_ == INT64_MAX ? std::string("with no end")
                                               : "until " + At(lockdown_until_) +
                                                     ", when the credential's window has ended"));
      } else if (never_open) {
        skip(SkippedEntry::Why::kSchedule, never_open->fit.why);
      } else if (empty) {
        skip(SkippedEntry::Why::kNoWindow,
             empty->lease == kNone ? "credential " + e.credential + ": its window is empty"
                                   : "credential " + e.credential +
                                         ": no instant is inside both its window and lease " +
                                         std::string(x_.str(x_.leases()[empty->lease].id)) + "'s");
      } else {
        skip(SkippedEntry::Why::kNoWindow, Ended(cr, *ended));
      }
      return;
    }

    // 2-3. The exactly expressible path holding now, else the next to start.
    auto better = [&](const Path* a, const Path* b) {  // a preferred over b
      bool an = a->from <= now_, bn = b->from <= now_;
      if (an != bn) return an;
      if (!an && a->from != b->from) return a->from < b->from;
      if (a->fit.always != b->fit.always) return a->fit.always;
      return a->until > b->until;
    };
    const Path* chosen = nullptr;
    const Path* chosen_inexact = nullptr;
    for (const Path* p : live) {
      const Path*& slot = p->fit.fit == LockSchedule::Fit::kExact ? chosen : chosen_inexact;
      if (!slot || better(p, slot)) slot = p;
    }
    if (!chosen) {
      skip(SkippedEntry::Why::kSchedule, chosen_inexact->fit.why);
      return;
    }

    // 4. Widen by paths that join it without a gap and admit at least as much.
    int64_t from = chosen->from, until = chosen->until;
    for (bool grew = true; grew;) {
      grew = false;
      for (const Path* p : live) {
        if (p->fit.fit != LockSchedule::Fit::kExact || !p->fit.Covers(chosen->fit)) continue;
        if (p->from > until || p->until < from) continue;  // a gap
        if (p->from < from || p->until > until) {
          from = std::min(from, p->from);
          until = std::max(until, p->until);
          grew = true;
        }
      }
    }
    e.from = OptFrom(from);
    e.until = OptUntil(until);
    e.weekdays = chosen->fit.weekdays;
    e.from_min = chosen->fit.from_min;
    e.until_min = chosen->fit.until_min;

    if (kind == LockEntry::Kind::kKeypadCode) {
      if (std::string why = CodeProblem(cr); !why.empty()) {
        skip(SkippedEntry::Why::kCodeRules, std::move(why));
        return;
      }
      e.code = static_cast<uint32_t>(cr.key.value);
      e.name = CutUtf8(x_.str(holder.name), rules_.keypad_name_bytes);
    } else {
      e.key = x_.str(ble->key);
      Result<std::vector<uint8_t>> key = Base64Decode(e.key);
      if (!key.ok() || key->size() != 32) {
        skip(SkippedEntry::Why::kBadKey,
             "ble_key of credential " + e.credential + " is not base64 of 32 bytes");
        return;
      }
      std::string_view name = x_.str(ble->name);
      e.name = CutUtf8(name.empty() ? x_.str(holder.name) : name, rules_.authorization_name_bytes);
    }
    if (e.name.empty()) {
      size_t max = kind == LockEntry::Kind::kKeypadCode ? rules_.keypad_name_bytes
                                                        : rules_.authorization_name_bytes;
      e.name = CutUtf8(e.credential, max);
    }
    out_.entries.push_back(std::move(e));
  }

  LockSync Finish() {
    // One code per PIN on a lock: the credential whose window holds now, else starts first.
    std::vector<size_t> codes;
    for (size_t i = 0; i < out_.entries.size(); ++i) {
      if (out_.entries[i].kind == LockEntry::Kind::kKeypadCode) codes.push_back(i);
    }
    auto rank = [&](const LockEntry& e) {
      int64_t from = FromOr(e.from);
      return std::make_pair(from <= now_ ? INT64_MIN : from, e.credential);
    };
    std::sort(codes.begin(), codes.end(), [&](size_t a, size_t b) {
      const LockEntry &x = out_.entries[a], &y = out_.entries[b];
      return x.code != y.code ? x.code < y.code : rank(x) < rank(y);
    });
    std::vector<bool> drop(out_.entries.size());
    for (size_t i = 0; i < codes.size();) {
      const LockEntry& owner = out_.entries[codes[i]];
      size_t k = i + 1;
      for (; k < codes.size() && out_.entries[codes[k]].code == owner.code; ++k) {
        const LockEntry& e = out_.entries[codes[k]];
        out_.skipped.push_back({e.credential, e.person, SkippedEntry::Why::kSameCode,
                                "pin of credential " + e.credential + " is also credential " +
                                    owner.credential +
                                    "'s; a lock holds a code once (it follows when " +
                                    owner.credential + "'s window ends)"});
        drop[codes[k]] = true;
      }
      i = k;
    }
    std::vector<LockEntry> kept;
    kept.reserve(out_.entries.size());
    for (size_t i = 0; i < out_.entries.size(); ++i) {
      if (!drop[i]) kept.push_back(std::move(out_.entries[i]));
    }
    out_.entries = std::move(kept);
    std::sort(out_.entries.begin(), out_.entries.end(),
              [](const LockEntry& a, const LockEntry& b) { return a.credential < b.credential; });
    std::stable_sort(
        out_.skipped.begin(), out_.skipped.end(),
        [](const SkippedEntry& a, const SkippedEntry& b) { return a.credential < b.credential; });
    if (next_change_ != INT64_MAX) out_.next_change = FromUnix(next_change_);
    return std::move(out_);
  }

 private:
  // Every path of credential `cr` to the door, in DecideWith's order.
  void Walk(const CredentialRec& cr) {
    paths_.clear();
    uint32_t subject = cr.person;
    for (int depth = 0; subject != kNone && depth < 8; ++depth) {
      const PersonRec& p = x_.people()[subject];
      if (depth > 0 && p.status != PersonStatus::kActive) break;
      for (uint16_t i = 0; i < p.groups_count; ++i) {
        uint32_t g = x_.refs(p.groups)[i];
        if (group_has_door_[g]) {
          paths_.push_back({cr.valid_from, cr.valid_until, x_.groups()[g].schedule, kNone, g, {}});
        }
      }
      for (uint16_t i = 0; i < p.leases_count; ++i) {
        uint32_t l = x_.refs(p.leases)[i];
        const LeaseRec& lease = x_.leases()[l];
        int64_t from = std::max(cr.valid_from, lease.starts_at);
        int64_t until = std::min({cr.valid_until, lease.ends_at, lease.paid_until});
        for (uint16_t j = 0; j < lease.groups_count; ++j) {
          uint32_t g = x_.refs(lease.groups)[j];
          if (group_has_door_[g]) {
            paths_.push_back({from, until, x_.groups()[g].schedule, l, g, {}});
          }
        }
      }
      subject = p.inherit ? p.primary : kNone;
      if (subject != kNone && x_.people()[subject].dead) subject = kNone;
    }
  }

  // Why path `p`, whose window has ended, admits nothing any more.
  std::string Ended(const CredentialRec& cr, const Path& p) const {
    if (p.lease != kNone) {
      const LeaseRec& l = x_.leases()[p.lease];
      std::string lid(x_.str(l.id));
      if (p.until == l.paid_until && p.until != cr.valid_until && p.until != l.ends_at) {
        return "lease " + lid + ": rent paid only until " + At(l.paid_until) +
               " (paid_through + grace)";
      }
      if (p.until == l.ends_at && p.until != cr.valid_until) {
        return "lease " + lid + " ended at " + At(l.ends_at);
      }
    }
    return "credential " + std::string(x_.str(cr.id)) + " expired at " + At(cr.valid_until);
  }

  // Empty when the PIN of `cr` meets the code rules; else why not (never the digits).
  std::string CodeProblem(const CredentialRec& cr) const {
    std::string who = "pin of credential " + std::string(x_.str(cr.id));
    if (cr.key.kind != CredentialKey::Kind::kPin) return who + " is not a valid PIN";
    if (cr.key.length != rules_.digits) {
      return who + " has " + std::to_string(cr.key.length) + " digits; the lock takes " +
             std::to_string(rules_.digits);
    }
    std::string digits(cr.key.length, '0');  // local only: never in a message
    uint64_t v = cr.key.value;
    for (int i = cr.key.length - 1; i >= 0; --i, v /= 10) {
      digits[i] = static_cast<char>('0' + v % 10);
    }
    if (!rules_.digit_zero_allowed && digits.find('0') != std::string::npos) {
      return who + " contains the digit 0; the lock takes 1-9 only";
    }
    if (!rules_.forbidden_prefix.empty() && digits.starts_with(rules_.forbidden_prefix)) {
      return who + " starts with " + rules_.forbidden_prefix + ", which the lock refuses";
    }
    return {};
  }

  void Boundary(int64_t t) {
    if (t > now_ && t < next_change_) next_change_ = t;
  }

  const Index& x_;
  uint16_t door_;
  int64_t now_;
  const LockCodeRules& rules_;
  std::vector<bool> group_has_door_;
  int64_t lockdown_until_ = INT64_MIN;
  int64_t next_change_ = INT64_MAX;
  std::vector<Path> paths_;
  LockSync out_;
};

}  // namespace

std::string_view SkipWhyName(SkippedEntry::Why w) {
  switch (w) {
    case SkippedEntry::Why::kCodeRules:
      return "code_rules";
    case SkippedEntry::Why::kSchedule:
      return "schedule";
    case SkippedEntry::Why::kNoWindow:
      return "no_window";
    case SkippedEntry::Why::kDoorLockedDown:
      return "door_locked_down";
    case SkippedEntry::Why::kSameCode:
      return "same_code";
    case SkippedEntry::Why::kBadKey:
      return "bad_key";
  }
  return "unknown";
}

Result<LockSync> DesiredLockEntries(const Index& index, std::string_view door, Instant now,
                                    const LockCodeRules& code_rules) {
  uint32_t d = index.FindDoor(door);
  if (d == kNone)
    return Status::NotFound("door " + std::string(door) + " is not a door of this site");
  Planner planner(index, static_cast<uint16_t>(d), now, code_rules);
  const auto& creds = index.credentials();
  for (uint32_t c = 0; c < creds.size(); ++c) {
    if (creds[c].type == CredentialType::kPin)
      planner.Credential(c, LockEntry::Kind::kKeypadCode, nullptr);
  }
  for (const BleKeyRec& b : index.ble_keys()) {
    if (b.door == d) planner.Credential(b.credential, LockEntry::Kind::kAuthorization, &b);
  }
  return planner.Finish();
}

}  // namespace lintel::rules
