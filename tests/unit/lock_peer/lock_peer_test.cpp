// The simulated Nuki lock (tools/lock-sim/lock_peer.h), driven through its GATT writes by the
// codec's client side: the pairing machine, the encoders, 20-byte chunks and a Reassembler.
#include "tools/lock-sim/lock_peer.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <random>
#include <string>
#include <vector>

#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_crc.h"
#include "drivers/ble/nuki_crypto.h"
#include "drivers/ble/nuki_frame.h"
#include "drivers/ble/nuki_pairing.h"

namespace lintel::locksim {
namespace {

using ble::Command;
using ble::ErrorCode;
using ble::Message;

template <size_t N>
std::array<uint8_t, N> Filled(uint8_t b) {
  std::array<uint8_t, N> a;
  a.fill(b);
  return a;
}

constexpr uint16_t kPin = 4321;
constexpr uint16_t Id(Command c) { return static_cast<uint16_t>(c); }

// 2026-12-02 (a Wednesday) 10:00:00 UTC.
Instant At(int year, unsigned month, unsigned day, int hour = 0, int minute = 0, int second = 0) {
  return FromUnix(int64_t{DaysFromCivil(year, month, day)} * 86400 + hour * 3600 + minute * 60 +
                  second);
}
const Instant kStart = At(2026, 12, 2, 10, 0, 0);

// What the lock answered to one write, per characteristic, reassembled and decoded.
struct Replies {
  std::vector<Message> usdio;    // decrypted with the client's key
  std::vector<Message> gdio;     // keyturner GDIO, unencrypted
  std::vector<Message> pairing;  // pairing GDIO, unencrypted
  size_t indications = 0;
  std::vector<std::string> errors;  // frames that did not reassemble, decrypt or decode
};

std::optional<ble::ErrorReport> ErrorOf(const std::vector<Message>& messages) {
  for (const Message& m : messages) {
    if (m.command == Id(Command::kErrorReport)) {
      Result<ble::ErrorReport> e = ble::ErrorReport::Decode(m.payload);
      if (e.ok()) return *e;
    }
  }
  return std::nullopt;
}

// The Error Report among `messages`; code 0 when there is none.
ble::ErrorReport Err(const std::vector<Message>& messages) {
  return ErrorOf(messages).value_or(ble::ErrorReport{});
}

uint8_t StatusOf(const Message& m) {
  Result<ble::StatusMessage> s = ble::FromMessage<ble::StatusMessage>(m);
  return s.ok() ? s->status : 0xEE;
}

// A client of the lock: the codec's encoders and pairing machine over LockPeer::OnWrite.
class Client {
 public:
  explicit Client(LockPeer& lock, uint8_t seed = 0x30)
      : lock_(lock), nonces_(Filled<24>(seed)), random_(Filled<32>(seed)) {}

  // Writes `frame` in values of `chunk` bytes and collects everything the lock indicated.
  Replies Write(std::string_view uuid, const std::vector<uint8_t>& frame, size_t chunk = 20) {
    Replies r;
    ble::Reassembler usdio(ble::FrameKind::kEncrypted), gdio(ble::FrameKind::kPlain),
        pairing(ble::FrameKind::kPlain);
    for (const std::vector<uint8_t>& value : ble::Chunk(frame, chunk)) {
      Result<std::vector<Indication>> out = lock_.OnWrite(uuid, value);
      EXPECT_TRUE(out.ok()) << out.status().ToString();
      if (!out.ok()) continue;
      for (const auto& [characteristic, v] : *out) {
        EXPECT_LE(v.size(), 20u);
        ++r.indications;
        bool encrypted = characteristic == ble::kKeyturnerUsdioUuid;
        ble::Reassembler& rx = encrypted                                   ? usdio
                               : characteristic == ble::kKeyturnerGdioUuid ? gdio
                                                                           : pairing;
        Result<std::vector<std::vector<uint8_t>>> frames = rx.Feed(v);
        if (!frames.ok()) {
          r.errors.push_back(frames.status().message());
          continue;
        }
        for (const std::vector<uint8_t>& f : *frames) {
          if (encrypted) {
            Result<ble::EncryptedMessage> m = ble::DecodeEncrypted(credentials_.shared_key, f);
            if (!m.ok()) {
              r.errors.push_back(m.status().message());
            } else {
              EXPECT_EQ(m->auth_id, credentials_.authorization_id);
              r.usdio.push_back(m->message);
            }
          } else {
            Result<Message> m = ble::DecodePlain(f);
            if (!m.ok()) {
              r.errors.push_back(m.status().message());
            } else {
              (&rx == &gdio ? r.gdio : r.pairing).push_back(*m);
            }
          }
        }
      }
    }
    EXPECT_EQ(usdio.pending() + gdio.pending() + pairing.pending(), 0u) << "a partial reply";
    return r;
  }

  Replies Send(const Message& m, size_t chunk = 20) {
    return Write(ble::kKeyturnerUsdioUuid,
                 ble::EncodeEncrypted(credentials_.shared_key, credentials_.authorization_id, m,
                                      nonces_.Next()),
                 chunk);
  }
  template <typename T>
  Replies Send(const T& payload) {
    return Send(ble::ToMessage(payload));
  }

  // Pairs as `name`; returns the status the client pairing machine ended with.
  Status Pair(std::string name = "Lintel", ble::IdType type = ble::IdType::kBridge) {
    ble::ClientPairing pairing({type, 42, std::move(name)}, random_.Next(), random_);
    std::vector<Message> to_lock{pairing.Start()};
    for (int round = 0; round < 10 && !to_lock.empty(); ++round) {
      std::vector<Message> next;
      for (const Message& m : to_lock) {
        Replies r = Write(ble::kPairingGdioUuid, ble::EncodePlain(m));
        EXPECT_TRUE(r.errors.empty());
        for (const Message& reply : r.pairing) {
          Result<std::vector<Message>> out = pairing.OnMessage(reply);
          if (!out.ok()) return out.status();
          next.insert(next.end(), out->begin(), out->end());
        }
      }
      to_lock = std::move(next);
    }
    if (!pairing.done()) return Status::Internal("pairing did not finish");
    credentials_ = pairing.result().credentials;
    return Status::Ok();
  }

  ble::Nonce32 Challenge() {
    Replies r = Send(ble::RequestData{Id(Command::kChallenge), {}});
    EXPECT_EQ(r.usdio.size(), 1u);
    if (r.usdio.empty()) return {};
    Result<ble::Challenge> c = ble::FromMessage<ble::Challenge>(r.usdio[0]);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? c->nonce : ble::Nonce32{};
  }

  // A command with nK (fetched first) and the PIN.
  template <typename T>
  Replies Guarded(T payload, uint16_t pin = kPin) {
    payload.nonce = Challenge();
    payload.pin = pin;
    return Send(payload);
  }

  Replies Act(ble::LockAction action) {
    ble::LockActionRequest r;
    r.action = action;
    r.app_id = 42;
    r.nonce = Challenge();
    return Send(r);
  }

  ble::KeyturnerStates ReadState() {
    Replies r = Send(ble::RequestData{Id(Command::kKeyturnerStates), {}});
    EXPECT_EQ(r.usdio.size(), 1u);
    Result<ble::KeyturnerStates> s = ble::FromMessage<ble::KeyturnerStates>(r.usdio.at(0));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : ble::KeyturnerStates{};
  }

