// Validation of a whole state against the contract's rules and the installer's site.
//
// Structural checks (types, required fields, enum strings) happen in the JSON codec; this is the
// semantic layer: ids, references, PIN and card rules, windows. A batch with any error must be
// rejected as a whole by the caller; nothing here mutates anything. Pure and thread-safe.
#pragma once

#include <memory>
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

// Validate over records streamed one by one (a stored state's rows, a snapshot's pages as they
// arrive), with the same checks and messages, holding only what the checks across records need:
// the ids of schedules, groups, people (with each one's primary and lease count) and, unless the
// source already guarantees them unique (Options::ids_unique), of leases and credentials; and each
// card or PIN's first holder. At 2,000,000 credentials that is about 100 MiB instead of the
// records themselves (issue 13, point 5). Validate is this class fed from the Records.
//
// Records must come kind by kind: schedules, groups, people, leases, credentials, door modes (a
// kind may be empty; within a kind any order). A record of an earlier kind after a later one makes
// the run void (ordered() false): the caller validates again from an ordered source (the store
// streams in that order). When a card or PIN has more than one holder, NeedsReplay() is true after
// the last record: the credentials are passed once more (Replay, in any order), and only then
// Finish(). The problems are reported in another order than Validate's; each is the same sentence.
// Single-threaded; `site` must outlive the validator.
class StateValidator {
 public:
  struct Options {
    // Lease and credential ids are unique per kind by construction (a table's primary key): their
    // duplicates are not looked for (the 1-64 character rule still is).
    bool ids_unique = false;
  };
  StateValidator(const Site& site, size_t max_errors);
  StateValidator(const Site& site, size_t max_errors, Options options);
  // It keeps views into the site: a temporary would leave them dangling.
  StateValidator(Site&&, size_t) = delete;
  StateValidator(Site&&, size_t, Options) = delete;
  ~StateValidator();
  StateValidator(const StateValidator&) = delete;
  StateValidator& operator=(const StateValidator&) = delete;

  void Add(const Schedule& s);
  void Add(const Group& g);
  void Add(const Person& p);
  void Add(const Lease& l);
  void Add(const Credential& c);
  void Add(const DoorMode& m);
  void AddAll(const Records& r);

  // False once a record came after a later kind: the problems found so far mean nothing.
  bool ordered() const;
  // After the last record: the credentials must be passed again (a card or PIN held twice).
  bool NeedsReplay();
  void Replay(const Credential& c);
  // Every problem found (at most max_errors); empty: valid. Requires ordered() and, when
  // NeedsReplay() was true, the replay. Ends the validator.
  std::vector<std::string> Finish();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace lintel::rules
