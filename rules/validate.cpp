#include "rules/validate.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
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

// Copies of the ids the checks look up later, in blocks that never move (IdTable borrows them).
class Arena {
 public:
  std::string_view Copy(std::string_view v) {
    if (v.size() > kBlock) {
      big_.push_back(std::make_unique<char[]>(v.size()));
      std::memcpy(big_.back().get(), v.data(), v.size());
      return {big_.back().get(), v.size()};
    }
    if (blocks_.empty() || used_ + v.size() > kBlock) {
      blocks_.push_back(std::make_unique<char[]>(kBlock));
      used_ = 0;
    }
    char* at = blocks_.back().get() + used_;
    if (!v.empty()) std::memcpy(at, v.data(), v.size());
    used_ += v.size();
    return {at, v.size()};
  }

 private:
  static constexpr size_t kBlock = 1 << 16;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<std::unique_ptr<char[]>> big_;
  size_t used_ = 0;
};

}  // namespace

struct StateValidator::State {
  enum Phase : uint8_t { kSchedules, kGroups, kPeople, kLeases, kCredentials, kDoorModes, kDone };

  State(const Site& s, size_t max, Options o)
      : site(s), policy(s.policy), out(max), options(o), doors(s.doors.size()) {
    for (const DoorInfo& d : site.doors) doors.Insert(d.id, 0);
  }

  const Site& site;
  const Policy& policy;
  Collector out;
  Options options;
  Phase phase = kSchedules;
  bool ordered = true;
  bool replayed = false;
  Arena arena;
  IdTable doors;
  IdTable schedule_ids{16};
  IdTable group_ids{256};
  IdTable people{1024};
  IdTable lease_ids{16};
  IdTable credential_ids{16};
  IdTable mode_doors{16};
  // By person in the order added: the id, the primary (data nullptr: none; also a primary that
  // names the person itself, which is reported at once and not walked), and, after the people,
  // the number `people` holds for the primary.
  std::vector<std::string_view> person_ids;
  std::vector<std::string_view> person_primary;
  std::vector<uint32_t> primary_of;
  std::vector<uint32_t> leases_of;  // by the number `people` holds for an id
  // Credential keys: each key's first non-revoked holder (its number in the order added).
  KeyTable keys{1024};
  uint32_t credentials = 0;
  struct Holder {
    std::string id;
    Instant from, until;
  };
  struct SharedKey {
    uint32_t first = 0;  // the first holder's number: keys are reported in that order
    CredentialKey key;
    std::vector<Holder> holders;  // filled by the replay, in its order
  };
  std::vector<SharedKey> shared;

  // Moves on to `p`, finishing the kinds before it; false (the run is void) when `p` is behind.
  bool Enter(Phase p) {
    if (!ordered) return false;
    if (p < phase) {
      ordered = false;
      return false;
    }
    while (phase < p) {
      EndOf(phase);
      phase = static_cast<Phase>(phase + 1);
    }
    return true;
  }

  void EndOf(Phase p) {
    switch (p) {
      case kSchedules:
        schedule_ids.Insert(kAlwaysSchedule, 0);
        break;
      case kGroups:
        group_ids.Insert(kDefaultGroup, 0);
        break;
      case kPeople:
        EndOfPeople();
        break;
      case kLeases:
        for (size_t i = 0; i < person_ids.size(); ++i) {
          CheckCount(leases_of[people.Find(person_ids[i])], kMaxLeasesPerPerson, "person",
                     person_ids[i], "leases naming them", out);
        }
        leases_of = {};
        person_ids = {};
        break;
      default:
        break;
    }
  }

  void EndOfPeople() {
    const size_t n = person_ids.size();
    primary_of.assign(n, IdTable::kAbsent);
    for (size_t i = 0; i < n; ++i) {
      if (person_primary[i].data() != nullptr) primary_of[i] = people.Find(person_primary[i]);
    }
    for (size_t i = 0; i < n; ++i) {
      if (person_primary[i].data() == nullptr || person_primary[i] == person_ids[i]) continue;
      if (primary_of[i] == IdTable::kAbsent) {
        out.Add("person", person_ids[i], "primary " + Quote(person_primary[i]) + " does not exist");
        continue;
      }
      // Walk the chain; a cycle never ends at a person without a primary.
      uint32_t cur = static_cast<uint32_t>(i);
      for (size_t steps = 0; cur != IdTable::kAbsent && person_primary[cur].data() != nullptr;
           ++steps) {
        cur = primary_of[cur];
        if (cur == i || steps > people.size()) {
          out.Add("person", person_ids[i], "primary chain loops back to this person");
          break;
        }
      }
    }
    person_primary = {};
    primary_of = {};
    leases_of.assign(n, 0);
  }