  std::vector<ble::KeypadCode> ListCodes(uint16_t* total = nullptr) {
    Replies r = Guarded(ble::KeypadCodeRequest{0, 100, {}, 0});
    std::vector<ble::KeypadCode> codes;
    EXPECT_FALSE(ErrorOf(r.usdio).has_value());
    EXPECT_GE(r.usdio.size(), 2u);
    if (r.usdio.size() < 2) return codes;
    Result<ble::KeypadCodeCount> count = ble::FromMessage<ble::KeypadCodeCount>(r.usdio.front());
    EXPECT_TRUE(count.ok());
    if (total != nullptr && count.ok()) *total = count->count;
    for (size_t i = 1; i + 1 < r.usdio.size(); ++i) {
      Result<ble::KeypadCode> c = ble::FromMessage<ble::KeypadCode>(r.usdio[i]);
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      if (c.ok()) codes.push_back(*c);
    }
    EXPECT_EQ(StatusOf(r.usdio.back()), 0);
    return codes;
  }

  std::vector<ble::LogEntry> ReadLog(uint32_t start, uint16_t count, uint8_t sort,
                                     uint16_t* total = nullptr) {
    Replies r = Guarded(ble::LogRequest{start, count, sort, true, {}, 0});
    std::vector<ble::LogEntry> entries;
    EXPECT_FALSE(ErrorOf(r.usdio).has_value());
    EXPECT_GE(r.usdio.size(), 2u);
    if (r.usdio.size() < 2) return entries;
    Result<ble::LogEntryCount> n = ble::FromMessage<ble::LogEntryCount>(r.usdio.front());
    EXPECT_TRUE(n.ok());
    if (total != nullptr && n.ok()) *total = n->count;
    for (size_t i = 1; i + 1 < r.usdio.size(); ++i) {
      Result<ble::LogEntry> e = ble::FromMessage<ble::LogEntry>(r.usdio[i]);
      EXPECT_TRUE(e.ok());
      if (e.ok()) entries.push_back(*e);
    }
    EXPECT_EQ(StatusOf(r.usdio.back()), 0);
    return entries;
  }

  const ble::Credentials& credentials() const { return credentials_; }
  void set_credentials(const ble::Credentials& c) { credentials_ = c; }
  ble::NonceSource& nonces() { return nonces_; }

 private:
  LockPeer& lock_;
  ble::CountingNonceSource nonces_;
  ble::CountingRandomSource random_;
  ble::Credentials credentials_;
};

class LockPeerTest : public ::testing::Test {
 protected:
  LockPeerTest() : lock_(Options(), lock_random_, lock_nonces_, kStart), client_(lock_) {}

  static LockPeerOptions Options() {
    LockPeerOptions o;
    o.security_pin = kPin;
    o.lock_secret = Filled<32>(0x22);
    o.lock_uuid = Filled<16>(0xA1);
    return o;
  }

