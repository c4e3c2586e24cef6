#include "rules/index.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace lintel::rules {
namespace {

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

uint64_t HashKey(const CredentialKey& k) {
  return Mix(k.value ^ Mix(uint64_t{k.facility} << 24 | static_cast<uint64_t>(k.kind) << 16 |
                           uint64_t{k.format} << 8 | k.length));
}

uint64_t HashStr(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a, then mixed
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return Mix(h);
}

// Room for 1.5x the rows (and at least 64: a small state grows by deltas without a rebuild).
size_t TableSize(size_t n) { return std::max<size_t>(64, n + n / 2 + 1); }
// Maps a hash onto [0, size) without a division (Lemire's fastrange on the high 32 bits).
size_t Slot(uint64_t h, size_t size) { return static_cast<size_t>(((h >> 32) * size) >> 32); }

// A table entry is (8-bit tag of the hash) << 24 | row, so a probe touches a row only when the
// tags agree: most collisions cost no extra cache miss, and the entry stays 4 bytes.
uint32_t Tag(uint64_t h) { return static_cast<uint32_t>(h & 0xff) << kRowBits; }

// Finds the row whose key matches in an open-addressing table; kNone when absent.
template <typename Table, typename Matches>
uint32_t Probe(const Table& table, uint64_t h, Matches matches) {
  if (table.empty()) return kNone;
  const uint32_t tag = Tag(h);
  size_t i = Slot(h, table.size());
  for (uint32_t e; (e = table[i]) != kNone;) {
    if ((e & ~kRowMask) == tag && matches(e & kRowMask)) return e & kRowMask;
    if (++i == table.size()) i = 0;
  }
  return kNone;
}

// Inserts `row` unless a matching row is there; returns the existing row or kNone.
template <typename Table, typename Matches>
uint32_t Insert(Table& table, uint64_t h, uint32_t row, Matches matches) {
  const uint32_t tag = Tag(h);
  size_t i = Slot(h, table.size());
  for (uint32_t e; (e = table[i]) != kNone;) {
    if ((e & ~kRowMask) == tag && matches(e & kRowMask)) return e & kRowMask;
    if (++i == table.size()) i = 0;
  }
  table.Mutable(i) = tag | row;
  return kNone;
}

// Removes the entry at slot `i` of a linear-probing table, moving later entries of the same run
// back so that every entry stays reachable from its home slot (no tombstones). `home(row)` is the
// home slot of a row's entry.
template <typename Table, typename Home>
void EraseSlot(Table& table, size_t i, Home home) {
  const size_t n = table.size();
  table.Mutable(i) = kNone;
  for (size_t j = i + 1 == n ? 0 : i + 1; table[j] != kNone; j = j + 1 == n ? 0 : j + 1) {
    size_t k = home(table[j] & kRowMask);
    // The entry at j may move to the hole at i when its home slot is not in (i, j] cyclically.
    bool between = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (between) continue;
    table.Mutable(i) = table[j];
    table.Mutable(j) = kNone;
    i = j;
  }
}

// Longest string the index keeps (ids are at most 64 bytes; a longer name is cut at a UTF-8
// boundary: names are only shown and sent to locks, which cut them further).
constexpr size_t kMaxIndexString = 1024;

std::string_view Clip(std::string_view s) {
  if (s.size() <= kMaxIndexString) return s;
  size_t n = kMaxIndexString;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

Str InternIn(Index::Arena& a, std::string_view s) {
  s = Clip(s);
  return {static_cast<uint32_t>(a.Append(s.data(), s.size())), static_cast<uint32_t>(s.size())};
}

int64_t OrMin(const std::optional<Instant>& t) { return t ? ToUnix(*t) : INT64_MIN; }
int64_t OrMax(const std::optional<Instant>& t) { return t ? ToUnix(*t) : INT64_MAX; }

}  // namespace

struct IndexBuilder::Pending {
  std::shared_ptr<Index> index{new Index()};
  std::vector<Schedule> schedules;
  std::vector<Group> groups;
  std::vector<DoorMode> modes;
  // Unresolved references, as strings of `scratch` (not the index's arena: they are dropped once
  // resolved), parallel to the index's rows.
  std::string scratch;
  std::vector<Str> names;                                    // pool of referenced ids
  std::vector<Str> person_primary;                           // size 0 = none
  std::vector<std::pair<uint32_t, uint32_t>> person_groups;  // into names
  std::vector<std::pair<uint32_t, uint32_t>> lease_members;  // into names
  std::vector<std::pair<uint32_t, uint32_t>> lease_groups;   // into names
  std::vector<Str> cred_person;
  // ble_key credentials: (row, lock door id), the rest of BleKeyRec filled in.
  std::vector<std::pair<BleKeyRec, std::string>> ble_keys;

