// BluezGattLink and BluezScanner (drivers/ble/bluez_link.h) against tools/lock-sim owning
// org.bluez on a private dbus-daemon the test starts; the link finds that bus through
// DBUS_SYSTEM_BUS_ADDRESS, as the daemon would find the real one. lock-sim plays the locks with
// its echo peripheral: every write comes back as an indication, `EC n` as n indications.
#include <gtest/gtest.h>
#include <sdbus-c++/sdbus-c++.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <vector>

#include "drivers/ble/ble_scan.h"
#include "drivers/ble/bluez_link.h"
#include "tests/integration/lock_sim.h"

namespace lintel::ble {
namespace {

using lintel::testing::Has;
using lintel::testing::LockSimProcess;
using lintel::testing::PrivateBus;
using lintel::testing::WaitFor;
using std::chrono::milliseconds;
using Bytes = std::vector<uint8_t>;

constexpr const char* kLock = "AA:BB:CC:DD:EE:01";
constexpr const char* kLock2 = "AA:BB:CC:DD:EE:02";
constexpr const char* kGdio = "a92ee201-5501-11e4-916c-0800200c9a66";
constexpr const char* kUsdio = "a92ee202-5501-11e4-916c-0800200c9a66";
constexpr const char* kKeyturnerService = "a92ee200-5501-11e4-916c-0800200c9a66";
constexpr milliseconds kConnect{10'000};
constexpr milliseconds kWait{10'000};

// Collects the scanner's advertisements (the callback runs on the scanner's bus thread).
struct Adverts {
  std::mutex mu;
  std::vector<Advertisement> seen;
  BleScanner::AdvertisementCallback Callback() {
    return [this](const Advertisement& ad) {
      std::lock_guard<std::mutex> l(mu);
      seen.push_back(ad);
    };
  }
  // How many adverts of `address` with that state-changed bit.
  size_t Count(const std::string& address, bool state_changed) {
    std::lock_guard<std::mutex> l(mu);
    return std::count_if(seen.begin(), seen.end(), [&](const Advertisement& a) {
      return a.address == address && IBeaconStateChanged(a) == state_changed;
    });
  }
};

class BleLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = lintel::testing::FreshTestDir("ble-link").string();
    bus_ = std::make_unique<PrivateBus>(dir_);
    ASSERT_TRUE(bus_->Start()) << lintel::testing::ReadFile(dir_ + "/dbus-daemon.log");
    // The link opens "the system bus": this one.
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_->address().c_str(), 1);
    sim_ = std::make_unique<LockSimProcess>(
        dir_, bus_->address(),
        std::vector<std::string>{"--lock", kLock, "--lock", kLock2, "--resolve-delay-ms", "200",
                                 "--connect-delay-ms", "20", "-v"});
    ASSERT_TRUE(sim_->Start()) << lintel::testing::ReadFile(sim_->log_path());
  }
  void TearDown() override {
    link_.reset();
    scanner_.reset();
    sim_.reset();
    bus_.reset();
    ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
  }

  BluezGattLink& Link(BluezOptions o = {}) {
    Result<std::unique_ptr<BluezGattLink>> l = BluezGattLink::Open(std::move(o));
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    link_ = std::move(*l);
    return *link_;
  }

  // The written bytes come back as the next indication of the same characteristic.
  void ExpectEcho(BluezGattLink& link, const char* uuid, const Bytes& value) {
    ASSERT_TRUE(link.Write(uuid, value).ok());
    Result<Bytes> got = link.NextIndication(uuid, kWait);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, value);
  }

  std::string dir_;
  std::unique_ptr<PrivateBus> bus_;
  std::unique_ptr<LockSimProcess> sim_;
  std::unique_ptr<BluezGattLink> link_;
  Adverts adverts_;  // outlives scanner_, whose callback fills it
  std::unique_ptr<BluezScanner> scanner_;
};

