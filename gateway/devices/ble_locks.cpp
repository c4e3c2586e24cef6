#include "gateway/devices/ble_locks.h"

#include <algorithm>
#include <utility>

#include "drivers/ble/bluez_link.h"
#include "drivers/ble/nuki_frame.h"
#include "gateway/base/log.h"

namespace lintel::devices {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
constexpr std::string_view kLog = "locks";

std::string MetaLogKey(const std::string& id) { return "lock_log:" + id; }

// Indications the link keeps per characteristic while the worker reads them. A reply can be long:
// listing 100 keypad codes is ~600 indications (one Keyturner frame of 117 bytes = 6 per code),
// and a lock (or lock-sim) may send them faster than the worker takes them; BluezOptions' default
// of 64 made such a list fail ("dropped ... out of step") whenever the worker fell behind
// (tests/bench/ble_bench.cpp found it). 8192 x 20 bytes bounds the memory at 160 KiB.
constexpr size_t kMaxQueuedIndications = 8192;

// The adapter's link connected to `address` (another lock's connection is dropped first).
lintel::Status ConnectTo(ble::GattLink& link, std::string& connected_to, const std::string& address,
                         milliseconds timeout) {
  if (link.connected() && connected_to == address) return lintel::Status::Ok();
  if (link.connected()) link.Disconnect();
  connected_to.clear();
  lintel::Status s = link.Connect(address, timeout);
  if (s.ok()) connected_to = address;
  return s;
}

// After an error that is not the lock's own answer, replies may still be in flight: start over.
void DropAfter(const lintel::Status& s, ble::GattLink& link, std::string& connected_to) {
  if (s.ok() || ble::LockErrorCodeOf(s).has_value()) return;
  link.Disconnect();
  connected_to.clear();
}

bool LockAnswered(const lintel::Status& s) { return s.ok() || ble::LockErrorCodeOf(s).has_value(); }

// A stable app id per gateway (FNV-1a), so re-pairing registers the same id.
uint32_t AppId(const std::string& site, const std::string& gateway) {
  uint32_t h = 2166136261u;
  for (char c : "lintel:" + site + ":" + gateway) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return h == 0 ? 1 : h;
}

json OptionalTime(const std::optional<Instant>& t) {
  return t ? json(FormatRfc3339(*t)) : json(nullptr);
}

}  // namespace

struct BleLocks::Adapter {
  std::unique_ptr<BleWorker> worker;
  // The address the link is connected to; touched only by jobs on the worker thread.
  std::shared_ptr<std::string> connected_to = std::make_shared<std::string>();
  int outstanding = 0;  // jobs queued or running that count as activity
  milliseconds disconnect_after{2000};
  std::optional<EventLoop::TimerId> disconnect_timer;
  std::string failure;  // the last exception a job threw, for status
  std::unique_ptr<ble::BleScanner> scanner;
  std::string scan_error;
};

struct BleLocks::Lock {
  config::LockConfig config;
  std::optional<LockCredentials> credentials;
  std::string credentials_error;  // why there are none (other than "not paired yet")
  std::string pin_error;
  bool pairing = false;

  // Reachability and state.
  std::optional<bool> reachable;
  std::string last_error;
  std::optional<Instant> last_contact;
  std::optional<ble::KeyturnerStates> state;
  std::optional<Instant> state_at;
  std::optional<ble::LockState> journaled_state;
  std::optional<ble::DoorSensorState> door_sensor;
  std::optional<bool> battery_low;
  bool jammed = false;
  std::string timezone_warning;
  bool state_read_pending = false;
  std::optional<EventLoop::TimerId> poll_timer;
  std::optional<uint32_t> log_index;

  // Unlocks waiting for the lock.
  struct Unlock {
    core::Gateway::LockReport report;
    int64_t deadline_ms = 0;
    int attempts = 0;
    bool lock_answered = false;  // some attempt got the lock's own error
    std::string last_error;
  };
  std::map<uint64_t, Unlock> unlocks;

  // Sync.
  std::vector<rules::LockEntry> desired;
  std::vector<rules::SkippedEntry> skipped;
  std::string sync_error;   // why no sync can run (PIN file, store, index)
  uint64_t generation = 0;  // changes with `desired`
  bool sync_running = false;
  bool sync_wanted = false;
  int sync_failures = 0;
  bool sync_failed_journaled = false;
  size_t pending_ops = 0;
  std::optional<EventLoop::TimerId> sync_timer;  // a retry after a failure (backoff)
  std::optional<EventLoop::TimerId> change_timer;
  std::optional<EventLoop::TimerId> verify_timer;
  bool clock_set = false;  // the lock's clock was set since start
};

MakeGattLink BluezGattLinks() {
  return [](const std::string& adapter) -> Result<std::unique_ptr<ble::GattLink>> {
    ble::BluezOptions o;
    o.adapter = adapter;
    o.max_queued_indications = kMaxQueuedIndications;
    o.required_characteristics = {std::string(ble::kPairingGdioUuid),
                                  std::string(ble::kKeyturnerGdioUuid),
                                  std::string(ble::kKeyturnerUsdioUuid)};
    Result<std::unique_ptr<ble::BluezGattLink>> link = ble::BluezGattLink::Open(o);
    if (!link.ok()) return link.status();
    return std::unique_ptr<ble::GattLink>(std::move(*link));
  };
}

MakeBleScanner BluezScanners() {
  return [](const std::string& adapter) -> Result<std::unique_ptr<ble::BleScanner>> {
    ble::BluezOptions o;
    o.adapter = adapter;
    Result<std::unique_ptr<ble::BluezScanner>> scanner = ble::BluezScanner::Open(o);
    if (!scanner.ok()) return scanner.status();
    return std::unique_ptr<ble::BleScanner>(std::move(*scanner));
  };
}

BleLocks::BleLocks(EventLoop& loop, const Clock& clock, core::Gateway& gateway,
                   MakeGattLink make_link, MakeBleScanner make_scanner, BleLocksOptions options)
    : loop_(loop),
      clock_(clock),
      gateway_(gateway),
      make_link_(std::move(make_link)),
      make_scanner_(std::move(make_scanner)),
      options_(std::move(options)) {}

BleLocks::~BleLocks() {
  Stop();
  self_.reset();
}

int64_t BleLocks::MonoMs() const {
  return std::chrono::duration_cast<milliseconds>(clock_.Monotonic().time_since_epoch()).count();
}

Instant BleLocks::Now() { return gateway_.WallNow(); }

EventLoop::TimerId BleLocks::After(milliseconds delay, std::function<void(BleLocks&)> fn) {
  std::weak_ptr<BleLocks*> weak = self_;
  uint64_t epoch = epoch_;
  return loop_.AddTimer(delay, [weak, epoch, fn = std::move(fn)] {
    std::shared_ptr<BleLocks*> s = weak.lock();
    if (!s || (*s)->epoch_ != epoch) return;
    fn(**s);
  });
}

