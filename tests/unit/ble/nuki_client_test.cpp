// LockClient over a scripted GattLink: each frame the client writes (reassembled from its
// 20-byte chunks) is checked against the next expected command and answered with canned
// messages built with the codec's own encoders, encrypted and split into indications the way a
// lock sends them. No sleeps: an empty indication queue times out at once.
#include "drivers/ble/nuki_client.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "drivers/ble/gatt_link.h"
#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_frame.h"
#include "drivers/ble/nuki_pairing.h"

namespace lintel::ble {
namespace {

std::vector<uint8_t> Hex(std::string_view s) {
  std::vector<uint8_t> out;
  std::string digits;
  for (char c : s) {
    if (c != ' ') digits.push_back(c);
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

template <size_t N>
std::array<uint8_t, N> HexArray(std::string_view s) {
  std::vector<uint8_t> v = Hex(s);
  std::array<uint8_t, N> a{};
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}

const Key32 kSpecKey =
    HexArray<32>("217FCB0F18CAF284E9BDEA0B94B83B8D10867ED706BFDEDBD2381F4CB3B8F730");
const Nonce24 kSpecNonce = HexArray<24>("37917F1AF31EC5940705F34D1E5550607D5B2F9FE7D496B6");
const Credentials kCreds{kSpecKey, 2};
constexpr uint16_t kPin = 4321;

Nonce32 N(uint8_t b) {
  Nonce32 n;
  n.fill(b);
  return n;
}

using Responder = std::function<std::vector<Message>(const Message&)>;

class ScriptedLink final : public GattLink {
 public:
  explicit ScriptedLink(Credentials lock_side) : creds_(lock_side) {}

  // The next frame the client writes must be `command`; the lock answers `replies`.
  void Expect(Command command, std::vector<Message> replies) {
    steps_.push_back(
        {static_cast<uint16_t>(command), [replies](const Message&) { return replies; }});
  }
  void ExpectFn(Command command, Responder respond) {
    steps_.push_back({static_cast<uint16_t>(command), std::move(respond)});
  }
  // The lock answers a challenge request with Challenge `nonce`.
  void ExpectChallenge(const Nonce32& nonce) {
    ExpectFn(Command::kRequestData, [nonce](const Message& m) {
      EXPECT_EQ(m.payload, Hex("0400"));  // Request Data(Challenge)
      return std::vector<Message>{ToMessage(Challenge{nonce})};
    });
  }
  // Unencrypted writes (pairing) all go to `respond`.
  void ServePlain(Responder respond) { plain_responder_ = std::move(respond); }
  void set_credentials(Credentials c) { creds_ = c; }
  void set_connected(bool c) { connected_ = c; }

  Status Connect(std::string_view, std::chrono::milliseconds) override {
    connected_ = true;
    return Status::Ok();
  }
  Status Write(std::string_view uuid, std::span<const uint8_t> value) override {
    if (!connected_) return Status::Unavailable("not connected");
    EXPECT_LE(value.size(), kGattValueSize);
    writes_.emplace_back(uuid, std::vector<uint8_t>(value.begin(), value.end()));
    bool plain = uuid == kPairingGdioUuid;
    EXPECT_TRUE(plain || uuid == kKeyturnerUsdioUuid) << uuid;
    Result<std::vector<std::vector<uint8_t>>> frames = (plain ? plain_ : encrypted_).Feed(value);
    EXPECT_TRUE(frames.ok()) << frames.status().ToString();
    if (!frames.ok()) return Status::Ok();
    for (const std::vector<uint8_t>& f : *frames) {
      frames_written_.push_back(f);
      Message m;
      if (plain) {
        Result<Message> d = DecodePlain(f);
        EXPECT_TRUE(d.ok()) << d.status().ToString();
        m = d.value();
      } else {
        Result<EncryptedMessage> d = DecodeEncrypted(creds_.shared_key, f);
        EXPECT_TRUE(d.ok()) << d.status().ToString();
        if (!d.ok()) continue;
        EXPECT_EQ(d->auth_id, creds_.authorization_id);
        m = d->message;
      }
      sent_.push_back(m);
      std::vector<Message> replies;
      if (plain && plain_responder_) {
        replies = plain_responder_(m);
      } else if (steps_.empty()) {
        ADD_FAILURE() << "unexpected " << DescribeCommand(m.command);
      } else {
        Step step = std::move(steps_.front());
        steps_.pop_front();
        EXPECT_EQ(DescribeCommand(m.command), DescribeCommand(step.command));
        replies = step.respond(m);
      }
      for (const Message& r : replies) Indicate(uuid, r);
    }
    return Status::Ok();
  }
  Result<std::vector<uint8_t>> NextIndication(std::string_view uuid,
                                              std::chrono::milliseconds) override {
    std::deque<std::vector<uint8_t>>& q = indications_[std::string(uuid)];
    if (q.empty()) return DeadlineExceeded("no indication");
    std::vector<uint8_t> v = std::move(q.front());
    q.pop_front();
    return v;
  }
  void Disconnect() override { connected_ = false; }
  bool connected() const override { return connected_; }

  // Queues `m` as the lock would send it on `uuid`.
  void Indicate(std::string_view uuid, const Message& m) {
    std::vector<uint8_t> frame =
        uuid == kPairingGdioUuid
            ? EncodePlain(m)
            : EncodeEncrypted(creds_.shared_key, creds_.authorization_id, m, lock_nonces_.Next());
    IndicateRaw(uuid, frame);
  }
  void IndicateRaw(std::string_view uuid, const std::vector<uint8_t>& frame) {
    for (auto& chunk : Chunk(frame)) indications_[std::string(uuid)].push_back(std::move(chunk));
  }

  bool script_done() const { return steps_.empty(); }
  const std::vector<Message>& sent() const { return sent_; }
  const std::vector<std::vector<uint8_t>>& frames_written() const { return frames_written_; }
  const std::vector<std::pair<std::string, std::vector<uint8_t>>>& writes() const {
    return writes_;
  }

 private:
  struct Step {
    uint16_t command;
    Responder respond;
  };
  Credentials creds_;
  bool connected_ = true;
  std::deque<Step> steps_;
  Responder plain_responder_;
  Reassembler encrypted_{FrameKind::kEncrypted};
  Reassembler plain_{FrameKind::kPlain};
  CountingNonceSource lock_nonces_{HexArray<24>("99")};
  std::map<std::string, std::deque<std::vector<uint8_t>>> indications_;
  std::vector<Message> sent_;
  std::vector<std::vector<uint8_t>> frames_written_;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> writes_;
};

Message StatusMsg(CommandStatus s) { return ToMessage(StatusMessage{static_cast<uint8_t>(s)}); }
Message Error(ErrorCode e, Command c) {
  return ToMessage(ErrorReport{static_cast<uint8_t>(e), static_cast<uint16_t>(c)});
}

KeyturnerStates States(LockState s) {
  KeyturnerStates k;
  k.nuki_state = NukiState::kDoorMode;
  k.lock_state = s;
  k.current_time = {2026, 12, 2, 10, 0, 0};
  return k;
}

class LockClientTest : public ::testing::Test {
 protected:
  LockClientTest() : client_(link_, nonces_, kCreds, Options()) {}
  static LockClientOptions Options() {
    LockClientOptions o;
    o.app_id = 0x4C494E54;
    return o;
  }

  ScriptedLink link_{kCreds};
  CountingNonceSource nonces_{kSpecNonce};
  LockClient client_;
};

TEST_F(LockClientTest, ReadStateWritesTheSpecFrameIn20ByteChunksAndDecodesTheReply) {
  link_.Expect(Command::kRequestData, {Message{0x000C, Hex("020100E0070307080F1E3C0000200A")}});
  Result<KeyturnerStates> s = client_.ReadState();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->lock_state, LockState::kLocked);
  EXPECT_EQ(s->current_time, (LockDateTime{2016, 3, 7, 8, 15, 30}));
  ASSERT_EQ(link_.frames_written().size(), 1u);
  EXPECT_EQ(link_.frames_written()[0],
            Hex("37917F1AF31EC5940705F34D1E5550607D5B2F9FE7D496B6 02000000 1A00 "
                "670D124926004366532E8D927A33FE84E782A9594D39157D065E"));
  ASSERT_EQ(link_.writes().size(), 3u);  // 56 bytes: 20 + 20 + 16
  EXPECT_EQ(link_.writes()[0].first, kKeyturnerUsdioUuid);
  EXPECT_TRUE(link_.script_done());
}

TEST_F(LockClientTest, EveryFrameGetsAFreshNonce) {
  link_.Expect(Command::kRequestData, {ToMessage(States(LockState::kLocked))});
  link_.Expect(Command::kRequestData, {ToMessage(States(LockState::kLocked))});
  ASSERT_TRUE(client_.ReadState().ok());
  ASSERT_TRUE(client_.ReadState().ok());
  ASSERT_EQ(link_.frames_written().size(), 2u);
  EXPECT_NE(DecodeEncryptedHeader(link_.frames_written()[0])->nonce,
            DecodeEncryptedHeader(link_.frames_written()[1])->nonce);
}

TEST_F(LockClientTest, UnlockRunsChallengeActionAcceptedTransitionsComplete) {
  link_.ExpectChallenge(N(0x5C));
  link_.ExpectFn(Command::kLockAction, [](const Message& m) {
    Result<LockActionRequest> r = LockActionRequest::Decode(m.payload);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->action, LockAction::kUnlock);
    EXPECT_EQ(r->nonce, N(0x5C));  // the challenge
    EXPECT_EQ(r->app_id, 0x4C494E54u);
    return std::vector<Message>{
        StatusMsg(CommandStatus::kAccepted), ToMessage(States(LockState::kUnlocking)),
        ToMessage(States(LockState::kUnlocked)), StatusMsg(CommandStatus::kComplete)};
  });
  Result<LockActionResult> r = client_.Unlock();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->transitions.size(), 2u);
  EXPECT_EQ(r->transitions.back().lock_state, LockState::kUnlocked);
  EXPECT_TRUE(link_.script_done());
}

TEST_F(LockClientTest, ABusyLockIsUnavailableWithTheErrorsName) {
  link_.ExpectChallenge(N(1));
  link_.Expect(Command::kLockAction, {Error(ErrorCode::kBusy, Command::kLockAction)});
  Result<LockActionResult> r = client_.Lock();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "lock error 0x45 busy (Lock Action 0x000D)");
}

