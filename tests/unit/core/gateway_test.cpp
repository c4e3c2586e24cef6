// The core in-process with a FakeClock: the time floor across restarts, journaling, imports.
#include "gateway/core/gateway.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "config/config.h"
#include "gateway/core/journal_queue.h"
#include "gateway/core/reload.h"
#include "gateway/store/fault_store.h"

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

// Issue 14 point 4: events.since pages through the journal after a seq (what `lintelctl events tail
// --follow` polls) and from a time on (--since), on the fake clock.
TEST_F(GatewayTest, EventsSincePagesAfterASeqAndFromATime) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = Open(clock);
  ASSERT_TRUE(g);
  Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  for (int i = 0; i < 3; ++i) {
    Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "1111"}});
    clock.Advance(std::chrono::minutes(10));
  }
  json all = Call(*g, {{"cmd", "events.since"}});
  ASSERT_GE(all["events"].size(), 4u) << all.dump();  // the import and three decisions
  uint64_t last = all["last_seq"];
  EXPECT_EQ(all["events"].back()["seq"], last);
  EXPECT_EQ(all["more"], false);

  // Two at a time after the first: "more" until the end, then nothing new.
  uint64_t after = all["events"][0]["seq"];
  std::vector<uint64_t> seqs;
  json page;
  do {
    page = Call(*g, {{"cmd", "events.since"}, {"after", after}, {"limit", 2}});
    for (const json& e : page["events"]) seqs.push_back(e["seq"]);
    after = page["next_after"];
  } while (page["more"] == true);
  ASSERT_EQ(seqs.size(), all["events"].size() - 1);
  EXPECT_EQ(seqs.back(), last);
  EXPECT_TRUE(Call(*g, {{"cmd", "events.since"}, {"after", last}})["events"].empty());

  // From a time on: only the decisions 10 minutes and more after the first.
  json later = Call(*g, {{"cmd", "events.since"}, {"since", "2026-06-01T10:10:00Z"}});
  ASSERT_EQ(later["events"].size(), 2u) << later.dump();
  for (const json& e : later["events"]) EXPECT_EQ(e["type"], "access.denied");
  EXPECT_EQ(later["next_after"], last) << "read to the end, shown or not";

  EXPECT_FALSE(g->Handle({{"cmd", "events.since"}, {"since", "yesterday"}}).ok());
  EXPECT_FALSE(g->Handle({{"cmd", "events.since"}, {"after", -1}}).ok());
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
  EXPECT_EQ(Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}})["result"], "granted")
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

// ---- issue 10, points 2 and 15: a store that cannot be written (FaultStore) ----------------

class FaultyStoreTest : public GatewayTest {
 protected:
  std::unique_ptr<Gateway> OpenFaulty(const Clock& clock) {
    auto g = Gateway::Open(config_, clock, store::FaultPlan::Opener(faults_));
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? std::move(*g) : nullptr;
  }
  std::vector<json> Tail(Gateway& g, int n) {
    std::vector<json> out;
    json answer = Call(g, {{"cmd", "events.tail"}, {"n", n}});
    for (const json& e : answer["events"]) out.push_back(e);
    return out;
  }
  std::shared_ptr<store::FaultPlan> faults_ = std::make_shared<store::FaultPlan>();
};

TEST_F(FaultyStoreTest, StartsAndDecidesOnAStoreThatCannotBeWritten) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  {
    auto g = OpenFaulty(clock);
    ASSERT_TRUE(g);
    Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  }
  // The disk filled up, then the power went: before, Open failed ("advance last-known-good
  // time: database or disk is full") and no door was decided at all.
  faults_->FailWrites(store::Fault::kDiskFull);
  auto g = OpenFaulty(clock);
  ASSERT_TRUE(g);
  json d = Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
  EXPECT_EQ(d["result"], "granted");
  json status = Call(*g, {{"cmd", "status"}});
  EXPECT_EQ(status["events"]["unwritten"], 2) << "gateway.started and the decision";
  EXPECT_EQ(status["store"]["writable"], false);
  EXPECT_NE(status["store"]["error"].get<std::string>().find("database or disk is full"),
            std::string::npos);
}

