#include "drivers/intercom/json_util.h"

namespace lintel::intercom::internal {

using nlohmann::json;

namespace {

// The deepest nesting of arrays and objects in `body`, outside strings; stops counting (and
// returns a value over `limit`) as soon as `limit` is passed. Malformed input is left to the
// parser: this only bounds what the parser may build.
int NestingDepth(std::string_view body, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

Result<json> ParseBounded(std::string_view body, std::string_view what, size_t max_bytes,
                          int max_depth) {
  const std::string w(what);
  if (body.size() > max_bytes) {
    return Status::InvalidArgument(w + ": " + std::to_string(body.size()) + " bytes, over the " +
                                   std::to_string(max_bytes) + "-byte limit");
  }
  if (body.empty()) return Status::InvalidArgument(w + ": empty");
  // A NUL byte is never valid JSON, but nlohmann's lexer takes it for the end of the input (and
  // would accept whatever follows it).
  if (body.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(w + ": not valid JSON (a NUL byte)");
  }
  if (NestingDepth(body, max_depth) > max_depth) {
    return Status::InvalidArgument(w + ": JSON nested deeper than " + std::to_string(max_depth));
  }
  // No exceptions: a parse error yields a discarded value. (The exception's message would quote
  // the input near the error, which may be PIN digits.)
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Status::InvalidArgument(w + ": not valid JSON (" + std::to_string(body.size()) +
                                   " bytes)");
  }
  return j;
}

std::string Printable(std::string_view text, size_t max) {
  std::string out;
  const size_t n = std::min(text.size(), max);
  out.reserve(n + 3);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '?');
  }
  if (text.size() > max) out += "...";
  return out;
}

const json* Member(const json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

std::optional<std::string> StringMember(const json& object, const char* name) {
  const json* m = Member(object, name);
  if (m == nullptr || !m->is_string()) return std::nullopt;
  return m->get_ref<const std::string&>();
}

std::optional<int64_t> IntegerMember(const json& object, const char* name) {
  const json* m = Member(object, name);
  if (m == nullptr) return std::nullopt;
  if (m->is_number_unsigned()) {
    const auto v = m->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (m->is_number_integer()) return m->get<int64_t>();
  return std::nullopt;
}

std::optional<uint64_t> UnsignedMember(const json& object, const char* name) {
  const json* m = Member(object, name);
  if (m == nullptr) return std::nullopt;
  if (m->is_number_unsigned()) return m->get<uint64_t>();
  if (m->is_number_integer()) {
    const auto v = m->get<int64_t>();
    if (v < 0) return std::nullopt;
    return static_cast<uint64_t>(v);
  }
  return std::nullopt;
}

std::optional<std::string> ScalarText(const json& value, size_t max) {
  if (value.is_string()) return Printable(value.get_ref<const std::string&>(), max);
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_unsigned()) return std::to_string(value.get<uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  return std::nullopt;
}

}  // namespace lintel::intercom::internal
