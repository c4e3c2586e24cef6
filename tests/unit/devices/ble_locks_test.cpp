// BleLocks (issue 11) on a FakeClock loop with a real core (store, engine, journal) and the
// simulated Nuki lock in process (tools/lock-sim: LockPeer behind LoopbackLink): pairing, a grant
// unlatching the lock, unreachable / busy / jammed / not authorized locks, state events, the
// keypad log, and the sync of keypad codes: add, update (a payment extends the window), remove, a
// check-out while out of range converging when back, lost codes, unknown codes, wrong PIN, bad CRC,
// and a restart with a pending outbox.
//
// The BLE worker is a real thread; the tests wait (bounded, in wall time) for its results to be
// posted to the loop and never assert that something did not happen after a sleep.
#include "gateway/devices/ble_locks.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "drivers/ble/nuki_crypto.h"
#include "rules/presented.h"
#include "tools/lock-sim/lock_peer.h"
#include "tools/lock-sim/loopback_link.h"

namespace lintel::devices {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kAddress[] = "54:D2:72:00:00:01";
constexpr uint16_t kPin = 1234;
constexpr uint32_t kCode = 345678;  // Ada's PIN: a valid Nuki code

// The worker owns its link; this one forwards to the test's LoopbackLink.
class ForwardingLink final : public ble::GattLink {
 public:
  explicit ForwardingLink(ble::GattLink& target) : target_(target) {}
  Status Connect(std::string_view address, milliseconds timeout) override {
    return target_.Connect(address, timeout);
  }
  Status Write(std::string_view uuid, std::span<const uint8_t> value) override {
    return target_.Write(uuid, value);
  }
  Result<std::vector<uint8_t>> NextIndication(std::string_view uuid, milliseconds t) override {
    return target_.NextIndication(uuid, t);
  }
  void Disconnect() override { target_.Disconnect(); }
  bool connected() const override { return target_.connected(); }

