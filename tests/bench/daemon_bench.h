// Shared by the benchmarks that drive the real daemon out of process (broker_flood_bench,
// door_latency_bench): a persistent control connection, percentiles, a process's memory figures
// and a Wiegand card frame as a replay datagram (drivers/wiegand/replay_source.h).
// Header-only; each benchmark is one translation unit.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "drivers/wiegand/wiegand.h"

namespace lintel::bench {

// One persistent control connection: newline-delimited JSON requests and replies.
class Control {
 public:
  explicit Control(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~Control() {
    if (fd_ >= 0) close(fd_);
  }
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;
  bool ok() const { return fd_ >= 0; }
  // Sends `request` as one line; returns the reply line parsed (nullopt: the connection failed or
  // the reply is not JSON).
  std::optional<nlohmann::json> Ask(const nlohmann::json& request) {
    std::optional<std::string> reply = AskLine(request.dump());
    if (!reply) return std::nullopt;
    nlohmann::json j = nlohmann::json::parse(*reply, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }
  // Sends `line` and a newline; returns the next reply line (a text protocol such as
  // modbus-sim's control socket).
  std::optional<std::string> AskLine(const std::string& request) {
    std::string line = request + "\n";
    for (size_t off = 0; off < line.size();) {
      ssize_t n = write(fd_, line.data() + off, line.size() - off);
      if (n <= 0) return std::nullopt;
      off += static_cast<size_t>(n);
    }
    while (true) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string reply = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return reply;
      }
      char buf[65536];
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

// A field of /proc/PID/status in kB ("VmRSS:", "VmHWM:"); -1 when unreadable.
inline long StatusKb(pid_t pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::strlen(key)));
  }
  return -1;
}

// The nearest-rank percentile `p` (0..1) of `v`; 0 for none.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// An H10301 card (facility, number) as one replay datagram, bits `bit_us` apart: sent at once,
// it arrives when the frame's last bit would.
inline std::optional<std::string> WiegandDatagram(int facility, int number, int bit_us = 2000) {
  auto frame = wiegand::EncodeCard(wiegand::CardFormat::kH10301, facility, number);
  if (!frame.ok()) return std::nullopt;
  std::string datagram;
  for (int i = frame->bits - 1; i >= 0; --i) {
    datagram += std::string((frame->value >> i) & 1 ? "1" : "0") +
                (i == frame->bits - 1 ? " 0\n" : " " + std::to_string(bit_us) + "\n");
  }
  return datagram;
}

}  // namespace lintel::bench