TEST_F(LockClientTest, AMotorBlockedAfterAcceptIsReported) {
  link_.ExpectChallenge(N(1));
  link_.Expect(Command::kLockAction, {StatusMsg(CommandStatus::kAccepted),
                                      Error(ErrorCode::kMotorBlocked, Command::kLockAction)});
  Result<LockActionResult> r = client_.Unlatch();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(LockErrorCodeOf(r.status()), 0x42);
}

TEST_F(LockClientTest, NoReplyIsDeadlineExceeded) {
  link_.Expect(Command::kRequestData, {});
  Result<KeyturnerStates> s = client_.ReadState();
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsDeadlineExceeded(s.status())) << s.status().ToString();
  EXPECT_NE(s.status().message().find("Keyturner States"), std::string::npos);
}

TEST_F(LockClientTest, ALockActionThatNeverCompletesIsDeadlineExceeded) {
  link_.ExpectChallenge(N(1));
  link_.Expect(Command::kLockAction,
               {StatusMsg(CommandStatus::kAccepted), ToMessage(States(LockState::kUnlocking))});
  Result<LockActionResult> r = client_.Unlock();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsDeadlineExceeded(r.status())) << r.status().ToString();
}

TEST_F(LockClientTest, AReplyUnderAnotherKeyIsGarbled) {
  link_.ExpectFn(Command::kRequestData, [this](const Message&) {
    Key32 other = kSpecKey;
    other[5] ^= 1;
    link_.IndicateRaw(kKeyturnerUsdioUuid,
                      EncodeEncrypted(other, 2, ToMessage(States(LockState::kLocked)), kSpecNonce));
    return std::vector<Message>{};
  });
  Result<KeyturnerStates> s = client_.ReadState();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("lock reply garbled: "), std::string::npos);
  EXPECT_NE(s.status().message().find("decryption failed"), std::string::npos);
}

