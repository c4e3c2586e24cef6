// tools/panel-sim as the intercom drivers and the demo meet it: the real program serving a 2N or
// Akuvox panel's HTTP API on a free loopback port, called with cpp-httplib's client (Digest and
// Basic included), driven through its control socket. Times that matter run on the simulator's
// --manual-clock (`advance MS`), so "not yet" and "returned because of the event" are exact; every
// other wait is a bounded poll.
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/subprocess.h"
#include "tools/panel-sim/http_auth.h"

namespace lintel {
namespace {

using lintel::testing::BinaryDir;
using lintel::testing::Child;
using lintel::testing::FreshTestDir;
using lintel::testing::ReadFile;
using lintel::testing::RunProgram;
using lintel::testing::RunResult;
using lintel::testing::WaitFor;
using nlohmann::json;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

constexpr const char* kUser = "admin";
constexpr const char* kPassword = "s3cret-Pa55";

std::string Sim() { return BinaryDir() + "/tools/panel-sim/panel-sim"; }

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = text.substr(start, nl - start);
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

bool Matches(const json& line, const json& want) {
  for (const auto& [k, v] : want.items()) {
    if (!line.contains(k)) return false;
    if (v.is_object() && line[k].is_object()) {
      if (!Matches(line[k], v)) return false;
    } else if (line[k] != v) {
      return false;
    }
  }
  return true;
}

// One control command over a fresh connection; the reply line.
json Control(const fs::path& socket_path, const std::string& command) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return {{"ok", false}, {"error", std::string("connect: ") + std::strerror(errno)}};
  }
  std::string text = command + "\n";
  (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  std::string reply;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (reply.find('\n') == std::string::npos && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (reply.find('\n') == std::string::npos) return {{"ok", false}, {"error", "no reply"}};
  return json::parse(reply.substr(0, reply.find('\n')));
}

// The parsed body, or {"unparsed": body} (or {"http_error": ..}) so a failure shows what came.
json Body(const httplib::Result& res) {
  if (!res) return {{"http_error", httplib::to_string(res.error())}};
  json j = json::parse(res->body, nullptr, false);
  if (j.is_discarded()) return {{"unparsed", res->body.substr(0, 200)}};
  return j;
}

// A small HTTP server of the test's own, standing for the gateway's Action URL listener.
class Receiver {
 public:
  Receiver() {
    server_.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      json params = json::object();
      for (const auto& [k, v] : req.params) params[k] = v;
      got_.push_back({{"path", req.path}, {"params", params}, {"peer", req.remote_addr}});
      res.set_content("OK", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    WaitFor([&] { return server_.is_running(); }, milliseconds(5000));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<json> Got() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
  std::mutex mu_;
  std::vector<json> got_;
};

class PanelSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTestDir("lintel-psim");
    control_ = dir_ / "ctl.sock";
    password_file_ = dir_ / "password";
    std::ofstream(password_file_) << kPassword << "\n";
  }
  void TearDown() override {
    child_.reset();
    fs::remove_all(dir_);
  }

  // Starts panel-sim on a free loopback port with a control socket; sets port_ and listening_.
  void Start(const std::string& family, std::vector<std::string> extra = {}) {
    fs::remove(dir_ / "sim.out");
    std::vector<std::string> args = {Sim(),         "--family",  family,           "--listen",
                                     "127.0.0.1:0", "--control", control_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    child_ =
        std::make_unique<Child>(args, (dir_ / "sim.err").string(), (dir_ / "sim.out").string());
    ASSERT_TRUE(WaitFor([&] { return !Lines().empty(); }, milliseconds(10000))) << Err();
    listening_ = Lines().front();
    ASSERT_TRUE(listening_.contains("listening")) << listening_;
    EXPECT_EQ(listening_["listening"]["address"], "127.0.0.1");
    port_ = listening_["listening"]["port"].get<int>();
    ASSERT_GT(port_, 0);
  }
  std::vector<std::string> DigestArgs() {
    return {"--auth", "digest", "--user", kUser, "--password-file", password_file_.string()};
  }

  std::vector<json> Lines() const { return JsonLines(ReadFile(dir_ / "sim.out")); }
  std::string Out() const { return ReadFile(dir_ / "sim.out"); }
  std::string Err() const { return ReadFile(dir_ / "sim.err"); }

  std::optional<json> WaitLine(const json& want, milliseconds timeout = milliseconds(5000)) {
    std::optional<json> found;
    WaitFor(
        [&] {
          for (const json& l : Lines()) {
            if (Matches(l, want)) {
              found = l;
              return true;
            }
          }
          return false;
        },
        timeout);
    return found;
  }
  std::vector<json> All(const json& want) const {
    std::vector<json> out;
    for (const json& l : Lines()) {
      if (Matches(l, want)) out.push_back(l);
    }
    return out;
  }

  json Ctl(const std::string& command) {
    json r = Control(control_, command);
    EXPECT_EQ(r["ok"], true) << command << " -> " << r;
    return r;
  }
  json State() { return Ctl("state")["state"]; }

  // With --manual-clock: moves the simulator's clock and returns once every timer due ran.
  void Advance(int64_t ms) {
    Ctl("advance " + std::to_string(ms));
    ASSERT_TRUE(WaitFor([&] { return State()["advancing"] == false; }, milliseconds(30000)));
  }

  std::unique_ptr<httplib::Client> Client(bool digest = false) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(20, 0);
    c->set_connection_timeout(5, 0);
    if (digest) c->set_digest_auth(kUser, kPassword);
    return c;
  }
  json Get(httplib::Client& c, const std::string& path) { return Body(c.Get(path.c_str())); }

  int64_t Subscribe(httplib::Client& c, const std::string& query = "") {
    json r = Get(c, "/api/log/subscribe" + query);
    EXPECT_EQ(r["success"], true) << r;
    return r.contains("result") ? r["result"].value("id", int64_t{-1}) : -1;
  }
  json Pull(httplib::Client& c, int64_t id, int timeout_s = 0) {
    return Get(c,
               "/api/log/pull?id=" + std::to_string(id) + "&timeout=" + std::to_string(timeout_s));
  }

  fs::path dir_;
  fs::path control_;
  fs::path password_file_;
  std::unique_ptr<Child> child_;
  json listening_;
  int port_ = 0;
};

// ---- authentication ------------------------------------------------------------------------

TEST_F(PanelSimTest, DigestAuthIsRequiredAndAWrongPasswordGets401) {
  Start("2n", DigestArgs());
  EXPECT_EQ(listening_["listening"]["auth"], "digest");

  auto anonymous = Client();
  httplib::Result none = anonymous->Get("/api/system/info");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  const std::string challenge = none->get_header_value("WWW-Authenticate");
  EXPECT_EQ(challenge.rfind("Digest ", 0), 0u) << challenge;
  EXPECT_NE(challenge.find("qop=\"auth\""), std::string::npos) << challenge;
  EXPECT_NE(challenge.find("algorithm=MD5"), std::string::npos) << challenge;
  EXPECT_NE(challenge.find("nonce=\""), std::string::npos) << challenge;

  auto good = Client(true);
  json info = Get(*good, "/api/system/info");
  EXPECT_EQ(info["success"], true) << info;
  EXPECT_EQ(info["result"]["variant"], "2N IP Verso");
  // cpp-httplib's client sends "," as %2C but signs the unencoded target: still the same uri.
  json sub = Get(*good, "/api/log/subscribe?include=new&filter=CodeEntered,CardEntered");
  EXPECT_EQ(sub["success"], true) << sub;

  httplib::Client wrong("127.0.0.1", port_);
  wrong.set_digest_auth(kUser, "not-the-password");
  httplib::Result refused = wrong.Get("/api/switch/status");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_TRUE(WaitLine({{"auth", "failed"},
                        {"scheme", "digest"},
                        {"reason", "bad password"},
                        {"user", kUser},
                        {"path", "/api/switch/status"}}));
  httplib::Client stranger("127.0.0.1", port_);
  stranger.set_digest_auth("mallory", kPassword);
  ASSERT_TRUE(stranger.Get("/api/switch/status"));
  EXPECT_TRUE(WaitLine({{"auth", "failed"}, {"reason", "unknown user"}, {"user", "mallory"}}));

  // cpp-httplib's client answers each 401 with a fresh attempt, up to 5 in all: a wrong password
  // is several failures. Each is counted and printed; the credential-less first requests are not.
  json auth = State()["auth"];
  EXPECT_GE(auth["failures"].get<int>(), 2) << auth;
  EXPECT_EQ(auth["failures"].get<size_t>(), All({{"auth", "failed"}}).size()) << auth;
  EXPECT_EQ(Out().find(kPassword), std::string::npos) << "the password reached stdout";
}

TEST_F(PanelSimTest, DigestRefusesAReplayedNonceCountAndMarksAnExpiredNonceStale) {
  Start("2n", [&] {
    auto a = DigestArgs();
    a.insert(a.end(), {"--nonce-ttl", "30", "--manual-clock"});
    return a;
  }());
  auto c = Client();
  auto challenge = [&]() -> std::map<std::string, std::string> {
    httplib::Result r = c->Get("/api/switch/caps");
    EXPECT_TRUE(r && r->status == 401);
    auto p = panelsim::ParseAuthParams(r->get_header_value("WWW-Authenticate").substr(7));
    EXPECT_TRUE(p.ok());
    return p.ok() ? *p : std::map<std::string, std::string>{};
  };
  auto header = [&](const std::map<std::string, std::string>& ch, const std::string& nc) {
    const std::string response = panelsim::DigestResponse(
        kUser, ch.at("realm"), kPassword, "GET", "/api/switch/caps", ch.at("nonce"), nc, "c0ffee");
    return httplib::Headers{
        {"Authorization", "Digest username=\"admin\", realm=\"" + ch.at("realm") + "\", nonce=\"" +
                              ch.at("nonce") +
                              "\", uri=\"/api/switch/caps\", algorithm=MD5, qop=auth, nc=" + nc +
                              ", cnonce=\"c0ffee\", response=\"" + response + "\", opaque=\"" +
                              ch.at("opaque") + "\""}};
  };
  auto ch = challenge();
  httplib::Result first = c->Get("/api/switch/caps", header(ch, "00000001"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  httplib::Result replay = c->Get("/api/switch/caps", header(ch, "00000001"));
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 401);
  EXPECT_TRUE(WaitLine({{"auth", "failed"}, {"reason", "replayed nc"}}));
  httplib::Result next = c->Get("/api/switch/caps", header(ch, "00000002"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);

  Advance(30'001);  // past --nonce-ttl on the simulator's clock
  httplib::Result stale = c->Get("/api/switch/caps", header(ch, "00000003"));
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 401);
  EXPECT_NE(stale->get_header_value("WWW-Authenticate").find("stale=true"), std::string::npos);
  EXPECT_TRUE(WaitLine({{"auth", "stale"}, {"user", kUser}}));
  EXPECT_EQ(State()["auth"]["stale"], 1);
  EXPECT_EQ(State()["auth"]["failures"], 1);
}

TEST_F(PanelSimTest, BasicAuthChecksUserAndPassword) {
  Start("akuvox", {"--auth", "basic", "--user", kUser, "--password-file", password_file_.string()});
  auto good = Client();
  good->set_basic_auth(kUser, kPassword);
  json info = Get(*good, "/api/system/info");
  EXPECT_EQ(info["retcode"], 0) << info;
  auto bad = Client();
  bad->set_basic_auth(kUser, "nope");
  httplib::Result r = bad->Get("/api/system/info");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate").rfind("Basic realm=", 0), 0u);
  EXPECT_TRUE(WaitLine({{"auth", "failed"}, {"scheme", "basic"}, {"reason", "bad password"}}));
}

// ---- the 2N event log ------------------------------------------------------------------------

TEST_F(PanelSimTest, SubscribeAndPullReturnCodesAndCardsEnteredAtThePanel) {
  Start("2n", [&] {
    auto a = DigestArgs();
    a.insert(a.end(), {"--valid-code", "123456", "--valid-card", "04A2B3C4"});
    return a;
  }());
  auto c = Client(true);
  const int64_t id = Subscribe(*c, "?include=new&duration=60");
  ASSERT_GT(id, 0);
  EXPECT_EQ(Ctl("code 123456")["valid"], true);
  EXPECT_EQ(Ctl("code 999")["valid"], false);
  Ctl("card 04A2B3C4");
  Ctl("card 0BADCAFE card");  // the firmware that names the field "card"

  json r = Pull(*c, id);
  ASSERT_EQ(r["success"], true) << r;
  const json& ev = r["result"]["events"];
  ASSERT_EQ(ev.size(), 4u) << r;
  EXPECT_EQ(ev[0]["event"], "CodeEntered");
  EXPECT_EQ(ev[0]["params"], json({{"code", "123456"}, {"valid", true}}));
  EXPECT_EQ(ev[1]["params"], json({{"code", "999"}, {"valid", false}}));
  EXPECT_EQ(ev[2]["event"], "CardEntered");
  EXPECT_EQ(ev[2]["params"]["uid"], "04A2B3C4");
  EXPECT_EQ(ev[2]["params"]["valid"], true);
  EXPECT_FALSE(ev[3]["params"].contains("uid"));
  EXPECT_EQ(ev[3]["params"]["card"], "0BADCAFE");
  for (size_t i = 1; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i]["id"].get<int64_t>(), ev[i - 1]["id"].get<int64_t>() + 1);
  }
  for (const json& e : ev) {
    EXPECT_TRUE(e.contains("utcTime") && e.contains("upTime")) << e;
    EXPECT_TRUE(WaitLine({{"event", {{"id", e["id"]}, {"event", e["event"]}}}})) << e;
  }
  EXPECT_TRUE(WaitLine({{"delivered", {{"channel", id}}}}));
  // Delivered events are gone from the channel.
  EXPECT_EQ(Pull(*c, id)["result"]["events"], json::array());

  // Unknown ids, missing ids: the 2N error codes, with HTTP 200.
  httplib::Result unknown = c->Get("/api/log/pull?id=987654&timeout=0");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 200);
  EXPECT_EQ(Body(unknown), json::parse(R"({"success":false,"error":{"code":12,"param":"id",
                            "description":"invalid parameter value"}})"));
  EXPECT_EQ(Get(*c, "/api/log/pull")["error"]["code"], 11);
  EXPECT_EQ(Get(*c, "/api/no/such")["error"]["code"], 2);

