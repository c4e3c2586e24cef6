// ble::LockClient (drivers/ble/nuki_client.h) against the simulated lock through LoopbackLink: the
// same pairing, challenges, PINs, codes, authorizations and log a gateway's lock driver sees,
// in process and without sleeps (an empty indication queue times out at once).
#include "tools/lock-sim/loopback_link.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "drivers/ble/nuki_client.h"
#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_frame.h"
#include "tools/lock-sim/lock_peer.h"

namespace lintel::locksim {
namespace {

using ble::ErrorCode;

template <size_t N>
std::array<uint8_t, N> Filled(uint8_t b) {
  std::array<uint8_t, N> a;
  a.fill(b);
  return a;
}

constexpr uint16_t kPin = 4321;
constexpr std::string_view kAddress = "C2:11:22:33:44:55";
constexpr std::chrono::milliseconds kTimeout{2000};

Instant At(int year, unsigned month, unsigned day, int hour = 0, int minute = 0) {
  return FromUnix(int64_t{DaysFromCivil(year, month, day)} * 86400 + hour * 3600 + minute * 60);
}

uint8_t LockErrorOf(const Status& s) { return ble::LockErrorCodeOf(s).value_or(0); }

class LoopbackTest : public ::testing::Test {
 protected:
  LoopbackTest()
      : lock_(Options(), lock_random_, lock_nonces_, At(2026, 12, 2, 10)),
        link_(lock_, std::string(kAddress)),
        client_(link_, client_nonces_, ClientOptions()) {}

  static LockPeerOptions Options() {
    LockPeerOptions o;
    o.security_pin = kPin;
    return o;
  }
  static ble::LockClientOptions ClientOptions() {
    ble::LockClientOptions o;
    o.app_id = 42;
    return o;
  }

  // Connects, presses the button and pairs.
  void Paired() {
    ASSERT_TRUE(link_.Connect(kAddress, kTimeout).ok());
    lock_.PressButton();
    Result<ble::PairingResult> r = client_.Pair({ble::IdType::kBridge, 42, "Lintel"}, random_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  ble::CountingRandomSource lock_random_{Filled<32>(0x80)};
  ble::CountingNonceSource lock_nonces_{Filled<24>(0x90)};
  ble::CountingNonceSource client_nonces_{Filled<24>(0x10)};
  ble::CountingRandomSource random_{Filled<32>(0x20)};
  LockPeer lock_;
  LoopbackLink link_;
  ble::LockClient client_;
};

TEST_F(LoopbackTest, PairsThenReadsStateAndUnlocks) {
  Paired();
  ASSERT_EQ(lock_.authorizations().size(), 1u);
  EXPECT_EQ(lock_.authorizations()[0].name, "Lintel");
  Result<ble::KeyturnerStates> s = client_.ReadState();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->lock_state, ble::LockState::kLocked);

  Result<ble::LockActionResult> r = client_.Unlock();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->transitions.size(), 2u);
  EXPECT_EQ(r->transitions[0].lock_state, ble::LockState::kUnlocking);
  EXPECT_EQ(r->transitions[1].lock_state, ble::LockState::kUnlocked);
  EXPECT_EQ(lock_.state().lock_state, ble::LockState::kUnlocked);
  Result<ble::BatteryReport> b = client_.ReadBattery();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_FALSE(b->battery_critical());
  // Everything in 20-byte values: the link refuses longer ones, and none was refused.
  EXPECT_GT(link_.writes(), 10u);
}

TEST_F(LoopbackTest, PairingWithoutTheButtonIsNotPairing) {
  ASSERT_TRUE(link_.Connect(kAddress, kTimeout).ok());
  Result<ble::PairingResult> r = client_.Pair({ble::IdType::kBridge, 42, "Lintel"}, random_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(LockErrorOf(r.status()), static_cast<uint8_t>(ErrorCode::kNotPairing))
      << r.status().ToString();
  EXPECT_FALSE(client_.paired());
}

TEST_F(LoopbackTest, KeypadCodesRoundTripThroughTheClient) {
  Paired();
  ble::KeypadCodeAdd add;
  add.code = 345678;
  add.name = "Tenant 4B";
  add.window = {true, {2026, 12, 1, 14, 0, 0}, {2027, 5, 31, 11, 0, 0}, 0, {}, {}};
  Result<uint16_t> id = client_.AddKeypadCode(add, kPin);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  Result<ble::KeypadCodeList> list = client_.ListKeypadCodes(kPin);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->total, 1);
  ASSERT_EQ(list->codes.size(), 1u);
  EXPECT_EQ(list->codes[0].id, *id);
  EXPECT_EQ(list->codes[0].window, add.window);

  // A payment extends the window: the lock then admits the code after the old end.
  ble::KeypadCodeUpdate update{*id, 345678, "Tenant 4B", true, add.window, {}, 0};
  update.window.until = {2027, 6, 30, 11, 0, 0};
  ASSERT_TRUE(client_.UpdateKeypadCode(update, kPin).ok());
  lock_.SetTime(At(2027, 6, 2, 9));
  EXPECT_TRUE(lock_.EnterKeypadCode(345678).accepted());

  // A check-out: removed, the keypad refuses it.
  ASSERT_TRUE(client_.RemoveKeypadCode(*id, kPin).ok());
  list = client_.ListKeypadCodes(kPin);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->codes.empty());
  EXPECT_EQ(lock_.EnterKeypadCode(345678).outcome, KeypadResult::Outcome::kUnknownCode);