TEST_F(FaultyStoreTest, DecisionsAndReadOnlyCommandsWorkWhileFullAndEventsAreWrittenLater) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenFaulty(clock);
  ASSERT_TRUE(g);
  Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  uint64_t last_seq = Call(*g, {{"cmd", "status"}})["events"]["last_seq"];
  faults_->FailWrites(store::Fault::kDiskFull);
  for (int i = 0; i < 20; ++i) {
    clock.Advance(std::chrono::seconds(61));  // no keypad lockout from the denials below
    rules::Request r{"front", "", rules::PinPresented("2468")};
    EXPECT_TRUE(g->Admit(r, "reader").granted);
    // Before: every command failed with the flush error ("database or disk is full").
    json d = Call(*g, {{"cmd", "present"}, {"door", "unit-1"}, {"pin", "2468"}});
    EXPECT_EQ(d["result"], "denied");
    Call(*g, {{"cmd", "explain"}, {"door", "front"}, {"pin", "2468"}});
  }
  EXPECT_EQ(Tail(*g, 1).back()["type"], "sync.applied") << "the journal is still readable";
  json status = Call(*g, {{"cmd", "status"}});
  EXPECT_EQ(status["events"]["unwritten"], 40);
  EXPECT_EQ(status["events"]["lost"], 0);
  EXPECT_EQ(status["events"]["last_seq"], last_seq);
  EXPECT_EQ(faults_->failed_writes(), 1u)
      << "one failed write, then no write per decision until housekeeping retries";
  EXPECT_FALSE(g->Tick().ok()) << "housekeeping retries (and reports) while still full";
  EXPECT_EQ(g->unwritten_events(), 40u);

  faults_->FailWrites(store::Fault::kNone);  // space returns
  ASSERT_TRUE(g->Tick().ok());
  EXPECT_EQ(g->unwritten_events(), 0u);
  std::vector<json> events = Tail(*g, 40);
  ASSERT_EQ(events.size(), 40u);
  EXPECT_EQ(events.front()["seq"], last_seq + 1);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["type"], i % 2 == 0 ? "access.granted" : "access.denied") << i;
    EXPECT_EQ(events[i]["door"], i % 2 == 0 ? "front" : "unit-1") << i;
  }
  status = Call(*g, {{"cmd", "status"}});
  EXPECT_EQ(status["store"]["writable"], true);
  EXPECT_FALSE(status["store"].contains("error"));
}

TEST_F(FaultyStoreTest, OverflowDropsOldestNonAccessEventsFirstAndJournalsEventsLost) {
  config_.max_unwritten_events = 100;
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenFaulty(clock);
  ASSERT_TRUE(g);
  Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  faults_->FailWrites(store::Fault::kIoError);
  for (int i = 0; i < 10; ++i) g->JournalLater({{"type", "device.offline"}, {"n", i}});
  for (int i = 0; i < 120; ++i) {
    clock.Advance(std::chrono::seconds(1));
    Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
  }
  json status = Call(*g, {{"cmd", "status"}});
  EXPECT_EQ(status["events"]["unwritten"], 100);
  EXPECT_EQ(status["events"]["lost"], 30) << "the 10 other events, then the 20 oldest decisions";

  faults_->FailWrites(store::Fault::kNone);
  ASSERT_TRUE(g->Tick().ok());
  std::vector<json> events = Tail(*g, 101);
  ASSERT_EQ(events.size(), 101u);
  const json& lost = events.front();
  EXPECT_EQ(lost["type"], "events.lost") << lost.dump();
  EXPECT_EQ(lost["count"], 30);
  EXPECT_EQ(lost["access"], 20);
  EXPECT_EQ(lost["other"], 10);
  EXPECT_EQ(lost["to"], "2026-06-01T10:00:20Z") << "the newest dropped decision";
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["type"], "access.granted") << i;
  }
  EXPECT_EQ(events[1]["ts"], "2026-06-01T10:00:21Z") << "the oldest decision kept";
  EXPECT_EQ(events.back()["ts"], "2026-06-01T10:02:00Z");
  EXPECT_EQ(Call(*g, {{"cmd", "status"}})["events"]["lost"], 30) << "counted since start";
  ASSERT_TRUE(g->Tick().ok());
  EXPECT_EQ(Tail(*g, 1).back()["type"], "access.granted") << "events.lost journaled once";
}