  // The 1-64 character rule, and (unless the source guarantees it) uniqueness in `table`.
  void CheckId(std::string_view kind, const std::string& id, IdTable* table) {
    if (!GoodId(id)) {
      out.Add(kind, id.substr(0, 64), "id must be 1-64 characters without control characters");
    } else if (table != nullptr && !table->Insert(arena.Copy(id), 0).second) {
      out.Add(kind, id, "duplicate id");
    }
  }

  void CheckGroups(std::string_view kind, const std::string& id,
                   const std::vector<std::string>& groups) {
    for (const std::string& g : groups) {
      if (!group_ids.Contains(g)) out.Add(kind, id, "group " + Quote(g) + " does not exist");
    }
  }

  bool IsPerson(std::string_view id) const { return GoodId(id) && people.Contains(id); }

  void Schedule(const rules::Schedule& s) {
    CheckId("schedule", s.id, &schedule_ids);
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

  void Group(const rules::Group& g) {
    CheckId("group", g.id, &group_ids);
    CheckCount(g.doors.size(), kMaxDoorsPerGroup, "group", g.id, "doors", out);
    for (const std::string& d : g.doors) {
      if (!doors.Contains(d))
        out.Add("group", g.id, "door " + Quote(d) + " is not a door of this site");
    }
    if (!schedule_ids.Contains(g.schedule)) {
      out.Add("group", g.id, "schedule " + Quote(g.schedule) + " does not exist");
    }
  }

  // `people` holds every person's id with the number of the first person having it, also an id
  // that is not valid; a reference must name a valid one (IsPerson).
  void Person(const rules::Person& p) {
    const uint32_t i = static_cast<uint32_t>(person_ids.size());
    const std::string_view id = arena.Copy(p.id);
    person_ids.push_back(id);
    const bool inserted = people.Insert(id, i).second;
    if (!GoodId(p.id)) {
      out.Add("person", p.id.substr(0, 64),
              "id must be 1-64 characters without control characters");
    } else if (!inserted) {
      out.Add("person", p.id, "duplicate id");
    }
    CheckCount(p.groups.size(), kMaxGroupsPerPerson, "person", p.id, "groups", out);
    CheckGroups("person", p.id, p.groups);
    std::string_view primary;
    if (p.primary) {
      primary = arena.Copy(*p.primary);
      if (primary.data() == nullptr) primary = std::string_view("", 0);
      if (*p.primary == p.id) out.Add("person", p.id, "primary must be another person");
    } else if (p.inherit) {
      out.Add("person", p.id, "inherit is set but there is no primary to inherit from");
    }
    person_primary.push_back(primary);
  }

  void Lease(const rules::Lease& l) {
    CheckId("lease", l.id, options.ids_unique ? nullptr : &lease_ids);
    CheckCount(l.groups.size(), kMaxGroupsPerLease, "lease", l.id, "groups", out);
    CheckCount(l.members.size(), kMaxMembersPerLease, "lease", l.id, "members", out);
    // Leases naming each person (each lease once).
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
    CheckGroups("lease", l.id, l.groups);
    for (const std::string& m : l.members) {
      if (!IsPerson(m)) out.Add("lease", l.id, "member " + Quote(m) + " does not exist");
    }
    if (l.ends_at && *l.ends_at <= l.starts_at)
      out.Add("lease", l.id, "ends_at must be after starts_at");
    if (l.grace_days && (*l.grace_days < 0 || *l.grace_days > 365)) {
      out.Add("lease", l.id, "grace_days must be between 0 and 365");
    }
  }

  void Credential(const rules::Credential& c) {
    const uint32_t ci = credentials++;
    CheckId("credential", c.id, options.ids_unique ? nullptr : &credential_ids);
    if (!IsPerson(c.person)) {
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
        KeyTable::Slot& slot = keys.Insert(k, ci, &inserted);
        if (!inserted && !slot.shared) {
          slot.shared = true;
          shared.push_back({slot.index, k, {}});
        }
      }
    }
  }