  Str Intern(std::string_view s) { return InternIn(index->arena_, s); }
  Str Scratch(std::string_view s) {
    Str r{static_cast<uint32_t>(scratch.size()), static_cast<uint32_t>(s.size())};
    scratch.append(s);
    return r;
  }
  std::string_view Name(Str s) const { return {scratch.data() + s.offset, s.size}; }
  std::pair<uint32_t, uint32_t> ScratchList(const std::vector<std::string>& ids) {
    uint32_t off = static_cast<uint32_t>(names.size());
    for (const std::string& id : ids) names.push_back(Scratch(id));
    return {off, static_cast<uint32_t>(ids.size())};
  }
};

IndexBuilder::IndexBuilder(Site site) : p_(std::make_unique<Pending>()) {
  p_->index->site_ = std::move(site);
  if (!p_->index->site_.zone) p_->index->site_.zone = FixedTimeZone("UTC", 0);
}
IndexBuilder::~IndexBuilder() = default;

void IndexBuilder::Reserve(size_t credentials, size_t people, size_t leases) {
  Index& x = *p_->index;
  x.credentials_.reserve(credentials);
  p_->cred_person.reserve(credentials);
  x.people_.reserve(people);
  p_->person_primary.reserve(people);
  p_->person_groups.reserve(people);
  x.leases_.reserve(leases);
  p_->lease_members.reserve(leases);
  p_->lease_groups.reserve(leases);
  x.arena_.reserve(credentials * 12 + people * 24 + leases * 16);
  p_->names.reserve(people + leases * 3);
}

void IndexBuilder::Add(const Schedule& s) { p_->schedules.push_back(s); }
void IndexBuilder::Add(const Group& g) { p_->groups.push_back(g); }
void IndexBuilder::Add(const DoorMode& m) { p_->modes.push_back(m); }

void IndexBuilder::Add(const Person& in) {
  PersonRec r;
  r.id = p_->Intern(in.id);
  r.name = p_->Intern(in.name);
  r.role = in.role;
  r.status = in.status;
  r.inherit = in.inherit;
  p_->index->people_.push_back(r);
  p_->person_primary.push_back(in.primary ? p_->Scratch(*in.primary) : Str{});
  p_->person_groups.push_back(p_->ScratchList(in.groups));
}

namespace {
int64_t PaidUntil(const Lease& in, const Site& site) {
  if (!in.paid_through) return INT64_MAX;
  int64_t grace = in.grace_days.value_or(site.policy.rent_grace_days);
  return ToUnix(*in.paid_through) + grace * 86400;
}
}  // namespace

void IndexBuilder::Add(const Lease& in) {
  LeaseRec r;
  r.id = p_->Intern(in.id);
  r.unit = p_->Intern(in.unit);
  r.starts_at = ToUnix(in.starts_at);
  r.ends_at = OrMax(in.ends_at);
  r.paid_until = PaidUntil(in, p_->index->site_);
  p_->index->leases_.push_back(r);
  p_->lease_members.push_back(p_->ScratchList(in.members));
  p_->lease_groups.push_back(p_->ScratchList(in.groups));
}

void IndexBuilder::Add(const Credential& in) {
  CredentialRec r;
  r.key = KeyOf(in);
  r.id = p_->Intern(in.id);
  r.valid_from = OrMin(in.valid_from);
  r.valid_until = OrMax(in.valid_until);
  r.type = in.type;
  r.status = in.status;
  p_->index->credentials_.push_back(r);
  p_->cred_person.push_back(p_->Scratch(in.person));
  if (in.type == CredentialType::kBleKey) {
    BleKeyRec b;
    b.credential = static_cast<uint32_t>(p_->index->credentials_.size() - 1);
    b.key = p_->Intern(in.ble_key.key);
    b.name = p_->Intern(in.ble_key.name);
    p_->ble_keys.emplace_back(b, in.ble_key.lock);
  }
}

void IndexBuilder::AddAll(const Records& r) {
  Reserve(r.credentials.size(), r.people.size(), r.leases.size());
  for (const auto& x : r.schedules) Add(x);
  for (const auto& x : r.groups) Add(x);
  for (const auto& x : r.people) Add(x);
  for (const auto& x : r.leases) Add(x);
  for (const auto& x : r.credentials) Add(x);
  for (const auto& x : r.door_modes) Add(x);
}

namespace {

// Schedule and group resolution shared by Build and the delta editor.
ScheduleRec MakeSchedule(Index::Arena& arena, Schedule s) {
  std::sort(s.exceptions.begin(), s.exceptions.end(),
            [](auto& a, auto& b) { return a.date < b.date; });
  return {InternIn(arena, s.id), std::move(s.windows), std::move(s.exceptions)};
}

template <typename DoorNo, typename ScheduleNo, typename Warn>
GroupRec MakeGroup(Index::Arena& arena, const Group& g, DoorNo door_no, ScheduleNo schedule_no,
                   Warn warn) {
  GroupRec r;
  r.id = InternIn(arena, g.id);
  r.name = InternIn(arena, g.name);
  for (const std::string& d : g.doors) {
    uint32_t no = door_no(d);
    if (no == kNone) {
      warn("group " + g.id + ": door " + d + " is not a door of this site; ignored");
    } else {
      r.doors.push_back(static_cast<uint16_t>(no));
    }
  }
  std::sort(r.doors.begin(), r.doors.end());
  r.schedule = schedule_no(g.schedule);
  if (r.schedule == kNone) {
    warn("group " + g.id + ": schedule " + g.schedule + " does not exist; group never open");
  }
  return r;
}

Group BuiltInDefaultGroup(const Site& site) {
  Group def{std::string(kDefaultGroup), "Common doors", {}, std::string(kAlwaysSchedule)};
  for (const DoorInfo& d : site.doors) {
    if (d.common) def.doors.push_back(d.id);
  }
  return def;
}

// Appends `list` to refs as one contiguous run; returns its offset.
uint32_t AppendList(Index::BigVector<uint32_t>& refs, const std::vector<uint32_t>& list) {
  return static_cast<uint32_t>(refs.Append(list.data(), list.size()));
}

}  // namespace

std::shared_ptr<const Index> IndexBuilder::Build(std::vector<std::string>* warnings) {
  Pending& p = *p_;
  Index& x = *p.index;
  auto warn = [&](std::string w) {
    if (warnings && warnings->size() < 100) warnings->push_back(std::move(w));
  };

  // Doors.
  std::unordered_map<std::string, uint16_t> door_no;
  for (const DoorInfo& d : x.site_.doors) {
    if (door_no.emplace(d.id, static_cast<uint16_t>(x.doors_.size())).second) {
      x.doors_.push_back({d.id, d.common});
    }
  }
  x.door_by_id_.assign(TableSize(x.doors_.size()) * 2, kNone);  // few doors: keep probes short
  for (uint32_t i = 0; i < x.doors_.size(); ++i) {
    const std::string& id = x.doors_[i].id;
    const uint32_t tag = Tag(HashStr(id));
    size_t s = Slot(HashStr(id), x.door_by_id_.size());
    while (x.door_by_id_[s] != kNone) s = s + 1 == x.door_by_id_.size() ? 0 : s + 1;
    x.door_by_id_[s] = tag | i;
  }
  for (const DoorMode& m : p.modes) {
    auto it = door_no.find(m.door);
    if (it == door_no.end()) {
      warn("door_mode " + m.door + ": not a door of this site; ignored");
      continue;
    }
    x.doors_[it->second].mode = m.mode;
    x.doors_[it->second].mode_until = OrMax(m.until);
  }

  // Schedules: "always" is row 0.
  std::unordered_map<std::string, uint32_t> schedule_no;
  x.schedules_.push_back({p.Intern(kAlwaysSchedule), {Window{0x7f, 0, 1440}}, {}});
  schedule_no.emplace(kAlwaysSchedule, 0);
  for (Schedule& s : p.schedules) {
    if (!schedule_no.emplace(s.id, static_cast<uint32_t>(x.schedules_.size())).second) {
      warn("schedule " + s.id + ": duplicate or reserved id; ignored");
      continue;
    }
    x.schedules_.push_back(MakeSchedule(x.arena_, std::move(s)));
  }

  // Groups: "default" unless the state defines it.
  std::unordered_map<std::string, uint32_t> group_no;
  auto find_door = [&](const std::string& d) -> uint32_t {
    auto it = door_no.find(d);
    return it == door_no.end() ? kNone : it->second;
  };
  auto find_schedule = [&](const std::string& s) -> uint32_t {
    auto it = schedule_no.find(s);
    return it == schedule_no.end() ? kNone : it->second;
  };
  auto add_group = [&](const Group& g) {
    group_no[g.id] = static_cast<uint32_t>(x.groups_.size());
    x.groups_.push_back(MakeGroup(x.arena_, g, find_door, find_schedule, warn));
  };
  bool has_default = std::any_of(p.groups.begin(), p.groups.end(),
                                 [](const Group& g) { return g.id == kDefaultGroup; });
  if (!has_default) add_group(BuiltInDefaultGroup(x.site_));
  for (const Group& g : p.groups) {
    if (group_no.count(g.id)) {
      warn("group " + g.id + ": duplicate id; ignored");
      continue;
    }
    add_group(g);
  }

  // Row numbers share their 32-bit table entry with an 8-bit tag.
  size_t credentials = x.credentials_.size();
  size_t people = std::min<size_t>(x.people_.size(), kMaxRows);
  if (credentials > kMaxRows || x.people_.size() > kMaxRows) {
    warn("more than " + std::to_string(kMaxRows) + " credentials or people; the rest is ignored");
    credentials = std::min<size_t>(credentials, kMaxRows);
  }

  // People by id.
  x.person_by_id_.assign(TableSize(x.people_.size()), kNone);
  for (uint32_t i = 0; i < people; ++i) {
    std::string_view id = x.str(x.people_[i].id);
    if (Insert(x.person_by_id_, HashStr(id), i,
               [&](uint32_t r) { return x.str(x.people_[r].id) == id; }) != kNone) {
      warn("person " + std::string(id) + ": duplicate id; later record ignored");
      x.people_.Mutable(i).dead = true;
    }
  }
  for (uint32_t i = static_cast<uint32_t>(people); i < x.people_.size(); ++i) {
    x.people_.Mutable(i).dead = true;
  }
  // Lists longer than Validate allows (a state stored by an older version) keep their first
  // `max` entries: the counts are 16 bits wide and must never wrap.
  std::vector<uint32_t> list;
  auto resolve_groups = [&](std::pair<uint32_t, uint32_t> names, std::string_view owner, size_t max,
                            uint16_t* count) {
    if (names.second > max) {
      warn(std::string(owner) + ": " + std::to_string(names.second) + " groups, only the first " +
           std::to_string(max) + " are used");
      names.second = static_cast<uint32_t>(max);
    }
    list.clear();
    for (uint32_t j = 0; j < names.second; ++j) {
      std::string gid(p.Name(p.names[names.first + j]));
      auto it = group_no.find(gid);
      if (it == group_no.end()) {
        warn(std::string(owner) + ": group " + gid + " does not exist; ignored");
      } else {
        list.push_back(it->second);
      }
    }
    *count = static_cast<uint16_t>(list.size());
    return AppendList(x.refs_, list);
  };
  for (uint32_t i = 0; i < people; ++i) {
    PersonRec& r = x.people_.Mutable(i);
    if (r.dead) continue;
    if (p.person_primary[i].size > 0) {
      r.primary = x.FindPerson(p.Name(p.person_primary[i]));
      if (r.primary == kNone || r.primary == i) {
        warn("person " + std::string(x.str(r.id)) + ": primary " +
             std::string(p.Name(p.person_primary[i])) + " does not exist; ignored");
        r.primary = kNone;
      }
    }
    r.groups = resolve_groups(p.person_groups[i], "person " + std::string(x.str(r.id)),
                              kMaxGroupsPerPerson, &r.groups_count);
    ++x.live_people_;
  }

  // Leases: by id, groups, members, then the member -> leases lists.
  x.lease_by_id_.assign(TableSize(x.leases_.size()), kNone);
  std::vector<std::pair<uint32_t, uint32_t>> member_of;  // (person, lease)
  for (uint32_t i = 0; i < x.leases_.size(); ++i) {
    LeaseRec& l = x.leases_.Mutable(i);
    std::string_view id = x.str(l.id);
    if (i >= kMaxRows || Insert(x.lease_by_id_, HashStr(id), i, [&](uint32_t r) {
                           return x.str(x.leases_[r].id) == id;
                         }) != kNone) {
      warn("lease " + std::string(id) + ": duplicate id; later record ignored");
      l.dead = true;
      continue;
    }
    l.groups = resolve_groups(p.lease_groups[i], "lease " + std::string(id), kMaxGroupsPerLease,
                              &l.groups_count);
    auto [off, n] = p.lease_members[i];
    list.clear();
    for (uint32_t j = 0; j < n && list.size() < kMaxMembersPerLease; ++j) {
      uint32_t person = x.FindPerson(p.Name(p.names[off + j]));
      if (person == kNone) {
        warn("lease " + std::string(id) + ": member " + std::string(p.Name(p.names[off + j])) +
             " does not exist; ignored");
      } else {
        member_of.emplace_back(person, i);
        list.push_back(person);
      }
    }
    l.members = AppendList(x.refs_, list);
    l.members_count = static_cast<uint16_t>(list.size());
    ++x.live_leases_;
  }
  std::sort(member_of.begin(), member_of.end());
  for (size_t j = 0; j < member_of.size();) {
    PersonRec& r = x.people_.Mutable(member_of[j].first);
    list.clear();
    size_t k = j;
    for (; k < member_of.size() && member_of[k].first == member_of[j].first; ++k) {
      if (k - j < kMaxLeasesPerPerson) list.push_back(member_of[k].second);
    }
    if (k - j > kMaxLeasesPerPerson) {
      warn("person " + std::string(x.str(r.id)) + ": named by " + std::to_string(k - j) +
           " leases, only the first " + std::to_string(kMaxLeasesPerPerson) + " are used");
    }
    r.leases = AppendList(x.refs_, list);
    r.leases_count = static_cast<uint16_t>(list.size());
    j = k;
  }

  // Credentials: by id, and by key with same-key chains ordered by valid_from.
  x.cred_by_id_.assign(TableSize(x.credentials_.size()), kNone);
  x.cred_by_key_.assign(TableSize(x.credentials_.size()), kNone);
  for (uint32_t i = 0; i < x.credentials_.size(); ++i) {
    CredentialRec& c = x.credentials_.Mutable(i);
    if (i >= credentials) {
      c.key = {};
      continue;
    }
    std::string_view id = x.str(c.id);
    if (Insert(x.cred_by_id_, HashStr(id), i,
               [&](uint32_t r) { return x.str(x.credentials_[r].id) == id; }) != kNone) {
      warn("credential " + std::string(id) + ": duplicate id; later record ignored");
      c.key = {};
      continue;
    }
    c.person = x.FindPerson(p.Name(p.cred_person[i]));
    if (c.person == kNone) {
      warn("credential " + std::string(id) + ": person " + std::string(p.Name(p.cred_person[i])) +
           " does not exist; credential ignored");
      c.key = {};
      continue;
    }
    ++x.live_credentials_;
    if (c.key.empty()) continue;
    uint64_t h = HashKey(c.key);
    uint32_t head =
        Insert(x.cred_by_key_, h, i, [&](uint32_t r) { return x.credentials_[r].key == c.key; });
    if (head == kNone) continue;
    if (c.valid_from < x.credentials_[head].valid_from) {
      // The new row becomes the chain head: replace the table entry.
      c.next_same_key = head;
      size_t s = Slot(h, x.cred_by_key_.size());
      while ((x.cred_by_key_[s] & kRowMask) != head) s = s + 1 == x.cred_by_key_.size() ? 0 : s + 1;
      x.cred_by_key_.Mutable(s) = Tag(h) | i;
    } else {
      uint32_t at = head;
      while (x.credentials_[at].next_same_key != kNone &&
             x.credentials_[x.credentials_[at].next_same_key].valid_from <= c.valid_from) {
        at = x.credentials_[at].next_same_key;
      }
      c.next_same_key = x.credentials_[at].next_same_key;
      x.credentials_.Mutable(at).next_same_key = i;
    }
  }

  // ble_key lock data of the credentials kept (rows ascend: they were added in row order).
  auto ble = std::make_shared<std::vector<BleKeyRec>>();
  for (auto& [b, lock] : p.ble_keys) {
    if (b.credential >= x.credentials_.size() || x.credentials_[b.credential].person == kNone) {
      continue;  // a dropped credential (duplicate id, unknown person, beyond the row limit)
    }
    auto it = door_no.find(lock);
    if (it == door_no.end()) {
      warn("credential " + std::string(x.str(x.credentials_[b.credential].id)) + ": ble_key lock " +
           lock + " is not a door of this site; the key goes to no lock");
    } else {
      b.door = it->second;
    }
    ble->push_back(b);
  }
  x.ble_keys_ = std::move(ble);

  x.built_bytes_ = x.MemoryBytes();
  std::shared_ptr<const Index> out = std::move(p.index);
  p_.reset();
  return out;
}

uint32_t Index::FindDoor(std::string_view id) const {
  return Probe(door_by_id_, HashStr(id), [&](uint32_t r) { return doors_[r].id == id; });
}

uint32_t Index::FindCredentialByKey(const CredentialKey& k) const {
  return Probe(cred_by_key_, HashKey(k), [&](uint32_t r) { return credentials_[r].key == k; });
}

uint32_t Index::RowOfCredential(std::string_view id) const {
  return Probe(cred_by_id_, HashStr(id), [&](uint32_t r) { return str(credentials_[r].id) == id; });
}
uint32_t Index::FindCredentialById(std::string_view id) const {
  uint32_t r = RowOfCredential(id);
  return r != kNone && credentials_[r].person != kNone ? r : kNone;
}

uint32_t Index::RowOfPerson(std::string_view id) const {
  return Probe(person_by_id_, HashStr(id), [&](uint32_t r) { return str(people_[r].id) == id; });
}
uint32_t Index::FindPerson(std::string_view id) const {
  uint32_t r = RowOfPerson(id);
  return r != kNone && !people_[r].dead ? r : kNone;
}

uint32_t Index::RowOfLease(std::string_view id) const {
  return Probe(lease_by_id_, HashStr(id), [&](uint32_t r) { return str(leases_[r].id) == id; });
}
uint32_t Index::FindLease(std::string_view id) const {
  uint32_t r = RowOfLease(id);
  return r != kNone && !leases_[r].dead ? r : kNone;
}

const BleKeyRec* Index::FindBleKey(uint32_t credential) const {
  auto it = std::lower_bound(ble_keys_->begin(), ble_keys_->end(), credential,
                             [](const BleKeyRec& b, uint32_t c) { return b.credential < c; });
  return it != ble_keys_->end() && it->credential == credential ? &*it : nullptr;
}

bool Index::ScheduleOpen(uint32_t s, const LocalTime& local) const {
  if (s >= schedules_.size()) return false;
  const ScheduleRec& rec = schedules_[s];
  auto in = [&](const Window& w) { return w.from_min <= local.minute && local.minute < w.to_min; };
  auto ex = std::lower_bound(rec.exceptions.begin(), rec.exceptions.end(), local.days,
                             [](const ScheduleException& e, int32_t d) { return e.date < d; });
  if (ex != rec.exceptions.end() && ex->date == local.days) {
    return std::any_of(ex->windows.begin(), ex->windows.end(), in);
  }
  return std::any_of(rec.windows.begin(), rec.windows.end(),
                     [&](const Window& w) { return (w.days >> local.weekday & 1) && in(w); });
}

size_t Index::MemoryBytes() const {
  size_t n = arena_.MemoryBytes() + refs_.MemoryBytes() + credentials_.MemoryBytes() +
             people_.MemoryBytes() + leases_.MemoryBytes() + cred_by_key_.MemoryBytes() +
             cred_by_id_.MemoryBytes() + person_by_id_.MemoryBytes() + lease_by_id_.MemoryBytes();
  for (const auto& g : groups_) n += sizeof(GroupRec) + g.doors.capacity() * 2;
  for (const auto& s : schedules_) {
    n += sizeof(ScheduleRec) + s.windows.capacity() * sizeof(Window);
    for (const auto& e : s.exceptions) n += sizeof(e) + e.windows.capacity() * sizeof(Window);
  }
  return n + doors_.capacity() * sizeof(DoorRec) + ble_keys_->capacity() * sizeof(BleKeyRec);
}

size_t Index::SharedBytes(const Index& o) const {
  return arena_.SharedBytes(o.arena_) + refs_.SharedBytes(o.refs_) +
         credentials_.SharedBytes(o.credentials_) + people_.SharedBytes(o.people_) +
         leases_.SharedBytes(o.leases_) + cred_by_key_.SharedBytes(o.cred_by_key_) +
         cred_by_id_.SharedBytes(o.cred_by_id_) + person_by_id_.SharedBytes(o.person_by_id_) +
         lease_by_id_.SharedBytes(o.lease_by_id_);
}

bool Index::AliasesMapping() const {
  return arena_.aliases_mapping() || refs_.aliases_mapping() || credentials_.aliases_mapping() ||
         people_.aliases_mapping() || leases_.aliases_mapping() || cred_by_key_.aliases_mapping() ||
         cred_by_id_.aliases_mapping() || person_by_id_.aliases_mapping() ||
         lease_by_id_.aliases_mapping();
}

std::shared_ptr<const Index> CopyToOwnedChunks(const Index& x) {
  std::shared_ptr<Index> y(new Index(x));
  y->arena_ = x.arena_.Owned();
  y->refs_ = x.refs_.Owned();
  y->credentials_ = x.credentials_.Owned();
  y->people_ = x.people_.Owned();
  y->leases_ = x.leases_.Owned();
  y->cred_by_key_ = x.cred_by_key_.Owned();
  y->cred_by_id_ = x.cred_by_id_.Owned();
  y->person_by_id_ = x.person_by_id_.Owned();
  y->lease_by_id_ = x.lease_by_id_.Owned();
  return y;
}

std::shared_ptr<const Index> PatchCredentials(const Index& base,
                                              const std::vector<Credential>& updates) {
  struct Change {
    uint32_t row;
    CredentialStatus status;
    int64_t valid_until;
  };
  std::vector<Change> changes;
  changes.reserve(updates.size());
  for (const Credential& c : updates) {
    if (c.type != CredentialType::kCard && c.type != CredentialType::kPin) return nullptr;
    uint32_t row = base.FindCredentialById(c.id);
    if (row == kNone) return nullptr;
    const CredentialRec& r = base.credentials()[row];
    if (r.type != c.type || !(r.key == KeyOf(c)) || r.valid_from != OrMin(c.valid_from)) {
      return nullptr;
    }
    if (r.person == kNone || base.str(base.people()[r.person].id) != c.person) return nullptr;
    int64_t until = OrMax(c.valid_until);
    if (until > r.valid_until || until <= r.valid_from) return nullptr;
    if (r.status == CredentialStatus::kRevoked && c.status != CredentialStatus::kRevoked) {
      return nullptr;
    }
    changes.push_back({row, c.status, until});
  }
  // A copy shares every chunk; only the chunks of the changed rows are copied.
  std::shared_ptr<Index> copy(new Index(base));
  for (const Change& ch : changes) {
    CredentialRec& r = copy->credentials_.Mutable(ch.row);
    r.status = ch.status;
    r.valid_until = ch.valid_until;
  }
  return copy;
}

std::optional<std::vector<CredentialRestriction>> CredentialRestrictionsOf(
    const Index& base, const std::vector<Op>& ops) {
  std::vector<CredentialRestriction> out;
  for (const Op& op : ops) {
    if (op.kind != RecordKind::kCredential) return std::nullopt;
    const uint32_t row = base.FindCredentialById(op.id);
    if (row == kNone) return std::nullopt;
    const CredentialRec& r = base.credentials()[row];
    if (r.type != CredentialType::kCard && r.type != CredentialType::kPin) return std::nullopt;
    if (op.op == OpKind::kDelete) {
      out.push_back({.id = op.id, .deleted = true});
      continue;
    }
    const auto* c = std::get_if<Credential>(&op.record);
    if (c == nullptr || c->type != r.type || !(KeyOf(*c) == r.key)) return std::nullopt;
    // The same holder and start: only the status and the end may differ.
    if (r.person == kNone || base.str(base.people()[r.person].id) != c->person ||
        r.valid_from != OrMin(c->valid_from)) {
      return std::nullopt;
    }
    const CredentialStatus status = std::max(r.status, c->status);
    const int64_t until = std::min(r.valid_until, OrMax(c->valid_until));
    if (status == r.status && until == r.valid_until) continue;  // narrows nothing
    out.push_back({.id = op.id, .status = status, .valid_until = until});
  }
  return out;
}

std::shared_ptr<const Index> RestrictCredentials(
    const Index& base, const std::vector<CredentialRestriction>& restrictions) {
  std::shared_ptr<Index> copy;
  for (const CredentialRestriction& x : restrictions) {
    const uint32_t row = base.FindCredentialById(x.id);
    if (row == kNone) continue;
    const CredentialRec& r = base.credentials()[row];
    if (r.type != CredentialType::kCard && r.type != CredentialType::kPin) continue;
    static_assert(CredentialStatus::kActive < CredentialStatus::kSuspended &&
                  CredentialStatus::kSuspended < CredentialStatus::kRevoked);  // = strictness
    const CredentialStatus status = std::max(r.status, x.status);
    const int64_t until = std::min(r.valid_until, x.valid_until);
    if (!x.deleted && status == r.status && until == r.valid_until) continue;
    if (!copy) copy.reset(new Index(base));  // shares every chunk until written
    CredentialRec& w = copy->credentials_.Mutable(row);
    w.status = status;
    w.valid_until = until;
    if (x.deleted) {
      // No holder: decided as an unknown card or PIN. Revoked too, so that another credential of
      // the same card or PIN in force now is still picked first (as it would be without this one).
      w.person = kNone;
      w.status = CredentialStatus::kRevoked;
    }
  }
  return copy;
}

// Applies a delta to a copy of an index (ApplyOpsToIndex). Kinds are applied in dependency order
// (schedules, groups, door modes, people, leases, credentials), each kind's ops in their order:
// the records that result are those of ApplyOpsTo, whose kinds do not interact. References are
// resolved once every record of the delta is in place.
class IndexEditor {
 public:
  explicit IndexEditor(const Index& base) : x_(new Index(base)) {}

