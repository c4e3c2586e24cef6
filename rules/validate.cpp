#include "rules/validate.h"

#include <algorithm>
#include <cstring>
#include <functional>
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

// A hash table of ids borrowed from the records (no string is copied), each with a number (the
// index of the record that first had it): open addressing, linear probing, sized up front. At
// 2,000,000 credentials std::unordered_set<std::string> spent most of Validate allocating nodes
// and chasing them.
class IdTable {
 public:
  static constexpr uint32_t kAbsent = UINT32_MAX;

  explicit IdTable(size_t expected) {
    size_t cap = 16;
    while (cap < expected + expected / 2 + 1) cap <<= 1;
    slots_.resize(cap);
    mask_ = cap - 1;
  }
  // Inserts `id` with `value` unless present. Returns the value stored for `id` and whether this
  // call inserted it. `id` must outlive the table.
  std::pair<uint32_t, bool> Insert(std::string_view id, uint32_t value) {
    if ((size_ + 1) * 3 > slots_.size() * 2) Grow();
    uint64_t h = Hash(id);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.data == nullptr) {
        s = {id.data() == nullptr ? "" : id.data(), static_cast<uint32_t>(id.size()),
             static_cast<uint32_t>(h >> 32), value};
        ++size_;
        return {value, true};
      }
      if (Matches(s, id, h)) return {s.value, false};
    }
  }
  // The value stored for `id`, or kAbsent.
  uint32_t Find(std::string_view id) const {
    uint64_t h = Hash(id);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.data == nullptr) return kAbsent;
      if (Matches(s, id, h)) return s.value;
    }
  }
  bool Contains(std::string_view id) const { return Find(id) != kAbsent; }
  size_t size() const { return size_; }

 private:
  struct Slot {
    const char* data = nullptr;  // nullptr: empty
    uint32_t size = 0;
    uint32_t hash_hi = 0;  // the upper half of the hash, compared before the bytes
    uint32_t value = 0;
  };
  static uint64_t Hash(std::string_view id) { return std::hash<std::string_view>()(id); }
  static bool Matches(const Slot& s, std::string_view id, uint64_t h) {
    return s.hash_hi == static_cast<uint32_t>(h >> 32) && s.size == id.size() &&
           std::memcmp(s.data, id.data(), id.size()) == 0;
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.data == nullptr) continue;
      uint64_t h = Hash({s.data, s.size});
      size_t i = h & mask_;
      while (slots_[i].data != nullptr) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Checks ids and uniqueness; returns the set of the valid ids.
