// Validation of a whole state against the contract's rules and the installer's site.
//
// Structural checks (types, required fields, enum strings) happen in the JSON codec; this is the
// semantic layer: ids, references, PIN and card rules, windows. A batch with any error must be
// rejected as a whole by the caller; nothing here mutates anything. Pure and thread-safe.
#pragma once

#include <string>
#include <vector>

#include "rules/model.h"

namespace lintel::rules {

// Returns every problem found (at most `max_errors`), each a precise sentence in the contract's
// style: "credential c-17: pin must not start with 9". Empty means the records are valid.
//
// Checks: ids present, at most 64 characters without control characters, unique per kind; schedule
// windows (from < to, at least one day), exception dates unique; the reserved ids ("always" for
// schedules); group doors are doors of the site and group schedules exist; person primary exists,
// is not the person, and primary chains have no cycle; person and lease groups exist; lease
// members exist, ends_at after starts_at, grace_days 0..365; credential person exists, PIN digits
// and length (policy), leading 9 (policy), card UID 1-16 hex digits, card facility/number within
// the format's field widths, BLE key lock is a door and the key is base64 of 32 bytes,
// valid_from < valid_until; no two non-revoked credentials with the same card or PIN have
// overlapping validity windows; door modes name doors of the site; list lengths within the limits
// of model.h (kMaxGroupsPerPerson, ...: "person p1: has 257 groups, at most 256 are allowed").
//
// PIN digits never appear in a message.
std::vector<std::string> Validate(const Site& site, const Records& records, size_t max_errors = 50);

}  // namespace lintel::rules
