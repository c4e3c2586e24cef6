// panel-sim: a simulated IP intercom panel (2N or Akuvox) as a real HTTP(S) server, for the demo
// and the tests of drivers/intercom. The API subset, the control commands and the output lines are
// documented in tools/README.md (## panel-sim); the panel model is panel.h, the authentication
// http_auth.h.
//
// Threads: the loop thread (gateway/base/event_loop.h) owns the panel model, the control socket,
// the timers and the signals. cpp-httplib's server runs on its own listening thread and worker
// pool: a worker copies the request, posts it to the loop and waits for the panel's reply (long
// polls wait there for minutes). Action URLs are sent by one sender thread (HTTP GETs in order),
// which posts each outcome back to the loop. Only the loop thread prints.
//
// Exit codes: 0 clean stop (SIGTERM, SIGINT, `quit`); 1 usage (options, the password file, the TLS
// certificate or key); 2 cannot listen (HTTP port, control socket).
#include <arpa/inet.h>
#include <errno.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"
#include "tools/panel-sim/http_auth.h"
#include "tools/panel-sim/panel.h"

namespace lintel::panelsim {
namespace {

using std::chrono::milliseconds;

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitListen = 2;

constexpr size_t kWorkerThreads = 32;  // long polls hold a worker each
constexpr size_t kMaxControlLine = 1024;
constexpr size_t kMaxBody = 64 * 1024;

void Note(std::string_view message) { std::cerr << "panel-sim: " << message << '\n'; }

void EmitLine(const json& line) {
  std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n' << std::flush;
}

// ---- options --------------------------------------------------------------------------------

struct Options {
  std::string family;
  std::string listen;
  std::string auth = "none";
  std::string user;
  std::string password_file;
  std::string realm = "lintel panel-sim";
  int nonce_ttl_s = 300;
  std::string tls_cert;
  std::string tls_key;
  std::string control;
  bool manual_clock = false;
  bool verbose = false;
  bool t_us = false;
  int switches = 2;
  int switch_on_duration_s = 5;
  int door_open_too_long_s = 30;
  std::vector<std::string> valid_codes;
  std::vector<std::string> valid_cards;
  std::string card_field = "uid";
  std::vector<std::string> action_urls;
  bool fcgi = false;
  std::string mac = "0C1105000001";
  std::string model;
  std::string firmware;
};

struct Address {
  std::string host;
  int port = 0;
};

// "HOST:PORT", HOST an IPv4 loopback address: the simulator never listens on a network.
Result<Address> ParseListen(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("--listen \"" + text +
                                   "\": expected HOST:PORT, e.g. 127.0.0.1:0");
  }
  Address a{text.substr(0, colon), 0};
  in_addr addr{};
  if (::inet_pton(AF_INET, a.host.c_str(), &addr) != 1 || (ntohl(addr.s_addr) >> 24) != 127) {
    return Status::InvalidArgument("--listen \"" + text +
                                   "\": the host must be an IPv4 loopback address (127.x.x.x)");
  }
  const std::string port = text.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    return Status::InvalidArgument("--listen \"" + text + "\": the port must be 0..65535");
  }
  a.port = static_cast<int>(p);
  return a;
}

// The first line of the file, without its line end.
Result<std::string> ReadPassword(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("--password-file " + path + ": cannot read it");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.empty()) return Status::InvalidArgument("--password-file " + path + ": empty");
  return line;
}

// The SHA-256 fingerprint of the PEM certificate, lower-case hex without separators.
Result<std::string> CertificateSha256(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return Status::InvalidArgument("--tls-cert " + path + ": cannot read it");
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr)
    return Status::InvalidArgument("--tls-cert " + path + ": not a PEM certificate");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const int ok = X509_digest(cert, EVP_sha256(), md, &len);
  X509_free(cert);
  if (ok != 1) return Status::Internal("X509_digest failed");
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