void BleLocks::Cancel(std::optional<EventLoop::TimerId>& timer) {
  if (timer) loop_.CancelTimer(*timer);
  timer.reset();
}

void BleLocks::Journal(json event) {
  lintel::Status s = gateway_.JournalNow(std::move(event));
  if (!s.ok()) LogWarning(kLog, "journal: " + s.ToString());
}

BleLocks::Lock* BleLocks::FindById(const std::string& id) {
  auto it = locks_.find(id);
  return it == locks_.end() ? nullptr : it->second.get();
}

BleLocks::Lock* BleLocks::FindByDoor(const std::string& door) {
  for (auto& [id, l] : locks_) {
    if (l->config.door == door) return l.get();
  }
  return nullptr;
}

std::optional<uint16_t> BleLocks::ReadPin(Lock& lock) {
  Result<uint16_t> pin = config::ReadSecurityPinFile(lock.config.security_pin_file);
  if (!pin.ok()) {
    if (lock.pin_error != pin.status().message()) {
      LogError(kLog, "lock " + lock.config.id + ": security PIN: " + pin.status().ToString());
    }
    lock.pin_error = pin.status().message();
    return std::nullopt;
  }
  lock.pin_error.clear();
  return *pin;
}

// ---- workers --------------------------------------------------------------------------------

BleLocks::Adapter& BleLocks::AdapterFor(const std::string& name) {
  std::unique_ptr<Adapter>& a = adapters_[name];
  if (!a) {
    a = std::make_unique<Adapter>();
    std::weak_ptr<BleLocks*> weak = self_;
    EventLoop* loop = &loop_;
    uint64_t epoch = epoch_;
    a->worker = std::make_unique<BleWorker>(
        name, make_link_, options_.max_queued, [weak, loop, epoch, name](const std::string& what) {
          LogError(kLog, "adapter " + name + ": a BLE job failed: internal error: " + what);
          loop->Post([weak, epoch, name, what] {
            std::shared_ptr<BleLocks*> s = weak.lock();
            if (!s || (*s)->epoch_ != epoch) return;
            auto it = (*s)->adapters_.find(name);
            if (it != (*s)->adapters_.end()) it->second->failure = "internal error: " + what;
          });
        });
    if (make_scanner_) {
      Result<std::unique_ptr<ble::BleScanner>> made = make_scanner_(name);
      lintel::Status started = made.status();
      if (made.ok()) {
        // The scanner's thread: only NoteAdvertisement (it posts), never BleLocks' state.
        BleLocks* me = this;
        started = (*made)->Start(ble::kKeyturnerServiceUuid, [me](const ble::Advertisement& ad) {
          me->NoteAdvertisement(ad.address, ble::IBeaconStateChanged(ad));
        });
        if (started.ok()) a->scanner = std::move(*made);
      }
      if (!started.ok()) {
        a->scan_error = started.message();
        LogError(kLog, "adapter " + name + ": cannot scan for locks: " + started.ToString());
      }
    }
  }
  return *a;
}

void BleLocks::Submit(const std::string& adapter, bool urgent, bool counts, Work work,
                      std::function<void(BleLocks&, const lintel::Status&)> abandoned) {
  Adapter& a = AdapterFor(adapter);
  if (counts) {
    ++a.outstanding;
    Cancel(a.disconnect_timer);
  }
  std::weak_ptr<BleLocks*> weak = self_;
  uint64_t epoch = epoch_;
  EventLoop* loop = &loop_;
  auto post = [weak, epoch, loop, adapter, counts](Completion c) {
    loop->Post([weak, epoch, adapter, counts, c = std::move(c)] {
      std::shared_ptr<BleLocks*> s = weak.lock();
      if (!s || (*s)->epoch_ != epoch) return;
      (*s)->JobDone(adapter, counts);
      if (c) c(**s);
    });
  };
  BleJob job;
  job.run = [work = std::move(work), post, connected_to = a.connected_to, worker = a.worker.get()](
                ble::GattLink* link, const lintel::Status& error) {
    post(work(link, error, *connected_to, *worker));
  };
  job.abandon = [post, abandoned = std::move(abandoned)](const lintel::Status& s) {
    post([abandoned, s](BleLocks& b) {
      if (abandoned) abandoned(b, s);
    });
  };
  a.worker->Enqueue(std::move(job), urgent);
}

void BleLocks::JobDone(const std::string& adapter, bool counts) {
  if (!counts) return;
  auto it = adapters_.find(adapter);
  if (it == adapters_.end()) return;
  Adapter& a = *it->second;
  if (--a.outstanding > 0) return;
  a.outstanding = 0;
  Cancel(a.disconnect_timer);
  a.disconnect_timer = After(a.disconnect_after, [adapter](BleLocks& b) {
    auto it = b.adapters_.find(adapter);
    if (it == b.adapters_.end()) return;
    it->second->disconnect_timer.reset();
    if (it->second->outstanding > 0) return;
    b.Submit(
        adapter, false, false,
        [](ble::GattLink* link, const lintel::Status&, std::string& connected_to,
           BleWorker&) -> Completion {
          if (link != nullptr && link->connected()) link->Disconnect();
          connected_to.clear();
          return nullptr;
        },
        nullptr);
  });
}

// ---- lifecycle --------------------------------------------------------------------------------

void BleLocks::Apply(const config::Config& config) {
  if (config.locks == configs_ && !locks_.empty()) return;
  if (config.locks.empty() && locks_.empty()) return;
  Stop();
  configs_ = config.locks;
  for (const config::LockConfig& c : configs_) {
    auto lock = std::make_unique<Lock>();
    lock->config = c;
    Result<LockCredentials> creds = ReadLockCredentials(c.credentials);
    if (creds.ok()) {
      lock->credentials = *creds;
    } else if (creds.status().code() != StatusCode::kNotFound) {
      lock->credentials_error = creds.status().message();
      LogError(kLog, "lock " + c.id + ": credentials: " + creds.status().ToString());
    } else {
      LogWarning(kLog, "lock " + c.id + " (door " + c.door +
                           ") is not paired: lintelctl lock pair " + c.door);
    }
    Result<std::optional<std::string>> seen = gateway_.store().GetMeta(MetaLogKey(c.id));
    if (seen.ok() && *seen) {
      try {
        lock->log_index = static_cast<uint32_t>(std::stoul(**seen));
      } catch (...) {
        LogWarning(kLog, "lock " + c.id + ": ignoring a malformed stored log index");
      }
    }
    Adapter& a = AdapterFor(c.adapter);
    a.disconnect_after = milliseconds(c.disconnect_after_ms);
    std::string id = c.id;
    gateway_.SetReportingActuator(c.door,
                                  [this, id](milliseconds ms, core::Gateway::LockReport report) {
                                    return Actuate(id, ms, std::move(report));
                                  });
    Lock& l = *lock;
    locks_[id] = std::move(lock);
    l.poll_timer = loop_.AddPeriodic(std::chrono::minutes(c.poll_minutes), [this, id] {
      if (Lock* x = FindById(id)) RequestStateRead(*x);
    });
    l.verify_timer = loop_.AddPeriodic(options_.verify_every, [this, id] {
      if (Lock* x = FindById(id)) {
        x->clock_set = false;  // the lock's clock is set again with this sync
        Recompute(*x, true);
      }
    });
    if (l.credentials) RequestStateRead(l);
    Recompute(l, true);
  }
  seen_index_ = gateway_.engine().index();
  index_timer_ = loop_.AddPeriodic(options_.index_check, [this] { CheckIndex(); });
}

