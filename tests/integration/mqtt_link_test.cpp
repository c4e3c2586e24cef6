// MqttLink (Paho) against a real mosquitto: connect and subscribe, the Will after an abrupt loss,
// reconnecting after the broker comes back, backoff timing, a core loop that never blocks, TLS
// client certificates, MQTT 5, and a prompt Stop(). The core loop is a real EventLoop driven by the
// test thread; the peer is a plain Paho client.
#include "gateway/cloud/mqtt_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "gateway/base/event_loop.h"
#include "mqtt/async_client.h"
#include "tests/integration/mosquitto.h"

namespace lintel::cloud {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;
using testing::FreeLoopbackPort;
using testing::Mosquitto;

constexpr char kIn[] = "lintel/v1/s/gw/cmd/request";
constexpr char kOut[] = "lintel/v1/s/gw/events";
constexpr char kWill[] = "lintel/v1/s/gw/state";

std::string WillPayload(uint32_t session) {
  return R"({"online":false,"session":)" + std::to_string(session) + "}";
}

// Records what the link reports and whether it arrived on the loop thread.
class RecordingListener : public MqttListener {
 public:
  explicit RecordingListener(EventLoop& loop) : loop_(loop) {}
  void OnConnected(uint32_t session) override {
    Check();
    sessions.push_back(session);
  }
  void OnDisconnected(const std::string& reason) override {
    Check();
    disconnects.push_back(reason);
  }
  void OnMessage(const std::string& topic, const std::string& payload) override {
    Check();
    messages.emplace_back(topic, payload);
  }

  std::vector<uint32_t> sessions;
  std::vector<std::string> disconnects;
  std::vector<std::pair<std::string, std::string>> messages;
  int off_loop_calls = 0;

 private:
  void Check() {
    if (!loop_.IsLoopThread()) ++off_loop_calls;
  }
  EventLoop& loop_;
};

// Holds the client library's receiving thread in TakeOffLoop on a message "hold" until released,
// as the cloud sync's page gate does while the state worker is behind (issue 13, point 3).
class HoldingListener : public RecordingListener {
 public:
  using RecordingListener::RecordingListener;
  bool TakeOffLoop(const std::string& topic, const std::string& payload) override {
    (void)topic;
    if (payload != "hold") return false;
    std::unique_lock lk(mu);
    holding = true;
    cv.notify_all();
    cv.wait_for(lk, seconds(10), [&] { return released; });
    return true;
  }
  void WaitUntilHolding() {
    std::unique_lock lk(mu);
    cv.wait_for(lk, seconds(10), [&] { return holding; });
  }
  void Release() {
    std::lock_guard lk(mu);
    released = true;
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  bool holding = false;   // guarded by mu
  bool released = false;  // guarded by mu
};

// A peer client on the broker, used synchronously from the test thread.
class Peer {
 public:
  explicit Peer(const std::string& uri)
      : client_(uri, "peer-" + std::to_string(getpid()) + "-" + std::to_string(next_id_++),
                mqtt::create_options(MQTTVERSION_3_1_1), nullptr) {
    client_.start_consuming();
  }
  ~Peer() {
    try {
      if (client_.is_connected()) client_.disconnect()->wait_for(seconds(2));
    } catch (const mqtt::exception&) {
    }
  }
  bool Connect() {
    try {
      mqtt::connect_options c;
      c.set_clean_session(true);
      return client_.connect(c)->wait_for(seconds(5));
    } catch (const mqtt::exception&) {
      return false;
    }
  }
  bool Subscribe(const std::string& topic) {
    try {
      return client_.subscribe(topic, 1)->wait_for(seconds(5));
    } catch (const mqtt::exception&) {
      return false;
    }
  }
  bool Publish(const std::string& topic, const std::string& payload) {
    try {
      return client_.publish(topic, payload.data(), payload.size(), 1, false)->wait_for(seconds(5));
    } catch (const mqtt::exception&) {
      return false;
    }
  }
  // Publishes without waiting for the broker's PUBACK: the client library runs one receiving
  // thread for every client of the process, so while the link's callback holds it, this client's
  // PUBACK waits too.
  bool PublishNoWait(const std::string& topic, const std::string& payload) {
    try {
      client_.publish(topic, payload.data(), payload.size(), 1, false);
      return true;
    } catch (const mqtt::exception&) {
      return false;
    }
  }
  // The next message within `timeout` (connection-lost markers skipped).
  std::optional<std::pair<std::string, std::string>> Next(milliseconds timeout) {
    const auto end = SteadyClock::now() + timeout;
    while (SteadyClock::now() < end) {
      mqtt::const_message_ptr m;
      auto left = std::chrono::duration_cast<milliseconds>(end - SteadyClock::now());
      if (client_.try_consume_message_for(&m, left) && m) {
        return std::make_pair(m->get_topic(), m->to_string());
      }
    }
    return std::nullopt;
  }