TEST_F(BleLinkTest, ConnectWaitsForServicesResolvedThenWritesReachThePeripheralAsRequests) {
  BluezGattLink& link = Link();
  Status s = link.Connect("aa:bb:cc:dd:ee:01", kConnect);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(link.connected());
  // lock-sim prints each line before it emits the signal: when Connect returned, ServicesResolved
  // had been emitted (200 ms after Connected), and StartNotify called on every characteristic.
  EXPECT_EQ(sim_->Count(Has("lock", kLock, "services_resolved", true)), 1u);
  EXPECT_EQ(sim_->Count(Has("lock", kLock, "notify", "on")), 3u);

  ExpectEcho(link, kUsdio, {0x01, 0x02, 0x03});
  auto write = [](const nlohmann::json& j) {
    return j.value("write", "") == kUsdio && j.value("type", "") == "request" &&
           j.value("hex", "") == "010203";
  };
  EXPECT_EQ(sim_->Count(write), 1u);
}

TEST_F(BleLinkTest, EchoedIndicationsArriveInOrder) {
  BluezGattLink& link = Link();
  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  ASSERT_TRUE(link.Write(kGdio, Bytes{0xEC, 40}).ok());
  for (int i = 0; i < 40; ++i) {
    Result<Bytes> got = link.NextIndication(kGdio, kWait);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status().ToString();
    EXPECT_EQ(*got, (Bytes{0xEC, static_cast<uint8_t>(i)}));
  }
  // Each characteristic has its own queue.
  ExpectEcho(link, kUsdio, {0x42});
}

TEST_F(BleLinkTest, IndicationsArriveAfterDisconnectAndReconnectBecauseStartNotifyIsRepeated) {
  BluezGattLink& link = Link();
  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  ExpectEcho(link, kUsdio, {0x10});
  link.Disconnect();
  EXPECT_FALSE(link.connected());
  ASSERT_TRUE(sim_->WaitForLines(Has("lock", kLock, "disconnected", "client")));

  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  ExpectEcho(link, kUsdio, {0x11});
  auto usdio_on = [](const nlohmann::json& j) {
    return j.value("notify", "") == "on" && j.value("char", "") == kUsdio;
  };
  EXPECT_EQ(sim_->Count(usdio_on), 2u);  // once per connection
}

// What the repeated StartNotify is for: lock-sim, like BlueZ, sends nothing to a central that
// did not ask in this connection.
TEST_F(BleLinkTest, LockSimSendsNoIndicationWithoutStartNotifyInTheConnection) {
  auto conn = sdbus::createSessionBusConnectionWithAddress(bus_->address());
  const std::string dev = BluezDevicePath("hci0", kLock);
  auto device = sdbus::createProxy(*conn, "org.bluez", dev);
  device->callMethod("Connect").onInterface("org.bluez.Device1");
  std::string path = sim_->Control("state")["state"]["locks"][0]["characteristics"][kUsdio]["path"];
  auto chr = sdbus::createProxy(*conn, "org.bluez", path);
  std::map<std::string, sdbus::Variant> options{{"type", sdbus::Variant(std::string("request"))}};
  chr->callMethod("WriteValue")
      .onInterface("org.bluez.GattCharacteristic1")
      .withArguments(Bytes{0x01}, options);
  EXPECT_TRUE(sim_->WaitForLines(Has("reason", "notifications off")));

  chr->callMethod("StartNotify").onInterface("org.bluez.GattCharacteristic1");
  device->callMethod("Disconnect").onInterface("org.bluez.Device1");
  device->callMethod("Connect").onInterface("org.bluez.Device1");
  chr->callMethod("WriteValue")
      .onInterface("org.bluez.GattCharacteristic1")
      .withArguments(Bytes{0x02}, options);
  EXPECT_TRUE(sim_->WaitForLines(Has("reason", "notifications off"), 2));
  EXPECT_EQ(sim_->Count(Has("indication", kUsdio)), 0u);
}

TEST_F(BleLinkTest, AFullQueueKeepsTheNewestAndReportsTheDroppedOnes) {
  BluezOptions o;
  o.max_queued_indications = 64;
  BluezGattLink& link = Link(o);
  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  ASSERT_TRUE(link.Write(kGdio, Bytes{0xEC, 100}).ok());
  // lock-sim answers a write, then sends its indications; D-Bus keeps one sender's order. So
  // when this second write (to the other characteristic) returns, the 100 indications of the
  // first have been handled: 64 kept, 36 dropped.
  ASSERT_TRUE(link.Write(kUsdio, Bytes{0x55}).ok());
  Result<Bytes> first = link.NextIndication(kGdio, kWait);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(first.status().message().find("36 indications"), std::string::npos)
      << first.status().message();
  for (int i = 36; i < 100; ++i) {
    Result<Bytes> got = link.NextIndication(kGdio, kWait);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, (Bytes{0xEC, static_cast<uint8_t>(i)}));
  }
  // The other characteristic's queue was not affected.
  Result<Bytes> other = link.NextIndication(kUsdio, kWait);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, Bytes{0x55});
}