  // A filter keeps other events out; unsubscribe closes the channel.
  const int64_t only_keys = Subscribe(*c, "?filter=KeyPressed");
  Ctl("code 1");
  Ctl("key 5");
  json keys = Pull(*c, only_keys);
  ASSERT_EQ(keys["result"]["events"].size(), 1u) << keys;
  EXPECT_EQ(keys["result"]["events"][0]["params"]["key"], "5");
  EXPECT_EQ(Get(*c, "/api/log/unsubscribe?id=" + std::to_string(only_keys))["success"], true);
  EXPECT_EQ(Pull(*c, only_keys)["error"]["code"], 12);
  EXPECT_TRUE(WaitLine({{"channel", "closed"}, {"id", only_keys}, {"reason", "unsubscribed"}}));
}

TEST_F(PanelSimTest, LongPollReturnsAsSoonAsAnEventIsQueuedOrEmptyAtItsTimeout) {
  Start("2n", {"--manual-clock"});
  auto c = Client();
  const int64_t id = Subscribe(*c, "?duration=600");
  // The simulator's clock stands still: the 60 s timeout can only end by `advance`, so this pull
  // returns because of the event.
  auto waiting = std::async(std::launch::async, [&] {
    httplib::Client own("127.0.0.1", port_);
    own.set_read_timeout(30, 0);
    return Body(own.Get(("/api/log/pull?id=" + std::to_string(id) + "&timeout=60").c_str()));
  });
  ASSERT_TRUE(
      WaitFor([&] { return State()["channels"][0]["pull_pending"] == true; }, milliseconds(5000)));
  EXPECT_EQ(waiting.wait_for(milliseconds(0)), std::future_status::timeout);
  Ctl("call start");
  Ctl("call end");
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  json r = waiting.get();
  ASSERT_EQ(r["success"], true) << r;
  // Both events of the commands that ran before the answer went out... at least the first.
  ASSERT_GE(r["result"]["events"].size(), 1u) << r;
  EXPECT_EQ(r["result"]["events"][0]["event"], "CallStateChanged");
  EXPECT_EQ(r["result"]["events"][0]["params"]["state"], "ringing");

  // Nothing queued: empty at the timeout, on the simulator's clock.
  Pull(*c, id);  // drains what is left
  auto empty = std::async(std::launch::async, [&] {
    httplib::Client own("127.0.0.1", port_);
    own.set_read_timeout(30, 0);
    return Body(own.Get(("/api/log/pull?id=" + std::to_string(id) + "&timeout=5").c_str()));
  });
  ASSERT_TRUE(
      WaitFor([&] { return State()["channels"][0]["pull_pending"] == true; }, milliseconds(5000)));
  Advance(4999);
  EXPECT_EQ(State()["channels"][0]["pull_pending"], true);
  Advance(1);
  ASSERT_EQ(empty.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(empty.get(), json::parse(R"({"success":true,"result":{"events":[]}})"));
}

TEST_F(PanelSimTest, AChannelNotPulledWithinItsDurationCloses) {
  Start("2n", {"--manual-clock"});
  auto c = Client();
  const int64_t id = Subscribe(*c, "?duration=10");
  Advance(9999);
  Ctl("key 1");
  json r = Pull(*c, id);  // in time: the 10 s start again
  ASSERT_EQ(r["success"], true) << r;
  EXPECT_EQ(r["result"]["events"].size(), 1u);
  Advance(9999);
  EXPECT_EQ(Pull(*c, id)["success"], true);
  Advance(10'000);
  EXPECT_TRUE(WaitLine({{"channel", "closed"}, {"id", id}, {"reason", "expired"}}));
  json gone = Pull(*c, id);
  EXPECT_EQ(gone["success"], false);
  EXPECT_EQ(gone["error"]["code"], 12);
  EXPECT_EQ(gone["error"]["param"], "id");

  // `expire` drops every channel now; a pull waiting on one learns it at once.
  const int64_t a = Subscribe(*c);
  auto waiting = std::async(std::launch::async, [&] {
    httplib::Client own("127.0.0.1", port_);
    own.set_read_timeout(30, 0);
    return Body(own.Get(("/api/log/pull?id=" + std::to_string(a) + "&timeout=60").c_str()));
  });
  ASSERT_TRUE(
      WaitFor([&] { return State()["channels"][0]["pull_pending"] == true; }, milliseconds(5000)));
  EXPECT_EQ(Ctl("expire")["closed"], 1);
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(waiting.get()["error"]["code"], 12);
  EXPECT_EQ(State()["channels"], json::array());
}

TEST_F(PanelSimTest, RebootStartsOverWithDeviceStateStartupAndOldIdsInvalid) {
  Start("2n", {"--manual-clock"});
  auto c = Client();
  const int64_t id = Subscribe(*c);
  Ctl("key 1");
  Ctl("key 2");
  ASSERT_EQ(Pull(*c, id)["result"]["events"].size(), 2u);
  // A pull waiting when the panel goes down loses its connection.
  auto waiting = std::async(std::launch::async, [&] {
    httplib::Client own("127.0.0.1", port_);
    own.set_read_timeout(30, 0);
    return own.Get(("/api/log/pull?id=" + std::to_string(id) + "&timeout=60").c_str());
  });
  ASSERT_TRUE(
      WaitFor([&] { return State()["channels"][0]["pull_pending"] == true; }, milliseconds(5000)));
  Ctl("reboot 2000");
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_FALSE(waiting.get()) << "a pull that lived through a reboot";
  // Down: connections are refused.
  httplib::Client down("127.0.0.1", port_);
  down.set_connection_timeout(2, 0);
  httplib::Result refused = down.Get("/api/system/info");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), httplib::Error::Connection);
  Advance(2000);
  ASSERT_TRUE(WaitLine({{"reboot", "done"}}));

  auto after = Client();
  json old = Pull(*after, id);
  EXPECT_EQ(old["success"], false) << old;
  EXPECT_EQ(old["error"]["code"], 12);
  const int64_t fresh = Subscribe(*after, "?include=all");
  EXPECT_NE(fresh, id);
  json r = Pull(*after, fresh);
  ASSERT_EQ(r["result"]["events"].size(), 1u) << r;
  const json& startup = r["result"]["events"][0];
  EXPECT_EQ(startup["event"], "DeviceState");
  EXPECT_EQ(startup["params"], json({{"state", "startup"}}));
  EXPECT_EQ(startup["id"], 1);  // event ids start over
  EXPECT_EQ(startup["upTime"], 0);
  EXPECT_EQ(State()["boots"], 2);
}