void BleLocks::Stop() {
  ++epoch_;
  Cancel(index_timer_);
  for (auto& [id, l] : locks_) {
    gateway_.SetReportingActuator(l->config.door, nullptr);
    Cancel(l->poll_timer);
    Cancel(l->sync_timer);
    Cancel(l->change_timer);
    Cancel(l->verify_timer);
    std::map<uint64_t, Lock::Unlock> unlocks = std::move(l->unlocks);
    l->unlocks.clear();
    for (auto& [uid, u] : unlocks) {
      if (u.report) u.report("failed");
    }
  }
  locks_.clear();
  for (auto& [name, a] : adapters_) {
    Cancel(a->disconnect_timer);
    if (a->scanner) static_cast<void>(a->scanner->Stop());  // no callback after this
  }
  adapters_.clear();  // joins the workers
  configs_.clear();
}

// ---- unlock ------------------------------------------------------------------------------------

lintel::Status BleLocks::Actuate(const std::string& id, milliseconds,
                                 core::Gateway::LockReport report) {
  Lock* lock = FindById(id);
  if (lock == nullptr) return lintel::Status::FailedPrecondition("lock " + id + " is not running");
  if (!lock->credentials) {
    return lintel::Status::FailedPrecondition(
        "lock " + id + " of door " + lock->config.door + " is not paired" +
        (lock->credentials_error.empty() ? "" : " (" + lock->credentials_error + ")") +
        ": lintelctl lock pair " + lock->config.door);
  }
  uint64_t uid = next_unlock_id_++;
  Lock::Unlock& u = lock->unlocks[uid];
  u.report = std::move(report);
  u.deadline_ms = MonoMs() + options_.unlock_budget.count();
  StartUnlockAttempt(id, uid);
  return lintel::Status::Ok();
}

void BleLocks::StartUnlockAttempt(const std::string& id, uint64_t unlock_id) {
  Lock* lock = FindById(id);
  if (lock == nullptr || !lock->credentials) return;
  auto it = lock->unlocks.find(unlock_id);
  if (it == lock->unlocks.end()) return;
  ++it->second.attempts;
  milliseconds timeout(std::max<int64_t>(1000, it->second.deadline_ms - MonoMs()));
  ble::LockAction action = lock->config.unlock_action == config::UnlockAction::kUnlatch
                               ? ble::LockAction::kUnlatch
                               : ble::LockAction::kUnlock;
  ble::LockClientOptions options = options_.client;
  options.app_id = lock->credentials->app_id;
  ble::Credentials creds = lock->credentials->credentials;
  std::string address = lock->config.address;
  Submit(
      lock->config.adapter, /*urgent=*/true, true,
      [id, unlock_id, timeout, action, options, creds, address](
          ble::GattLink* link, const lintel::Status& link_error, std::string& connected_to,
          BleWorker&) -> Completion {
        if (link == nullptr) {
          return [=](BleLocks& b) { b.OnUnlockResult(id, unlock_id, link_error, {}, false); };
        }
        lintel::Status c = ConnectTo(*link, connected_to, address, timeout);
        if (!c.ok()) {
          return [=](BleLocks& b) { b.OnUnlockResult(id, unlock_id, c, {}, false); };
        }
        ble::RandomNonceSource nonces;
        ble::LockClient client(*link, nonces, creds, options);
        Result<ble::LockActionResult> r = client.Act(action);
        lintel::Status st = ExplainTimeout(*link, r.status());
        DropAfter(st, *link, connected_to);
        std::optional<ble::KeyturnerStates> last;
        if (r.ok() && !r->transitions.empty()) last = r->transitions.back();
        bool reached = LockAnswered(st);
        return [=](BleLocks& b) { b.OnUnlockResult(id, unlock_id, st, last, reached); };
      },
      [id, unlock_id](BleLocks& b, const lintel::Status& s) {
        b.OnUnlockResult(id, unlock_id, s, {}, false);
      });
}

void BleLocks::OnUnlockResult(const std::string& id, uint64_t unlock_id, const lintel::Status& st,
                              std::optional<ble::KeyturnerStates> last, bool reached) {
  Lock* lock = FindById(id);
  if (lock == nullptr) return;
  auto it = lock->unlocks.find(unlock_id);
  if (it == lock->unlocks.end()) return;
  Lock::Unlock& u = it->second;
  if (reached) NoteReachable(*lock, true, "");
  if (last) NoteState(*lock, *last);
  if (st.ok()) {
    core::Gateway::LockReport report = std::move(u.report);
    lock->unlocks.erase(it);
    if (report) report("pulsed");
    return;
  }
  std::optional<uint8_t> code = ble::LockErrorCodeOf(st);
  if (code) u.lock_answered = true;
  u.last_error = st.message();
  if (code == static_cast<uint8_t>(ble::ErrorCode::kMotorBlocked) && !lock->jammed) {
    lock->jammed = true;
    Journal({{"type", "lock.jammed"}, {"lock", id}, {"door", lock->config.door}});
  }
  // Busy, a timeout, a failed connect: worth another try while the person is still there.
  bool retry = !code || st.code() == StatusCode::kUnavailable;
  milliseconds delay = options_.unlock_first_retry * (1 << std::min(u.attempts - 1, 10));
  if (retry && MonoMs() + delay.count() < u.deadline_ms) {
    After(delay, [id, unlock_id](BleLocks& b) { b.StartUnlockAttempt(id, unlock_id); });
    return;
  }
  std::string word = u.lock_answered ? "unlock_failed" : "failed";
  LogWarning(kLog, "lock " + id + " (door " + lock->config.door + "): unlock " + word + " after " +
                       std::to_string(u.attempts) + " attempt(s): " + st.ToString());
  Journal({{"type", "lock.action_failed"},
           {"lock", id},
           {"door", lock->config.door},
           {"action", config::UnlockActionName(lock->config.unlock_action)},
           {"attempts", u.attempts},
           {"error", st.message()}});
  if (!reached && !u.lock_answered) NoteReachable(*lock, false, st.message());
  core::Gateway::LockReport report = std::move(u.report);
  lock->unlocks.erase(it);
  if (report) report(word);
}

