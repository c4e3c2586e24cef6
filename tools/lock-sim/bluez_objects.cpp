// BluezSim (contract in bluez_objects.h).
//
// The sdbus-c++ connection runs no thread of its own: its fd is watched by the EventLoop and
// Pump() lets sd-bus process what arrived, then re-arms the fd (POLLOUT while output is queued)
// and a timer for sd-bus's next timeout. Pump() runs after every loop callback that may have
// sent something (timers, control commands); handlers, which run inside Pump(), never call it.
// Handlers throw only sdbus::Error (anything else is converted), as sdbus-c++ requires. A method
// that names its inputs must name its outputs too (sd_bus_add_object_vtable: EINVAL otherwise).
#include "tools/lock-sim/bluez_objects.h"

#include <poll.h>
#include <sdbus-c++/sdbus-c++.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <sstream>

#include "drivers/ble/bluez_link.h"

namespace lintel::locksim {

const char* const kSimCommandHelp =
    "range LOCK in|out | connect-delay LOCK MS | resolve-delay LOCK MS | drop-indications LOCK N "
    "| advertise LOCK [state-changed] | disconnect LOCK | stale-cache LOCK | peer LOCK ARGS... | "
    "state | quit";

std::vector<GattServiceSpec> NukiGattServices() {
  const std::vector<std::string> flags = {"write", "indicate"};
  return {{kNukiPairingService, {{"a92ee101-5501-11e4-916c-0800200c9a66", flags}}},
          {kNukiKeyturnerService,
           {{"a92ee201-5501-11e4-916c-0800200c9a66", flags},
            {"a92ee202-5501-11e4-916c-0800200c9a66", flags}}}};
}

namespace {

using Json = BluezSim::Json;
using std::chrono::milliseconds;

constexpr const char* kAdapter1 = "org.bluez.Adapter1";
constexpr const char* kDevice1 = "org.bluez.Device1";
constexpr const char* kService1 = "org.bluez.GattService1";
constexpr const char* kCharacteristic1 = "org.bluez.GattCharacteristic1";
constexpr const char* kFailed = "org.bluez.Error.Failed";
constexpr int kMaxDelayMs = 600'000;
constexpr int kReappearMs = 50;  // a removed device in range is rediscovered this long after

using Dict = std::map<std::string, sdbus::Variant>;

std::string Hex(const std::vector<uint8_t>& v) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : v) {
    s += kDigits[b >> 4];
    s += kDigits[b & 0x0F];
  }
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool HasFlag(const std::vector<std::string>& flags, const char* f) {
  return std::find(flags.begin(), flags.end(), f) != flags.end();
}

// An iBeacon in Apple's manufacturer data: 02 15 | proximity UUID | major | minor | TX power.
std::vector<uint8_t> IBeacon(const std::string& proximity_uuid, uint16_t major, uint16_t minor) {
  std::vector<uint8_t> d = {0x02, 0x15};
  std::string hex;
  for (char c : proximity_uuid) {
    if (c != '-') hex += c;
  }
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    d.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  d.push_back(static_cast<uint8_t>(major >> 8));
  d.push_back(static_cast<uint8_t>(major & 0xFF));
  d.push_back(static_cast<uint8_t>(minor >> 8));
  d.push_back(static_cast<uint8_t>(minor & 0xFF));
  d.push_back(0xC4);  // measured power -60 dBm; bit 0 is Nuki's "state changed" flag (clear)
  return d;
}

std::string HandleName(int h) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(4, '0');
  for (int i = 3; i >= 0; --i, h >>= 4) s[static_cast<size_t>(i)] = kDigits[h & 0x0F];
  return s;
}

// Runs a handler body: sdbus::Error passes, anything else becomes org.bluez.Error.Failed.
template <typename F>
auto Handle(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const sdbus::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw sdbus::Error(kFailed, std::string("lock-sim: ") + e.what());
  } catch (...) {
    throw sdbus::Error(kFailed, "lock-sim: unknown exception");
  }
}

