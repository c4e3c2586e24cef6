#include "gateway/devices/panels.h"

#include <algorithm>
#include <span>
#include <utility>
#include <vector>

#include "drivers/intercom/action_url_listener.h"
#include "drivers/intercom/akuvox_panel.h"
#include "drivers/intercom/panel.h"
#include "drivers/intercom/twon_panel.h"
#include "gateway/base/log.h"
#include "rules/presented.h"

namespace lintel::devices {
namespace {

using nlohmann::json;
using std::chrono::nanoseconds;
constexpr std::string_view kLog = "panels";
constexpr int kLoggedPerMinute = 10;
constexpr int64_t kMinuteNs = 60'000'000'000;

// One running panel driver, whatever its family (the factory table's product).
class PanelDriver {
 public:
  virtual ~PanelDriver() = default;
  virtual lintel::Status Start() = 0;
  virtual void Stop() = 0;
  virtual Result<uint64_t> Trigger(int output, std::optional<std::chrono::seconds> hold) = 0;
  virtual intercom::PanelHealth Health() const = 0;
};

class TwoNDriver final : public PanelDriver {
 public:
  explicit TwoNDriver(std::unique_ptr<intercom::TwoNPanel> panel) : panel_(std::move(panel)) {}
  lintel::Status Start() override { return panel_->Start(); }
  void Stop() override { panel_->Stop(); }
  Result<uint64_t> Trigger(int output, std::optional<std::chrono::seconds> hold) override {
    return panel_->TriggerSwitch(output, hold);
  }
  intercom::PanelHealth Health() const override { return panel_->Health(); }

 private:
  std::unique_ptr<intercom::TwoNPanel> panel_;
};

class AkuvoxDriver final : public PanelDriver {
 public:
  explicit AkuvoxDriver(std::unique_ptr<intercom::AkuvoxPanel> panel) : panel_(std::move(panel)) {}
  lintel::Status Start() override { return panel_->Start(); }
  void Stop() override { panel_->Stop(); }
  Result<uint64_t> Trigger(int output, std::optional<std::chrono::seconds> hold) override {
    return panel_->TriggerRelay(output, hold.value_or(std::chrono::seconds(0)));
  }
  intercom::PanelHealth Health() const override { return panel_->Health(); }