  add.code = 123456;
  EXPECT_EQ(client_.AddKeypadCode(add, kPin).status().code(), StatusCode::kInvalidArgument)
      << "the client refuses it before the lock would";
}

TEST_F(LoopbackTest, TheLocksRefusalsArriveAsLockErrors) {
  Paired();
  ble::KeypadCodeAdd add;
  add.code = 345678;
  add.name = "x";
  ASSERT_TRUE(client_.AddKeypadCode(add, kPin).ok());
  Status dup = client_.AddKeypadCode(add, kPin).status();
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup.ToString();
  EXPECT_EQ(LockErrorOf(dup), static_cast<uint8_t>(ErrorCode::kCodeAlreadyExists));

  for (int i = 0; i < 3; ++i) {
    Status bad = client_.ListKeypadCodes(1111).status();
    EXPECT_EQ(LockErrorOf(bad), static_cast<uint8_t>(ErrorCode::kBadPin)) << bad.ToString();
  }
  Status locked_out = client_.ListKeypadCodes(kPin).status();
  EXPECT_EQ(LockErrorOf(locked_out), static_cast<uint8_t>(ErrorCode::kTooManyPinAttempts))
      << locked_out.ToString();

  lock_.SetBusy(1);
  Status busy = client_.Unlock().status();
  EXPECT_EQ(busy.code(), StatusCode::kUnavailable);
  EXPECT_EQ(LockErrorOf(busy), static_cast<uint8_t>(ErrorCode::kBusy)) << busy.ToString();
  EXPECT_TRUE(client_.Unlock().ok()) << "busy passes";

  lock_.SetJammed(true);
  Status jammed = client_.Lock().status();
  EXPECT_EQ(LockErrorOf(jammed), static_cast<uint8_t>(ErrorCode::kMotorBlocked))
      << jammed.ToString();
  Result<ble::KeyturnerStates> s = client_.ReadState();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->lock_state, ble::LockState::kMotorBlocked);
}

TEST_F(LoopbackTest, ACorruptedReplyIsGarbledAndTheNextCommandWorks) {
  Paired();
  lock_.CorruptNextCrc();
  Status s = client_.ReadState().status();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("bad CRC"), std::string::npos) << s.ToString();
  EXPECT_TRUE(client_.ReadState().ok());
}

TEST_F(LoopbackTest, ARevokedAuthorizationIsAnsweredNotAuthorizedInTheClear) {
  Paired();
  uint32_t id = lock_.authorizations()[0].id;
  ASSERT_TRUE(lock_.SetAuthorizationRevoked(id).ok());
  // The lock cannot encrypt to a key it does not hold: the Error Report comes unencrypted on the
  // keyturner GDIO, and the client reports it instead of waiting for a USDIO reply.
  Result<ble::KeyturnerStates> r = client_.ReadState();
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(ble::IsDeadlineExceeded(r.status())) << r.status().ToString();
  EXPECT_EQ(ble::LockErrorCodeOf(r.status()), static_cast<uint8_t>(ErrorCode::kNotAuthorized))
      << r.status().ToString();
  EXPECT_EQ(link_.queued(ble::kKeyturnerGdioUuid), 0u);
}

