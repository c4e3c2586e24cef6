// A small fake 2N panel for the intercom driver tests: an httplib::Server on 127.0.0.1 speaking
// the subset of the 2N HTTP API in shared/protocols/intercom-2n.md (system info, log
// subscribe/pull with channels, switch ctrl), with Basic or Digest authentication and knobs to
// misbehave. Not tools/panel-sim: written from the facts sheet for these tests only.
//
// Every method is thread-safe. Waits take a generous real-time limit only so a broken driver fails
// the test instead of hanging it; no test asserts on elapsed time.
#pragma once

#include <httplib.h>
#include <openssl/evp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/base64.h"

namespace lintel::intercom::testing {

inline constexpr std::chrono::seconds kWaitLimit{20};

inline std::string Md5Hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

// key="value" / key=value pairs of an Authorization: Digest header.
inline std::map<std::string, std::string> DigestFields(const std::string& header) {
  std::map<std::string, std::string> out;
  static const std::regex kField(R"re(([a-z]+)=(?:"([^"]*)"|([^,\s]*)))re");
  for (auto it = std::sregex_iterator(header.begin(), header.end(), kField);
       it != std::sregex_iterator(); ++it) {
    out[(*it)[1]] = (*it)[2].matched ? (*it)[2].str() : (*it)[3].str();
  }
  return out;
}

class FakePanel {
 public:
  enum class Auth { kNone, kBasic, kDigest };

  // keep_alive false: the fake closes every connection after its reply (so Down() does not wait
  // for httplib's keep-alive timeout on a connection the driver keeps open).
  explicit FakePanel(bool keep_alive = true) : keep_alive_(keep_alive) { Up(); }
  ~FakePanel() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    Down();
  }

  // (Re)starts the server, on the same port as before if it ran already.
  void Up() {
    auto svr = std::make_unique<httplib::Server>();
    if (!keep_alive_) svr->set_keep_alive_max_count(1);
    Routes(*svr);
    int p = port_;
    if (p == 0) {
      p = svr->bind_to_any_port("127.0.0.1");
    } else if (!svr->bind_to_port("127.0.0.1", p)) {
      p = -1;
    }
    if (p <= 0) throw std::runtime_error("fake panel: cannot bind");
    port_ = p;
    server_ = std::move(svr);
    thread_ = std::thread([s = server_.get()] { s->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  // Stops the server (connection refused from now on); pulls in progress are ended.
  void Down() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++down_generation_;
    }
    cv_.notify_all();
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void SetAuth(Auth auth, std::string user, std::string password) {
    std::lock_guard<std::mutex> lock(mu_);
    auth_ = auth;
    user_ = std::move(user);
    password_ = std::move(password);
  }

  // Appends an event to every open channel: `body` is the JSON members after the id, e.g.
  // R"("event":"CodeEntered","params":{"code":"1234"})".
  void Push(const std::string& body) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [id, ch] : channels_) {
        ch.queue.push_back(R"({"id":)" + std::to_string(++ch.next_event) +
                           R"(,"utcTime":1437987102,"upTime":8,)" + body + "}");
      }
    }
    cv_.notify_all();
  }