TEST_F(LockClientTest, ATruncatedStatesPayloadIsGarbled) {
  link_.Expect(Command::kRequestData, {Message{0x000C, Hex("0201")}});
  Result<KeyturnerStates> s = client_.ReadState();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("Keyturner States (0x000C): payload of 2 bytes"),
            std::string::npos)
      << s.status().ToString();
}

TEST_F(LockClientTest, AnotherCommandThanExpectedIsNamed) {
  link_.Expect(Command::kRequestData, {ToMessage(BatteryReport{})});
  Result<KeyturnerStates> s = client_.ReadState();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "lock answered Battery Report (0x0011), expected Keyturner States (0x000C)");
}

TEST_F(LockClientTest, ReadBatteryDecodesTheReport) {
  BatteryReport b;
  b.battery_voltage_mv = 5600;
  b.critical_battery_state = 1;
  link_.ExpectFn(Command::kRequestData, [b](const Message& m) {
    EXPECT_EQ(m.payload, Hex("1100"));
    return std::vector<Message>{ToMessage(b)};
  });
  Result<BatteryReport> r = client_.ReadBattery();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->battery_voltage_mv, 5600);
  EXPECT_TRUE(r->battery_critical());
}

TEST(LockClient, WithoutCredentialsOnlyPairingWorks) {
  ScriptedLink link(kCreds);
  CountingNonceSource nonces(kSpecNonce);
  LockClient client(link, nonces);
  Result<KeyturnerStates> s = client.ReadState();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(link.writes().empty());
}

