// LockPeer: a simulated Nuki Smart Lock's state machine (issue 11 point 6), pure: it is fed the
// GATT writes a central makes and answers with the indications a lock would send. Library
// `lintel_lock_peer` (links lintel_ble and libsodium; no D-Bus, no threads, no wall clock, no
// logging). Used by lock-sim's BlueZ side (tools/lock-sim/README.md) and, in process through
// LoopbackLink (loopback_link.h), by the unit tests of ble::LockClient and the gateway's lock
// driver.
//
// Threads: none inside. One LockPeer is used by one thread at a time (lock-sim's event loop, a
// test); every method is non-blocking and returns at once.
//
// Time: the lock's own clock is an Instant the caller sets (SetTime) and advances (AdvanceTime);
// nothing reads a system clock. Update Time from a client sets it as well, so a caller that wants
// Update Time to stick advances the clock by elapsed time instead of re-setting it. Pairing mode
// and the PIN lockout expire by this clock, log entries are stamped with it, and keypad codes'
// and authorizations' windows are checked against it (CheckWindow below).
//
// Randomness: the lock's challenges nK and pairing nonces come from the injected RandomSource,
// the 24-byte frame nonces of its encrypted replies from the injected NonceSource; both must
// outlive the LockPeer. With counting sources every byte it sends is deterministic.
//
// What the lock does with a write (shared/protocols/nuki-ble.md; the error codes are ErrorCode):
//  - Values are reassembled per characteristic (ble::Reassembler), so a frame may come in any
//    number of writes; replies are whole frames cut into indications of at most 20 bytes, on the
//    characteristic named below.
//  - Pairing GDIO (a92ee101-...), unencrypted: a frame that does not reassemble (a command that
//    is not a pairing command) -> Error Report 0xFF unknown; bad CRC -> 0xFD; not in pairing mode
//    -> 0x10 not pairing; otherwise the lock side of pairing (ble::LockPairing: 0x11 bad
//    authenticator, 0x12 bad parameter), which on success adds an authorization (0x13 max users
//    when the lock is full) and ends pairing mode. Request Data(Public Key) always starts afresh.
//  - Keyturner GDIO (a92ee201-...), unencrypted: 0xFF / 0xFD as above, anything else 0x20 not
//    authorized (the lock takes no command in the clear). Answers on the keyturner GDIO.
//  - Keyturner USDIO (a92ee202-...), encrypted, decoded by the authorization id in the clear
//    header. Errors the lock cannot encrypt go unencrypted on the keyturner GDIO: an impossible
//    length field -> 0xFE bad length; an unknown, removed or revoked authorization id, or a frame
//    that does not decrypt with that authorization's key (altered, wrong key) -> 0x20 not
//    authorized (command id 0: the lock cannot read it; the spec's meaning of 0x20 is "the
//    authorization id is invalid or the payload could not be decrypted with its shared key",
//    while 0x24 invalid auth id is "the authorization to update or remove does not exist").
//    Everything else is answered encrypted on the USDIO with that authorization's key and id:
//      bad CRC inside the box -> 0xFD; SetBusy() pending -> 0x45 busy; a payload the codec
//      rejects -> 0xFE bad length; a command the lock does not take -> 0xFF unknown; then per
//      command, in this order: the challenge nK must be the last one this lock issued to this
//      authorization on this connection, and is used up by the attempt (else 0x22 bad nonce);
//      PIN lockout running -> 0x28; wrong security PIN -> 0x21 (after max_pin_attempts wrong
//      ones in a row the lockout starts; a right PIN resets the count); then the command's own
//      checks.
//  - Request Data: Challenge -> a fresh nK; Keyturner States; Battery Report; anything else
//    0xFF (the lock has no Config command: the codec does not carry it).
//  - Lock Action (no PIN): the authorization must be enabled (0x25 disabled) and inside its
//    window (0x27 time not allowed); an action other than unlock, lock, unlatch, lock 'n' go
//    (+ unlatch), full lock -> 0x23. Then Status ACCEPTED, one Keyturner States per state the
//    lock passes through (unlock: unlocking, unlocked; lock and full lock: locking, locked;
//    unlatch: unlatching, unlatched, unlocked; lock 'n' go: unlocking, unlocked (lock 'n' go),
//    locking, locked; lock 'n' go with unlatch: unlatching, unlatched, locking, locked), Status
//    COMPLETE, and a lock-action log entry (trigger system). The motor takes no time: all of it
//    is the answer to the one write. A jammed motor (SetJammed): ACCEPTED, the first state, then
//    Error Report 0x42 motor blocked; the state is motor blocked until an action succeeds; the
//    log entry says motor blocked.
//  - Keypad codes (PIN): Add -> Keypad Code ID then Status COMPLETE; Update, Remove -> COMPLETE;
//    Request -> Keypad Code Count (all codes), the codes with offset <= position < offset +
//    count in id order, COMPLETE. Checks: the code must satisfy ValidNukiCode (0x2B code
//    invalid); no other code may have the same digits (0x2A code already exists); at most
//    max_keypad_codes (0x29 too many entries); an unknown id, an impossible date or time of
//    day, or a weekday byte above 0x7F -> 0x23 bad parameter.
//  - Authorizations (PIN): Invite -> Authorization-ID (Invite) then COMPLETE (0x29 when
//    max_authorizations are held); Update, Remove -> COMPLETE (0x24 invalid auth id for an id
//    the lock does not hold); Request -> Authorization Entry Count, the entries by id as for
//    codes (revoked ones left out), COMPLETE.
//  - Request Log Entries (PIN) -> [Log Entry Count when the flag is set], the entries, COMPLETE.
//    Start index 0 starts at the oldest entry (sort order 0, ascending) or the newest (1,
//    descending); any other start index starts at the entry with that index, or the next one in
//    the sort direction. Entries are numbered from 1 and never renumbered; the oldest are
//    dropped beyond max_log_entries.
//  - Update Time (PIN): sets the lock's clock (0x23 for an impossible date) -> COMPLETE.
//
// Windows (keypad codes and authorizations), the contract rules/lock_entry.h also states:
//  - the from / until dates are UTC (the codec's LockDateTime is UTC): admitted when from <= t <
//    until; an all-zero date means "no limit" on that side;
//  - weekdays and time of day are the lock's local time = UTC + its time-zone offset
//    (SetTimezoneOffset, reported in Keyturner States): weekday bit 6 = Monday .. bit 0 =
//    Sunday, 0 = every day; admitted when from_time <= local hh:mm < until_time, 00:00/00:00 =
//    all day (so an until time at or before the from time admits no time of day).
//
// The "state changed" flag (bit 0 of the iBeacon TX power byte, state_changed()) is set when the
// lock state, the door sensor state or the critical-battery flag changes, and cleared when the
// lock sends Keyturner States to a paired client (a read, or a lock action's transitions).
//
// Secrets: shared keys and the security PIN are never in ToJson() or any message text; keypad
// codes only when asked (ToJson(true)).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_crypto.h"
#include "drivers/ble/nuki_frame.h"
#include "drivers/ble/nuki_pairing.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"

