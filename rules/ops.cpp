#include "rules/ops.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace lintel::rules {
namespace {

const std::string& IdOf(const DoorMode& r) { return r.door; }
template <typename R>
const std::string& IdOf(const R& r) {
  return r.id;
}

// One kind's rows with an id -> position map built on first use; deletes leave holes that are
// compacted at the end, so a delta of k ops over n rows costs O(n + k).
template <typename R>
class Table {
 public:
  explicit Table(std::vector<R>& rows) : rows_(rows) {}
  void Put(R r) {
    Map();
    auto [it, added] = at_.try_emplace(IdOf(r), rows_.size());
    if (added) {
      rows_.push_back(std::move(r));
      live_.push_back(true);
    } else {
      rows_[it->second] = std::move(r);
      live_[it->second] = true;
    }
  }
  void Delete(const std::string& id) {
    Map();
    auto it = at_.find(id);
    if (it == at_.end()) return;
    live_[it->second] = false;
    at_.erase(it);
  }
  void Compact() {
    if (!mapped_) return;
    size_t out = 0;
    for (size_t i = 0; i < rows_.size(); ++i) {
      if (!live_[i]) continue;
      if (out != i) rows_[out] = std::move(rows_[i]);
      ++out;
    }
    rows_.resize(out);
  }

 private:
  void Map() {
    if (mapped_) return;
    mapped_ = true;
    at_.reserve(rows_.size());
    for (size_t i = 0; i < rows_.size(); ++i) at_.emplace(IdOf(rows_[i]), i);
    live_.assign(rows_.size(), true);
  }
  std::vector<R>& rows_;
  bool mapped_ = false;
  std::unordered_map<std::string, size_t> at_;
  std::vector<bool> live_;
};

}  // namespace

void ApplyOpsTo(Records& records, const std::vector<Op>& ops) {
  Table<Schedule> schedules(records.schedules);
  Table<Group> groups(records.groups);
  Table<Person> people(records.people);
  Table<Lease> leases(records.leases);
  Table<Credential> credentials(records.credentials);
  Table<DoorMode> door_modes(records.door_modes);
  for (const Op& op : ops) {
    if (op.op == OpKind::kDelete) {
      switch (op.kind) {
        case RecordKind::kSchedule:
          schedules.Delete(op.id);
          break;
        case RecordKind::kGroup:
          groups.Delete(op.id);
          break;
        case RecordKind::kPerson:
          people.Delete(op.id);
          break;
        case RecordKind::kLease:
          leases.Delete(op.id);
          break;
        case RecordKind::kCredential:
          credentials.Delete(op.id);
          break;
        case RecordKind::kDoorMode:
          door_modes.Delete(op.id);
          break;
      }
      continue;
    }
    std::visit(
        [&](const auto& r) {
          using R = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<R, Schedule>) schedules.Put(r);
          if constexpr (std::is_same_v<R, Group>) groups.Put(r);
          if constexpr (std::is_same_v<R, Person>) people.Put(r);
          if constexpr (std::is_same_v<R, Lease>) leases.Put(r);
          if constexpr (std::is_same_v<R, Credential>) credentials.Put(r);
          if constexpr (std::is_same_v<R, DoorMode>) door_modes.Put(r);
        },
        op.record);
  }
  schedules.Compact();
  groups.Compact();
  people.Compact();
  leases.Compact();
  credentials.Compact();
  door_modes.Compact();
}

namespace {

// A read-only view of one kind by id, with the earlier ops of the same delta on top.
template <typename R>
class View {
 public:
  explicit View(const std::vector<R>& rows) : rows_(rows) {}
  const R* Find(const std::string& id) {
    if (auto it = overlay_.find(id); it != overlay_.end()) return it->second ? &*it->second : nullptr;
    if (!mapped_) {
      mapped_ = true;
      at_.reserve(rows_.size());
      for (const R& r : rows_) at_.emplace(r.id, &r);
    }
    auto it = at_.find(id);
    return it == at_.end() ? nullptr : it->second;
  }
  void Put(const R& r) { overlay_[r.id] = r; }
  void Delete(const std::string& id) { overlay_[id] = std::nullopt; }

