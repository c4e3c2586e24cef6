#include "tools/panel-sim/panel.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <sstream>

namespace lintel::panelsim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kMaxPathsCounted = 64;

const std::vector<std::string>& TwoNEventNames() {
  static const std::vector<std::string> kNames = {
      "CodeEntered",        "CardEntered",           "KeyPressed",       "InputChanged",
      "SwitchStateChanged", "CallStateChanged",      "DoorStateChanged", "UnauthorizedDoorOpen",
      "DoorOpenTooLong",    "TamperSwitchActivated", "DeviceState"};
  return kNames;
}

std::optional<std::string> Param(const HttpRequest& r, const char* key) {
  auto it = r.params.find(key);
  if (it == r.params.end()) return std::nullopt;
  return it->second;
}

std::optional<int64_t> ToInt(std::string_view s, int64_t lo, int64_t hi) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) {
    return std::nullopt;
  }
  return v;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

HttpReply JsonReply(const json& body, int status = 200) {
  HttpReply r;
  r.status = status;
  r.body = Dump(body);
  return r;
}

HttpReply Ok2N(json result = nullptr) {
  json body = {{"success", true}};
  if (!result.is_null()) body["result"] = std::move(result);
  return JsonReply(body);
}

HttpReply Err2N(int code, const std::string& param, const std::string& description) {
  json error = {{"code", code}};
  if (!param.empty()) error["param"] = param;
  error["description"] = description;
  return JsonReply({{"success", false}, {"error", error}});
}
HttpReply Missing(const std::string& param) {
  return Err2N(11, param, "missing mandatory parameter");
}
HttpReply Invalid(const std::string& param) { return Err2N(12, param, "invalid parameter value"); }

HttpReply AkOk(json data = json::object()) {
  return JsonReply({{"retcode", 0}, {"message", "OK"}, {"data", std::move(data)}});
}
HttpReply AkErr(int retcode, const std::string& message) {
  return JsonReply({{"retcode", retcode}, {"message", message}});
}

bool AllOf(const std::string& s, std::string_view allowed_extra, size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           allowed_extra.find(c) != std::string_view::npos;
  });
}
bool Digits(const std::string& s, std::string_view extra, size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= '0' && c <= '9') || extra.find(c) != std::string_view::npos;
  });
}

std::string PercentEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace

std::string SubstituteActionUrl(const std::string& url,
                                const std::map<std::string, std::string>& vars) {
  // Longest names first, so no name is mistaken for the start of a longer one.
  static const std::vector<std::string> kNames = {"relay1status", "firmware", "card_sn", "model",
                                                  "code",         "mac",      "ip"};
  std::string out;
  for (size_t i = 0; i < url.size();) {
    if (url[i] == '$') {
      bool replaced = false;
      for (const std::string& name : kNames) {
        if (url.compare(i + 1, name.size(), name) == 0) {
          auto it = vars.find(name);
          if (it != vars.end()) out += PercentEncode(it->second);
          i += 1 + name.size();
          replaced = true;
          break;
        }
      }
      if (replaced) continue;
    }
    out.push_back(url[i++]);
  }
  return out;
}

Panel::Panel(EventLoop& loop, PanelHost& host, HttpAuthenticator& auth, PanelOptions options)
    : loop_(loop), host_(host), auth_(auth), o_(std::move(options)) {
  switches_.resize(static_cast<size_t>(o_.switches));
}

Panel::~Panel() {
  for (Switch& s : switches_) {
    Cancel(s.off_timer);
    Cancel(s.delay_timer);
  }
  Cancel(door_timer_);
  Cancel(boot_timer_);
  for (auto& [id, c] : channels_) {
    Cancel(c.expiry);
    Cancel(c.pull_timer);
  }
}

void Panel::Cancel(std::optional<EventLoop::TimerId>& t) {
  if (t) loop_.CancelTimer(*t);
  t.reset();
}

int64_t Panel::UpTime() const { return (host_.NowMs() - boot_ms_) / 1000; }
int64_t Panel::UtcTime() const { return o_.wall_start_unix + host_.NowMs() / 1000; }

void Panel::Boot() {
  boot_ms_ = host_.NowMs();
  boots_ = 1;
  if (two_n()) AddEvent("DeviceState", {{"state", "startup"}});
}

// ---- requests ------------------------------------------------------------------------------