TEST_F(LockClientTest, NotConnectedIsUnavailableAndWritesNothing) {
  link_.set_connected(false);
  Result<KeyturnerStates> s = client_.ReadState();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(link_.writes().empty());
}

// --- keypad codes ----------------------------------------------------------------------------

AccessWindow Lease() {
  return AccessWindow{true, {2026, 12, 1, 14, 0, 0}, {2027, 5, 31, 11, 0, 0}, 0, {}, {}};
}

TEST_F(LockClientTest, AddKeypadCodeSendsTheChallengeAndPinAndReturnsTheId) {
  link_.ExpectChallenge(N(7));
  link_.ExpectFn(Command::kAddKeypadCode, [](const Message& m) {
    Result<KeypadCodeAdd> a = KeypadCodeAdd::Decode(m.payload);
    EXPECT_TRUE(a.ok());
    EXPECT_EQ(a->code, 345678u);
    EXPECT_EQ(a->name, "Tenant 4B");
    EXPECT_EQ(a->window, Lease());
    EXPECT_EQ(a->nonce, N(7));
    EXPECT_EQ(a->pin, kPin);
    return std::vector<Message>{ToMessage(KeypadCodeId{12, {}}),
                                StatusMsg(CommandStatus::kComplete)};
  });
  Result<uint16_t> id = client_.AddKeypadCode({345678, "Tenant 4B", Lease(), {}, 0}, kPin);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 12);
  EXPECT_TRUE(link_.script_done());
}

TEST_F(LockClientTest, AddKeypadCodeWithoutTrailingCompleteStillSucceeds) {
  link_.ExpectChallenge(N(7));
  link_.Expect(Command::kAddKeypadCode, {ToMessage(KeypadCodeId{13, {}})});
  Result<uint16_t> id = client_.AddKeypadCode({345678, "x", Lease(), {}, 0}, kPin);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 13);
}

TEST_F(LockClientTest, AWrongPinIsReportedByName) {
  link_.ExpectChallenge(N(7));
  link_.Expect(Command::kAddKeypadCode, {Error(ErrorCode::kBadPin, Command::kAddKeypadCode)});
  Result<uint16_t> id = client_.AddKeypadCode({345678, "x", Lease(), {}, 0}, 1);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(id.status().message(), "lock error 0x21 bad PIN (Add Keypad Code 0x0041)");
}