// ---- 2N switches ----------------------------------------------------------------------------

TEST_F(PanelSimTest, SwitchTriggerIsReportedAndPulsesForSwitchOnDuration) {
  Start("2n", {"--manual-clock", "--switch-on-duration", "5"});
  auto c = Client();
  json caps = Get(*c, "/api/switch/caps");
  EXPECT_EQ(caps["result"]["switches"][0],
            json::parse(R"({"switch":1,"enabled":true,"mode":"monostable","switchOnDuration":5,
                            "type":"normal"})"));
  const int64_t id = Subscribe(*c);
  EXPECT_EQ(Get(*c, "/api/switch/ctrl?switch=1&action=trigger"), json({{"success", true}}));
  std::optional<json> line = WaitLine({{"switch", 1}, {"action", "trigger"}});
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["result"], "ok");
  EXPECT_TRUE(line->contains("t_ms"));
  auto active = [&] { return Get(*c, "/api/switch/status?switch=1")["result"]["switches"][0]; };
  EXPECT_EQ(active(), json::parse(R"({"switch":1,"active":true,"locked":false,"held":false})"));
  Advance(4999);
  EXPECT_EQ(active()["active"], true);
  Advance(1);
  EXPECT_EQ(active()["active"], false);
  json r = Pull(*c, id);
  ASSERT_EQ(r["result"]["events"].size(), 2u) << r;
  EXPECT_EQ(r["result"]["events"][0]["params"], json({{"switch", 1}, {"state", true}}));
  EXPECT_EQ(r["result"]["events"][1]["params"], json({{"switch", 1}, {"state", false}}));

  // A locked switch refuses with error 14; unlocked, it works again.
  Ctl("switch 1 lock");
  json refused = Get(*c, "/api/switch/ctrl?switch=1&action=trigger");
  EXPECT_EQ(refused["success"], false);
  EXPECT_EQ(refused["error"]["code"], 14);
  EXPECT_TRUE(WaitLine({{"switch", 1}, {"action", "trigger"}, {"result", "refused"}}));
  EXPECT_EQ(active()["locked"], true);
  EXPECT_EQ(Get(*c, "/api/switch/ctrl?switch=1&action=unlock")["success"], true);
  EXPECT_EQ(Get(*c, "/api/switch/ctrl?switch=1&action=on&timeout=2")["success"], true);
  Advance(2000);
  EXPECT_EQ(active()["active"], false);

  // Parameters: missing 11, invalid 12.
  EXPECT_EQ(
      Get(*c, "/api/switch/ctrl?action=trigger")["error"],
      json::parse(R"({"code":11,"param":"switch","description":"missing mandatory parameter"})"));
  EXPECT_EQ(Get(*c, "/api/switch/ctrl?switch=9&action=trigger")["error"]["code"], 12);
  EXPECT_EQ(Get(*c, "/api/switch/ctrl?switch=1&action=explode")["error"]["param"], "action");
}

