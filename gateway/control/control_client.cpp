#include "gateway/control/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "gateway/control/protocol.h"

namespace lintel {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// Milliseconds left until `deadline`, rounded up, for poll().
int RemainingMs(SteadyTime deadline) {
  auto left = deadline - std::chrono::steady_clock::now();
  if (left <= SteadyTime::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

}  // namespace

Result<ControlClient> ControlClient::Connect(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("control socket path must be 1.." +
                                   std::to_string(sizeof(addr.sun_path) - 1) + " bytes: " + path);
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError("cannot create a socket: " + std::string(strerror(errno)));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    std::string message = "cannot connect to " + path + ": " + strerror(err);
    switch (err) {
      case ENOENT:
      case ECONNREFUSED:
        return Status::Unavailable(message + " (is lintel running?)");
      case EAGAIN:
        return Status::Unavailable(message + " (lintel is busy; try again)");
      case EACCES:
      case EPERM:
        return Status::IoError(message + " (is your user in group lintel?)");
      default:
        return Status::IoError(message);
    }
  }
  return ControlClient(fd, path);
}

ControlClient::ControlClient(ControlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      buffer_(std::move(other.buffer_)),
      broken_(other.broken_) {}

ControlClient& ControlClient::operator=(ControlClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    buffer_ = std::move(other.buffer_);
    broken_ = other.broken_;
  }
  return *this;
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) close(fd_);
}

Status ControlClient::SendAll(const std::string& data, SteadyTime deadline, bool* peer_closed) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EPIPE || errno == ECONNRESET) {
      *peer_closed = true;  // it may still have said why: the caller reads the answer
      return Status::Ok();
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Status::IoError("cannot send to " + path_ + ": " + strerror(errno));
    }
    pollfd pfd{fd_, POLLOUT, 0};
    int r = poll(&pfd, 1, RemainingMs(deadline));
    if (r == 0) return Status::Unavailable("timeout");
    if (r < 0 && errno != EINTR) return Status::IoError("poll: " + std::string(strerror(errno)));
  }
  return Status::Ok();
}

Result<std::string> ControlClient::ReceiveLine(SteadyTime deadline,
                                               std::chrono::milliseconds timeout) {
  size_t scanned = 0;
  for (;;) {
    if (auto nl = buffer_.find('\n', scanned); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    scanned = buffer_.size();
    if (buffer_.size() > control::kMaxResponseBytes) {
      return Status::Internal("malformed response from lintel: longer than " +
                              std::to_string(control::kMaxResponseBytes) + " bytes");
    }
    char chunk[64 * 1024];
    ssize_t n = recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0 || errno == ECONNRESET) {
      return Status::Unavailable("lintel closed the connection on " + path_ + " without answering");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Status::IoError("cannot receive from " + path_ + ": " + strerror(errno));
    }
    pollfd pfd{fd_, POLLIN, 0};
    int r = poll(&pfd, 1, RemainingMs(deadline));
    if (r == 0) {
      return Status::Unavailable("no answer from lintel on " + path_ + " within " +
                                 std::to_string(timeout.count()) + " ms");
    }
    if (r < 0 && errno != EINTR) return Status::IoError("poll: " + std::string(strerror(errno)));
  }
}

Result<nlohmann::json> ControlClient::Call(const nlohmann::json& request,
                                           std::chrono::milliseconds timeout) {
  if (fd_ < 0) return Status::FailedPrecondition("not connected");
  if (broken_) {
    return Status::FailedPrecondition("the connection to " + path_ +
                                      " failed earlier and may be out of step; connect again");
  }
  SteadyTime deadline = std::chrono::steady_clock::now() + timeout;
  // Any transport failure below leaves the stream in an unknown place.
  broken_ = true;
  bool peer_closed = false;
  Status sent = SendAll(control::EncodeLine(request), deadline, &peer_closed);
  if (!sent.ok()) {
    if (sent.code() == StatusCode::kUnavailable) {
      return Status::Unavailable("no answer from lintel on " + path_ + " within " +
                                 std::to_string(timeout.count()) + " ms (request not fully sent)");
    }
    return sent;
  }
  auto line = ReceiveLine(deadline, timeout);
  if (!line.ok()) return line.status();
  auto response = control::ParseLine(*line);
  if (!response.ok()) {
    return Status::Internal("malformed response from lintel: " + response.status().message());
  }
  auto ok = response->find("ok");
  if (!response->is_object() || ok == response->end() || !ok->is_boolean()) {
    return Status::Internal("malformed response from lintel: no boolean \"ok\"");
  }
  if (!peer_closed) broken_ = false;  // one line answered one request: still in step
  if (ok->get<bool>()) {
    auto result = response->find("result");
    return result == response->end() ? nlohmann::json() : std::move(*result);
  }
  auto error = response->find("error");
  std::string message = error != response->end() && error->is_string()
                            ? error->get<std::string>()
                            : "lintel reported an error without a message";
  StatusCode code = StatusCode::kInternal;
  if (auto c = response->find("code"); c != response->end() && c->is_string()) {
    code = control::StatusCodeFromName(c->get<std::string>()).value_or(StatusCode::kInternal);
  }
  if (code == StatusCode::kOk) code = StatusCode::kInternal;
  return Status(code, std::move(message));
}

}  // namespace lintel