 private:
  ble::GattLink& target_;
};

class BleLocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lintel-blelocks-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    WritePinFile(kPin);
    locksim::LockPeerOptions o;
    o.security_pin = kPin;
    peer_ = std::make_unique<locksim::LockPeer>(o, random_, nonces_, clock_.Wall());
    link_ = std::make_unique<locksim::LoopbackLink>(*peer_, kAddress);
    auto loop = EventLoop::Create(clock_);
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    OpenGateway();
  }

  void TearDown() override {
    locks_.reset();
    gw_.reset();
    loop_.reset();
    link_.reset();
    peer_.reset();
    fs::remove_all(dir_);
  }

  void WritePinFile(uint16_t pin) {
    std::string path = (dir_ / "lock.pin").string();
    std::ofstream(path) << pin << "\n";
    ::chmod(path.c_str(), 0600);
  }

  std::string Yaml() const {
    return "site: {id: s, time_zone: UTC}\n"
           "gateway: {id: g}\n"
           "store: {path: " +
           (dir_ / "l.db").string() +
           "}\n"
           "doors:\n"
           "  - {id: unit-1, common: true, unlock_ms: 3000}\n"
           "locks:\n"
           "  - id: lock-1\n"
           "    type: nuki\n"
           "    door: unit-1\n"
           "    address: \"" +
           kAddress +
           "\"\n"
           "    credentials: " +
           (dir_ / "lock-1.nuki").string() +
           "\n    security_pin_file: " + (dir_ / "lock.pin").string() + "\n";
  }

  void OpenGateway() {
    auto c = config::LoadConfigText(Yaml(), "t.yaml");
    ASSERT_TRUE(c.ok()) << c.status().message();
    config_ = *c;
    auto g = core::Gateway::Open(config_, clock_);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    gw_ = std::move(*g);
  }

  void StartLocks() {
    BleLocksOptions o;
    o.client.reply_timeout = milliseconds(200);  // the loopback answers at once or never
    o.client.complete_grace = milliseconds(0);
    locks_ = std::make_unique<BleLocks>(
        *loop_, clock_, *gw_,
        [this](const std::string&) -> Result<std::unique_ptr<ble::GattLink>> {
          return std::unique_ptr<ble::GattLink>(std::make_unique<ForwardingLink>(*link_));
        },
        nullptr, o);
    locks_->Apply(gw_->config());
  }

  // Runs the loop (without moving the fake clock) until `done`, for at most 10 s of wall time.
  bool RunUntil(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(loop_->RunOnce(milliseconds(5)).ok());
      if (done()) return true;
    }
    return false;
  }
  // Moves the fake clock by `ms` in steps, letting the worker's results in at each step.
  void Advance(int ms, int step = 100) {
    for (int i = 0; i < ms; i += step) {
      clock_.Advance(milliseconds(step));
      ASSERT_TRUE(loop_->RunOnce(milliseconds(0)).ok());
    }
  }

  // Waits until the lock's adapter has no job queued or running.
  void Settle() {
    RunUntil([&] { return LockStatus()["jobs"] == 0; });
  }

  json LockStatus() {
    json s = locks_->Status();
    return s.empty() ? json() : s[0];
  }

  // Pairs (pressing the lock's button first) and waits until the first sync is done.
  void Pair() {
    link_->WithLock([](locksim::LockPeer& p) {
      p.PressButton();
      return 0;
    });
    std::optional<Result<json>> reply;
    locks_->Pair("unit-1", [&reply](Result<json> r) { reply = std::move(r); });
    ASSERT_TRUE(RunUntil([&] { return reply.has_value(); }));
    ASSERT_TRUE(reply->ok()) << reply->status().ToString();
    ASSERT_TRUE(RunUntil([&] { return Synced(); }));
  }

  bool Synced() {
    json s = LockStatus();
    return !s.is_null() && !s["sync"]["running"].get<bool>() && s["sync"]["pending_changes"] == 0 &&
           !s["sync"]["last_success"].is_null() && s["state"].is_string();
  }

  void Import(const json& records) {
    auto r = gw_->Handle({{"cmd", "state.import"}, {"records", records}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // Ada with a lease until `ends_at`, rent paid through `paid`, and PIN kCode.
  json Ada(const std::string& ends_at = "2027-01-01T00:00:00Z",
           const std::string& paid = "2026-06-30T00:00:00Z") {
    return json::parse(R"({
      "people": [{"id": "ada", "name": "Ada", "role": "tenant"}],
      "leases": [{"id": "l1", "unit": "1", "members": ["ada"], "groups": ["default"],
                  "starts_at": "2026-01-01T00:00:00Z", "ends_at": ")" +
                       ends_at + R"(", "paid_through": ")" + paid + R"(", "grace_days": 5}],
      "credentials": [{"id": "c-ada", "person": "ada", "type": "pin", "status": "active",
                       "pin": ")" +
                       std::to_string(kCode) + R"("}]})");
  }
  json Nobody() {
    return json::parse(R"({"people": [{"id": "ada", "name": "Ada", "role": "tenant"}]})");
  }

  std::vector<locksim::LockKeypadCode> Codes() {
    return link_->WithLock([](locksim::LockPeer& p) { return p.codes(); });
  }
  std::optional<ble::LockDateTime> CodeUntil() {
    for (const auto& c : Codes()) {
      if (c.code == kCode) return c.window.until;
    }
    return std::nullopt;
  }

  std::vector<json> Events(const std::string& type) {
    auto r = gw_->Handle({{"cmd", "events.tail"}, {"n", 500}});
    std::vector<json> out;
    for (const json& e : (*r)["events"]) {
      if (e["type"] == type) out.push_back(e);
    }
    return out;
  }
  json Last(const std::string& type) {
    std::vector<json> e = Events(type);
    return e.empty() ? json() : e.back();
  }

  rules::Decision Grant() {
    return gw_->Admit({"unit-1", "", rules::PinPresented("345678")}, "wiegand");
  }

  fs::path dir_;
  FakeClock clock_{ParseRfc3339("2026-06-01T12:00:00Z").value()};
  ble::SodiumRandomSource random_;
  ble::RandomNonceSource nonces_;
  std::unique_ptr<locksim::LockPeer> peer_;
  std::unique_ptr<locksim::LoopbackLink> link_;
  config::Config config_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<core::Gateway> gw_;
  std::unique_ptr<BleLocks> locks_;
};

TEST_F(BleLocksTest, PairingWritesCredentialsOwnerOnlyAndAGrantUnlatchesTheLock) {
  Import(Ada());
  StartLocks();
  EXPECT_FALSE(LockStatus()["paired"].get<bool>());
  Pair();
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "lock-1.nuki").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_TRUE(LockStatus()["paired"].get<bool>());
  EXPECT_EQ(Events("lock.paired").size(), 1u);
  EXPECT_TRUE(Last("lock.paired").dump().find("shared_key") == std::string::npos);

  EXPECT_TRUE(Grant().granted);
  ASSERT_TRUE(RunUntil([&] { return !Last("access.granted").is_null(); }));
  EXPECT_EQ(Last("access.granted")["lock"], "pulsed");
  auto state = link_->WithLock([](locksim::LockPeer& p) { return p.state(); });
  EXPECT_EQ(state.last_action, ble::LockAction::kUnlatch);
  EXPECT_EQ(state.last_action_completion, ble::CompletionStatus::kSuccess);
}

