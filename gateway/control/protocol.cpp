#include "gateway/control/protocol.h"

#include <exception>

namespace lintel::control {
namespace {

// nlohmann's parser and destructor are iterative, but handlers and dump() recurse: bound the depth
// with a cheap byte scan before parsing.
bool NestsTooDeep(std::string_view line) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : line) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxNestingDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

std::string EncodeLine(const nlohmann::json& message) {
  std::string line = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  return line;
}

Result<nlohmann::json> ParseLine(std::string_view line) {
  if (NestsTooDeep(line)) {
    return Status::InvalidArgument("malformed JSON: arrays and objects nest deeper than " +
                                   std::to_string(kMaxNestingDepth) + " levels");
  }
  try {
    return nlohmann::json::parse(line.begin(), line.end());
  } catch (const std::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> "parse error at
    // ..."
    std::string what = e.what();
    if (auto pos = what.find("] "); what.rfind("[json.exception.", 0) == 0 && pos != what.npos) {
      what.erase(0, pos + 2);
    }
    return Status::InvalidArgument("malformed JSON: " + what);
  }
}

nlohmann::json OkResponse(nlohmann::json result) {
  return nlohmann::json{{"ok", true}, {"result", std::move(result)}};
}

nlohmann::json ErrorResponse(const Status& status) {
  return nlohmann::json{
      {"ok", false}, {"error", status.message()}, {"code", StatusCodeName(status.code())}};
}

std::optional<StatusCode> StatusCodeFromName(std::string_view name) {
  for (StatusCode code :
       {StatusCode::kOk, StatusCode::kInvalidArgument, StatusCode::kNotFound,
        StatusCode::kAlreadyExists, StatusCode::kFailedPrecondition, StatusCode::kCorruption,
        StatusCode::kIoError, StatusCode::kUnavailable, StatusCode::kInternal}) {
    if (name == StatusCodeName(code)) return code;
  }
  return std::nullopt;
}

}  // namespace lintel::control