// ---- state
// ---------------------------------------------------------------------------------------

void BleLocks::RequestStateRead(Lock& lock) {
  if (!lock.credentials || lock.state_read_pending) return;
  lock.state_read_pending = true;
  std::optional<uint16_t> pin = ReadPin(lock);
  ble::LockClientOptions options = options_.client;
  options.app_id = lock.credentials->app_id;
  ble::Credentials creds = lock.credentials->credentials;
  std::string address = lock.config.address;
  std::string id = lock.config.id;
  std::optional<uint32_t> log_index = lock.log_index;
  milliseconds timeout = options_.connect_timeout;
  Submit(
      lock.config.adapter, false, true,
      [=](ble::GattLink* link, const lintel::Status& link_error, std::string& connected_to,
          BleWorker&) -> Completion {
        if (link == nullptr) {
          return [=](BleLocks& b) { b.OnStateResult(id, link_error, std::nullopt); };
        }
        lintel::Status c = ConnectTo(*link, connected_to, address, timeout);
        if (!c.ok()) return [=](BleLocks& b) { b.OnStateResult(id, c, std::nullopt); };
        ble::RandomNonceSource nonces;
        ble::LockClient client(*link, nonces, creds, options);
        Result<ble::KeyturnerStates> s = client.ReadState();
        if (!s.ok()) s = ExplainTimeout(*link, s.status());
        DropAfter(s.status(), *link, connected_to);
        std::optional<Result<LogFetch>> log;
        if (s.ok() && pin) {
          log = FetchLog(client, log_index, *pin);
          DropAfter(log->status(), *link, connected_to);
        }
        return [=](BleLocks& b) { b.OnStateResult(id, s, log); };
      },
      [id](BleLocks& b, const lintel::Status& s) { b.OnStateResult(id, s, std::nullopt); });
}

void BleLocks::OnStateResult(const std::string& id, const Result<ble::KeyturnerStates>& st,
                             std::optional<Result<LogFetch>> log) {
  Lock* lock = FindById(id);
  if (lock == nullptr) return;
  lock->state_read_pending = false;
  if (st.ok()) {
    NoteReachable(*lock, true, "");
    NoteState(*lock, *st);
  } else if (LockAnswered(st.status())) {
    NoteReachable(*lock, true, "");
    lock->last_error = st.status().message();
    LogWarning(kLog, "lock " + id + ": reading the state: " + st.status().ToString());
  } else {
    NoteReachable(*lock, false, st.status().message());
  }
  NoteLog(*lock, log);
}

void BleLocks::NoteReachable(Lock& lock, bool reachable, const std::string& reason) {
  if (reachable) {
    lock.last_contact = Now();
    lock.last_error.clear();  // status shows the error of the lock as it is now, not history
  } else {
    lock.last_error = reason;
  }
  if (lock.reachable == reachable) return;
  lock.reachable = reachable;
  json e = {{"type", reachable ? "device.online" : "device.offline"},
            {"device", lock.config.id},
            {"door", lock.config.door}};
  if (!reachable) e["reason"] = reason;
  if (reachable) {
    LogInfo(kLog, "lock " + lock.config.id + " answers");
  } else {
    LogWarning(kLog, "lock " + lock.config.id + " does not answer: " + reason);
  }
  Journal(std::move(e));
}

void BleLocks::NoteState(Lock& lock, const ble::KeyturnerStates& s) {
  const std::string& id = lock.config.id;
  const std::string& door = lock.config.door;
  if (lock.journaled_state != s.lock_state) {
    lock.journaled_state = s.lock_state;
    Journal({{"type", "lock.state"},
             {"lock", id},
             {"door", door},
             {"state", ble::LockStateName(s.lock_state)},
             {"trigger", ble::TriggerName(s.trigger)}});
  }
  bool jammed = s.lock_state == ble::LockState::kMotorBlocked;
  if (jammed && !lock.jammed) Journal({{"type", "lock.jammed"}, {"lock", id}, {"door", door}});
  lock.jammed = jammed;
  if (s.v22) {
    ble::DoorSensorState d = s.v22->door_sensor_state;
    if (d == ble::DoorSensorState::kDoorClosed || d == ble::DoorSensorState::kDoorOpened) {
      if (lock.door_sensor && *lock.door_sensor != d) {
        Journal({{"type", d == ble::DoorSensorState::kDoorOpened ? "door.opened" : "door.closed"},
                 {"door", door},
                 {"lock", id},
                 {"source", "lock"}});
      }
      lock.door_sensor = d;
    }
  }
  bool low = s.battery_critical();
  if (lock.battery_low ? *lock.battery_low != low : low) {
    Journal({{"type", "lock.battery_low"},
             {"lock", id},
             {"door", door},
             {"low", low},
             {"percent", s.battery_percent()}});
  }
  lock.battery_low = low;
  // Weekdays and times of day in codes are the site's local time; the lock applies its own offset.
  Instant now = Now();
  int site_offset_min = gateway_.engine().index()->site().zone->ToLocal(now).utc_offset_s / 60;
  std::string mismatch;
  if (s.timezone_offset_min != site_offset_min) {
    mismatch = "the lock's time zone offset is " + std::to_string(s.timezone_offset_min) +
               " min, the site's " + std::to_string(site_offset_min) +
               " min: set the lock's time zone in the Nuki app (codes limited to weekdays or "
               "hours are checked in the lock's local time)";
    if (mismatch != lock.timezone_warning) LogWarning(kLog, "lock " + id + ": " + mismatch);
  }
  lock.timezone_warning = mismatch;
  lock.state = s;
  lock.state_at = now;
}

