#include "gateway/control/control_server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "gateway/base/log.h"

namespace lintel {
namespace {

constexpr int kListenBacklog = 64;
constexpr size_t kMinReadChunk = size_t{64} << 10;
constexpr size_t kMaxReadChunk = size_t{4} << 20;
// Bytes read from one connection per callback, so one big upload does not starve the others.
constexpr size_t kReadBudget = size_t{16} << 20;
// Buffers grown by a big request or answer are released once empty if larger than this.
constexpr size_t kKeepCapacity = size_t{1} << 20;
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

std::string Errno(int err) { return strerror(err); }

bool FillAddress(const std::string& path, sockaddr_un* addr) {
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  *addr = {};
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

std::string Directory(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Called when bind() found `path` taken: removes it only if it is a socket nobody listens on.
Status ClaimStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();  // vanished meanwhile: bind again
    return Status::IoError("cannot inspect " + path + ": " + Errno(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Status::FailedPrecondition(path + " exists and is not a socket; refusing to replace it");
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return Status::IoError("cannot create a probe socket: " + Errno(errno));
  int rc = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int err = errno;
  close(probe);
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
    return Status::FailedPrecondition("another process is listening on " + path +
                                      " (is lintel already running?)");
  }
  if (err != ECONNREFUSED && err != ENOENT) {
    return Status::IoError("cannot tell whether " + path + " is in use: " + Errno(err));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError("cannot remove stale socket " + path + ": " + Errno(errno));
  }
  LogInfo("control", "removed stale socket " + path);
  return Status::Ok();
}

}  // namespace

struct ControlServer::Connection {
  uint64_t id = 0;
  int fd = -1;
  ControlPeer peer;
  EventLoop::FdHandle handle{};
  uint32_t interest = 0;
  std::string in;
  size_t line_start = 0;  // first byte of the line being received
  size_t scanned = 0;     // bytes of `in` already searched for '\n'
  std::string out;
  size_t out_sent = 0;
  bool peer_eof = false;           // the client shut down its sending side
  bool close_after_flush = false;  // answer an oversized request, then hang up
  bool awaiting_reply = false;     // a deferred handler has the current request
  bool in_handler = false;         // inside the deferred handler's call (a reply there is early)
  std::optional<Result<nlohmann::json>> early_reply;  // a reply given during that call
  std::optional<EventLoop::TimerId> idle_timer;
  uint64_t last_activity = 0;  // ControlServer::activity_counter_ at the last progress

  bool OutputPending() const { return out_sent < out.size(); }
};

Result<std::unique_ptr<ControlServer>> ControlServer::Create(EventLoop& loop, std::string path,
                                                             ControlHandler handler,
                                                             ControlServerOptions options) {
  sockaddr_un addr;
  if (!FillAddress(path, &addr)) {
    return Status::InvalidArgument("control socket path must be 1.." +
                                   std::to_string(sizeof(addr.sun_path) - 1) + " bytes: " + path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError("cannot create control socket: " + Errno(errno));
  auto fail = [&](Status st) {
    close(fd);
    return st;
  };
  int rc = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EADDRINUSE) {
    Status claimed = ClaimStaleSocket(path, addr);
    if (!claimed.ok()) return fail(claimed);
    rc = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  }
  if (rc != 0) {
    int err = errno;
    std::string hint = err == ENOENT   ? " (does " + Directory(path) + " exist?)"
                       : err == EACCES ? " (may this user write to " + Directory(path) + "?)"
                                       : "";
    return fail(Status::IoError("cannot bind control socket " + path + ": " + Errno(err) + hint));
  }
  // Nobody can connect before listen(), so the mode is right before the first client arrives.
  struct stat st;
  if (chmod(path.c_str(), options.socket_mode) != 0 || stat(path.c_str(), &st) != 0) {
    int err = errno;
    unlink(path.c_str());
    return fail(Status::IoError("cannot set the mode of " + path + ": " + Errno(err)));
  }
  if (listen(fd, kListenBacklog) != 0) {
    int err = errno;
    unlink(path.c_str());
    return fail(Status::IoError("cannot listen on " + path + ": " + Errno(err)));
  }
  std::unique_ptr<ControlServer> server(new ControlServer(loop, std::move(path), std::move(handler),
                                                          options, fd, st.st_dev, st.st_ino));
  ControlServer* self = server.get();
  auto handle = loop.AddFd(fd, EPOLLIN, [self](uint32_t) { self->OnListenReady(); });
  if (!handle.ok()) return handle.status();  // the destructor closes and unlinks
  server->listen_handle_ = *handle;
  return server;
}

ControlServer::ControlServer(EventLoop& loop, std::string path, ControlHandler handler,
                             ControlServerOptions options, int listen_fd, dev_t dev, ino_t ino)
    : loop_(loop),
      path_(std::move(path)),
      handler_(std::move(handler)),
      options_(options),
      listen_fd_(listen_fd),
      socket_dev_(dev),
      socket_ino_(ino) {}

ControlServer::~ControlServer() {
  *self_ = nullptr;
  if (accept_pause_timer_) loop_.CancelTimer(*accept_pause_timer_);
  for (auto& [id, c] : connections_) {
    if (c->idle_timer) loop_.CancelTimer(*c->idle_timer);
    loop_.RemoveFd(c->handle);
    close(c->fd);
  }
  connections_.clear();
  loop_.RemoveFd(listen_handle_);
  close(listen_fd_);
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_) {
    unlink(path_.c_str());
  }
}

void ControlServer::OnListenReady() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      // Out of descriptors or memory: the listen socket would stay readable and spin the loop, so
      // stop watching it for a moment.
      LogError("control", "accept on " + path_ + " failed, pausing: " + Errno(err));
      (void)loop_.ModifyFd(listen_handle_, 0);
      accept_pause_timer_ = loop_.AddTimer(kAcceptPause, [this] {
        accept_pause_timer_.reset();
        (void)loop_.ModifyFd(listen_handle_, EPOLLIN);
      });
      return;
    }
    if (connections_.size() >= options_.max_connections && !EvictIdlest()) {
      std::string line = control::EncodeLine(control::ErrorResponse(Status::Unavailable(
          "too many control connections (" + std::to_string(options_.max_connections) + ")")));
      [[maybe_unused]] ssize_t n = send(fd, line.data(), line.size(), MSG_NOSIGNAL);
      close(fd);
      continue;
    }
    uint64_t id = next_connection_id_++;
    auto c = std::make_unique<Connection>();
    c->id = id;
    c->fd = fd;
    c->interest = EPOLLIN;
    c->last_activity = ++activity_counter_;
    ucred cred{};
    socklen_t cred_len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0) {
      c->peer = ControlPeer{cred.pid, cred.uid, cred.gid};
    }
    auto handle = loop_.AddFd(fd, EPOLLIN, [this, id](uint32_t ev) { OnConnectionReady(id, ev); });
    if (!handle.ok()) {
      LogError("control", "cannot watch a control connection: " + handle.status().message());
      close(fd);
      continue;
    }
    c->handle = *handle;
    Connection& added = *c;
    connections_.emplace(id, std::move(c));
    ArmIdleTimer(id, added);
  }
}

