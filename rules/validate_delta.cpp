#include "rules/validate_delta.h"

#include <functional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "rules/validate.h"

namespace lintel::rules {
namespace {

// The ops' last word per id of the big kinds: a record, or nullopt for a delete.
struct Overlay {
  std::unordered_map<std::string, std::optional<Person>> people;
  std::unordered_map<std::string, std::optional<Lease>> leases;
  std::unordered_map<std::string, std::optional<Credential>> credentials;
  std::vector<Op> small;  // schedules, groups, door modes, in order
};

template <typename R>
void Note(std::unordered_map<std::string, std::optional<R>>& m, const Op& op) {
  if (op.op == OpKind::kDelete) {
    m[op.id] = std::nullopt;
  } else {
    m[op.id] = std::get<R>(op.record);
  }
}

// The state after the ops: the overlay first, then the state before.
class After {
 public:
  After(const StateReader& before, const Overlay& ov) : before_(before), ov_(ov) {}

  std::optional<Person> GetPerson(std::string_view id) const {
    return Get(ov_.people, id, [&] { return before_.GetPerson(id); });
  }
  std::optional<Lease> GetLease(std::string_view id) const {
    return Get(ov_.leases, id, [&] { return before_.GetLease(id); });
  }
  std::optional<Credential> GetCredential(std::string_view id) const {
    return Get(ov_.credentials, id, [&] { return before_.GetCredential(id); });
  }
  std::vector<Person> PeopleWithPrimary(std::string_view id) const {
    return Where(ov_.people, before_.PeopleWithPrimary(id),
                 [&](const Person& p) { return p.primary && *p.primary == id; });
  }
  std::vector<Credential> CredentialsOf(std::string_view id) const {
    return Where(ov_.credentials, before_.CredentialsOf(id),
                 [&](const Credential& c) { return c.person == id; });
  }
  std::vector<Lease> LeasesNaming(std::string_view id) const {
    return Where(ov_.leases, before_.LeasesNaming(id), [&](const Lease& l) {
      for (const std::string& m : l.members) {
        if (m == id) return true;
      }
      return false;
    });
  }
  std::vector<Credential> CredentialsWithKeyOf(const Credential& of) const {
    const CredentialKey key = KeyOf(of);
    return Where(ov_.credentials, before_.CredentialsWithKeyOf(of),
                 [&](const Credential& c) { return KeyOf(c) == key; });
  }

 private:
  template <typename R, typename F>
  static std::optional<R> Get(const std::unordered_map<std::string, std::optional<R>>& m,
                              std::string_view id, F&& read) {
    auto it = m.find(std::string(id));
    if (it != m.end()) return it->second;
    return read();
  }
  // The records of the state before that the ops left alone, plus the ops' records, that match.
  template <typename R, typename Pred>
  static std::vector<R> Where(const std::unordered_map<std::string, std::optional<R>>& m,
                              std::vector<R> from_before, Pred&& match) {
    std::vector<R> out;
    for (R& r : from_before) {
      if (!m.contains(r.id)) out.push_back(std::move(r));
    }
    for (const auto& [id, r] : m) {
      if (r && match(*r)) out.push_back(*r);
    }
    return out;
  }

