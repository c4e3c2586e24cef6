// The commands of the Nuki Bluetooth API that a gateway uses (shared/protocols/nuki-ble.md), as
// typed payloads with Encode/Decode in both directions, so the client (nuki_client.h) and the
// simulated lock (tools/lock-sim) share one codec. Library `lintel_ble`, pure, thread-safe.
//
// Conventions:
//  - Every payload struct has `static constexpr Command kCommand`, `std::vector<uint8_t>
//    Encode() const` and `static Result<T> Decode(std::span<const uint8_t> payload)`;
//    ToMessage()/FromMessage() wrap them with the command id.
//  - Decode checks the size first and never reads out of bounds. Errors are InvalidArgument
//    "<Command name> (0xNNNN): payload of N bytes, expected M" (or "M..K"). Fixed-size
//    commands must match exactly. Messages that newer lock firmware extends (Keyturner States,
//    Battery Report, Log Entry Count, Keypad Code ID, Authorization-ID (Invite)) accept a longer
//    payload up to kMaxPayloadSize and keep the unknown tail in `extra`, so Encode(Decode(x)) == x.
//  - Enum fields hold the raw byte: a value this codec does not name decodes and re-encodes
//    unchanged (the *Name() functions say "unknown").
//  - Strings are fixed-width, zero-padded fields: Encode truncates a longer string to the width
//    (bytes, not characters); Decode stops at the first NUL.
//  - Dates are LockDateTime (year u16, month, day, hour, minute, second: 7 bytes), the lock's
//    clock in UTC; times of day are (hour, minute).
//  - `nonce` is the challenge nK the lock sent for this command; `pin` the security PIN (u16).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/ble/nuki_crypto.h"
#include "drivers/ble/nuki_frame.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"

