#include "gateway/cloud/outbound.h"

#include <utility>

namespace lintel::cloud {
namespace {

// Keeps the fields in the order they are set: the contract's order.
using ojson = nlohmann::ordered_json;

std::string Dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

Status CheckTopicLevel(std::string_view what, std::string_view id) {
  if (id.empty()) return Status::InvalidArgument(std::string(what) + " id must not be empty");
  for (char c : id) {
    if (c == '/' || c == '+' || c == '#' || c == '\0') {
      return Status::InvalidArgument(std::string(what) + " id \"" + std::string(id) +
                                     "\" must not hold '/', '+', '#' or NUL (MQTT topic syntax)");
    }
  }
  return Status::Ok();
}

std::optional<uint64_t> Seq(const nlohmann::json& event) {
  if (!event.is_object()) return std::nullopt;
  auto it = event.find("seq");
  if (it == event.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

}  // namespace

Result<Topics> Topics::Make(std::string_view site, std::string_view gateway) {
  LINTEL_RETURN_IF_ERROR(CheckTopicLevel("site", site));
  LINTEL_RETURN_IF_ERROR(CheckTopicLevel("gateway", gateway));
  Topics t;
  t.root = "lintel/v1/" + std::string(site) + "/" + std::string(gateway);
  auto under = [&](std::string_view suffix) { return t.root + "/" + std::string(suffix); };
  t.state = under("state");
  t.sync_head = under(TopicSuffix(Topic::kSyncHead));
  t.sync_delta = under(TopicSuffix(Topic::kSyncDelta));
  t.sync_snapshot = under(TopicSuffix(Topic::kSyncSnapshot));
  t.sync_request = under("sync/request");
  t.sync_ack = under("sync/ack");
  t.events = under("events");
  t.events_ack = under(TopicSuffix(Topic::kEventsAck));
  t.cmd_request = under(TopicSuffix(Topic::kCmdRequest));
  t.cmd_response = under("cmd/response");
  return t;
}

const std::string& Topics::Inbound(Topic topic) const {
  switch (topic) {
    case Topic::kSyncHead:
      return sync_head;
    case Topic::kSyncDelta:
      return sync_delta;
    case Topic::kSyncSnapshot:
      return sync_snapshot;
    case Topic::kEventsAck:
      return events_ack;
    case Topic::kCmdRequest:
      return cmd_request;
  }
  return sync_head;  // not reached: every Topic is handled above
}

std::array<std::string, 5> Topics::Subscriptions() const {
  std::array<std::string, 5> out;
  for (size_t i = 0; i < kInboundTopics.size(); ++i) out[i] = Inbound(kInboundTopics[i]);
  return out;
}

std::optional<Topic> Topics::Match(std::string_view topic) const {
  for (Topic t : kInboundTopics) {
    if (Inbound(t) == topic) return t;
  }
  return std::nullopt;
}

std::string StatePayload(const GatewayState& state) {
  ojson j;
  j["online"] = state.online;
  j["boot_id"] = state.boot_id;
  j["session"] = state.session;
  j["epoch"] = state.epoch;
  j["version"] = state.version;
  j["clock_synced"] = state.clock_synced;
  j["outbox"] = state.outbox;
  j["ts"] = FormatRfc3339(state.ts);
  if (state.unwritten > 0) j["unwritten"] = state.unwritten;
  if (state.lost > 0) j["lost"] = state.lost;
  return Dump(j);
}

std::string StateWillPayload(std::string_view boot_id, uint32_t session) {
  ojson j;
  j["online"] = false;
  j["boot_id"] = boot_id;
  j["session"] = session;
  return Dump(j);
}

std::string SyncRequestDeltas(uint64_t from_epoch, uint64_t from_version) {
  ojson from;
  from["epoch"] = from_epoch;
  from["version"] = from_version;
  ojson j;
  j["want"] = "deltas";
  j["from"] = std::move(from);
  return Dump(j);
}

std::string SyncRequestSnapshot(std::string_view reason) {
  ojson j;
  j["want"] = "snapshot";
  j["reason"] = reason;
  return Dump(j);
}

std::string_view AckResultName(AckResult result) {
  switch (result) {
    case AckResult::kApplied:
      return "applied";
    case AckResult::kRejected:
      return "rejected";
    case AckResult::kGap:
      return "gap";
  }
  return "rejected";
}

std::string SyncAck(uint64_t epoch, uint64_t version, AckResult result,
                    std::optional<std::string_view> error) {
  ojson j;
  j["epoch"] = epoch;
  j["version"] = version;
  j["result"] = AckResultName(result);
  if (error) j["error"] = *error;
  return Dump(j);
}

Result<std::string> EventsBatch(std::string_view boot_id, const nlohmann::json& events) {
  if (!events.is_array()) return Status::InvalidArgument("events must be a JSON array");
  if (events.size() > kMaxEventsPerBatch) {
    return Status::InvalidArgument("an events batch holds at most " +
                                   std::to_string(kMaxEventsPerBatch) + " events, got " +
                                   std::to_string(events.size()));
  }
  std::optional<uint64_t> previous;
  for (size_t i = 0; i < events.size(); ++i) {
    std::optional<uint64_t> seq = Seq(events[i]);
    const std::string where = "events[" + std::to_string(i) + "]";
    if (!seq) {
      return Status::InvalidArgument(where + " must be an object with an unsigned integer \"seq\"");
    }
    if (previous && *seq <= *previous) {
      return Status::InvalidArgument(where + ": seq " + std::to_string(*seq) +
                                     " is not above the previous seq " + std::to_string(*previous) +
                                     " (events go in increasing seq order)");
    }
    previous = seq;
  }
  // Dumped separately: `events` is a sorted-key json, and its objects are written as they are.
  return "{\"boot_id\":" + Dump(ojson(boot_id)) +
         ",\"events\":" + events.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "}";
}

std::string CommandResponse(std::string_view id, bool ok,
                            const std::optional<nlohmann::json>& result,
                            std::optional<std::string_view> error) {
  std::string out = "{\"id\":" + Dump(ojson(id)) + ",\"ok\":" + (ok ? "true" : "false");
  if (result) {
    out += ",\"result\":" + result->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (error) out += ",\"error\":" + Dump(ojson(*error));
  out += "}";
  return out;
}

}  // namespace lintel::cloud
