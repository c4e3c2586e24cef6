// lock-sim: simulated BLE locks behind a fake bluetoothd. It owns org.bluez on a D-Bus bus (a
// private dbus-daemon in tests and the demo) and serves Adapter1, Device1, GattService1 and
// GattCharacteristic1 objects as BlueZ does (bluez_objects.h), one Device1 per simulated lock,
// each played by a Peripheral (peripheral.h): the echo test peripheral (the default) or the Nuki
// lock model (`--peripheral nuki`, nuki_peripheral.h) — see MakePeripheral below, the one place to
// plug one in.
// A control socket switches faults (out of range, slow connect, dropped indications, stale
// GATT cache) and forwards commands to the peripherals. Documented in tools/lock-sim/README.md.
//
// One thread, one EventLoop: the bus connection, the control socket and its clients, the timers
// and the signals. Output: one JSON object per line on stdout (flushed per line), the first the
// "listening" line; every later one carries "t_ms", milliseconds since the start (monotonic), and
// "mono_ns", CLOCK_MONOTONIC in nanoseconds when the line was made (comparable with another
// process's clock on the same machine: the benchmarks time the daemon by it).
// Human messages on stderr. Exit codes: 0 clean stop (SIGTERM, SIGINT, `quit`); 1 usage (options,
// config file); 2 the bus cannot be reached, org.bluez is taken, the control socket cannot be
// opened, or the bus went away.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"
#include "tools/lock-sim/bluez_objects.h"
#include "tools/lock-sim/echo_peripheral.h"
#include "tools/lock-sim/nuki_peripheral.h"

namespace {

using json = nlohmann::ordered_json;
using lintel::EventLoop;
using lintel::Result;
using lintel::Status;
using lintel::locksim::BluezSim;
using lintel::locksim::LockSpec;
using lintel::locksim::Peripheral;
using lintel::locksim::PeripheralHost;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitBus = 2;
constexpr size_t kMaxControlLine = 4096;

std::chrono::steady_clock::time_point g_start;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               g_start)
      .count();
}
void Emit(const json& line) {
  std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n' << std::flush;
}
int64_t MonoNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
void Event(const json& body) {
  json line = {{"t_ms", NowMs()}, {"mono_ns", MonoNs()}};
  for (const auto& [k, v] : body.items()) line[k] = v;
  Emit(line);
}
void Note(std::string_view message) { std::cerr << "lock-sim: " << message << '\n'; }

// The peripheral playing a lock: the one place a new lock model plugs in.
Result<std::unique_ptr<Peripheral>> MakePeripheral(const LockSpec& spec, PeripheralHost& host) {
  if (spec.peripheral == "echo") {
    return std::unique_ptr<Peripheral>(new lintel::locksim::EchoPeripheral(host));
  }
  if (spec.peripheral == "nuki") {
    lintel::locksim::LockPeerOptions options;
    if (!spec.name.empty()) options.name = spec.name;
    return std::unique_ptr<Peripheral>(new lintel::locksim::NukiPeripheral(host, options));
  }
  return Status::InvalidArgument("lock " + spec.address + ": unknown peripheral \"" +
                                 spec.peripheral + "\" (known: echo, nuki)");
}

struct Options {
  std::string bus;
  std::string adapter = "hci0";
  std::vector<std::string> locks;
  std::string config;
  std::string control;
  std::string peripheral = "echo";
  int connect_delay_ms = 50;
  int resolve_delay_ms = 100;
  bool verbose = false;
};

// The config file: {"adapter": "hci0", "locks": [{"address": "..", "name": "..", "peripheral":
// "echo", "connect_delay_ms": 50, "resolve_delay_ms": 100, "rssi": -60, "in_range": true}]}.
// Errors: InvalidArgument "FILE: what".
Status LoadConfig(const std::string& path, const Options& o, lintel::locksim::SimOptions& sim) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument(path + ": cannot read the config file");
  json doc = json::parse(in, nullptr, false);
  auto bad = [&](const std::string& what) { return Status::InvalidArgument(path + ": " + what); };
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  try {
    for (const auto& [key, value] : doc.items()) {
      if (key == "adapter") {
        sim.adapter = value.get<std::string>();
      } else if (key == "locks") {
        if (!value.is_array()) return bad("\"locks\" must be an array");
        for (const auto& l : value) {
          if (!l.is_object()) return bad("each lock must be an object");
          LockSpec spec;
          spec.peripheral = o.peripheral;
          spec.connect_delay_ms = o.connect_delay_ms;
          spec.resolve_delay_ms = o.resolve_delay_ms;
          for (const auto& [k, v] : l.items()) {
            if (k == "address") {
              spec.address = v.get<std::string>();
            } else if (k == "name") {
              spec.name = v.get<std::string>();
            } else if (k == "peripheral") {
              spec.peripheral = v.get<std::string>();
            } else if (k == "connect_delay_ms") {
              spec.connect_delay_ms = v.get<int>();
            } else if (k == "resolve_delay_ms") {
              spec.resolve_delay_ms = v.get<int>();
            } else if (k == "rssi") {
              spec.rssi = v.get<int16_t>();
            } else if (k == "in_range") {
              spec.in_range = v.get<bool>();
            } else {
              return bad("unknown lock key \"" + k +
                         "\" (address, name, peripheral, connect_delay_ms, resolve_delay_ms, "
                         "rssi, in_range)");
            }
          }
          if (spec.address.empty()) return bad("a lock without \"address\"");
          sim.locks.push_back(spec);
        }
      } else {
        return bad("unknown key \"" + key + "\" (adapter, locks)");
      }
    }
  } catch (const json::exception& e) {
    return bad(e.what());
  }
  return Status::Ok();
}