namespace lintel::ble {

enum class Command : uint16_t {
  kRequestData = 0x0001,
  kPublicKey = 0x0003,
  kChallenge = 0x0004,
  kAuthorizationAuthenticator = 0x0005,
  kAuthorizationData = 0x0006,
  kAuthorizationId = 0x0007,
  kRemoveAuthorization = 0x0008,
  kRequestAuthorizations = 0x0009,
  kAuthorizationEntry = 0x000A,
  kAuthorizationDataInvite = 0x000B,
  kKeyturnerStates = 0x000C,
  kLockAction = 0x000D,
  kStatus = 0x000E,
  kBatteryReport = 0x0011,
  kErrorReport = 0x0012,
  kAuthorizationIdConfirmation = 0x001E,
  kAuthorizationIdInvite = 0x001F,
  kUpdateTime = 0x0021,
  kUpdateAuthorization = 0x0025,
  kAuthorizationCount = 0x0027,
  kRequestLogEntries = 0x0031,
  kLogEntry = 0x0032,
  kLogEntryCount = 0x0033,
  kAddKeypadCode = 0x0041,
  kKeypadCodeId = 0x0042,
  kRequestKeypadCodes = 0x0043,
  kKeypadCodeCount = 0x0044,
  kKeypadCode = 0x0045,
  kUpdateKeypadCode = 0x0046,
  kRemoveKeypadCode = 0x0047,
};
// "Keyturner States", ...; "unknown command" for ids not listed above.
std::string_view CommandName(uint16_t command);
inline std::string_view CommandName(Command c) { return CommandName(static_cast<uint16_t>(c)); }

// Error Report codes (the lock refused or did not understand a command).
enum class ErrorCode : uint8_t {
  kNotPairing = 0x10,           // "not pairing": the lock is not in pairing mode
  kBadAuthenticator = 0x11,     // "bad authenticator"
  kPairingBadParameter = 0x12,  // "bad parameter" (pairing)
  kMaxUsers = 0x13,             // "max users"
  kNotAuthorized = 0x20,        // "not authorized"
  kBadPin = 0x21,               // "bad PIN"
  kBadNonce = 0x22,             // "bad nonce"
  kBadParameter = 0x23,         // "bad parameter"
  kInvalidAuthId = 0x24,        // "invalid auth id"
  kDisabled = 0x25,             // "disabled"
  kRemoteNotAllowed = 0x26,     // "remote not allowed"
  kTimeNotAllowed = 0x27,       // "time not allowed"
  kTooManyPinAttempts = 0x28,   // "too many PIN attempts"
  kTooManyEntries = 0x29,       // "too many entries"
  kCodeAlreadyExists = 0x2A,    // "code already exists"
  kCodeInvalid = 0x2B,          // "code invalid"
  kCodeInvalidTimeout1 = 0x2C,  // "code invalid, timeout 1"
  kCodeInvalidTimeout2 = 0x2D,
  kCodeInvalidTimeout3 = 0x2E,
  kAutoUnlockTooRecent = 0x40,   // "auto unlock too recent"
  kPositionUnknown = 0x41,       // "position unknown"
  kMotorBlocked = 0x42,          // "motor blocked"
  kClutchFailure = 0x43,         // "clutch failure"
  kMotorTimeout = 0x44,          // "motor timeout"
  kBusy = 0x45,                  // "busy"
  kCanceled = 0x46,              // "canceled"
  kNotCalibrated = 0x47,         // "not calibrated"
  kMotorPositionLimit = 0x48,    // "motor position limit"
  kMotorLowVoltage = 0x49,       // "motor low voltage"
  kMotorPowerFailure = 0x4A,     // "motor power failure"
  kClutchPowerFailure = 0x4B,    // "clutch power failure"
  kVoltageTooLow = 0x4C,         // "voltage too low"
  kFirmwareUpdateNeeded = 0x4D,  // "firmware update needed"
  kBadCrc = 0xFD,                // "bad CRC"
  kBadLength = 0xFE,             // "bad length"
  kUnknown = 0xFF,               // "unknown"
};
// The names in the comments above; "unknown error" for other values.
std::string_view ErrorName(uint8_t code);
inline std::string_view ErrorName(ErrorCode c) { return ErrorName(static_cast<uint8_t>(c)); }

// The Status for an Error Report: "lock error 0x21 bad PIN (Add Keypad Code 0x0041)". Codes:
// Unavailable for what a retry may cure (busy, bad CRC, bad length, bad nonce, unknown, motor
// timeout, canceled); AlreadyExists for code already exists; InvalidArgument for bad parameter
// and code invalid (0x12, 0x23, 0x2B..0x2E); FailedPrecondition for everything else (not
// authorized, bad PIN, not pairing, disabled, time not allowed, too many entries, motor
// blocked, ...).
Status LockErrorStatus(uint8_t code, uint16_t command);
// The lock error code carried by a Status made by LockErrorStatus; nullopt for any other.
std::optional<uint8_t> LockErrorCodeOf(const Status& status);

enum class NukiState : uint8_t {
  kUninitialized = 0x00,
  kPairingMode = 0x01,
  kDoorMode = 0x02,
  kMaintenanceMode = 0x04,
};
std::string_view NukiStateName(NukiState s);  // "uninitialized", "pairing mode", "door mode", ...

enum class LockState : uint8_t {
  kUncalibrated = 0x00,
  kLocked = 0x01,
  kUnlocking = 0x02,
  kUnlocked = 0x03,
  kLocking = 0x04,
  kUnlatched = 0x05,
  kUnlockedLockNGo = 0x06,
  kUnlatching = 0x07,
  kCalibration = 0xFC,
  kBootRun = 0xFD,
  kMotorBlocked = 0xFE,
  kUndefined = 0xFF,
};
std::string_view LockStateName(LockState s);  // "locked", "unlocking", "motor blocked", ...

enum class Trigger : uint8_t {
  kSystem = 0x00,  // Bluetooth command
  kManual = 0x01,
  kButton = 0x02,
  kAutomatic = 0x03,
  kAutoLock = 0x06,
};
std::string_view TriggerName(Trigger t);

enum class LockAction : uint8_t {
  kUnlock = 0x01,
  kLock = 0x02,
  kUnlatch = 0x03,
  kLockNGo = 0x04,
  kLockNGoUnlatch = 0x05,
  kFullLock = 0x06,
  kFobAction1 = 0x81,
  kFobAction2 = 0x82,
  kFobAction3 = 0x83,
};
std::string_view LockActionName(LockAction a);  // "unlock", "lock", "unlatch", "lock 'n' go", ...

enum class CompletionStatus : uint8_t {
  kSuccess = 0x00,
  kMotorBlocked = 0x01,
  kCanceled = 0x02,
  kTooRecent = 0x03,
  kBusy = 0x04,
  kLowMotorVoltage = 0x05,
  kClutchFailure = 0x06,
  kMotorPowerFailure = 0x07,
  kIncompleteFailure = 0x08,
  kInvalidCode = 0xE0,
  kOtherError = 0xFE,
  kUnknown = 0xFF,
};
std::string_view CompletionStatusName(CompletionStatus c);

enum class DoorSensorState : uint8_t {
  kUnavailable = 0x00,
  kDeactivated = 0x01,
  kDoorClosed = 0x02,
  kDoorOpened = 0x03,
  kDoorStateUnknown = 0x04,
  kCalibrating = 0x05,
};
std::string_view DoorSensorStateName(DoorSensorState d);

// Who an authorization belongs to.
enum class IdType : uint8_t { kApp = 0, kBridge = 1, kFob = 2, kKeypad = 3 };
std::string_view IdTypeName(IdType t);  // "app", "bridge", "fob", "keypad"

enum class LoggingType : uint8_t {
  kLoggingEnabled = 0x01,
  kLockAction = 0x02,
  kCalibration = 0x03,
  kInitialization = 0x04,
  kKeypadAction = 0x05,
  kDoorSensor = 0x06,
  kDoorSensorLoggingEnabled = 0x07,
};
std::string_view LoggingTypeName(LoggingType t);

// Status command values.
enum class CommandStatus : uint8_t { kComplete = 0x00, kAccepted = 0x01 };

// ---------------------------------------------------------------------------------------------
// Dates and code rules.

// The lock's date-time fields: year u16, month, day, hour, minute, second (7 bytes on the wire),
// UTC. Decoders keep the raw values (a lock sends zeros for "never"); ToInstant validates.
struct LockDateTime {
  uint16_t year = 0;
  uint8_t month = 0;
  uint8_t day = 0;
  uint8_t hour = 0;
  uint8_t minute = 0;
  uint8_t second = 0;

