#include "drivers/intercom/twon_api.h"

#include <exception>
#include <new>

#include "drivers/intercom/json_util.h"

namespace lintel::intercom {

using internal::IntegerMember;
using internal::Member;
using internal::Printable;
using internal::ScalarText;
using internal::StringMember;
using internal::UnsignedMember;
using nlohmann::json;

namespace {

constexpr size_t kMaxShortText = 32;
constexpr size_t kMaxKeyText = 8;
constexpr size_t kMaxInfoText = 64;

Status Malformed(std::string_view what, const std::string& reason) {
  return Status::InvalidArgument("2N " + std::string(what) + " reply: " + reason);
}

// The reply's `result` object when "success" is true. The JSON value is owned by the caller.
Result<const json*> OpenEnvelope(const json& j, std::string_view what, TwoNError* error) {
  if (!j.is_object()) return Malformed(what, "not a JSON object");
  const json* success = Member(j, "success");
  if (success == nullptr || !success->is_boolean()) {
    return Malformed(what, "no boolean \"success\"");
  }
  if (!success->get<bool>()) {
    const json* e = Member(j, "error");
    if (e == nullptr || !e->is_object()) return Malformed(what, "failure without an error object");
    TwoNError err;
    std::optional<int64_t> code = IntegerMember(*e, "code");
    if (!code) return Malformed(what, "error without an integer code");
    err.code = *code;
    if (const json* p = Member(*e, "param")) err.param = ScalarText(*p, 64).value_or("");
    if (auto d = StringMember(*e, "description")) err.description = Printable(*d, 120);
    std::string msg = "2N error " + std::to_string(err.code);
    if (!err.param.empty()) msg += " (" + err.param + ")";
    if (!err.description.empty()) msg += ": " + err.description;
    if (error != nullptr) *error = std::move(err);
    return Status::FailedPrecondition(msg);
  }
  const json* result = Member(j, "result");
  return result;  // may be null: some calls have no result
}

// Runs `fn` with the parsed JSON, converting anything thrown (a bug, bad_alloc) into a Status.
template <typename T, typename Fn>
Result<T> Guarded(std::string_view body, std::string_view what, Fn fn) {
  try {
    Result<json> j = internal::ParseBounded(body, "2N " + std::string(what) + " reply",
                                            kMaxReplyBytes, kMaxJsonDepth);
    if (!j.ok()) return j.status();
    return fn(*j);
  } catch (const std::bad_alloc&) {
    return Status::Internal("2N " + std::string(what) + " reply: out of memory");
  } catch (const std::exception& e) {
    return Status::Internal("2N " + std::string(what) + " reply: " + Printable(e.what(), 120));
  } catch (...) {
    return Status::Internal("2N " + std::string(what) + " reply: unknown exception");
  }
}

// The text of param `name` (a string, boolean or integer), or nullopt.
std::optional<std::string> ParamText(const json* params, const char* name, size_t max) {
  if (params == nullptr) return std::nullopt;
  const json* m = Member(*params, name);
  if (m == nullptr) return std::nullopt;
  return ScalarText(*m, max);
}

std::optional<bool> ParamBool(const json* params, const char* name) {
  if (params == nullptr) return std::nullopt;
  const json* m = Member(*params, name);
  if (m == nullptr) return std::nullopt;
  if (m->is_boolean()) return m->get<bool>();
  if (std::optional<std::string> t = ScalarText(*m, kMaxShortText)) return ParseActive(*t);
  return std::nullopt;
}

// Fills the kind-specific fields of `e` from `params`; an error is the reason to reject it.
Status ReadParams(const json* params, PanelEvent& e) {
  const std::string& n = e.name;
  auto state_from = [&](const char* field) {
    e.state = ParamText(params, field, kMaxShortText).value_or("");
    e.active = ParamBool(params, field);
  };
  if (n == "CodeEntered") {
    e.kind = EventKind::kCode;
    const json* c = params != nullptr ? Member(*params, "code") : nullptr;
    if (c == nullptr) return Status::InvalidArgument("no code");
    if (!c->is_string()) return Status::InvalidArgument("code is not a string of digits");
    LINTEL_RETURN_IF_ERROR(CheckCode(c->get_ref<const std::string&>()));
    e.code = c->get_ref<const std::string&>();
    e.panel_valid = ParamBool(params, "valid");
  } else if (n == "CardEntered") {
    e.kind = EventKind::kCard;
    // `uid` on most firmware, `card` on some; `uid` wins when both are there.
    const json* c = params != nullptr ? Member(*params, "uid") : nullptr;
    if (c == nullptr && params != nullptr) c = Member(*params, "card");
    if (c == nullptr) return Status::InvalidArgument("no uid or card");
    if (!c->is_string()) return Status::InvalidArgument("card id is not a string");
    Result<std::string> uid = NormalizeCardUid(c->get_ref<const std::string&>());
    if (!uid.ok()) return uid.status();
    e.card_uid = *uid;
    e.panel_valid = ParamBool(params, "valid");
  } else if (n == "KeyPressed") {
    e.kind = EventKind::kKey;
    std::optional<std::string> key = ParamText(params, "key", kMaxKeyText);
    if (!key || key->empty()) return Status::InvalidArgument("no key");
    e.key = *key;
  } else if (n == "CallStateChanged") {
    e.kind = EventKind::kCall;
    std::optional<std::string> st = ParamText(params, "state", kMaxShortText);
    if (!st || st->empty()) return Status::InvalidArgument("no call state");
    e.call_state = *st;
    e.call_direction = ParamText(params, "direction", kMaxShortText).value_or("");
  } else if (n == "InputChanged") {
    e.kind = EventKind::kInput;
    std::optional<std::string> port = ParamText(params, "port", kMaxShortText);
    if (!port || port->empty()) return Status::InvalidArgument("no port");
    e.port = *port;
    state_from("state");
  } else if (n == "SwitchStateChanged") {
    e.kind = EventKind::kSwitchState;
    std::optional<std::string> sw = ParamText(params, "switch", kMaxShortText);
    if (!sw || sw->empty()) return Status::InvalidArgument("no switch");
    e.port = *sw;
    state_from("state");
  } else if (n == "DoorStateChanged") {
    e.kind = EventKind::kDoorState;
    state_from("state");
  } else if (n == "UnauthorizedDoorOpen") {
    e.kind = EventKind::kUnauthorizedOpen;
  } else if (n == "DoorOpenTooLong") {
    e.kind = EventKind::kOpenTooLong;
  } else if (n == "TamperSwitchActivated") {
    e.kind = EventKind::kTamper;
    state_from("state");
  } else if (n == "DeviceState") {
    e.state = ParamText(params, "state", kMaxShortText).value_or("");
    e.kind = e.state == "startup" ? EventKind::kDeviceStartup : EventKind::kOther;
  } else {
    e.kind = EventKind::kOther;
  }
  return Status::Ok();
}

}  // namespace

Status CheckTwoNEnvelope(std::string_view body, TwoNError* error) {
  Result<bool> r = Guarded<bool>(body, "API", [&](const json& j) -> Result<bool> {
    Result<const json*> result = OpenEnvelope(j, "API", error);
    if (!result.ok()) return result.status();
    return true;
  });
  return r.status();
}

Status ParseSwitchCtrlReply(std::string_view body, TwoNError* error) {
  Result<bool> r = Guarded<bool>(body, "switch", [&](const json& j) -> Result<bool> {
    Result<const json*> result = OpenEnvelope(j, "switch", error);
    if (!result.ok()) return result.status();
    return true;
  });
  return r.status();
}

Result<SystemInfo> ParseSystemInfoReply(std::string_view body, TwoNError* error) {
  return Guarded<SystemInfo>(body, "system info", [&](const json& j) -> Result<SystemInfo> {
    Result<const json*> result = OpenEnvelope(j, "system info", error);
    if (!result.ok()) return result.status();
    if (*result == nullptr || !(*result)->is_object()) {
      return Malformed("system info", "no result object");
    }
    const json& r = **result;
    auto text = [&](const char* name) {
      std::optional<std::string> s = StringMember(r, name);
      return s ? Printable(*s, kMaxInfoText) : std::string();
    };
    SystemInfo info;
    info.variant = text("variant");
    info.serial_number = text("serialNumber");
    info.hw_version = text("hwVersion");
    info.sw_version = text("swVersion");
    info.device_name = text("deviceName");
    return info;
  });
}

Result<uint64_t> ParseSubscribeReply(std::string_view body, TwoNError* error) {
  return Guarded<uint64_t>(body, "subscribe", [&](const json& j) -> Result<uint64_t> {
    Result<const json*> result = OpenEnvelope(j, "subscribe", error);
    if (!result.ok()) return result.status();
    if (*result == nullptr || !(*result)->is_object()) {
      return Malformed("subscribe", "no result object");
    }
    std::optional<uint64_t> id = UnsignedMember(**result, "id");
    if (!id) return Malformed("subscribe", "no non-negative integer \"id\"");
    return *id;
  });
}

Result<PullReply> ParsePullReply(std::string_view body, TwoNError* error) {
  return Guarded<PullReply>(body, "pull", [&](const json& j) -> Result<PullReply> {
    Result<const json*> result = OpenEnvelope(j, "pull", error);
    if (!result.ok()) return result.status();
    if (*result == nullptr || !(*result)->is_object()) return Malformed("pull", "no result object");
    const json* events = Member(**result, "events");
    if (events == nullptr || !events->is_array()) return Malformed("pull", "no \"events\" array");
    if (events->size() > kMaxPullEvents) {
      return Malformed("pull", std::to_string(events->size()) + " events, over the limit of " +
                                   std::to_string(kMaxPullEvents));
    }
    PullReply reply;
    reply.events.reserve(events->size());
    for (const json& ev : *events) {
      RejectedEvent rej;
      if (!ev.is_object()) {
        rej.reason = "event is not an object";
        reply.rejected.push_back(std::move(rej));
        continue;
      }
      rej.id = UnsignedMember(ev, "id");
      std::optional<std::string> name = StringMember(ev, "event");
      if (name) rej.name = Printable(*name, kMaxNameLength);
      if (!rej.id) {
        rej.reason = "event has no non-negative integer id";
        reply.rejected.push_back(std::move(rej));
        continue;
      }
      if (!name || name->empty()) {
        rej.reason = "event has no name";
        reply.rejected.push_back(std::move(rej));
        continue;
      }
      PanelEvent e;
      e.id = *rej.id;
      e.name = rej.name;
      if (const json* t = Member(ev, "utcTime"); t != nullptr && !t->is_null()) {
        e.utc_time = IntegerMember(ev, "utcTime");
        if (!e.utc_time) {
          rej.reason = "utcTime is not an integer";
          reply.rejected.push_back(std::move(rej));
          continue;
        }
      }
      if (const json* t = Member(ev, "upTime"); t != nullptr && !t->is_null()) {
        e.up_time = IntegerMember(ev, "upTime");
        if (!e.up_time) {
          rej.reason = "upTime is not an integer";
          reply.rejected.push_back(std::move(rej));
          continue;
        }
      }
      const json* params = Member(ev, "params");
      if (params != nullptr && params->is_null()) params = nullptr;
      if (params != nullptr && !params->is_object()) {
        rej.reason = "params is not an object";
        reply.rejected.push_back(std::move(rej));
        continue;
      }
      if (Status st = ReadParams(params, e); !st.ok()) {
        rej.reason = rej.name + ": " + st.message();
        reply.rejected.push_back(std::move(rej));
        continue;
      }
      if (e.kind == EventKind::kOther) ++reply.unknown;
      reply.events.push_back(std::move(e));
    }
    return reply;
  });
}

std::string TwoNSystemInfoTarget() { return "/api/system/info"; }

std::string TwoNSubscribeTarget(std::chrono::seconds duration) {
  return "/api/log/subscribe?include=new&duration=" +
         std::to_string(std::max<int64_t>(1, duration.count()));
}

std::string TwoNPullTarget(uint64_t channel_id, std::chrono::seconds timeout) {
  return "/api/log/pull?id=" + std::to_string(channel_id) +
         "&timeout=" + std::to_string(std::max<int64_t>(0, timeout.count()));
}

std::string TwoNUnsubscribeTarget(uint64_t channel_id) {
  return "/api/log/unsubscribe?id=" + std::to_string(channel_id);
}

std::string TwoNSwitchTriggerTarget(int switch_number, std::optional<std::chrono::seconds> hold) {
  std::string t = "/api/switch/ctrl?switch=" + std::to_string(switch_number) + "&action=trigger";
  if (hold) t += "&timeout=" + std::to_string(std::max<int64_t>(0, hold->count()));
  return t;
}

}  // namespace lintel::intercom
