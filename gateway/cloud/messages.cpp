#include "gateway/cloud/messages.h"

#include <simdjson.h>

#include <exception>
#include <span>
#include <utility>

#include "gateway/base/base64.h"
#include "gateway/cloud/echo.h"
#include "gateway/codec/json_text.h"
#include "gateway/codec/records_fast.h"
#include "gateway/codec/records_json.h"

namespace lintel::cloud {
namespace {

using json = nlohmann::json;
using internal::Echo;
using internal::EchoString;
using internal::IdText;

constexpr size_t kMaxIdBytes = 128;

constexpr std::array<std::string_view, 5> kTopicSuffixes = {
    "sync/head", "sync/delta", "sync/snapshot", "events/ack", "cmd/request"};
constexpr std::array<std::string_view, 5> kMessageTypes = {"head", "delta", "snapshot",
                                                           "events_ack", "command"};
constexpr std::array<std::string_view, 5> kCommandNames = {"unlock", "set_door_mode", "resync",
                                                           "resend_events", "ping"};

// ---- message text ------------------------------------------------------------------------------

std::string JoinNames(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += '|';
    out += n;
  }
  return out;
}

// `message` with every line prefixed by "<label>: ".
std::string Prefixed(std::string_view label, std::string_view message) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t nl = message.find('\n', start);
    out.append(label).append(": ").append(message.substr(start, nl - start));
    if (nl == std::string_view::npos) break;
    out += '\n';
    start = nl + 1;
  }
  return out;
}

// A JSON non-negative integer ("-0" included), or nullopt.
std::optional<uint64_t> AsU64(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() == 0) return 0;
  return std::nullopt;
}

bool IsIdText(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdBytes) return false;
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// "delta 43", "snapshot 43 page 2", "command c-1", or the bare type while the number is unknown.
std::string Label(Topic topic, const json& payload) {
  std::string label(MessageType(topic));
  if (!payload.is_object()) return label;
  auto number = [&](std::string_view key) -> std::optional<uint64_t> {
    auto it = payload.find(key);
    return it == payload.end() ? std::nullopt : AsU64(*it);
  };
  switch (topic) {
    case Topic::kSyncHead:
    case Topic::kSyncDelta:
    case Topic::kSyncSnapshot:
      if (auto v = number("version")) label += " " + std::to_string(*v);
      if (topic == Topic::kSyncSnapshot) {
        if (auto p = number("page")) label += " page " + std::to_string(*p);
      }
      break;
    case Topic::kEventsAck:
      if (auto u = number("upto")) label += " " + std::to_string(*u);
      break;
    case Topic::kCmdRequest:
      if (auto it = payload.find("id"); it != payload.end() && it->is_string()) {
        label += " " + IdText(it->get_ref<const std::string&>());
      }
      break;
  }
  return label;
}

// ---- fields of one JSON object -----------------------------------------------------------------

// Reads the fields of a payload (prefix "") or of a command's args (prefix "args."). Errors name
// the field as the codec does: `epoch must be ...`, `missing "issued_at"`.
class Fields {
 public:
  explicit Fields(const json& obj, std::string prefix = {})
      : obj_(obj), prefix_(std::move(prefix)) {}

  std::string Name(std::string_view key) const { return prefix_ + std::string(key); }

  const json* Get(std::string_view key) const {
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &*it;
  }

