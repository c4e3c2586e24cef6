// AkuvoxPanel (relay commands, health) against an in-test fake of the Akuvox local API, and the
// ActionUrlListener (allow-list, secrets, refusals counted per reason) with requests from
// 127.0.0.1 and 127.0.0.2. Loopback only.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "drivers/intercom/action_url_listener.h"
#include "drivers/intercom/akuvox_api.h"
#include "drivers/intercom/akuvox_panel.h"

namespace lintel::intercom {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr std::chrono::seconds kWaitLimit{20};

// The Akuvox local API subset: /api/relay/trig, /api/system/info, /fcgi/do.
class FakeAkuvox {
 public:
  FakeAkuvox() {
    svr_.set_keep_alive_max_count(1);
    svr_.Post("/api/relay/trig", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.set_content(relay_reply_, "application/json");
    });
    svr_.Get("/api/system/info", [this](const httplib::Request& req, httplib::Response& res) {
      if (!password_ok_) {
        res.status = 401;
        return;
      }
      Record(req);
      res.set_content(R"({"retcode":0,"message":"OK","data":{"Model":"R20A"}})",
                      "application/json");
    });
    svr_.Get("/fcgi/do", [this](const httplib::Request& req, httplib::Response& res) {
      Record(req);
      res.status = legacy_status_;
      res.set_content("OK", "text/plain");
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~FakeAkuvox() {
    svr_.stop();
    thread_.join();
  }

  struct Seen {
    std::string method, target, content_type, body;
  };
  std::vector<Seen> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::string relay_reply_ = R"({"retcode":0,"message":"OK"})";
  int legacy_status_ = 200;
  std::atomic<bool> password_ok_{true};

 private:
  void Record(const httplib::Request& req) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back({req.method, req.target, req.get_header_value("Content-Type"), req.body});
  }
  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<Seen> seen_;
};

class Results {
 public:
  PanelCallbacks Callbacks() {
    PanelCallbacks cb;
    cb.on_command = [this](const CommandResult& r) {
      std::lock_guard<std::mutex> lock(mu_);
      commands_.push_back(r);
      cv_.notify_all();
    };
    cb.on_online = [this](bool online, PanelFault fault, const std::string& reason) {
      std::lock_guard<std::mutex> lock(mu_);
      online_.push_back({online, fault, reason});
      cv_.notify_all();
    };
    return cb;
  }
  CommandResult WaitCommand() {
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, kWaitLimit, [&] { return !commands_.empty(); }));
    return commands_.empty() ? CommandResult{} : commands_.front();
  }
  bool WaitOnline(bool online, PanelFault fault) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWaitLimit, [&] {
      for (const auto& o : online_) {
        if (o.online == online && o.fault == fault) return true;
      }
      return false;
    });
  }
  struct Online {
    bool online;
    PanelFault fault;
    std::string reason;
  };
  std::vector<Online> online() {
    std::lock_guard<std::mutex> lock(mu_);
    return online_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CommandResult> commands_;
  std::vector<Online> online_;
};

std::unique_ptr<AkuvoxPanel> Panel(const AkuvoxConfig& c, const Clock& clock, Results& r) {
  Result<std::unique_ptr<AkuvoxPanel>> p = MakeAkuvoxPanel(c, clock, r.Callbacks());
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(*p);
}

AkuvoxConfig Config(const FakeAkuvox& fake) {
  AkuvoxConfig c;
  c.id = "gate";
  c.http.base_url = fake.url();
  return c;
}

