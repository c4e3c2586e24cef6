#include "gateway/cloud/messages.h"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/codec/records_json.h"
#include "tests/unit/cloud/test_keys.h"

namespace lintel::cloud {
namespace {

using json = nlohmann::json;
using testing::Key2026;
using testing::Key2027;
using testing::Part;
using testing::ReadVector;
using testing::SignWithHeader;
using testing::TrustedTestKeys;
using testing::WithPart;

Expect MapleCourt() { return {"maple-court", "gw-1", TrustedTestKeys()}; }

Instant T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

// ---- valid payloads, one per type -------------------------------------------------------------

json HeadPayload() {
  return {{"type", "head"},
          {"site", "maple-court"},
          {"gateway", "gw-1"},
          {"epoch", 3},
          {"version", 43},
          {"issued_at", "2026-11-23T10:00:00Z"},
          {"expires_at", "2026-11-23T11:00:00Z"}};
}
json DeltaPayload() {
  return {{"type", "delta"},
          {"site", "maple-court"},
          {"gateway", "gw-1"},
          {"epoch", 3},
          {"version", 43},
          {"prev", 42},
          {"issued_at", "2026-11-23T10:00:00Z"},
          {"ops",
           {{{"op", "put"},
             {"kind", "door_mode"},
             {"data", {{"id", "garage"}, {"mode", "locked_down"}}}},
            {{"op", "delete"}, {"kind", "credential"}, {"id", "c-9"}}}}};
}
json SnapshotPayload() {
  return {{"type", "snapshot"},
          {"site", "maple-court"},
          {"gateway", "gw-1"},
          {"epoch", 4},
          {"version", 0},
          {"snapshot_id", "s-4-0"},
          {"page", 2},
          {"pages", 3},
          {"records", json::object()}};
}
json EventsAckPayload() {
  return {{"type", "events_ack"}, {"site", "maple-court"}, {"gateway", "gw-1"}, {"upto", 1200}};
}
json CommandPayload(const char* name, json args) {
  return {{"type", "command"},
          {"site", "maple-court"},
          {"gateway", "gw-1"},
          {"id", "cmd-1"},
          {"name", name},
          {"args", std::move(args)},
          {"issued_at", "2026-11-23T10:00:00Z"},
          {"expires_at", "2026-11-23T10:01:00Z"}};
}

std::string Sign(const json& payload, const testing::TestKey& key = Key2026()) {
  return SignJws(payload.dump(), key.kid, key.pair.secret_key);
}

Result<Message> Parse(Topic topic, const json& payload) {
  return ParseCloudMessage(topic, Sign(payload), MapleCourt());
}

template <typename T>
T Ok(Topic topic, const std::string& jws) {
  Result<Message> m = ParseCloudMessage(topic, jws, MapleCourt());
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok() || !std::holds_alternative<T>(*m)) return T{};
  EXPECT_EQ(m->index(), static_cast<size_t>(topic));
  return std::get<T>(*m);
}
template <typename T>
T Ok(Topic topic, const json& payload) {
  return Ok<T>(topic, Sign(payload));
}

struct Rejected {
  RejectReason reason = RejectReason::kInternal;
  std::optional<JwsError> jws;
  std::string message;
};
Rejected RejectionOf(Topic topic, const std::string& jws, const Expect& expect = MapleCourt()) {
  Rejected r;
  Rejection rejection;
  Result<Message> m = ParseCloudMessage(topic, jws, expect, &rejection);
  if (m.ok()) {
    ADD_FAILURE() << "accepted";
    return r;
  }
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  r.reason = rejection.reason;
  r.jws = rejection.jws;
  r.message = m.status().message();
  return r;
}
Rejected RejectionOf(Topic topic, const json& payload) { return RejectionOf(topic, Sign(payload)); }

// The message for `payload` with `key` set to `value` (or removed, for a discarded json).
json With(json payload, const std::string& key, json value) {
  if (value.is_discarded()) {
    payload.erase(key);
  } else {
    payload[key] = std::move(value);
  }
  return payload;
}
const json kRemove = json(json::value_t::discarded);

// ---- the OpenSSL-signed vectors ---------------------------------------------------------------

TEST(CloudMessage, ParsesTheSignedHeadVector) {
  Head h = Ok<Head>(Topic::kSyncHead, ReadVector("head.jws"));
  EXPECT_EQ(h.epoch, 3u);
  EXPECT_EQ(h.version, 43u);
  EXPECT_EQ(h.issued_at, T("2026-11-23T10:00:00Z"));
  EXPECT_EQ(h.expires_at, T("2026-11-23T11:00:00Z"));
}

TEST(CloudMessage, ParsesTheSignedDeltaVector) {
  Delta d = Ok<Delta>(Topic::kSyncDelta, ReadVector("delta.jws"));
  EXPECT_EQ(d.epoch, 3u);
  EXPECT_EQ(d.version, 43u);
  EXPECT_EQ(d.prev, 42u);
  EXPECT_EQ(d.issued_at, T("2026-11-23T10:00:00Z"));
  ASSERT_EQ(d.ops.size(), 2u);
  EXPECT_EQ(d.ops[0].op, rules::OpKind::kPut);
  EXPECT_EQ(d.ops[0].kind, rules::RecordKind::kCredential);
  EXPECT_EQ(d.ops[0].id, "c-17");
  EXPECT_EQ(std::get<rules::Credential>(d.ops[0].record).pin, "4711");
  EXPECT_EQ(d.ops[1].op, rules::OpKind::kDelete);
  EXPECT_EQ(d.ops[1].kind, rules::RecordKind::kPerson);
  EXPECT_EQ(d.ops[1].id, "p-old");
}

TEST(CloudMessage, ParsesTheSignedSnapshotVector) {
  SnapshotPage s = Ok<SnapshotPage>(Topic::kSyncSnapshot, ReadVector("snapshot.jws"));
  EXPECT_EQ(s.epoch, 4u);
  EXPECT_EQ(s.version, 0u);
  EXPECT_EQ(s.snapshot_id, "s-4-0");
  EXPECT_EQ(s.page, 1u);
  EXPECT_EQ(s.pages, 2u);
  ASSERT_EQ(s.records.people.size(), 1u);
  EXPECT_EQ(s.records.people[0].id, "p-alice");
  ASSERT_EQ(s.records.credentials.size(), 1u);
  EXPECT_EQ(s.records.credentials[0].card.number, 4711u);
}

TEST(CloudMessage, ParsesTheSignedEventsAckVector) {
  EXPECT_EQ(Ok<EventsAck>(Topic::kEventsAck, ReadVector("events-ack.jws")).upto, 1200u);
}

TEST(CloudMessage, ParsesTheSignedCommandVector) {
  Command c = Ok<Command>(Topic::kCmdRequest, ReadVector("command.jws"));
  EXPECT_EQ(c.id, "cmd-7f3a");
  EXPECT_EQ(c.name, CommandName::kUnlock);
  EXPECT_EQ(c.args, json({{"door", "front"}, {"seconds", 5}}));
  const auto& unlock = std::get<UnlockArgs>(c.parsed);
  EXPECT_EQ(unlock.door, "front");
  EXPECT_EQ(unlock.seconds, 5u);
  EXPECT_EQ(c.issued_at, T("2026-11-23T10:00:00Z"));
  EXPECT_EQ(c.expires_at, T("2026-11-23T10:01:00Z"));
}

TEST(CloudMessage, RejectsDeltaForAnotherSite) {
  // Validly signed by a trusted key, but for another building: it cannot be replayed here.
  Rejected r = RejectionOf(Topic::kSyncDelta, ReadVector("delta-other-site.jws"));
  EXPECT_EQ(r.reason, RejectReason::kWrongSite);
  EXPECT_EQ(r.message, "delta 43: message for site other-site, this is maple-court");
}

TEST(CloudMessage, RejectsAlgNoneAndHs256Vectors) {
  Rejected none = RejectionOf(Topic::kSyncDelta, ReadVector("alg-none.jws"));
  EXPECT_EQ(none.reason, RejectReason::kSignature);
  EXPECT_EQ(none.jws, JwsError::kUnsupportedAlg);
  EXPECT_EQ(none.message, "delta: JWS alg \"none\" is not accepted, only \"EdDSA\"");
  Rejected hs = RejectionOf(Topic::kSyncDelta, ReadVector("alg-hs256.jws"));
  EXPECT_EQ(hs.jws, JwsError::kUnsupportedAlg);
}

// ---- round trips: SignJws -> ParseCloudMessage ------------------------------------------------

TEST(CloudMessage, RoundTripsAHead) {
  Head h = Ok<Head>(Topic::kSyncHead, HeadPayload());
  EXPECT_EQ(h.epoch, 3u);
  EXPECT_EQ(h.version, 43u);
  EXPECT_EQ(h.expires_at, T("2026-11-23T11:00:00Z"));
}

TEST(CloudMessage, RoundTripsADelta) {
  Delta d = Ok<Delta>(Topic::kSyncDelta, DeltaPayload());
  ASSERT_EQ(d.ops.size(), 2u);
  EXPECT_EQ(d.ops[0].kind, rules::RecordKind::kDoorMode);
  EXPECT_EQ(std::get<rules::DoorMode>(d.ops[0].record).mode, rules::DoorModeKind::kLockedDown);
  EXPECT_EQ(d.ops[1].id, "c-9");
}

TEST(CloudMessage, RoundTripsASnapshotPageSignedByTheSecondKey) {
  Result<Message> m =
      ParseCloudMessage(Topic::kSyncSnapshot, Sign(SnapshotPayload(), Key2027()), MapleCourt());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& s = std::get<SnapshotPage>(*m);
  EXPECT_EQ(s.snapshot_id, "s-4-0");
  EXPECT_EQ(s.page, 2u);
  EXPECT_EQ(s.pages, 3u);
  EXPECT_TRUE(s.records.people.empty());
}

TEST(CloudMessage, RoundTripsAnEventsAck) {
  EXPECT_EQ(Ok<EventsAck>(Topic::kEventsAck, EventsAckPayload()).upto, 1200u);
}

TEST(CloudMessage, RoundTripsEveryCommand) {
  Command unlock = Ok<Command>(Topic::kCmdRequest, CommandPayload("unlock", {{"door", "front"}}));
  EXPECT_EQ(unlock.name, CommandName::kUnlock);
  EXPECT_EQ(std::get<UnlockArgs>(unlock.parsed).door, "front");
  EXPECT_FALSE(std::get<UnlockArgs>(unlock.parsed).seconds.has_value());

  Command mode = Ok<Command>(Topic::kCmdRequest,
                             CommandPayload("set_door_mode", {{"door", "garage"},
                                                              {"mode", "unlocked"},
                                                              {"until", "2026-11-23T18:00:00Z"}}));
  EXPECT_EQ(mode.name, CommandName::kSetDoorMode);
  const auto& m = std::get<SetDoorModeArgs>(mode.parsed);
  EXPECT_EQ(m.door, "garage");
  EXPECT_EQ(m.mode, rules::DoorModeKind::kUnlocked);
  EXPECT_EQ(m.until, T("2026-11-23T18:00:00Z"));

  Command forever = Ok<Command>(
      Topic::kCmdRequest, CommandPayload("set_door_mode", {{"door", "front"}, {"mode", "normal"}}));
  EXPECT_FALSE(std::get<SetDoorModeArgs>(forever.parsed).until.has_value());

  Command resync = Ok<Command>(Topic::kCmdRequest, CommandPayload("resync", json::object()));
  EXPECT_EQ(resync.name, CommandName::kResync);
  EXPECT_TRUE(std::holds_alternative<ResyncArgs>(resync.parsed));

  Command resend =
      Ok<Command>(Topic::kCmdRequest, CommandPayload("resend_events", {{"from", 1000}}));
  EXPECT_EQ(resend.name, CommandName::kResendEvents);
  EXPECT_EQ(std::get<ResendEventsArgs>(resend.parsed).from, 1000u);

  Command ping = Ok<Command>(Topic::kCmdRequest, CommandPayload("ping", json::object()));
  EXPECT_EQ(ping.name, CommandName::kPing);
  EXPECT_TRUE(std::holds_alternative<PingArgs>(ping.parsed));
}

TEST(CloudMessage, NamesCommandsAsTheContractDoes) {
  EXPECT_EQ(CommandNameText(CommandName::kUnlock), "unlock");
  EXPECT_EQ(CommandNameText(CommandName::kSetDoorMode), "set_door_mode");
  EXPECT_EQ(CommandNameText(CommandName::kResync), "resync");
  EXPECT_EQ(CommandNameText(CommandName::kResendEvents), "resend_events");
  EXPECT_EQ(CommandNameText(CommandName::kPing), "ping");
}

TEST(CloudMessage, AcceptsTheLargestU64) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  Head h = Ok<Head>(Topic::kSyncHead, With(With(HeadPayload(), "epoch", max), "version", max));
  EXPECT_EQ(h.epoch, max);
  EXPECT_EQ(h.version, max);
}

