// Intercom panel benchmark (issue 12, point 7): a code typed at a 2N panel to the switch command
// the panel receives, through the real daemon, next to a bare HTTP round trip to the same panel in
// the same run. Everything real and out of process on loopback: tools/panel-sim (2N, Digest auth,
// --t-us), `lintel` with that panel on door `lobby`, lintelctl for the state import.
//
// Per sample (code_to_switch): panel-sim's control socket gets `code 2468`; panel-sim prints its
// `command` line when it logs the CodeEntered event (the waiting long poll is answered with it),
// and a `switch` line when the daemon's /api/switch/ctrl?switch=1&action=trigger arrives. Both
// lines carry panel-sim's own `t_us` (one clock): the figure is their difference, so it covers the
// pull reply reaching the daemon, the parse, the post to the core loop, the decision, the actuator
// queueing the trigger on the command thread and the trigger's HTTP exchange (Digest: a 401
// challenge and the signed request, as every request of cpp-httplib's client), not the control
// socket or this process's polling. The samples wait for each other (one at a time); the daemon
// then re-arms its long poll before the next code.
//
// Baseline (bare_http), interleaved, one before every sample: this process sends the same kind of
// request, GET /api/switch/ctrl?switch=2&action=trigger with Digest auth over a kept-alive
// cpp-httplib client, timed with steady_clock around Get() (the same two round trips).
//
// Prints one JSON line. Usage: panel_bench [--samples N] [--warmup N] [--dir DIR] [--quick].
#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/subprocess.h"

