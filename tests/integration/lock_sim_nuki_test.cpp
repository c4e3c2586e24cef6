// The whole BLE path against the simulated Nuki lock: ble::LockClient over BluezGattLink
// (drivers/ble) talking to `lock-sim --peripheral nuki` (tools/lock-sim/nuki_peripheral.h) on a
// private dbus-daemon the test starts. The lock's button, keypad and state are driven through
// lock-sim's control socket (`peer LOCK ...`).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "drivers/ble/bluez_link.h"
#include "drivers/ble/nuki_client.h"
#include "drivers/ble/nuki_commands.h"
#include "tests/integration/lock_sim.h"

namespace lintel::ble {
namespace {

using lintel::testing::LockSimProcess;
using lintel::testing::PrivateBus;
using std::chrono::milliseconds;

constexpr const char* kLock = "AA:BB:CC:DD:EE:07";
constexpr uint16_t kPin = 4321;
constexpr milliseconds kConnect{10'000};

class LockSimNukiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = lintel::testing::FreshTestDir("lock-sim-nuki").string();
    bus_ = std::make_unique<PrivateBus>(dir_);
    ASSERT_TRUE(bus_->Start()) << lintel::testing::ReadFile(dir_ + "/dbus-daemon.log");
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_->address().c_str(), 1);
    sim_ = std::make_unique<LockSimProcess>(
        dir_, bus_->address(),
        std::vector<std::string>{"--lock", kLock, "--peripheral", "nuki", "--connect-delay-ms",
                                 "10", "--resolve-delay-ms", "10"});
    ASSERT_TRUE(sim_->Start()) << lintel::testing::ReadFile(sim_->log_path());
    Result<std::unique_ptr<BluezGattLink>> link = BluezGattLink::Open({});
    ASSERT_TRUE(link.ok()) << link.status().ToString();
    link_ = std::move(*link);
    ASSERT_TRUE(link_->Connect(kLock, kConnect).ok());
  }
  void TearDown() override {
    client_.reset();
    link_.reset();
    sim_.reset();
    bus_.reset();
    ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
  }

  // `peer LOCK args` on the control socket; its "result".
  nlohmann::json Peer(const std::string& args) {
    nlohmann::json reply = sim_->Control(std::string("peer ") + kLock + " " + args);
    EXPECT_EQ(reply.value("ok", false), true) << reply.dump();
    return reply.contains("result") ? reply["result"] : nlohmann::json();
  }
  bool StateChangedAdvertised() {
    return sim_->Control("state")["state"]["locks"][0].value("state_changed", false);
  }

  std::string dir_;
  std::unique_ptr<PrivateBus> bus_;
  std::unique_ptr<LockSimProcess> sim_;
  std::unique_ptr<BluezGattLink> link_;
  RandomNonceSource nonces_;
  SodiumRandomSource random_;
  std::unique_ptr<LockClient> client_;
};

TEST_F(LockSimNukiTest, PairUnlockPushACodeAndSeeItUsedAtTheKeypad) {
  client_ = std::make_unique<LockClient>(*link_, nonces_);
  Result<PairingResult> refused = client_->Pair({IdType::kBridge, 7, "Lintel"}, random_);
  EXPECT_EQ(LockErrorCodeOf(refused.status()), static_cast<uint8_t>(ErrorCode::kNotPairing))
      << refused.status().ToString();

  Peer("pin " + std::to_string(kPin));
  Peer("press-button");
  Result<PairingResult> paired = client_->Pair({IdType::kBridge, 7, "Lintel"}, random_);
  ASSERT_TRUE(paired.ok()) << paired.status().ToString();

  Result<LockActionResult> unlocked = client_->Unlock();
  ASSERT_TRUE(unlocked.ok()) << unlocked.status().ToString();
  ASSERT_FALSE(unlocked->transitions.empty());
  EXPECT_EQ(unlocked->transitions.back().lock_state, LockState::kUnlocked);
  ASSERT_TRUE(client_->Lock().ok());

  KeypadCodeAdd add;
  add.code = 345678;
  add.name = "Tenant 4B";
  Result<uint16_t> id = client_->AddKeypadCode(add, kPin);
  ASSERT_TRUE(id.ok()) << id.status().ToString();

  EXPECT_FALSE(StateChangedAdvertised());
  nlohmann::json typed = Peer("keypad 345678");
  EXPECT_EQ(typed["accepted"], true) << typed.dump();
  EXPECT_TRUE(StateChangedAdvertised()) << "the advertisement says the state changed";
  Result<KeyturnerStates> s = client_->ReadState();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->lock_state, LockState::kUnlocked);
  EXPECT_FALSE(StateChangedAdvertised()) << "a paired read clears it";

  Result<LogPage> log = client_->ReadLog(0, 10, kPin, /*descending=*/true);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_FALSE(log->entries.empty());
  ASSERT_TRUE(log->entries[0].keypad_action().has_value());
  EXPECT_EQ(log->entries[0].keypad_action()->code_id, *id);

  Status wrong_pin = client_->RemoveKeypadCode(*id, 1111);
  EXPECT_EQ(LockErrorCodeOf(wrong_pin), static_cast<uint8_t>(ErrorCode::kBadPin))
      << wrong_pin.ToString();
  nlohmann::json state = Peer("state");
  EXPECT_EQ(state["authorizations"][0]["name"], "Lintel");
  EXPECT_EQ(state["codes"].size(), 1u);
  EXPECT_EQ(state.dump().find(std::to_string(kPin)), std::string::npos);
}

}  // namespace
}  // namespace lintel::ble