  bool Apply(const std::vector<Op>& ops, std::string* why) {
    why_ = why;
    if (x_->edited_bytes_ > std::max<size_t>(x_->built_bytes_ / 4, 16u << 20)) {
      return Fail("the index holds more than a quarter of its size in edits: rebuilt");
    }
    for (RecordKind kind : {RecordKind::kSchedule, RecordKind::kGroup, RecordKind::kDoorMode,
                            RecordKind::kPerson, RecordKind::kLease, RecordKind::kCredential}) {
      for (const Op& op : ops) {
        if (op.kind == kind && !ApplyOne(op)) return false;
      }
      if (kind == RecordKind::kPerson && !ResolvePeople()) return false;
      if (kind == RecordKind::kLease && !ResolveLeases()) return false;
    }
    if (!StoreLeaseLists()) return false;
    if (ble_) x_->ble_keys_ = std::move(ble_);
    x_->edited_bytes_ += (x_->arena_.size() - arena_at_) + (x_->refs_.size() - refs_at_) * 4;
    return true;
  }

  std::shared_ptr<const Index> Take() { return std::move(x_); }

 private:
  bool Fail(std::string reason) {
    if (why_) *why_ = std::move(reason);
    return false;
  }

  bool ApplyOne(const Op& op) {
    const bool put = op.op == OpKind::kPut;
    switch (op.kind) {
      case RecordKind::kSchedule:
        return put ? PutSchedule(std::get<Schedule>(op.record))
                   : Fail("a schedule delete: rebuilt");
      case RecordKind::kGroup:
        return put ? PutGroup(std::get<Group>(op.record)) : Fail("a group delete: rebuilt");
      case RecordKind::kDoorMode:
        return put ? PutDoorMode(&std::get<DoorMode>(op.record), op.id)
                   : PutDoorMode(nullptr, op.id);
      case RecordKind::kPerson:
        return put ? PutPerson(std::get<Person>(op.record)) : DeletePerson(op.id);
      case RecordKind::kLease:
        return put ? PutLease(std::get<Lease>(op.record)) : DeleteLease(op.id);
      case RecordKind::kCredential:
        return put ? PutCredential(std::get<Credential>(op.record)) : DeleteCredential(op.id);
    }
    return Fail("unknown record kind");
  }