TEST_F(PanelSimTest, DoorInputTamperAndCallCommandsBecomeEvents) {
  Start("2n", {"--manual-clock", "--door-open-too-long", "30"});
  auto c = Client();
  const int64_t id = Subscribe(*c, "?duration=3600");
  Ctl("door open");  // no switch active: forced
  Advance(30'000);
  Ctl("door closed");
  Ctl("input 1 on");
  Ctl("tamper");
  json r = Pull(*c, id);
  std::vector<std::string> names;
  for (const json& e : r["result"]["events"]) names.push_back(e["event"]);
  EXPECT_EQ(names,
            (std::vector<std::string>{"DoorStateChanged", "UnauthorizedDoorOpen", "DoorOpenTooLong",
                                      "DoorStateChanged", "UnauthorizedDoorOpen", "DoorOpenTooLong",
                                      "InputChanged", "TamperSwitchActivated"}))
      << r;
  EXPECT_EQ(r["result"]["events"][6]["params"], json({{"port", "input1"}, {"state", true}}));
  EXPECT_EQ(Control(control_, "nonsense 1")["ok"], false);
  EXPECT_EQ(Control(control_, "switch 7 trigger")["ok"], false);
}

// ---- Akuvox ---------------------------------------------------------------------------------

TEST_F(PanelSimTest, AkuvoxRelayTrigOpensTheRelayForItsHoldTime) {
  Start("akuvox", {"--manual-clock", "--switch-on-duration", "3", "--t-us"});
  auto c = Client();
  json info = Get(*c, "/api/system/info");
  EXPECT_EQ(info["retcode"], 0) << info;
  EXPECT_EQ(info["message"], "OK");
  EXPECT_EQ(info["data"]["Model"], "R20A");
  const std::string trig =
      R"({"target":"relay","action":"trig","data":{"num":1,"mode":0,"level":0,"delay":0}})";
  json r = Body(c->Post("/api/relay/trig", trig, "application/json"));
  EXPECT_EQ(r, json::parse(R"({"retcode":0,"message":"OK","data":{}})"));
  std::optional<json> line = WaitLine({{"relay", 1}, {"action", "trig"}, {"via", "api"}});
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["t_us"].get<int64_t>(), (*line)["t_ms"].get<int64_t>() * 1000);
  auto status = [&] { return Get(*c, "/api/relay/status")["data"]["relays"][0]["status"]; };
  EXPECT_EQ(status(), 1);
  Advance(2999);
  EXPECT_EQ(status(), 1);
  Advance(1);
  EXPECT_EQ(status(), 0);
  EXPECT_TRUE(WaitLine({{"event", {{"event", "relay-closed"}}}}));

  json unsupported = Get(*c, "/api/no/such");
  EXPECT_EQ(unsupported, json::parse(R"({"retcode":-1,"message":"Api unsupported"})"));
  json bad =
      Body(c->Post("/api/relay/trig", R"({"target":"relay","action":"trig","data":{"num":9}})",
                   "application/json"));
  EXPECT_LT(bad["retcode"].get<int>(), 0) << bad;
  EXPECT_LT(Body(c->Post("/api/relay/trig", "{not json", "application/json"))["retcode"].get<int>(),
            0);
  // The legacy fcgi is off unless asked for.
  EXPECT_EQ(Get(*c, "/fcgi/do?action=OpenDoor&UserName=a&Password=b&DoorNum=1")["retcode"], -1);
}

