// ReplayEdgeSource: Wiegand edge timings fed over a Unix datagram socket, for the simulator and
// the demo (no GPIO needed). The reader behind it cannot tell it from GpioEdgeSource.
//
// Wire format: one datagram = one burst (normally one frame), ASCII text, one edge per line:
//     "<line> <delta_us>\n"
// <line> is 0 (D0 falling edge, a 0 bit) or 1 (D1, a 1 bit); <delta_us> is the decimal number of
// microseconds since the previous edge (0..kMaxDeltaUs). Lines end with LF (a CR before it is
// allowed); the last LF may be missing; empty lines are skipped. At most kMaxEdges edges and
// kMaxDatagram bytes. Example, H10301 FC 101 CN 251 at 2 ms per bit:
//     "0 0\n0 2000\n0 2000\n0 2000\n1 2000\n1 2000\n..."
//
// Timestamps: the source anchors the burst at its receipt time, as if the edges had just happened:
// the last edge gets the receipt time (clock.Monotonic()), the earlier ones are placed back by the
// deltas, so frame assembly sees the sender's intervals and the silence after the burst runs from
// receipt. The first delta only matters against the previous burst: when placing the burst back
// would put its first edge earlier than previous last edge + first delta, the whole burst moves
// later, so timestamps never go backwards.
//
// Bad input (unknown line digit, missing or non-numeric delta, delta too large, too many edges,
// oversized datagram) rejects the whole datagram: counted in counters().errors and reported to
// on_error as InvalidArgument "replay datagram: line 3: ..." (printable characters only). Never
// crashes, never delivers part of a bad datagram.
//
// Threads and ownership as for every EdgeSource (gpio_source.h): loop thread only; the source owns
// its socket and unlinks its path on destruction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "drivers/wiegand/gpio_source.h"
#include "gateway/base/clock.h"

namespace lintel::wiegand {

struct ReplayStep {
  Line line = Line::kD0;
  int64_t delta_us = 0;

  friend bool operator==(const ReplayStep&, const ReplayStep&) = default;
};

inline constexpr size_t kMaxReplayEdges = 256;
inline constexpr size_t kMaxReplayDatagram = 4096;
inline constexpr int64_t kMaxReplayDeltaUs = 10'000'000;  // 10 s

// Parses one datagram. Errors: InvalidArgument as described above; an empty datagram too.
Result<std::vector<ReplayStep>> ParseReplayDatagram(std::string_view text);

// Timestamps for a parsed burst received at `receipt_ns`, after a previous burst whose last edge
// was at `prev_last_ns` (INT64_MIN when none). Pure.
std::vector<Edge> AnchorReplay(std::span<const ReplayStep> steps, int64_t receipt_ns,
                               int64_t prev_last_ns);

// The inverse for senders (simulator, tests): one datagram for `edges` (in time order), the first
// delta being `first_delta_us`.
std::string FormatReplayDatagram(std::span<const Edge> edges, int64_t first_delta_us = 0);

struct ReplayConfig {
  std::string socket_path;  // bound by the source; a stale socket file there is replaced
  unsigned mode = 0660;     // file mode of the socket (who may send edges)
};

class ReplayEdgeSource final : public EdgeSource {
 public:
  // Binds a SOCK_DGRAM Unix socket at config.socket_path, chmods it and registers it with `loop`.
  // `clock` gives receipt times and must outlive the source (use the loop's clock).
  // Errors: InvalidArgument for an empty or too long path; AlreadyExists when something that is not
  // a socket is at the path; IoError naming the path when socket/bind/chmod fail.
  static Result<std::unique_ptr<ReplayEdgeSource>> Open(EventLoop& loop, const Clock& clock,
                                                        ReplayConfig config, OnEdges on_edges,
                                                        OnError on_error);
  ~ReplayEdgeSource() override;
  ReplayEdgeSource(const ReplayEdgeSource&) = delete;
  ReplayEdgeSource& operator=(const ReplayEdgeSource&) = delete;

  const EdgeSourceCounters& counters() const override { return counters_; }

 private:
  ReplayEdgeSource(EventLoop& loop, const Clock& clock, ReplayConfig config, int fd,
                   OnEdges on_edges, OnError on_error);
  void OnReadable();

  EventLoop& loop_;
  const Clock& clock_;
  ReplayConfig config_;
  int fd_;
  EventLoop::FdHandle handle_{};
  OnEdges on_edges_;
  OnError on_error_;
  int64_t last_ns_;
  EdgeSourceCounters counters_;
};

}  // namespace lintel::wiegand
