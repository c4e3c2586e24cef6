// The core in-process with a FakeClock: the time floor across restarts, journaling, imports.
#include "gateway/core/gateway.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "gateway/core/reload.h"

namespace lintel::core {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Instant T(const char* t) { return ParseRfc3339(t).value(); }

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lintel-core-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string yaml = "site: {id: s, time_zone: Europe/Berlin}\ngateway: {id: g}\nstore: {path: " +
                       (dir_ / "l.db").string() +
                       "}\ndoors:\n  - {id: front, common: true}\n  - {id: unit-1}\n";
    auto c = config::LoadConfigText(yaml, "test.yaml");
    ASSERT_TRUE(c.ok()) << c.status().message();
    config_ = *c;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Gateway> Open(const Clock& clock) {
    auto g = Gateway::Open(config_, clock);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? std::move(*g) : nullptr;
  }

  static json Records() {
    return json::parse(R"({
      "people": [{"id": "p1", "name": "Tenant", "role": "tenant"}],
      "leases": [{"id": "l1", "unit": "1", "members": ["p1"], "groups": ["default"],
                  "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}],
      "credentials": [{"id": "c1", "person": "p1", "type": "pin", "status": "active", "pin": "2468"}]
    })");
  }

  json Call(Gateway& g, json request) {
    Result<json> r = g.Handle(request);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : json();
  }

  fs::path dir_;
  config::Config config_;
};

TEST_F(GatewayTest, ClockThatJumpsBackAfterRestartCannotReviveAnEndedLease) {
  FakeClock clock(T("2026-12-02T00:00:00Z"));  // the lease ended yesterday
  {
    auto g = Open(clock);
    ASSERT_TRUE(g);
    Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
    json d = Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
    EXPECT_EQ(d["reason"], "lease_ended");
    ASSERT_TRUE(g->Tick().ok());
  }
  // Power cut, no RTC: the box boots in the past, its clock not synchronized.
  clock.SetWall(T("2026-06-01T00:00:00Z"));
  clock.SetSynchronized(false);
  auto g = Open(clock);
  ASSERT_TRUE(g);
  json d = Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
  EXPECT_EQ(d["reason"], "lease_ended") << d.dump();
  EXPECT_EQ(d["at"], "2026-12-02T00:00:00Z");
  Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
  json events = Call(*g, {{"cmd", "events.tail"}, {"n", 10}})["events"];
  int jumps = 0;
  for (const json& e : events) jumps += e["type"] == "clock.jump";
  EXPECT_EQ(jumps, 1) << "journaled once, not per decision: " << events.dump();
}

int CountEvents(const json& events, const char* type) {
  int n = 0;
  for (const json& e : events) n += e["type"] == type;
  return n;
}

// Issue 10 point 3, as observed: six seconds at 2099 with clock_synced false, then corrected. The
// floor used to stay at 2099 (persisted, across restarts) and deny every lease with an end.
TEST_F(GatewayTest, ClockForwardJumpThenCorrectedDoesNotLockOutEvenAcrossRestarts) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  clock.SetSynchronized(false);
  {
    auto g = Open(clock);
    ASSERT_TRUE(g);
    Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
    EXPECT_EQ(Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}})["result"],
              "granted");
    clock.SetWall(T("2099-01-01T00:00:00Z"));
    clock.Advance(std::chrono::seconds(1));
    json d = Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
    EXPECT_EQ(d["reason"], "lease_ended") << "fail secure while the clock is suspect: " << d;
    EXPECT_EQ(d["clock_suspect"], true);
    EXPECT_EQ(d["at"], "2099-01-01T00:00:01Z") << "the denial is the suspect wall time's";
    Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
    ASSERT_TRUE(g->Tick().ok());
    json status = Call(*g, {{"cmd", "status"}});
    EXPECT_EQ(status["time_floor"], "2026-06-01T10:00:00Z") << "2099 is never the floor";
    EXPECT_EQ(status["clock_suspect"], true);
    json events = Call(*g, {{"cmd", "events.tail"}, {"n", 20}})["events"];
    EXPECT_EQ(CountEvents(events, "clock.suspect"), 1) << "journaled once: " << events.dump();
    EXPECT_NE(events.back()["ts"], "2099-01-01T00:00:01Z") << "events are not stamped 2099";
  }
  {
    // Restarted while the clock still says 2099: not stuck, still fail secure.
    auto g = Open(clock);
    ASSERT_TRUE(g);
    EXPECT_EQ(Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}})["reason"],
              "lease_ended");
    clock.SetWall(T("2026-06-01T10:00:06Z"));  // corrected
    json d = Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
    EXPECT_EQ(d["result"], "granted") << d;
    EXPECT_FALSE(d.contains("clock_suspect"));
    ASSERT_TRUE(g->Tick().ok());
  }
  auto g = Open(clock);
  ASSERT_TRUE(g);
  EXPECT_EQ(Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}})["result"],
            "granted");
  EXPECT_EQ(Call(*g, {{"cmd", "status"}})["time_floor"], "2026-06-01T10:00:06Z");
}

