#include "drivers/ble/nuki_commands.h"

#include <cstdio>
#include <limits>

#include "drivers/ble/wire.h"

namespace lintel::ble {
namespace {

using wire::Reader;
using wire::Writer;

std::string Hex(unsigned v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*X", digits, v);
  return buf;
}

Status CheckSize(Command c, std::span<const uint8_t> p, size_t min, size_t max) {
  if (p.size() >= min && p.size() <= max) return Status::Ok();
  std::string expected =
      min == max ? std::to_string(min) : std::to_string(min) + ".." + std::to_string(max);
  return Status::InvalidArgument(DescribeCommand(static_cast<uint16_t>(c)) + ": payload of " +
                                 std::to_string(p.size()) + " bytes, expected " + expected);
}
Status CheckSize(Command c, std::span<const uint8_t> p, size_t exact) {
  return CheckSize(c, p, exact, exact);
}

void PutDate(Writer& w, const LockDateTime& t) {
  w.U16(t.year);
  w.U8(t.month);
  w.U8(t.day);
  w.U8(t.hour);
  w.U8(t.minute);
  w.U8(t.second);
}
LockDateTime GetDate(Reader& r) {
  LockDateTime t;
  t.year = r.U16();
  t.month = r.U8();
  t.day = r.U8();
  t.hour = r.U8();
  t.minute = r.U8();
  t.second = r.U8();
  return t;
}

void PutWindow(Writer& w, const AccessWindow& a) {
  w.U8(a.time_limited ? 1 : 0);
  PutDate(w, a.from);
  PutDate(w, a.until);
  w.U8(a.weekdays);
  w.U8(a.from_time.hour);
  w.U8(a.from_time.minute);
  w.U8(a.until_time.hour);
  w.U8(a.until_time.minute);
}
AccessWindow GetWindow(Reader& r) {
  AccessWindow a;
  a.time_limited = r.U8() != 0;
  a.from = GetDate(r);
  a.until = GetDate(r);
  a.weekdays = r.U8();
  a.from_time.hour = r.U8();
  a.from_time.minute = r.U8();
  a.until_time.hour = r.U8();
  a.until_time.minute = r.U8();
  return a;
}
constexpr size_t kWindowSize = 1 + 7 + 7 + 1 + 2 + 2;  // 20

template <typename E>
uint8_t U8Of(E e) {
  return static_cast<uint8_t>(e);
}

}  // namespace

// --- names -----------------------------------------------------------------------------------

std::string_view CommandName(uint16_t command) {
  switch (static_cast<Command>(command)) {
    case Command::kRequestData:
      return "Request Data";
    case Command::kPublicKey:
      return "Public Key";
    case Command::kChallenge:
      return "Challenge";
    case Command::kAuthorizationAuthenticator:
      return "Authorization Authenticator";
    case Command::kAuthorizationData:
      return "Authorization Data";
    case Command::kAuthorizationId:
      return "Authorization-ID";
    case Command::kRemoveAuthorization:
      return "Remove Authorization";
    case Command::kRequestAuthorizations:
      return "Request Authorization Entries";
    case Command::kAuthorizationEntry:
      return "Authorization Entry";
    case Command::kAuthorizationDataInvite:
      return "Authorization Data (Invite)";
    case Command::kKeyturnerStates:
      return "Keyturner States";
    case Command::kLockAction:
      return "Lock Action";
    case Command::kStatus:
      return "Status";
    case Command::kBatteryReport:
      return "Battery Report";
    case Command::kErrorReport:
      return "Error Report";
    case Command::kAuthorizationIdConfirmation:
      return "Authorization-ID Confirmation";
    case Command::kAuthorizationIdInvite:
      return "Authorization-ID (Invite)";
    case Command::kUpdateTime:
      return "Update Time";
    case Command::kUpdateAuthorization:
      return "Update Authorization";
    case Command::kAuthorizationCount:
      return "Authorization Entry Count";
    case Command::kRequestLogEntries:
      return "Request Log Entries";
    case Command::kLogEntry:
      return "Log Entry";
    case Command::kLogEntryCount:
      return "Log Entry Count";
    case Command::kAddKeypadCode:
      return "Add Keypad Code";
    case Command::kKeypadCodeId:
      return "Keypad Code ID";
    case Command::kRequestKeypadCodes:
      return "Request Keypad Codes";
    case Command::kKeypadCodeCount:
      return "Keypad Code Count";
    case Command::kKeypadCode:
      return "Keypad Code";
    case Command::kUpdateKeypadCode:
      return "Update Keypad Code";
    case Command::kRemoveKeypadCode:
      return "Remove Keypad Code";
  }
  return "unknown command";
}

std::string DescribeCommand(uint16_t command) {
  return std::string(CommandName(command)) + " (" + Hex(command, 4) + ")";
}

std::string WrongCommandMessage(uint16_t expected, uint16_t got) {
  return "expected " + DescribeCommand(expected) + ", got " + DescribeCommand(got);
}

std::string_view ErrorName(uint8_t code) {
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::kNotPairing:
      return "not pairing";
    case ErrorCode::kBadAuthenticator:
      return "bad authenticator";
    case ErrorCode::kPairingBadParameter:
      return "bad parameter";
    case ErrorCode::kMaxUsers:
      return "max users";
    case ErrorCode::kNotAuthorized:
      return "not authorized";
    case ErrorCode::kBadPin:
      return "bad PIN";
    case ErrorCode::kBadNonce:
      return "bad nonce";
    case ErrorCode::kBadParameter:
      return "bad parameter";
    case ErrorCode::kInvalidAuthId:
      return "invalid auth id";
    case ErrorCode::kDisabled:
      return "disabled";
    case ErrorCode::kRemoteNotAllowed:
      return "remote not allowed";
    case ErrorCode::kTimeNotAllowed:
      return "time not allowed";
    case ErrorCode::kTooManyPinAttempts:
      return "too many PIN attempts";
    case ErrorCode::kTooManyEntries:
      return "too many entries";
    case ErrorCode::kCodeAlreadyExists:
      return "code already exists";
    case ErrorCode::kCodeInvalid:
      return "code invalid";
    case ErrorCode::kCodeInvalidTimeout1:
      return "code invalid, timeout 1";
    case ErrorCode::kCodeInvalidTimeout2:
      return "code invalid, timeout 2";
    case ErrorCode::kCodeInvalidTimeout3:
      return "code invalid, timeout 3";
    case ErrorCode::kAutoUnlockTooRecent:
      return "auto unlock too recent";
    case ErrorCode::kPositionUnknown:
      return "position unknown";
    case ErrorCode::kMotorBlocked:
      return "motor blocked";
    case ErrorCode::kClutchFailure:
      return "clutch failure";
    case ErrorCode::kMotorTimeout:
      return "motor timeout";
    case ErrorCode::kBusy:
      return "busy";
    case ErrorCode::kCanceled:
      return "canceled";
    case ErrorCode::kNotCalibrated:
      return "not calibrated";
    case ErrorCode::kMotorPositionLimit:
      return "motor position limit";
    case ErrorCode::kMotorLowVoltage:
      return "motor low voltage";
    case ErrorCode::kMotorPowerFailure:
      return "motor power failure";
    case ErrorCode::kClutchPowerFailure:
      return "clutch power failure";
    case ErrorCode::kVoltageTooLow:
      return "voltage too low";
    case ErrorCode::kFirmwareUpdateNeeded:
      return "firmware update needed";
    case ErrorCode::kBadCrc:
      return "bad CRC";
    case ErrorCode::kBadLength:
      return "bad length";
    case ErrorCode::kUnknown:
      return "unknown";
  }
  return "unknown error";
}