namespace lintel {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BinaryDir;
using testing::Child;
using testing::RunProgram;

constexpr const char* kPassword = "Bench-Pa55word";

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double Round(double x, int digits = 1) {
  double f = std::pow(10.0, digits);
  return std::round(x * f) / f;
}

json Figures(const std::vector<double>& us) {
  return {{"n", us.size()},
          {"p50_us", Round(Percentile(us, 0.5))},
          {"p99_us", Round(Percentile(us, 0.99))},
          {"max_us", Round(Percentile(us, 1.0))}};
}

// panel-sim's stdout file, read incrementally.
class Lines {
 public:
  explicit Lines(fs::path path) : path_(std::move(path)) {}
  // New complete lines since the last call.
  std::vector<json> Next() {
    std::ifstream in(path_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<json> out;
    size_t start = 0;
    for (size_t nl; (nl = chunk.find('\n', start)) != std::string::npos; start = nl + 1) {
      json j = json::parse(chunk.substr(start, nl - start), nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    offset_ += start;
    return out;
  }

 private:
  fs::path path_;
  size_t offset_ = 0;
};

json Control(const fs::path& socket_path, const std::string& command) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return {{"ok", false}};
  }
  std::string text = command + "\n";
  (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  std::string reply;
  auto end = std::chrono::steady_clock::now() + seconds(5);
  while (reply.find('\n') == std::string::npos && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (reply.find('\n') == std::string::npos) return {{"ok", false}};
  return json::parse(reply.substr(0, reply.find('\n')), nullptr, false);
}

int Fail(const std::string& why) {
  std::cerr << "panel_bench: " << why << "\n";
  return 1;
}

int Run(int samples, int warmup, fs::path dir) {
  fs::create_directories(dir);
  const fs::path control = dir / "sim.ctl";
  const fs::path out = dir / "sim.out";
  const std::string socket = (dir / "lintel.sock").string();
  for (const char* name : {"sim.password", "lobby.password"}) {
    std::ofstream(dir / name) << kPassword << "\n";
    ::chmod((dir / name).c_str(), 0600);
  }
  Child sim({BinaryDir() + "/tools/panel-sim/panel-sim", "--family", "2n", "--listen",
             "127.0.0.1:0", "--control", control.string(), "--auth", "digest", "--user", "lintel",
             "--password-file", (dir / "sim.password").string(), "--switches", "2", "--t-us"},
            (dir / "sim.log").string(), out.string());
  Lines lines(out);
  int port = 0;
  testing::WaitFor(
      [&] {
        for (const json& l : lines.Next()) {
          if (l.contains("listening")) port = l["listening"]["port"].get<int>();
        }
        return port != 0 || !sim.running();
      },
      seconds(10));
  if (port == 0) return Fail("panel-sim did not start: " + testing::ReadFile(dir / "sim.log"));
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::ofstream(dir / "lintel.yaml") << "site: {id: s, time_zone: UTC}\n"
                                        "gateway: {id: g}\n"
                                        "store: {path: "
                                     << (dir / "lintel.db").string() << "}\n"
                                     << "control: {socket: " << socket << "}\n"
                                     << "logging: {level: warning}\n"
                                        "doors: [{id: lobby, common: true}]\n"
                                        "panels:\n"
                                        "  - {id: lobby-panel, type: 2n, door: lobby, url: \""
                                     << url << "\", auth: digest, user: lintel, password_file: "
                                     << (dir / "lobby.password").string() << "}\n";
  std::ofstream(dir / "state.json") << R"({
    "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
    "leases": [{"id": "l1", "unit": "1", "members": ["p1"], "groups": ["default"],
                "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}],
    "credentials": [{"id": "pin1", "person": "p1", "type": "pin", "status": "active",
                     "pin": "2468"}]})";
  Child daemon({BinaryDir() + "/gateway/lintel", "--config", (dir / "lintel.yaml").string()},
               (dir / "lintel.log").string());
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {BinaryDir() + "/tools/lintelctl", "--socket", socket});
    return RunProgram(args);
  };
  if (!testing::WaitFor([&] { return ctl({"status"}).exit_code == 0; }, seconds(10))) {
    return Fail("lintel did not start: " + testing::ReadFile(dir / "lintel.log"));
  }
  if (ctl({"state", "import", (dir / "state.json").string()}).exit_code != 0) {
    return Fail("state import failed");
  }
  // Wait for the daemon's channel (its long poll in place).
  bool subscribed = false;
  testing::WaitFor(
      [&] {
        for (const json& l : lines.Next()) subscribed |= l.value("channel", "") == "opened";
        return subscribed;
      },
      seconds(20));
  if (!subscribed)
    return Fail("the daemon did not subscribe: " + testing::ReadFile(dir / "lintel.log"));

  httplib::Client bare("127.0.0.1", port);
  bare.set_digest_auth("lintel", kPassword);
  bare.set_keep_alive(true);
  std::vector<double> code_to_switch, bare_http;
  for (int i = 0; i < warmup + samples; ++i) {
    // Baseline: the same request from here.
    auto t0 = std::chrono::steady_clock::now();
    auto res = bare.Get("/api/switch/ctrl?switch=2&action=trigger");
    auto t1 = std::chrono::steady_clock::now();
    if (!res || res->status != 200) return Fail("bare request failed");
    // The sample: a code at the panel, to the daemon's trigger of switch 1.
    if (Control(control, "code 2468").value("ok", false) != true) return Fail("control failed");
    std::optional<int64_t> typed, switched;
    bool done = testing::WaitFor(
        [&] {
          for (const json& l : lines.Next()) {
            if (l.value("command", "") == "code 2468") typed = l["t_us"].get<int64_t>();
            if (l.value("switch", 0) == 1 && l.value("action", "") == "trigger" &&
                l.value("via", "") != "control") {
              switched = l["t_us"].get<int64_t>();
            }
          }
          return typed && switched;
        },
        seconds(10));
    if (!done) return Fail("no switch command for sample " + std::to_string(i));
    if (i < warmup) continue;
    code_to_switch.push_back(static_cast<double>(*switched - *typed));
    bare_http.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    // The daemon journals the grant and re-arms its long poll: let it settle (its next pull is
    // waiting when the next code comes, as in production).
    std::this_thread::sleep_for(milliseconds(20));
  }
  daemon.Signal(SIGTERM);
  daemon.Wait(seconds(10));
  sim.Signal(SIGTERM);
  sim.Wait(seconds(5));
  const double c50 = Percentile(code_to_switch, 0.5), b50 = Percentile(bare_http, 0.5);
  const double c99 = Percentile(code_to_switch, 0.99), b99 = Percentile(bare_http, 0.99);
  json result = {{"bench", "panel"},
                 {"panel", "panel-sim 2n, digest auth, loopback"},
                 {"code_to_switch", Figures(code_to_switch)},
                 {"bare_http_round_trip", Figures(bare_http)},
                 {"ratio_p50", Round(b50 > 0 ? c50 / b50 : 0, 2)},
                 {"ratio_p99", Round(b99 > 0 ? c99 / b99 : 0, 2)}};
  std::cout << result.dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace lintel

int main(int argc, char** argv) {
  int samples = 200, warmup = 10;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      samples = 30;
      warmup = 3;
    } else if (a == "--samples" && i + 1 < argc) {
      samples = std::atoi(argv[++i]);
    } else if (a == "--warmup" && i + 1 < argc) {
      warmup = std::atoi(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::cerr << "usage: panel_bench [--samples N] [--warmup N] [--dir DIR] [--quick]\n";
      return 2;
    }
  }
  std::filesystem::path d = dir;
  if (dir.empty()) {
    char tmpl[] = "/tmp/lintel-panel-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    d = tmpl;
  }
  int rc = lintel::Run(samples, warmup, d);
  if (rc == 0 && dir.empty()) std::filesystem::remove_all(d);
  return rc;
}
