// The cloud -> gateway messages of the contract (shared/contract/cloud-mqtt.md, "Topics" and
// "Commands") as typed values, parsed from a signed MQTT payload.
//
// ParseCloudMessage is the one door through which cloud bytes become values the sync layer acts on:
// it verifies the JWS (jws.h), then reads the payload strictly. It does not apply anything and
// knows neither the applied position nor the time: replay, gaps, `expires_at` against the clock and
// command deduplication are the sync layer's checks.
//
// Pure functions, no I/O, no logging, no globals (beyond libsodium's one-time initialisation):
// thread-safe. Nothing throws. Messages never hold key bytes, and errors name keys by kid only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "gateway/cloud/jws.h"
#include "rules/model.h"
#include "rules/ops.h"

namespace lintel::cloud {

// The five topics the gateway subscribes to (relative to the root lintel/v1/{site}/{gateway}).
// Each carries one message type; the order matches the alternatives of Message.
enum class Topic : uint8_t { kSyncHead, kSyncDelta, kSyncSnapshot, kEventsAck, kCmdRequest };
inline constexpr std::array<Topic, 5> kInboundTopics = {Topic::kSyncHead, Topic::kSyncDelta,
                                                        Topic::kSyncSnapshot, Topic::kEventsAck,
                                                        Topic::kCmdRequest};

// "sync/head", "sync/delta", "sync/snapshot", "events/ack", "cmd/request".
std::string_view TopicSuffix(Topic topic);
// The payload `type` the topic carries: "head", "delta", "snapshot", "events_ack", "command".
std::string_view MessageType(Topic topic);

// sync/head: where the cloud is. Re-signed periodically; `expires_at` >= `issued_at`.
struct Head {
  uint64_t epoch = 0;
  uint64_t version = 0;
  Instant issued_at;
  Instant expires_at;
};

// sync/delta: the ops that take the state from (epoch, prev) to (epoch, version).
// version >= 1 and prev == version - 1. `ops` may be empty.
struct Delta {
  uint64_t epoch = 0;
  uint64_t version = 0;
  uint64_t prev = 0;
  Instant issued_at;
  std::vector<rules::Op> ops;  // in the message's order; structure checked by codec::ParseOp
};

// sync/snapshot: one page of the whole state at (epoch, version). 1 <= page <= pages.
struct SnapshotPage {
  uint64_t epoch = 0;
  uint64_t version = 0;
  std::string snapshot_id;  // 1-128 printable ASCII characters, no spaces
  uint64_t page = 0;
  uint64_t pages = 0;
  rules::Records records;  // this page's records; structure checked by codec::ParseRecords
  // Not from the message: a flow-control credit the gateway attaches while the page is in memory
  // (issue 13, point 5); released with the page.
  std::shared_ptr<const void> hold;
};

// events/ack: the cloud holds every event with seq <= upto.
struct EventsAck {
  uint64_t upto = 0;
};

// cmd/request. The order matches the alternatives of CommandArgs.
enum class CommandName : uint8_t { kUnlock, kSetDoorMode, kResync, kResendEvents, kPing };
// "unlock", "set_door_mode", "resync", "resend_events", "ping".
std::string_view CommandNameText(CommandName name);

// Longest momentary unlock a command may ask for: a door's own unlock_ms is at most 600000.
inline constexpr uint32_t kMaxUnlockSeconds = 600;

struct UnlockArgs {                 // {"door", "seconds"?}
  std::string door;                 // non-empty; whether the door exists is the executor's check
  std::optional<uint32_t> seconds;  // 1..kMaxUnlockSeconds; absent: the door's unlock_ms
};
struct SetDoorModeArgs {  // {"door", "mode", "until"?}
  std::string door;
  rules::DoorModeKind mode = rules::DoorModeKind::kNormal;
  std::optional<Instant> until;  // absent (or null): until changed
};
struct ResyncArgs {};      // {}
struct ResendEventsArgs {  // {"from": seq}
  uint64_t from = 0;
};
struct PingArgs {};  // {}
using CommandArgs =
    std::variant<UnlockArgs, SetDoorModeArgs, ResyncArgs, ResendEventsArgs, PingArgs>;

struct Command {
  std::string id;  // 1-128 printable ASCII characters, no spaces; echoed in cmd/response
  CommandName name = CommandName::kPing;
  nlohmann::json args;  // the `args` object as received (validated), for logs and responses
  CommandArgs parsed;   // the same, typed: the alternative matching `name`
  Instant issued_at;
  Instant
      expires_at;  // may be before issued_at: such a command has expired (the executor refuses it)
};

// One verified, well-formed message. The alternative's index is the index of its Topic.
using Message = std::variant<Head, Delta, SnapshotPage, EventsAck, Command>;

// Who this gateway is: a message must name exactly this site and gateway and be signed by one of
// these keys (config::Config's site_id, gateway_id and trusted_keys).
struct Expect {
  std::string site;
  std::string gateway;
  std::vector<config::TrustedKey> keys;
};

// Why ParseCloudMessage rejected a message, for counters (the Status message has the details).
enum class RejectReason : uint8_t {
  kSignature,     // the JWS did not verify (Rejection::jws says how)
  kNotJson,       // the verified payload is not a JSON object (syntax, UTF-8, duplicate field)
  kWrongType,     // `type` missing, or not the one of the topic
  kWrongSite,     // `site` missing, or not ours
  kWrongGateway,  // `gateway` missing, or not ours
  kBadField,      // a field missing, mistyped, out of range or unknown; prev/page rules; args
  kBadRecords,    // the delta's ops or the snapshot's records break the codec's rules
  kInternal,      // a bug or an allocation failure caught at the boundary
};
// "signature", "not_json", "wrong_type", "wrong_site", "wrong_gateway", "bad_field",
// "bad_records", "internal".
std::string_view RejectReasonName(RejectReason reason);

struct Rejection {
  RejectReason reason = RejectReason::kInternal;
  std::optional<JwsError> jws;  // set when reason == kSignature
};

// Verifies `compact_jws` with `expect.keys` (VerifyJws), then parses its payload as the message
// type `topic` carries. Checks, in order, stopping at the first failure:
//   - the signature (every JwsError)
//   - the payload is a JSON object (codec::ParseJsonText: strict, no duplicate fields)
//   - `type` is the topic's type (MessageType)
//   - `site` == expect.site, then `gateway` == expect.gateway (no replay across buildings)
//   - no field beyond the contract's for that type (the contract is v1: a new field is a new
//     version, not something to ignore)
//   - each field: u64 fields are JSON non-negative integers (not negative, not 12.0, not "12",
//     not above 2^64-1); timestamps are RFC 3339 date-times (a bare date is not); ids are strings
//   - rules across fields: delta version >= 1 and prev == version - 1; 1 <= page <= pages;
//     a head's expires_at >= issued_at (a command's is the executor's check: it answers)
//   - delta `ops` with codec::ParseOp, snapshot `records` with codec::ParseRecords
//   - command `name` one of the five and `args` exactly as CommandArgs documents (unknown args
//     fields are rejected)
//
// Errors: InvalidArgument (Internal for RejectReason::kInternal), one line suitable for a log and
// for sync/ack's `error`, prefixed by a label for the message: "head 43", "delta 43",
// "snapshot 43 page 2", "events_ack 1200", "command cmd-7f3a" (the version, page, upto or id as
// far as the payload gives them), or just the type ("delta") otherwise. Fields are named as the
// codec names them. Examples:
//   "delta: signature does not verify with key cloud-2026"
//   "delta: JWS alg \"none\" is not accepted, only \"EdDSA\""
//   "head: payload:1:16: syntax error while parsing object key - ..."
//   "events_ack: payload: duplicate field \"site\" in the top-level object"
//   "delta 43: type is \"head\", but sync/delta carries \"delta\""
//   "delta 43: message for site other-site, this is maple-court"
//   "head 43: message for gateway gw-2, this is gw-1"
//   "head 43: unknown field \"note\" (expected one of type|site|gateway|...)"
//   "head 43: missing \"expires_at\""
//   "head 43: epoch must be an unsigned 64-bit integer, got -1"
//   "delta 43: issued_at must be an RFC 3339 timestamp like 2026-11-23T10:00:00Z, got \"x\""
//   "head 43: expires_at 2026-11-23T09:00:00Z is before issued_at 2026-11-23T10:00:00Z"
//   "delta 43: prev must be version - 1 = 42, got 41"
//   "snapshot 7 page 4: page must be between 1 and pages = 3, got 4"
//   "command c-1: name \"reboot\" is not one of unlock|set_door_mode|resync|resend_events|ping"
//   "command c-1: args.seconds must be an integer from 1 to 600, got 0"
//   "command c-1: unknown field \"args.x\" (expected no fields)"
// Errors from the ops or the records keep the codec's wording, one line per bad op or record (at
// most codec::kMaxRecordErrors, then "(stopped after 20 errors)"), each line prefixed by the label:
//   "delta 43: credential c-17: card.number must be a non-negative integer"
// Values from the message are JSON-quoted and cut after 64 bytes (ids: bare when plain), so every
// line of an error starts with the label and holds no byte below 0x20.
// When the signature does not verify, the label is the topic's type only ("delta: signature does
// not verify with key cloud-2026"): nothing of an unverified payload is decoded or parsed.
// When `rejection` is not null it receives the reason on failure (left alone on success).
//
// Speed (issue 13, points 5 and 7): a delta or snapshot payload is first read by a fast path
// (simdjson's DOM and codec/records_fast.h) that accepts only what it fully understands and gives
// exactly the values the checks above give; on anything else (any backslash in the payload, an
// unknown or repeated field, a type or value the checks would refuse, trailing bytes) it gives up
// and the checks above run as they are, so every rejection and its message is theirs.
Result<Message> ParseCloudMessage(Topic topic, std::string_view compact_jws, const Expect& expect,
                                  Rejection* rejection = nullptr);

namespace internal {

// The two halves of ParseCloudMessage after the signature verified, for tests and benchmarks.
// `payload` is the verified JWS payload.
//
// FastParsePayload: the fast path alone. Only kSyncDelta and kSyncSnapshot; nullopt means "gave
// up" (never "invalid"): ParseCloudMessage then runs ParsePayload. Whatever it returns equals what
// ParsePayload returns for the same payload. Keeps one simdjson parser per calling thread (its
// buffers are dropped after a payload above 4 MiB).
std::optional<Message> FastParsePayload(Topic topic, const std::string& payload,
                                        const Expect& expect);

// ParsePayload: the current parser (nlohmann-json and codec::ParseRecords / ParseOp), every check
// and error of ParseCloudMessage after the signature. Does not catch exceptions.
Result<Message> ParsePayload(Topic topic, std::string_view payload, const Expect& expect,
                             Rejection* rejection = nullptr);

}  // namespace internal

}  // namespace lintel::cloud
