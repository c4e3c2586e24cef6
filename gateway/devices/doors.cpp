#include "gateway/devices/doors.h"

#include <algorithm>

#include "gateway/base/log.h"
#include "gateway/base/time.h"

namespace lintel::devices {

namespace {

using nlohmann::json;
constexpr std::string_view kComponent = "doors";
constexpr std::chrono::milliseconds kModeRefresh{250};

rules::DoorSettings SettingsOf(const config::DoorConfig& d) {
  rules::DoorSettings s;
  s.unlock_ms = d.unlock_ms;
  s.rex_unlock_ms = d.unlock_ms;
  s.held_open_ms = int64_t{d.held_open_s} * 1000;
  s.held_warning_ms = int64_t{d.io->held_warning_s} * 1000;
  s.unlock_on_rex = d.io->unlock_on_rex;
  s.relock_on_close = d.io->relock_on_close;
  s.fire_egress = d.io->fire_egress;
  s.has_contact = !d.io->contact.empty();
  return s;
}

std::pair<std::string, std::string> Split(const std::string& ref) {
  size_t dot = ref.rfind('.');
  return {ref.substr(0, dot), ref.substr(dot + 1)};
}

}  // namespace

DoorIo::DoorIo(EventLoop& loop, const Clock& clock, core::Gateway& gateway, MakeModule make)
    : loop_(loop), clock_(clock), gateway_(gateway), make_(std::move(make)) {}

DoorIo::~DoorIo() { Stop(); }

int64_t DoorIo::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock_.Monotonic().time_since_epoch())
      .count();
}

void DoorIo::Stop() {
  for (auto& [id, door] : doors_) {
    gateway_.SetActuator(id, nullptr);
    // Leave every lock locked (a maglock's point is inverted: "not released" holds it).
    auto [module, point] = Split(door.io.lock);
    auto m = modules_.find(module);
    if (m != modules_.end() && door.lock_output != false) m->second->SetOutput(point, false);
  }
  if (timer_) loop_.CancelTimer(*timer_);
  if (modes_timer_) loop_.CancelTimer(*modes_timer_);
  for (const auto& [key, t] : pulse_timers_) loop_.CancelTimer(t);
  timer_.reset();
  modes_timer_.reset();
  pulse_timers_.clear();
  doors_.clear();
  routes_.clear();
  modules_.clear();  // joins module threads after their last writes
}

void DoorIo::Apply(const config::Config& config) {
  std::vector<config::DoorConfig> doors;
  for (const config::DoorConfig& d : config.doors) {
    if (d.io) doors.push_back(d);
  }
  bool same = config.io_modules == module_configs_ && config.io == site_io_ &&
              config.automations == automations_ && doors.size() == door_configs_.size() &&
              std::equal(doors.begin(), doors.end(), door_configs_.begin(),
                         [](const config::DoorConfig& a, const config::DoorConfig& b) {
                           return a.id == b.id && a.io == b.io && a.unlock_ms == b.unlock_ms &&
                                  a.held_open_s == b.held_open_s;
                         });
  if (same && (!modules_.empty() || config.io_modules.empty())) return;
  if (!modules_.empty()) LogInfo(kComponent, "door I/O settings changed: restarting modules");
  Stop();
  module_configs_ = config.io_modules;
  door_configs_ = doors;
  site_io_ = config.io;
  automations_ = config.automations;
  fire_ = false;

  for (const config::IoModuleConfig& mc : module_configs_) {
    IoEvents ev;
    std::string id = mc.id;
    ev.on_input = [this, id](std::string_view point, bool active, int64_t) {
      OnInput(id, point, active);
    };
    ev.on_online = [this, id](bool online, std::string reason) { OnOnline(id, online, reason); };
    ev.on_error = [id](const lintel::Status& s) {
      LogWarning(kComponent, "io module " + id + ": " + s.ToString());
    };
    std::unique_ptr<IoModule> m;
    if (make_) {
      m = make_(mc, std::move(ev));
    } else {
      for (const IoModuleType& t : IoModuleTypes()) {
        if (t.type == mc.type && t.make != nullptr) m = t.make({loop_, clock_}, mc, std::move(ev));
      }
    }
    if (m == nullptr) {
      LogError(kComponent, "io module " + mc.id + ": no driver for type " + mc.type);
      continue;
    }
    modules_[mc.id] = std::move(m);
  }

  for (const config::DoorConfig& dc : door_configs_) {
    Door& door = doors_
                     .emplace(dc.id, Door{dc.id, *dc.io, rules::DoorMachine(SettingsOf(dc)),
                                          std::nullopt, std::nullopt})
                     .first->second;
    if (!door.io.contact.empty())
      routes_[door.io.contact].push_back({Route::Kind::kContact, dc.id});
    if (!door.io.rex.empty()) routes_[door.io.rex].push_back({Route::Kind::kRex, dc.id});
    std::string lock = door.io.lock;
    std::string id = dc.id;
    gateway_.SetActuator(id, [this, id, lock](std::chrono::milliseconds ms) -> lintel::Status {
      auto [module, point] = Split(lock);
      auto m = modules_.find(module);
      if (m == modules_.end() || !m->second->online()) {
        return lintel::Status::Unavailable("io module " + module + " of door " + id +
                                           " is offline");
      }
      Door& d = doors_.at(id);
      After(d, d.machine.Unlock(NowMs(), ms.count()));
      return lintel::Status::Ok();
    });
    After(door, {});  // the lock starts locked, whatever the module held before
  }
  if (!site_io_.fire_release.empty())
    routes_[site_io_.fire_release].push_back({Route::Kind::kFire, ""});
  if (!site_io_.tamper.empty()) routes_[site_io_.tamper].push_back({Route::Kind::kTamper, ""});
  if (!doors_.empty()) {
    RefreshModes();
    modes_timer_ = loop_.AddPeriodic(kModeRefresh, [this] { RefreshModes(); });
  }
}