TEST(CloudMessage, AcceptsTimestampsWithAnOffsetAsUtc) {
  Head h =
      Ok<Head>(Topic::kSyncHead, With(HeadPayload(), "issued_at", "2026-11-23T11:00:00+01:00"));
  EXPECT_EQ(h.issued_at, T("2026-11-23T10:00:00Z"));
}

// ---- realistic content ----------------------------------------------------------------------

std::string ReadSourceFile(const std::string& relative) {
  const char* root = std::getenv("LINTEL_SOURCE_DIR");
  std::ifstream in(std::string(root != nullptr ? root : LINTEL_SOURCE_DIR_DEFAULT) + "/" +
                   relative);
  EXPECT_TRUE(in.good()) << relative;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(CloudMessage, ParsesARealisticSnapshotPage) {
  // The demo building's whole state (every kind of record) as page 1 of 1.
  const json records = json::parse(ReadSourceFile("config/examples/demo-state.json"));
  json payload = SnapshotPayload();
  payload["page"] = 1;
  payload["pages"] = 1;
  payload["records"] = records;
  SnapshotPage s = Ok<SnapshotPage>(Topic::kSyncSnapshot, payload);
  Result<rules::Records> expected = codec::ParseRecords(records);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  EXPECT_EQ(codec::RecordsToJson(s.records), codec::RecordsToJson(*expected));
  EXPECT_FALSE(s.records.schedules.empty());
  EXPECT_FALSE(s.records.groups.empty());
  EXPECT_FALSE(s.records.people.empty());
  EXPECT_FALSE(s.records.leases.empty());
  EXPECT_FALSE(s.records.credentials.empty());
}

TEST(CloudMessage, ParsesARealisticDelta) {
  // A move-in: the new tenant's person, lease and two credentials, a card replaced, a door mode.
  json payload = DeltaPayload();
  payload["ops"] = json::parse(R"([
    {"op":"put","kind":"person","data":{"id":"p-erik","name":"Erik Lund","role":"tenant",
      "groups":[],"status":"active"}},
    {"op":"put","kind":"lease","data":{"id":"l-203","unit":"203","members":["p-erik"],
      "groups":["unit-203"],"starts_at":"2026-12-01T00:00:00Z","paid_through":"2027-01-01T00:00:00Z",
      "grace_days":5}},
    {"op":"put","kind":"group","data":{"id":"unit-203","name":"Unit 203","doors":["unit-203"],
      "schedule":"always"}},
    {"op":"put","kind":"credential","data":{"id":"c-erik-card","person":"p-erik","type":"card",
      "status":"active","valid_from":"2026-12-01T00:00:00Z","card":{"format":"h10301",
      "facility":12,"number":31337}}},
    {"op":"put","kind":"credential","data":{"id":"c-erik-pin","person":"p-erik","type":"pin",
      "status":"active","pin":"0815"}},
    {"op":"delete","kind":"credential","id":"c-old-card"},
    {"op":"put","kind":"schedule","data":{"id":"move-in","windows":[{"days":["sat"],
      "from":"08:00","to":"20:00"}]}},
    {"op":"put","kind":"door_mode","data":{"id":"garage","mode":"unlocked",
      "until":"2026-12-01T20:00:00Z"}}
  ])");
  Delta d = Ok<Delta>(Topic::kSyncDelta, payload);
  ASSERT_EQ(d.ops.size(), 8u);
  for (size_t i = 0; i < d.ops.size(); ++i) {
    Result<rules::Op> direct = codec::ParseOp(payload["ops"][i]);
    ASSERT_TRUE(direct.ok()) << i << ": " << direct.status().ToString();
    EXPECT_EQ(codec::ToJson(d.ops[i]), codec::ToJson(*direct)) << i;
  }
  EXPECT_EQ(std::get<rules::Lease>(d.ops[1].record).grace_days, 5);
  EXPECT_EQ(std::get<rules::Credential>(d.ops[3].record).card.number, 31337u);
  EXPECT_EQ(d.ops[5].op, rules::OpKind::kDelete);
}

