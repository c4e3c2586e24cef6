// libFuzzer target for the replay socket's datagram parser (drivers/wiegand/replay_source.h):
// the bytes of one datagram, as any local process in the socket's group could send them.
// Invariants: no crash; a parsed burst has 1..kMaxReplayEdges steps with deltas in range; its
// anchored timestamps never go backwards and end at the receipt time; it round-trips through
// FormatReplayDatagram.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>

#include "drivers/wiegand/replay_source.h"

using namespace lintel::wiegand;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  lintel::Result<std::vector<ReplayStep>> steps = ParseReplayDatagram(text);
  if (!steps.ok()) return 0;
  if (steps->empty() || steps->size() > kMaxReplayEdges) std::abort();
  for (const ReplayStep& s : *steps) {
    if (s.delta_us < 0 || s.delta_us > kMaxReplayDeltaUs) std::abort();
  }
  const int64_t receipt = int64_t{1} << 50;
  std::vector<Edge> edges = AnchorReplay(*steps, receipt, std::numeric_limits<int64_t>::min());
  for (size_t i = 1; i < edges.size(); ++i) {
    if (edges[i].t_ns < edges[i - 1].t_ns) std::abort();
  }
  if (edges.back().t_ns != receipt) std::abort();
  lintel::Result<std::vector<ReplayStep>> again =
      ParseReplayDatagram(FormatReplayDatagram(edges, (*steps)[0].delta_us));
  if (!again.ok() || *again != *steps) std::abort();
  return 0;
}
