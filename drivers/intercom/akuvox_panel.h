// AkuvoxPanel: one Akuvox panel's local HTTP API: relay commands and a health check (library
// `lintel_intercom_io`). Facts: shared/protocols/intercom-2n.md, "Akuvox panels".
//
// Codes and cards of an Akuvox panel do not come through here: the panel sends them to the
// gateway's ActionUrlListener (action_url_listener.h), which calls the callback registered for
// the panel. This driver opens doors and says whether the panel answers.
//
//  - Health: GET /api/system/info every `health_interval` on the health thread. Any HTTP answer
//    but 401/403 means online (a model without that endpoint says "Api unsupported", which is
//    still an answer); 401/403 is offline kAuthFailed ("wrong password for panel '<id>'"); no
//    answer is a failure: retried at once the first time, then after the backoff (backoff_min
//    doubling up to backoff_max), and offline (kUnreachable) after two in a row; a refused
//    certificate is offline kCertificate at once.
//  - Relay: TriggerRelay() queues, for the command thread (its own connection):
//      POST /api/relay/trig {"target":"relay","action":"trig","data":{"num":N,"mode":0,
//      "level":0,"delay":D}}, success when the reply's retcode >= 0;
//    or, when `legacy_open_door` is set, GET /fcgi/do?action=OpenDoor&UserName=..&Password=..
//    &DoorNum=N (credentials in the URL, for models without the relay API; the URL is never
//    logged nor put into a message), success on HTTP 200.
//  - on_event is not used; on_online, on_error (health thread), on_command (command thread).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "drivers/intercom/http_seam.h"
#include "drivers/intercom/panel.h"
#include "gateway/base/clock.h"
#include "gateway/base/mutex.h"
#include "gateway/base/status.h"

namespace lintel::intercom {

namespace internal {
class CommandWorker;
}

struct AkuvoxConfig {
  std::string id;  // for messages ("gate")
  HttpConfig http;
  // Use the legacy GET /fcgi/do?action=OpenDoor (needs http.username/password, which it sends in
  // the URL whatever http.auth says) instead of POST /api/relay/trig.
  bool legacy_open_door = false;
  std::chrono::milliseconds health_interval{30000};
  std::chrono::milliseconds backoff_min{1000};
  std::chrono::milliseconds backoff_max{60000};
  std::chrono::milliseconds command_max_age{5000};
  size_t max_queued_commands = 16;
};

// Errors: InvalidArgument "Akuvox panel '<id>': ..." for an empty id, an HttpConfig failing
// CheckHttpConfig(), legacy_open_door without a user name, health_interval <= 0, backoff_min <=
// 0, backoff_max < backoff_min, command_max_age <= 0, max_queued_commands 0.
[[nodiscard]] Status CheckAkuvoxConfig(const AkuvoxConfig& config);

// Threads: every member may be called from any thread, except that Stop() and the destructor must
// not be called from a callback of this panel. Ownership: the panel owns both seams; `clock` must
// outlive it.
class AkuvoxPanel {
 public:
  // `health` carries the health checks, `commands` the relay commands (two connections).
  AkuvoxPanel(AkuvoxConfig config, std::unique_ptr<HttpSeam> health,
              std::unique_ptr<HttpSeam> commands, const Clock& clock, PanelCallbacks callbacks);
  ~AkuvoxPanel();  // Stop()
  AkuvoxPanel(const AkuvoxPanel&) = delete;
  AkuvoxPanel& operator=(const AkuvoxPanel&) = delete;

  // Errors: InvalidArgument from CheckAkuvoxConfig(); FailedPrecondition when started twice or
  // after Stop().
  [[nodiscard]] Status Start();
  // Aborts the requests in flight, reports queued commands Unavailable, joins. Idempotent.
  void Stop();

  // Queues a trigger of relay `relay` (>= 1), closing again after `delay` (0: the panel's own
  // setting), and returns the request id for on_command. Never blocks on the network; may be
  // called before Start(). Errors: InvalidArgument (relay < 1, delay < 0); Unavailable when
  // max_queued_commands are waiting; FailedPrecondition after Stop().
  [[nodiscard]] Result<uint64_t> TriggerRelay(int relay,
                                              std::chrono::seconds delay = std::chrono::seconds(0));

  PanelHealth Health() const;
  const std::string& id() const { return config_.id; }
  // Makes the health thread look at the clock now (tests that move a FakeClock).
  void Wake();

  static constexpr std::chrono::milliseconds kMaxSleep{1000};

 private:
  void Run();
  // One health check; returns when the next is due (monotonic ns).
  int64_t Check();
  void SetState(bool online, PanelFault fault, const std::string& reason);
  int64_t NowNs() const;

  const AkuvoxConfig config_;
  const std::unique_ptr<HttpSeam> health_seam_;
  const Clock& clock_;
  const PanelCallbacks callbacks_;
  std::unique_ptr<internal::CommandWorker> commands_;

  // Health thread state.
  int state_ = 0;  // 0 unknown, 1 online, 2 offline
  PanelFault fault_ = PanelFault::kNone;
  int consecutive_failures_ = 0;
  int64_t backoff_ns_ = 0;

  std::atomic<bool> stopping_{false};  // see TwoNPanel
  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool started_ GUARDED_BY(mu_) = false;
  bool wake_ GUARDED_BY(mu_) = false;
  PanelHealth health_ GUARDED_BY(mu_);
  std::thread thread_;
};

// Builds an AkuvoxPanel with two httplib seams from config.http (not started). Errors: as
// CheckAkuvoxConfig() and MakeHttplibSeam().
[[nodiscard]] Result<std::unique_ptr<AkuvoxPanel>> MakeAkuvoxPanel(AkuvoxConfig config,
                                                                   const Clock& clock,
                                                                   PanelCallbacks callbacks);

}  // namespace lintel::intercom
