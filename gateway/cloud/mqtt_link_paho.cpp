// MqttLink over the Paho MQTT C++ async client (1.2). Paho calls back on its own threads; every
// callback takes `mu_`, checks that it belongs to the current attempt (`gen_`) and state, and hands
// Listener calls to `post_`. Paho functions are never called with `mu_` held (Paho may hold its
// own lock while calling us), and no callback waits on a token.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "gateway/base/log.h"
#include "gateway/base/mutex.h"
#include "gateway/base/thread_priority.h"
#include "gateway/cloud/mqtt_link.h"
#include "mqtt/async_client.h"

namespace lintel::cloud {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kLog[] = "mqtt";
// A connection that lasted this long resets the backoff to backoff_min.
constexpr auto kStableConnection = std::chrono::seconds(10);
// Stop(): how long Paho may spend finishing in-flight messages, how long we wait for the
// DISCONNECT to complete and for callbacks that are already running.
constexpr int kDisconnectQuiesceMs = 100;
constexpr auto kDisconnectWait = milliseconds(800);
constexpr auto kCallbackDrainWait = milliseconds(500);

// A publish queued for the sender thread, for connection `gen`.
struct Outgoing {
  mqtt::message_ptr msg;
  uint64_t gen = 0;
};
// Room in the sender's queue beyond max_in_flight (for QoS 0 publishes).
constexpr size_t kExtraSendQueue = 64;

// Messages received and not yet handed to the Listener (bounded; see MqttOptions). Shared with
// the posted drain task, so it may outlive the link. Guarded by its own mutex, never held while
// calling Paho or the Listener.
struct Inbound {
  std::mutex mu;
  std::deque<mqtt::const_message_ptr> queue;
  size_t bytes = 0;
  bool drain_posted = false;
};

// Everything the posted tasks touch. Owned jointly by the link and the tasks still queued on the
// loop, so a task that runs after the link is gone is harmless. Core thread only (but `inbound`).
struct CoreState {
  MqttListener* listener = nullptr;
  bool connected = false;
  bool stopped = false;
  Inbound inbound;
};

void* GenContext(uint64_t gen) { return reinterpret_cast<void*>(static_cast<uintptr_t>(gen)); }
uint64_t GenOf(const mqtt::token& tok) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(tok.get_user_context()));
}

std::string Seconds(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

// Why an action failed, from the token's codes (Paho 1.2 keeps the message text private).
std::string FailureText(const mqtt::token& tok) {
  const int rc = tok.get_return_code();
  std::string s;
  switch (rc) {  // MQTT 3.1.1 CONNACK refusals arrive as positive return codes
    case 1:
      s = "unacceptable protocol version";
      break;
    case 2:
      s = "client id rejected";
      break;
    case 3:
      s = "server unavailable";
      break;
    case 4:
      s = "bad user name or password";
      break;
    case 5:
      s = "not authorized";
      break;
    case MQTTASYNC_FAILURE:  // Paho 1.2 keeps the detail (refused, TLS, closed) to itself
      s = "TCP or TLS connection failed, or the broker closed it";
      break;
    default:
      s = mqtt::exception::error_str(rc) + " (Paho rc " + std::to_string(rc) + ")";
      break;
  }
  const int reason = static_cast<int>(tok.get_reason_code());
  if (reason >= 0x80 && reason != mqtt::ReasonCode::MQTTPP_V3_CODE) {
    s += ": " + mqtt::exception::reason_code_str(reason);
  }
  return s;
}

bool IsSslUri(const std::string& uri) {
  return uri.rfind("ssl://", 0) == 0 || uri.rfind("mqtts://", 0) == 0 ||
         uri.rfind("wss://", 0) == 0;
}

Status CheckReadable(const char* what, const std::string& path) {
  if (path.empty()) return Status::Ok();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::InvalidArgument(std::string("mqtt: cannot read ") + what + " " + path + ": " +
                                   std::strerror(errno));
  }
  char byte;
  ssize_t n = ::read(fd, &byte, 1);
  int err = errno;
  ::close(fd);
  if (n < 0) {
    return Status::InvalidArgument(std::string("mqtt: cannot read ") + what + " " + path + ": " +
                                   std::strerror(err));
  }
  if (n == 0) {
    return Status::InvalidArgument(std::string("mqtt: cannot read ") + what + " " + path +
                                   ": the file is empty");
  }
  return Status::Ok();
}