  bool operator==(const LockDateTime&) const = default;
};
// Errors: InvalidArgument for an impossible date or time (month 13, 2026-02-30, hour 24, ...).
Result<Instant> ToInstant(const LockDateTime& t);
// Errors: InvalidArgument when the year is outside 0..65535.
Result<LockDateTime> ToLockDateTime(Instant t);
// "2016-03-07 08:15:30" (raw fields, even when impossible).
std::string FormatLockDateTime(const LockDateTime& t);

struct TimeOfDay {
  uint8_t hour = 0;
  uint8_t minute = 0;

  bool operator==(const TimeOfDay&) const = default;
  int minutes() const { return hour * 60 + minute; }
};

// Allowed weekdays bit mask: bit 6 Monday .. bit 0 Sunday; none set = every day.
inline constexpr uint8_t kMonday = 1 << 6, kTuesday = 1 << 5, kWednesday = 1 << 4,
                         kThursday = 1 << 3, kFriday = 1 << 2, kSaturday = 1 << 1, kSunday = 1;

// A keypad code the lock accepts: exactly 6 digits, none of them 0, not starting with "12".
bool ValidNukiCode(uint32_t code);

// ---------------------------------------------------------------------------------------------
// Generic commands.

// Request Data 0x0001: the command the sender wants | [arguments].
struct RequestData {
  static constexpr Command kCommand = Command::kRequestData;
  uint16_t command = 0;
  std::vector<uint8_t> args;  // none for every request a gateway makes