  // --- The small kinds (plain vectors, copied with the index).

  uint32_t ScheduleNo(std::string_view id) const {
    for (uint32_t i = 0; i < x_->schedules_.size(); ++i) {
      if (x_->str(x_->schedules_[i].id) == id) return i;
    }
    return kNone;
  }
  uint32_t GroupNo(std::string_view id) {
    if (group_no_.empty()) {
      for (uint32_t i = 0; i < x_->groups_.size(); ++i) {
        group_no_.emplace(std::string(x_->str(x_->groups_[i].id)), i);
      }
    }
    auto it = group_no_.find(std::string(id));
    return it == group_no_.end() ? kNone : it->second;
  }

  bool PutSchedule(const Schedule& s) {
    if (s.id == kAlwaysSchedule) return true;  // reserved: Build ignores it too
    uint32_t no = ScheduleNo(s.id);
    ScheduleRec rec = MakeSchedule(x_->arena_, s);
    if (no == kNone) {
      x_->schedules_.push_back(std::move(rec));
    } else {
      x_->schedules_[no] = std::move(rec);
    }
    return true;
  }

  bool PutGroup(const Group& g) {
    auto ignore = [](const std::string&) {};
    GroupRec rec = MakeGroup(
        x_->arena_, g, [&](const std::string& d) { return x_->FindDoor(d); },
        [&](const std::string& s) { return ScheduleNo(s); }, ignore);
    uint32_t no = GroupNo(g.id);
    if (no == kNone) {
      group_no_.emplace(g.id, static_cast<uint32_t>(x_->groups_.size()));
      x_->groups_.push_back(std::move(rec));
    } else {
      x_->groups_[no] = std::move(rec);
    }
    return true;
  }

