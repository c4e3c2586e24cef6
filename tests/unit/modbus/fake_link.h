// FakeLink: an in-memory Modbus module behind the ModbusLink seam, with fault injection (not
// answering, refusing connections, exception replies per address) and a log of every request.
// Optionally advances a FakeClock by `latency` per request, like a real bus would take time.
// Thread-safe (a module thread calls it while the test inspects it). The state lives in a shared
// FakeDevice so the test keeps a handle after handing the link to a module.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "drivers/modbus/link.h"
#include "gateway/base/clock.h"

namespace lintel::modbus::fakes {

struct FakeDevice {
  mutable std::mutex mu;
  std::map<uint16_t, bool> coils, discrete;
  std::map<uint16_t, uint16_t> holding, input;
  bool answering = true;        // false: every request fails Unavailable (a timeout)
  bool refuse_connect = false;  // Connect() fails Unavailable (connection refused)
  int fail_next = 0;            // the next N requests fail Unavailable (lost replies)
  std::map<std::pair<Table, uint16_t>, int> exceptions;  // a request touching it gets this code
  // Writes only: the next `count` writes of a coil get exception `code` (reads still answer).
  struct RefuseWrites {
    int code = 0;
    int count = 0;
  };
  std::map<uint16_t, RefuseWrites> refuse_writes;
  std::map<uint16_t, bool> stuck;  // a coil whose writes are acknowledged but change nothing
  int throw_next = 0;              // the next N requests throw std::runtime_error (a bug)
  std::vector<std::string> log;    // "connect", "read coil 0+8", ...
  bool connected = false;
  int connects = 0;
  std::vector<std::chrono::steady_clock::time_point> connect_at;  // every attempt (with a clock)
  FakeClock* clock = nullptr;  // advanced by `latency` per request when set
  std::chrono::nanoseconds latency{0};

  // Helpers taking the lock.
  void Set(Table t, uint16_t a, bool v) {
    std::lock_guard l(mu);
    (t == Table::kCoil ? coils : discrete)[a] = v;
  }
  void SetRegister(Table t, uint16_t a, uint16_t v) {
    std::lock_guard l(mu);
    (t == Table::kHoldingRegister ? holding : input)[a] = v;
  }
  bool Coil(uint16_t a) const {
    std::lock_guard l(mu);
    auto it = coils.find(a);
    return it != coils.end() && it->second;
  }
  uint16_t Holding(uint16_t a) const {
    std::lock_guard l(mu);
    auto it = holding.find(a);
    return it == holding.end() ? 0 : it->second;
  }
  void SetAnswering(bool a) {
    std::lock_guard l(mu);
    answering = a;
  }
  void SetRefuseConnect(bool r) {
    std::lock_guard l(mu);
    refuse_connect = r;
  }
  void SetException(Table t, uint16_t a, int code) {
    std::lock_guard l(mu);
    if (code == 0) {
      exceptions.erase({t, a});
    } else {
      exceptions[{t, a}] = code;
    }
  }
  std::vector<std::string> Log() const {
    std::lock_guard l(mu);
    return log;
  }
  std::vector<std::string> TakeLog() {
    std::lock_guard l(mu);
    return std::exchange(log, {});
  }
  void RefuseCoilWrites(uint16_t a, int code, int count) {
    std::lock_guard l(mu);
    refuse_writes[a] = {code, count};
  }
  void SetStuck(uint16_t a, bool s) {
    std::lock_guard l(mu);
    stuck[a] = s;
  }
  void ThrowNext(int n) {
    std::lock_guard l(mu);
    throw_next = n;
  }
  int Connects() const {
    std::lock_guard l(mu);
    return connects;
  }
  void FailNext(int n) {
    std::lock_guard l(mu);
    fail_next = n;
  }
  std::vector<std::chrono::steady_clock::time_point> ConnectTimes() const {
    std::lock_guard l(mu);
    return connect_at;
  }
};

class FakeLink final : public ModbusLink {
 public:
  explicit FakeLink(std::shared_ptr<FakeDevice> device) : d_(std::move(device)) {}

