// Test helpers for the BLE tests: a private dbus-daemon on a Unix socket in the test's directory
// (never the machine's system bus), and tools/lock-sim on it, driven through its control socket.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/subprocess.h"

namespace lintel::testing {

// Connects a Unix stream socket to `path`; -1 when nothing listens there.
inline int ConnectUnix(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) return -1;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    fd = -1;
  }
  return fd;
}

// `dbus-daemon --session --nofork` listening on DIR/bus only; stopped (by its pid) when destroyed.
class PrivateBus {
 public:
  explicit PrivateBus(std::string dir) : dir_(std::move(dir)) {}
  ~PrivateBus() { Stop(); }

  // Starts the daemon and waits (up to 5 s) until its socket accepts. False if it did not.
  bool Start() {
    ::unlink(socket_path().c_str());
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/dbus-daemon", "--session", "--nofork", "--nopidfile",
                                 "--address=" + address()},
        dir_ + "/dbus-daemon.log");
    return WaitFor(
        [&] {
          int fd = ConnectUnix(socket_path());
          if (fd < 0) return false;
          ::close(fd);
          return true;
        },
        std::chrono::seconds(5));
  }
  void Stop() {
    if (!child_) return;
    child_->Signal(SIGTERM);
    if (child_->Wait(std::chrono::seconds(5)) < 0) child_->Signal(SIGKILL);
    child_->Wait(std::chrono::seconds(5));
    child_.reset();
  }
  std::string socket_path() const { return dir_ + "/bus"; }
  std::string address() const { return "unix:path=" + socket_path(); }

 private:
  std::string dir_;
  std::unique_ptr<Child> child_;
};

// tools/lock-sim on a bus, with a control socket; its stdout lines are read back as JSON.
class LockSimProcess {
 public:
  LockSimProcess(std::string dir, std::string bus_address, std::vector<std::string> extra_args)
      : dir_(std::move(dir)), bus_(std::move(bus_address)), extra_(std::move(extra_args)) {}
  ~LockSimProcess() { Stop(); }

  // Starts lock-sim and waits (up to 10 s) for its listening line. False if it did not come.
  bool Start() {
    std::vector<std::string> argv = {BinaryDir() + "/tools/lock-sim/lock-sim", "--bus", bus_,
                                     "--control", control_path()};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    std::ofstream(out_path(), std::ios::trunc).close();
    child_ = std::make_unique<Child>(argv, dir_ + "/lock-sim.log", out_path());
    return WaitFor([&] { return !Lines().empty() && Lines()[0].contains("listening"); },
                   std::chrono::seconds(10));
  }
  // SIGTERM; returns the exit code (-1 if it had to be killed).
  int Stop() {
    if (!child_) return -1;
    child_->Signal(SIGTERM);
    int code = child_->Wait(std::chrono::seconds(5));
    if (code < 0) child_->Signal(SIGKILL);
    child_->Wait(std::chrono::seconds(5));
    child_.reset();
    return code;
  }

  // Sends one control command; returns its reply (or {"ok": false, "error": ...} on failure).
  nlohmann::json Control(const std::string& command) {
    int fd = ConnectUnix(control_path());
    if (fd < 0) return {{"ok", false}, {"error", "cannot connect to the control socket"}};
    std::string line = command + "\n";
    (void)::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    std::string reply;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n') reply += c;
    ::close(fd);
    nlohmann::json j = nlohmann::json::parse(reply, nullptr, false);
    if (j.is_discarded()) return {{"ok", false}, {"error", "unparsable reply: " + reply}};
    return j;
  }

  // Every stdout line so far, parsed (unparsable lines are skipped).
  std::vector<nlohmann::json> Lines() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(out_path());
    for (std::string line; std::getline(in, line);) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
  }
  // How many lines hold `pred`.
  size_t Count(const std::function<bool(const nlohmann::json&)>& pred) const {
    size_t n = 0;
    for (const auto& j : Lines()) n += pred(j) ? 1 : 0;
    return n;
  }
  // Waits (up to `timeout`) until at least `n` lines hold `pred`.
  bool WaitForLines(const std::function<bool(const nlohmann::json&)>& pred, size_t n = 1,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return WaitFor([&] { return Count(pred) >= n; }, timeout);
  }

  std::string control_path() const { return dir_ + "/ctl"; }
  std::string out_path() const { return dir_ + "/lock-sim.out"; }
  std::string log_path() const { return dir_ + "/lock-sim.log"; }

 private:
  std::string dir_;
  std::string bus_;
  std::vector<std::string> extra_;
  std::unique_ptr<Child> child_;
};

// A line field equal to a value, for Count / WaitForLines.
inline std::function<bool(const nlohmann::json&)> Has(const std::string& key,
                                                      const nlohmann::json& value) {
  return [key, value](const nlohmann::json& j) { return j.contains(key) && j[key] == value; };
}
inline std::function<bool(const nlohmann::json&)> Has(const std::string& k1,
                                                      const nlohmann::json& v1,
                                                      const std::string& k2,
                                                      const nlohmann::json& v2) {
  return [=](const nlohmann::json& j) {
    return j.contains(k1) && j[k1] == v1 && j.contains(k2) && j[k2] == v2;
  };
}

}  // namespace lintel::testing