TEST_F(BleLinkTest, OutOfRangeConnectFailsWithBluezError) {
  ASSERT_EQ(sim_->Control(std::string("range ") + kLock + " out")["ok"], true);
  BluezGattLink& link = Link();
  Status s = link.Connect(kLock, kConnect);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("org.bluez.Error.Failed: le-connection-abort-by-local"),
            std::string::npos)
      << s.message();
  EXPECT_FALSE(link.connected());

  ASSERT_EQ(sim_->Control(std::string("range ") + kLock + " in")["ok"], true);
  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  ExpectEcho(link, kGdio, {0x01});
}

TEST_F(BleLinkTest, ConnectTimesOutAndCancelsBluezAttempt) {
  ASSERT_EQ(sim_->Control(std::string("connect-delay ") + kLock + " 60000")["ok"], true);
  BluezGattLink& link = Link();
  Status s = link.Connect(kLock, milliseconds(300));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();
  EXPECT_TRUE(lintel::ble::IsDeadlineExceeded(s)) << s.message();
  EXPECT_TRUE(sim_->WaitForLines(Has("lock", kLock, "connect", "cancelled")));

  ASSERT_EQ(sim_->Control(std::string("connect-delay ") + kLock + " 10")["ok"], true);
  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  ExpectEcho(link, kGdio, {0x02});
}

TEST_F(BleLinkTest, ConnectTimesOutWaitingForServicesResolved) {
  ASSERT_EQ(sim_->Control(std::string("resolve-delay ") + kLock + " 60000")["ok"], true);
  BluezGattLink& link = Link();
  Status s = link.Connect(kLock, milliseconds(500));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("ServicesResolved"), std::string::npos) << s.message();
  EXPECT_TRUE(sim_->WaitForLines(Has("lock", kLock, "disconnected", "client")));
}

TEST_F(BleLinkTest, ALinkThatDropsFailsTheWaitingCallAndWrites) {
  BluezGattLink& link = Link();
  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  ASSERT_EQ(sim_->Control(std::string("range ") + kLock + " out")["ok"], true);
  // Waits for an indication that cannot come: the drop ends the wait, not the timeout.
  Result<Bytes> got = link.NextIndication(kGdio, milliseconds(60'000));
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("disconnected"), std::string::npos)
      << got.status().message();
  EXPECT_FALSE(link.connected());
  EXPECT_EQ(link.Write(kGdio, Bytes{1}).code(), StatusCode::kUnavailable);
}

TEST_F(BleLinkTest, ADroppedIndicationIsATimeout) {
  BluezGattLink& link = Link();
  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  ASSERT_EQ(sim_->Control(std::string("drop-indications ") + kLock + " 1")["ok"], true);
  ASSERT_TRUE(link.Write(kGdio, Bytes{0x07}).ok());
  ASSERT_TRUE(sim_->WaitForLines(Has("reason", "dropped")));
  Result<Bytes> got = link.NextIndication(kGdio, milliseconds(200));
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find("timed out"), std::string::npos);
  EXPECT_TRUE(lintel::ble::IsDeadlineExceeded(got.status())) << got.status().message();
  ExpectEcho(link, kGdio, {0x08});  // the next one flows again
}

