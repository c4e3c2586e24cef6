// Lock sync, the pure part (issue 11 point 5): which keypad codes and BLE authorizations the lock
// of door D should hold, computed from the same Index the engine decides with. No I/O, no clock of
// its own (`now` is passed in), no threads; any thread may call it on an Index it holds (an Index
// is immutable).
//
// The lock enforces what is written into it by its own clock, also while the gateway is away, so
// an entry must never admit anyone the engine would refuse: every entry is the window of ONE access
// path of the credential (or several that join without a gap and share its schedule), never a
// union of disjoint windows, and a schedule the lock cannot hold exactly means no entry at all.
//
// What an entry admits, and DiffLockEntries: rules/lock_entry.h.
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
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "gateway/base/timezone.h"
#include "rules/index.h"
#include "rules/lock_entry.h"

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

}  // namespace lintel::rules