  // Closes every channel: a pull waiting on one returns the 2N error for an unknown id.
  void ExpireChannels() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      channels_.clear();
    }
    cv_.notify_all();
  }

  // The next pull returns `body` as it is (HTTP 200), whatever the channel.
  void NextPullBody(std::string body) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      next_pull_body_ = std::move(body);
    }
    cv_.notify_all();
  }

  // The next pull repeats the events of the previous one before its own.
  void RepeatLastPull() {
    std::lock_guard<std::mutex> lock(mu_);
    repeat_ = true;
  }

  // While held, pulls do not answer (even with events queued).
  void HoldPulls(bool hold) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold_ = hold;
    }
    cv_.notify_all();
  }

  // The switch ctrl reply: OK, or the 2N error 14 (switch locked).
  void LockSwitch(bool locked) {
    std::lock_guard<std::mutex> lock(mu_);
    switch_locked_ = locked;
  }

  int subscribes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return subscribes_;
  }
  int pulls_answered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pulls_answered_;
  }
  int pulls_waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pulls_waiting_;
  }
  std::vector<std::string> ctrl_requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ctrl_;
  }
  int unauthorized() const {
    std::lock_guard<std::mutex> lock(mu_);
    return unauthorized_;
  }

  // Waits until `pred` (evaluated under the fake's lock) holds; false after kWaitLimit.
  bool WaitFor(const std::function<bool()>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWaitLimit, pred);
  }
  bool WaitForPullWaiting() {
    return WaitFor([this] { return pulls_waiting_ > 0; });
  }
  bool WaitForSubscribes(int n) {
    return WaitFor([this, n] { return subscribes_ >= n; });
  }
  bool WaitForPullsAnswered(int n) {
    return WaitFor([this, n] { return pulls_answered_ >= n; });
  }

 private:
  struct Channel {
    uint64_t next_event = 0;
    std::deque<std::string> queue;
  };

  static void Json(httplib::Response& res, const std::string& body) {
    res.status = 200;
    res.set_content(body, "application/json");
  }

  // Checks the request's credentials; false after answering 401. Called with mu_ held.
  bool Authorized(const httplib::Request& req, httplib::Response& res) {
    if (auth_ == Auth::kNone) return true;
    const std::string header = req.get_header_value("Authorization");
    if (auth_ == Auth::kBasic) {
      const std::string want = "Basic " + lintel::Base64Encode(user_ + ":" + password_);
      if (header == want) return true;
      res.set_header("WWW-Authenticate", "Basic realm=\"2N\"");
    } else {
      if (header.rfind("Digest ", 0) == 0) {
        auto f = DigestFields(header);
        const std::string ha1 = Md5Hex(user_ + ":" + f["realm"] + ":" + password_);
        const std::string ha2 = Md5Hex(req.method + ":" + f["uri"]);
        const std::string want = Md5Hex(ha1 + ":" + f["nonce"] + ":" + f["nc"] + ":" + f["cnonce"] +
                                        ":" + f["qop"] + ":" + ha2);
        if (f["username"] == user_ && f["realm"] == "2N" && f["nonce"] == kNonce &&
            f["uri"] == req.target && f["response"] == want) {
          return true;
        }
      }
      res.set_header("WWW-Authenticate",
                     std::string("Digest realm=\"2N\", qop=\"auth\", nonce=\"") + kNonce +
                         "\", algorithm=MD5");
    }
    ++unauthorized_;
    res.status = 401;
    return false;
  }

  void Routes(httplib::Server& svr) {
    svr.Get("/api/system/info", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!Authorized(req, res)) return;
      Json(res,
           R"({"success":true,"result":{"variant":"2N IP Verso","serialNumber":"54-0880-2424",)"
           R"("hwVersion":"535v1","swVersion":"2.40.0.52.4","deviceName":"Lobby"}})");
    });
    svr.Get("/api/log/subscribe", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!Authorized(req, res)) return;
      const uint64_t id = 1000 + static_cast<uint64_t>(++subscribes_) * 7;
      channels_[id] = Channel{};
      Json(res, R"({"success":true,"result":{"id":)" + std::to_string(id) + "}}");
      cv_.notify_all();
    });
    svr.Get("/api/log/pull", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock<std::mutex> lock(mu_);
      if (!Authorized(req, res)) return;
      const uint64_t id = std::stoull(req.get_param_value("id"));
      const int timeout = std::stoi(req.get_param_value("timeout"));
      const uint64_t down = down_generation_;
      ++pulls_waiting_;
      cv_.notify_all();
      cv_.wait_for(lock, std::chrono::seconds(timeout), [&] {
        if (stopping_ || down != down_generation_) return true;
        if (hold_) return false;
        auto it = channels_.find(id);
        return !next_pull_body_.empty() || it == channels_.end() || !it->second.queue.empty();
      });
      --pulls_waiting_;
      ++pulls_answered_;
      cv_.notify_all();
      if (!next_pull_body_.empty()) {
        Json(res, next_pull_body_);
        next_pull_body_.clear();
        return;
      }
      auto it = channels_.find(id);
      if (it == channels_.end()) {
        Json(
            res,
            R"({"success":false,"error":{"code":12,"param":"id","description":"invalid parameter value"}})");
        return;
      }
      std::string events;
      std::vector<std::string> sent;
      if (repeat_) {
        sent = last_sent_;
        repeat_ = false;
      }
      while (!it->second.queue.empty() && sent.size() < 128) {
        sent.push_back(it->second.queue.front());
        it->second.queue.pop_front();
      }
      for (const std::string& e : sent) events += (events.empty() ? "" : ",") + e;
      last_sent_ = sent;
      Json(res, R"({"success":true,"result":{"events":[)" + events + "]}}");
    });
    svr.Get("/api/switch/ctrl", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!Authorized(req, res)) return;
      ctrl_.push_back(req.target);
      cv_.notify_all();
      if (switch_locked_) {
        Json(
            res,
            R"({"success":false,"error":{"code":14,"param":"switch","description":"switch is locked"}})");
      } else {
        Json(res, R"({"success":true})");
      }
    });
  }

  static constexpr const char* kNonce = "5f3c1a6e9b";

  const bool keep_alive_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t down_generation_ = 0;
  Auth auth_ = Auth::kNone;
  std::string user_, password_;
  std::map<uint64_t, Channel> channels_;
  std::string next_pull_body_;
  bool repeat_ = false;
  std::vector<std::string> last_sent_;
  bool hold_ = false;
  bool switch_locked_ = false;
  int subscribes_ = 0;
  int pulls_answered_ = 0;
  int pulls_waiting_ = 0;
  int unauthorized_ = 0;
  std::vector<std::string> ctrl_;
};

}  // namespace lintel::intercom::testing
