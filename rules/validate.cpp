#include "rules/validate.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "gateway/base/base64.h"
#include "rules/presented.h"

namespace lintel::rules {
namespace {

class Collector {
 public:
  explicit Collector(size_t max) : max_(max) {}
  void Add(std::string_view kind, std::string_view id, std::string_view what) {
    if (errors_.size() >= max_) return;
    errors_.push_back(std::string(kind) + " " + (id.empty() ? "(no id)" : std::string(id)) + ": " +
                      std::string(what));
  }
  bool full() const { return errors_.size() >= max_; }
  std::vector<std::string> Take() { return std::move(errors_); }

 private:
  size_t max_;
  std::vector<std::string> errors_;
};

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// "has 300 groups, at most 256 are allowed" when `n` exceeds `max`.
void CheckCount(size_t n, size_t max, std::string_view kind, std::string_view id,
                std::string_view what, Collector& out) {
  if (n <= max) return;
  out.Add(kind, id,
          "has " + std::to_string(n) + " " + std::string(what) + ", at most " +
              std::to_string(max) + " are allowed");
}

bool GoodId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::none_of(id.begin(), id.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Checks ids and uniqueness; returns the id set.
template <typename T, typename IdOf>
std::unordered_set<std::string> CheckIds(const std::vector<T>& items, std::string_view kind,
                                         IdOf id_of, Collector& out) {
  std::unordered_set<std::string> ids;
  for (const T& item : items) {
    const std::string& id = id_of(item);
    if (!GoodId(id)) {
      out.Add(kind, id.substr(0, 64), "id must be 1-64 characters without control characters");
    } else if (!ids.insert(id).second) {
      out.Add(kind, id, "duplicate id");
    }
  }
  return ids;
}

void CheckWindows(const std::vector<Window>& windows, bool need_days, std::string_view id,
                  std::string_view where, Collector& out) {
  if (windows.size() > kMaxWindowsPerDay) {
    out.Add("schedule", id,
            (where == "a" ? std::string("has ") : std::string(where) + " has ") +
                std::to_string(windows.size()) + " windows, at most " +
                std::to_string(kMaxWindowsPerDay) + " are allowed");
  }
  for (const Window& w : windows) {
    if (w.from_min >= w.to_min || w.to_min > 1440) {
      out.Add("schedule", id,
              std::string(where) + " window " + FormatHhMm(w.from_min) + "-" +
                  FormatHhMm(w.to_min) + " must have from before to (to may be 24:00)");
    }
    if (need_days && (w.days & 0x7f) == 0) {
      out.Add("schedule", id, std::string(where) + " window has no days");
    }
  }
}

struct KeyHash {
  size_t operator()(const CredentialKey& k) const {
    return std::hash<uint64_t>()(k.value * 31 + k.facility * 7 +
                                 static_cast<uint64_t>(k.kind) * 3 + k.format + k.length);
  }
};

}  // namespace

std::vector<std::string> Validate(const Site& site, const Records& r, size_t max_errors) {
  Collector out(max_errors);
  const Policy& policy = site.policy;
  std::unordered_set<std::string> doors;
  for (const DoorInfo& d : site.doors) doors.insert(d.id);

  // Schedules.
  auto schedule_ids = CheckIds(
      r.schedules, "schedule", [](auto& s) -> auto& { return s.id; }, out);
  for (const Schedule& s : r.schedules) {
    if (s.id == kAlwaysSchedule) out.Add("schedule", s.id, "the id \"always\" is built in");
    CheckWindows(s.windows, true, s.id, "a", out);
    CheckCount(s.exceptions.size(), kMaxExceptionsPerSchedule, "schedule", s.id, "exceptions",
               out);
    std::unordered_set<int32_t> dates;
    for (const ScheduleException& e : s.exceptions) {
      CivilDate c = CivilFromDays(e.date);
      std::string date = std::to_string(c.year) + "-" + (c.month < 10 ? "0" : "") +
                         std::to_string(c.month) + "-" + (c.day < 10 ? "0" : "") +
                         std::to_string(c.day);
      if (!dates.insert(e.date).second)
        out.Add("schedule", s.id, "exception " + date + " is listed twice");
      CheckWindows(e.windows, false, s.id, "exception " + date, out);
    }
  }
  schedule_ids.insert(std::string(kAlwaysSchedule));

  // Groups.
  auto group_ids = CheckIds(
      r.groups, "group", [](auto& g) -> auto& { return g.id; }, out);
  for (const Group& g : r.groups) {
    CheckCount(g.doors.size(), kMaxDoorsPerGroup, "group", g.id, "doors", out);
    for (const std::string& d : g.doors) {
      if (!doors.count(d))
        out.Add("group", g.id, "door " + Quote(d) + " is not a door of this site");
    }
    if (!schedule_ids.count(g.schedule)) {
      out.Add("group", g.id, "schedule " + Quote(g.schedule) + " does not exist");
    }
  }
  group_ids.insert(std::string(kDefaultGroup));
  auto check_groups = [&](std::string_view kind, const std::string& id,
                          const std::vector<std::string>& groups) {
    for (const std::string& g : groups) {
      if (!group_ids.count(g)) out.Add(kind, id, "group " + Quote(g) + " does not exist");
    }
  };

  // People.
  auto person_ids = CheckIds(
      r.people, "person", [](auto& p) -> auto& { return p.id; }, out);
  std::unordered_map<std::string, const Person*> people;
  for (const Person& p : r.people) people.emplace(p.id, &p);
  for (const Person& p : r.people) {
    CheckCount(p.groups.size(), kMaxGroupsPerPerson, "person", p.id, "groups", out);
    check_groups("person", p.id, p.groups);
    if (p.primary) {
      if (*p.primary == p.id) {
        out.Add("person", p.id, "primary must be another person");
      } else if (!people.count(*p.primary)) {
        out.Add("person", p.id, "primary " + Quote(*p.primary) + " does not exist");
      } else {
        // Walk the chain; a cycle never ends at a person without a primary.
        const Person* cur = &p;
        for (size_t steps = 0; cur && cur->primary; ++steps) {
          auto it = people.find(*cur->primary);
          cur = it == people.end() ? nullptr : it->second;
          if (cur == &p || steps > people.size()) {
            out.Add("person", p.id, "primary chain loops back to this person");
            break;
          }
        }
      }
    } else if (p.inherit) {
      out.Add("person", p.id, "inherit is set but there is no primary to inherit from");
    }
  }

  // Leases.
  CheckIds(
      r.leases, "lease", [](auto& l) -> auto& { return l.id; }, out);
  std::unordered_map<std::string_view, size_t> leases_of;  // person id -> leases naming them
  for (const Lease& l : r.leases) {
    CheckCount(l.groups.size(), kMaxGroupsPerLease, "lease", l.id, "groups", out);
    CheckCount(l.members.size(), kMaxMembersPerLease, "lease", l.id, "members", out);
    std::unordered_set<std::string_view> named(l.members.begin(), l.members.end());
    for (std::string_view m : named) ++leases_of[m];
    check_groups("lease", l.id, l.groups);
    for (const std::string& m : l.members) {
      if (!person_ids.count(m)) out.Add("lease", l.id, "member " + Quote(m) + " does not exist");
    }
    if (l.ends_at && *l.ends_at <= l.starts_at)
      out.Add("lease", l.id, "ends_at must be after starts_at");
    if (l.grace_days && (*l.grace_days < 0 || *l.grace_days > 365)) {
      out.Add("lease", l.id, "grace_days must be between 0 and 365");
    }
  }

  for (const Person& p : r.people) {
    auto it = leases_of.find(p.id);
    if (it != leases_of.end()) {
      CheckCount(it->second, kMaxLeasesPerPerson, "person", p.id, "leases naming them", out);
    }
  }

  // Credentials.
  CheckIds(
      r.credentials, "credential", [](auto& c) -> auto& { return c.id; }, out);
  std::unordered_map<CredentialKey, std::vector<const Credential*>, KeyHash> by_key;
  for (const Credential& c : r.credentials) {
    if (!person_ids.count(c.person)) {
      out.Add("credential", c.id, "person " + Quote(c.person) + " does not exist");
    }
    if (c.valid_from && c.valid_until && *c.valid_until <= *c.valid_from) {
      out.Add("credential", c.id, "valid_until must be after valid_from");
    }
    switch (c.type) {
      case CredentialType::kPin: {
        bool digits = !c.pin.empty() && std::all_of(c.pin.begin(), c.pin.end(),
                                                    [](char ch) { return ch >= '0' && ch <= '9'; });
        int n = static_cast<int>(c.pin.size());
        if (!digits) {
          out.Add("credential", c.id, "pin must contain digits only");
        } else if (n < policy.pin_min_length || n > policy.pin_max_length) {
          out.Add("credential", c.id,
                  "pin must have " + std::to_string(policy.pin_min_length) + " to " +
                      std::to_string(policy.pin_max_length) + " digits, has " + std::to_string(n));
        } else if (c.pin[0] == '9' && !policy.pin_allow_leading_9) {
          out.Add("credential", c.id, "pin must not start with 9");
        }
        break;
      }
      case CredentialType::kCard: {
        if (c.card.format == CardFormat::kUid) {
          bool hex = !c.card.uid.empty() && c.card.uid.size() <= 16 &&
                     std::all_of(c.card.uid.begin(), c.card.uid.end(), [](char ch) {
                       return std::isxdigit(static_cast<unsigned char>(ch));
                     });
          if (!hex) out.Add("credential", c.id, "card uid must be 1-16 hex digits");
        } else {
          CardFormatBits bits = FormatBits(c.card.format);
          std::string fmt(CardFormatName(c.card.format));
          if (bits.facility_bits == 0 && c.card.facility != 0) {
            out.Add("credential", c.id, "card format " + fmt + " has no facility code");
          } else if (bits.facility_bits > 0 && c.card.facility >= (1u << bits.facility_bits)) {
            out.Add("credential", c.id,
                    "card facility must be below " + std::to_string(1u << bits.facility_bits) +
                        " for " + fmt);
          }
          if (c.card.number >= (uint64_t{1} << bits.number_bits)) {
            out.Add("credential", c.id,
                    "card number must be below " + std::to_string(uint64_t{1} << bits.number_bits) +
                        " for " + fmt);
          }
        }
        break;
      }
      case CredentialType::kBleKey:
        if (!doors.count(c.ble_key.lock)) {
          out.Add("credential", c.id,
                  "ble_key lock " + Quote(c.ble_key.lock) + " is not a door of this site");
        }
        if (Result<std::vector<uint8_t>> key = Base64Decode(c.ble_key.key);
            !key.ok() || key->size() != 32) {
          out.Add("credential", c.id, "ble_key key must be base64 of 32 bytes");
        }
        break;
    }
    if (c.status != CredentialStatus::kRevoked) {
      CredentialKey k = KeyOf(c);
      if (!k.empty()) by_key[k].push_back(&c);
    }
  }
  for (auto& [key, creds] : by_key) {
    if (creds.size() < 2) continue;
    std::sort(creds.begin(), creds.end(), [](const Credential* a, const Credential* b) {
      return a->valid_from.value_or(kInstantMin) < b->valid_from.value_or(kInstantMin);
    });
    for (size_t i = 1; i < creds.size(); ++i) {
      const Credential* prev = creds[i - 1];
      const Credential* cur = creds[i];
      if (cur->valid_from.value_or(kInstantMin) < prev->valid_until.value_or(kInstantMax)) {
        std::string what = key.kind == CredentialKey::Kind::kPin ? std::string("pin") : DescribeKey(key);
        out.Add(
            "credential", cur->id,
            what + " is already held by credential " + prev->id +
                " in an overlapping validity window (one card or pin has one holder at a time)");
      }
    }
  }

  // Door modes.
  std::unordered_set<std::string> mode_doors;
  for (const DoorMode& m : r.door_modes) {
    if (!doors.count(m.door)) {
      out.Add("door_mode", m.door, "not a door of this site");
    } else if (!mode_doors.insert(m.door).second) {
      out.Add("door_mode", m.door, "duplicate id");
    }
  }
  return out.Take();
}

}  // namespace lintel::rules