namespace lintel::locksim {

// An indication to send: (characteristic UUID in lower case, value of at most 20 bytes). The same
// type as lock-sim's Peripheral::Indication.
using Indication = std::pair<std::string, std::vector<uint8_t>>;

struct LockPeerOptions {
  std::string name = "Nuki_Lintel";
  // The lock's curve25519 secret key and its UUID; taken from the RandomSource when absent.
  std::optional<ble::Key32> lock_secret;
  std::optional<std::array<uint8_t, 16>> lock_uuid;
  uint16_t security_pin = 0;
  // Ids given to new authorizations: this one, then the next ones (never reused).
  uint32_t first_authorization_id = 1;
  size_t max_authorizations = 100;
  size_t max_keypad_codes = 100;
  size_t max_log_entries = 1000;
  // Wrong security PINs in a row that start a lockout, and how long it lasts (lock's clock).
  int max_pin_attempts = 3;
  std::chrono::seconds pin_lockout{300};
  // How long PressButton() keeps the lock in pairing mode.
  std::chrono::seconds pairing_window{30};
  // What a code accepted at the keypad does.
  ble::LockAction keypad_action = ble::LockAction::kUnlock;
  int16_t timezone_offset_min = 0;
  ble::LockState initial_lock_state = ble::LockState::kLocked;
};

// Why a window admits an instant or not (CheckWindow).
enum class WindowVerdict : uint8_t {
  kInside,
  kBeforeFrom,
  kAfterUntil,
  kWrongWeekday,
  kOutsideTimeOfDay,
  kInvalid,  // an impossible from/until date: nothing is admitted
};
std::string_view WindowVerdictName(WindowVerdict v);  // "inside", "before its from date", ...

// Does `w` admit `t` (the lock's clock, UTC) for a lock whose time-zone offset is
// `timezone_offset_min`? See "Windows" in the file comment. Not time limited = always inside.
WindowVerdict CheckWindow(const ble::AccessWindow& w, Instant t, int timezone_offset_min);

// A BLE authorization the lock holds (the gateway's own pairing, apps, invited keys).
struct LockAuthorization {
  uint32_t id = 0;
  ble::IdType id_type = ble::IdType::kApp;
  uint32_t app_id = 0;
  std::string name;
  bool enabled = true;
  bool remote_allowed = false;
  ble::AccessWindow window;
  ble::LockDateTime created;
  ble::LockDateTime last_active;
  uint16_t lock_count = 0;
  bool revoked = false;     // SetAuthorizationRevoked: the lock acts as if it did not know it
  ble::Key32 shared_key{};  // a secret: never printed (ToJson leaves it out)
};

// A keypad code the lock holds.
struct LockKeypadCode {
  uint16_t id = 0;
  uint32_t code = 0;
  std::string name;
  bool enabled = true;
  ble::AccessWindow window;
  ble::LockDateTime created;
  ble::LockDateTime last_active;
  uint16_t lock_count = 0;
};

// The lock's physical and protocol state.
struct LockPeerState {
  ble::LockState lock_state = ble::LockState::kLocked;
  ble::Trigger trigger = ble::Trigger::kSystem;  // of the last state change
  ble::DoorSensorState door = ble::DoorSensorState::kDoorClosed;
  int battery_percent = 100;
  bool battery_critical = false;
  bool jammed = false;  // SetJammed: the next lock action finds the motor blocked
  bool pairing_mode = false;
  Instant now{};
  int16_t timezone_offset_min = 0;
  bool state_changed = false;
  ble::LockAction last_action = ble::LockAction::kUnlock;
  ble::Trigger last_action_trigger = ble::Trigger::kSystem;
  ble::CompletionStatus last_action_completion = ble::CompletionStatus::kSuccess;
};

// What happened when someone typed a code on the lock's keypad.
struct KeypadResult {
  enum class Outcome : uint8_t {
    kAccepted,       // the lock turned (keypad_action)
    kUnknownCode,    // no code has these digits
    kDisabled,       // the code is disabled
    kOutsideWindow,  // `window` says why
    kMotorBlocked,   // the code was good but the motor is jammed
  };
  Outcome outcome = Outcome::kUnknownCode;
  bool accepted() const { return outcome == Outcome::kAccepted; }
  std::optional<uint16_t> code_id;                                         // the code that matched
  WindowVerdict window = WindowVerdict::kInside;                           // for kOutsideWindow
  ble::CompletionStatus completion = ble::CompletionStatus::kInvalidCode;  // as logged
};
std::string_view KeypadOutcomeName(KeypadResult::Outcome o);  // "accepted", "unknown code", ...

class LockPeer {
 public:
  // `random` and `nonces` must outlive the LockPeer. `now` is the lock's clock at power-on.
  LockPeer(LockPeerOptions options, ble::RandomSource& random, ble::NonceSource& nonces,
           Instant now);
  ~LockPeer();
  LockPeer(const LockPeer&) = delete;
  LockPeer& operator=(const LockPeer&) = delete;

