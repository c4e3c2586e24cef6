// The pure Nuki codec: byte-exact against the worked example of shared/protocols/nuki-ble.md.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_crc.h"
#include "drivers/ble/nuki_crypto.h"
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

TEST(NukiCrc, MatchesTheSpecCheckValue) {
  std::vector<uint8_t> data = Hex("01 00 03 00");
  EXPECT_EQ(Crc16CcittFalse(data), 0xA727);
  EXPECT_EQ(EncodePlain(Message{0x0001, {0x03, 0x00}}), Hex("01 00 03 00 27 A7"));
}

TEST(NukiCrc, MatchesTheStandardCheckValue) {
  std::string s = "123456789";
  EXPECT_EQ(Crc16CcittFalse({reinterpret_cast<const uint8_t*>(s.data()), s.size()}), 0x29B1);
}

TEST(NukiFrame, EncryptsTheSpecRequestDataExactly) {
  Message request = ToMessage(RequestData{static_cast<uint16_t>(Command::kKeyturnerStates), {}});
  std::vector<uint8_t> frame = EncodeEncrypted(kSpecKey, 2, request, kSpecNonce);
  EXPECT_EQ(frame, Hex("37917F1AF31EC5940705F34D1E5550607D5B2F9FE7D496B6 02000000 1A00 "
                       "670D124926004366532E8D927A33FE84E782A9594D39157D065E"));
}

TEST(NukiFrame, DecryptsTheSpecRequestData) {
  Result<EncryptedMessage> m = DecodeEncrypted(
      kSpecKey, Hex("37917F1AF31EC5940705F34D1E5550607D5B2F9FE7D496B6 02000000 1A00 "
                    "670D124926004366532E8D927A33FE84E782A9594D39157D065E"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->auth_id, 2u);
  EXPECT_EQ(m->message, (Message{0x0001, {0x0C, 0x00}}));
}

TEST(NukiCommands, DecodesTheSpecKeyturnerStates) {
  Result<KeyturnerStates> s = KeyturnerStates::Decode(Hex("020100E0070307080F1E3C0000200A"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->nuki_state, NukiState::kDoorMode);
  EXPECT_EQ(s->lock_state, LockState::kLocked);
  EXPECT_EQ(s->trigger, Trigger::kSystem);
  EXPECT_EQ(s->current_time, (LockDateTime{2016, 3, 7, 8, 15, 30}));
  EXPECT_EQ(s->timezone_offset_min, 60);
  EXPECT_FALSE(s->v22.has_value());
  Result<Instant> t = ToInstant(s->current_time);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatRfc3339(*t), "2016-03-07T08:15:30Z");
  EXPECT_EQ(s->Encode(), Hex("020100E0070307080F1E3C0000200A"));
}

TEST(NukiPairing, ClientAndLockAgreeOnKeyAndAuthorizationId) {
  CountingRandomSource client_random(HexArray<32>("01"));
  CountingRandomSource lock_random(HexArray<32>("80"));
  ClientPairing client({IdType::kBridge, 42, "Lintel"}, HexArray<32>("11"), client_random);
  LockPairing lock(HexArray<32>("22"), HexArray<16>("A1A2"), 7, lock_random);
  std::vector<Message> to_lock{client.Start()};
  for (int round = 0; round < 10 && !client.done(); ++round) {
    std::vector<Message> to_client;
    for (const Message& m : to_lock) {
      for (Message& r : lock.OnMessage(m)) to_client.push_back(std::move(r));
    }
    to_lock.clear();
    for (const Message& m : to_client) {
      Result<std::vector<Message>> out = client.OnMessage(m);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      for (Message& r : *out) to_lock.push_back(std::move(r));
    }
  }
  ASSERT_TRUE(client.done());
  ASSERT_TRUE(lock.done());
  EXPECT_EQ(client.result().credentials, lock.result().credentials);
  EXPECT_EQ(client.result().credentials.authorization_id, 7u);
  EXPECT_EQ(lock.result().app_id, 42u);
  EXPECT_EQ(lock.result().name, "Lintel");
}

// --- framing errors --------------------------------------------------------------------------

const std::vector<uint8_t> kSpecEncrypted =
    Hex("37917F1AF31EC5940705F34D1E5550607D5B2F9FE7D496B6 02000000 1A00 "
        "670D124926004366532E8D927A33FE84E782A9594D39157D065E");

TEST(NukiFrame, PlainRoundTripsAndRejectsBadCrc) {
  Message m{0x000E, {0x01}};
  std::vector<uint8_t> frame = EncodePlain(m);
  Result<Message> back = DecodePlain(frame);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, m);
  frame[2] ^= 0x01;
  Result<Message> bad = DecodePlain(frame);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad CRC"), std::string::npos) << bad.status().ToString();
}