  void DoorMode(const rules::DoorMode& m) {
    if (!doors.Contains(m.door)) {
      out.Add("door_mode", m.door, "not a door of this site");
    } else if (!mode_doors.Insert(arena.Copy(m.door), 0).second) {
      out.Add("door_mode", m.door, "duplicate id");
    }
  }

  void Replay(const rules::Credential& c) {
    if (c.status == CredentialStatus::kRevoked) return;
    const CredentialKey k = KeyOf(c);
    if (k.empty()) return;
    for (SharedKey& s : shared) {
      if (s.key == k) {
        s.holders.push_back(
            {c.id, c.valid_from.value_or(kInstantMin), c.valid_until.value_or(kInstantMax)});
        return;
      }
    }
  }

  // Keys held more than once, by their first holder; each key's holders by valid_from.
  void CheckShared() {
    std::sort(shared.begin(), shared.end(),
              [](const SharedKey& a, const SharedKey& b) { return a.first < b.first; });
    for (SharedKey& s : shared) {
      std::stable_sort(s.holders.begin(), s.holders.end(),
                       [](const Holder& a, const Holder& b) { return a.from < b.from; });
      for (size_t i = 1; i < s.holders.size(); ++i) {
        const Holder& prev = s.holders[i - 1];
        const Holder& cur = s.holders[i];
        if (cur.from < prev.until) {
          std::string what =
              s.key.kind == CredentialKey::Kind::kPin ? std::string("pin") : DescribeKey(s.key);
          out.Add(
              "credential", cur.id,
              what + " is already held by credential " + prev.id +
                  " in an overlapping validity window (one card or pin has one holder at a time)");
        }
      }
    }
  }
};

StateValidator::StateValidator(const Site& site, size_t max_errors)
    : StateValidator(site, max_errors, Options{}) {}
StateValidator::StateValidator(const Site& site, size_t max_errors, Options options)
    : s_(std::make_unique<State>(site, max_errors, options)) {}
StateValidator::~StateValidator() = default;

void StateValidator::Add(const Schedule& x) {
  if (s_->Enter(State::kSchedules)) s_->Schedule(x);
}
void StateValidator::Add(const Group& x) {
  if (s_->Enter(State::kGroups)) s_->Group(x);
}
void StateValidator::Add(const Person& x) {
  if (s_->Enter(State::kPeople)) s_->Person(x);
}
void StateValidator::Add(const Lease& x) {
  if (s_->Enter(State::kLeases)) s_->Lease(x);
}
void StateValidator::Add(const Credential& x) {
  if (s_->Enter(State::kCredentials)) s_->Credential(x);
}
void StateValidator::Add(const DoorMode& x) {
  if (s_->Enter(State::kDoorModes)) s_->DoorMode(x);
}
void StateValidator::AddAll(const Records& r) {
  for (const Schedule& x : r.schedules) Add(x);
  for (const Group& x : r.groups) Add(x);
  for (const Person& x : r.people) Add(x);
  for (const Lease& x : r.leases) Add(x);
  for (const Credential& x : r.credentials) Add(x);
  for (const DoorMode& x : r.door_modes) Add(x);
}
bool StateValidator::ordered() const { return s_->ordered; }
bool StateValidator::NeedsReplay() { return s_->ordered && !s_->shared.empty() && !s_->replayed; }
void StateValidator::Replay(const Credential& c) {
  s_->replayed = true;
  s_->Replay(c);
}
std::vector<std::string> StateValidator::Finish() {
  if (!s_->ordered) return {"internal error: records were validated out of kind order"};
  s_->Enter(State::kDone);
  s_->CheckShared();
  return s_->out.Take();
}

std::vector<std::string> Validate(const Site& site, const Records& r, size_t max_errors) {
  StateValidator v(site, max_errors);
  v.AddAll(r);
  if (v.NeedsReplay()) {
    for (const Credential& c : r.credentials) v.Replay(c);
  }
  return v.Finish();
}

}  // namespace lintel::rules
