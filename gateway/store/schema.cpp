#include "gateway/store/schema.h"

#include <array>

namespace lintel::store::internal {
namespace {

// Column conventions (README.md): instants are INTEGER unix seconds (NULL = absent), enums the
// rules:: enum values, id lists joined with 0x1f, uint64 values as their int64 bit pattern; a
// credential sets only the columns of its type (card_*, pin or ble_*), the others are NULL.
// Record tables are WITHOUT ROWID (one B-tree keyed by id) and STRICT (a wrongly typed value is
// refused on write instead of being read back as something else).
constexpr const char* kV1 = R"sql(
PRAGMA application_id = 1280201804;
CREATE TABLE meta(
  key TEXT PRIMARY KEY NOT NULL,
  value ANY
) STRICT, WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('epoch', 0), ('version', 0);
CREATE TABLE schedules(
  id TEXT PRIMARY KEY NOT NULL,
  windows TEXT NOT NULL,
  exceptions TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE access_groups(
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  door_ids TEXT NOT NULL,
  schedule TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE people(
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  role INTEGER NOT NULL,
  primary_id TEXT,
  inherit INTEGER NOT NULL,
  group_ids TEXT NOT NULL,
  status INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE leases(
  id TEXT PRIMARY KEY NOT NULL,
  unit TEXT NOT NULL,
  member_ids TEXT NOT NULL,
  group_ids TEXT NOT NULL,
  starts_at INTEGER NOT NULL,
  ends_at INTEGER,
  paid_through INTEGER,
  grace_days INTEGER
) STRICT, WITHOUT ROWID;
CREATE TABLE credentials(
  id TEXT PRIMARY KEY NOT NULL,
  person TEXT NOT NULL,
  type INTEGER NOT NULL,
  status INTEGER NOT NULL,
  valid_from INTEGER,
  valid_until INTEGER,
  card_format INTEGER,
  card_facility INTEGER,
  card_number INTEGER,
  card_uid TEXT,
  pin TEXT,
  ble_lock TEXT,
  ble_key TEXT,
  ble_name TEXT
) STRICT, WITHOUT ROWID;
CREATE TABLE door_modes(
  door TEXT PRIMARY KEY NOT NULL,
  mode INTEGER NOT NULL,
  until INTEGER
) STRICT, WITHOUT ROWID;
CREATE TABLE events(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  ts INTEGER NOT NULL,
  type TEXT NOT NULL,
  body TEXT NOT NULL
) STRICT;
)sql";

// v2: the last-known-good wall time (DESIGN.md decision 4). One row, absent until first advanced.
constexpr const char* kV2 = R"sql(
CREATE TABLE clock(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_known_good INTEGER NOT NULL
) STRICT;
)sql";

// v3: cloud commands already executed (once-only by id, also across restarts), with the response
// sent, so a repeated id is answered without executing again.
constexpr const char* kV3 = R"sql(
CREATE TABLE commands(
  id TEXT PRIMARY KEY NOT NULL,
  executed_at INTEGER NOT NULL,
  response TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX commands_by_time ON commands(executed_at);
)sql";

// v4: BLE locks (issue 11). Per lock: the entries the gateway believes it holds (credential ->
// the lock's own entry id and the fingerprint of what was written), the outbox of pending changes
// (one row per op, in id order; AUTOINCREMENT so an id is never reused), and the sync status.
// Kinds are the rules:: enum values (LockEntry::Kind, LockOp::Kind); a keypad code is its number.
constexpr const char* kV4 = R"sql(
CREATE TABLE lock_entries(
  lock TEXT NOT NULL,
  credential TEXT NOT NULL,
  kind INTEGER NOT NULL,
  lock_entry_id INTEGER NOT NULL,
  fingerprint INTEGER NOT NULL,
  written_at INTEGER NOT NULL,
  PRIMARY KEY (lock, credential)
) STRICT, WITHOUT ROWID;
CREATE TABLE lock_outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  lock TEXT NOT NULL,
  op INTEGER NOT NULL,
  restricts INTEGER NOT NULL,
  lock_entry_id INTEGER,
  credential TEXT NOT NULL,
  person TEXT NOT NULL,
  kind INTEGER NOT NULL,
  name TEXT NOT NULL,
  code INTEGER NOT NULL,
  key TEXT NOT NULL,
  valid_from INTEGER,
  valid_until INTEGER,
  weekdays INTEGER NOT NULL,
  from_min INTEGER NOT NULL,
  until_min INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  next_at INTEGER NOT NULL,
  last_error TEXT NOT NULL
) STRICT;
CREATE INDEX lock_outbox_by_lock ON lock_outbox(lock, id);
CREATE TABLE lock_sync(
  lock TEXT PRIMARY KEY NOT NULL,
  last_success INTEGER,
  last_attempt INTEGER,
  consecutive_failures INTEGER NOT NULL,
  last_error TEXT NOT NULL
) STRICT, WITHOUT ROWID;
)sql";

// Issue 13: a delta is validated by what it touches and what refers to it (rules::ValidateDelta),
// read through these indexes instead of loading the state. lease_members lists each lease's
// members (kept by the store with every lease write); the existing leases are split here.
constexpr const char* kV5 = R"sql(
CREATE INDEX people_by_primary ON people(primary_id);
CREATE INDEX credentials_by_person ON credentials(person);
CREATE INDEX credentials_by_card ON credentials(card_format, card_facility, card_number);
CREATE INDEX credentials_by_uid ON credentials(card_uid);
CREATE INDEX credentials_by_pin ON credentials(pin);
CREATE TABLE lease_members(
  person TEXT NOT NULL,
  lease TEXT NOT NULL,
  PRIMARY KEY (person, lease)
) STRICT, WITHOUT ROWID;
CREATE INDEX lease_members_by_lease ON lease_members(lease);
WITH RECURSIVE split(lease, rest, member) AS (
  SELECT id, member_ids || char(31), NULL FROM leases WHERE member_ids <> ''
  UNION ALL
  SELECT lease, substr(rest, instr(rest, char(31)) + 1),
         substr(rest, 1, instr(rest, char(31)) - 1)
  FROM split WHERE rest <> ''
)
INSERT OR IGNORE INTO lease_members(person, lease)
  SELECT member, lease FROM split WHERE member IS NOT NULL;
)sql";

constexpr std::array<Migration, 5> kMigrations = {{
    {1, kV1},
    {2, kV2},
    {3, kV3},
    {4, kV4},
    {5, kV5},
}};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

}  // namespace lintel::store::internal