  // Presses the button and pairs the client.
  void Paired() {
    lock_.PressButton();
    Status s = client_.Pair();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  ble::CountingRandomSource lock_random_{Filled<32>(0x80)};
  ble::CountingNonceSource lock_nonces_{Filled<24>(0x90)};
  LockPeer lock_;
  Client client_;
};

// A time-limited window.
ble::AccessWindow Window(ble::LockDateTime from, ble::LockDateTime until, uint8_t weekdays = 0,
                         ble::TimeOfDay from_time = {}, ble::TimeOfDay until_time = {}) {
  return ble::AccessWindow{true, from, until, weekdays, from_time, until_time};
}

// --- pairing ---------------------------------------------------------------------------------

TEST_F(LockPeerTest, PairsInPairingModeAndTheKeyWorksOnTheUsdio) {
  lock_.PressButton();
  EXPECT_TRUE(lock_.pairing_mode());
  ASSERT_TRUE(client_.Pair("Lintel gateway").ok());
  EXPECT_FALSE(lock_.pairing_mode()) << "a lock leaves pairing mode once paired";
  std::vector<LockAuthorization> auths = lock_.authorizations();
  ASSERT_EQ(auths.size(), 1u);
  EXPECT_EQ(auths[0].id, client_.credentials().authorization_id);
  EXPECT_EQ(auths[0].shared_key, client_.credentials().shared_key);
  EXPECT_EQ(auths[0].name, "Lintel gateway");
  EXPECT_EQ(auths[0].app_id, 42u);
  EXPECT_EQ(auths[0].id_type, ble::IdType::kBridge);
  ble::KeyturnerStates s = client_.ReadState();
  EXPECT_EQ(s.lock_state, ble::LockState::kLocked);
  EXPECT_EQ(s.nuki_state, ble::NukiState::kDoorMode);
  EXPECT_EQ(s.current_time, (ble::LockDateTime{2026, 12, 2, 10, 0, 0}));
}

TEST_F(LockPeerTest, RefusesPairingWhenTheButtonWasNotPressed) {
  Status s = client_.Pair();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ble::LockErrorCodeOf(s), static_cast<uint8_t>(ErrorCode::kNotPairing)) << s.ToString();
  EXPECT_TRUE(lock_.authorizations().empty());
}

TEST_F(LockPeerTest, PairingModeEndsAfter30SecondsOfTheLocksClock) {
  lock_.PressButton();
  lock_.AdvanceTime(std::chrono::seconds(29));
  EXPECT_TRUE(lock_.pairing_mode());
  lock_.AdvanceTime(std::chrono::seconds(1));
  EXPECT_FALSE(lock_.pairing_mode());
  Status s = client_.Pair();
  EXPECT_EQ(ble::LockErrorCodeOf(s), static_cast<uint8_t>(ErrorCode::kNotPairing)) << s.ToString();
}

TEST_F(LockPeerTest, SecondPairingGetsTheNextIdAndBothKeysWork) {
  Paired();
  ble::Credentials first = client_.credentials();
  Client phone(lock_, 0x50);
  lock_.PressButton();
  ASSERT_TRUE(phone.Pair("Phone", ble::IdType::kApp).ok());
  EXPECT_EQ(phone.credentials().authorization_id, first.authorization_id + 1);
  EXPECT_NE(phone.credentials().shared_key, first.shared_key);
  EXPECT_EQ(phone.ReadState().lock_state, ble::LockState::kLocked);
  EXPECT_EQ(client_.ReadState().lock_state, ble::LockState::kLocked);
}

TEST_F(LockPeerTest, PairingWritesInOneByteValuesWork) {
  lock_.PressButton();
  ble::CountingRandomSource random(Filled<32>(0x33));
  ble::ClientPairing pairing({ble::IdType::kBridge, 7, "Bytewise"}, Filled<32>(0x44), random);
  std::vector<Message> to_lock{pairing.Start()};
  while (!to_lock.empty()) {
    Replies r = client_.Write(ble::kPairingGdioUuid, ble::EncodePlain(to_lock.front()), 1);
    to_lock.clear();
    for (const Message& m : r.pairing) {
      Result<std::vector<Message>> out = pairing.OnMessage(m);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      to_lock.insert(to_lock.end(), out->begin(), out->end());
    }
  }
  EXPECT_TRUE(pairing.done());
}

// --- lock actions and challenges -------------------------------------------------------------

TEST_F(LockPeerTest, UnlockWithAChallengeGoesAcceptedUnlockingUnlockedComplete) {
  Paired();
  Replies r = client_.Act(ble::LockAction::kUnlock);
  ASSERT_EQ(r.usdio.size(), 4u);
  EXPECT_EQ(StatusOf(r.usdio[0]), 1);  // ACCEPTED
  Result<ble::KeyturnerStates> moving = ble::FromMessage<ble::KeyturnerStates>(r.usdio[1]);
  Result<ble::KeyturnerStates> done = ble::FromMessage<ble::KeyturnerStates>(r.usdio[2]);
  ASSERT_TRUE(moving.ok() && done.ok());
  EXPECT_EQ(moving->lock_state, ble::LockState::kUnlocking);
  EXPECT_EQ(done->lock_state, ble::LockState::kUnlocked);
  ASSERT_TRUE(done->v22.has_value());
  EXPECT_EQ(done->v22->last_lock_action, ble::LockAction::kUnlock);
  EXPECT_EQ(done->v22->last_lock_action_completion, ble::CompletionStatus::kSuccess);
  EXPECT_EQ(StatusOf(r.usdio[3]), 0);  // COMPLETE
  EXPECT_EQ(lock_.state().lock_state, ble::LockState::kUnlocked);
  ASSERT_EQ(lock_.log().size(), 1u);
  const ble::LogEntry& e = lock_.log()[0];
  EXPECT_EQ(e.authorization_id, client_.credentials().authorization_id);
  EXPECT_EQ(e.name, "Lintel");
  ASSERT_TRUE(e.lock_action().has_value());
  EXPECT_EQ(e.lock_action()->action, ble::LockAction::kUnlock);
  EXPECT_EQ(e.lock_action()->completion, ble::CompletionStatus::kSuccess);
  EXPECT_EQ(lock_.authorizations()[0].lock_count, 1);

  r = client_.Act(ble::LockAction::kLock);
  ASSERT_EQ(r.usdio.size(), 4u);
  EXPECT_EQ(lock_.state().lock_state, ble::LockState::kLocked);
}

// The lock states of a Lock Action's Keyturner States, between ACCEPTED and COMPLETE.
std::vector<ble::LockState> Transitions(const Replies& r) {
  std::vector<ble::LockState> states;
  EXPECT_GE(r.usdio.size(), 2u);
  if (r.usdio.size() < 2) return states;
  EXPECT_EQ(StatusOf(r.usdio.front()), 1);
  EXPECT_EQ(StatusOf(r.usdio.back()), 0);
  for (size_t i = 1; i + 1 < r.usdio.size(); ++i) {
    Result<ble::KeyturnerStates> s = ble::FromMessage<ble::KeyturnerStates>(r.usdio[i]);
    EXPECT_TRUE(s.ok());
    if (s.ok()) states.push_back(s->lock_state);
  }
  return states;
}

TEST_F(LockPeerTest, EveryActionReportsTheStatesItPassesThrough) {
  using S = ble::LockState;
  Paired();
  EXPECT_EQ(Transitions(client_.Act(ble::LockAction::kUnlatch)),
            (std::vector<S>{S::kUnlatching, S::kUnlatched, S::kUnlocked}));
  EXPECT_EQ(Transitions(client_.Act(ble::LockAction::kLockNGo)),
            (std::vector<S>{S::kUnlocking, S::kUnlockedLockNGo, S::kLocking, S::kLocked}));
  EXPECT_EQ(Transitions(client_.Act(ble::LockAction::kLockNGoUnlatch)),
            (std::vector<S>{S::kUnlatching, S::kUnlatched, S::kLocking, S::kLocked}));
  EXPECT_EQ(Transitions(client_.Act(ble::LockAction::kUnlock)),
            (std::vector<S>{S::kUnlocking, S::kUnlocked}));
  EXPECT_EQ(Transitions(client_.Act(ble::LockAction::kFullLock)),
            (std::vector<S>{S::kLocking, S::kLocked}));
  EXPECT_EQ(Err(client_.Act(ble::LockAction::kFobAction1).usdio).code,
            static_cast<uint8_t>(ErrorCode::kBadParameter));
  EXPECT_EQ(lock_.log().size(), 5u);
}

TEST_F(LockPeerTest, LockActionWithAStaleOrReusedNonceIsRefusedBadNonce) {
  Paired();
  ble::Nonce32 first = client_.Challenge();
  ble::Nonce32 second = client_.Challenge();
  ASSERT_NE(first, second);
  ble::LockActionRequest stale{ble::LockAction::kUnlock, 42, 0, std::nullopt, first};
  Replies r = client_.Send(stale);
  ASSERT_TRUE(ErrorOf(r.usdio).has_value());
  EXPECT_EQ(Err(r.usdio).code, static_cast<uint8_t>(ErrorCode::kBadNonce));
  EXPECT_EQ(Err(r.usdio).command, Id(Command::kLockAction));
  // The refused attempt used up the second challenge too.
  ble::LockActionRequest late{ble::LockAction::kUnlock, 42, 0, std::nullopt, second};
  EXPECT_EQ(Err(client_.Send(late).usdio).code, static_cast<uint8_t>(ErrorCode::kBadNonce));
  // A good one works once; its replay is refused.
  ble::LockActionRequest good{ble::LockAction::kUnlock, 42, 0, std::nullopt, client_.Challenge()};
  EXPECT_FALSE(ErrorOf(client_.Send(good).usdio).has_value());
  EXPECT_EQ(Err(client_.Send(good).usdio).code, static_cast<uint8_t>(ErrorCode::kBadNonce));
  EXPECT_EQ(lock_.log().size(), 1u);
}

TEST_F(LockPeerTest, AChallengeIssuedToAnotherAuthorizationIsABadNonce) {
  Paired();
  Client phone(lock_, 0x50);
  lock_.PressButton();
  ASSERT_TRUE(phone.Pair("Phone", ble::IdType::kApp).ok());
  ble::Nonce32 theirs = phone.Challenge();
  ble::LockActionRequest r{ble::LockAction::kUnlock, 42, 0, std::nullopt, theirs};
  EXPECT_EQ(Err(client_.Send(r).usdio).code, static_cast<uint8_t>(ErrorCode::kBadNonce));
}

TEST_F(LockPeerTest, DisconnectForgetsTheChallengeAndAPartialFrame) {
  Paired();
  ble::Nonce32 nk = client_.Challenge();
  lock_.OnDisconnect();
  lock_.OnConnect();
  ble::LockActionRequest r{ble::LockAction::kUnlock, 42, 0, std::nullopt, nk};
  EXPECT_EQ(Err(client_.Send(r).usdio).code, static_cast<uint8_t>(ErrorCode::kBadNonce));

  std::vector<uint8_t> frame = ble::EncodeEncrypted(
      client_.credentials().shared_key, client_.credentials().authorization_id,
      ble::ToMessage(ble::RequestData{Id(Command::kKeyturnerStates), {}}), client_.nonces().Next());
  Result<std::vector<Indication>> half =
      lock_.OnWrite(ble::kKeyturnerUsdioUuid, std::span(frame).first(20));
  ASSERT_TRUE(half.ok());
  EXPECT_TRUE(half->empty());
  lock_.OnDisconnect();
  // After the reconnect a whole new frame is understood (the stale half was dropped).
  EXPECT_EQ(client_.ReadState().lock_state, ble::LockState::kLocked);
}

TEST_F(LockPeerTest, JammedMotorFailsTheActionWithMotorBlocked) {
  Paired();
  lock_.SetJammed(true);
  Replies r = client_.Act(ble::LockAction::kUnlock);
  ASSERT_GE(r.usdio.size(), 2u);
  EXPECT_EQ(StatusOf(r.usdio[0]), 1);  // ACCEPTED, then the motor blocks
  ASSERT_TRUE(ErrorOf(r.usdio).has_value());
  EXPECT_EQ(Err(r.usdio).code, static_cast<uint8_t>(ErrorCode::kMotorBlocked));
  EXPECT_EQ(lock_.state().lock_state, ble::LockState::kMotorBlocked);
  EXPECT_TRUE(lock_.state_changed()) << "the blocked state was not sent yet";
  EXPECT_EQ(client_.ReadState().lock_state, ble::LockState::kMotorBlocked);
  ASSERT_EQ(lock_.log().size(), 1u);
  EXPECT_EQ(lock_.log()[0].lock_action()->completion, ble::CompletionStatus::kMotorBlocked);

  lock_.SetJammed(false);
  EXPECT_EQ(client_.Act(ble::LockAction::kUnlock).usdio.size(), 4u);
  EXPECT_EQ(lock_.state().lock_state, ble::LockState::kUnlocked);
}

TEST_F(LockPeerTest, ADisabledOrOutOfWindowAuthorizationMayNotAct) {
  Paired();
  Client guest(lock_, 0x60);
  // Invited for 2026-12-03 only.
  ble::AuthorizationInvite invite{"Guest",
                                  ble::IdType::kApp,
                                  Filled<32>(0x5A),
                                  false,
                                  Window({2026, 12, 3, 0, 0, 0}, {2026, 12, 4, 0, 0, 0}),
                                  {},
                                  0};
  Replies r = client_.Guarded(invite);
  ASSERT_FALSE(ErrorOf(r.usdio).has_value());
  Result<ble::AuthorizationIdInvite> id = ble::FromMessage<ble::AuthorizationIdInvite>(r.usdio[0]);
  ASSERT_TRUE(id.ok());
  guest.set_credentials({Filled<32>(0x5A), id->authorization_id});
  EXPECT_EQ(Err(guest.Act(ble::LockAction::kUnlock).usdio).code,
            static_cast<uint8_t>(ErrorCode::kTimeNotAllowed));
  lock_.SetTime(At(2026, 12, 3, 9, 0, 0));
  EXPECT_EQ(guest.Act(ble::LockAction::kUnlock).usdio.size(), 4u);

  ble::AuthorizationUpdate off{id->authorization_id, "Guest", false, false, invite.window, {}, 0};
  ASSERT_FALSE(ErrorOf(client_.Guarded(off).usdio).has_value());
  EXPECT_EQ(Err(guest.Act(ble::LockAction::kLock).usdio).code,
            static_cast<uint8_t>(ErrorCode::kDisabled));
}

// --- keypad codes over BLE -------------------------------------------------------------------

TEST_F(LockPeerTest, KeypadCodeAddListUpdateRemoveRoundTrip) {
  Paired();
  ble::AccessWindow w = Window({2026, 12, 1, 14, 0, 0}, {2027, 5, 31, 11, 0, 0},
                               ble::kMonday | ble::kFriday, {8, 30}, {18, 45});
  Replies added = client_.Guarded(ble::KeypadCodeAdd{345678, "Tenant 4B", w, {}, 0});
  ASSERT_EQ(added.usdio.size(), 2u);
  Result<ble::KeypadCodeId> id = ble::FromMessage<ble::KeypadCodeId>(added.usdio[0]);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(StatusOf(added.usdio[1]), 0);
  ASSERT_TRUE(client_.Guarded(ble::KeypadCodeAdd{456789, "Cleaner", {}, {}, 0}).errors.empty());

  uint16_t total = 0;
  std::vector<ble::KeypadCode> codes = client_.ListCodes(&total);
  EXPECT_EQ(total, 2);
  ASSERT_EQ(codes.size(), 2u);
  EXPECT_EQ(codes[0].id, id->id);
  EXPECT_EQ(codes[0].code, 345678u);
  EXPECT_EQ(codes[0].name, "Tenant 4B");
  EXPECT_EQ(codes[0].window, w);
  EXPECT_TRUE(codes[0].enabled);
  EXPECT_EQ(codes[0].created, (ble::LockDateTime{2026, 12, 2, 10, 0, 0}));

  ble::AccessWindow longer = w;
  longer.until = {2027, 6, 30, 11, 0, 0};
  Replies updated =
      client_.Guarded(ble::KeypadCodeUpdate{id->id, 345678, "Tenant 4B", false, longer, {}, 0});
  ASSERT_EQ(updated.usdio.size(), 1u);
  EXPECT_EQ(StatusOf(updated.usdio[0]), 0);
  codes = client_.ListCodes();
  ASSERT_EQ(codes.size(), 2u);
  EXPECT_EQ(codes[0].window.until, longer.until);
  EXPECT_FALSE(codes[0].enabled);

  Replies removed = client_.Guarded(ble::KeypadCodeRemove{id->id, {}, 0});
  ASSERT_EQ(removed.usdio.size(), 1u);
  EXPECT_EQ(StatusOf(removed.usdio[0]), 0);
  codes = client_.ListCodes(&total);
  EXPECT_EQ(total, 1);
  ASSERT_EQ(codes.size(), 1u);
  EXPECT_EQ(codes[0].name, "Cleaner");
  EXPECT_EQ(Err(client_.Guarded(ble::KeypadCodeRemove{id->id, {}, 0}).usdio).code,
            static_cast<uint8_t>(ErrorCode::kBadParameter));
}

TEST_F(LockPeerTest, ListingHonoursOffsetAndCount) {
  Paired();
  for (uint32_t code : {345671u, 345672u, 345673u, 345674u}) {
    ASSERT_TRUE(lock_.AddKeypadCode(code, "c").ok());
  }
  Replies r = client_.Guarded(ble::KeypadCodeRequest{1, 2, {}, 0});
  ASSERT_EQ(r.usdio.size(), 4u);  // count, two codes, COMPLETE
  EXPECT_EQ(ble::FromMessage<ble::KeypadCodeCount>(r.usdio[0])->count, 4);
  EXPECT_EQ(ble::FromMessage<ble::KeypadCode>(r.usdio[1])->code, 345672u);
  EXPECT_EQ(ble::FromMessage<ble::KeypadCode>(r.usdio[2])->code, 345673u);
}

TEST_F(LockPeerTest, TheLockValidatesCodes) {
  Paired();
  auto add = [&](uint32_t code) {
    std::optional<ble::ErrorReport> e =
        ErrorOf(client_.Guarded(ble::KeypadCodeAdd{code, "x", {}, {}, 0}).usdio);
    return e ? e->code : uint8_t{0};
  };
  EXPECT_EQ(add(123456), static_cast<uint8_t>(ErrorCode::kCodeInvalid));  // starts with 12
  EXPECT_EQ(add(345670), static_cast<uint8_t>(ErrorCode::kCodeInvalid));  // a 0
  EXPECT_EQ(add(34567), static_cast<uint8_t>(ErrorCode::kCodeInvalid));   // five digits
  EXPECT_EQ(add(345678), 0);
  EXPECT_EQ(add(345678), static_cast<uint8_t>(ErrorCode::kCodeAlreadyExists));
  ble::AccessWindow bad = Window({2026, 2, 30, 0, 0, 0}, {});
  EXPECT_EQ(Err(client_.Guarded(ble::KeypadCodeAdd{456789, "x", bad, {}, 0}).usdio).code,
            static_cast<uint8_t>(ErrorCode::kBadParameter));
  ble::AccessWindow bad_time = Window({}, {}, 0, {24, 0}, {0, 0});
  EXPECT_EQ(Err(client_.Guarded(ble::KeypadCodeAdd{456789, "x", bad_time, {}, 0}).usdio).code,
            static_cast<uint8_t>(ErrorCode::kBadParameter));
  // An update may not take another code's digits, but may keep its own.
  ASSERT_EQ(add(456789), 0);
  std::vector<ble::KeypadCode> codes = client_.ListCodes();
  ASSERT_EQ(codes.size(), 2u);
  EXPECT_EQ(
      Err(client_.Guarded(ble::KeypadCodeUpdate{codes[1].id, 345678, "x", true, {}, {}, 0}).usdio)
          .code,
      static_cast<uint8_t>(ErrorCode::kCodeAlreadyExists));
  EXPECT_FALSE(
      ErrorOf(
          client_.Guarded(ble::KeypadCodeUpdate{codes[1].id, 456789, "y", true, {}, {}, 0}).usdio)
          .has_value());
}

TEST(LockPeerLimits, TooManyCodesIsRefusedTooManyEntries) {
  ble::CountingRandomSource random(Filled<32>(1));
  ble::CountingNonceSource nonces(Filled<24>(2));
  LockPeerOptions o;
  o.security_pin = kPin;
  o.max_keypad_codes = 2;
  LockPeer lock(o, random, nonces, kStart);
  Client client(lock);
  lock.PressButton();
  ASSERT_TRUE(client.Pair().ok());
  EXPECT_FALSE(ErrorOf(client.Guarded(ble::KeypadCodeAdd{345671, "a", {}, {}, 0}).usdio));
  EXPECT_FALSE(ErrorOf(client.Guarded(ble::KeypadCodeAdd{345672, "b", {}, {}, 0}).usdio));
  EXPECT_EQ(Err(client.Guarded(ble::KeypadCodeAdd{345673, "c", {}, {}, 0}).usdio).code,
            static_cast<uint8_t>(ErrorCode::kTooManyEntries));
  EXPECT_EQ(lock.AddKeypadCode(345674, "d").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(lock.codes().size(), 2u);
}

// --- the keypad, by the lock's own clock -----------------------------------------------------

class KeypadWindowTest : public LockPeerTest {
 protected:
  // Mon/Wed, 08:00-18:00, from 2026-12-01 12:00 until 2026-12-31 00:00 (UTC).
  void SetUp() override {
    Result<uint16_t> id =
        lock_.AddKeypadCode(345678, "Tenant",
                            Window({2026, 12, 1, 12, 0, 0}, {2026, 12, 31, 0, 0, 0},
                                   ble::kMonday | ble::kWednesday, {8, 0}, {18, 0}));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    id_ = *id;
  }

  KeypadResult TypeAt(Instant t) {
    lock_.SetTime(t);
    return lock_.EnterKeypadCode(345678);
  }

  uint16_t id_ = 0;
};

TEST_F(KeypadWindowTest, AcceptedInsideItsWindow) {
  KeypadResult r = TypeAt(At(2026, 12, 2, 10, 0, 0));  // Wednesday 10:00
  EXPECT_TRUE(r.accepted()) << KeypadOutcomeName(r.outcome);
  EXPECT_EQ(r.code_id, id_);
  EXPECT_EQ(lock_.state().lock_state, ble::LockState::kUnlocked);
  EXPECT_EQ(lock_.codes()[0].lock_count, 1);
}

TEST_F(KeypadWindowTest, RefusedBeforeItsFromDate) {
  KeypadResult r = TypeAt(At(2026, 11, 30, 10, 0, 0));  // a Monday, before from
  EXPECT_EQ(r.outcome, KeypadResult::Outcome::kOutsideWindow);
  EXPECT_EQ(r.window, WindowVerdict::kBeforeFrom);
  EXPECT_EQ(lock_.state().lock_state, ble::LockState::kLocked);
  // The from date is an instant, not a day: Tuesday the 1st is before 12:00 and no weekday.
  EXPECT_EQ(TypeAt(At(2026, 12, 1, 11, 59, 59)).window, WindowVerdict::kBeforeFrom);
}

TEST_F(KeypadWindowTest, RefusedFromItsUntilInstantOn) {
  EXPECT_TRUE(TypeAt(At(2026, 12, 30, 17, 59, 0)).accepted());  // Wednesday
  KeypadResult r = TypeAt(At(2026, 12, 31, 0, 0, 0));
  EXPECT_EQ(r.window, WindowVerdict::kAfterUntil);
  EXPECT_EQ(TypeAt(At(2027, 1, 4, 10, 0, 0)).window,
            WindowVerdict::kAfterUntil);  // a Monday in January
}

TEST_F(KeypadWindowTest, RefusedOnAWeekdayNotAllowed) {
  KeypadResult r = TypeAt(At(2026, 12, 3, 10, 0, 0));  // Thursday
  EXPECT_EQ(r.outcome, KeypadResult::Outcome::kOutsideWindow);
  EXPECT_EQ(r.window, WindowVerdict::kWrongWeekday);
  EXPECT_EQ(TypeAt(At(2026, 12, 6, 10, 0, 0)).window,
            WindowVerdict::kWrongWeekday);                    // Sunday
  EXPECT_TRUE(TypeAt(At(2026, 12, 7, 10, 0, 0)).accepted());  // Monday
}

TEST_F(KeypadWindowTest, RefusedOutsideItsTimeOfDay) {
  EXPECT_EQ(TypeAt(At(2026, 12, 2, 7, 59, 59)).window, WindowVerdict::kOutsideTimeOfDay);
  EXPECT_TRUE(TypeAt(At(2026, 12, 2, 8, 0, 0)).accepted());
  EXPECT_TRUE(TypeAt(At(2026, 12, 2, 17, 59, 59)).accepted());
  EXPECT_EQ(TypeAt(At(2026, 12, 2, 18, 0, 0)).window, WindowVerdict::kOutsideTimeOfDay);
}

TEST_F(KeypadWindowTest, WeekdayAndTimeOfDayAreTheLocksLocalTime) {
  // UTC+2: Wednesday 06:30 UTC is 08:30 local (inside); Wednesday 16:30 UTC is 18:30 (outside).
  lock_.SetTimezoneOffset(120);
  EXPECT_TRUE(TypeAt(At(2026, 12, 2, 6, 30, 0)).accepted());
  EXPECT_EQ(TypeAt(At(2026, 12, 2, 16, 30, 0)).window, WindowVerdict::kOutsideTimeOfDay);
  // UTC-5: Thursday 03:00 UTC is Wednesday 22:00 local: right weekday, wrong hour; Thursday
  // 14:00 UTC is Thursday 09:00 local: wrong weekday.
  lock_.SetTimezoneOffset(-300);
  EXPECT_EQ(TypeAt(At(2026, 12, 3, 3, 0, 0)).window, WindowVerdict::kOutsideTimeOfDay);
  EXPECT_EQ(TypeAt(At(2026, 12, 3, 14, 0, 0)).window, WindowVerdict::kWrongWeekday);
}

TEST_F(KeypadWindowTest, UnknownAndDisabledCodesAreRefusedAndEveryTryIsLogged) {
  lock_.SetTime(At(2026, 12, 2, 10, 0, 0));
  KeypadResult unknown = lock_.EnterKeypadCode(999999);
  EXPECT_EQ(unknown.outcome, KeypadResult::Outcome::kUnknownCode);
  EXPECT_FALSE(unknown.code_id.has_value());
  Result<uint16_t> off = lock_.AddKeypadCode(456789, "Off", {}, false);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(lock_.EnterKeypadCode(456789).outcome, KeypadResult::Outcome::kDisabled);
  EXPECT_TRUE(lock_.EnterKeypadCode(345678).accepted());
  ASSERT_EQ(lock_.log().size(), 3u);
  std::optional<ble::KeypadActionLog> a = lock_.log()[0].keypad_action();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->completion, ble::CompletionStatus::kInvalidCode);
  EXPECT_EQ(a->code_id, 0);
  EXPECT_EQ(lock_.log()[1].keypad_action()->code_id, *off);
  EXPECT_EQ(lock_.log()[1].keypad_action()->completion, ble::CompletionStatus::kInvalidCode);
  EXPECT_EQ(lock_.log()[2].keypad_action()->code_id, id_);
  EXPECT_EQ(lock_.log()[2].keypad_action()->completion, ble::CompletionStatus::kSuccess);
  EXPECT_EQ(lock_.log()[2].name, "Tenant");
  EXPECT_EQ(lock_.log()[2].timestamp, (ble::LockDateTime{2026, 12, 2, 10, 0, 0}));
}

TEST_F(KeypadWindowTest, ACodeWithoutALimitIsAcceptedAnyTime) {
  ASSERT_TRUE(lock_.AddKeypadCode(456789, "Always").ok());
  lock_.SetTime(At(2031, 7, 6, 3, 0, 0));
  EXPECT_TRUE(lock_.EnterKeypadCode(456789).accepted());
}

TEST_F(KeypadWindowTest, LostCodesAreGoneOverBleAndAtTheKeypad) {
  Paired();
  lock_.SetTime(At(2026, 12, 2, 10, 0, 0));
  EXPECT_EQ(client_.ListCodes().size(), 1u);
  lock_.LoseCodes();
  uint16_t total = 99;
  EXPECT_TRUE(client_.ListCodes(&total).empty());
  EXPECT_EQ(total, 0);
  EXPECT_EQ(lock_.EnterKeypadCode(345678).outcome, KeypadResult::Outcome::kUnknownCode);
  // Added back, it gets a new id and works again.
  Replies r = client_.Guarded(ble::KeypadCodeAdd{345678, "Tenant", {}, {}, 0});
  ASSERT_FALSE(ErrorOf(r.usdio).has_value());
  EXPECT_NE(ble::FromMessage<ble::KeypadCodeId>(r.usdio[0])->id, id_);
  EXPECT_TRUE(lock_.EnterKeypadCode(345678).accepted());
}

TEST(CheckWindow, AllZeroDatesAreUnboundedAndUntilNotAfterFromAdmitsNoTimeOfDay) {
  Instant t = At(2026, 12, 2, 10, 0, 0);
  EXPECT_EQ(CheckWindow(Window({}, {}), t, 0), WindowVerdict::kInside);
  EXPECT_EQ(CheckWindow(Window({}, {2026, 12, 2, 10, 0, 0}), t, 0), WindowVerdict::kAfterUntil);
  EXPECT_EQ(CheckWindow(Window({2026, 12, 2, 10, 0, 0}, {}), t, 0), WindowVerdict::kInside);
  EXPECT_EQ(CheckWindow(Window({}, {}, 0, {18, 0}, {8, 0}), t, 0),
            WindowVerdict::kOutsideTimeOfDay);
  EXPECT_EQ(CheckWindow(Window({2026, 13, 1, 0, 0, 0}, {}), t, 0), WindowVerdict::kInvalid);
  ble::AccessWindow not_limited = Window({2030, 1, 1, 0, 0, 0}, {}, ble::kSunday);
  not_limited.time_limited = false;
  EXPECT_EQ(CheckWindow(not_limited, t, 0), WindowVerdict::kInside);
}

// --- security PIN ----------------------------------------------------------------------------

TEST_F(LockPeerTest, WrongPinIsRefusedAndThreeInARowLockOut) {
  Paired();
  auto list = [&](uint16_t pin) {
    std::optional<ble::ErrorReport> e =
        ErrorOf(client_.Guarded(ble::KeypadCodeRequest{0, 10, {}, 0}, pin).usdio);
    return e ? e->code : uint8_t{0};
  };
  EXPECT_EQ(list(1111), static_cast<uint8_t>(ErrorCode::kBadPin));
  EXPECT_EQ(list(kPin), 0) << "a right PIN resets the count";
  EXPECT_EQ(list(1111), static_cast<uint8_t>(ErrorCode::kBadPin));
  EXPECT_EQ(list(1112), static_cast<uint8_t>(ErrorCode::kBadPin));
  EXPECT_EQ(list(1113), static_cast<uint8_t>(ErrorCode::kBadPin));
  EXPECT_EQ(list(kPin), static_cast<uint8_t>(ErrorCode::kTooManyPinAttempts))
      << "locked out: even the right PIN is refused";
  // Every PIN command, not just the one that failed.
  EXPECT_EQ(Err(client_.Guarded(ble::KeypadCodeAdd{345678, "x", {}, {}, 0}).usdio).code,
            static_cast<uint8_t>(ErrorCode::kTooManyPinAttempts));
  lock_.AdvanceTime(std::chrono::seconds(299));
  EXPECT_EQ(list(kPin), static_cast<uint8_t>(ErrorCode::kTooManyPinAttempts));
  lock_.AdvanceTime(std::chrono::seconds(1));
  EXPECT_EQ(list(kPin), 0);
  EXPECT_TRUE(lock_.codes().empty());
  // Lock actions need no PIN and are not locked out.
  EXPECT_EQ(list(1), static_cast<uint8_t>(ErrorCode::kBadPin));
  EXPECT_EQ(list(2), static_cast<uint8_t>(ErrorCode::kBadPin));
  EXPECT_EQ(list(3), static_cast<uint8_t>(ErrorCode::kBadPin));
  EXPECT_EQ(client_.Act(ble::LockAction::kUnlock).usdio.size(), 4u);
}

// --- faults ----------------------------------------------------------------------------------

TEST_F(LockPeerTest, BusyAnswersTheNextCommandsThenRecovers) {
  Paired();
  lock_.SetBusy(2);
  Replies r = client_.Send(ble::RequestData{Id(Command::kKeyturnerStates), {}});
  ASSERT_TRUE(ErrorOf(r.usdio).has_value());
  EXPECT_EQ(Err(r.usdio).code, static_cast<uint8_t>(ErrorCode::kBusy));
  EXPECT_EQ(Err(r.usdio).command, Id(Command::kRequestData));
  EXPECT_EQ(Err(client_.Send(ble::RequestData{Id(Command::kChallenge), {}}).usdio).code,
            static_cast<uint8_t>(ErrorCode::kBusy));
  EXPECT_EQ(client_.ReadState().lock_state, ble::LockState::kLocked);
}

TEST_F(LockPeerTest, BadCrcIsAnsweredBadCrcOnEitherCharacteristic) {
  // Unencrypted, on the pairing GDIO.
  std::vector<uint8_t> frame =
      ble::EncodePlain(ble::ToMessage(ble::RequestData{Id(Command::kPublicKey), {}}));
  frame.back() ^= 0x10;
  Replies r = client_.Write(ble::kPairingGdioUuid, frame);
  ASSERT_TRUE(ErrorOf(r.pairing).has_value());
  EXPECT_EQ(Err(r.pairing).code, static_cast<uint8_t>(ErrorCode::kBadCrc));
  EXPECT_EQ(Err(r.pairing).command, Id(Command::kRequestData));

  // Encrypted with a good MAC over a bad CRC: answered encrypted.
  Paired();
  const ble::Credentials& c = client_.credentials();
  std::vector<uint8_t> plain = {
      static_cast<uint8_t>(c.authorization_id), 0, 0, 0, 0x01, 0x00, 0x0C, 0x00};
  uint16_t crc = static_cast<uint16_t>(ble::Crc16CcittFalse(plain) ^ 0xFFFF);
  plain.push_back(static_cast<uint8_t>(crc));
  plain.push_back(static_cast<uint8_t>(crc >> 8));
  ble::Nonce24 nonce = client_.nonces().Next();
  std::vector<uint8_t> sealed(nonce.begin(), nonce.end());
  sealed.insert(sealed.end(), {static_cast<uint8_t>(c.authorization_id), 0, 0, 0,
                               static_cast<uint8_t>(plain.size() + 16), 0});
  size_t at = sealed.size();
  sealed.resize(at + plain.size() + 16);
  crypto_secretbox_easy(sealed.data() + at, plain.data(), plain.size(), nonce.data(),
                        c.shared_key.data());
  r = client_.Write(ble::kKeyturnerUsdioUuid, sealed);
  ASSERT_TRUE(ErrorOf(r.usdio).has_value());
  EXPECT_EQ(Err(r.usdio).code, static_cast<uint8_t>(ErrorCode::kBadCrc));
  EXPECT_EQ(Err(r.usdio).command, Id(Command::kRequestData));
}

TEST_F(LockPeerTest, UnknownRevokedOrWrongKeyAuthorizationIsNotAuthorizedInTheClear) {
  Paired();
  ble::Credentials good = client_.credentials();
  client_.set_credentials({good.shared_key, good.authorization_id + 7});
  Replies r = client_.Send(ble::RequestData{Id(Command::kKeyturnerStates), {}});
  EXPECT_TRUE(r.usdio.empty());
  ASSERT_TRUE(ErrorOf(r.gdio).has_value());
  EXPECT_EQ(Err(r.gdio).code, static_cast<uint8_t>(ErrorCode::kNotAuthorized));

  client_.set_credentials({Filled<32>(0x77), good.authorization_id});
  r = client_.Send(ble::RequestData{Id(Command::kKeyturnerStates), {}});
  EXPECT_EQ(Err(r.gdio).code, static_cast<uint8_t>(ErrorCode::kNotAuthorized));

  client_.set_credentials(good);
  ASSERT_TRUE(lock_.SetAuthorizationRevoked(good.authorization_id).ok());
  r = client_.Send(ble::RequestData{Id(Command::kKeyturnerStates), {}});
  EXPECT_EQ(Err(r.gdio).code, static_cast<uint8_t>(ErrorCode::kNotAuthorized));
  ASSERT_TRUE(lock_.SetAuthorizationRevoked(good.authorization_id, false).ok());
  EXPECT_EQ(client_.ReadState().lock_state, ble::LockState::kLocked);
  EXPECT_EQ(lock_.SetAuthorizationRevoked(999).code(), StatusCode::kNotFound);
}

TEST_F(LockPeerTest, UnknownCommandAndBadLengthAreReported) {
  Paired();
  Replies r = client_.Send(Message{0x0099, {1, 2, 3}});
  EXPECT_EQ(Err(r.usdio).code, static_cast<uint8_t>(ErrorCode::kUnknown));
  EXPECT_EQ(Err(r.usdio).command, 0x0099);
  r = client_.Send(ble::RequestData{0x0015, {}});  // Config: not modelled
  EXPECT_EQ(Err(r.usdio).code, static_cast<uint8_t>(ErrorCode::kUnknown));
  r = client_.Send(Message{Id(Command::kLockAction), std::vector<uint8_t>(39, 1)});
  EXPECT_EQ(Err(r.usdio).code, static_cast<uint8_t>(ErrorCode::kBadLength));
  EXPECT_EQ(Err(r.usdio).command, Id(Command::kLockAction));
  // Nothing is taken in the clear on the keyturner GDIO.
  r = client_.Write(
      ble::kKeyturnerGdioUuid,
      ble::EncodePlain(ble::ToMessage(ble::RequestData{Id(Command::kKeyturnerStates), {}})));
  EXPECT_EQ(Err(r.gdio).code, static_cast<uint8_t>(ErrorCode::kNotAuthorized));
  // A value on a characteristic the lock does not have fails the write itself.
  std::vector<uint8_t> one{1};
  EXPECT_EQ(lock_.OnWrite("0000180a-0000-1000-8000-00805f9b34fb", one).status().code(),
            StatusCode::kNotFound);
}

TEST_F(LockPeerTest, CorruptNextCrcSpoilsExactlyOneReply) {
  Paired();
  lock_.CorruptNextCrc();
  Replies r = client_.Send(ble::RequestData{Id(Command::kKeyturnerStates), {}});
  EXPECT_TRUE(r.usdio.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("bad CRC"), std::string::npos) << r.errors[0];
  EXPECT_EQ(client_.ReadState().lock_state, ble::LockState::kLocked);
}

TEST_F(LockPeerTest, DropNextIndicationsLosesThatManyValues) {
  Paired();
  Replies whole = client_.Send(ble::RequestData{Id(Command::kKeyturnerStates), {}});
  ASSERT_EQ(whole.indications, 4u);  // 73 bytes: Keyturner States (19) encrypted
  lock_.DropNextIndications(5);
  ble::Credentials c = client_.credentials();
  std::vector<uint8_t> frame = ble::EncodeEncrypted(
      c.shared_key, c.authorization_id,
      ble::ToMessage(ble::RequestData{Id(Command::kKeyturnerStates), {}}), client_.nonces().Next());
  Result<std::vector<Indication>> out = lock_.OnWrite(ble::kKeyturnerUsdioUuid, frame);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->empty());
  out = lock_.OnWrite(
      ble::kKeyturnerUsdioUuid,
      ble::EncodeEncrypted(c.shared_key, c.authorization_id,
                           ble::ToMessage(ble::RequestData{Id(Command::kKeyturnerStates), {}}),
                           client_.nonces().Next()));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->size(), 3u) << "one of the second reply's four was dropped";
  EXPECT_EQ(client_.Send(ble::RequestData{Id(Command::kKeyturnerStates), {}}).indications, 4u);
}

