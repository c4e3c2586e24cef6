#include "drivers/ble/nuki_client.h"

#include <algorithm>
#include <utility>

namespace lintel::ble {
namespace {

// How often a wait for an encrypted reply looks at the keyturner GDIO for a clear Error Report.
constexpr std::chrono::milliseconds kGdioCheckEvery{250};

uint16_t Id(Command c) { return static_cast<uint16_t>(c); }

Status Garbled(const Status& why) {
  return Status::Unavailable("lock reply garbled: " + why.message());
}

Status Unexpected(uint16_t got, std::string_view expected) {
  return Status::Unavailable("lock answered " + DescribeCommand(got) + ", expected " +
                             std::string(expected));
}

Status CheckName(const std::string& name, size_t width, std::string_view what) {
  if (name.size() <= width) return Status::Ok();
  return Status::InvalidArgument(std::string(what) + " name of " + std::to_string(name.size()) +
                                 " bytes; the lock holds at most " + std::to_string(width));
}

Status CheckCode(uint32_t code) {
  if (ValidNukiCode(code)) return Status::Ok();
  return Status::InvalidArgument(
      "keypad code is not one a Nuki lock accepts (6 digits, no 0, not starting with 12)");
}

}  // namespace

LockClient::LockClient(GattLink& link, NonceSource& nonces, LockClientOptions options)
    : link_(link), nonces_(nonces), options_(std::move(options)) {}

LockClient::LockClient(GattLink& link, NonceSource& nonces, Credentials credentials,
                       LockClientOptions options)
    : link_(link), nonces_(nonces), credentials_(credentials), options_(std::move(options)) {}

Status LockClient::CheckReady() const {
  if (!credentials_) return Status::FailedPrecondition("not paired: no credentials for this lock");
  if (!link_.connected()) return Status::Unavailable("not connected to the lock");
  return Status::Ok();
}

void LockClient::StartCommand() {
  encrypted_.Reset();
  plain_.Reset();
  frames_.clear();
}

Status LockClient::WriteFrame(std::string_view uuid, const std::vector<uint8_t>& frame) {
  for (const std::vector<uint8_t>& chunk : Chunk(frame, options_.write_chunk)) {
    LINTEL_RETURN_IF_ERROR(link_.Write(uuid, chunk));
  }
  return Status::Ok();
}

Status LockClient::Send(const Message& message) {
  return WriteFrame(kKeyturnerUsdioUuid,
                    EncodeEncrypted(credentials_->shared_key, credentials_->authorization_id,
                                    message, nonces_.Next()));
}

Result<Message> LockClient::Receive(std::chrono::milliseconds timeout,
                                    std::string_view waiting_for) {
  // The reply comes encrypted on the USDIO, except when the lock cannot encrypt to us (an
  // authorization id it does not know, a key that does not decrypt): then it reports "not
  // authorized" unencrypted on the keyturner GDIO. The wait is cut into slices (counted, not
  // timed, so a link that times out at once does not spin) and the GDIO is looked at after each.
  const std::chrono::milliseconds slice = std::min(timeout, kGdioCheckEvery);
  const int64_t slices =
      slice.count() > 0 ? (timeout.count() + slice.count() - 1) / slice.count() : 1;
  int64_t waited = 0;
  while (frames_.empty()) {
    Result<std::vector<uint8_t>> value = link_.NextIndication(kKeyturnerUsdioUuid, slice);
    if (!value.ok() && IsDeadlineExceeded(value.status())) {
      if (std::optional<Status> refused = PlainErrorOnGdio()) return *refused;
      if (++waited < slices) continue;
      return DeadlineExceeded("no " + std::string(waiting_for) + " from the lock within " +
                              std::to_string(timeout.count()) + " ms");
    }
    if (!value.ok()) return value.status();
    Result<std::vector<std::vector<uint8_t>>> frames = encrypted_.Feed(*value);
    if (!frames.ok()) return Garbled(frames.status());
    for (std::vector<uint8_t>& f : *frames) frames_.push_back(std::move(f));
  }
  std::vector<uint8_t> frame = std::move(frames_.front());
  frames_.pop_front();
  Result<EncryptedMessage> m = DecodeEncrypted(credentials_->shared_key, frame);
  if (!m.ok()) return Garbled(m.status());
  if (m->auth_id != credentials_->authorization_id) {
    return Status::Unavailable("lock reply for authorization id " + std::to_string(m->auth_id) +
                               ", not ours");
  }
  if (m->message.command == Id(Command::kErrorReport)) {
    Result<ErrorReport> e = ErrorReport::Decode(m->message.payload);
    if (!e.ok()) return Garbled(e.status());
    return LockErrorStatus(e->code, e->command);
  }
  return std::move(m->message);
}

std::optional<Status> LockClient::PlainErrorOnGdio() {
  Result<std::vector<uint8_t>> value =
      link_.NextIndication(kKeyturnerGdioUuid, std::chrono::milliseconds(0));
  if (!value.ok()) return std::nullopt;
  Result<std::vector<std::vector<uint8_t>>> frames = gdio_.Feed(*value);
  if (!frames.ok()) return Garbled(frames.status());
  for (const std::vector<uint8_t>& f : *frames) {
    Result<Message> m = DecodePlain(f);
    if (!m.ok()) return Garbled(m.status());
    if (m->command != Id(Command::kErrorReport)) continue;
    Result<ErrorReport> e = ErrorReport::Decode(m->payload);
    if (!e.ok()) return Garbled(e.status());
    return LockErrorStatus(e->code, e->command);
  }
  return std::nullopt;
}

Result<Message> LockClient::ReceivePlain(std::chrono::milliseconds timeout,
                                         std::string_view waiting_for) {
  while (frames_.empty()) {
    Result<std::vector<uint8_t>> value = link_.NextIndication(kPairingGdioUuid, timeout);
    if (!value.ok()) {
      if (IsDeadlineExceeded(value.status())) {
        return DeadlineExceeded("no " + std::string(waiting_for) + " from the lock within " +
                                std::to_string(timeout.count()) + " ms");
      }
      return value.status();
    }
    Result<std::vector<std::vector<uint8_t>>> frames = plain_.Feed(*value);
    if (!frames.ok()) return Garbled(frames.status());
    for (std::vector<uint8_t>& f : *frames) frames_.push_back(std::move(f));
  }
  std::vector<uint8_t> frame = std::move(frames_.front());
  frames_.pop_front();
  Result<Message> m = DecodePlain(frame);
  if (!m.ok()) return Garbled(m.status());
  return m;
}

template <typename T>
Result<T> LockClient::Expect(std::chrono::milliseconds timeout) {
  std::string name = DescribeCommand(Id(T::kCommand));
  Result<Message> m = Receive(timeout, name);
  if (!m.ok()) return m.status();
  if (m->command != Id(T::kCommand)) return Unexpected(m->command, name);
  Result<T> v = T::Decode(m->payload);
  if (!v.ok()) return Garbled(v.status());
  return v;
}

Result<Nonce32> LockClient::GetChallenge() {
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(RequestData{Id(Command::kChallenge), {}})));
  Result<Challenge> c = Expect<Challenge>(options_.reply_timeout);
  if (!c.ok()) return c.status();
  return c->nonce;
}