TEST_F(PanelSimTest, AkuvoxActionUrlsAreSentWithTheVariablesSubstituted) {
  Receiver gateway;
  const std::string base = "http://127.0.0.1:" + std::to_string(gateway.port()) + "/akuvox/p1/k3y";
  Start("akuvox", {"--valid-code", "1234", "--mac", "0C:11:05:AA:BB:CC", "--action-url",
                   "code=" + base + "/code?code=$code&mac=$mac&model=$model", "--action-url",
                   "invalid-code=" + base + "/bad?code=$code&ip=$ip", "--action-url",
                   "invalid-card=" + base + "/card?card=$card_sn", "--action-url",
                   "relay-triggered=" + base + "/relay?s=$relay1status&fw=$firmware",
                   "--action-url", "tamper=" + base + "/tamper"});
  Ctl("code 1234");
  Ctl("code 999");
  Ctl("card 04A2B3C4");
  auto c = Client();
  ASSERT_EQ(
      Body(c->Post("/api/relay/trig", R"({"target":"relay","action":"trig","data":{"num":1}})",
                   "application/json"))["retcode"],
      0);
  Ctl("tamper");
  ASSERT_TRUE(WaitFor([&] { return gateway.Got().size() == 5; }, milliseconds(10000)))
      << json(gateway.Got());
  std::vector<json> got = gateway.Got();  // one sender thread: in the order of the events
  EXPECT_EQ(got[0]["path"], "/akuvox/p1/k3y/code");
  EXPECT_EQ(got[0]["params"],
            json({{"code", "1234"}, {"mac", "0C:11:05:AA:BB:CC"}, {"model", "R20A"}}));
  EXPECT_EQ(got[1]["path"], "/akuvox/p1/k3y/bad");
  EXPECT_EQ(got[1]["params"], json({{"code", "999"}, {"ip", "127.0.0.1"}}));
  EXPECT_EQ(got[2]["path"], "/akuvox/p1/k3y/card");
  EXPECT_EQ(got[2]["params"], json({{"card", "04A2B3C4"}}));
  EXPECT_EQ(got[3]["path"], "/akuvox/p1/k3y/relay");
  EXPECT_EQ(got[3]["params"], json({{"s", "1"}, {"fw", "20.30.10.116"}}));
  EXPECT_EQ(got[4]["path"], "/akuvox/p1/k3y/tamper");
  EXPECT_EQ(got[0]["peer"], "127.0.0.1");
  EXPECT_TRUE(
      WaitLine({{"action_url", "code"},
                {"url", base + "/code?code=1234&mac=0C%3A11%3A05%3AAA%3ABB%3ACC&model=R20A"},
                {"status", 200}}));
  ASSERT_TRUE(WaitFor([&] { return State()["action_urls"]["sent"] == 5; }, milliseconds(5000)));
}