 private:
  static inline std::atomic<int> next_id_{0};
  mqtt::async_client client_;
};

// A loopback TCP forwarder to the broker that the test can cut: both sockets are reset (no
// DISCONNECT reaches the broker) and the listening socket closes, so reconnects are refused.
class CuttableProxy {
 public:
  explicit CuttableProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listen_fd_, 8) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 || pipe(cut_) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~CuttableProxy() {
    Cut();
    if (thread_.joinable()) thread_.join();
    for (int fd : {cut_[0], cut_[1], listen_fd_}) {
      if (fd >= 0) close(fd);
    }
  }
  void Cut() {
    if (port_ > 0 && !cut_requested_.exchange(true)) {
      [[maybe_unused]] ssize_t n = write(cut_[1], "x", 1);
    }
  }
  int port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  static void Reset(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
  }
  int ConnectUpstream() const {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }
  void Run() {
    std::vector<std::pair<int, int>> pairs;  // client side, broker side
    for (;;) {
      std::vector<pollfd> fds = {{cut_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      for (auto [c, u] : pairs) {
        fds.push_back({c, POLLIN, 0});
        fds.push_back({u, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) {
        for (auto [c, u] : pairs) {
          Reset(u);
          Reset(c);
        }
        close(listen_fd_);
        listen_fd_ = -1;
        return;
      }
      if (fds[1].revents & POLLIN) {
        int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        int u = c >= 0 ? ConnectUpstream() : -1;
        if (u >= 0) {
          pairs.emplace_back(c, u);
        } else if (c >= 0) {
          close(c);
        }
        continue;
      }
      for (size_t i = 0; i < pairs.size(); ++i) {
        for (int side = 0; side < 2; ++side) {
          if (!fds[2 + 2 * i + side].revents) continue;
          int from = side == 0 ? pairs[i].first : pairs[i].second;
          int to = side == 0 ? pairs[i].second : pairs[i].first;
          char buf[16384];
          ssize_t n = read(from, buf, sizeof buf);
          bool ok = n > 0;
          for (ssize_t off = 0; ok && off < n;) {
            ssize_t w = write(to, buf + off, static_cast<size_t>(n - off));
            ok = w > 0;
            off += w;
          }
          if (!ok) {
            close(pairs[i].first);
            close(pairs[i].second);
            pairs.erase(pairs.begin() + static_cast<ptrdiff_t>(i));
            goto next_round;
          }
        }
      }
    next_round:;
    }
  }

  int target_port_;
  int listen_fd_ = -1;
  int port_ = -1;
  int cut_[2] = {-1, -1};
  std::atomic<bool> cut_requested_{false};
  std::thread thread_;
};

class MqttLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lintel-mqtt-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    loop_ = std::move(EventLoop::Create().value());
    listener_ = std::make_unique<RecordingListener>(*loop_);
  }
  void TearDown() override {
    links_.clear();  // Stop() before the loop and the listener go
    loop_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  MqttOptions Options(const std::string& uri) {
    MqttOptions o;
    o.uri = uri;
    o.client_id = "lintel-test-" + std::to_string(getpid()) + "-" + std::to_string(links_.size());
    o.connect_timeout = seconds(2);
    o.will_topic = kWill;
    o.will_payload = WillPayload;
    o.subscriptions = {kIn, "lintel/v1/s/gw/sync/head"};
    o.backoff_min = milliseconds(100);
    o.backoff_max = milliseconds(400);
    o.on_retry_scheduled = [this](milliseconds d) {
      std::lock_guard lk(retry_mu_);
      retries_.emplace_back(SteadyClock::now(), d);
    };
    return o;
  }

  MqttLink& Make(MqttOptions o) {
    auto link = MakePahoLink(std::move(o), *listener_,
                             [loop = loop_.get()](std::function<void()> f) { loop->Post(f); });
    EXPECT_TRUE(link.ok()) << link.status().ToString();
    links_.push_back(std::move(link.value()));
    return *links_.back();
  }

  // Runs the loop until `done` or `timeout`.
  bool RunUntil(const std::function<bool()>& done, milliseconds timeout = milliseconds(10000)) {
    const auto end = SteadyClock::now() + timeout;
    while (!done()) {
      if (SteadyClock::now() >= end) return false;
      EXPECT_TRUE(loop_->RunOnce(milliseconds(10)).ok());
    }
    return true;
  }

  size_t RetryCount() {
    std::lock_guard lk(retry_mu_);
    return retries_.size();
  }

  std::string Dir(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<RecordingListener> listener_;
  std::vector<std::unique_ptr<MqttLink>> links_;
  std::mutex retry_mu_;
  std::vector<std::pair<SteadyClock::time_point, milliseconds>> retries_;
};

TEST_F(MqttLinkTest, ConnectsSubscribesAndDeliversOnTheLoopThread) {
  Mosquitto broker(Dir("broker"));
  ASSERT_TRUE(broker.Start());
  Peer peer(broker.uri());
  ASSERT_TRUE(peer.Connect());
  ASSERT_TRUE(peer.Subscribe(kOut));

  MqttLink& link = Make(Options(broker.uri()));
  EXPECT_FALSE(link.Publish(kOut, "too early", 1, false));
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));
  EXPECT_EQ(listener_->sessions, std::vector<uint32_t>{1});

  ASSERT_TRUE(peer.Publish(kIn, "hello"));
  ASSERT_TRUE(RunUntil([&] { return !listener_->messages.empty(); }));
  EXPECT_EQ(listener_->messages[0], std::make_pair(std::string(kIn), std::string("hello")));

  EXPECT_TRUE(link.Publish(kOut, "event 1", 1, false));
  EXPECT_TRUE(link.Publish(kOut, "event 2", 0, false));
  EXPECT_FALSE(link.Publish(kOut, "qos 2 is not offered", 2, false));
  auto got = peer.Next(seconds(5));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second, "event 1");
  got = peer.Next(seconds(5));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second, "event 2");
  EXPECT_TRUE(RunUntil([&] { return link.in_flight() == 0; }));
  EXPECT_EQ(listener_->off_loop_calls, 0);
}

TEST_F(MqttLinkTest, InFlightIsBoundedByMaxInFlight) {
  Mosquitto broker(Dir("broker"));
  ASSERT_TRUE(broker.Start());
  MqttOptions o = Options(broker.uri());
  o.max_in_flight = 3;
  MqttLink& link = Make(o);
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));
  // Published back to back from the loop thread: how many PUBACKs are back in between depends on
  // the machine, so only the bound is asserted (never more than 3 unacknowledged).
  int accepted = 0;
  for (int i = 0; i < 50; ++i) {
    if (link.Publish(kOut, "x", 1, false)) ++accepted;
    EXPECT_LE(link.in_flight(), 3u);
  }
  EXPECT_GE(accepted, 3);
  EXPECT_TRUE(RunUntil([&] { return link.in_flight() == 0; }));
  EXPECT_TRUE(link.Publish(kOut, "after", 1, false));
}