  // --- GATT --------------------------------------------------------------------------------

  // A central wrote `value` to the characteristic `characteristic_uuid` (lower or upper case).
  // Returns the indications to send, in order (see the file comment); none while a frame is
  // incomplete. Errors: NotFound for a characteristic the lock does not have or that takes no
  // writes (the write fails at the GATT level; the lock's protocol errors are indications).
  Result<std::vector<Indication>> OnWrite(std::string_view characteristic_uuid,
                                          std::span<const uint8_t> value);
  // A central connected / the connection dropped: both forget half-done exchanges (partial
  // frames, a pairing in progress, the last challenge). Codes, authorizations, the log, the
  // PIN attempt count and the fault switches stay.
  void OnConnect();
  void OnDisconnect();

  // --- the lock's clock --------------------------------------------------------------------

  void SetTime(Instant now);
  void AdvanceTime(std::chrono::seconds by);
  Instant now() const { return now_; }
  void SetTimezoneOffset(int16_t minutes) { state_.timezone_offset_min = minutes; }

  // --- the physical lock -------------------------------------------------------------------

  // The button: pairing mode for options.pairing_window of the lock's clock.
  void PressButton();
  bool pairing_mode() const;
  // Someone types `code` on the lock's keypad (and presses the key): the lock checks it by its
  // own clock, turns on success, and logs a keypad action either way.
  KeypadResult EnterKeypadCode(uint32_t code);
  // Someone turns the knob / presses the button: the state changes, logged with trigger manual.
  void ManualAction(ble::LockAction action);
  void SetDoor(bool open);
  // Battery level 0..100 and the critical flag (Keyturner States, Battery Report).
  void SetBattery(int percent, bool critical);
  // While jammed, lock actions (BLE, keypad, manual) fail with motor blocked.
  void SetJammed(bool jammed);

