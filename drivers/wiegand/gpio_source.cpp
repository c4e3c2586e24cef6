#include "drivers/wiegand/gpio_source.h"

#include <gpiod.h>
#include <poll.h>
#include <sys/epoll.h>

#include <cerrno>
#include <cstring>

namespace lintel::wiegand {

std::vector<Edge> MergeEdges(std::span<const Edge> d0, std::span<const Edge> d1) {
  std::vector<Edge> out;
  out.reserve(d0.size() + d1.size());
  size_t i = 0, j = 0;
  while (i < d0.size() || j < d1.size()) {
    if (j == d1.size() || (i < d0.size() && d0[i].t_ns <= d1[j].t_ns)) {
      out.push_back(d0[i++]);
    } else {
      out.push_back(d1[j++]);
    }
  }
  return out;
}

int64_t EventNs(int64_t sec, int64_t nsec) { return sec * 1'000'000'000 + nsec; }

namespace {
std::string ChipName(const GpioEdgeConfig& c) { return "gpio chip \"" + c.chip + "\""; }
}  // namespace

Result<std::unique_ptr<GpioEdgeSource>> GpioEdgeSource::Open(EventLoop& loop, GpioEdgeConfig config,
                                                             OnEdges on_edges, OnError on_error) {
  if (config.d0_offset == config.d1_offset) {
    return Status::InvalidArgument(ChipName(config) + ": D0 and D1 are the same line " +
                                   std::to_string(config.d0_offset));
  }
  std::unique_ptr<GpioEdgeSource> s(
      new GpioEdgeSource(loop, config, std::move(on_edges), std::move(on_error)));
  errno = 0;
  s->chip_ = gpiod_chip_open_lookup(config.chip.c_str());
  if (s->chip_ == nullptr) {
    int e = errno != 0 ? errno : ENOENT;
    return Status::IoError(ChipName(config) + ": cannot open: " + std::strerror(e));
  }
  for (auto [offset, slot] :
       {std::pair{config.d0_offset, &s->d0_}, std::pair{config.d1_offset, &s->d1_}}) {
    gpiod_line* line = gpiod_chip_get_line(s->chip_, offset);
    if (line == nullptr) {
      return Status::IoError(ChipName(config) + " line " + std::to_string(offset) +
                             ": no such line: " + std::strerror(errno));
    }
    if (gpiod_line_request_falling_edge_events(line, config.consumer.c_str()) != 0) {
      return Status::IoError(ChipName(config) + " line " + std::to_string(offset) +
                             ": cannot request falling edges: " + std::strerror(errno));
    }
    *slot = line;
  }
  for (gpiod_line* line : {s->d0_, s->d1_}) {
    Result<EventLoop::FdHandle> h = loop.AddFd(gpiod_line_event_get_fd(line), EPOLLIN,
                                               [raw = s.get()](uint32_t) { raw->OnReadable(); });
    if (!h.ok()) return h.status();
    s->handles_.push_back(*h);
  }
  return s;
}

GpioEdgeSource::GpioEdgeSource(EventLoop& loop, GpioEdgeConfig config, OnEdges on_edges,
                               OnError on_error)
    : loop_(loop),
      config_(std::move(config)),
      on_edges_(std::move(on_edges)),
      on_error_(std::move(on_error)) {}

GpioEdgeSource::~GpioEdgeSource() {
  for (EventLoop::FdHandle h : handles_) loop_.RemoveFd(h);
  if (d0_ != nullptr) gpiod_line_release(d0_);
  if (d1_ != nullptr) gpiod_line_release(d1_);
  if (chip_ != nullptr) gpiod_chip_close(chip_);
}

// Reads what is queued on one line without blocking (the v1 event fd is a blocking fd).
Status GpioEdgeSource::Drain(gpiod_line* line, Line which, std::vector<Edge>& out) {
  pollfd p{gpiod_line_event_get_fd(line), POLLIN, 0};
  // Bounded: a line stuck toggling cannot keep us here (the loop comes back to it).
  for (int round = 0; round < 4 && ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN); ++round) {
    gpiod_line_event events[kBatch];
    int n = gpiod_line_event_read_multiple(line, events, kBatch);
    if (n < 0) {
      return Status::IoError(ChipName(config_) + " line " +
                             std::to_string(gpiod_line_offset(line)) +
                             ": cannot read events: " + std::strerror(errno));
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].event_type != GPIOD_LINE_EVENT_FALLING_EDGE) continue;
      out.push_back({which, EventNs(events[i].ts.tv_sec, events[i].ts.tv_nsec)});
    }
  }
  return Status::Ok();
}

void GpioEdgeSource::OnReadable() {
  std::vector<Edge> d0, d1;
  for (auto [line, which, out] :
       {std::tuple{d0_, Line::kD0, &d0}, std::tuple{d1_, Line::kD1, &d1}}) {
    Status st = Drain(line, which, *out);
    if (!st.ok()) {
      ++counters_.errors;
      if (on_error_) on_error_(st);
    }
  }
  std::vector<Edge> merged = MergeEdges(d0, d1);
  if (merged.empty()) return;
  ++counters_.batches;
  counters_.edges += merged.size();
  if (on_edges_) on_edges_(merged);
}

}  // namespace lintel::wiegand