void BleLocks::NoteLog(Lock& lock, const std::optional<Result<LogFetch>>& log) {
  if (!log) return;
  if (!log->ok()) {
    LogWarning(kLog,
               "lock " + lock.config.id + ": reading the access log: " + log->status().ToString());
    return;
  }
  const LogFetch& f = **log;
  uint32_t own = lock.credentials ? lock.credentials->credentials.authorization_id : 0;
  Result<std::vector<store::LockEntryRecord>> map = gateway_.store().LockEntryMap(lock.config.id);
  for (const ble::LogEntry& e : f.entries) {
    if (lock.log_index && e.index <= *lock.log_index) continue;
    json ev = {{"door", lock.config.door},
               {"source", "lock"},
               {"lock", lock.config.id},
               {"lock_log_index", e.index},
               {"lock_time", ble::FormatLockDateTime(e.timestamp)}};
    if (std::optional<ble::KeypadActionLog> k = e.keypad_action()) {
      bool ok = k->completion == ble::CompletionStatus::kSuccess;
      ev["type"] = ok ? "access.granted" : "access.denied";
      ev["method"] = "keypad";
      if (!ok) ev["reason"] = ble::CompletionStatusName(k->completion);
      if (map.ok()) {
        for (const store::LockEntryRecord& r : *map) {
          if (r.kind == rules::LockEntry::Kind::kKeypadCode && r.lock_entry_id == k->code_id) {
            ev["credential"] = r.credential;
            for (const rules::LockEntry& d : lock.desired) {
              if (d.credential == r.credential && !d.person.empty()) ev["person"] = d.person;
            }
          }
        }
      }
    } else if (std::optional<ble::LockActionLog> a = e.lock_action()) {
      if (e.authorization_id == own && a->trigger == ble::Trigger::kSystem) continue;  // ours
      if (a->trigger == ble::Trigger::kAutomatic || a->trigger == ble::Trigger::kAutoLock) continue;
      bool ok = a->completion == ble::CompletionStatus::kSuccess;
      ev["type"] = ok ? "access.granted" : "access.denied";
      ev["method"] = a->trigger == ble::Trigger::kSystem ? "ble" : ble::TriggerName(a->trigger);
      ev["action"] = ble::LockActionName(a->action);
      if (a->trigger == ble::Trigger::kSystem) ev["name"] = e.name;
      if (!ok) ev["reason"] = ble::CompletionStatusName(a->completion);
    } else {
      continue;
    }
    gateway_.JournalLater(std::move(ev));
  }
  static_cast<void>(gateway_.FlushJournal());
  if (f.newest && f.newest != lock.log_index) {
    lock.log_index = f.newest;
    lintel::Status s =
        gateway_.store().SetMeta(MetaLogKey(lock.config.id), std::to_string(*f.newest));
    if (!s.ok())
      LogWarning(kLog, "lock " + lock.config.id + ": storing the log index: " + s.ToString());
  }
}

void BleLocks::NoteAdvertisement(const std::string& address, std::optional<bool> state_changed) {
  std::weak_ptr<BleLocks*> weak = self_;
  loop_.Post([weak, address, state_changed] {
    std::shared_ptr<BleLocks*> s = weak.lock();
    if (!s) return;
    for (auto& [id, l] : (*s)->locks_) {
      if (l->config.address != address) continue;
      if (state_changed.value_or(false)) (*s)->RequestStateRead(*l);
    }
  });
}

// ---- sync ------------------------------------------------------------------------------------

void BleLocks::CheckIndex() {
  std::shared_ptr<const rules::Index> now = gateway_.engine().index();
  if (now == seen_index_) return;
  seen_index_ = now;
  for (auto& [id, l] : locks_) Recompute(*l, false);
}

void BleLocks::SyncAll() {
  for (auto& [id, l] : locks_) {
    Cancel(l->sync_timer);
    Recompute(*l, true);
  }
}

void BleLocks::Recompute(Lock& lock, bool force_sync) {
  const config::LockConfig& c = lock.config;
  if (!c.sync_codes && !c.sync_authorizations) return;
  std::shared_ptr<const rules::Index> index = gateway_.engine().index();
  Instant now = Now();
  rules::LockCodeRules code_rules = options_.code_rules;
  const size_t prefix = c.name_prefix.size();
  code_rules.keypad_name_bytes -= std::min(prefix, code_rules.keypad_name_bytes - 1);
  code_rules.authorization_name_bytes -= std::min(prefix, code_rules.authorization_name_bytes - 1);
  Result<rules::LockSync> sync = rules::DesiredLockEntries(*index, c.door, now, code_rules);
  if (!sync.ok()) {
    lock.sync_error = "desired entries: " + sync.status().message();
    LogError(kLog, "lock " + c.id + ": " + lock.sync_error);
    return;
  }
  std::vector<rules::LockEntry> desired;
  for (rules::LockEntry& e : sync->entries) {
    bool code = e.kind == rules::LockEntry::Kind::kKeypadCode;
    if (code ? !c.sync_codes : !c.sync_authorizations) continue;
    e.name = c.name_prefix + e.name;
    desired.push_back(std::move(e));
  }
  lock.skipped = std::move(sync->skipped);
  Cancel(lock.change_timer);
  if (sync->next_change) {
    auto delay =
        std::chrono::duration_cast<milliseconds>(*sync->next_change - now) + milliseconds(1000);
    std::string id = c.id;
    lock.change_timer = After(std::max(delay, milliseconds(1000)), [id](BleLocks& b) {
      if (Lock* l = b.FindById(id)) {
        l->change_timer.reset();
        b.Recompute(*l, false);
      }
    });
  }
  bool changed = desired != lock.desired;
  if (changed) {
    lock.desired = std::move(desired);
    ++lock.generation;
  }
  WriteOutbox(lock);
  if (!lock.sync_error.empty()) return;  // not durable: nothing is sent
  if (changed || force_sync || lock.pending_ops > 0) RequestSync(lock);
}

// The outbox: what the lock lacks compared with the entry map (the store's belief).
void BleLocks::WriteOutbox(Lock& lock) {
  const config::LockConfig& c = lock.config;
  store::Store& st = gateway_.store();
  Result<std::vector<store::LockEntryRecord>> map = st.LockEntryMap(c.id);
  if (!map.ok()) {
    lock.sync_error = "store: " + map.status().message();
    LogError(kLog, "lock " + c.id + ": reading the entry map: " + map.status().ToString());
    return;
  }
  auto synced = [&c](rules::LockEntry::Kind k) {
    return k == rules::LockEntry::Kind::kKeypadCode ? c.sync_codes : c.sync_authorizations;
  };
  std::map<std::string, const store::LockEntryRecord*> rows;
  for (const store::LockEntryRecord& r : *map) {
    if (synced(r.kind)) rows[r.credential] = &r;
  }
  std::vector<store::LockOutboxOp> removes, updates, adds;
  std::map<std::string, bool> wanted;
  for (const rules::LockEntry& d : lock.desired) {
    wanted[d.credential] = true;
    auto it = rows.find(d.credential);
    if (it == rows.end()) {
      adds.push_back({0, {rules::LockOp::Kind::kAdd, false, d}, std::nullopt});
    } else if (it->second->kind != d.kind) {
      rules::LockEntry old;
      old.kind = it->second->kind;
      old.credential = d.credential;
      removes.push_back({0, {rules::LockOp::Kind::kRemove, true, old}, it->second->lock_entry_id});
      adds.push_back({0, {rules::LockOp::Kind::kAdd, false, d}, std::nullopt});
    } else if (it->second->fingerprint != rules::Fingerprint(d)) {
      updates.push_back({0, {rules::LockOp::Kind::kUpdate, true, d}, it->second->lock_entry_id});
    }
  }
  for (const auto& [credential, r] : rows) {
    if (wanted.count(credential) > 0) continue;
    rules::LockEntry old;
    old.kind = r->kind;
    old.credential = credential;
    removes.push_back({0, {rules::LockOp::Kind::kRemove, true, old}, r->lock_entry_id});
  }
  std::vector<store::LockOutboxOp> ops = std::move(removes);
  ops.insert(ops.end(), updates.begin(), updates.end());
  ops.insert(ops.end(), adds.begin(), adds.end());
  Result<std::vector<store::LockOutboxOp>> stored = st.ReplaceLockOutbox(c.id, std::move(ops));
  if (!stored.ok()) {
    lock.sync_error = "store: " + stored.status().message();
    LogError(kLog, "lock " + c.id + ": writing the outbox: " + stored.status().ToString());
    return;
  }
  lock.sync_error.clear();
  lock.pending_ops = stored->size();
}

