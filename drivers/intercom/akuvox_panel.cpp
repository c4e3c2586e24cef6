#include "drivers/intercom/akuvox_panel.h"

#include <algorithm>
#include <exception>

#include "drivers/intercom/akuvox_api.h"
#include "drivers/intercom/command_worker.h"
#include "gateway/base/log.h"

namespace lintel::intercom {
namespace {

constexpr int kOfflineAfter = 2;

int64_t Ns(std::chrono::nanoseconds d) { return d.count(); }

}  // namespace

Status CheckAkuvoxConfig(const AkuvoxConfig& c) {
  if (c.id.empty()) return Status::InvalidArgument("Akuvox panel: id is empty");
  const std::string where = "Akuvox panel '" + c.id + "': ";
  if (Status st = CheckHttpConfig(c.http); !st.ok()) {
    return Status::InvalidArgument(where + st.message());
  }
  if (c.legacy_open_door && c.http.username.empty()) {
    return Status::InvalidArgument(where + "the legacy OpenDoor request needs a user name");
  }
  if (c.health_interval.count() <= 0) {
    return Status::InvalidArgument(where + "health interval must be > 0");
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

AkuvoxPanel::AkuvoxPanel(AkuvoxConfig config, std::unique_ptr<HttpSeam> health,
                         std::unique_ptr<HttpSeam> commands, const Clock& clock,
                         PanelCallbacks callbacks)
    : config_(std::move(config)),
      health_seam_(std::move(health)),
      clock_(clock),
      callbacks_(std::move(callbacks)),
      backoff_ns_(Ns(config_.backoff_min)) {
  commands_ = std::make_unique<internal::CommandWorker>(
      config_.id, std::move(commands), clock_, config_.max_queued_commands, config_.command_max_age,
      callbacks_.on_command, [this](bool ok) {
        MutexLock lock(mu_);
        ++(ok ? health_.commands_ok : health_.commands_failed);
      });
}

AkuvoxPanel::~AkuvoxPanel() { Stop(); }

int64_t AkuvoxPanel::NowNs() const { return Ns(clock_.Monotonic().time_since_epoch()); }

Status AkuvoxPanel::Start() {
  LINTEL_RETURN_IF_ERROR(CheckAkuvoxConfig(config_));
  {
    MutexLock lock(mu_);
    if (started_ || stop_) {
      return Status::FailedPrecondition("Akuvox panel '" + config_.id +
                                        "': started twice or stopped");
    }
    started_ = true;
  }
  commands_->Start();
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void AkuvoxPanel::Stop() {
  stopping_ = true;
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  health_seam_->Abort();
  if (thread_.joinable()) thread_.join();
  commands_->Stop();
}

void AkuvoxPanel::Wake() {
  {
    MutexLock lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

PanelHealth AkuvoxPanel::Health() const {
  MutexLock lock(mu_);
  return health_;
}

Result<uint64_t> AkuvoxPanel::TriggerRelay(int relay, std::chrono::seconds delay) {
  const std::string id = config_.id;
  if (relay < 1) {
    return Status::InvalidArgument("Akuvox panel '" + id + "': relay number must be >= 1");
  }
  if (delay.count() < 0) {
    return Status::InvalidArgument("Akuvox panel '" + id + "': delay must be >= 0");
  }
  const bool legacy = config_.legacy_open_door;
  const std::string user = config_.http.username;
  const std::string password = config_.http.password;
  return commands_->Submit(relay, [=](HttpSeam& seam) -> Status {
    const std::string what = "panel '" + id + "': relay " + std::to_string(relay);
    HttpRequest req;
    if (legacy) {
      req.target = AkuvoxLegacyOpenDoorTarget(user, password, relay);  // never logged
    } else {
      req.method = HttpRequest::Method::kPost;
      req.target = std::string(kAkuvoxRelayTriggerPath);
      req.body = AkuvoxRelayTriggerBody(relay, delay);
      req.content_type = "application/json";
    }
    Result<HttpResponse> r = seam.Send(req);
    if (!r.ok()) return {r.status().code(), what + ": " + r.status().message()};
    if (r->status == 401 || r->status == 403) {
      return Status::FailedPrecondition("wrong password for panel '" + id + "' (HTTP " +
                                        std::to_string(r->status) + " on relay trigger)");
    }
    if (r->status != 200) {
      return Status::FailedPrecondition(what + ": HTTP " + std::to_string(r->status));
    }
    if (legacy) return Status::Ok();  // the legacy call's body is not specified
    Status st = CheckAkuvoxReply(r->body);
    if (st.code() == StatusCode::kFailedPrecondition) {
      return Status::FailedPrecondition(what + " refused: " + st.message());
    }
    if (!st.ok()) return {st.code(), what + ": " + st.message()};
    return Status::Ok();
  });
}

void AkuvoxPanel::SetState(bool online, PanelFault fault, const std::string& reason) {
  const int state = online ? 1 : 2;
  if (state == state_ && fault == fault_) return;
  const bool again = state_ == 2;
  state_ = state;
  fault_ = fault;
  {
    MutexLock lock(mu_);
    health_.online = online;
    health_.fault = fault;
  }
  if (callbacks_.on_online) {
    callbacks_.on_online(online, fault,
                         online ? (again ? "answering again" : "answering") : reason);
  }
}

int64_t AkuvoxPanel::Check() {
  HttpRequest req;
  req.target = std::string(kAkuvoxSystemInfoPath);
  Result<HttpResponse> r = health_seam_->Send(req);
  if (stopping_) return NowNs();  // aborted by Stop(): not news
  const std::string where = "panel '" + config_.id + "'";
  if (r.ok() && r->status != 401 && r->status != 403) {
    consecutive_failures_ = 0;
    backoff_ns_ = Ns(config_.backoff_min);
    SetState(true, PanelFault::kNone, "");
    return NowNs() + Ns(config_.health_interval);
  }
  PanelFault fault;
  Status why;
  if (r.ok()) {
    fault = PanelFault::kAuthFailed;
    why = Status::FailedPrecondition("wrong password for panel '" + config_.id + "' (HTTP " +
                                     std::to_string(r->status) + " on health check)");
  } else {
    fault = r.status().code() == StatusCode::kFailedPrecondition ? PanelFault::kCertificate
            : r.status().code() == StatusCode::kUnavailable      ? PanelFault::kUnreachable
                                                                 : PanelFault::kProtocol;
    why = Status(r.status().code(), where + ": health check: " + r.status().message());
  }
  {
    MutexLock lock(mu_);
    ++health_.failures;
    health_.last_error = why.ToString();
  }
  ++consecutive_failures_;
  if (fault != PanelFault::kUnreachable || consecutive_failures_ >= kOfflineAfter || state_ == 2) {
    SetState(false, fault, why.message());
  }
  if (consecutive_failures_ == 1) return NowNs();
  const int64_t next = NowNs() + backoff_ns_;
  backoff_ns_ = std::min(backoff_ns_ * 2, Ns(config_.backoff_max));
  return next;
}

void AkuvoxPanel::Run() {
  while (true) {
    {
      MutexLock lock(mu_);
      if (stop_) break;
      wake_ = false;
    }
    int64_t next;
    try {
      next = Check();
    } catch (const std::exception& e) {
      LogError("intercom",
               "panel '" + config_.id + "': exception in the health thread: " + e.what());
      next = NowNs() + Ns(config_.backoff_min);
    } catch (...) {
      LogError("intercom", "panel '" + config_.id + "': unknown exception in the health thread");
      next = NowNs() + Ns(config_.backoff_min);
    }
    MutexLock lock(mu_);
    while (!stop_ && !wake_) {
      const int64_t wait = std::min(next - NowNs(), Ns(kMaxSleep));
      if (wait <= 0) break;
      cv_.wait_for(lock, std::chrono::nanoseconds(wait),
                   [this]() REQUIRES(mu_) { return stop_ || wake_; });
    }
  }
}

Result<std::unique_ptr<AkuvoxPanel>> MakeAkuvoxPanel(AkuvoxConfig config, const Clock& clock,
                                                     PanelCallbacks callbacks) {
  LINTEL_RETURN_IF_ERROR(CheckAkuvoxConfig(config));
  Result<std::unique_ptr<HttpSeam>> health = MakeHttplibSeam(config.http);
  if (!health.ok()) return health.status();
  Result<std::unique_ptr<HttpSeam>> commands = MakeHttplibSeam(config.http);
  if (!commands.ok()) return commands.status();
  return std::make_unique<AkuvoxPanel>(std::move(config), std::move(*health), std::move(*commands),
                                       clock, std::move(callbacks));
}

}  // namespace lintel::intercom
