#include "gateway/codec/json_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace lintel::codec {
namespace {

using json = nlohmann::json;

std::string ErrorOf(std::string_view text) {
  Result<json> r = ParseJsonText(text, "in.json");
  return r.ok() ? "OK" : r.status().message();
}

TEST(JsonText, ParsesValidText) {
  Result<json> r = ParseJsonText(" {\"a\": [1, \"x\", null]}\n", "in.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json({{"a", {1, "x", nullptr}}}));
}

TEST(JsonText, ReportsSyntaxErrorWithLineAndColumn) {
  EXPECT_EQ(ErrorOf("{\n  \"a\": 1,\n  \"b\": tru\n}"),
            "in.json:3:11: syntax error while parsing value - invalid literal; last read: "
            "'\"b\": tru<U+000A>'");
  EXPECT_EQ(ErrorOf("{\"a\":1,"),
            "in.json:1:8: syntax error while parsing object key - unexpected end of input; "
            "expected string literal");
  EXPECT_EQ(ErrorOf("[1] x"),
            "in.json:1:5: syntax error while parsing value - invalid literal; last read: "
            "'1] x'; expected end of input");
}

TEST(JsonText, RejectsEmptyText) {
  EXPECT_EQ(ErrorOf(""),
            "in.json:1:1: syntax error while parsing value - unexpected end of input; expected "
            "'[', '{', or a literal");
}

TEST(JsonText, RejectsInvalidUtf8) {
  std::string error = ErrorOf("{\"a\":\"\xff\"}");
  EXPECT_TRUE(
      error.starts_with("in.json:1:7: syntax error while parsing value - invalid string: "
                        "ill-formed UTF-8 byte"))
      << error;
}

TEST(JsonText, RejectsDuplicateFieldAtTopLevel) {
  EXPECT_EQ(ErrorOf(R"({"a":1,"a":2})"), "in.json: duplicate field \"a\" in the top-level object");
}

TEST(JsonText, RejectsDuplicateFieldNamingItsPath) {
  EXPECT_EQ(ErrorOf(R"({"credentials":[{"id":"c-1"},{"id":"c-2","card":{"number":1},
                       "status":"active","status":"revoked"}]})"),
            "in.json: duplicate field \"status\" in credentials[1]");
  EXPECT_EQ(ErrorOf(R"({"x":[[1,{"a":1}],[2,[3],{"k":{"b":1,"b":1}}]]})"),
            "in.json: duplicate field \"b\" in x[1][2].k");
}

TEST(JsonText, AcceptsSameFieldInDifferentObjects) {
  EXPECT_EQ(ErrorOf(R"([{"id":1},{"id":2},{"a":{"id":3},"id":4}])"), "OK");
}

TEST(JsonText, RejectsDuplicateFieldInLargeObject) {
  std::string text = "{";
  for (int i = 0; i < 100; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += "\"k42\":0}";
  EXPECT_EQ(ErrorOf(text), "in.json: duplicate field \"k42\" in the top-level object");
}

TEST(JsonText, KeepsDeepNestingWithoutRecursionLimits) {
  std::string text(100000, '[');
  text += std::string(100000, ']');
  EXPECT_EQ(ErrorOf(text), "OK");
}

}  // namespace
}  // namespace lintel::codec