// Forwards a Paho action's outcome to two member functions of the link.
template <typename Link>
class ActionListener final : public mqtt::iaction_listener {
 public:
  using Fn = void (Link::*)(const mqtt::token&);
  ActionListener(Link* link, Fn success, Fn failure)
      : link_(link), success_(success), failure_(failure) {}
  void on_success(const mqtt::token& tok) override {
    link_->Guarded("action succeeded", [&] { (link_->*success_)(tok); });
  }
  void on_failure(const mqtt::token& tok) override {
    link_->Guarded("action failed", [&] { (link_->*failure_)(tok); });
  }

 private:
  Link* link_;
  Fn success_;
  Fn failure_;
};

class PahoLink final : public MqttLink {
 public:
  PahoLink(MqttOptions options, MqttListener& listener, Poster post)
      : opts_(std::move(options)),
        post_(std::move(post)),
        core_(std::make_shared<CoreState>()),
        next_delay_(opts_.backoff_min),
        rng_(std::random_device{}()) {
    core_->listener = &listener;
  }

  // Second step of construction: may throw mqtt::exception (caught by MakePahoLink).
  void CreateClient() {
    mqtt::create_options create(opts_.mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    client_ = std::make_unique<mqtt::async_client>(opts_.uri, opts_.client_id, create, nullptr);
    // Nothing may escape into Paho's C thread (std::terminate): every callback is Guarded.
    client_->set_connection_lost_handler([this](const std::string& cause) {
      Guarded("connection lost", [&] { OnConnectionLost(cause); });
    });
    client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode reason) {
      Guarded("disconnected", [&] {
        OnConnectionLost("broker disconnected: " +
                         mqtt::exception::reason_code_str(static_cast<int>(reason)));
      });
    });
    client_->set_message_callback([this](mqtt::const_message_ptr msg) {
      Guarded("message arrived", [&] { OnMessageArrived(msg); });
    });
  }

  // Runs a Paho callback's body; an exception is logged and counted (health()), never rethrown.
  template <typename Fn>
  void Guarded(const char* what, Fn&& fn) noexcept {
    std::string error;
    try {
      fn();
      return;
    } catch (const std::exception& e) {
      error = std::string(what) + ": " + e.what();
    } catch (...) {
      error = std::string(what) + ": unknown exception";
    }
    RecordFault("in a client library callback: " + error);
  }

  // The limit for a message on `topic` (0: none).
  size_t LimitFor(const std::string& topic) const {
    for (const auto& [t, limit] : opts_.topic_max_bytes) {
      if (t == topic) return limit;
    }
    return opts_.max_payload_bytes;
  }

  ~PahoLink() override {
    Stop();
    client_.reset();  // before the listeners and the lock it may still reach
  }

  void Start() override {
    MutexLock lk(mu_);
    if (started_ || state_ == State::kStopped) return;
    started_ = true;
    retry_pending_ = true;
    retry_at_ = SteadyClock::now();
    worker_ = std::thread([this] { RetryThread(); });
    sender_ = std::thread([this] { SenderThread(); });
  }

  void Stop() override {
    {
      MutexLock lk(mu_);
      if (stop_called_) return;
      stop_called_ = true;
      state_ = State::kStopped;
      cv_.notify_all();
    }
    core_->stopped = true;
    core_->connected = false;
    if (worker_.joinable()) worker_.join();
    {
      std::lock_guard lk(send_mu_);
      send_stop_ = true;
    }
    send_cv_.notify_all();
    if (sender_.joinable()) sender_.join();  // what was queued goes out before the DISCONNECT
    try {
      if (client_ && client_->is_connected()) {
        // DISCONNECT: the broker discards the Will.
        mqtt::token_ptr tok = client_->disconnect(kDisconnectQuiesceMs);
        if (tok && tok->wait_for(kDisconnectWait)) {
          LogInfo(kLog, "disconnected from " + opts_.uri);
        } else {
          LogWarning(kLog, "disconnect from " + opts_.uri + " did not complete in time");
        }
      }
    } catch (const std::exception& e) {
      LogWarning(kLog, "disconnect from " + opts_.uri + ": " + e.what());
    }
    MutexLock lk(mu_);
    cv_.wait_for(lk, kCallbackDrainWait, [this]() REQUIRES(mu_) { return active_callbacks_ == 0; });
  }

  bool Publish(const std::string& topic, const std::string& payload, int qos,
               bool retain) override {
    if (!core_->connected || core_->stopped || (qos != 0 && qos != 1)) return false;
    uint64_t gen;
    {
      MutexLock lk(mu_);
      if (state_ != State::kConnected) return false;
      if (qos == 1) {
        if (in_flight_ >= opts_.max_in_flight) return false;
        ++in_flight_;
      }
      gen = gen_;
    }
    bool queued = false;
    try {
      Outgoing out{mqtt::make_message(topic, payload.data(), payload.size(), qos, retain), gen};
      std::lock_guard lk(send_mu_);
      if (!send_stop_ && send_queue_.size() < opts_.max_in_flight + kExtraSendQueue) {
        send_queue_.push_back(std::move(out));
        queued = true;
      }
    } catch (const std::exception& e) {
      LogWarning(kLog, "publish to " + topic + " not queued: " + e.what());
    }
    if (queued) {
      send_cv_.notify_one();
      return true;
    }
    if (qos == 1) {
      MutexLock lk(mu_);
      if (gen == gen_ && in_flight_ > 0) --in_flight_;
    }
    return false;
  }

  bool connected() const override { return core_->connected; }

  size_t in_flight() const override {
    MutexLock lk(mu_);
    return in_flight_;
  }

  LinkHealth health() const override {
    std::lock_guard lk(health_mu_);
    return health_;
  }

 private:
  enum class State {
    kIdle,         // not started, or waiting for the next attempt
    kConnecting,   // CONNECT sent (attempt gen_)
    kSubscribing,  // connected, SUBSCRIBE sent
    kConnected,    // subscribed and reported
    kClosing,      // subscribe failed, disconnecting before the retry
    kStopped,
  };

  // Counts a Paho callback that may release mu_ while it runs, so Stop() can wait for it.
  class CallbackScope {
   public:
    explicit CallbackScope(PahoLink* link) : link_(link) {
      MutexLock lk(link_->mu_);
      ++link_->active_callbacks_;
    }
    ~CallbackScope() {
      MutexLock lk(link_->mu_);
      if (--link_->active_callbacks_ == 0) link_->cv_.notify_all();
    }

   private:
    PahoLink* link_;
  };

  // --- the sender thread ---

  // Hands the queued publishes to the client library, in order. Paho's publish takes the library's
  // one mutex, which its receiving thread holds while a message callback runs, and a snapshot
  // page's callback waits there for a credit (up to kSnapshotPageWait) while the state worker is
  // behind: a publish on the core thread (the outbox's resend, an ack) then stopped the doors for
  // as long (door_latency_bench at 2,000,000 credentials: 25 s without a decision, five swipes
  // merged into one 130-edge glitch). Only this thread waits there. After Stop() it sends what
  // was queued before, then ends.
  void SenderThread() {
    NameThisThread("mqtt-send");
    // The cloud path: below the core thread (a drain of a million events to the cloud never takes
    // the CPU from a door), with the threads that receive and verify.
    LowerThisThreadPriority(kMessageNiceAbove, Slice::kShort);
    std::unique_lock lk(send_mu_);
    while (true) {
      send_cv_.wait(lk, [this] { return send_stop_ || !send_queue_.empty(); });
      if (send_queue_.empty()) return;  // stopping, and everything sent
      Outgoing out = std::move(send_queue_.front());
      send_queue_.pop_front();
      lk.unlock();
      Send(out);
      lk.lock();
    }
  }

  void Send(Outgoing& out) {
    const int qos = out.msg->get_qos();
    {
      MutexLock lk(mu_);
      // Queued for a connection that is gone: its in-flight count was reset with it, and the
      // caller sends again on the next OnConnected what it still needs.
      if (out.gen != gen_) return;
    }
    const std::string topic = out.msg->get_topic();
    try {
      if (qos == 1) {
        client_->publish(out.msg, GenContext(out.gen), publish_listener_);
      } else {
        client_->publish(out.msg);
      }
      return;
    } catch (const std::exception& e) {
      LogWarning(kLog, "publish to " + topic + " refused: " + e.what());
    } catch (...) {
      LogWarning(kLog, "publish to " + topic + " refused");
    }
    if (qos == 1) {
      MutexLock lk(mu_);
      if (out.gen == gen_ && in_flight_ > 0) --in_flight_;
    }
  }

  // --- the retry thread ---

  void RetryThread() {
    NameThisThread("mqtt-retry");
    MutexLock lk(mu_);
    while (state_ != State::kStopped) {
      if (!retry_pending_) {
        cv_.wait(lk);
        continue;
      }
      if (SteadyClock::now() < retry_at_) {
        cv_.wait_until(lk, retry_at_);
        continue;
      }
      retry_pending_ = false;
      const uint64_t gen = ++gen_;
      const uint32_t session = sessions_ + 1;
      state_ = State::kConnecting;
      last_tls_error_.clear();
      std::string error;
      mqtt::connect_options connect;
      try {
        FillConnectOptions(session, connect);
      } catch (const std::exception& e) {
        error = std::string("building the connect options: ") + e.what();
      }
      if (error.empty()) {
        lk.unlock();
        try {
          client_->connect(connect, GenContext(gen), connect_listener_);
        } catch (const std::exception& e) {
          error = e.what();
        } catch (...) {
          error = "unknown error";
        }
        lk.lock();
      }
      if (!error.empty() && state_ == State::kConnecting && gen_ == gen) {
        // The thread's boundary: nothing escapes it (a throwing observer, an allocation failure).
        try {
          ScheduleRetryLocked(LogLevel::kWarning, "cannot connect to " + opts_.uri + ": " + error);
        } catch (const std::exception& e) {
          RecordFault(std::string("retry thread: ") + e.what());
        } catch (...) {
          RecordFault("retry thread: unknown exception");
        }
      }
    }
  }

  // Counts an exception caught at one of the link's thread boundaries (health()). Any lock.
  void RecordFault(std::string error) noexcept {
    try {
      LogError(kLog, "caught " + error + "; the link goes on");
      std::lock_guard lk(health_mu_);
      ++health_.callback_errors;
      health_.last_error = std::move(error);
    } catch (...) {
    }
  }

  void FillConnectOptions(uint32_t session, mqtt::connect_options& c) {
    if (opts_.mqtt_version == 5) {
      c.set_mqtt_version(MQTTVERSION_5);
      c.set_clean_start(true);
    } else {
      c.set_mqtt_version(MQTTVERSION_3_1_1);
      c.set_clean_session(true);
    }
    if (opts_.mqtt_version == 5) {
      // Maximum Packet Size (MQTT 5, 3.1.2.11.4): the largest payload limit plus room for the
      // topic and the header; a conforming broker does not send anything larger.
      size_t largest = opts_.max_payload_bytes;
      for (const auto& [t, limit] : opts_.topic_max_bytes) largest = std::max(largest, limit);
      if (largest > 0 && largest < size_t{200} << 20) {
        mqtt::properties props;
        props.add(mqtt::property(mqtt::property::MAXIMUM_PACKET_SIZE,
                                 static_cast<int32_t>(largest + (size_t{64} << 10))));
        c.set_properties(props);
      }
    }
    c.set_keep_alive_interval(opts_.keep_alive);
    c.set_connect_timeout(opts_.connect_timeout);
    c.set_automatic_reconnect(false);
    c.set_max_inflight(static_cast<int>(std::min<size_t>(opts_.max_in_flight + 16, 65535)));
    if (!opts_.username.empty()) c.set_user_name(opts_.username);
    if (!opts_.password.empty()) c.set_password(opts_.password);
    if (!opts_.will_topic.empty()) {
      c.set_will(mqtt::will_options(opts_.will_topic, opts_.will_payload(session), 1, true));
    }
    if (IsSslUri(opts_.uri)) {
      mqtt::ssl_options ssl;  // trust_store, not ca_path: copies of ssl_options lose ca_path
      if (!opts_.ca_file.empty()) ssl.set_trust_store(opts_.ca_file);
      if (!opts_.cert_file.empty()) ssl.set_key_store(opts_.cert_file);
      if (!opts_.key_file.empty()) ssl.set_private_key(opts_.key_file);
      ssl.set_enable_server_cert_auth(opts_.verify_server);
      ssl.set_verify(opts_.verify_server);  // host name check
      ssl.set_error_handler([this](const std::string& msg) { OnTlsError(msg); });
      c.set_ssl(std::move(ssl));
    }
  }

  // Picks the next delay, logs `what` with it and wakes the retry thread. mu_ held.
  void ScheduleRetryLocked(LogLevel level, const std::string& what) REQUIRES(mu_) {
    std::uniform_real_distribution<double> factor(1.0 - opts_.jitter, 1.0 + opts_.jitter);
    const milliseconds delay(
        static_cast<int64_t>(static_cast<double>(next_delay_.count()) * factor(rng_)));
    next_delay_ = std::min(next_delay_ * 2, opts_.backoff_max);
    state_ = State::kIdle;
    retry_pending_ = true;
    retry_at_ = SteadyClock::now() + delay;
    cv_.notify_all();  // first: the retry is due whatever the observer or the log do
    if (opts_.on_retry_scheduled) opts_.on_retry_scheduled(delay);
    Log(level, kLog, what + "; retrying in " + Seconds(delay));
  }

  // --- Paho callbacks (Paho's threads) ---

  void OnConnectSuccess(const mqtt::token& tok) {
    CallbackScope scope(this);
    const uint64_t gen = GenOf(tok);
    MutexLock lk(mu_);
    if (state_ != State::kConnecting || gen != gen_) return;
    if (opts_.subscriptions.empty()) {
      ReportConnectedLocked();
      return;
    }
    state_ = State::kSubscribing;
    lk.unlock();
    std::string error;
    try {
      auto topics = mqtt::string_collection::create(opts_.subscriptions);
      mqtt::iasync_client::qos_collection qos(opts_.subscriptions.size(), 1);
      client_->subscribe(topics, qos, GenContext(gen), subscribe_listener_);
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "unknown error";
    }
    if (!error.empty()) AbandonSession(gen, error);
  }

  void OnConnectFailure(const mqtt::token& tok) {
    MutexLock lk(mu_);
    if (state_ != State::kConnecting || GenOf(tok) != gen_) return;
    std::string why = FailureText(tok);
    if (!last_tls_error_.empty()) why += " (TLS: " + last_tls_error_ + ")";
    ScheduleRetryLocked(LogLevel::kWarning, "cannot connect to " + opts_.uri + ": " + why);
  }

  void OnSubscribeSuccess(const mqtt::token& tok) {
    const uint64_t gen = GenOf(tok);
    std::string refused;
    try {
      const auto codes = tok.get_subscribe_response().get_reason_codes();
      for (size_t i = 0; i < codes.size(); ++i) {
        if (static_cast<int>(codes[i]) >= 0x80) {
          const std::string topic =
              i < opts_.subscriptions.size() ? opts_.subscriptions[i] : std::to_string(i);
          refused = "broker refused subscription " + topic;
          break;
        }
      }
    } catch (const std::exception& e) {
      refused = std::string("no subscribe response: ") + e.what();
    }
    if (!refused.empty()) {
      CallbackScope scope(this);
      AbandonSession(gen, refused);
      return;
    }
    MutexLock lk(mu_);
    if (state_ != State::kSubscribing || gen != gen_) return;
    ReportConnectedLocked();
  }

  void OnSubscribeFailure(const mqtt::token& tok) {
    CallbackScope scope(this);
    AbandonSession(GenOf(tok), FailureText(tok));
  }

  // Subscribing failed: disconnect (without waiting) and retry. mu_ not held.
  void AbandonSession(uint64_t gen, const std::string& why) {
    {
      MutexLock lk(mu_);
      if (state_ != State::kSubscribing || gen != gen_) return;
      state_ = State::kClosing;
    }
    try {
      client_->disconnect(0);
    } catch (const std::exception&) {
      // Already disconnected: nothing to close.
    }
    MutexLock lk(mu_);
    if (state_ != State::kClosing || gen != gen_) return;
    ScheduleRetryLocked(LogLevel::kWarning, "cannot subscribe on " + opts_.uri + ": " + why);
  }

  void ReportConnectedLocked() REQUIRES(mu_) {
    state_ = State::kConnected;
    const uint32_t session = ++sessions_;
    connected_at_ = SteadyClock::now();
    in_flight_ = 0;
    LogInfo(kLog, "connected to " + opts_.uri + " (session " + std::to_string(session) + ")");
    post_([core = core_, session] {
      if (core->stopped) return;
      core->connected = true;
      core->listener->OnConnected(session);
    });
  }

  void OnConnectionLost(const std::string& cause) {
    MutexLock lk(mu_);
    const bool reported = state_ == State::kConnected;
    if (!reported && state_ != State::kSubscribing) return;
    if (reported && SteadyClock::now() - connected_at_ >= kStableConnection) {
      next_delay_ = opts_.backoff_min;
    }
    ++gen_;  // late completions of this connection's publishes and subscribe are ignored
    in_flight_ = 0;
    const std::string reason = cause.empty() ? "connection lost" : cause;
    ScheduleRetryLocked(LogLevel::kWarning, "connection to " + opts_.uri + " lost: " + reason);
    if (reported) {
      post_([core = core_, reason] {
        if (core->stopped) return;
        core->connected = false;
        core->listener->OnDisconnected(reason);
      });
    }
  }

  // Paho's thread: checks the size before anything is copied, queues the message (bounded) and
  // posts one drain task when none is pending. Never blocks beyond a short lock.
  void OnMessageArrived(const mqtt::const_message_ptr& msg) {
    if (!msg) return;
    // The thread that receives a broker's messages runs below the core thread, so that on a busy
    // box a flood never takes the CPU from decisions (issue 10, point 1). Once per thread.
    static thread_local bool lowered = false;
    if (!lowered) {
      lowered = true;
      NameThisThread("mqtt-receive");
      LowerThisThreadPriority(kMessageNiceAbove, Slice::kShort);
    }
    {
      MutexLock lk(mu_);
      if (state_ != State::kConnected && state_ != State::kSubscribing) return;
    }
    const size_t size = msg->get_payload_ref().size();
    const size_t limit = LimitFor(msg->get_topic_ref().str());
    if (limit > 0 && size > limit) {
      std::lock_guard lk(health_mu_);
      ++health_.dropped_too_large;
      return;
    }
    // The listener's own bounded queue (the cloud sync's parser thread), off the core loop.
    if (core_->listener->TakeOffLoop(msg->get_topic_ref().str(), msg->get_payload_ref().str())) {
      return;
    }
    Inbound& in = core_->inbound;
    bool post = false;
    {
      std::lock_guard lk(in.mu);
      if (in.queue.size() >= opts_.max_queued_messages ||
          (!in.queue.empty() && in.bytes + size > opts_.max_queued_bytes)) {
        std::lock_guard hk(health_mu_);
        ++health_.dropped_overload;
        return;
      }
      in.queue.push_back(msg);  // the message itself, shared: its payload is not copied
      in.bytes += size;
      if (!in.drain_posted) {
        in.drain_posted = true;
        post = true;
      }
    }
    if (post) PostDrain(core_, post_, opts_.max_messages_per_turn);
  }

  // Posts the task that hands up to `per_turn` queued messages to the Listener, and posts itself
  // again (a later loop turn) while messages remain.
  static void PostDrain(const std::shared_ptr<CoreState>& core, const Poster& post,
                        size_t per_turn) {
    post([core, post, per_turn] {
      std::vector<mqtt::const_message_ptr> batch;
      bool more = false;
      {
        std::lock_guard lk(core->inbound.mu);
        Inbound& in = core->inbound;
        while (!in.queue.empty() && batch.size() < per_turn) {
          in.bytes -= in.queue.front()->get_payload_ref().size();
          batch.push_back(std::move(in.queue.front()));
          in.queue.pop_front();
        }
        more = !in.queue.empty();
        in.drain_posted = more;
      }
      for (const mqtt::const_message_ptr& m : batch) {
        if (core->stopped) break;
        core->listener->OnMessage(m->get_topic(), m->get_payload());
      }
      if (more) PostDrain(core, post, per_turn);
    });
  }

  void OnPublishDone(const mqtt::token& tok) {
    MutexLock lk(mu_);
    if (GenOf(tok) == gen_ && in_flight_ > 0) --in_flight_;
  }

  void OnTlsError(const std::string& msg) {
    MutexLock lk(mu_);
    if (last_tls_error_.empty()) last_tls_error_ = msg;
  }

  const MqttOptions opts_;
  const Poster post_;
  const std::shared_ptr<CoreState> core_;

  mutable std::mutex health_mu_;
  LinkHealth health_;  // guarded by health_mu_

  mutable Mutex mu_;
  CondVar cv_;  // retry thread wake-ups; Stop() waiting for callbacks
  State state_ GUARDED_BY(mu_) = State::kIdle;
  bool started_ GUARDED_BY(mu_) = false;
  bool stop_called_ GUARDED_BY(mu_) = false;
  bool retry_pending_ GUARDED_BY(mu_) = false;
  SteadyClock::time_point retry_at_ GUARDED_BY(mu_){};
  uint64_t gen_ GUARDED_BY(mu_) = 0;  // bumped per connect attempt and per lost connection
  uint32_t sessions_ GUARDED_BY(mu_) = 0;
  SteadyClock::time_point connected_at_ GUARDED_BY(mu_){};
  milliseconds next_delay_ GUARDED_BY(mu_);
  std::mt19937_64 rng_ GUARDED_BY(mu_);
  size_t in_flight_ GUARDED_BY(mu_) = 0;
  int active_callbacks_ GUARDED_BY(mu_) = 0;
  std::string last_tls_error_ GUARDED_BY(mu_);

  ActionListener<PahoLink> connect_listener_{this, &PahoLink::OnConnectSuccess,
                                             &PahoLink::OnConnectFailure};
  ActionListener<PahoLink> subscribe_listener_{this, &PahoLink::OnSubscribeSuccess,
                                               &PahoLink::OnSubscribeFailure};
  ActionListener<PahoLink> publish_listener_{this, &PahoLink::OnPublishDone,
                                             &PahoLink::OnPublishDone};
  // Publishes queued by the core thread for the sender thread (bounded: QoS 1 by max_in_flight,
  // the whole queue by max_in_flight + kExtraSendQueue).
  std::mutex send_mu_;
  std::condition_variable send_cv_;
  std::deque<Outgoing> send_queue_;  // guarded by send_mu_
  bool send_stop_ = false;           // guarded by send_mu_
  std::thread worker_;
  std::thread sender_;
  std::unique_ptr<mqtt::async_client> client_;  // last: destroyed first
};

