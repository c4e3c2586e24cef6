// NukiPeripheral (tools/lock-sim/nuki_peripheral.h): the lock model behind lock-sim's Peripheral
// seam, with a fake host: the lock's clock follows the host's, the advertisement's flag follows
// the model, and the control commands do what they say.
#include "tools/lock-sim/nuki_peripheral.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "drivers/ble/gatt_link.h"
#include "drivers/ble/nuki_client.h"
#include "drivers/ble/nuki_commands.h"
#include "drivers/ble/nuki_frame.h"
#include "drivers/ble/nuki_pairing.h"
#include "gateway/base/clock.h"

namespace lintel::locksim {
namespace {

template <size_t N>
std::array<uint8_t, N> Filled(uint8_t b) {
  std::array<uint8_t, N> a;
  a.fill(b);
  return a;
}

Instant At(int year, unsigned month, unsigned day, int hour = 0, int minute = 0) {
  return FromUnix(int64_t{DaysFromCivil(year, month, day)} * 86400 + hour * 3600 + minute * 60);
}

class FakeHost final : public PeripheralHost {
 public:
  explicit FakeHost(Instant now) : clock_(now) {}
  void Indicate(std::string_view, std::vector<uint8_t>) override { ++unprompted_; }
  void After(std::chrono::milliseconds, std::function<void()>) override {}
  void SetStateChanged(bool changed) override { flags_.push_back(changed); }
  const Clock& clock() const override { return clock_; }
  void Report(std::string_view key, std::string_view value) override {
    reports_.emplace_back(std::string(key), std::string(value));
  }

  FakeClock clock_;
  std::vector<bool> flags_;
  int unprompted_ = 0;
  std::vector<std::pair<std::string, std::string>> reports_;
};

// A GattLink straight into the peripheral: a write's indications are queued at once.
class PeripheralLink final : public ble::GattLink {
 public:
  explicit PeripheralLink(Peripheral& p) : p_(p) {}
  Status Connect(std::string_view, std::chrono::milliseconds) override {
    p_.OnConnect();
    connected_ = true;
    return Status::Ok();
  }
  Status Write(std::string_view uuid, std::span<const uint8_t> value) override {
    Result<std::vector<Peripheral::Indication>> out = p_.OnWrite(uuid, value);
    if (!out.ok()) return out.status();
    for (auto& [u, v] : *out) queued_.emplace_back(u, std::move(v));
    return Status::Ok();
  }
  Result<std::vector<uint8_t>> NextIndication(std::string_view uuid,
                                              std::chrono::milliseconds) override {
    for (auto it = queued_.begin(); it != queued_.end(); ++it) {
      if (it->first == uuid) {
        std::vector<uint8_t> v = std::move(it->second);
        queued_.erase(it);
        return v;
      }
    }
    return ble::DeadlineExceeded("no indication");
  }
  void Disconnect() override {
    p_.OnDisconnect();
    connected_ = false;
  }
  bool connected() const override { return connected_; }

 private:
  Peripheral& p_;
  bool connected_ = false;
  std::vector<Peripheral::Indication> queued_;
};

class NukiPeripheralTest : public ::testing::Test {
 protected:
  NukiPeripheralTest()
      : host_(At(2026, 12, 2, 10)),
        nuki_(host_, LockPeerOptions{},
              std::make_unique<ble::CountingRandomSource>(Filled<32>(0x80)),
              std::make_unique<ble::CountingNonceSource>(Filled<24>(0x90))) {}

  nlohmann::json Command(std::vector<std::string> args) {
    Result<std::string> r = nuki_.OnCommand(args);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? nlohmann::json::parse(*r) : nlohmann::json();
  }
  nlohmann::json State() { return Command({"state"}); }