  bool PutDoorMode(const DoorMode* m, const std::string& door) {
    uint32_t d = x_->FindDoor(door);
    if (d == kNone) return true;  // not a door of this site: Build ignores it too
    x_->doors_[d].mode = m ? m->mode : DoorModeKind::kNormal;
    x_->doors_[d].mode_until = m ? OrMax(m->until) : INT64_MAX;
    return true;
  }

  // --- Rows.

  // A new row of a chunked array, within the row limit and its id table's room.
  template <typename Rec>
  bool NewRow(Index::BigVector<Rec>& rows, const Index::BigVector<uint32_t>& table, uint32_t* row) {
    if (rows.size() >= kMaxRows) return Fail("the row limit is reached: rebuilt");
    if ((rows.size() + 1) * 20 > table.size() * 17) return Fail("an id table is full: rebuilt");
    *row = static_cast<uint32_t>(rows.size());
    rows.push_back(Rec{});
    return true;
  }

  // The arena string for `s`: the old one when equal (no garbage), else a new one.
  Str Keep(Str old, std::string_view s) {
    return x_->str(old) == Clip(s) ? old : InternIn(x_->arena_, s);
  }

  bool PutPerson(const Person& in) {
    uint32_t row = x_->RowOfPerson(in.id);
    if (row == kNone) {
      if (!NewRow(x_->people_, x_->person_by_id_, &row)) return false;
      PersonRec& r = x_->people_.Mutable(row);
      r.id = InternIn(x_->arena_, in.id);
      r.dead = true;
      (void)Insert(x_->person_by_id_, HashStr(in.id), row, [](uint32_t) { return false; });
    }
    PersonRec& r = x_->people_.Mutable(row);
    // A deleted person's list of the leases naming it stays kept up to date by lease edits.
    if (r.dead) ++x_->live_people_;
    r.dead = false;
    r.name = Keep(r.name, in.name);
    r.role = in.role;
    r.status = in.status;
    r.inherit = in.inherit;
    people_[row] = &in;
    return true;
  }

