// Field-by-field equality of the rules model values (rules/model.h declares no operator==: the
// model is not this folder's to change). No gtest: the fuzz targets use it too; same.h adds the
// gtest assertion that prints both sides.
#pragma once

#include <tuple>
#include <variant>
#include <vector>

#include "rules/model.h"
#include "rules/ops.h"

namespace lintel::codec::testing {

inline bool Same(const rules::Window& a, const rules::Window& b);
inline bool Same(const rules::ScheduleException& a, const rules::ScheduleException& b);
inline bool Same(const rules::Schedule& a, const rules::Schedule& b);
inline bool Same(const rules::Group& a, const rules::Group& b);
inline bool Same(const rules::Person& a, const rules::Person& b);
inline bool Same(const rules::Lease& a, const rules::Lease& b);
inline bool Same(const rules::Credential& a, const rules::Credential& b);
inline bool Same(const rules::DoorMode& a, const rules::DoorMode& b);

inline bool Same(const rules::Window& a, const rules::Window& b) {
  return std::tie(a.days, a.from_min, a.to_min) == std::tie(b.days, b.from_min, b.to_min);
}
template <typename T>
bool SameList(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!Same(a[i], b[i])) return false;
  }
  return true;
}
inline bool Same(const rules::ScheduleException& a, const rules::ScheduleException& b) {
  return a.date == b.date && SameList(a.windows, b.windows);
}
inline bool Same(const rules::Schedule& a, const rules::Schedule& b) {
  return a.id == b.id && SameList(a.windows, b.windows) && SameList(a.exceptions, b.exceptions);
}
inline bool Same(const rules::Group& a, const rules::Group& b) {
  return std::tie(a.id, a.name, a.doors, a.schedule) == std::tie(b.id, b.name, b.doors, b.schedule);
}
inline bool Same(const rules::Person& a, const rules::Person& b) {
  return std::tie(a.id, a.name, a.role, a.primary, a.inherit, a.groups, a.status) ==
         std::tie(b.id, b.name, b.role, b.primary, b.inherit, b.groups, b.status);
}
inline bool Same(const rules::Lease& a, const rules::Lease& b) {
  return std::tie(a.id, a.unit, a.members, a.groups, a.starts_at, a.ends_at, a.paid_through,
                  a.grace_days) == std::tie(b.id, b.unit, b.members, b.groups, b.starts_at,
                                            b.ends_at, b.paid_through, b.grace_days);
}
inline bool Same(const rules::Credential& a, const rules::Credential& b) {
  return std::tie(a.id, a.person, a.type, a.status, a.valid_from, a.valid_until, a.card.format,
                  a.card.facility, a.card.number, a.card.uid, a.pin, a.ble_key.lock, a.ble_key.key,
                  a.ble_key.name) == std::tie(b.id, b.person, b.type, b.status, b.valid_from,
                                              b.valid_until, b.card.format, b.card.facility,
                                              b.card.number, b.card.uid, b.pin, b.ble_key.lock,
                                              b.ble_key.key, b.ble_key.name);
}
inline bool Same(const rules::DoorMode& a, const rules::DoorMode& b) {
  return std::tie(a.door, a.mode, a.until) == std::tie(b.door, b.mode, b.until);
}
inline bool Same(const rules::Records& a, const rules::Records& b) {
  return SameList(a.schedules, b.schedules) && SameList(a.groups, b.groups) &&
         SameList(a.people, b.people) && SameList(a.leases, b.leases) &&
         SameList(a.credentials, b.credentials) && SameList(a.door_modes, b.door_modes);
}
inline bool Same(const std::monostate&, const std::monostate&) { return true; }
inline bool Same(const rules::Op& a, const rules::Op& b) {
  if (a.op != b.op || a.kind != b.kind || a.id != b.id || a.record.index() != b.record.index()) {
    return false;
  }
  return std::visit(
      [&](const auto& x) { return Same(x, std::get<std::decay_t<decltype(x)>>(b.record)); },
      a.record);
}

}  // namespace lintel::codec::testing
