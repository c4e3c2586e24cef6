// A lock's entries (keypad codes, BLE authorizations) as values, what they admit, and the ordered
// changes from what a lock holds to what it should hold (issue 11). Pure: no I/O, no clock, no
// threads. rules/lock_sync.h computes the desired entries from the engine's Index; the store keeps
// them in a lock's outbox and entry map (gateway/store/store.h).
//
// What an entry means (the contract the codec, the reconciler and tools/lock-sim implement; see
// LockAdmits): the lock admits the entry at instant t when
//   from <= t < until  (absent = unbounded; Instants are UTC, the codec converts to the lock's
//                       date fields), and
//   the site-local weekday of t is in `weekdays` (0 = every day), and
//   from_min <= site-local minute of t < until_min (0/0 = all day).
// Time of day and weekday are the site's local time (Site::zone, as the engine evaluates
// schedules). The lock evaluates them on its own clock in its own time zone, so the gateway keeps
// the lock's clock (Update Time) and time-zone setting equal to the site's; until it has done so
// after pairing, and around a DST change the lock has not yet applied, a time-limited entry may be
// off by the offset difference (entries without weekdays/time of day are unaffected: their window
// is absolute UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/time.h"
#include "gateway/base/timezone.h"

namespace lintel::rules {

// One entry the lock should hold (desired) or holds (read back). Desired entries are always
// enabled; the reconciler reads a lock's entries back into this form (the lock's placeholder dates
// for "no limit" as nullopt) and updates one it finds disabled even when it is SameOnLock.
struct LockEntry {
  enum class Kind : uint8_t { kKeypadCode, kAuthorization };
  Kind kind = Kind::kKeypadCode;
  // The credential id: identifies the entry (the lock's own entry ids are the reconciler's and the
  // store's business). Not written to the lock.
  std::string credential;
  std::string person;  // the holder's person id; not written to the lock
  // Written to the lock: the holder's name for a keypad code, the ble_key's name (else the
  // holder's) for an authorization, cut to LockCodeRules' size. Empty names become the credential
  // id.
  std::string name;
  // kKeypadCode: the code; its digits are LockCodeRules::digits wide (with leading zeros where the
  // rules allow the digit 0). Never logged.
  uint32_t code = 0;
  std::string key;  // kAuthorization: base64 of the 32-byte key, as the credential holds it
  std::optional<Instant> from;   // first instant admitted; nullopt = no lower limit
  std::optional<Instant> until;  // exclusive end; nullopt = no end
  // The lock's weekday bits: bit 6 = Monday .. bit 0 = Sunday (the Nuki layout; the model's
  // Window::days is the other way round). 0 = every day.
  uint8_t weekdays = 0;
  // Time of day, minutes since site-local midnight: admitted when from_min <= minute < until_min.
  // 0/0 = all day; otherwise from_min < until_min <= 1439 (the lock's time is h:m with h <= 23, so
  // a schedule ending at 24:00 is written as ending at 23:59: narrower by the day's last minute).
  uint16_t from_min = 0;
  uint16_t until_min = 0;

  friend bool operator==(const LockEntry&, const LockEntry&) = default;
};

// True when the lock would hold the same thing for a and b: kind, name, code or key, window,
// weekdays and time of day (not `credential` or `person`, which the lock does not hold).
bool SameOnLock(const LockEntry& a, const LockEntry& b);

// A 64-bit digest of what SameOnLock compares, stable across builds and platforms (the store keeps
// it as "what was written"). Two entries with SameOnLock have the same fingerprint. It is not a
// secret hash: a keypad code can be recovered from it by trying every code, so it is never
// logged either.
uint64_t Fingerprint(const LockEntry& e);

// Does the lock admit entry `e` at `t`, whose site-local time is `local` (see the file comment)?
bool LockAdmits(const LockEntry& e, Instant t, const LocalTime& local);

// The model's Window::days (bit 0 = Monday .. bit 6 = Sunday) as a lock's weekday bits (bit 6 =
// Monday .. bit 0 = Sunday); every day (0x7f) is 0.
uint8_t LockWeekdays(uint8_t model_days);

// One change to a lock.
struct LockOp {
  enum class Kind : uint8_t { kRemove, kUpdate, kAdd };
  Kind kind = Kind::kAdd;
  // True when the lock admits less afterwards somewhere (every removal; an update that shortens or
  // narrows a window, moves it, or changes the code); false for an addition and for an update that
  // only widens or renames. Conservative: an update not shown to widen counts as restricting.
  bool restricts = false;
  LockEntry entry;  // kRemove: the entry the lock holds; kUpdate, kAdd: the desired entry

  friend bool operator==(const LockOp&, const LockOp&) = default;
};
std::string_view LockOpKindName(LockOp::Kind k);  // "remove", "update", "add"

// The changes that make a lock holding `actual` hold `desired`, entries matched by credential id.
// Order: removals, then restricting updates, then the other updates, then additions; within each,
// ascending credential id. So revocations and window shortenings reach the lock first, and a lock
// that runs out of room (Nuki: error 0x29) has made space before anything is added.
// An entry whose kind changes, or an authorization whose key changes (a lock cannot change an
// authorization's key in place), is a removal plus an addition. Entries SameOnLock their desired
// entry produce nothing. Several actual entries with one credential id (a crash between an add and
// its record): one matching the desired entry is kept (else the first is updated), the rest are
// removed. The reconciler gives a lock entry it cannot attribute a credential id no credential has
// (e.g. "?keypad:17"): it is removed.
std::vector<LockOp> DiffLockEntries(std::span<const LockEntry> desired,
                                    std::span<const LockEntry> actual);

}  // namespace lintel::rules