void Panel::Handle(HttpRequest r, Responder respond) {
  const uint64_t id = next_in_flight_++;
  in_flight_[id] = InFlight{std::move(respond), r.method, r.path, r.peer};
  ++requests_;
  if (r.generation != host_.generation() || fault_ == FaultKind::kOffline || rebooting_) {
    // A connection to a panel that went away (offline, rebooting, or an earlier run).
    HttpReply cut;
    cut.cut = true;
    Finish(id, std::move(cut));
    return;
  }
  const auto now = HttpAuthenticator::Clock::time_point(milliseconds(host_.NowMs()));
  AuthVerdict v = auth_.Check(r.method, r.target, r.authorization, now);
  if (!v.ok) {
    if (v.failure) {
      ++auth_failures_;
      host_.Emit({{"auth", "failed"},
                  {"scheme", AuthSchemeName(auth_.scheme())},
                  {"reason", v.reason},
                  {"user", v.user},
                  {"method", r.method},
                  {"path", r.path},
                  {"peer", r.peer}});
    } else if (v.reason == "stale nonce") {
      ++auth_stale_;
      host_.Emit({{"auth", "stale"}, {"user", v.user}, {"path", r.path}, {"peer", r.peer}});
    } else {
      ++auth_challenges_;
    }
    HttpReply reply = two_n() ? Err2N(9, "", "authorization required") : AkErr(-1, "Unauthorized");
    reply.status = 401;
    reply.headers.emplace_back("WWW-Authenticate", v.challenge);
    Finish(id, std::move(reply));
    return;
  }
  if (by_path_.size() < kMaxPathsCounted || by_path_.contains(r.path)) {
    ++by_path_[r.path];
  } else {
    ++by_path_["(other)"];
  }
  if (fault_ == FaultKind::kGarbage || fault_ == FaultKind::kHuge || fault_ == FaultKind::kSlow) {
    const FaultKind kind = fault_;
    const int64_t slow = slow_ms_;
    if (fault_remaining_ > 0) --fault_remaining_;
    host_.Emit({{"fault", kind == FaultKind::kGarbage ? "garbage"
                          : kind == FaultKind::kHuge  ? "huge"
                                                      : "slow"},
                {"path", r.path},
                {"remaining", fault_remaining_ < 0 ? json(nullptr) : json(fault_remaining_)}});
    if (fault_remaining_ == 0) {
      fault_ = FaultKind::kNone;
      fault_remaining_ = -1;
      host_.Emit({{"fault", "off"}, {"reason", "count"}});
    }
    if (kind == FaultKind::kSlow) {
      loop_.AddTimer(milliseconds(slow), [this, id, r = std::move(r)] {
        if (in_flight_.contains(id)) Route(id, r);
      });
    } else {
      Finish(id, FaultReply(kind));
    }
    return;
  }
  Route(id, r);
}

void Panel::Finish(uint64_t id, HttpReply reply) {
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return;
  InFlight f = std::move(it->second);
  in_flight_.erase(it);
  if (o_.verbose) {
    json line = {{"request", {{"method", f.method}, {"path", f.path}, {"peer", f.peer}}}};
    if (reply.cut) {
      line["request"]["cut"] = true;
    } else {
      line["request"]["status"] = reply.status;
      line["request"]["bytes"] = reply.body.size();
    }
    host_.Emit(line);
  }
  f.respond(std::move(reply));
}

void Panel::CutInFlight() {
  for (auto& [cid, c] : channels_) {
    if (c.pull) {
      c.pull.reset();
      Cancel(c.pull_timer);
      ArmExpiry(c);
    }
  }
  std::map<uint64_t, InFlight> all;
  all.swap(in_flight_);
  for (auto& [id, f] : all) {
    HttpReply cut;
    cut.cut = true;
    if (o_.verbose) {
      host_.Emit(
          {{"request", {{"method", f.method}, {"path", f.path}, {"peer", f.peer}, {"cut", true}}}});
    }
    f.respond(std::move(cut));
  }
}

void Panel::CutAll() { CutInFlight(); }

HttpReply Panel::FaultReply(FaultKind kind) const {
  HttpReply reply;
  if (kind == FaultKind::kGarbage) {
    // Cut off mid-value, then bytes that are not even UTF-8.
    reply.body = two_n() ? "{\"success\":true,\"result\":{\"events\":[{\"id\":7,\"event\":\"Cod"
                         : "{\"retcode\":0,\"message\":\"O";
    reply.body += "\xff\xfe<html>}]\x00,,{{";
    return reply;
  }
  // Valid JSON in the family's envelope, kHugeBytes long.
  const std::string head = two_n() ? "{\"success\":true,\"result\":{\"padding\":\""
                                   : "{\"retcode\":0,\"message\":\"OK\",\"data\":{\"padding\":\"";
  const std::string tail = "\"}}";
  reply.body.reserve(kHugeBytes);
  reply.body = head;
  reply.body.append(kHugeBytes - head.size() - tail.size(), 'A');
  reply.body += tail;
  return reply;
}

void Panel::Route(uint64_t id, const HttpRequest& r) {
  if (two_n()) {
    Route2N(id, r);
  } else {
    RouteAkuvox(id, r);
  }
}

