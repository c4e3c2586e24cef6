#include "gateway/core/decision_json.h"

namespace lintel::core {

using nlohmann::json;

Result<PresentRequest> ParsePresentRequest(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("request must be a JSON object");
  auto str = [&](const char* key) -> std::optional<std::string> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) return std::string("\x01");
    return it->get<std::string>();
  };
  PresentRequest r;
  std::optional<std::string> door = str("door");
  if (!door || door->empty() || (*door)[0] == '\x01') {
    return Status::InvalidArgument("\"door\" (a door id) is required");
  }
  r.door = *door;
  if (auto reader = str("reader")) r.reader = *reader;
  std::optional<std::string> card = str("card"), uid = str("uid"), pin = str("pin");
  int given = (card ? 1 : 0) + (uid ? 1 : 0) + (pin ? 1 : 0);
  if (given != 1) {
    return Status::InvalidArgument(
        "give exactly one of \"card\" (FORMAT:FACILITY:NUMBER), "
        "\"uid\" (hex) or \"pin\" (digits), as strings");
  }
  if (card) {
    Result<rules::Presented> p = rules::ParseCardArg(*card);
    if (!p.ok()) return p.status();
    r.credential = std::move(*p);
  } else if (uid) {
    r.credential = rules::UidPresented(*uid);
  } else {
    r.credential = rules::PinPresented(*pin);
  }
  if (auto at = str("at")) {
    Result<Instant> t = ParseRfc3339(*at);
    if (!t.ok()) return Status::InvalidArgument("\"at\": " + t.status().message());
    r.at = *t;
  }
  return r;
}

json DecisionToJson(const rules::Decision& d, std::string_view door) {
  json j = {{"result", d.granted ? "granted" : "denied"},
            {"reason", rules::ReasonName(d.reason)},
            {"door", door},
            {"at", FormatRfc3339(d.at)}};
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("credential", d.credential);
  put("person", d.person);
  put("lease", d.lease);
  put("group", d.group);
  put("via", d.via);
  if (d.clock_went_back) j["clock_went_back"] = true;
  if (d.clock_suspect) j["clock_suspect"] = true;
  if (d.lockout_started) j["lockout_started"] = true;
  return j;
}

json TraceToJson(const rules::Trace& trace) {
  json a = json::array();
  for (const rules::Check& c : trace) {
    a.push_back({{"check", c.name}, {"passed", c.passed}, {"detail", c.detail}});
  }
  return a;
}

}  // namespace lintel::core
