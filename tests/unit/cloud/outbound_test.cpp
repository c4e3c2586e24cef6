#include "gateway/cloud/outbound.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace lintel::cloud {
namespace {

using json = nlohmann::json;

Topics MapleCourt() {
  Result<Topics> t = Topics::Make("maple-court", "gw-1");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : Topics{};
}

// ---- topics -------------------------------------------------------------------------------------

TEST(Topics, PutsEveryTopicUnderTheSiteAndGatewayRoot) {
  const Topics t = MapleCourt();
  EXPECT_EQ(t.root, "lintel/v1/maple-court/gw-1");
  EXPECT_EQ(t.state, "lintel/v1/maple-court/gw-1/state");
  EXPECT_EQ(t.sync_head, "lintel/v1/maple-court/gw-1/sync/head");
  EXPECT_EQ(t.sync_delta, "lintel/v1/maple-court/gw-1/sync/delta");
  EXPECT_EQ(t.sync_snapshot, "lintel/v1/maple-court/gw-1/sync/snapshot");
  EXPECT_EQ(t.sync_request, "lintel/v1/maple-court/gw-1/sync/request");
  EXPECT_EQ(t.sync_ack, "lintel/v1/maple-court/gw-1/sync/ack");
  EXPECT_EQ(t.events, "lintel/v1/maple-court/gw-1/events");
  EXPECT_EQ(t.events_ack, "lintel/v1/maple-court/gw-1/events/ack");
  EXPECT_EQ(t.cmd_request, "lintel/v1/maple-court/gw-1/cmd/request");
  EXPECT_EQ(t.cmd_response, "lintel/v1/maple-court/gw-1/cmd/response");
}

TEST(Topics, SubscribesToExactlyTheFiveInboundTopicsAndNoWildcard) {
  const Topics t = MapleCourt();
  const std::array<std::string, 5> expected = {
      "lintel/v1/maple-court/gw-1/sync/head", "lintel/v1/maple-court/gw-1/sync/delta",
      "lintel/v1/maple-court/gw-1/sync/snapshot", "lintel/v1/maple-court/gw-1/events/ack",
      "lintel/v1/maple-court/gw-1/cmd/request"};
  EXPECT_EQ(t.Subscriptions(), expected);
  for (const std::string& s : t.Subscriptions()) {
    EXPECT_EQ(s.find_first_of("#+"), std::string::npos) << s;
  }
}

TEST(Topics, MatchesOnlyTheInboundTopicsExactly) {
  const Topics t = MapleCourt();
  for (Topic topic : kInboundTopics) EXPECT_EQ(t.Match(t.Inbound(topic)), topic);
  // The gateway's own topics are not inbound: an echo of sync/ack is not a cloud message.
  for (const std::string& own : {t.state, t.sync_request, t.sync_ack, t.events, t.cmd_response}) {
    EXPECT_FALSE(t.Match(own).has_value()) << own;
  }
  EXPECT_FALSE(t.Match("lintel/v1/maple-court/gw-1/sync/#").has_value());
  EXPECT_FALSE(t.Match("lintel/v1/maple-court/gw-2/sync/delta").has_value());
  EXPECT_FALSE(t.Match("lintel/v1/maple-court/gw-1/sync/delta/").has_value());
  EXPECT_FALSE(t.Match("").has_value());
}

TEST(Topics, RejectsIdsThatWouldChangeTheTopicStructure) {
  for (std::string_view bad : {std::string_view(""), std::string_view("a/b"), std::string_view("+"),
                               std::string_view("site#"), std::string_view("a\0b", 3)}) {
    Result<Topics> site = Topics::Make(bad, "gw-1");
    EXPECT_FALSE(site.ok()) << bad;
    EXPECT_EQ(site.status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(Topics::Make("maple-court", bad).ok()) << bad;
  }
  EXPECT_EQ(Topics::Make("a/b", "gw-1").status().message(),
            "site id \"a/b\" must not hold '/', '+', '#' or NUL (MQTT topic syntax)");
  EXPECT_EQ(Topics::Make("maple-court", "").status().message(), "gateway id must not be empty");
}

// ---- payloads -----------------------------------------------------------------------------------

TEST(Outbound, WritesTheStateWithTheContractsFieldsInOrder) {
  GatewayState s;
  s.boot_id = "6f1c2b1e-0d6a-4a4f-9c61-0c1f3b7c2d10";
  s.session = 2;
  s.epoch = 3;
  s.version = 43;
  s.clock_synced = true;
  s.outbox = 17;
  s.ts = *ParseRfc3339("2026-11-23T10:00:00Z");
  EXPECT_EQ(
      StatePayload(s),
      R"({"online":true,"boot_id":"6f1c2b1e-0d6a-4a4f-9c61-0c1f3b7c2d10","session":2,)"
      R"("epoch":3,"version":43,"clock_synced":true,"outbox":17,"ts":"2026-11-23T10:00:00Z"})");
  s.online = false;
  EXPECT_EQ(json::parse(StatePayload(s))["online"], false);
  // A full disk (issue 10): the memory backlog, only while there is one.
  s.unwritten = 240;
  json full = json::parse(StatePayload(s));
  EXPECT_EQ(full["unwritten"], 240);
  EXPECT_FALSE(full.contains("lost"));
  s.lost = 12;
  EXPECT_EQ(json::parse(StatePayload(s))["lost"], 12);
}

TEST(Outbound, WritesTheLastWillAsOfflineWithBootAndSession) {
  EXPECT_EQ(StateWillPayload("boot-1", 4294967295u),
            R"({"online":false,"boot_id":"boot-1","session":4294967295})");
}

TEST(Outbound, WritesSyncRequests) {
  EXPECT_EQ(SyncRequestDeltas(3, 42), R"({"want":"deltas","from":{"epoch":3,"version":42}})");
  EXPECT_EQ(SyncRequestDeltas(UINT64_MAX, 0),
            R"({"want":"deltas","from":{"epoch":18446744073709551615,"version":0}})");
  EXPECT_EQ(SyncRequestSnapshot("new epoch 4"), R"({"want":"snapshot","reason":"new epoch 4"})");
}

TEST(Outbound, WritesSyncAcksWithTheErrorOnlyWhenGiven) {
  EXPECT_EQ(SyncAck(3, 43, AckResult::kApplied), R"({"epoch":3,"version":43,"result":"applied"})");
  EXPECT_EQ(SyncAck(3, 45, AckResult::kGap), R"({"epoch":3,"version":45,"result":"gap"})");
  EXPECT_EQ(SyncAck(3, 43, AckResult::kRejected, "credential c-17: pin must not start with 9"),
            R"({"epoch":3,"version":43,"result":"rejected",)"
            R"("error":"credential c-17: pin must not start with 9"})");
  // Multi-line errors stay one JSON string.
  EXPECT_EQ(json::parse(SyncAck(1, 2, AckResult::kRejected, "a\nb"))["error"], "a\nb");
  EXPECT_EQ(AckResultName(AckResult::kApplied), "applied");
  EXPECT_EQ(AckResultName(AckResult::kRejected), "rejected");
  EXPECT_EQ(AckResultName(AckResult::kGap), "gap");
}

json Event(uint64_t seq) {
  return {{"seq", seq},
          {"id", "0b6f0c4e-3f0e-4c53-8a57-0d7d1c9b2a4e"},
          {"ts", "2026-11-23T10:00:00Z"},
          {"clock_synced", true},
          {"type", "access.granted"},
          {"door", "front"},
          {"historical", false}};
}

TEST(Outbound, WritesAnEventsBatch) {
  Result<std::string> batch = EventsBatch("boot-1", json::array({Event(7), Event(8)}));
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->rfind(R"({"boot_id":"boot-1","events":[{)", 0), 0u) << *batch;
  const json parsed = json::parse(*batch);
  EXPECT_EQ(parsed["events"], json::array({Event(7), Event(8)}));
  Result<std::string> empty = EventsBatch("boot-1", json::array());
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, R"({"boot_id":"boot-1","events":[]})");
}