Status LockErrorStatus(uint8_t code, uint16_t command) {
  std::string message = "lock error " + Hex(code, 2) + " " + std::string(ErrorName(code)) + " (" +
                        std::string(CommandName(command)) + " " + Hex(command, 4) + ")";
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::kBusy:
    case ErrorCode::kBadCrc:
    case ErrorCode::kBadLength:
    case ErrorCode::kBadNonce:
    case ErrorCode::kUnknown:
    case ErrorCode::kMotorTimeout:
    case ErrorCode::kCanceled:
      return Status::Unavailable(std::move(message));
    case ErrorCode::kCodeAlreadyExists:
      return Status::AlreadyExists(std::move(message));
    case ErrorCode::kPairingBadParameter:
    case ErrorCode::kBadParameter:
    case ErrorCode::kCodeInvalid:
    case ErrorCode::kCodeInvalidTimeout1:
    case ErrorCode::kCodeInvalidTimeout2:
    case ErrorCode::kCodeInvalidTimeout3:
      return Status::InvalidArgument(std::move(message));
    default:
      return Status::FailedPrecondition(std::move(message));
  }
}

std::optional<uint8_t> LockErrorCodeOf(const Status& status) {
  const std::string& m = status.message();
  static constexpr std::string_view kPrefix = "lock error 0x";
  if (status.ok() || m.size() < kPrefix.size() + 2 || m.compare(0, kPrefix.size(), kPrefix) != 0) {
    return std::nullopt;
  }
  unsigned v = 0;
  for (size_t i = kPrefix.size(); i < kPrefix.size() + 2; ++i) {
    char c = m[i];
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    v = v * 16 + d;
  }
  return static_cast<uint8_t>(v);
}

