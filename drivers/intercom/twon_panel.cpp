#include "drivers/intercom/twon_panel.h"

#include <algorithm>
#include <cassert>
#include <exception>

#include "drivers/intercom/command_worker.h"
#include "drivers/intercom/twon_api.h"
#include "gateway/base/log.h"

namespace lintel::intercom {
namespace {

// Ids remembered per channel for de-duplication (far more than one reply's 128 events).
constexpr size_t kDedupWindow = 4096;
// Consecutive transport failures that make a panel offline (one is often a stale keep-alive
// connection the panel closed).
constexpr int kOfflineAfter = 2;

int64_t Ns(std::chrono::nanoseconds d) { return d.count(); }

PanelFault FaultOf(const Status& st) {
  switch (st.code()) {
    case StatusCode::kUnavailable:
      return PanelFault::kUnreachable;
    case StatusCode::kFailedPrecondition:
      return PanelFault::kCertificate;  // the seam's only FailedPrecondition
    default:
      return PanelFault::kProtocol;
  }
}

std::string WrongPassword(const std::string& id, int status, const char* what) {
  return "wrong password for panel '" + id + "' (HTTP " + std::to_string(status) + " on " + what +
         ")";
}

}  // namespace

std::string_view PanelFaultName(PanelFault fault) {
  switch (fault) {
    case PanelFault::kNone:
      return "none";
    case PanelFault::kUnreachable:
      return "unreachable";
    case PanelFault::kAuthFailed:
      return "auth_failed";
    case PanelFault::kCertificate:
      return "certificate";
    case PanelFault::kProtocol:
      return "protocol";
  }
  return "none";
}

Status CheckTwoNConfig(const TwoNConfig& c) {
  if (c.id.empty()) return Status::InvalidArgument("2N panel: id is empty");
  const std::string where = "2N panel '" + c.id + "': ";
  if (Status st = CheckHttpConfig(c.http); !st.ok()) {
    return Status::InvalidArgument(where + st.message());
  }
  if (c.channel_duration < std::chrono::seconds(2)) {
    return Status::InvalidArgument(where + "channel duration must be >= 2 s");
  }
  if (c.pull_timeout.count() < 0 || c.pull_timeout >= c.channel_duration) {
    return Status::InvalidArgument(where + "pull timeout must be >= 0 and < the channel duration");
  }
  if (c.backoff_min.count() <= 0 || c.backoff_max < c.backoff_min) {
    return Status::InvalidArgument(where + "backoff must be 0 < min <= max");
  }
  if (c.command_max_age.count() <= 0) {
    return Status::InvalidArgument(where + "command max age must be > 0");
  }
  if (c.max_queued_commands == 0) {
    return Status::InvalidArgument(where + "max queued commands must be > 0");
  }
  return Status::Ok();
}

// --- TwoNPoller ---------------------------------------------------------------------------------

TwoNPoller::TwoNPoller(TwoNConfig config, HttpSeam& seam, const Clock& clock,
                       PanelCallbacks callbacks)
    : config_(std::move(config)),
      seam_(seam),
      clock_(clock),
      callbacks_(std::move(callbacks)),
      backoff_ns_(Ns(config_.backoff_min)) {
  assert(CheckTwoNConfig(config_).ok());
}

int64_t TwoNPoller::Now() const { return Ns(clock_.Monotonic().time_since_epoch()); }

std::string TwoNPoller::Where() const { return "panel '" + config_.id + "'"; }

int64_t TwoNPoller::Step() {
  const int64_t now = Now();
  if (now < next_attempt_ns_) return next_attempt_ns_;
  if (!subscribed_) {
    Connect();
  } else {
    Pull();
  }
  return std::max(next_attempt_ns_, Now());
}

void TwoNPoller::Fail(const Status& why) {
  Status c(why.code(), Where() + ": " + why.message());
  ++health_.failures;
  health_.last_error = c.ToString();
  subscribed_ = false;
  SetOffline(state_ == State::kOffline ? fault_ : PanelFault::kProtocol, c.message());
  next_attempt_ns_ = Now() + backoff_ns_;
  backoff_ns_ = std::min(backoff_ns_ * 2, Ns(config_.backoff_max));
}

Status TwoNPoller::HttpStatusError(int status, const char* what, PanelFault* fault) const {
  if (status == 401 || status == 403) {
    *fault = PanelFault::kAuthFailed;
    return Status::FailedPrecondition(WrongPassword(config_.id, status, what));
  }
  *fault = PanelFault::kProtocol;
  return Status::FailedPrecondition(Where() + ": " + what + ": HTTP " + std::to_string(status));
}

void TwoNPoller::Connect() {
  const std::chrono::milliseconds t = config_.http.read_timeout;
  Result<HttpResponse> r =
      seam_.Send({HttpRequest::Method::kGet, TwoNSystemInfoTarget(), "", "", t});
  if (!r.ok()) {
    return Failure(FaultOf(r.status()),
                   {r.status().code(), Where() + ": health check: " + r.status().message()});
  }
  PanelFault fault = PanelFault::kProtocol;
  if (r->status != 200) {
    const Status st = HttpStatusError(r->status, "health check", &fault);
    return Failure(fault, st);
  }
  Result<SystemInfo> info = ParseSystemInfoReply(r->body);
  if (!info.ok()) {
    return Failure(PanelFault::kProtocol,
                   {info.status().code(), Where() + ": health check: " + info.status().message()});
  }
  health_.info = *info;

  r = seam_.Send(
      {HttpRequest::Method::kGet, TwoNSubscribeTarget(config_.channel_duration), "", "", t});
  if (!r.ok()) {
    return Failure(FaultOf(r.status()),
                   {r.status().code(), Where() + ": subscribe: " + r.status().message()});
  }
  if (r->status != 200) {
    const Status st = HttpStatusError(r->status, "subscribe", &fault);
    return Failure(fault, st);
  }
  Result<uint64_t> id = ParseSubscribeReply(r->body);
  if (!id.ok()) {
    return Failure(PanelFault::kProtocol,
                   {id.status().code(), Where() + ": subscribe: " + id.status().message()});
  }
  subscribed_ = true;
  channel_id_ = *id;
  if (++health_.channel > 1) ++health_.resubscribes;
  seen_ids_.clear();
  forgotten_below_.reset();
  consecutive_transport_failures_ = 0;
  next_attempt_ns_ = Now();
  LogDebug("intercom", Where() + ": channel " + std::to_string(health_.channel) + " (id " +
                           std::to_string(channel_id_) + ") subscribed");
  SetOnline();
}

void TwoNPoller::Pull() {
  HttpRequest req{HttpRequest::Method::kGet, TwoNPullTarget(channel_id_, config_.pull_timeout), "",
                  "",
                  std::chrono::duration_cast<std::chrono::milliseconds>(config_.pull_timeout) +
                      config_.http.read_timeout};
  Result<HttpResponse> r = seam_.Send(req);
  auto reject_reply = [&](const Status& st) {
    // The panel answered with something unusable: the channel may still be fine.
    ++health_.rejected_replies;
    ++health_.failures;
    Status c(st.code(), Where() + ": pull: " + st.message());
    health_.last_error = c.ToString();
    Error(c);
    ScheduleRetry();
  };
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kInvalidArgument) return reject_reply(r.status());
    return Failure(FaultOf(r.status()),
                   {r.status().code(), Where() + ": pull: " + r.status().message()});
  }
  PanelFault fault = PanelFault::kProtocol;
  if (r->status != 200) {
    const Status st = HttpStatusError(r->status, "pull", &fault);
    return Failure(fault, st);
  }
  TwoNError err;
  Result<PullReply> reply = ParsePullReply(r->body, &err);
  if (reply.status().code() == StatusCode::kFailedPrecondition) {
    // The channel expired or the panel forgot it (restart): a new one, at once the first time.
    Status lost = Status::Unavailable(Where() + ": channel " + std::to_string(health_.channel) +
                                      " lost (" + reply.status().message() + "): resubscribing");
    ++health_.failures;
    health_.last_error = lost.ToString();
    Error(lost);
    subscribed_ = false;
    ScheduleRetry();
    return;
  }
  if (!reply.ok()) return reject_reply(reply.status());

  consecutive_failures_ = 0;
  consecutive_transport_failures_ = 0;
  backoff_ns_ = Ns(config_.backoff_min);
  next_attempt_ns_ = Now();

  // Rejected events first (their ids count as seen), then the accepted ones in order.
  auto seen = [this](uint64_t id) {
    if (forgotten_below_ && id <= *forgotten_below_) return true;
    if (!seen_ids_.insert(id).second) return true;
    if (seen_ids_.size() > kDedupWindow) {
      forgotten_below_ = *seen_ids_.begin();
      seen_ids_.erase(seen_ids_.begin());
    }
    return false;
  };
  for (const RejectedEvent& rej : reply->rejected) {
    if (rej.id && seen(*rej.id)) {
      ++health_.duplicates;
      continue;
    }
    ++health_.rejected_events;
    Error(Status::InvalidArgument(Where() + ": event " +
                                  (rej.id ? "#" + std::to_string(*rej.id) + " " : "") +
                                  "rejected: " + rej.reason));
  }
  bool restarted = false;
  for (PanelEvent& e : reply->events) {
    if (seen(e.id)) {
      ++health_.duplicates;
      continue;
    }
    if (e.kind == EventKind::kDeviceStartup) restarted = true;
    Deliver(std::move(e));
  }
  if (restarted) {
    // The panel restarted: whatever this channel is now, a new one is certain to be live.
    LogInfo("intercom", Where() + ": panel restarted (DeviceState startup): resubscribing");
    subscribed_ = false;
  }
}