  bool operator==(const RequestData&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<RequestData> Decode(std::span<const uint8_t> p);  // 2..kMaxPayloadSize bytes
};

// Status 0x000E: COMPLETE or ACCEPTED.
struct StatusMessage {
  static constexpr Command kCommand = Command::kStatus;
  uint8_t status = 0;  // CommandStatus

  bool operator==(const StatusMessage&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<StatusMessage> Decode(std::span<const uint8_t> p);  // 1 byte
};

// Error Report 0x0012: error code | the command it refers to.
struct ErrorReport {
  static constexpr Command kCommand = Command::kErrorReport;
  uint8_t code = 0;  // ErrorCode
  uint16_t command = 0;

  bool operator==(const ErrorReport&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<ErrorReport> Decode(std::span<const uint8_t> p);  // 3 bytes
};

// Challenge 0x0004: the lock's nonce nK for the next command.
struct Challenge {
  static constexpr Command kCommand = Command::kChallenge;
  Nonce32 nonce{};

  bool operator==(const Challenge&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<Challenge> Decode(std::span<const uint8_t> p);  // 32 bytes
};

// ---------------------------------------------------------------------------------------------
// Pairing (unencrypted, pairing GDIO). The authenticators are HMAC-SHA256 keyed with the shared
// key over: Authorization Authenticator: client pk | lock pk | nK;  Authorization Data: id type |
// app id | name (32) | nA | nK;  Authorization-ID: authorization id | UUID | nK' | nA;
// Authorization-ID Confirmation: authorization id | nK'. nuki_pairing.h computes them.

// Public Key 0x0003 (both directions).
struct PublicKey {
  static constexpr Command kCommand = Command::kPublicKey;
  Key32 key{};

  bool operator==(const PublicKey&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<PublicKey> Decode(std::span<const uint8_t> p);  // 32 bytes
};

// Authorization Authenticator 0x0005.
struct AuthorizationAuthenticator {
  static constexpr Command kCommand = Command::kAuthorizationAuthenticator;
  Key32 authenticator{};

  bool operator==(const AuthorizationAuthenticator&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationAuthenticator> Decode(std::span<const uint8_t> p);  // 32 bytes
};

// Authorization Data 0x0006: authenticator | id type | app id | name (32) | nA.
struct AuthorizationData {
  static constexpr Command kCommand = Command::kAuthorizationData;
  Key32 authenticator{};
  IdType id_type = IdType::kBridge;
  uint32_t app_id = 0;
  std::string name;  // 32 bytes
  Nonce32 nonce{};   // nA

  bool operator==(const AuthorizationData&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationData> Decode(std::span<const uint8_t> p);  // 101 bytes
};

// Authorization-ID 0x0007: authenticator | authorization id | lock UUID (16) | nK'.
struct AuthorizationId {
  static constexpr Command kCommand = Command::kAuthorizationId;
  Key32 authenticator{};
  uint32_t authorization_id = 0;
  std::array<uint8_t, 16> lock_uuid{};
  Nonce32 nonce{};

  bool operator==(const AuthorizationId&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationId> Decode(std::span<const uint8_t> p);  // 84 bytes
};

// Authorization-ID Confirmation 0x001E: authenticator | authorization id.
struct AuthorizationIdConfirmation {
  static constexpr Command kCommand = Command::kAuthorizationIdConfirmation;
  Key32 authenticator{};
  uint32_t authorization_id = 0;

