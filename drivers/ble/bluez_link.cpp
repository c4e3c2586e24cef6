// BluezGattLink and BluezScanner over sdbus-c++ 1.2 (the contract is in bluez_link.h).
//
// sdbus-c++ 1.2 notes that shape this file:
//  - Synchronous calls made from a thread other than the connection's event-loop thread are sent
//    as async calls whose reply the loop thread hands over; the loop thread touches the Proxy
//    after waking the caller. So a Proxy is never destroyed while the loop runs: proxies are
//    cached per object path and destroyed only after leaveEventLoop().
//  - Match rules are installed before the loop thread starts (sd_bus_add_match is a blocking call
//    of its own); a match rule naming a well-known sender is not matched locally by sd-bus, so
//    the rules have no sender and each handler compares the sender with org.bluez's unique name.
//  - Only sdbus::Error may leave a handler; every handler here catches everything.
#include "drivers/ble/bluez_link.h"

#include <sdbus-c++/sdbus-c++.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

namespace lintel::ble {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* kBluez = "org.bluez";
constexpr const char* kAdapter1 = "org.bluez.Adapter1";
constexpr const char* kDevice1 = "org.bluez.Device1";
constexpr const char* kCharacteristic1 = "org.bluez.GattCharacteristic1";
constexpr const char* kProperties = "org.freedesktop.DBus.Properties";
constexpr const char* kObjectManager = "org.freedesktop.DBus.ObjectManager";
constexpr const char* kDbus = "org.freedesktop.DBus";
constexpr const char* kNoBluez = "org.bluez is not on the bus (bluetoothd not running)";

using Properties = std::map<std::string, sdbus::Variant>;
using InterfaceMap = std::map<std::string, Properties>;
using ManagedObjects = std::map<sdbus::ObjectPath, InterfaceMap>;

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ValidAdapter(std::string_view a) {
  return !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

std::string Ms(milliseconds d) { return std::to_string(d.count()) + " ms"; }

// What went wrong in a D-Bus call, as a Status: "<what>: <error name>: <message>".
Status FromDbusError(const sdbus::Error& e, const std::string& what) {
  const std::string& name = e.getName();
  std::string text = what + ": " + name + ": " + e.getMessage();
  if (name == "org.freedesktop.DBus.Error.NoReply" ||
      name == "org.freedesktop.DBus.Error.Timeout" ||
      name == "org.freedesktop.DBus.Error.TimedOut") {
    return DeadlineExceeded(what + ": timed out (" + name + ": " + e.getMessage() + ")");
  }
  if (name == "org.freedesktop.DBus.Error.UnknownObject" ||
      name == "org.freedesktop.DBus.Error.UnknownMethod" ||
      name == "org.freedesktop.DBus.Error.UnknownInterface" ||
      name == "org.bluez.Error.DoesNotExist") {
    return Status::NotFound(text);
  }
  if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
      name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
    return Status::Unavailable(text + " (bluetoothd is not on the bus)");
  }
  if (name == "org.bluez.Error.InvalidArguments" || name == "org.bluez.Error.InvalidValueLength" ||
      name == "org.bluez.Error.NotSupported" || name == "org.freedesktop.DBus.Error.InvalidArgs") {
    return Status::InvalidArgument(text);
  }
  if (name == "org.bluez.Error.NotPermitted" || name == "org.bluez.Error.NotAuthorized") {
    return Status::FailedPrecondition(text);
  }
  return Status::Unavailable(text);  // org.bluez.Error.Failed, NotReady, InProgress, ...
}

// Runs `f` (D-Bus calls); every exception becomes a Status. `name` receives the D-Bus error name.
template <typename F>
Status Guard(const std::string& what, F&& f, std::string* name = nullptr) {
  try {
    f();
    return Status::Ok();
  } catch (const sdbus::Error& e) {
    if (name != nullptr) *name = e.getName();
    return FromDbusError(e, what);
  } catch (const std::exception& e) {
    return Status::Internal(what + ": " + e.what());
  } catch (...) {
    return Status::Internal(what + ": unknown exception");
  }
}

// A variant's value when it holds a T.
template <typename T>
std::optional<T> Get(const Properties& props, const std::string& key) {
  auto it = props.find(key);
  if (it == props.end() || !it->second.template containsValueOfType<T>()) return std::nullopt;
  return it->second.template get<T>();
}

std::map<uint16_t, std::vector<uint8_t>> ManufacturerData(const sdbus::Variant& v) {
  std::map<uint16_t, std::vector<uint8_t>> out;
  if (!v.containsValueOfType<std::map<uint16_t, sdbus::Variant>>()) return out;
  for (const auto& [company, data] : v.get<std::map<uint16_t, sdbus::Variant>>()) {
    if (data.containsValueOfType<std::vector<uint8_t>>()) {
      out[company] = data.get<std::vector<uint8_t>>();
    }
  }
  return out;
}

// The iBeacon proximity UUID of Apple's manufacturer data, lower case; "" when there is none.
std::string IBeaconUuid(const Advertisement& ad) {
  auto it = ad.manufacturer_data.find(kAppleCompanyId);
  if (it == ad.manufacturer_data.end()) return "";
  const std::vector<uint8_t>& d = it->second;
  if (d.size() != 23 || d[0] != 0x02 || d[1] != 0x15) return "";
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[d[2 + i] >> 4];
    s += kHex[d[2 + i] & 0x0F];
  }
  return s;
}

