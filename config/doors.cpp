// The doors section, with each door's wiring to I/O points (doors[].io).
#include <algorithm>

#include "config/loader.h"

namespace lintel::config::internal {

namespace {

constexpr std::string_view kDoorKeys[] = {"id", "name", "common", "unlock_ms", "held_open_s", "io"};
constexpr std::string_view kDoorIoKeys[] = {
    "lock", "contact", "rex", "unlock_on_rex", "relock_on_close", "fire_egress", "held_warning_s"};

void ParseDoor(Loader& l, MapWalker& w) {
  l.saw_doors = true;
  DoorConfig door;
  if (auto id = w.Id("id", Need::kRequired)) {
    door.id = id->value;
    CheckUnique(l, l.door_ids, "door id", *id);
  }
  if (auto name = w.String("name", Need::kOptional)) {
    door.name = name->value;
  } else {
    door.name = door.id;
  }
  if (auto v = w.Bool("common", Need::kOptional)) door.common = v->value;
  if (auto v = w.Int("unlock_ms", Need::kOptional, 100, 600000)) door.unlock_ms = v->value;
  if (auto v = w.Int("held_open_s", Need::kOptional, 1, 3600)) door.held_open_s = v->value;
  std::string who = w.name();
  w.Mapping("io", Need::kOptional, kDoorIoKeys, [&](MapWalker& io) {
    if (!door.id.empty()) l.doors_with_io.emplace(door.id, io.pos());
    DoorIoConfig c;
    if (auto v = PointRefKey(l, io, "lock", Need::kRequired, who + " io.lock", true)) c.lock = *v;
    if (auto v = PointRefKey(l, io, "contact", Need::kOptional, who + " io.contact", false)) {
      c.contact = *v;
    }
    if (auto v = PointRefKey(l, io, "rex", Need::kOptional, who + " io.rex", false)) c.rex = *v;
    if (auto v = io.Bool("unlock_on_rex", Need::kOptional)) c.unlock_on_rex = v->value;
    if (auto v = io.Bool("relock_on_close", Need::kOptional)) c.relock_on_close = v->value;
    if (auto v = io.Bool("fire_egress", Need::kOptional)) c.fire_egress = v->value;
    if (auto v = io.Int("held_warning_s", Need::kOptional, 0, 3600)) {
      if (v->value >= door.held_open_s && v->value > 0) {
        l.problems.Add(v->pos, "io.held_warning_s must be less than the door's held_open_s (" +
                                   std::to_string(door.held_open_s) + "), got " +
                                   std::to_string(v->value));
      } else {
        c.held_warning_s = v->value;
      }
    } else if (!io.Has("held_warning_s")) {
      c.held_warning_s = std::min(c.held_warning_s, door.held_open_s / 2);
    }
    door.io = c;
  });
  l.config.doors.push_back(std::move(door));
}

}  // namespace

constinit const SectionSpec kDoorsSection = {"doors",   Need::kRequired, Shape::kList, kDoorKeys,
                                             ParseDoor, "door",          "id",         true};

}  // namespace lintel::config::internal

namespace lintel::config {

const DoorConfig* FindDoor(const Config& c, std::string_view id) {
  for (const DoorConfig& d : c.doors) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

}  // namespace lintel::config