TEST_F(FaultyStoreTest, BusyStoreIsRetriedByTheNextWrite) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenFaulty(clock);
  ASSERT_TRUE(g);
  Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  faults_->FailWrites(store::Fault::kBusy);
  Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
  Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
  EXPECT_EQ(faults_->failed_writes(), 2u) << "busy is transient: each write tries";
  faults_->FailWrites(store::Fault::kNone);
  Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
  EXPECT_EQ(g->unwritten_events(), 0u);
}

TEST_F(FaultyStoreTest, CloudUnlockReportsTheLockNotTheJournalWrite) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenFaulty(clock);
  ASSERT_TRUE(g);
  int pulses = 0;
  g->SetActuator("front", [&](std::chrono::milliseconds) {
    ++pulses;
    return Status::Ok();
  });
  faults_->FailWrites(store::Fault::kDiskFull);
  EXPECT_TRUE(g->Unlock("front", std::chrono::milliseconds(1000)).ok())
      << "the door did unlock; its event waits in memory";
  EXPECT_EQ(pulses, 1);
  EXPECT_EQ(g->unwritten_events(), 1u);
}

TEST_F(FaultyStoreTest, StopReportsWhatCouldNotBeWritten) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenFaulty(clock);
  ASSERT_TRUE(g);
  faults_->FailWrites(store::Fault::kDiskFull);
  Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "0000"}});
  EXPECT_FALSE(g->Stop().ok());
  EXPECT_EQ(g->unwritten_events(), 1u);
  faults_->FailWrites(store::Fault::kNone);
  EXPECT_TRUE(g->Stop().ok()) << "a final write that works writes everything";
  EXPECT_EQ(g->unwritten_events(), 0u);
}

TEST(JournalQueue, KeepsOrderAcrossKindsAndDropsNonAccessFirstThenOldest) {
  auto ev = [](const char* type, int64_t t) {
    store::JournalEvent e;
    e.type = type;
    e.ts = FromUnix(t);
    return e;
  };
  JournalQueue q(3);
  q.Push(ev("access.granted", 1));
  q.Push(ev("sync.rejected", 2));
  q.Push(ev("access.denied", 3));
  std::vector<store::JournalEvent> f = q.Front(10);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[1].type, "sync.rejected") << "in push order";
  q.Push(ev("access.granted", 4));  // drops sync.rejected (2), not the older grant (1)
  f = q.Front(10);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(ToUnix(f[0].ts), 1);
  EXPECT_EQ(ToUnix(f[1].ts), 3);
  EXPECT_EQ(ToUnix(f[2].ts), 4);
  q.Push(ev("device.offline", 5));  // only decisions held: the oldest (1) goes
  f = q.Front(10);
  EXPECT_EQ(ToUnix(f[0].ts), 3);
  EXPECT_EQ(f[2].type, "device.offline");
  EXPECT_EQ(q.lost().access, 1u);
  EXPECT_EQ(q.lost().other, 1u);
  EXPECT_EQ(ToUnix(q.lost().first), 1);
  EXPECT_EQ(ToUnix(q.lost().last), 2);
  q.PopFront(2);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q.Front(1)[0].type, "device.offline");
  EXPECT_EQ(q.TakeLost().total(), 2u);
  EXPECT_EQ(q.lost().total(), 0u);
  EXPECT_EQ(q.lost_total(), 2u);
}

