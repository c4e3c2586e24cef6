#include "gateway/cloud/echo.h"

namespace lintel::cloud::internal {

using json = nlohmann::json;

std::string EchoString(std::string_view s) {
  const bool cut = s.size() > kMaxEcho;
  std::string q = json(std::string(cut ? s.substr(0, kMaxEcho) : s))
                      .dump(-1, ' ', false, json::error_handler_t::replace);
  if (cut) q.insert(q.size() - 1, "...");
  return q;
}

std::string Echo(const json& v) {
  if (v.is_string()) return EchoString(v.get_ref<const std::string&>());
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > kMaxEcho) s = s.substr(0, kMaxEcho) + "...";
  return s;
}

std::string IdText(std::string_view id) {
  bool plain = !id.empty() && id.size() <= kMaxEcho;
  for (char c : id) {
    plain =
        plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '@' || c == '/' || c == '+' || c == '-');
  }
  return plain ? std::string(id) : EchoString(id);
}

}  // namespace lintel::cloud::internal