TEST_F(MqttLinkTest, BrokerPublishesTheWillOfTheRightSessionAfterAnAbruptLoss) {
  Mosquitto broker(Dir("broker"));
  ASSERT_TRUE(broker.Start());
  CuttableProxy proxy(broker.port());
  ASSERT_GT(proxy.port(), 0);
  Peer peer(broker.uri());
  ASSERT_TRUE(peer.Connect());
  ASSERT_TRUE(peer.Subscribe(kWill));

  MqttLink& link = Make(Options(proxy.uri()));
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));
  // No will while connected: a marker sent now is the first thing on the will topic.
  ASSERT_TRUE(peer.Publish(kWill, "marker"));
  auto first = peer.Next(seconds(30));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->second, "marker") << "a will while connected";

  proxy.Cut();
  auto will = peer.Next(seconds(10));
  ASSERT_TRUE(will);
  EXPECT_EQ(will->first, kWill);
  EXPECT_EQ(will->second, WillPayload(1));
  ASSERT_TRUE(RunUntil([&] { return !listener_->disconnects.empty(); }));
  EXPECT_FALSE(link.connected());

  // It is retained: a late subscriber sees it too.
  Peer late(broker.uri());
  ASSERT_TRUE(late.Connect());
  ASSERT_TRUE(late.Subscribe(kWill));
  will = late.Next(seconds(5));
  ASSERT_TRUE(will);
  EXPECT_EQ(will->second, WillPayload(1));
}