Status LockClient::ExpectStatus(CommandStatus want, std::chrono::milliseconds timeout) {
  Result<StatusMessage> s = Expect<StatusMessage>(timeout);
  if (!s.ok()) return s.status();
  if (s->status != static_cast<uint8_t>(want)) {
    return Status::Unavailable("lock answered Status " + std::to_string(s->status) + ", expected " +
                               (want == CommandStatus::kComplete ? "COMPLETE" : "ACCEPTED"));
  }
  return Status::Ok();
}

Status LockClient::OptionalComplete() {
  Result<Message> m = Receive(options_.complete_grace, "Status COMPLETE");
  if (!m.ok()) return IsDeadlineExceeded(m.status()) ? Status::Ok() : m.status();
  if (m->command != Id(Command::kStatus)) return Unexpected(m->command, "Status COMPLETE");
  Result<StatusMessage> s = StatusMessage::Decode(m->payload);
  if (!s.ok()) return Garbled(s.status());
  if (s->status != static_cast<uint8_t>(CommandStatus::kComplete)) {
    return Status::Unavailable("lock answered Status " + std::to_string(s->status) +
                               ", expected COMPLETE");
  }
  return Status::Ok();
}

// --- pairing ---------------------------------------------------------------------------------

Result<PairingResult> LockClient::Pair(const PairingIdentity& identity, RandomSource& random) {
  if (!link_.connected()) return Status::Unavailable("not connected to the lock");
  LINTEL_RETURN_IF_ERROR(CheckName(identity.name, 32, "pairing"));
  StartCommand();
  Key32 secret = random.Next();
  ClientPairing pairing(identity, secret, random);
  std::vector<Message> to_send{pairing.Start()};
  while (!pairing.done()) {
    for (const Message& m : to_send) {
      LINTEL_RETURN_IF_ERROR(WriteFrame(kPairingGdioUuid, EncodePlain(m)));
    }
    Result<Message> reply = ReceivePlain(options_.reply_timeout, "pairing reply");
    if (!reply.ok()) return reply.status();
    Result<std::vector<Message>> next = pairing.OnMessage(*reply);
    if (!next.ok()) return next.status();
    to_send = std::move(*next);
  }
  credentials_ = pairing.result().credentials;
  return pairing.result();
}