TEST_F(LockClientTest, ACodeTheLockWouldRefuseIsNotSent) {
  Result<uint16_t> id = client_.AddKeypadCode({123456, "x", Lease(), {}, 0}, kPin);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(client_.UpdateKeypadCode({1, 345670, "x", true, Lease(), {}, 0}, kPin).ok());
  EXPECT_FALSE(client_.AddKeypadCode({345678, std::string(21, 'n'), Lease(), {}, 0}, kPin).ok());
  EXPECT_TRUE(link_.writes().empty());
}

TEST_F(LockClientTest, ListKeypadCodesReadsCountEntriesAndComplete) {
  KeypadCode a{1, 345678, "A", true, {}, {}, 0, Lease()};
  KeypadCode b{2, 456789, "B", false, {}, {}, 3, AccessWindow{}};
  link_.ExpectChallenge(N(8));
  link_.ExpectFn(Command::kRequestKeypadCodes, [&](const Message& m) {
    Result<KeypadCodeRequest> r = KeypadCodeRequest::Decode(m.payload);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->offset, 0);
    EXPECT_EQ(r->nonce, N(8));
    EXPECT_EQ(r->pin, kPin);
    return std::vector<Message>{ToMessage(KeypadCodeCount{2}), ToMessage(a), ToMessage(b),
                                StatusMsg(CommandStatus::kComplete)};
  });
  Result<KeypadCodeList> list = client_.ListKeypadCodes(kPin);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->total, 2);
  ASSERT_EQ(list->codes.size(), 2u);
  EXPECT_EQ(list->codes[0], a);
  EXPECT_EQ(list->codes[1], b);
  EXPECT_TRUE(link_.script_done());
}

TEST_F(LockClientTest, AnEmptyCodeListNeedsNoComplete) {
  link_.ExpectChallenge(N(8));
  link_.Expect(Command::kRequestKeypadCodes, {ToMessage(KeypadCodeCount{0})});
  Result<KeypadCodeList> list = client_.ListKeypadCodes(kPin);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_TRUE(list->codes.empty());
}

TEST_F(LockClientTest, ALostCodeIndicationIsATimeoutNotAShortList) {
  link_.ExpectChallenge(N(8));
  link_.Expect(Command::kRequestKeypadCodes,
               {ToMessage(KeypadCodeCount{2}),
                ToMessage(KeypadCode{1, 345678, "A", true, {}, {}, 0, Lease()})});
  Result<KeypadCodeList> list = client_.ListKeypadCodes(kPin);
  ASSERT_FALSE(list.ok());
  EXPECT_TRUE(IsDeadlineExceeded(list.status()));
}

TEST_F(LockClientTest, UpdateAndRemoveKeypadCodeWaitForComplete) {
  link_.ExpectChallenge(N(9));
  link_.ExpectFn(Command::kUpdateKeypadCode, [](const Message& m) {
    Result<KeypadCodeUpdate> u = KeypadCodeUpdate::Decode(m.payload);
    EXPECT_TRUE(u.ok());
    EXPECT_EQ(u->id, 5);
    EXPECT_FALSE(u->enabled);
    EXPECT_EQ(u->window.until, (LockDateTime{2027, 6, 30, 11, 0, 0}));
    EXPECT_EQ(u->nonce, N(9));
    return std::vector<Message>{StatusMsg(CommandStatus::kComplete)};
  });
  AccessWindow longer = Lease();
  longer.until = {2027, 6, 30, 11, 0, 0};
  EXPECT_TRUE(client_.UpdateKeypadCode({5, 345678, "A", false, longer, {}, 0}, kPin).ok());

  link_.ExpectChallenge(N(10));
  link_.ExpectFn(Command::kRemoveKeypadCode, [](const Message& m) {
    EXPECT_EQ(KeypadCodeRemove::Decode(m.payload)->id, 5);
    return std::vector<Message>{StatusMsg(CommandStatus::kComplete)};
  });
  Status removed = client_.RemoveKeypadCode(5, kPin);
  EXPECT_TRUE(removed.ok()) << removed.ToString();
  EXPECT_TRUE(link_.script_done());
}

