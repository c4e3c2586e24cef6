// ActionUrlListener over cpp-httplib 0.11.4's Server (action_url_listener.h).
#include "drivers/intercom/action_url_listener.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <optional>
#include <vector>

#include "drivers/intercom/akuvox_api.h"
#include "gateway/base/log.h"

namespace lintel::intercom {
namespace {

constexpr size_t kMaxBodyBytes = 1024;
constexpr size_t kMinSecretLength = 16;

// An IPv4 or IPv6 literal as 16 bytes (IPv4 as ::ffff:a.b.c.d); nullopt when it is neither.
std::optional<std::array<unsigned char, 16>> ParseIp(const std::string& text) {
  std::array<unsigned char, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    out[10] = 0xFF;
    out[11] = 0xFF;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

// Set by the pre-routing handler on the worker thread: the logger then knows the response was
// ours (anything else is a refusal of httplib's own, before routing).
thread_local bool tl_handled = false;

}  // namespace

std::string_view RefusalName(Refusal r) {
  switch (r) {
    case Refusal::kMethod:
      return "method";
    case Refusal::kOversized:
      return "oversized";
    case Refusal::kNotFound:
      return "not_found";
    case Refusal::kMalformed:
      return "malformed";
    case Refusal::kUnknownPanel:
      return "unknown_panel";
    case Refusal::kWrongSource:
      return "wrong_source";
    case Refusal::kWrongSecret:
      return "wrong_secret";
    case Refusal::kUnknownEvent:
      return "unknown_event";
  }
  return "malformed";
}

Status CheckListenerConfig(const ListenerConfig& c) {
  if (!ParseIp(c.address)) {
    return Status::InvalidArgument("action URL listener: address '" + c.address +
                                   "' is not an IPv4 or IPv6 literal");
  }
  if (c.port < 0 || c.port > 65535) {
    return Status::InvalidArgument("action URL listener: port must be 0..65535");
  }
  if (c.threads < 1 || c.threads > 16) {
    return Status::InvalidArgument("action URL listener: threads must be 1..16");
  }
  if (c.max_queued < 1) return Status::InvalidArgument("action URL listener: max_queued >= 1");
  if (c.read_timeout < std::chrono::seconds(1)) {
    return Status::InvalidArgument("action URL listener: read timeout must be >= 1 s");
  }
  return Status::Ok();
}

// A fixed pool of workers with a bounded queue: enqueue() waits while the queue is full (the
// accept thread then stops accepting and the kernel's backlog fills). httplib deletes the task
// queue it gets from new_task_queue after shutdown(); it gets a Proxy, and the pool itself
// belongs to the listener.
class ActionUrlListener::TaskQueue {
 public:
  TaskQueue(int threads, size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~TaskQueue() { Shutdown(); }

  void Enqueue(std::function<void()> fn) {
    MutexLock lock(mu_);
    cv_.wait(lock, [this]() REQUIRES(mu_) { return jobs_.size() < max_queued_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    cv_.notify_all();
  }

  // Runs what is queued (each job closes its connection), then joins. Idempotent.
  void Shutdown() {
    {
      MutexLock lock(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

  class Proxy final : public httplib::TaskQueue {
   public:
    explicit Proxy(std::shared_ptr<ActionUrlListener::TaskQueue> pool) : pool_(std::move(pool)) {}
    void enqueue(std::function<void()> fn) override { pool_->Enqueue(std::move(fn)); }
    void shutdown() override { pool_->Shutdown(); }

   private:
    std::shared_ptr<ActionUrlListener::TaskQueue> pool_;
  };

 private:
  void Work() {
    while (true) {
      std::function<void()> job;
      {
        MutexLock lock(mu_);
        cv_.wait(lock, [this]() REQUIRES(mu_) { return shutdown_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // shut down and drained
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      cv_.notify_all();  // room for a waiting Enqueue
      try {
        job();
      } catch (...) {
        // httplib's request processing has its own exception handler; nothing may end the
        // process here.
      }
    }
  }

  const size_t max_queued_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> jobs_ GUARDED_BY(mu_);
  bool shutdown_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

ActionUrlListener::ActionUrlListener(ListenerConfig config, RefusedFn on_refused)
    : config_(std::move(config)), on_refused_(std::move(on_refused)) {}

ActionUrlListener::~ActionUrlListener() { Stop(); }

Status ActionUrlListener::AddPanel(ActionUrlPanel panel) {
  // The same rules as the parser's, with a minimum secret length.
  Result<ActionUrlRequest> probe =
      ParseActionUrlTarget("/akuvox/" + panel.panel_id + "/" + panel.secret + "/code");
  if (!probe.ok()) {
    return Status::InvalidArgument("action URL panel '" + panel.panel_id +
                                   "': id or secret of the wrong form (ids [A-Za-z0-9_.-]{1,64}, "
                                   "secrets [A-Za-z0-9_.~-]{16,128})");
  }
  if (panel.secret.size() < kMinSecretLength) {
    return Status::InvalidArgument("action URL panel '" + panel.panel_id +
                                   "': secret shorter than 16 characters");
  }
  if (!ParseIp(panel.address)) {
    return Status::InvalidArgument("action URL panel '" + panel.panel_id + "': address '" +
                                   panel.address + "' is not an IPv4 or IPv6 literal");
  }
  MutexLock lock(mu_);
  if (panels_.count(panel.panel_id) != 0) {
    return Status::AlreadyExists("action URL panel '" + panel.panel_id + "' registered twice");
  }
  std::string id = panel.panel_id;
  auto slot = std::make_shared<Mutex>();
  panels_.emplace(std::move(id), Registered{std::move(panel), std::move(slot)});
  return Status::Ok();
}

void ActionUrlListener::RemovePanel(std::string_view panel_id) {
  std::shared_ptr<Mutex> calling;
  {
    MutexLock lock(mu_);
    auto it = panels_.find(panel_id);
    if (it == panels_.end()) return;
    calling = it->second.calling;
    panels_.erase(it);
  }
  // Waits for a call of its on_event in progress; later requests do not find the panel.
  MutexLock wait(*calling);
}

int ActionUrlListener::port() const {
  MutexLock lock(mu_);
  return port_;
}

ListenerStats ActionUrlListener::Stats() const {
  MutexLock lock(mu_);
  return stats_;
}

void ActionUrlListener::Count(Refusal reason, const std::string& source,
                              const std::string& panel_id) {
  {
    MutexLock lock(mu_);
    switch (reason) {
      case Refusal::kMethod:
        ++stats_.method;
        break;
      case Refusal::kOversized:
        ++stats_.oversized;
        break;
      case Refusal::kNotFound:
        ++stats_.not_found;
        break;
      case Refusal::kMalformed:
        ++stats_.malformed;
        break;
      case Refusal::kUnknownPanel:
        ++stats_.unknown_panel;
        break;
      case Refusal::kWrongSource:
        ++stats_.wrong_source;
        break;
      case Refusal::kWrongSecret:
        ++stats_.wrong_secret;
        break;
      case Refusal::kUnknownEvent:
        ++stats_.unknown_event;
        break;
    }
  }
  // Never the path or query: they carry the secret and codes.
  LogDebug("intercom", "action URL from " + source +
                           " refused: " + std::string(RefusalName(reason)) +
                           (panel_id.empty() ? "" : " (panel '" + panel_id + "')"));
  if (on_refused_) {
    try {
      on_refused_(reason, source, panel_id);
    } catch (...) {
      LogError("intercom", "action URL listener: on_refused threw");
    }
  }
}

Status ActionUrlListener::Start() {
  LINTEL_RETURN_IF_ERROR(CheckListenerConfig(config_));
  {
    MutexLock lock(mu_);
    if (started_ || stopped_) {
      return Status::FailedPrecondition("action URL listener: started twice or stopped");
    }
    started_ = true;
  }
  auto pool = std::make_shared<TaskQueue>(config_.threads, config_.max_queued);
  server_ = std::make_unique<httplib::Server>();
  httplib::Server& svr = *server_;
  svr.new_task_queue = [pool] { return new TaskQueue::Proxy(pool); };
  svr.set_keep_alive_max_count(1);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(config_.read_timeout);
  svr.set_keep_alive_timeout(std::max<time_t>(1, secs.count()));
  svr.set_read_timeout(config_.read_timeout);
  svr.set_write_timeout(config_.read_timeout);
  svr.set_payload_max_length(kMaxBodyBytes);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
  // listener share the port silently.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    tl_handled = true;
    const std::string& source = req.remote_addr;
    auto refuse = [&](Refusal why, int status, const std::string& panel_id = "") {
      res.status = status;
      Count(why, source, panel_id);
      return httplib::Server::HandlerResponse::Handled;
    };
    if (req.method != "GET") return refuse(Refusal::kMethod, 405);
    if (req.target.size() > kMaxActionUrlBytes) return refuse(Refusal::kOversized, 414);
    Result<ActionUrlRequest> parsed = ParseActionUrlTarget(req.target);
    if (!parsed.ok()) {
      return parsed.status().code() == StatusCode::kNotFound ? refuse(Refusal::kNotFound, 404)
                                                             : refuse(Refusal::kMalformed, 400);
    }
    const ActionUrlRequest& r = *parsed;
    std::shared_ptr<Mutex> calling;
    std::function<void(const PanelEvent&)> on_event;
    {
      MutexLock lock(mu_);
      auto it = panels_.find(r.panel_id);
      if (it == panels_.end()) {
        lock.unlock();
        return refuse(Refusal::kUnknownPanel, 404);
      }
      const ActionUrlPanel& p = it->second.panel;
      std::optional<std::array<unsigned char, 16>> want = ParseIp(p.address);
      std::optional<std::array<unsigned char, 16>> got = ParseIp(source);
      if (!want || !got || *want != *got) {
        lock.unlock();
        return refuse(Refusal::kWrongSource, 403, r.panel_id);
      }
      if (!ConstantTimeEquals(r.secret, p.secret)) {
        lock.unlock();
        return refuse(Refusal::kWrongSecret, 403, r.panel_id);
      }
      calling = it->second.calling;
      on_event = p.on_event;
    }
    Result<PanelEvent> event = ActionUrlEvent(r);
    if (!event.ok()) {
      return event.status().code() == StatusCode::kNotFound
                 ? refuse(Refusal::kUnknownEvent, 404, r.panel_id)
                 : refuse(Refusal::kMalformed, 400, r.panel_id);
    }
    {
      MutexLock call(*calling);
      bool still_registered;
      {
        MutexLock lock(mu_);
        auto it = panels_.find(r.panel_id);
        still_registered = it != panels_.end() && it->second.calling == calling;
        if (still_registered) ++stats_.accepted;
      }
      if (still_registered && on_event) {
        try {
          on_event(*event);
        } catch (...) {
          LogError("intercom", "action URL panel '" + r.panel_id + "': on_event threw");
        }
      }
      if (!still_registered) return refuse(Refusal::kUnknownPanel, 404);
    }
    res.status = 200;
    res.set_content("OK\n", "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Responses httplib made itself (request line too long, malformed request, body too big).
  svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (!tl_handled) {
      Count(res.status == 414 || res.status == 413 ? Refusal::kOversized : Refusal::kMalformed,
            req.remote_addr, "");
    }
    tl_handled = false;
  });

  int port = -1;
  if (config_.port == 0) {
    port = svr.bind_to_any_port(config_.address);
  } else if (svr.bind_to_port(config_.address, config_.port)) {
    port = config_.port;
  }
  if (port <= 0) {
    pool->Shutdown();
    return Status::IoError("action URL listener: cannot listen on " + config_.address + ":" +
                           std::to_string(config_.port));
  }
  {
    MutexLock lock(mu_);
    port_ = port;
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([this, done] {
    server_->listen_after_bind();
    done->store(true);
  });
  // Server::stop() is a no-op until the listen loop runs: wait for it, so Stop() always works.
  while (!server_->is_running() && !done->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::Ok();
}

void ActionUrlListener::Stop() {
  {
    MutexLock lock(mu_);
    stopped_ = true;
  }
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace lintel::intercom