TEST(AkuvoxPanel, RelayTriggerPostsTheFactsSheetBody) {
  FakeAkuvox fake;
  Results res;
  SystemClock clock;
  auto panel = Panel(Config(fake), clock, res);
  ASSERT_TRUE(panel->Start().ok());
  Result<uint64_t> id = panel->TriggerRelay(1);
  ASSERT_TRUE(id.ok());
  CommandResult r = res.WaitCommand();
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.request_id, *id);
  EXPECT_EQ(r.output, 1);
  ASSERT_TRUE(res.WaitOnline(true, PanelFault::kNone));
  panel->Stop();
  bool found = false;
  for (const FakeAkuvox::Seen& s : fake.requests()) {
    if (s.target != "/api/relay/trig") continue;
    found = true;
    EXPECT_EQ(s.method, "POST");
    EXPECT_EQ(s.content_type, "application/json");
    EXPECT_EQ(
        s.body,
        R"({"target":"relay","action":"trig","data":{"num":1,"mode":0,"level":0,"delay":0}})");
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(panel->Health().commands_ok, 1u);
}

TEST(AkuvoxPanel, NegativeRetcodeIsARefusal) {
  FakeAkuvox fake;
  fake.relay_reply_ = R"({"retcode":-100,"message":"Api unsupported"})";
  Results res;
  SystemClock clock;
  auto panel = Panel(Config(fake), clock, res);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(panel->TriggerRelay(2, seconds(5)).ok());
  CommandResult r = res.WaitCommand();
  panel->Stop();
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status.message(),
            "panel 'gate': relay 2 refused: Akuvox error -100: Api unsupported");
  std::string body;
  for (const FakeAkuvox::Seen& s : fake.requests()) {
    if (s.target == "/api/relay/trig") body = s.body;
  }
  EXPECT_EQ(body,
            R"({"target":"relay","action":"trig","data":{"num":2,"mode":0,"level":0,"delay":5}})");
}

TEST(AkuvoxPanel, LegacyOpenDoorOnlyWhenConfiguredAndNeverInAMessage) {
  FakeAkuvox fake;
  fake.legacy_status_ = 500;
  Results res;
  SystemClock clock;
  AkuvoxConfig c = Config(fake);
  c.legacy_open_door = true;
  c.http.username = "admin";
  c.http.password = "pa ss&word";
  auto panel = Panel(c, clock, res);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(panel->TriggerRelay(1).ok());
  CommandResult r = res.WaitCommand();
  panel->Stop();
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status.message(), "panel 'gate': relay 1: HTTP 500");
  bool legacy = false;
  for (const FakeAkuvox::Seen& s : fake.requests()) {
    EXPECT_NE(s.target, "/api/relay/trig");
    if (s.target.rfind("/fcgi/do", 0) == 0) {
      legacy = true;
      EXPECT_EQ(s.target,
                "/fcgi/do?action=OpenDoor&UserName=admin&Password=pa%20ss%26word&DoorNum=1");
    }
  }
  EXPECT_TRUE(legacy);
}