// ---- the HTTP side --------------------------------------------------------------------------

// One reply handed from the loop thread to the worker thread waiting for it.
class ReplySlot {
 public:
  void Set(HttpReply reply) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (reply_) return;
      reply_ = std::move(reply);
    }
    cv_.notify_all();
  }
  // The reply, or nullopt once `stopping` is set (the program is ending).
  std::optional<HttpReply> Wait(const std::atomic<bool>& stopping) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!reply_ && !stopping.load()) cv_.wait_for(lock, milliseconds(50));
    return std::move(reply_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<HttpReply> reply_;
};

// cpp-httplib servers, one per listening run: going offline stops the current one (its listening
// socket closes at once, so new connections are refused); coming back binds a new one on the same
// port. Stopped servers finish on their own threads and are joined at Shutdown().
class HttpFront {
 public:
  using Handler = std::function<void(HttpRequest, Responder)>;  // called on the loop thread

  HttpFront(EventLoop& loop, const Options& o, Handler handler)
      : loop_(loop), o_(o), handler_(std::move(handler)) {}
  ~HttpFront() { Shutdown(); }

  // Binds `host:port` (port 0: any free port) and starts serving. Returns the bound port.
  // Errors: InvalidArgument for an unusable certificate or key; Unavailable when it cannot bind.
  Result<int> Listen(const std::string& host, int port) {
    std::unique_ptr<httplib::Server> server;
    if (!o_.tls_cert.empty()) {
      server = std::make_unique<httplib::SSLServer>(o_.tls_cert.c_str(), o_.tls_key.c_str());
      if (!server->is_valid()) {
        return Status::InvalidArgument("--tls-cert/--tls-key: OpenSSL refused " + o_.tls_cert +
                                       " / " + o_.tls_key);
      }
    } else {
      server = std::make_unique<httplib::Server>();
    }
    const uint64_t generation = ++generation_;
    server->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
    server->set_payload_max_length(kMaxBody);
    server->set_keep_alive_max_count(1000);
    server->set_tcp_nodelay(true);
    // cpp-httplib 0.11's default sets SO_REUSEPORT, which lets a second program bind a port this
    // one listens on (and share its connections). SO_REUSEADDR alone: coming back after `fault
    // offline` or a reboot still binds the same port at once, a taken port fails.
    server->set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    auto handle = [this, generation](const httplib::Request& req, httplib::Response& res) {
      Serve(generation, req, res);
    };
    server->Get(".*", handle);
    server->Post(".*", handle);
    server->Put(".*", handle);
    server->Delete(".*", handle);
    int bound = port;
    if (port == 0) {
      bound = server->bind_to_any_port(host);
      if (bound < 0) return Status::Unavailable("cannot listen on " + host + ":0");
    } else if (!server->bind_to_port(host, port)) {
      return Status::Unavailable("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                                 std::strerror(errno));
    }
    httplib::Server* raw = server.get();
    std::thread thread([raw] { raw->listen_after_bind(); });
    // stop() is a no-op until the server runs: wait for it (it starts at once).
    for (int i = 0; i < 5000 && !raw->is_running(); ++i)
      std::this_thread::sleep_for(milliseconds(1));
    current_ = Instance{std::move(server), std::move(thread)};
    return bound;
  }

  // Stops listening (non-blocking); requests already read still reach the handler.
  void Stop() {
    if (!current_) return;
    current_->server->stop();
    retired_.push_back(std::move(*current_));
    current_.reset();
  }
  bool listening() const { return current_.has_value(); }
  uint64_t generation() const { return generation_; }

  // At exit, after the loop stopped: waiting workers give up, every server is stopped and joined.
  void Shutdown() {
    stopping_ = true;
    Stop();
    for (Instance& i : retired_) {
      if (i.thread.joinable()) i.thread.join();
    }
    retired_.clear();
  }

 private:
  struct Instance {
    std::unique_ptr<httplib::Server> server;
    std::thread thread;
  };

  // On a worker thread.
  void Serve(uint64_t generation, const httplib::Request& req, httplib::Response& res) {
    HttpRequest r;
    r.method = req.method;
    r.path = req.path;
    r.target = req.target;
    r.body = req.body;
    r.authorization = req.get_header_value("Authorization");
    r.peer = req.remote_addr + ":" + std::to_string(req.remote_port);
    for (const auto& [k, v] : req.params) r.params.emplace(k, v);
    r.generation = generation;
    std::optional<HttpReply> reply;
    if (!stopping_) {
      auto slot = std::make_shared<ReplySlot>();
      loop_.Post([this, r = std::move(r), slot]() mutable {
        handler_(std::move(r), [slot](HttpReply reply) { slot->Set(std::move(reply)); });
      });
      reply = slot->Wait(stopping_);
    }
    if (!reply || reply->cut) {
      // Headers go out, the body never does: the client sees the connection drop.
      res.status = 200;
      res.set_content_provider(1, "application/json",
                               [](size_t, size_t, httplib::DataSink&) { return false; });
      return;
    }
    res.status = reply->status;
    for (const auto& [k, v] : reply->headers) res.set_header(k, v);
    res.set_content(reply->body, reply->content_type);
  }

  EventLoop& loop_;
  const Options& o_;
  Handler handler_;
  std::optional<Instance> current_;
  std::vector<Instance> retired_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> generation_{0};
};

// Sends Action URLs one after the other on its own thread, as a panel does.
class ActionUrlSender {
 public:
  using Done =
      std::function<void(std::string event, std::string url, int status, std::string error)>;

