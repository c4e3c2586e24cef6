// ControlClient: the `lintelctl` side of the control socket (protocol: README.md).
//
// A connected client sends one request at a time and waits for its one response line. It owns its
// socket; movable, not copyable. Not thread-safe: one thread uses a client at a time (a CLI needs
// no more). Never raises SIGPIPE (writes use MSG_NOSIGNAL).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "gateway/base/status.h"

namespace lintel {

class ControlClient {
 public:
  // Connects to the server listening on `path`. Errors, each naming the path:
  //   - Unavailable "cannot connect to <path>: No such file or directory (is lintel running?)", and
  //     the same with "Connection refused" for a stale socket file;
  //   - Unavailable "... Resource temporarily unavailable (lintel is busy; try again)" when the
  //     listen backlog is full;
  //   - IoError "... Permission denied (is your user in group lintel?)";
  //   - InvalidArgument when `path` does not fit a sockaddr_un; IoError for anything else.
  static Result<ControlClient> Connect(const std::string& path);

  ControlClient(ControlClient&& other) noexcept;
  ControlClient& operator=(ControlClient&& other) noexcept;
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  ~ControlClient();

  // Sends `request` (normally {"cmd":"...", ...}) and waits up to `timeout` in total for the
  // answer. Returns the response's "result" (null when absent) when the server answered ok:true.
  // Errors:
  //   - the server answered ok:false: a Status with the server's code (Internal if it sent none
  //     this client knows) and its message verbatim; the connection stays usable;
  //   - Unavailable "no answer from lintel on <path> within N ms" on timeout;
  //   - Unavailable "lintel closed the connection ..." when the server hung up without answering;
  //   - Internal "malformed response ..." when the answer is not a protocol response, or exceeds
  //     control::kMaxResponseBytes; IoError when the socket fails;
  //   - FailedPrecondition when an earlier call failed in one of these transport ways: the stream
  //     may be out of step, so the client refuses further calls (connect again).
  Result<nlohmann::json> Call(const nlohmann::json& request, std::chrono::milliseconds timeout);

  // False after a transport error (see Call()); connect again to continue.
  bool usable() const { return fd_ >= 0 && !broken_; }
  const std::string& path() const { return path_; }

 private:
  ControlClient(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status SendAll(const std::string& data, std::chrono::steady_clock::time_point deadline,
                 bool* peer_closed);
  Result<std::string> ReceiveLine(std::chrono::steady_clock::time_point deadline,
                                  std::chrono::milliseconds timeout);

  int fd_ = -1;
  std::string path_;
  std::string buffer_;  // bytes received past the last response line
  bool broken_ = false;
};

}  // namespace lintel
