#include "gateway/base/systemd.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>

namespace lintel::systemd {
namespace {

Status Send(const std::string& state) {
  int r = sd_notify(/*unset_environment=*/0, state.c_str());
  if (r < 0) {
    std::string first_line = state.substr(0, state.find('\n'));
    return Status::IoError("cannot notify systemd (" + first_line + "): " + strerror(-r));
  }
  return Status::Ok();  // r == 0: NOTIFY_SOCKET unset, nothing to do
}

}  // namespace

Status NotifyReady() { return Send("READY=1"); }

Status NotifyStopping() { return Send("STOPPING=1"); }

Status NotifyReloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t usec =
      static_cast<uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<uint64_t>(ts.tv_nsec) / 1'000u;
  return Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

Status NotifyStatus(std::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return Send("STATUS=" + line);
}

Status NotifyWatchdog() { return Send("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds{static_cast<int64_t>(usec)};
}

}  // namespace lintel::systemd