Status ValidateOptions(const MqttOptions& o) {
  if (o.client_id.empty()) return Status::InvalidArgument("mqtt: client_id must not be empty");
  if (o.uri.empty()) return Status::InvalidArgument("mqtt: uri must not be empty");
  if (o.mqtt_version != 4 && o.mqtt_version != 5) {
    return Status::InvalidArgument("mqtt: mqtt_version must be 4 (MQTT 3.1.1) or 5, got " +
                                   std::to_string(o.mqtt_version));
  }
  if (!o.will_topic.empty() && !o.will_payload) {
    return Status::InvalidArgument("mqtt: will_topic " + o.will_topic + " has no will_payload");
  }
  if (o.backoff_min.count() <= 0 || o.backoff_max < o.backoff_min) {
    return Status::InvalidArgument("mqtt: backoff needs 0 < backoff_min <= backoff_max");
  }
  if (!(o.jitter >= 0.0 && o.jitter < 1.0)) {
    return Status::InvalidArgument("mqtt: jitter must be in [0, 1)");
  }
  if (o.max_in_flight == 0) return Status::InvalidArgument("mqtt: max_in_flight must be >= 1");
  if (o.keep_alive.count() < 0 || o.connect_timeout.count() <= 0) {
    return Status::InvalidArgument("mqtt: keep_alive must be >= 0 and connect_timeout > 0");
  }
  const bool tls_files = !o.ca_file.empty() || !o.cert_file.empty() || !o.key_file.empty();
  if (tls_files && !IsSslUri(o.uri)) {
    return Status::InvalidArgument("mqtt: TLS files are set but uri " + o.uri +
                                   " is not ssl:// or mqtts://");
  }
  LINTEL_RETURN_IF_ERROR(CheckReadable("tls.ca_file", o.ca_file));
  LINTEL_RETURN_IF_ERROR(CheckReadable("tls.cert_file", o.cert_file));
  LINTEL_RETURN_IF_ERROR(CheckReadable("tls.key_file", o.key_file));
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<MqttLink>> MakePahoLink(MqttOptions options, MqttListener& listener,
                                               MqttLink::Poster post) {
  LINTEL_RETURN_IF_ERROR(ValidateOptions(options));
  if (!post) return Status::InvalidArgument("mqtt: post must not be empty");
  const std::string uri = options.uri;
  auto link = std::make_unique<PahoLink>(std::move(options), listener, std::move(post));
  try {
    link->CreateClient();
  } catch (const mqtt::exception& e) {
    return Status::InvalidArgument("mqtt: cannot create a client for " + uri + ": " +
                                   e.get_error_str());
  } catch (const std::exception& e) {
    return Status::InvalidArgument("mqtt: cannot create a client for " + uri + ": " + e.what());
  }
  return std::unique_ptr<MqttLink>(std::move(link));
}

}  // namespace lintel::cloud
