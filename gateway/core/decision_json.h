// JSON forms shared by the daemon's control socket and lintelctl's offline mode: a presentation
// request in, a decision (and its explanation) out.
#pragma once

#include <nlohmann/json.hpp>

#include "gateway/base/status.h"
#include "rules/decision.h"
#include "rules/engine.h"

namespace lintel::core {

// A request {"door", "reader"?, "card": "h10301:101:251" | "uid": "04A2" | "pin": "1234",
// "at"?: RFC 3339}. Exactly one of card/uid/pin. Errors: InvalidArgument naming the field.
struct PresentRequest {
  std::string door;
  std::string reader;
  rules::Presented credential;
  std::optional<Instant> at;
};
Result<PresentRequest> ParsePresentRequest(const nlohmann::json& j);

// {"result":"granted"|"denied","reason","door","at", and when known "credential","person",
//  "lease","group","via"}; never PIN digits.
nlohmann::json DecisionToJson(const rules::Decision& d, std::string_view door);
// [{"check","passed","detail"}...]
nlohmann::json TraceToJson(const rules::Trace& trace);

}  // namespace lintel::core
