// The fast path of ParseCloudMessage (internal::FastParsePayload, simdjson) against the current
// parser (internal::ParsePayload) on the same verified payload, issue 13 points 5 and 7: on the
// contract's vectors and generated pages and deltas it reads everything; on every header rule and
// on mutated payloads it gives up, or gives exactly the current parser's message.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "gateway/cloud/messages.h"
#include "gateway/codec/records_json.h"
#include "tests/bench/gen.h"
#include "tests/unit/cloud/test_keys.h"
#include "tests/unit/codec/same.h"

namespace lintel::cloud {
namespace {

using json = nlohmann::json;
using codec::testing::Same;

Expect MapleCourt() { return {"maple-court", "gw-1", testing::TrustedTestKeys()}; }

bool SameMessage(const Message& a, const Message& b) {
  if (a.index() != b.index()) return false;
  if (const Delta* x = std::get_if<Delta>(&a)) {
    const Delta& y = std::get<Delta>(b);
    if (x->ops.size() != y.ops.size()) return false;
    for (size_t i = 0; i < x->ops.size(); ++i) {
      if (!Same(x->ops[i], y.ops[i])) return false;
    }
    return std::tie(x->epoch, x->version, x->prev, x->issued_at) ==
           std::tie(y.epoch, y.version, y.prev, y.issued_at);
  }
  if (const SnapshotPage* x = std::get_if<SnapshotPage>(&a)) {
    const SnapshotPage& y = std::get<SnapshotPage>(b);
    return std::tie(x->epoch, x->version, x->snapshot_id, x->page, x->pages) ==
               std::tie(y.epoch, y.version, y.snapshot_id, y.page, y.pages) &&
           Same(x->records, y.records);
  }
  return false;  // the fast path gives nothing else
}

struct Outcome {
  bool agrees = true;
  bool fast = false;
  bool current_ok = false;
};

Outcome Check(Topic topic, const std::string& payload, const Expect& expect = MapleCourt()) {
  Outcome o;
  Result<Message> current = internal::ParsePayload(topic, payload, expect);
  std::optional<Message> fast = internal::FastParsePayload(topic, payload, expect);
  o.current_ok = current.ok();
  o.fast = fast.has_value();
  if (fast) {
    EXPECT_TRUE(current.ok()) << "the fast path accepted what the current parser rejects: "
                              << current.status().message() << "\n"
                              << payload;
    if (current.ok()) {
      EXPECT_TRUE(SameMessage(*fast, *current)) << payload;
      o.agrees = SameMessage(*fast, *current);
    } else {
      o.agrees = false;
    }
  }
  return o;
}

json Vector(const char* name) { return json::parse(testing::ReadVector(name)); }

TEST(MessagesFast, ReadsTheContractVectorsLikeTheCurrentParser) {
  for (auto [topic, name] : {std::pair{Topic::kSyncDelta, "delta.payload.json"},
                             std::pair{Topic::kSyncSnapshot, "snapshot.payload.json"}}) {
    SCOPED_TRACE(name);
    Outcome o = Check(topic, testing::ReadVector(name));
    EXPECT_TRUE(o.current_ok);
    EXPECT_TRUE(o.fast);
  }
}

TEST(MessagesFast, LeavesOtherTopicsToTheCurrentParser) {
  for (auto [topic, name] : {std::pair{Topic::kSyncHead, "head.payload.json"},
                             std::pair{Topic::kEventsAck, "events-ack.payload.json"},
                             std::pair{Topic::kCmdRequest, "command.payload.json"}}) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(internal::FastParsePayload(topic, testing::ReadVector(name), MapleCourt()));
  }
}

TEST(MessagesFast, ReadsGeneratedPagesAndDeltasLikeTheCurrentParser) {
  const rules::Records all = bench::Generate(4000);
  json page = Vector("snapshot.payload.json");
  page["records"] = codec::RecordsToJson(all);
  Outcome o = Check(Topic::kSyncSnapshot, page.dump());
  EXPECT_TRUE(o.current_ok);
  EXPECT_TRUE(o.fast);

  json delta = Vector("delta.payload.json");
  json ops = json::array();
  for (size_t i = 0; i < 200; ++i) {
    ops.push_back(codec::ToJson(rules::PutOp(all.people[i])));
    ops.push_back(codec::ToJson(rules::PutOp(all.leases[i])));
    ops.push_back(codec::ToJson(rules::PutOp(all.credentials[i])));
    ops.push_back(codec::ToJson(rules::DeleteOp(rules::RecordKind::kCredential, "c-x")));
  }
  delta["ops"] = ops;
  o = Check(Topic::kSyncDelta, delta.dump());
  EXPECT_TRUE(o.current_ok);
  EXPECT_TRUE(o.fast);
}

// Every header rule ParseCloudMessage checks: the fast path gives up on each, so the rejection
// (reason and message) is the current parser's.
TEST(MessagesFast, GivesUpOnEveryHeaderTheCurrentParserRejects) {
  auto edit = [](const char* name, auto&& change) {
    json j = Vector(name);
    change(j);
    return j.dump();
  };
  std::vector<std::pair<Topic, std::string>> bad = {
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j["site"] = "other"; })},
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j["gateway"] = "gw-2"; })},
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j["type"] = "snapshot"; })},
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j["prev"] = 41; })},
      {Topic::kSyncDelta, edit("delta.payload.json",
                               [](json& j) {
                                 j["version"] = 0;
                                 j["prev"] = 0;
                               })},
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j["epoch"] = -1; })},
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j["epoch"] = 1.0; })},
      {Topic::kSyncDelta,
       edit("delta.payload.json", [](json& j) { j["issued_at"] = "2026-11-23"; })},
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j["note"] = 1; })},
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j.erase("ops"); })},
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j["ops"] = nullptr; })},
      {Topic::kSyncDelta, edit("delta.payload.json", [](json& j) { j["ops"][0]["op"] = "x"; })},
      {Topic::kSyncDelta, testing::ReadVector("delta.payload.json") + " x"},
      {Topic::kSyncDelta,
       "{\"site\":\"maple-court\"," + testing::ReadVector("delta.payload.json").substr(1)},
      {Topic::kSyncSnapshot, edit("snapshot.payload.json", [](json& j) { j["page"] = 3; })},
      {Topic::kSyncSnapshot, edit("snapshot.payload.json", [](json& j) { j["page"] = 0; })},
      {Topic::kSyncSnapshot, edit("snapshot.payload.json",
                                  [](json& j) {
                                    j["pages"] = 0;
                                    j["page"] = 0;
                                  })},
      {Topic::kSyncSnapshot,
       edit("snapshot.payload.json", [](json& j) { j["snapshot_id"] = "s 4"; })},
      {Topic::kSyncSnapshot, edit("snapshot.payload.json", [](json& j) { j["snapshot_id"] = ""; })},
      {Topic::kSyncSnapshot,
       edit("snapshot.payload.json", [](json& j) { j["snapshot_id"] = std::string(129, 'a'); })},
      {Topic::kSyncSnapshot,
       edit("snapshot.payload.json", [](json& j) { j["records"] = nullptr; })},
      {Topic::kSyncSnapshot, edit("snapshot.payload.json", [](json& j) { j.erase("records"); })},
      {Topic::kSyncSnapshot,
       edit("snapshot.payload.json", [](json& j) { j["records"]["people"][0]["role"] = "boss"; })},
      {Topic::kSyncSnapshot, testing::ReadVector("delta.payload.json")},
      {Topic::kSyncSnapshot, "[]"},
      {Topic::kSyncSnapshot, ""},
  };
  for (const auto& [topic, payload] : bad) {
    SCOPED_TRACE(payload);
    Outcome o = Check(topic, payload);
    EXPECT_FALSE(o.current_ok);
    EXPECT_FALSE(o.fast);
  }
  // Wrong expectations, same payload.
  Expect other = MapleCourt();
  other.gateway = "gw-9";
  EXPECT_FALSE(Check(Topic::kSyncDelta, testing::ReadVector("delta.payload.json"), other).fast);
}

