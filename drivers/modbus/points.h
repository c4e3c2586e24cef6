// Modbus point mapping: where a door I/O point lives on a module, how reads are planned, how a
// point's logical value is taken out of what a read returned, input debouncing, exception names.
// Pure: no I/O, no clock, no logging, no threads (library `lintel_modbus`, links lintel_base only).
// Every function is thread-safe (no shared state); a Debouncer is used by one thread at a time.
//
// Logical values: true means "active" (door contact closed, REX pressed, relay energised,
// whatever the point means). The raw bit on the wire is `logical XOR inverted`: `inverted` is how
// normally-closed wiring is described, per point.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "gateway/base/status.h"

namespace lintel::modbus {

// The four Modbus data tables. Bit tables: coils (FC01 read, FC05 write) and discrete inputs
// (FC02). Register tables (16-bit words): holding registers (FC03 read, FC06 write) and input
// registers (FC04). Addresses are the 0-based protocol addresses (coil 00017 is address 16).
enum class Table { kCoil, kDiscreteInput, kHoldingRegister, kInputRegister };

// "coil", "discrete_input", "holding_register", "input_register".
std::string_view TableName(Table table);
bool IsBitTable(Table table);

// The most items one read request may ask for (FC01/02: 2000 bits; FC03/04: 125 registers).
inline constexpr int kMaxReadBits = 2000;
inline constexpr int kMaxReadRegisters = 125;
int MaxReadCount(Table table);

struct Point {
  Table table = Table::kCoil;
  uint16_t address = 0;
  int bit = -1;  // 0..15 (0 = least significant) for register tables; -1 for bit tables
  bool inverted = false;

  bool operator==(const Point&) const = default;
};

// Errors: InvalidArgument when `bit` is missing or out of 0..15 for a register table, or given
// (not -1) for a bit table. The message names the table and the bit.
[[nodiscard]] Status CheckPoint(const Point& point);
// Whether the point can be driven as an output: a coil, or a bit of a holding register (written
// read-modify-write). Discrete inputs and input registers are read-only.
bool IsWritable(const Point& point);

// One read request: `count` items of `table` from `start`.
struct ReadBlock {
  Table table = Table::kCoil;
  uint16_t start = 0;
  uint16_t count = 0;

  bool operator==(const ReadBlock&) const = default;
};

// Plans the reads that cover every address of `points`: per table, addresses in ascending order
// are coalesced into one block while the run of unused addresses between two used ones is at most
// `max_gap` (negative counts as 0) and the block stays within MaxReadCount(table). Greedy from the
// lowest address, which gives the fewest requests under those two rules. Blocks come in Table
// order, then by start; they never overlap and never run past address 65535. Points are not
// checked (a bit on a bit table is ignored); duplicates are fine.
std::vector<ReadBlock> PlanReads(std::span<const Point> points, int max_gap);

// What one read returned: `bits` (one byte per bit, 0 or non-zero) for a bit table block,
// `registers` for a register table block. Both empty when the read failed or was not made.
struct BlockData {
  std::vector<uint8_t> bits;
  std::vector<uint16_t> registers;
};

// The logical value of `point` (the raw bit XOR `inverted`), taken from the block of `blocks`
// (parallel to `data`: data[i] is what blocks[i] returned) that covers its table and address.
// nullopt when no block covers the point, when that block's data is missing or shorter than the
// block, when a register point has no valid bit, or when the spans differ in length.
std::optional<bool> PointValue(const Point& point, std::span<const ReadBlock> blocks,
                               std::span<const BlockData> data);

// Debounces one input sampled at arbitrary times (monotonic nanoseconds, passed in). A raw value
// must be seen unchanged for at least `debounce_ns` (from the first sample showing it to a later
// sample) before it becomes the reported value. The very first sample (also after Reset()) is
// reported at once. A sample with a time earlier than the candidate's start restarts the count.
class Debouncer {
 public:
  explicit Debouncer(int64_t debounce_ns = 0) : debounce_ns_(debounce_ns < 0 ? 0 : debounce_ns) {}

  // Feeds one sample; returns the new reported value when it changes (or is first reported).
  std::optional<bool> Feed(bool raw, int64_t now_ns);
  // When a sample would confirm the pending candidate (its start + debounce_ns); nullopt when the
  // last sample agrees with the reported value (nothing pending).
  std::optional<int64_t> Deadline() const;
  // The reported value; nullopt before the first sample.
  std::optional<bool> value() const { return reported_; }
  // Forgets everything: the next sample is reported at once (used after a reconnect).
  void Reset();

 private:
  int64_t debounce_ns_;
  std::optional<bool> reported_;
  bool candidate_ = false;
  int64_t candidate_since_ns_ = 0;
};

// Modbus exception codes by name: 1 "illegal function", 2 "illegal data address", 3 "illegal data
// value", 4 "slave device failure", 5 "acknowledge", 6 "slave device busy", 7 "negative
// acknowledge", 8 "memory parity error", 0x0A "gateway path unavailable", 0x0B "gateway target
// failed to respond"; anything else "unknown exception".
std::string_view ExceptionName(int code);
// FailedPrecondition "modbus exception N (name)", followed by ": context" when context is given.
// The one way an exception reply is reported (the module answered, and refused).
[[nodiscard]] Status ExceptionStatus(int code, std::string_view context = {});

}  // namespace lintel::modbus