// One bus connection with its sdbus-c++ event-loop thread, the match rules and the proxies.
class Bus {
 public:
  using Handler = std::function<void(sdbus::Message&)>;

  // Opens the bus. Errors: Unavailable.
  static Result<std::unique_ptr<Bus>> Open(const std::string& address) {
    auto bus = std::unique_ptr<Bus>(new Bus);
    Status s =
        Guard("opening the D-Bus " + (address.empty() ? std::string("system bus") : address), [&] {
          bus->conn_ = address.empty() ? sdbus::createSystemBusConnection()
                                       : sdbus::createSessionBusConnectionWithAddress(address);
        });
    if (!s.ok()) return Status::Unavailable(s.message());
    return bus;
  }

  ~Bus() {
    if (conn_) {
      try {
        conn_->leaveEventLoop();
      } catch (...) {
      }
    }
    // The loop thread is gone: nothing runs a handler or touches a proxy any more.
    proxies_.clear();
    matches_.clear();
    conn_.reset();
  }

  // Installs a match rule whose handler runs on the loop thread, wrapped so nothing escapes.
  // Before Start() only. Errors: Unavailable.
  Status AddMatch(const std::string& rule, Handler handler) {
    return Guard("AddMatch " + rule, [&] {
      matches_.push_back(conn_->addMatch(rule, [h = std::move(handler)](sdbus::Message& m) {
        try {
          h(m);
        } catch (...) {
          // A malformed signal is ignored; nothing may reach sd-bus.
        }
      }));
    });
  }

  Status Start() {
    return Guard("starting the D-Bus event loop", [&] { conn_->enterEventLoopAsync(); });
  }

  // The cached proxy of (destination, path); never destroyed while the loop runs.
  sdbus::IProxy& Proxy(const std::string& destination, const std::string& path) {
    std::lock_guard<std::mutex> l(proxies_mu_);
    auto& p = proxies_[destination + " " + path];
    if (!p) p = sdbus::createProxy(*conn_, destination, path);
    return *p;
  }

  // The unique name owning org.bluez now; "" when nobody does. Errors: Unavailable.
  Result<std::string> BluezOwner(milliseconds timeout) {
    std::string owner;
    std::string name;
    Status s = Guard(
        "GetNameOwner org.bluez",
        [&] {
          Proxy(kDbus, "/org/freedesktop/DBus")
              .callMethod("GetNameOwner")
              .onInterface(kDbus)
              .withTimeout(timeout)
              .withArguments(std::string(kBluez))
              .storeResultsTo(owner);
        },
        &name);
    if (name == "org.freedesktop.DBus.Error.NameHasNoOwner") return std::string();
    if (!s.ok()) return s;
    return owner;
  }

 private:
  Bus() = default;
  std::unique_ptr<sdbus::IConnection> conn_;
  std::vector<sdbus::Slot> matches_;
  std::mutex proxies_mu_;
  std::map<std::string, std::unique_ptr<sdbus::IProxy>> proxies_;
};

std::string PropertiesChangedRule(const std::string& adapter_path) {
  return "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
         "path_namespace='" +
         adapter_path + "'";
}
const char* kInterfacesRemovedRule =
    "type='signal',interface='org.freedesktop.DBus.ObjectManager',member='InterfacesRemoved',"
    "path='/'";
const char* kInterfacesAddedRule =
    "type='signal',interface='org.freedesktop.DBus.ObjectManager',member='InterfacesAdded',"
    "path='/'";
const char* kNameOwnerRule =
    "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
    "member='NameOwnerChanged',arg0='org.bluez'";

}  // namespace

