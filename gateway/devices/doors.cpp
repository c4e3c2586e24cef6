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

constexpr std::pair<IoEventType, std::string_view> kIoEventNames[] = {
    {IoEventType::kDeviceOnline, "device.online"},
    {IoEventType::kDeviceOffline, "device.offline"},
    {IoEventType::kDeviceFault, "device.fault"},
    {IoEventType::kDeviceFaultCleared, "device.fault_cleared"},
    {IoEventType::kTamper, "tamper"},
    {IoEventType::kFireRelease, "fire.release"},
    {IoEventType::kFireCleared, "fire.cleared"},
    {IoEventType::kAlarm, "alarm"},
    {IoEventType::kDoorMode, "door.mode"},
};

// The journal's words for a grant's lock outcome (core::Gateway::Admit's "lock").
constexpr std::string_view kLockPulsed = "pulsed";
constexpr std::string_view kLockUnlockFailed = "unlock_failed";

}  // namespace

std::string_view IoEventName(IoEventType type) {
  for (const auto& [t, name] : kIoEventNames) {
    if (t == type) return name;
  }
  return "device.unknown";
}

json DoorIo::Event(IoEventType type) { return {{"type", IoEventName(type)}}; }

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
    gateway_.SetReportingActuator(id, nullptr);
    ResolveUnlocks(door, false);  // grants still waiting are journaled with what is known
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
  lock_points_.clear();
  tamper_.clear();
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
    ev.on_output = [this, id](std::string_view point, const OutputEvent& e) {
      OnOutput(id, point, e);
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
    lock_points_[lock] = id;
    gateway_.SetReportingActuator(
        id,
        [this, id, lock](std::chrono::milliseconds ms,
                         core::Gateway::LockReport report) -> lintel::Status {
          auto [module, point] = Split(lock);
          auto m = modules_.find(module);
          if (m == modules_.end() || !m->second->online()) {
            return lintel::Status::Unavailable("io module " + module + " of door " + id +
                                               " is offline");
          }
          Door& d = doors_.at(id);
          const bool was_released = d.machine.lock_released();
          d.unlock_reports.push_back(std::move(report));
          After(d, d.machine.Unlock(NowMs(), ms.count()));
          // Already released and read back so (a running pulse, an unlocked mode): nothing to wait
          // for. Else the module's reports answer it (OnOutput), or the pulse's end does (After).
          if (was_released && d.lock_read_back == true) ResolveUnlocks(d, true);
          if (!d.machine.lock_released()) ResolveUnlocks(d, false);  // locked down: never released
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
        Door& d = doors_.at(r.door);
        d.rex = active;
        if (!active) break;  // the press, not the release
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
        Emit(Event(active ? IoEventType::kFireRelease : IoEventType::kFireCleared));
        for (auto& [id, d] : doors_) After(d, d.machine.Fire(active, now));
        break;
      }
      case Route::Kind::kTamper: {
        // Changes only: a module reports every input again after each (re)connect. The first
        // reading after start is the baseline, journaled only when it is active.
        const std::string key = module + "." + std::string(point);
        auto seen = tamper_.find(key);
        const bool first = seen == tamper_.end();
        if (first ? !active : seen->second == active) {
          tamper_[key] = active;
          break;
        }
        tamper_[key] = active;
        json e = Event(IoEventType::kTamper);
        e["active"] = active;
        e["device"] = module;
        Emit(std::move(e));
        break;
      }
    }
  }
}

void DoorIo::OnOnline(const std::string& module, bool online, const std::string& reason) {
  if (online) {
    LogInfo(kComponent, "io module " + module + " online");
  } else {
    LogError(kComponent, "io module " + module + " offline: " + reason);
  }
  json e = Event(online ? IoEventType::kDeviceOnline : IoEventType::kDeviceOffline);
  e["device"] = module;
  if (!online) e["reason"] = reason;
  if (!online) {
    // What the module's locks are is unknown now; grants waiting for it are answered.
    for (auto& [id, door] : doors_) {
      if (Split(door.io.lock).first != module) continue;
      door.lock_read_back.reset();
      ResolveUnlocks(door, false);
    }
  }
  Emit(std::move(e));
}

void DoorIo::OnOutput(const std::string& module, std::string_view point, const OutputEvent& ev) {
  const std::string key = module + "." + std::string(point);
  Door* door = nullptr;
  if (auto it = lock_points_.find(key); it != lock_points_.end()) {
    auto d = doors_.find(it->second);
    if (d != doors_.end()) door = &d->second;
  }
  switch (ev.kind) {
    case OutputEvent::Kind::kWritten:
      if (door != nullptr && ev.value && !door->unlock_reports.empty()) {
        door->unlock_acked = true;
        door->read_back_after_ack = false;
      }
      break;
    case OutputEvent::Kind::kWriteFailed:
      break;  // the module re-asserts; the read-back or the pulse's end tells the outcome
    case OutputEvent::Kind::kReadBack:
      if (door != nullptr) {
        door->lock_read_back = ev.value;
        if (door->unlock_acked) door->read_back_after_ack = true;
        if (ev.value) ResolveUnlocks(*door, true);
      }
      break;
    case OutputEvent::Kind::kFault:
    case OutputEvent::Kind::kFaultCleared: {
      const bool fault = ev.kind == OutputEvent::Kind::kFault;
      json e = Event(fault ? IoEventType::kDeviceFault : IoEventType::kDeviceFaultCleared);
      e["device"] = module;
      e["point"] = point;
      if (door != nullptr) {
        door->lock_fault = fault;
        e["door"] = door->id;
      }
      if (ev.wanted) e["wanted"] = *ev.wanted ? "on" : "off";
      if (fault) {
        e["failures"] = ev.failures;
        e["reason"] = ev.error;
        LogError(kComponent, "io module " + module + ": output " + std::string(point) +
                                 " is not as wanted after " + std::to_string(ev.failures) +
                                 " attempts: " + ev.error);
      } else {
        LogInfo(kComponent, "io module " + module + ": output " + std::string(point) +
                                " reads back as wanted again");
      }
      Emit(std::move(e));
      break;
    }
  }
}