TEST(AkuvoxPanel, HealthCheckOnlineThenWrongPassword) {
  FakeAkuvox fake;
  Results res;
  FakeClock clock(FromUnix(1'800'000'000));
  AkuvoxConfig c = Config(fake);
  auto panel = Panel(c, clock, res);
  ASSERT_TRUE(panel->Start().ok());
  ASSERT_TRUE(res.WaitOnline(true, PanelFault::kNone));
  fake.password_ok_ = false;
  clock.Advance(c.health_interval);
  panel->Wake();
  ASSERT_TRUE(res.WaitOnline(false, PanelFault::kAuthFailed));
  panel->Stop();
  std::vector<Results::Online> o = res.online();
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[1].reason, "wrong password for panel 'gate' (HTTP 401 on health check)");
}

TEST(AkuvoxPanel, TriggerArgumentsAreChecked) {
  FakeAkuvox fake;
  Results res;
  SystemClock clock;
  auto panel = Panel(Config(fake), clock, res);
  EXPECT_EQ(panel->TriggerRelay(0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(panel->TriggerRelay(1, seconds(-1)).status().code(), StatusCode::kInvalidArgument);
  AkuvoxConfig bad = Config(fake);
  bad.legacy_open_door = true;
  EXPECT_EQ(CheckAkuvoxConfig(bad).code(), StatusCode::kInvalidArgument);
}

// --- ActionUrlListener --------------------------------------------------------------------------

constexpr const char* kSecret = "0123456789abcdef-secret";

// One raw HTTP/1.1 request from `source` (a loopback address) to 127.0.0.1:`port`; the status
// code of the reply, or -1.
int RawRequest(const char* source, int port, const std::string& request_line) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    close(fd);
    return -1;
  }
  const std::string req = request_line + "\r\nHost: gw\r\nConnection: close\r\n\r\n";
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  if (reply.rfind("HTTP/1.1 ", 0) != 0 || reply.size() < 12) return -1;
  return std::stoi(reply.substr(9, 3));
}

class ActionUrlListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ListenerConfig c;
    c.address = "127.0.0.1";
    c.port = 0;
    listener_ = std::make_unique<ActionUrlListener>(
        c, [this](Refusal why, const std::string& source, const std::string& panel) {
          std::lock_guard<std::mutex> lock(mu_);
          refusals_.push_back(std::string(RefusalName(why)) + " " + source + " " + panel);
        });
    ASSERT_TRUE(listener_->AddPanel({"lobby", kSecret, "127.0.0.1", Collect()}).ok());
    ASSERT_TRUE(listener_->AddPanel({"gate", kSecret, "127.0.0.2", Collect()}).ok());
    ASSERT_TRUE(listener_->Start().ok());
    ASSERT_GT(listener_->port(), 0);
  }

  std::function<void(const PanelEvent&)> Collect() {
    return [this](const PanelEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    };
  }
  int Get(const std::string& target, const char* source = "127.0.0.1") {
    return RawRequest(source, listener_->port(), "GET " + target + " HTTP/1.1");
  }
  std::vector<PanelEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::vector<std::string> refusals() {
    std::lock_guard<std::mutex> lock(mu_);
    return refusals_;
  }

  std::unique_ptr<ActionUrlListener> listener_;
  std::mutex mu_;
  std::vector<PanelEvent> events_;
  std::vector<std::string> refusals_;
};

TEST_F(ActionUrlListenerTest, AcceptsACodeFromThePanelsAddressWithItsSecret) {
  EXPECT_EQ(Get(std::string("/akuvox/lobby/") + kSecret + "/code?code=4711&mac=0C1105ABCDEF"), 200);
  // And through httplib's client, for good measure.
  httplib::Client cli("127.0.0.1", listener_->port());
  auto r = cli.Get(std::string("/akuvox/lobby/") + kSecret + "/card?card_sn=04a2b3c4");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  std::vector<PanelEvent> ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::kCode);
  EXPECT_EQ(ev[0].code, "4711");
  EXPECT_EQ(ev[0].mac, "0C1105ABCDEF");
  EXPECT_EQ(ev[1].kind, EventKind::kCard);
  EXPECT_EQ(ev[1].card_uid, "04A2B3C4");
  EXPECT_EQ(listener_->Stats().accepted, 2u);
  EXPECT_EQ(listener_->Stats().refused(), 0u);
}

TEST_F(ActionUrlListenerTest, WrongSecretIsRefusedAndCounted) {
  EXPECT_EQ(Get("/akuvox/lobby/0123456789abcdef-secreT/code?code=4711"), 403);
  EXPECT_EQ(Get("/akuvox/lobby/0123456789abcdef-secret2/code?code=4711"), 403);
  EXPECT_TRUE(events().empty());
  EXPECT_EQ(listener_->Stats().wrong_secret, 2u);
  ASSERT_EQ(refusals().size(), 2u);
  EXPECT_EQ(refusals()[0], "wrong_secret 127.0.0.1 lobby");
}

TEST_F(ActionUrlListenerTest, OnlyThePanelsAddressIsAllowed) {
  // "gate" is at 127.0.0.2: from 127.0.0.1 refused, from 127.0.0.2 accepted; and the other way
  // round for "lobby".
  EXPECT_EQ(Get(std::string("/akuvox/gate/") + kSecret + "/tamper"), 403);
  EXPECT_EQ(Get(std::string("/akuvox/gate/") + kSecret + "/tamper", "127.0.0.2"), 200);
  EXPECT_EQ(Get(std::string("/akuvox/lobby/") + kSecret + "/tamper", "127.0.0.2"), 403);
  ListenerStats s = listener_->Stats();
  EXPECT_EQ(s.wrong_source, 2u);
  EXPECT_EQ(s.accepted, 1u);
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(events()[0].kind, EventKind::kTamper);
  EXPECT_EQ(refusals()[0], "wrong_source 127.0.0.1 gate");
}

