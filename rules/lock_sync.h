// Lock sync, the pure part (issue 11 point 5): which keypad codes and BLE authorizations the lock
// of door D should hold, computed from the same Index the engine decides with, and the ordered
// changes that take a lock from what it holds to that. No I/O, no clock of its own (`now` is passed
// in), no threads; any thread may call these on an Index it holds (an Index is immutable).
//
// The lock enforces what is written into it by its own clock, also while the gateway is away, so
// an entry must never admit anyone the engine would refuse: every entry is the window of ONE access
// path of the credential (or several that join without a gap and share its schedule), never a
// union of disjoint windows, and a schedule the lock cannot hold exactly means no entry at all.
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
//
// Deliberate differences from a decision at the door (documented, not accidental):
// - The offline policy's staff-only mode (Engine::SetStaffOnly) and a lockdown set locally by an
//   automation (Engine::SetLocalDoorMode) are runtime states of the gateway, not of the Index:
//   they are not written into locks. A state door mode `locked_down` is: every window starts no
//   earlier than the mode's `until` (no entry while it has none).
// - The engine decides at the clock floor; entries are computed at the `now` the caller passes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "gateway/base/timezone.h"
#include "rules/index.h"

namespace lintel::rules {

// What a lock's keypad accepts as a code, and how long its names are. The defaults are a Nuki's:
// 6 digits, digits 1-9 only, not starting with "12"; names of 20 bytes (keypad codes) and 32 bytes
// (authorizations).
struct LockCodeRules {
  uint8_t digits = 6;                   // a code has exactly this many digits, 1..9
  bool digit_zero_allowed = false;      // false: every digit is 1-9
  std::string forbidden_prefix = "12";  // a code may not start with these digits; empty = none
  size_t keypad_name_bytes = 20;        // names are cut to this many bytes (at a UTF-8 boundary)
  size_t authorization_name_bytes = 32;
};

// One entry the lock should hold (desired) or holds (read back).
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

// A credential that could open door D but gets no entry, and why ("codes not pushed" in
// `lintelctl lock status`). Credentials that may not open D at all right now (revoked or suspended
// credential, suspended holder, no access path to D, inherit off) are simply absent.
struct SkippedEntry {
  enum class Why : uint8_t {
    kCodeRules,       // the PIN breaks the lock's code rules
    kSchedule,        // no access path's schedule can be written exactly (or it never opens)
    kNoWindow,        // every access path's window has ended (or is empty)
    kDoorLockedDown,  // the door is locked down with no end
    kSameCode,        // another credential with the same PIN has the code on this lock
    kBadKey,          // a ble_key whose key is not base64 of 32 bytes
  };
  std::string credential;
  std::string person;
  Why why = Why::kCodeRules;
  // For people: "pin of credential c-3 has 4 digits; the lock takes 6", "schedule s1 has 2
  // different windows; a lock holds one", "lease l-1 ended at 2026-11-30T23:00:00Z". Never the
  // PIN digits or the key.
  std::string reason;

  friend bool operator==(const SkippedEntry&, const SkippedEntry&) = default;
};
// "code_rules", "schedule", "no_window", "door_locked_down", "same_code", "bad_key".
std::string_view SkipWhyName(SkippedEntry::Why w);

struct LockSync {
  std::vector<LockEntry> entries;     // ascending by credential id (byte order)
  std::vector<SkippedEntry> skipped;  // ascending by credential id
  // The earliest instant after `now` at which DesiredLockEntries may answer differently for the
  // same Index (a window starts or ends, a lockdown ends); nullopt when none. The reconciler
  // recomputes then (a window that ends needs nothing from it: the lock enforces it; removing the
  // expired entry afterwards is housekeeping).
  std::optional<Instant> next_change;
};

// The entries the lock of `door` should hold at `now`.
//
// Credentials considered: PIN credentials (keypad codes) and ble_key credentials whose
// `ble_key.lock` is `door` (authorizations); cards never go to a lock. A credential gets an entry
// when it is active, its holder is active, and it has an access path to `door` exactly as
// DecideWith walks them: the holder's direct groups, the holder's leases, then — while `inherit`
// is set, up to 8 levels, stopping at a primary who is not active — the primary's groups and
// leases. A path is a group that includes the door, with that group's schedule, and:
//   - through a lease: window [max(valid_from, starts_at), min(valid_until, ends_at,
//     paid_through + grace)) (LeaseRec::paid_until);
//   - a direct group: the credential's window [valid_from, valid_until).
// A door mode `locked_down` active at `now` moves every window's start to the mode's `until`.
//
// One path per entry (a union of disjoint windows is not one window):
//   1. paths whose window has ended (until <= now), is empty, or whose schedule never opens are
//      dropped; none left -> skipped (kNoWindow naming what ended it, or kSchedule, or
//      kDoorLockedDown);
//   2. paths whose schedule the lock cannot hold exactly are dropped; none left -> skipped
//      (kSchedule, the reason of the path that would have been chosen);
//   3. the path whose window holds `now` is chosen, else the next one to start; ties: the
//      "always" schedule (no limit) first, then the latest end, then the first in walk order;
//   4. the window is widened by every remaining path whose window overlaps or touches it and
//      whose schedule admits at least as much (the same lock schedule, or "always"): a renewal
//      that follows its lease without a gap is one window. Any instant inside the result is
//      inside a path that grants it, so the lock never admits what the engine refuses.
// A schedule is exactly expressible when it is "always" (no limit), or when the days it opens on
// all open for the same one interval (after joining a day's touching windows) and it has no
// exception dated inside the entry's window (exceptions before it are harmless). Anything else
// (two different windows, a holiday in the window) is not: no entry, never a wider one.
//
// PINs meet `code_rules` or are skipped (kCodeRules); the code is the credential key's digits
// (CredentialKey value and length). Two credentials sharing a PIN (bookings) cannot both be on one
// lock: the one whose window holds `now`, else starts first, gets the code; the other is skipped
// (kSameCode) until then.
//
// Errors: NotFound when `door` is not a door of the index's site. Cost: one pass over the index's
// credentials (the PINs among them are walked): about 3 ms per 100,000 credentials, half of them
// PINs (measured on the shared 2-core build VM).
Result<LockSync> DesiredLockEntries(const Index& index, std::string_view door, Instant now,
                                    const LockCodeRules& code_rules = {});

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