TEST_F(MqttLinkTest, StopDisconnectsCleanlyWithoutTheWill) {
  Mosquitto broker(Dir("broker"));
  ASSERT_TRUE(broker.Start());
  Peer peer(broker.uri());
  ASSERT_TRUE(peer.Connect());
  ASSERT_TRUE(peer.Subscribe(kWill));
  MqttOptions o = Options(broker.uri());
  const std::string client_id = o.client_id;
  MqttLink& link = Make(o);
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));
  link.Stop();
  link.Stop();  // idempotent
  EXPECT_FALSE(link.connected());
  EXPECT_FALSE(link.Publish(kOut, "after stop", 1, false));
  // Not "no will within N ms": once the broker has logged a clean DISCONNECT (an abrupt loss logs
  // "closed its connection" and publishes the will), a marker goes out on the will topic; the
  // first message the peer gets must be that marker.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::ReadFile(broker.log_path()).find("Client " + client_id + " disconnected") !=
               std::string::npos;
      },
      seconds(30)))
      << testing::ReadFile(broker.log_path());
  ASSERT_TRUE(peer.Publish(kWill, "marker"));
  auto first = peer.Next(seconds(30));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->second, "marker") << "the broker sent the will after a clean Stop()";
  // Whatever the link posted before Stop() returned runs before a task posted now.
  bool marker_ran = false;
  loop_->Post([&] { marker_ran = true; });
  ASSERT_TRUE(RunUntil([&] { return marker_ran; }));
  EXPECT_TRUE(listener_->disconnects.empty());
}

TEST_F(MqttLinkTest, ReconnectsAndResubscribesWhenTheBrokerComesBack) {
  Mosquitto broker(Dir("broker"));
  ASSERT_TRUE(broker.Start());
  MqttLink& link = Make(Options(broker.uri()));
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));

  broker.Stop();
  ASSERT_TRUE(RunUntil([&] { return !listener_->disconnects.empty(); }));
  EXPECT_FALSE(link.connected());
  EXPECT_FALSE(link.Publish(kOut, "while down", 1, false));
  EXPECT_EQ(link.in_flight(), 0u);
  const size_t retries = RetryCount();
  ASSERT_TRUE(RunUntil([&] { return RetryCount() >= retries + 2; }));  // a few failed attempts
  EXPECT_FALSE(link.Publish(kOut, "while down", 1, false));

  ASSERT_TRUE(broker.Start());
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));
  EXPECT_EQ(listener_->sessions, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(listener_->disconnects.size(), 1u);

  Peer peer(broker.uri());
  ASSERT_TRUE(peer.Connect());
  ASSERT_TRUE(peer.Subscribe(kOut));
  ASSERT_TRUE(peer.Publish(kIn, "after restart"));
  ASSERT_TRUE(RunUntil([&] { return !listener_->messages.empty(); }));
  EXPECT_EQ(listener_->messages.back().second, "after restart");
  EXPECT_TRUE(link.Publish(kOut, "back", 1, false));
  auto got = peer.Next(seconds(5));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second, "back");
  EXPECT_EQ(listener_->off_loop_calls, 0);
}