 private:
  std::unique_ptr<intercom::AkuvoxPanel> panel_;
};

intercom::HttpConfig MakeHttp(const config::PanelConfig& c, const std::string& password) {
  intercom::HttpConfig h;
  h.base_url = c.url;
  h.auth = c.auth == config::PanelAuth::kBasic    ? intercom::HttpConfig::Auth::kBasic
           : c.auth == config::PanelAuth::kDigest ? intercom::HttpConfig::Auth::kDigest
                                                  : intercom::HttpConfig::Auth::kNone;
  h.username = c.user;
  h.password = password;
  h.ca_file = c.ca_file;
  h.pinned_sha256 = c.pinned_sha256;
  return h;
}

Result<std::unique_ptr<PanelDriver>> MakeTwoN(const config::PanelConfig& c,
                                              const std::string& password, const Clock& clock,
                                              intercom::PanelCallbacks callbacks) {
  intercom::TwoNConfig t;
  t.id = c.id;
  t.http = MakeHttp(c, password);
  auto made = intercom::MakeTwoNPanel(std::move(t), clock, std::move(callbacks));
  if (!made.ok()) return made.status();
  return std::unique_ptr<PanelDriver>(std::make_unique<TwoNDriver>(std::move(*made)));
}

Result<std::unique_ptr<PanelDriver>> MakeAkuvox(const config::PanelConfig& c,
                                                const std::string& password, const Clock& clock,
                                                intercom::PanelCallbacks callbacks) {
  intercom::AkuvoxConfig a;
  a.id = c.id;
  a.http = MakeHttp(c, password);
  auto made = intercom::MakeAkuvoxPanel(std::move(a), clock, std::move(callbacks));
  if (!made.ok()) return made.status();
  return std::unique_ptr<PanelDriver>(std::make_unique<AkuvoxDriver>(std::move(*made)));
}

// The factory table, one row per `panels[].type` (STYLE: explicit, no self-registration).
using PanelFactory = Result<std::unique_ptr<PanelDriver>> (*)(const config::PanelConfig&,
                                                              const std::string& password,
                                                              const Clock&,
                                                              intercom::PanelCallbacks);
struct PanelType {
  std::string_view type;
  PanelFactory make;
  bool action_urls;  // its codes and cards come through the ActionUrlListener
};
constexpr PanelType kPanelTypes[] = {
    {config::kPanelType2N, MakeTwoN, false},
    {config::kPanelTypeAkuvox, MakeAkuvox, true},
};

const PanelType* FindType(std::string_view type) {
  for (const PanelType& t : kPanelTypes) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

// A key that is part of a PIN (never journaled): a digit, * or #.
bool IsPinKey(std::string_view key) {
  return key.size() == 1 && ((key[0] >= '0' && key[0] <= '9') || key[0] == '*' || key[0] == '#');
}

json Info(const intercom::SystemInfo& i) {
  json out = json::object();
  if (!i.variant.empty()) out["variant"] = i.variant;
  if (!i.device_name.empty()) out["name"] = i.device_name;
  if (!i.sw_version.empty()) out["firmware"] = i.sw_version;
  if (!i.serial_number.empty()) out["serial"] = i.serial_number;
  return out;
}

}  // namespace

struct Panels::Panel {
  config::PanelConfig config;
  Secrets secrets;
  uint64_t generation = 0;  // posted callbacks of another generation are dropped
  std::unique_ptr<PanelDriver> driver;
  std::string error;        // why it is not running (a secret file, the driver's config)
  bool registered = false;  // with the listener

  std::optional<bool> online;
  intercom::PanelFault fault = intercom::PanelFault::kNone;
  std::string reason;
  std::string last_error;
  uint64_t errors = 0;

  uint64_t codes = 0;
  uint64_t cards = 0;
  uint64_t codes_ignored = 0;
  uint64_t granted = 0;
  uint64_t denied = 0;
  uint64_t keys = 0;
  uint64_t calls = 0;
  uint64_t door_events = 0;
  uint64_t restarts = 0;
  uint64_t action_url_events = 0;
  std::optional<bool> output_active;
  uint64_t unlocks_pulsed = 0;
  uint64_t unlocks_refused = 0;
  uint64_t unlocks_failed = 0;
  struct Unlock {
    core::Gateway::LockReport report;
    int attempts = 1;
  };
  std::map<uint64_t, Unlock> unlocks;  // by the driver's request id