// A store that already holds a floor in 2099 (written by an earlier version) is recoverable: a
// synchronized clock far below it replaces it, journaled, and the lower floor is stored.
TEST_F(GatewayTest, StoredFloorFarInTheFutureIsReplacedByASynchronizedClock) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  clock.SetSynchronized(false);
  {
    auto g = Open(clock);
    ASSERT_TRUE(g);
    Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  }
  {
    auto store = store::Store::Open(config_.store_path, {});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->AdvanceLastKnownGood(T("2099-01-01T00:00:00Z")).ok());
  }
  {
    auto g = Open(clock);
    ASSERT_TRUE(g);
    json d = Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
    EXPECT_EQ(d["reason"], "lease_ended") << "an unsynchronized clock cannot overrule the floor";
    EXPECT_EQ(d["clock_went_back"], true);
    clock.SetSynchronized(true);  // NTP reached
    ASSERT_TRUE(g->Tick().ok());
    EXPECT_EQ(Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}})["result"],
              "granted");
    json events = Call(*g, {{"cmd", "events.tail"}, {"n", 20}})["events"];
    ASSERT_EQ(CountEvents(events, "clock.floor_reset"), 1) << events.dump();
    for (const json& e : events) {
      if (e["type"] != "clock.floor_reset") continue;
      EXPECT_EQ(e["from"], "2099-01-01T00:00:00Z");
      EXPECT_EQ(e["to"], "2026-06-01T10:00:00Z");
      EXPECT_EQ(e["source"], "synchronized clock");
    }
  }
  clock.SetSynchronized(false);
  auto g = Open(clock);
  ASSERT_TRUE(g);
  EXPECT_EQ(Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}})["result"],
            "granted")
      << "the replaced floor was stored";
}

TEST_F(GatewayTest, LivePresentationsAreJournaledAndWhatIfsAreNot) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = Open(clock);
  ASSERT_TRUE(g);
  Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  uint64_t before = Call(*g, {{"cmd", "status"}})["events"]["last_seq"];
  json d = Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
  EXPECT_EQ(d["result"], "granted");
  d = Call(
      *g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}, {"at", "2027-01-01T00:00:00Z"}});
  EXPECT_EQ(d["reason"], "lease_ended");
  Call(*g, {{"cmd", "explain"}, {"door", "front"}, {"pin", "2468"}});
  json status = Call(*g, {{"cmd", "status"}});
  EXPECT_EQ(status["events"]["last_seq"].get<uint64_t>(), before + 1);
  EXPECT_EQ(status["time_floor"], "2026-06-01T10:00:00Z") << "a what-if never moves the floor";
  json last = Call(*g, {{"cmd", "events.tail"}, {"n", 1}})["events"][0];
  EXPECT_EQ(last["type"], "access.granted");
  EXPECT_EQ(last["credential"], "c1");
  EXPECT_FALSE(last.contains("pin")) << "PIN digits are never journaled";
  EXPECT_EQ(last.dump().find("2468"), std::string::npos);
}

TEST_F(GatewayTest, LocalImportIsRefusedOnceCloudManaged) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  {
    auto g = Open(clock);
    ASSERT_TRUE(g);
  }
  {
    auto store = store::Store::Open(config_.store_path, {});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->ReplaceState({}, store::Position{1, 7}).ok());
  }
  auto g = Open(clock);
  ASSERT_TRUE(g);
  Result<json> r = g->Handle({{"cmd", "state.import"}, {"records", Records()}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("source of truth"), std::string::npos);
}

TEST_F(GatewayTest, ReloadRebuildsTheIndexForTheNewDoors) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = Open(clock);
  ASSERT_TRUE(g);
  Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  config::Config next = config_;
  next.doors.push_back({"garage", "Garage", true, 5000, 30});
  ASSERT_TRUE(g->Reload(next).ok());
  json d = Call(*g, {{"cmd", "present"}, {"door", "garage"}, {"pin", "2468"}});
  EXPECT_EQ(d["result"], "granted") << "the default group now includes the new common door";
  next.store_path = "/elsewhere.db";
  EXPECT_EQ(g->Reload(next).code(), StatusCode::kFailedPrecondition);
}

// Issue 10 point 11: a SIGHUP config is taken whole or not at all.
TEST(ReloadAll, ARefusalByALaterPartCommitsNoPart) {
  std::vector<std::string> done;
  std::vector<ReloadPart> parts = {
      {"core", [] { return Status::Ok(); }, [&] { done.push_back("core"); }},
      {"cloud sync", [] { return Status::FailedPrecondition("site.id cannot change"); },
       [&] { done.push_back("cloud sync"); }},
      {"devices", nullptr, [&] { done.push_back("devices"); }},
  };
  Status s = ReloadAll(parts);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "cloud sync: site.id cannot change");
  EXPECT_TRUE(done.empty()) << "nothing switched over";
  parts[1].prepare = [] { return Status::Ok(); };
  ASSERT_TRUE(ReloadAll(parts).ok());
  EXPECT_EQ(done, (std::vector<std::string>{"core", "cloud sync", "devices"})) << "in order";
}