// Byte flips and other values in the header and records of the two payloads: never a fast
// acceptance the current parser does not give, value for value.
TEST(MessagesFast, MutatedPayloadsAreGivenUpOrReadLikeTheCurrentParser) {
  std::mt19937 rng(43);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const std::vector<std::pair<Topic, std::string>> seeds = {
      {Topic::kSyncDelta, testing::ReadVector("delta.payload.json")},
      {Topic::kSyncSnapshot, testing::ReadVector("snapshot.payload.json")}};
  const std::string bytes = std::string("\"\\{}[],:-.0123456789eE \x01\xC0\xFF", 25);
  const std::vector<json> values = {nullptr,
                                    true,
                                    0,
                                    -1,
                                    1,
                                    42,
                                    43,
                                    2,
                                    1.5,
                                    "",
                                    "x",
                                    "maple-court",
                                    "gw-1",
                                    "delta",
                                    "snapshot",
                                    "2026-11-23T10:00:00Z",
                                    json::array(),
                                    json::object()};
  int fast = 0, rejected = 0;
  for (int i = 0; i < 4000; ++i) {
    const auto& [topic, seed] = seeds[static_cast<size_t>(i) % seeds.size()];
    std::string text = seed;
    if (i % 2 == 0) {
      for (size_t k = 0, n = 1 + pick(2); k < n; ++k) {
        size_t at = pick(text.size());
        text[at] = pick(2) ? bytes[pick(bytes.size())] : static_cast<char>(pick(256));
      }
    } else {
      json j = json::parse(text);
      auto it = j.begin();
      std::advance(it, static_cast<long>(pick(j.size())));
      if (pick(4) == 0) {
        j.erase(it.key());
      } else {
        *it = values[pick(values.size())];
      }
      text = j.dump();
    }
    Outcome o = Check(topic, text);
    if (!o.agrees) break;
    fast += o.fast ? 1 : 0;
    rejected += o.current_ok ? 0 : 1;
  }
  EXPECT_GT(fast, 100);
  EXPECT_GT(rejected, 1000);
}

// Through the whole door: a signed generated page parses to the same message as its payload does
// in the current parser.
TEST(MessagesFast, ParseCloudMessageGivesTheCurrentParsersMessage) {
  json page = Vector("snapshot.payload.json");
  page["records"] = codec::RecordsToJson(bench::Generate(500));
  const std::string payload = page.dump();
  const std::string jws =
      SignJws(payload, testing::Key2026().kid, testing::Key2026().pair.secret_key);
  Result<Message> m = ParseCloudMessage(Topic::kSyncSnapshot, jws, MapleCourt());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  Result<Message> current = internal::ParsePayload(Topic::kSyncSnapshot, payload, MapleCourt());
  ASSERT_TRUE(current.ok());
  EXPECT_TRUE(SameMessage(*m, *current));
}

}  // namespace
}  // namespace lintel::cloud