TEST_F(BleLocksTest, TheConnectionIsDroppedDisconnectAfterMsAfterTheLastMessage) {
  Import(Ada());
  StartLocks();
  Pair();
  Grant();
  ASSERT_TRUE(RunUntil([&] { return !Last("access.granted").is_null(); }));
  EXPECT_TRUE(link_->connected());
  Advance(2200);
  EXPECT_TRUE(RunUntil([&] { return !link_->connected(); }));
}

TEST_F(BleLocksTest, AGrantAtAnUnpairedLockIsJournaledFailed) {
  Import(Ada());
  StartLocks();
  EXPECT_TRUE(Grant().granted) << "the decision stands";
  EXPECT_EQ(Last("access.granted")["lock"], "failed");
}

TEST_F(BleLocksTest, AnUnreachableLockFailsAfterTheRetryBudgetAndGoesOffline) {
  Import(Ada());
  StartLocks();
  Pair();
  link_->SetInRange(false);
  Grant();
  for (int i = 0; i < 40 && Last("access.granted").is_null(); ++i) {
    Advance(100, 100);
    Settle();
  }
  ASSERT_TRUE(RunUntil([&] { return !Last("access.granted").is_null(); }));
  EXPECT_EQ(Last("access.granted")["lock"], "failed");
  EXPECT_EQ(Last("device.offline")["device"], "lock-1");
  EXPECT_GE(Last("lock.action_failed")["attempts"].get<int>(), 2) << "retried within the budget";
}

TEST_F(BleLocksTest, ABusyLockIsRetriedAndThenUnlatches) {
  Import(Ada());
  StartLocks();
  Pair();
  link_->WithLock([](locksim::LockPeer& p) {
    p.SetBusy(1);
    return 0;
  });
  Grant();
  for (int i = 0; i < 40 && Last("access.granted").is_null(); ++i) {
    Advance(100, 100);
    Settle();
  }
  EXPECT_EQ(Last("access.granted")["lock"], "pulsed");
}

TEST_F(BleLocksTest, AJammedLockIsUnlockFailedAndJournaledJammed) {
  Import(Ada());
  StartLocks();
  Pair();
  link_->WithLock([](locksim::LockPeer& p) {
    p.SetJammed(true);
    return 0;
  });
  Grant();
  ASSERT_TRUE(RunUntil([&] { return !Last("access.granted").is_null(); }));
  EXPECT_EQ(Last("access.granted")["lock"], "unlock_failed");
  EXPECT_FALSE(Last("lock.jammed").is_null());
  EXPECT_NE(Last("lock.action_failed")["error"].get<std::string>().find("motor blocked"),
            std::string::npos);
}