// ---- signature failures ---------------------------------------------------------------------

TEST(CloudMessage, RejectsABadSignatureNamingTheKeyButNothingOfThePayload) {
  const std::string jws = SignJws(DeltaPayload().dump(), "test-2026", Key2027().pair.secret_key);
  Rejected r = RejectionOf(Topic::kSyncDelta, jws);
  EXPECT_EQ(r.reason, RejectReason::kSignature);
  EXPECT_EQ(r.jws, JwsError::kBadSignature);
  // Issue 10, point 1: nothing of an unverified payload is decoded or parsed, not even for a label.
  EXPECT_EQ(r.message, "delta: signature does not verify with key test-2026");
}

TEST(CloudMessage, RejectsAMessageWhenNoKeyIsTrusted) {
  Rejected r = RejectionOf(Topic::kSyncHead, Sign(HeadPayload()), {"maple-court", "gw-1", {}});
  EXPECT_EQ(r.reason, RejectReason::kSignature);
  EXPECT_EQ(r.jws, JwsError::kUnknownKid);
  EXPECT_EQ(r.message, "head: JWS kid \"test-2026\" is not a trusted key");
}

TEST(CloudMessage, LabelsUnverifiedMessagesWithTheTopicTypeOnly) {
  // A forged command whose id tries to start a new log line.
  json forged = CommandPayload("ping", json::object());
  forged["id"] = "x\nERROR fake line";
  Rejected r = RejectionOf(Topic::kCmdRequest,
                           SignJws(forged.dump(), "test-2026", Key2027().pair.secret_key));
  EXPECT_EQ(r.message, "command: signature does not verify with key test-2026");
  // Not a JWS at all: the bare type.
  Rejected garbage = RejectionOf(Topic::kSyncSnapshot, std::string("garbage"));
  EXPECT_EQ(garbage.jws, JwsError::kMalformed);
  EXPECT_EQ(garbage.message,
            "snapshot: not a JWS in compact serialization: 1 parts, expected 3 separated by '.'");
}