void Panel::Route2N(uint64_t id, const HttpRequest& r) {
  const std::string& p = r.path;
  if (p.rfind("/api/", 0) != 0) {
    HttpReply nf;
    nf.status = 404;
    nf.content_type = "text/plain";
    nf.body = "Not Found";
    Finish(id, std::move(nf));
    return;
  }
  if (r.method != "GET" && r.method != "POST") {
    Finish(id, Err2N(3, "", "invalid request method"));
    return;
  }
  if (p == "/api/system/info") {
    Finish(id, Ok2N({{"variant", o_.model},
                     {"serialNumber", o_.serial},
                     {"hwVersion", "535v1"},
                     {"swVersion", o_.firmware},
                     {"buildType", "release"},
                     {"deviceName", o_.device_name}}));
  } else if (p == "/api/switch/caps" || p == "/api/switch/status") {
    std::optional<int64_t> only;
    if (auto s = Param(r, "switch")) {
      only = ToInt(*s, 1, o_.switches);
      if (!only) return Finish(id, Invalid("switch"));
    }
    json list = json::array();
    for (int n = 1; n <= o_.switches; ++n) {
      if (only && *only != n) continue;
      const Switch& s = switches_[static_cast<size_t>(n - 1)];
      if (p == "/api/switch/caps") {
        list.push_back({{"switch", n},
                        {"enabled", true},
                        {"mode", "monostable"},
                        {"switchOnDuration", o_.switch_on_duration_s},
                        {"type", "normal"}});
      } else {
        list.push_back(
            {{"switch", n}, {"active", s.active}, {"locked", s.locked}, {"held", s.held}});
      }
    }
    Finish(id, Ok2N({{"switches", list}}));
  } else if (p == "/api/switch/ctrl") {
    Finish(id, SwitchCtrl(r));
  } else if (p == "/api/log/caps") {
    Finish(id, Ok2N({{"events", TwoNEventNames()}}));
  } else if (p == "/api/log/subscribe") {
    Finish(id, Subscribe(r));
  } else if (p == "/api/log/pull") {
    Pull(id, r);
  } else if (p == "/api/log/unsubscribe") {
    Finish(id, Unsubscribe(r));
  } else {
    Finish(id, Err2N(2, "", "invalid request path"));
  }
}

// ---- 2N switches ---------------------------------------------------------------------------

HttpReply Panel::SwitchCtrl(const HttpRequest& r) {
  auto sw = Param(r, "switch");
  if (!sw) return Missing("switch");
  auto n = ToInt(*sw, 1, o_.switches);
  if (!n) return Invalid("switch");
  auto action = Param(r, "action");
  if (!action) return Missing("action");
  static const std::set<std::string> kActions = {"on",     "off",  "trigger", "lock",
                                                 "unlock", "hold", "release"};
  if (!kActions.contains(*action)) return Invalid("action");
  std::optional<int> timeout;
  if (auto t = Param(r, "timeout")) {
    auto v = ToInt(*t, 1, 3600);
    if (!v) return Invalid("timeout");
    timeout = static_cast<int>(*v);
  }
  json result = SwitchAction(static_cast<int>(*n), *action, timeout, r.peer);
  if (!result.value("ok", false)) return Err2N(14, "", "switch locked");
  return Ok2N();
}

json Panel::SwitchAction(int n, const std::string& action, std::optional<int> timeout_s,
                         const std::string& via) {
  Switch& s = switches_[static_cast<size_t>(n - 1)];
  json line = {{"switch", n}, {"action", action}};
  if (timeout_s) line["timeout"] = *timeout_s;
  line["via"] = via;
  const bool refused = s.locked && (action == "on" || action == "trigger" || action == "hold");
  line["result"] = refused ? "refused" : "ok";
  if (refused) {
    line["error"] = 14;
    line["reason"] = "locked";
  }
  host_.Emit(line);
  if (refused) return {{"ok", false}, {"error", "switch " + std::to_string(n) + " is locked"}};
  auto arm_off = [this, n, &s](int after_s) {
    Cancel(s.off_timer);
    s.off_timer = loop_.AddTimer(seconds(after_s), [this, n] {
      Switch& sw = switches_[static_cast<size_t>(n - 1)];
      sw.off_timer.reset();
      if (!sw.held) SetSwitch(n, false);
    });
  };
  if (action == "on") {
    Cancel(s.off_timer);
    SetSwitch(n, true);
    if (timeout_s) arm_off(*timeout_s);
  } else if (action == "off") {
    Cancel(s.off_timer);
    s.held = false;
    SetSwitch(n, false);
  } else if (action == "trigger") {
    SetSwitch(n, true);
    arm_off(timeout_s.value_or(o_.switch_on_duration_s));
  } else if (action == "hold") {
    Cancel(s.off_timer);
    s.held = true;
    SetSwitch(n, true);
  } else if (action == "release") {
    s.held = false;
    if (!s.off_timer) SetSwitch(n, false);
  } else if (action == "lock") {
    Cancel(s.off_timer);
    s.held = false;
    s.locked = true;
    SetSwitch(n, false);
  } else if (action == "unlock") {
    s.locked = false;
  }
  return {{"ok", true}};
}

void Panel::SetSwitch(int n, bool active) {
  Switch& s = switches_[static_cast<size_t>(n - 1)];
  if (s.active == active) return;
  s.active = active;
  AddEvent("SwitchStateChanged", {{"switch", n}, {"state", active}});
}

bool Panel::AnySwitchActive() const {
  return std::any_of(switches_.begin(), switches_.end(), [](const Switch& s) { return s.active; });
}

// ---- 2N log --------------------------------------------------------------------------------

