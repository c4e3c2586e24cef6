#include "rules/ops.h"

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

}  // namespace lintel::rules
