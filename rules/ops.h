// A delta op of the cloud contract (shared/contract/cloud-mqtt.md, "Records and ops") as a plain
// C++ value: `{"op":"put","kind":K,"data":{...}}` or `{"op":"delete","kind":K,"id":str}`.
//
// Pure data; no I/O. The JSON form is read and written by gateway/codec (records_json.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "rules/model.h"

namespace lintel::rules {

enum class OpKind : uint8_t { kPut, kDelete };

// The kinds of record an op can address. The order matches the alternatives of Op::record
// (alternative index == static_cast<size_t>(kind) + 1).
enum class RecordKind : uint8_t { kSchedule, kGroup, kPerson, kLease, kCredential, kDoorMode };

struct Op {
  OpKind op = OpKind::kPut;
  RecordKind kind = RecordKind::kSchedule;
  // The id of the record replaced or deleted. For a put it equals the record's own id (for a
  // door mode: its door).
  std::string id;
  // kPut: the new record, the alternative matching `kind`. kDelete: std::monostate.
  std::variant<std::monostate, Schedule, Group, Person, Lease, Credential, DoorMode> record;
};

namespace internal {
inline constexpr std::array<std::string_view, 6> kRecordKindNames = {
    "schedule", "group", "person", "lease", "credential", "door_mode"};
}  // namespace internal

// The contract's name of a kind: "schedule", "group", "person", "lease", "credential", "door_mode".
inline constexpr std::string_view RecordKindName(RecordKind k) {
  return internal::kRecordKindNames[static_cast<size_t>(k)];
}

// The kind named `s` (exact, case-sensitive), or nullopt for an unknown name.
inline constexpr std::optional<RecordKind> ParseRecordKind(std::string_view s) {
  for (size_t i = 0; i < internal::kRecordKindNames.size(); ++i) {
    if (internal::kRecordKindNames[i] == s) return static_cast<RecordKind>(i);
  }
  return std::nullopt;
}

// A put of `record` (its kind and id filled in), and a delete of `kind` `id`.
template <typename R>
Op PutOp(R record) {
  Op op;
  op.op = OpKind::kPut;
  if constexpr (std::is_same_v<R, DoorMode>) {
    op.id = record.door;
  } else {
    op.id = record.id;
  }
  op.record = std::move(record);
  op.kind = static_cast<RecordKind>(op.record.index() - 1);
  return op;
}
inline Op DeleteOp(RecordKind kind, std::string id) {
  Op op;
  op.op = OpKind::kDelete;
  op.kind = kind;
  op.id = std::move(id);
  return op;
}

// Applies `ops` to `records` in order, as the store does (a put replaces the record with that id
// or appends it, a delete removes it and is no error when absent). The order of the remaining
// records is kept; a put of a new id goes to the end. O(records + ops).
void ApplyOpsTo(Records& records, const std::vector<Op>& ops);

// Whether applying `ops` (in order) to `state` can only take access away, never give any, in any
// decision at any time (issue 10, point 2 follow-up: a revocation the store cannot write is
// enforced in memory only if it is such a change). True when every op is one of:
//   - a delete of a credential, a person or a lease (absent: a no-op);
//   - a put of an existing credential with the same holder, type, card / PIN / BLE key, a
//     valid_from not earlier, a valid_until not later (absent = no end) and a status not looser
//     (active < suspended < revoked);
//   - a put of an existing person with the same role, primary and status or active -> suspended,
//     `inherit` kept or cleared, and groups a subset of the old ones (the name may change);
//   - a put of an existing lease whose members and groups are subsets of the old ones, starts_at
//     not earlier, ends_at and paid_through not later (absent = no end), the same grace_days (the
//     unit may change);
//   - a put of an existing group with the same schedule and doors a subset of the old ones (the
//     name may change).
// Everything else counts as granting: a new record of any kind, schedules, door modes and group
// deletes (deleting `default` brings back the built-in group of the common doors). `why`
// (optional) receives the first op that is not a pure restriction. O(state + ops).
bool OnlyRestricts(const Records& state, const std::vector<Op>& ops, std::string* why = nullptr);

}  // namespace lintel::rules