json Panel::AddEvent(const std::string& name, json params) {
  json e = {{"id", next_event_id_++},
            {"utcTime", UtcTime()},
            {"upTime", UpTime()},
            {"event", name},
            {"params", std::move(params)}};
  log_.push_back(e);
  if (log_.size() > kMaxLog) log_.pop_front();
  host_.Emit({{"event", e}});
  for (auto& [cid, c] : channels_) {
    if (!c.filter.empty() && !c.filter.contains(name)) continue;
    c.queue.push_back(e);
    if (c.queue.size() > kMaxChannelQueue) {
      c.queue.pop_front();
      ++c.dropped;
    }
    if (c.pull && !c.answer_posted) {
      // Answered once the command that made the event has made all of its events.
      c.answer_posted = true;
      loop_.Post([this, cid = cid] {
        auto it = channels_.find(cid);
        if (it == channels_.end()) return;
        it->second.answer_posted = false;
        if (it->second.pull) AnswerPull(it->second);
      });
    }
  }
  return e;
}

HttpReply Panel::Subscribe(const HttpRequest& r) {
  if (channels_.size() >= kMaxChannels) return Err2N(14, "", "too many subscriptions");
  const std::string include = Param(r, "include").value_or("new");
  std::optional<int64_t> since;  // utcTime bound for include=-T
  if (include != "new" && include != "all") {
    auto t = include.size() > 1 && include[0] == '-'
                 ? ToInt(std::string_view(include).substr(1), 1, 86'400 * 365)
                 : std::nullopt;
    if (!t) return Invalid("include");
    since = UtcTime() - *t;
  }
  int duration = 90;
  if (auto d = Param(r, "duration")) {
    auto v = ToInt(*d, 1, 3600);
    if (!v) return Invalid("duration");
    duration = static_cast<int>(*v);
  }
  Channel c;
  c.id = next_channel_id_++;
  c.duration_s = duration;
  json filter = json::array();
  if (auto f = Param(r, "filter")) {
    std::stringstream in(*f);
    for (std::string name; std::getline(in, name, ',');) {
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      if (name.empty()) continue;
      if (name.size() > 64 || c.filter.size() >= 64) return Invalid("filter");
      if (c.filter.insert(name).second) filter.push_back(name);
    }
  }
  if (include != "new") {
    for (const json& e : log_) {
      if (since && e["utcTime"].get<int64_t>() < *since) continue;
      if (!c.filter.empty() && !c.filter.contains(e["event"].get<std::string>())) continue;
      c.queue.push_back(e);
    }
  }
  const uint64_t id = c.id;
  host_.Emit({{"channel", "opened"},
              {"id", id},
              {"include", include},
              {"duration", duration},
              {"filter", filter},
              {"queued", c.queue.size()},
              {"peer", r.peer}});
  Channel& stored = channels_[id] = std::move(c);
  ArmExpiry(stored);
  return Ok2N({{"id", id}});
}

void Panel::ArmExpiry(Channel& c) {
  Cancel(c.expiry);
  c.expiry = loop_.AddTimer(seconds(c.duration_s), [this, cid = c.id] {
    auto it = channels_.find(cid);
    if (it == channels_.end()) return;
    it->second.expiry.reset();
    CloseChannel(cid, "expired");
  });
}

void Panel::Pull(uint64_t id, const HttpRequest& r) {
  auto idp = Param(r, "id");
  if (!idp) return Finish(id, Missing("id"));
  auto cid = ToInt(*idp, 0, std::numeric_limits<int64_t>::max());
  auto it = cid ? channels_.find(static_cast<uint64_t>(*cid)) : channels_.end();
  if (it == channels_.end()) return Finish(id, Invalid("id"));
  int64_t timeout = 0;
  if (auto t = Param(r, "timeout")) {
    auto v = ToInt(*t, 0, 3600);
    if (!v) return Finish(id, Invalid("timeout"));
    timeout = *v;
  }
  Channel& c = it->second;
  if (c.pull) {
    // One pull at a time per channel: the earlier one is answered (empty) now.
    const uint64_t earlier = *c.pull;
    c.pull.reset();
    Cancel(c.pull_timer);
    Finish(earlier, Ok2N({{"events", json::array()}}));
  }
  Cancel(c.expiry);  // a channel being pulled does not expire
  c.pull = id;
  if (!c.queue.empty() || timeout == 0) {
    AnswerPull(c);
    return;
  }
  c.pull_timer = loop_.AddTimer(seconds(timeout), [this, cid = c.id] {
    auto ch = channels_.find(cid);
    if (ch == channels_.end()) return;
    ch->second.pull_timer.reset();
    if (ch->second.pull) AnswerPull(ch->second);
  });
}

void Panel::AnswerPull(Channel& c) {
  json events = json::array();
  json ids = json::array();
  while (!c.queue.empty() && events.size() < kMaxEventsPerPull) {
    ids.push_back(c.queue.front()["id"]);
    events.push_back(std::move(c.queue.front()));
    c.queue.pop_front();
  }
  Cancel(c.pull_timer);
  const uint64_t id = *c.pull;
  c.pull.reset();
  if (!ids.empty()) {
    host_.Emit({{"delivered", {{"channel", c.id}, {"ids", ids}, {"left", c.queue.size()}}}});
  }
  ArmExpiry(c);
  Finish(id, Ok2N({{"events", std::move(events)}}));
}

void Panel::CloseChannel(uint64_t cid, const char* reason) {
  auto it = channels_.find(cid);
  if (it == channels_.end()) return;
  Channel& c = it->second;
  Cancel(c.expiry);
  Cancel(c.pull_timer);
  std::optional<uint64_t> pull = c.pull;
  host_.Emit({{"channel", "closed"},
              {"id", cid},
              {"reason", reason},
              {"undelivered", c.queue.size()},
              {"dropped", c.dropped}});
  channels_.erase(it);
  // A pull waiting on a channel that is gone learns it as an unknown id would.
  if (pull) Finish(*pull, Invalid("id"));
}

HttpReply Panel::Unsubscribe(const HttpRequest& r) {
  auto idp = Param(r, "id");
  if (!idp) return Missing("id");
  auto cid = ToInt(*idp, 0, std::numeric_limits<int64_t>::max());
  if (!cid || !channels_.contains(static_cast<uint64_t>(*cid))) return Invalid("id");
  CloseChannel(static_cast<uint64_t>(*cid), "unsubscribed");
  return Ok2N();
}

// ---- Akuvox --------------------------------------------------------------------------------

void Panel::RouteAkuvox(uint64_t id, const HttpRequest& r) {
  const std::string& p = r.path;
  if (p == "/api/system/info" && r.method == "GET") {
    Finish(id, AkOk({{"Model", o_.model},
                     {"MAC", o_.mac},
                     {"FirmwareVersion", o_.firmware},
                     {"HardwareVersion", "20.0.0.0.0"},
                     {"DeviceName", o_.device_name},
                     {"Uptime", UpTime()}}));
  } else if (p == "/api/relay/status" && r.method == "GET") {
    json relays = json::array();
    for (int n = 1; n <= o_.switches; ++n) {
      relays.push_back(
          {{"num", n}, {"status", switches_[static_cast<size_t>(n - 1)].active ? 1 : 0}});
    }
    Finish(id, AkOk({{"relays", relays}}));
  } else if (p == "/api/relay/trig" && r.method == "POST") {
    Finish(id, RelayTrig(r));
  } else if (p == "/fcgi/do" && o_.fcgi && r.method == "GET") {
    Finish(id, Fcgi(r));
  } else {
    Finish(id, AkErr(-1, "Api unsupported"));
  }
}

HttpReply Panel::RelayTrig(const HttpRequest& r) {
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return AkErr(-2, "Invalid request: not JSON");
  if (body.value("target", "") != "relay") return AkErr(-2, "Invalid request: target");
  if (body.value("action", "") != "trig") return AkErr(-2, "Invalid request: action");
  if (!body.contains("data") || !body["data"].is_object()) {
    return AkErr(-2, "Invalid request: data");
  }
  const json& d = body["data"];
  auto field = [&](const char* key, int64_t dflt, int64_t lo, int64_t hi) -> std::optional<int> {
    if (!d.contains(key)) return static_cast<int>(dflt);
    const json& v = d[key];
    int64_t x = 0;
    if (v.is_number_integer()) {
      x = v.get<int64_t>();
    } else if (v.is_string()) {
      auto p = ToInt(v.get<std::string>(), lo, hi);
      if (!p) return std::nullopt;
      x = *p;
    } else {
      return std::nullopt;
    }
    if (x < lo || x > hi) return std::nullopt;
    return static_cast<int>(x);
  };
  if (!d.contains("num")) return AkErr(-2, "Invalid request: num");
  auto num = field("num", 1, 1, o_.switches);
  if (!num) return AkErr(-2, "Invalid request: num");
  auto mode = field("mode", 0, 0, 1);
  if (!mode) return AkErr(-2, "Invalid request: mode");
  auto level = field("level", 0, 0, 1);
  if (!level) return AkErr(-2, "Invalid request: level");
  auto delay = field("delay", 0, 0, 3600);
  if (!delay) return AkErr(-2, "Invalid request: delay");
  host_.Emit({{"relay", *num},
              {"action", "trig"},
              {"mode", *mode},
              {"level", *level},
              {"delay", *delay},
              {"via", "api"},
              {"peer", r.peer}});
  TrigRelay(*num, *mode, *level, *delay);
  return AkOk();
}

HttpReply Panel::Fcgi(const HttpRequest& r) {
  if (Param(r, "action").value_or("") != "OpenDoor") return AkErr(-2, "Invalid request: action");
  const std::string user = Param(r, "UserName").value_or("");
  const std::string password = Param(r, "Password").value_or("");
  const bool ok = user == o_.user && password.size() == o_.password.size() &&
                  CRYPTO_memcmp(password.data(), o_.password.data(), password.size()) == 0;
  if (!ok) {
    ++auth_failures_;
    // Never the URL: it carries the password.
    host_.Emit({{"auth", "failed"},
                {"scheme", "fcgi"},
                {"reason", user == o_.user ? "bad password" : "unknown user"},
                {"user", user},
                {"method", r.method},
                {"path", r.path},
                {"peer", r.peer}});
    HttpReply reply = AkErr(-3, "Unauthorized");
    reply.status = 403;
    return reply;
  }
  auto door = ToInt(Param(r, "DoorNum").value_or("1"), 1, o_.switches);
  if (!door) return AkErr(-2, "Invalid request: DoorNum");
  host_.Emit({{"relay", *door},
              {"action", "OpenDoor"},
              {"mode", 0},
              {"level", 0},
              {"delay", 0},
              {"via", "fcgi"},
              {"peer", r.peer}});
  TrigRelay(static_cast<int>(*door), 0, 0, 0);
  return AkOk();
}

void Panel::TrigRelay(int n, int mode, int level, int delay_s) {
  auto act = [this, n, mode, level] {
    Switch& s = switches_[static_cast<size_t>(n - 1)];
    Cancel(s.off_timer);
    if (mode == 0) {
      SetRelay(n, true);
      s.off_timer = loop_.AddTimer(seconds(o_.switch_on_duration_s), [this, n] {
        switches_[static_cast<size_t>(n - 1)].off_timer.reset();
        SetRelay(n, false);
      });
    } else {
      SetRelay(n, level == 1);
    }
  };
  Switch& s = switches_[static_cast<size_t>(n - 1)];
  Cancel(s.delay_timer);
  if (delay_s > 0) {
    s.delay_timer = loop_.AddTimer(seconds(delay_s), [this, n, act] {
      switches_[static_cast<size_t>(n - 1)].delay_timer.reset();
      act();
    });
  } else {
    act();
  }
}

void Panel::SetRelay(int n, bool open) {
  Switch& s = switches_[static_cast<size_t>(n - 1)];
  if (s.active == open) return;
  s.active = open;
  AkuvoxEvent(open ? "relay-triggered" : "relay-closed", {{"relay", n}, {"status", open ? 1 : 0}},
              {{"relay1status", switches_[0].active ? "1" : "0"}});
}

void Panel::AkuvoxEvent(const std::string& name, json params,
                        std::map<std::string, std::string> vars) {
  host_.Emit({{"event", {{"event", name}, {"params", std::move(params)}}}});
  vars["mac"] = o_.mac;
  vars["ip"] = o_.address;
  vars["model"] = o_.model;
  vars["firmware"] = o_.firmware;
  vars.emplace("relay1status", switches_[0].active ? "1" : "0");
  auto [first, last] = o_.action_urls.equal_range(name);
  for (auto it = first; it != last; ++it) {
    ++action_urls_pending_;
    host_.SendActionUrl(name, SubstituteActionUrl(it->second, vars));
  }
}

void Panel::OnActionUrlDone(const std::string& event, const std::string& url, int status,
                            const std::string& error) {
  if (action_urls_pending_ > 0) --action_urls_pending_;
  json line = {{"action_url", event}, {"url", url}};
  if (error.empty()) {
    line["status"] = status;
    if (status >= 200 && status < 300) {
      ++action_urls_sent_;
    } else {
      ++action_urls_failed_;
    }
  } else {
    line["error"] = error;
    ++action_urls_failed_;
  }
  host_.Emit(line);
}

// ---- commands ------------------------------------------------------------------------------

json Panel::CodeEntered(const std::string& code) {
  const bool valid = o_.valid_codes.contains(code);
  if (two_n()) {
    AddEvent("CodeEntered", {{"code", code}, {"valid", valid}});
  } else {
    AkuvoxEvent(valid ? "code" : "invalid-code", {{"code", code}, {"valid", valid}},
                {{"code", code}});
  }
  return {{"valid", valid}};
}

json Panel::CardEntered(const std::string& card, const std::string& field) {
  const bool valid = o_.valid_cards.contains(card);
  if (two_n()) {
    AddEvent("CardEntered",
             {{"direction", "in"}, {"reader", "internal"}, {field, card}, {"valid", valid}});
  } else {
    AkuvoxEvent(valid ? "card" : "invalid-card", {{"card_sn", card}, {"valid", valid}},
                {{"card_sn", card}});
  }
  return {{"valid", valid}};
}

void Panel::Door(bool open) {
  if (open == door_open_) return;
  door_open_ = open;
  if (open) {
    AddEvent("DoorStateChanged", {{"state", "opened"}});
    if (!AnySwitchActive()) {
      door_unauthorized_ = true;
      AddEvent("UnauthorizedDoorOpen", {{"state", "in"}});
    }
    door_timer_ = loop_.AddTimer(seconds(o_.door_open_too_long_s), [this] {
      door_timer_.reset();
      door_too_long_ = true;
      AddEvent("DoorOpenTooLong", {{"state", "in"}});
    });
    return;
  }
  Cancel(door_timer_);
  AddEvent("DoorStateChanged", {{"state", "closed"}});
  if (door_unauthorized_) AddEvent("UnauthorizedDoorOpen", {{"state", "out"}});
  if (door_too_long_) AddEvent("DoorOpenTooLong", {{"state", "out"}});
  door_unauthorized_ = door_too_long_ = false;
}

void Panel::Reboot(int64_t down_ms) {
  host_.Emit({{"reboot", "started"}, {"down_ms", down_ms}});
  rebooting_ = true;
  CutInFlight();
  while (!channels_.empty()) CloseChannel(channels_.begin()->first, "reboot");
  for (Switch& s : switches_) {
    Cancel(s.off_timer);
    Cancel(s.delay_timer);
    s = Switch{};
  }
  Cancel(door_timer_);
  door_unauthorized_ = door_too_long_ = false;
  call_state_ = "idle";
  log_.clear();
  next_event_id_ = 1;
  if (Status s = host_.SetListening(false); !s.ok()) {
    host_.Emit({{"error", s.message()}});
  }
  Cancel(boot_timer_);
  boot_timer_ = loop_.AddTimer(milliseconds(down_ms), [this] {
    boot_timer_.reset();
    FinishBoot();
  });
}

void Panel::FinishBoot() {
  rebooting_ = false;
  if (fault_ != FaultKind::kOffline) {
    if (Status s = host_.SetListening(true); !s.ok()) host_.Emit({{"error", s.message()}});
  }
  boot_ms_ = host_.NowMs();
  ++boots_;
  host_.Emit({{"reboot", "done"}, {"boots", boots_}});
  if (two_n()) AddEvent("DeviceState", {{"state", "startup"}});
}

json Panel::SetFault(FaultKind kind, int64_t remaining, int64_t slow_ms) {
  const FaultKind old = fault_;
  fault_ = kind;
  fault_remaining_ = remaining;
  slow_ms_ = slow_ms;
  if (kind == FaultKind::kOffline && old != FaultKind::kOffline) {
    CutInFlight();
    if (Status s = host_.SetListening(false); !s.ok()) {
      return {{"ok", false}, {"error", s.message()}};
    }
    host_.Emit({{"offline", true}});
  } else if (old == FaultKind::kOffline && kind != FaultKind::kOffline) {
    if (!rebooting_) {
      if (Status s = host_.SetListening(true); !s.ok()) {
        return {{"ok", false}, {"error", s.message()}};
      }
    }
    host_.Emit({{"offline", false}});
  }
  return {{"ok", true}};
}

json Panel::Execute(const std::vector<std::string>& w) {
  if (w.empty()) return {{"ok", false}, {"error", "empty command"}};
  std::string text;
  for (size_t i = 0; i < w.size(); ++i) text += (i ? " " : "") + w[i];
  const std::string& verb = w[0];
  const size_t nargs = w.size() - 1;
  auto fail = [](const std::string& e) { return json{{"ok", false}, {"error", e}}; };
  auto usage = [&](const char* form) { return fail("\"" + text + "\": usage: " + form); };
  auto echo = [&] { host_.Emit({{"command", text}, {"source", "control"}}); };
  auto only_2n = [&]() -> std::optional<json> {
    if (two_n()) return std::nullopt;
    return fail(verb + ": not an Akuvox panel command (2N only)");
  };
  json reply = {{"ok", true}, {"command", text}};
  if (verb == "code") {
    if (nargs != 1 || !Digits(w[1], "*#", 32)) return usage("code DIGITS (0-9 * #, at most 32)");
    echo();
    reply["valid"] = CodeEntered(w[1])["valid"];
  } else if (verb == "card") {
    if (nargs < 1 || nargs > 2 || !AllOf(w[1], "", 32)) {
      return usage("card UID [uid|card] (letters and digits, at most 32)");
    }
    std::string field = o_.card_field;
    if (nargs == 2) {
      if (w[2] != "uid" && w[2] != "card") return usage("card UID [uid|card]");
      if (!two_n()) return fail("card: the field name is a 2N choice");
      field = w[2];
    }
    echo();
    reply["valid"] = CardEntered(w[1], field)["valid"];
  } else if (verb == "key") {
    if (auto e = only_2n()) return *e;
    if (nargs != 1 || !AllOf(w[1], "*#%", 8)) return usage("key K (e.g. 5, *, #, %1)");
    echo();
    AddEvent("KeyPressed", {{"key", w[1]}});
  } else if (verb == "call") {
    if (auto e = only_2n()) return *e;
    if (nargs < 1 || nargs > 2) return usage("call start [PEER] | call answer | call end");
    std::string state;
    if (w[1] == "start") {
      state = "ringing";
      ++call_session_;
    } else if (w[1] == "answer" && nargs == 1) {
      state = "connected";
    } else if (w[1] == "end" && nargs == 1) {
      state = "terminated";
    } else {
      return usage("call start [PEER] | call answer | call end");
    }
    echo();
    call_state_ = state == "terminated" ? "idle" : state;
    AddEvent("CallStateChanged", {{"direction", "outgoing"},
                                  {"state", state},
                                  {"peer", nargs == 2 ? w[2] : "sip:reception@lintel"},
                                  {"session", call_session_}});
  } else if (verb == "input") {
    if (auto e = only_2n()) return *e;
    if (nargs != 2 || !AllOf(w[1], "_-", 32) || (w[2] != "on" && w[2] != "off")) {
      return usage("input PORT on|off");
    }
    echo();
    const std::string port = Digits(w[1], "", 32) ? "input" + w[1] : w[1];
    AddEvent("InputChanged", {{"port", port}, {"state", w[2] == "on"}});
  } else if (verb == "door") {
    if (auto e = only_2n()) return *e;
    if (nargs != 1 || (w[1] != "open" && w[1] != "closed")) return usage("door open|closed");
    echo();
    Door(w[1] == "open");
  } else if (verb == "tamper") {
    if (nargs > 1 || (nargs == 1 && w[1] != "on" && w[1] != "off")) {
      return usage("tamper [on|off]");
    }
    const bool on = nargs == 0 || w[1] == "on";
    echo();
    tamper_ = on;
    if (two_n()) {
      AddEvent("TamperSwitchActivated", {{"state", on}});
    } else if (on) {
      AkuvoxEvent("tamper", {{"state", true}}, {});
    }
  } else if (verb == "reboot") {
    int64_t down = 0;
    if (nargs > 1) return usage("reboot [DOWN_MS]");
    if (nargs == 1) {
      auto v = ToInt(w[1], 0, 600'000);
      if (!v) return usage("reboot [DOWN_MS] (0..600000)");
      down = *v;
    }
    echo();
    Reboot(down);
  } else if (verb == "expire") {
    if (auto e = only_2n()) return *e;
    if (nargs != 0) return usage("expire");
    echo();
    reply["closed"] = channels_.size();
    while (!channels_.empty()) CloseChannel(channels_.begin()->first, "expire");
  } else if (verb == "switch") {
    if (auto e = only_2n()) return *e;
    static const std::set<std::string> kActions = {"on",     "off",  "trigger", "lock",
                                                   "unlock", "hold", "release"};
    auto n = nargs == 2 ? ToInt(w[1], 1, o_.switches) : std::nullopt;
    if (!n || !kActions.contains(w[2])) {
      return usage("switch N on|off|trigger|lock|unlock|hold|release");
    }
    echo();
    json r = SwitchAction(static_cast<int>(*n), w[2], std::nullopt, "control");
    if (!r.value("ok", false)) return fail(r.value("error", "refused"));
  } else if (verb == "fault") {
    const char* form = "fault garbage [N] | huge [N] | slow MS [N] | offline | off";
    if (nargs < 1) return usage(form);
    const std::string& kind = w[1];
    auto count_at = [&](size_t at) -> std::optional<int64_t> {
      if (nargs < at) return -1;
      return ToInt(w[at], 1, 1'000'000);
    };
    json r;
    if ((kind == "garbage" || kind == "huge") && nargs <= 2) {
      auto n = count_at(2);
      if (!n) return usage(form);
      echo();
      r = SetFault(kind == "garbage" ? FaultKind::kGarbage : FaultKind::kHuge, *n, 0);
    } else if (kind == "slow" && nargs >= 2 && nargs <= 3) {
      auto ms = ToInt(w[2], 1, 600'000);
      auto n = count_at(3);
      if (!ms || !n) return usage(form);
      echo();
      r = SetFault(FaultKind::kSlow, *n, *ms);
    } else if ((kind == "offline" || kind == "off") && nargs == 1) {
      echo();
      r = SetFault(kind == "offline" ? FaultKind::kOffline : FaultKind::kNone, -1, 0);
    } else {
      return usage(form);
    }
    if (!r.value("ok", false)) return r;
  } else {
    return fail("unknown command \"" + verb +
                "\"; one of: code, card, key, call, input, door, tamper, reboot, expire, switch, "
                "fault, advance, state, quit");
  }
  return reply;
}

json Panel::State() const {
  const char* kinds[] = {"none", "garbage", "huge", "slow", "offline"};
  json s = {{"family", two_n() ? "2n" : "akuvox"},
            {"offline", fault_ == FaultKind::kOffline},
            {"rebooting", rebooting_},
            {"fault",
             {{"kind", kinds[static_cast<int>(fault_)]},
              {"remaining", fault_remaining_ < 0 ? json(nullptr) : json(fault_remaining_)},
              {"slow_ms", slow_ms_}}},
            {"boots", boots_},
            {"up_time", UpTime()}};
  if (two_n()) {
    json sw = json::array();
    for (size_t i = 0; i < switches_.size(); ++i) {
      const Switch& x = switches_[i];
      sw.push_back(
          {{"switch", i + 1}, {"active", x.active}, {"locked", x.locked}, {"held", x.held}});
    }
    s["switches"] = sw;
    s["door"] = {
        {"open", door_open_}, {"unauthorized", door_unauthorized_}, {"too_long", door_too_long_}};
    s["tamper"] = tamper_;
    s["call"] = call_state_;
    s["next_event_id"] = next_event_id_;
    json ch = json::array();
    for (const auto& [id, c] : channels_) {
      ch.push_back({{"id", id},
                    {"duration", c.duration_s},
                    {"queued", c.queue.size()},
                    {"dropped", c.dropped},
                    {"pull_pending", c.pull.has_value()},
                    {"filter", c.filter}});
    }
    s["channels"] = ch;
  } else {
    json relays = json::array();
    for (size_t i = 0; i < switches_.size(); ++i) {
      relays.push_back({{"num", i + 1}, {"status", switches_[i].active ? 1 : 0}});
    }
    s["relays"] = relays;
    s["tamper"] = tamper_;
    s["action_urls"] = {{"sent", action_urls_sent_},
                        {"failed", action_urls_failed_},
                        {"pending", action_urls_pending_}};
  }
  s["auth"] = {{"scheme", AuthSchemeName(auth_.scheme())},
               {"failures", auth_failures_},
               {"stale", auth_stale_},
               {"challenges", auth_challenges_}};
  s["requests"] = requests_;
  s["by_path"] = by_path_;
  s["in_flight"] = in_flight_.size();
  return s;
}

}  // namespace lintel::panelsim