void TwoNPoller::Failure(PanelFault fault, const Status& why) {
  ++health_.failures;
  health_.last_error = why.ToString();
  subscribed_ = false;
  if (fault == PanelFault::kUnreachable) {
    if (++consecutive_transport_failures_ >= kOfflineAfter || state_ == State::kOffline) {
      SetOffline(fault, why.message());
    }
  } else {
    consecutive_transport_failures_ = 0;
    SetOffline(fault, why.message());
  }
  ScheduleRetry();
}

void TwoNPoller::ScheduleRetry() {
  // The first failure after a success is retried at once; then the backoff.
  if (++consecutive_failures_ == 1) {
    next_attempt_ns_ = Now();
  } else {
    next_attempt_ns_ = Now() + backoff_ns_;
    backoff_ns_ = std::min(backoff_ns_ * 2, Ns(config_.backoff_max));
  }
}

void TwoNPoller::SetOnline() {
  if (state_ == State::kOnline) return;
  const bool again = state_ == State::kOffline;
  state_ = State::kOnline;
  fault_ = PanelFault::kNone;
  health_.online = true;
  health_.fault = PanelFault::kNone;
  if (callbacks_.on_online) {
    callbacks_.on_online(true, PanelFault::kNone, again ? "answering again" : "answering");
  }
}