  bool operator==(const AuthorizationIdConfirmation&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationIdConfirmation> Decode(std::span<const uint8_t> p);  // 36 bytes
};

// ---------------------------------------------------------------------------------------------
// State, actions, battery, time (encrypted, USDIO).

// The fields newer firmware (API 2.2) appends to Keyturner States.
struct KeyturnerStatesV22 {
  LockAction last_lock_action = LockAction::kUnlock;
  Trigger last_lock_action_trigger = Trigger::kSystem;
  CompletionStatus last_lock_action_completion = CompletionStatus::kSuccess;
  DoorSensorState door_sensor_state = DoorSensorState::kUnavailable;

  bool operator==(const KeyturnerStatesV22&) const = default;
};

// Keyturner States 0x000C: nuki state | lock state | trigger | current time (7) | timezone
// offset (s16 minutes) | critical battery state | config update count | lock 'n' go timer,
// then (2.2) last lock action | its trigger | its completion status | door sensor state.
struct KeyturnerStates {
  static constexpr Command kCommand = Command::kKeyturnerStates;
  NukiState nuki_state = NukiState::kUninitialized;
  LockState lock_state = LockState::kUndefined;
  Trigger trigger = Trigger::kSystem;
  LockDateTime current_time;
  int16_t timezone_offset_min = 0;
  uint8_t critical_battery_state = 0;  // bit 0 critical, bit 1 charging, bits 2..7 level / 2
  uint8_t config_update_count = 0;
  uint8_t lock_n_go_timer = 0;
  std::optional<KeyturnerStatesV22> v22;  // present when the payload has >= 19 bytes
  std::vector<uint8_t> extra;             // fields after those, kept verbatim

  bool battery_critical() const { return critical_battery_state & 0x01; }
  bool battery_charging() const { return critical_battery_state & 0x02; }
  // Battery level 0..100 % from bits 2..7 (newer firmware; older ones send 0 there).
  int battery_percent() const { return (critical_battery_state & 0xFC) >> 1; }

  bool operator==(const KeyturnerStates&) const = default;
  std::vector<uint8_t> Encode() const;
  // 15..kMaxPayloadSize bytes. 16..18 bytes: the tail goes to `extra`, `v22` stays empty.
  static Result<KeyturnerStates> Decode(std::span<const uint8_t> p);
};

// Lock Action 0x000D: action | app id | flags | [name suffix (20)] | nK.
struct LockActionRequest {
  static constexpr Command kCommand = Command::kLockAction;
  LockAction action = LockAction::kUnlock;
  uint32_t app_id = 0;
  uint8_t flags = 0;                       // bit 0 auto unlock, bit 1 force
  std::optional<std::string> name_suffix;  // 20 bytes when present
  Nonce32 nonce{};

  bool operator==(const LockActionRequest&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<LockActionRequest> Decode(std::span<const uint8_t> p);  // 38 or 58 bytes
};

// Battery Report 0x0011: battery drain (u16 mWs) | battery voltage (u16 mV) | critical battery
// state | lock action | start voltage | lowest voltage | lock distance (u16 degrees) | start
// temperature (s8 °C) | max turn current (u16 mA) | battery resistance (u16 mOhm).
struct BatteryReport {
  static constexpr Command kCommand = Command::kBatteryReport;
  uint16_t battery_drain = 0;
  uint16_t battery_voltage_mv = 0;
  uint8_t critical_battery_state = 0;
  LockAction lock_action = LockAction::kUnlock;
  uint16_t start_voltage_mv = 0;
  uint16_t lowest_voltage_mv = 0;
  uint16_t lock_distance = 0;
  int8_t start_temperature = 0;
  uint16_t max_turn_current = 0;
  uint16_t battery_resistance = 0;
  std::vector<uint8_t> extra;

  bool battery_critical() const { return critical_battery_state & 0x01; }