void DoorIo::OnInput(const std::string& module, std::string_view point, bool active) {
  auto it = routes_.find(module + "." + std::string(point));
  if (it == routes_.end()) return;
  int64_t now = NowMs();
  for (const Route& r : it->second) {
    switch (r.kind) {
      case Route::Kind::kContact: {
        Door& d = doors_.at(r.door);
        After(d, d.machine.Contact(active, now));
        break;
      }
      case Route::Kind::kRex: {
        if (!active) break;  // the press, not the release
        Door& d = doors_.at(r.door);
        After(d, d.machine.Rex(now));
        break;
      }
      case Route::Kind::kFire: {
        if (active == fire_) break;
        fire_ = active;
        if (active) {
          LogWarning(kComponent, "fire release active: egress doors unlocked");
        } else {
          LogInfo(kComponent, "fire release cleared: doors back to normal");
        }
        Emit({{"type", active ? "fire.release" : "fire.cleared"}});
        for (auto& [id, d] : doors_) After(d, d.machine.Fire(active, now));
        break;
      }
      case Route::Kind::kTamper:
        Emit({{"type", "tamper"}, {"active", active}, {"device", module}});
        break;
    }
  }
}

void DoorIo::OnOnline(const std::string& module, bool online, const std::string& reason) {
  if (online) {
    LogInfo(kComponent, "io module " + module + " online");
  } else {
    LogError(kComponent, "io module " + module + " offline: " + reason);
  }
  json e = {{"type", online ? "device.online" : "device.offline"}, {"device", module}};
  if (!online) e["reason"] = reason;
  Emit(std::move(e));
}

void DoorIo::After(Door& door, const std::vector<rules::DoorEvent>& events) {
  bool released = door.machine.lock_released();
  if (door.lock_output != released) {
    door.lock_output = released;
    auto [module, point] = Split(door.io.lock);
    auto m = modules_.find(module);
    if (m != modules_.end()) m->second->SetOutput(point, released);
  }
  for (const rules::DoorEvent& e : events) {
    json j = {{"type", e.type}, {"door", door.id}};
    if (e.type == "door.closed" && e.was_held) j["was_held"] = true;
    if (e.type == "door.forced" || e.type == "door.held_open") {
      LogWarning(kComponent, "door " + door.id + ": " + e.type);
    }
    Emit(std::move(j));
  }
  ArmTimer();
}

void DoorIo::Emit(json event) {
  ++events_;
  std::string type = event["type"].get<std::string>();
  std::string door = event.contains("door") ? event["door"].get<std::string>() : "";
  lintel::Status st = gateway_.JournalNow(std::move(event));
  if (!st.ok()) LogError(kComponent, "journal: " + st.ToString());
  RunAutomations(type, door);
}

