// LockClient: the client flows of the Nuki Bluetooth API over a connected GattLink (library
// `lintel_ble`, pure: no D-Bus, no clock, no logging; the link, the nonce source and the
// credentials are injected).
//
// Threads: one LockClient is used by one thread at a time (the adapter's BLE worker), like its
// GattLink. Every call blocks until the lock has answered or a timeout passed. The caller
// connects and disconnects the link; after any error other than a lock's Error Report,
// disconnect before the next command (replies to the failed command may still be in flight).
//
// Wire behaviour (what a simulated lock must do; shared/protocols/nuki-ble.md):
//  - Pairing runs on the pairing GDIO characteristic, unencrypted (nuki_pairing.h). Everything
//    else is encrypted on the keyturner USDIO characteristic with the credentials' shared key
//    and authorization id, a fresh nonce from the NonceSource for every frame.
//  - Every frame is written in values of at most `write_chunk` bytes (20: a real lock's limit),
//    each a GATT write with response; replies are indications, reassembled by length.
//  - Read State / Read Battery: Request Data(Keyturner States / Battery Report) -> that message.
//  - Commands with a PIN, and Lock Action, first get a challenge: Request Data(Challenge) ->
//    Challenge nK; nK goes into the command.
//  - Lock Action -> Status ACCEPTED -> Keyturner States (zero or more transitions) -> Status
//    COMPLETE. Add Keypad Code -> Keypad Code ID; Authorization Data (Invite) ->
//    Authorization-ID (Invite); each may be followed by Status COMPLETE. Update/Remove (codes,
//    authorizations), Update Time -> Status COMPLETE.
//  - Lists: Request Keypad Codes -> Keypad Code Count, then one Keypad Code per entry; Request
//    Authorization Entries -> [Authorization Entry Count], then entries; Request Log Entries
//    (total count flag set) -> Log Entry Count, then entries. Each list ends with Status
//    COMPLETE, or once the expected number of entries is in (then a COMPLETE is awaited for
//    `complete_grace` and may be absent).
//
// Errors (every call):
//  - the lock's Error Report: LockErrorStatus, e.g. FailedPrecondition "lock error 0x21 bad PIN
//    (Add Keypad Code 0x0041)", Unavailable "lock error 0x45 busy (Lock Action 0x000D)".
//  - DeadlineExceeded(...) (gatt_link.h): no (complete) reply within the timeout.
//  - Unavailable: the link's errors as it returns them (not connected, write failed); a reply
//    that does not reassemble, decrypt or decode ("lock reply garbled: ..."), or that is another
//    command than the flow expects ("lock answered X, expected Y").
//  - FailedPrecondition "not paired": a command other than Pair() without credentials.
//  - InvalidArgument: a request this client refuses to send (a keypad code that breaks
//    ValidNukiCode, a name longer than its field, a date the lock cannot hold); nothing is sent.
// Neither the shared key nor a PIN appears in any message.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "drivers/ble/gatt_link.h"
#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_crypto.h"
#include "drivers/ble/nuki_frame.h"
#include "drivers/ble/nuki_pairing.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"

namespace lintel::ble {

struct LockClientOptions {
  // How long to wait for each indication of a reply.
  std::chrono::milliseconds reply_timeout{5000};
  // How long to wait for each transition of a Lock Action and its final COMPLETE (the motor).
  std::chrono::milliseconds action_timeout{30000};
  // How long to wait for an optional trailing Status COMPLETE (see the header comment).
  std::chrono::milliseconds complete_grace{1000};
  // Largest GATT value written; 0 = each frame in one write.
  size_t write_chunk = kGattValueSize;
  // The app id sent in Lock Action (the one this client paired with).
  uint32_t app_id = 0;
  // Most entries one list read accepts before giving up (a lock holds at most a few hundred).
  size_t max_entries = 1000;
  // Most Keyturner States transitions one Lock Action accepts.
  size_t max_transitions = 64;
};

struct LockActionResult {
  // Every Keyturner States the lock sent between ACCEPTED and COMPLETE, in order.
  std::vector<KeyturnerStates> transitions;
};

struct KeypadCodeList {
  uint16_t total = 0;  // what Keypad Code Count said
  std::vector<KeypadCode> codes;
};

struct AuthorizationList {
  std::optional<uint16_t> total;  // when the lock sent Authorization Entry Count
  std::vector<AuthorizationEntry> entries;
};

struct LogPage {
  bool logging_enabled = true;
  uint16_t total = 0;  // what Log Entry Count said
  std::vector<LogEntry> entries;
};

class LockClient {
 public:
  // `link` and `nonces` must outlive the client. Without credentials only Pair() works.
  LockClient(GattLink& link, NonceSource& nonces, LockClientOptions options = {});
  LockClient(GattLink& link, NonceSource& nonces, Credentials credentials,
             LockClientOptions options = {});