TEST(CloudMessage, RejectsAPayloadSwappedIntoAnotherMessage) {
  const std::string head = ReadVector("head.jws");
  const std::string delta = ReadVector("delta.jws");
  Rejected r = RejectionOf(Topic::kSyncDelta, WithPart(head, 1, Part(delta, 1)));
  EXPECT_EQ(r.reason, RejectReason::kSignature);
  EXPECT_EQ(r.jws, JwsError::kBadSignature);
}

// ---- payload, type, site, gateway -----------------------------------------------------------

std::string SignedText(std::string_view payload) {
  return SignJws(payload, "test-2026", Key2026().pair.secret_key);
}

TEST(CloudMessage, RejectsAPayloadThatIsNotJson) {
  Rejected r = RejectionOf(Topic::kSyncHead, SignedText("{\"type\":\"head\","));
  EXPECT_EQ(r.reason, RejectReason::kNotJson);
  EXPECT_EQ(r.message,
            "head: payload:1:16: syntax error while parsing object key - unexpected end of input; "
            "expected string literal");
  Rejected utf8 = RejectionOf(Topic::kSyncHead, SignedText("{\"type\":\"\xc3\x28\"}"));
  EXPECT_EQ(utf8.reason, RejectReason::kNotJson);
}

TEST(CloudMessage, RejectsAPayloadThatIsNotAnObject) {
  Rejected r = RejectionOf(Topic::kSyncHead, SignedText("[1,2]"));
  EXPECT_EQ(r.reason, RejectReason::kNotJson);
  EXPECT_EQ(r.message, "head: payload must be a JSON object, got [1,2]");
}

TEST(CloudMessage, RejectsAPayloadWithADuplicateField) {
  // Which "site" would count? Neither: the message is refused.
  Rejected r = RejectionOf(
      Topic::kEventsAck,
      SignedText(
          R"({"type":"events_ack","site":"other-site","site":"maple-court","gateway":"gw-1","upto":1})"));
  EXPECT_EQ(r.reason, RejectReason::kNotJson);
  EXPECT_EQ(r.message, "events_ack: payload: duplicate field \"site\" in the top-level object");
}

TEST(CloudMessage, RejectsATypeThatDoesNotMatchTheTopic) {
  Rejected r = RejectionOf(Topic::kSyncDelta, HeadPayload());
  EXPECT_EQ(r.reason, RejectReason::kWrongType);
  EXPECT_EQ(r.message, "delta 43: type is \"head\", but sync/delta carries \"delta\"");
  // Every topic refuses every other type.
  const json payloads[] = {HeadPayload(), DeltaPayload(), SnapshotPayload(), EventsAckPayload(),
                           CommandPayload("ping", json::object())};
  for (Topic topic : kInboundTopics) {
    for (size_t i = 0; i < std::size(payloads); ++i) {
      Result<Message> m = Parse(topic, payloads[i]);
      EXPECT_EQ(m.ok(), i == static_cast<size_t>(topic)) << TopicSuffix(topic) << " " << i;
    }
  }
}

