// BLE lock benchmark (issue 11, point 8). Everything real and out of process, as in production
// but on loopback: a private dbus-daemon the benchmark starts, tools/lock-sim owning org.bluez on
// it with simulated Nuki locks (`peripheral: nuki`), the `lintel` daemon talking BlueZ's D-Bus API
// to them (BluezGattLink, one BLE worker for adapter hci0), lintelctl for pairing. The end of every
// measurement is lock-sim's own record: each stdout line of lock-sim carries `mono_ns`
// (CLOCK_MONOTONIC, the same clock as this process's), a WriteValue's line is printed on its
// receipt, and a `lock_action` line follows the write that completed a Lock Action command.
//
// Locks: A (door unit-a, with a Wiegand reader on a replay socket) for grants and the 100-code
// reconcile; L01..L20 (doors unit-01..unit-20) for the 20-lock revocation; B, which the daemon does
// not know, for the baselines this process runs itself with ble::LockClient over its own
// BluezGattLink (paired as a second bridge). All have lock-sim's --connect-delay-ms and
// --resolve-delay-ms (defaults here 50 and 100 ms, lock-sim's own; a real lock takes 1-3 s).
// `disconnect_after_ms: 500` for every lock (the adapter's link is dropped 0.5 s after the last
// message).
//
// 1. grant -> Lock Action write. A card frame (H10301, bits 2 ms apart) is sent as one datagram on
//    the reader's replay socket; the end is lock-sim's receipt of the last WriteValue of the Lock
//    Action frame (the write line before A's `lock_action` line). Figures per sample:
//      from_grant    = end - (sendto + the reader's own last_decision_us): from the moment the
//                      engine granted and the actuator was called (BleLocks queues an urgent job
//                      for the adapter's worker) to the Lock Action on the bus. This is the
//                      headline. (The datagram's socket hop, a few us, is counted in it.)
//      from_last_bit = end - sendto: also the reader's early close (4 bit intervals = 8 ms), frame
//                      decode and the decision.
//    `connected`: the link to A was up (grants 50-150 ms apart): Request Data(Challenge) written
//    (3 WriteValue), the challenge indicated (5 PropertiesChanged), the Lock Action written (5
//    WriteValue) - the Nuki protocol needs both round trips. `cold`: the first grant after the
//    daemon dropped the idle link: also Device1.Connect (lock-sim's connect delay), the wait for
//    ServicesResolved (its resolve delay), GetManagedObjects and 3 StartNotify. A sample is put in
//    `cold` when lock-sim saw a Connect for A between the frame and the Lock Action.
//    Baselines, interleaved in the same run, one of each before every grant:
//      dbus_rtt      org.freedesktop.DBus.Properties.Get(Device1, Connected) on A's device, a
//                    synchronous sdbus-c++ call from this process (the design target's "bare
//                    D-Bus round trip": grant p99 <= 2x its p99);
//      bare_act      ble::LockClient::Act(unlatch) on lock B from this process, over a connected
//                    BluezGattLink, to B's Lock Action write (the same protocol exchange with no
//                    daemon: the floor of `connected`); bare_cold adds BluezGattLink::Connect.
// 2. reconcile of 100 codes on A: once the daemon has dropped its idle links, a state import
//    (control socket {"cmd":"import"}) gives 100 tenants a PIN for unit-a; timed from the import
//    request to `lock.status` (polled every 20 ms) showing A with 100 desired, 0 pending, no sync
//    running; then lock-sim is checked to hold exactly those 100 codes. Then the reverse (all 100
//    removed). Included: the import (parse, validate, SQLite, index swap), the daemon noticing the
//    new index (BleLocks checks it every second), the connect, the reconcile (list codes and
//    authorizations, 100 adds each with its own challenge, re-read), the access-log fetch and the
//    store update on the core loop. Split by lock-sim's lines: `detect` = import request -> A's
//    Connect; `wire` = Connect -> A's last write; `confirm` = last write -> status settled.
//    `status_reply_max_ms`: the slowest lock.status reply while waiting (the core loop's longest
//    stall seen, within 20 ms). Baseline: the same LockClient operations straight against lock B
//    from this process (connect, list codes, list authorizations, 100 x add (or remove), list both
//    again, one log read); `ratio_*_wire` compares the daemon's `wire` with it.
// 3. 20 locks each with one pending revocation: L01..L20 each hold one tenant's code; one import
//    (the daemon idle, as in 2) revokes the 20 credentials; timed until all 20 show 0 pending with
//    no sync running (lock-sim then holds no code on any); split as in 2. One adapter, so the locks
//    are done one after another (connect, read, remove, re-read, log, next lock).
//    `per_lock_mean_ms` = total / 20. Baseline: 20 x (disconnect, connect, list codes, list
//    authorizations, remove, list both, log read) on B.
//
// Prints one JSON line. Usage: ble_bench [--grants N] [--cold N] [--repeats R]
// [--connect-delay-ms MS] [--resolve-delay-ms MS] [--dir DIR] [--quick]. Needs dbus-daemon and the
// built lintel, lintelctl and lock-sim (add_dependencies). The machine may be shared: compare the
// ratios, not the absolute figures.
#include <fcntl.h>
#include <sdbus-c++/sdbus-c++.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "drivers/ble/bluez_link.h"
#include "drivers/ble/nuki_client.h"
#include "drivers/ble/nuki_commands.h"
#include "drivers/wiegand/wiegand.h"
#include "tests/integration/lock_sim.h"
#include "tests/integration/subprocess.h"