  Status CheckKnown(std::span<const std::string_view> allowed) const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      bool known = false;
      for (std::string_view a : allowed) known = known || it.key() == a;
      if (!known) {
        return Status::InvalidArgument("unknown field " + EchoString(Name(it.key())) +
                                       (allowed.empty()
                                            ? std::string(" (expected no fields)")
                                            : " (expected one of " + JoinNames(allowed) + ")"));
      }
    }
    return Status::Ok();
  }

  Status Required(std::string_view key, const json** out) const {
    *out = Get(key);
    if (*out == nullptr) return Status::InvalidArgument("missing " + EchoString(Name(key)));
    return Status::Ok();
  }

  Status U64(std::string_view key, uint64_t* out) const {
    const json* v = nullptr;
    LINTEL_RETURN_IF_ERROR(Required(key, &v));
    std::optional<uint64_t> n = AsU64(*v);
    if (!n) return Bad(key, "must be an unsigned 64-bit integer, got " + Echo(*v));
    *out = *n;
    return Status::Ok();
  }

  // An id: 1-128 printable ASCII characters without spaces.
  Status Id(std::string_view key, std::string* out) const {
    const json* v = nullptr;
    LINTEL_RETURN_IF_ERROR(Required(key, &v));
    if (!v->is_string() || !IsIdText(v->get_ref<const std::string&>())) {
      return Bad(key,
                 "must be a string of 1 to 128 printable ASCII characters without spaces, got " +
                     Echo(*v));
    }
    *out = v->get_ref<const std::string&>();
    return Status::Ok();
  }

  Status Time(std::string_view key, Instant* out) const {
    const json* v = nullptr;
    LINTEL_RETURN_IF_ERROR(Required(key, &v));
    return ToInstant(key, *v, out);
  }

  // Absent or null: nullopt.
  Status OptionalTime(std::string_view key, std::optional<Instant>* out) const {
    const json* v = Get(key);
    if (v == nullptr || v->is_null()) {
      out->reset();
      return Status::Ok();
    }
    Instant t;
    LINTEL_RETURN_IF_ERROR(ToInstant(key, *v, &t));
    *out = t;
    return Status::Ok();
  }

  Status Bad(std::string_view key, std::string_view what) const {
    return Status::InvalidArgument(Name(key) + " " + std::string(what));
  }

 private:
  Status ToInstant(std::string_view key, const json& v, Instant* out) const {
    // ParseRfc3339 also takes a bare date; a timestamp field does not.
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      Result<Instant> t = ParseRfc3339(s);
      if (t.ok() && s.size() > 10) {
        *out = *t;
        return Status::Ok();
      }
    }
    return Bad(key, "must be an RFC 3339 timestamp like 2026-11-23T10:00:00Z, got " + Echo(v));
  }

  const json& obj_;
  std::string prefix_;
};

Status CheckExpiry(const Fields& f, Instant issued_at, Instant expires_at) {
  if (expires_at < issued_at) {
    return f.Bad("expires_at",
                 FormatRfc3339(expires_at) + " is before issued_at " + FormatRfc3339(issued_at));
  }
  return Status::Ok();
}

// ---- one parser per type -----------------------------------------------------------------------
// Each reports the reason of a failure in *reason (kBadField unless said otherwise).

constexpr std::string_view kHeadFields[] = {"type",    "site",      "gateway",   "epoch",
                                            "version", "issued_at", "expires_at"};
Result<Message> ParseHead(const Fields& f, RejectReason* /*reason*/) {
  LINTEL_RETURN_IF_ERROR(f.CheckKnown(kHeadFields));
  Head h;
  LINTEL_RETURN_IF_ERROR(f.U64("epoch", &h.epoch));
  LINTEL_RETURN_IF_ERROR(f.U64("version", &h.version));
  LINTEL_RETURN_IF_ERROR(f.Time("issued_at", &h.issued_at));
  LINTEL_RETURN_IF_ERROR(f.Time("expires_at", &h.expires_at));
  LINTEL_RETURN_IF_ERROR(CheckExpiry(f, h.issued_at, h.expires_at));
  return Message(std::move(h));
}

constexpr std::string_view kDeltaFields[] = {"type",    "site", "gateway",   "epoch",
                                             "version", "prev", "issued_at", "ops"};
Result<Message> ParseDelta(const Fields& f, RejectReason* reason) {
  LINTEL_RETURN_IF_ERROR(f.CheckKnown(kDeltaFields));
  Delta d;
  LINTEL_RETURN_IF_ERROR(f.U64("epoch", &d.epoch));
  LINTEL_RETURN_IF_ERROR(f.U64("version", &d.version));
  LINTEL_RETURN_IF_ERROR(f.U64("prev", &d.prev));
  if (d.version == 0)
    return f.Bad("version", "must be at least 1 in a delta (prev is version - 1)");
  if (d.prev != d.version - 1) {
    return f.Bad("prev", "must be version - 1 = " + std::to_string(d.version - 1) + ", got " +
                             std::to_string(d.prev));
  }
  LINTEL_RETURN_IF_ERROR(f.Time("issued_at", &d.issued_at));
  const json* ops = nullptr;
  LINTEL_RETURN_IF_ERROR(f.Required("ops", &ops));
  if (!ops->is_array()) return f.Bad("ops", "must be an array, got " + Echo(*ops));

  std::string errors;
  size_t error_count = 0;
  d.ops.reserve(ops->size());
  for (size_t i = 0; i < ops->size(); ++i) {
    Result<rules::Op> op = codec::ParseOp((*ops)[i], "ops[" + std::to_string(i) + "]");
    if (op.ok()) {
      d.ops.push_back(std::move(*op));
      continue;
    }
    if (error_count == codec::kMaxRecordErrors) {
      errors += "\n(stopped after " + std::to_string(codec::kMaxRecordErrors) + " errors)";
      break;
    }
    if (error_count++ > 0) errors += '\n';
    errors += op.status().message();
  }
  if (error_count > 0) {
    *reason = RejectReason::kBadRecords;
    return Status::InvalidArgument(std::move(errors));
  }
  return Message(std::move(d));
}