std::string_view NukiStateName(NukiState s) {
  switch (s) {
    case NukiState::kUninitialized:
      return "uninitialized";
    case NukiState::kPairingMode:
      return "pairing mode";
    case NukiState::kDoorMode:
      return "door mode";
    case NukiState::kMaintenanceMode:
      return "maintenance mode";
  }
  return "unknown";
}

std::string_view LockStateName(LockState s) {
  switch (s) {
    case LockState::kUncalibrated:
      return "uncalibrated";
    case LockState::kLocked:
      return "locked";
    case LockState::kUnlocking:
      return "unlocking";
    case LockState::kUnlocked:
      return "unlocked";
    case LockState::kLocking:
      return "locking";
    case LockState::kUnlatched:
      return "unlatched";
    case LockState::kUnlockedLockNGo:
      return "unlocked (lock 'n' go)";
    case LockState::kUnlatching:
      return "unlatching";
    case LockState::kCalibration:
      return "calibration";
    case LockState::kBootRun:
      return "boot run";
    case LockState::kMotorBlocked:
      return "motor blocked";
    case LockState::kUndefined:
      return "undefined";
  }
  return "unknown";
}

std::string_view TriggerName(Trigger t) {
  switch (t) {
    case Trigger::kSystem:
      return "system";
    case Trigger::kManual:
      return "manual";
    case Trigger::kButton:
      return "button";
    case Trigger::kAutomatic:
      return "automatic";
    case Trigger::kAutoLock:
      return "auto lock";
  }
  return "unknown";
}

std::string_view LockActionName(LockAction a) {
  switch (a) {
    case LockAction::kUnlock:
      return "unlock";
    case LockAction::kLock:
      return "lock";
    case LockAction::kUnlatch:
      return "unlatch";
    case LockAction::kLockNGo:
      return "lock 'n' go";
    case LockAction::kLockNGoUnlatch:
      return "lock 'n' go with unlatch";
    case LockAction::kFullLock:
      return "full lock";
    case LockAction::kFobAction1:
      return "fob action 1";
    case LockAction::kFobAction2:
      return "fob action 2";
    case LockAction::kFobAction3:
      return "fob action 3";
  }
  return "unknown";
}