std::string CanonicalAddress(std::string_view a) {
  if (a.size() != 17) return "";
  std::string out;
  for (size_t i = 0; i < a.size(); ++i) {
    const char c = a[i];
    if (i % 3 == 2) {
      if (c != ':') return "";
    } else if (!IsHex(c)) {
      return "";
    }
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string CanonicalUuid(std::string_view u) {
  if (u.size() != 36) return "";
  for (size_t i = 0; i < u.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !IsHex(u[i])) return "";
  }
  return Lower(std::string(u));
}

std::string BluezDevicePath(std::string_view adapter, std::string_view address) {
  std::string a = CanonicalAddress(address);
  if (a.empty() || !ValidAdapter(adapter)) return "";
  std::replace(a.begin(), a.end(), ':', '_');
  return "/org/bluez/" + std::string(adapter) + "/dev_" + a;
}

// ---- BluezGattLink -------------------------------------------------------------------------

class BluezGattLink::Impl {
 public:
  explicit Impl(BluezOptions o) : o_(std::move(o)), adapter_path_("/org/bluez/" + o_.adapter) {
    for (const std::string& u : o_.required_characteristics) required_.push_back(Lower(u));
  }

  Status Start() {
    Result<std::unique_ptr<Bus>> bus = Bus::Open(o_.bus_address);
    if (!bus.ok()) return bus.status();
    bus_ = std::move(*bus);
    LINTEL_RETURN_IF_ERROR(bus_->AddMatch(PropertiesChangedRule(adapter_path_),
                                          [this](sdbus::Message& m) { OnPropertiesChanged(m); }));
    LINTEL_RETURN_IF_ERROR(
        bus_->AddMatch(kInterfacesRemovedRule, [this](sdbus::Message& m) { OnRemoved(m); }));
    LINTEL_RETURN_IF_ERROR(
        bus_->AddMatch(kNameOwnerRule, [this](sdbus::Message& m) { OnNameOwner(m); }));
    return bus_->Start();
  }

  ~Impl() {
    if (bus_) Disconnect();
    bus_.reset();
  }

  Status Connect(std::string_view address, milliseconds timeout) {
    const std::string addr = CanonicalAddress(address);
    if (addr.empty()) {
      return Status::InvalidArgument("BLE address \"" + std::string(address) +
                                     "\": expected AA:BB:CC:DD:EE:FF");
    }
    if (timeout <= milliseconds(0)) {
      return Status::InvalidArgument("connect timeout must be positive, got " + Ms(timeout));
    }
    const auto deadline = steady_clock::now() + timeout;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (connected_ && lost_.empty() && address_ == addr) return Status::Ok();
    }
    Disconnect();

    Result<std::string> owner = bus_->BluezOwner(o_.call_timeout);
    if (!owner.ok()) return owner.status();
    if (owner->empty()) {
      return Status::Unavailable("connect " + addr + ": " + kNoBluez);
    }
    const std::string dev = BluezDevicePath(o_.adapter, addr);
    {
      std::lock_guard<std::mutex> l(mu_);
      owner_ = *owner;
      address_ = addr;
      device_path_ = dev;
      link_up_ = false;
      services_resolved_ = false;
      lost_.clear();
      chars_.clear();
      by_path_.clear();
    }

    // 1. Device1.Connect, bounded by the caller's timeout.
    std::string error_name;
    Status s = Guard(
        "Device1.Connect " + addr,
        [&] {
          bus_->Proxy(kBluez, dev)
              .callMethod("Connect")
              .onInterface(kDevice1)
              .withTimeout(Remaining(deadline));
        },
        &error_name);
    if (!s.ok() && error_name != "org.bluez.Error.AlreadyConnected") {
      Disconnect();  // also cancels BlueZ's attempt after a timeout
      if (s.code() == StatusCode::kNotFound) {
        return Status::NotFound("connect " + addr + ": " + o_.adapter +
                                " does not know the device (never discovered, or removed): scan "
                                "first (" +
                                s.message() + ")");
      }
      if (error_name == "org.freedesktop.DBus.Error.NoReply") {
        return DeadlineExceeded("connect " + addr + ": timed out after " + Ms(timeout) +
                                " in Device1.Connect");
      }
      return s;
    }

    // 2. ServicesResolved: its current value (no signal comes for a state reached before), then
    // PropertiesChanged.
    Properties props;
    s = Guard("Device1 properties of " + addr, [&] {
      bus_->Proxy(kBluez, dev)
          .callMethod("GetAll")
          .onInterface(kProperties)
          .withTimeout(std::min(Remaining(deadline), o_.call_timeout))
          .withArguments(std::string(kDevice1))
          .storeResultsTo(props);
    });
    if (!s.ok()) return Fail(s);
    {
      std::unique_lock<std::mutex> l(mu_);
      if (Get<bool>(props, "Connected").value_or(false)) link_up_ = true;
      if (Get<bool>(props, "ServicesResolved").value_or(false)) services_resolved_ = true;
      cv_.wait_until(l, deadline, [&] { return services_resolved_ || !lost_.empty(); });
      if (!lost_.empty()) {
        std::string why = lost_;
        l.unlock();
        return Fail(Status::Unavailable("connect " + addr + ": " + why +
                                        " before its services were resolved"));
      }
      if (!services_resolved_) {
        l.unlock();
        return Fail(DeadlineExceeded("connect " + addr + ": timed out after " + Ms(timeout) +
                                     " waiting for ServicesResolved"));
      }
    }

    // 3. The characteristics under the device, by UUID.
    ManagedObjects objects;
    s = Guard("GetManagedObjects", [&] {
      bus_->Proxy(kBluez, "/")
          .callMethod("GetManagedObjects")
          .onInterface(kObjectManager)
          .withTimeout(o_.call_timeout)
          .storeResultsTo(objects);
    });
    if (!s.ok()) return Fail(s);
    std::map<std::string, Characteristic> chars;
    const std::string prefix = dev + "/";
    for (const auto& [path, interfaces] : objects) {
      if (path.rfind(prefix, 0) != 0) continue;
      auto it = interfaces.find(kCharacteristic1);
      if (it == interfaces.end()) continue;
      std::string uuid = Lower(Get<std::string>(it->second, "UUID").value_or(""));
      if (uuid.empty() || chars.count(uuid) != 0) continue;  // first of a duplicated UUID wins
      Characteristic c;
      c.path = path;
      for (const std::string& f : Get<std::vector<std::string>>(it->second, "Flags")
                                      .value_or(std::vector<std::string>{})) {
        if (f == "notify" || f == "indicate") c.notifies = true;
      }
      chars.emplace(uuid, std::move(c));
    }
    std::string missing;
    for (const std::string& u : required_) {
      if (chars.count(u) == 0) missing += (missing.empty() ? "" : ", ") + u;
    }
    if (chars.empty() || !missing.empty()) return StaleCache(addr, dev, missing);
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& [uuid, c] : chars) {
        by_path_[c.path] = uuid;
        chars_[uuid] = c;
      }
    }

    // 4. StartNotify on each indicating characteristic, on every connect.
    for (const auto& [uuid, c] : chars) {
      if (!c.notifies) continue;
      const std::string& path = c.path;  // clang 14 does not capture structured bindings
      s = Guard("StartNotify " + uuid + " on " + addr, [&] {
        bus_->Proxy(kBluez, path)
            .callMethod("StartNotify")
            .onInterface(kCharacteristic1)
            .withTimeout(o_.call_timeout);
      });
      if (!s.ok()) return Fail(s);
    }
    std::string why;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (lost_.empty()) {
        connected_ = true;
        return Status::Ok();
      }
      why = lost_;
    }
    return Fail(Status::Unavailable("connect " + addr + ": " + why));
  }

  Status Write(std::string_view characteristic_uuid, std::span<const uint8_t> value) {
    const std::string uuid = Lower(std::string(characteristic_uuid));
    std::string path;
    std::string addr;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!connected_) return Status::FailedPrecondition("write " + uuid + ": not connected");
      if (!lost_.empty()) return Status::Unavailable("write " + uuid + ": " + lost_);
      auto it = chars_.find(uuid);
      if (it == chars_.end()) {
        return Status::NotFound("write: " + address_ + " has no characteristic " + uuid);
      }
      path = it->second.path;
      addr = address_;
    }
    std::vector<uint8_t> bytes(value.begin(), value.end());
    Properties options{{"type", sdbus::Variant(std::string("request"))}};
    return Guard("WriteValue " + uuid + " on " + addr, [&] {
      bus_->Proxy(kBluez, path)
          .callMethod("WriteValue")
          .onInterface(kCharacteristic1)
          .withTimeout(o_.call_timeout)
          .withArguments(bytes, options);
    });
  }

  Result<std::vector<uint8_t>> NextIndication(std::string_view characteristic_uuid,
                                              milliseconds timeout) {
    const std::string uuid = Lower(std::string(characteristic_uuid));
    const auto deadline = steady_clock::now() + std::max(timeout, milliseconds(0));
    std::unique_lock<std::mutex> l(mu_);
    if (!connected_) return Status::FailedPrecondition("indication of " + uuid + ": not connected");
    auto it = chars_.find(uuid);
    if (it == chars_.end()) {
      return Status::NotFound("indication: " + address_ + " has no characteristic " + uuid);
    }
    Characteristic& c = it->second;
    cv_.wait_until(l, deadline,
                   [&] { return !c.queue.empty() || c.dropped > 0 || !lost_.empty(); });
    if (c.dropped > 0) {
      size_t n = std::exchange(c.dropped, 0);
      return Status::Unavailable(std::to_string(n) + " indications of " + uuid + " from " +
                                 address_ + " dropped: at most " +
                                 std::to_string(o_.max_queued_indications) +
                                 " are kept; the exchange is out of step");
    }
    if (!c.queue.empty()) {
      std::vector<uint8_t> v = std::move(c.queue.front());
      c.queue.pop_front();
      return v;
    }
    if (!lost_.empty()) return Status::Unavailable("indication of " + uuid + ": " + lost_);
    return DeadlineExceeded("timed out after " + Ms(timeout) + " waiting for an indication of " +
                            uuid + " from " + address_);
  }

  void Disconnect() {
    std::string dev;
    {
      std::lock_guard<std::mutex> l(mu_);
      dev = device_path_;
    }
    if (!dev.empty()) {
      (void)Guard("Device1.Disconnect", [&] {
        bus_->Proxy(kBluez, dev)
            .callMethod("Disconnect")
            .onInterface(kDevice1)
            .withTimeout(o_.call_timeout);
      });
    }
    std::lock_guard<std::mutex> l(mu_);
    connected_ = false;
    device_path_.clear();
    address_.clear();
    chars_.clear();
    by_path_.clear();
    lost_.clear();
    link_up_ = false;
    services_resolved_ = false;
    cv_.notify_all();
  }

  bool connected() const {
    std::lock_guard<std::mutex> l(mu_);
    return connected_ && lost_.empty();
  }

 private:
  struct Characteristic {
    std::string path;
    bool notifies = false;
    std::deque<std::vector<uint8_t>> queue;
    size_t dropped = 0;  // since the last NextIndication reported it
  };

  static milliseconds Remaining(steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
    return std::max(left, milliseconds(1));
  }

  // Leaves the link disconnected and returns `s`.
  Status Fail(Status s) {
    Disconnect();
    return s;
  }

  // The stale GATT cache recovery of bluez_link.h: disconnect, remove the device, report.
  Status StaleCache(const std::string& addr, const std::string& dev, const std::string& missing) {
    Disconnect();
    sdbus::ObjectPath device_path(dev);
    Status removed = Guard("Adapter1.RemoveDevice " + addr, [&] {
      bus_->Proxy(kBluez, adapter_path_)
          .callMethod("RemoveDevice")
          .onInterface(kAdapter1)
          .withTimeout(o_.call_timeout)
          .withArguments(device_path);
    });
    std::string what = missing.empty() ? "no GATT characteristic after ServicesResolved"
                                       : "characteristic(s) " + missing + " missing";
    return Status::Unavailable("connect " + addr + ": stale GATT cache (" + what +
                               "); disconnected and " +
                               (removed.ok() ? "removed from " + o_.adapter
                                             : "could not remove (" + removed.message() + ")") +
                               "; scan again and retry");
  }

  bool FromBluez(const sdbus::Message& m) { return !owner_.empty() && m.getSender() == owner_; }

  // Bus thread.
  void OnPropertiesChanged(sdbus::Message& m) {
    std::string path = m.getPath();
    std::string interface;
    Properties changed;
    m >> interface >> changed;
    std::lock_guard<std::mutex> l(mu_);
    if (!FromBluez(m) || device_path_.empty()) return;
    if (interface == kDevice1 && path == device_path_) {
      if (auto c = Get<bool>(changed, "Connected")) {
        if (*c) {
          link_up_ = true;
        } else if (link_up_ && lost_.empty()) {
          lost_ = address_ + " disconnected";
        }
      }
      if (auto r = Get<bool>(changed, "ServicesResolved")) services_resolved_ = *r;
      cv_.notify_all();
    } else if (interface == kCharacteristic1) {
      auto p = by_path_.find(path);
      if (p == by_path_.end()) return;
      auto value = Get<std::vector<uint8_t>>(changed, "Value");
      if (!value) return;
      Characteristic& c = chars_[p->second];
      c.queue.push_back(std::move(*value));
      while (c.queue.size() > o_.max_queued_indications) {
        c.queue.pop_front();
        ++c.dropped;
      }
      cv_.notify_all();
    }
  }

  void OnRemoved(sdbus::Message& m) {
    sdbus::ObjectPath path;
    std::vector<std::string> interfaces;
    m >> path >> interfaces;
    std::lock_guard<std::mutex> l(mu_);
    if (!FromBluez(m) || device_path_.empty() || !lost_.empty()) return;
    if (path == device_path_) {
      lost_ = address_ + " vanished from " + o_.adapter + " (removed, or out of range too long)";
    } else if (by_path_.count(path) != 0) {
      lost_ = address_ + "'s GATT objects changed (" + std::string(path) + " removed)";
    } else {
      return;
    }
    cv_.notify_all();
  }

  void OnNameOwner(sdbus::Message& m) {
    std::string name, old_owner, new_owner;
    m >> name >> old_owner >> new_owner;
    if (name != kBluez) return;
    std::lock_guard<std::mutex> l(mu_);
    owner_ = new_owner;
    if (!device_path_.empty() && lost_.empty()) {
      lost_ = "bluetoothd left the bus (org.bluez owner changed)";
      cv_.notify_all();
    }
  }

  const BluezOptions o_;
  const std::string adapter_path_;
  std::vector<std::string> required_;
  std::unique_ptr<Bus> bus_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string owner_;        // org.bluez's unique name; signals from anyone else are ignored
  std::string address_;      // the device being connected or connected
  std::string device_path_;  // "" when idle
  bool connected_ = false;   // Connect succeeded and no Disconnect since
  bool link_up_ = false;     // BlueZ said Connected = true in this session
  bool services_resolved_ = false;
  std::string lost_;  // why the link dropped in this session; "" while it holds
  std::map<std::string, Characteristic> chars_;  // by UUID
  std::map<std::string, std::string> by_path_;   // object path -> UUID
};