// --- state, actions --------------------------------------------------------------------------

Result<KeyturnerStates> LockClient::ReadState() {
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(RequestData{Id(Command::kKeyturnerStates), {}})));
  return Expect<KeyturnerStates>(options_.reply_timeout);
}

Result<BatteryReport> LockClient::ReadBattery() {
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(RequestData{Id(Command::kBatteryReport), {}})));
  return Expect<BatteryReport>(options_.reply_timeout);
}

Result<LockActionResult> LockClient::Act(LockAction action, uint8_t flags) {
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  LINTEL_RETURN_IF_ERROR(
      Send(ToMessage(LockActionRequest{action, options_.app_id, flags, std::nullopt, *nonce})));
  LINTEL_RETURN_IF_ERROR(ExpectStatus(CommandStatus::kAccepted, options_.reply_timeout));
  LockActionResult result;
  for (;;) {
    Result<Message> m = Receive(options_.action_timeout, "Lock Action completion");
    if (!m.ok()) return m.status();
    if (m->command == Id(Command::kKeyturnerStates)) {
      Result<KeyturnerStates> s = KeyturnerStates::Decode(m->payload);
      if (!s.ok()) return Garbled(s.status());
      if (result.transitions.size() >= options_.max_transitions) {
        return Status::Unavailable("lock sent more than " +
                                   std::to_string(options_.max_transitions) +
                                   " states for one Lock Action");
      }
      result.transitions.push_back(std::move(*s));
      continue;
    }
    if (m->command != Id(Command::kStatus)) return Unexpected(m->command, "Status COMPLETE");
    Result<StatusMessage> s = StatusMessage::Decode(m->payload);
    if (!s.ok()) return Garbled(s.status());
    if (s->status != static_cast<uint8_t>(CommandStatus::kComplete)) {
      return Status::Unavailable("lock answered Status " + std::to_string(s->status) +
                                 ", expected COMPLETE");
    }
    return result;
  }
}

// --- keypad codes ----------------------------------------------------------------------------

