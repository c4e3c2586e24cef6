// Incremental validation of a delta (issue 13, point 1): what a delta touches, and what refers to
// it, checked against the rules of Validate() without reading the whole state.
//
// ValidateDelta gathers the records of the state after `ops` that the ops can have made invalid:
// the records put, and their referrers (people whose primary is a changed person, credentials and
// leases of a deleted or changed person, every credential with the card or PIN of a credential
// put, every lease naming a member of a lease put), closes that set over references (a person's
// primary chain, a lease's members, a credential's holder) and runs Validate() on it, next to the
// same ids in the state before. Errors the state before already had are not blamed on the delta
// (as the state worker's whole-state baseline does for a state stored under another YAML).
// Schedules, groups and door modes are few: they are read whole.
//
// Exactness: for a state before that passes Validate(), the delta is rejected exactly when the
// whole state after it fails Validate() (tests/unit/rules/validate_delta_test.cpp checks that over
// random deltas). A delete of a group falls back (nullopt): its referrers are any people and
// leases, which the reader cannot find by group.
//
// Pure: the state is read through StateReader (an in-memory Records here; the store's indexed
// tables in the daemon). Cost: O(ops x their referrers) reader calls plus the small kinds.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/model.h"
#include "rules/ops.h"
#include "rules/presented.h"

namespace lintel::rules {

// Read access to one state, by id and by the references validation follows. Lookups of an absent
// id return nullopt / empty. Implementations need not be thread-safe.
class StateReader {
 public:
  virtual ~StateReader() = default;
  virtual std::optional<Person> GetPerson(std::string_view id) const = 0;
  virtual std::optional<Lease> GetLease(std::string_view id) const = 0;
  virtual std::optional<Credential> GetCredential(std::string_view id) const = 0;
  // People whose `primary` is `person`.
  virtual std::vector<Person> PeopleWithPrimary(std::string_view person) const = 0;
  // Credentials whose `person` is `person` (any type and status).
  virtual std::vector<Credential> CredentialsOf(std::string_view person) const = 0;
  // Leases with `person` among their members.
  virtual std::vector<Lease> LeasesNaming(std::string_view person) const = 0;
  // Credentials with the card or PIN of `c` (rules::KeyOf equal; any status).
  virtual std::vector<Credential> CredentialsWithKeyOf(const Credential& c) const = 0;
  // The small kinds, whole.
  virtual std::vector<Schedule> Schedules() const = 0;
  virtual std::vector<Group> Groups() const = 0;
  virtual std::vector<DoorMode> DoorModes() const = 0;
};

// A StateReader over records in memory (hash maps built once, O(records)): tests, tools and small
// states. `records` must outlive the reader and not change.
std::unique_ptr<StateReader> ReadRecords(const Records& records);

// The problems `ops` bring to the state `before` reads (each a Validate() sentence; at most
// `max_errors`); empty when the delta may be applied. nullopt when the delta deletes a group: the
// caller validates the whole state instead.
std::optional<std::vector<std::string>> ValidateDelta(const Site& site, const StateReader& before,
                                                      const std::vector<Op>& ops,
                                                      size_t max_errors = 50);

}  // namespace lintel::rules