  FakeHost host_;
  NukiPeripheral nuki_;
};

TEST_F(NukiPeripheralTest, TheLocksClockFollowsTheHostsAndKeepsItsOwnSettings) {
  EXPECT_EQ(State()["time"], "2026-12-02T10:00:00Z");
  host_.clock_.Advance(std::chrono::seconds(90));
  EXPECT_EQ(State()["time"], "2026-12-02T10:01:30Z");
  Command({"time", "2027-01-15T08:30:00Z"});
  host_.clock_.Advance(std::chrono::seconds(30));
  EXPECT_EQ(State()["time"], "2027-01-15T08:30:30Z") << "a set time sticks and runs on";
  host_.clock_.SetWall(At(2026, 1, 1));  // the host's clock jumps back: the lock's does not
  EXPECT_EQ(State()["time"], "2027-01-15T08:30:30Z");
  EXPECT_EQ(Command({"advance", "3600"})["time"], "2027-01-15T09:30:30Z");
}

TEST_F(NukiPeripheralTest, KeypadWindowsAndTheStateChangedFlag) {
  EXPECT_EQ(Command({"add-code", "345678", "Tenant", "2026-12-01T00:00:00Z",
                     "2026-12-03T00:00:00Z"})["code_id"],
            1);
  nlohmann::json j = Command({"keypad", "345678"});
  EXPECT_EQ(j["accepted"], true);
  EXPECT_EQ(j["code_id"], 1);
  ASSERT_FALSE(host_.flags_.empty());
  EXPECT_TRUE(host_.flags_.back()) << "the state changed: advertised";
  host_.clock_.Advance(std::chrono::hours(24));
  j = Command({"keypad", "345678"});
  EXPECT_EQ(j["accepted"], false);
  EXPECT_EQ(j["outcome"], "outside its window");
  EXPECT_EQ(j["window"], "after its until date");
  EXPECT_EQ(Command({"keypad", "999999"})["outcome"], "unknown code");
  EXPECT_EQ(State()["log"].size(), 3u);
  EXPECT_EQ(host_.flags_.size(), 1u) << "published only when it flips";
}

TEST_F(NukiPeripheralTest, PairingThroughWritesAfterPressButton) {
  Command({"pin", "4321"});
  EXPECT_EQ(Command({"press-button"})["pairing_mode"], true);
  ble::CountingRandomSource random(Filled<32>(0x33));
  ble::ClientPairing pairing({ble::IdType::kBridge, 1, "Lintel"}, Filled<32>(0x44), random);
  ble::Reassembler rx(ble::FrameKind::kPlain);
  std::vector<ble::Message> to_lock{pairing.Start()};
  nuki_.OnConnect();
  while (!to_lock.empty()) {
    std::vector<ble::Message> next;
    for (const auto& chunk : ble::Chunk(ble::EncodePlain(to_lock.front()))) {
      Result<std::vector<Peripheral::Indication>> out = nuki_.OnWrite(ble::kPairingGdioUuid, chunk);
      ASSERT_TRUE(out.ok());
      for (const auto& [uuid, value] : *out) {
        EXPECT_EQ(uuid, ble::kPairingGdioUuid);
        Result<std::vector<std::vector<uint8_t>>> frames = rx.Feed(value);
        ASSERT_TRUE(frames.ok());
        for (const auto& frame : *frames) {
          Result<ble::Message> m = ble::DecodePlain(frame);
          ASSERT_TRUE(m.ok());
          Result<std::vector<ble::Message>> reply = pairing.OnMessage(*m);
          ASSERT_TRUE(reply.ok()) << reply.status().ToString();
          next.insert(next.end(), reply->begin(), reply->end());
        }
      }
    }
    to_lock = std::move(next);
  }
  ASSERT_TRUE(pairing.done());
  nlohmann::json s = State();
  ASSERT_EQ(s["authorizations"].size(), 1u);
  EXPECT_EQ(s["authorizations"][0]["name"], "Lintel");
  EXPECT_EQ(s.dump().find("4321"), std::string::npos) << "the PIN is never shown";
}

TEST_F(NukiPeripheralTest, ALockActionCommandIsReportedToTheHost) {
  PeripheralLink link(nuki_);
  ASSERT_TRUE(link.Connect("54:D2:72:00:00:01", std::chrono::seconds(1)).ok());
  ble::CountingNonceSource nonces(Filled<24>(0x21));
  ble::CountingRandomSource random(Filled<32>(0x22));
  ble::LockClient client(link, nonces);
  Command({"press-button"});
  Result<ble::PairingResult> paired = client.Pair({ble::IdType::kBridge, 7, "Lintel"}, random);
  ASSERT_TRUE(paired.ok()) << paired.status().ToString();
  client.set_credentials(paired->credentials);
  ASSERT_TRUE(client.ReadState().ok());
  EXPECT_TRUE(host_.reports_.empty()) << "pairing and a state read are no lock action";

  ASSERT_TRUE(client.Unlatch().ok());
  ASSERT_EQ(host_.reports_.size(), 1u);
  EXPECT_EQ(host_.reports_[0].first, "lock_action");
  EXPECT_EQ(host_.reports_[0].second, "unlatch");
  Command({"jam", "on"});
  static_cast<void>(client.Lock());  // motor blocked
  ASSERT_EQ(host_.reports_.size(), 2u) << "reported whatever the answer";
  EXPECT_EQ(host_.reports_[1].second, "lock");
}

TEST_F(NukiPeripheralTest, FaultAndStateCommands) {
  EXPECT_EQ(Command({"manual", "unlatch"})["lock_state"], "unlocked");
  EXPECT_EQ(Command({"door", "open"})["door"], "door opened");
  Command({"battery", "15", "critical"});
  Command({"jam", "on"});
  EXPECT_EQ(Command({"manual", "lock"})["lock_state"], "motor blocked");
  Command({"busy", "2"});
  Command({"corrupt-crc"});
  Command({"tz", "60"});
  EXPECT_EQ(Command({"authorize", "Phone", "app"})["id"], 1);
  Command({"revoke", "1"});
  Command({"add-code", "456789", "Cleaner"});
  Command({"lose-codes"});
  nlohmann::json s = Command({"state", "codes"});
  EXPECT_EQ(s["lock_state"], "motor blocked");
  EXPECT_EQ(s["battery"]["critical"], true);
  EXPECT_EQ(s["faults"]["busy"], 2);
  EXPECT_EQ(s["faults"]["jammed"], true);
  EXPECT_EQ(s["faults"]["corrupt_next_crc"], true);
  EXPECT_EQ(s["timezone_offset_min"], 60);
  EXPECT_EQ(s["authorizations"][0]["revoked"], true);
  EXPECT_TRUE(s["codes"].empty());
}

TEST_F(NukiPeripheralTest, BadCommandsAreRefusedWithTheUsage) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{},
                                             {"fly"},
                                             {"keypad"},
                                             {"keypad", "12ab"},
                                             {"battery", "101"},
                                             {"door", "ajar"},
                                             {"busy", "-1"},
                                             {"time", "yesterday"},
                                             {"add-code", "123456", "x"},  // the lock's code rules
                                             {"add-code", "345678", "x", "soon", "-"},
                                             {"authorize", "x", "robot"},
                                             {"revoke", "9"},  // no such authorization
                                             {"pin", "70000"}}) {
    Result<std::string> r = nuki_.OnCommand(args);
    EXPECT_FALSE(r.ok()) << (args.empty() ? "" : args[0]);
  }
  Result<std::string> r = nuki_.OnCommand({"fly"});
  EXPECT_NE(r.status().message().find("press-button"), std::string::npos);
}

}  // namespace
}  // namespace lintel::locksim