TEST_F(ActionUrlListenerTest, EveryOtherRequestIsRefusedWithItsReason) {
  const std::string lobby = std::string("/akuvox/lobby/") + kSecret;
  EXPECT_EQ(Get(std::string("/akuvox/nobody/") + kSecret + "/code?code=4711"), 404);
  EXPECT_EQ(Get("/index.html"), 404);
  EXPECT_EQ(Get(lobby + "/code?code=47%1"), 400);
  EXPECT_EQ(Get(lobby + "/code?code=$code"), 400);
  EXPECT_EQ(Get(lobby + "/doorbell"), 404);
  EXPECT_EQ(Get(lobby + "/code?code=4711&pad=" + std::string(1100, 'x')), 414);
  EXPECT_EQ(Get(lobby + "/code?pad=" + std::string(9000, 'x')), 414);  // httplib's own limit
  EXPECT_EQ(
      RawRequest("127.0.0.1", listener_->port(), "POST " + lobby + "/code?code=4711 HTTP/1.1"),
      405);
  EXPECT_EQ(RawRequest("127.0.0.1", listener_->port(), "BREW"), 400);
  ListenerStats s = listener_->Stats();
  EXPECT_EQ(s.unknown_panel, 1u);
  EXPECT_EQ(s.not_found, 1u);
  EXPECT_EQ(s.malformed, 3u);
  EXPECT_EQ(s.unknown_event, 1u);
  EXPECT_EQ(s.oversized, 2u);
  EXPECT_EQ(s.method, 1u);
  EXPECT_EQ(s.accepted, 0u);
  EXPECT_EQ(s.refused(), 9u);
  EXPECT_TRUE(events().empty());
  for (const std::string& r : refusals()) EXPECT_EQ(r.find(kSecret), std::string::npos) << r;
}

TEST_F(ActionUrlListenerTest, RemovedPanelIsUnknown) {
  listener_->RemovePanel("lobby");
  EXPECT_EQ(Get(std::string("/akuvox/lobby/") + kSecret + "/code?code=4711"), 404);
  EXPECT_EQ(listener_->Stats().unknown_panel, 1u);
  EXPECT_TRUE(events().empty());
}

TEST(ActionUrlListenerConfig, AddPanelAndStartCheckTheirArguments) {
  ListenerConfig c;
  c.address = "127.0.0.1";
  c.port = 0;
  ActionUrlListener l(c);
  EXPECT_EQ(l.AddPanel({"p", "short", "127.0.0.1", {}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(l.AddPanel({"p", kSecret, "panel.local", {}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(l.AddPanel({"p/x", kSecret, "127.0.0.1", {}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(l.AddPanel({"p", std::string(kSecret) + "/", "127.0.0.1", {}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(l.AddPanel({"p", kSecret, "::1", {}}).ok());
  EXPECT_EQ(l.AddPanel({"p", kSecret, "127.0.0.1", {}}).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(l.Start().ok());
  // A second listener on the same port is refused (no SO_REUSEPORT sharing).
  ListenerConfig same = c;
  same.port = l.port();
  ActionUrlListener l2(same);
  EXPECT_EQ(l2.Start().code(), StatusCode::kIoError);
  EXPECT_EQ(l.Start().code(), StatusCode::kFailedPrecondition);
  ListenerConfig bad = c;
  bad.address = "localhost";
  EXPECT_EQ(CheckListenerConfig(bad).code(), StatusCode::kInvalidArgument);
  bad = c;
  bad.threads = 0;
  EXPECT_EQ(CheckListenerConfig(bad).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lintel::intercom