// The control socket: one command per line, one JSON reply line each.
class Control {
 public:
  Control(EventLoop& loop, std::string path, std::function<json(const std::string&)> execute)
      : loop_(loop), path_(std::move(path)), execute_(std::move(execute)) {}
  ~Control() {
    while (!clients_.empty()) Close(clients_.begin()->first);
    if (fd_ >= 0) {
      loop_.RemoveFd(handle_);
      ::close(fd_);
      if (bound_) ::unlink(path_.c_str());
    }
  }

  // Errors: InvalidArgument (path too long), Unavailable (cannot listen).
  Status Open() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path)) {
      return Status::InvalidArgument("--control \"" + path_ + "\": longer than " +
                                     std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
    }
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return Status::Unavailable("--control " + path_ + ": exists and is not a socket");
      }
      ::unlink(path_.c_str());  // a stale socket from an earlier run
    }
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Status::Unavailable(std::string("socket: ") + std::strerror(errno));
    mode_t old_mask = ::umask(0177);  // 0600: whoever may write it drives the locks
    int rc = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    int err = errno;
    ::umask(old_mask);
    if (rc != 0 || ::listen(fd_, 8) != 0) {
      return Status::Unavailable("--control " + path_ +
                                 ": cannot listen: " + std::strerror(rc != 0 ? err : errno));
    }
    bound_ = true;
    auto h = loop_.AddFd(fd_, EPOLLIN, [this](uint32_t) { Accept(); });
    if (!h.ok()) return h.status();
    handle_ = *h;
    return Status::Ok();
  }

 private:
  struct Client {
    int fd;
    EventLoop::FdHandle handle;
    std::string buffer;
  };

  void Accept() {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    timeval tv{1, 0};  // a client that does not read its replies does not stall the locks
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    const uint64_t id = next_++;
    auto h = loop_.AddFd(fd, EPOLLIN, [this, id](uint32_t) { OnReadable(id); });
    if (!h.ok()) {
      ::close(fd);
      return;
    }
    clients_[id] = Client{fd, *h, {}};
  }

  void Close(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    loop_.RemoveFd(it->second.handle);
    ::close(it->second.fd);
    clients_.erase(it);
  }

  void OnReadable(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    char buf[4096];
    ssize_t n = ::read(it->second.fd, buf, sizeof(buf));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return;
      Close(id);
      return;
    }
    it->second.buffer.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = it->second.buffer.find('\n')) != std::string::npos;) {
      std::string line = it->second.buffer.substr(0, nl);
      it->second.buffer.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::string text = execute_(line).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
      if (::send(it->second.fd, text.data(), text.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(text.size())) {
        Close(id);
        return;
      }
    }
    if (it->second.buffer.size() > kMaxControlLine) {
      std::string text = json{{"ok", false}, {"error", "line too long"}}.dump() + "\n";
      (void)::send(it->second.fd, text.data(), text.size(), MSG_NOSIGNAL);
      Close(id);
    }
  }

  EventLoop& loop_;
  const std::string path_;
  std::function<json(const std::string&)> execute_;
  int fd_ = -1;
  bool bound_ = false;
  EventLoop::FdHandle handle_{};
  std::map<uint64_t, Client> clients_;
  uint64_t next_ = 1;
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  if (Status s = lintel::BlockSignals({SIGTERM, SIGINT}); !s.ok()) {
    Note(s.message());
    return kExitBus;
  }
  CLI::App app{"lock-sim: simulated BLE locks behind a fake bluetoothd (org.bluez on D-Bus)"};
  Options o;
  app.add_option("--bus", o.bus,
                 "D-Bus address to serve org.bluez on (default: $DBUS_SYSTEM_BUS_ADDRESS)");
  app.add_option("--adapter", o.adapter, "adapter name")->capture_default_str();
  app.add_option("--lock", o.locks, "a simulated lock's address AA:BB:CC:DD:EE:FF (repeatable)");
  app.add_option("--config", o.config, "JSON file with the adapter and the locks");
  app.add_option("--control", o.control, "Unix socket for control commands (mode 0600)");
  app.add_option("--peripheral", o.peripheral, "what plays each --lock: echo or nuki")
      ->capture_default_str();
  app.add_option("--connect-delay-ms", o.connect_delay_ms, "Device1.Connect takes this long")
      ->capture_default_str()
      ->check(CLI::Range(0, 600'000));
  app.add_option("--resolve-delay-ms", o.resolve_delay_ms, "Connected -> ServicesResolved")
      ->capture_default_str()
      ->check(CLI::Range(0, 600'000));
  app.add_flag("-v,--verbose", o.verbose, "event lines carry the bytes written and indicated");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (o.bus.empty()) {
    const char* env = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
    if (env == nullptr || *env == '\0') {
      Note(
          "give --bus ADDRESS or set DBUS_SYSTEM_BUS_ADDRESS (lock-sim never takes the real "
          "system bus by default)");
      return kExitUsage;
    }
    o.bus = env;
  }
  lintel::locksim::SimOptions sim_options;
  sim_options.bus_address = o.bus;
  sim_options.adapter = o.adapter;
  sim_options.verbose = o.verbose;
  if (!o.config.empty()) {
    if (Status s = LoadConfig(o.config, o, sim_options); !s.ok()) {
      Note(s.message());
      return kExitUsage;
    }
  }
  for (const std::string& a : o.locks) {
    LockSpec spec;
    spec.address = a;
    spec.peripheral = o.peripheral;
    spec.connect_delay_ms = o.connect_delay_ms;
    spec.resolve_delay_ms = o.resolve_delay_ms;
    sim_options.locks.push_back(spec);
  }
  if (sim_options.locks.empty()) {
    Note("no lock: give --lock AA:BB:CC:DD:EE:FF or a --config file");
    return kExitUsage;
  }

  g_start = std::chrono::steady_clock::now();
  lintel::SystemClock clock;
  auto loop = EventLoop::Create(clock);
  if (!loop.ok()) {
    Note(loop.status().message());
    return kExitBus;
  }
  int exit_code = kExitOk;
  bool stopping = false;
  auto stop = [&](const std::string& reason, int code) {
    if (stopping) return;
    stopping = true;
    exit_code = code;
    Event({{"stopped", reason}});
    (*loop)->Stop();
  };
  Result<std::unique_ptr<BluezSim>> sim = BluezSim::Start(
      **loop, clock, sim_options, MakePeripheral, [](const json& j) { Event(j); },
      [&](const std::string& why) {
        Note("the bus went away: " + why);
        stop("bus", kExitBus);
      });
  if (!sim.ok()) {
    Note(sim.status().message());
    return sim.status().code() == lintel::StatusCode::kInvalidArgument ? kExitUsage : kExitBus;
  }
  auto execute = [&](const std::string& line) -> json {
    std::vector<std::string> words;
    std::istringstream in(line);
    for (std::string w; in >> w;) words.push_back(w);
    std::string text;
    for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
    if (words.size() == 1 && words[0] == "quit") {
      Event({{"command", text}, {"source", "control"}});
      stop("quit", kExitOk);
      return {{"ok", true}, {"command", text}};
    }
    if (!(words.size() == 1 && words[0] == "state")) {
      Event({{"command", text}, {"source", "control"}});
    }
    Result<json> r = (*sim)->Command(words);
    if (!r.ok()) return {{"ok", false}, {"error", r.status().message()}};
    json reply = {{"ok", true}, {"command", text}};
    for (const auto& [k, v] : r->items()) reply[k] = v;
    return reply;
  };
  std::unique_ptr<Control> control;
  if (!o.control.empty()) {
    control = std::make_unique<Control>(**loop, o.control, execute);
    if (Status s = control->Open(); !s.ok()) {
      Note(s.message());
      return s.code() == lintel::StatusCode::kInvalidArgument ? kExitUsage : kExitBus;
    }
  }
  if (Status s = (*loop)->WatchSignals({SIGTERM, SIGINT}, [&](int) { stop("signal", kExitOk); });
      !s.ok()) {
    Note(s.message());
    return kExitBus;
  }
  json locks = json::array();
  const json state = (*sim)->State();
  for (const auto& l : state["locks"]) {
    locks.push_back({{"address", l["address"]}, {"name", l["name"]}, {"path", l["path"]}});
  }
  Emit({{"listening", "dbus"},
        {"bus", o.bus},
        {"name", "org.bluez"},
        {"unique_name", (*sim)->unique_name()},
        {"adapter", "/org/bluez/" + sim_options.adapter},
        {"locks", locks},
        {"control", o.control}});
  if (Status s = (*loop)->Run(); !s.ok()) {
    Note(s.message());
    return kExitBus;
  }
  control.reset();
  sim->reset();
  return exit_code;
}