// The delays double from backoff_min to backoff_max, each within +-jitter; the attempts run on the
// link's own threads, never on the core loop, which keeps running its timers meanwhile. (How the
// attempts are spaced in wall-clock time is not asserted: no elapsed-time figures in tests.)
TEST_F(MqttLinkTest, BackoffDoublesWithinJitterWhileTheLoopKeepsTicking) {
  const int port = FreeLoopbackPort();  // nothing listens: every attempt is refused at once
  MqttOptions o = Options("tcp://127.0.0.1:" + std::to_string(port));
  // The link outlives this body (TearDown stops it): the callback holds what it touches.
  auto on_loop_thread = std::make_shared<std::atomic<int>>(0);
  o.on_retry_scheduled = [record = o.on_retry_scheduled, on_loop_thread,
                          loop_thread = std::this_thread::get_id()](milliseconds d) {
    if (std::this_thread::get_id() == loop_thread) ++*on_loop_thread;
    record(d);
  };
  MqttLink& link = Make(o);

  int ticks = 0;
  loop_->AddPeriodic(milliseconds(10), [&] {
    ++ticks;
    EXPECT_FALSE(link.Publish(kOut, "down", 1, false));
  });
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return RetryCount() >= 6; }, milliseconds(30000)));
  EXPECT_TRUE(listener_->sessions.empty());
  EXPECT_EQ(on_loop_thread->load(), 0) << "connect attempts ran on the core loop";
  const int ticks_at_sixth = ticks;
  ASSERT_TRUE(RunUntil([&] { return ticks > ticks_at_sixth; }, milliseconds(30000)))
      << "the loop's timer stopped";

  std::vector<std::pair<SteadyClock::time_point, milliseconds>> r;
  {
    std::lock_guard lk(retry_mu_);
    r = retries_;
  }
  const double jitter = o.jitter;
  for (size_t i = 0; i < 6; ++i) {
    const double base = std::min(100.0 * static_cast<double>(1 << i), 400.0);
    EXPECT_GE(static_cast<double>(r[i].second.count()), base * (1 - jitter) - 1) << "retry " << i;
    EXPECT_LE(static_cast<double>(r[i].second.count()), base * (1 + jitter) + 1) << "retry " << i;
  }
  EXPECT_GT(ticks_at_sixth, 0) << "the loop ran its timer while the link was retrying";
}