TEST_F(LockPeerTest, GarbageOnEveryCharacteristicIsAnsweredWithinBoundsAndHarmsNothing) {
  Paired();
  std::mt19937 rng(7);
  const std::string_view uuids[] = {ble::kPairingGdioUuid, ble::kKeyturnerGdioUuid,
                                    ble::kKeyturnerUsdioUuid};
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> value(std::uniform_int_distribution<size_t>(0, 20)(rng));
    for (uint8_t& b : value) b = static_cast<uint8_t>(rng());
    Result<std::vector<Indication>> out = lock_.OnWrite(uuids[rng() % 3], value);
    ASSERT_TRUE(out.ok());
    for (const auto& [uuid, v] : *out) ASSERT_LE(v.size(), 20u);
  }
  lock_.OnDisconnect();  // drop whatever partial frame the garbage left
  EXPECT_EQ(client_.ReadState().lock_state, ble::LockState::kLocked);
  EXPECT_EQ(lock_.authorizations().size(), 1u);
  EXPECT_TRUE(lock_.codes().empty());
}

// --- authorizations --------------------------------------------------------------------------

TEST_F(LockPeerTest, AuthorizationsInviteListUpdateRemove) {
  Paired();
  ble::AuthorizationInvite invite{"Phone of 4B",
                                  ble::IdType::kApp,
                                  Filled<32>(0x5A),
                                  true,
                                  Window({2026, 12, 1, 0, 0, 0}, {2027, 6, 1, 0, 0, 0}),
                                  {},
                                  0};
  Replies r = client_.Guarded(invite);
  ASSERT_EQ(r.usdio.size(), 2u);
  Result<ble::AuthorizationIdInvite> id = ble::FromMessage<ble::AuthorizationIdInvite>(r.usdio[0]);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->authorization_id, client_.credentials().authorization_id + 1);
  EXPECT_EQ(StatusOf(r.usdio[1]), 0);

  r = client_.Guarded(ble::AuthorizationRequest{0, 10, {}, 0});
  ASSERT_EQ(r.usdio.size(), 4u);
  EXPECT_EQ(ble::FromMessage<ble::AuthorizationCount>(r.usdio[0])->count, 2);
  Result<ble::AuthorizationEntry> e = ble::FromMessage<ble::AuthorizationEntry>(r.usdio[2]);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->authorization_id, id->authorization_id);
  EXPECT_EQ(e->name, "Phone of 4B");
  EXPECT_TRUE(e->remote_allowed);
  EXPECT_EQ(e->window, invite.window);

  // The invited key talks to the lock.
  Client phone(lock_, 0x60);
  phone.set_credentials({Filled<32>(0x5A), id->authorization_id});
  EXPECT_EQ(phone.ReadState().lock_state, ble::LockState::kLocked);

  ble::AuthorizationUpdate update{id->authorization_id,
                                  "Phone 4B",
                                  true,
                                  false,
                                  Window({2026, 12, 1, 0, 0, 0}, {2027, 7, 1, 0, 0, 0}),
                                  {},
                                  0};
  ASSERT_EQ(StatusOf(client_.Guarded(update).usdio.at(0)), 0);
  EXPECT_EQ(lock_.authorizations()[1].name, "Phone 4B");
  EXPECT_EQ(lock_.authorizations()[1].window.until, (ble::LockDateTime{2027, 7, 1, 0, 0, 0}));

  ASSERT_EQ(
      StatusOf(client_.Guarded(ble::AuthorizationRemove{id->authorization_id, {}, 0}).usdio.at(0)),
      0);
  EXPECT_EQ(lock_.authorizations().size(), 1u);
  EXPECT_EQ(Err(phone.Send(ble::RequestData{Id(Command::kKeyturnerStates), {}}).gdio).code,
            static_cast<uint8_t>(ErrorCode::kNotAuthorized));
  EXPECT_EQ(Err(client_.Guarded(ble::AuthorizationRemove{id->authorization_id, {}, 0}).usdio).code,
            static_cast<uint8_t>(ErrorCode::kInvalidAuthId));
}