  bool operator==(const BatteryReport&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<BatteryReport> Decode(std::span<const uint8_t> p);  // 17..kMaxPayloadSize bytes
};

// Update Time 0x0021: time (7) | nK | PIN.
struct UpdateTime {
  static constexpr Command kCommand = Command::kUpdateTime;
  LockDateTime time;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const UpdateTime&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<UpdateTime> Decode(std::span<const uint8_t> p);  // 41 bytes
};

// ---------------------------------------------------------------------------------------------
// Keypad codes.

// The validity window of a keypad code or an authorization, as the lock checks it by its own
// clock: when `time_limited`, only between `from` and `until`, on `weekdays` (0 = every day),
// between `from_time` and `until_time` of day (both 00:00 = all day).
// On the wire: time limited | from (7) | until (7) | weekdays | from time (2) | until time (2).
struct AccessWindow {
  bool time_limited = false;
  LockDateTime from;
  LockDateTime until;
  uint8_t weekdays = 0;
  TimeOfDay from_time;
  TimeOfDay until_time;

  bool operator==(const AccessWindow&) const = default;
};

// Add Keypad Code 0x0041: code | name (20) | window | nK | PIN.
struct KeypadCodeAdd {
  static constexpr Command kCommand = Command::kAddKeypadCode;
  uint32_t code = 0;  // must satisfy ValidNukiCode (the lock checks; Encode does not)
  std::string name;   // 20 bytes
  AccessWindow window;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const KeypadCodeAdd&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<KeypadCodeAdd> Decode(std::span<const uint8_t> p);  // 78 bytes
};

// Keypad Code ID 0x0042: the id the lock gave the added code | [newer fields, kept in extra].
struct KeypadCodeId {
  static constexpr Command kCommand = Command::kKeypadCodeId;
  uint16_t id = 0;
  std::vector<uint8_t> extra;

  bool operator==(const KeypadCodeId&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<KeypadCodeId> Decode(std::span<const uint8_t> p);  // 2..kMaxPayloadSize bytes
};

// Request Keypad Codes 0x0043: offset | count | nK | PIN. The lock answers Keypad Code Count,
// then one Keypad Code per entry.
struct KeypadCodeRequest {
  static constexpr Command kCommand = Command::kRequestKeypadCodes;
  uint16_t offset = 0;
  uint16_t count = 0;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const KeypadCodeRequest&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<KeypadCodeRequest> Decode(std::span<const uint8_t> p);  // 38 bytes
};

// Keypad Code Count 0x0044: how many codes the lock holds.
struct KeypadCodeCount {
  static constexpr Command kCommand = Command::kKeypadCodeCount;
  uint16_t count = 0;

  bool operator==(const KeypadCodeCount&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<KeypadCodeCount> Decode(std::span<const uint8_t> p);  // 2 bytes
};

// Keypad Code 0x0045 (one entry of the list): id | code | name (20) | enabled | created (7) |
// last active (7) | lock count (u16) | window.
struct KeypadCode {
  static constexpr Command kCommand = Command::kKeypadCode;
  uint16_t id = 0;
  uint32_t code = 0;
  std::string name;
  bool enabled = true;
  LockDateTime created;
  LockDateTime last_active;
  uint16_t lock_count = 0;
  AccessWindow window;

