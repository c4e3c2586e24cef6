#include "rules/index.h"

#include <algorithm>
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

size_t TableSize(size_t n) { return std::max<size_t>(8, n + n / 2 + 1); }
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
  table[i] = tag | row;
  return kNone;
}

int64_t OrMin(const std::optional<Instant>& t) { return t ? ToUnix(*t) : INT64_MIN; }
int64_t OrMax(const std::optional<Instant>& t) { return t ? ToUnix(*t) : INT64_MAX; }

}  // namespace

struct IndexBuilder::Pending {
  std::shared_ptr<Index> index{new Index()};
  std::vector<Schedule> schedules;
  std::vector<Group> groups;
  std::vector<DoorMode> modes;
  // Unresolved references, as arena strings, parallel to the index's rows.
  std::vector<Str> names;                                    // pool of referenced ids
  std::vector<Str> person_primary;                           // size 0 = none
  std::vector<std::pair<uint32_t, uint32_t>> person_groups;  // into names
  std::vector<std::pair<uint32_t, uint32_t>> lease_members;  // into names
  std::vector<std::pair<uint32_t, uint32_t>> lease_groups;   // into names
  std::vector<Str> cred_person;
  // ble_key credentials: (row, lock door id), the rest of BleKeyRec filled in.
  std::vector<std::pair<BleKeyRec, std::string>> ble_keys;

  Str Intern(std::string_view s) {
    Index::Arena& a = index->arena_;
    Str r{static_cast<uint32_t>(a.size()), static_cast<uint32_t>(s.size())};
    a.append(s);
    return r;
  }
  std::pair<uint32_t, uint32_t> InternList(const std::vector<std::string>& ids) {
    uint32_t off = static_cast<uint32_t>(names.size());
    for (const std::string& id : ids) names.push_back(Intern(id));
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
  p_->person_primary.push_back(in.primary ? p_->Intern(*in.primary) : Str{});
  auto [off, n] = p_->InternList(in.groups);
  p_->person_groups.emplace_back(off, n);
}

void IndexBuilder::Add(const Lease& in) {
  LeaseRec r;
  r.id = p_->Intern(in.id);
  r.unit = p_->Intern(in.unit);
  r.starts_at = ToUnix(in.starts_at);
  r.ends_at = OrMax(in.ends_at);
  if (in.paid_through) {
    int64_t grace = in.grace_days.value_or(p_->index->site_.policy.rent_grace_days);
    r.paid_until = ToUnix(*in.paid_through) + grace * 86400;
  }
  p_->index->leases_.push_back(r);
  p_->lease_members.push_back(p_->InternList(in.members));
  auto [off, n] = p_->InternList(in.groups);
  p_->lease_groups.emplace_back(off, n);
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
  p_->cred_person.push_back(p_->Intern(in.person));
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
    (void)Insert(x.door_by_id_, HashStr(id), i, [&](uint32_t r) { return x.doors_[r].id == id; });
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
    std::sort(s.exceptions.begin(), s.exceptions.end(),
              [](auto& a, auto& b) { return a.date < b.date; });
    x.schedules_.push_back({p.Intern(s.id), std::move(s.windows), std::move(s.exceptions)});
  }

  // Groups: "default" unless the state defines it.
  std::unordered_map<std::string, uint32_t> group_no;
  auto add_group = [&](const Group& g) {
    GroupRec r;
    r.id = p.Intern(g.id);
    r.name = p.Intern(g.name);
    for (const std::string& d : g.doors) {
      auto it = door_no.find(d);
      if (it == door_no.end()) {
        warn("group " + g.id + ": door " + d + " is not a door of this site; ignored");
      } else {
        r.doors.push_back(it->second);
      }
    }
    std::sort(r.doors.begin(), r.doors.end());
    auto s = schedule_no.find(g.schedule);
    if (s == schedule_no.end()) {
      warn("group " + g.id + ": schedule " + g.schedule + " does not exist; group never open");
      r.schedule = kNone;
    } else {
      r.schedule = s->second;
    }
    group_no[g.id] = static_cast<uint32_t>(x.groups_.size());
    x.groups_.push_back(std::move(r));
  };
  bool has_default = std::any_of(p.groups.begin(), p.groups.end(),
                                 [](const Group& g) { return g.id == kDefaultGroup; });
  if (!has_default) {
    Group def{std::string(kDefaultGroup), "Common doors", {}, std::string(kAlwaysSchedule)};
    for (const DoorInfo& d : x.site_.doors) {
      if (d.common) def.doors.push_back(d.id);
    }
    add_group(def);
  }
  for (const Group& g : p.groups) {
    if (group_no.count(g.id)) {
      warn("group " + g.id + ": duplicate id; ignored");
      continue;
    }
    add_group(g);
  }