// Issue 10 point 5: the journaled "lock" is what the hardware did, which a door I/O module only
// knows after the write and its read-back: a reporting actuator answers later.
TEST_F(GatewayTest, Issue10AReportingActuatorsOutcomeIsTheJournaledLock) {
  FakeClock clock(T("2026-06-01T12:00:00Z"));
  auto g = Open(clock);
  ASSERT_TRUE(g);
  Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
  Gateway::LockReport pending;
  g->SetReportingActuator("front", [&](std::chrono::milliseconds, Gateway::LockReport report) {
    pending = std::move(report);
    return Status::Ok();
  });
  rules::Request at_front{"front", "front-keypad", rules::PinPresented("2468")};
  bool fed_back = false;
  EXPECT_TRUE(
      g->Admit(at_front, "wiegand", [&](const rules::Decision&) { fed_back = true; }).granted);
  EXPECT_TRUE(fed_back) << "the reader's feedback does not wait for the hardware";
  json last = Call(*g, {{"cmd", "events.tail"}, {"n", 1}})["events"][0];
  EXPECT_NE(last["type"], "access.granted") << "not journaled before the outcome is known";
  ASSERT_TRUE(pending);
  pending("unlock_failed");
  pending("pulsed");  // a second report is ignored
  json events = Call(*g, {{"cmd", "events.tail"}, {"n", 100}})["events"];
  EXPECT_EQ(events.back()["type"], "access.granted");
  EXPECT_EQ(events.back()["lock"], "unlock_failed");
  EXPECT_EQ(events.back()["reader"], "front-keypad");
  size_t granted = 0;
  for (const json& e : events) granted += e["type"] == "access.granted";
  EXPECT_EQ(granted, 1u);

  // Reported during the call: journaled by Admit itself, after the feedback, as before.
  g->SetReportingActuator("front", [](std::chrono::milliseconds, Gateway::LockReport report) {
    report("pulsed");
    return Status::Ok();
  });
  EXPECT_TRUE(g->Admit(at_front, "wiegand").granted);
  EXPECT_EQ(Call(*g, {{"cmd", "events.tail"}, {"n", 1}})["events"][0]["lock"], "pulsed");

  // A report that arrives after the gateway is gone is dropped, not a crash.
  g->SetReportingActuator("front", [&](std::chrono::milliseconds, Gateway::LockReport report) {
    pending = std::move(report);
    return Status::Ok();
  });
  EXPECT_TRUE(g->Admit(at_front, "wiegand").granted);
  g.reset();
  pending("pulsed");
}

// Issue 10 point 5 for the cloud's `unlock`: door.unlocked said {ok: true} as soon as the write
// was requested; it now says what the hardware did, journaled when the actuator reports.
TEST_F(GatewayTest, Issue10CloudUnlockIsJournaledWithWhatTheLockDid) {
  FakeClock clock(T("2026-06-01T12:00:00Z"));
  auto g = Open(clock);
  ASSERT_TRUE(g);
  auto unlocked = [&] {
    std::vector<json> out;
    json tail = Call(*g, {{"cmd", "events.tail"}, {"n", 100}});
    for (const json& e : tail["events"]) {
      if (e["type"] == "door.unlocked") out.push_back(e);
    }
    return out;
  };
  Gateway::LockReport pending;
  int64_t asked_ms = 0;
  g->SetReportingActuator("front", [&](std::chrono::milliseconds ms, Gateway::LockReport report) {
    asked_ms = ms.count();
    pending = std::move(report);
    return Status::Ok();
  });
  EXPECT_TRUE(g->Unlock("front", std::chrono::milliseconds(4000)).ok())
      << "answered at once: the request was made";
  EXPECT_EQ(asked_ms, 4000);
  EXPECT_TRUE(unlocked().empty()) << "not journaled before the hardware has answered";
  ASSERT_TRUE(pending);
  pending("unlock_failed");
  pending("pulsed");  // a second report is ignored
  std::vector<json> events = unlocked();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["lock"], "unlock_failed");
  EXPECT_EQ(events[0]["ok"], false);
  EXPECT_EQ(events[0]["door"], "front");
  EXPECT_EQ(events[0]["ms"], 4000);
  EXPECT_EQ(events[0]["source"], "cloud");

  // Reported during the call.
  g->SetReportingActuator("front", [](std::chrono::milliseconds, Gateway::LockReport report) {
    report("pulsed");
    return Status::Ok();
  });
  EXPECT_TRUE(g->Unlock("front", std::chrono::milliseconds(1000)).ok());
  events = unlocked();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["lock"], "pulsed");
  EXPECT_EQ(events[1]["ok"], true);

  // The unlock could not even be requested (module offline): "failed", with the error.
  g->SetReportingActuator("front", [](std::chrono::milliseconds, Gateway::LockReport) {
    return Status::Unavailable("module io1 offline");
  });
  EXPECT_EQ(g->Unlock("front", std::chrono::milliseconds(1000)).code(), StatusCode::kUnavailable);
  events = unlocked();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2]["lock"], "failed");
  EXPECT_EQ(events[2]["ok"], false);
  EXPECT_EQ(events[2]["error"], "module io1 offline");

  // A report after the gateway is gone is dropped.
  g->SetReportingActuator("front", [&](std::chrono::milliseconds, Gateway::LockReport report) {
    pending = std::move(report);
    return Status::Ok();
  });
  EXPECT_TRUE(g->Unlock("front", std::chrono::milliseconds(1000)).ok());
  g.reset();
  pending("pulsed");
}