  bool operator==(const KeypadCode&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<KeypadCode> Decode(std::span<const uint8_t> p);  // 63 bytes
};

// Update Keypad Code 0x0046: id | code | name (20) | enabled | window | nK | PIN.
struct KeypadCodeUpdate {
  static constexpr Command kCommand = Command::kUpdateKeypadCode;
  uint16_t id = 0;
  uint32_t code = 0;
  std::string name;
  bool enabled = true;
  AccessWindow window;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const KeypadCodeUpdate&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<KeypadCodeUpdate> Decode(std::span<const uint8_t> p);  // 81 bytes
};

// Remove Keypad Code 0x0047: id | nK | PIN.
struct KeypadCodeRemove {
  static constexpr Command kCommand = Command::kRemoveKeypadCode;
  uint16_t id = 0;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const KeypadCodeRemove&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<KeypadCodeRemove> Decode(std::span<const uint8_t> p);  // 36 bytes
};

// ---------------------------------------------------------------------------------------------
// Authorizations (BLE keys of other apps, bridges, fobs).

// Authorization Data (Invite) 0x000B: name (32) | id type | shared key (32) | remote allowed |
// window | nK | PIN. The lock answers Authorization-ID (Invite).
struct AuthorizationInvite {
  static constexpr Command kCommand = Command::kAuthorizationDataInvite;
  std::string name;  // 32 bytes
  IdType id_type = IdType::kApp;
  Key32 shared_key{};  // the new user's key (a secret: never log it)
  bool remote_allowed = false;
  AccessWindow window;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const AuthorizationInvite&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationInvite> Decode(std::span<const uint8_t> p);  // 120 bytes
};

// Authorization-ID (Invite) 0x001F: the new authorization id | [date created (7), ...: extra].
struct AuthorizationIdInvite {
  static constexpr Command kCommand = Command::kAuthorizationIdInvite;
  uint32_t authorization_id = 0;
  std::vector<uint8_t> extra;

  bool operator==(const AuthorizationIdInvite&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationIdInvite> Decode(std::span<const uint8_t> p);  // 4..max bytes
};

// Update Authorization 0x0025: authorization id | name (32) | enabled | remote allowed | window
// | nK | PIN.
struct AuthorizationUpdate {
  static constexpr Command kCommand = Command::kUpdateAuthorization;
  uint32_t authorization_id = 0;
  std::string name;
  bool enabled = true;
  bool remote_allowed = false;
  AccessWindow window;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const AuthorizationUpdate&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationUpdate> Decode(std::span<const uint8_t> p);  // 92 bytes
};

// Remove Authorization 0x0008: authorization id | nK | PIN.
struct AuthorizationRemove {
  static constexpr Command kCommand = Command::kRemoveAuthorization;
  uint32_t authorization_id = 0;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const AuthorizationRemove&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationRemove> Decode(std::span<const uint8_t> p);  // 38 bytes
};

// Request Authorization Entries 0x0009: offset | count | nK | PIN. The lock answers
// Authorization Entry Count (0x0027, newer firmware) and one Authorization Entry per entry.
struct AuthorizationRequest {
  static constexpr Command kCommand = Command::kRequestAuthorizations;
  uint16_t offset = 0;
  uint16_t count = 0;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const AuthorizationRequest&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationRequest> Decode(std::span<const uint8_t> p);  // 38 bytes
};

// Authorization Entry Count 0x0027.
struct AuthorizationCount {
  static constexpr Command kCommand = Command::kAuthorizationCount;
  uint16_t count = 0;

  bool operator==(const AuthorizationCount&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationCount> Decode(std::span<const uint8_t> p);  // 2 bytes
};

// Authorization Entry 0x000A: authorization id | id type | name (32) | enabled | remote allowed
// | created (7) | last active (7) | lock count (u16) | window.
struct AuthorizationEntry {
  static constexpr Command kCommand = Command::kAuthorizationEntry;
  uint32_t authorization_id = 0;
  IdType id_type = IdType::kApp;
  std::string name;
  bool enabled = true;
  bool remote_allowed = false;
  LockDateTime created;
  LockDateTime last_active;
  uint16_t lock_count = 0;
  AccessWindow window;

  bool operator==(const AuthorizationEntry&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<AuthorizationEntry> Decode(std::span<const uint8_t> p);  // 75 bytes
};

// ---------------------------------------------------------------------------------------------
// Access log.

// Request Log Entries 0x0031: start index | count | sort order (0 ascending, 1 descending) |
// total count flag | nK | PIN. The lock answers Log Entry Count when the flag is set, then one
// Log Entry per entry.
struct LogRequest {
  static constexpr Command kCommand = Command::kRequestLogEntries;
  uint32_t start_index = 0;
  uint16_t count = 0;
  uint8_t sort_order = 0;
  bool total_count = true;
  Nonce32 nonce{};
  uint16_t pin = 0;