std::string_view CompletionStatusName(CompletionStatus c) {
  switch (c) {
    case CompletionStatus::kSuccess:
      return "success";
    case CompletionStatus::kMotorBlocked:
      return "motor blocked";
    case CompletionStatus::kCanceled:
      return "canceled";
    case CompletionStatus::kTooRecent:
      return "too recent";
    case CompletionStatus::kBusy:
      return "busy";
    case CompletionStatus::kLowMotorVoltage:
      return "low motor voltage";
    case CompletionStatus::kClutchFailure:
      return "clutch failure";
    case CompletionStatus::kMotorPowerFailure:
      return "motor power failure";
    case CompletionStatus::kIncompleteFailure:
      return "incomplete";
    case CompletionStatus::kInvalidCode:
      return "invalid code";
    case CompletionStatus::kOtherError:
      return "other error";
    case CompletionStatus::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::string_view DoorSensorStateName(DoorSensorState d) {
  switch (d) {
    case DoorSensorState::kUnavailable:
      return "unavailable";
    case DoorSensorState::kDeactivated:
      return "deactivated";
    case DoorSensorState::kDoorClosed:
      return "door closed";
    case DoorSensorState::kDoorOpened:
      return "door opened";
    case DoorSensorState::kDoorStateUnknown:
      return "door state unknown";
    case DoorSensorState::kCalibrating:
      return "calibrating";
  }
  return "unknown";
}

std::string_view IdTypeName(IdType t) {
  switch (t) {
    case IdType::kApp:
      return "app";
    case IdType::kBridge:
      return "bridge";
    case IdType::kFob:
      return "fob";
    case IdType::kKeypad:
      return "keypad";
  }
  return "unknown";
}

std::string_view LoggingTypeName(LoggingType t) {
  switch (t) {
    case LoggingType::kLoggingEnabled:
      return "logging enabled";
    case LoggingType::kLockAction:
      return "lock action";
    case LoggingType::kCalibration:
      return "calibration";
    case LoggingType::kInitialization:
      return "initialization";
    case LoggingType::kKeypadAction:
      return "keypad action";
    case LoggingType::kDoorSensor:
      return "door sensor";
    case LoggingType::kDoorSensorLoggingEnabled:
      return "door sensor logging enabled";
  }
  return "unknown";
}

// --- dates, codes ----------------------------------------------------------------------------

Result<Instant> ToInstant(const LockDateTime& t) {
  static constexpr uint8_t kDaysIn[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (t.year % 4 == 0 && t.year % 100 != 0) || t.year % 400 == 0;
  bool valid = t.month >= 1 && t.month <= 12 && t.day >= 1 &&
               t.day <= kDaysIn[t.month - 1] + (t.month == 2 && leap ? 1 : 0) && t.hour <= 23 &&
               t.minute <= 59 && t.second <= 59;
  if (!valid) {
    return Status::InvalidArgument("lock date-time " + FormatLockDateTime(t) +
                                   " is not a valid date");
  }
  int64_t days = DaysFromCivil(t.year, t.month, t.day);
  return FromUnix(days * 86400 + t.hour * 3600 + t.minute * 60 + t.second);
}

Result<LockDateTime> ToLockDateTime(Instant t) {
  // Years 0..65535, checked on seconds first so nothing below can overflow.
  static const Instant kMin = FromUnix(int64_t{DaysFromCivil(0, 1, 1)} * 86400);
  static const Instant kMax = FromUnix((int64_t{DaysFromCivil(65535, 12, 31)} + 1) * 86400 - 1);
  if (t < kMin || t > kMax) {
    return Status::InvalidArgument("instant " + std::to_string(ToUnix(t)) +
                                   " is outside the lock's years 0..65535");
  }
  int64_t secs = ToUnix(t);
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t rem = secs - days * 86400;
  CivilDate c = CivilFromDays(static_cast<int32_t>(days));
  LockDateTime out;
  out.year = static_cast<uint16_t>(c.year);
  out.month = static_cast<uint8_t>(c.month);
  out.day = static_cast<uint8_t>(c.day);
  out.hour = static_cast<uint8_t>(rem / 3600);
  out.minute = static_cast<uint8_t>(rem / 60 % 60);
  out.second = static_cast<uint8_t>(rem % 60);
  return out;
}

std::string FormatLockDateTime(const LockDateTime& t) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04u-%02u-%02u %02u:%02u:%02u", t.year, t.month, t.day, t.hour,
                t.minute, t.second);
  return buf;
}

bool ValidNukiCode(uint32_t code) {
  if (code < 100000 || code > 999999) return false;
  if (code / 10000 == 12) return false;
  for (uint32_t c = code; c != 0; c /= 10) {
    if (c % 10 == 0) return false;
  }
  return true;
}

// --- generic ---------------------------------------------------------------------------------

std::vector<uint8_t> RequestData::Encode() const {
  Writer w;
  w.U16(command);
  w.Bytes(args);
  return w.Take();
}
Result<RequestData> RequestData::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 2, kMaxPayloadSize));
  Reader r(p);
  RequestData v;
  v.command = r.U16();
  v.args = r.Rest();
  return v;
}

std::vector<uint8_t> StatusMessage::Encode() const { return {status}; }
Result<StatusMessage> StatusMessage::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 1));
  return StatusMessage{p[0]};
}

std::vector<uint8_t> ErrorReport::Encode() const {
  Writer w;
  w.U8(code);
  w.U16(command);
  return w.Take();
}
Result<ErrorReport> ErrorReport::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 3));
  Reader r(p);
  ErrorReport v;
  v.code = r.U8();
  v.command = r.U16();
  return v;
}

