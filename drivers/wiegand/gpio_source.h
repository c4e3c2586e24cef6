// Edge sources: where a Wiegand reader's falling edges come from, and the libgpiod one.
//
// An EdgeSource delivers falling edges on D0/D1, with CLOCK_MONOTONIC timestamps in nanoseconds,
// in batches already merged in timestamp order, to a callback on the core loop's thread. The
// WiegandReader (reader.h) consumes them; GpioEdgeSource reads real GPIO lines, ReplayEdgeSource
// (replay_source.h) reads edge timings from a socket for the simulator and the demo.
//
// Threads: every member is called on the loop thread (or while the loop is not running); callbacks
// run on the loop thread. Ownership: a source owns its fds and unregisters them from the loop in
// its destructor; the loop must outlive the source. Errors while running (a failed read) are
// counted and passed to on_error; they never throw and never stop the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "drivers/wiegand/frame_assembler.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/status.h"

struct gpiod_chip;
struct gpiod_line;

namespace lintel::wiegand {

struct Edge {
  Line line = Line::kD0;
  int64_t t_ns = 0;  // CLOCK_MONOTONIC (the clock of EventLoop timers and Clock::Monotonic())

  friend bool operator==(const Edge&, const Edge&) = default;
};

struct EdgeSourceCounters {
  uint64_t batches = 0;  // callbacks delivered
  uint64_t edges = 0;
  uint64_t errors = 0;  // read failures (gpio) or rejected messages (replay)
};

class EdgeSource {
 public:
  // `edges` is valid only during the call, in non-decreasing t_ns order, never empty.
  using OnEdges = std::function<void(std::span<const Edge> edges)>;
  using OnError = std::function<void(const Status&)>;

  virtual ~EdgeSource() = default;
  virtual const EdgeSourceCounters& counters() const = 0;
};

// Merges two per-line batches (each in non-decreasing t_ns order, as the kernel queues them) into
// one in t_ns order. Ties keep D0 before D1 (an overlap either way: FrameAssembler flags it).
// Pure.
std::vector<Edge> MergeEdges(std::span<const Edge> d0, std::span<const Edge> d1);

// A gpiod event timestamp (ts_sec, ts_nsec) as nanoseconds.
int64_t EventNs(int64_t sec, int64_t nsec);

struct GpioEdgeConfig {
  std::string chip = "gpiochip0";  // name, number, label or path (gpiod_chip_open_lookup)
  unsigned d0_offset = 0;
  unsigned d1_offset = 1;
  std::string consumer = "lintel";
};

// Falling-edge events of D0 and D1 through libgpiod 1.6 (the v1 character-device ABI). Both event
// fds are registered with the loop; when either is readable, both lines are drained (at most
// kBatch events per read, the size of the kernel's per-line queue), merged by timestamp and
// delivered as one batch.
class GpioEdgeSource final : public EdgeSource {
 public:
  static constexpr int kBatch = 16;

  // Opens the chip, requests falling-edge events on both offsets and registers the fds.
  // Errors: IoError naming the chip ("gpio chip \"gpiochip0\": cannot open: No such file or
  // directory"), the line ("gpio chip \"gpiochip0\" line 17: cannot request falling edges: Device
  // or resource busy"); InvalidArgument when d0_offset == d1_offset; loop errors from AddFd.
  static Result<std::unique_ptr<GpioEdgeSource>> Open(EventLoop& loop, GpioEdgeConfig config,
                                                      OnEdges on_edges, OnError on_error);
  ~GpioEdgeSource() override;  // unregisters the fds, releases the lines, closes the chip
  GpioEdgeSource(const GpioEdgeSource&) = delete;
  GpioEdgeSource& operator=(const GpioEdgeSource&) = delete;

  const EdgeSourceCounters& counters() const override { return counters_; }

 private:
  GpioEdgeSource(EventLoop& loop, GpioEdgeConfig config, OnEdges on_edges, OnError on_error);
  void OnReadable();
  Status Drain(gpiod_line* line, Line which, std::vector<Edge>& out);

  EventLoop& loop_;
  GpioEdgeConfig config_;
  OnEdges on_edges_;
  OnError on_error_;
  gpiod_chip* chip_ = nullptr;
  gpiod_line* d0_ = nullptr;
  gpiod_line* d1_ = nullptr;
  std::vector<EventLoop::FdHandle> handles_;
  EdgeSourceCounters counters_;
};

}  // namespace lintel::wiegand