  // Row numbers share their 32-bit table entry with an 8-bit tag.
  if (x.credentials_.size() > kMaxRows || x.people_.size() > kMaxRows) {
    warn("more than " + std::to_string(kMaxRows) + " credentials or people; the rest is ignored");
    if (x.credentials_.size() > kMaxRows) x.credentials_.resize(kMaxRows);
    if (x.people_.size() > kMaxRows) x.people_.resize(kMaxRows);
  }

  // People by id.
  x.person_by_id_.assign(TableSize(x.people_.size()), kNone);
  for (uint32_t i = 0; i < x.people_.size(); ++i) {
    std::string_view id = x.str(x.people_[i].id);
    if (Insert(x.person_by_id_, HashStr(id), i,
               [&](uint32_t r) { return x.str(x.people_[r].id) == id; }) != kNone) {
      warn("person " + std::string(id) + ": duplicate id; later record ignored");
    }
  }
  // Lists longer than Validate allows (a state stored by an older version) keep their first
  // `max` entries: the counts are 16 bits wide and must never wrap.
  auto resolve_groups = [&](std::pair<uint32_t, uint32_t> list, std::string_view owner, size_t max,
                            uint16_t* count) {
    uint32_t off = static_cast<uint32_t>(x.refs_.size());
    if (list.second > max) {
      warn(std::string(owner) + ": " + std::to_string(list.second) + " groups, only the first " +
           std::to_string(max) + " are used");
      list.second = static_cast<uint32_t>(max);
    }
    for (uint32_t j = 0; j < list.second; ++j) {
      std::string gid(x.str(p.names[list.first + j]));
      auto it = group_no.find(gid);
      if (it == group_no.end()) {
        warn(std::string(owner) + ": group " + gid + " does not exist; ignored");
      } else {
        x.refs_.push_back(it->second);
      }
    }
    *count = static_cast<uint16_t>(x.refs_.size() - off);
    return off;
  };
  for (uint32_t i = 0; i < x.people_.size(); ++i) {
    PersonRec& r = x.people_[i];
    if (p.person_primary[i].size > 0) {
      r.primary = x.FindPerson(x.str(p.person_primary[i]));
      if (r.primary == kNone || r.primary == i) {
        warn("person " + std::string(x.str(r.id)) + ": primary " +
             std::string(x.str(p.person_primary[i])) + " does not exist; ignored");
        r.primary = kNone;
      }
    }
    r.groups = resolve_groups(p.person_groups[i], "person " + std::string(x.str(r.id)),
                              kMaxGroupsPerPerson, &r.groups_count);
  }

  // Leases: groups, then the member -> leases lists.
  std::vector<std::pair<uint32_t, uint32_t>> member_of;  // (person, lease)
  for (uint32_t i = 0; i < x.leases_.size(); ++i) {
    LeaseRec& l = x.leases_[i];
    l.groups = resolve_groups(p.lease_groups[i], "lease " + std::string(x.str(l.id)),
                              kMaxGroupsPerLease, &l.groups_count);
    auto [off, n] = p.lease_members[i];
    for (uint32_t j = 0; j < n; ++j) {
      uint32_t person = x.FindPerson(x.str(p.names[off + j]));
      if (person == kNone) {
        warn("lease " + std::string(x.str(l.id)) + ": member " +
             std::string(x.str(p.names[off + j])) + " does not exist; ignored");
      } else {
        member_of.emplace_back(person, i);
      }
    }
  }
  std::sort(member_of.begin(), member_of.end());
  for (size_t j = 0; j < member_of.size();) {
    PersonRec& r = x.people_[member_of[j].first];
    r.leases = static_cast<uint32_t>(x.refs_.size());
    size_t k = j;
    for (; k < member_of.size() && member_of[k].first == member_of[j].first; ++k) {
      if (k - j < kMaxLeasesPerPerson) x.refs_.push_back(member_of[k].second);
    }
    if (k - j > kMaxLeasesPerPerson) {
      warn("person " + std::string(x.str(r.id)) + ": named by " + std::to_string(k - j) +
           " leases, only the first " + std::to_string(kMaxLeasesPerPerson) + " are used");
    }
    r.leases_count = static_cast<uint16_t>(std::min(k - j, kMaxLeasesPerPerson));
    j = k;
  }