std::vector<uint8_t> Challenge::Encode() const { return {nonce.begin(), nonce.end()}; }
Result<Challenge> Challenge::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 32));
  Reader r(p);
  return Challenge{r.Array<32>()};
}

// --- pairing ---------------------------------------------------------------------------------

std::vector<uint8_t> PublicKey::Encode() const { return {key.begin(), key.end()}; }
Result<PublicKey> PublicKey::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 32));
  Reader r(p);
  return PublicKey{r.Array<32>()};
}

std::vector<uint8_t> AuthorizationAuthenticator::Encode() const {
  return {authenticator.begin(), authenticator.end()};
}
Result<AuthorizationAuthenticator> AuthorizationAuthenticator::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 32));
  Reader r(p);
  return AuthorizationAuthenticator{r.Array<32>()};
}

std::vector<uint8_t> AuthorizationData::Encode() const {
  Writer w;
  w.Bytes(authenticator);
  w.U8(U8Of(id_type));
  w.U32(app_id);
  w.FixedString(name, 32);
  w.Bytes(nonce);
  return w.Take();
}
Result<AuthorizationData> AuthorizationData::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 101));
  Reader r(p);
  AuthorizationData v;
  v.authenticator = r.Array<32>();
  v.id_type = static_cast<IdType>(r.U8());
  v.app_id = r.U32();
  v.name = r.FixedString(32);
  v.nonce = r.Array<32>();
  return v;
}

std::vector<uint8_t> AuthorizationId::Encode() const {
  Writer w;
  w.Bytes(authenticator);
  w.U32(authorization_id);
  w.Bytes(lock_uuid);
  w.Bytes(nonce);
  return w.Take();
}
Result<AuthorizationId> AuthorizationId::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 84));
  Reader r(p);
  AuthorizationId v;
  v.authenticator = r.Array<32>();
  v.authorization_id = r.U32();
  v.lock_uuid = r.Array<16>();
  v.nonce = r.Array<32>();
  return v;
}

std::vector<uint8_t> AuthorizationIdConfirmation::Encode() const {
  Writer w;
  w.Bytes(authenticator);
  w.U32(authorization_id);
  return w.Take();
}
Result<AuthorizationIdConfirmation> AuthorizationIdConfirmation::Decode(
    std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 36));
  Reader r(p);
  AuthorizationIdConfirmation v;
  v.authenticator = r.Array<32>();
  v.authorization_id = r.U32();
  return v;
}

// --- state, actions, battery, time -----------------------------------------------------------

std::vector<uint8_t> KeyturnerStates::Encode() const {
  Writer w;
  w.U8(U8Of(nuki_state));
  w.U8(U8Of(lock_state));
  w.U8(U8Of(trigger));
  PutDate(w, current_time);
  w.U16(static_cast<uint16_t>(timezone_offset_min));
  w.U8(critical_battery_state);
  w.U8(config_update_count);
  w.U8(lock_n_go_timer);
  if (v22) {
    w.U8(U8Of(v22->last_lock_action));
    w.U8(U8Of(v22->last_lock_action_trigger));
    w.U8(U8Of(v22->last_lock_action_completion));
    w.U8(U8Of(v22->door_sensor_state));
  }
  w.Bytes(extra);
  return w.Take();
}
Result<KeyturnerStates> KeyturnerStates::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 15, kMaxPayloadSize));
  Reader r(p);
  KeyturnerStates v;
  v.nuki_state = static_cast<NukiState>(r.U8());
  v.lock_state = static_cast<LockState>(r.U8());
  v.trigger = static_cast<Trigger>(r.U8());
  v.current_time = GetDate(r);
  v.timezone_offset_min = static_cast<int16_t>(r.U16());
  v.critical_battery_state = r.U8();
  v.config_update_count = r.U8();
  v.lock_n_go_timer = r.U8();
  if (r.remaining() >= 4) {
    KeyturnerStatesV22 x;
    x.last_lock_action = static_cast<LockAction>(r.U8());
    x.last_lock_action_trigger = static_cast<Trigger>(r.U8());
    x.last_lock_action_completion = static_cast<CompletionStatus>(r.U8());
    x.door_sensor_state = static_cast<DoorSensorState>(r.U8());
    v.v22 = x;
  }
  v.extra = r.Rest();
  return v;
}