TEST(CloudMessage, RejectsAMissingOrMistypedType) {
  Rejected missing = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "type", kRemove));
  EXPECT_EQ(missing.reason, RejectReason::kWrongType);
  EXPECT_EQ(missing.message, "head 43: missing \"type\"");
  Rejected number = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "type", 1));
  EXPECT_EQ(number.reason, RejectReason::kWrongType);
  EXPECT_EQ(number.message, "head 43: type is 1, but sync/head carries \"head\"");
}

TEST(CloudMessage, RejectsAMessageForAnotherGateway) {
  Rejected r = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "gateway", "gw-2"));
  EXPECT_EQ(r.reason, RejectReason::kWrongGateway);
  EXPECT_EQ(r.message, "head 43: message for gateway gw-2, this is gw-1");
}

TEST(CloudMessage, RejectsEveryTypeForAnotherSite) {
  const json payloads[] = {HeadPayload(), DeltaPayload(), SnapshotPayload(), EventsAckPayload(),
                           CommandPayload("ping", json::object())};
  for (Topic topic : kInboundTopics) {
    Rejected r = RejectionOf(topic, With(payloads[static_cast<size_t>(topic)], "site", "elm-row"));
    EXPECT_EQ(r.reason, RejectReason::kWrongSite) << TopicSuffix(topic);
    EXPECT_NE(r.message.find(": message for site elm-row, this is maple-court"), std::string::npos)
        << r.message;
  }
}

TEST(CloudMessage, RejectsAMissingOrMistypedSiteOrGateway) {
  Rejected site = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "site", kRemove));
  EXPECT_EQ(site.reason, RejectReason::kWrongSite);
  EXPECT_EQ(site.message, "head 43: missing \"site\"");
  Rejected gw = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "gateway", json::array()));
  EXPECT_EQ(gw.reason, RejectReason::kWrongGateway);
  EXPECT_EQ(gw.message, "head 43: gateway must be a string, got []");
  // Case and whitespace matter: ids are compared byte for byte.
  Rejected upper = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "site", "Maple-Court"));
  EXPECT_EQ(upper.reason, RejectReason::kWrongSite);
  Rejected spaced = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "site", "maple-court "));
  EXPECT_EQ(spaced.message, "head 43: message for site \"maple-court \", this is maple-court");
}

// ---- fields -------------------------------------------------------------------------------------

TEST(CloudMessage, RejectsU64FieldsThatAreNotUnsignedIntegers) {
  const struct {
    json value;
    const char* shown;
  } cases[] = {
      {-1, "-1"},       {42.0, "42.0"},    {42.5, "42.5"},
      {"42", "\"42\""}, {nullptr, "null"}, {true, "true"},
  };
  for (const auto& c : cases) {
    Rejected r = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "epoch", c.value));
    EXPECT_EQ(r.reason, RejectReason::kBadField);
    EXPECT_EQ(r.message,
              std::string("head 43: epoch must be an unsigned 64-bit integer, got ") + c.shown);
  }
  // Above 2^64 - 1 the JSON number is no integer any more.
  Rejected big = RejectionOf(
      Topic::kEventsAck,
      SignedText(
          R"({"type":"events_ack","site":"maple-court","gateway":"gw-1","upto":18446744073709551616})"));
  EXPECT_EQ(big.reason, RejectReason::kBadField);
  EXPECT_EQ(big.message.rfind("events_ack: upto must be an unsigned 64-bit integer, got ", 0), 0u)
      << big.message;
}

TEST(CloudMessage, RejectsMissingFields) {
  const struct {
    Topic topic;
    json payload;
    const char* field;
    const char* message;
  } cases[] = {
      {Topic::kSyncHead, HeadPayload(), "expires_at", "head 43: missing \"expires_at\""},
      {Topic::kSyncHead, HeadPayload(), "version", "head: missing \"version\""},
      {Topic::kSyncDelta, DeltaPayload(), "prev", "delta 43: missing \"prev\""},
      {Topic::kSyncDelta, DeltaPayload(), "ops", "delta 43: missing \"ops\""},
      {Topic::kSyncDelta, DeltaPayload(), "issued_at", "delta 43: missing \"issued_at\""},
      {Topic::kSyncSnapshot, SnapshotPayload(), "records",
       "snapshot 0 page 2: missing \"records\""},
      {Topic::kSyncSnapshot, SnapshotPayload(), "snapshot_id",
       "snapshot 0 page 2: missing \"snapshot_id\""},
      {Topic::kEventsAck, EventsAckPayload(), "upto", "events_ack: missing \"upto\""},
      {Topic::kCmdRequest, CommandPayload("ping", json::object()), "args",
       "command cmd-1: missing \"args\""},
      {Topic::kCmdRequest, CommandPayload("ping", json::object()), "id", "command: missing \"id\""},
  };
  for (const auto& c : cases) {
    Rejected r = RejectionOf(c.topic, With(c.payload, c.field, kRemove));
    EXPECT_EQ(r.reason, RejectReason::kBadField) << c.field;
    EXPECT_EQ(r.message, c.message);
  }
}

