// Internal to lintel_cloud_msg: how values taken from a cloud message appear in error messages.
// Bounded (cut after 64 bytes) and escaped, so a hostile message cannot flood a log or forge lines.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lintel::cloud::internal {

inline constexpr size_t kMaxEcho = 64;

// `v` as JSON text, cut after kMaxEcho bytes ("\"abc...\"", "[1,2,...").
std::string Echo(const nlohmann::json& v);
// A string value as a JSON string literal, cut after kMaxEcho bytes.
std::string EchoString(std::string_view s);
// An id: bare when plain ([A-Za-z0-9._:@/+-], 1 to 64 bytes), else as EchoString.
std::string IdText(std::string_view id);

}  // namespace lintel::cloud::internal