std::vector<uint8_t> LockActionRequest::Encode() const {
  Writer w;
  w.U8(U8Of(action));
  w.U32(app_id);
  w.U8(flags);
  if (name_suffix) w.FixedString(*name_suffix, 20);
  w.Bytes(nonce);
  return w.Take();
}
Result<LockActionRequest> LockActionRequest::Decode(std::span<const uint8_t> p) {
  if (p.size() != 38 && p.size() != 58) {
    return Status::InvalidArgument(DescribeCommand(static_cast<uint16_t>(kCommand)) +
                                   ": payload of " + std::to_string(p.size()) +
                                   " bytes, expected 38 or 58");
  }
  Reader r(p);
  LockActionRequest v;
  v.action = static_cast<LockAction>(r.U8());
  v.app_id = r.U32();
  v.flags = r.U8();
  if (p.size() == 58) v.name_suffix = r.FixedString(20);
  v.nonce = r.Array<32>();
  return v;
}

std::vector<uint8_t> BatteryReport::Encode() const {
  Writer w;
  w.U16(battery_drain);
  w.U16(battery_voltage_mv);
  w.U8(critical_battery_state);
  w.U8(U8Of(lock_action));
  w.U16(start_voltage_mv);
  w.U16(lowest_voltage_mv);
  w.U16(lock_distance);
  w.U8(static_cast<uint8_t>(start_temperature));
  w.U16(max_turn_current);
  w.U16(battery_resistance);
  w.Bytes(extra);
  return w.Take();
}
Result<BatteryReport> BatteryReport::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 17, kMaxPayloadSize));
  Reader r(p);
  BatteryReport v;
  v.battery_drain = r.U16();
  v.battery_voltage_mv = r.U16();
  v.critical_battery_state = r.U8();
  v.lock_action = static_cast<LockAction>(r.U8());
  v.start_voltage_mv = r.U16();
  v.lowest_voltage_mv = r.U16();
  v.lock_distance = r.U16();
  v.start_temperature = static_cast<int8_t>(r.U8());
  v.max_turn_current = r.U16();
  v.battery_resistance = r.U16();
  v.extra = r.Rest();
  return v;
}

std::vector<uint8_t> UpdateTime::Encode() const {
  Writer w;
  PutDate(w, time);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<UpdateTime> UpdateTime::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 41));
  Reader r(p);
  UpdateTime v;
  v.time = GetDate(r);
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

// --- keypad ----------------------------------------------------------------------------------

std::vector<uint8_t> KeypadCodeAdd::Encode() const {
  Writer w;
  w.U32(code);
  w.FixedString(name, 20);
  PutWindow(w, window);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<KeypadCodeAdd> KeypadCodeAdd::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 4 + 20 + kWindowSize + 32 + 2));
  Reader r(p);
  KeypadCodeAdd v;
  v.code = r.U32();
  v.name = r.FixedString(20);
  v.window = GetWindow(r);
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

std::vector<uint8_t> KeypadCodeId::Encode() const {
  Writer w;
  w.U16(id);
  w.Bytes(extra);
  return w.Take();
}
Result<KeypadCodeId> KeypadCodeId::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 2, kMaxPayloadSize));
  Reader r(p);
  KeypadCodeId v;
  v.id = r.U16();
  v.extra = r.Rest();
  return v;
}

std::vector<uint8_t> KeypadCodeRequest::Encode() const {
  Writer w;
  w.U16(offset);
  w.U16(count);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<KeypadCodeRequest> KeypadCodeRequest::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 38));
  Reader r(p);
  KeypadCodeRequest v;
  v.offset = r.U16();
  v.count = r.U16();
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

std::vector<uint8_t> KeypadCodeCount::Encode() const {
  Writer w;
  w.U16(count);
  return w.Take();
}
Result<KeypadCodeCount> KeypadCodeCount::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 2));
  Reader r(p);
  return KeypadCodeCount{r.U16()};
}