void DoorIo::ResolveUnlocks(Door& door, bool released_seen) {
  if (door.unlock_reports.empty()) return;
  // Released seen: "pulsed". Otherwise a write the module acknowledged with no read-back after it
  // (a pulse shorter than a poll) is the only evidence there is; anything else failed.
  const bool pulsed = released_seen || (door.unlock_acked && !door.read_back_after_ack);
  std::vector<core::Gateway::LockReport> reports = std::move(door.unlock_reports);
  door.unlock_reports.clear();
  door.unlock_acked = false;
  door.read_back_after_ack = false;
  if (!pulsed) {
    LogError(kComponent, "door " + door.id + ": the lock did not release for a grant (" +
                             door.io.lock + " never read back released)");
  }
  for (auto& report : reports) {
    if (report) report(pulsed ? kLockPulsed : kLockUnlockFailed);
  }
}

void DoorIo::After(Door& door, const std::vector<rules::DoorEvent>& events) {
  bool released = door.machine.lock_released();
  // The pulse is over: grants still waiting did not see the lock released.
  if (!released) ResolveUnlocks(door, false);
  if (door.lock_output != released) {
    door.lock_output = released;
    auto [module, point] = Split(door.io.lock);
    auto m = modules_.find(module);
    if (m != modules_.end()) m->second->SetOutput(point, released);
  }
  for (const rules::DoorEvent& e : events) {
    const std::string_view type = rules::DoorEventName(e.type);
    json j = {{"type", type}, {"door", door.id}};
    if (e.type == rules::DoorEventType::kClosed && e.was_held) j["was_held"] = true;
    if (e.type == rules::DoorEventType::kForced || e.type == rules::DoorEventType::kHeldOpen) {
      LogWarning(kComponent, "door " + door.id + ": " + std::string(type));
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
          json e = Event(IoEventType::kAlarm);
          e["alarm"] = act.target;
          e["automation"] = a->id;
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
          json e = Event(IoEventType::kDoorMode);
          e["door"] = target;
          e["mode"] = rules::DoorModeName(act.mode);
          e["automation"] = a->id;
          lintel::Status st = gateway_.JournalNow(std::move(e));
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
    // "lock" is the lock point as read back from the module ("unknown" while it cannot be read),
    // "wanted" what the door machine asks for: they differ while the module refuses a write.
    auto word = [](bool released) { return released ? "released" : "locked"; };
    doors[id] = {{"lock", d.lock_read_back ? json(word(*d.lock_read_back)) : json("unknown")},
                 {"wanted", word(d.machine.lock_released())},
                 {"lock_fault", d.lock_fault},
                 {"open", d.machine.open()},
                 {"rex", d.rex ? json(*d.rex) : json(nullptr)},
                 {"mode", rules::DoorModeName(d.machine.mode())},
                 {"held_open", d.machine.held()}};
  }
  return {{"modules", modules},
          {"doors", doors},
          {"fire_release", fire_},
          {"events", events_},
          {"automation_runs", automation_runs_}};
}

Result<json> DoorIo::TestUnlock(std::string_view id) {
  auto it = doors_.find(id);
  if (it == doors_.end()) {
    return lintel::Status::NotFound("door \"" + std::string(id) +
                                    "\" has no door I/O (doors[].io) to test");
  }
  const Door& door = it->second;
  if (fire_) {
    return lintel::Status::FailedPrecondition(
        "the site's fire release is active: door tests are refused until it clears");
  }
  if (door.machine.mode() == rules::DoorModeKind::kLockedDown) {
    return lintel::Status::FailedPrecondition("door " + door.id +
                                              " is locked down: door tests are refused until "
                                              "its mode is normal again");
  }
  int64_t ms = 5000;
  for (const config::DoorConfig& dc : door_configs_) {
    if (dc.id == door.id) ms = dc.unlock_ms;
  }
  LogInfo(kComponent,
          "door " + door.id + ": door test: pulsing the lock for " + std::to_string(ms) + " ms");
  LINTEL_RETURN_IF_ERROR(gateway_.Unlock(door.id, std::chrono::milliseconds(ms), "lintelctl"));
  return json{{"door", door.id}, {"ms", ms}};
}

}  // namespace lintel::devices
