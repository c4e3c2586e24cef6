#include "tools/lock-sim/lock_peer.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "drivers/ble/nuki_crc.h"

namespace lintel::locksim {
namespace {

using ble::Command;
using ble::ErrorCode;
using ble::LockAction;
using ble::LockState;
using ble::Message;

constexpr uint16_t Id(Command c) { return static_cast<uint16_t>(c); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsZero(const ble::LockDateTime& t) { return t == ble::LockDateTime{}; }

bool ValidTimeOfDay(const ble::TimeOfDay& t) { return t.hour <= 23 && t.minute <= 59; }

// A window the lock can hold: real dates (or zero), real times of day, weekdays in 7 bits.
bool ValidWindow(const ble::AccessWindow& w) {
  if (!w.time_limited) return true;
  if (!IsZero(w.from) && !ble::ToInstant(w.from).ok()) return false;
  if (!IsZero(w.until) && !ble::ToInstant(w.until).ok()) return false;
  return ValidTimeOfDay(w.from_time) && ValidTimeOfDay(w.until_time) && w.weekdays <= 0x7F;
}

// The states a lock action passes through, the last one the state it ends in (the sequences a
// real lock reports: unlatch pulls the latch and falls back to unlocked; lock 'n' go locks again).
std::optional<std::vector<LockState>> MotionOf(LockAction a) {
  switch (a) {
    case LockAction::kUnlock:
      return std::vector<LockState>{LockState::kUnlocking, LockState::kUnlocked};
    case LockAction::kLock:
    case LockAction::kFullLock:
      return std::vector<LockState>{LockState::kLocking, LockState::kLocked};
    case LockAction::kUnlatch:
      return std::vector<LockState>{LockState::kUnlatching, LockState::kUnlatched,
                                    LockState::kUnlocked};
    case LockAction::kLockNGo:
      return std::vector<LockState>{LockState::kUnlocking, LockState::kUnlockedLockNGo,
                                    LockState::kLocking, LockState::kLocked};
    case LockAction::kLockNGoUnlatch:
      return std::vector<LockState>{LockState::kUnlatching, LockState::kUnlatched,
                                    LockState::kLocking, LockState::kLocked};
    default:
      return std::nullopt;
  }
}

std::string Hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

nlohmann::json DateJson(const ble::LockDateTime& t) {
  if (IsZero(t)) return nullptr;
  return ble::FormatLockDateTime(t);
}

std::string TimeOfDayText(const ble::TimeOfDay& t) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02u:%02u", t.hour, t.minute);
  return buf;
}

nlohmann::json WindowJson(const ble::AccessWindow& w) {
  if (!w.time_limited) return nlohmann::json{{"time_limited", false}};
  return nlohmann::json{{"time_limited", true},
                        {"from", DateJson(w.from)},
                        {"until", DateJson(w.until)},
                        {"weekdays", w.weekdays},
                        {"from_time", TimeOfDayText(w.from_time)},
                        {"until_time", TimeOfDayText(w.until_time)}};
}

nlohmann::json LogJson(const ble::LogEntry& e) {
  nlohmann::json j{{"index", e.index},
                   {"time", ble::FormatLockDateTime(e.timestamp)},
                   {"authorization_id", e.authorization_id},
                   {"name", e.name},
                   {"type", ble::LoggingTypeName(e.type)}};
  if (auto a = e.lock_action()) {
    j["action"] = ble::LockActionName(a->action);
    j["trigger"] = ble::TriggerName(a->trigger);
    j["completion"] = ble::CompletionStatusName(a->completion);
  } else if (auto k = e.keypad_action()) {
    j["action"] = ble::LockActionName(k->action);
    j["code_id"] = k->code_id;
    j["completion"] = ble::CompletionStatusName(k->completion);
  } else if (e.type == ble::LoggingType::kDoorSensor && !e.data.empty()) {
    j["door"] = e.data[0] == 0 ? "opened" : e.data[0] == 1 ? "closed" : "sensor jammed";
  }
  return j;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Windows.

std::string_view WindowVerdictName(WindowVerdict v) {
  switch (v) {
    case WindowVerdict::kInside:
      return "inside";
    case WindowVerdict::kBeforeFrom:
      return "before its from date";
    case WindowVerdict::kAfterUntil:
      return "after its until date";
    case WindowVerdict::kWrongWeekday:
      return "not on an allowed weekday";
    case WindowVerdict::kOutsideTimeOfDay:
      return "outside its time of day";
    case WindowVerdict::kInvalid:
      return "impossible window";
  }
  return "unknown";
}

WindowVerdict CheckWindow(const ble::AccessWindow& w, Instant t, int timezone_offset_min) {
  if (!w.time_limited) return WindowVerdict::kInside;
  if (!IsZero(w.from)) {
    Result<Instant> from = ble::ToInstant(w.from);
    if (!from.ok()) return WindowVerdict::kInvalid;
    if (t < *from) return WindowVerdict::kBeforeFrom;
  }
  if (!IsZero(w.until)) {
    Result<Instant> until = ble::ToInstant(w.until);
    if (!until.ok()) return WindowVerdict::kInvalid;
    if (t >= *until) return WindowVerdict::kAfterUntil;
  }
  int64_t local = ToUnix(t) + int64_t{timezone_offset_min} * 60;
  int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
  int64_t second_of_day = local - days * 86400;
  int weekday = static_cast<int>(((days + 3) % 7 + 7) % 7);  // 1970-01-01 was a Thursday; 0 = Mon
  if (w.weekdays != 0 && !((w.weekdays >> (6 - weekday)) & 1)) return WindowVerdict::kWrongWeekday;
  if (w.from_time.minutes() == 0 && w.until_time.minutes() == 0) return WindowVerdict::kInside;
  int minute = static_cast<int>(second_of_day / 60);
  if (minute < w.from_time.minutes() || minute >= w.until_time.minutes()) {
    return WindowVerdict::kOutsideTimeOfDay;
  }
  return WindowVerdict::kInside;
}

std::string_view KeypadOutcomeName(KeypadResult::Outcome o) {
  switch (o) {
    case KeypadResult::Outcome::kAccepted:
      return "accepted";
    case KeypadResult::Outcome::kUnknownCode:
      return "unknown code";
    case KeypadResult::Outcome::kDisabled:
      return "code disabled";
    case KeypadResult::Outcome::kOutsideWindow:
      return "outside its window";
    case KeypadResult::Outcome::kMotorBlocked:
      return "motor blocked";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Construction, clock, connection.

// The replies to one write.
struct LockPeer::Out {
  std::string plain_uuid;           // where unencrypted replies go
  std::optional<uint32_t> auth_id;  // set: replies are encrypted for this authorization
  ble::Key32 key{};                 // its shared key
  std::vector<Indication> values;

  ~Out() { sodium_memzero(key.data(), key.size()); }
};

LockPeer::LockPeer(LockPeerOptions options, ble::RandomSource& random, ble::NonceSource& nonces,
                   Instant now)
    : options_(std::move(options)),
      random_(random),
      nonces_(nonces),
      now_(now),
      next_authorization_id_(options_.first_authorization_id) {
  ble::EnsureSodium();
  keys_ = ble::KeyPairFromSecret(options_.lock_secret ? *options_.lock_secret : random_.Next());
  if (options_.lock_uuid) {
    uuid_ = *options_.lock_uuid;
  } else {
    ble::Key32 r = random_.Next();
    std::copy_n(r.begin(), uuid_.size(), uuid_.begin());
  }
  state_.lock_state = options_.initial_lock_state;
  state_.timezone_offset_min = options_.timezone_offset_min;
}

LockPeer::~LockPeer() {
  sodium_memzero(keys_.secret_key.data(), keys_.secret_key.size());
  for (auto& [id, a] : authorizations_) sodium_memzero(a.shared_key.data(), a.shared_key.size());
}

void LockPeer::SetTime(Instant now) { now_ = now; }
void LockPeer::AdvanceTime(std::chrono::seconds by) { now_ += by; }

void LockPeer::ForgetExchanges() {
  pairing_rx_.Reset();
  gdio_rx_.Reset();
  usdio_rx_.Reset();
  pairing_.reset();
  challenge_.reset();
}
void LockPeer::OnConnect() { ForgetExchanges(); }
void LockPeer::OnDisconnect() { ForgetExchanges(); }

void LockPeer::PressButton() { pairing_until_ = now_ + options_.pairing_window; }

bool LockPeer::pairing_mode() const { return pairing_until_ && now_ < *pairing_until_; }

// ---------------------------------------------------------------------------------------------
// Replies.

void LockPeer::Reply(Out& out, const Message& m) {
  std::vector<uint8_t> frame;
  std::string uuid;
  if (out.auth_id) {
    uuid = std::string(ble::kKeyturnerUsdioUuid);
    ble::Nonce24 nonce = nonces_.Next();
    if (!corrupt_next_crc_) {
      frame = ble::EncodeEncrypted(out.key, *out.auth_id, m, nonce);
    } else {
      // As EncodeEncrypted, with the CRC inside the box off by one.
      std::vector<uint8_t> plain;
      for (int i = 0; i < 4; ++i) plain.push_back(static_cast<uint8_t>(*out.auth_id >> (8 * i)));
      plain.push_back(static_cast<uint8_t>(m.command));
      plain.push_back(static_cast<uint8_t>(m.command >> 8));
      plain.insert(plain.end(), m.payload.begin(), m.payload.end());
      uint16_t crc = static_cast<uint16_t>(ble::Crc16CcittFalse(plain) ^ 0x0001);
      plain.push_back(static_cast<uint8_t>(crc));
      plain.push_back(static_cast<uint8_t>(crc >> 8));
      frame.assign(nonce.begin(), nonce.end());
      for (int i = 0; i < 4; ++i) frame.push_back(static_cast<uint8_t>(*out.auth_id >> (8 * i)));
      uint16_t length = static_cast<uint16_t>(plain.size() + ble::kMacSize);
      frame.push_back(static_cast<uint8_t>(length));
      frame.push_back(static_cast<uint8_t>(length >> 8));
      size_t at = frame.size();
      frame.resize(at + length);
      crypto_secretbox_easy(frame.data() + at, plain.data(), plain.size(), nonce.data(),
                            out.key.data());
      corrupt_next_crc_ = false;
    }
  } else {
    uuid = out.plain_uuid;
    frame = ble::EncodePlain(m);
    if (corrupt_next_crc_) {
      frame.back() ^= 0x01;
      corrupt_next_crc_ = false;
    }
  }
  for (std::vector<uint8_t>& value : ble::Chunk(frame)) out.values.emplace_back(uuid, value);
}

void LockPeer::Refuse(Out& out, ErrorCode code, uint16_t command) {
  Reply(out, ble::ToMessage(ble::ErrorReport{static_cast<uint8_t>(code), command}));
}

void LockPeer::ReplyStates(Out& out) {
  Reply(out, ble::ToMessage(States()));
  if (out.auth_id) state_.state_changed = false;
}

// ---------------------------------------------------------------------------------------------
// Writes.

Result<std::vector<Indication>> LockPeer::OnWrite(std::string_view characteristic_uuid,
                                                  std::span<const uint8_t> value) {
  std::string uuid = Lower(characteristic_uuid);
  Out out;
  ble::Reassembler* rx;
  if (uuid == ble::kPairingGdioUuid) {
    rx = &pairing_rx_;
  } else if (uuid == ble::kKeyturnerGdioUuid) {
    rx = &gdio_rx_;
  } else if (uuid == ble::kKeyturnerUsdioUuid) {
    rx = &usdio_rx_;
  } else {
    return Status::NotFound("the lock has no writable characteristic " + uuid);
  }
  // Unencrypted errors go out on the GDIO of the service written to.
  out.plain_uuid =
      std::string(rx == &pairing_rx_ ? ble::kPairingGdioUuid : ble::kKeyturnerGdioUuid);

  // The command id of an unencrypted frame starting in this value (for an Error Report).
  uint16_t first_command = 0;
  if (rx->kind() == ble::FrameKind::kPlain && rx->pending() == 0 && value.size() >= 2) {
    first_command = static_cast<uint16_t>(value[0] | (value[1] << 8));
  }
  Result<std::vector<std::vector<uint8_t>>> frames = rx->Feed(value);
  if (!frames.ok()) {
    if (rx->kind() == ble::FrameKind::kPlain) {
      Refuse(out, ErrorCode::kUnknown, first_command);
    } else {
      Refuse(out, ErrorCode::kBadLength, 0);
    }
  } else {
    for (const std::vector<uint8_t>& frame : *frames) {
      if (rx == &pairing_rx_) {
        OnPairingFrame(frame, out);
      } else if (rx == &gdio_rx_) {
        OnGdioFrame(frame, out);
      } else {
        OnEncryptedFrame(frame, out);
      }
    }
  }
  std::vector<Indication> values = std::move(out.values);
  size_t dropped = std::min(values.size(), static_cast<size_t>(std::max(drop_, 0)));
  values.erase(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(dropped));
  drop_ -= static_cast<int>(dropped);
  return values;
}

void LockPeer::OnPairingFrame(const std::vector<uint8_t>& frame, Out& out) {
  Result<Message> m = ble::DecodePlain(frame);
  if (!m.ok()) {
    Refuse(out, ErrorCode::kBadCrc, static_cast<uint16_t>(frame[0] | (frame[1] << 8)));
    return;
  }
  if (!pairing_mode()) {
    pairing_.reset();
    Refuse(out, ErrorCode::kNotPairing, m->command);
    return;
  }
  Result<ble::RequestData> request = ble::FromMessage<ble::RequestData>(*m);
  if (request.ok() && request->command == Id(Command::kPublicKey)) {
    if (authorizations_.size() >= options_.max_authorizations) {
      pairing_.reset();
      Refuse(out, ErrorCode::kMaxUsers, m->command);
      return;
    }
    pairing_ = std::make_unique<ble::LockPairing>(keys_.secret_key, uuid_, next_authorization_id_,
                                                  random_);
  }
  if (!pairing_) {
    Refuse(out, ErrorCode::kPairingBadParameter, m->command);
    return;
  }
  for (const Message& reply : pairing_->OnMessage(*m)) Reply(out, reply);
  if (pairing_->done()) {
    const ble::LockPairing::Paired& p = pairing_->result();
    LockAuthorization a;
    a.id = p.credentials.authorization_id;
    a.id_type = p.id_type;
    a.app_id = p.app_id;
    a.name = p.name;
    a.shared_key = p.credentials.shared_key;
    a.created = Stamp();
    authorizations_[a.id] = a;
    sodium_memzero(a.shared_key.data(), a.shared_key.size());
    ++next_authorization_id_;
    pairing_.reset();
    pairing_until_.reset();  // a real lock leaves pairing mode once paired
  }
}

void LockPeer::OnGdioFrame(const std::vector<uint8_t>& frame, Out& out) {
  Result<Message> m = ble::DecodePlain(frame);
  uint16_t command = static_cast<uint16_t>(frame[0] | (frame[1] << 8));
  Refuse(out, m.ok() ? ErrorCode::kNotAuthorized : ErrorCode::kBadCrc, command);
}

void LockPeer::OnEncryptedFrame(const std::vector<uint8_t>& frame, Out& out) {
  Result<ble::EncryptedHeader> header = ble::DecodeEncryptedHeader(frame);
  if (!header.ok()) {  // the reassembler cut it by its length field: cannot happen
    Refuse(out, ErrorCode::kBadLength, 0);
    return;
  }
  LockAuthorization* auth = FindAuthorization(header->auth_id);
  if (auth == nullptr) {
    Refuse(out, ErrorCode::kNotAuthorized, 0);
    return;
  }
  // Decrypted here rather than by DecodeEncrypted, to tell a frame that does not open (wrong
  // key: not authorized, in the clear) from a bad CRC inside (answered encrypted).
  std::span<const uint8_t> cipher = std::span(frame).subspan(ble::kEncryptedHeaderSize);
  std::vector<uint8_t> plain(cipher.size() - ble::kMacSize);
  if (crypto_secretbox_open_easy(plain.data(), cipher.data(), cipher.size(), header->nonce.data(),
                                 auth->shared_key.data()) != 0) {
    Refuse(out, ErrorCode::kNotAuthorized, 0);
    return;
  }
  uint32_t inner_id = static_cast<uint32_t>(plain[0] | (plain[1] << 8) | (plain[2] << 16) |
                                            (static_cast<uint32_t>(plain[3]) << 24));
  if (inner_id != header->auth_id) {
    sodium_memzero(plain.data(), plain.size());
    Refuse(out, ErrorCode::kNotAuthorized, 0);
    return;
  }
  out.auth_id = auth->id;
  out.key = auth->shared_key;
  Message m;
  m.command = static_cast<uint16_t>(plain[4] | (plain[5] << 8));
  size_t n = plain.size();
  uint16_t stored = static_cast<uint16_t>(plain[n - 2] | (plain[n - 1] << 8));
  bool crc_ok = ble::Crc16CcittFalse(std::span(plain).first(n - 2)) == stored;
  m.payload.assign(plain.begin() + 6, plain.end() - 2);
  sodium_memzero(plain.data(), plain.size());
  if (!crc_ok) {
    Refuse(out, ErrorCode::kBadCrc, m.command);
  } else if (busy_ > 0) {
    --busy_;
    Refuse(out, ErrorCode::kBusy, m.command);
  } else {
    Dispatch(auth->id, m, out);
  }
  out.auth_id.reset();
}

void LockPeer::Dispatch(uint32_t auth_id, const Message& m, Out& out) {
  // Decodes the payload as T (0xFE when it does not), then runs `f` on it.
  auto with = [&]<typename T>(std::type_identity<T>, auto&& f) {
    Result<T> r = T::Decode(m.payload);
    if (!r.ok()) {
      Refuse(out, ErrorCode::kBadLength, m.command);
      return;
    }
    f(*r);
  };
  // Commands with nK and a PIN.
  auto guarded = [&]<typename T>(std::type_identity<T> t,
                                 void (LockPeer::*handler)(const T&, Out&)) {
    with(t, [&](const T& r) {
      if (Authenticate(r.nonce, r.pin, m.command, out)) (this->*handler)(r, out);
    });
  };
  switch (static_cast<Command>(m.command)) {
    case Command::kRequestData:
      with(std::type_identity<ble::RequestData>{},
           [&](const ble::RequestData& r) { OnRequestData(r, out); });
      return;
    case Command::kLockAction:
      with(std::type_identity<ble::LockActionRequest>{}, [&](const ble::LockActionRequest& r) {
        ++lock_action_commands_;
        last_commanded_action_ = r.action;
        if (Authenticate(r.nonce, std::nullopt, m.command, out)) OnLockAction(auth_id, r, out);
      });
      return;
    case Command::kAddKeypadCode:
      guarded(std::type_identity<ble::KeypadCodeAdd>{}, &LockPeer::OnAddCode);
      return;
    case Command::kUpdateKeypadCode:
      guarded(std::type_identity<ble::KeypadCodeUpdate>{}, &LockPeer::OnUpdateCode);
      return;
    case Command::kRemoveKeypadCode:
      guarded(std::type_identity<ble::KeypadCodeRemove>{}, &LockPeer::OnRemoveCode);
      return;
    case Command::kRequestKeypadCodes:
      guarded(std::type_identity<ble::KeypadCodeRequest>{}, &LockPeer::OnRequestCodes);
      return;
    case Command::kAuthorizationDataInvite:
      guarded(std::type_identity<ble::AuthorizationInvite>{}, &LockPeer::OnInvite);
      return;
    case Command::kUpdateAuthorization:
      guarded(std::type_identity<ble::AuthorizationUpdate>{}, &LockPeer::OnUpdateAuthorization);
      return;
    case Command::kRemoveAuthorization:
      guarded(std::type_identity<ble::AuthorizationRemove>{}, &LockPeer::OnRemoveAuthorization);
      return;
    case Command::kRequestAuthorizations:
      guarded(std::type_identity<ble::AuthorizationRequest>{}, &LockPeer::OnRequestAuthorizations);
      return;
    case Command::kRequestLogEntries:
      guarded(std::type_identity<ble::LogRequest>{}, &LockPeer::OnRequestLog);
      return;
    case Command::kUpdateTime:
      guarded(std::type_identity<ble::UpdateTime>{}, &LockPeer::OnUpdateTime);
      return;
    default:
      Refuse(out, ErrorCode::kUnknown, m.command);
      return;
  }
}

bool LockPeer::Authenticate(const ble::Nonce32& nonce, std::optional<uint16_t> pin,
                            uint16_t command, Out& out) {
  bool nonce_ok = challenge_ && challenge_->first == *out.auth_id &&
                  sodium_memcmp(challenge_->second.data(), nonce.data(), nonce.size()) == 0;
  challenge_.reset();
  if (!nonce_ok) {
    Refuse(out, ErrorCode::kBadNonce, command);
    return false;
  }
  if (!pin) return true;
  switch (CheckPin(*pin)) {
    case Pin::kOk:
      return true;
    case Pin::kBad:
      Refuse(out, ErrorCode::kBadPin, command);
      return false;
    case Pin::kLockedOut:
      Refuse(out, ErrorCode::kTooManyPinAttempts, command);
      return false;
  }
  return false;
}

LockPeer::Pin LockPeer::CheckPin(uint16_t pin) {
  if (pin_locked_until_) {
    if (now_ < *pin_locked_until_) return Pin::kLockedOut;
    pin_locked_until_.reset();
    pin_failures_ = 0;
  }
  if (pin == options_.security_pin) {
    pin_failures_ = 0;
    return Pin::kOk;
  }
  if (++pin_failures_ >= options_.max_pin_attempts) {
    pin_locked_until_ = now_ + options_.pin_lockout;
    pin_failures_ = 0;
  }
  return Pin::kBad;
}

// ---------------------------------------------------------------------------------------------
// Commands.

void LockPeer::OnRequestData(const ble::RequestData& r, Out& out) {
  switch (static_cast<Command>(r.command)) {
    case Command::kChallenge: {
      ble::Nonce32 nk = random_.Next();
      challenge_ = std::make_pair(*out.auth_id, nk);
      Reply(out, ble::ToMessage(ble::Challenge{nk}));
      return;
    }
    case Command::kKeyturnerStates:
      ReplyStates(out);
      return;
    case Command::kBatteryReport:
      Reply(out, ble::ToMessage(Battery()));
      return;
    default:
      Refuse(out, ErrorCode::kUnknown, Id(Command::kRequestData));
      return;
  }
}

void LockPeer::OnLockAction(uint32_t auth_id, const ble::LockActionRequest& r, Out& out) {
  LockAuthorization* auth = FindAuthorization(auth_id);
  if (!MotionOf(r.action)) {
    Refuse(out, ErrorCode::kBadParameter, Id(Command::kLockAction));
    return;
  }
  if (!auth->enabled) {
    Refuse(out, ErrorCode::kDisabled, Id(Command::kLockAction));
    return;
  }
  if (CheckWindow(auth->window, now_, state_.timezone_offset_min) != WindowVerdict::kInside) {
    Refuse(out, ErrorCode::kTimeNotAllowed, Id(Command::kLockAction));
    return;
  }
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kAccepted)}));
  ble::CompletionStatus done = Turn(r.action, ble::Trigger::kSystem, &out);
  AddLog(auth->id, auth->name, ble::LoggingType::kLockAction,
         ble::LogEntry::EncodeData(
             ble::LockActionLog{r.action, ble::Trigger::kSystem, r.flags, done}));
  if (done != ble::CompletionStatus::kSuccess) {
    Refuse(out, ErrorCode::kMotorBlocked, Id(Command::kLockAction));
    return;
  }
  auth->last_active = Stamp();
  ++auth->lock_count;
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

uint8_t LockPeer::CheckCode(uint32_t code, const ble::AccessWindow& window,
                            std::optional<uint16_t> except_id) const {
  if (!ble::ValidNukiCode(code)) return static_cast<uint8_t>(ErrorCode::kCodeInvalid);
  if (!ValidWindow(window)) return static_cast<uint8_t>(ErrorCode::kBadParameter);
  for (const auto& [id, c] : codes_) {
    if (c.code == code && id != except_id)
      return static_cast<uint8_t>(ErrorCode::kCodeAlreadyExists);
  }
  return 0;
}

void LockPeer::OnAddCode(const ble::KeypadCodeAdd& r, Out& out) {
  uint8_t error = CheckCode(r.code, r.window, std::nullopt);
  if (error == 0 && codes_.size() >= options_.max_keypad_codes) {
    error = static_cast<uint8_t>(ErrorCode::kTooManyEntries);
  }
  if (error != 0) {
    Refuse(out, static_cast<ErrorCode>(error), Id(Command::kAddKeypadCode));
    return;
  }
  Result<uint16_t> id = AddKeypadCode(r.code, r.name, r.window);
  Reply(out, ble::ToMessage(ble::KeypadCodeId{*id, {}}));
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

void LockPeer::OnUpdateCode(const ble::KeypadCodeUpdate& r, Out& out) {
  LockKeypadCode* c = FindCode(r.id);
  uint8_t error = c == nullptr ? static_cast<uint8_t>(ErrorCode::kBadParameter)
                               : CheckCode(r.code, r.window, r.id);
  if (error != 0) {
    Refuse(out, static_cast<ErrorCode>(error), Id(Command::kUpdateKeypadCode));
    return;
  }
  c->code = r.code;
  c->name = r.name;
  c->enabled = r.enabled;
  c->window = r.window;
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

void LockPeer::OnRemoveCode(const ble::KeypadCodeRemove& r, Out& out) {
  if (codes_.erase(r.id) == 0) {
    Refuse(out, ErrorCode::kBadParameter, Id(Command::kRemoveKeypadCode));
    return;
  }
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

void LockPeer::OnRequestCodes(const ble::KeypadCodeRequest& r, Out& out) {
  Reply(out, ble::ToMessage(ble::KeypadCodeCount{static_cast<uint16_t>(codes_.size())}));
  size_t position = 0;
  for (const auto& [id, c] : codes_) {
    if (position >= r.offset && position < size_t{r.offset} + r.count) {
      Reply(out, ble::ToMessage(ble::KeypadCode{c.id, c.code, c.name, c.enabled, c.created,
                                                c.last_active, c.lock_count, c.window}));
    }
    ++position;
  }
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

void LockPeer::OnInvite(const ble::AuthorizationInvite& r, Out& out) {
  if (!ValidWindow(r.window)) {
    Refuse(out, ErrorCode::kBadParameter, Id(Command::kAuthorizationDataInvite));
    return;
  }
  Result<uint32_t> id = AddAuthorization(r.id_type, r.name, 0, r.shared_key, r.window);
  if (!id.ok()) {
    Refuse(out, ErrorCode::kTooManyEntries, Id(Command::kAuthorizationDataInvite));
    return;
  }
  authorizations_[*id].remote_allowed = r.remote_allowed;
  Reply(out, ble::ToMessage(ble::AuthorizationIdInvite{*id, {}}));
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

void LockPeer::OnUpdateAuthorization(const ble::AuthorizationUpdate& r, Out& out) {
  LockAuthorization* a = FindAuthorization(r.authorization_id);
  if (a == nullptr) {
    Refuse(out, ErrorCode::kInvalidAuthId, Id(Command::kUpdateAuthorization));
    return;
  }
  if (!ValidWindow(r.window)) {
    Refuse(out, ErrorCode::kBadParameter, Id(Command::kUpdateAuthorization));
    return;
  }
  a->name = r.name;
  a->enabled = r.enabled;
  a->remote_allowed = r.remote_allowed;
  a->window = r.window;
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

void LockPeer::OnRemoveAuthorization(const ble::AuthorizationRemove& r, Out& out) {
  LockAuthorization* a = FindAuthorization(r.authorization_id);
  if (a == nullptr) {
    Refuse(out, ErrorCode::kInvalidAuthId, Id(Command::kRemoveAuthorization));
    return;
  }
  sodium_memzero(a->shared_key.data(), a->shared_key.size());
  authorizations_.erase(r.authorization_id);
  // The reply still goes out under the removed key (out holds a copy), as the lock answers the
  // command it received.
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

void LockPeer::OnRequestAuthorizations(const ble::AuthorizationRequest& r, Out& out) {
  std::vector<const LockAuthorization*> visible;
  for (const auto& [id, a] : authorizations_) {
    if (!a.revoked) visible.push_back(&a);
  }
  Reply(out, ble::ToMessage(ble::AuthorizationCount{static_cast<uint16_t>(visible.size())}));
  for (size_t i = r.offset; i < visible.size() && i < size_t{r.offset} + r.count; ++i) {
    const LockAuthorization& a = *visible[i];
    Reply(out, ble::ToMessage(ble::AuthorizationEntry{a.id, a.id_type, a.name, a.enabled,
                                                      a.remote_allowed, a.created, a.last_active,
                                                      a.lock_count, a.window}));
  }
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

void LockPeer::OnRequestLog(const ble::LogRequest& r, Out& out) {
  if (r.total_count) {
    Reply(out, ble::ToMessage(ble::LogEntryCount{
                   true, static_cast<uint16_t>(std::min<size_t>(log_.size(), 0xFFFF)), {}}));
  }
  bool descending = r.sort_order != 0;
  std::vector<const ble::LogEntry*> page;
  if (descending) {
    for (auto it = log_.rbegin(); it != log_.rend() && page.size() < r.count; ++it) {
      if (r.start_index == 0 || it->index <= r.start_index) page.push_back(&*it);
    }
  } else {
    for (auto it = log_.begin(); it != log_.end() && page.size() < r.count; ++it) {
      if (it->index >= r.start_index) page.push_back(&*it);
    }
  }
  for (const ble::LogEntry* e : page) Reply(out, ble::ToMessage(*e));
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

void LockPeer::OnUpdateTime(const ble::UpdateTime& r, Out& out) {
  Result<Instant> t = ble::ToInstant(r.time);
  if (!t.ok()) {
    Refuse(out, ErrorCode::kBadParameter, Id(Command::kUpdateTime));
    return;
  }
  now_ = *t;
  Reply(out,
        ble::ToMessage(ble::StatusMessage{static_cast<uint8_t>(ble::CommandStatus::kComplete)}));
}

// ---------------------------------------------------------------------------------------------
// The physical lock.

ble::LockDateTime LockPeer::Stamp() const {
  Result<ble::LockDateTime> t = ble::ToLockDateTime(now_);
  return t.ok() ? *t : ble::LockDateTime{};
}

void LockPeer::SetLockState(LockState s, ble::Trigger trigger) {
  if (state_.lock_state != s) state_.state_changed = true;
  state_.lock_state = s;
  state_.trigger = trigger;
}

ble::CompletionStatus LockPeer::Turn(LockAction action, ble::Trigger trigger, Out* out) {
  std::optional<std::vector<LockState>> steps = MotionOf(action);
  state_.last_action = action;
  state_.last_action_trigger = trigger;
  state_.last_action_completion = ble::CompletionStatus::kSuccess;
  for (LockState step : *steps) {
    SetLockState(step, trigger);
    if (out != nullptr) ReplyStates(*out);
    if (state_.jammed) {  // the motor blocks on its first move
      SetLockState(LockState::kMotorBlocked, trigger);
      state_.last_action_completion = ble::CompletionStatus::kMotorBlocked;
      break;
    }
  }
  return state_.last_action_completion;
}

KeypadResult LockPeer::EnterKeypadCode(uint32_t code) {
  KeypadResult result;
  LockKeypadCode* match = nullptr;
  for (auto& [id, c] : codes_) {
    if (c.code == code) match = &c;
  }
  if (match == nullptr) {
    result.outcome = KeypadResult::Outcome::kUnknownCode;
  } else {
    result.code_id = match->id;
    result.window = CheckWindow(match->window, now_, state_.timezone_offset_min);
    if (!match->enabled) {
      result.outcome = KeypadResult::Outcome::kDisabled;
    } else if (result.window != WindowVerdict::kInside) {
      result.outcome = KeypadResult::Outcome::kOutsideWindow;
    } else {
      result.completion = Turn(options_.keypad_action, ble::Trigger::kManual, nullptr);
      if (result.completion == ble::CompletionStatus::kSuccess) {
        result.outcome = KeypadResult::Outcome::kAccepted;
        match->last_active = Stamp();
        ++match->lock_count;
      } else {
        result.outcome = KeypadResult::Outcome::kMotorBlocked;
      }
    }
  }
  AddLog(
      0, match != nullptr ? match->name : std::string(), ble::LoggingType::kKeypadAction,
      ble::LogEntry::EncodeData(ble::KeypadActionLog{options_.keypad_action, 0, result.completion,
                                                     match != nullptr ? match->id : uint16_t{0}}));
  return result;
}

void LockPeer::ManualAction(LockAction action) {
  if (!MotionOf(action)) return;
  ble::CompletionStatus done = Turn(action, ble::Trigger::kManual, nullptr);
  AddLog(0, "Manual", ble::LoggingType::kLockAction,
         ble::LogEntry::EncodeData(ble::LockActionLog{action, ble::Trigger::kManual, 0, done}));
}

void LockPeer::SetDoor(bool open) {
  ble::DoorSensorState door =
      open ? ble::DoorSensorState::kDoorOpened : ble::DoorSensorState::kDoorClosed;
  if (door == state_.door) return;
  state_.door = door;
  state_.state_changed = true;
  AddLog(0, "Door sensor", ble::LoggingType::kDoorSensor,
         {static_cast<uint8_t>(open ? 0x00 : 0x01)});
}

void LockPeer::SetBattery(int percent, bool critical) {
  state_.battery_percent = std::clamp(percent, 0, 100);
  if (critical != state_.battery_critical) state_.state_changed = true;
  state_.battery_critical = critical;
}

void LockPeer::SetJammed(bool jammed) { state_.jammed = jammed; }

// ---------------------------------------------------------------------------------------------
// Provisioning and faults.

Result<uint32_t> LockPeer::AddAuthorization(ble::IdType id_type, std::string name, uint32_t app_id,
                                            const ble::Key32& shared_key,
                                            const ble::AccessWindow& window) {
  if (authorizations_.size() >= options_.max_authorizations) {
    return Status::FailedPrecondition("the lock holds " +
                                      std::to_string(options_.max_authorizations) +
                                      " authorizations, its maximum");
  }
  LockAuthorization a;
  a.id = next_authorization_id_++;
  a.id_type = id_type;
  a.app_id = app_id;
  a.name = std::move(name);
  if (a.name.size() > 32) a.name.resize(32);
  a.window = window;
  a.shared_key = shared_key;
  a.created = Stamp();
  uint32_t id = a.id;
  authorizations_[id] = a;
  sodium_memzero(a.shared_key.data(), a.shared_key.size());
  return id;
}

Result<uint16_t> LockPeer::AddKeypadCode(uint32_t code, std::string name,
                                         const ble::AccessWindow& window, bool enabled) {
  switch (static_cast<ErrorCode>(CheckCode(code, window, std::nullopt))) {
    case ErrorCode::kCodeInvalid:
      return Status::InvalidArgument("not a code the lock takes (6 digits, no 0, not 12...)");
    case ErrorCode::kBadParameter:
      return Status::InvalidArgument("impossible window");
    case ErrorCode::kCodeAlreadyExists:
      return Status::AlreadyExists("the lock already holds that code");
    default:
      break;
  }
  if (codes_.size() >= options_.max_keypad_codes) {
    return Status::FailedPrecondition("the lock holds " +
                                      std::to_string(options_.max_keypad_codes) +
                                      " keypad codes, its maximum");
  }
  LockKeypadCode c;
  c.id = next_code_id_++;
  c.code = code;
  c.name = std::move(name);
  if (c.name.size() > 20) c.name.resize(20);
  c.enabled = enabled;
  c.window = window;
  c.created = Stamp();
  codes_[c.id] = c;
  return c.id;
}

void LockPeer::LoseCodes() { codes_.clear(); }

Status LockPeer::SetAuthorizationRevoked(uint32_t id, bool revoked) {
  auto it = authorizations_.find(id);
  if (it == authorizations_.end()) {
    return Status::NotFound("the lock has no authorization " + std::to_string(id));
  }
  it->second.revoked = revoked;
  return Status::Ok();
}

LockAuthorization* LockPeer::FindAuthorization(uint32_t id) {
  auto it = authorizations_.find(id);
  return it == authorizations_.end() || it->second.revoked ? nullptr : &it->second;
}

LockKeypadCode* LockPeer::FindCode(uint16_t id) {
  auto it = codes_.find(id);
  return it == codes_.end() ? nullptr : &it->second;
}

void LockPeer::AddLog(uint32_t auth_id, std::string name, ble::LoggingType type,
                      std::vector<uint8_t> data) {
  ble::LogEntry e;
  e.index = next_log_index_++;
  e.timestamp = Stamp();
  e.authorization_id = auth_id;
  e.name = std::move(name);
  if (e.name.size() > 32) e.name.resize(32);
  e.type = type;
  e.data = std::move(data);
  log_.push_back(std::move(e));
  if (log_.size() > options_.max_log_entries) {
    log_.erase(log_.begin(),
               log_.begin() + static_cast<std::ptrdiff_t>(log_.size() - options_.max_log_entries));
  }
}

// ---------------------------------------------------------------------------------------------
// Introspection.

ble::KeyturnerStates LockPeer::States() const {
  ble::KeyturnerStates s;
  s.nuki_state = pairing_mode() ? ble::NukiState::kPairingMode : ble::NukiState::kDoorMode;
  s.lock_state = state_.lock_state;
  s.trigger = state_.trigger;
  s.current_time = Stamp();
  s.timezone_offset_min = state_.timezone_offset_min;
  s.critical_battery_state =
      static_cast<uint8_t>(((state_.battery_percent / 2) << 2) | (state_.battery_critical ? 1 : 0));
  s.v22 = ble::KeyturnerStatesV22{state_.last_action, state_.last_action_trigger,
                                  state_.last_action_completion, state_.door};
  return s;
}

ble::BatteryReport LockPeer::Battery() const {
  ble::BatteryReport b;
  b.battery_drain = 120;
  b.battery_voltage_mv = static_cast<uint16_t>(4400 + state_.battery_percent * 20);
  b.critical_battery_state = States().critical_battery_state;
  b.lock_action = state_.last_action;
  b.start_voltage_mv = b.battery_voltage_mv;
  b.lowest_voltage_mv = static_cast<uint16_t>(b.battery_voltage_mv - 150);
  b.lock_distance = 360;
  b.start_temperature = 20;
  b.max_turn_current = 600;
  b.battery_resistance = 180;
  return b;
}

LockPeerState LockPeer::state() const {
  LockPeerState s = state_;
  s.pairing_mode = pairing_mode();
  s.now = now_;
  return s;
}

std::vector<LockAuthorization> LockPeer::authorizations() const {
  std::vector<LockAuthorization> out;
  for (const auto& [id, a] : authorizations_) out.push_back(a);
  return out;
}

std::vector<LockKeypadCode> LockPeer::codes() const {
  std::vector<LockKeypadCode> out;
  for (const auto& [id, c] : codes_) out.push_back(c);
  return out;
}

std::string LockPeer::ToJson(bool reveal_codes) const {
  nlohmann::json auths = nlohmann::json::array();
  for (const auto& [id, a] : authorizations_) {
    auths.push_back({{"id", a.id},
                     {"type", ble::IdTypeName(a.id_type)},
                     {"app_id", a.app_id},
                     {"name", a.name},
                     {"enabled", a.enabled},
                     {"remote_allowed", a.remote_allowed},
                     {"revoked", a.revoked},
                     {"window", WindowJson(a.window)},
                     {"created", DateJson(a.created)},
                     {"last_active", DateJson(a.last_active)},
                     {"lock_count", a.lock_count}});
  }
  nlohmann::json codes = nlohmann::json::array();
  for (const auto& [id, c] : codes_) {
    nlohmann::json j{{"id", c.id},
                     {"name", c.name},
                     {"enabled", c.enabled},
                     {"window", WindowJson(c.window)},
                     {"created", DateJson(c.created)},
                     {"last_active", DateJson(c.last_active)},
                     {"lock_count", c.lock_count}};
    if (reveal_codes) j["code"] = c.code;
    codes.push_back(std::move(j));
  }
  nlohmann::json log = nlohmann::json::array();
  for (const ble::LogEntry& e : log_) log.push_back(LogJson(e));
  nlohmann::json j{
      {"name", options_.name},
      {"uuid", Hex(uuid_)},
      {"time", FormatRfc3339(now_)},
      {"timezone_offset_min", state_.timezone_offset_min},
      {"pairing_mode", pairing_mode()},
      {"lock_state", ble::LockStateName(state_.lock_state)},
      {"door", ble::DoorSensorStateName(state_.door)},
      {"battery", {{"percent", state_.battery_percent}, {"critical", state_.battery_critical}}},
      {"state_changed", state_.state_changed},
      {"last_action",
       {{"action", ble::LockActionName(state_.last_action)},
        {"trigger", ble::TriggerName(state_.last_action_trigger)},
        {"completion", ble::CompletionStatusName(state_.last_action_completion)}}},
      {"faults",
       {{"jammed", state_.jammed},
        {"busy", busy_},
        {"drop_indications", drop_},
        {"corrupt_next_crc", corrupt_next_crc_}}},
      {"pin_failures", pin_failures_},
      {"pin_locked_until", pin_locked_until_ && now_ < *pin_locked_until_
                               ? nlohmann::json(FormatRfc3339(*pin_locked_until_))
                               : nlohmann::json(nullptr)},
      {"authorizations", std::move(auths)},
      {"codes", std::move(codes)},
      {"log", std::move(log)},
  };
  return j.dump();
}

}  // namespace lintel::locksim