std::vector<uint8_t> KeypadCode::Encode() const {
  Writer w;
  w.U16(id);
  w.U32(code);
  w.FixedString(name, 20);
  w.U8(enabled ? 1 : 0);
  PutDate(w, created);
  PutDate(w, last_active);
  w.U16(lock_count);
  PutWindow(w, window);
  return w.Take();
}
Result<KeypadCode> KeypadCode::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 2 + 4 + 20 + 1 + 7 + 7 + 2 + kWindowSize));
  Reader r(p);
  KeypadCode v;
  v.id = r.U16();
  v.code = r.U32();
  v.name = r.FixedString(20);
  v.enabled = r.U8() != 0;
  v.created = GetDate(r);
  v.last_active = GetDate(r);
  v.lock_count = r.U16();
  v.window = GetWindow(r);
  return v;
}

std::vector<uint8_t> KeypadCodeUpdate::Encode() const {
  Writer w;
  w.U16(id);
  w.U32(code);
  w.FixedString(name, 20);
  w.U8(enabled ? 1 : 0);
  PutWindow(w, window);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<KeypadCodeUpdate> KeypadCodeUpdate::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 2 + 4 + 20 + 1 + kWindowSize + 32 + 2));
  Reader r(p);
  KeypadCodeUpdate v;
  v.id = r.U16();
  v.code = r.U32();
  v.name = r.FixedString(20);
  v.enabled = r.U8() != 0;
  v.window = GetWindow(r);
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

std::vector<uint8_t> KeypadCodeRemove::Encode() const {
  Writer w;
  w.U16(id);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<KeypadCodeRemove> KeypadCodeRemove::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 36));
  Reader r(p);
  KeypadCodeRemove v;
  v.id = r.U16();
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

// --- authorizations --------------------------------------------------------------------------

std::vector<uint8_t> AuthorizationInvite::Encode() const {
  Writer w;
  w.FixedString(name, 32);
  w.U8(U8Of(id_type));
  w.Bytes(shared_key);
  w.U8(remote_allowed ? 1 : 0);
  PutWindow(w, window);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<AuthorizationInvite> AuthorizationInvite::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 32 + 1 + 32 + 1 + kWindowSize + 32 + 2));
  Reader r(p);
  AuthorizationInvite v;
  v.name = r.FixedString(32);
  v.id_type = static_cast<IdType>(r.U8());
  v.shared_key = r.Array<32>();
  v.remote_allowed = r.U8() != 0;
  v.window = GetWindow(r);
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

std::vector<uint8_t> AuthorizationIdInvite::Encode() const {
  Writer w;
  w.U32(authorization_id);
  w.Bytes(extra);
  return w.Take();
}
Result<AuthorizationIdInvite> AuthorizationIdInvite::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 4, kMaxPayloadSize));
  Reader r(p);
  AuthorizationIdInvite v;
  v.authorization_id = r.U32();
  v.extra = r.Rest();
  return v;
}

std::vector<uint8_t> AuthorizationUpdate::Encode() const {
  Writer w;
  w.U32(authorization_id);
  w.FixedString(name, 32);
  w.U8(enabled ? 1 : 0);
  w.U8(remote_allowed ? 1 : 0);
  PutWindow(w, window);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<AuthorizationUpdate> AuthorizationUpdate::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 4 + 32 + 1 + 1 + kWindowSize + 32 + 2));
  Reader r(p);
  AuthorizationUpdate v;
  v.authorization_id = r.U32();
  v.name = r.FixedString(32);
  v.enabled = r.U8() != 0;
  v.remote_allowed = r.U8() != 0;
  v.window = GetWindow(r);
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

std::vector<uint8_t> AuthorizationRemove::Encode() const {
  Writer w;
  w.U32(authorization_id);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<AuthorizationRemove> AuthorizationRemove::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 38));
  Reader r(p);
  AuthorizationRemove v;
  v.authorization_id = r.U32();
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

std::vector<uint8_t> AuthorizationRequest::Encode() const {
  Writer w;
  w.U16(offset);
  w.U16(count);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<AuthorizationRequest> AuthorizationRequest::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 38));
  Reader r(p);
  AuthorizationRequest v;
  v.offset = r.U16();
  v.count = r.U16();
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

std::vector<uint8_t> AuthorizationCount::Encode() const {
  Writer w;
  w.U16(count);
  return w.Take();
}
Result<AuthorizationCount> AuthorizationCount::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 2));
  Reader r(p);
  return AuthorizationCount{r.U16()};
}