// --- log, time, state-changed flag -----------------------------------------------------------

TEST_F(LockPeerTest, LogEntriesAfterActionsAndKeypadEntriesInBothSortOrders) {
  Paired();
  ASSERT_TRUE(lock_.AddKeypadCode(345678, "Tenant").ok());
  ASSERT_EQ(client_.Act(ble::LockAction::kUnlock).usdio.size(), 4u);  // 1
  lock_.AdvanceTime(std::chrono::seconds(60));
  EXPECT_TRUE(lock_.EnterKeypadCode(345678).accepted());   // 2
  EXPECT_FALSE(lock_.EnterKeypadCode(999999).accepted());  // 3
  lock_.SetDoor(true);                                     // 4
  lock_.ManualAction(ble::LockAction::kLock);              // 5

  uint16_t total = 0;
  std::vector<ble::LogEntry> asc = client_.ReadLog(0, 100, 0, &total);
  EXPECT_EQ(total, 5);
  ASSERT_EQ(asc.size(), 5u);
  for (size_t i = 0; i < asc.size(); ++i) EXPECT_EQ(asc[i].index, i + 1);
  EXPECT_EQ(asc[0].type, ble::LoggingType::kLockAction);
  EXPECT_EQ(asc[0].authorization_id, client_.credentials().authorization_id);
  EXPECT_EQ(asc[0].timestamp, (ble::LockDateTime{2026, 12, 2, 10, 0, 0}));
  EXPECT_EQ(asc[1].type, ble::LoggingType::kKeypadAction);
  EXPECT_EQ(asc[1].keypad_action()->completion, ble::CompletionStatus::kSuccess);
  EXPECT_EQ(asc[1].timestamp, (ble::LockDateTime{2026, 12, 2, 10, 1, 0}));
  EXPECT_EQ(asc[2].keypad_action()->completion, ble::CompletionStatus::kInvalidCode);
  EXPECT_EQ(asc[3].type, ble::LoggingType::kDoorSensor);
  EXPECT_EQ(asc[4].lock_action()->trigger, ble::Trigger::kManual);
  EXPECT_EQ(asc[4].lock_action()->action, ble::LockAction::kLock);

  std::vector<ble::LogEntry> desc = client_.ReadLog(0, 2, 1);
  ASSERT_EQ(desc.size(), 2u);
  EXPECT_EQ(desc[0].index, 5u);
  EXPECT_EQ(desc[1].index, 4u);
  std::vector<ble::LogEntry> from3 = client_.ReadLog(3, 10, 0);
  ASSERT_EQ(from3.size(), 3u);
  EXPECT_EQ(from3[0].index, 3u);
  std::vector<ble::LogEntry> down_from2 = client_.ReadLog(2, 10, 1);
  ASSERT_EQ(down_from2.size(), 2u);
  EXPECT_EQ(down_from2[0].index, 2u);
  EXPECT_EQ(down_from2[1].index, 1u);
}