void TwoNPoller::SetOffline(PanelFault fault, const std::string& reason) {
  if (state_ == State::kOffline && fault_ == fault) return;
  state_ = State::kOffline;
  fault_ = fault;
  health_.online = false;
  health_.fault = fault;
  if (callbacks_.on_online) callbacks_.on_online(false, fault, reason);
}

void TwoNPoller::Deliver(PanelEvent event) {
  event.channel = health_.channel;
  ++health_.events;
  if (event.kind == EventKind::kOther) ++health_.unknown_events;
  if (callbacks_.on_event) callbacks_.on_event(event);
}

void TwoNPoller::Error(const Status& error) {
  if (callbacks_.on_error) callbacks_.on_error(error);
}

// --- TwoNPanel ----------------------------------------------------------------------------------

TwoNPanel::TwoNPanel(TwoNConfig config, std::unique_ptr<HttpSeam> events,
                     std::unique_ptr<HttpSeam> commands, const Clock& clock,
                     PanelCallbacks callbacks)
    : config_(std::move(config)),
      events_(std::move(events)),
      clock_(clock),
      callbacks_(std::move(callbacks)) {
  commands_ = std::make_unique<internal::CommandWorker>(
      config_.id, std::move(commands), clock_, config_.max_queued_commands, config_.command_max_age,
      callbacks_.on_command, [this](bool ok) {
        MutexLock lock(mu_);
        ++(ok ? commands_ok_ : commands_failed_);
      });
}

TwoNPanel::~TwoNPanel() { Stop(); }

int64_t TwoNPanel::NowNs() const { return Ns(clock_.Monotonic().time_since_epoch()); }