template <typename T, typename IdOf>
IdTable CheckIds(const std::vector<T>& items, std::string_view kind, IdOf id_of, Collector& out) {
  IdTable ids(items.size() + 1);
  for (const T& item : items) {
    const std::string& id = id_of(item);
    if (!GoodId(id)) {
      out.Add(kind, id.substr(0, 64), "id must be 1-64 characters without control characters");
    } else if (!ids.Insert(id, 0).second) {
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

// Credential keys -> the index of the first non-revoked credential with that key, open
// addressing like IdTable. Holders of a key held more than once are collected on the side.
class KeyTable {
 public:
  static constexpr uint32_t kAbsent = UINT32_MAX;

  explicit KeyTable(size_t expected) {
    size_t cap = 16;
    while (cap < expected + expected / 2 + 1) cap <<= 1;
    slots_.resize(cap);
    mask_ = cap - 1;
  }
  // The index stored for `k` (inserting `index` when absent), and whether this call inserted it.
  // A slot's `shared` flag is set by MarkShared.
  struct Slot {
    CredentialKey key;
    uint32_t index = kAbsent;  // kAbsent: empty
    bool shared = false;
  };
  Slot& Insert(const CredentialKey& k, uint32_t index, bool* inserted) {
    if ((size_ + 1) * 3 > slots_.size() * 2) Grow();
    for (size_t i = Hash(k) & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.index == kAbsent) {
        s.key = k;
        s.index = index;
        ++size_;
        *inserted = true;
        return s;
      }
      if (s.key == k) {
        *inserted = false;
        return s;
      }
    }
  }

 private:
  // A multiplicative hash of all the fields, its high bits folded into the low ones the mask
  // keeps (the low bits of a product depend only on the low bits of the factors).
  static uint64_t Hash(const CredentialKey& k) {
    uint64_t h =
        (k.value ^ (static_cast<uint64_t>(k.facility) << 32 ^ static_cast<uint64_t>(k.kind) << 24 ^
                    static_cast<uint64_t>(k.format) << 16 ^ k.length)) *
        0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.index == kAbsent) continue;
      size_t i = Hash(s.key) & mask_;
      while (slots_[i].index != kAbsent) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace

std::vector<std::string> Validate(const Site& site, const Records& r, size_t max_errors) {
  Collector out(max_errors);
  const Policy& policy = site.policy;
  IdTable doors(site.doors.size());
  for (const DoorInfo& d : site.doors) doors.Insert(d.id, 0);

  // Schedules.
  auto schedule_ids = CheckIds(
      r.schedules, "schedule", [](auto& s) -> auto& { return s.id; }, out);
  for (const Schedule& s : r.schedules) {
    if (s.id == kAlwaysSchedule) out.Add("schedule", s.id, "the id \"always\" is built in");
    CheckWindows(s.windows, true, s.id, "a", out);
    CheckCount(s.exceptions.size(), kMaxExceptionsPerSchedule, "schedule", s.id, "exceptions", out);
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
  schedule_ids.Insert(kAlwaysSchedule, 0);

  // Groups.
  auto group_ids = CheckIds(
      r.groups, "group", [](auto& g) -> auto& { return g.id; }, out);
  for (const Group& g : r.groups) {
    CheckCount(g.doors.size(), kMaxDoorsPerGroup, "group", g.id, "doors", out);
    for (const std::string& d : g.doors) {
      if (!doors.Contains(d))
        out.Add("group", g.id, "door " + Quote(d) + " is not a door of this site");
    }
    if (!schedule_ids.Contains(g.schedule)) {
      out.Add("group", g.id, "schedule " + Quote(g.schedule) + " does not exist");
    }
  }
  group_ids.Insert(kDefaultGroup, 0);
  auto check_groups = [&](std::string_view kind, const std::string& id,
                          const std::vector<std::string>& groups) {
    for (const std::string& g : groups) {
      if (!group_ids.Contains(g)) out.Add(kind, id, "group " + Quote(g) + " does not exist");
    }
  };

  // People. `people` holds every person's id with the index of the first person having it, also
  // an id that is not valid; a reference must name a valid one (is_person).
  IdTable people(r.people.size() + 1);
  for (size_t i = 0; i < r.people.size(); ++i) {
    const std::string& id = r.people[i].id;
    const bool inserted = people.Insert(id, static_cast<uint32_t>(i)).second;
    if (!GoodId(id)) {
      out.Add("person", id.substr(0, 64), "id must be 1-64 characters without control characters");
    } else if (!inserted) {
      out.Add("person", id, "duplicate id");
    }
  }
  auto is_person = [&](std::string_view id) { return GoodId(id) && people.Contains(id); };
  for (const Person& p : r.people) {
    CheckCount(p.groups.size(), kMaxGroupsPerPerson, "person", p.id, "groups", out);
    check_groups("person", p.id, p.groups);
    if (p.primary) {
      if (*p.primary == p.id) {
        out.Add("person", p.id, "primary must be another person");
      } else if (!people.Contains(*p.primary)) {
        out.Add("person", p.id, "primary " + Quote(*p.primary) + " does not exist");
      } else {
        // Walk the chain; a cycle never ends at a person without a primary.
        const Person* cur = &p;
        for (size_t steps = 0; cur && cur->primary; ++steps) {
          const uint32_t next = people.Find(*cur->primary);
          cur = next == IdTable::kAbsent ? nullptr : &r.people[next];
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
  // Leases naming each person (each lease once), by the index `people` holds for the id.
  std::vector<uint32_t> leases_of(r.people.size(), 0);
  for (const Lease& l : r.leases) {
    CheckCount(l.groups.size(), kMaxGroupsPerLease, "lease", l.id, "groups", out);
    CheckCount(l.members.size(), kMaxMembersPerLease, "lease", l.id, "members", out);
    if (l.members.size() <= 8) {
      for (size_t i = 0; i < l.members.size(); ++i) {
        const std::string& m = l.members[i];
        if (std::find(l.members.begin(), l.members.begin() + i, m) != l.members.begin() + i) {
          continue;  // named before in this lease
        }
        if (uint32_t j = people.Find(m); j != IdTable::kAbsent) ++leases_of[j];
      }
    } else {
      std::unordered_set<std::string_view> named(l.members.begin(), l.members.end());
      for (std::string_view m : named) {
        if (uint32_t j = people.Find(m); j != IdTable::kAbsent) ++leases_of[j];
      }
    }
    check_groups("lease", l.id, l.groups);
    for (const std::string& m : l.members) {
      if (!is_person(m)) out.Add("lease", l.id, "member " + Quote(m) + " does not exist");
    }
    if (l.ends_at && *l.ends_at <= l.starts_at)
      out.Add("lease", l.id, "ends_at must be after starts_at");
    if (l.grace_days && (*l.grace_days < 0 || *l.grace_days > 365)) {
      out.Add("lease", l.id, "grace_days must be between 0 and 365");
    }
  }

  for (const Person& p : r.people) {
    CheckCount(leases_of[people.Find(p.id)], kMaxLeasesPerPerson, "person", p.id,
               "leases naming them", out);
  }

  // Credentials.
  CheckIds(
      r.credentials, "credential", [](auto& c) -> auto& { return c.id; }, out);
  // Each key's first non-revoked holder; the holders of a key held more than once are collected
  // as (first holder, holder) index pairs.
  KeyTable keys(r.credentials.size());
  std::vector<std::pair<uint32_t, uint32_t>> shared;
  for (size_t ci = 0; ci < r.credentials.size(); ++ci) {
    const Credential& c = r.credentials[ci];
    if (!is_person(c.person)) {
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
        if (!doors.Contains(c.ble_key.lock)) {
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
      if (!k.empty()) {
        bool inserted = false;
        KeyTable::Slot& slot = keys.Insert(k, static_cast<uint32_t>(ci), &inserted);
        if (!inserted) {
          if (!slot.shared) {
            slot.shared = true;
            shared.emplace_back(slot.index, slot.index);
          }
          shared.emplace_back(slot.index, static_cast<uint32_t>(ci));
        }
      }
    }
  }
  // Keys by their first holder, each key's holders in the order of the records.
  std::sort(shared.begin(), shared.end());
  std::vector<const Credential*> creds;
  for (size_t a = 0, b = 0; a < shared.size(); a = b) {
    creds.clear();
    for (b = a; b < shared.size() && shared[b].first == shared[a].first; ++b) {
      creds.push_back(&r.credentials[shared[b].second]);
    }
    const CredentialKey key = KeyOf(*creds[0]);
    std::sort(creds.begin(), creds.end(), [](const Credential* a, const Credential* b) {
      return a->valid_from.value_or(kInstantMin) < b->valid_from.value_or(kInstantMin);
    });
    for (size_t i = 1; i < creds.size(); ++i) {
      const Credential* prev = creds[i - 1];
      const Credential* cur = creds[i];
      if (cur->valid_from.value_or(kInstantMin) < prev->valid_until.value_or(kInstantMax)) {
        std::string what =
            key.kind == CredentialKey::Kind::kPin ? std::string("pin") : DescribeKey(key);
        out.Add(
            "credential", cur->id,
            what + " is already held by credential " + prev->id +
                " in an overlapping validity window (one card or pin has one holder at a time)");
      }
    }
  }

  // Door modes.
  IdTable mode_doors(r.door_modes.size());
  for (const DoorMode& m : r.door_modes) {
    if (!doors.Contains(m.door)) {
      out.Add("door_mode", m.door, "not a door of this site");
    } else if (!mode_doors.Insert(m.door, 0).second) {
      out.Add("door_mode", m.door, "duplicate id");
    }
  }
  return out.Take();
}

}  // namespace lintel::rules