TEST_F(GatewayTest, PrepareReloadChangesNothingUntilCommitted) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = Open(clock);
  ASSERT_TRUE(g);
  Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  config::Config next = config_;
  next.doors.push_back({"garage", "Garage", true, 5000, 30});
  Result<Gateway::PreparedReload> prepared = g->PrepareReload(next);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_EQ(g->engine().index()->FindDoor("garage"), rules::kNone) << "prepared, not committed";
  EXPECT_EQ(g->config().doors.size(), 2u);
  g->CommitReload(std::move(*prepared));
  EXPECT_NE(g->engine().index()->FindDoor("garage"), rules::kNone);
  EXPECT_EQ(g->config().doors.size(), 3u);
}

TEST_F(GatewayTest, UnknownCommandsAndDoorsAreClearErrors) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = Open(clock);
  ASSERT_TRUE(g);
  Result<json> r = g->Handle({{"cmd", "open_sesame"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown command"), std::string::npos);
  r = g->Handle({{"cmd", "present"}, {"door", "cellar"}, {"pin", "2468"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cellar"), std::string::npos);
  r = g->Handle({{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}, {"uid", "04"}});
  EXPECT_FALSE(r.ok()) << "exactly one credential";
}

}  // namespace
}  // namespace lintel::core

namespace lintel::core {
namespace {

TEST_F(GatewayTest, AdmitPulsesTheLockAndCallsBackBeforeJournaling) {
  FakeClock clock(T("2026-06-01T12:00:00Z"));
  auto g = Open(clock);
  ASSERT_TRUE(g);
  Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  std::vector<int64_t> pulses;
  g->SetActuator("front", [&](std::chrono::milliseconds ms) {
    pulses.push_back(ms.count());
    return Status::Ok();
  });
  rules::Request at_front{"front", "front-keypad", rules::PinPresented("2468")};
  size_t journaled_at_callback = 99;
  rules::Decision d = g->Admit(at_front, "wiegand", [&](const rules::Decision& decided) {
    EXPECT_TRUE(decided.granted);
    EXPECT_EQ(pulses.size(), 1u) << "the lock moves first";
    journaled_at_callback = Call(*g, {{"cmd", "events.tail"}, {"n", 100}})["events"].size();
  });
  EXPECT_TRUE(d.granted);
  EXPECT_EQ(pulses, std::vector<int64_t>{5000}) << "the door's unlock_ms";
  json events = Call(*g, {{"cmd", "events.tail"}, {"n", 100}})["events"];
  EXPECT_EQ(journaled_at_callback + 1, events.size()) << "journaled after the callback";
  EXPECT_EQ(events.back()["type"], "access.granted");
  EXPECT_EQ(events.back()["lock"], "pulsed");
  EXPECT_EQ(events.back()["reader"], "front-keypad");

  // A failing actuator: still a grant (the engine decided), journaled as lock "failed".
  g->SetActuator("front", [](std::chrono::milliseconds) { return Status::IoError("relay"); });
  EXPECT_TRUE(g->Admit(at_front, "wiegand").granted);
  EXPECT_EQ(Call(*g, {{"cmd", "events.tail"}, {"n", 1}})["events"][0]["lock"], "failed");
  // A door without an actuator: "none". A denial moves nothing and has no "lock".
  EXPECT_FALSE(g->Admit({"unit-1", "", rules::PinPresented("2468")}, "wiegand").granted);
  json last = Call(*g, {{"cmd", "events.tail"}, {"n", 1}})["events"][0];
  EXPECT_EQ(last["type"], "access.denied");
  EXPECT_FALSE(last.contains("lock"));
  // lintelctl's present never moves a lock.
  size_t before = pulses.size();
  g->SetActuator("front", [&](std::chrono::milliseconds ms) {
    pulses.push_back(ms.count());
    return Status::Ok();
  });
  EXPECT_TRUE(g->Present(at_front, "lintelctl").granted);
  EXPECT_EQ(pulses.size(), before);
  // Removing the actuator (door I/O reconfigured) leaves the door without one, not a null call.
  g->SetActuator("front", nullptr);
  EXPECT_TRUE(g->Admit(at_front, "wiegand").granted);
  EXPECT_EQ(Call(*g, {{"cmd", "events.tail"}, {"n", 1}})["events"][0]["lock"], "none");
  EXPECT_EQ(g->Unlock("front", std::chrono::milliseconds(1000)).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace lintel::core