// ---- issue 13, point 3: the journal off the door's path (JournalWriter) ----------------------

// The core loop's queue, played by the test: the writer's outcomes arrive here and run when the
// test says so.
class PostedTasks {
 public:
  JournalWriter::Poster Poster() {
    return [this](std::function<void()> f) {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(f));
      cv_.notify_all();
    };
  }
  // Runs every task posted within `wait` (at least one); false when none came.
  bool RunNext(std::chrono::milliseconds wait = std::chrono::milliseconds(5000)) {
    std::deque<std::function<void()>> run;
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, wait, [&] { return !tasks_.empty(); })) return false;
      run.swap(tasks_);
    }
    for (auto& f : run) f();
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
};

class JournalWriterTest : public FaultyStoreTest {
 protected:
  // Another connection holding the store's write lock (as the state worker does while it
  // writes a snapshot) until Release().
  class WriteLock {
   public:
    explicit WriteLock(const fs::path& db) {
      EXPECT_EQ(sqlite3_open(db.c_str(), &db_), SQLITE_OK);
      EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    }
    void Release() {
      if (db_ == nullptr) return;
      sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close(db_);
      db_ = nullptr;
    }
    ~WriteLock() { Release(); }

   private:
    sqlite3* db_ = nullptr;
  };
  static rules::Request PinAtFront() { return {"front", "", rules::PinPresented("2468")}; }
  // A gateway with the test's state, journaling through a writer whose outcomes go to posted_.
  std::unique_ptr<Gateway> OpenWithWriter(const Clock& clock) {
    auto g = OpenFaulty(clock);
    if (!g) return nullptr;
    Call(*g, {{"cmd", "state.import"}, {"records", Records()}});
    g->StartJournalWriter(posted_.Poster());
    return g;
  }
  PostedTasks posted_;
};

TEST_F(JournalWriterTest, ADecisionIsJournaledByTheWriterNotOnTheDoorsThread) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenWithWriter(clock);
  ASSERT_TRUE(g);
  const uint64_t seq = Call(*g, {{"cmd", "status"}})["events"]["last_seq"];

  WriteLock lock(dir_ / "l.db");
  EXPECT_TRUE(g->Admit(PinAtFront(), "reader").granted);
  EXPECT_EQ(g->unwritten_events(), 1u) << "with the writer, held by the lock";
  lock.Release();
  // The writer commits once the lock is free and reports on the loop; nothing else wrote it (no
  // Tick, no further decision). On the core thread (before) it stayed queued until a Tick.
  ASSERT_TRUE(posted_.RunNext());
  EXPECT_EQ(g->unwritten_events(), 0u);
  std::vector<json> events = Tail(*g, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["seq"], seq + 1);
  EXPECT_EQ(events[0]["type"], "access.granted");
  // Whole seconds in `ts` (the contract's form), milliseconds beside it (the fake clock has none).
  EXPECT_EQ(events[0]["ts"], "2026-06-01T10:00:00Z");
  EXPECT_EQ(events[0]["ts_millis"], ToUnix(T("2026-06-01T10:00:00Z")) * 1000);
}

TEST_F(JournalWriterTest, AFailedWriteKeepsTheEventsInOrderUntilTheStoreTakesThem) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenWithWriter(clock);
  ASSERT_TRUE(g);
  const uint64_t seq = Call(*g, {{"cmd", "status"}})["events"]["last_seq"];
  faults_->FailWrites(store::Fault::kDiskFull);
  EXPECT_TRUE(g->Admit(PinAtFront(), "reader").granted);  // handed to the writer
  ASSERT_TRUE(posted_.RunNext());                         // ... which failed: back in memory
  clock.Advance(std::chrono::seconds(61));
  EXPECT_FALSE(g->Admit({"unit-1", "", rules::PinPresented("2468")}, "reader").granted);
  EXPECT_EQ(g->unwritten_events(), 2u);
  EXPECT_FALSE(posted_.RunNext(std::chrono::milliseconds(200)))
      << "while failing, no write per decision: housekeeping retries";
  EXPECT_EQ(Call(*g, {{"cmd", "status"}})["events"]["unwritten"], 2);

  faults_->FailWrites(store::Fault::kNone);
  EXPECT_TRUE(g->Tick().ok());
  ASSERT_TRUE(posted_.RunNext());
  EXPECT_EQ(g->unwritten_events(), 0u);
  std::vector<json> events = Tail(*g, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["seq"], seq + 1);
  EXPECT_EQ(events[0]["type"], "access.granted");
  EXPECT_EQ(events[1]["type"], "access.denied");
}