TEST(NukiFrame, PlainRejectsShortAndOversizedFrames) {
  EXPECT_FALSE(DecodePlain(Hex("0100 27")).ok());
  EXPECT_FALSE(DecodePlain({}).ok());
  std::vector<uint8_t> huge =
      EncodePlain(Message{0x0001, std::vector<uint8_t>(kMaxPayloadSize + 1)});
  Result<Message> r = DecodePlain(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      DecodePlain(EncodePlain(Message{0x0001, std::vector<uint8_t>(kMaxPayloadSize)})).ok());
}

TEST(NukiFrame, EncryptedRejectsTheWrongKey) {
  Key32 wrong = kSpecKey;
  wrong[0] ^= 0x80;
  Result<EncryptedMessage> r = DecodeEncrypted(wrong, kSpecEncrypted);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("decryption failed"), std::string::npos);
}

TEST(NukiFrame, EncryptedRejectsAnyAlteredCiphertextByte) {
  for (size_t i = kEncryptedHeaderSize; i < kSpecEncrypted.size(); ++i) {
    std::vector<uint8_t> f = kSpecEncrypted;
    f[i] ^= 0x04;
    EXPECT_FALSE(DecodeEncrypted(kSpecKey, f).ok()) << "byte " << i;
  }
  std::vector<uint8_t> f = kSpecEncrypted;
  f[3] ^= 0x01;  // the nonce
  EXPECT_FALSE(DecodeEncrypted(kSpecKey, f).ok());
}

TEST(NukiFrame, EncryptedRejectsTruncatedAndPaddedFrames) {
  for (size_t n = 0; n < kSpecEncrypted.size(); ++n) {
    EXPECT_FALSE(DecodeEncrypted(kSpecKey, std::span(kSpecEncrypted).first(n)).ok()) << n;
  }
  std::vector<uint8_t> padded = kSpecEncrypted;
  padded.push_back(0);
  Result<EncryptedMessage> r = DecodeEncrypted(kSpecKey, padded);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("length field"), std::string::npos);
}

TEST(NukiFrame, EncryptedRejectsAClearAuthIdThatDiffersFromTheSealedOne) {
  std::vector<uint8_t> f = kSpecEncrypted;
  f[24] = 3;  // the clear authorization id is not covered by the MAC
  Result<EncryptedMessage> r = DecodeEncrypted(kSpecKey, f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("authorization id"), std::string::npos);
}

TEST(NukiFrame, EncryptedRejectsImpossibleLengthFields) {
  std::vector<uint8_t> f = kSpecEncrypted;
  f[28] = 0x10;  // 16: no room for auth id, command and CRC
  f[29] = 0x00;
  f.resize(kEncryptedHeaderSize + 16);
  EXPECT_FALSE(DecodeEncryptedHeader(f).ok());
  f[28] = 0xFF;
  f[29] = 0xFF;
  EXPECT_FALSE(DecodeEncryptedHeader(f).ok());
}

TEST(NukiFrame, HeaderNamesTheAuthorizationId) {
  Result<EncryptedHeader> h = DecodeEncryptedHeader(kSpecEncrypted);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->auth_id, 2u);
  EXPECT_EQ(h->length, 0x1A);
  EXPECT_EQ(h->nonce, kSpecNonce);
}

TEST(NukiFrame, ChunkSplitsInto20ByteValues) {
  std::vector<std::vector<uint8_t>> chunks = Chunk(kSpecEncrypted);
  ASSERT_EQ(chunks.size(), 3u);  // 56 bytes
  EXPECT_EQ(chunks[0].size(), 20u);
  EXPECT_EQ(chunks[2].size(), 16u);
  EXPECT_EQ(Chunk(kSpecEncrypted, 0).size(), 1u);
  EXPECT_TRUE(Chunk({}, 20).empty());
}

// --- reassembly ------------------------------------------------------------------------------

std::vector<uint8_t> SpecStatesFrame() {
  return EncodeEncrypted(kSpecKey, 2, Message{0x000C, Hex("020100E0070307080F1E3C0000200A")},
                         kSpecNonce);
}