void BleLocks::RequestSync(Lock& lock) {
  const config::LockConfig& c = lock.config;
  if (!lock.credentials) return;  // pending until paired
  if (lock.sync_running) {
    lock.sync_wanted = true;
    return;
  }
  if (lock.sync_timer) return;  // backing off after a failure: the retry takes the latest
  std::optional<uint16_t> pin = ReadPin(lock);
  if (!pin) return;  // status shows pin_error; the next change or verify tries again
  Result<std::vector<store::LockEntryRecord>> map = gateway_.store().LockEntryMap(c.id);
  if (!map.ok()) {
    lock.sync_error = "store: " + map.status().message();
    return;
  }
  ReconcileInput in;
  in.desired = lock.desired;
  in.entry_map = std::move(*map);
  in.codes = c.sync_codes;
  in.authorizations = c.sync_authorizations;
  in.own_authorization_id = lock.credentials->credentials.authorization_id;
  in.pin = *pin;
  lock.sync_running = true;
  ble::LockClientOptions options = options_.client;
  options.app_id = lock.credentials->app_id;
  ble::Credentials creds = lock.credentials->credentials;
  std::string address = c.address;
  std::string id = c.id;
  uint64_t generation = lock.generation;
  std::optional<uint32_t> log_index = lock.log_index;
  const Instant now = Now();
  std::optional<Instant> set_time;
  if (!lock.clock_set) set_time = now;
  milliseconds timeout = options_.connect_timeout;
  Submit(
      c.adapter, false, true,
      [=](ble::GattLink* link, const lintel::Status& link_error, std::string& connected_to,
          BleWorker& worker) -> Completion {
        ReconcileResult result;
        if (link == nullptr) {
          result.status = link_error;
          return [=](BleLocks& b) { b.OnSyncResult(id, generation, result, std::nullopt); };
        }
        lintel::Status conn = ConnectTo(*link, connected_to, address, timeout);
        if (!conn.ok()) {
          result.status = conn;
          return [=](BleLocks& b) { b.OnSyncResult(id, generation, result, std::nullopt); };
        }
        ble::RandomNonceSource nonces;
        ble::LockClient client(*link, nonces, creds, options);
        // Unlocks go first, also in the middle of a sync; they may take the link elsewhere.
        auto between = [&] {
          if (worker.RunUrgent() > 0 && connected_to != address) {
            static_cast<void>(ConnectTo(*link, connected_to, address, timeout));
          }
        };
        bool clock_ok = false;
        if (set_time) {
          lintel::Status t = ExplainTimeout(*link, client.UpdateTime(*set_time, in.pin));
          DropAfter(t, *link, connected_to);
          clock_ok = t.ok();
          if (!t.ok() && !LockAnswered(t)) {
            result.status = lintel::Status(t.code(), "set the lock's clock: " + t.message());
            return [=](BleLocks& b) { b.OnSyncResult(id, generation, result, std::nullopt); };
          }
          if (!t.ok() && ble::LockErrorCodeOf(t) == static_cast<uint8_t>(ble::ErrorCode::kBadPin)) {
            result.status = lintel::Status(t.code(), "set the lock's clock: " + t.message());
            result.reached = true;
            return [=](BleLocks& b) { b.OnSyncResult(id, generation, result, std::nullopt); };
          }
        }
        result = Reconcile(client, in, between, now);
        result.status = ExplainTimeout(*link, result.status);
        if (LockAnswered(result.status)) result.reached = true;
        DropAfter(result.status, *link, connected_to);
        if (clock_ok) result.reached = true;
        std::optional<Result<LogFetch>> log;
        if (result.reached && link->connected()) {
          log = FetchLog(client, log_index, in.pin);
          DropAfter(log->status(), *link, connected_to);
        }
        return [=](BleLocks& b) {
          if (clock_ok) {
            if (Lock* l = b.FindById(id)) l->clock_set = true;
          }
          b.OnSyncResult(id, generation, result, log);
        };
      },
      [id, generation](BleLocks& b, const lintel::Status& s) {
        ReconcileResult r;
        r.status = s;
        b.OnSyncResult(id, generation, r, std::nullopt);
      });
}

