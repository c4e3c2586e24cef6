// LoopbackLink: a ble::GattLink (drivers/ble/gatt_link.h) wired straight to a LockPeer in the same
// process, so ble::LockClient and the gateway's lock driver can be unit-tested against the
// simulated lock without D-Bus (library `lintel_lock_peer`, pure).
//
// Behaviour:
//  - Connect(address): succeeds when the lock is in range (SetInRange) and `address` is the
//    link's address (any address when constructed with none); the lock sees OnConnect(). A
//    connect while connected is a no-op. Every connect starts with empty indication queues (a
//    real central re-enables indications after each connect).
//  - Write(uuid, value): hands the value to LockPeer::OnWrite and queues what the lock indicates,
//    per characteristic, in order. The lock answers synchronously, so by the time Write returns
//    every indication caused by it is queued.
//  - NextIndication(uuid, timeout): the oldest queued value of that characteristic; when none is
//    queued, DeadlineExceeded at once, without waiting (nothing can arrive later: see Write), so
//    tests never sleep. Queues hold at most `max_queued` values each; more are dropped (counted).
//  - Disconnect(): the lock sees OnDisconnect(); queued indications are dropped.
//  - Out of range (SetInRange(false)): Connect fails, and an open connection drops as if the
//    lock had walked away (the next Write fails Unavailable, the lock sees OnDisconnect()).
//  - FailNextConnects(n): the next n Connect calls time out (DeadlineExceeded), a slow or
//    missed connect.
// Errors, per the GattLink contract: Unavailable when not connected, for a value longer than 20
// bytes (BlueZ refuses it), for a characteristic the lock does not have; InvalidArgument for a
// malformed UUID; DeadlineExceeded(...) for an empty queue and a failed connect.
//
// Threads: every method takes the link's mutex, so one thread may run a LockClient over the link
// while another changes the lock through WithLock() (a test pressing the button, typing a code,
// advancing the lock's clock). Use the LockPeer only through WithLock() while a client may run.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drivers/ble/gatt_link.h"
#include "gateway/base/mutex.h"
#include "gateway/base/status.h"
#include "tools/lock-sim/lock_peer.h"

namespace lintel::locksim {

class LoopbackLink final : public ble::GattLink {
 public:
  // `lock` must outlive the link. `address`: the lock's BLE address ("" = answers to any).
  explicit LoopbackLink(LockPeer& lock, std::string address = "", size_t max_queued = 256);

  Status Connect(std::string_view address, std::chrono::milliseconds timeout) override;
  Status Write(std::string_view characteristic_uuid, std::span<const uint8_t> value) override;
  Result<std::vector<uint8_t>> NextIndication(std::string_view characteristic_uuid,
                                              std::chrono::milliseconds timeout) override;
  void Disconnect() override;
  bool connected() const override;

  // Link faults.
  void SetInRange(bool in_range);
  void FailNextConnects(int n);

  // Runs `f(LockPeer&)` under the link's mutex and returns what it returns.
  template <typename F>
  auto WithLock(F&& f) {
    MutexLock lock(mu_);
    return f(*lock_);
  }

  // Counters for tests.
  size_t writes() const;
  size_t connects() const;
  size_t dropped_indications() const;
  // Values queued on `characteristic_uuid` and not yet taken.
  size_t queued(std::string_view characteristic_uuid) const;

 private:
  void DropConnection() REQUIRES(mu_);

  mutable Mutex mu_;
  LockPeer* const lock_ PT_GUARDED_BY(mu_);
  const std::string address_;
  const size_t max_queued_;
  bool connected_ GUARDED_BY(mu_) = false;
  bool in_range_ GUARDED_BY(mu_) = true;
  int fail_connects_ GUARDED_BY(mu_) = 0;
  std::map<std::string, std::deque<std::vector<uint8_t>>, std::less<>> queues_ GUARDED_BY(mu_);
  size_t writes_ GUARDED_BY(mu_) = 0;
  size_t connects_ GUARDED_BY(mu_) = 0;
  size_t dropped_ GUARDED_BY(mu_) = 0;
};

}  // namespace lintel::locksim