Status TwoNPanel::Start() {
  LINTEL_RETURN_IF_ERROR(CheckTwoNConfig(config_));
  {
    MutexLock lock(mu_);
    if (started_ || stop_) {
      return Status::FailedPrecondition("2N panel '" + config_.id + "': started twice or stopped");
    }
    started_ = true;
  }
  // The poller's callbacks refresh the snapshot first, so a callback that reads Health() sees the
  // state that caused it.
  PanelCallbacks wrapped;
  // Each returns false (and the callback is dropped) once Stop() began.
  auto publish = [this] {
    if (stopping_) return false;
    MutexLock lock(mu_);
    health_ = poller_->health();
    return true;
  };
  if (callbacks_.on_event) {
    wrapped.on_event = [publish, cb = callbacks_.on_event](const PanelEvent& e) {
      if (publish()) cb(e);
    };
  }
  if (callbacks_.on_online) {
    wrapped.on_online = [publish, cb = callbacks_.on_online](bool online, PanelFault fault,
                                                             const std::string& reason) {
      if (publish()) cb(online, fault, reason);
    };
  }
  if (callbacks_.on_error) {
    wrapped.on_error = [publish, cb = callbacks_.on_error](const Status& error) {
      if (publish()) cb(error);
    };
  }
  poller_ = std::make_unique<TwoNPoller>(config_, *events_, clock_, std::move(wrapped));
  commands_->Start();
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void TwoNPanel::Stop() {
  stopping_ = true;
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  events_->Abort();  // the long poll in flight returns now
  if (thread_.joinable()) thread_.join();
  commands_->Stop();
}

void TwoNPanel::Wake() {
  {
    MutexLock lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

Result<uint64_t> TwoNPanel::TriggerSwitch(int switch_number,
                                          std::optional<std::chrono::seconds> hold) {
  if (switch_number < 1) {
    return Status::InvalidArgument("2N panel '" + config_.id + "': switch number must be >= 1");
  }
  if (hold && hold->count() < 0) {
    return Status::InvalidArgument("2N panel '" + config_.id + "': hold must be >= 0");
  }
  const std::string id = config_.id;
  return commands_->Submit(switch_number, [id, switch_number, hold](HttpSeam& seam) -> Status {
    const std::string what = "panel '" + id + "': switch " + std::to_string(switch_number);
    Result<HttpResponse> r = seam.Send(
        {HttpRequest::Method::kGet, TwoNSwitchTriggerTarget(switch_number, hold), "", "", {}});
    if (!r.ok()) return {r.status().code(), what + ": " + r.status().message()};
    if (r->status == 401 || r->status == 403) {
      return Status::FailedPrecondition(WrongPassword(id, r->status, "switch control"));
    }
    if (r->status != 200) {
      return Status::FailedPrecondition(what + ": HTTP " + std::to_string(r->status));
    }
    TwoNError err;
    Status st = ParseSwitchCtrlReply(r->body, &err);
    if (st.code() == StatusCode::kFailedPrecondition) {
      return Status::FailedPrecondition(
          what + " refused: " + st.message() +
          (err.code == kTwoNErrorActionFailed ? " (action failed: the switch is locked?)" : ""));
    }
    if (!st.ok()) return {st.code(), what + ": " + st.message()};
    return Status::Ok();
  });
}

PanelHealth TwoNPanel::Health() const {
  MutexLock lock(mu_);
  PanelHealth h = health_;
  h.commands_ok = commands_ok_;
  h.commands_failed = commands_failed_;
  return h;
}

int64_t TwoNPanel::GuardedStep() {
  // The thread boundary: nothing thrown below may end the process.
  std::string what;
  try {
    return poller_->Step();
  } catch (const std::exception& e) {
    what = std::string("exception in the event thread: ") + e.what();
  } catch (...) {
    what = "unknown exception in the event thread";
  }
  LogError("intercom", "panel '" + config_.id + "': " + what);
  try {
    poller_->Fail(Status::Internal(what));
  } catch (...) {
    // Reporting failed too; the next step retries after the backoff.
  }
  return NowNs() + Ns(config_.backoff_min);
}

void TwoNPanel::Run() {
  while (true) {
    {
      MutexLock lock(mu_);
      if (stop_) break;
      wake_ = false;
    }
    const int64_t next = GuardedStep();
    MutexLock lock(mu_);
    if (stop_) break;
    health_ = poller_->health();
    const int64_t wait = std::min(next - NowNs(), Ns(kMaxSleep));
    if (wait <= 0 || wake_) continue;
    cv_.wait_for(lock, std::chrono::nanoseconds(wait),
                 [this]() REQUIRES(mu_) { return stop_ || wake_; });
  }
}

Result<std::unique_ptr<TwoNPanel>> MakeTwoNPanel(TwoNConfig config, const Clock& clock,
                                                 PanelCallbacks callbacks) {
  LINTEL_RETURN_IF_ERROR(CheckTwoNConfig(config));
  Result<std::unique_ptr<HttpSeam>> events = MakeHttplibSeam(config.http);
  if (!events.ok()) return events.status();
  Result<std::unique_ptr<HttpSeam>> commands = MakeHttplibSeam(config.http);
  if (!commands.ok()) return commands.status();
  return std::make_unique<TwoNPanel>(std::move(config), std::move(*events), std::move(*commands),
                                     clock, std::move(callbacks));
}

}  // namespace lintel::intercom
