// TwoNPanel: one 2N IP intercom (or a panel with its HTTP API) as a reader and a door actuator
// (library `lintel_intercom_io`). Facts: shared/protocols/intercom-2n.md.
//
// The driver carries out and reports; it never decides. Codes and cards come out as PanelEvents;
// the daemon's engine decides and calls TriggerSwitch() for a grant.
//
// Two layers, as drivers/modbus:
//  - TwoNPoller: the event channel as a single-threaded state machine over an HttpSeam and a
//    Clock. Step() does one thing (connect, or one pull) and says when to call it again. Tests
//    drive it with a FakeClock.
//  - TwoNPanel: a TwoNPoller on its own thread (the event thread), plus a command thread with a
//    second HttpSeam (a second connection) for TriggerSwitch, so a long poll in flight never
//    delays a door.
//
// Event channel (both layers):
//  - Connect: GET /api/system/info (health check; its fields go to PanelHealth::info), then
//    GET /api/log/subscribe?include=new&duration=<channel_duration>: a new channel; the channel
//    generation (PanelEvent::channel) goes up by one. Online is reported after both succeeded.
//  - Then long polls, one after the other: GET /api/log/pull?id=<id>&timeout=<pull_timeout>
//    (HTTP reply timeout: pull_timeout + http.read_timeout). Every event of a reply is delivered
//    through on_event in order, with `channel` set, unless its (channel, id) was delivered
//    before (counted as a duplicate; the ids of the last 4096 events of the channel are
//    remembered, and an id below all of those counts as seen). Rejected events and unknown ones
//    are counted (PanelHealth); each rejected one goes to on_error with its reason.
//  - Resubscribe (a new channel, counted in `resubscribes`) when a pull is answered with an error
//    envelope (the channel expired or the panel forgot it: "an error for an unknown id"), when a
//    reply delivered DeviceState startup (after the events of that reply: the panel restarted),
//    and after any failed request (the channel's state is then unknown). include=new: events
//    logged while no channel was open are not replayed.
//  - A malformed pull reply (not JSON, too big, over 128 events, no events array) is counted
//    (rejected_replies), reported on_error, and the channel kept.
//  - Failures and backoff: the first failure after a success is retried at once (a stale
//    keep-alive connection, an expired channel); each further consecutive failure waits the
//    backoff, backoff_min doubling up to backoff_max, reset by a successful pull. Offline
//    (on_online(false, ...)): two consecutive transport failures (kUnreachable), or at once HTTP
//    401/403 (kAuthFailed, "wrong password for panel '<id>'"), a refused certificate
//    (kCertificate), or a connect step answered with something that is not the 2N API
//    (kProtocol). Failed pulls of a subscribed channel never make it offline by themselves: the
//    reconnect decides.
//
// Switch commands: TriggerSwitch() queues GET /api/switch/ctrl?switch=<n>&action=trigger
// [&timeout=<s>] for the command thread (its own connection) and returns at once; the outcome
// goes to on_command (see CommandResult: 2N error 14, "switch locked", is FailedPrecondition).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
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

struct TwoNConfig {
  std::string id;  // for messages and events ("lobby")
  HttpConfig http;
  // The channel closes when not pulled within this; pull_timeout must be shorter.
  std::chrono::seconds channel_duration{60};
  std::chrono::seconds pull_timeout{20};  // long-poll: the panel answers at once or after this
  std::chrono::milliseconds backoff_min{1000};
  std::chrono::milliseconds backoff_max{60000};
  // A switch command that could not be sent within this (behind other commands) is dropped.
  std::chrono::milliseconds command_max_age{5000};
  size_t max_queued_commands = 16;
};

// Errors: InvalidArgument "2N panel '<id>': ..." for an empty id, an HttpConfig failing
// CheckHttpConfig(), channel_duration < 2 s, pull_timeout < 0 or >= channel_duration,
// backoff_min <= 0, backoff_max < backoff_min, command_max_age <= 0, max_queued_commands 0.
[[nodiscard]] Status CheckTwoNConfig(const TwoNConfig& config);

// The event channel state machine. Not thread-safe: one thread calls everything. Callbacks
// (on_event, on_online, on_error; on_command is not used) are called synchronously from Step().
// `seam` and `clock` must outlive it.
class TwoNPoller {
 public:
  // `config` must pass CheckTwoNConfig() (asserted in debug builds).
  TwoNPoller(TwoNConfig config, HttpSeam& seam, const Clock& clock, PanelCallbacks callbacks);

  // Does what is due now (a connect: health check and subscribe; or one pull, which may block
  // for up to pull_timeout + the reply timeout) and returns when it wants to be called again:
  // monotonic ns of `clock`. Calling it earlier is harmless (it waits for nothing: a connect is
  // only tried when due; a pull is always due while subscribed).
  int64_t Step();

  // Marks the poller failed (an exception in its thread): reports offline (kProtocol) with
  // `why` unless already offline, drops the channel, retries after the backoff.
  void Fail(const Status& why);