namespace {

namespace fs = std::filesystem;
using lintel::testing::BinaryDir;
using lintel::testing::Child;
using lintel::testing::LockSimProcess;
using lintel::testing::PrivateBus;
using lintel::testing::RunProgram;
using nlohmann::json;
using std::chrono::milliseconds;
using namespace std::chrono_literals;
namespace ble = lintel::ble;

constexpr const char* kLockA = "54:D2:72:00:01:01";
constexpr const char* kLockB = "54:D2:72:00:02:01";
constexpr uint16_t kPin = 4321;
constexpr uint32_t kBenchAppId = 0xBE7C4;
constexpr int kDisconnectAfterMs = 500;

int64_t MonoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}
double Median(const std::vector<double>& v) { return Percentile(v, 0.5); }
double Round(double v, int digits = 3) {
  double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}
json Summary(const std::vector<double>& v) {
  return {{"n", v.size()},
          {"p50_ms", Round(Percentile(v, 0.5))},
          {"p99_ms", Round(Percentile(v, 0.99))},
          {"max_ms", Round(Percentile(v, 1.0))}};
}
json Rounded(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(Round(x, 1));
  return a;
}

std::string LockL(int k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "54:D2:72:00:03:%02X", k);
  return buf;
}
std::string Two(int k) { return (k < 10 ? "0" : "") + std::to_string(k); }
// A Nuki-valid and site-valid PIN: `lead` then five digits 1..8 from `i` (no 0, no "12", no 9).
std::string Code(char lead, int i) {
  std::string s(1, lead);
  std::string tail;
  for (int d = 0; d < 5; ++d) {
    tail.insert(tail.begin(), static_cast<char>('1' + i % 8));
    i /= 8;
  }
  return s + tail;
}

// One persistent control connection to the daemon (newline-delimited JSON), reconnected when the
// daemon closed it.
class Control {
 public:
  explicit Control(std::string path) : path_(std::move(path)) {}
  ~Control() { Close(); }
  std::optional<json> Ask(const json& request) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0) fd_ = lintel::testing::ConnectUnix(path_);
      if (fd_ < 0) return std::nullopt;
      std::optional<json> r = Once(request);
      if (r) return r;
      Close();
    }
    return std::nullopt;
  }

 private:
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }
  std::optional<json> Once(const json& request) {
    std::string line = request.dump() + "\n";
    for (size_t off = 0; off < line.size();) {
      ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return std::nullopt;
      off += static_cast<size_t>(n);
    }
    while (true) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        json j = json::parse(buffer_.substr(0, nl), nullptr, false);
        buffer_.erase(0, nl + 1);
        if (j.is_discarded()) return std::nullopt;
        return j;
      }
      char buf[65536];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  std::string path_;
  int fd_ = -1;
  std::string buffer_;
};

// lock-sim's stdout, read as it grows: Poll() parses the complete lines that arrived since.
class SimLines {
 public:
  explicit SimLines(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~SimLines() {
    if (fd_ >= 0) ::close(fd_);
  }
  // New lines (parsed; unparsable ones skipped).
  std::vector<json> Poll() {
    std::vector<json> out;
    if (fd_ < 0) return out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd_, buf, sizeof buf)) > 0;) partial_.append(buf, n);
    size_t start = 0;
    for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      json j = json::parse(partial_.substr(start, nl - start), nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    partial_.erase(0, start);
    return out;
  }

 private:
  int fd_;
  std::string partial_;
};

bool IsLock(const json& l, const std::string& address) { return l.value("lock", "") == address; }
int64_t MonoOf(const json& l) { return l.value("mono_ns", int64_t{0}); }

struct Fail {
  std::string what;
};

}  // namespace