void BleLocks::OnSyncResult(const std::string& id, uint64_t generation,
                            const ReconcileResult& result, std::optional<Result<LogFetch>> log) {
  Lock* lock = FindById(id);
  if (lock == nullptr) return;
  lock->sync_running = false;
  store::Store& st = gateway_.store();
  Instant now = Now();
  if (result.reached) {
    NoteReachable(*lock, true, "");
  } else if (!result.status.ok()) {
    NoteReachable(*lock, false, result.status.message());
  }
  size_t added = 0, updated = 0, removed = 0;
  for (const AppliedLockOp& a : result.applied) {
    switch (a.op.kind) {
      case rules::LockOp::Kind::kAdd:
        ++added;
        break;
      case rules::LockOp::Kind::kUpdate:
        ++updated;
        break;
      case rules::LockOp::Kind::kRemove:
        ++removed;
        break;
    }
  }
  if (result.status.ok()) {
    // The entry map becomes what the re-read confirmed.
    Result<std::vector<store::LockEntryRecord>> map = st.LockEntryMap(id);
    if (map.ok()) {
      for (const store::LockEntryRecord& r : *map) {
        bool kept = std::any_of(result.confirmed_map.begin(), result.confirmed_map.end(),
                                [&r](const auto& x) { return x.credential == r.credential; });
        bool synced = r.kind == rules::LockEntry::Kind::kKeypadCode
                          ? lock->config.sync_codes
                          : lock->config.sync_authorizations;
        if (!kept && synced) static_cast<void>(st.RemoveLockEntry(id, r.credential));
      }
    }
    for (const store::LockEntryRecord& r : result.confirmed_map) {
      lintel::Status s = st.SetLockEntry(id, r);
      if (!s.ok()) LogError(kLog, "lock " + id + ": storing the entry map: " + s.ToString());
    }
    static_cast<void>(st.RecordLockSync(id, now, lintel::Status::Ok()));
    bool recovered = lock->sync_failures > 0;
    if (!result.applied.empty() || recovered) {
      LogInfo(kLog, "lock " + id + " synced: " + std::to_string(added) + " added, " +
                        std::to_string(updated) + " updated, " + std::to_string(removed) +
                        " removed");
      Journal({{"type", "lock.synced"},
               {"lock", id},
               {"door", lock->config.door},
               {"added", added},
               {"updated", updated},
               {"removed", removed},
               {"entries", result.confirmed_map.size()}});
    }
    lock->sync_failures = 0;
    lock->sync_failed_journaled = false;
    WriteOutbox(*lock);  // empty when `desired` did not change meanwhile
    if (generation != lock->generation || lock->pending_ops > 0) lock->sync_wanted = true;
  } else {
    for (const AppliedLockOp& a : result.applied) {
      if (a.op.kind == rules::LockOp::Kind::kRemove) {
        static_cast<void>(st.RemoveLockEntry(id, a.op.entry.credential));
      } else {
        static_cast<void>(st.SetLockEntry(id, {a.op.entry.credential, a.op.entry.kind, a.lock_id,
                                               rules::Fingerprint(a.op.entry), now}));
      }
    }
    static_cast<void>(st.RecordLockSync(id, now, result.status));
    ++lock->sync_failures;
    milliseconds delay = options_.sync_retry_min;
    for (int i = 1; i < lock->sync_failures && delay < options_.sync_retry_max; ++i) delay *= 2;
    delay = std::min(delay, options_.sync_retry_max);
    WriteOutbox(*lock);
    Result<std::vector<store::LockOutboxOp>> ops = st.LockOutbox(id);
    if (ops.ok()) {
      Instant next = now + std::chrono::duration_cast<std::chrono::seconds>(delay);
      for (const store::LockOutboxOp& op : *ops) {
        static_cast<void>(
            st.MarkLockOpFailed(id, op.id, op.attempts + 1, next, result.status.message()));
      }
    }
    LogWarning(kLog, "lock " + id + ": sync failed (attempt " +
                         std::to_string(lock->sync_failures) + ", next in " +
                         std::to_string(delay.count() / 1000) + " s): " + result.status.ToString());
    if (lock->sync_failures >= options_.sync_failed_after && !lock->sync_failed_journaled) {
      lock->sync_failed_journaled = true;
      Journal({{"type", "lock.sync_failed"},
               {"lock", id},
               {"door", lock->config.door},
               {"attempts", lock->sync_failures},
               {"pending", lock->pending_ops},
               {"error", result.status.message()}});
    }
    Cancel(lock->sync_timer);
    lock->sync_timer = After(delay, [id](BleLocks& b) {
      if (Lock* l = b.FindById(id)) {
        l->sync_timer.reset();
        b.Recompute(*l, true);
      }
    });
  }
  NoteLog(*lock, log);
  if (lock->sync_wanted && !lock->sync_timer) {
    lock->sync_wanted = false;
    RequestSync(*lock);
  }
}

// ---- pairing ------------------------------------------------------------------------------------

void BleLocks::Pair(const std::string& door, PairReply reply) {
  Lock* lock = FindByDoor(door);
  if (lock == nullptr) {
    reply(lintel::Status::NotFound("door " + door + " has no lock (locks[].door in the config)"));
    return;
  }
  if (lock->pairing) {
    reply(
        lintel::Status::FailedPrecondition("lock " + lock->config.id + " is already being paired"));
    return;
  }
  lock->pairing = true;
  std::optional<uint16_t> pin = ReadPin(*lock);
  const config::Config& cfg = gateway_.config();
  ble::PairingIdentity identity;
  identity.id_type = ble::IdType::kBridge;
  identity.app_id = AppId(cfg.site_id, cfg.gateway_id);
  identity.name = ("Lintel " + cfg.gateway_id).substr(0, 32);
  ble::LockClientOptions options = options_.client;
  options.app_id = identity.app_id;
  std::string address = lock->config.address;
  std::string path = lock->config.credentials;
  std::string pin_file = lock->config.security_pin_file;
  std::string pin_error = lock->pin_error;
  std::string id = lock->config.id;
  Instant now = Now();
  milliseconds timeout = options_.connect_timeout;
  LogInfo(kLog, "lock " + id + ": pairing with " + address + " (the lock must be in pairing mode)");
  Submit(
      lock->config.adapter, false, true,
      [=](ble::GattLink* link, const lintel::Status& link_error, std::string& connected_to,
          BleWorker&) -> Completion {
        std::vector<std::string> steps;
        auto fail = [&](const lintel::Status& s) -> Completion {
          Result<LockCredentials> r = s;
          return [=](BleLocks& b) { b.OnPairResult(id, r, steps, lintel::Status::Ok(), reply); };
        };
        if (link == nullptr) return fail(link_error);
        lintel::Status c = ConnectTo(*link, connected_to, address, timeout);
        if (!c.ok()) {
          return fail(lintel::Status::Unavailable("cannot reach the lock at " + address + ": " +
                                                  c.message()));
        }
        steps.push_back("connected to " + address);
        ble::RandomNonceSource nonces;
        ble::SodiumRandomSource random;
        ble::LockClient client(*link, nonces, options);
        Result<ble::PairingResult> paired = client.Pair(identity, random);
        if (!paired.ok()) {
          lintel::Status why = ExplainTimeout(*link, paired.status());
          DropAfter(why, *link, connected_to);
          return fail(why);
        }
        steps.push_back("paired: authorization id " +
                        std::to_string(paired->credentials.authorization_id));
        LockCredentials creds;
        creds.credentials = paired->credentials;
        creds.app_id = identity.app_id;
        creds.lock_uuid = paired->lock_uuid;
        creds.paired_at = now;
        lintel::Status w = WriteLockCredentials(path, creds);
        if (!w.ok()) {
          return fail(
              lintel::Status::IoError("paired, but the credentials cannot be written (pair again "
                                      "once fixed): " +
                                      w.message()));
        }
        steps.push_back("credentials written to " + path + " (mode 0600)");
        lintel::Status pin_check = lintel::Status::Ok();
        if (pin) {
          ble::LockClient paired_client(*link, nonces, creds.credentials, options);
          lintel::Status t = ExplainTimeout(*link, paired_client.UpdateTime(now, *pin));
          DropAfter(t, *link, connected_to);
          if (t.ok()) {
            steps.push_back("security PIN accepted; the lock's clock set to " + FormatRfc3339(now));
          } else {
            pin_check = t;
          }
        } else {
          pin_check =
              lintel::Status::FailedPrecondition("cannot read " + pin_file + ": " + pin_error);
        }
        Result<LockCredentials> r = creds;
        return [=](BleLocks& b) { b.OnPairResult(id, r, steps, pin_check, reply); };
      },
      [id, reply](BleLocks& b, const lintel::Status& s) {
        b.OnPairResult(id, s, {}, lintel::Status::Ok(), reply);
      });
}