constexpr std::string_view kSnapshotFields[] = {
    "type", "site", "gateway", "epoch", "version", "snapshot_id", "page", "pages", "records"};
Result<Message> ParseSnapshot(const Fields& f, RejectReason* reason) {
  LINTEL_RETURN_IF_ERROR(f.CheckKnown(kSnapshotFields));
  SnapshotPage s;
  LINTEL_RETURN_IF_ERROR(f.U64("epoch", &s.epoch));
  LINTEL_RETURN_IF_ERROR(f.U64("version", &s.version));
  LINTEL_RETURN_IF_ERROR(f.Id("snapshot_id", &s.snapshot_id));
  LINTEL_RETURN_IF_ERROR(f.U64("page", &s.page));
  LINTEL_RETURN_IF_ERROR(f.U64("pages", &s.pages));
  if (s.pages == 0) return f.Bad("pages", "must be at least 1");
  if (s.page < 1 || s.page > s.pages) {
    return f.Bad("page", "must be between 1 and pages = " + std::to_string(s.pages) + ", got " +
                             std::to_string(s.page));
  }
  const json* records = nullptr;
  LINTEL_RETURN_IF_ERROR(f.Required("records", &records));
  Result<rules::Records> parsed = codec::ParseRecords(*records);
  if (!parsed.ok()) {
    *reason = RejectReason::kBadRecords;
    return parsed.status();
  }
  s.records = std::move(*parsed);
  return Message(std::move(s));
}

constexpr std::string_view kEventsAckFields[] = {"type", "site", "gateway", "upto"};
Result<Message> ParseEventsAck(const Fields& f, RejectReason* /*reason*/) {
  LINTEL_RETURN_IF_ERROR(f.CheckKnown(kEventsAckFields));
  EventsAck a;
  LINTEL_RETURN_IF_ERROR(f.U64("upto", &a.upto));
  return Message(a);
}

constexpr std::string_view kUnlockArgs[] = {"door", "seconds"};
constexpr std::string_view kSetDoorModeArgs[] = {"door", "mode", "until"};
constexpr std::string_view kResendEventsArgs[] = {"from"};

Result<CommandArgs> ParseArgs(CommandName name, const Fields& a) {
  switch (name) {
    case CommandName::kUnlock: {
      LINTEL_RETURN_IF_ERROR(a.CheckKnown(kUnlockArgs));
      UnlockArgs u;
      LINTEL_RETURN_IF_ERROR(a.Id("door", &u.door));
      if (const json* s = a.Get("seconds"); s != nullptr && !s->is_null()) {
        std::optional<uint64_t> n = AsU64(*s);
        if (!n || *n < 1 || *n > kMaxUnlockSeconds) {
          return a.Bad("seconds", "must be an integer from 1 to " +
                                      std::to_string(kMaxUnlockSeconds) + ", got " + Echo(*s));
        }
        u.seconds = static_cast<uint32_t>(*n);
      }
      return CommandArgs(std::move(u));
    }
    case CommandName::kSetDoorMode: {
      LINTEL_RETURN_IF_ERROR(a.CheckKnown(kSetDoorModeArgs));
      SetDoorModeArgs m;
      LINTEL_RETURN_IF_ERROR(a.Id("door", &m.door));
      const json* mode = nullptr;
      LINTEL_RETURN_IF_ERROR(a.Required("mode", &mode));
      std::optional<rules::DoorModeKind> kind;
      if (mode->is_string()) kind = rules::ParseDoorMode(mode->get_ref<const std::string&>());
      if (!kind) {
        return a.Bad("mode", Echo(*mode) + " is not one of normal|locked_down|unlocked");
      }
      m.mode = *kind;
      LINTEL_RETURN_IF_ERROR(a.OptionalTime("until", &m.until));
      return CommandArgs(std::move(m));
    }
    case CommandName::kResync:
      LINTEL_RETURN_IF_ERROR(a.CheckKnown({}));
      return CommandArgs(ResyncArgs{});
    case CommandName::kResendEvents: {
      LINTEL_RETURN_IF_ERROR(a.CheckKnown(kResendEventsArgs));
      ResendEventsArgs r;
      LINTEL_RETURN_IF_ERROR(a.U64("from", &r.from));
      return CommandArgs(r);
    }
    case CommandName::kPing:
      LINTEL_RETURN_IF_ERROR(a.CheckKnown({}));
      return CommandArgs(PingArgs{});
  }
  return Status::Internal("unhandled command name");
}