TEST(LockPeerLimits, TheLogKeepsTheNewestEntriesAndNeverRenumbers) {
  ble::CountingRandomSource random(Filled<32>(1));
  ble::CountingNonceSource nonces(Filled<24>(2));
  LockPeerOptions o;
  o.max_log_entries = 3;
  LockPeer lock(o, random, nonces, kStart);
  for (int i = 0; i < 5; ++i) lock.EnterKeypadCode(999999);
  ASSERT_EQ(lock.log().size(), 3u);
  EXPECT_EQ(lock.log().front().index, 3u);
  EXPECT_EQ(lock.log().back().index, 5u);
}

TEST_F(LockPeerTest, UpdateTimeSetsTheLocksClock) {
  Paired();
  Replies r = client_.Guarded(ble::UpdateTime{{2027, 1, 15, 8, 30, 0}, {}, 0});
  ASSERT_EQ(r.usdio.size(), 1u);
  EXPECT_EQ(StatusOf(r.usdio[0]), 0);
  EXPECT_EQ(lock_.now(), At(2027, 1, 15, 8, 30, 0));
  EXPECT_EQ(client_.ReadState().current_time, (ble::LockDateTime{2027, 1, 15, 8, 30, 0}));
  EXPECT_EQ(Err(client_.Guarded(ble::UpdateTime{{2027, 2, 30, 8, 30, 0}, {}, 0}).usdio).code,
            static_cast<uint8_t>(ErrorCode::kBadParameter));
  EXPECT_EQ(Err(client_.Guarded(ble::UpdateTime{{2027, 1, 15, 8, 30, 0}, {}, 0}, 1).usdio).code,
            static_cast<uint8_t>(ErrorCode::kBadPin));
}

