// A fast path for the cloud contract's records and delta ops (issue 13, points 5 and 7): simdjson's
// DOM (kernel picked at run time: AVX2 / AVX-512 where the CPU has them) straight into the values
// of rules/model.h and rules/ops.h, without building an nlohmann::json first.
//
// It is a shortcut, never a second opinion. Each function either gives exactly the value the
// current parser (records_json.h: ParseRecords, ParseOp) gives for the same JSON, or gives up
// (returns false) and the caller runs the current parser, which then accepts or rejects with its
// own messages. So every rejection, and every error text, stays the current parser's by
// construction. It gives up on anything it does not fully understand:
//   - a field not in the contract, or a field seen twice in one object (ParseJsonText rejects
//     duplicates; simdjson keeps both);
//   - any type other than the one the field wants, and null where the current parser would say
//     no (a required field, `days` of a regular window, the payload of the credential's own type);
//   - any value the current parser would reject: an unknown enum string, a bad timestamp, date,
//     `HH:MM` or weekday, a UID that is not 1-16 hex digits, an integer out of range, an empty id,
//     a `pin` that is a number, a card with both `uid` and `format`, "data" on a delete ...;
//   - numbers that are not plain integers (simdjson's double: 12.0, 1e2);
//   - a string holding a byte below 0x20.
// Escapes are the caller's to exclude: the caller only comes here for payloads without a single
// backslash, so every string is its raw bytes (simdjson has validated them as UTF-8, as nlohmann
// does), and the whole text has already been parsed by simdjson (syntax, UTF-8, nothing after the
// value).
//
// Pure functions, no I/O, thread-safe, nothing throws (simdjson's error-code API only).
// On false, *out holds a partial value: the caller discards it.
#pragma once

#include "rules/model.h"
#include "rules/ops.h"

namespace simdjson::dom {
class element;
}  // namespace simdjson::dom

namespace lintel::codec {

// The `records` object of a snapshot page, as ParseRecords reads it. Requires: *out is empty.
[[nodiscard]] bool FastParseRecords(const simdjson::dom::element& records, rules::Records* out);

// One delta op, as ParseOp reads it.
[[nodiscard]] bool FastParseOp(const simdjson::dom::element& op, rules::Op* out);

}  // namespace lintel::codec
