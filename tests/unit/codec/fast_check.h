// The fast path (gateway/codec/records_fast.h) against the current parser, on the same JSON text:
// it must give up, or give exactly the current parser's value. Used by the codec tests on every
// vector they parse, and by records_fast_test's generated states and mutated payloads.
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "gateway/codec/json_text.h"
#include "gateway/codec/records_fast.h"
#include "gateway/codec/records_json.h"
#include "tests/unit/codec/same.h"

namespace lintel::codec::testing {

struct FastOutcome {
  bool agrees = true;     // gave up, or the same value as the current parser
  bool accepted = false;  // the fast path gave a value
  bool current_ok = false;
  std::string why;  // when !agrees
};

// As the gateway calls it: no backslash in the text, simdjson's DOM, then the fast reader.
template <typename T, typename F>
bool RunFast(std::string_view text, F&& fast, T* out) {
  if (text.find('\\') != std::string_view::npos) return false;
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (parser.parse(text.data(), text.size()).get(e) != simdjson::SUCCESS) return false;
  return fast(e, out);
}

inline FastOutcome CheckRecordsText(std::string_view text) {
  FastOutcome o;
  Result<rules::Records> current = ParseRecordsText(text, "t");
  o.current_ok = current.ok();
  rules::Records fast;
  o.accepted = RunFast(text, FastParseRecords, &fast);
  if (!o.accepted) return o;
  if (!current.ok()) {
    o.agrees = false;
    o.why = "the fast path accepted what the current parser rejects: " + current.status().message();
  } else if (!Same(*current, fast)) {
    o.agrees = false;
    o.why = "values differ: current " + RecordsToJson(*current).dump() + " fast " +
            RecordsToJson(fast).dump();
  }
  return o;
}

inline FastOutcome CheckOpText(std::string_view text) {
  FastOutcome o;
  Result<nlohmann::json> j = ParseJsonText(text, "t");
  Result<rules::Op> current = j.ok() ? ParseOp(*j, "op") : Result<rules::Op>(j.status());
  o.current_ok = current.ok();
  rules::Op fast;
  o.accepted = RunFast(text, FastParseOp, &fast);
  if (!o.accepted) return o;
  if (!current.ok()) {
    o.agrees = false;
    o.why = "the fast path accepted what the current parser rejects: " + current.status().message();
  } else if (!Same(*current, fast)) {
    o.agrees = false;
    o.why = "values differ: current " + ToJson(*current).dump() + " fast " + ToJson(fast).dump();
  }
  return o;
}

inline std::string Text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// EXPECT_TRUE(FastAgrees(CheckRecordsText(text))) << text;
inline ::testing::AssertionResult FastAgrees(const FastOutcome& o) {
  if (o.agrees) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << o.why;
}
// ... and accepted it (for inputs well inside the contract).
inline ::testing::AssertionResult FastAcceptsAndAgrees(const FastOutcome& o) {
  if (!o.agrees) return ::testing::AssertionFailure() << o.why;
  if (!o.accepted) return ::testing::AssertionFailure() << "the fast path gave up";
  return ::testing::AssertionSuccess();
}

}  // namespace lintel::codec::testing