TEST_F(BleLocksTest, ARevokedAuthorizationIsUnlockFailedNotRetried) {
  Import(Ada());
  StartLocks();
  Pair();
  uint32_t own = Last("lock.paired")["authorization_id"];
  link_->WithLock([own](locksim::LockPeer& p) { return p.SetAuthorizationRevoked(own).ok(); });
  Grant();
  ASSERT_TRUE(RunUntil([&] { return !Last("access.granted").is_null(); }));
  EXPECT_EQ(Last("access.granted")["lock"], "unlock_failed");
  EXPECT_EQ(Last("lock.action_failed")["attempts"], 1);
  EXPECT_NE(Last("lock.action_failed")["error"].get<std::string>().find("not authorized"),
            std::string::npos);
}

TEST_F(BleLocksTest, PairingALockNotInPairingModeSaysSo) {
  StartLocks();
  std::optional<Result<json>> reply;
  locks_->Pair("unit-1", [&reply](Result<json> r) { reply = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return reply.has_value(); }));
  ASSERT_FALSE(reply->ok());
  EXPECT_EQ(reply->status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(reply->status().message().find("not in pairing mode"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "lock-1.nuki"));
}

TEST_F(BleLocksTest, PairingWithAWrongPinKeepsTheCredentialsAndSaysWhichFile) {
  WritePinFile(4321);
  StartLocks();
  link_->WithLock([](locksim::LockPeer& p) {
    p.PressButton();
    return 0;
  });
  std::optional<Result<json>> reply;
  locks_->Pair("unit-1", [&reply](Result<json> r) { reply = std::move(r); });
  ASSERT_TRUE(RunUntil([&] { return reply.has_value(); }));
  ASSERT_FALSE(reply->ok());
  EXPECT_NE(reply->status().message().find("bad PIN"), std::string::npos)
      << reply->status().message();
  EXPECT_NE(reply->status().message().find("lock.pin"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ / "lock-1.nuki"));
}

TEST_F(BleLocksTest, SyncAddsTheCodeWithTheTightestWindowAndJournalsSynced) {
  Import(Ada());
  StartLocks();
  Pair();
  auto until = CodeUntil();
  ASSERT_TRUE(until.has_value()) << "the code is on the lock";
  // Rent paid through 2026-06-30 + 5 days grace, before the lease end.
  EXPECT_EQ(ble::FormatLockDateTime(*until), "2026-07-05 00:00:00");
  EXPECT_EQ(Last("lock.synced")["added"], 1);
  EXPECT_EQ(LockStatus()["sync"]["pending_changes"], 0);
  auto map = gw_->store().LockEntryMap("lock-1");
  ASSERT_TRUE(map.ok());
  ASSERT_EQ(map->size(), 1u);
  EXPECT_EQ((*map)[0].credential, "c-ada");
  auto outbox = gw_->store().LockOutbox("lock-1");
  ASSERT_TRUE(outbox.ok());
  EXPECT_TRUE(outbox->empty());
}

TEST_F(BleLocksTest, APaymentExtendsTheWindowAndACheckOutRemovesTheCode) {
  Import(Ada());
  StartLocks();
  Pair();
  Import(Ada("2027-01-01T00:00:00Z", "2026-07-31T00:00:00Z"));
  Advance(1000, 1000);  // the index check
  ASSERT_TRUE(RunUntil([&] {
    auto u = CodeUntil();
    return u && ble::FormatLockDateTime(*u) == "2026-08-05 00:00:00";
  }));
  ASSERT_TRUE(RunUntil([&] { return Synced(); }));
  EXPECT_EQ(Last("lock.synced")["updated"], 1);
  EXPECT_EQ(Codes().size(), 1u) << "updated in place";

  Import(Nobody());
  Advance(1000, 1000);
  ASSERT_TRUE(RunUntil([&] { return Codes().empty(); }));
  ASSERT_TRUE(RunUntil([&] { return Synced(); }));
  EXPECT_EQ(Last("lock.synced")["removed"], 1);
  auto map = gw_->store().LockEntryMap("lock-1");
  ASSERT_TRUE(map.ok());
  EXPECT_TRUE(map->empty());
}