int main(int argc, char** argv) {
  int grants = 200;
  int cold_n = 30;
  int repeats = 3;
  int locks_n = 20;
  int codes_n = 100;
  int connect_delay_ms = 50;
  int resolve_delay_ms = 100;
  fs::path dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string("x"); };
    try {
      if (a == "--grants")
        grants = std::max(1, std::stoi(next()));
      else if (a == "--cold")
        cold_n = std::max(1, std::stoi(next()));
      else if (a == "--repeats")
        repeats = std::max(1, std::stoi(next()));
      else if (a == "--connect-delay-ms")
        connect_delay_ms = std::stoi(next());
      else if (a == "--resolve-delay-ms")
        resolve_delay_ms = std::stoi(next());
      else if (a == "--dir")
        dir = next();
      else if (a == "--quick") {
        grants = 40;
        cold_n = 8;
        repeats = 1;
      } else {
        throw std::invalid_argument(a);
      }
    } catch (const std::exception&) {
      std::cerr << "usage: ble_bench [--grants N] [--cold N] [--repeats R] [--connect-delay-ms MS] "
                   "[--resolve-delay-ms MS] [--dir DIR] [--quick]\n";
      return 2;
    }
  }
  if (dir.empty()) {
    char tmpl[] = "/tmp/lintel-ble-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 1;
    dir = tmpl;
  }
  fs::create_directories(dir);
  auto path = [&](const std::string& name) { return (dir / name).string(); };
  const std::string bin = BinaryDir();

  PrivateBus bus(dir.string());
  std::unique_ptr<LockSimProcess> sim;
  std::unique_ptr<Child> daemon;
  std::unique_ptr<ble::BluezGattLink> link;
  try {
    if (!bus.Start()) throw Fail{"dbus-daemon did not start"};
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address().c_str(), 1);

    // lock-sim: A, B and the 20, every one a Nuki lock with the same delays.
    std::vector<std::string> lock_ls;
    for (int k = 1; k <= locks_n; ++k) lock_ls.push_back(LockL(k));
    {
      json locks = json::array();
      auto add = [&](const std::string& address, const std::string& name) {
        locks.push_back({{"address", address},
                         {"name", name},
                         {"peripheral", "nuki"},
                         {"connect_delay_ms", connect_delay_ms},
                         {"resolve_delay_ms", resolve_delay_ms}});
      };
      add(kLockA, "Nuki_A");
      add(kLockB, "Nuki_B");
      for (int k = 1; k <= locks_n; ++k) add(lock_ls[k - 1], "Nuki_L" + Two(k));
      std::ofstream(path("lock-sim.json")) << json{{"adapter", "hci0"}, {"locks", locks}}.dump();
    }
    sim = std::make_unique<LockSimProcess>(
        dir.string(), bus.address(), std::vector<std::string>{"--config", path("lock-sim.json")});
    if (!sim->Start()) throw Fail{"lock-sim did not start"};
    SimLines lines(sim->out_path());
    std::string path_a;
    for (const json& l : lines.Poll()) {
      if (!l.contains("listening")) continue;
      for (const json& k : l["locks"]) {
        if (k.value("address", "") == kLockA) path_a = k.value("path", "");
      }
    }
    if (path_a.empty()) throw Fail{"lock-sim's listening line has no path for lock A"};
    auto peer = [&](const std::string& lock, const std::string& args) {
      json r = sim->Control("peer " + lock + " " + args);
      if (!r.value("ok", false)) throw Fail{"lock-sim peer " + lock + " " + args + ": " + r.dump()};
      return r.value("result", json());
    };
    auto codes_on = [&](const std::string& lock) {
      std::set<std::string> out;
      for (const json& c : peer(lock, "state codes").value("codes", json::array())) {
        const json& v = c.contains("code") ? c["code"] : json();
        out.insert(v.is_string() ? v.get<std::string>() : v.dump());
      }
      return out;
    };
    peer(kLockA, "pin " + std::to_string(kPin));
    peer(kLockB, "pin " + std::to_string(kPin));
    for (const std::string& l : lock_ls) peer(l, "pin " + std::to_string(kPin));

    // The daemon.
    const std::string socket = path("lintel.sock");
    const std::string card_socket = path("card.sock");
    std::ofstream(path("lock.pin")) << kPin << "\n";
    ::chmod(path("lock.pin").c_str(), 0600);
    {
      std::ofstream y(path("lintel.yaml"));
      y << "site: {id: s, time_zone: UTC}\ngateway: {id: g}\n"
        << "store: {path: " << path("lintel.db") << "}\n"
        << "control: {socket: " << socket << ", idle_timeout_s: 3600}\n"
        << "logging: {level: warning}\n"
        << "doors:\n  - {id: unit-a}\n";
      for (int k = 1; k <= locks_n; ++k) y << "  - {id: unit-" << Two(k) << "}\n";
      y << "readers:\n  - id: unit-a-card\n    door: unit-a\n    type: wiegand\n"
        << "    wiegand: {replay: {socket: " << card_socket << "}}\n"
        << "locks:\n";
      auto lock = [&](const std::string& id, const std::string& door, const std::string& address) {
        y << "  - id: " << id << "\n    type: nuki\n    door: " << door << "\n    address: \""
          << address << "\"\n    credentials: " << path(id + ".nuki")
          << "\n    security_pin_file: " << path("lock.pin")
          << "\n    disconnect_after_ms: " << kDisconnectAfterMs << "\n";
      };
      lock("lock-a", "unit-a", kLockA);
      for (int k = 1; k <= locks_n; ++k) lock("lock-" + Two(k), "unit-" + Two(k), lock_ls[k - 1]);
    }
    daemon = std::make_unique<Child>(
        std::vector<std::string>{bin + "/gateway/lintel", "--config", path("lintel.yaml")},
        path("lintel.log"));
    Control ctl(socket);
    if (!lintel::testing::WaitFor([&] { return ctl.Ask({{"cmd", "status"}}).has_value(); }, 10s)) {
      throw Fail{"the daemon's control socket never answered"};
    }
    auto lock_status = [&]() {
      std::map<std::string, json> out;
      std::optional<json> r = ctl.Ask({{"cmd", "lock.status"}});
      if (r && r->contains("result")) {
        for (const json& l : (*r)["result"]["locks"]) out[l.value("lock", "")] = l;
      }
      return out;
    };
    // Settled: `desired` entries wanted, nothing pending, no sync running.
    auto settled = [](const json& l, size_t desired) {
      const json& s = l.value("sync", json::object());
      return s.value("desired", size_t{999999}) == desired && s.value("pending_changes", 1) == 0 &&
             !s.value("running", true);
    };

    // The state: groups per door; the card holder at unit-a; `with_codes` tenants with a PIN for
    // unit-a; `with_locks` tenants each with a PIN for one of unit-01.., revoked when `revoked`.
    auto write_state = [&](const std::string& file, bool with_codes, bool with_locks,
                           bool revoked) {
      json groups = json::array(), people = json::array(), leases = json::array(),
           creds = json::array();
      groups.push_back(
          {{"id", "g-a"}, {"name", "unit a"}, {"doors", {"unit-a"}}, {"schedule", "always"}});
      auto tenant = [&](const std::string& id, const std::string& group) {
        people.push_back({{"id", id}, {"name", "Tenant " + id}, {"role", "tenant"}});
        leases.push_back({{"id", "l-" + id},
                          {"unit", id},
                          {"members", {id}},
                          {"groups", {group}},
                          {"starts_at", "2020-01-01T00:00:00Z"},
                          {"ends_at", "2099-01-01T00:00:00Z"}});
      };
      tenant("card", "g-a");
      creds.push_back({{"id", "c-card"},
                       {"person", "card"},
                       {"type", "card"},
                       {"status", "active"},
                       {"card", {{"format", "h10301"}, {"facility", 101}, {"number", 251}}}});
      if (with_codes) {
        for (int i = 0; i < codes_n; ++i) {
          std::string id = "a" + std::to_string(i);
          tenant(id, "g-a");
          creds.push_back({{"id", "pin-" + id},
                           {"person", id},
                           {"type", "pin"},
                           {"status", "active"},
                           {"pin", Code('3', i)}});
        }
      }
      for (int k = 1; k <= locks_n; ++k) {
        std::string door = "unit-" + Two(k);
        groups.push_back(
            {{"id", "g-" + Two(k)}, {"name", door}, {"doors", {door}}, {"schedule", "always"}});
        if (!with_locks) continue;
        std::string id = "l" + Two(k);
        tenant(id, "g-" + Two(k));
        creds.push_back({{"id", "pin-" + id},
                         {"person", id},
                         {"type", "pin"},
                         {"status", revoked ? "revoked" : "active"},
                         {"pin", Code('4', k)}});
      }
      std::ofstream(path(file), std::ios::trunc) << json{
          {"groups", groups},
          {"people", people},
          {"leases", leases},
          {"credentials", creds}}.dump();
      return path(file);
    };
    auto import = [&](const std::string& file) {
      std::optional<json> r = ctl.Ask({{"cmd", "import"}, {"path", file}});
      if (!r || !r->value("ok", false)) {
        throw Fail{"import " + file + ": " + (r ? r->dump() : std::string("no reply"))};
      }
    };

    import(write_state("state-0.json", false, false, false));

    // Pair every lock of the daemon through lintelctl (the installer's way).
    std::vector<std::pair<std::string, std::string>> doors = {{"unit-a", kLockA}};
    for (int k = 1; k <= locks_n; ++k) doors.push_back({"unit-" + Two(k), lock_ls[k - 1]});
    for (const auto& [door, address] : doors) {
      peer(address, "press-button");
      lintel::testing::RunResult r =
          RunProgram({bin + "/tools/lintelctl", "--socket", socket, "lock", "pair", door});
      if (r.exit_code != 0) throw Fail{"lintelctl lock pair " + door + ": " + r.out + r.err};
    }
    auto wait_settled = [&](const std::map<std::string, size_t>& want, std::chrono::seconds limit) {
      std::map<std::string, json> st;
      bool ok = lintel::testing::WaitFor(
          [&] {
            st = lock_status();
            for (const auto& [id, n] : want) {
              if (!st.count(id) || !settled(st[id], n)) return false;
            }
            return true;
          },
          limit);
      if (!ok) throw Fail{"locks never settled: " + json(st).dump()};
    };
    std::map<std::string, size_t> all_zero = {{"lock-a", 0}};
    for (int k = 1; k <= locks_n; ++k) all_zero["lock-" + Two(k)] = 0;
    wait_settled(all_zero, 60s);

    // This process's own link and client to lock B (the baselines).
    {
      ble::BluezOptions o;
      o.max_queued_indications = 8192;  // as the daemon's (gateway/devices/ble_locks.cpp)
      lintel::Result<std::unique_ptr<ble::BluezGattLink>> made = ble::BluezGattLink::Open(o);
      if (!made.ok()) throw Fail{"BluezGattLink::Open: " + made.status().ToString()};
      link = std::move(*made);
    }
    ble::RandomNonceSource nonces;
    ble::SodiumRandomSource random;
    ble::LockClientOptions client_options;
    client_options.app_id = kBenchAppId;
    ble::LockClient client(*link, nonces, client_options);
    if (lintel::Status s = link->Connect(kLockB, 10s); !s.ok()) {
      throw Fail{"connect to B: " + s.ToString()};
    }
    peer(kLockB, "press-button");
    {
      lintel::Result<ble::PairingResult> paired =
          client.Pair({ble::IdType::kBridge, kBenchAppId, "Bench"}, random);
      if (!paired.ok()) throw Fail{"pairing B: " + paired.status().ToString()};
      client.set_credentials(paired->credentials);
    }

    // ---- 1. grant -> Lock Action write ------------------------------------------------------
    auto conn = sdbus::createSystemBusConnection();
    auto device = sdbus::createProxy(*conn, "org.bluez", path_a);
    auto dbus_rtt = [&]() -> double {
      int64_t t0 = MonoNs();
      sdbus::Variant v = device->getProperty("Connected").onInterface("org.bluez.Device1");
      int64_t t1 = MonoNs();
      static_cast<void>(v.get<bool>());
      return Ms(t1 - t0);
    };
    // The write that completed `lock`'s next Lock Action after t0 (lock-sim's receipt), waiting
    // up to 10 s; the lines seen are summarised in *writes / *connected_by_sim.
    struct ActionSeen {
      int64_t write_ns = 0;
      int writes = 0;
      bool connect = false;
    };
    auto wait_action = [&](const std::string& lock, int64_t t0) {
      ActionSeen seen;
      int64_t last_write = 0;
      const int64_t deadline = MonoNs() + 10'000'000'000;
      while (MonoNs() < deadline) {
        for (const json& l : lines.Poll()) {
          if (!IsLock(l, lock) || MonoOf(l) < t0) continue;
          if (l.value("connect", "") == "requested") seen.connect = true;
          if (l.contains("write") && l.value("write", "") != "refused") {
            last_write = MonoOf(l);
            ++seen.writes;
          }
          if (l.contains("lock_action")) {
            seen.write_ns = last_write;
            return seen;
          }
        }
        std::this_thread::sleep_for(200us);
      }
      throw Fail{"no Lock Action reached lock " + lock};
    };
    std::string datagram;
    {
      auto frame = lintel::wiegand::EncodeCard(lintel::wiegand::CardFormat::kH10301, 101, 251);
      if (!frame.ok()) throw Fail{"EncodeCard: " + frame.status().ToString()};
      for (int i = frame->bits - 1; i >= 0; --i) {
        datagram += std::string((frame->value >> i) & 1 ? "1" : "0") +
                    (i == frame->bits - 1 ? " 0\n" : " 2000\n");
      }
    }
    int card_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un card_addr{};
    card_addr.sun_family = AF_UNIX;
    std::snprintf(card_addr.sun_path, sizeof card_addr.sun_path, "%s", card_socket.c_str());
    auto reader = [&]() {
      std::optional<json> s = ctl.Ask({{"cmd", "status"}});
      if (!s || !s->contains("result")) throw Fail{"status failed"};
      return (*s)["result"]["readers"].value("unit-a-card", json::object());
    };
    uint64_t granted_before = reader().value("granted", uint64_t{0});
    struct Grant {
      double from_grant = 0, from_last_bit = 0;
      int writes = 0;
      bool cold = false;
    };
    auto grant = [&]() {
      lines.Poll();
      int64_t t0 = MonoNs();
      if (::sendto(card_fd, datagram.data(), datagram.size(), 0,
                   reinterpret_cast<sockaddr*>(&card_addr),
                   sizeof card_addr) != static_cast<ssize_t>(datagram.size())) {
        throw Fail{std::string("sendto: ") + std::strerror(errno)};
      }
      ActionSeen seen = wait_action(kLockA, t0);
      json r;
      if (!lintel::testing::WaitFor(
              [&] {
                r = reader();
                return r.value("granted", uint64_t{0}) > granted_before;
              },
              10s)) {
        throw Fail{"the reader never granted: " + r.dump()};
      }
      granted_before = r.value("granted", uint64_t{0});
      Grant g;
      g.from_last_bit = Ms(seen.write_ns - t0);
      g.from_grant = g.from_last_bit - r.value("last_decision_us", 0.0) / 1000.0;
      g.writes = seen.writes;
      g.cold = seen.connect;
      return g;
    };
    auto bare_act = [&](bool cold) {
      lines.Poll();
      if (cold) link->Disconnect();
      int64_t t0 = MonoNs();
      if (cold) {
        if (lintel::Status s = link->Connect(kLockB, 10s); !s.ok()) {
          throw Fail{"connect to B: " + s.ToString()};
        }
      }
      lintel::Result<ble::LockActionResult> r = client.Act(ble::LockAction::kUnlatch);
      if (!r.ok()) throw Fail{"B unlatch: " + r.status().ToString()};
      ActionSeen seen = wait_action(kLockB, t0);
      return Ms(seen.write_ns - t0);
    };
    // Waits until no lock but B is connected or connecting (the daemon dropped its idle link).
    auto wait_idle = [&]() {
      const int64_t deadline = MonoNs() + 20'000'000'000;
      while (MonoNs() < deadline) {
        bool busy = false;
        json st = sim->Control("state");
        if (!st.value("ok", false) || !st.contains("state"))
          throw Fail{"lock-sim state: " + st.dump()};
        for (const json& l : st["state"]["locks"]) {
          if (l.value("address", "") == kLockB) continue;
          busy = busy || l.value("connected", true) || l.value("connecting", true);
        }
        if (!busy) return;
        std::this_thread::sleep_for(50ms);
      }
      throw Fail{"the daemon never dropped its idle link"};
    };

    std::vector<double> rtt, bare, bare_cold, conn_grant, conn_bit, cold_grant, cold_bit;
    std::vector<double> conn_writes, cold_writes;
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> gap_ms(50, 150);
    auto note = [&](const Grant& g) {
      (g.cold ? cold_grant : conn_grant).push_back(g.from_grant);
      (g.cold ? cold_bit : conn_bit).push_back(g.from_last_bit);
      (g.cold ? cold_writes : conn_writes).push_back(g.writes);
    };
    note(grant());  // the first grant connects: cold
    for (int i = 0; i < grants; ++i) {
      rtt.push_back(dbus_rtt());
      bare.push_back(bare_act(false));
      std::this_thread::sleep_for(milliseconds(gap_ms(rng)));
      note(grant());
    }
    for (int i = 0; i < cold_n; ++i) {
      wait_idle();
      rtt.push_back(dbus_rtt());
      bare_cold.push_back(bare_act(true));
      std::this_thread::sleep_for(50ms);
      note(grant());
    }
    ::close(card_fd);
    const double conn_p99 = Percentile(conn_grant, 0.99);
    const double rtt_p99 = Percentile(rtt, 0.99);
    const double bare_p99 = Percentile(bare, 0.99);
    json grant_out = {
        {"connected",
         {{"from_grant", Summary(conn_grant)},
          {"from_last_bit", Summary(conn_bit)},
          {"writes_to_lock_action", Median(conn_writes)}}},
        {"cold",
         {{"from_grant", Summary(cold_grant)},
          {"from_last_bit", Summary(cold_bit)},
          {"writes_to_lock_action", Median(cold_writes)}}},
        {"dbus_rtt", Summary(rtt)},
        {"bare_act", Summary(bare)},
        {"bare_cold", Summary(bare_cold)},
        {"ratio_p99_vs_dbus_rtt", Round(rtt_p99 > 0 ? conn_p99 / rtt_p99 : 0, 2)},
        {"ratio_p50_vs_dbus_rtt", Round(Median(rtt) > 0 ? Median(conn_grant) / Median(rtt) : 0, 2)},
        {"ratio_p99_vs_bare_act", Round(bare_p99 > 0 ? conn_p99 / bare_p99 : 0, 2)},
        {"cold_ratio_p99_vs_bare_cold",
         Round(Percentile(bare_cold, 0.99) > 0
                   ? Percentile(cold_grant, 0.99) / Percentile(bare_cold, 0.99)
                   : 0,
               2)},
        {"target_met", rtt_p99 > 0 && conn_p99 <= 2 * rtt_p99},
    };

    // ---- 2. reconcile of 100 codes on one lock ------------------------------------------------
    // Times a state import until `want` holds; lines of the locks in `watched` are summarised.
    struct SyncRun {
      double total_ms = 0, detect_ms = 0, wire_ms = 0, confirm_ms = 0;
      double status_max_ms = 0;  // the slowest lock.status reply while waiting (the core loop)
      int writes = 0;
      bool connect = false;
      std::map<std::string, double> done_ms;  // per lock id: first poll that showed it settled
      std::map<std::string, double>
          span_ms;  // per address: its connect (or first line) -> last write
    };
    auto timed_import = [&](const std::string& file, const std::map<std::string, size_t>& want,
                            const std::vector<std::string>& watched) {
      wait_idle();  // every timed sync starts with a connect, as after any idle time
      lines.Poll();
      SyncRun run;
      int64_t t0 = MonoNs();
      import(file);
      int64_t t_end = 0;
      std::map<std::string, json> st;
      const int64_t deadline = t0 + 300'000'000'000;
      while (MonoNs() < deadline) {
        int64_t asked = MonoNs();
        st = lock_status();
        int64_t now = MonoNs();
        run.status_max_ms = std::max(run.status_max_ms, Ms(now - asked));
        for (const auto& [id, n] : want) {
          if (!run.done_ms.count(id) && st.count(id) && settled(st[id], n)) {
            run.done_ms[id] = Ms(now - t0);
          }
        }
        if (run.done_ms.size() == want.size()) {
          t_end = now;
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
      if (t_end == 0) throw Fail{"the sync never settled: " + json(st).dump()};
      run.total_ms = Ms(t_end - t0);
      int64_t first = 0, last = 0;
      std::map<std::string, std::pair<int64_t, int64_t>> per;
      for (const json& l : lines.Poll()) {
        int64_t m = MonoOf(l);
        if (m < t0 || m > t_end) continue;
        const std::string who = l.value("lock", "");
        if (std::find(watched.begin(), watched.end(), who) == watched.end()) continue;
        bool write = l.contains("write") && l.value("write", "") != "refused";
        bool connect = l.value("connect", "") == "requested";
        if (!write && !connect) continue;
        if (first == 0) first = m;
        auto& [a, b] = per[who];
        if (a == 0) a = m;
        if (write) {
          last = m;
          b = m;
          ++run.writes;
        }
        if (connect) run.connect = true;
      }
      run.detect_ms = first ? Ms(first - t0) : 0;
      run.wire_ms = first && last ? Ms(last - first) : 0;
      run.confirm_ms = last ? Ms(t_end - last) : 0;
      for (const auto& [who, ab] : per) run.span_ms[who] = Ms(ab.second - ab.first);
      return run;
    };
    // Baseline steps on B; each returns the writes lock-sim saw for B.
    auto b_writes_since = [&](int64_t t0) {
      int n = 0;
      for (const json& l : lines.Poll()) {
        if (IsLock(l, kLockB) && MonoOf(l) >= t0 && l.contains("write") &&
            l.value("write", "") != "refused") {
          ++n;
        }
      }
      return n;
    };
    auto check = [&](const lintel::Status& s, const std::string& what) {
      if (!s.ok()) throw Fail{"B " + what + ": " + s.ToString()};
    };
    auto b_read_all = [&]() {
      lintel::Result<ble::KeypadCodeList> c = client.ListKeypadCodes(kPin);
      check(c.status(), "list codes");
      lintel::Result<ble::AuthorizationList> a = client.ListAuthorizations(kPin);
      check(a.status(), "list authorizations");
      return *c;
    };
    ble::AccessWindow lease_window;
    lease_window.time_limited = true;
    lease_window.from = {2020, 1, 1, 0, 0, 0};
    lease_window.until = {2099, 1, 1, 0, 0, 0};
    // connect, read, `body`, re-read, one log read; ms and writes.
    auto b_sequence = [&](const std::function<void()>& body) {
      lines.Poll();
      link->Disconnect();
      int64_t t0 = MonoNs();
      check(link->Connect(kLockB, 10s), "connect");
      b_read_all();
      body();
      b_read_all();
      check(client.ReadLog(0, 1, kPin, /*descending=*/true).status(), "log");
      int64_t t1 = MonoNs();
      return std::pair<double, int>(Ms(t1 - t0), b_writes_since(t0));
    };
    std::set<std::string> want_codes;
    for (int i = 0; i < codes_n; ++i) want_codes.insert(Code('3', i));
    const std::string with_codes = write_state("state-codes.json", true, false, false);
    const std::string without = write_state("state-0.json", false, false, false);
    std::vector<SyncRun> adds, removes;
    std::vector<double> base_add, base_remove;
    std::vector<double> base_add_writes, base_remove_writes;
    for (int r = 0; r < repeats; ++r) {
      adds.push_back(timed_import(with_codes, {{"lock-a", codes_n}}, {kLockA}));
      if (codes_on(kLockA) != want_codes) throw Fail{"lock A does not hold exactly the codes"};
      removes.push_back(timed_import(without, {{"lock-a", 0}}, {kLockA}));
      if (!codes_on(kLockA).empty()) throw Fail{"lock A still holds codes"};

      std::vector<uint16_t> ids;
      auto [add_ms, add_w] = b_sequence([&] {
        for (int i = 0; i < codes_n; ++i) {
          ble::KeypadCodeAdd a;
          a.code = static_cast<uint32_t>(std::stoul(Code('3', i)));
          a.name = "Tenant a" + std::to_string(i);
          a.window = lease_window;
          lintel::Result<uint16_t> id = client.AddKeypadCode(a, kPin);
          check(id.status(), "add code");
          ids.push_back(*id);
        }
      });
      base_add.push_back(add_ms);
      base_add_writes.push_back(add_w);
      auto [rm_ms, rm_w] = b_sequence([&] {
        for (uint16_t id : ids) check(client.RemoveKeypadCode(id, kPin), "remove code");
      });
      base_remove.push_back(rm_ms);
      base_remove_writes.push_back(rm_w);
    }
    auto med = [](const std::vector<SyncRun>& runs, double SyncRun::*f) {
      std::vector<double> v;
      for (const SyncRun& r : runs) v.push_back(r.*f);
      return Median(v);
    };
    auto all = [](const std::vector<SyncRun>& runs, double SyncRun::*f) {
      std::vector<double> v;
      for (const SyncRun& r : runs) v.push_back(r.*f);
      return v;
    };
    auto sync_json = [&](const std::vector<SyncRun>& runs) {
      std::vector<double> writes;
      bool connect = !runs.empty();
      for (const SyncRun& r : runs) {
        writes.push_back(r.writes);
        connect = connect && r.connect;
      }
      return json{{"runs", runs.size()},
                  {"total_ms", Rounded(all(runs, &SyncRun::total_ms))},
                  {"median_ms", Round(med(runs, &SyncRun::total_ms), 1)},
                  {"detect_median_ms", Round(med(runs, &SyncRun::detect_ms), 1)},
                  {"wire_median_ms", Round(med(runs, &SyncRun::wire_ms), 1)},
                  {"confirm_median_ms", Round(med(runs, &SyncRun::confirm_ms), 1)},
                  {"status_reply_max_ms", Round(med(runs, &SyncRun::status_max_ms), 1)},
                  {"writes", Median(writes)},
                  {"included_connect", connect}};
    };
    auto ratio = [](double a, double b) { return Round(b > 0 ? a / b : 0, 2); };
    json reconcile_out = {
        {"codes", codes_n},
        {"add", sync_json(adds)},
        {"remove", sync_json(removes)},
        {"baseline_add",
         {{"runs", base_add.size()},
          {"median_ms", Round(Median(base_add), 1)},
          {"writes", Median(base_add_writes)}}},
        {"baseline_remove",
         {{"runs", base_remove.size()},
          {"median_ms", Round(Median(base_remove), 1)},
          {"writes", Median(base_remove_writes)}}},
        {"ratio_add", ratio(med(adds, &SyncRun::total_ms), Median(base_add))},
        {"ratio_add_wire", ratio(med(adds, &SyncRun::wire_ms), Median(base_add))},
        {"ratio_remove", ratio(med(removes, &SyncRun::total_ms), Median(base_remove))},
        {"ratio_remove_wire", ratio(med(removes, &SyncRun::wire_ms), Median(base_remove))},
    };

    // ---- 3. 20 locks, one pending revocation each ---------------------------------------------
    const std::string granted = write_state("state-locks.json", false, true, false);
    const std::string revoked = write_state("state-revoked.json", false, true, true);
    std::map<std::string, size_t> ones, zeros;
    for (int k = 1; k <= locks_n; ++k) {
      ones["lock-" + Two(k)] = 1;
      zeros["lock-" + Two(k)] = 0;
    }
    std::vector<SyncRun> lock_adds, lock_revokes;
    std::vector<double> base_revoke, base_revoke_writes;
    for (int r = 0; r < repeats; ++r) {
      lock_adds.push_back(timed_import(granted, ones, lock_ls));
      for (int k = 1; k <= locks_n; ++k) {
        if (codes_on(lock_ls[k - 1]) != std::set<std::string>{Code('4', k)}) {
          throw Fail{"lock L" + Two(k) + " does not hold its code"};
        }
      }
      lock_revokes.push_back(timed_import(revoked, zeros, lock_ls));
      for (const std::string& l : lock_ls) {
        if (!codes_on(l).empty()) throw Fail{"lock " + l + " still holds a code"};
      }
      double total = 0;
      int writes = 0;
      for (int k = 1; k <= locks_n; ++k) {
        json added = peer(kLockB, "add-code " + Code('4', k) + " Tenant");
        uint16_t id = added.value("code_id", uint16_t{0});
        auto [ms, w] = b_sequence([&] { check(client.RemoveKeypadCode(id, kPin), "remove"); });
        total += ms;
        writes += w;
      }
      base_revoke.push_back(total);
      base_revoke_writes.push_back(writes);
    }
    auto locks_json = [&](const std::vector<SyncRun>& runs) {
      json j = sync_json(runs);
      j["per_lock_mean_ms"] = Round(med(runs, &SyncRun::total_ms) / locks_n, 1);
      std::vector<double> spans;
      for (const SyncRun& r : runs) {
        for (const auto& [who, ms] : r.span_ms) spans.push_back(ms);
      }
      j["per_lock_span_median_ms"] = Round(Median(spans), 1);
      return j;
    };
    json locks_out = {
        {"locks", locks_n},
        {"revoke", locks_json(lock_revokes)},
        {"add", locks_json(lock_adds)},
        {"baseline_revoke",
         {{"runs", base_revoke.size()},
          {"median_ms", Round(Median(base_revoke), 1)},
          {"per_lock_mean_ms", Round(Median(base_revoke) / locks_n, 1)},
          {"writes", Median(base_revoke_writes)}}},
        {"ratio_revoke", ratio(med(lock_revokes, &SyncRun::total_ms), Median(base_revoke))},
        {"ratio_revoke_wire", ratio(med(lock_revokes, &SyncRun::wire_ms), Median(base_revoke))},
    };

    json out = {
        {"bench", "ble"},
        {"lock_sim",
         {{"connect_delay_ms", connect_delay_ms},
          {"resolve_delay_ms", resolve_delay_ms},
          {"disconnect_after_ms", kDisconnectAfterMs}}},
        {"grant_to_lock_action_ms", grant_out},
        {"reconcile_codes_one_lock", reconcile_out},
        {"revoke_one_code_on_each_of_20_locks", locks_out},
    };
    std::cout << out.dump() << std::endl;
  } catch (const Fail& f) {
    std::cerr << "ble_bench: " << f.what << " (files in " << dir << ")\n";
    return 1;
  } catch (const sdbus::Error& e) {
    std::cerr << "ble_bench: D-Bus: " << e.getName() << ": " << e.getMessage() << " (files in "
              << dir << ")\n";
    return 1;
  }
  link.reset();
  if (daemon) {
    daemon->Signal(SIGTERM);
    daemon->Wait(10s);
  }
  if (sim) sim->Stop();
  bus.Stop();
  return 0;
}
