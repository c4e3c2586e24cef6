// JSON text -> nlohmann::json, without exceptions and with positions in the errors.
//
// The one place in Lintel where JSON text from outside (a cloud payload, a state file, a fuzzer) is
// turned into a json value. nlohmann-json throws; this adapter catches and returns a Status.
// Pure function, thread-safe, no I/O.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "gateway/base/status.h"

namespace lintel::codec {

// Parses `text` as one JSON value (RFC 8259; surrounding whitespace allowed, nothing else after
// the value). `source_name` names the text in errors ("state.json", "snapshot s-7 page 2").
//
// Rejects, beyond what nlohmann-json rejects, an object holding the same field name twice
// (nlohmann would silently keep the last one, so `"status":"active",...,"status":"revoked"` would
// depend on the parser).
//
// Errors (all InvalidArgument):
//   "<source>:<line>:<column>: <what>" for a syntax error, invalid UTF-8 or an empty text; line and
//       column are 1-based and count bytes; column points at the byte where parsing stopped.
//   "<source>: duplicate field \"<name>\" in <path>" with <path> like `credentials[4].card` or
//       `the top-level object`; only the first duplicate is reported.
Result<nlohmann::json> ParseJsonText(std::string_view text, std::string_view source_name);

}  // namespace lintel::codec