// A connect that hangs (nothing answers, or a non-routable address) neither blocks the core loop
// nor Stop(). The connect timeout is two minutes, longer than any wait here, so everything below
// happens while an attempt is still pending (or, refused at once, backing off).
TEST_F(MqttLinkTest, HangingConnectBlocksNeitherTheLoopNorStop) {
  // A listener that never accepts: the kernel completes the TCP handshake, the CONNECT is sent
  // and no CONNACK ever comes, so the attempt stays pending until connect_timeout.
  int silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(silent, 16), 0);
  ASSERT_EQ(getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string pending = "tcp://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  const std::vector<std::string> uris = {
      pending,                    // pending until the timeout
      "tcp://10.255.255.1:1883",  // non-routable: SYNs go unanswered (or the net is unreachable)
      "tcp://127.0.0.1:" + std::to_string(FreeLoopbackPort()),  // refused at once
  };
  for (const std::string& uri : uris) {
    SCOPED_TRACE(uri);
    const size_t retries_before = RetryCount();
    MqttOptions o = Options(uri);
    o.connect_timeout = seconds(120);
    auto link = MakePahoLink(o, *listener_,
                             [loop = loop_.get()](std::function<void()> f) { loop->Post(f); });
    ASSERT_TRUE(link.ok()) << link.status().ToString();
    int ticks = 0;
    auto timer = loop_->AddPeriodic(milliseconds(10), [&] { ++ticks; });
    (*link)->Start();
    if (uri == pending) {
      EXPECT_EQ(RetryCount(), retries_before) << "Start() returned only after the attempt ended";
    }
    // The loop goes on while the attempt is pending: its timer fires, posted tasks run.
    bool posted_ran = false;
    loop_->Post([&] { posted_ran = true; });
    ASSERT_TRUE(RunUntil([&] { return posted_ran && ticks >= 3; }, milliseconds(30000)));
    if (uri == pending) {
      EXPECT_EQ(RetryCount(), retries_before) << "still pending";
    }
    loop_->CancelTimer(timer);

    // Stop() and destruction return without waiting for the 2-minute connect timeout.
    auto stopped = std::async(std::launch::async, [&] {
      (*link)->Stop();
      link.value().reset();  // the destructor too
    });
    ASSERT_EQ(stopped.wait_for(seconds(30)), std::future_status::ready)
        << "Stop() waited for the hanging connect";
  }
  close(silent);
  EXPECT_TRUE(listener_->sessions.empty());
}

TEST_F(MqttLinkTest, TlsWithClientCertificate) {
  auto pki = testing::MakeTestPki(Dir("pki"));
  ASSERT_TRUE(pki);
  Mosquitto broker(Dir("broker"), pki);
  ASSERT_TRUE(broker.Start());

  MqttOptions good = Options(broker.uri());
  good.ca_file = pki->ca_cert;
  good.cert_file = pki->client_cert;
  good.key_file = pki->client_key;
  MqttLink& link = Make(good);
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));
  EXPECT_TRUE(link.Publish(kOut, "over tls", 1, false));
  EXPECT_TRUE(RunUntil([&] { return link.in_flight() == 0; }));
  link.Stop();

  MqttOptions rogue = good;
  rogue.client_id += "-rogue";
  rogue.cert_file = pki->rogue_cert;
  rogue.key_file = pki->rogue_key;
  MqttLink& refused = Make(rogue);
  const size_t retries_before = RetryCount();
  refused.Start();
  ASSERT_TRUE(RunUntil([&] { return RetryCount() >= retries_before + 2; }));
  EXPECT_FALSE(refused.connected());
  EXPECT_EQ(listener_->sessions, std::vector<uint32_t>{1});  // only the good link's
}

TEST_F(MqttLinkTest, UnreadableTlsFilesAndBadOptionsAreInvalidArguments) {
  MqttOptions o = Options("ssl://127.0.0.1:8883");
  o.cert_file = Dir("missing.crt");
  auto link = MakePahoLink(o, *listener_, [](std::function<void()>) {});
  ASSERT_FALSE(link.ok());
  EXPECT_EQ(link.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(link.status().message(), "mqtt: cannot read tls.cert_file " + Dir("missing.crt") +
                                         ": No such file or directory");

  auto bad = [&](MqttOptions opts) {
    auto r = MakePahoLink(std::move(opts), *listener_, [](std::function<void()>) {});
    return !r.ok() && r.status().code() == StatusCode::kInvalidArgument;
  };
  MqttOptions no_id = Options("tcp://127.0.0.1:1883");
  no_id.client_id.clear();
  EXPECT_TRUE(bad(no_id));
  EXPECT_TRUE(bad(Options("http://127.0.0.1:1883")));
  MqttOptions v3 = Options("tcp://127.0.0.1:1883");
  v3.mqtt_version = 3;
  EXPECT_TRUE(bad(v3));
  MqttOptions tls_on_tcp = Options("tcp://127.0.0.1:1883");
  tls_on_tcp.ca_file = "/etc/hostname";
  EXPECT_TRUE(bad(tls_on_tcp));
  MqttOptions backwards = Options("tcp://127.0.0.1:1883");
  backwards.backoff_max = milliseconds(10);
  EXPECT_TRUE(bad(backwards));
}

TEST_F(MqttLinkTest, Mqtt5ConnectsSubscribesAndPublishes) {
  Mosquitto broker(Dir("broker"));
  ASSERT_TRUE(broker.Start());
  Peer peer(broker.uri());
  ASSERT_TRUE(peer.Connect());
  ASSERT_TRUE(peer.Subscribe(kOut));
  MqttOptions o = Options(broker.uri());
  o.mqtt_version = 5;
  MqttLink& link = Make(o);
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));
  ASSERT_TRUE(peer.Publish(kIn, "v5 hello"));
  ASSERT_TRUE(RunUntil([&] { return !listener_->messages.empty(); }));
  EXPECT_EQ(listener_->messages[0].second, "v5 hello");
  EXPECT_TRUE(link.Publish(kOut, "v5 event", 1, false));
  auto got = peer.Next(seconds(5));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second, "v5 event");
  EXPECT_TRUE(RunUntil([&] { return link.in_flight() == 0; }));
}