// --- authorizations --------------------------------------------------------------------------

TEST_F(LockClientTest, AuthorizationsAddListUpdateRemove) {
  link_.ExpectChallenge(N(1));
  link_.ExpectFn(Command::kAuthorizationDataInvite, [](const Message& m) {
    Result<AuthorizationInvite> i = AuthorizationInvite::Decode(m.payload);
    EXPECT_TRUE(i.ok());
    EXPECT_EQ(i->name, "Phone 4B");
    EXPECT_EQ(i->shared_key, N(0x33));
    EXPECT_EQ(i->pin, kPin);
    return std::vector<Message>{ToMessage(AuthorizationIdInvite{21, {}}),
                                StatusMsg(CommandStatus::kComplete)};
  });
  Result<uint32_t> id =
      client_.AddAuthorization({"Phone 4B", IdType::kApp, N(0x33), true, Lease(), {}, 0}, kPin);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 21u);

  AuthorizationEntry e{21, IdType::kApp, "Phone 4B", true, true, {}, {}, 0, Lease()};
  link_.ExpectChallenge(N(2));
  link_.Expect(Command::kRequestAuthorizations, {ToMessage(AuthorizationCount{1}), ToMessage(e),
                                                 StatusMsg(CommandStatus::kComplete)});
  Result<AuthorizationList> list = client_.ListAuthorizations(kPin);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->total, 1);
  ASSERT_EQ(list->entries.size(), 1u);
  EXPECT_EQ(list->entries[0], e);

  link_.ExpectChallenge(N(3));
  link_.Expect(Command::kUpdateAuthorization, {StatusMsg(CommandStatus::kComplete)});
  EXPECT_TRUE(
      client_.UpdateAuthorization({21, "Phone 4B", false, true, Lease(), {}, 0}, kPin).ok());

  link_.ExpectChallenge(N(4));
  link_.ExpectFn(Command::kRemoveAuthorization, [](const Message& m) {
    EXPECT_EQ(AuthorizationRemove::Decode(m.payload)->authorization_id, 21u);
    return std::vector<Message>{StatusMsg(CommandStatus::kComplete)};
  });
  EXPECT_TRUE(client_.RemoveAuthorization(21, kPin).ok());
  EXPECT_TRUE(link_.script_done());
}

TEST_F(LockClientTest, AuthorizationListWithoutCountEndsAtComplete) {
  AuthorizationEntry e{3, IdType::kBridge, "Lintel", true, true, {}, {}, 0, {}};
  link_.ExpectChallenge(N(2));
  link_.Expect(Command::kRequestAuthorizations,
               {ToMessage(e), StatusMsg(CommandStatus::kComplete)});
  Result<AuthorizationList> list = client_.ListAuthorizations(kPin);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_FALSE(list->total.has_value());
  EXPECT_EQ(list->entries.size(), 1u);
}

// --- log, time -------------------------------------------------------------------------------

TEST_F(LockClientTest, ReadLogAsksForTheTotalAndReturnsEntries) {
  LogEntry keypad{40,
                  {2026, 12, 2, 9, 5, 0},
                  0,
                  "Keypad",
                  LoggingType::kKeypadAction,
                  LogEntry::EncodeData(
                      KeypadActionLog{LockAction::kUnlock, 1, CompletionStatus::kSuccess, 12})};
  LogEntry manual{41,
                  {2026, 12, 2, 9, 7, 0},
                  0,
                  "",
                  LoggingType::kLockAction,
                  LogEntry::EncodeData(LockActionLog{LockAction::kLock, Trigger::kManual, 0,
                                                     CompletionStatus::kSuccess})};
  link_.ExpectChallenge(N(5));
  link_.ExpectFn(Command::kRequestLogEntries, [&](const Message& m) {
    Result<LogRequest> r = LogRequest::Decode(m.payload);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->start_index, 40u);
    EXPECT_EQ(r->count, 10);
    EXPECT_TRUE(r->total_count);
    EXPECT_EQ(r->sort_order, 0);
    return std::vector<Message>{ToMessage(LogEntryCount{true, 41, {}}), ToMessage(keypad),
                                ToMessage(manual), StatusMsg(CommandStatus::kComplete)};
  });
  Result<LogPage> page = client_.ReadLog(40, 10, kPin);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->total, 41);
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(page->entries[0].keypad_action()->code_id, 12);
  EXPECT_EQ(page->entries[1].lock_action()->trigger, Trigger::kManual);
}