  const StateReader& before_;
  const Overlay& ov_;
};

// The ids whose records are validated.
struct Touched {
  std::set<std::string> people, leases, credentials;
};

// The records of `ids` in one state (read through `s`: After or a StateReader), closed over
// references: a person's primary chain, a lease's members, a credential's holder.
template <typename S>
Records Materialize(const S& s, const Touched& ids, Records small) {
  Records r = std::move(small);
  std::set<std::string> people;
  std::vector<std::string> todo(ids.people.begin(), ids.people.end());
  for (const std::string& id : ids.leases) {
    if (std::optional<Lease> l = s.GetLease(id)) {
      todo.insert(todo.end(), l->members.begin(), l->members.end());
      r.leases.push_back(std::move(*l));
    }
  }
  for (const std::string& id : ids.credentials) {
    if (std::optional<Credential> c = s.GetCredential(id)) {
      todo.push_back(c->person);
      r.credentials.push_back(std::move(*c));
    }
  }
  while (!todo.empty()) {
    std::string id = std::move(todo.back());
    todo.pop_back();
    if (!people.insert(id).second) continue;
    if (std::optional<Person> p = s.GetPerson(id)) {
      if (p->primary) todo.push_back(*p->primary);
      r.people.push_back(std::move(*p));
    }
  }
  return r;
}

}  // namespace

std::optional<std::vector<std::string>> ValidateDelta(const Site& site, const StateReader& before,
                                                      const std::vector<Op>& ops,
                                                      size_t max_errors) {
  Overlay ov;
  for (const Op& op : ops) {
    switch (op.kind) {
      case RecordKind::kPerson:
        Note(ov.people, op);
        break;
      case RecordKind::kLease:
        Note(ov.leases, op);
        break;
      case RecordKind::kCredential:
        Note(ov.credentials, op);
        break;
      case RecordKind::kGroup:
        if (op.op == OpKind::kDelete) return std::nullopt;
        ov.small.push_back(op);
        break;
      case RecordKind::kSchedule:
      case RecordKind::kDoorMode:
        ov.small.push_back(op);
        break;
    }
  }
  After after(before, ov);

  Touched t;
  for (const auto& [id, p] : ov.people) {
    t.people.insert(id);
    for (const Person& q : after.PeopleWithPrimary(id)) t.people.insert(q.id);
    for (const Credential& c : after.CredentialsOf(id)) t.credentials.insert(c.id);
    for (const Lease& l : after.LeasesNaming(id)) t.leases.insert(l.id);
  }
  for (const auto& [id, l] : ov.leases) {
    t.leases.insert(id);
    if (!l) continue;
    for (const std::string& m : l->members) {  // every lease naming them: the per-person limit
      for (const Lease& other : after.LeasesNaming(m)) t.leases.insert(other.id);
    }
  }
  for (const auto& [id, c] : ov.credentials) {
    t.credentials.insert(id);
    if (!c || c->status == CredentialStatus::kRevoked) continue;
    if (KeyOf(*c).empty()) continue;
    for (const Credential& other : after.CredentialsWithKeyOf(*c)) t.credentials.insert(other.id);
  }

  Records small_before;
  small_before.schedules = before.Schedules();
  small_before.groups = before.Groups();
  small_before.door_modes = before.DoorModes();
  Records small_after = small_before;
  ApplyOpsTo(small_after, ov.small);

  std::vector<std::string> errors =
      Validate(site, Materialize(after, t, std::move(small_after)), SIZE_MAX);
  if (errors.empty()) return errors;
  std::vector<std::string> had =
      Validate(site, Materialize(before, t, std::move(small_before)), SIZE_MAX);
  std::unordered_set<std::string> old(had.begin(), had.end());
  std::vector<std::string> added;
  for (std::string& e : errors) {
    if (added.size() >= max_errors) break;
    if (!old.contains(e)) added.push_back(std::move(e));
  }
  return added;
}

namespace {

struct KeyHash {
  size_t operator()(const CredentialKey& k) const {
    return std::hash<uint64_t>()(k.value * 31 + k.facility * 7 + static_cast<uint64_t>(k.kind) * 3 +
                                 k.format + k.length);
  }
};

class RecordsReader final : public StateReader {
 public:
  explicit RecordsReader(const Records& r) : r_(r) {
    for (size_t i = 0; i < r.people.size(); ++i) {
      people_.emplace(r.people[i].id, i);
      if (r.people[i].primary) by_primary_[*r.people[i].primary].push_back(i);
    }
    for (size_t i = 0; i < r.leases.size(); ++i) {
      leases_.emplace(r.leases[i].id, i);
      std::unordered_set<std::string_view> named(r.leases[i].members.begin(),
                                                 r.leases[i].members.end());
      for (std::string_view m : named) by_member_[std::string(m)].push_back(i);
    }
    for (size_t i = 0; i < r.credentials.size(); ++i) {
      credentials_.emplace(r.credentials[i].id, i);
      by_person_[r.credentials[i].person].push_back(i);
      CredentialKey k = KeyOf(r.credentials[i]);
      if (!k.empty()) by_key_[k].push_back(i);
    }
  }
  std::optional<Person> GetPerson(std::string_view id) const override {
    return One(r_.people, people_, id);
  }
  std::optional<Lease> GetLease(std::string_view id) const override {
    return One(r_.leases, leases_, id);
  }
  std::optional<Credential> GetCredential(std::string_view id) const override {
    return One(r_.credentials, credentials_, id);
  }
  std::vector<Person> PeopleWithPrimary(std::string_view id) const override {
    return Many(r_.people, by_primary_, std::string(id));
  }
  std::vector<Credential> CredentialsOf(std::string_view id) const override {
    return Many(r_.credentials, by_person_, std::string(id));
  }
  std::vector<Lease> LeasesNaming(std::string_view id) const override {
    return Many(r_.leases, by_member_, std::string(id));
  }
  std::vector<Credential> CredentialsWithKeyOf(const Credential& c) const override {
    return Many(r_.credentials, by_key_, KeyOf(c));
  }
  std::vector<Schedule> Schedules() const override { return r_.schedules; }
  std::vector<Group> Groups() const override { return r_.groups; }
  std::vector<DoorMode> DoorModes() const override { return r_.door_modes; }

 private:
  template <typename R>
  static std::optional<R> One(const std::vector<R>& v,
                              const std::unordered_map<std::string, size_t>& m,
                              std::string_view id) {
    auto it = m.find(std::string(id));
    if (it == m.end()) return std::nullopt;
    return v[it->second];
  }
  template <typename R, typename M, typename K>
  static std::vector<R> Many(const std::vector<R>& v, const M& m, const K& key) {
    std::vector<R> out;
    auto it = m.find(key);
    if (it == m.end()) return out;
    for (size_t i : it->second) out.push_back(v[i]);
    return out;
  }

  const Records& r_;
  std::unordered_map<std::string, size_t> people_, leases_, credentials_;
  std::unordered_map<std::string, std::vector<size_t>> by_primary_, by_member_, by_person_;
  std::unordered_map<CredentialKey, std::vector<size_t>, KeyHash> by_key_;
};

}  // namespace

std::unique_ptr<StateReader> ReadRecords(const Records& records) {
  return std::make_unique<RecordsReader>(records);
}

}  // namespace lintel::rules
