// The gateway's side of the MQTT contract (shared/contract/cloud-mqtt.md, "Topics"): topic names
// under lintel/v1/{site}/{gateway}, and the JSON payloads the gateway publishes (not signed).
//
// Pure functions that build text; no I/O, no globals, thread-safe, nothing throws. Fields are
// written in the contract's order, compact (no spaces). Strings are written as JSON strings; bytes
// that are not UTF-8 are replaced by U+FFFD rather than failing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "gateway/cloud/messages.h"

namespace lintel::cloud {

// ---- topics -------------------------------------------------------------------------------------

// Every topic of one gateway, full names. Build with Topics::Make.
struct Topics {
  std::string root;           // lintel/v1/{site}/{gateway}
  std::string state;          // gw -> cloud, retained; also the Last Will
  std::string sync_head;      // cloud -> gw, retained
  std::string sync_delta;     // cloud -> gw
  std::string sync_snapshot;  // cloud -> gw
  std::string sync_request;   // gw -> cloud
  std::string sync_ack;       // gw -> cloud
  std::string events;         // gw -> cloud
  std::string events_ack;     // cloud -> gw
  std::string cmd_request;    // cloud -> gw
  std::string cmd_response;   // gw -> cloud

  // The topics of `site` and `gateway` (config::Config's site_id and gateway_id).
  // Errors: InvalidArgument when either is empty or holds '/', '+', '#' or a NUL byte (an MQTT
  // level separator, a wildcard, or not allowed in a topic), which a loaded config never has.
  static Result<Topics> Make(std::string_view site, std::string_view gateway);

  // The full name of an inbound topic.
  const std::string& Inbound(Topic topic) const;
  // The five topics to subscribe to, in kInboundTopics order: exactly these, not `sync/#`, which
  // would echo the gateway's own sync/request and sync/ack back to it.
  std::array<std::string, 5> Subscriptions() const;
  // Which inbound topic a received message came on; nullopt for any other name (exact match).
  std::optional<Topic> Match(std::string_view topic) const;
};

// ---- payloads -----------------------------------------------------------------------------------

// The gateway's state as published on `state` (QoS 1, retained) on every connect.
struct GatewayState {
  bool online = true;
  std::string boot_id;   // this process run (a UUID); tells the cloud the gateway restarted
  uint32_t session = 0;  // the MQTT session count within this boot
  uint64_t epoch = 0;    // the applied position
  uint64_t version = 0;
  bool clock_synced = false;  // the wall clock is trusted (NTP synchronised)
  uint64_t outbox = 0;        // events not yet acknowledged by the cloud
  Instant ts;                 // when this state was taken
  // Only while the store cannot be written (a full or read-only disk): journal events held in
  // memory, not yet in the outbox; and events dropped since start because that queue was full.
  uint64_t unwritten = 0;
  uint64_t lost = 0;
};

// {"online":bool,"boot_id":str,"session":u32,"epoch":u64,"version":u64,"clock_synced":bool,
//  "outbox":u64,"ts":"2026-11-23T10:00:00Z"}, then "unwritten":u64 and "lost":u64 only when
// non-zero (a fault, absent in normal operation: the contract's payload plus two fields a cloud
// that does not know them ignores).
std::string StatePayload(const GatewayState& state);

// The Last Will on `state`, set at connect: {"online":false,"boot_id":str,"session":u32}.
std::string StateWillPayload(std::string_view boot_id, uint32_t session);

// sync/request for the deltas after the applied position:
// {"want":"deltas","from":{"epoch":u64,"version":u64}}
std::string SyncRequestDeltas(uint64_t from_epoch, uint64_t from_version);

// sync/request for a whole snapshot: {"want":"snapshot","reason":str}, `reason` for the cloud's
// logs ("new epoch", "gap at 3/43: deltas no longer held", "store restored").
std::string SyncRequestSnapshot(std::string_view reason);

enum class AckResult : uint8_t { kApplied, kRejected, kGap };
// "applied", "rejected", "gap".
std::string_view AckResultName(AckResult result);

// sync/ack: {"epoch":u64,"version":u64,"result":"applied"|"rejected"|"gap","error":str?}, `error`
// only when given (the rejection reason of ParseCloudMessage or of the validator).
std::string SyncAck(uint64_t epoch, uint64_t version, AckResult result,
                    std::optional<std::string_view> error = std::nullopt);

// At most this many events go into one `events` message.
inline constexpr size_t kMaxEventsPerBatch = 500;

// `events`: {"boot_id":str,"events":[event...]}. `events` must be a JSON array of at most
// kMaxEventsPerBatch event objects (the contract's "Events" shape, as the store's journal holds
// them with "seq" added), in strictly increasing `seq` order (the cloud's events/ack `upto`
// acknowledges a prefix). The events are written as given.
// Errors: InvalidArgument "events must be a JSON array", "an events batch holds at most 500
// events, got 501", "events[3] must be an object with an unsigned integer \"seq\"", "events[3]:
// seq 17 is not above the previous seq 17 (events go in increasing seq order)".
Result<std::string> EventsBatch(std::string_view boot_id, const nlohmann::json& events);

// cmd/response: {"id":str,"ok":bool,"result":{}?,"error":str?}; `result` and `error` only when
// given. `result` is written as given (the contract has an object there).
std::string CommandResponse(std::string_view id, bool ok,
                            const std::optional<nlohmann::json>& result = std::nullopt,
                            std::optional<std::string_view> error = std::nullopt);

}  // namespace lintel::cloud