  void set_credentials(Credentials credentials) { credentials_ = credentials; }
  bool paired() const { return credentials_.has_value(); }
  const LockClientOptions& options() const { return options_; }

  // Pairs with a lock held in pairing mode (its button pressed), as `identity`. `random` gives
  // our fresh secret key and the nonce nA. On success the client keeps the credentials (the
  // caller stores them, mode 0600). Errors as above; "lock error 0x10 not pairing" when the
  // button was not pressed; FailedPrecondition when the lock's Authorization-ID does not verify.
  Result<PairingResult> Pair(const PairingIdentity& identity, RandomSource& random);

  Result<KeyturnerStates> ReadState();
  Result<BatteryReport> ReadBattery();

  // Request Data(Challenge) -> Lock Action -> ACCEPTED -> states -> COMPLETE.
  Result<LockActionResult> Act(LockAction action, uint8_t flags = 0);
  Result<LockActionResult> Unlock() { return Act(LockAction::kUnlock); }
  Result<LockActionResult> Lock() { return Act(LockAction::kLock); }
  Result<LockActionResult> Unlatch() { return Act(LockAction::kUnlatch); }

  // Keypad codes. The client fills in nonce and pin of the request structs.
  Result<KeypadCodeList> ListKeypadCodes(uint16_t pin, uint16_t offset = 0, uint16_t count = 200);
  // The id the lock gave the code.
  Result<uint16_t> AddKeypadCode(KeypadCodeAdd code, uint16_t pin);
  Status UpdateKeypadCode(KeypadCodeUpdate code, uint16_t pin);
  Status RemoveKeypadCode(uint16_t id, uint16_t pin);

  // Authorizations.
  Result<AuthorizationList> ListAuthorizations(uint16_t pin, uint16_t offset = 0,
                                               uint16_t count = 200);
  // The new authorization id.
  Result<uint32_t> AddAuthorization(AuthorizationInvite invite, uint16_t pin);
  Status UpdateAuthorization(AuthorizationUpdate update, uint16_t pin);
  Status RemoveAuthorization(uint32_t authorization_id, uint16_t pin);

  // Up to `count` log entries from `start_index` (0 = the newest or oldest, per `descending`).
  Result<LogPage> ReadLog(uint32_t start_index, uint16_t count, uint16_t pin,
                          bool descending = false);

  // Sets the lock's clock (UTC).
  Status UpdateTime(Instant now, uint16_t pin);

 private:
  Status CheckReady() const;
  Status WriteFrame(std::string_view uuid, const std::vector<uint8_t>& frame);
  Status Send(const Message& message);
  // The next whole encrypted message from the lock; an Error Report becomes its Status.
  Result<Message> Receive(std::chrono::milliseconds timeout, std::string_view waiting_for);
  Result<Message> ReceivePlain(std::chrono::milliseconds timeout, std::string_view waiting_for);
  // An unencrypted Error Report on the keyturner GDIO (the lock's "not authorized" to a client
  // whose key it does not hold), if one is queued; never waits.
  std::optional<Status> PlainErrorOnGdio();
  template <typename T>
  Result<T> Expect(std::chrono::milliseconds timeout);
  Result<Nonce32> GetChallenge();
  Status ExpectStatus(CommandStatus want, std::chrono::milliseconds timeout);
  Status OptionalComplete();
  void StartCommand();

  GattLink& link_;
  NonceSource& nonces_;
  std::optional<Credentials> credentials_;
  LockClientOptions options_;
  Reassembler encrypted_{FrameKind::kEncrypted};
  Reassembler plain_{FrameKind::kPlain};
  Reassembler gdio_{FrameKind::kPlain};      // the keyturner GDIO's unencrypted error reports
  std::deque<std::vector<uint8_t>> frames_;  // reassembled, not yet handed out
};

}  // namespace lintel::ble