TEST(NukiReassembler, TheSpecStatesArriveInFourIndicationsAndDecode) {
  std::vector<std::vector<uint8_t>> chunks = Chunk(SpecStatesFrame());
  ASSERT_EQ(chunks.size(), 4u);
  Reassembler r(FrameKind::kEncrypted);
  std::vector<std::vector<uint8_t>> frames;
  for (const auto& c : chunks) {
    Result<std::vector<std::vector<uint8_t>>> got = r.Feed(c);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    for (auto& f : *got) frames.push_back(std::move(f));
  }
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(r.pending(), 0u);
  Result<EncryptedMessage> m = DecodeEncrypted(kSpecKey, frames[0]);
  ASSERT_TRUE(m.ok());
  Result<KeyturnerStates> s = FromMessage<KeyturnerStates>(m->message);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->lock_state, LockState::kLocked);
}

// Feeds `stream` cut at `cuts` and returns the frames.
std::vector<std::vector<uint8_t>> FeedSplit(Reassembler& r, const std::vector<uint8_t>& stream,
                                            const std::vector<size_t>& cuts) {
  std::vector<std::vector<uint8_t>> frames;
  size_t at = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(stream.size());
  for (size_t end : ends) {
    Result<std::vector<std::vector<uint8_t>>> got = r.Feed(std::span(stream).subspan(at, end - at));
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (got.ok()) {
      for (auto& f : *got) frames.push_back(std::move(f));
    }
    at = end;
  }
  return frames;
}

TEST(NukiReassembler, EveryTwoAndThreeWaySplitGivesTheSameFrame) {
  std::vector<uint8_t> frame = SpecStatesFrame();
  for (size_t a = 0; a <= frame.size(); ++a) {
    Reassembler r(FrameKind::kEncrypted);
    std::vector<std::vector<uint8_t>> frames = FeedSplit(r, frame, {a});
    ASSERT_EQ(frames.size(), 1u) << a;
    EXPECT_EQ(frames[0], frame);
    for (size_t b = a; b <= frame.size(); b += 7) {
      Reassembler r3(FrameKind::kEncrypted);
      std::vector<std::vector<uint8_t>> f3 = FeedSplit(r3, frame, {a, b});
      ASSERT_EQ(f3.size(), 1u) << a << "," << b;
      EXPECT_EQ(f3[0], frame);
    }
  }
}

TEST(NukiReassembler, RandomSplitsOfSeveralFramesGiveThemAllInOrder) {
  std::vector<std::vector<uint8_t>> sent;
  std::vector<uint8_t> stream;
  CountingNonceSource nonces(kSpecNonce);
  for (int i = 0; i < 6; ++i) {
    sent.push_back(EncodeEncrypted(
        kSpecKey, 2, Message{0x0045, std::vector<uint8_t>(static_cast<size_t>(i * 20), 7)},
        nonces.Next()));
    stream.insert(stream.end(), sent.back().begin(), sent.back().end());
  }
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<size_t> cuts;
    for (size_t at = 0;;) {
      at += std::uniform_int_distribution<size_t>(1, 20)(rng);
      if (at >= stream.size()) break;
      cuts.push_back(at);
    }
    Reassembler r(FrameKind::kEncrypted);
    EXPECT_EQ(FeedSplit(r, stream, cuts), sent) << "trial " << trial;
  }
}

TEST(NukiReassembler, PlainFramesEndWhereTheirCommandSizeSays) {
  std::vector<uint8_t> stream = EncodePlain(ToMessage(PublicKey{HexArray<32>("AA")}));
  std::vector<uint8_t> status = EncodePlain(ToMessage(StatusMessage{0}));
  stream.insert(stream.end(), status.begin(), status.end());
  for (size_t a = 0; a <= stream.size(); ++a) {
    Reassembler r(FrameKind::kPlain);
    std::vector<std::vector<uint8_t>> frames = FeedSplit(r, stream, {a});
    ASSERT_EQ(frames.size(), 2u) << a;
    EXPECT_EQ(frames[1], status);
  }
}

TEST(NukiReassembler, UnknownPlainCommandIsAnErrorAndTheNextFrameStartsClean) {
  Reassembler r(FrameKind::kPlain);
  Result<std::vector<std::vector<uint8_t>>> bad = r.Feed(Hex("0C00 0102"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("0x000C"), std::string::npos);
  EXPECT_EQ(r.pending(), 0u);
  Result<std::vector<std::vector<uint8_t>>> good = r.Feed(EncodePlain(ToMessage(StatusMessage{1})));
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->size(), 1u);
}

TEST(NukiReassembler, ImpossibleEncryptedLengthIsAnErrorNotABuffer) {
  Reassembler r(FrameKind::kEncrypted);
  std::vector<uint8_t> header(kEncryptedHeaderSize, 0);
  header[28] = 0xFF;
  header[29] = 0xFF;
  Result<std::vector<std::vector<uint8_t>>> got = r.Feed(std::span(header).first(20));
  ASSERT_TRUE(got.ok());
  got = r.Feed(std::span(header).subspan(20));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(r.pending(), 0u);
}