void BleLocks::OnPairResult(const std::string& id, const Result<LockCredentials>& paired,
                            std::vector<std::string> steps, const lintel::Status& pin_check,
                            const PairReply& reply) {
  Lock* lock = FindById(id);
  if (lock == nullptr) {
    reply(lintel::Status::Unavailable("lock " + id + " was stopped (configuration reloaded)"));
    return;
  }
  lock->pairing = false;
  const config::LockConfig& c = lock->config;
  if (!paired.ok()) {
    const lintel::Status& s = paired.status();
    lintel::Status out = s;
    std::optional<uint8_t> code = ble::LockErrorCodeOf(s);
    if (code == static_cast<uint8_t>(ble::ErrorCode::kNotPairing)) {
      out = lintel::Status::FailedPrecondition(
          "the lock at " + c.address + " is not in pairing mode (" + s.message() +
          "): hold its button for about 5 s until the ring lights up, then run `lintelctl lock "
          "pair " +
          c.door + "` again within 30 s");
    } else if (ble::IsDeadlineExceeded(s)) {
      out = lintel::Status::Unavailable("no answer from the lock at " + c.address +
                                        " (timeout): is it in pairing mode and in range? " +
                                        s.message());
    } else if (!LockAnswered(s)) {
      out = lintel::Status(s.code(), "pairing lock " + id + ": " + s.message());
    } else {
      out = lintel::Status(s.code(), "the lock refused pairing: " + s.message());
    }
    LogWarning(kLog, "lock " + id + ": pairing failed: " + out.ToString());
    reply(out);
    return;
  }
  lock->credentials = *paired;
  lock->credentials_error.clear();
  lock->clock_set = pin_check.ok();
  LogInfo(kLog, "lock " + id + " paired (authorization id " +
                    std::to_string(paired->credentials.authorization_id) + ")");
  Journal({{"type", "lock.paired"},
           {"lock", id},
           {"door", c.door},
           {"authorization_id", paired->credentials.authorization_id}});
  NoteReachable(*lock, true, "");
  RequestStateRead(*lock);
  Recompute(*lock, true);
  if (!pin_check.ok()) {
    reply(lintel::Status::FailedPrecondition(
        "paired with the lock (credentials in " + c.credentials +
        "), but the security PIN could not be used: " + pin_check.message() + "; correct " +
        c.security_pin_file + " (the PIN set in the Nuki app): the next sync reads it again"));
    return;
  }
  json steps_json = json::array();
  for (std::string& s : steps) steps_json.push_back(std::move(s));
  reply(json{{"lock", id},
             {"door", c.door},
             {"address", c.address},
             {"authorization_id", paired->credentials.authorization_id},
             {"credentials", c.credentials},
             {"steps", steps_json}});
}

// ---- status ------------------------------------------------------------------------------------

json BleLocks::Status() const {
  json out = json::array();
  store::Store& st = gateway_.store();
  for (const auto& [id, lp] : locks_) {
    const Lock& l = *lp;
    const config::LockConfig& c = l.config;
    json j = {{"lock", id},
              {"door", c.door},
              {"type", c.type},
              {"address", c.address},
              {"adapter", c.adapter},
              {"paired", l.credentials.has_value()},
              {"pairing", l.pairing},
              {"reachable", l.reachable ? json(*l.reachable) : json(nullptr)},
              {"last_contact", OptionalTime(l.last_contact)},
              {"unlock_action", config::UnlockActionName(c.unlock_action)}};
    if (!l.credentials_error.empty()) j["credentials_error"] = l.credentials_error;
    if (!l.pin_error.empty()) j["pin_error"] = l.pin_error;
    if (!l.last_error.empty()) j["last_error"] = l.last_error;
    if (l.state) {
      j["state"] = ble::LockStateName(l.state->lock_state);
      j["battery_percent"] = l.state->battery_percent();
      j["battery_critical"] = l.state->battery_critical();
      j["state_at"] = OptionalTime(l.state_at);
      if (l.state->v22)
        j["door_sensor"] = ble::DoorSensorStateName(l.state->v22->door_sensor_state);
    } else {
      j["state"] = nullptr;
      j["battery_percent"] = nullptr;
    }
    j["jammed"] = l.jammed;
    if (!l.timezone_warning.empty()) j["timezone_warning"] = l.timezone_warning;
    json sync = {{"codes", c.sync_codes},       {"authorizations", c.sync_authorizations},
                 {"desired", l.desired.size()}, {"pending_changes", l.pending_ops},
                 {"running", l.sync_running},   {"failures", l.sync_failures}};
    if (!l.sync_error.empty()) sync["error"] = l.sync_error;
    Result<std::optional<store::LockSyncState>> ss = st.LockSyncStatus(id);
    if (ss.ok() && *ss) {
      sync["last_success"] = OptionalTime((*ss)->last_success);
      sync["last_attempt"] = OptionalTime((*ss)->last_attempt);
      if (!(*ss)->last_error.empty()) sync["last_error"] = (*ss)->last_error;
    } else {
      sync["last_success"] = nullptr;
      sync["last_attempt"] = nullptr;
    }
    json skipped = json::array();
    for (const rules::SkippedEntry& s : l.skipped) {
      skipped.push_back({{"credential", s.credential},
                         {"person", s.person},
                         {"why", rules::SkipWhyName(s.why)},
                         {"reason", s.reason}});
    }
    sync["not_pushed"] = skipped;
    j["sync"] = sync;
    auto a = adapters_.find(c.adapter);
    if (a != adapters_.end()) {
      j["queued"] = a->second->worker->queued();
      j["jobs"] = a->second->outstanding;
      if (!a->second->failure.empty()) j["adapter_error"] = a->second->failure;
      if (!a->second->scan_error.empty()) j["scan_error"] = a->second->scan_error;
    }
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace lintel::devices
