#include "drivers/intercom/akuvox_api.h"

#include <exception>
#include <new>

#include "drivers/intercom/json_util.h"
#include "drivers/intercom/twon_api.h"  // kMaxReplyBytes, kMaxJsonDepth

namespace lintel::intercom {

using internal::IntegerMember;
using internal::Printable;
using internal::StringMember;
using nlohmann::json;

namespace {

constexpr size_t kMaxParamName = 32;
constexpr size_t kMaxParamValue = 128;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool AllOf(std::string_view s, bool (*ok)(char)) {
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a query component ('+' is a space). nullopt on a bad escape.
std::optional<std::string> Decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string Encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsAlnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Status BadRequest(const std::string& reason) {
  return Status::InvalidArgument("Action URL: " + reason);
}

Status BadEvent(std::string_view event, const std::string& reason) {
  return Status::InvalidArgument("Action URL " + std::string(event) + ": " + reason);
}

// "AA:BB:CC:DD:EE:FF", "aa-bb-...", "AABBCCDDEEFF" -> "AABBCCDDEEFF".
std::optional<std::string> NormalizeMac(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':' || c == '-') continue;
    const int v = HexValue(c);
    if (v < 0 || out.size() == 12) return std::nullopt;
    out.push_back("0123456789ABCDEF"[v]);
  }
  if (out.size() != 12) return std::nullopt;
  return out;
}

}  // namespace

Status CheckAkuvoxReply(std::string_view body, AkuvoxReply* reply) {
  try {
    Result<json> j = internal::ParseBounded(body, "Akuvox reply", kMaxReplyBytes, kMaxJsonDepth);
    if (!j.ok()) return j.status();
    if (!j->is_object()) return Status::InvalidArgument("Akuvox reply: not a JSON object");
    std::optional<int64_t> retcode = IntegerMember(*j, "retcode");
    if (!retcode) return Status::InvalidArgument("Akuvox reply: no integer \"retcode\"");
    AkuvoxReply r;
    r.retcode = *retcode;
    if (auto m = StringMember(*j, "message")) r.message = Printable(*m, 120);
    Status st = Status::Ok();
    if (r.retcode < 0) {
      st = Status::FailedPrecondition("Akuvox error " + std::to_string(r.retcode) +
                                      (r.message.empty() ? "" : ": " + r.message));
    }
    if (reply != nullptr) *reply = std::move(r);
    return st;
  } catch (const std::bad_alloc&) {
    return Status::Internal("Akuvox reply: out of memory");
  } catch (const std::exception& e) {
    return Status::Internal("Akuvox reply: " + Printable(e.what(), 120));
  } catch (...) {
    return Status::Internal("Akuvox reply: unknown exception");
  }
}

std::string AkuvoxRelayTriggerBody(int relay, std::chrono::seconds delay) {
  return R"({"target":"relay","action":"trig","data":{"num":)" + std::to_string(relay) +
         R"(,"mode":0,"level":0,"delay":)" + std::to_string(delay.count()) + "}}";
}

std::string AkuvoxLegacyOpenDoorTarget(std::string_view user, std::string_view password, int door) {
  return "/fcgi/do?action=OpenDoor&UserName=" + Encode(user) + "&Password=" + Encode(password) +
         "&DoorNum=" + std::to_string(door);
}

const std::string* ActionUrlRequest::Param(std::string_view name) const {
  for (const auto& [k, v] : params) {
    if (k == name) return &v;
  }
  return nullptr;
}