TEST(NukiReassembler, GarbageNeverGrowsTheBufferPastOneFrame) {
  std::mt19937 rng(5);
  for (FrameKind kind : {FrameKind::kPlain, FrameKind::kEncrypted}) {
    Reassembler r(kind);
    for (int i = 0; i < 5000; ++i) {
      std::vector<uint8_t> value(std::uniform_int_distribution<size_t>(0, 20)(rng));
      for (auto& b : value) b = static_cast<uint8_t>(rng());
      (void)r.Feed(value);
      ASSERT_LE(r.pending(), std::max(kMaxPlainFrameSize, kMaxEncryptedFrameSize));
    }
  }
}

TEST(NukiReassembler, ResetDropsAPartialFrame) {
  Reassembler r(FrameKind::kEncrypted);
  std::vector<uint8_t> frame = SpecStatesFrame();
  ASSERT_TRUE(r.Feed(std::span(frame).first(25)).ok());
  EXPECT_EQ(r.pending(), 25u);
  r.Reset();
  EXPECT_EQ(r.pending(), 0u);
  Result<std::vector<std::vector<uint8_t>>> got = r.Feed(frame);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 1u);
}

// --- round trips of every command ------------------------------------------------------------

template <typename T>
void ExpectRoundTrip(const T& v, bool fixed_size) {
  std::vector<uint8_t> bytes = v.Encode();
  Result<T> back = T::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, v);
  EXPECT_EQ(back->Encode(), bytes);
  Result<T> via = FromMessage<T>(DecodePlain(EncodePlain(ToMessage(v))).value());
  ASSERT_TRUE(via.ok());
  EXPECT_EQ(*via, v);
  // Fixed-size payloads: one byte short or long is refused. Every payload: empty and oversized.
  Result<T> shorter = T::Decode(std::span(bytes).first(bytes.size() - 1));
  if (fixed_size) {
    EXPECT_FALSE(shorter.ok());
    EXPECT_EQ(shorter.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(shorter.status().message().find(std::string(CommandName(T::kCommand))),
              std::string::npos)
        << shorter.status().message();
    std::vector<uint8_t> longer = bytes;
    longer.push_back(0);
    EXPECT_FALSE(T::Decode(longer).ok());
  }
  EXPECT_FALSE(T::Decode({}).ok());
  std::vector<uint8_t> oversized(kMaxPayloadSize + 1, 1);
  EXPECT_FALSE(T::Decode(oversized).ok());
}

Nonce32 N(uint8_t b) {
  Nonce32 n;
  n.fill(b);
  return n;
}

AccessWindow SampleWindow() {
  return AccessWindow{
      true, {2026, 12, 1, 14, 0, 0}, {2027, 5, 31, 11, 0, 0}, kMonday | kFriday, {8, 30}, {18, 45}};
}