TEST_F(PanelSimTest, AkuvoxLegacyFcgiOpensWithTheRightCredentialsOnly) {
  Start("akuvox", {"--fcgi", "--user", kUser, "--password-file", password_file_.string()});
  auto c = Client();
  json ok = Get(*c, std::string("/fcgi/do?action=OpenDoor&UserName=admin&Password=") + kPassword +
                        "&DoorNum=2");
  EXPECT_EQ(ok["retcode"], 0) << ok;
  EXPECT_TRUE(WaitLine({{"relay", 2}, {"action", "OpenDoor"}, {"via", "fcgi"}}));
  httplib::Result bad = c->Get("/fcgi/do?action=OpenDoor&UserName=admin&Password=guess&DoorNum=1");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 403);
  EXPECT_TRUE(WaitLine({{"auth", "failed"}, {"scheme", "fcgi"}, {"reason", "bad password"}}));
  EXPECT_EQ(Out().find(kPassword), std::string::npos) << "the password reached stdout";
  EXPECT_EQ(Out().find("guess"), std::string::npos) << "a URL with a password reached stdout";
}

// ---- faults ---------------------------------------------------------------------------------

TEST_F(PanelSimTest, FaultsMakeGarbageHugeSlowAndRefusedReplies) {
  Start("2n", {"--manual-clock"});
  auto c = Client();
  c->set_keep_alive(true);
  Ctl("fault garbage 1");
  httplib::Result garbage = c->Get("/api/system/info");
  ASSERT_TRUE(garbage);
  EXPECT_TRUE(json::parse(garbage->body, nullptr, false).is_discarded()) << garbage->body;
  EXPECT_EQ(Get(*c, "/api/system/info")["success"], true);  // the count ran out

  Ctl("fault huge 1");
  httplib::Result huge = c->Get("/api/switch/status");
  ASSERT_TRUE(huge);
  EXPECT_GE(huge->body.size(), 4u << 20);
  EXPECT_FALSE(json::parse(huge->body, nullptr, false).is_discarded());

  // Slow: the reply waits on the simulator's clock.
  Ctl("fault slow 1500 1");
  auto slow = std::async(std::launch::async, [&] {
    httplib::Client own("127.0.0.1", port_);
    own.set_read_timeout(30, 0);
    return Body(own.Get("/api/system/info"));
  });
  ASSERT_TRUE(WaitLine({{"fault", "slow"}}));
  Advance(1499);
  EXPECT_EQ(slow.wait_for(milliseconds(0)), std::future_status::timeout);
  Advance(1);
  ASSERT_EQ(slow.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(slow.get()["success"], true);

  // Offline: connection refused until `fault off`; channels survive.
  const int64_t id = Subscribe(*c);
  Ctl("fault offline");
  httplib::Client fresh("127.0.0.1", port_);
  httplib::Result refused = fresh.Get("/api/system/info");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), httplib::Error::Connection);
  EXPECT_FALSE(c->Get("/api/system/info")) << "a kept-alive connection still answered";
  Ctl("fault off");
  auto back = Client();
  EXPECT_EQ(Get(*back, "/api/system/info")["success"], true);
  EXPECT_EQ(Pull(*back, id)["success"], true);
}