  // --- provisioning (what the lock already holds before a test or demo starts) ----------------

  // Adds an authorization as if paired or invited earlier; returns its id. Errors:
  // FailedPrecondition when max_authorizations are held.
  Result<uint32_t> AddAuthorization(ble::IdType id_type, std::string name, uint32_t app_id,
                                    const ble::Key32& shared_key,
                                    const ble::AccessWindow& window = {});
  // Adds a keypad code with the checks of Add Keypad Code; returns its id. Errors:
  // InvalidArgument (code invalid, bad window), AlreadyExists, FailedPrecondition (full).
  Result<uint16_t> AddKeypadCode(uint32_t code, std::string name,
                                 const ble::AccessWindow& window = {}, bool enabled = true);
  void set_security_pin(uint16_t pin) { options_.security_pin = pin; }

  // --- fault switches ----------------------------------------------------------------------

  // The next `n` encrypted commands are answered Error Report 0x45 busy.
  void SetBusy(int n) { busy_ = n; }
  // Every keypad code is gone (a keypad reset); ids are not reused.
  void LoseCodes();
  // The next frame the lock sends has a wrong CRC (inside the box when encrypted).
  void CorruptNextCrc() { corrupt_next_crc_ = true; }
  // The next `n` indications are not sent (lost on the air).
  void DropNextIndications(int n) { drop_ = n; }
  // While revoked, the lock acts as if it did not know the authorization (0x20 not authorized,
  // not listed). Errors: NotFound.
  Status SetAuthorizationRevoked(uint32_t id, bool revoked = true);

  // --- introspection -----------------------------------------------------------------------

  LockPeerState state() const;
  bool state_changed() const { return state_.state_changed; }
  // All authorizations (revoked ones too), by id.
  std::vector<LockAuthorization> authorizations() const;
  // The keypad codes, by id.
  std::vector<LockKeypadCode> codes() const;
  // The access log, oldest first.
  const std::vector<ble::LogEntry>& log() const { return log_; }
  // Lock Action commands received from a paired client (decrypted and decoded, whatever the
  // answer), and the action the last one asked for. lock-sim reports each (NukiPeripheral).
  uint64_t lock_action_commands() const { return lock_action_commands_; }
  ble::LockAction last_commanded_action() const { return last_commanded_action_; }
  const ble::Key32& public_key() const { return keys_.public_key; }
  const std::array<uint8_t, 16>& uuid() const { return uuid_; }
  const LockPeerOptions& options() const { return options_; }
  // The whole state as one JSON object: clock, state, battery, door, faults, authorizations
  // (without keys), codes (digits only when `reveal_codes`), the log. Never the security PIN.
  std::string ToJson(bool reveal_codes = false) const;

 private:
  struct Out;  // replies being built for one write
  enum class Pin : uint8_t { kOk, kBad, kLockedOut };