  // Log lines of problems: at most kLoggedPerMinute a minute.
  int64_t window_start_ns = INT64_MIN / 2;
  int logged = 0;
  uint64_t suppressed = 0;
};

struct Panels::Listener {
  config::IntercomConfig config;
  int port = 0;  // the port asked for
  std::unique_ptr<intercom::ActionUrlListener> listener;
  std::string error;
};

Panels::Panels(EventLoop& loop, const Clock& clock, core::Gateway& gateway, PanelsOptions options)
    : loop_(loop), clock_(clock), gateway_(gateway), options_(options) {}

Panels::~Panels() {
  for (auto& [id, p] : panels_) StopPanel(*p);
  panels_.clear();
  if (listener_ && listener_->listener) listener_->listener->Stop();
  listener_.reset();
  self_.reset();
}

Panels::Panel* Panels::Find(std::string_view id) {
  auto it = panels_.find(id);
  return it == panels_.end() ? nullptr : it->second.get();
}

void Panels::Apply(const config::Config& config) {
  // What each wanted panel's secret files hold now (a refused file is that panel's error).
  struct Wanted {
    const config::PanelConfig* config;
    Secrets secrets;
    std::string error;
  };
  std::map<std::string, Wanted, std::less<>> wanted;
  for (const config::PanelConfig& c : config.panels) {
    Wanted w{&c, {}, {}};
    if (c.auth != config::PanelAuth::kNone) {
      Result<std::string> pw =
          config::ReadPanelSecretFile(c.password_file, config::PanelSecretKind::kPassword);
      if (pw.ok()) {
        w.secrets.password = std::move(*pw);
      } else {
        w.error = pw.status().message();
      }
    }
    if (c.action_url && w.error.empty()) {
      Result<std::string> secret = config::ReadPanelSecretFile(
          c.action_url->secret_file, config::PanelSecretKind::kActionUrlSecret);
      if (secret.ok()) {
        w.secrets.action_secret = std::move(*secret);
      } else {
        w.error = secret.status().message();
      }
    }
    wanted.emplace(c.id, std::move(w));
  }
  // Stop what is gone or changed (or could not start: it is tried again).
  for (auto it = panels_.begin(); it != panels_.end();) {
    Panel& p = *it->second;
    auto w = wanted.find(it->first);
    if (w != wanted.end() && *w->second.config == p.config && w->second.error.empty() &&
        p.error.empty() && w->second.secrets == p.secrets) {
      ++it;
      continue;
    }
    LogInfo(kLog, "panel " + p.config.id + ": stopped" +
                      (w == wanted.end() ? std::string() : std::string(" (settings changed)")));
    StopPanel(p);
    it = panels_.erase(it);
  }
  ApplyListener(config);
  // Start what is new or changed.
  for (auto& [id, w] : wanted) {
    if (panels_.count(id) != 0) {
      // Unchanged; the listener may be new (restarted): register it again.
      Panel& p = *panels_[id];
      if (p.config.action_url && !p.registered && p.driver) StartPanel(p);
      continue;
    }
    auto p = std::make_unique<Panel>();
    p->config = *w.config;
    p->secrets = std::move(w.secrets);
    p->error = w.error;
    Panel& panel = *p;
    panels_[id] = std::move(p);
    StartPanel(panel);
  }
}

void Panels::ApplyListener(const config::Config& config) {
  bool needed = std::any_of(config.panels.begin(), config.panels.end(),
                            [](const config::PanelConfig& p) { return p.action_url.has_value(); });
  if (listener_ && (!needed || listener_->config != config.intercom)) {
    for (auto& [id, p] : panels_) p->registered = false;
    if (listener_->listener) listener_->listener->Stop();
    LogInfo(kLog, "Action URL listener stopped");
    listener_.reset();
  }
  if (!needed || listener_) return;
  listener_ = std::make_unique<Listener>();
  listener_->config = config.intercom;
  intercom::ListenerConfig lc;
  lc.address = config.intercom.listen_address;
  lc.port = options_.listener_port_override >= 0 ? options_.listener_port_override
                                                 : config.intercom.listen_port;
  listener_->port = lc.port;
  // Refusals are counted by the listener (ListenerStatus); logged here at most 10 a minute.
  struct Limiter {
    Mutex mu;
    int64_t window = INT64_MIN / 2;
    int logged = 0;
  };
  auto limiter = std::make_shared<Limiter>();
  const Clock* clock = options_.driver_clock != nullptr ? options_.driver_clock : &clock_;
  auto on_refused = [limiter, clock](intercom::Refusal reason, const std::string& source,
                                     const std::string& panel_id) {
    int64_t now =
        std::chrono::duration_cast<nanoseconds>(clock->Monotonic().time_since_epoch()).count();
    {
      MutexLock lock(limiter->mu);
      if (now - limiter->window >= kMinuteNs) {
        limiter->window = now;
        limiter->logged = 0;
      }
      if (limiter->logged >= kLoggedPerMinute) return;
      ++limiter->logged;
    }
    LogWarning(kLog, "Action URL request from " + source + " refused (" +
                         std::string(intercom::RefusalName(reason)) + ")" +
                         (panel_id.empty() ? "" : " for panel " + panel_id));
  };
  listener_->listener = std::make_unique<intercom::ActionUrlListener>(lc, on_refused);
  lintel::Status started = listener_->listener->Start();
  if (!started.ok()) {
    listener_->error = started.message();
    LogError(kLog, "Action URL listener: " + started.ToString() +
                       " (Akuvox panels' codes and cards are not received; fix intercom.listen "
                       "and reload)");
    listener_->listener.reset();
    return;
  }
  LogInfo(kLog, "Action URL listener on " + lc.address + " port " +
                    std::to_string(listener_->listener->port()));
}

void Panels::StartPanel(Panel& panel) {
  const config::PanelConfig& c = panel.config;
  const std::string id = c.id;
  if (panel.generation == 0) panel.generation = next_generation_++;
  const uint64_t gen = panel.generation;
  std::weak_ptr<Panels*> weak = self_;
  EventLoop* loop = &loop_;
  // Runs `fn` on the loop if Panels and this generation of the panel are still there.
  auto post = [weak, loop, id, gen](std::function<void(Panels&, Panel&)> fn) {
    loop->Post([weak, id, gen, fn = std::move(fn)] {
      std::shared_ptr<Panels*> s = weak.lock();
      if (!s) return;
      Panel* p = (*s)->Find(id);
      if (p == nullptr || p->generation != gen) return;
      fn(**s, *p);
    });
  };

  // Problems worth a log line (rate-limited per panel).
  auto note = [this](Panel& p, const std::string& what) {
    int64_t now =
        std::chrono::duration_cast<nanoseconds>(clock_.Monotonic().time_since_epoch()).count();
    if (now - p.window_start_ns >= kMinuteNs) {
      if (p.suppressed > 0) {
        LogWarning(kLog, "panel " + p.config.id + ": " + std::to_string(p.suppressed) +
                             " more problems left out of the log in the last minute");
      }
      p.window_start_ns = now;
      p.logged = 0;
      p.suppressed = 0;
    }
    if (p.logged < kLoggedPerMinute) {
      ++p.logged;
      LogWarning(kLog, "panel " + p.config.id + ": " + what);
    } else {
      ++p.suppressed;
    }
  };

  auto journal = [this](json e) {
    lintel::Status st = gateway_.JournalNow(std::move(e));
    if (!st.ok()) LogWarning(kLog, "journal: " + st.ToString());
  };

  // An event of the panel, on the loop.
  auto on_event = [this, journal](Panel& p, const intercom::PanelEvent& e) {
    const config::PanelConfig& pc = p.config;
    auto base = [&pc](std::string_view type) {
      return json{{"type", type}, {"door", pc.door}, {"panel", pc.id}, {"source", "panel"}};
    };
    auto decide = [this, &p](const rules::Presented& presented) {
      rules::Request request{p.config.door, p.config.id, presented};
      gateway_.Admit(request, "panel",
                     [&p](const rules::Decision& d) { (d.granted ? p.granted : p.denied)++; });
    };
    switch (e.kind) {
      case intercom::EventKind::kCode:
        ++p.codes;
        if (!pc.keypad) {
          ++p.codes_ignored;  // keypad: false
          return;
        }
        decide(rules::PinPresented(e.code));
        return;
      case intercom::EventKind::kCard:
        ++p.cards;
        decide(rules::UidPresented(e.card_uid));
        return;
      case intercom::EventKind::kKey: {
        ++p.keys;
        if (IsPinKey(e.key)) return;  // part of a PIN: never journaled
        ++p.calls;
        json j = base("intercom.call");
        j["state"] = "button";
        j["button"] = e.key;
        journal(std::move(j));
        return;
      }
      case intercom::EventKind::kCall: {
        ++p.calls;
        json j = base("intercom.call");
        j["state"] = e.call_state;
        if (!e.call_direction.empty()) j["direction"] = e.call_direction;
        journal(std::move(j));
        return;
      }
      case intercom::EventKind::kDoorState:
        ++p.door_events;
        if (!e.active) {
          LogWarning(kLog, "panel " + pc.id + ": DoorStateChanged with an unknown state");
          return;
        }
        journal(base(*e.active ? "door.opened" : "door.closed"));
        return;
      case intercom::EventKind::kUnauthorizedOpen:
        ++p.door_events;
        LogWarning(kLog, "door " + pc.door + ": door.forced (panel " + pc.id + ")");
        journal(base("door.forced"));
        return;
      case intercom::EventKind::kOpenTooLong:
        ++p.door_events;
        LogWarning(kLog, "door " + pc.door + ": door.held_open (panel " + pc.id + ")");
        journal(base("door.held_open"));
        return;
      case intercom::EventKind::kTamper: {
        ++p.door_events;
        LogWarning(kLog, "panel " + pc.id + ": tamper switch activated");
        json j = base("tamper");
        j["device"] = pc.id;
        j["active"] = true;
        journal(std::move(j));
        return;
      }
      case intercom::EventKind::kInput: {
        json j = base("panel.input");
        j["port"] = e.port;
        j["state"] = e.state;
        if (e.active) j["active"] = *e.active;
        journal(std::move(j));
        return;
      }
      case intercom::EventKind::kSwitchState:
        if (e.active) p.output_active = *e.active;
        return;
      case intercom::EventKind::kDeviceStartup:
        ++p.restarts;
        LogInfo(kLog, "panel " + pc.id + " restarted (DeviceState startup): events resubscribed");
        return;
      case intercom::EventKind::kOther:
        return;  // counted by the driver
    }
  };

  intercom::PanelCallbacks callbacks;
  callbacks.on_event = [post, on_event](const intercom::PanelEvent& e) {
    post([on_event, e](Panels&, Panel& p) { on_event(p, e); });
  };
  callbacks.on_online = [post, journal](bool online, intercom::PanelFault fault,
                                        const std::string& reason) {
    post([journal, online, fault, reason](Panels&, Panel& p) {
      p.fault = fault;
      p.reason = reason;
      if (p.online == online) return;
      p.online = online;
      json e = {{"type", online ? "device.online" : "device.offline"},
                {"device", p.config.id},
                {"door", p.config.door}};
      if (!online) {
        e["fault"] = intercom::PanelFaultName(fault);
        e["reason"] = reason;
        LogError(kLog, "panel " + p.config.id + " (door " + p.config.door + ") offline: " + reason);
      } else {
        LogInfo(kLog, "panel " + p.config.id + " (door " + p.config.door + ") online");
      }
      journal(std::move(e));
    });
  };
  callbacks.on_error = [post, note](const lintel::Status& error) {
    post([note, error](Panels&, Panel& p) {
      ++p.errors;
      p.last_error = error.ToString();
      note(p, p.last_error);
    });
  };
  callbacks.on_command = [post, journal](const intercom::CommandResult& r) {
    post([journal, r](Panels&, Panel& p) {
      auto it = p.unlocks.find(r.request_id);
      if (it == p.unlocks.end()) return;
      Panel::Unlock u = std::move(it->second);
      p.unlocks.erase(it);
      // No answer on the command connection: most often a keep-alive connection the panel closed
      // (it restarted). Sent again once, at once: a second pulse of a monostable switch is
      // harmless, a door that stays shut is not.
      if (r.status.code() == StatusCode::kUnavailable && u.attempts == 1 && p.driver) {
        std::optional<std::chrono::seconds> hold;
        if (p.config.unlock_seconds) hold = std::chrono::seconds(*p.config.unlock_seconds);
        Result<uint64_t> again = p.driver->Trigger(p.config.output, hold);
        if (again.ok()) {
          ++u.attempts;
          p.unlocks[*again] = std::move(u);
          return;
        }
      }
      core::Gateway::LockReport report = std::move(u.report);
      std::string word = "pulsed";
      if (r.status.ok()) {
        ++p.unlocks_pulsed;
      } else if (r.status.code() == StatusCode::kFailedPrecondition ||
                 r.status.code() == StatusCode::kInvalidArgument) {
        word = "unlock_failed";  // the panel answered and refused (or garbled) it
        ++p.unlocks_refused;
      } else {
        word = "failed";  // no answer, or not sent
        ++p.unlocks_failed;
      }
      if (!r.status.ok()) {
        p.last_error = r.status.ToString();
        LogWarning(kLog, "panel " + p.config.id + " (door " + p.config.door + "): unlock " + word +
                             ": " + r.status.ToString());
        journal({{"type", "panel.unlock_failed"},
                 {"panel", p.config.id},
                 {"door", p.config.door},
                 {"output", r.output},
                 {"lock", word},
                 {"error", r.status.message()}});
      }
      if (report) report(word);
    });
  };

  // The door's actuator, whether or not the driver starts (a panel that is not running fails).
  gateway_.SetReportingActuator(
      c.door, [this, id](std::chrono::milliseconds, core::Gateway::LockReport report) {
        return Actuate(id, std::move(report));
      });

  if (!panel.error.empty()) {
    LogError(kLog, "panel " + id + " (door " + c.door + ") not started: " + panel.error);
    return;
  }
  if (!panel.driver) {
    const PanelType* type = FindType(c.type);
    if (type == nullptr) {  // the config loader only accepts types from the table
      panel.error = "no driver for type " + c.type;
      LogError(kLog, "panel " + id + ": " + panel.error);
      return;
    }
    const Clock& driver_clock = options_.driver_clock != nullptr ? *options_.driver_clock : clock_;
    Result<std::unique_ptr<PanelDriver>> made =
        type->make(c, panel.secrets.password, driver_clock, callbacks);
    lintel::Status started = made.status();
    if (made.ok()) started = (*made)->Start();
    if (!started.ok()) {
      panel.error = started.message();
      LogError(kLog, "panel " + id + " (door " + c.door + ") not started: " + started.ToString());
      return;
    }
    panel.driver = std::move(*made);
    LogInfo(kLog, "panel " + id + " (" + c.type + " " + c.url + ", door " + c.door + ") started");
  }
  // Akuvox: codes and cards arrive at the listener.
  if (c.action_url && !panel.registered && listener_ && listener_->listener) {
    intercom::ActionUrlPanel a;
    a.panel_id = id;
    a.secret = panel.secrets.action_secret;
    a.address = c.action_url->panel_address;
    a.on_event = callbacks.on_event;
    lintel::Status added = listener_->listener->AddPanel(std::move(a));
    if (added.ok()) {
      panel.registered = true;
    } else {
      panel.last_error = added.ToString();
      LogError(kLog, "panel " + id +
                         ": cannot register with the Action URL listener: " + added.ToString());
    }
  }
}

void Panels::StopPanel(Panel& panel) {
  gateway_.SetReportingActuator(panel.config.door, nullptr);
  if (panel.registered && listener_ && listener_->listener) {
    listener_->listener->RemovePanel(panel.config.id);
  }
  panel.registered = false;
  if (panel.driver) panel.driver->Stop();  // joins its threads; later posts are dropped
  panel.driver.reset();
  panel.generation = 0;
  std::map<uint64_t, Panel::Unlock> unlocks = std::move(panel.unlocks);
  panel.unlocks.clear();
  for (auto& [rid, u] : unlocks) {
    if (u.report) u.report("failed");
  }
}

lintel::Status Panels::Actuate(const std::string& id, core::Gateway::LockReport report) {
  Panel* p = Find(id);
  if (p == nullptr) return lintel::Status::FailedPrecondition("panel " + id + " is not running");
  if (!p->driver) {
    ++p->unlocks_failed;
    return lintel::Status::FailedPrecondition("panel " + id + " is not running: " + p->error);
  }
  if (p->online == false) {
    ++p->unlocks_failed;
    return lintel::Status::Unavailable("panel " + id + " is offline: " + p->reason);
  }
  std::optional<std::chrono::seconds> hold;
  if (p->config.unlock_seconds) hold = std::chrono::seconds(*p->config.unlock_seconds);
  Result<uint64_t> rid = p->driver->Trigger(p->config.output, hold);
  if (!rid.ok()) {
    ++p->unlocks_failed;
    return rid.status();
  }
  p->unlocks[*rid] = Panel::Unlock{std::move(report), 1};
  return lintel::Status::Ok();
}

json Panels::Status() const {
  json out = json::object();
  for (const auto& [id, pp] : panels_) {
    const Panel& p = *pp;
    const config::PanelConfig& c = p.config;
    json s = {{"type", c.type},
              {"door", c.door},
              {"url", c.url},
              {"auth", config::PanelAuthName(c.auth)},
              {(c.type == config::kPanelType2N ? "switch" : "relay"), c.output},
              {"state", p.driver ? "running" : "failed"}};
    if (!p.driver) s["error"] = p.error;
    s["online"] = p.online ? json(*p.online) : json(nullptr);
    if (p.online == false) {
      s["fault"] = intercom::PanelFaultName(p.fault);
      s["reason"] = p.reason;
    }
    json counters = {{"codes", p.codes},
                     {"cards", p.cards},
                     {"granted", p.granted},
                     {"denied", p.denied},
                     {"keys", p.keys},
                     {"calls", p.calls},
                     {"door_events", p.door_events},
                     {"restarts", p.restarts},
                     {"unlocks_pulsed", p.unlocks_pulsed},
                     {"unlocks_refused", p.unlocks_refused},
                     {"unlocks_failed", p.unlocks_failed},
                     {"errors", p.errors}};
    if (!c.keypad) counters["codes_ignored"] = p.codes_ignored;
    if (p.driver) {
      intercom::PanelHealth h = p.driver->Health();
      counters["events"] = h.events;
      counters["unknown_events"] = h.unknown_events;
      counters["rejected_events"] = h.rejected_events;
      counters["rejected_replies"] = h.rejected_replies;
      counters["duplicates"] = h.duplicates;
      counters["failures"] = h.failures;
      counters["commands_ok"] = h.commands_ok;
      counters["commands_failed"] = h.commands_failed;
      if (c.type == config::kPanelType2N) {
        counters["channel"] = h.channel;
        counters["resubscribes"] = h.resubscribes;
      }
      json info = Info(h.info);
      if (!info.empty()) s["info"] = info;
      if (!h.last_error.empty() && p.last_error.empty()) s["last_error"] = h.last_error;
    }
    if (!p.last_error.empty()) s["last_error"] = p.last_error;
    if (p.output_active) s["output_active"] = *p.output_active;
    if (c.action_url) s["action_urls"] = p.registered ? "registered" : "not received";
    s["counters"] = std::move(counters);
    out[id] = std::move(s);
  }
  return out;
}

json Panels::ListenerStatus() const {
  if (!listener_) return nullptr;
  const config::IntercomConfig& c = listener_->config;
  json out = {{"listen", c.listen_address + ":" + std::to_string(c.listen_port)}};
  if (!listener_->listener) {
    out["state"] = "failed";
    out["error"] = listener_->error;
    return out;
  }
  intercom::ListenerStats st = listener_->listener->Stats();
  out["state"] = "listening";
  out["port"] = listener_->listener->port();
  out["accepted"] = st.accepted;
  out["refused"] = {{"method", st.method},
                    {"oversized", st.oversized},
                    {"not_found", st.not_found},
                    {"malformed", st.malformed},
                    {"unknown_panel", st.unknown_panel},
                    {"wrong_source", st.wrong_source},
                    {"wrong_secret", st.wrong_secret},
                    {"unknown_event", st.unknown_event}};
  out["refused_total"] = st.refused();
  return out;
}

int Panels::ListenerPort() const {
  return listener_ && listener_->listener ? listener_->listener->port() : 0;
}

}  // namespace lintel::devices