TEST_F(JournalWriterTest, StopWritesEverythingLeftAndCommandsAnswerWithTheirEventsWritten) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenWithWriter(clock);
  ASSERT_TRUE(g);
  const uint64_t seq = Call(*g, {{"cmd", "status"}})["events"]["last_seq"];
  // A control command's event is in the store when it answers (the command writes it itself).
  Call(*g, {{"cmd", "present"}, {"door", "front"}, {"pin", "2468"}});
  EXPECT_EQ(g->unwritten_events(), 0u);
  // Decisions whose outcomes the loop never ran (it is stopping): Stop() takes them over.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(g->Admit(PinAtFront(), "reader").granted);
  ASSERT_TRUE(g->Stop().ok());
  EXPECT_EQ(g->unwritten_events(), 0u);
  g.reset();
  auto reopened = OpenFaulty(clock);
  ASSERT_TRUE(reopened);
  std::vector<json> events = Tail(*reopened, 8);
  int granted = 0;
  for (const json& e : events) {
    if (e["seq"].get<uint64_t>() > seq && e["type"] == "access.granted") ++granted;
  }
  EXPECT_EQ(granted, 6) << "the present and the 5 decisions";
}

// The rest of the core's writes left its connection too: while another connection holds the write
// lock (the state worker storing a snapshot), housekeeping (the time floor), the outbox's removal
// after an events/ack and the head's expiry are handed to the writer. Before, each waited on the
// core's connection for the lock (100 ms busy timeout, the doors waiting behind it) and failed.
TEST_F(JournalWriterTest, FloorOutboxRemovalAndMetaNeverWaitForTheWriteLock) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenWithWriter(clock);
  ASSERT_TRUE(g);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(g->Admit(PinAtFront(), "reader").granted);
  ASSERT_TRUE(posted_.RunNext());
  const uint64_t acked = Call(*g, {{"cmd", "status"}})["events"]["last_seq"];
  ASSERT_GT(acked, 3u);

  WriteLock lock(dir_ / "l.db");
  clock.Advance(std::chrono::hours(1));
  EXPECT_TRUE(g->Tick().ok()) << "the floor was written on the core's connection";
  EXPECT_TRUE(g->DeleteEventsUpTo(acked).ok())
      << "the removal was written on the core's connection";
  EXPECT_TRUE(g->SetMetaLater("head_expires_at", "2026-06-01T12:00:00Z").ok());
  EXPECT_TRUE(g->Admit(PinAtFront(), "reader").granted);
  lock.Release();
  // Stop() waits for the writer, then writes again on its own thread what the writer was given.
  ASSERT_TRUE(g->Stop().ok());
  g.reset();

  auto s = store::Store::Open((dir_ / "l.db").string());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->LastKnownGood().value(), T("2026-06-01T11:00:00Z"));
  EXPECT_EQ((*s)->Count().value(), 1u) << "only the decision made after the ack";
  auto rows = (*s)->ReadFrom(0, 10);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().seq, acked + 1);
  EXPECT_EQ((*s)->GetMeta("head_expires_at").value(), "2026-06-01T12:00:00Z");
}

