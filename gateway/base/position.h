// The cloud's position (shared/contract/cloud-mqtt.md, "Versions"): (epoch, version), both
// unsigned 64-bit, compared lexicographically. {0, 0} means nothing applied yet.
#pragma once

#include <compare>
#include <cstdint>

namespace lintel {

struct Position {
  uint64_t epoch = 0;
  uint64_t version = 0;
  friend auto operator<=>(const Position&, const Position&) = default;
};

}  // namespace lintel
