// Thin wrappers around sd_notify(3) and sd_watchdog_enabled(3): how the daemon tells systemd that
// it is ready, reloading, stopping, alive (watchdog) and what it is doing (STATUS=).
//
// Every function is a no-op returning OK when NOTIFY_SOCKET is unset (started by hand, in a test,
// or with a Type= that does not listen), so callers never need to ask whether systemd is there.
// Thread-safe (each call sends one datagram); the daemon calls them from the core thread. They read
// the environment, so do not call them concurrently with setenv()/unsetenv().
//
// Errors: IoError when NOTIFY_SOCKET is set but the datagram cannot be sent (socket gone, path
// unusable). A daemon logs such an error and carries on: a missed READY makes systemd time the
// start out, a missed WATCHDOG makes it restart the service, which are the right outcomes.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "gateway/base/status.h"

namespace lintel::systemd {

// "READY=1": startup finished (config, store and drivers are up: STYLE.md rule 16), or a reload
// finished (send it again after NotifyReloading()).
Status NotifyReady();

// "STOPPING=1": shutdown has begun.
Status NotifyStopping();

// "RELOADING=1" plus "MONOTONIC_USEC=<CLOCK_MONOTONIC now>": a reload (SIGHUP) has begun; send
// NotifyReady() when it is done. systemd 253+ requires the timestamp for Type=notify-reload; older
// versions (Debian 12 ships 252) ignore the extra field.
Status NotifyReloading();

// "STATUS=<text>": one line shown by `systemctl status`. Newlines in `text` become spaces.
Status NotifyStatus(std::string_view text);

// "WATCHDOG=1": the service is alive. Send it at least every WatchdogInterval() / 2, from the core
// loop (a periodic timer), so a wedged loop stops the pings and systemd restarts the daemon.
Status NotifyWatchdog();

// The watchdog interval systemd expects (WatchdogSec= in the unit), when the watchdog is enabled
// for this process (WATCHDOG_USEC set and WATCHDOG_PID unset or ours); nullopt otherwise, including
// when those variables are malformed.
std::optional<std::chrono::microseconds> WatchdogInterval();

}  // namespace lintel::systemd