void ControlServer::SetDeferredHandler(std::string cmd, ControlDeferredHandler handler) {
  if (handler) {
    deferred_[std::move(cmd)] = std::move(handler);
  } else {
    deferred_.erase(cmd);
  }
}

bool ControlServer::EvictIdlest() {
  Connection* idlest = nullptr;
  for (auto& [id, c] : connections_) {
    if (c->awaiting_reply) continue;
    if (idlest == nullptr || c->last_activity < idlest->last_activity) idlest = c.get();
  }
  if (idlest == nullptr) return false;
  LogInfo("control", "all " + std::to_string(options_.max_connections) +
                         " control connections in use: closing the one idle longest");
  SayGoodbyeAndClose(idlest->id, Status::Unavailable("closing an idle control connection: all " +
                                                     std::to_string(options_.max_connections) +
                                                     " connections are in use"));
  return true;
}

void ControlServer::ArmIdleTimer(uint64_t id, Connection& c) {
  c.last_activity = ++activity_counter_;
  DisarmIdleTimer(c);
  if (options_.idle_timeout.count() <= 0 || c.awaiting_reply) return;
  c.idle_timer = loop_.AddTimer(options_.idle_timeout, [this, id] { OnIdle(id); });
}

void ControlServer::DisarmIdleTimer(Connection& c) {
  if (c.idle_timer) loop_.CancelTimer(*c.idle_timer);
  c.idle_timer.reset();
}

void ControlServer::OnIdle(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  it->second->idle_timer.reset();
  if (it->second->awaiting_reply) return;
  LogDebug("control", "closing an idle control connection");
  SayGoodbyeAndClose(
      id, Status::Unavailable("closing an idle control connection (no complete request within " +
                              std::to_string(options_.idle_timeout.count()) + " ms)"));
}