// Issue 10, point 1: a message above its topic's limit is dropped in Paho's callback and counted;
// it never reaches the loop. With MQTT 5 the limit is also the Maximum Packet Size sent in CONNECT,
// so the broker itself does not deliver it.
TEST_F(MqttLinkTest, Issue10OversizedMessagesNeverReachTheLoop) {
  for (int version : {4, 5}) {
    SCOPED_TRACE("MQTT " + std::to_string(version == 5 ? 5 : 3));
    Mosquitto broker(Dir("broker" + std::to_string(version)));
    ASSERT_TRUE(broker.Start());
    Peer peer(broker.uri());
    ASSERT_TRUE(peer.Connect());
    MqttOptions o = Options(broker.uri());
    o.mqtt_version = version;
    o.topic_max_bytes = {{kIn, 1000}};
    o.max_payload_bytes = 100;  // every other topic
    MqttLink& link = Make(o);
    listener_->messages.clear();
    link.Start();
    ASSERT_TRUE(RunUntil([&] { return link.connected(); }));
    ASSERT_TRUE(peer.Publish(kIn, std::string(5000, 'x')));    // over the limit
    ASSERT_TRUE(peer.Publish(kIn, std::string(200000, 'z')));  // and over 5's packet size
    ASSERT_TRUE(peer.Publish(kIn, std::string(1000, 'y')));    // exactly the limit: delivered
    ASSERT_TRUE(peer.Publish(kIn, "small"));
    // One connection keeps the order: once "small" is in, the big one would have been before it.
    ASSERT_TRUE(RunUntil([&] {
      return !listener_->messages.empty() && listener_->messages.back().second == "small";
    }));
    ASSERT_EQ(listener_->messages.size(), 2u);
    EXPECT_EQ(listener_->messages[0].second, std::string(1000, 'y'));
    EXPECT_EQ(listener_->messages[1].second, "small");
    // 3.1.1: both dropped by the link and counted. 5: the broker does not send the one above the
    // Maximum Packet Size (the limit + 64 KiB for topic and header) at all; the link drops the
    // other.
    EXPECT_EQ(link.health().dropped_too_large, version == 5 ? 1u : 2u);
    link.Stop();
  }
}

