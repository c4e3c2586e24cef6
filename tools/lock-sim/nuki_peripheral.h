// NukiPeripheral: the Nuki lock model (lock_peer.h) as one of lock-sim's Peripherals
// (peripheral.h): `--peripheral nuki`. In library `lintel_lock_peer` (no D-Bus: it only sees the
// Peripheral seam).
//
//  - Writes go to LockPeer::OnWrite; connects and disconnects to OnConnect / OnDisconnect.
//  - The lock's clock starts at the host clock's wall time and, before every write and command,
//    is advanced by the wall time elapsed since (never set back to it), so a client's Update
//    Time and a `time` command stick and the lock keeps its own time from then on.
//  - The advertisement's "state changed" bit follows LockPeer::state_changed() after every write
//    and command (PeripheralHost::SetStateChanged, called only when it flips).
//  - A write that completes a Lock Action command (from a paired client, whatever the answer) is
//    reported as PeripheralHost::Report("lock_action", "unlatch" | "unlock" | ...): lock-sim's
//    output line right after that write's line (tests/bench/ble_bench.cpp times grants by it).
//  - Randomness: libsodium (SodiumRandomSource, RandomNonceSource) unless the caller injects
//    sources (tests).
//
// Commands (`peer LOCK ...` on lock-sim's control socket). The result is JSON text; errors are
// InvalidArgument with the usage:
//   press-button                      pairing mode for 30 s      -> {"pairing_mode":true}
//   keypad CODE                       someone types CODE          -> {"accepted":..,"outcome":..,
//                                                                     "code_id":..,"window":..}
//   manual unlock|lock|unlatch|lock-n-go|full-lock                 -> {"lock_state":..}
//   door open|closed  |  battery PERCENT [critical]  |  jam on|off
//   busy N  |  lose-codes  |  corrupt-crc  |  revoke ID [off]
//   pin N                             sets the security PIN (never echoed)
//   time RFC3339  |  advance SECONDS  |  tz MINUTES               the lock's clock and offset
//   add-code CODE NAME [FROM UNTIL]   a code the lock already holds (FROM/UNTIL RFC 3339 or -)
//   authorize NAME [app|bridge|fob|keypad]   an authorization with a random key -> {"id":..}
//   state [codes]                     LockPeer::ToJson (code digits only with `codes`)
// Dropped indications are the BlueZ side's `drop-indications` command.
//
// Threads: lock-sim's event-loop thread only, as every Peripheral.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/ble/nuki_crypto.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "tools/lock-sim/lock_peer.h"
#include "tools/lock-sim/peripheral.h"

namespace lintel::locksim {

class NukiPeripheral final : public Peripheral {
 public:
  // `host` must outlive the peripheral. Null sources: libsodium's.
  NukiPeripheral(PeripheralHost& host, LockPeerOptions options,
                 std::unique_ptr<ble::RandomSource> random = nullptr,
                 std::unique_ptr<ble::NonceSource> nonces = nullptr);

  Result<std::vector<Peripheral::Indication>> OnWrite(std::string_view characteristic_uuid,
                                                      std::span<const uint8_t> value) override;
  void OnConnect() override;
  void OnDisconnect() override;
  Result<std::string> OnCommand(const std::vector<std::string>& args) override;

  LockPeer& peer() { return *peer_; }

 private:
  void SyncClock();
  void PublishStateChanged();

  PeripheralHost& host_;
  std::unique_ptr<ble::RandomSource> random_;
  std::unique_ptr<ble::NonceSource> nonces_;
  std::unique_ptr<LockPeer> peer_;
  Instant last_wall_;
  bool published_ = false;  // what the host advertises (its bit starts clear)
};

}  // namespace lintel::locksim