TEST_F(LockClientTest, UpdateTimeSendsTheInstantAsUtc) {
  link_.ExpectChallenge(N(6));
  link_.ExpectFn(Command::kUpdateTime, [](const Message& m) {
    Result<UpdateTime> t = UpdateTime::Decode(m.payload);
    EXPECT_TRUE(t.ok());
    EXPECT_EQ(t->time, (LockDateTime{2026, 12, 2, 10, 30, 5}));
    EXPECT_EQ(t->nonce, N(6));
    EXPECT_EQ(t->pin, kPin);
    return std::vector<Message>{StatusMsg(CommandStatus::kComplete)};
  });
  Status s = client_.UpdateTime(*ParseRfc3339("2026-12-02T11:30:05+01:00"), kPin);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// --- pairing ---------------------------------------------------------------------------------

TEST(LockClientPairing, PairsThenTalksWithTheNewCredentials) {
  ScriptedLink link(Credentials{});
  CountingRandomSource lock_random(HexArray<32>("80"));
  LockPairing lock(HexArray<32>("22"), HexArray<16>("A1A2A3"), 9, lock_random);
  link.ServePlain([&](const Message& m) { return lock.OnMessage(m); });
  CountingNonceSource nonces(kSpecNonce);
  CountingRandomSource random(HexArray<32>("01"));
  LockClient client(link, nonces);
  Result<PairingResult> r = client.Pair({IdType::kBridge, 77, "Lintel gateway"}, random);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(lock.done());
  EXPECT_EQ(r->credentials, lock.result().credentials);
  EXPECT_EQ(r->credentials.authorization_id, 9u);
  EXPECT_EQ(lock.result().name, "Lintel gateway");
  EXPECT_EQ(lock.result().id_type, IdType::kBridge);
  EXPECT_TRUE(client.paired());
  for (const auto& [uuid, value] : link.writes()) {
    EXPECT_EQ(uuid, kPairingGdioUuid);
    EXPECT_LE(value.size(), kGattValueSize);
  }

  link.set_credentials(r->credentials);
  link.Expect(Command::kRequestData, {ToMessage(States(LockState::kLocked))});
  Result<KeyturnerStates> s = client.ReadState();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
}

TEST(LockClientPairing, ALockNotInPairingModeSaysSo) {
  ScriptedLink link(Credentials{});
  link.ServePlain([](const Message& m) {
    return std::vector<Message>{
        ToMessage(ErrorReport{static_cast<uint8_t>(ErrorCode::kNotPairing), m.command})};
  });
  CountingNonceSource nonces(kSpecNonce);
  CountingRandomSource random(HexArray<32>("01"));
  LockClient client(link, nonces);
  Result<PairingResult> r = client.Pair({IdType::kBridge, 77, "Lintel"}, random);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "lock error 0x10 not pairing (Request Data 0x0001)");
  EXPECT_FALSE(client.paired());
}

TEST(LockClientPairing, NoAnswerIsDeadlineExceeded) {
  ScriptedLink link(Credentials{});
  link.ServePlain([](const Message&) { return std::vector<Message>{}; });
  CountingNonceSource nonces(kSpecNonce);
  CountingRandomSource random(HexArray<32>("01"));
  LockClient client(link, nonces);
  Result<PairingResult> r = client.Pair({IdType::kBridge, 77, "Lintel"}, random);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsDeadlineExceeded(r.status()));
}

}  // namespace
}  // namespace lintel::ble