// Issue 10, point 1: the link's queue into the loop is bounded (dropped and counted when full, the
// client's thread never blocks), and at most max_messages_per_turn are handed over per loop turn.
TEST_F(MqttLinkTest, Issue10InboundQueueIsBoundedAndDeliveredInSmallBatches) {
  Mosquitto broker(Dir("broker"));
  ASSERT_TRUE(broker.Start());
  Peer peer(broker.uri());
  ASSERT_TRUE(peer.Connect());
  MqttOptions o = Options(broker.uri());
  o.max_queued_messages = 16;
  o.max_messages_per_turn = 4;
  MqttLink& link = Make(o);
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));
  constexpr int kSent = 200;
  for (int i = 0; i < kSent; ++i) ASSERT_TRUE(peer.Publish(kIn, "m" + std::to_string(i)));
  // The loop does not run: the link keeps 16 and drops the rest.
  const auto end = SteadyClock::now() + seconds(10);
  while (link.health().dropped_overload < kSent - 16 && SteadyClock::now() < end) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(link.health().dropped_overload, static_cast<uint64_t>(kSent - 16));
  ASSERT_TRUE(loop_->RunOnce(milliseconds(0)).ok());
  EXPECT_EQ(listener_->messages.size(), 4u) << "one batch per loop turn";
  ASSERT_TRUE(RunUntil([&] { return listener_->messages.size() == 16; }));
  EXPECT_EQ(listener_->messages.front().second, "m0") << "in order, the first ones kept";
  EXPECT_EQ(listener_->messages.back().second, "m15");
  // Room again: the next message is delivered.
  ASSERT_TRUE(peer.Publish(kIn, "after"));
  ASSERT_TRUE(RunUntil([&] { return listener_->messages.size() == 17; }));
  EXPECT_EQ(listener_->messages.back().second, "after");
}

// Issue 13, point 3: while the client library's receiving thread is held in a message callback
// (it then holds the library's mutex), a publish from the core thread queues and returns at once;
// the message goes out once the callback returns.
TEST_F(MqttLinkTest, Issue13PublishNeverWaitsForAHeldReceivingThread) {
  Mosquitto broker(Dir("broker"));
  ASSERT_TRUE(broker.Start());
  Peer peer(broker.uri());
  ASSERT_TRUE(peer.Connect());
  ASSERT_TRUE(peer.Subscribe(kOut));
  auto holding = std::make_unique<HoldingListener>(*loop_);
  HoldingListener& hold = *holding;
  listener_ = std::move(holding);
  MqttLink& link = Make(Options(broker.uri()));
  link.Start();
  ASSERT_TRUE(RunUntil([&] { return link.connected(); }));

  ASSERT_TRUE(peer.PublishNoWait(kIn, "hold"));
  hold.WaitUntilHolding();
  {
    std::lock_guard lk(hold.mu);
    ASSERT_TRUE(hold.holding);
  }
  // Released by another thread after 3 s: a publish that waited for the library's mutex would
  // return only then.
  std::thread releaser([&] {
    std::this_thread::sleep_for(seconds(3));
    hold.Release();
  });
  EXPECT_TRUE(link.Publish(kOut, "while held", 1, false));
  {
    std::lock_guard lk(hold.mu);
    EXPECT_FALSE(hold.released) << "Publish() waited for the held callback";
  }
  auto got = peer.Next(seconds(10));
  releaser.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second, "while held");
  EXPECT_TRUE(RunUntil([&] { return link.in_flight() == 0; }));
}

// Issue 10, point 13: an exception in code the client library's threads run (here the retry
// observer, called from Paho's connect-failure callback) is caught at the thread's boundary,
// logged and counted in health(); the process goes on and the link keeps retrying.
TEST_F(MqttLinkTest, Issue10ExceptionInAClientLibraryCallbackIsCaughtAndCounted) {
  MqttOptions o = Options("tcp://127.0.0.1:" + std::to_string(FreeLoopbackPort()));
  o.on_retry_scheduled = [](milliseconds) { throw std::runtime_error("observer bug"); };
  MqttLink& link = Make(o);
  link.Start();
  const auto end = SteadyClock::now() + seconds(10);
  while (link.health().callback_errors < 2 && SteadyClock::now() < end) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  LinkHealth h = link.health();
  EXPECT_GE(h.callback_errors, 2u) << "caught, and the link retried after it";
  EXPECT_NE(h.last_error.find("observer bug"), std::string::npos) << h.last_error;
}

}  // namespace
}  // namespace lintel::cloud