  Status Connect() override {
    std::lock_guard l(d_->mu);
    d_->log.push_back("connect");
    if (d_->clock != nullptr) d_->connect_at.push_back(d_->clock->Monotonic());
    Tick();
    if (d_->refuse_connect) return Status::Unavailable("fake: connect: Connection refused");
    d_->connected = true;
    ++d_->connects;
    return Status::Ok();
  }
  void Close() override {
    std::lock_guard l(d_->mu);
    if (d_->connected) d_->log.push_back("close");
    d_->connected = false;
  }
  Result<std::vector<uint8_t>> ReadBits(Table t, uint16_t start, uint16_t count) override {
    std::lock_guard l(d_->mu);
    std::string what = "read " + std::string(TableName(t)) + " " + std::to_string(start) + "+" +
                       std::to_string(count);
    LINTEL_RETURN_IF_ERROR(Check(t, start, count, what));
    const auto& table = t == Table::kCoil ? d_->coils : d_->discrete;
    std::vector<uint8_t> out(count);
    for (int i = 0; i < count; ++i) {
      auto it = table.find(static_cast<uint16_t>(start + i));
      out[i] = it != table.end() && it->second;
    }
    return out;
  }
  Result<std::vector<uint16_t>> ReadRegisters(Table t, uint16_t start, uint16_t count) override {
    std::lock_guard l(d_->mu);
    std::string what = "read " + std::string(TableName(t)) + " " + std::to_string(start) + "+" +
                       std::to_string(count);
    LINTEL_RETURN_IF_ERROR(Check(t, start, count, what));
    const auto& table = t == Table::kHoldingRegister ? d_->holding : d_->input;
    std::vector<uint16_t> out(count);
    for (int i = 0; i < count; ++i) {
      auto it = table.find(static_cast<uint16_t>(start + i));
      out[i] = it == table.end() ? 0 : it->second;
    }
    return out;
  }
  Status WriteCoil(uint16_t a, bool on) override {
    std::lock_guard l(d_->mu);
    std::string what = "write coil " + std::to_string(a) + " " + (on ? "1" : "0");
    LINTEL_RETURN_IF_ERROR(Check(Table::kCoil, a, 1, what));
    if (auto it = d_->refuse_writes.find(a);
        it != d_->refuse_writes.end() && it->second.count > 0) {
      --it->second.count;
      return ExceptionStatus(it->second.code, "fake: " + what);
    }
    if (auto it = d_->stuck.find(a); it != d_->stuck.end() && it->second) return Status::Ok();
    d_->coils[a] = on;
    return Status::Ok();
  }
  Status WriteRegister(uint16_t a, uint16_t v) override {
    std::lock_guard l(d_->mu);
    std::string what = "write holding_register " + std::to_string(a) + " " + std::to_string(v);
    LINTEL_RETURN_IF_ERROR(Check(Table::kHoldingRegister, a, 1, what));
    d_->holding[a] = v;
    return Status::Ok();
  }

 private:
  void Tick() {
    if (d_->clock != nullptr && d_->latency.count() > 0) d_->clock->Advance(d_->latency);
  }
  // Called with the lock held: logs, advances the clock, injects faults.
  Status Check(Table t, uint16_t start, uint16_t count, const std::string& what) {
    d_->log.push_back(what);
    Tick();
    if (d_->throw_next > 0) {
      --d_->throw_next;
      throw std::runtime_error("fake: " + what + ": thrown");
    }
    if (!d_->connected) return Status::Unavailable("fake: " + what + ": Bad file descriptor");
    if (!d_->answering) return Status::Unavailable("fake: " + what + ": Connection timed out");
    if (d_->fail_next > 0) {
      --d_->fail_next;
      return Status::Unavailable("fake: " + what + ": Connection timed out");
    }
    for (int i = 0; i < count; ++i) {
      auto it = d_->exceptions.find({t, static_cast<uint16_t>(start + i)});
      if (it != d_->exceptions.end()) return ExceptionStatus(it->second, "fake: " + what);
    }
    return Status::Ok();
  }

  std::shared_ptr<FakeDevice> d_;
};

}  // namespace lintel::modbus::fakes
