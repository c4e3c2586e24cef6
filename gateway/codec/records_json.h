// The JSON form of the cloud contract's records and ops (shared/contract/cloud-mqtt.md, "Records
// and ops") <-> the C++ values of rules/model.h and rules/ops.h.
//
// Pure functions: no I/O, no globals, thread-safe. Nothing throws: nlohmann-json exceptions are
// caught here and never leave this library. Callers that build or read the json values include
// <nlohmann/json.hpp> themselves.
//
// What is checked here is structure only, so a typo in the cloud is caught before anything is
// applied: a missing required field, a wrong JSON type, an unknown field, an unknown enum string,
// a malformed RFC 3339 timestamp / "HH:MM" / weekday / date, a card UID that is not 1-16 hex
// digits, a number out of range for its C++ type. Meaning is the validator's job (rules engine),
// not this one's: PIN digits and length, `from < to`, card numbers fitting their format's bits,
// references between records, duplicate ids, overlapping validity windows.
//
// Field rules (beyond the contract page):
//   - Optional fields (`?` in the contract, and person `primary`, `inherit`, `groups`, `status`,
//     schedule `exceptions`) may be absent or JSON null; both mean "not set" / the default.
//     Defaults: person `inherit` false, `groups` [], `status` "active"; schedule `exceptions` [].
//     Every other field is required; null there is a type error.
//   - Timestamps must be date-times (a bare "2026-11-23" is rejected: midnight UTC is rarely what
//     a lease meant); an offset is converted to UTC and fractions of a second are dropped.
//   - A regular window needs `days`; inside an exception `days` may be given but is ignored.
//   - A credential carries exactly the payload of its `type` (`card`, `pin` or `ble_key`); the
//     others must be absent (or null).
//     A card is `{"format","facility"?,"number"}` (facility absent = 0) or `{"uid":"hex"}`; the UID
//     is stored upper-cased. `pin` must be a JSON string: a number would lose leading zeros.
//   - Integers must be JSON integers (12.0 is rejected), within the C++ field's range.
//
// Errors: Status::InvalidArgument, one line per bad record, each naming the record and the field
// the way sync/ack reports it:
//   credential c-17: card.number must be a non-negative integer
//   person p-3: role "landlord" is not one of tenant|occupant|family|staff|alias|guest
//   records.credentials[4]: missing "id"                  (no usable id: the position instead)
//   schedule office: unknown field "windows[0].form" (expected one of days|from|to)
// Echoed values are JSON-quoted and cut after 64 bytes; an id that is not plain ASCII
// ([A-Za-z0-9._:@/+-], at most 64 bytes) is shown quoted the same way.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "gateway/base/status.h"
#include "rules/model.h"
#include "rules/ops.h"

namespace lintel::codec {

// ParseRecords reports at most this many bad records, then stops.
inline constexpr size_t kMaxRecordErrors = 20;

// ---- a snapshot's `records` -----------------------------------------------------------------

// Parses the `records` object of a snapshot page (or a state file): arrays under `schedules`,
// `groups`, `people`, `leases`, `credentials`, `door_modes`. A missing (or null) key is an empty
// array; any other key is an error. Records keep their order.
// Errors: InvalidArgument with the first error of each bad record (at most kMaxRecordErrors,
// then a line "(stopped after 20 errors)"), joined by '\n'; "records must be an object";
// "records: unknown field \"x\" (...)"; "records.people must be an array".
Result<rules::Records> ParseRecords(const nlohmann::json& records);

// The same from JSON text holding just the `records` object. `source_name` prefixes every error
// line ("state.json: person p-3: missing \"role\""); syntax errors, invalid UTF-8 and duplicate
// fields are reported as ParseJsonText (json_text.h) does, with line, column and byte position.
Result<rules::Records> ParseRecordsText(std::string_view json_text, std::string_view source_name);

// The contract's JSON for `records`: all six keys, always present (possibly empty arrays).
// Never fails. ParseRecords(RecordsToJson(r)) gives back r for every r a Parse* function can
// produce (see the notes on ToJson below); for other values (an empty uid, say) it may fail.
nlohmann::json RecordsToJson(const rules::Records& records);

// ---- one record (a delta op's `data`, or one element of a snapshot array) -------------------

// `where` names the record in errors until its id is known ("schedule: missing \"id\"").
// Errors: InvalidArgument, the first structural error found, in the format above.
Result<rules::Schedule> ParseSchedule(const nlohmann::json& j, std::string_view where = "schedule");
Result<rules::Group> ParseGroup(const nlohmann::json& j, std::string_view where = "group");
Result<rules::Person> ParsePerson(const nlohmann::json& j, std::string_view where = "person");
Result<rules::Lease> ParseLease(const nlohmann::json& j, std::string_view where = "lease");
Result<rules::Credential> ParseCredential(const nlohmann::json& j,
                                          std::string_view where = "credential");
// The record's "id" is the door id (DoorMode::door).
Result<rules::DoorMode> ParseDoorMode(const nlohmann::json& j,
                                      std::string_view where = "door_mode");

// The contract's JSON for one record. Never fails. Every field is written, defaults included;
// optional fields only when set. What does not survive a round trip, by design: `days` of windows
// inside an exception (not written), the payloads of a credential other than its type's (not
// written), sub-second precision (Instant has none). Strings are copied as they are: dump() the
// result with json::error_handler_t::replace unless they are known to be UTF-8 (they are when they
// came from a Parse* function).
nlohmann::json ToJson(const rules::Schedule& schedule);
nlohmann::json ToJson(const rules::Group& group);
nlohmann::json ToJson(const rules::Person& person);
nlohmann::json ToJson(const rules::Lease& lease);
nlohmann::json ToJson(const rules::Credential& credential);
nlohmann::json ToJson(const rules::DoorMode& door_mode);

// ---- delta ops ------------------------------------------------------------------------------

// Parses `{"op":"put","kind":K,"data":{...}}` or `{"op":"delete","kind":K,"id":str}`.
// A put holds the parsed record (the alternative matching `kind`) and sets Op::id to the record's
// id; a put must not carry "id", a delete must not carry "data". `where` names the op in errors
// ("ops[3]"); errors inside `data` name the record ("credential c-17: ...", or "ops[3].data: ..."
// while it has no id).
// Errors: InvalidArgument, e.g. "ops[3]: kind \"cred\" is not one of schedule|group|...".
Result<rules::Op> ParseOp(const nlohmann::json& op, std::string_view where = "op");

// The contract's JSON for an op. Requires: a put holds a record (not std::monostate); if it does
// not, "data" is written as null (which ParseOp rejects).
nlohmann::json ToJson(const rules::Op& op);

}  // namespace lintel::codec