TEST(Outbound, AcceptsExactly500EventsInABatch) {
  json events = json::array();
  for (uint64_t i = 1; i <= kMaxEventsPerBatch; ++i) events.push_back(Event(i));
  EXPECT_TRUE(EventsBatch("b", events).ok());
  events.push_back(Event(kMaxEventsPerBatch + 1));
  Result<std::string> over = EventsBatch("b", events);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().message(), "an events batch holds at most 500 events, got 501");
}

TEST(Outbound, RejectsEventsOutOfSeqOrderOrWithoutSeq) {
  EXPECT_EQ(EventsBatch("b", json::array({Event(8), Event(7)})).status().message(),
            "events[1]: seq 7 is not above the previous seq 8 (events go in increasing seq order)");
  EXPECT_EQ(EventsBatch("b", json::array({Event(8), Event(8)})).status().message(),
            "events[1]: seq 8 is not above the previous seq 8 (events go in increasing seq order)");
  json no_seq = Event(1);
  no_seq.erase("seq");
  EXPECT_EQ(EventsBatch("b", json::array({no_seq})).status().message(),
            "events[0] must be an object with an unsigned integer \"seq\"");
  EXPECT_EQ(EventsBatch("b", json::array({Event(1), json::array()})).status().message(),
            "events[1] must be an object with an unsigned integer \"seq\"");
  EXPECT_EQ(EventsBatch("b", json::object()).status().message(), "events must be a JSON array");
}

TEST(Outbound, WritesCommandResponses) {
  EXPECT_EQ(CommandResponse("cmd-1", true), R"({"id":"cmd-1","ok":true})");
  EXPECT_EQ(CommandResponse("cmd-1", true, json{{"pong", true}}),
            R"({"id":"cmd-1","ok":true,"result":{"pong":true}})");
  EXPECT_EQ(CommandResponse("cmd-2", false, std::nullopt, "expired at 2026-11-23T10:01:00Z"),
            R"({"id":"cmd-2","ok":false,"error":"expired at 2026-11-23T10:01:00Z"})");
}

TEST(Outbound, ReplacesInvalidUtf8InsteadOfFailing) {
  EXPECT_EQ(SyncRequestSnapshot("bad \xff byte"),
            "{\"want\":\"snapshot\",\"reason\":\"bad \xef\xbf\xbd byte\"}");
  EXPECT_EQ(CommandResponse("\xc3", false, std::nullopt, "\xff"),
            "{\"id\":\"\xef\xbf\xbd\",\"ok\":false,\"error\":\"\xef\xbf\xbd\"}");
}

}  // namespace
}  // namespace lintel::cloud