  bool DeletePerson(const std::string& id) {
    uint32_t row = x_->FindPerson(id);
    if (row == kNone) return true;
    PersonRec& r = x_->people_.Mutable(row);
    r.dead = true;
    r.primary = kNone;
    --x_->live_people_;
    x_->edited_bytes_ += sizeof(PersonRec);
    people_.erase(row);
    return true;
  }

  bool ResolvePeople() {
    std::vector<uint32_t> list;
    for (auto [row, in] : people_) {
      PersonRec& r = x_->people_.Mutable(row);
      r.primary = kNone;
      if (in->primary) {
        r.primary = x_->FindPerson(*in->primary);
        if (r.primary == row) r.primary = kNone;
      }
      list.clear();
      for (const std::string& g : in->groups) {
        if (list.size() == kMaxGroupsPerPerson) break;
        uint32_t no = GroupNo(g);
        if (no != kNone) list.push_back(no);
      }
      r.groups = AppendList(x_->refs_, list);
      r.groups_count = static_cast<uint16_t>(list.size());
    }
    return true;
  }

  // The leases naming `person`, as edited so far (loaded from the index on first touch).
  std::vector<uint32_t>& LeasesOf(uint32_t person) {
    auto [it, added] = lease_lists_.try_emplace(person);
    if (added) {
      const PersonRec& p = x_->people_[person];
      it->second.assign(x_->refs(p.leases), x_->refs(p.leases) + p.leases_count);
    }
    return it->second;
  }