Result<ActionUrlRequest> ParseActionUrlTarget(std::string_view target) {
  if (target.size() > kMaxActionUrlBytes) {
    return BadRequest("request target longer than " + std::to_string(kMaxActionUrlBytes) +
                      " bytes");
  }
  std::string_view path = target;
  std::string_view query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  // "/akuvox/<panel-id>/<secret>/<event>" (a trailing '/' is not allowed)
  constexpr std::string_view kPrefix = "/akuvox/";
  if (path.substr(0, kPrefix.size()) != kPrefix) {
    return Status::NotFound("not an Action URL path");
  }
  std::vector<std::string_view> seg;
  std::string_view rest = path.substr(kPrefix.size());
  while (true) {
    const size_t slash = rest.find('/');
    seg.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos || seg.size() > 3) break;
    rest = rest.substr(slash + 1);
  }
  if (seg.size() != 3 || seg[0].empty() || seg[1].empty() || seg[2].empty()) {
    return Status::NotFound("not an Action URL path");
  }
  ActionUrlRequest r;
  if (seg[0].size() > 64 ||
      !AllOf(seg[0], [](char c) { return IsAlnum(c) || c == '_' || c == '.' || c == '-'; })) {
    return BadRequest("panel id has a character outside [A-Za-z0-9_.-] or is too long");
  }
  if (seg[1].size() > 128 || !AllOf(seg[1], [](char c) {
        return IsAlnum(c) || c == '_' || c == '.' || c == '-' || c == '~';
      })) {
    return BadRequest("secret has a character outside [A-Za-z0-9_.~-] or is too long");
  }
  if (seg[2].size() > 32 || !AllOf(seg[2], [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      })) {
    return BadRequest("event has a character outside [a-z0-9_] or is too long");
  }
  r.panel_id = seg[0];
  r.secret = seg[1];
  r.event = seg[2];
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;  // "a=1&&b=2", a trailing '&'
    if (r.params.size() == kMaxActionUrlParams) {
      return BadRequest("more than " + std::to_string(kMaxActionUrlParams) + " parameters");
    }
    const size_t eq = item.find('=');
    std::string_view name = item.substr(0, eq);
    std::string_view raw = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    if (name.empty() || name.size() > kMaxParamName ||
        !AllOf(name, [](char c) { return IsAlnum(c) || c == '_'; })) {
      return BadRequest("a parameter name is empty, too long or not [A-Za-z0-9_]");
    }
    std::optional<std::string> value = Decode(raw);
    if (!value) return BadRequest("parameter " + std::string(name) + ": bad percent-encoding");
    if (value->size() > kMaxParamValue) {
      return BadRequest("parameter " + std::string(name) + ": value longer than " +
                        std::to_string(kMaxParamValue) + " bytes");
    }
    for (char c : *value) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7F) {
        return BadRequest("parameter " + std::string(name) + ": control or non-ASCII byte");
      }
    }
    if (r.Param(name) != nullptr) {
      return BadRequest("parameter " + std::string(name) + " given twice");
    }
    r.params.emplace_back(std::string(name), std::move(*value));
  }
  return r;
}

Result<PanelEvent> ActionUrlEvent(const ActionUrlRequest& request) {
  const std::string& ev = request.event;
  PanelEvent e;
  e.name = ev;
  if (ev == "code") {
    e.kind = EventKind::kCode;
    const std::string* code = request.Param("code");
    if (code == nullptr) return BadEvent(ev, "no code parameter");
    if (Status st = CheckCode(*code); !st.ok()) return BadEvent(ev, st.message());
    e.code = *code;
  } else if (ev == "card") {
    e.kind = EventKind::kCard;
    const std::string* card = request.Param("card_sn");
    if (card == nullptr) return BadEvent(ev, "no card_sn parameter");
    Result<std::string> uid = NormalizeCardUid(*card);
    if (!uid.ok()) return BadEvent(ev, uid.status().message());
    e.card_uid = *uid;
  } else if (ev == "relay") {
    e.kind = EventKind::kSwitchState;
    const std::string* status = request.Param("relay1status");
    if (status == nullptr) return BadEvent(ev, "no relay1status parameter");
    if (*status != "0" && *status != "1") return BadEvent(ev, "relay1status is not 0 or 1");
    e.port = "1";
    e.state = *status;
    e.active = *status == "1";
  } else if (ev == "tamper") {
    e.kind = EventKind::kTamper;
  } else {
    return Status::NotFound("unknown Action URL event '" + ev + "'");
  }
  if (const std::string* mac = request.Param("mac")) {
    std::optional<std::string> m = NormalizeMac(*mac);
    if (!m) return BadEvent(ev, "mac is not 12 hex digits");
    e.mac = *m;
  }
  return e;
}

}  // namespace lintel::intercom