TEST_F(LoopbackTest, AuthorizationsLogAndTime) {
  Paired();
  ble::AuthorizationInvite invite;
  invite.name = "Phone of 4B";
  invite.id_type = ble::IdType::kApp;
  invite.shared_key = Filled<32>(0x5A);
  Result<uint32_t> id = client_.AddAuthorization(invite, kPin);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  Result<ble::AuthorizationList> auths = client_.ListAuthorizations(kPin);
  ASSERT_TRUE(auths.ok()) << auths.status().ToString();
  EXPECT_EQ(auths->total, 2);
  ASSERT_EQ(auths->entries.size(), 2u);
  EXPECT_EQ(auths->entries[1].name, "Phone of 4B");
  ble::AuthorizationUpdate update{*id, "Phone 4B", false, false, {}, {}, 0};
  ASSERT_TRUE(client_.UpdateAuthorization(update, kPin).ok());
  EXPECT_FALSE(lock_.authorizations()[1].enabled);
  ASSERT_TRUE(client_.RemoveAuthorization(*id, kPin).ok());
  Status gone = client_.RemoveAuthorization(*id, kPin);
  EXPECT_EQ(LockErrorOf(gone), static_cast<uint8_t>(ErrorCode::kInvalidAuthId)) << gone.ToString();

  ASSERT_TRUE(client_.UpdateTime(At(2027, 1, 15, 8, 30), kPin).ok());
  EXPECT_EQ(lock_.now(), At(2027, 1, 15, 8, 30));

  ASSERT_TRUE(client_.Unlock().ok());
  ASSERT_TRUE(lock_.AddKeypadCode(456789, "Cleaner").ok());
  EXPECT_TRUE(lock_.EnterKeypadCode(456789).accepted());
  Result<ble::LogPage> log = client_.ReadLog(0, 50, kPin, /*descending=*/true);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(log->total, 2);
  ASSERT_EQ(log->entries.size(), 2u);
  EXPECT_EQ(log->entries[0].type, ble::LoggingType::kKeypadAction);
  EXPECT_EQ(log->entries[0].name, "Cleaner");
  EXPECT_EQ(log->entries[0].timestamp, (ble::LockDateTime{2027, 1, 15, 8, 30, 0}));
  EXPECT_EQ(log->entries[1].type, ble::LoggingType::kLockAction);
}

TEST_F(LoopbackTest, OutOfRangeFailsConnectsAndDropsTheConnection) {
  Paired();
  link_.SetInRange(false);
  EXPECT_FALSE(link_.connected());
  Status s = client_.ReadState().status();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_TRUE(ble::IsDeadlineExceeded(link_.Connect(kAddress, kTimeout)));
  link_.SetInRange(true);
  link_.FailNextConnects(1);
  EXPECT_TRUE(ble::IsDeadlineExceeded(link_.Connect(kAddress, kTimeout)));
  ASSERT_TRUE(link_.Connect(kAddress, kTimeout).ok());
  EXPECT_TRUE(client_.ReadState().ok()) << "the credentials survive a reconnect";
  EXPECT_EQ(link_.connects(), 2u);
}

TEST_F(LoopbackTest, TheLinkKeepsToTheGattContract) {
  std::vector<uint8_t> value(21, 0);
  EXPECT_EQ(link_.Write(ble::kPairingGdioUuid, value).code(), StatusCode::kUnavailable)
      << "not connected";
  EXPECT_EQ(link_.Connect("C2:00:00:00:00:00", kTimeout).code(), StatusCode::kUnavailable);
  ASSERT_TRUE(link_.Connect("c2:11:22:33:44:55", kTimeout).ok()) << "addresses ignore case";
  EXPECT_EQ(link_.Write(ble::kPairingGdioUuid, value).code(), StatusCode::kUnavailable)
      << "longer than 20 bytes";
  EXPECT_EQ(link_.Write("not-a-uuid", std::span(value).first(2)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(link_.Write("0000180a-0000-1000-8000-00805f9b34fb", std::span(value).first(2)).code(),
            StatusCode::kUnavailable);
  EXPECT_TRUE(
      ble::IsDeadlineExceeded(link_.NextIndication(ble::kKeyturnerUsdioUuid, kTimeout).status()));
}

TEST_F(LoopbackTest, LostCodesComeBackWhenTheClientAddsThemAgain) {
  Paired();
  ble::KeypadCodeAdd add;
  add.code = 345678;
  add.name = "Tenant";
  ASSERT_TRUE(client_.AddKeypadCode(add, kPin).ok());
  link_.WithLock([](LockPeer& lock) { lock.LoseCodes(); });
  Result<ble::KeypadCodeList> list = client_.ListKeypadCodes(kPin);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->total, 0);
  ASSERT_TRUE(client_.AddKeypadCode(add, kPin).ok());
  EXPECT_TRUE(lock_.EnterKeypadCode(345678).accepted());
}

TEST_F(LoopbackTest, AClientThreadAndTheKeypadShareTheLockThroughWithLock) {
  Paired();
  ASSERT_TRUE(lock_.AddKeypadCode(456789, "Cleaner").ok());
  std::thread worker([&] {
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(client_.ReadState().ok());
  });
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(
        link_.WithLock([](LockPeer& lock) { return lock.EnterKeypadCode(456789); }).accepted());
  }
  worker.join();
  EXPECT_EQ(link_.WithLock([](LockPeer& lock) { return lock.log().size(); }), 20u);
}

}  // namespace
}  // namespace lintel::locksim