  bool operator==(const LogRequest&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<LogRequest> Decode(std::span<const uint8_t> p);  // 42 bytes
};

// Log Entry Count 0x0033: logging enabled | count | [door sensor flags...: extra].
struct LogEntryCount {
  static constexpr Command kCommand = Command::kLogEntryCount;
  bool logging_enabled = true;
  uint16_t count = 0;
  std::vector<uint8_t> extra;

  bool operator==(const LogEntryCount&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<LogEntryCount> Decode(std::span<const uint8_t> p);  // 3..max bytes
};

// Type-specific data of a lock action log entry: action | trigger | flags | completion status.
struct LockActionLog {
  LockAction action = LockAction::kUnlock;
  Trigger trigger = Trigger::kSystem;
  uint8_t flags = 0;
  CompletionStatus completion = CompletionStatus::kSuccess;

  bool operator==(const LockActionLog&) const = default;
};
// Type-specific data of a keypad action log entry: action | source | completion status | code id.
struct KeypadActionLog {
  LockAction action = LockAction::kUnlock;
  uint8_t source = 0;
  CompletionStatus completion = CompletionStatus::kSuccess;
  uint16_t code_id = 0;

  bool operator==(const KeypadActionLog&) const = default;
};

// Log Entry 0x0032: index | timestamp (7) | authorization id | name (32) | logging type |
// type-specific data (layout as the open-source NukiBleEsp32 library reads it; check against
// the spec before relying on a field).
struct LogEntry {
  static constexpr Command kCommand = Command::kLogEntry;
  uint32_t index = 0;
  LockDateTime timestamp;
  uint32_t authorization_id = 0;
  std::string name;
  LoggingType type = LoggingType::kLockAction;
  std::vector<uint8_t> data;

  // The data read as a lock action (type kLockAction, >= 4 bytes) or keypad action (type
  // kKeypadAction, >= 5 bytes); nullopt otherwise.
  std::optional<LockActionLog> lock_action() const;
  std::optional<KeypadActionLog> keypad_action() const;
  static std::vector<uint8_t> EncodeData(const LockActionLog& d);
  static std::vector<uint8_t> EncodeData(const KeypadActionLog& d);

  bool operator==(const LogEntry&) const = default;
  std::vector<uint8_t> Encode() const;
  static Result<LogEntry> Decode(std::span<const uint8_t> p);  // 48..kMaxPayloadSize bytes
};

// ---------------------------------------------------------------------------------------------
// Messages.

// "expected Challenge (0x0004), got Status (0x000E)".
std::string WrongCommandMessage(uint16_t expected, uint16_t got);
// "Keyturner States (0x000C)".
std::string DescribeCommand(uint16_t command);

template <typename T>
Message ToMessage(const T& payload) {
  return Message{static_cast<uint16_t>(T::kCommand), payload.Encode()};
}
// Errors: InvalidArgument when the message is another command ("expected Challenge (0x0004),
// got Status (0x000E)"), or whatever T::Decode says.
template <typename T>
Result<T> FromMessage(const Message& m) {
  if (m.command != static_cast<uint16_t>(T::kCommand)) {
    return Status::InvalidArgument(
        WrongCommandMessage(static_cast<uint16_t>(T::kCommand), m.command));
  }
  return T::Decode(m.payload);
}

// The "state changed" flag of a Nuki lock's iBeacon advertisement: bit 0 of the TX power byte.
// `apple_data` is the manufacturer data for company 0x004C (as BlueZ reports it, without the
// company id): 0x02 0x15 | service UUID (16) | major (2) | minor (2) | TX power (1). nullopt when
// it is not an iBeacon frame of that shape.
std::optional<bool> BeaconStateChanged(std::span<const uint8_t> apple_data);

}  // namespace lintel::ble
