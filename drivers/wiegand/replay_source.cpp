#include "drivers/wiegand/replay_source.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

namespace lintel::wiegand {
namespace {

Status Bad(size_t line_no, std::string_view why) {
  return Status::InvalidArgument("replay datagram: line " + std::to_string(line_no) + ": " +
                                 std::string(why));
}

int64_t Ns(const Clock& c) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(c.Monotonic().time_since_epoch())
      .count();
}

}  // namespace

Result<std::vector<ReplayStep>> ParseReplayDatagram(std::string_view text) {
  if (text.size() > kMaxReplayDatagram) {
    return Status::InvalidArgument("replay datagram: longer than " +
                                   std::to_string(kMaxReplayDatagram) + " bytes");
  }
  std::vector<ReplayStep> steps;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.size() < 3 || (line[0] != '0' && line[0] != '1') || line[1] != ' ') {
      return Bad(line_no, "expected \"0 <delta_us>\" or \"1 <delta_us>\"");
    }
    std::string_view num = line.substr(2);
    int64_t delta = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), delta);
    if (ec != std::errc{} || end != num.data() + num.size() || delta < 0) {
      return Bad(line_no, "delta is not a decimal number of microseconds");
    }
    if (delta > kMaxReplayDeltaUs) {
      return Bad(line_no, "delta above " + std::to_string(kMaxReplayDeltaUs) + " us");
    }
    if (steps.size() == kMaxReplayEdges) {
      return Bad(line_no, "more than " + std::to_string(kMaxReplayEdges) + " edges");
    }
    steps.push_back({line[0] == '0' ? Line::kD0 : Line::kD1, delta});
  }
  if (steps.empty()) return Status::InvalidArgument("replay datagram: no edges");
  return steps;
}

std::vector<Edge> AnchorReplay(std::span<const ReplayStep> steps, int64_t receipt_ns,
                               int64_t prev_last_ns) {
  std::vector<Edge> out;
  if (steps.empty()) return out;
  int64_t span_ns = 0;
  for (size_t i = 1; i < steps.size(); ++i) span_ns += steps[i].delta_us * 1000;
  int64_t t = receipt_ns - span_ns;
  if (prev_last_ns != std::numeric_limits<int64_t>::min()) {
    t = std::max(t, prev_last_ns + steps[0].delta_us * 1000);
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i > 0) t += steps[i].delta_us * 1000;
    out.push_back({steps[i].line, t});
  }
  return out;
}

std::string FormatReplayDatagram(std::span<const Edge> edges, int64_t first_delta_us) {
  std::string out;
  for (size_t i = 0; i < edges.size(); ++i) {
    int64_t d = i == 0 ? first_delta_us : (edges[i].t_ns - edges[i - 1].t_ns) / 1000;
    out += edges[i].line == Line::kD0 ? "0 " : "1 ";
    out += std::to_string(d);
    out += '\n';
  }
  return out;
}

Result<std::unique_ptr<ReplayEdgeSource>> ReplayEdgeSource::Open(
    EventLoop& loop, const Clock& clock, ReplayConfig config, OnEdges on_edges, OnError on_error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (config.socket_path.empty() || config.socket_path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("replay socket path \"" + config.socket_path +
                                   "\": empty or longer than " +
                                   std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, config.socket_path.c_str(), config.socket_path.size() + 1);
  struct stat st {};
  if (::lstat(config.socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::AlreadyExists(config.socket_path + ": exists and is not a socket");
    }
    ::unlink(config.socket_path.c_str());  // a stale socket of a previous run
  }
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError(config.socket_path + ": socket: " + std::strerror(errno));
  auto fail = [&](const char* what) {
    Status s = Status::IoError(config.socket_path + ": " + what + ": " + std::strerror(errno));
    ::close(fd);
    return s;
  };
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return fail("bind");
  if (::chmod(config.socket_path.c_str(), config.mode) != 0) {
    Status s = fail("chmod");
    ::unlink(config.socket_path.c_str());
    return s;
  }
  std::unique_ptr<ReplayEdgeSource> s(new ReplayEdgeSource(
      loop, clock, std::move(config), fd, std::move(on_edges), std::move(on_error)));
  Result<EventLoop::FdHandle> h =
      loop.AddFd(fd, EPOLLIN, [raw = s.get()](uint32_t) { raw->OnReadable(); });
  if (!h.ok()) return h.status();  // the destructor closes and unlinks
  s->handle_ = *h;
  return s;
}

ReplayEdgeSource::ReplayEdgeSource(EventLoop& loop, const Clock& clock, ReplayConfig config, int fd,
                                   OnEdges on_edges, OnError on_error)
    : loop_(loop),
      clock_(clock),
      config_(std::move(config)),
      fd_(fd),
      on_edges_(std::move(on_edges)),
      on_error_(std::move(on_error)),
      last_ns_(std::numeric_limits<int64_t>::min()) {}

ReplayEdgeSource::~ReplayEdgeSource() {
  loop_.RemoveFd(handle_);
  ::close(fd_);
  ::unlink(config_.socket_path.c_str());
}

void ReplayEdgeSource::OnReadable() {
  // One more byte than allowed, so an oversized datagram is detected rather than truncated.
  char buf[kMaxReplayDatagram + 1];
  for (int i = 0; i < 64; ++i) {  // bounded: let other fds run under a flood
    ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      ++counters_.errors;
      if (on_error_)
        on_error_(Status::IoError(config_.socket_path + ": recv: " + std::strerror(errno)));
      return;
    }
    Result<std::vector<ReplayStep>> steps =
        static_cast<size_t>(n) > kMaxReplayDatagram
            ? Result<std::vector<ReplayStep>>(Status::InvalidArgument(
                  "replay datagram: longer than " + std::to_string(kMaxReplayDatagram) + " bytes"))
            : ParseReplayDatagram(std::string_view(buf, static_cast<size_t>(n)));
    if (!steps.ok()) {
      ++counters_.errors;
      if (on_error_) on_error_(steps.status());
      continue;
    }
    std::vector<Edge> edges = AnchorReplay(*steps, Ns(clock_), last_ns_);
    last_ns_ = edges.back().t_ns;
    ++counters_.batches;
    counters_.edges += edges.size();
    if (on_edges_) on_edges_(edges);
  }
}

}  // namespace lintel::wiegand
