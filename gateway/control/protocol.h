// The control protocol's framing, shared by ControlServer and ControlClient (see README.md).
//
// One JSON object per line, UTF-8, terminated by '\n'. A request is {"cmd":"<name>", ...args}; its
// response is {"ok":true,"result":<any>} or {"ok":false,"error":"<message>","code":"<StatusCode>"}.
// Pure functions, thread-safe; nothing here throws.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/status.h"

namespace lintel::control {

// The longest request line the server accepts, newline excluded. Large states are imported from a
// file the daemon reads ({"cmd":"import","path":...}), not inline, so requests stay small; this
// bounds the server's memory per connection (and, with the connection limit, in total).
inline constexpr size_t kMaxRequestBytes = size_t{4} << 20;
// The longest response line the client accepts, newline excluded (answers such as a long
// `events.tail` may be large; the server writes them without buffering more than one per client).
inline constexpr size_t kMaxResponseBytes = size_t{512} << 20;
// The deepest nesting of arrays and objects accepted in a line, so that no handler that walks a
// request recursively can be driven into a stack overflow.
inline constexpr int kMaxNestingDepth = 64;

// `message` serialized on one line with its '\n'. Invalid UTF-8 in strings becomes U+FFFD instead
// of failing, so an error message quoting bad input can always be sent.
std::string EncodeLine(const nlohmann::json& message);

// Parses one line (without its '\n'). Errors: InvalidArgument "malformed JSON: ..." naming the
// position, or when arrays/objects nest deeper than kMaxNestingDepth.
Result<nlohmann::json> ParseLine(std::string_view line);

nlohmann::json OkResponse(nlohmann::json result);
// Requires !status.ok().
nlohmann::json ErrorResponse(const Status& status);

// The StatusCode spelled by StatusCodeName(), or nullopt.
std::optional<StatusCode> StatusCodeFromName(std::string_view name);

}  // namespace lintel::control
