// ControlServer: the daemon's side of the control socket that `lintelctl` talks to.
//
// Protocol (README.md): newline-delimited JSON over a Unix stream socket; every request line gets
// exactly one response line, in order. The server is driven entirely by the EventLoop it is given:
// non-blocking accept, one input and one output buffer per connection, no threads of its own. Many
// clients may be connected at once; a client that sends half a request does not hold up the others.
//
// Threads. Create(), the destructor, SetDeferredHandler() and every handler call happen on the loop
// thread (or while the loop is not running). The handler runs synchronously on the loop thread, so
// it may touch core state directly; it must not block for long (the doors wait) and must not
// destroy the server. Slow commands (a state import) are registered with SetDeferredHandler(): the
// handler starts the work elsewhere and answers later through a ControlReply.
//
// Limits (ControlServerOptions): a request line holds at most max_request_bytes, and no more than
// that (plus one read chunk) is buffered per connection; at most max_connections connections; a
// connection that has not completed a request line, or made no progress reading its answer, for
// idle_timeout is closed. When every slot is taken, a new connection evicts the connection that
// has been idle longest (one not waiting for a deferred answer); if every connection is waiting
// for one, the new connection is refused.
//
// Errors the client sees (ok:false, with "code"):
//   - the line is not JSON, nests deeper than control::kMaxNestingDepth, or is not an object with a
//     string "cmd": InvalidArgument "malformed request: ..."; the connection stays usable;
//   - the line is longer than max_request_bytes: InvalidArgument "request too large ..."; the
//     connection is closed after the answer (the rest of the line is never read);
//   - the handler returned a Status: that Status' message and code;
//   - the handler threw: Internal "command '<cmd>' failed: internal error: <what>", logged too;
//   - idle for idle_timeout: Unavailable "closing an idle control connection (no complete request
//     within N ms)", then closed (best effort: not sent while an answer is still unread);
//   - evicted for a new connection: Unavailable "closing an idle control connection: all N
//     connections are in use", then closed;
//   - every connection busy: Unavailable "too many control connections (N)" to the new one, closed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"
#include "gateway/control/protocol.h"

namespace lintel {

// Answers one request. `request` is a JSON object whose "cmd" is a string (already checked). The
// handler returns the "result" value or a non-OK Status that becomes {"ok":false,...}. It should
// not throw (a throw is caught and answered as Internal).
using ControlHandler = std::function<Result<nlohmann::json>(const nlohmann::json& request)>;

// Who is on the other end of a connection, from SO_PEERCRED at accept (the kernel's word, not the
// client's). A deferred handler uses it to act only as the caller may (e.g. read only files the
// caller may read).
struct ControlPeer {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

// The answer to a deferred request. Call it once, on the loop thread, with the result or a non-OK
// Status (answered as for ControlHandler). Calling it after the client hung up, or after the server
// was destroyed, does nothing. Until it is called the connection reads no further requests and is
// exempt from the idle timeout, so a handler that never answers holds that connection.
using ControlReply = std::function<void(Result<nlohmann::json> result)>;

// Starts a slow command: `request` is as for ControlHandler (moved in). Runs on the loop thread and
// must return quickly; the work runs elsewhere and `reply` is called later. A throw is answered as
// Internal (and `reply` must then not be called).
using ControlDeferredHandler =
    std::function<void(nlohmann::json request, const ControlPeer& peer, ControlReply reply)>;

struct ControlServerOptions {
  // Longest accepted request line, newline excluded.
  size_t max_request_bytes = control::kMaxRequestBytes;
  // Slots. When all are taken, a new connection evicts the one idle longest; when every one waits
  // for a deferred answer, the new one is answered "too many control connections" and closed.
  size_t max_connections = 32;
  // A connection is closed when it has been waiting this long for a complete request line (bytes
  // of an incomplete line do not count), or for the client to read any of its answer. Zero: never.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(10);
  // Applied with chmod() after bind() and before listen(), so the umask (UMask=0077 in the unit)
  // never decides who may connect. 0660: the lintel user and members of its group.
  mode_t socket_mode = 0660;
};

class ControlServer {
 public:
  // Binds `path`, applies the mode, listens and registers with `loop`. `loop` must outlive the
  // server. If `path` exists:
  //   - a socket with a live listener: FailedPrecondition "another process is listening on <path>
  //     (is lintel already running?)";
  //   - a socket nobody listens on (left by a crash): removed and replaced;
  //   - anything else: FailedPrecondition "<path> exists and is not a socket ...", left untouched.
  // Other errors: InvalidArgument when `path` does not fit a sockaddr_un (107 bytes); IoError when
  // socket/bind/chmod/listen fail (e.g. the directory is missing: "... (does <dir> exist?)"), or
  // from EventLoop::AddFd().
  static Result<std::unique_ptr<ControlServer>> Create(EventLoop& loop, std::string path,
                                                       ControlHandler handler,
                                                       ControlServerOptions options = {});

  // Closes every connection (answers not yet written are dropped), stops listening and removes the
  // socket file if it is still the one this server created.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Answers requests whose "cmd" is `cmd` through `handler` instead of the ControlHandler. Replaces
  // an earlier registration for the same name; a null handler removes it.
  void SetDeferredHandler(std::string cmd, ControlDeferredHandler handler);

  const std::string& path() const { return path_; }
  size_t connection_count() const { return connections_.size(); }

 private:
  struct Connection;

  ControlServer(EventLoop& loop, std::string path, ControlHandler handler,
                ControlServerOptions options, int listen_fd, dev_t dev, ino_t ino);
  void OnListenReady();
  void OnConnectionReady(uint64_t id, uint32_t revents);
  // After anything happened on a connection: writes, answers further lines, closes when done.
  void Pump(uint64_t id);
  bool ReadAvailable(Connection& c);
  bool Flush(Connection& c);
  bool ProcessLines(uint64_t id, Connection& c);
  void Respond(Connection& c, const nlohmann::json& response);
  // The answer to one line, or nullopt when a deferred handler took it (the answer comes later).
  std::optional<nlohmann::json> Answer(uint64_t id, Connection& c, std::string_view line);
  void OnDeferredReply(uint64_t id, Result<nlohmann::json> result);
  void UpdateInterest(Connection& c);
  void ArmIdleTimer(uint64_t id, Connection& c);
  void DisarmIdleTimer(Connection& c);
  void OnIdle(uint64_t id);
  // Frees a slot for a new connection by closing the one idle longest; false when all are busy.
  bool EvictIdlest();
  // Sends a last error line without blocking (dropped if it does not fit) and closes.
  void SayGoodbyeAndClose(uint64_t id, const Status& why);
  void CloseConnection(uint64_t id);

  EventLoop& loop_;
  const std::string path_;
  const ControlHandler handler_;
  const ControlServerOptions options_;
  const int listen_fd_;
  const dev_t socket_dev_;  // identity of the socket file we bound, so we never unlink another's
  const ino_t socket_ino_;
  EventLoop::FdHandle listen_handle_{};
  std::optional<EventLoop::TimerId> accept_pause_timer_;
  uint64_t next_connection_id_ = 1;
  uint64_t activity_counter_ = 0;  // orders connections by their last activity, for eviction
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::unordered_map<std::string, ControlDeferredHandler> deferred_;
  // Deferred replies hold a weak reference: once the server is gone they do nothing.
  std::shared_ptr<ControlServer*> self_ = std::make_shared<ControlServer*>(this);
};

}  // namespace lintel