TEST(NukiCommands, RequestDataRoundTrips) {
  ExpectRoundTrip(RequestData{0x0004, {}}, false);
  ExpectRoundTrip(RequestData{0x0043, {1, 2, 3}}, false);
}
TEST(NukiCommands, StatusRoundTrips) { ExpectRoundTrip(StatusMessage{1}, true); }
TEST(NukiCommands, ErrorReportRoundTrips) { ExpectRoundTrip(ErrorReport{0x21, 0x0041}, true); }
TEST(NukiCommands, ChallengeRoundTrips) { ExpectRoundTrip(Challenge{N(9)}, true); }
TEST(NukiCommands, PublicKeyRoundTrips) { ExpectRoundTrip(PublicKey{N(3)}, true); }
TEST(NukiCommands, AuthorizationAuthenticatorRoundTrips) {
  ExpectRoundTrip(AuthorizationAuthenticator{N(4)}, true);
}
TEST(NukiCommands, AuthorizationDataRoundTrips) {
  ExpectRoundTrip(AuthorizationData{N(1), IdType::kBridge, 0xA1B2C3D4, "Lintel gateway", N(2)},
                  true);
}
TEST(NukiCommands, AuthorizationIdRoundTrips) {
  ExpectRoundTrip(AuthorizationId{N(1), 77, HexArray<16>("00112233445566778899AABBCCDDEEFF"), N(5)},
                  true);
}
TEST(NukiCommands, AuthorizationIdConfirmationRoundTrips) {
  ExpectRoundTrip(AuthorizationIdConfirmation{N(8), 77}, true);
}
TEST(NukiCommands, KeyturnerStatesRoundTripsWithAndWithoutNewerFields) {
  KeyturnerStates s;
  s.nuki_state = NukiState::kDoorMode;
  s.lock_state = LockState::kUnlatched;
  s.trigger = Trigger::kButton;
  s.current_time = {2026, 12, 2, 23, 59, 58};
  s.timezone_offset_min = -300;
  s.critical_battery_state = 0xC9;
  s.config_update_count = 4;
  s.lock_n_go_timer = 1;
  ExpectRoundTrip(s, false);
  s.v22 = KeyturnerStatesV22{LockAction::kUnlatch, Trigger::kSystem, CompletionStatus::kBusy,
                             DoorSensorState::kDoorOpened};
  ExpectRoundTrip(s, false);
  s.extra = {0x01, 0x02, 0x03};
  ExpectRoundTrip(s, false);
  EXPECT_TRUE(s.battery_critical());
  EXPECT_EQ(s.battery_percent(), 100);
  // 15 bytes is the minimum.
  EXPECT_FALSE(KeyturnerStates::Decode(Hex("020100E0070307080F1E3C000020")).ok());
}
TEST(NukiCommands, LockActionRoundTripsWithAndWithoutNameSuffix) {
  ExpectRoundTrip(LockActionRequest{LockAction::kUnlock, 42, 0, std::nullopt, N(6)}, false);
  ExpectRoundTrip(LockActionRequest{LockAction::kUnlatch, 42, 2, "front door", N(6)}, false);
  EXPECT_TRUE(LockActionRequest::Decode(std::vector<uint8_t>(38)).ok());
  EXPECT_TRUE(LockActionRequest::Decode(std::vector<uint8_t>(58)).ok());
  EXPECT_FALSE(LockActionRequest::Decode(std::vector<uint8_t>(39)).ok());
  EXPECT_FALSE(LockActionRequest::Decode(std::vector<uint8_t>(37)).ok());
  EXPECT_FALSE(LockActionRequest::Decode(std::vector<uint8_t>(57)).ok());
}
TEST(NukiCommands, BatteryReportRoundTrips) {
  ExpectRoundTrip(BatteryReport{120, 5800, 0, LockAction::kLock, 6000, 5400, 360, -5, 600, 180, {}},
                  false);
  EXPECT_FALSE(BatteryReport::Decode(std::vector<uint8_t>(16)).ok());
}
TEST(NukiCommands, UpdateTimeRoundTrips) {
  ExpectRoundTrip(UpdateTime{{2026, 12, 2, 10, 0, 0}, N(7), 1234}, true);
}
TEST(NukiCommands, KeypadCodeAddRoundTrips) {
  ExpectRoundTrip(KeypadCodeAdd{345678, "Tenant 4B", SampleWindow(), N(1), 4321}, true);
}
TEST(NukiCommands, KeypadCodeIdRoundTrips) {
  ExpectRoundTrip(KeypadCodeId{12, {}}, false);
  ExpectRoundTrip(KeypadCodeId{12, {0xE8, 0x07, 1, 2, 3, 4, 5}}, false);
  EXPECT_FALSE(KeypadCodeId::Decode(Hex("0C")).ok());
}
TEST(NukiCommands, KeypadCodeRequestRoundTrips) {
  ExpectRoundTrip(KeypadCodeRequest{0, 100, N(2), 4321}, true);
}
TEST(NukiCommands, KeypadCodeCountRoundTrips) { ExpectRoundTrip(KeypadCodeCount{3}, true); }
TEST(NukiCommands, KeypadCodeRoundTrips) {
  ExpectRoundTrip(
      KeypadCode{5, 345678, "Tenant 4B", true, {2026, 1, 1, 0, 0, 0}, {}, 17, SampleWindow()},
      true);
}
TEST(NukiCommands, KeypadCodeUpdateRoundTrips) {
  ExpectRoundTrip(KeypadCodeUpdate{5, 345678, "Tenant 4B", false, SampleWindow(), N(3), 4321},
                  true);
}
TEST(NukiCommands, KeypadCodeRemoveRoundTrips) {
  ExpectRoundTrip(KeypadCodeRemove{5, N(4), 4321}, true);
}
TEST(NukiCommands, AuthorizationInviteRoundTrips) {
  ExpectRoundTrip(
      AuthorizationInvite{"Phone of 4B", IdType::kApp, N(0x5A), true, SampleWindow(), N(5), 4321},
      true);
}
TEST(NukiCommands, AuthorizationIdInviteRoundTrips) {
  ExpectRoundTrip(AuthorizationIdInvite{9, {}}, false);
  ExpectRoundTrip(AuthorizationIdInvite{9, {0xEA, 0x07, 12, 2, 10, 0, 0}}, false);
  EXPECT_FALSE(AuthorizationIdInvite::Decode(Hex("090000")).ok());
}
TEST(NukiCommands, AuthorizationUpdateRoundTrips) {
  ExpectRoundTrip(AuthorizationUpdate{9, "Phone of 4B", true, false, SampleWindow(), N(6), 4321},
                  true);
}
TEST(NukiCommands, AuthorizationRemoveRoundTrips) {
  ExpectRoundTrip(AuthorizationRemove{9, N(7), 4321}, true);
}
TEST(NukiCommands, AuthorizationRequestRoundTrips) {
  ExpectRoundTrip(AuthorizationRequest{0, 50, N(8), 4321}, true);
}
TEST(NukiCommands, AuthorizationCountRoundTrips) { ExpectRoundTrip(AuthorizationCount{2}, true); }
TEST(NukiCommands, AuthorizationEntryRoundTrips) {
  ExpectRoundTrip(AuthorizationEntry{9,
                                     IdType::kApp,
                                     "Phone of 4B",
                                     true,
                                     true,
                                     {2026, 1, 1, 0, 0, 0},
                                     {2026, 11, 30, 7, 1, 2},
                                     250,
                                     SampleWindow()},
                  true);
}
TEST(NukiCommands, LogRequestRoundTrips) {
  ExpectRoundTrip(LogRequest{1000, 20, 1, true, N(9), 4321}, true);
}
TEST(NukiCommands, LogEntryCountRoundTrips) {
  ExpectRoundTrip(LogEntryCount{true, 512, {}}, false);
  ExpectRoundTrip(LogEntryCount{false, 512, {1, 0}}, false);
  EXPECT_FALSE(LogEntryCount::Decode(Hex("0100")).ok());
}
TEST(NukiCommands, LogEntryRoundTripsWithTypedData) {
  LogEntry lock_action{1001,
                       {2026, 12, 2, 9, 0, 1},
                       9,
                       "Phone of 4B",
                       LoggingType::kLockAction,
                       LogEntry::EncodeData(LockActionLog{LockAction::kUnlock, Trigger::kSystem, 0,
                                                          CompletionStatus::kSuccess})};
  ExpectRoundTrip(lock_action, false);
  ASSERT_TRUE(lock_action.lock_action().has_value());
  EXPECT_EQ(lock_action.lock_action()->action, LockAction::kUnlock);
  EXPECT_FALSE(lock_action.keypad_action().has_value());

  LogEntry keypad{1002,
                  {2026, 12, 2, 9, 5, 0},
                  0,
                  "Keypad",
                  LoggingType::kKeypadAction,
                  LogEntry::EncodeData(KeypadActionLog{LockAction::kUnlatch, 1,
                                                       CompletionStatus::kInvalidCode, 0x0105})};
  ExpectRoundTrip(keypad, false);
  ASSERT_TRUE(keypad.keypad_action().has_value());
  EXPECT_EQ(keypad.keypad_action()->code_id, 0x0105);
  EXPECT_EQ(keypad.keypad_action()->completion, CompletionStatus::kInvalidCode);

  LogEntry no_data{1003, {}, 0, "", LoggingType::kCalibration, {}};
  ExpectRoundTrip(no_data, false);
  EXPECT_FALSE(LogEntry::Decode(std::vector<uint8_t>(47)).ok());
}