TEST(CloudMessage, RejectsUnknownFields) {
  Rejected r = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "note", "hi"));
  EXPECT_EQ(r.reason, RejectReason::kBadField);
  EXPECT_EQ(r.message,
            "head 43: unknown field \"note\" (expected one of "
            "type|site|gateway|epoch|version|issued_at|expires_at)");
  // A field of another type is unknown here too: a delta's "prev" on a head.
  Rejected prev = RejectionOf(Topic::kSyncHead, With(HeadPayload(), "prev", 42));
  EXPECT_EQ(prev.reason, RejectReason::kBadField);
}

TEST(CloudMessage, RejectsBadTimestamps) {
  const struct {
    json value;
    const char* shown;
  } cases[] = {
      {"yesterday", "\"yesterday\""},
      {"2026-11-23", "\"2026-11-23\""},  // a bare date is not a timestamp
      {"2026-02-30T10:00:00Z", "\"2026-02-30T10:00:00Z\""},
      {1795000000, "1795000000"},
  };
  for (const auto& c : cases) {
    Rejected r = RejectionOf(Topic::kSyncDelta, With(DeltaPayload(), "issued_at", c.value));
    EXPECT_EQ(r.reason, RejectReason::kBadField);
    EXPECT_EQ(r.message, std::string("delta 43: issued_at must be an RFC 3339 timestamp like "
                                     "2026-11-23T10:00:00Z, got ") +
                             c.shown);
  }
}

TEST(CloudMessage, RejectsAnExpiryBeforeTheIssue) {
  Rejected r =
      RejectionOf(Topic::kSyncHead, With(HeadPayload(), "expires_at", "2026-11-23T09:59:59Z"));
  EXPECT_EQ(r.reason, RejectReason::kBadField);
  EXPECT_EQ(r.message,
            "head 43: expires_at 2026-11-23T09:59:59Z is before issued_at 2026-11-23T10:00:00Z");
  // A command's is the executor's check (it answers on cmd/response, issue 10 point 8): parsed.
  Command c = Ok<Command>(Topic::kCmdRequest, With(CommandPayload("ping", json::object()),
                                                   "expires_at", "2026-11-22T10:00:00Z"));
  EXPECT_LT(c.expires_at, c.issued_at);
  // Equal is allowed: a message valid for an instant only.
  Ok<Head>(Topic::kSyncHead, With(HeadPayload(), "expires_at", "2026-11-23T10:00:00Z"));
}

TEST(CloudMessage, RejectsADeltaWhosePrevIsNotVersionMinusOne) {
  Rejected r = RejectionOf(Topic::kSyncDelta, With(DeltaPayload(), "prev", 41));
  EXPECT_EQ(r.reason, RejectReason::kBadField);
  EXPECT_EQ(r.message, "delta 43: prev must be version - 1 = 42, got 41");
  Rejected same = RejectionOf(Topic::kSyncDelta, With(DeltaPayload(), "prev", 43));
  EXPECT_EQ(same.message, "delta 43: prev must be version - 1 = 42, got 43");
}

TEST(CloudMessage, RejectsADeltaToVersionZero) {
  Rejected r = RejectionOf(Topic::kSyncDelta, With(With(DeltaPayload(), "version", 0), "prev", 0));
  EXPECT_EQ(r.reason, RejectReason::kBadField);
  EXPECT_EQ(r.message, "delta 0: version must be at least 1 in a delta (prev is version - 1)");
}

TEST(CloudMessage, AcceptsADeltaWithoutOps) {
  EXPECT_TRUE(Ok<Delta>(Topic::kSyncDelta, With(DeltaPayload(), "ops", json::array())).ops.empty());
}

TEST(CloudMessage, RejectsSnapshotPagesOutOfRange) {
  const struct {
    int page;
    int pages;
    const char* message;
  } cases[] = {
      {0, 3, "snapshot 0 page 0: page must be between 1 and pages = 3, got 0"},
      {4, 3, "snapshot 0 page 4: page must be between 1 and pages = 3, got 4"},
      {1, 0, "snapshot 0 page 1: pages must be at least 1"},
      {0, 0, "snapshot 0 page 0: pages must be at least 1"},
  };
  for (const auto& c : cases) {
    Rejected r = RejectionOf(Topic::kSyncSnapshot,
                             With(With(SnapshotPayload(), "page", c.page), "pages", c.pages));
    EXPECT_EQ(r.reason, RejectReason::kBadField);
    EXPECT_EQ(r.message, c.message);
  }
  Ok<SnapshotPage>(Topic::kSyncSnapshot, With(With(SnapshotPayload(), "page", 3), "pages", 3));
  Ok<SnapshotPage>(Topic::kSyncSnapshot, With(With(SnapshotPayload(), "page", 1), "pages", 1));
}

TEST(CloudMessage, RejectsBadSnapshotIds) {
  for (const json& id : {json(""), json("s 1"), json(std::string(129, 's')), json(7)}) {
    Rejected r = RejectionOf(Topic::kSyncSnapshot, With(SnapshotPayload(), "snapshot_id", id));
    EXPECT_EQ(r.reason, RejectReason::kBadField) << id;
    EXPECT_NE(r.message.find("snapshot_id must be a string of 1 to 128 printable ASCII characters "
                             "without spaces, got "),
              std::string::npos)
        << r.message;
  }
  Ok<SnapshotPage>(Topic::kSyncSnapshot,
                   With(SnapshotPayload(), "snapshot_id", std::string(128, 's')));
}

// ---- ops and records --------------------------------------------------------------------------