void ControlServer::SayGoodbyeAndClose(uint64_t id, const Status& why) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  if (!c.OutputPending() && !c.close_after_flush) {
    std::string line = control::EncodeLine(control::ErrorResponse(why));
    [[maybe_unused]] ssize_t n = send(c.fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  CloseConnection(id);
}

void ControlServer::OnConnectionReady(uint64_t id, uint32_t revents) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  if ((revents & EPOLLERR) != 0 || (c.awaiting_reply && (revents & EPOLLHUP) != 0)) {
    // Nobody is left to read an answer (a deferred one is dropped when it comes).
    CloseConnection(id);
    return;
  }
  if (c.awaiting_reply) {
    UpdateInterest(c);  // nothing to read or write until the answer comes
    return;
  }
  if ((revents & (EPOLLIN | EPOLLHUP)) && !c.close_after_flush && !ReadAvailable(c)) {
    CloseConnection(id);
    return;
  }
  Pump(id);
}

void ControlServer::Pump(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  bool alive = true;
  if (c.OutputPending()) alive = Flush(c);
  if (alive) alive = ProcessLines(id, c);
  bool finished = !c.OutputPending() && !c.awaiting_reply &&
                  (c.close_after_flush || (c.peer_eof && c.line_start == c.in.size()));
  if (!alive || finished) {
    CloseConnection(id);
    return;
  }
  UpdateInterest(c);
}