TEST(NukiCommands, UnknownEnumValuesSurviveARoundTrip) {
  KeyturnerStates s;
  s.lock_state = static_cast<LockState>(0x42);
  ExpectRoundTrip(s, false);
  EXPECT_EQ(LockStateName(s.lock_state), "unknown");
}

TEST(NukiCommands, FromMessageRefusesAnotherCommand) {
  Result<Challenge> c = FromMessage<Challenge>(ToMessage(StatusMessage{0}));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "expected Challenge (0x0004), got Status (0x000E)");
}

TEST(NukiCommands, NamesLongStringsTruncatedToTheirField) {
  KeypadCodeAdd add{345678, std::string(30, 'x'), {}, N(1), 1};
  Result<KeypadCodeAdd> back = KeypadCodeAdd::Decode(add.Encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->name, std::string(20, 'x'));
}

// --- errors, names, codes, dates -------------------------------------------------------------

TEST(NukiErrors, ErrorReportsBecomeStatusesWithTheirName) {
  Status s = LockErrorStatus(0x21, 0x0041);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "lock error 0x21 bad PIN (Add Keypad Code 0x0041)");
  EXPECT_EQ(LockErrorCodeOf(s), 0x21);
  EXPECT_EQ(LockErrorStatus(0x45, 0x000D).code(), StatusCode::kUnavailable);
  EXPECT_EQ(LockErrorStatus(0x45, 0x000D).message(), "lock error 0x45 busy (Lock Action 0x000D)");
  EXPECT_EQ(LockErrorStatus(0x2A, 0x0041).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(LockErrorStatus(0x2B, 0x0041).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LockErrorStatus(0x20, 0x000C).message(),
            "lock error 0x20 not authorized (Keyturner States 0x000C)");
  EXPECT_EQ(LockErrorStatus(0xFD, 0x0001).message(),
            "lock error 0xFD bad CRC (Request Data 0x0001)");
  EXPECT_EQ(LockErrorCodeOf(LockErrorStatus(0xFD, 1)), 0xFD);
  EXPECT_EQ(ErrorName(0x42), "motor blocked");
  EXPECT_EQ(ErrorName(0x99), "unknown error");
  EXPECT_FALSE(LockErrorCodeOf(Status::Unavailable("lock error")).has_value());
  EXPECT_FALSE(LockErrorCodeOf(Status::Ok()).has_value());
}