TEST_F(BleLocksTest, ACheckOutWhileOutOfRangeStaysPendingAndConvergesWhenBack) {
  Import(Ada());
  StartLocks();
  Pair();
  ASSERT_EQ(Codes().size(), 1u);
  link_->SetInRange(false);
  Import(Nobody());
  Advance(1000, 1000);
  ASSERT_TRUE(RunUntil([&] { return LockStatus()["sync"]["failures"] == 1; }));
  EXPECT_EQ(LockStatus()["sync"]["pending_changes"], 1);
  auto outbox = gw_->store().LockOutbox("lock-1");
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ(outbox->front().op.kind, rules::LockOp::Kind::kRemove);
  EXPECT_EQ(outbox->front().attempts, 1u);
  // Retries after 5 s, 10 s: the third failure journals lock.sync_failed.
  for (int i = 0; i < 40 && Last("lock.sync_failed").is_null(); ++i) {
    Advance(1000, 1000);
    Settle();
  }
  EXPECT_EQ(Last("lock.sync_failed")["attempts"], 3);
  EXPECT_EQ(Codes().size(), 1u);

  link_->SetInRange(true);
  for (int i = 0; i < 60 && !Codes().empty(); ++i) {
    Advance(1000, 1000);
    Settle();
  }
  EXPECT_TRUE(Codes().empty());
  ASSERT_TRUE(RunUntil([&] { return Synced(); }));
  EXPECT_EQ(Last("lock.synced")["removed"], 1);
  EXPECT_EQ(LockStatus()["sync"]["failures"], 0);
}

TEST_F(BleLocksTest, ALockThatLostItsCodesGetsThemBack) {
  Import(Ada());
  StartLocks();
  Pair();
  link_->WithLock([](locksim::LockPeer& p) {
    p.LoseCodes();
    return 0;
  });
  ASSERT_TRUE(Codes().empty());
  locks_->SyncAll();
  ASSERT_TRUE(RunUntil([&] { return Codes().size() == 1u && Synced(); }));
  EXPECT_EQ(Codes()[0].code, kCode);
}

TEST_F(BleLocksTest, ACodeTheGatewayDoesNotKnowIsRemoved) {
  link_->WithLock([](locksim::LockPeer& p) { return p.AddKeypadCode(987654, "stranger").ok(); });
  Import(Ada());
  StartLocks();
  Pair();
  std::vector<locksim::LockKeypadCode> codes = Codes();
  ASSERT_EQ(codes.size(), 1u);
  EXPECT_EQ(codes[0].code, kCode);
  EXPECT_EQ(Last("lock.synced")["removed"], 1);
}

TEST_F(BleLocksTest, AWrongSecurityPinFailsTheSyncWithTheLocksError) {
  Import(Ada());
  StartLocks();
  Pair();
  WritePinFile(4321);
  Import(Ada("2027-01-01T00:00:00Z", "2026-07-31T00:00:00Z"));
  Advance(1000, 1000);
  ASSERT_TRUE(RunUntil([&] { return LockStatus()["sync"]["failures"] == 1; }));
  EXPECT_NE(LockStatus()["sync"]["last_error"].get<std::string>().find("bad PIN"),
            std::string::npos);
  EXPECT_EQ(LockStatus()["sync"]["pending_changes"], 1);
  EXPECT_EQ(LockStatus().dump().find("4321"), std::string::npos);
}

TEST_F(BleLocksTest, ABadCrcFailsOneAttemptAndTheRetryConverges) {
  Import(Ada());
  StartLocks();
  Pair();
  link_->WithLock([](locksim::LockPeer& p) {
    p.CorruptNextCrc();
    return 0;
  });
  Import(Ada("2027-01-01T00:00:00Z", "2026-07-31T00:00:00Z"));
  Advance(1000, 1000);
  ASSERT_TRUE(RunUntil([&] { return LockStatus()["sync"]["failures"] == 1; }));
  for (int i = 0; i < 20 && LockStatus()["sync"]["failures"] != 0; ++i) {
    Advance(1000, 1000);
    Settle();
  }
  ASSERT_TRUE(RunUntil([&] { return Synced(); }));
  auto u = CodeUntil();
  ASSERT_TRUE(u);
  EXPECT_EQ(ble::FormatLockDateTime(*u), "2026-08-05 00:00:00");
}

