// Internal to lintel_intercom (not part of its API): bounded, exception-free JSON reading shared
// by the 2N and Akuvox parsers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/status.h"

namespace lintel::intercom::internal {

// Parses `body` as one JSON value. Errors: InvalidArgument "<what>: <reason>" when it is longer
// than `max_bytes`, nested deeper than `max_depth` (checked by a scan before anything is built),
// or not JSON. The reason never quotes the input.
Result<nlohmann::json> ParseBounded(std::string_view body, std::string_view what, size_t max_bytes,
                                    int max_depth);

// `text` with every byte outside printable ASCII replaced by '?', cut to `max` bytes ("..."
// appended when cut).
std::string Printable(std::string_view text, size_t max);

// Typed reads that never throw: nullopt when the member is absent or of another type.
const nlohmann::json* Member(const nlohmann::json& object, const char* name);
std::optional<std::string> StringMember(const nlohmann::json& object, const char* name);
// An integer (JSON integer, or a float with no fractional part is NOT accepted).
std::optional<int64_t> IntegerMember(const nlohmann::json& object, const char* name);
// A non-negative integer that fits in uint64_t.
std::optional<uint64_t> UnsignedMember(const nlohmann::json& object, const char* name);

// A scalar as short text: strings as they are, booleans "true"/"false", integers in decimal;
// nullopt for anything else (floats, arrays, objects, null). Cut and made printable at `max`.
std::optional<std::string> ScalarText(const nlohmann::json& value, size_t max);

}  // namespace lintel::intercom::internal