constexpr std::string_view kCommandFields[] = {"type", "site", "gateway",   "id",
                                               "name", "args", "issued_at", "expires_at"};
Result<Message> ParseCommand(const Fields& f, RejectReason* /*reason*/) {
  LINTEL_RETURN_IF_ERROR(f.CheckKnown(kCommandFields));
  Command c;
  LINTEL_RETURN_IF_ERROR(f.Id("id", &c.id));
  const json* name = nullptr;
  LINTEL_RETURN_IF_ERROR(f.Required("name", &name));
  bool known = false;
  for (size_t i = 0; i < kCommandNames.size() && !known; ++i) {
    if (name->is_string() && name->get_ref<const std::string&>() == kCommandNames[i]) {
      c.name = static_cast<CommandName>(i);
      known = true;
    }
  }
  if (!known) {
    return f.Bad("name", Echo(*name) + " is not one of " + JoinNames(kCommandNames));
  }
  LINTEL_RETURN_IF_ERROR(f.Time("issued_at", &c.issued_at));
  // An expires_at before issued_at is not a parse error: the command is signed and names an id,
  // so the executor refuses it as expired on cmd/response (issue 10, point 8).
  LINTEL_RETURN_IF_ERROR(f.Time("expires_at", &c.expires_at));
  const json* args = nullptr;
  LINTEL_RETURN_IF_ERROR(f.Required("args", &args));
  if (!args->is_object()) return f.Bad("args", "must be an object, got " + Echo(*args));
  Result<CommandArgs> parsed = ParseArgs(c.name, Fields(*args, "args."));
  if (!parsed.ok()) return parsed.status();
  c.parsed = std::move(*parsed);
  c.args = *args;
  return Message(std::move(c));
}

// The site or gateway named by the payload must be ours.
Status CheckOurs(const Fields& f, std::string_view key, std::string_view ours) {
  const json* v = nullptr;
  LINTEL_RETURN_IF_ERROR(f.Required(key, &v));
  if (!v->is_string()) return f.Bad(key, "must be a string, got " + Echo(*v));
  const std::string& theirs = v->get_ref<const std::string&>();
  if (theirs != ours) {
    return Status::InvalidArgument("message for " + std::string(key) + " " + IdText(theirs) +
                                   ", this is " + std::string(ours));
  }
  return Status::Ok();
}

// ---- the fast path (simdjson) -------------------------------------------------------------------
// Mirrors ParseDelta / ParseSnapshot and the checks before them for the payloads they accept, and
// gives up (nullopt) on everything else; see messages.h. Header fields are read with the same
// rules as Fields: AsU64, IsIdText, ToInstant.