TEST(NukiCodes, ValidCodesHaveSixNonZeroDigitsAndDoNotStartWith12) {
  EXPECT_TRUE(ValidNukiCode(345678));
  EXPECT_TRUE(ValidNukiCode(111111));
  EXPECT_TRUE(ValidNukiCode(999999));
  EXPECT_TRUE(ValidNukiCode(132456));
  EXPECT_TRUE(ValidNukiCode(211234));
  EXPECT_FALSE(ValidNukiCode(123456));  // starts with 12
  EXPECT_FALSE(ValidNukiCode(129999));
  EXPECT_FALSE(ValidNukiCode(345670));  // a 0
  EXPECT_FALSE(ValidNukiCode(305678));
  EXPECT_FALSE(ValidNukiCode(99999));  // five digits
  EXPECT_FALSE(ValidNukiCode(1111111));
  EXPECT_FALSE(ValidNukiCode(0));
}

TEST(NukiDates, LockDateTimeAndInstantConvertBothWays) {
  Result<Instant> t = ParseRfc3339("2028-02-29T23:59:59Z");
  ASSERT_TRUE(t.ok());
  Result<LockDateTime> d = ToLockDateTime(*t);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, (LockDateTime{2028, 2, 29, 23, 59, 59}));
  Result<Instant> back = ToInstant(*d);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, *t);
  EXPECT_EQ(*ToLockDateTime(FromUnix(0)), (LockDateTime{1970, 1, 1, 0, 0, 0}));
  EXPECT_EQ(*ToLockDateTime(FromUnix(-1)), (LockDateTime{1969, 12, 31, 23, 59, 59}));
  for (int64_t s : {int64_t{0}, int64_t{951782400}, int64_t{4102444799}, int64_t{-86400 * 400}}) {
    EXPECT_EQ(ToUnix(*ToInstant(*ToLockDateTime(FromUnix(s)))), s);
  }
}

TEST(NukiDates, ImpossibleLockDatesAreRefused) {
  EXPECT_FALSE(ToInstant({2026, 2, 29, 0, 0, 0}).ok());
  EXPECT_FALSE(ToInstant({2026, 13, 1, 0, 0, 0}).ok());
  EXPECT_FALSE(ToInstant({2026, 0, 1, 0, 0, 0}).ok());
  EXPECT_FALSE(ToInstant({2026, 1, 0, 0, 0, 0}).ok());
  EXPECT_FALSE(ToInstant({2026, 1, 1, 24, 0, 0}).ok());
  EXPECT_FALSE(ToInstant({2026, 1, 1, 0, 60, 0}).ok());
  EXPECT_FALSE(ToInstant({}).ok());  // all zeros: "never"
  EXPECT_TRUE(ToInstant({2000, 2, 29, 0, 0, 0}).ok());
  EXPECT_FALSE(ToInstant({1900, 2, 29, 0, 0, 0}).ok());
  EXPECT_FALSE(ToLockDateTime(kInstantMax).ok());
  EXPECT_FALSE(ToLockDateTime(kInstantMin).ok());
  EXPECT_TRUE(ToLockDateTime(*ToInstant({65535, 12, 31, 23, 59, 59})).ok());
}