TEST_F(BleLocksTest, ARestartWithAPendingOutboxResumesIt) {
  Import(Ada());
  StartLocks();
  Pair();
  link_->SetInRange(false);
  Import(Nobody());
  Advance(1000, 1000);
  ASSERT_TRUE(RunUntil([&] { return LockStatus()["sync"]["failures"] == 1; }));
  // The daemon goes away (as after kill -9: nothing is flushed on purpose) and comes back.
  locks_.reset();
  gw_.reset();
  link_->SetInRange(true);
  OpenGateway();
  auto outbox = gw_->store().LockOutbox("lock-1");
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 1u) << "the pending removal survived";
  StartLocks();
  ASSERT_TRUE(RunUntil([&] { return Codes().empty() && Synced(); }));
}

TEST_F(BleLocksTest, StateChangesAreJournaledWhenTheAdvertisementSaysSo) {
  Import(Ada());
  StartLocks();
  Pair();
  EXPECT_EQ(Last("lock.state")["state"], "locked");
  link_->WithLock([](locksim::LockPeer& p) {
    p.SetDoor(true);
    p.SetBattery(8, true);
    return 0;
  });
  locks_->NoteAdvertisement(kAddress, true);
  ASSERT_TRUE(RunUntil([&] { return !Last("door.opened").is_null(); }));
  EXPECT_EQ(Last("door.opened")["source"], "lock");
  ASSERT_TRUE(RunUntil([&] { return !Last("lock.battery_low").is_null(); }));
  EXPECT_EQ(Last("lock.battery_low")["low"], true);
  EXPECT_TRUE(LockStatus()["battery_critical"].get<bool>());
}

TEST_F(BleLocksTest, KeypadEntriesFromTheLocksLogAreJournaledWithTheCredential) {
  Import(Ada());
  StartLocks();
  Pair();
  auto result = link_->WithLock([](locksim::LockPeer& p) { return p.EnterKeypadCode(kCode); });
  ASSERT_TRUE(result.accepted());
  link_->WithLock([](locksim::LockPeer& p) { return p.EnterKeypadCode(999999); });
  locks_->NoteAdvertisement(kAddress, true);
  ASSERT_TRUE(RunUntil([&] {
    for (const json& e : Events("access.granted")) {
      if (e.value("source", "") == "lock") return true;
    }
    return false;
  }));
  json granted;
  for (const json& e : Events("access.granted")) {
    if (e.value("source", "") == "lock") granted = e;
  }
  EXPECT_EQ(granted["method"], "keypad");
  EXPECT_EQ(granted["credential"], "c-ada");
  EXPECT_EQ(granted["person"], "ada");
  ASSERT_TRUE(RunUntil([&] { return !Last("access.denied").is_null(); }));
  EXPECT_EQ(Last("access.denied")["source"], "lock");
  EXPECT_EQ(Last("access.denied").dump().find("999999"), std::string::npos);
}

TEST_F(BleLocksTest, StatusShowsCodesNotPushedAndNoSecrets) {
  json records = Ada();
  records["credentials"].push_back({{"id", "c-short"},
                                    {"person", "ada"},
                                    {"type", "pin"},
                                    {"status", "active"},
                                    {"pin", "2468"}});
  Import(records);
  StartLocks();
  Pair();
  json s = LockStatus();
  ASSERT_EQ(s["sync"]["not_pushed"].size(), 1u);
  EXPECT_EQ(s["sync"]["not_pushed"][0]["credential"], "c-short");
  EXPECT_EQ(s["sync"]["not_pushed"][0]["why"], "code_rules");
  std::string text = s.dump();
  EXPECT_EQ(text.find("2468"), std::string::npos);
  EXPECT_EQ(text.find(std::to_string(kCode)), std::string::npos);
  EXPECT_EQ(text.find("1234"), std::string::npos);
}

}  // namespace
}  // namespace lintel::devices