namespace fast {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Keep a parser's buffers between payloads up to this size (snapshot pages are ~0.5 MiB).
constexpr size_t kKeepParserBytes = 4 << 20;

bool Str(const element& e, std::string_view* out) {
  if (e.get_string().get(*out) != simdjson::SUCCESS) return false;
  for (char c : *out) {
    if (static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

// AsU64 ("-0" is simdjson's INT64 0, as it is nlohmann's signed 0).
bool U64(const element& e, uint64_t* out) {
  if (e.type() == element_type::UINT64) return e.get_uint64().get(*out) == simdjson::SUCCESS;
  int64_t n = 0;
  if (e.type() != element_type::INT64 || e.get_int64().get(n) != simdjson::SUCCESS || n < 0) {
    return false;
  }
  *out = static_cast<uint64_t>(n);
  return true;
}

bool Time(const element& e, Instant* out) {
  std::string_view s;
  if (!Str(e, &s) || s.size() <= 10) return false;
  Result<Instant> t = ParseRfc3339(s);
  if (!t.ok()) return false;
  *out = *t;
  return true;
}

// Visits the payload's fields: each one of `names` (all required), once.
template <typename F>
bool AllFields(const element& e, std::span<const std::string_view> names, F&& on_field) {
  simdjson::dom::object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) return false;
  uint32_t seen = 0;
  for (simdjson::dom::key_value_pair field : obj) {
    size_t i = 0;
    while (i < names.size() && names[i] != field.key) ++i;
    if (i == names.size()) return false;
    const uint32_t bit = 1u << i;
    if ((seen & bit) != 0) return false;
    seen |= bit;
    if (!on_field(names[i], field.value)) return false;
  }
  return seen == (1u << names.size()) - 1;
}

// type, site and gateway: the topic's and ours.
bool Ours(std::string_view key, const element& v, std::string_view type, const Expect& expect,
          bool* handled) {
  *handled = key == "type" || key == "site" || key == "gateway";
  if (!*handled) return true;
  std::string_view s;
  if (!Str(v, &s)) return false;
  return s == (key == "type" ? type : key == "site" ? expect.site : expect.gateway);
}

}  // namespace fast

constexpr std::string_view kDeltaFieldsList[] = {"type",    "site", "gateway",   "epoch",
                                                 "version", "prev", "issued_at", "ops"};
constexpr std::string_view kSnapshotFieldsList[] = {
    "type", "site", "gateway", "epoch", "version", "snapshot_id", "page", "pages", "records"};

std::optional<Message> FastDelta(const simdjson::dom::element& doc, const Expect& expect) {
  Delta d;
  bool ok = fast::AllFields(doc, kDeltaFieldsList, [&](std::string_view k, const auto& v) {
    bool handled = false;
    const bool ours = fast::Ours(k, v, "delta", expect, &handled);
    if (handled) return ours;
    if (k == "epoch") return fast::U64(v, &d.epoch);
    if (k == "version") return fast::U64(v, &d.version);
    if (k == "prev") return fast::U64(v, &d.prev);
    if (k == "issued_at") return fast::Time(v, &d.issued_at);
    simdjson::dom::array ops;
    if (v.get_array().get(ops) != simdjson::SUCCESS) return false;
    d.ops.reserve(ops.size());
    for (simdjson::dom::element e : ops) {
      rules::Op op;
      if (!codec::FastParseOp(e, &op)) return false;
      d.ops.push_back(std::move(op));
    }
    return true;
  });
  if (!ok || d.version == 0 || d.prev != d.version - 1) return std::nullopt;
  return Message(std::move(d));
}

std::optional<Message> FastSnapshot(const simdjson::dom::element& doc, const Expect& expect) {
  SnapshotPage s;
  bool ok = fast::AllFields(doc, kSnapshotFieldsList, [&](std::string_view k, const auto& v) {
    bool handled = false;
    const bool ours = fast::Ours(k, v, "snapshot", expect, &handled);
    if (handled) return ours;
    if (k == "epoch") return fast::U64(v, &s.epoch);
    if (k == "version") return fast::U64(v, &s.version);
    if (k == "page") return fast::U64(v, &s.page);
    if (k == "pages") return fast::U64(v, &s.pages);
    if (k == "snapshot_id") {
      std::string_view id;
      if (!fast::Str(v, &id) || !IsIdText(id)) return false;
      s.snapshot_id.assign(id);
      return true;
    }
    return codec::FastParseRecords(v, &s.records);
  });
  if (!ok || s.pages == 0 || s.page < 1 || s.page > s.pages) return std::nullopt;
  return Message(std::move(s));
}

// ---- the current parser ------------------------------------------------------------------------

Result<Message> Parse(Topic topic, std::string_view compact, const Expect& expect,
                      Rejection* rejection) {
  JwsError jws_error = JwsError::kInternal;
  Result<VerifiedJws> verified = VerifyJws(compact, expect.keys, &jws_error);
  if (!verified.ok()) {
    // Nothing of an unverified payload is decoded or read, not even for a label.
    if (rejection != nullptr) *rejection = Rejection{RejectReason::kSignature, jws_error};
    return Status(verified.status().code(),
                  Prefixed(MessageType(topic), verified.status().message()));
  }
  if (std::optional<Message> m = internal::FastParsePayload(topic, verified->payload, expect)) {
    return std::move(*m);
  }
  return internal::ParsePayload(topic, verified->payload, expect, rejection);
}

}  // namespace

namespace internal {

std::optional<Message> FastParsePayload(Topic topic, const std::string& payload,
                                        const Expect& expect) {
  if (topic != Topic::kSyncDelta && topic != Topic::kSyncSnapshot) return std::nullopt;
  // No escapes: every string is its raw bytes (records_fast.h).
  if (payload.find('\\') != std::string::npos) return std::nullopt;
  thread_local simdjson::dom::parser parser;
  std::optional<Message> m;
  try {
    simdjson::dom::element doc;
    if (parser.parse(payload).get(doc) == simdjson::SUCCESS) {
      m = topic == Topic::kSyncDelta ? FastDelta(doc, expect) : FastSnapshot(doc, expect);
    }
  } catch (const std::exception&) {  // allocation failure: the current parser decides
    m.reset();
  }
  if (parser.capacity() > fast::kKeepParserBytes) parser = simdjson::dom::parser();
  return m;
}

Result<Message> ParsePayload(Topic topic, std::string_view payload_text, const Expect& expect,
                             Rejection* rejection) {
  auto reject = [&](RejectReason reason, std::string_view label, const Status& st) -> Status {
    if (rejection != nullptr) *rejection = Rejection{reason, std::nullopt};
    return Status(st.code(), Prefixed(label, st.message()));
  };

  const std::string_view type = MessageType(topic);
  Result<json> payload = codec::ParseJsonText(payload_text, "payload");
  if (!payload.ok()) return reject(RejectReason::kNotJson, type, payload.status());
  if (!payload->is_object()) {
    return reject(RejectReason::kNotJson, type,
                  Status::InvalidArgument("payload must be a JSON object, got " + Echo(*payload)));
  }
  const std::string label = Label(topic, *payload);
  const Fields f(*payload);

  const json* t = f.Get("type");
  if (t == nullptr) {
    return reject(RejectReason::kWrongType, label, Status::InvalidArgument("missing \"type\""));
  }
  if (!t->is_string() || t->get_ref<const std::string&>() != type) {
    return reject(
        RejectReason::kWrongType, label,
        Status::InvalidArgument("type is " + Echo(*t) + ", but " + std::string(TopicSuffix(topic)) +
                                " carries \"" + std::string(type) + "\""));
  }
  if (Status st = CheckOurs(f, "site", expect.site); !st.ok()) {
    return reject(RejectReason::kWrongSite, label, st);
  }
  if (Status st = CheckOurs(f, "gateway", expect.gateway); !st.ok()) {
    return reject(RejectReason::kWrongGateway, label, st);
  }

  RejectReason reason = RejectReason::kBadField;
  Result<Message> message = Status::Internal("unhandled topic");
  switch (topic) {
    case Topic::kSyncHead:
      message = ParseHead(f, &reason);
      break;
    case Topic::kSyncDelta:
      message = ParseDelta(f, &reason);
      break;
    case Topic::kSyncSnapshot:
      message = ParseSnapshot(f, &reason);
      break;
    case Topic::kEventsAck:
      message = ParseEventsAck(f, &reason);
      break;
    case Topic::kCmdRequest:
      message = ParseCommand(f, &reason);
      break;
  }
  if (!message.ok()) return reject(reason, label, message.status());
  return message;
}

}  // namespace internal

std::string_view TopicSuffix(Topic topic) { return kTopicSuffixes[static_cast<size_t>(topic)]; }
std::string_view MessageType(Topic topic) { return kMessageTypes[static_cast<size_t>(topic)]; }
std::string_view CommandNameText(CommandName name) {
  return kCommandNames[static_cast<size_t>(name)];
}

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kSignature:
      return "signature";
    case RejectReason::kNotJson:
      return "not_json";
    case RejectReason::kWrongType:
      return "wrong_type";
    case RejectReason::kWrongSite:
      return "wrong_site";
    case RejectReason::kWrongGateway:
      return "wrong_gateway";
    case RejectReason::kBadField:
      return "bad_field";
    case RejectReason::kBadRecords:
      return "bad_records";
    case RejectReason::kInternal:
      return "internal";
  }
  return "internal";
}

Result<Message> ParseCloudMessage(Topic topic, std::string_view compact_jws, const Expect& expect,
                                  Rejection* rejection) {
  if (static_cast<size_t>(topic) >= kInboundTopics.size()) {
    if (rejection != nullptr) *rejection = Rejection{RejectReason::kInternal, std::nullopt};
    return Status::Internal("not an inbound topic");
  }
  try {
    return Parse(topic, compact_jws, expect, rejection);
  } catch (const std::exception& e) {  // allocation failure, or a bug: never past this boundary
    if (rejection != nullptr) *rejection = Rejection{RejectReason::kInternal, std::nullopt};
    return Status::Internal(std::string(MessageType(topic)) + ": " + e.what());
  }
}

}  // namespace lintel::cloud