TEST(NukiBeacon, ReadsTheStateChangedBitOfTheTxPowerByte) {
  std::vector<uint8_t> beacon = Hex("0215 A92EE2005501 11E4916C0800200C9A66 0001 0002 C5");
  EXPECT_EQ(BeaconStateChanged(beacon), true);
  beacon.back() = 0xC4;
  EXPECT_EQ(BeaconStateChanged(beacon), false);
  beacon.pop_back();
  EXPECT_FALSE(BeaconStateChanged(beacon).has_value());
}

// --- pairing failures ------------------------------------------------------------------------

TEST(NukiPairing, LockRefusesAWrongAuthenticator) {
  CountingRandomSource lock_random(HexArray<32>("80"));
  LockPairing lock(HexArray<32>("22"), {}, 7, lock_random);
  lock.OnMessage(ToMessage(RequestData{0x0003, {}}));
  lock.OnMessage(ToMessage(PublicKey{PublicKeyOf(HexArray<32>("11"))}));
  std::vector<Message> reply = lock.OnMessage(ToMessage(AuthorizationAuthenticator{N(0)}));
  ASSERT_EQ(reply.size(), 1u);
  Result<ErrorReport> e = FromMessage<ErrorReport>(reply[0]);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, static_cast<uint8_t>(ErrorCode::kBadAuthenticator));
  EXPECT_EQ(lock.step(), LockPairing::Step::kFailed);
}

TEST(NukiPairing, LockRefusesMessagesOutOfOrder) {
  CountingRandomSource lock_random(HexArray<32>("80"));
  LockPairing lock(HexArray<32>("22"), {}, 7, lock_random);
  std::vector<Message> reply = lock.OnMessage(ToMessage(PublicKey{N(1)}));
  ASSERT_EQ(reply.size(), 1u);
  EXPECT_EQ(FromMessage<ErrorReport>(reply[0])->code,
            static_cast<uint8_t>(ErrorCode::kPairingBadParameter));
}

TEST(NukiPairing, ClientReportsTheLocksErrorByName) {
  CountingRandomSource random(HexArray<32>("01"));
  ClientPairing client({}, HexArray<32>("11"), random);
  client.Start();
  Result<std::vector<Message>> r = client.OnMessage(ToMessage(ErrorReport{0x10, 0x0001}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "lock error 0x10 not pairing (Request Data 0x0001)");
  EXPECT_EQ(client.step(), ClientPairing::Step::kFailed);
}

TEST(NukiPairing, ClientRefusesATamperedAuthorizationId) {
  CountingRandomSource client_random(HexArray<32>("01"));
  CountingRandomSource lock_random(HexArray<32>("80"));
  ClientPairing client({IdType::kBridge, 1, "x"}, HexArray<32>("11"), client_random);
  LockPairing lock(HexArray<32>("22"), {}, 7, lock_random);
  Message to_lock = client.Start();
  for (int i = 0; i < 4; ++i) {
    std::vector<Message> replies = lock.OnMessage(to_lock);
    ASSERT_EQ(replies.size(), 1u);
    if (replies[0].command == static_cast<uint16_t>(Command::kAuthorizationId)) {
      replies[0].payload[32] ^= 1;  // another authorization id
      Result<std::vector<Message>> r = client.OnMessage(replies[0]);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
      EXPECT_NE(r.status().message().find("does not verify"), std::string::npos);
      return;
    }
    Result<std::vector<Message>> r = client.OnMessage(replies[0]);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 1u);
    to_lock = (*r)[0];
  }
  FAIL() << "no Authorization-ID";
}

TEST(NukiPairing, LowOrderLockKeyIsRefused) {
  CountingRandomSource random(HexArray<32>("01"));
  ClientPairing client({}, HexArray<32>("11"), random);
  client.Start();
  Result<std::vector<Message>> r = client.OnMessage(ToMessage(PublicKey{Key32{}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(NukiCrypto, SharedKeyIsSymmetricAndMatchesCryptoBoxBeforenm) {
  Key32 a = HexArray<32>("0102"), b = HexArray<32>("0304");
  Result<Key32> ab = DeriveSharedKey(a, PublicKeyOf(b));
  Result<Key32> ba = DeriveSharedKey(b, PublicKeyOf(a));
  ASSERT_TRUE(ab.ok());
  ASSERT_TRUE(ba.ok());
  EXPECT_EQ(*ab, *ba);
}

TEST(NukiCrypto, CountingSourcesNeverRepeat) {
  Nonce24 start{};
  start.fill(0xFF);
  CountingNonceSource n(start);
  Nonce24 first = n.Next();
  Nonce24 second = n.Next();
  EXPECT_NE(first, second);
  EXPECT_EQ(second, Nonce24{});  // wrapped
}

}  // namespace
}  // namespace lintel::ble