Result<int64_t> ParseInt(const std::string& s, int64_t lo, int64_t hi, const char* what) {
  int64_t v = 0;
  size_t used = 0;
  try {
    v = std::stoll(s, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || v < lo || v > hi) {
    return Status::InvalidArgument(std::string(what) + " \"" + s + "\": must be a number " +
                                   std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v;
}

}  // namespace

class BluezSim::Impl {
 public:
  struct Characteristic {
    GattCharacteristicSpec spec;
    std::string path;
    std::vector<uint8_t> value;
    bool notifying = false;
    std::unique_ptr<sdbus::IObject> object;
  };
  struct Service {
    GattServiceSpec spec;
    std::string path;
    std::unique_ptr<sdbus::IObject> object;
    std::vector<std::unique_ptr<Characteristic>> characteristics;
  };
  struct Lock;
  class Host final : public PeripheralHost {
   public:
    Host(Impl& sim, Lock& lock) : sim_(sim), lock_(lock) {}
    void Indicate(std::string_view uuid, std::vector<uint8_t> value) override {
      sim_.Indicate(lock_, Lower(std::string(uuid)), std::move(value), "peripheral");
      sim_.Flush();
    }
    void After(milliseconds after, std::function<void()> fn) override {
      sim_.After(after, std::move(fn));
    }
    void SetStateChanged(bool changed) override {
      sim_.SetStateChanged(lock_, changed);
      sim_.Flush();
    }
    const Clock& clock() const override { return sim_.clock_; }
    void Report(std::string_view key, std::string_view value) override {
      sim_.Event(sim_.LockEvent(lock_, {{std::string(key), std::string(value)}}));
    }

   private:
    Impl& sim_;
    Lock& lock_;
  };
  struct Lock {
    LockSpec spec;
    size_t index = 0;
    std::string path;
    bool present = true;       // the Device1 object exists (RemoveDevice removes it)
    bool gatt_present = true;  // false after `stale-cache` until the device is re-created
    bool connected = false;
    bool resolved = false;
    int drop_indications = 0;
    std::vector<uint8_t> ibeacon;
    std::unique_ptr<sdbus::IObject> device;
    std::vector<std::unique_ptr<Service>> services;
    std::optional<sdbus::Result<>> pending_connect;
    std::optional<EventLoop::TimerId> connect_timer;
    std::optional<EventLoop::TimerId> resolve_timer;
    std::unique_ptr<Host> host;
    std::unique_ptr<Peripheral> peripheral;
  };

  Impl(EventLoop& loop, const Clock& clock, SimOptions o, EventSink sink, LostCallback on_lost)
      : loop_(loop),
        clock_(clock),
        o_(std::move(o)),
        adapter_path_("/org/bluez/" + o_.adapter),
        sink_(std::move(sink)),
        on_lost_(std::move(on_lost)) {}

  ~Impl() {
    for (auto& l : locks_) {
      Cancel(l->connect_timer);
      Cancel(l->resolve_timer);
      if (l->pending_connect) {
        try {
          l->pending_connect->returnError(sdbus::Error(kFailed, "lock-sim stopping"));
        } catch (...) {
        }
        l->pending_connect.reset();
      }
    }
    Cancel(pump_timer_);
    if (fd_handle_) loop_.RemoveFd(*fd_handle_);
    if (conn_ && !lost_) {
      try {
        while (conn_->processPendingRequest()) {
        }
      } catch (...) {
      }
    }
    locks_.clear();
    adapter_.reset();
    root_.reset();
    conn_.reset();
  }

  Status Start(PeripheralFactory& factory) {
    for (const LockSpec& spec : o_.locks) {
      auto l = std::make_unique<Lock>();
      l->spec = spec;
      l->index = locks_.size();
      l->path = ble::BluezDevicePath(o_.adapter, spec.address);
      if (l->spec.name.empty()) {
        std::string a = spec.address;
        a.erase(std::remove(a.begin(), a.end(), ':'), a.end());
        l->spec.name = "Nuki_" + a.substr(4);
      }
      std::string proximity = kNukiKeyturnerService;
      l->ibeacon = IBeacon(proximity, 0x0000, static_cast<uint16_t>(l->index + 1));
      l->host = std::make_unique<Host>(*this, *l);
      Result<std::unique_ptr<Peripheral>> p = factory(l->spec, *l->host);
      if (!p.ok()) return p.status();
      l->peripheral = std::move(*p);
      locks_.push_back(std::move(l));
    }
    try {
      conn_ = o_.bus_address.empty() ? sdbus::createSystemBusConnection()
                                     : sdbus::createSessionBusConnectionWithAddress(o_.bus_address);
      root_ = sdbus::createObject(*conn_, "/");
      root_->addObjectManager();
      CreateAdapter();
      for (auto& l : locks_) CreateDevice(*l);
    } catch (const sdbus::Error& e) {
      return Status::Unavailable(
          "D-Bus " + (o_.bus_address.empty() ? std::string("system bus") : o_.bus_address) + ": " +
          e.getName() + ": " + e.getMessage());
    }
    try {
      conn_->requestName("org.bluez");
    } catch (const sdbus::Error& e) {
      return Status::Unavailable(
          "cannot own org.bluez (is bluetoothd or another lock-sim on the "
          "bus?): " +
          e.getName() + ": " + e.getMessage());
    }
    Result<EventLoop::FdHandle> h = loop_.AddFd(conn_->getEventLoopPollData().fd, EPOLLIN,
                                                [this](uint32_t events) { OnReadable(events); });
    if (!h.ok()) return h.status();
    fd_handle_ = *h;
    fd_events_ = EPOLLIN;
    Pump();
    return Status::Ok();
  }

  std::string unique_name() const {
    try {
      return conn_->getUniqueName();
    } catch (const sdbus::Error&) {
      return "";
    }
  }

  // ---- the loop integration -----------------------------------------------------------------

  void OnReadable(uint32_t events) {
    Pump();
    if (!lost_ && (events & (EPOLLHUP | EPOLLERR)) != 0) Lost("the bus hung up");
  }

  // After a loop callback that may have sent something; a no-op inside a D-Bus handler.
  void Flush() {
    if (!dispatching_) Pump();
  }

  void Pump() {
    if (lost_) return;
    try {
      dispatching_ = true;
      while (conn_->processPendingRequest()) {
      }
      dispatching_ = false;
      sdbus::IConnection::PollData pd = conn_->getEventLoopPollData();
      uint32_t events = 0;
      if ((pd.events & POLLIN) != 0) events |= EPOLLIN;
      if ((pd.events & POLLOUT) != 0) events |= EPOLLOUT;
      if (events != fd_events_) {
        if (Status s = loop_.ModifyFd(*fd_handle_, events); !s.ok()) {
          Lost(s.message());
          return;
        }
        fd_events_ = events;
      }
      Cancel(pump_timer_);
      if (pd.timeout_usec != UINT64_MAX) {
        std::optional<std::chrono::microseconds> rel = pd.getRelativeTimeout();
        pump_timer_ = loop_.AddTimer(rel.value_or(std::chrono::microseconds(0)), [this] {
          pump_timer_.reset();
          Pump();
        });
      }
    } catch (const sdbus::Error& e) {
      dispatching_ = false;
      Lost(e.getName() + ": " + e.getMessage());
    } catch (const std::exception& e) {
      dispatching_ = false;
      Lost(e.what());
    }
  }

  void Lost(const std::string& why) {
    if (lost_) return;
    lost_ = true;
    if (fd_handle_) loop_.RemoveFd(*fd_handle_);
    fd_handle_.reset();
    Cancel(pump_timer_);
    on_lost_(why);
  }

  void After(milliseconds after, std::function<void()> fn) {
    loop_.AddTimer(after, [this, fn = std::move(fn)] {
      try {
        fn();
      } catch (const std::exception& e) {
        Event({{"error", std::string("peripheral timer: ") + e.what()}});
      }
      Flush();
    });
  }

  void Cancel(std::optional<EventLoop::TimerId>& t) {
    if (t) loop_.CancelTimer(*t);
    t.reset();
  }

  void Event(const Json& j) { sink_(j); }
  Json LockEvent(const Lock& l, const Json& body) {
    Json j = {{"lock", l.spec.address}};
    for (const auto& [k, v] : body.items()) j[k] = v;
    return j;
  }

  std::string Sender(sdbus::IObject& o) {
    const sdbus::Message* m = o.getCurrentlyProcessedMessage();
    return m != nullptr ? m->getSender() : "";
  }

  // ---- the adapter ------------------------------------------------------------------------

  void CreateAdapter() {
    adapter_ = sdbus::createObject(*conn_, adapter_path_);
    sdbus::IObject& o = *adapter_;
    o.registerMethod("StartDiscovery").onInterface(kAdapter1).implementedAs([this] {
      Handle([&] { StartDiscovery(); });
    });
    o.registerMethod("StopDiscovery").onInterface(kAdapter1).implementedAs([this] {
      Handle([&] { StopDiscovery(); });
    });
    o.registerMethod("SetDiscoveryFilter")
        .onInterface(kAdapter1)
        .implementedAs([this](Dict filter) { Handle([&] { SetDiscoveryFilter(filter); }); })
        .withInputParamNames("properties");
    o.registerMethod("GetDiscoveryFilters").onInterface(kAdapter1).implementedAs([] {
      return std::vector<std::string>{"UUIDs",         "RSSI",         "Pathloss", "Transport",
                                      "DuplicateData", "Discoverable", "Pattern"};
    });
    o.registerMethod("RemoveDevice")
        .onInterface(kAdapter1)
        .implementedAs([this](sdbus::ObjectPath p) { Handle([&] { RemoveDevice(p); }); })
        .withInputParamNames("device");
    o.registerProperty("Address").onInterface(kAdapter1).withGetter(
        [this] { return o_.adapter_address; });
    o.registerProperty("AddressType").onInterface(kAdapter1).withGetter([] {
      return std::string("public");
    });
    o.registerProperty("Name").onInterface(kAdapter1).withGetter(
        [] { return std::string("lock-sim"); });
    o.registerProperty("Alias").onInterface(kAdapter1).withGetter(
        [] { return std::string("lock-sim"); });
    o.registerProperty("Powered").onInterface(kAdapter1).withGetter([] { return true; });
    o.registerProperty("Discoverable").onInterface(kAdapter1).withGetter([] { return false; });
    o.registerProperty("Pairable").onInterface(kAdapter1).withGetter([] { return false; });
    o.registerProperty("Discovering").onInterface(kAdapter1).withGetter([this] {
      return discovering_;
    });
    o.registerProperty("UUIDs").onInterface(kAdapter1).withGetter(
        [] { return std::vector<std::string>{}; });
    o.finishRegistration();
  }

  void SetDiscoveryFilter(const Dict& filter) {
    std::vector<std::string> uuids;
    std::string transport = "auto";
    for (const auto& [key, value] : filter) {
      if (key == "UUIDs" && value.containsValueOfType<std::vector<std::string>>()) {
        for (const std::string& u : value.get<std::vector<std::string>>()) {
          std::string c = ble::CanonicalUuid(u);
          if (c.empty()) throw sdbus::Error("org.bluez.Error.InvalidArguments", "Invalid UUID");
          uuids.push_back(c);
        }
      } else if (key == "Transport" && value.containsValueOfType<std::string>()) {
        transport = value.get<std::string>();
        if (transport != "auto" && transport != "bredr" && transport != "le") {
          throw sdbus::Error("org.bluez.Error.InvalidArguments", "Invalid Transport");
        }
      } else if (key == "RSSI" || key == "Pathloss" || key == "DuplicateData" ||
                 key == "Discoverable" || key == "Pattern") {
        // accepted, not simulated
      } else {
        throw sdbus::Error("org.bluez.Error.InvalidArguments", "Invalid filter key " + key);
      }
    }
    filter_uuids_ = uuids;
    filter_transport_ = transport;
    Event({{"discovery", "filter"}, {"uuids", uuids}, {"transport", transport}});
  }

  void StartDiscovery() {
    if (discovering_)
      throw sdbus::Error("org.bluez.Error.InProgress", "Operation already in progress");
    discovering_ = true;
    Event({{"discovery", "started"}, {"uuids", filter_uuids_}, {"transport", filter_transport_}});
    adapter_->emitPropertiesChangedSignal(kAdapter1, {"Discovering"});
    // Advertisements follow the reply, as the radio would.
    loop_.AddTimer(milliseconds(0), [this] {
      for (auto& l : locks_) Advertise(*l);
      Flush();
    });
  }

  void StopDiscovery() {
    if (!discovering_) throw sdbus::Error(kFailed, "No discovery started");
    discovering_ = false;
    Event({{"discovery", "stopped"}});
    adapter_->emitPropertiesChangedSignal(kAdapter1, {"Discovering"});
  }

  bool PassesFilter(const Lock& l) const {
    if (filter_transport_ == "bredr") return false;  // the locks are LE only
    if (filter_uuids_.empty()) return true;
    for (const auto& s : l.spec.services) {
      if (std::find(filter_uuids_.begin(), filter_uuids_.end(), s.uuid) != filter_uuids_.end()) {
        return true;
      }
    }
    return false;
  }

  // The lock is heard while discovering: created if it was removed, else its RSSI and
  // manufacturer data are reported again.
  void Advertise(Lock& l) {
    if (!discovering_ || !l.spec.in_range || !PassesFilter(l)) return;
    if (!l.present) {
      CreateDevice(l);
      Event(LockEvent(l, {{"device", "added"}, {"path", l.path}}));
      l.device->emitInterfacesAddedSignal();
      for (auto& s : l.services) {
        s->object->emitInterfacesAddedSignal();
        for (auto& c : s->characteristics) c->object->emitInterfacesAddedSignal();
      }
      return;
    }
    Event(LockEvent(l, {{"advertised", true},
                        {"rssi", l.spec.rssi},
                        {"state_changed", (l.ibeacon.back() & 0x01) != 0}}));
    l.device->emitPropertiesChangedSignal(kDevice1, {"RSSI", "ManufacturerData"});
  }

  void SetStateChanged(Lock& l, bool changed) {
    uint8_t& tx = l.ibeacon.back();
    tx = static_cast<uint8_t>(changed ? (tx | 0x01) : (tx & ~0x01));
    Advertise(l);
  }

  void RemoveDevice(const sdbus::ObjectPath& path) {
    Lock* l = nullptr;
    for (auto& c : locks_) {
      if (c->path == path && c->present) l = c.get();
    }
    if (l == nullptr) throw sdbus::Error("org.bluez.Error.DoesNotExist", "Does Not Exist");
    if (l->connected || l->pending_connect) DropLink(*l, "removed");
    Event(LockEvent(*l, {{"device", "removed"}, {"path", l->path}}));
    RemoveGatt(*l);
    l->device->emitInterfacesRemovedSignal();
    l->device.reset();
    l->present = false;
    // Heard again soon while discovering and in range.
    loop_.AddTimer(milliseconds(kReappearMs), [this, l] {
      Advertise(*l);
      Flush();
    });
  }

  void RemoveGatt(Lock& l) {
    for (auto& s : l.services) {
      for (auto& c : s->characteristics) c->object->emitInterfacesRemovedSignal();
      s->object->emitInterfacesRemovedSignal();
    }
    l.services.clear();
    l.gatt_present = false;
  }

  // ---- a device -----------------------------------------------------------------------------

  void CreateDevice(Lock& l) {
    l.device = sdbus::createObject(*conn_, l.path);
    sdbus::IObject& o = *l.device;
    Lock* lp = &l;
    o.registerMethod("Connect").onInterface(kDevice1).implementedAs(
        [this, lp](sdbus::Result<>&& result) { OnConnect(*lp, std::move(result)); });
    o.registerMethod("Disconnect").onInterface(kDevice1).implementedAs([this, lp] {
      Handle([&] { OnDisconnect(*lp); });
    });
    o.registerProperty("Address").onInterface(kDevice1).withGetter(
        [lp] { return lp->spec.address; });
    o.registerProperty("AddressType").onInterface(kDevice1).withGetter([] {
      return std::string("random");
    });
    o.registerProperty("Name").onInterface(kDevice1).withGetter([lp] { return lp->spec.name; });
    o.registerProperty("Alias").onInterface(kDevice1).withGetter([lp] { return lp->spec.name; });
    o.registerProperty("Adapter").onInterface(kDevice1).withGetter(
        [this] { return sdbus::ObjectPath(adapter_path_); });
    o.registerProperty("Paired").onInterface(kDevice1).withGetter([] { return false; });
    o.registerProperty("Trusted").onInterface(kDevice1).withGetter([] { return false; });
    o.registerProperty("Blocked").onInterface(kDevice1).withGetter([] { return false; });
    o.registerProperty("LegacyPairing").onInterface(kDevice1).withGetter([] { return false; });
    o.registerProperty("Connected").onInterface(kDevice1).withGetter([lp] {
      return lp->connected;
    });
    o.registerProperty("ServicesResolved").onInterface(kDevice1).withGetter([lp] {
      return lp->resolved;
    });
    o.registerProperty("UUIDs").onInterface(kDevice1).withGetter([lp] {
      std::vector<std::string> uuids;
      for (const auto& s : lp->spec.services) uuids.push_back(s.uuid);
      return uuids;
    });
    o.registerProperty("RSSI").onInterface(kDevice1).withGetter([lp] { return lp->spec.rssi; });
    o.registerProperty("ManufacturerData").onInterface(kDevice1).withGetter([lp] {
      return std::map<uint16_t, sdbus::Variant>{
          {ble::kAppleCompanyId, sdbus::Variant(lp->ibeacon)}};
    });
    o.finishRegistration();
    l.present = true;
    CreateGatt(l);
  }

  void CreateGatt(Lock& l) {
    l.services.clear();
    int handle = 0x000a;
    for (const GattServiceSpec& spec : l.spec.services) {
      auto s = std::make_unique<Service>();
      s->spec = spec;
      s->path = l.path + "/service" + HandleName(handle++);
      s->object = sdbus::createObject(*conn_, s->path);
      Service* sp = s.get();
      Lock* lp = &l;
      s->object->registerProperty("UUID").onInterface(kService1).withGetter(
          [sp] { return sp->spec.uuid; });
      s->object->registerProperty("Device").onInterface(kService1).withGetter(
          [lp] { return sdbus::ObjectPath(lp->path); });
      s->object->registerProperty("Primary").onInterface(kService1).withGetter([] { return true; });
      s->object->registerProperty("Includes").onInterface(kService1).withGetter([] {
        return std::vector<sdbus::ObjectPath>{};
      });
      s->object->finishRegistration();
      for (const GattCharacteristicSpec& cs : spec.characteristics) {
        auto c = std::make_unique<Characteristic>();
        c->spec = cs;
        c->path = s->path + "/char" + HandleName(handle);
        handle += 2;  // the value handle and its client configuration descriptor
        CreateCharacteristic(l, *s, *c);
        s->characteristics.push_back(std::move(c));
      }
      l.services.push_back(std::move(s));
    }
    l.gatt_present = true;
  }

  void CreateCharacteristic(Lock& l, Service& s, Characteristic& c) {
    c.object = sdbus::createObject(*conn_, c.path);
    sdbus::IObject& o = *c.object;
    Lock* lp = &l;
    Characteristic* cp = &c;
    const std::string service_path = s.path;
    o.registerMethod("ReadValue")
        .onInterface(kCharacteristic1)
        .implementedAs([lp, cp](Dict) {
          return Handle([&] {
            if (!lp->connected) throw sdbus::Error(kFailed, "Not connected");
            if (!HasFlag(cp->spec.flags, "read")) {
              throw sdbus::Error("org.bluez.Error.NotPermitted", "Read not permitted");
            }
            return cp->value;
          });
        })
        .withInputParamNames("options")
        .withOutputParamNames("value");
    o.registerMethod("WriteValue")
        .onInterface(kCharacteristic1)
        .implementedAs(
            [this, lp, cp](sdbus::Result<>&& result, std::vector<uint8_t> value, Dict options) {
              OnWrite(*lp, *cp, std::move(result), value, options);
            })
        .withInputParamNames("value", "options");
    o.registerMethod("StartNotify").onInterface(kCharacteristic1).implementedAs([this, lp, cp] {
      Handle([&] { StartNotify(*lp, *cp); });
    });
    o.registerMethod("StopNotify").onInterface(kCharacteristic1).implementedAs([this, lp, cp] {
      Handle([&] { StopNotify(*lp, *cp); });
    });
    o.registerProperty("UUID").onInterface(kCharacteristic1).withGetter([cp] {
      return cp->spec.uuid;
    });
    o.registerProperty("Service").onInterface(kCharacteristic1).withGetter([service_path] {
      return sdbus::ObjectPath(service_path);
    });
    o.registerProperty("Value").onInterface(kCharacteristic1).withGetter([cp] {
      return cp->value;
    });
    o.registerProperty("Notifying").onInterface(kCharacteristic1).withGetter([cp] {
      return cp->notifying;
    });
    o.registerProperty("Flags").onInterface(kCharacteristic1).withGetter([cp] {
      return cp->spec.flags;
    });
    o.registerProperty("MTU").onInterface(kCharacteristic1).withGetter([] {
      return static_cast<uint16_t>(kMaxValueLength + 3);
    });
    o.finishRegistration();
  }

  Characteristic* FindCharacteristic(Lock& l, const std::string& uuid) {
    for (auto& s : l.services) {
      for (auto& c : s->characteristics) {
        if (c->spec.uuid == uuid) return c.get();
      }
    }
    return nullptr;
  }

  // Device1.Connect: answered connect-delay later (async reply).
  void OnConnect(Lock& l, sdbus::Result<>&& result) {
    std::string by = Sender(*l.device);
    if (l.connected) {
      result.returnResults();  // BlueZ answers an LE Connect of a connected device at once
      return;
    }
    if (l.pending_connect) {
      result.returnError(sdbus::Error("org.bluez.Error.InProgress", "In Progress"));
      return;
    }
    Event(LockEvent(l, {{"connect", "requested"},
                        {"by", by},
                        {"in_range", l.spec.in_range},
                        {"delay_ms", l.spec.connect_delay_ms}}));
    l.pending_connect = std::move(result);
    Lock* lp = &l;
    l.connect_timer = loop_.AddTimer(milliseconds(l.spec.connect_delay_ms), [this, lp] {
      lp->connect_timer.reset();
      FinishConnect(*lp);
      Flush();
    });
  }

  void FinishConnect(Lock& l) {
    sdbus::Result<> result = std::move(*l.pending_connect);
    l.pending_connect.reset();
    if (!l.spec.in_range) {
      Event(LockEvent(l, {{"connect", "failed"}, {"reason", "le-connection-abort-by-local"}}));
      result.returnError(sdbus::Error(kFailed, "le-connection-abort-by-local"));
      return;
    }
    l.connected = true;
    Event(LockEvent(l, {{"connected", true}}));
    l.device->emitPropertiesChangedSignal(kDevice1, {"Connected"});
    result.returnResults();
    try {
      l.peripheral->OnConnect();
    } catch (const std::exception& e) {
      Event(LockEvent(l, {{"error", std::string("peripheral OnConnect: ") + e.what()}}));
    }
    Lock* lp = &l;
    l.resolve_timer = loop_.AddTimer(milliseconds(l.spec.resolve_delay_ms), [this, lp] {
      lp->resolve_timer.reset();
      if (!lp->connected) return;
      lp->resolved = true;
      Event(LockEvent(*lp, {{"services_resolved", true}, {"gatt", lp->gatt_present}}));
      lp->device->emitPropertiesChangedSignal(kDevice1, {"ServicesResolved"});
      Flush();
    });
  }

  void OnDisconnect(Lock& l) {
    if (l.pending_connect) {
      Cancel(l.connect_timer);
      sdbus::Result<> pending = std::move(*l.pending_connect);
      l.pending_connect.reset();
      Event(LockEvent(l, {{"connect", "cancelled"}}));
      pending.returnError(sdbus::Error(kFailed, "le-connection-abort-by-local"));
      return;
    }
    if (!l.connected) throw sdbus::Error("org.bluez.Error.NotConnected", "Not Connected");
    DropLink(l, "client");
  }

  // The link ends: notifications stop, ServicesResolved and Connected turn false.
  void DropLink(Lock& l, const std::string& cause) {
    Cancel(l.resolve_timer);
    if (l.pending_connect) {
      Cancel(l.connect_timer);
      sdbus::Result<> pending = std::move(*l.pending_connect);
      l.pending_connect.reset();
      pending.returnError(sdbus::Error(kFailed, "le-connection-abort-by-local"));
    }
    if (!l.connected) return;
    for (auto& s : l.services) {
      for (auto& c : s->characteristics) {
        if (!c->notifying) continue;
        c->notifying = false;
        c->object->emitPropertiesChangedSignal(kCharacteristic1, {"Notifying"});
      }
    }
    Event(LockEvent(l, {{"disconnected", cause}}));
    if (l.resolved) {
      l.resolved = false;
      l.device->emitPropertiesChangedSignal(kDevice1, {"ServicesResolved"});
    }
    l.connected = false;
    l.device->emitPropertiesChangedSignal(kDevice1, {"Connected"});
    try {
      l.peripheral->OnDisconnect();
    } catch (const std::exception& e) {
      Event(LockEvent(l, {{"error", std::string("peripheral OnDisconnect: ") + e.what()}}));
    }
  }

  void StartNotify(Lock& l, Characteristic& c) {
    if (!l.connected) throw sdbus::Error(kFailed, "Not connected");
    if (!HasFlag(c.spec.flags, "notify") && !HasFlag(c.spec.flags, "indicate")) {
      throw sdbus::Error("org.bluez.Error.NotSupported", "Operation is not supported");
    }
    if (c.notifying) return;  // BlueZ: the same client asking again succeeds
    c.notifying = true;
    Event(LockEvent(l, {{"notify", "on"}, {"char", c.spec.uuid}}));
    c.object->emitPropertiesChangedSignal(kCharacteristic1, {"Notifying"});
  }

  void StopNotify(Lock& l, Characteristic& c) {
    if (!c.notifying) throw sdbus::Error(kFailed, "No notify session started");
    c.notifying = false;
    Event(LockEvent(l, {{"notify", "off"}, {"char", c.spec.uuid}}));
    c.object->emitPropertiesChangedSignal(kCharacteristic1, {"Notifying"});
  }

  void OnWrite(Lock& l, Characteristic& c, sdbus::Result<>&& result,
               const std::vector<uint8_t>& value, const Dict& options) {
    std::string type = "request";
    std::vector<Peripheral::Indication> indications;
    try {
      if (auto it = options.find("type"); it != options.end()) {
        if (!it->second.containsValueOfType<std::string>()) {
          throw sdbus::Error("org.bluez.Error.InvalidArguments",
                             "Invalid arguments in method call");
        }
        type = it->second.get<std::string>();
        if (type != "request" && type != "command" && type != "reliable") {
          throw sdbus::Error("org.bluez.Error.InvalidArguments",
                             "Invalid arguments in method call");
        }
      }
      if (!l.connected) throw sdbus::Error(kFailed, "Not connected");
      if (!HasFlag(c.spec.flags, "write") && !HasFlag(c.spec.flags, "write-without-response")) {
        throw sdbus::Error("org.bluez.Error.NotPermitted", "Write not permitted");
      }
      if (value.size() > kMaxValueLength) {
        throw sdbus::Error("org.bluez.Error.InvalidValueLength", "Invalid Length");
      }
      Json line = LockEvent(l, {{"write", c.spec.uuid}, {"type", type}, {"len", value.size()}});
      if (verbose_) line["hex"] = Hex(value);
      Event(line);
      Result<std::vector<Peripheral::Indication>> r = l.peripheral->OnWrite(c.spec.uuid, value);
      if (!r.ok()) {
        Event(LockEvent(l, {{"write", "refused"}, {"error", r.status().message()}}));
        throw sdbus::Error(kFailed, r.status().message());
      }
      indications = std::move(*r);
    } catch (const sdbus::Error& e) {
      result.returnError(e);
      return;
    } catch (const std::exception& e) {
      result.returnError(sdbus::Error(kFailed, std::string("lock-sim: ") + e.what()));
      return;
    }
    result.returnResults();  // the write response precedes the answer's indications
    for (auto& [uuid, bytes] : indications) Indicate(l, Lower(uuid), std::move(bytes), "write");
  }

  // Sets Value and emits PropertiesChanged, unless the indication cannot or must not be sent.
  void Indicate(Lock& l, const std::string& uuid, std::vector<uint8_t> value, const char* cause) {
    Characteristic* c = FindCharacteristic(l, uuid);
    const char* not_sent = nullptr;
    if (c == nullptr) {
      not_sent = "no such characteristic";
    } else if (!l.connected) {
      not_sent = "not connected";
    } else if (!c->notifying) {
      not_sent = "notifications off";
    } else if (l.drop_indications > 0) {
      --l.drop_indications;
      not_sent = "dropped";
    }
    if (not_sent != nullptr) {
      Event(LockEvent(l, {{"indication", "not sent"},
                          {"char", uuid},
                          {"reason", not_sent},
                          {"len", value.size()}}));
      return;
    }
    c->value = std::move(value);
    Json line = LockEvent(l, {{"indication", uuid}, {"len", c->value.size()}, {"cause", cause}});
    if (verbose_) line["hex"] = Hex(c->value);
    Event(line);
    c->object->emitPropertiesChangedSignal(kCharacteristic1, {"Value"});
  }

  // ---- control ------------------------------------------------------------------------------

  Result<Lock*> FindLock(const std::string& key) {
    for (auto& l : locks_) {
      if (Lower(l->spec.address) == Lower(key) || l->spec.name == key ||
          std::to_string(l->index) == key) {
        return l.get();
      }
    }
    return Status::InvalidArgument("no lock \"" + key + "\" (an address, a name or an index)");
  }

  Result<Json> Command(const std::vector<std::string>& w) {
    auto usage = [&]() {
      std::string text;
      for (const auto& s : w) text += (text.empty() ? "" : " ") + s;
      return Status::InvalidArgument("\"" + text + "\": usage: " + kSimCommandHelp);
    };
    if (w.empty()) return usage();
    const std::string& verb = w[0];
    if (verb == "state") {
      if (w.size() != 1) return usage();
      return Json{{"state", State()}};
    }
    if (w.size() < 2) return usage();
    Result<Lock*> found = FindLock(w[1]);
    if (!found.ok()) return found.status();
    Lock& l = **found;
    Json reply = Json::object();
    if (verb == "range" && w.size() == 3 && (w[2] == "in" || w[2] == "out")) {
      const bool in = w[2] == "in";
      if (l.spec.in_range != in) {
        l.spec.in_range = in;
        Event(LockEvent(l, {{"range", w[2]}}));
        if (!in) DropLink(l, "range");
        if (in) Advertise(l);
      }
    } else if ((verb == "connect-delay" || verb == "resolve-delay") && w.size() == 3) {
      Result<int64_t> ms = ParseInt(w[2], 0, kMaxDelayMs, "MS");
      if (!ms.ok()) return ms.status();
      (verb == "connect-delay" ? l.spec.connect_delay_ms : l.spec.resolve_delay_ms) =
          static_cast<int>(*ms);
    } else if (verb == "drop-indications" && w.size() == 3) {
      Result<int64_t> n = ParseInt(w[2], 0, 1'000'000, "N");
      if (!n.ok()) return n.status();
      l.drop_indications = static_cast<int>(*n);
    } else if (verb == "advertise" &&
               (w.size() == 2 || (w.size() == 3 && w[2] == "state-changed"))) {
      if (w.size() == 3) l.ibeacon.back() ^= 0x01;
      reply["state_changed"] = (l.ibeacon.back() & 0x01) != 0;
      reply["advertised"] = discovering_ && l.spec.in_range && PassesFilter(l);
      Advertise(l);
    } else if (verb == "disconnect" && w.size() == 2) {
      reply["was_connected"] = l.connected;
      DropLink(l, "lock");
    } else if (verb == "stale-cache" && w.size() == 2) {
      if (l.present && l.gatt_present) {
        Event(LockEvent(l, {{"gatt", "stale"}}));
        RemoveGatt(l);
      }
    } else if (verb == "peer" && w.size() >= 3) {
      Result<std::string> r =
          l.peripheral->OnCommand(std::vector<std::string>(w.begin() + 2, w.end()));
      if (!r.ok()) return r.status();
      Json parsed = Json::parse(*r, nullptr, false);
      reply["result"] = parsed.is_discarded() ? Json(*r) : parsed;
    } else {
      return usage();
    }
    return reply;
  }

  Json State() const {
    Json locks = Json::array();
    for (const auto& l : locks_) {
      Json chars = Json::object();
      for (const auto& s : l->services) {
        for (const auto& c : s->characteristics) {
          chars[c->spec.uuid] = {{"path", c->path}, {"notifying", c->notifying}};
        }
      }
      locks.push_back({{"address", l->spec.address},
                       {"name", l->spec.name},
                       {"path", l->path},
                       {"present", l->present},
                       {"gatt", l->gatt_present},
                       {"in_range", l->spec.in_range},
                       {"connected", l->connected},
                       {"services_resolved", l->resolved},
                       {"connecting", l->pending_connect.has_value()},
                       {"connect_delay_ms", l->spec.connect_delay_ms},
                       {"resolve_delay_ms", l->spec.resolve_delay_ms},
                       {"drop_indications", l->drop_indications},
                       {"state_changed", (l->ibeacon.back() & 0x01) != 0},
                       {"characteristics", chars}});
    }
    return {{"adapter", adapter_path_},
            {"discovering", discovering_},
            {"filter", {{"uuids", filter_uuids_}, {"transport", filter_transport_}}},
            {"locks", locks}};
  }

  EventLoop& loop_;
  const Clock& clock_;
  const SimOptions o_;
  const std::string adapter_path_;
  EventSink sink_;
  LostCallback on_lost_;
  const bool verbose_ = o_.verbose;

  std::unique_ptr<sdbus::IConnection> conn_;
  std::unique_ptr<sdbus::IObject> root_;
  std::unique_ptr<sdbus::IObject> adapter_;
  std::vector<std::unique_ptr<Lock>> locks_;
  std::optional<EventLoop::FdHandle> fd_handle_;
  uint32_t fd_events_ = 0;
  std::optional<EventLoop::TimerId> pump_timer_;
  bool dispatching_ = false;
  bool lost_ = false;

  bool discovering_ = false;
  std::vector<std::string> filter_uuids_;
  std::string filter_transport_ = "auto";
};

BluezSim::BluezSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BluezSim::~BluezSim() = default;

Result<std::unique_ptr<BluezSim>> BluezSim::Start(EventLoop& loop, const Clock& clock,
                                                  SimOptions options, PeripheralFactory factory,
                                                  EventSink sink, LostCallback on_lost) {
  if (ble::BluezDevicePath(options.adapter, "00:00:00:00:00:00").empty()) {
    return Status::InvalidArgument("adapter \"" + options.adapter +
                                   "\": expected a name like hci0");
  }
  if (ble::CanonicalAddress(options.adapter_address).empty()) {
    return Status::InvalidArgument("adapter address \"" + options.adapter_address +
                                   "\": expected AA:BB:CC:DD:EE:FF");
  }
  std::map<std::string, int> seen;
  for (LockSpec& l : options.locks) {
    std::string a = ble::CanonicalAddress(l.address);
    if (a.empty()) {
      return Status::InvalidArgument("lock address \"" + l.address +
                                     "\": expected AA:BB:CC:DD:EE:FF");
    }
    if (seen[a]++ > 0) return Status::InvalidArgument("lock " + a + " given twice");
    l.address = a;
    if (l.connect_delay_ms < 0 || l.connect_delay_ms > kMaxDelayMs || l.resolve_delay_ms < 0 ||
        l.resolve_delay_ms > kMaxDelayMs) {
      return Status::InvalidArgument("lock " + a + ": delays must be 0.." +
                                     std::to_string(kMaxDelayMs) + " ms");
    }
    for (GattServiceSpec& s : l.services) {
      s.uuid = ble::CanonicalUuid(s.uuid);
      if (s.uuid.empty())
        return Status::InvalidArgument("lock " + a + ": a service UUID is malformed");
      for (GattCharacteristicSpec& c : s.characteristics) {
        c.uuid = ble::CanonicalUuid(c.uuid);
        if (c.uuid.empty()) {
          return Status::InvalidArgument("lock " + a + ": a characteristic UUID is malformed");
        }
      }
    }
  }
  auto impl =
      std::make_unique<Impl>(loop, clock, std::move(options), std::move(sink), std::move(on_lost));
  LINTEL_RETURN_IF_ERROR(impl->Start(factory));
  return std::unique_ptr<BluezSim>(new BluezSim(std::move(impl)));
}

Result<BluezSim::Json> BluezSim::Command(const std::vector<std::string>& words) {
  Result<Json> r = impl_->Command(words);
  impl_->Flush();
  return r;
}

BluezSim::Json BluezSim::State() const { return impl_->State(); }
std::string BluezSim::unique_name() const { return impl_->unique_name(); }

}  // namespace lintel::locksim