  // Credentials: by id, and by key with same-key chains ordered by valid_from.
  x.cred_by_id_.assign(TableSize(x.credentials_.size()), kNone);
  x.cred_by_key_.assign(TableSize(x.credentials_.size()), kNone);
  for (uint32_t i = 0; i < x.credentials_.size(); ++i) {
    CredentialRec& c = x.credentials_[i];
    std::string_view id = x.str(c.id);
    if (Insert(x.cred_by_id_, HashStr(id), i,
               [&](uint32_t r) { return x.str(x.credentials_[r].id) == id; }) != kNone) {
      warn("credential " + std::string(id) + ": duplicate id; later record ignored");
      c.key = {};
      continue;
    }
    c.person = x.FindPerson(x.str(p.cred_person[i]));
    if (c.person == kNone) {
      warn("credential " + std::string(id) + ": person " + std::string(x.str(p.cred_person[i])) +
           " does not exist; credential ignored");
      c.key = {};
      continue;
    }
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
      x.cred_by_key_[s] = Tag(h) | i;
    } else {
      uint32_t at = head;
      while (x.credentials_[at].next_same_key != kNone &&
             x.credentials_[x.credentials_[at].next_same_key].valid_from <= c.valid_from) {
        at = x.credentials_[at].next_same_key;
      }
      c.next_same_key = x.credentials_[at].next_same_key;
      x.credentials_[at].next_same_key = i;
    }
  }

  // ble_key lock data of the credentials kept (rows ascend: they were added in row order).
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
    x.ble_keys_.push_back(b);
  }

  x.arena_.shrink_to_fit();
  x.refs_.shrink_to_fit();
  x.credentials_.shrink_to_fit();
  x.people_.shrink_to_fit();
  x.leases_.shrink_to_fit();
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

uint32_t Index::FindCredentialById(std::string_view id) const {
  return Probe(cred_by_id_, HashStr(id), [&](uint32_t r) { return str(credentials_[r].id) == id; });
}

uint32_t Index::FindPerson(std::string_view id) const {
  return Probe(person_by_id_, HashStr(id), [&](uint32_t r) { return str(people_[r].id) == id; });
}

const BleKeyRec* Index::FindBleKey(uint32_t credential) const {
  auto it = std::lower_bound(ble_keys_.begin(), ble_keys_.end(), credential,
                             [](const BleKeyRec& b, uint32_t c) { return b.credential < c; });
  return it != ble_keys_.end() && it->credential == credential ? &*it : nullptr;
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
  size_t n = arena_.capacity() + refs_.capacity() * sizeof(uint32_t) +
             credentials_.capacity() * sizeof(CredentialRec) +
             people_.capacity() * sizeof(PersonRec) + leases_.capacity() * sizeof(LeaseRec) +
             (cred_by_key_.capacity() + cred_by_id_.capacity() + person_by_id_.capacity()) *
                 sizeof(uint32_t);
  for (const auto& g : groups_) n += sizeof(GroupRec) + g.doors.capacity() * 2;
  for (const auto& s : schedules_) {
    n += sizeof(ScheduleRec) + s.windows.capacity() * sizeof(Window);
    for (const auto& e : s.exceptions) n += sizeof(e) + e.windows.capacity() * sizeof(Window);
  }
  return n + doors_.capacity() * sizeof(DoorRec) + ble_keys_.capacity() * sizeof(BleKeyRec);
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
  std::shared_ptr<Index> copy(new Index(base));
  for (const Change& ch : changes) {
    copy->credentials_[ch.row].status = ch.status;
    copy->credentials_[ch.row].valid_until = ch.valid_until;
  }
  return copy;
}

}  // namespace lintel::rules