// Issue 13, point 3: a control command (the daemon routes them through HandleLater) never makes
// the doors' thread wait for the journal's writer: it runs once what was journaled before it is
// written and answers once its own events are, while the doors go on deciding. Bounded.
TEST_F(JournalWriterTest, AControlCommandWaitsForTheWriterWithoutHoldingTheDoors) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenWithWriter(clock);
  ASSERT_TRUE(g);
  const uint64_t seq = Call(*g, {{"cmd", "status"}})["events"]["last_seq"];

  WriteLock lock(dir_ / "l.db");
  EXPECT_TRUE(g->Admit(PinAtFront(), "reader").granted);  // its event is held by the lock
  std::optional<Result<json>> answer;
  g->HandleLater({{"cmd", "events.tail"}, {"n", 5}},
                 [&](Result<json> r) { answer = std::move(r); });
  EXPECT_FALSE(answer) << "it waits for the decision before it to be written";
  EXPECT_TRUE(g->Admit(PinAtFront(), "reader").granted) << "the doors decide meanwhile";
  EXPECT_FALSE(answer);
  // Bounded: the waiting commands fill up, the next is answered at once.
  int unavailable = 0;
  for (size_t i = 0; i < Gateway::kMaxWaitingCommands; ++i) {
    g->HandleLater({{"cmd", "status"}}, [&](Result<json> r) {
      if (!r.ok() && r.status().code() == StatusCode::kUnavailable) ++unavailable;
    });
  }
  EXPECT_EQ(unavailable, 1) << "the tail waits, 63 more fit, the last one is refused";
  lock.Release();
  for (int i = 0; i < 10 && !answer; ++i) ASSERT_TRUE(posted_.RunNext());
  ASSERT_TRUE(answer);
  ASSERT_TRUE(answer->ok()) << answer->status().ToString();
  bool written = false;  // the decision made before the command is in the tail it read
  for (const json& e : (**answer)["events"]) {
    if (e["seq"] == seq + 1) written = e["type"] == "access.granted";
  }
  EXPECT_TRUE(written) << (**answer).dump();
  ASSERT_TRUE(g->Stop().ok());  // every command still waiting answers
}

// A cloud command's id is recorded on the writer's connection (Gateway::WriteLater): the doors'
// thread does not wait for the write lock, and the result comes back on it, in order.
TEST_F(JournalWriterTest, ACommandIdIsRecordedByTheWriterNotOnTheDoorsThread) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenWithWriter(clock);
  ASSERT_TRUE(g);
  WriteLock lock(dir_ / "l.db");
  std::vector<Status> results;
  auto record = [&](const char* id) {
    g->WriteLater([id, &clock](store::Store& s) { return s.RecordCommand(id, clock.Wall(), "{}"); },
                  [&](Status st) { results.push_back(st); });
  };
  record("cmd-1");
  record("cmd-1");  // the same id again: refused by the store, after the first
  EXPECT_TRUE(results.empty()) << "held by the lock, and nothing waited here";
  EXPECT_TRUE(g->Admit(PinAtFront(), "reader").granted) << "the doors decide meanwhile";
  lock.Release();
  for (int i = 0; i < 10 && results.size() < 2; ++i) ASSERT_TRUE(posted_.RunNext());
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok()) << results[0].ToString();
  EXPECT_EQ(results[1].code(), StatusCode::kAlreadyExists) << results[1].ToString();
  EXPECT_TRUE(g->store().FindCommand("cmd-1").value().has_value());
}

// A failed upkeep write comes back to the core, which hands it over again with the next Tick.
TEST_F(JournalWriterTest, AFailedOutboxRemovalIsRetriedByTheNextTick) {
  FakeClock clock(T("2026-06-01T10:00:00Z"));
  auto g = OpenWithWriter(clock);
  ASSERT_TRUE(g);
  const uint64_t acked = Call(*g, {{"cmd", "status"}})["events"]["last_seq"];
  ASSERT_GT(acked, 0u);
  faults_->FailWrites(store::Fault::kDiskFull);
  EXPECT_TRUE(g->DeleteEventsUpTo(acked).ok());  // handed over ...
  ASSERT_TRUE(posted_.RunNext());                // ... and failed
  faults_->FailWrites(store::Fault::kNone);
  {
    auto s = store::Store::Open((dir_ / "l.db").string());
    ASSERT_TRUE(s.ok());
    EXPECT_EQ((*s)->Count().value(), acked) << "nothing removed while the disk was full";
  }
  EXPECT_TRUE(g->Tick().ok());
  // Nothing is posted for a write that worked: wait until the store shows it.
  for (int i = 0; i < 200; ++i) {
    auto s = store::Store::Open((dir_ / "l.db").string());
    ASSERT_TRUE(s.ok());
    if ((*s)->Count().value() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto s = store::Store::Open((dir_ / "l.db").string());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Count().value(), 0u) << "removed by the writer after the retry";
}

}  // namespace
}  // namespace lintel::core