  ActionUrlSender(EventLoop& loop, Done done) : loop_(loop), done_(std::move(done)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~ActionUrlSender() { Shutdown(); }

  void Send(std::string event, std::string url) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.emplace_back(std::move(event), std::move(url));
    }
    cv_.notify_one();
  }
  // Stops after the GET in progress; what is still queued is dropped.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    for (;;) {
      std::pair<std::string, std::string> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      int status = 0;
      std::string error;
      const std::string& url = job.second;
      const size_t scheme_end = url.find("://");
      const size_t path_start =
          scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
      if (scheme_end == std::string::npos) {
        error = "not an absolute http(s) URL";
      } else {
        const std::string origin = url.substr(0, path_start);
        const std::string path = path_start == std::string::npos ? "/" : url.substr(path_start);
        httplib::Client client(origin);
        if (!client.is_valid()) {
          error = "unusable URL";
        } else {
          client.set_connection_timeout(2);
          client.set_read_timeout(5);
          client.set_write_timeout(5);
          client.enable_server_certificate_verification(false);  // panels rarely verify
          httplib::Result res = client.Get(path);
          if (res) {
            status = res->status;
          } else {
            error = httplib::to_string(res.error());
          }
        }
      }
      loop_.Post([this, job = std::move(job), status, error]() {
        done_(job.first, job.second, status, error);
      });
    }
  }

  EventLoop& loop_;
  Done done_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::string>> queue_;
  bool stopping_ = false;
};

// ---- the program ----------------------------------------------------------------------------

class Program final : public PanelHost {
 public:
  Program(EventLoop& loop, const Clock& clock, const Options& o, Address address,
          HttpAuthenticator& auth, PanelOptions panel_options)
      : loop_(loop),
        clock_(clock),
        start_(clock.Monotonic()),
        o_(o),
        address_(std::move(address)),
        front_(loop, o,
               [this](HttpRequest r, Responder respond) {
                 panel_->Handle(std::move(r), std::move(respond));
               }),
        sender_(loop, [this](std::string event, std::string url, int status, std::string error) {
          panel_->OnActionUrlDone(event, url, status, error);
        }) {
    panel_options.wall_start_unix = std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
    panel_ = std::make_unique<Panel>(loop, *this, auth, std::move(panel_options));
  }
  ~Program() override { Shutdown(); }