TEST(CloudMessage, RejectsADeltaWithABadOpInTheCodecsWords) {
  json payload = DeltaPayload();
  payload["ops"].push_back({{"op", "put"},
                            {"kind", "credential"},
                            {"data",
                             {{"id", "c-17"},
                              {"person", "p-1"},
                              {"type", "pin"},
                              {"status", "active"},
                              {"pin", 4711}}}});
  payload["ops"].push_back({{"op", "rename"}, {"kind", "person"}, {"id", "p-1"}});
  Rejected r = RejectionOf(Topic::kSyncDelta, payload);
  EXPECT_EQ(r.reason, RejectReason::kBadRecords);
  Result<rules::Op> first = codec::ParseOp(payload["ops"][2], "ops[2]");
  Result<rules::Op> second = codec::ParseOp(payload["ops"][3], "ops[3]");
  ASSERT_FALSE(first.ok());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(r.message,
            "delta 43: " + first.status().message() + "\ndelta 43: " + second.status().message());
  EXPECT_EQ(first.status().message().rfind("credential c-17: pin ", 0), 0u)
      << first.status().message();
}

TEST(CloudMessage, StopsReportingBadOpsAfterTheCodecsLimit) {
  json payload = DeltaPayload();
  payload["ops"] = json::array();
  for (int i = 0; i < 30; ++i) payload["ops"].push_back({{"op", "nope"}});
  Rejected r = RejectionOf(Topic::kSyncDelta, payload);
  EXPECT_EQ(r.reason, RejectReason::kBadRecords);
  EXPECT_EQ(static_cast<size_t>(std::count(r.message.begin(), r.message.end(), '\n')),
            codec::kMaxRecordErrors);
  EXPECT_NE(r.message.find("delta 43: (stopped after 20 errors)"), std::string::npos) << r.message;
}

TEST(CloudMessage, RejectsOpsThatAreNotAnArray) {
  Rejected r = RejectionOf(Topic::kSyncDelta, With(DeltaPayload(), "ops", json::object()));
  EXPECT_EQ(r.reason, RejectReason::kBadField);
  EXPECT_EQ(r.message, "delta 43: ops must be an array, got {}");
}

TEST(CloudMessage, RejectsASnapshotPageWithBadRecordsLineByLine) {
  json payload = SnapshotPayload();
  payload["records"] = json::parse(R"({
    "people": [{"id":"p-1","name":"A","role":"landlord"}],
    "credentials": [{"id":"c-1","person":"p-1","type":"pin","status":"active","pin":12}]
  })");
  Rejected r = RejectionOf(Topic::kSyncSnapshot, payload);
  EXPECT_EQ(r.reason, RejectReason::kBadRecords);
  Result<rules::Records> direct = codec::ParseRecords(payload["records"]);
  ASSERT_FALSE(direct.ok());
  std::string expected;
  std::istringstream lines(direct.status().message());
  for (std::string line; std::getline(lines, line);) {
    if (!expected.empty()) expected += '\n';
    expected += "snapshot 0 page 2: " + line;
  }
  EXPECT_EQ(r.message, expected);
  EXPECT_NE(r.message.find("snapshot 0 page 2: person p-1: role \"landlord\""), std::string::npos)
      << r.message;
  Rejected not_object = RejectionOf(Topic::kSyncSnapshot, With(SnapshotPayload(), "records", 1));
  EXPECT_EQ(not_object.reason, RejectReason::kBadRecords);
}

// ---- commands -----------------------------------------------------------------------------------

Rejected CommandRejection(const char* name, json args) {
  return RejectionOf(Topic::kCmdRequest, CommandPayload(name, std::move(args)));
}

TEST(CloudMessage, RejectsAnUnknownCommand) {
  Rejected r = CommandRejection("reboot", json::object());
  EXPECT_EQ(r.reason, RejectReason::kBadField);
  EXPECT_EQ(r.message,
            "command cmd-1: name \"reboot\" is not one of "
            "unlock|set_door_mode|resync|resend_events|ping");
  EXPECT_EQ(RejectionOf(Topic::kCmdRequest, With(CommandPayload("ping", json::object()), "name", 1))
                .message,
            "command cmd-1: name 1 is not one of unlock|set_door_mode|resync|resend_events|ping");
}

TEST(CloudMessage, RejectsBadCommandIds) {
  for (const json& id : {json(""), json("cmd 1"), json(std::string(129, 'c')), json(17)}) {
    Rejected r =
        RejectionOf(Topic::kCmdRequest, With(CommandPayload("ping", json::object()), "id", id));
    EXPECT_EQ(r.reason, RejectReason::kBadField) << id;
    EXPECT_NE(r.message.find(": id must be a string of 1 to 128 printable ASCII characters "),
              std::string::npos)
        << r.message;
  }
}

TEST(CloudMessage, RejectsArgsThatAreNotAnObject) {
  Rejected r = CommandRejection("ping", json::array());
  EXPECT_EQ(r.reason, RejectReason::kBadField);
  EXPECT_EQ(r.message, "command cmd-1: args must be an object, got []");
}

