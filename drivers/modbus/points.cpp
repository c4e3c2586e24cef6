#include "drivers/modbus/points.h"

#include <algorithm>
#include <limits>
#include <string>

namespace lintel::modbus {

std::string_view TableName(Table table) {
  switch (table) {
    case Table::kCoil:
      return "coil";
    case Table::kDiscreteInput:
      return "discrete_input";
    case Table::kHoldingRegister:
      return "holding_register";
    case Table::kInputRegister:
      return "input_register";
  }
  return "unknown_table";
}

bool IsBitTable(Table table) { return table == Table::kCoil || table == Table::kDiscreteInput; }

int MaxReadCount(Table table) { return IsBitTable(table) ? kMaxReadBits : kMaxReadRegisters; }

Status CheckPoint(const Point& point) {
  if (IsBitTable(point.table)) {
    if (point.bit != -1) {
      return Status::InvalidArgument(
          std::string(TableName(point.table)) + " " + std::to_string(point.address) + ": a " +
          std::string(TableName(point.table)) + " is one bit, so it takes no bit number (got " +
          std::to_string(point.bit) + ")");
    }
    return Status::Ok();
  }
  if (point.bit < 0 || point.bit > 15) {
    return Status::InvalidArgument(
        std::string(TableName(point.table)) + " " + std::to_string(point.address) +
        ": a register point needs a bit number 0..15 (got " + std::to_string(point.bit) + ")");
  }
  return Status::Ok();
}

bool IsWritable(const Point& point) {
  return point.table == Table::kCoil || point.table == Table::kHoldingRegister;
}

std::vector<ReadBlock> PlanReads(std::span<const Point> points, int max_gap) {
  const int gap = std::max(max_gap, 0);
  std::vector<ReadBlock> blocks;
  for (Table table :
       {Table::kCoil, Table::kDiscreteInput, Table::kHoldingRegister, Table::kInputRegister}) {
    std::vector<int> addresses;
    for (const Point& p : points) {
      if (p.table == table) addresses.push_back(p.address);
    }
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    const int limit = MaxReadCount(table);
    size_t i = 0;
    while (i < addresses.size()) {
      const int start = addresses[i];
      int last = start;
      size_t j = i + 1;
      // Gap = unused addresses between two used ones; `gap` is at most INT_MAX, last + 1 cannot
      // overflow (addresses are 16-bit).
      while (j < addresses.size() && addresses[j] - last - 1 <= gap &&
             addresses[j] - start + 1 <= limit) {
        last = addresses[j];
        ++j;
      }
      blocks.push_back(
          {table, static_cast<uint16_t>(start), static_cast<uint16_t>(last - start + 1)});
      i = j;
    }
  }
  return blocks;
}

std::optional<bool> PointValue(const Point& point, std::span<const ReadBlock> blocks,
                               std::span<const BlockData> data) {
  if (blocks.size() != data.size()) return std::nullopt;
  const bool bit_table = IsBitTable(point.table);
  if (!bit_table && (point.bit < 0 || point.bit > 15)) return std::nullopt;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const ReadBlock& b = blocks[i];
    if (b.table != point.table || point.address < b.start ||
        int{point.address} >= int{b.start} + int{b.count}) {
      continue;
    }
    const size_t offset = point.address - b.start;
    bool raw;
    if (bit_table) {
      if (data[i].bits.size() < b.count) return std::nullopt;
      raw = data[i].bits[offset] != 0;
    } else {
      if (data[i].registers.size() < b.count) return std::nullopt;
      raw = ((data[i].registers[offset] >> point.bit) & 1u) != 0;
    }
    return raw != point.inverted;
  }
  return std::nullopt;
}

std::optional<bool> Debouncer::Feed(bool raw, int64_t now_ns) {
  if (!reported_) {
    reported_ = raw;
    candidate_ = raw;
    candidate_since_ns_ = now_ns;
    return raw;
  }
  if (raw != candidate_ || now_ns < candidate_since_ns_) {
    candidate_ = raw;
    candidate_since_ns_ = now_ns;
  }
  if (candidate_ == *reported_) return std::nullopt;
  if (now_ns - candidate_since_ns_ >= debounce_ns_) {
    reported_ = candidate_;
    return candidate_;
  }
  return std::nullopt;
}

std::optional<int64_t> Debouncer::Deadline() const {
  if (!reported_ || candidate_ == *reported_) return std::nullopt;
  if (candidate_since_ns_ > std::numeric_limits<int64_t>::max() - debounce_ns_) {
    return std::numeric_limits<int64_t>::max();
  }
  return candidate_since_ns_ + debounce_ns_;
}

void Debouncer::Reset() {
  reported_.reset();
  candidate_ = false;
  candidate_since_ns_ = 0;
}

std::string_view ExceptionName(int code) {
  switch (code) {
    case 0x01:
      return "illegal function";
    case 0x02:
      return "illegal data address";
    case 0x03:
      return "illegal data value";
    case 0x04:
      return "slave device failure";
    case 0x05:
      return "acknowledge";
    case 0x06:
      return "slave device busy";
    case 0x07:
      return "negative acknowledge";
    case 0x08:
      return "memory parity error";
    case 0x0A:
      return "gateway path unavailable";
    case 0x0B:
      return "gateway target failed to respond";
    default:
      return "unknown exception";
  }
}

Status ExceptionStatus(int code, std::string_view context) {
  std::string m =
      "modbus exception " + std::to_string(code) + " (" + std::string(ExceptionName(code)) + ")";
  if (!context.empty()) {
    m += ": ";
    m += context;
  }
  return Status::FailedPrecondition(std::move(m));
}

}  // namespace lintel::modbus