 private:
  const std::vector<R>& rows_;
  bool mapped_ = false;
  std::unordered_map<std::string_view, const R*> at_;
  std::map<std::string, std::optional<R>> overlay_;
};

bool Subset(const std::vector<std::string>& part, const std::vector<std::string>& whole) {
  return std::all_of(part.begin(), part.end(), [&](const std::string& x) {
    return std::find(whole.begin(), whole.end(), x) != whole.end();
  });
}
// An end that is not later than `before` (nullopt = no end).
bool EndNotLater(const std::optional<Instant>& after, const std::optional<Instant>& before) {
  if (!before) return true;
  return after && *after <= *before;
}
// A start that is not earlier than `before` (nullopt = no start).
bool StartNotEarlier(const std::optional<Instant>& after, const std::optional<Instant>& before) {
  if (!before) return true;
  return after && *after >= *before;
}
int Looseness(CredentialStatus s) {
  switch (s) {
    case CredentialStatus::kActive:
      return 2;
    case CredentialStatus::kSuspended:
      return 1;
    case CredentialStatus::kRevoked:
      return 0;
  }
  return 2;
}
bool SameKey(const Credential& a, const Credential& b) {
  return a.card.format == b.card.format && a.card.facility == b.card.facility &&
         a.card.number == b.card.number && a.card.uid == b.card.uid && a.pin == b.pin &&
         a.ble_key.lock == b.ble_key.lock && a.ble_key.key == b.ble_key.key;
}

// Empty when `after` (a put over `before`, null: none) only restricts; otherwise why not.
std::string Restricts(const Credential* before, const Credential& after) {
  if (!before) return "a new credential";
  if (after.person != before->person || after.type != before->type || !SameKey(after, *before)) {
    return "it changes the holder or the card, PIN or key";
  }
  if (!StartNotEarlier(after.valid_from, before->valid_from)) return "an earlier valid_from";
  if (!EndNotLater(after.valid_until, before->valid_until)) return "a later valid_until";
  if (Looseness(after.status) > Looseness(before->status)) return "a looser status";
  return "";
}
std::string Restricts(const Person* before, const Person& after) {
  if (!before) return "a new person";
  if (after.role != before->role || after.primary != before->primary) {
    return "it changes the role or the primary";
  }
  if (after.inherit && !before->inherit) return "it sets inherit";
  if (after.status == PersonStatus::kActive && before->status != PersonStatus::kActive) {
    return "it reactivates the person";
  }
  if (!Subset(after.groups, before->groups)) return "it adds groups";
  return "";
}
std::string Restricts(const Lease* before, const Lease& after) {
  if (!before) return "a new lease";
  if (!Subset(after.members, before->members)) return "it adds members";
  if (!Subset(after.groups, before->groups)) return "it adds groups";
  if (after.starts_at < before->starts_at) return "an earlier starts_at";
  if (!EndNotLater(after.ends_at, before->ends_at)) return "a later ends_at";
  if (!EndNotLater(after.paid_through, before->paid_through)) return "a later paid_through";
  if (after.grace_days != before->grace_days) return "it changes grace_days";
  return "";
}
std::string Restricts(const Group* before, const Group& after) {
  if (!before) return "a new group";
  if (after.schedule != before->schedule) return "it changes the schedule";
  if (!Subset(after.doors, before->doors)) return "it adds doors";
  return "";
}

}  // namespace

bool OnlyRestricts(const Records& state, const std::vector<Op>& ops, std::string* why) {
  View<Group> groups(state.groups);
  View<Person> people(state.people);
  View<Lease> leases(state.leases);
  View<Credential> credentials(state.credentials);
  for (const Op& op : ops) {
    std::string no;
    if (op.op == OpKind::kDelete) {
      switch (op.kind) {
        case RecordKind::kPerson:
          people.Delete(op.id);
          break;
        case RecordKind::kLease:
          leases.Delete(op.id);
          break;
        case RecordKind::kCredential:
          credentials.Delete(op.id);
          break;
        default:
          no = "a delete of a " + std::string(RecordKindName(op.kind));
      }
    } else {
      std::visit(
          [&](const auto& r) {
            using R = std::decay_t<decltype(r)>;
            if constexpr (std::is_same_v<R, Group>) {
              no = Restricts(groups.Find(r.id), r);
              groups.Put(r);
            } else if constexpr (std::is_same_v<R, Person>) {
              no = Restricts(people.Find(r.id), r);
              people.Put(r);
            } else if constexpr (std::is_same_v<R, Lease>) {
              no = Restricts(leases.Find(r.id), r);
              leases.Put(r);
            } else if constexpr (std::is_same_v<R, Credential>) {
              no = Restricts(credentials.Find(r.id), r);
              credentials.Put(r);
            } else {
              no = "a put of a " + std::string(RecordKindName(op.kind));
            }
          },
          op.record);
    }
    if (!no.empty()) {
      if (why) *why = std::string(RecordKindName(op.kind)) + " " + op.id + ": " + no;
      return false;
    }
  }
  return true;
}

}  // namespace lintel::rules