// ---- HTTPS and usage -------------------------------------------------------------------------

TEST_F(PanelSimTest, ServesHttpsWithTheGivenCertificateAndPrintsItsFingerprint) {
  const std::string cert = (dir_ / "cert.pem").string();
  const std::string key = (dir_ / "key.pem").string();
  RunResult gen =
      RunProgram({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days",
                  "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  RunResult fp =
      RunProgram({"/usr/bin/openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"});
  ASSERT_EQ(fp.exit_code, 0) << fp.err;
  std::string want = fp.out.substr(fp.out.find('=') + 1);
  want.erase(std::remove(want.begin(), want.end(), ':'), want.end());
  want.erase(std::remove(want.begin(), want.end(), '\n'), want.end());
  std::transform(want.begin(), want.end(), want.begin(), ::tolower);

  Start("2n", [&] {
    auto a = DigestArgs();
    a.insert(a.end(), {"--tls-cert", cert, "--tls-key", key});
    return a;
  }());
  EXPECT_EQ(listening_["listening"]["scheme"], "https");
  EXPECT_EQ(listening_["listening"]["tls_sha256"], want);

  httplib::SSLClient tls("127.0.0.1", port_);
  tls.set_ca_cert_path(cert.c_str());
  tls.enable_server_certificate_verification(true);
  tls.set_digest_auth(kUser, kPassword);
  tls.set_read_timeout(10, 0);
  json info = Body(tls.Get("/api/system/info"));
  EXPECT_EQ(info["success"], true) << info;

  httplib::Client plain("127.0.0.1", port_);  // plain HTTP to a TLS port gets nothing useful
  plain.set_read_timeout(5, 0);
  httplib::Result r = plain.Get("/api/system/info");
  EXPECT_TRUE(!r || r->status != 200);
}

TEST_F(PanelSimTest, ExitCodes) {
  EXPECT_EQ(RunProgram({Sim(), "--family", "2n", "--listen", "10.1.2.3:80"}).exit_code, 1);
  EXPECT_EQ(RunProgram({Sim(), "--family", "2n", "--listen", "127.0.0.1:0", "--auth", "digest"})
                .exit_code,
            1);
  EXPECT_EQ(RunProgram({Sim(), "--family", "3com", "--listen", "127.0.0.1:0"}).exit_code, 1);
  EXPECT_EQ(RunProgram({Sim(), "--family", "2n", "--listen", "127.0.0.1:0", "--action-url",
                        "code=http://x/"})
                .exit_code,
            1);
  EXPECT_EQ(RunProgram({Sim(), "--family", "akuvox", "--listen", "127.0.0.1:0", "--action-url",
                        "doorbell=http://x/"})
                .exit_code,
            1);
  // A port someone else holds: 2.
  Start("2n");
  RunResult taken =
      RunProgram({Sim(), "--family", "2n", "--listen", "127.0.0.1:" + std::to_string(port_)});
  EXPECT_EQ(taken.exit_code, 2) << taken.err;
  // quit: 0, after the stopped line.
  Ctl("quit");
  EXPECT_EQ(child_->Wait(milliseconds(10000)), 0);
  EXPECT_TRUE(WaitLine({{"stopped", "quit"}}));
  // SIGTERM: 0.
  Start("akuvox");
  child_->Signal(SIGTERM);
  EXPECT_EQ(child_->Wait(milliseconds(10000)), 0);
  EXPECT_TRUE(WaitLine({{"stopped", "signal"}}));
}

}  // namespace
}  // namespace lintel