  void UseManualClock(FakeClock* clock) { manual_clock_ = clock; }

  // Listens, opens the control socket, boots the panel and prints the listening line.
  // Errors: InvalidArgument (TLS files), Unavailable / IoError (cannot listen).
  Status Start(const std::string& fingerprint) {
    Result<int> port = front_.Listen(address_.host, address_.port);
    if (!port.ok()) return port.status();
    address_.port = *port;
    if (!o_.control.empty()) LINTEL_RETURN_IF_ERROR(OpenControl());
    json listening = {{"address", address_.host},
                      {"port", address_.port},
                      {"scheme", o_.tls_cert.empty() ? "http" : "https"},
                      {"family", o_.family},
                      {"auth", o_.auth}};
    if (o_.auth != "none") listening["realm"] = o_.realm;
    if (!fingerprint.empty()) listening["tls_sha256"] = fingerprint;
    if (!o_.control.empty()) listening["control"] = o_.control;
    EmitLine({{"listening", listening}});
    panel_->Boot();
    return Status::Ok();
  }

  void Stop(const char* reason) {
    Emit({{"stopped", reason}});
    loop_.Stop();
  }

  // After the loop returned: no more HTTP, no more Action URLs, nobody waiting.
  void Shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    front_.Shutdown();
    sender_.Shutdown();
    CloseControlSocket();
  }

  // PanelHost
  int64_t NowMs() const override {
    return std::chrono::duration_cast<milliseconds>(clock_.Monotonic() - start_).count();
  }
  void Emit(const json& body) override {
    const int64_t us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.Monotonic() - start_).count();
    json line = {{"t_ms", us / 1000}};
    if (o_.t_us) line["t_us"] = us;
    for (const auto& [k, v] : body.items()) line[k] = v;
    EmitLine(line);
  }
  Status SetListening(bool on) override {
    if (!on) {
      front_.Stop();
      return Status::Ok();
    }
    if (front_.listening()) return Status::Ok();
    Result<int> port = front_.Listen(address_.host, address_.port);
    return port.ok() ? Status::Ok() : port.status();
  }
  uint64_t generation() const override { return front_.generation(); }
  void SendActionUrl(const std::string& event, const std::string& url) override {
    sender_.Send(event, url);
  }

 private:
  struct ControlClient {
    int fd = -1;
    EventLoop::FdHandle handle{};
    std::string buffer;
  };

  json Execute(const std::string& line) {
    std::vector<std::string> w;
    std::istringstream in(line);
    for (std::string t; in >> t;) w.push_back(t);
    if (w.empty()) return {{"ok", false}, {"error", "empty command"}};
    if (w[0] == "state") {
      if (w.size() != 1) return {{"ok", false}, {"error", "usage: state"}};
      json state = panel_->State();
      state["listening"] = front_.listening();
      state["port"] = address_.port;
      state["now_ms"] = NowMs();
      state["advancing"] = advancing_;
      return {{"ok", true}, {"state", state}};
    }
    if (w[0] == "quit") {
      if (w.size() != 1) return {{"ok", false}, {"error", "usage: quit"}};
      Emit({{"command", "quit"}, {"source", "control"}});
      Stop("quit");
      return {{"ok", true}, {"command", "quit"}};
    }
    if (w[0] == "advance") {
      if (manual_clock_ == nullptr)
        return {{"ok", false}, {"error", "advance needs --manual-clock"}};
      char* end = nullptr;
      const long long ms = w.size() == 2 ? std::strtoll(w[1].c_str(), &end, 10) : 0;
      if (w.size() != 2 || *end != '\0' || ms < 1 || ms > 3'600'000) {
        return {{"ok", false}, {"error", "usage: advance MS (1..3600000)"}};
      }
      Emit({{"command", "advance " + w[1]}, {"source", "control"}});
      advance_left_ms_ += ms;
      const int64_t until = NowMs() + advance_left_ms_;
      if (!advancing_) {
        advancing_ = true;
        loop_.Post([this] { AdvanceStep(); });
      }
      return {{"ok", true}, {"command", "advance " + w[1]}, {"until_ms", until}};
    }
    return panel_->Execute(w);
  }

  // One millisecond of an `advance`, every timer due at it run before the next (as modbus-sim).
  void AdvanceStep() {
    if (advance_left_ms_ <= 0) {
      advancing_ = false;
      return;
    }
    manual_clock_->Advance(milliseconds(1));
    --advance_left_ms_;
    loop_.Post([this] { AdvanceStep(); });
  }

  // ---- the control socket (as modbus-sim's) ------------------------------------------------

  Status OpenControl() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string& path = o_.control;
    if (path.size() >= sizeof(addr.sun_path)) {
      return Status::InvalidArgument("--control \"" + path + "\": longer than " +
                                     std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return Status::Unavailable("--control " + path + ": exists and is not a socket");
      }
      ::unlink(path.c_str());  // a stale socket from an earlier run
    }
    control_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (control_fd_ < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
    const mode_t old_mask = ::umask(0177);  // 0600: whoever may write it drives the panel
    const int rc = ::bind(control_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    const int err = errno;
    ::umask(old_mask);
    if (rc != 0 || ::listen(control_fd_, 8) != 0) {
      return Status::Unavailable("--control " + path +
                                 ": cannot listen: " + std::strerror(rc != 0 ? err : errno));
    }
    control_bound_ = true;
    auto h = loop_.AddFd(control_fd_, EPOLLIN, [this](uint32_t) { AcceptControl(); });
    if (!h.ok()) return h.status();
    control_handle_ = *h;
    return Status::Ok();
  }

  void AcceptControl() {
    const int fd = ::accept4(control_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    timeval tv{1, 0};  // a client that does not read its replies does not stall the panel
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    const uint64_t id = next_control_++;
    auto h = loop_.AddFd(fd, EPOLLIN, [this, id](uint32_t) { OnControlReadable(id); });
    if (!h.ok()) {
      ::close(fd);
      return;
    }
    control_clients_[id] = ControlClient{fd, *h, {}};
  }

  void CloseControl(uint64_t id) {
    auto it = control_clients_.find(id);
    if (it == control_clients_.end()) return;
    loop_.RemoveFd(it->second.handle);
    ::close(it->second.fd);
    control_clients_.erase(it);
  }

  void OnControlReadable(uint64_t id) {
    auto it = control_clients_.find(id);
    if (it == control_clients_.end()) return;
    char buf[4096];
    const ssize_t n = ::read(it->second.fd, buf, sizeof(buf));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return;
      CloseControl(id);
      return;
    }
    it->second.buffer.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = it->second.buffer.find('\n')) != std::string::npos;) {
      std::string line = it->second.buffer.substr(0, nl);
      it->second.buffer.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const json reply = Execute(line);
      const std::string text = reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
      if (::send(it->second.fd, text.data(), text.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(text.size())) {
        CloseControl(id);
        return;
      }
      it = control_clients_.find(id);
      if (it == control_clients_.end()) return;
    }
    if (it->second.buffer.size() > kMaxControlLine) {
      const std::string text = json{{"ok", false}, {"error", "line too long"}}.dump() + "\n";
      (void)::send(it->second.fd, text.data(), text.size(), MSG_NOSIGNAL);
      CloseControl(id);
    }
  }

  void CloseControlSocket() {
    while (!control_clients_.empty()) CloseControl(control_clients_.begin()->first);
    if (control_fd_ >= 0) {
      loop_.RemoveFd(control_handle_);
      ::close(control_fd_);
      control_fd_ = -1;
      if (control_bound_) ::unlink(o_.control.c_str());
    }
  }

  EventLoop& loop_;
  const Clock& clock_;
  const std::chrono::steady_clock::time_point start_;
  const Options& o_;
  Address address_;
  HttpFront front_;
  ActionUrlSender sender_;
  std::unique_ptr<Panel> panel_;
  bool shut_down_ = false;

  int control_fd_ = -1;
  bool control_bound_ = false;
  EventLoop::FdHandle control_handle_{};
  std::map<uint64_t, ControlClient> control_clients_;
  uint64_t next_control_ = 1;

  FakeClock* manual_clock_ = nullptr;
  int64_t advance_left_ms_ = 0;
  bool advancing_ = false;
};