std::vector<uint8_t> AuthorizationEntry::Encode() const {
  Writer w;
  w.U32(authorization_id);
  w.U8(U8Of(id_type));
  w.FixedString(name, 32);
  w.U8(enabled ? 1 : 0);
  w.U8(remote_allowed ? 1 : 0);
  PutDate(w, created);
  PutDate(w, last_active);
  w.U16(lock_count);
  PutWindow(w, window);
  return w.Take();
}
Result<AuthorizationEntry> AuthorizationEntry::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 4 + 1 + 32 + 1 + 1 + 7 + 7 + 2 + kWindowSize));
  Reader r(p);
  AuthorizationEntry v;
  v.authorization_id = r.U32();
  v.id_type = static_cast<IdType>(r.U8());
  v.name = r.FixedString(32);
  v.enabled = r.U8() != 0;
  v.remote_allowed = r.U8() != 0;
  v.created = GetDate(r);
  v.last_active = GetDate(r);
  v.lock_count = r.U16();
  v.window = GetWindow(r);
  return v;
}

// --- log -------------------------------------------------------------------------------------

std::vector<uint8_t> LogRequest::Encode() const {
  Writer w;
  w.U32(start_index);
  w.U16(count);
  w.U8(sort_order);
  w.U8(total_count ? 1 : 0);
  w.Bytes(nonce);
  w.U16(pin);
  return w.Take();
}
Result<LogRequest> LogRequest::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 42));
  Reader r(p);
  LogRequest v;
  v.start_index = r.U32();
  v.count = r.U16();
  v.sort_order = r.U8();
  v.total_count = r.U8() != 0;
  v.nonce = r.Array<32>();
  v.pin = r.U16();
  return v;
}

std::vector<uint8_t> LogEntryCount::Encode() const {
  Writer w;
  w.U8(logging_enabled ? 1 : 0);
  w.U16(count);
  w.Bytes(extra);
  return w.Take();
}
Result<LogEntryCount> LogEntryCount::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 3, kMaxPayloadSize));
  Reader r(p);
  LogEntryCount v;
  v.logging_enabled = r.U8() != 0;
  v.count = r.U16();
  v.extra = r.Rest();
  return v;
}

std::optional<LockActionLog> LogEntry::lock_action() const {
  if (type != LoggingType::kLockAction || data.size() < 4) return std::nullopt;
  return LockActionLog{static_cast<LockAction>(data[0]), static_cast<Trigger>(data[1]), data[2],
                       static_cast<CompletionStatus>(data[3])};
}

std::optional<KeypadActionLog> LogEntry::keypad_action() const {
  if (type != LoggingType::kKeypadAction || data.size() < 5) return std::nullopt;
  return KeypadActionLog{static_cast<LockAction>(data[0]), data[1],
                         static_cast<CompletionStatus>(data[2]),
                         static_cast<uint16_t>(data[3] | (data[4] << 8))};
}

std::vector<uint8_t> LogEntry::EncodeData(const LockActionLog& d) {
  return {U8Of(d.action), U8Of(d.trigger), d.flags, U8Of(d.completion)};
}

std::vector<uint8_t> LogEntry::EncodeData(const KeypadActionLog& d) {
  return {U8Of(d.action), d.source, U8Of(d.completion), static_cast<uint8_t>(d.code_id),
          static_cast<uint8_t>(d.code_id >> 8)};
}

std::vector<uint8_t> LogEntry::Encode() const {
  Writer w;
  w.U32(index);
  PutDate(w, timestamp);
  w.U32(authorization_id);
  w.FixedString(name, 32);
  w.U8(U8Of(type));
  w.Bytes(data);
  return w.Take();
}
Result<LogEntry> LogEntry::Decode(std::span<const uint8_t> p) {
  LINTEL_RETURN_IF_ERROR(CheckSize(kCommand, p, 48, kMaxPayloadSize));
  Reader r(p);
  LogEntry v;
  v.index = r.U32();
  v.timestamp = GetDate(r);
  v.authorization_id = r.U32();
  v.name = r.FixedString(32);
  v.type = static_cast<LoggingType>(r.U8());
  v.data = r.Rest();
  return v;
}

// --- advertisement ---------------------------------------------------------------------------

std::optional<bool> BeaconStateChanged(std::span<const uint8_t> apple_data) {
  if (apple_data.size() != 23 || apple_data[0] != 0x02 || apple_data[1] != 0x15) {
    return std::nullopt;
  }
  return (apple_data[22] & 0x01) != 0;
}

}  // namespace lintel::ble
