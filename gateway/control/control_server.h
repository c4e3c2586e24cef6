// ControlServer: the daemon's side of the control socket that `lintelctl` talks to.
//
// Protocol (README.md): newline-delimited JSON over a Unix stream socket; every request line gets
// exactly one response line, in order. The server is driven entirely by the EventLoop it is given:
// non-blocking accept, one input and one output buffer per connection, no threads of its own. Many
// clients may be connected at once; a client that sends half a request does not hold up the others.
//
// Threads. Create(), the destructor and every handler call happen on the loop thread (or while the
// loop is not running). The handler runs synchronously on the loop thread, so it may touch core
// state directly; it must not block for long (the doors wait) and must not destroy the server.
//
// Errors the client sees (ok:false, with "code"):
//   - the line is not JSON, nests deeper than control::kMaxNestingDepth, or is not an object with a
//     string "cmd": InvalidArgument "malformed request: ..."; the connection stays usable;
//   - the line is longer than max_request_bytes: InvalidArgument "request too large ..."; the
//     connection is closed after the answer (the rest of the line is never read);
//   - the handler returned a Status: that Status' message and code;
//   - the handler threw: Internal "command '<cmd>' failed: internal error: <what>", logged too.
#pragma once

#include <sys/types.h>

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

struct ControlServerOptions {
  // Longest accepted request line, newline excluded.
  size_t max_request_bytes = control::kMaxLineBytes;
  // Connections beyond this are answered "too many control connections" and closed at once.
  size_t max_connections = 32;
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

  const std::string& path() const { return path_; }
  size_t connection_count() const { return connections_.size(); }

 private:
  struct Connection;

  ControlServer(EventLoop& loop, std::string path, ControlHandler handler,
                ControlServerOptions options, int listen_fd, dev_t dev, ino_t ino);
  void OnListenReady();
  void OnConnectionReady(uint64_t id, uint32_t revents);
  bool ReadAvailable(Connection& c);
  bool Flush(Connection& c);
  bool ProcessLines(Connection& c);
  void Respond(Connection& c, const nlohmann::json& response);
  nlohmann::json Answer(std::string_view line);
  void UpdateInterest(Connection& c);
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
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
};

}  // namespace lintel