TEST(CloudMessage, RejectsBadUnlockArgs) {
  EXPECT_EQ(CommandRejection("unlock", json::object()).message,
            "command cmd-1: missing \"args.door\"");
  EXPECT_EQ(CommandRejection("unlock", {{"door", ""}}).message,
            "command cmd-1: args.door must be a string of 1 to 128 printable ASCII characters "
            "without spaces, got \"\"");
  for (const json& s : {json(0), json(601), json(-5), json(1.5), json("5")}) {
    Rejected r = CommandRejection("unlock", {{"door", "front"}, {"seconds", s}});
    EXPECT_EQ(r.reason, RejectReason::kBadField);
    EXPECT_EQ(r.message,
              "command cmd-1: args.seconds must be an integer from 1 to 600, got " + s.dump());
  }
  EXPECT_EQ(CommandRejection("unlock", {{"door", "front"}, {"duration", 5}}).message,
            "command cmd-1: unknown field \"args.duration\" (expected one of door|seconds)");
  Command c = Ok<Command>(Topic::kCmdRequest,
                          CommandPayload("unlock", {{"door", "front"}, {"seconds", 600}}));
  EXPECT_EQ(std::get<UnlockArgs>(c.parsed).seconds, 600u);
}

TEST(CloudMessage, RejectsBadSetDoorModeArgs) {
  EXPECT_EQ(CommandRejection("set_door_mode", {{"door", "front"}}).message,
            "command cmd-1: missing \"args.mode\"");
  EXPECT_EQ(CommandRejection("set_door_mode", {{"door", "front"}, {"mode", "open"}}).message,
            "command cmd-1: args.mode \"open\" is not one of normal|locked_down|unlocked");
  EXPECT_EQ(
      CommandRejection("set_door_mode", {{"door", "front"}, {"mode", "normal"}, {"until", "soon"}})
          .message,
      "command cmd-1: args.until must be an RFC 3339 timestamp like 2026-11-23T10:00:00Z, got "
      "\"soon\"");
  EXPECT_EQ(CommandRejection("set_door_mode", {{"mode", "normal"}}).message,
            "command cmd-1: missing \"args.door\"");
}

TEST(CloudMessage, RejectsArgsForCommandsThatTakeNone) {
  EXPECT_EQ(CommandRejection("ping", {{"x", 1}}).message,
            "command cmd-1: unknown field \"args.x\" (expected no fields)");
  EXPECT_EQ(CommandRejection("resync", {{"full", true}}).message,
            "command cmd-1: unknown field \"args.full\" (expected no fields)");
}

TEST(CloudMessage, RejectsBadResendEventsArgs) {
  EXPECT_EQ(CommandRejection("resend_events", json::object()).message,
            "command cmd-1: missing \"args.from\"");
  EXPECT_EQ(CommandRejection("resend_events", {{"from", -1}}).message,
            "command cmd-1: args.from must be an unsigned 64-bit integer, got -1");
}

// ---- the rest -----------------------------------------------------------------------------------

TEST(CloudMessage, LeavesTheRejectionAloneOnSuccess) {
  Rejection rejection{RejectReason::kWrongSite, JwsError::kTooLarge};
  Result<Message> m =
      ParseCloudMessage(Topic::kSyncHead, Sign(HeadPayload()), MapleCourt(), &rejection);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(rejection.reason, RejectReason::kWrongSite);
  EXPECT_EQ(rejection.jws, JwsError::kTooLarge);
}

TEST(CloudMessage, ClearsTheJwsErrorForRejectionsAfterTheSignature) {
  Rejection rejection{RejectReason::kSignature, JwsError::kBadSignature};
  Result<Message> m = ParseCloudMessage(Topic::kSyncHead, Sign(With(HeadPayload(), "site", "x")),
                                        MapleCourt(), &rejection);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(rejection.reason, RejectReason::kWrongSite);
  EXPECT_FALSE(rejection.jws.has_value());
}

TEST(CloudMessage, NamesReasonsAndTopicsStably) {
  EXPECT_EQ(RejectReasonName(RejectReason::kSignature), "signature");
  EXPECT_EQ(RejectReasonName(RejectReason::kNotJson), "not_json");
  EXPECT_EQ(RejectReasonName(RejectReason::kWrongType), "wrong_type");
  EXPECT_EQ(RejectReasonName(RejectReason::kWrongSite), "wrong_site");
  EXPECT_EQ(RejectReasonName(RejectReason::kWrongGateway), "wrong_gateway");
  EXPECT_EQ(RejectReasonName(RejectReason::kBadField), "bad_field");
  EXPECT_EQ(RejectReasonName(RejectReason::kBadRecords), "bad_records");
  EXPECT_EQ(RejectReasonName(RejectReason::kInternal), "internal");
  EXPECT_EQ(TopicSuffix(Topic::kSyncHead), "sync/head");
  EXPECT_EQ(TopicSuffix(Topic::kSyncDelta), "sync/delta");
  EXPECT_EQ(TopicSuffix(Topic::kSyncSnapshot), "sync/snapshot");
  EXPECT_EQ(TopicSuffix(Topic::kEventsAck), "events/ack");
  EXPECT_EQ(TopicSuffix(Topic::kCmdRequest), "cmd/request");
  EXPECT_EQ(MessageType(Topic::kSyncHead), "head");
  EXPECT_EQ(MessageType(Topic::kSyncDelta), "delta");
  EXPECT_EQ(MessageType(Topic::kSyncSnapshot), "snapshot");
  EXPECT_EQ(MessageType(Topic::kEventsAck), "events_ack");
  EXPECT_EQ(MessageType(Topic::kCmdRequest), "command");
}

TEST(CloudMessage, RejectsAnOutOfRangeTopicAsInternal) {
  Rejection rejection;
  Result<Message> m =
      ParseCloudMessage(static_cast<Topic>(9), Sign(HeadPayload()), MapleCourt(), &rejection);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInternal);
  EXPECT_EQ(rejection.reason, RejectReason::kInternal);
}

}  // namespace
}  // namespace lintel::cloud
