// The pure Nuki codec: byte-exact against the worked example of shared/protocols/nuki-ble.md.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace lintel::ble