void DoorIo::RunAutomations(const std::string& type, const std::string& door) {
  if (automations_.empty()) return;
  rules::AutomationFacts facts;
  facts.door_mode = [this](std::string_view d) {
    auto it = doors_.find(d);
    if (it != doors_.end()) return it->second.machine.mode();
    return gateway_.engine().LocalDoorMode(d).value_or(rules::DoorModeKind::kNormal);
  };
  facts.schedule_open = [this](std::string_view s) -> std::optional<bool> {
    const rules::Index& x = *gateway_.engine().index();
    for (uint32_t i = 0; i < x.schedules().size(); ++i) {
      if (x.str(x.schedules()[i].id) == s) return x.ScheduleOpen(i, clock_.Wall());
    }
    return std::nullopt;
  };
  for (const rules::Automation* a : rules::MatchAutomations(automations_, type, door, facts)) {
    ++automation_runs_;
    LogInfo(kComponent,
            "automation " + a->id + " on " + type + (door.empty() ? "" : " at " + door));
    for (const rules::AutomationAction& act : a->actions) {
      using Kind = rules::AutomationAction::Kind;
      switch (act.kind) {
        case Kind::kOutputOn:
        case Kind::kOutputOff:
          SetOutput(act.target, act.kind == Kind::kOutputOn);
          break;
        case Kind::kOutputPulse: {
          SetOutput(act.target, true);
          std::string target = act.target;
          uint64_t key = ++pulse_seq_;
          pulse_timers_[key] =
              loop_.AddTimer(std::chrono::milliseconds(act.duration_ms), [this, target, key] {
                pulse_timers_.erase(key);
                SetOutput(target, false);
              });
          break;
        }
        case Kind::kAlarm: {
          json e = {{"type", "alarm"}, {"alarm", act.target}, {"automation", a->id}};
          if (!door.empty()) e["door"] = door;
          // Journaled, never matched again: automations cannot loop.
          lintel::Status st = gateway_.JournalNow(std::move(e));
          if (!st.ok()) LogError(kComponent, "journal: " + st.ToString());
          break;
        }
        case Kind::kSetDoorMode: {
          std::string target = act.target.empty() ? door : act.target;
          if (target.empty()) break;
          gateway_.engine().SetLocalDoorMode(target, act.mode);
          lintel::Status st = gateway_.JournalNow({{"type", "door.mode"},
                                                   {"door", target},
                                                   {"mode", rules::DoorModeName(act.mode)},
                                                   {"automation", a->id}});
          if (!st.ok()) LogError(kComponent, "journal: " + st.ToString());
          RefreshModes();
          break;
        }
      }
    }
  }
}

void DoorIo::SetOutput(const std::string& ref, bool active) {
  auto [module, point] = Split(ref);
  auto m = modules_.find(module);
  if (m != modules_.end()) m->second->SetOutput(point, active);
}

void DoorIo::RefreshModes() {
  const rules::Engine& engine = gateway_.engine();
  const rules::Index& x = *engine.index();
  int64_t t = ToUnix(clock_.Wall());
  for (auto& [id, door] : doors_) {
    rules::DoorModeKind cloud = rules::DoorModeKind::kNormal;
    uint32_t i = x.FindDoor(id);
    if (i != rules::kNone && t < x.doors()[i].mode_until) cloud = x.doors()[i].mode;
    if (door.cloud_mode && *door.cloud_mode != cloud) {
      gateway_.engine().SetLocalDoorMode(id, std::nullopt);  // the cloud's change ends a local one
    }
    door.cloud_mode = cloud;
    rules::DoorModeKind mode = gateway_.engine().LocalDoorMode(id).value_or(cloud);
    if (mode != door.machine.mode()) {
      LogInfo(kComponent, "door " + id + ": mode " + std::string(rules::DoorModeName(mode)));
      After(door, door.machine.SetMode(mode, NowMs()));
    }
  }
}

void DoorIo::ArmTimer() {
  std::optional<int64_t> next;
  for (const auto& [id, door] : doors_) {
    if (std::optional<int64_t> d = door.machine.Deadline()) next = next ? std::min(*next, *d) : *d;
  }
  if (timer_) loop_.CancelTimer(*timer_);
  timer_.reset();
  if (next) {
    timer_ =
        loop_.AddTimer(std::chrono::milliseconds(std::max<int64_t>(*next - NowMs(), 0)), [this] {
          timer_.reset();
          OnTimer();
        });
  }
}

void DoorIo::OnTimer() {
  int64_t now = NowMs();
  for (auto& [id, door] : doors_) After(door, door.machine.Tick(now));
  ArmTimer();
}

json DoorIo::Status() const {
  json modules = json::object();
  for (const auto& [id, m] : modules_) modules[id] = m->Status();
  json doors = json::object();
  for (const auto& [id, d] : doors_) {
    doors[id] = {{"lock", d.machine.lock_released() ? "released" : "locked"},
                 {"open", d.machine.open()},
                 {"mode", rules::DoorModeName(d.machine.mode())},
                 {"held_open", d.machine.held()}};
  }
  return {{"modules", modules},
          {"doors", doors},
          {"fire_release", fire_},
          {"events", events_},
          {"automation_runs", automation_runs_}};
}

}  // namespace lintel::devices