BluezGattLink::BluezGattLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BluezGattLink::~BluezGattLink() = default;

Result<std::unique_ptr<BluezGattLink>> BluezGattLink::Open(BluezOptions options) {
  if (!ValidAdapter(options.adapter)) {
    return Status::InvalidArgument("adapter \"" + options.adapter +
                                   "\": expected a name like hci0");
  }
  if (options.max_queued_indications == 0) {
    return Status::InvalidArgument("max_queued_indications must be at least 1");
  }
  for (const std::string& u : options.required_characteristics) {
    if (CanonicalUuid(u).empty()) {
      return Status::InvalidArgument("required characteristic \"" + u + "\": not a UUID");
    }
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  LINTEL_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<BluezGattLink>(new BluezGattLink(std::move(impl)));
}

Status BluezGattLink::Connect(std::string_view address, std::chrono::milliseconds timeout) {
  return impl_->Connect(address, timeout);
}
Status BluezGattLink::Write(std::string_view uuid, std::span<const uint8_t> value) {
  return impl_->Write(uuid, value);
}
Result<std::vector<uint8_t>> BluezGattLink::NextIndication(std::string_view uuid,
                                                           std::chrono::milliseconds timeout) {
  return impl_->NextIndication(uuid, timeout);
}
void BluezGattLink::Disconnect() { impl_->Disconnect(); }
bool BluezGattLink::connected() const { return impl_->connected(); }

// ---- BluezScanner --------------------------------------------------------------------------

class BluezScanner::Impl {
 public:
  explicit Impl(BluezOptions o) : o_(std::move(o)), adapter_path_("/org/bluez/" + o_.adapter) {}

  Status Start() {
    Result<std::unique_ptr<Bus>> bus = Bus::Open(o_.bus_address);
    if (!bus.ok()) return bus.status();
    bus_ = std::move(*bus);
    LINTEL_RETURN_IF_ERROR(bus_->AddMatch(PropertiesChangedRule(adapter_path_),
                                          [this](sdbus::Message& m) { OnPropertiesChanged(m); }));
    LINTEL_RETURN_IF_ERROR(
        bus_->AddMatch(kInterfacesAddedRule, [this](sdbus::Message& m) { OnAdded(m); }));
    LINTEL_RETURN_IF_ERROR(
        bus_->AddMatch(kInterfacesRemovedRule, [this](sdbus::Message& m) { OnRemoved(m); }));
    LINTEL_RETURN_IF_ERROR(
        bus_->AddMatch(kNameOwnerRule, [this](sdbus::Message& m) { OnNameOwner(m); }));
    return bus_->Start();
  }

  ~Impl() {
    if (bus_) (void)StopScan();
    bus_.reset();
  }

  Status StartScan(std::string_view service_uuid, AdvertisementCallback cb) {
    const std::string uuid = CanonicalUuid(service_uuid);
    if (uuid.empty()) {
      return Status::InvalidArgument("service UUID \"" + std::string(service_uuid) +
                                     "\": expected 8-4-4-4-12 hex digits");
    }
    if (!cb) return Status::InvalidArgument("scan: no advertisement callback");
    {
      std::lock_guard<std::mutex> l(mu_);
      if (scanning_) return Status::FailedPrecondition("scan: already scanning for " + uuid_);
    }
    Status s = Begin(uuid, std::move(cb));
    if (s.code() == StatusCode::kNotFound) {
      s = Status::Unavailable(s.message() + " (no such adapter?)");
    }
    if (!s.ok()) {
      {
        std::lock_guard<std::mutex> l(mu_);
        scanning_ = false;
      }
      std::lock_guard<std::mutex> l(cb_mu_);
      cb_ = nullptr;
    }
    return s;
  }

  Status StopScan() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!scanning_) return Status::Ok();
      scanning_ = false;
    }
    {
      std::lock_guard<std::mutex> l(cb_mu_);  // waits for a callback in progress
      cb_ = nullptr;
    }
    std::string name;
    Status s = Guard(
        "Adapter1.StopDiscovery on " + o_.adapter,
        [&] {
          bus_->Proxy(kBluez, adapter_path_)
              .callMethod("StopDiscovery")
              .onInterface(kAdapter1)
              .withTimeout(o_.call_timeout);
        },
        &name);
    if (name == "org.bluez.Error.Failed" || name == "org.bluez.Error.NotReady") {
      return Status::Ok();  // "No discovery started": BlueZ already stopped it
    }
    return s;
  }

  bool scanning() const {
    std::lock_guard<std::mutex> l(mu_);
    return scanning_;
  }

 private:
  struct Device {
    Advertisement ad;
  };

  // StartScan after the checks: scanning_ is set before StartDiscovery, whose advertisements
  // may arrive before its reply.
  Status Begin(const std::string& uuid, AdvertisementCallback cb) {
    Result<std::string> owner = bus_->BluezOwner(o_.call_timeout);
    if (!owner.ok()) return owner.status();
    if (owner->empty()) {
      return Status::Unavailable(std::string("scan: ") + kNoBluez);
    }
    // The devices BlueZ knows now, so a later PropertiesChanged can be reported in full.
    ManagedObjects objects;
    LINTEL_RETURN_IF_ERROR(Guard("GetManagedObjects", [&] {
      bus_->Proxy(kBluez, "/")
          .callMethod("GetManagedObjects")
          .onInterface(kObjectManager)
          .withTimeout(o_.call_timeout)
          .storeResultsTo(objects);
    }));
    {
      std::lock_guard<std::mutex> l(cb_mu_);
      cb_ = std::move(cb);
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      owner_ = *owner;
      uuid_ = uuid;
      devices_.clear();
      for (const auto& [path, interfaces] : objects) {
        auto it = interfaces.find(kDevice1);
        if (it != interfaces.end() && UnderAdapter(path)) Update(path, it->second);
      }
      scanning_ = true;
    }
    auto& adapter = bus_->Proxy(kBluez, adapter_path_);
    Properties filter{{"UUIDs", sdbus::Variant(std::vector<std::string>{uuid})},
                      {"Transport", sdbus::Variant(std::string("le"))}};
    LINTEL_RETURN_IF_ERROR(Guard("Adapter1.SetDiscoveryFilter on " + o_.adapter, [&] {
      adapter.callMethod("SetDiscoveryFilter")
          .onInterface(kAdapter1)
          .withTimeout(o_.call_timeout)
          .withArguments(filter);
    }));
    return Guard("Adapter1.StartDiscovery on " + o_.adapter, [&] {
      adapter.callMethod("StartDiscovery").onInterface(kAdapter1).withTimeout(o_.call_timeout);
    });
  }

  bool UnderAdapter(const std::string& path) const {
    return path.rfind(adapter_path_ + "/", 0) == 0;
  }

  // Merges Device1 properties into the cache (mu_ held); true when something advertised changed.
  bool Update(const std::string& path, const Properties& props) {
    Advertisement& ad = devices_[path].ad;
    bool advertised = false;
    if (auto a = Get<std::string>(props, "Address")) ad.address = CanonicalAddress(*a);
    if (auto r = Get<int16_t>(props, "RSSI")) {
      ad.rssi = *r;
      advertised = true;
    }
    if (auto u = Get<std::vector<std::string>>(props, "UUIDs")) {
      ad.uuids.clear();
      for (const std::string& s : *u) ad.uuids.push_back(Lower(s));
      advertised = true;
    }
    if (auto it = props.find("ManufacturerData"); it != props.end()) {
      ad.manufacturer_data = ManufacturerData(it->second);
      advertised = true;
    }
    return advertised;
  }

  bool Matches(const Advertisement& ad) const {
    return std::find(ad.uuids.begin(), ad.uuids.end(), uuid_) != ad.uuids.end() ||
           IBeaconUuid(ad) == uuid_;
  }

  // Bus thread: reports `ad` (a copy, taken under mu_) unless the scan stopped meanwhile.
  void Report(const Advertisement& ad) {
    std::lock_guard<std::mutex> l(cb_mu_);
    if (!cb_) return;
    try {
      cb_(ad);
    } catch (...) {
      // The callback's contract says it does not throw; nothing may reach sd-bus anyway.
    }
  }

  void OnPropertiesChanged(sdbus::Message& m) {
    std::string path = m.getPath();
    std::string interface;
    Properties changed;
    m >> interface >> changed;
    if (interface != kDevice1) return;
    std::optional<Advertisement> ad;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!scanning_ || !FromBluez(m) || !UnderAdapter(path)) return;
      if (Update(path, changed) && Matches(devices_[path].ad) &&
          !devices_[path].ad.address.empty()) {
        ad = devices_[path].ad;
      }
    }
    if (ad) Report(*ad);
  }

  void OnAdded(sdbus::Message& m) {
    sdbus::ObjectPath path;
    InterfaceMap interfaces;
    m >> path >> interfaces;
    auto it = interfaces.find(kDevice1);
    if (it == interfaces.end()) return;
    std::optional<Advertisement> ad;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!scanning_ || !FromBluez(m) || !UnderAdapter(path)) return;
      devices_.erase(path);
      Update(path, it->second);
      if (Matches(devices_[path].ad) && !devices_[path].ad.address.empty()) ad = devices_[path].ad;
    }
    if (ad) Report(*ad);
  }

  void OnRemoved(sdbus::Message& m) {
    sdbus::ObjectPath path;
    std::vector<std::string> interfaces;
    m >> path >> interfaces;
    std::lock_guard<std::mutex> l(mu_);
    if (!FromBluez(m)) return;
    if (std::find(interfaces.begin(), interfaces.end(), kDevice1) != interfaces.end()) {
      devices_.erase(path);
    }
  }

  void OnNameOwner(sdbus::Message& m) {
    std::string name, old_owner, new_owner;
    m >> name >> old_owner >> new_owner;
    if (name != kBluez) return;
    std::lock_guard<std::mutex> l(mu_);
    owner_ = new_owner;
    devices_.clear();
  }

  bool FromBluez(const sdbus::Message& m) const {
    return !owner_.empty() && m.getSender() == owner_;
  }

  const BluezOptions o_;
  const std::string adapter_path_;
  std::unique_ptr<Bus> bus_;

  mutable std::mutex mu_;
  bool scanning_ = false;
  std::string owner_;
  std::string uuid_;
  std::map<std::string, Device> devices_;  // by object path

  std::mutex cb_mu_;  // held while the callback runs, so Stop() waits for it
  AdvertisementCallback cb_;
};

BluezScanner::BluezScanner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BluezScanner::~BluezScanner() = default;

Result<std::unique_ptr<BluezScanner>> BluezScanner::Open(BluezOptions options) {
  if (!ValidAdapter(options.adapter)) {
    return Status::InvalidArgument("adapter \"" + options.adapter +
                                   "\": expected a name like hci0");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  LINTEL_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<BluezScanner>(new BluezScanner(std::move(impl)));
}

Status BluezScanner::Start(std::string_view service_uuid, AdvertisementCallback on_advertisement) {
  return impl_->StartScan(service_uuid, std::move(on_advertisement));
}
Status BluezScanner::Stop() { return impl_->StopScan(); }
bool BluezScanner::scanning() const { return impl_->scanning(); }

}  // namespace lintel::ble