int Main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  if (Status s = BlockSignals({SIGTERM, SIGINT}); !s.ok()) {
    Note(s.message());
    return kExitListen;
  }
  CLI::App app{"panel-sim: a simulated 2N or Akuvox IP intercom panel (HTTP API server)"};
  Options o;
  app.add_option("--family", o.family, "the panel family: 2n or akuvox")
      ->required()
      ->check(CLI::IsMember({"2n", "akuvox"}));
  app.add_option("--listen", o.listen, "HOST:PORT to serve on (loopback; port 0 = any free)")
      ->required();
  app.add_option("--auth", o.auth, "HTTP authentication: none, basic or digest")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "basic", "digest"}));
  app.add_option("--user", o.user, "the user name (auth, and the Akuvox legacy fcgi)");
  app.add_option("--password-file", o.password_file, "file whose first line is the password");
  app.add_option("--realm", o.realm, "the authentication realm")->capture_default_str();
  app.add_option("--nonce-ttl", o.nonce_ttl_s, "seconds a Digest nonce stays valid")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400));
  app.add_option("--tls-cert", o.tls_cert, "serve HTTPS with this PEM certificate");
  app.add_option("--tls-key", o.tls_key, "the PEM private key of --tls-cert");
  app.add_option("--control", o.control, "Unix socket for control commands (mode 0600)");
  app.add_flag("--manual-clock", o.manual_clock,
               "virtual time from 0, moved only by the `advance MS` command (for tests)");
  app.add_flag("-v,--verbose", o.verbose, "a line per HTTP request answered");
  app.add_flag("--t-us", o.t_us, "every line also carries t_us, microseconds (for benchmarks)");
  app.add_option("--switches", o.switches, "2N switches / Akuvox relays")
      ->capture_default_str()
      ->check(CLI::Range(1, 8));
  app.add_option("--switch-on-duration", o.switch_on_duration_s,
                 "seconds a triggered switch (2N) or relay (Akuvox, mode 0) stays on")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--door-open-too-long", o.door_open_too_long_s,
                 "2N: seconds open before DoorOpenTooLong")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400));
  app.add_option("--valid-code", o.valid_codes, "a code the panel itself calls valid (repeatable)");
  app.add_option("--valid-card", o.valid_cards, "a card the panel itself calls valid (repeatable)");
  app.add_option("--card-field", o.card_field, "2N CardEntered field: uid, or card (some firmware)")
      ->capture_default_str()
      ->check(CLI::IsMember({"uid", "card"}));
  app.add_option("--action-url", o.action_urls,
                 "Akuvox: EVENT=URL (code, invalid-code, card, invalid-card, relay-triggered, "
                 "relay-closed, tamper; repeatable)");
  app.add_flag("--fcgi", o.fcgi, "Akuvox: serve the legacy /fcgi/do?action=OpenDoor");
  app.add_option("--mac", o.mac, "$mac")->capture_default_str();
  app.add_option("--model", o.model, "the model name ($model; 2N variant)");
  app.add_option("--firmware", o.firmware, "the firmware version ($firmware; 2N swVersion)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  auto usage = [](const std::string& message) {
    Note(message);
    return kExitUsage;
  };
  Result<Address> address = ParseListen(o.listen);
  if (!address.ok()) return usage(address.status().message());
  const bool akuvox = o.family == "akuvox";
  std::string password;
  if (o.auth != "none" || o.fcgi) {
    if (o.user.empty() || o.password_file.empty()) {
      return usage("--auth " + o.auth + (o.fcgi ? " / --fcgi" : "") +
                   " needs --user and --password-file");
    }
    Result<std::string> p = ReadPassword(o.password_file);
    if (!p.ok()) return usage(p.status().message());
    password = *p;
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) return usage("give both --tls-cert and --tls-key");
  std::string fingerprint;
  if (!o.tls_cert.empty()) {
    Result<std::string> f = CertificateSha256(o.tls_cert);
    if (!f.ok()) return usage(f.status().message());
    fingerprint = *f;
  }
  if (!akuvox && (o.fcgi || !o.action_urls.empty())) {
    return usage("--fcgi and --action-url are Akuvox options (--family akuvox)");
  }
  PanelOptions po;
  po.family = akuvox ? Family::kAkuvox : Family::k2N;
  po.switches = o.switches;
  po.switch_on_duration_s = o.switch_on_duration_s;
  po.door_open_too_long_s = o.door_open_too_long_s;
  po.valid_codes = {o.valid_codes.begin(), o.valid_codes.end()};
  po.valid_cards = {o.valid_cards.begin(), o.valid_cards.end()};
  po.card_field = o.card_field;
  for (const std::string& a : o.action_urls) {
    const size_t eq = a.find('=');
    const std::string event = a.substr(0, eq);
    if (eq == std::string::npos || !ActionUrlEvents().contains(event)) {
      return usage("--action-url \"" + a +
                   "\": expected EVENT=URL, EVENT one of code, invalid-code, card, invalid-card, "
                   "relay-triggered, relay-closed, tamper");
    }
    const std::string url = a.substr(eq + 1);
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return usage("--action-url \"" + a + "\": the URL must start with http:// or https://");
    }
    po.action_urls.emplace(event, url);
  }
  po.fcgi = o.fcgi;
  po.user = o.user;
  po.password = password;
  po.address = address->host;
  po.mac = o.mac;
  po.model = !o.model.empty() ? o.model : akuvox ? "R20A" : "2N IP Verso";
  po.firmware = !o.firmware.empty() ? o.firmware : akuvox ? "20.30.10.116" : "2.38.0.50.8";
  po.verbose = o.verbose;

  SystemClock system_clock;
  FakeClock manual_clock{Instant{}};
  const Clock& clock = o.manual_clock ? static_cast<const Clock&>(manual_clock) : system_clock;
  auto loop = EventLoop::Create(clock);
  if (!loop.ok()) {
    Note(loop.status().message());
    return kExitListen;
  }
  const AuthScheme scheme = o.auth == "basic"    ? AuthScheme::kBasic
                            : o.auth == "digest" ? AuthScheme::kDigest
                                                 : AuthScheme::kNone;
  HttpAuthenticator auth(scheme, o.realm, o.user, password, std::chrono::seconds(o.nonce_ttl_s),
                         RandomHex);
  int code = kExitOk;
  {
    Program program(**loop, clock, o, *address, auth, std::move(po));
    if (o.manual_clock) program.UseManualClock(&manual_clock);
    if (Status s = program.Start(fingerprint); !s.ok()) {
      Note(s.message());
      return s.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitListen;
    }
    if (Status s =
            (*loop)->WatchSignals({SIGTERM, SIGINT}, [&program](int) { program.Stop("signal"); });
        !s.ok()) {
      Note(s.message());
      return kExitListen;
    }
    if (Status s = (*loop)->Run(); !s.ok()) {
      Note(s.message());
      code = kExitListen;
    }
    program.Shutdown();
  }
  return code;
}

}  // namespace
}  // namespace lintel::panelsim

int main(int argc, char** argv) { return lintel::panelsim::Main(argc, argv); }