Result<KeypadCodeList> LockClient::ListKeypadCodes(uint16_t pin, uint16_t offset, uint16_t count) {
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(KeypadCodeRequest{offset, count, *nonce, pin})));
  KeypadCodeList list;
  Result<KeypadCodeCount> total = Expect<KeypadCodeCount>(options_.reply_timeout);
  if (!total.ok()) return total.status();
  list.total = total->count;
  size_t expected = std::min<size_t>(count, total->count > offset ? total->count - offset : 0);
  if (expected > options_.max_entries) {
    return Status::Unavailable("lock announced " + std::to_string(expected) +
                               " keypad codes, more than " + std::to_string(options_.max_entries));
  }
  while (list.codes.size() < expected) {
    Result<Message> m = Receive(options_.reply_timeout, "Keypad Code");
    if (!m.ok()) return m.status();
    if (m->command == Id(Command::kStatus)) {
      Result<StatusMessage> s = StatusMessage::Decode(m->payload);
      if (!s.ok()) return Garbled(s.status());
      if (s->status == static_cast<uint8_t>(CommandStatus::kComplete)) return list;
    }
    if (m->command != Id(Command::kKeypadCode)) return Unexpected(m->command, "Keypad Code");
    Result<KeypadCode> code = KeypadCode::Decode(m->payload);
    if (!code.ok()) return Garbled(code.status());
    list.codes.push_back(std::move(*code));
  }
  LINTEL_RETURN_IF_ERROR(OptionalComplete());
  return list;
}

Result<uint16_t> LockClient::AddKeypadCode(KeypadCodeAdd code, uint16_t pin) {
  LINTEL_RETURN_IF_ERROR(CheckCode(code.code));
  LINTEL_RETURN_IF_ERROR(CheckName(code.name, 20, "keypad code"));
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  code.nonce = *nonce;
  code.pin = pin;
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(code)));
  Result<KeypadCodeId> id = Expect<KeypadCodeId>(options_.reply_timeout);
  if (!id.ok()) return id.status();
  LINTEL_RETURN_IF_ERROR(OptionalComplete());
  return id->id;
}

Status LockClient::UpdateKeypadCode(KeypadCodeUpdate code, uint16_t pin) {
  LINTEL_RETURN_IF_ERROR(CheckCode(code.code));
  LINTEL_RETURN_IF_ERROR(CheckName(code.name, 20, "keypad code"));
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  code.nonce = *nonce;
  code.pin = pin;
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(code)));
  return ExpectStatus(CommandStatus::kComplete, options_.reply_timeout);
}

Status LockClient::RemoveKeypadCode(uint16_t id, uint16_t pin) {
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(KeypadCodeRemove{id, *nonce, pin})));
  return ExpectStatus(CommandStatus::kComplete, options_.reply_timeout);
}

// --- authorizations --------------------------------------------------------------------------

Result<AuthorizationList> LockClient::ListAuthorizations(uint16_t pin, uint16_t offset,
                                                         uint16_t count) {
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(AuthorizationRequest{offset, count, *nonce, pin})));
  AuthorizationList list;
  size_t expected = count;
  for (;;) {
    if (list.total && list.entries.size() >= expected) break;
    if (list.entries.size() >= options_.max_entries) {
      return Status::Unavailable("lock sent more than " + std::to_string(options_.max_entries) +
                                 " authorization entries");
    }
    Result<Message> m = Receive(options_.reply_timeout, "Authorization Entry");
    if (!m.ok()) return m.status();
    if (m->command == Id(Command::kStatus)) {
      Result<StatusMessage> s = StatusMessage::Decode(m->payload);
      if (!s.ok()) return Garbled(s.status());
      if (s->status == static_cast<uint8_t>(CommandStatus::kComplete)) return list;
      return Unexpected(m->command, "Authorization Entry");
    }
    if (m->command == Id(Command::kAuthorizationCount) && !list.total && list.entries.empty()) {
      Result<AuthorizationCount> c = AuthorizationCount::Decode(m->payload);
      if (!c.ok()) return Garbled(c.status());
      list.total = c->count;
      expected = std::min<size_t>(count, c->count > offset ? c->count - offset : 0);
      continue;
    }
    if (m->command != Id(Command::kAuthorizationEntry)) {
      return Unexpected(m->command, "Authorization Entry");
    }
    Result<AuthorizationEntry> e = AuthorizationEntry::Decode(m->payload);
    if (!e.ok()) return Garbled(e.status());
    list.entries.push_back(std::move(*e));
    if (!list.total && list.entries.size() >= expected) break;
  }
  LINTEL_RETURN_IF_ERROR(OptionalComplete());
  return list;
}

