// The store's schema as a numbered list of migrations. Internal to lintel_store.
//
// Rule: a migration that has shipped is never edited; a schema change is a new migration appended
// with the next number (and Store::kSchemaVersion raised to it). A new file runs every migration in
// order, so new and migrated files have the same schema. tests/fixtures/make-store-v1.sql repeats
// migration 1 verbatim to build the v1 fixture.
#pragma once

#include <cstdint>
#include <span>

namespace lintel::store::internal {

// PRAGMA application_id of a Lintel store: "LNTL" as a big-endian 32-bit integer.
inline constexpr int32_t kApplicationId = 0x4C4E544C;

struct Migration {
  int version;      // PRAGMA user_version after this migration
  const char* sql;  // statements run inside the migration's transaction
};

// Migrations 1..N, ascending; N == Store::kSchemaVersion.
std::span<const Migration> Migrations();

}  // namespace lintel::store::internal