  void ForgetExchanges();
  void OnPairingFrame(const std::vector<uint8_t>& frame, Out& out);
  void OnGdioFrame(const std::vector<uint8_t>& frame, Out& out);
  void OnEncryptedFrame(const std::vector<uint8_t>& frame, Out& out);
  void Dispatch(uint32_t auth_id, const ble::Message& m, Out& out);

  // Per-command handlers: each sends its replies (or an Error Report) into `out`.
  void OnRequestData(const ble::RequestData& r, Out& out);
  void OnLockAction(uint32_t auth_id, const ble::LockActionRequest& r, Out& out);
  void OnAddCode(const ble::KeypadCodeAdd& r, Out& out);
  void OnUpdateCode(const ble::KeypadCodeUpdate& r, Out& out);
  void OnRemoveCode(const ble::KeypadCodeRemove& r, Out& out);
  void OnRequestCodes(const ble::KeypadCodeRequest& r, Out& out);
  void OnInvite(const ble::AuthorizationInvite& r, Out& out);
  void OnUpdateAuthorization(const ble::AuthorizationUpdate& r, Out& out);
  void OnRemoveAuthorization(const ble::AuthorizationRemove& r, Out& out);
  void OnRequestAuthorizations(const ble::AuthorizationRequest& r, Out& out);
  void OnRequestLog(const ble::LogRequest& r, Out& out);
  void OnUpdateTime(const ble::UpdateTime& r, Out& out);

  // Replies: encrypted for the authorization `out` answers (else unencrypted on its
  // characteristic), cut into indications; CorruptNextCrc applies here.
  void Reply(Out& out, const ble::Message& m);
  void Refuse(Out& out, ble::ErrorCode code, uint16_t command);
  // Keyturner States to a paired client: clears the "state changed" flag.
  void ReplyStates(Out& out);
  // Checks nK (used up) and the PIN; sends the error and returns false when either is wrong.
  bool Authenticate(const ble::Nonce32& nonce, std::optional<uint16_t> pin, uint16_t command,
                    Out& out);
  Pin CheckPin(uint16_t pin);
  // Code checks shared by Add and Update (and AddKeypadCode): 0 when fine, else the error code.
  uint8_t CheckCode(uint32_t code, const ble::AccessWindow& window,
                    std::optional<uint16_t> except_id) const;

  ble::KeyturnerStates States() const;
  ble::BatteryReport Battery() const;
  ble::LockDateTime Stamp() const;
  void SetLockState(ble::LockState s, ble::Trigger trigger);
  // Runs `action` (turning states into `out` when given); returns its completion status.
  ble::CompletionStatus Turn(ble::LockAction action, ble::Trigger trigger, Out* out);
  void AddLog(uint32_t auth_id, std::string name, ble::LoggingType type, std::vector<uint8_t> data);
  LockAuthorization* FindAuthorization(uint32_t id);
  LockKeypadCode* FindCode(uint16_t id);

  LockPeerOptions options_;
  ble::RandomSource& random_;
  ble::NonceSource& nonces_;
  ble::KeyPair keys_;
  std::array<uint8_t, 16> uuid_{};
  Instant now_;
  LockPeerState state_;
  std::optional<Instant> pairing_until_;

  std::map<uint32_t, LockAuthorization> authorizations_;
  uint32_t next_authorization_id_;
  std::map<uint16_t, LockKeypadCode> codes_;
  uint16_t next_code_id_ = 1;
  std::vector<ble::LogEntry> log_;
  uint32_t next_log_index_ = 1;

  // One connection's exchanges.
  ble::Reassembler pairing_rx_{ble::FrameKind::kPlain};
  ble::Reassembler gdio_rx_{ble::FrameKind::kPlain};
  ble::Reassembler usdio_rx_{ble::FrameKind::kEncrypted};
  std::unique_ptr<ble::LockPairing> pairing_;
  std::optional<std::pair<uint32_t, ble::Nonce32>> challenge_;  // (authorization id, nK)

  uint64_t lock_action_commands_ = 0;
  ble::LockAction last_commanded_action_ = ble::LockAction::kUnlock;

  int pin_failures_ = 0;
  std::optional<Instant> pin_locked_until_;
  int busy_ = 0;
  int drop_ = 0;
  bool corrupt_next_crc_ = false;
};

}  // namespace lintel::locksim