  void DropMembers(uint32_t row) {
    const LeaseRec& l = x_->leases_[row];
    for (uint16_t i = 0; i < l.members_count; ++i) {
      std::vector<uint32_t>& list = LeasesOf(x_->refs(l.members)[i]);
      list.erase(std::remove(list.begin(), list.end(), row), list.end());
    }
    x_->leases_.Mutable(row).members_count = 0;
  }

  bool PutLease(const Lease& in) {
    uint32_t row = x_->RowOfLease(in.id);
    if (row == kNone) {
      if (!NewRow(x_->leases_, x_->lease_by_id_, &row)) return false;
      LeaseRec& r = x_->leases_.Mutable(row);
      r.id = InternIn(x_->arena_, in.id);
      r.dead = true;
      (void)Insert(x_->lease_by_id_, HashStr(in.id), row, [](uint32_t) { return false; });
    }
    if (x_->leases_[row].dead) {
      ++x_->live_leases_;
    } else {
      DropMembers(row);
    }
    LeaseRec& r = x_->leases_.Mutable(row);
    r.dead = false;
    r.unit = Keep(r.unit, in.unit);
    r.starts_at = ToUnix(in.starts_at);
    r.ends_at = OrMax(in.ends_at);
    r.paid_until = PaidUntil(in, x_->site_);
    leases_[row] = &in;
    return true;
  }

  bool DeleteLease(const std::string& id) {
    uint32_t row = x_->FindLease(id);
    if (row == kNone) return true;
    DropMembers(row);
    x_->leases_.Mutable(row).dead = true;
    --x_->live_leases_;
    x_->edited_bytes_ += sizeof(LeaseRec);
    leases_.erase(row);
    return true;
  }

  bool ResolveLeases() {
    std::vector<uint32_t> list;
    for (auto [row, in] : leases_) {
      LeaseRec& r = x_->leases_.Mutable(row);
      list.clear();
      for (const std::string& g : in->groups) {
        if (list.size() == kMaxGroupsPerLease) break;
        uint32_t no = GroupNo(g);
        if (no != kNone) list.push_back(no);
      }
      r.groups = AppendList(x_->refs_, list);
      r.groups_count = static_cast<uint16_t>(list.size());
      list.clear();
      for (const std::string& m : in->members) {
        if (list.size() == kMaxMembersPerLease) break;
        uint32_t person = x_->FindPerson(m);
        if (person == kNone) continue;
        list.push_back(person);
        std::vector<uint32_t>& of = LeasesOf(person);
        of.insert(std::upper_bound(of.begin(), of.end(), row), row);
      }
      r.members = AppendList(x_->refs_, list);
      r.members_count = static_cast<uint16_t>(list.size());
    }
    return true;
  }

  // The member -> leases lists edited above, written back (ascending lease rows, as Build).
  bool StoreLeaseLists() {
    for (auto& [person, list] : lease_lists_) {
      if (list.size() > kMaxLeasesPerPerson) {
        return Fail("a person named by more than " + std::to_string(kMaxLeasesPerPerson) +
                    " leases: rebuilt");
      }
      PersonRec& r = x_->people_.Mutable(person);
      r.leases = AppendList(x_->refs_, list);
      r.leases_count = static_cast<uint16_t>(list.size());
    }
    return true;
  }

  // --- Credentials and their same-key chains.

  uint32_t KeySlot(uint32_t row) const {
    const Index::BigVector<uint32_t>& t = x_->cred_by_key_;
    uint64_t h = HashKey(x_->credentials_[row].key);
    size_t s = Slot(h, t.size());
    while ((t[s] & kRowMask) != row || (t[s] & ~kRowMask) != Tag(h)) {
      if (t[s] == kNone) return kNone;
      s = s + 1 == t.size() ? 0 : s + 1;
    }
    return static_cast<uint32_t>(s);
  }