TEST_F(LockPeerTest, StateChangedIsSetByChangesAndClearedByAPairedRead) {
  Paired();
  EXPECT_FALSE(lock_.state_changed());
  ASSERT_TRUE(lock_.AddKeypadCode(345678, "Tenant").ok());
  EXPECT_TRUE(lock_.EnterKeypadCode(345678).accepted());
  EXPECT_TRUE(lock_.state_changed());
  EXPECT_EQ(client_.ReadState().lock_state, ble::LockState::kUnlocked);
  EXPECT_FALSE(lock_.state_changed());

  lock_.SetDoor(true);
  EXPECT_TRUE(lock_.state_changed());
  ble::KeyturnerStates s = client_.ReadState();
  EXPECT_EQ(s.v22->door_sensor_state, ble::DoorSensorState::kDoorOpened);
  EXPECT_FALSE(lock_.state_changed());
  lock_.SetDoor(true);  // no change, no flag
  EXPECT_FALSE(lock_.state_changed());

  lock_.SetBattery(18, true);
  EXPECT_TRUE(lock_.state_changed());
  s = client_.ReadState();
  EXPECT_TRUE(s.battery_critical());
  EXPECT_EQ(s.battery_percent(), 18);
  Replies b = client_.Send(ble::RequestData{Id(Command::kBatteryReport), {}});
  ASSERT_EQ(b.usdio.size(), 1u);
  Result<ble::BatteryReport> report = ble::FromMessage<ble::BatteryReport>(b.usdio[0]);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->battery_critical());

  // The client's own lock action sends the new state, so the flag is clear afterwards.
  ASSERT_EQ(client_.Act(ble::LockAction::kLock).usdio.size(), 4u);
  EXPECT_FALSE(lock_.state_changed());
}

TEST_F(LockPeerTest, JsonHasTheStateButNoKeysNoPinAndCodesOnlyWhenAsked) {
  lock_.set_security_pin(27183);
  Paired();
  ASSERT_TRUE(lock_.AddKeypadCode(345678, "Tenant").ok());
  std::string json = lock_.ToJson();
  EXPECT_NE(json.find("\"lock_state\":\"locked\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"name\":\"Tenant\""), std::string::npos);
  EXPECT_EQ(json.find("27183"), std::string::npos) << "the security PIN";
  EXPECT_EQ(json.find("345678"), std::string::npos) << "a code without reveal_codes";
  EXPECT_EQ(json.find("key"), std::string::npos);
  std::string hex;
  for (uint8_t b : client_.credentials().shared_key) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", b);
    hex += buf;
  }
  EXPECT_EQ(json.find(hex.substr(0, 16)), std::string::npos);
  EXPECT_NE(lock_.ToJson(true).find("345678"), std::string::npos);
}

}  // namespace
}  // namespace lintel::locksim