bool ControlServer::ReadAvailable(Connection& c) {
  size_t budget = kReadBudget;
  while (budget > 0 && !c.peer_eof) {
    // Never buffer more than one line over the limit: ProcessLines() answers the complete lines
    // first, or refuses the one that is too long.
    size_t unconsumed = c.in.size() - c.line_start;
    if (unconsumed > options_.max_request_bytes) break;
    size_t chunk = std::min(std::clamp(unconsumed, kMinReadChunk, kMaxReadChunk),
                            options_.max_request_bytes + 1 - unconsumed);
    size_t old_size = c.in.size();
    c.in.resize(old_size + chunk);
    ssize_t n = read(c.fd, c.in.data() + old_size, chunk);
    int err = errno;
    c.in.resize(old_size + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n > 0) {
      budget -= std::min(budget, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      c.peer_eof = true;
      break;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    if (err == EINTR) continue;
    LogDebug("control", "read from a control client failed: " + Errno(err));
    return false;
  }
  return true;
}

bool ControlServer::Flush(Connection& c) {
  while (c.OutputPending()) {
    ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      c.out_sent += static_cast<size_t>(n);
      if (n > 0) ArmIdleTimer(c.id, c);  // the client is reading: progress
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    if (errno == EINTR) continue;
    LogDebug("control", "write to a control client failed: " + Errno(errno));
    return false;
  }
  c.out_sent = 0;
  if (c.out.capacity() > kKeepCapacity) {
    std::string().swap(c.out);
  } else {
    c.out.clear();
  }
  return true;
}

void ControlServer::Respond(Connection& c, const nlohmann::json& response) {
  c.out += control::EncodeLine(response);
}

bool ControlServer::ProcessLines(uint64_t id, Connection& c) {
  // One request at a time: the next line is looked at only once the previous answer is written,
  // which also stops a client that never reads from growing our output buffer.
  while (!c.OutputPending() && !c.close_after_flush && !c.awaiting_reply) {
    const char* base = c.in.data();
    const void* nl = std::memchr(base + c.scanned, '\n', c.in.size() - c.scanned);
    size_t line_end;
    if (nl != nullptr) {
      line_end = static_cast<size_t>(static_cast<const char*>(nl) - base);
    } else {
      c.scanned = c.in.size();
      size_t partial = c.in.size() - c.line_start;
      if (partial > options_.max_request_bytes) {
        Respond(c, control::ErrorResponse(Status::InvalidArgument(
                       "request too large: a line may hold at most " +
                       std::to_string(options_.max_request_bytes) + " bytes")));
        c.close_after_flush = true;
        return Flush(c);
      }
      // A client that shut down its side after a last line without '\n' still gets its answer.
      if (!c.peer_eof || partial == 0) break;
      line_end = c.in.size();
    }
    if (line_end - c.line_start > options_.max_request_bytes) {
      Respond(c, control::ErrorResponse(Status::InvalidArgument(
                     "request too large: a line may hold at most " +
                     std::to_string(options_.max_request_bytes) + " bytes")));
      c.close_after_flush = true;
      return Flush(c);
    }
    std::string_view line(base + c.line_start, line_end - c.line_start);
    std::optional<nlohmann::json> answer = Answer(id, c, line);
    c.line_start = c.scanned = std::min(line_end + 1, c.in.size());
    ArmIdleTimer(id, c);  // a complete request arrived (no timer while a deferred one runs)
    if (!answer) break;   // a deferred handler answers later (OnDeferredReply)
    Respond(c, *answer);
    if (!Flush(c)) return false;
  }
  // Drop consumed bytes; give back the memory of a big request once it is done.
  if (c.line_start == c.in.size()) {
    if (c.in.capacity() > kKeepCapacity) {
      std::string().swap(c.in);
    } else {
      c.in.clear();
    }
    c.line_start = c.scanned = 0;
  } else if (c.line_start > kMinReadChunk && c.line_start > c.in.size() / 2) {
    c.in.erase(0, c.line_start);
    c.scanned -= c.line_start;
    c.line_start = 0;
  }
  return true;
}

namespace {

nlohmann::json ToResponse(Result<nlohmann::json> result) {
  if (!result.ok()) return control::ErrorResponse(result.status());
  return control::OkResponse(std::move(result).value());
}

}  // namespace

std::optional<nlohmann::json> ControlServer::Answer(uint64_t id, Connection& c,
                                                    std::string_view line) {
  auto request = control::ParseLine(line);
  if (!request.ok()) {
    // Not the parser's message: it quotes the input, which may hold PIN digits.
    LogDebug("control", "malformed request of " + std::to_string(line.size()) + " bytes");
    return control::ErrorResponse(
        Status::InvalidArgument("malformed request: " + request.status().message()));
  }
  auto cmd = request->is_object() ? request->find("cmd") : request->end();
  if (cmd == request->end() || !cmd->is_string()) {
    return control::ErrorResponse(Status::InvalidArgument(
        "malformed request: expected a JSON object with a string \"cmd\", like "
        "{\"cmd\":\"status\"}"));
  }
  std::string name = cmd->get<std::string>();
  if (auto d = deferred_.find(name); d != deferred_.end()) {
    ControlDeferredHandler handler = d->second;  // the handler may change the registrations
    std::weak_ptr<ControlServer*> server = self_;
    ControlReply reply = [server, id](Result<nlohmann::json> result) {
      std::shared_ptr<ControlServer*> alive = server.lock();
      if (alive && *alive != nullptr) (*alive)->OnDeferredReply(id, std::move(result));
    };
    c.awaiting_reply = true;
    c.in_handler = true;
    DisarmIdleTimer(c);
    try {
      handler(std::move(request).value(), c.peer, std::move(reply));
    } catch (const std::exception& e) {
      c.in_handler = c.awaiting_reply = false;
      c.early_reply.reset();
      LogError("control", "command '" + name + "' threw: " + e.what());
      return control::ErrorResponse(
          Status::Internal("command '" + name + "' failed: internal error: " + e.what()));
    } catch (...) {
      c.in_handler = c.awaiting_reply = false;
      c.early_reply.reset();
      LogError("control", "command '" + name + "' threw a non-std exception");
      return control::ErrorResponse(
          Status::Internal("command '" + name + "' failed: internal error"));
    }
    c.in_handler = false;
    if (!c.early_reply) return std::nullopt;
    c.awaiting_reply = false;
    Result<nlohmann::json> early = std::move(*c.early_reply);
    c.early_reply.reset();
    return ToResponse(std::move(early));
  }
  try {
    return ToResponse(handler_(*request));
  } catch (const std::exception& e) {
    LogError("control", "command '" + name + "' threw: " + e.what());
    return control::ErrorResponse(
        Status::Internal("command '" + name + "' failed: internal error: " + e.what()));
  } catch (...) {
    LogError("control", "command '" + name + "' threw a non-std exception");
    return control::ErrorResponse(
        Status::Internal("command '" + name + "' failed: internal error"));
  }
}

void ControlServer::OnDeferredReply(uint64_t id, Result<nlohmann::json> result) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;  // the client hung up meanwhile
  Connection& c = *it->second;
  if (!c.awaiting_reply) return;  // answered already
  if (c.in_handler) {
    c.early_reply = std::move(result);
    return;
  }
  c.awaiting_reply = false;
  Respond(c, ToResponse(std::move(result)));
  ArmIdleTimer(id, c);
  Pump(id);
}

void ControlServer::UpdateInterest(Connection& c) {
  uint32_t wanted = 0;
  if (c.awaiting_reply) {
    // Neither read nor write until the answer: further requests wait in the socket.
  } else if (c.OutputPending()) {
    wanted |= EPOLLOUT;
  } else if (!c.peer_eof && !c.close_after_flush) {
    wanted |= EPOLLIN;
  }
  if (wanted == c.interest) return;
  Status st = loop_.ModifyFd(c.handle, wanted);
  if (!st.ok()) {
    LogError("control", "cannot update a control connection: " + st.message());
    return;
  }
  c.interest = wanted;
}

void ControlServer::CloseConnection(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  if (it->second->idle_timer) loop_.CancelTimer(*it->second->idle_timer);
  loop_.RemoveFd(it->second->handle);
  close(it->second->fd);
  connections_.erase(it);
}

}  // namespace lintel