  // Takes credential `row` out of the chain of its key (the row keeps its key).
  bool Unlink(uint32_t row) {
    const CredentialRec& c = x_->credentials_[row];
    if (c.key.empty()) return true;
    uint32_t head = x_->FindCredentialByKey(c.key);
    if (head == kNone) return Fail("a credential missing from its key's chain: rebuilt");
    const uint32_t next = c.next_same_key;
    if (head == row) {
      uint32_t s = KeySlot(row);
      if (s == kNone) return Fail("a credential missing from the key table: rebuilt");
      if (next != kNone) {
        x_->cred_by_key_.Mutable(s) = Tag(HashKey(c.key)) | next;
      } else {
        EraseSlot(x_->cred_by_key_, s, [&](uint32_t r) {
          return Slot(HashKey(x_->credentials_[r].key), x_->cred_by_key_.size());
        });
      }
    } else {
      uint32_t at = head;
      while (at != kNone && x_->credentials_[at].next_same_key != row) {
        at = x_->credentials_[at].next_same_key;
      }
      if (at == kNone) return Fail("a credential missing from its key's chain: rebuilt");
      x_->credentials_.Mutable(at).next_same_key = next;
    }
    x_->credentials_.Mutable(row).next_same_key = kNone;
    return true;
  }

  // Puts credential `row` (its key set) into its key's chain, ordered by valid_from (after equal
  // ones, as Build adds them in row order).
  void Link(uint32_t row) {
    CredentialRec& c = x_->credentials_.Mutable(row);
    c.next_same_key = kNone;
    if (c.key.empty()) return;
    const CredentialKey key = c.key;
    uint64_t h = HashKey(key);
    uint32_t head = Insert(x_->cred_by_key_, h, row,
                           [&](uint32_t r) { return r != row && x_->credentials_[r].key == key; });
    if (head == kNone) return;
    const int64_t from = c.valid_from;
    if (from < x_->credentials_[head].valid_from) {
      x_->credentials_.Mutable(row).next_same_key = head;
      x_->cred_by_key_.Mutable(KeySlot(head)) = Tag(h) | row;
      return;
    }
    uint32_t at = head;
    while (x_->credentials_[at].next_same_key != kNone &&
           x_->credentials_[x_->credentials_[at].next_same_key].valid_from <= from) {
      at = x_->credentials_[at].next_same_key;
    }
    x_->credentials_.Mutable(row).next_same_key = x_->credentials_[at].next_same_key;
    x_->credentials_.Mutable(at).next_same_key = row;
  }

  std::vector<BleKeyRec>& Ble() {
    if (!ble_) ble_ = std::make_shared<std::vector<BleKeyRec>>(*x_->ble_keys_);
    return *ble_;
  }
  void DropBle(uint32_t row) {
    if (!x_->FindBleKey(row) && !ble_) return;
    std::vector<BleKeyRec>& b = Ble();
    std::erase_if(b, [&](const BleKeyRec& r) { return r.credential == row; });
  }

  bool PutCredential(const Credential& in) {
    uint32_t row = x_->RowOfCredential(in.id);
    if (row == kNone) {
      if (!NewRow(x_->credentials_, x_->cred_by_id_, &row)) return false;
      CredentialRec& r = x_->credentials_.Mutable(row);
      r.id = InternIn(x_->arena_, in.id);
      (void)Insert(x_->cred_by_id_, HashStr(in.id), row, [](uint32_t) { return false; });
    } else if (x_->credentials_[row].person != kNone) {
      if (!Unlink(row)) return false;
      DropBle(row);
      --x_->live_credentials_;
    }
    CredentialRec& r = x_->credentials_.Mutable(row);
    r.person = x_->FindPerson(in.person);
    r.key = r.person == kNone ? CredentialKey{} : KeyOf(in);
    r.valid_from = OrMin(in.valid_from);
    r.valid_until = OrMax(in.valid_until);
    r.type = in.type;
    r.status = in.status;
    if (r.person == kNone) return true;  // a credential of an unknown person: dropped, as Build
    ++x_->live_credentials_;
    Link(row);
    if (in.type == CredentialType::kBleKey) {
      BleKeyRec b;
      b.credential = row;
      b.key = InternIn(x_->arena_, in.ble_key.key);
      b.name = InternIn(x_->arena_, in.ble_key.name);
      uint32_t door = x_->FindDoor(in.ble_key.lock);
      if (door != kNone) b.door = static_cast<uint16_t>(door);
      std::vector<BleKeyRec>& ble = Ble();
      ble.insert(std::lower_bound(ble.begin(), ble.end(), row,
                                  [](const BleKeyRec& e, uint32_t c) { return e.credential < c; }),
                 b);
    }
    return true;
  }

  bool DeleteCredential(const std::string& id) {
    uint32_t row = x_->FindCredentialById(id);
    if (row == kNone) return true;
    if (!Unlink(row)) return false;
    DropBle(row);
    CredentialRec& r = x_->credentials_.Mutable(row);
    r.person = kNone;
    r.key = {};
    --x_->live_credentials_;
    x_->edited_bytes_ += sizeof(CredentialRec);
    return true;
  }

  std::shared_ptr<Index> x_;
  std::string* why_ = nullptr;
  size_t arena_at_ = x_->arena_.size();
  size_t refs_at_ = x_->refs_.size();
  std::unordered_map<std::string, uint32_t> group_no_;
  // Records put by the delta whose references are resolved after their kind (row -> record).
  std::map<uint32_t, const Person*> people_;
  std::map<uint32_t, const Lease*> leases_;
  std::unordered_map<uint32_t, std::vector<uint32_t>> lease_lists_;  // person -> leases naming it
  std::shared_ptr<std::vector<BleKeyRec>> ble_;
};

std::shared_ptr<const Index> ApplyOpsToIndex(const Index& base, const std::vector<Op>& ops,
                                             std::string* why) {
  IndexEditor editor(base);
  if (!editor.Apply(ops, why)) return nullptr;
  return editor.Take();
}

}  // namespace lintel::rules