Result<uint32_t> LockClient::AddAuthorization(AuthorizationInvite invite, uint16_t pin) {
  LINTEL_RETURN_IF_ERROR(CheckName(invite.name, 32, "authorization"));
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  invite.nonce = *nonce;
  invite.pin = pin;
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(invite)));
  Result<AuthorizationIdInvite> id = Expect<AuthorizationIdInvite>(options_.reply_timeout);
  if (!id.ok()) return id.status();
  LINTEL_RETURN_IF_ERROR(OptionalComplete());
  return id->authorization_id;
}

Status LockClient::UpdateAuthorization(AuthorizationUpdate update, uint16_t pin) {
  LINTEL_RETURN_IF_ERROR(CheckName(update.name, 32, "authorization"));
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  update.nonce = *nonce;
  update.pin = pin;
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(update)));
  return ExpectStatus(CommandStatus::kComplete, options_.reply_timeout);
}

Status LockClient::RemoveAuthorization(uint32_t authorization_id, uint16_t pin) {
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(AuthorizationRemove{authorization_id, *nonce, pin})));
  return ExpectStatus(CommandStatus::kComplete, options_.reply_timeout);
}

// --- log, time -------------------------------------------------------------------------------

Result<LogPage> LockClient::ReadLog(uint32_t start_index, uint16_t count, uint16_t pin,
                                    bool descending) {
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(LogRequest{
      start_index, count, static_cast<uint8_t>(descending ? 1 : 0), true, *nonce, pin})));
  Result<LogEntryCount> total = Expect<LogEntryCount>(options_.reply_timeout);
  if (!total.ok()) return total.status();
  LogPage page;
  page.logging_enabled = total->logging_enabled;
  page.total = total->count;
  size_t expected = std::min<size_t>({count, total->count, options_.max_entries});
  while (page.entries.size() < expected) {
    Result<Message> m = Receive(options_.reply_timeout, "Log Entry");
    if (!m.ok()) return m.status();
    if (m->command == Id(Command::kStatus)) {
      Result<StatusMessage> s = StatusMessage::Decode(m->payload);
      if (!s.ok()) return Garbled(s.status());
      if (s->status == static_cast<uint8_t>(CommandStatus::kComplete)) return page;
    }
    if (m->command != Id(Command::kLogEntry)) return Unexpected(m->command, "Log Entry");
    Result<LogEntry> e = LogEntry::Decode(m->payload);
    if (!e.ok()) return Garbled(e.status());
    page.entries.push_back(std::move(*e));
  }
  LINTEL_RETURN_IF_ERROR(OptionalComplete());
  return page;
}

Status LockClient::UpdateTime(Instant now, uint16_t pin) {
  Result<LockDateTime> t = ToLockDateTime(now);
  if (!t.ok()) return t.status();
  LINTEL_RETURN_IF_ERROR(CheckReady());
  StartCommand();
  Result<Nonce32> nonce = GetChallenge();
  if (!nonce.ok()) return nonce.status();
  LINTEL_RETURN_IF_ERROR(Send(ToMessage(::lintel::ble::UpdateTime{*t, *nonce, pin})));
  return ExpectStatus(CommandStatus::kComplete, options_.reply_timeout);
}

}  // namespace lintel::ble
