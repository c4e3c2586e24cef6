// The blocking half of the lock sync (issue 11 point 5), run by a BLE worker over a connected
// ble::LockClient: read what the lock holds, diff it against the desired entries
// (rules::DiffLockEntries: removals and restrictions first), write the changes, re-read and
// confirm. Also the conversions between rules::LockEntry and the Nuki wire structs, and the access
// log fetch. No core, no store access: the entry map comes in as a value and the outcome goes back
// as a value (BleLocks posts it to the core loop, which writes the store).
//
// The lock is the source of truth for what it holds: an entry the gateway cannot attribute to a
// credential (not in the entry map by its lock id, and for keypad codes no desired entry with the
// same digits) gets a credential id no credential has ("?keypad:17", "?auth:9") and is removed.
// The gateway's own authorization (the one it paired as) is never listed, changed or removed.
//
// Threads: any one thread per call (the adapter's worker). Secrets: codes and keys never appear in
// a Status message.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "drivers/ble/nuki_client.h"
#include "drivers/ble/nuki_commands.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "gateway/store/store.h"
#include "rules/lock_entry.h"

namespace lintel::devices {

// The lock's window for an entry (UTC dates; absent = an all-zero date, "no limit").
// Errors: InvalidArgument for a date the lock cannot hold.
Result<ble::AccessWindow> ToAccessWindow(const rules::LockEntry& e);
// Back: not time limited -> no limits; zero dates -> nullopt; an impossible date -> nullopt with
// *bad set (the entry then never compares equal to a desired one: it is rewritten).
void FromAccessWindow(const ble::AccessWindow& w, rules::LockEntry& e, bool* bad);

// Entries as read from the lock, before attribution (credential empty).
struct LockHeldEntry {
  rules::LockEntry entry;
  uint32_t lock_id = 0;  // keypad code id or authorization id
  bool enabled = true;
};

struct ReconcileInput {
  // The entries the lock should hold, of the kinds being synced, names as written (prefix in).
  std::vector<rules::LockEntry> desired;
  std::vector<store::LockEntryRecord> entry_map;  // what the gateway believes the lock holds
  bool codes = true;           // keypad codes are synced (read, compared, written)
  bool authorizations = true;  // authorizations are synced
  uint32_t own_authorization_id = 0;
  uint16_t pin = 0;
};

struct AppliedLockOp {
  rules::LockOp op;
  uint32_t lock_id = 0;  // the entry's id on the lock (an add: the id the lock gave it)
};

struct ReconcileResult {
  // OK when a re-read showed the lock holds exactly `desired`. Otherwise the first error (the
  // step and credential are named; the lock's error by name), or Unavailable when the re-read
  // still differs.
  Status status;
  bool reached = false;                // the lock answered at least one command
  std::vector<AppliedLockOp> applied;  // carried out, in order (also when a later one failed)
  // When OK: the entry map the re-read confirmed (ascending by credential), fingerprints of the
  // desired entries, written_at = `now` for the entries written now, else as before.
  std::vector<store::LockEntryRecord> confirmed_map;
  size_t differences = 0;  // ops the first diff found (0: the lock already held the desired set)
};

// Read, diff, write, re-read. `between` runs before each write (the worker lets unlocks in); it
// may be null. `now` stamps written entries.
ReconcileResult Reconcile(ble::LockClient& client, const ReconcileInput& in,
                          const std::function<void()>& between, Instant now);

// Reads the lock's entries of the synced kinds (without the own authorization).
Result<std::vector<LockHeldEntry>> ReadHeldEntries(ble::LockClient& client,
                                                   const ReconcileInput& in);

// Gives each held entry its credential id (see the file comment).
std::vector<rules::LockEntry> Attribute(const std::vector<LockHeldEntry>& held,
                                        const std::vector<store::LockEntryRecord>& map,
                                        const std::vector<rules::LockEntry>& desired);

// A lock answers an error it cannot encrypt (0x20 not authorized: an unknown or revoked
// authorization, a key that does not decrypt) unencrypted on the keyturner GDIO, where LockClient
// does not listen: its command then times out. For a DeadlineExceeded `st`, returns the lock's
// error from an Error Report waiting on the GDIO (LockErrorStatus), else `st` unchanged.
lintel::Status ExplainTimeout(ble::GattLink& link, const lintel::Status& st);

// Prefixes a Status message with "what: " keeping a lock's error recognisable: LockErrorCodeOf()
// of the result is that of `st`.
lintel::Status WithContext(const lintel::Status& st, const std::string& what);
// LockErrorCodeOf for a Status that may carry context (WithContext).
std::optional<uint8_t> LockErrorOf(const lintel::Status& st);

// The access log entries after `last_seen` (ascending, at most `max_entries`), or, when the
// gateway has never seen the log (nullopt), none but the newest index, so a fresh pairing does
// not replay the lock's history.
struct LogFetch {
  std::vector<ble::LogEntry> entries;
  std::optional<uint32_t> newest;  // the highest index seen (last_seen when nothing new)
};
Result<LogFetch> FetchLog(ble::LockClient& client, std::optional<uint32_t> last_seen, uint16_t pin,
                          size_t max_entries = 200);

}  // namespace lintel::devices