TEST_F(BleLinkTest, ErrorsAreStatusesNamingTheCause) {
  BluezGattLink& link = Link();
  EXPECT_EQ(link.Write(kGdio, Bytes{1}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(link.NextIndication(kGdio, milliseconds(1)).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(link.Connect("AA:BB:CC", kConnect).code(), StatusCode::kInvalidArgument);
  Status unknown = link.Connect("11:22:33:44:55:66", kConnect);
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();

  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  EXPECT_EQ(link.Write("0000180f-0000-1000-8000-00805f9b34fb", Bytes{1}).code(),
            StatusCode::kNotFound);
  Status too_long = link.Write(kGdio, Bytes(21, 0));
  EXPECT_EQ(too_long.code(), StatusCode::kInvalidArgument) << too_long.ToString();
  EXPECT_NE(too_long.message().find("org.bluez.Error.InvalidValueLength"), std::string::npos);
  ASSERT_EQ(sim_->Control(std::string("peer ") + kLock + " fail-writes 1")["ok"], true);
  Status refused = link.Write(kGdio, Bytes{1});
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("org.bluez.Error.Failed: echo: write refused"),
            std::string::npos)
      << refused.message();
  ExpectEcho(link, kGdio, {0x09});
}

TEST_F(BleLinkTest, BluetoothdGoingAwayIsUnavailable) {
  BluezGattLink& link = Link();
  ASSERT_TRUE(link.Connect(kLock, kConnect).ok());
  EXPECT_EQ(sim_->Stop(), 0);
  EXPECT_TRUE(WaitFor([&] { return !link.connected(); }, kWait));
  EXPECT_EQ(link.Write(kGdio, Bytes{1}).code(), StatusCode::kUnavailable);
  Status s = link.Connect(kLock, kConnect);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("not on the bus"), std::string::npos) << s.message();
}

TEST_F(BleLinkTest, ScannerFiltersByTheServiceAndReadsTheStateChangedBit) {
  Result<std::unique_ptr<BluezScanner>> scanner = BluezScanner::Open({});
  ASSERT_TRUE(scanner.ok()) << scanner.status().ToString();
  scanner_ = std::move(*scanner);
  ASSERT_TRUE(scanner_->Start(kKeyturnerService, adverts_.Callback()).ok());
  EXPECT_TRUE(scanner_->scanning());
  EXPECT_EQ(scanner_->Start(kKeyturnerService, adverts_.Callback()).code(),
            StatusCode::kFailedPrecondition);
  auto filter = [](const nlohmann::json& j) {
    return j.value("discovery", "") == "filter" &&
           j["uuids"] == nlohmann::json{kKeyturnerService} && j["transport"] == "le";
  };
  EXPECT_EQ(sim_->Count(filter), 1u);
  ASSERT_TRUE(WaitFor([&] { return adverts_.Count(kLock, false) >= 1; }, kWait));
  ASSERT_TRUE(WaitFor([&] { return adverts_.Count(kLock2, false) >= 1; }, kWait));
  {
    std::lock_guard<std::mutex> l(adverts_.mu);
    const Advertisement& a = adverts_.seen.front();
    EXPECT_EQ(a.rssi, -60);
    EXPECT_NE(std::find(a.uuids.begin(), a.uuids.end(), kKeyturnerService), a.uuids.end());
  }

  ASSERT_EQ(sim_->Control(std::string("advertise ") + kLock + " state-changed")["ok"], true);
  EXPECT_TRUE(WaitFor([&] { return adverts_.Count(kLock, true) == 1; }, kWait));

  ASSERT_TRUE(scanner_->Stop().ok());
  EXPECT_FALSE(scanner_->scanning());
  EXPECT_TRUE(sim_->WaitForLines(Has("discovery", "stopped")));
}

TEST_F(BleLinkTest, AStaleGattCacheIsRecoveredByRemovingAndRediscoveringTheDevice) {
  BluezOptions o;
  o.required_characteristics = {kGdio, kUsdio};
  BluezGattLink& link = Link(o);
  ASSERT_EQ(sim_->Control(std::string("stale-cache ") + kLock)["ok"], true);
  Status s = link.Connect(kLock, kConnect);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("stale GATT cache"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("removed from hci0"), std::string::npos) << s.message();
  EXPECT_TRUE(sim_->WaitForLines(Has("lock", kLock, "device", "removed")));
  // Gone from BlueZ until rediscovered.
  EXPECT_EQ(link.Connect(kLock, kConnect).code(), StatusCode::kNotFound);

  Result<std::unique_ptr<BluezScanner>> scanner = BluezScanner::Open({});
  ASSERT_TRUE(scanner.ok());
  scanner_ = std::move(*scanner);
  ASSERT_TRUE(scanner_->Start(kKeyturnerService, adverts_.Callback()).ok());
  EXPECT_TRUE(WaitFor([&] { return adverts_.Count(kLock, false) >= 1; }, kWait));
  EXPECT_TRUE(sim_->WaitForLines(Has("lock", kLock, "device", "added")));
  ASSERT_TRUE(scanner_->Stop().ok());

  s = link.Connect(kLock, kConnect);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectEcho(link, kUsdio, {0x0A});
}

TEST(LockSim, ExitCodesForUsageAndATakenName) {
  std::string dir = lintel::testing::FreshTestDir("lock-sim").string();
  const std::string bin = lintel::testing::BinaryDir() + "/tools/lock-sim/lock-sim";
  ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
  EXPECT_EQ(lintel::testing::RunProgram({bin, "--lock", kLock}).exit_code, 1);  // no bus
  PrivateBus bus(dir);
  ASSERT_TRUE(bus.Start());
  EXPECT_EQ(lintel::testing::RunProgram({bin, "--bus", bus.address(), "--lock", "nope"}).exit_code,
            1);
  EXPECT_EQ(lintel::testing::RunProgram({bin, "--bus", bus.address()}).exit_code, 1);  // no lock
  LockSimProcess first(dir, bus.address(), {"--lock", kLock});
  ASSERT_TRUE(first.Start());
  lintel::testing::RunResult second =
      lintel::testing::RunProgram({bin, "--bus", bus.address(), "--lock", kLock2});
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_NE(second.err.find("org.bluez"), std::string::npos) << second.err;
  EXPECT_EQ(first.Control("quit")["ok"], true);
  EXPECT_TRUE(first.WaitForLines(Has("stopped", "quit")));
}

TEST(LockSim, LocksComeFromAConfigFileAndAreAddressedByName) {
  std::string dir = lintel::testing::FreshTestDir("lock-sim").string();
  PrivateBus bus(dir);
  ASSERT_TRUE(bus.Start());
  {
    std::ofstream(dir + "/bad.json")
        << R"({"locks": [{"address": "AA:BB:CC:DD:EE:10", "pin": 1}]})";
    lintel::testing::RunResult bad =
        lintel::testing::RunProgram({lintel::testing::BinaryDir() + "/tools/lock-sim/lock-sim",
                                     "--bus", bus.address(), "--config", dir + "/bad.json"});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("bad.json: unknown lock key \"pin\""), std::string::npos) << bad.err;
  }
  std::ofstream(dir + "/locks.json") << R"({"adapter": "hci1", "locks": [
      {"address": "aa:bb:cc:dd:ee:10", "name": "front", "connect_delay_ms": 5, "in_range": false}]})";
  LockSimProcess sim(dir, bus.address(), {"--config", dir + "/locks.json"});
  ASSERT_TRUE(sim.Start()) << lintel::testing::ReadFile(sim.log_path());
  nlohmann::json state = sim.Control("state")["state"];
  EXPECT_EQ(state["adapter"], "/org/bluez/hci1");
  EXPECT_EQ(state["locks"][0]["address"], "AA:BB:CC:DD:EE:10");
  EXPECT_EQ(state["locks"][0]["path"], "/org/bluez/hci1/dev_AA_BB_CC_DD_EE_10");
  EXPECT_EQ(state["locks"][0]["in_range"], false);
  EXPECT_EQ(sim.Control("range front in")["ok"], true);
  EXPECT_EQ(sim.Control("state")["state"]["locks"][0]["in_range"], true);
  nlohmann::json unknown = sim.Control("range back in");
  EXPECT_EQ(unknown["ok"], false);
  EXPECT_NE(unknown["error"].get<std::string>().find("no lock \"back\""), std::string::npos);

  BluezOptions o;
  o.adapter = "hci1";
  o.bus_address = bus.address();  // an explicit address instead of the system bus
  Result<std::unique_ptr<BluezGattLink>> link = BluezGattLink::Open(o);
  ASSERT_TRUE(link.ok());
  ASSERT_TRUE((*link)->Connect("AA:BB:CC:DD:EE:10", kConnect).ok());
  ASSERT_TRUE((*link)->Write(kGdio, Bytes{0x33}).ok());
  Result<Bytes> echo = (*link)->NextIndication(kGdio, kWait);
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(*echo, Bytes{0x33});
}

}  // namespace
}  // namespace lintel::ble
