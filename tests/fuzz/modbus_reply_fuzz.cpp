// libFuzzer target for Modbus reply handling (drivers/modbus): the bytes that come back from
// whatever answers on a module's port, through libmodbus and the link's error contract, and the
// same bytes as read data through the pure point mapping.
//
// Input: byte 0 picks the first request (low bits: op; bit 7: leave the stream open so the link
// waits for its 2 ms response timeout instead of seeing end-of-stream), byte 1 its count/address,
// the rest is the reply stream. A libmodbus TCP context is given one end of a socketpair
// (MakeLibModbusLinkOnSocket -> modbus_set_socket); the reply stream is written to the other end
// before two requests are made (the second reads whatever the first left).
//
// Invariants: no crash, no hang; a successful read has exactly the count asked for, bits 0/1; a
// failure is Unavailable or FailedPrecondition "modbus exception N (name): ..."; PlanReads covers
// every point once within the Modbus limits; PointValue has a value for every covered point whose
// block has data; a Debouncer's reported value follows its changes.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "drivers/modbus/link.h"
#include "drivers/modbus/points.h"

using namespace lintel;
using namespace lintel::modbus;

namespace {

void CheckFailure(const Status& st) {
  if (st.ok()) std::abort();
  if (st.code() == StatusCode::kUnavailable) return;
  if (st.code() == StatusCode::kFailedPrecondition &&
      st.message().rfind("modbus exception ", 0) == 0) {
    return;
  }
  std::abort();
}

void Request(ModbusLink& link, int op, int n) {
  switch (op) {
    case 0:
    case 1: {
      const Table t = op == 0 ? Table::kCoil : Table::kDiscreteInput;
      const auto count = static_cast<uint16_t>(1 + n % 64);
      Result<std::vector<uint8_t>> r = link.ReadBits(t, 0, count);
      if (!r.ok()) return CheckFailure(r.status());
      if (r->size() != count) std::abort();
      for (uint8_t b : *r) {
        if (b > 1) std::abort();
      }
      return;
    }
    case 2:
    case 3: {
      const Table t = op == 2 ? Table::kHoldingRegister : Table::kInputRegister;
      const auto count = static_cast<uint16_t>(1 + n % 16);
      Result<std::vector<uint16_t>> r = link.ReadRegisters(t, 0, count);
      if (!r.ok()) return CheckFailure(r.status());
      if (r->size() != count) std::abort();
      return;
    }
    case 4: {
      Status st = link.WriteCoil(static_cast<uint16_t>(n), (n & 1) != 0);
      if (!st.ok()) CheckFailure(st);
      return;
    }
    default: {
      Status st = link.WriteRegister(static_cast<uint16_t>(n), static_cast<uint16_t>(n * 257));
      if (!st.ok()) CheckFailure(st);
      return;
    }
  }
}

void FuzzLink(int first, int n, bool keep_open, std::span<const uint8_t> reply) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
  size_t off = 0;
  while (off < reply.size()) {
    const ssize_t w = send(sv[1], reply.data() + off, reply.size() - off, MSG_DONTWAIT);
    if (w <= 0) break;  // the socket buffer is full: the rest is not part of this reply
    off += static_cast<size_t>(w);
  }
  if (!keep_open) shutdown(sv[1], SHUT_WR);
  TransportConfig c;
  c.kind = TransportConfig::kTcp;
  c.host = "fuzz";
  c.response_timeout = std::chrono::milliseconds(2);
  Result<std::unique_ptr<ModbusLink>> link = MakeLibModbusLinkOnSocket(c, sv[0]);
  if (!link.ok()) std::abort();
  for (int round = 0; round < 2; ++round) Request(**link, (first + round) % 6, n);
  close(sv[1]);
}

void FuzzMapping(int n, std::span<const uint8_t> bytes) {
  std::vector<Point> points;
  for (size_t i = 0; i + 4 <= bytes.size() && points.size() < 256; i += 4) {
    Point p{static_cast<Table>(bytes[i] % 4),
            static_cast<uint16_t>((bytes[i + 1] | (bytes[i + 2] << 8)) % 4096),
            bytes[i + 3] % 18 - 1, (bytes[i + 3] & 0x80) != 0};
    if (!CheckPoint(p).ok()) continue;
    points.push_back(p);
  }
  const int gap = n % 40 - 4;  // negative gaps too
  std::vector<ReadBlock> blocks = PlanReads(points, gap);
  for (const ReadBlock& b : blocks) {
    if (b.count < 1 || b.count > MaxReadCount(b.table) || int{b.start} + b.count > 65536) {
      std::abort();
    }
  }
  // Data from the bytes; every third block "failed" (no data).
  std::vector<BlockData> data(blocks.size());
  size_t k = 0;
  auto next = [&]() -> uint8_t { return bytes.empty() ? 0 : bytes[k++ % bytes.size()]; };
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (i % 3 == 2) continue;
    if (IsBitTable(blocks[i].table)) {
      for (int j = 0; j < blocks[i].count; ++j) data[i].bits.push_back(next() & 1);
    } else {
      for (int j = 0; j < blocks[i].count; ++j) {
        const int hi = next();
        data[i].registers.push_back(static_cast<uint16_t>(hi << 8 | next()));
      }
    }
  }
  Debouncer deb(n % 5);
  int64_t t = 0;
  for (const Point& p : points) {
    int covering = -1;
    for (size_t i = 0; i < blocks.size(); ++i) {
      const ReadBlock& b = blocks[i];
      if (b.table == p.table && p.address >= b.start && p.address < b.start + b.count) {
        if (covering != -1) std::abort();  // blocks overlap
        covering = static_cast<int>(i);
      }
    }
    if (covering == -1) std::abort();
    std::optional<bool> v = PointValue(p, blocks, data);
    if (v.has_value() != (covering % 3 != 2)) std::abort();
    if (!v) continue;
    t += next() % 4;
    if (std::optional<bool> change = deb.Feed(*v, t); change && *change != deb.value()) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::span<const uint8_t> rest(data + 2, size - 2);
  FuzzLink((data[0] & 0x7F) % 6, data[1], (data[0] & 0x80) != 0, rest);
  FuzzMapping(data[1], rest);
  return 0;
}
