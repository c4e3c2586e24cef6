#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway/codec/records_json.h"
#include "rules/ops.h"
#include "tests/unit/codec/fast_check.h"
#include "tests/unit/codec/same.h"

namespace lintel::codec {
namespace {

using json = nlohmann::json;
using rules::RecordKind;
using testing::IsSame;

struct KindCase {
  RecordKind kind;
  json data;  // a valid record of that kind
  std::string id;
};

std::vector<KindCase> EveryKind() {
  return {
      {RecordKind::kSchedule,
       {{"id", "office"},
        {"windows", {{{"days", {"mon", "fri"}}, {"from", "08:00"}, {"to", "17:00"}}}},
        {"exceptions", {{{"date", "2026-12-25"}, {"windows", json::array()}}}}},
       "office"},
      {RecordKind::kGroup,
       {{"id", "residents"}, {"name", "Residents"}, {"doors", {"main"}}, {"schedule", "always"}},
       "residents"},
      {RecordKind::kPerson,
       {{"id", "p-2"},
        {"name", "Ben"},
        {"role", "family"},
        {"primary", "p-1"},
        {"inherit", true},
        {"groups", json::array()},
        {"status", "active"}},
       "p-2"},
      {RecordKind::kLease,
       {{"id", "l-1"},
        {"unit", "3B"},
        {"members", {"p-1"}},
        {"groups", {"residents"}},
        {"starts_at", "2026-01-01T00:00:00Z"},
        {"paid_through", "2026-02-01T00:00:00Z"}},
       "l-1"},
      {RecordKind::kCredential,
       {{"id", "c-3"}, {"person", "p-1"}, {"type", "pin"}, {"status", "active"}, {"pin", "0123"}},
       "c-3"},
      {RecordKind::kDoorMode, {{"id", "garage"}, {"mode", "locked_down"}}, "garage"},
  };
}

// Every vector also goes through the fast path (records_fast.h): it gives up or agrees.
std::string ErrorOf(const json& op, std::string_view where = "op") {
  const std::string text = testing::Text(op);
  EXPECT_TRUE(testing::FastAgrees(testing::CheckOpText(text))) << text;
  Result<rules::Op> r = ParseOp(op, where);
  return r.ok() ? "OK" : r.status().message();
}

TEST(OpsJson, ParsesPutForEveryKind) {
  for (const KindCase& c : EveryKind()) {
    SCOPED_TRACE(std::string(rules::RecordKindName(c.kind)));
    json j = {{"op", "put"}, {"kind", rules::RecordKindName(c.kind)}, {"data", c.data}};
    Result<rules::Op> op = ParseOp(j);
    ASSERT_TRUE(op.ok()) << op.status().ToString();
    EXPECT_EQ(op->op, rules::OpKind::kPut);
    EXPECT_EQ(op->kind, c.kind);
    EXPECT_EQ(op->id, c.id);
    EXPECT_EQ(op->record.index(), static_cast<size_t>(c.kind) + 1);
    EXPECT_EQ(ToJson(*op), j);
  }
}

TEST(OpsJson, ParsesDeleteForEveryKind) {
  for (const KindCase& c : EveryKind()) {
    SCOPED_TRACE(std::string(rules::RecordKindName(c.kind)));
    json j = {{"op", "delete"}, {"kind", rules::RecordKindName(c.kind)}, {"id", c.id}};
    Result<rules::Op> op = ParseOp(j);
    ASSERT_TRUE(op.ok()) << op.status().ToString();
    EXPECT_EQ(op->op, rules::OpKind::kDelete);
    EXPECT_EQ(op->kind, c.kind);
    EXPECT_EQ(op->id, c.id);
    EXPECT_TRUE(std::holds_alternative<std::monostate>(op->record));
    EXPECT_EQ(ToJson(*op), j);
  }
}

TEST(OpsJson, RoundTripsOpsThroughJson) {
  for (const KindCase& c : EveryKind()) {
    SCOPED_TRACE(std::string(rules::RecordKindName(c.kind)));
    for (const char* verb : {"put", "delete"}) {
      json j = {{"op", verb}, {"kind", rules::RecordKindName(c.kind)}};
      if (std::string(verb) == "put") {
        j["data"] = c.data;
      } else {
        j["id"] = c.id;
      }
      Result<rules::Op> op = ParseOp(j);
      ASSERT_TRUE(op.ok()) << op.status().ToString();
      Result<rules::Op> back = ParseOp(ToJson(*op));
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_PRED_FORMAT2(IsSame, *back, *op);
    }
  }
}

// Issue 13, point 7: puts and deletes of every kind, read by the simdjson fast path.
TEST(OpsJson, FastPathReadsEveryKindLikeTheCurrentParser) {
  for (const KindCase& c : EveryKind()) {
    SCOPED_TRACE(std::string(rules::RecordKindName(c.kind)));
    json put = {{"op", "put"}, {"kind", rules::RecordKindName(c.kind)}, {"data", c.data}};
    json del = {{"op", "delete"}, {"kind", rules::RecordKindName(c.kind)}, {"id", c.id}};
    EXPECT_TRUE(testing::FastAcceptsAndAgrees(testing::CheckOpText(put.dump())));
    EXPECT_TRUE(testing::FastAcceptsAndAgrees(testing::CheckOpText(del.dump())));
  }
}

TEST(OpsJson, RejectsUnknownOp) {
  EXPECT_EQ(ErrorOf({{"op", "upsert"}, {"kind", "person"}, {"id", "p-1"}}),
            "op: op \"upsert\" is not one of put|delete");
  EXPECT_EQ(ErrorOf({{"kind", "person"}, {"id", "p-1"}}), "op: missing \"op\"");
}

TEST(OpsJson, RejectsUnknownKind) {
  EXPECT_EQ(ErrorOf({{"op", "delete"}, {"kind", "cred"}, {"id", "c-1"}}, "ops[3]"),
            "ops[3]: kind \"cred\" is not one of "
            "schedule|group|person|lease|credential|door_mode");
}

TEST(OpsJson, RejectsUnknownOpField) {
  EXPECT_EQ(ErrorOf({{"op", "delete"}, {"kind", "person"}, {"id", "p-1"}, {"reason", "x"}}),
            "op: unknown field \"reason\" (expected one of op|kind|data|id)");
}

TEST(OpsJson, RejectsPutWithoutDataOrWithId) {
  EXPECT_EQ(ErrorOf({{"op", "put"}, {"kind", "person"}}), "op: missing \"data\"");
  EXPECT_EQ(ErrorOf({{"op", "put"}, {"kind", "person"}, {"data", "p-1"}}),
            "op: data must be an object");
  EXPECT_EQ(ErrorOf({{"op", "put"},
                     {"kind", "door_mode"},
                     {"id", "main"},
                     {"data", {{"id", "main"}, {"mode", "normal"}}}}),
            "op: \"id\" is not allowed with op put (a put carries its id in data.id)");
}

TEST(OpsJson, RejectsDeleteWithoutIdOrWithData) {
  EXPECT_EQ(ErrorOf({{"op", "delete"}, {"kind", "person"}}), "op: missing \"id\"");
  EXPECT_EQ(ErrorOf({{"op", "delete"}, {"kind", "person"}, {"id", 7}}), "op: id must be a string");
  EXPECT_EQ(ErrorOf({{"op", "delete"}, {"kind", "person"}, {"id", ""}}),
            "op: id must not be empty");
  EXPECT_EQ(
      ErrorOf({{"op", "delete"}, {"kind", "person"}, {"id", "p-1"}, {"data", json::object()}}),
      "op: \"data\" is not allowed with op delete");
}

TEST(OpsJson, AcceptsNullForTheFieldTheOpDoesNotUse) {
  EXPECT_EQ(ErrorOf({{"op", "delete"}, {"kind", "person"}, {"id", "p-1"}, {"data", nullptr}}),
            "OK");
  EXPECT_EQ(ErrorOf({{"op", "put"},
                     {"kind", "door_mode"},
                     {"id", nullptr},
                     {"data", {{"id", "main"}, {"mode", "normal"}}}}),
            "OK");
}

TEST(OpsJson, RejectsOpThatIsNotAnObject) {
  EXPECT_EQ(ErrorOf(json::array(), "ops[0]"), "ops[0]: must be an object");
}

TEST(OpsJson, NamesTheRecordInDataErrors) {
  EXPECT_EQ(ErrorOf({{"op", "put"},
                     {"kind", "credential"},
                     {"data",
                      {{"id", "c-17"},
                       {"person", "p-1"},
                       {"type", "pin"},
                       {"status", "active"},
                       {"pin", 1234}}}}),
            "credential c-17: pin must be a JSON string, not a number: a number loses leading "
            "zeros (write \"0123\", not 0123)");
  EXPECT_EQ(ErrorOf({{"op", "put"}, {"kind", "group"}, {"data", {{"name", "G"}}}}, "ops[3]"),
            "ops[3].data: missing \"id\"");
}

TEST(OpsJson, ParsesDataAsTheKindItNames) {
  // A person's data under kind "group" is checked as a group.
  EXPECT_EQ(ErrorOf({{"op", "put"},
                     {"kind", "group"},
                     {"data", {{"id", "p-1"}, {"name", "Ana"}, {"role", "tenant"}}}}),
            "group p-1: unknown field \"role\" (expected one of id|name|doors|schedule)");
}

TEST(OpsJson, NamesAndParsesEveryRecordKind) {
  for (RecordKind k : {RecordKind::kSchedule, RecordKind::kGroup, RecordKind::kPerson,
                       RecordKind::kLease, RecordKind::kCredential, RecordKind::kDoorMode}) {
    EXPECT_EQ(rules::ParseRecordKind(rules::RecordKindName(k)), k);
  }
  EXPECT_EQ(rules::RecordKindName(RecordKind::kDoorMode), "door_mode");
  EXPECT_FALSE(rules::ParseRecordKind("Person").has_value());
  static_assert(rules::ParseRecordKind("lease") == RecordKind::kLease);
}

TEST(OpsJson, WritesPutWithoutRecordAsNullData) {
  rules::Op op{.op = rules::OpKind::kPut, .kind = RecordKind::kPerson, .id = "p-1"};
  EXPECT_EQ(ToJson(op), json({{"op", "put"}, {"kind", "person"}, {"data", nullptr}}));
  EXPECT_EQ(ErrorOf(ToJson(op)), "op: data must be an object");
}

}  // namespace
}  // namespace lintel::codec