  const PanelHealth& health() const { return health_; }
  const TwoNConfig& config() const { return config_; }
  bool subscribed() const { return subscribed_; }
  uint64_t channel_id() const { return channel_id_; }

 private:
  int64_t Now() const;
  void Connect();
  void Pull();
  // A failed request. `transport` failures count towards offline; other faults go offline at
  // once. Drops the channel and schedules the next attempt.
  void Failure(PanelFault fault, const Status& why);
  // Counts a failure and sets when to try again: at once after a success, else the backoff.
  void ScheduleRetry();
  // Classifies a response that is not 200 (401/403: auth, other: protocol).
  Status HttpStatusError(int status, const char* what, PanelFault* fault) const;
  void SetOnline();
  void SetOffline(PanelFault fault, const std::string& reason);
  void Deliver(PanelEvent event);
  void Error(const Status& error);
  std::string Where() const;

  const TwoNConfig config_;
  HttpSeam& seam_;
  const Clock& clock_;
  const PanelCallbacks callbacks_;

  enum class State { kUnknown, kOnline, kOffline };
  State state_ = State::kUnknown;
  PanelFault fault_ = PanelFault::kNone;
  bool subscribed_ = false;
  uint64_t channel_id_ = 0;
  int consecutive_failures_ = 0;
  int consecutive_transport_failures_ = 0;
  int64_t backoff_ns_;
  int64_t next_attempt_ns_ = 0;
  // De-duplication within the current channel generation.
  std::set<uint64_t> seen_ids_;
  std::optional<uint64_t> forgotten_below_;  // ids <= this were evicted from seen_ids_
  PanelHealth health_;
};

// A TwoNPoller on its own thread plus the command thread.
//
// Threads: every member may be called from any thread, except that Stop() and the destructor
// must not be called from a callback of this panel. Ownership: the panel owns both seams;
// `clock` must outlive it.
class TwoNPanel {
 public:
  // `events` carries the event channel, `commands` the switch commands: two seams, two
  // connections (MakeTwoNPanel builds both from config.http).
  TwoNPanel(TwoNConfig config, std::unique_ptr<HttpSeam> events, std::unique_ptr<HttpSeam> commands,
            const Clock& clock, PanelCallbacks callbacks);
  ~TwoNPanel();  // Stop()
  TwoNPanel(const TwoNPanel&) = delete;
  TwoNPanel& operator=(const TwoNPanel&) = delete;

  // Starts both threads. Errors: InvalidArgument from CheckTwoNConfig() (nothing started);
  // FailedPrecondition when called a second time or after Stop() (a panel runs once).
  [[nodiscard]] Status Start();
  // Aborts the poll and the command in flight (both seams: Abort()), reports every queued
  // command Unavailable, joins both threads. The channel is left to expire on the panel.
  // Idempotent.
  void Stop();

  // Queues a trigger (monostable pulse) of switch `switch_number` (>= 1), held `hold` when
  // given (the API's timeout parameter), and returns its request id for on_command. Never blocks
  // on the network; may be called before Start() (sent once started). Errors: InvalidArgument
  // for a switch < 1 or a negative hold; Unavailable when max_queued_commands are waiting;
  // FailedPrecondition after Stop().
  [[nodiscard]] Result<uint64_t> TriggerSwitch(int switch_number,
                                               std::optional<std::chrono::seconds> hold = {});

  // A snapshot (updated after each step of the event thread and each command).
  PanelHealth Health() const;
  const std::string& id() const { return config_.id; }

  // Makes the event thread look at the clock now (a test that moved a FakeClock calls it).
  void Wake();

  // The event thread never sleeps longer than this between two looks at the clock.
  static constexpr std::chrono::milliseconds kMaxSleep{1000};

 private:
  void Run();
  int64_t GuardedStep();
  int64_t NowNs() const;

  const TwoNConfig config_;
  const std::unique_ptr<HttpSeam> events_;
  const Clock& clock_;
  const PanelCallbacks callbacks_;
  std::unique_ptr<TwoNPoller> poller_;  // the event thread's, once started
  std::unique_ptr<internal::CommandWorker> commands_;

  // Set by Stop() before it aborts the seams: what fails after that (the aborted poll) is the
  // stop, not news: no callback, no health update.
  std::atomic<bool> stopping_{false};
  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool started_ GUARDED_BY(mu_) = false;
  bool wake_ GUARDED_BY(mu_) = false;
  PanelHealth health_ GUARDED_BY(mu_);
  uint64_t commands_ok_ GUARDED_BY(mu_) = 0;
  uint64_t commands_failed_ GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// Builds a TwoNPanel with two httplib seams from config.http (not started). Errors: as
// CheckTwoNConfig() and MakeHttplibSeam().
[[nodiscard]] Result<std::unique_ptr<TwoNPanel>> MakeTwoNPanel(TwoNConfig config,
                                                               const Clock& clock,
                                                               PanelCallbacks callbacks);

}  // namespace lintel::intercom
