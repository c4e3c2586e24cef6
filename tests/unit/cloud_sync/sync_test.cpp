// CloudSync in-process: a real Gateway (store on disk, FakeClock), the real state worker thread,
// and a recording MqttLink in place of the broker. Every cloud message is signed for real.
#include "gateway/cloud/sync.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "config/config.h"
#include "gateway/base/base64.h"
#include "gateway/base/event_loop.h"
#include "gateway/base/thread_priority.h"
#include "gateway/cloud/jws.h"
#include "gateway/core/gateway.h"
#include "gateway/core/reload.h"
#include "gateway/store/fault_store.h"
#include "gateway/store/index_image_file.h"
#include "gateway/wiring/core_sync_host.h"

namespace lintel::cloud {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Instant T(const char* t) { return ParseRfc3339(t).value(); }

Ed25519KeyPair Key(uint8_t fill) {
  std::array<uint8_t, 32> seed;
  seed.fill(fill);
  return Ed25519KeyPairFromSeed(seed);
}

struct Published {
  std::string topic;
  json payload;
  bool retain;
};

// Stands in for the broker: records what the gateway publishes.
class RecordingLink final : public MqttLink {
 public:
  void Start() override {}
  void Stop() override {}
  bool Publish(const std::string& topic, const std::string& payload, int, bool retain) override {
    if (!up) return false;
    sent.push_back({topic, json::parse(payload), retain});
    return true;
  }
  bool connected() const override { return up; }
  size_t in_flight() const override { return 0; }
  std::vector<Published> On(const std::string& suffix) const {
    std::vector<Published> out;
    for (const Published& p : sent) {
      if (p.topic.size() >= suffix.size() &&
          p.topic.compare(p.topic.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          p.topic[p.topic.size() - suffix.size() - 1] == '/') {
        out.push_back(p);
      }
    }
    return out;
  }
  bool up = true;
  std::vector<Published> sent;
};

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lintel-sync-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    WriteConfig("");
    Open();
  }
  void TearDown() override {
    sync_.reset();
    gw_.reset();
    fs::remove_all(dir_);
  }

  void WriteConfig(const std::string& offline) {
    std::string yaml =
        "site: {id: maple, time_zone: Europe/Berlin}\ngateway: {id: gw-1}\nstore: {path: " +
        (dir_ / "l.db").string() +
        "}\ndoors:\n  - {id: front, common: true}\n  - {id: unit-1}\n"
        "cloud:\n  trusted_keys:\n    - {kid: cloud-1, public_key: " +
        Base64Encode(std::span<const uint8_t>(key_.public_key)) + "}\n" + offline;
    auto c = config::LoadConfigText(yaml, "test.yaml");
    ASSERT_TRUE(c.ok()) << c.status().message();
    config_ = *c;
  }

  void Open() {
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    // Both store connections (the core's and the state worker's) fail together on demand.
    auto g = core::Gateway::Open(config_, clock_, store::FaultPlan::Opener(faults_));
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    gw_ = std::move(*g);
    host_ = std::make_unique<wiring::CoreSyncHost>(*gw_);
    sync_ = std::make_unique<CloudSync>(config_, *host_, "boot-1", clock_);
    sync_->SetStoreOpener(store::FaultPlan::Opener(faults_));
    sync_->SetFaultsForTest(sync_faults_);
    ASSERT_TRUE(sync_->Start([this](std::function<void()> f) { loop_->Post(std::move(f)); }).ok());
    gw_->SetJournalListener([this] { sync_->OnJournal(); });
    gw_->SetIndexCopiedListener(
        [this](std::shared_ptr<const rules::Index> from, std::shared_ptr<const rules::Index> to) {
          sync_->OnIndexCopied(std::move(from), std::move(to));
        });
    sync_->SetLink(&link_);
    sync_->OnConnected(1);
  }
  void Restart() {
    sync_.reset();
    gw_.reset();
    Open();
  }

  // A switch that, while true, stops the state worker before its next job (as a long job would).
  // Takes effect from the next Open()/Restart().
  std::shared_ptr<std::atomic<bool>> HoldWorkerBeforeJobs() {
    auto hold = std::make_shared<std::atomic<bool>>(false);
    sync_faults_.worker = [hold](std::string_view stage) -> Status {
      while (stage == "job" && hold->load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return Status::Ok();
    };
    return hold;
  }

  // Runs the loop until the worker has reported everything submitted.
  void Settle() {
    for (int i = 0; i < 500 && sync_->pending_jobs() > 0; ++i) {
      ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
    }
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(1)).ok());
    ASSERT_EQ(sync_->pending_jobs(), 0u);
  }

  std::string Sign(const json& payload, const Ed25519KeyPair& key, const std::string& kid) {
    return SignJws(payload.dump(), kid, std::span<const uint8_t, 64>(key.secret_key));
  }
  void Send(const std::string& suffix, json payload, bool settle = true) {
    SendRaw(suffix, Sign(payload, key_, "cloud-1"), settle);
  }
  void SendRaw(const std::string& suffix, const std::string& jws, bool settle = true) {
    sync_->OnMessage(sync_->topics().root + "/" + suffix, jws);
    if (settle) Settle();
  }
  json Base(const char* type) { return {{"type", type}, {"site", "maple"}, {"gateway", "gw-1"}}; }
  json Snapshot(uint64_t epoch, uint64_t version, const json& records, int page = 1, int pages = 1,
                const std::string& id = "snap-1") {
    json j = Base("snapshot");
    j.update({{"epoch", epoch},
              {"version", version},
              {"snapshot_id", id},
              {"page", page},
              {"pages", pages},
              {"records", records}});
    return j;
  }
  json Delta(uint64_t epoch, uint64_t version, json ops) {
    json j = Base("delta");
    j.update({{"epoch", epoch},
              {"version", version},
              {"prev", version - 1},
              {"issued_at", "2026-11-23T10:00:00Z"},
              {"ops", ops}});
    return j;
  }
  json Head(uint64_t epoch, uint64_t version, const char* expires = "2026-11-24T10:00:00Z") {
    json j = Base("head");
    j.update({{"epoch", epoch},
              {"version", version},
              {"issued_at", "2026-11-23T10:00:00Z"},
              {"expires_at", expires}});
    return j;
  }
  json Command(const std::string& id, const std::string& name, json args,
               const char* expires = "2026-11-23T12:05:00Z",
               const char* issued = "2026-11-23T11:50:00Z") {
    json j = Base("command");
    j.update({{"id", id},
              {"name", name},
              {"args", args},
              {"issued_at", issued},
              {"expires_at", expires}});
    return j;
  }

  static json People() {
    return json::parse(R"([
      {"id": "p1", "name": "Ada", "role": "tenant"},
      {"id": "s1", "name": "Sam", "role": "staff", "groups": ["default"]}])");
  }
  static json Records() {
    return {{"people", People()},
            {"leases", json::parse(R"([{"id": "l1", "unit": "1", "members": ["p1"],
                 "groups": ["default"], "starts_at": "2026-01-01T00:00:00Z"}])")},
            {"credentials", json::parse(R"([
                 {"id": "c1", "person": "p1", "type": "card", "status": "active",
                  "card": {"uid": "a1b2"}},
                 {"id": "c2", "person": "s1", "type": "card", "status": "active",
                  "card": {"uid": "5a5a"}}])")}};
  }
  static json Card(const char* id, const char* person, const char* uid, const char* status) {
    return {{"id", id},
            {"person", person},
            {"type", "card"},
            {"status", status},
            {"card", {{"uid", uid}}}};
  }

  // The snapshot of Records() at 1/1, then delta 1/2 adding card c3c3 (c3) to p1.
  void SnapshotThenCardC3() {
    Send("sync/snapshot", Snapshot(1, 1, Records()));
    Send("sync/delta", Delta(1, 2,
                             {{{"op", "put"},
                               {"kind", "credential"},
                               {"data", Card("c3", "p1", "c3c3", "active")}}}));
  }

  std::string Decide(const char* uid, const char* door = "front") {
    auto r = gw_->Handle({{"cmd", "present"}, {"door", door}, {"uid", uid}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)["reason"].get<std::string>() : "";
  }
  Position Stored() { return gw_->store().AppliedPosition().value(); }

  // The journal's events of `type` (and `reason`, when given), bodies as JSON.
  std::vector<json> Journal(const std::string& type, const std::string& reason = "") {
    EXPECT_TRUE(gw_->FlushJournal().ok());
    std::vector<json> out;
    auto rows = gw_->store().ReadFrom(0, 1000000);
    EXPECT_TRUE(rows.ok());
    if (!rows.ok()) return out;
    for (const store::JournalEvent& e : *rows) {
      if (e.type != type) continue;
      json body = json::parse(e.body);
      if (!reason.empty() && body.value("reason", "") != reason) continue;
      out.push_back(std::move(body));
    }
    return out;
  }
  size_t JournalCount(const std::string& type, const std::string& reason = "") {
    return Journal(type, reason).size();
  }
  // The sum of `count` over the coalesced sync.rejected events of `reason`.
  uint64_t JournaledRejections(const std::string& reason) {
    uint64_t n = 0;
    for (const json& e : Journal("sync.rejected", reason)) n += e.value("count", uint64_t{1});
    return n;
  }

  SyncFaults sync_faults_;

  fs::path dir_;
  Ed25519KeyPair key_ = Key(7);
  config::Config config_;
  FakeClock clock_{T("2026-11-23T12:00:00Z")};
  std::shared_ptr<store::FaultPlan> faults_ = std::make_shared<store::FaultPlan>();
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<core::Gateway> gw_;
  std::unique_ptr<wiring::CoreSyncHost> host_;  // *gw_ as the sync's SyncHost
  std::unique_ptr<CloudSync> sync_;
  RecordingLink link_;
};

TEST_F(SyncTest, PublishesRetainedStateOnConnect) {
  auto states = link_.On("state");
  ASSERT_EQ(states.size(), 1u);
  EXPECT_TRUE(states[0].retain);
  EXPECT_EQ(states[0].payload["online"], true);
  EXPECT_EQ(states[0].payload["boot_id"], "boot-1");
  EXPECT_EQ(states[0].payload["session"], 1);
  EXPECT_EQ(states[0].payload["epoch"], 0);
}

TEST_F(SyncTest, SnapshotPagesApplyTogetherThenAck) {
  json r = Records();
  json page1 = {{"people", r["people"]}, {"leases", r["leases"]}};
  json page2 = {{"credentials", r["credentials"]}};
  Send("sync/snapshot", Snapshot(1, 10, page1, 1, 2));
  EXPECT_EQ(Decide("a1b2"), "unknown_credential") << "half a snapshot changes nothing";
  EXPECT_EQ(Stored(), (Position{0, 0}));
  Send("sync/snapshot", Snapshot(1, 10, page2, 2, 2));
  EXPECT_EQ(Decide("a1b2"), "granted");
  EXPECT_EQ(Stored(), (Position{1, 10}));
  auto acks = link_.On("sync/ack");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].payload, json({{"epoch", 1}, {"version", 10}, {"result", "applied"}}));
  EXPECT_EQ(sync_->counters().snapshots_applied, 1u);
}

TEST_F(SyncTest, RevocationDeltaDeniesAndDuplicateIsDropped) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  ASSERT_EQ(Decide("a1b2"), "granted");
  json revoke = Delta(
      1, 2,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}});
  Send("sync/delta", revoke);
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(Stored(), (Position{1, 2}));
  size_t acks = link_.On("sync/ack").size();
  Send("sync/delta", revoke);  // replayed
  EXPECT_EQ(sync_->counters().duplicates, 1u);
  EXPECT_EQ(link_.On("sync/ack").size(), acks) << "a duplicate is dropped silently";
  // An old delta replayed after a restart is still dropped: the position is durable.
  Restart();
  Send(
      "sync/delta",
      Delta(
          1, 2,
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "active")}}}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
}

TEST_F(SyncTest, OutcomeObserverSeesTheSwappedIndexBeforeTheAck) {
  struct Seen {
    JobKind job;
    StateOutcome::Result result;
    Position position;
    std::string decision;  // what the engine decides for a1b2 inside the observer
    size_t acks;           // sync/acks published before the observer ran
    bool index_moved_out;
  };
  std::vector<Seen> seen;
  sync_->SetOutcomeObserver([&](const StateOutcome& o) {
    rules::Decision d =
        gw_->engine().Evaluate({"front", "", rules::UidPresented("a1b2")}, clock_.Wall());
    seen.push_back({o.job, o.result, o.position, std::string(rules::ReasonName(d.reason)),
                    link_.On("sync/ack").size(), o.index == nullptr});
  });
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  Send("sync/delta", Delta(1, 2,
                           {{{"op", "put"},
                             {"kind", "credential"},
                             {"data", Card("c1", "p1", "a1b2", "revoked")}}}));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].job, JobKind::kSnapshot);
  EXPECT_EQ(seen[0].result, StateOutcome::Result::kApplied);
  EXPECT_EQ(seen[0].position, (Position{1, 1}));
  EXPECT_EQ(seen[0].decision, "granted");
  EXPECT_EQ(seen[0].acks, 0u);
  EXPECT_TRUE(seen[0].index_moved_out);
  EXPECT_EQ(seen[1].job, JobKind::kDelta);
  EXPECT_EQ(seen[1].position, (Position{1, 2}));
  EXPECT_EQ(seen[1].decision, "credential_revoked") << "the new index is already in the engine";
  EXPECT_EQ(seen[1].acks, 1u) << "only the snapshot was acknowledged yet";
}

// Issue 13, points 1 and 4: a general delta is edited into the index (no rebuild), the index
// handed to the core carries the stamp of the stored state it is of, and the image the core
// writes of it at a clean stop serves the next start.
TEST_F(SyncTest, Issue13EditedIndexIsStampedAndItsImageServesTheNextStart) {
  std::vector<StateOutcome> seen;
  sync_->SetOutcomeObserver([&](const StateOutcome& o) { seen.push_back(o); });
  SnapshotThenCardC3();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[1].patched) << "edited, not rebuilt";
  ASSERT_TRUE(seen[1].stamp.has_value());
  Result<rules::ImageStamp> stored = store::ReadStateStamp(gw_->store());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*seen[1].stamp, *stored) << rules::ToString(*seen[1].stamp);
  EXPECT_EQ(seen[1].stamp->version, 2u);
  EXPECT_EQ(Decide("c3c3"), "granted");
  ASSERT_TRUE(gw_->Stop().ok());  // writes the image of the index in force
  Restart();
  Result<json> status = gw_->Handle({{"cmd", "status"}});
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["index_source"], "image");
  EXPECT_EQ(Decide("c3c3"), "granted");
  EXPECT_EQ(Decide("a1b2"), "granted");
  EXPECT_EQ((*status)["index_maps_image"], true);
  // A delta after the restart edits the mapped index (its chunks are copied, the file is not
  // written) and the next start, the image now stale, rebuilds from the store.
  Send("sync/delta", Delta(1, 3,
                           {{{"op", "put"},
                             {"kind", "credential"},
                             {"data", Card("c3", "p1", "c3c3", "revoked")}}}));
  EXPECT_EQ(Decide("c3c3"), "credential_revoked");
  EXPECT_EQ((*gw_->Handle({{"cmd", "status"}}))["index_maps_image"], true);
  // Housekeeping copies the engine's index out of the mapping and the worker adopts the copy:
  // later edits share nothing with the image.
  for (int i = 0; i < 1000 && gw_->engine().index()->AliasesMapping(); ++i) {
    (void)gw_->Tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(gw_->engine().index()->AliasesMapping());
  Settle();  // the worker's AdoptIndexJob
  Send(
      "sync/delta",
      Delta(
          1, 4,
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c4", "p1", "c4c4", "active")}}}));
  EXPECT_EQ(Decide("c4c4"), "granted");
  EXPECT_EQ(Decide("c3c3"), "credential_revoked");
  EXPECT_FALSE(gw_->engine().index()->AliasesMapping()) << "the worker edited the mapped index";
  Restart();  // no clean stop: the image is of version 2
  status = gw_->Handle({{"cmd", "status"}});
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["index_source"], "store");
  EXPECT_EQ(Decide("c3c3"), "credential_revoked");
}

// Issue 13, point 2: a revocation queued behind a general delta the worker is still busy with is in
// force at once (the doors' index narrowed, rules::RestrictCredentials), committed and acknowledged
// after that delta, in order; a revocation that ends up skipped (the delta ahead of it was
// rejected) is taken back, since the store is the truth. Its counter shows in the status.
TEST_F(SyncTest, Issue13RevocationBehindABusyWorkerIsInForceBeforeItsCommit) {
  auto hold = HoldWorkerBeforeJobs();
  Restart();
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  ASSERT_EQ(Decide("a1b2"), "granted");
  const json revoke = {
      {{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}};
  // Runs the loop until the engine decides `want` for a1b2, or 5 s.
  auto await = [&](const char* want) {
    for (int i = 0; i < 500 && Decide("a1b2") != want; ++i) {
      EXPECT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
    }
    return Decide("a1b2");
  };

  hold->store(true);  // the worker stops before its next job
  Send("sync/delta",
       Delta(
           1, 2,
           {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c3", "p1", "c3c3", "active")}}}),
       false);
  Send("sync/delta", Delta(1, 3, revoke), false);
  EXPECT_EQ(await("credential_revoked"), "credential_revoked") << "in force ahead of its commit";
  EXPECT_EQ(Stored(), (Position{1, 1})) << "nothing committed yet";
  EXPECT_EQ(Decide("c3c3"), "unknown_credential") << "the delta ahead is not in force either";
  EXPECT_EQ(Decide("5a5a"), "granted") << "other cards unchanged";
  const size_t acks = link_.On("sync/ack").size();
  EXPECT_EQ(acks, 1u) << "only the snapshot is acknowledged yet";
  hold->store(false);
  Settle();
  EXPECT_EQ(Stored(), (Position{1, 3}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(Decide("c3c3"), "granted");
  auto after = link_.On("sync/ack");
  ASSERT_EQ(after.size(), acks + 2);
  EXPECT_EQ(after[acks].payload["version"], 2) << "acknowledged in order";
  EXPECT_EQ(after[acks + 1].payload["version"], 3);
  EXPECT_EQ(sync_->counters().restricted_early, 1u);
  EXPECT_EQ(sync_->StatusJson()["counters"]["restricted_early"], 1);

  // Taken back when it will not be committed: the delta ahead is rejected, this one skipped.
  hold->store(true);
  Send("sync/delta",
       Delta(1, 4,
             {{{"op", "put"},
               {"kind", "credential"},
               {"data", Card("c9", "nobody", "9999", "active")}}}),  // no such person: rejected
       false);
  Send(
      "sync/delta",
      Delta(
          1, 5,
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c2", "s1", "5a5a", "revoked")}}}),
      false);
  for (int i = 0; i < 500 && Decide("5a5a") != "credential_revoked"; ++i) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  EXPECT_EQ(Decide("5a5a"), "credential_revoked");
  hold->store(false);
  Settle();
  EXPECT_EQ(Stored(), (Position{1, 3}));
  EXPECT_EQ(Decide("5a5a"), "granted") << "not in the store: the doors decide on the store's state";
  EXPECT_EQ(Decide("a1b2"), "credential_revoked") << "the committed revocation stays";
  EXPECT_EQ(sync_->counters().restricted_early, 2u);
}

// Issue 13, point 4 after a crash: once the index in force has been the same stamped one for a
// minute, the gateway writes its image in the background (Tick), so a start without a clean stop
// still maps it instead of rebuilding.
TEST_F(SyncTest, Issue13AQuietIndexIsImagedSoAStartAfterACrashMapsIt) {
  SnapshotThenCardC3();
  auto current = [&] {
    Result<json> status = gw_->Handle({{"cmd", "status"}});
    EXPECT_TRUE(status.ok());
    return status.ok() && (*status)["index_image_current"] == true;
  };
  ASSERT_TRUE(gw_->Tick().ok());
  EXPECT_FALSE(current()) << "not yet: the index changed less than a minute ago";
  clock_.Advance(std::chrono::seconds(61));
  ASSERT_TRUE(gw_->Tick().ok());
  for (int i = 0; i < 500 && !current(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(current()) << "written in the background";
  Restart();  // no clean stop
  Result<json> status = gw_->Handle({{"cmd", "status"}});
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)["index_source"], "image");
  EXPECT_EQ(Decide("c3c3"), "granted");
}

TEST_F(SyncTest, RevocationFastPathAndLaterDeltasAgree) {
  std::vector<bool> patched;
  sync_->SetOutcomeObserver([&](const StateOutcome& o) { patched.push_back(o.patched); });
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  Send("sync/delta", Delta(1, 2,
                           {{{"op", "put"},
                             {"kind", "credential"},
                             {"data", Card("c1", "p1", "a1b2", "suspended")}}}));
  EXPECT_EQ(Decide("a1b2"), "credential_suspended");
  // A general delta after the fast one builds on it (the worker's cached records caught up).
  Send(
      "sync/delta",
      Delta(
          1, 3,
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c3", "p1", "c3c3", "active")}}}));
  EXPECT_EQ(Decide("c3c3"), "granted");
  EXPECT_EQ(Decide("a1b2"), "credential_suspended");
  // Lifting a suspension is fast too (a suspended card already counts for overlaps).
  Send(
      "sync/delta",
      Delta(
          1, 4,
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "active")}}}));
  EXPECT_EQ(Decide("a1b2"), "granted");
  // A revocation that would be fast but follows a rejected delta still lands on the true state.
  Send("sync/delta", Delta(1, 5,
                           {{{"op", "put"},
                             {"kind", "credential"},
                             {"data", Card("c9", "nobody", "9999", "active")}}}));
  Send("sync/delta", Delta(1, 5,
                           {{{"op", "put"},
                             {"kind", "credential"},
                             {"data", Card("c3", "p1", "c3c3", "revoked")}}}));
  EXPECT_EQ(Decide("c3c3"), "credential_revoked");
  EXPECT_EQ(Decide("a1b2"), "granted");
  EXPECT_EQ(Stored(), (Position{1, 5}));
  // snapshot (built), suspension (patched), new card (edited into the index: issue 13),
  // reactivation (patched), rejected, revocation (patched)
  EXPECT_EQ(patched, (std::vector<bool>{false, true, true, true, false, true}));
  Restart();  // what was stored is what the fast path showed
  EXPECT_EQ(Decide("c3c3"), "credential_revoked");
  EXPECT_EQ(Decide("a1b2"), "granted");
}

TEST_F(SyncTest, MessagesBehindASnapshotBeingParsedKeepTheirOrder) {
  // Snapshot pages are parsed off the core thread; a delta right behind them waits its turn.
  Send("sync/snapshot", Snapshot(1, 1, Records()), false);
  Send(
      "sync/delta",
      Delta(
          1, 2,
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}}),
      false);
  Settle();
  EXPECT_EQ(Stored(), (Position{1, 2}));
  EXPECT_EQ(sync_->counters().gaps, 0u);
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(Decide("5a5a"), "granted");
}

// Issue 13, point 5: messages are verified and parsed by a pool of threads, but handled in the
// order they arrived. A large first page (slow to parse) with a small second page and 20 deltas
// right behind it: were a result handed on as soon as it was parsed, the deltas would come before
// the snapshot completes (and each other), and be taken for gaps.
TEST_F(SyncTest, Issue13MessagesParsedInParallelAreHandledInArrivalOrder) {
  json big = Records();
  for (int i = 0; i < 3000; ++i) {
    big["people"].push_back({{"id", "bulk-" + std::to_string(i)},
                             {"name", "Bulk " + std::to_string(i)},
                             {"role", "tenant"}});
  }
  Send("sync/snapshot", Snapshot(1, 1, big, 1, 2), /*settle=*/false);
  Send("sync/snapshot", Snapshot(1, 1, json::object(), 2, 2), /*settle=*/false);
  for (uint64_t v = 2; v <= 21; ++v) Send("sync/delta", Delta(1, v, json::array()), false);
  Settle();
  for (int i = 0; i < 200 && Stored() != Position{1, 21}; ++i) Settle();
  EXPECT_EQ(Stored(), (Position{1, 21}));
  EXPECT_EQ(sync_->counters().gaps, 0u);
  EXPECT_EQ(sync_->counters().duplicates, 0u);
  EXPECT_EQ(sync_->counters().snapshots_applied, 1u);
  EXPECT_EQ(sync_->counters().deltas_applied, 20u);
  EXPECT_EQ(Decide("a1b2"), "granted");
}

TEST_F(SyncTest, GapIsAckedAndTheMissingDeltasRequested) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  Send("sync/delta", Delta(1, 4, json::array()));
  auto acks = link_.On("sync/ack");
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(acks.back().payload["result"], "gap");
  EXPECT_EQ(acks.back().payload["version"], 4);
  auto requests = link_.On("sync/request");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].payload,
            json::parse(R"({"want":"deltas","from":{"epoch":1,"version":1}})"));
  EXPECT_EQ(Stored(), (Position{1, 1}));
  // The missing deltas arrive, then the one that was early.
  Send("sync/delta", Delta(1, 2, json::array()));
  Send("sync/delta", Delta(1, 3, json::array()));
  Send("sync/delta", Delta(1, 4, json::array()));
  EXPECT_EQ(Stored(), (Position{1, 4}));
}

TEST_F(SyncTest, HeadAheadRequestsDeltasAndNewEpochRequestsSnapshot) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  Send("sync/head", Head(1, 5));
  auto req = link_.On("sync/request");
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].payload["want"], "deltas");
  Send("sync/head", Head(2, 1));
  req = link_.On("sync/request");
  ASSERT_EQ(req.size(), 2u);
  EXPECT_EQ(req[1].payload["want"], "snapshot");
  // A delta of the new epoch is not applied on top of the old one.
  Send("sync/delta", Delta(2, 2, json::array()));
  EXPECT_EQ(Stored(), (Position{1, 1}));
}

TEST_F(SyncTest, ForgedOrMisaddressedMessagesChangeNothing) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  json revoke = Delta(
      1, 2,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}});
  size_t acks = link_.On("sync/ack").size();
  // Signed by a key the gateway does not trust, under the trusted kid.
  SendRaw("sync/delta", Sign(revoke, Key(9), "cloud-1"));
  // Unsigned.
  SendRaw("sync/delta", revoke.dump());
  // For another site, properly signed.
  json other = revoke;
  other["site"] = "elm";
  Send("sync/delta", other);
  // alg none.
  SendRaw("sync/delta", Base64UrlEncode(std::string(R"({"alg":"none","kid":"cloud-1"})")) + "." +
                            Base64UrlEncode(revoke.dump()) + ".");
  EXPECT_EQ(Decide("a1b2"), "granted");
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(sync_->counters().rejected, 4u);
  EXPECT_EQ(sync_->counters().rejected_by_reason.at("signature"), 3u);
  EXPECT_EQ(sync_->counters().rejected_by_reason.at("wrong_site"), 1u);
  // Issue 10, point 9: none of them is answered. Forged ones are not trusted; the wrong-site one
  // was not addressed to this gateway (a `rejected` ack with its version on this gateway's topic
  // could be taken for a rejection of the cloud's own delta 1/2).
  EXPECT_EQ(link_.On("sync/ack").size(), acks);
}

TEST_F(SyncTest, Issue10DeltaForAnotherGatewayIsCountedAndJournaledButNotAcked) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  size_t acks = link_.On("sync/ack").size();
  json other = Delta(1, 2, json::array());
  other["gateway"] = "gw-2";
  Send("sync/delta", other);
  EXPECT_EQ(link_.On("sync/ack").size(), acks);
  EXPECT_EQ(sync_->counters().rejected_by_reason.at("wrong_gateway"), 1u);
  EXPECT_EQ(JournalCount("sync.rejected", "wrong_gateway"), 1u);
  // The delta this gateway is meant to get still applies.
  Send("sync/delta", Delta(1, 2, json::array()));
  EXPECT_EQ(Stored(), (Position{1, 2}));
  ASSERT_EQ(link_.On("sync/ack").size(), acks + 1);
  EXPECT_EQ(link_.On("sync/ack").back().payload["result"], "applied");
}

TEST_F(SyncTest, InvalidDeltaIsRejectedWithThePreciseReason) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  json bad =
      Delta(1, 2,
            {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}},
             {{"op", "put"},
              {"kind", "credential"},
              {"data",
               {{"id", "c9"},
                {"person", "p1"},
                {"type", "pin"},
                {"status", "active"},
                {"pin", "9123"}}}}});
  Send("sync/delta", bad);
  EXPECT_EQ(Decide("a1b2"), "granted") << "nothing of a rejected delta is applied";
  EXPECT_EQ(Stored(), (Position{1, 1}));
  auto acks = link_.On("sync/ack");
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(acks.back().payload["result"], "rejected");
  std::string error = acks.back().payload["error"];
  EXPECT_NE(error.find("credential c9"), std::string::npos) << error;
  EXPECT_EQ(error.find("9123"), std::string::npos) << "no PIN digits in the error";
  // The next good delta after the rejected one still applies.
  Send("sync/delta", Delta(1, 2, {{{"op", "delete"}, {"kind", "credential"}, {"id", "c1"}}}));
  EXPECT_EQ(Decide("a1b2"), "unknown_credential");
}

TEST_F(SyncTest, EventsArePublishedInOrderAndRemovedOnlyWhenAcked) {
  link_.sent.clear();
  for (int i = 0; i < 3; ++i) Decide("ffff");
  auto batches = link_.On("events");
  ASSERT_FALSE(batches.empty());
  std::vector<uint64_t> seqs;
  for (const auto& b : batches) {
    EXPECT_EQ(b.payload["boot_id"], "boot-1");
    for (const json& e : b.payload["events"]) seqs.push_back(e["seq"]);
  }
  ASSERT_GE(seqs.size(), 3u);
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  uint64_t held = gw_->store().Count().value();
  EXPECT_GE(held, 3u) << "published is not acknowledged";
  json ack = Base("events_ack");
  ack["upto"] = seqs[1];
  Send("events/ack", ack);
  EXPECT_EQ(gw_->store().Count().value(), gw_->store().LastSeq().value() - seqs[1]);
  auto left = gw_->store().ReadFrom(0, 100).value();
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(left.front().seq, seqs[1] + 1);
}

// Issue 13, point 3: a backlog goes out one batch per turn of the loop, the rest in posted turns,
// so the doors' events are handled between batches (a whole window at once held them 100+ ms).
TEST_F(SyncTest, Issue13TheOutboxIsSentOneBatchPerTurnOfTheLoop) {
  link_.up = false;
  sync_->OnDisconnected("test");
  const size_t kEvents = 2 * kMaxEventsPerBatch + 100;
  for (size_t i = 0; i < kEvents; ++i) gw_->JournalLater({{"type", "test.backlog"}});
  ASSERT_TRUE(gw_->FlushJournal().ok());
  const uint64_t last = gw_->store().LastSeq().value();
  link_.up = true;
  link_.sent.clear();
  sync_->OnConnected(2);
  auto events = [&] {
    size_t n = 0;
    for (const auto& b : link_.On("events")) n += b.payload["events"].size();
    return n;
  };
  EXPECT_EQ(link_.On("events").size(), 1u) << "one batch in this turn";
  EXPECT_EQ(events(), kMaxEventsPerBatch);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(1)).ok());
  EXPECT_GE(link_.On("events").size(), 3u);
  EXPECT_EQ(link_.On("events").back().payload["events"].back()["seq"], last)
      << "the rest followed in later turns, in order";
}

TEST_F(SyncTest, EventsQueuedWhileDownGoOutHistoricalOnReconnect) {
  link_.up = false;
  sync_->OnDisconnected("test");
  Decide("ffff");
  uint64_t last = gw_->store().LastSeq().value();
  link_.up = true;
  link_.sent.clear();
  sync_->OnConnected(2);
  auto batches = link_.On("events");
  ASSERT_FALSE(batches.empty());
  json last_event = batches.back().payload["events"].back();
  EXPECT_EQ(last_event["seq"], last);
  EXPECT_EQ(last_event["historical"], true);
  EXPECT_EQ(last_event["type"], "access.denied");
  // An event made while connected is not historical.
  link_.sent.clear();
  Decide("ffff");
  batches = link_.On("events");
  ASSERT_FALSE(batches.empty());
  EXPECT_EQ(batches.back().payload["events"].back()["historical"], false);
}

TEST_F(SyncTest, UnacknowledgedEventsAreResentAfterReconnect) {
  Decide("ffff");
  uint64_t last = gw_->store().LastSeq().value();
  sync_->OnDisconnected("broker went away");
  link_.sent.clear();
  sync_->OnConnected(2);
  std::vector<uint64_t> seqs;
  for (const auto& b : link_.On("events")) {
    for (const json& e : b.payload["events"]) seqs.push_back(e["seq"]);
  }
  ASSERT_FALSE(seqs.empty());
  EXPECT_EQ(seqs.back(), last);
  EXPECT_EQ(seqs.front(), 1u) << "nothing was acknowledged, so everything is sent again";
}

TEST_F(SyncTest, CommandsRunOnceAndNotAfterExpiry) {
  std::vector<int64_t> pulses;
  gw_->SetActuator("front", [&](std::chrono::milliseconds d) {
    pulses.push_back(d.count());
    return Status::Ok();
  });
  Send("cmd/request", Command("c-1", "unlock", {{"door", "front"}, {"seconds", 3}}));
  Send("cmd/request", Command("c-1", "unlock", {{"door", "front"}, {"seconds", 3}}));
  Send("cmd/request", Command("c-2", "unlock", {{"door", "front"}}, "2026-11-23T11:59:59Z"));
  Send("cmd/request", Command("c-3", "unlock", {{"door", "unit-1"}}));
  Send("cmd/request", Command("c-4", "ping", json::object()));
  EXPECT_EQ(pulses, std::vector<int64_t>{3000}) << "executed once, never when expired";
  auto r = link_.On("cmd/response");
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].payload["ok"], true);
  EXPECT_EQ(r[0].payload["id"], "c-1");
  EXPECT_EQ(r[1].payload["ok"], false);
  EXPECT_NE(r[1].payload["error"].get<std::string>().find("already executed"), std::string::npos);
  EXPECT_EQ(r[2].payload["ok"], false);
  EXPECT_NE(r[2].payload["error"].get<std::string>().find("expired"), std::string::npos);
  EXPECT_EQ(r[3].payload["ok"], false) << "unit-1 has no actuator";
  EXPECT_EQ(r[4].payload["ok"], true);
  EXPECT_EQ(r[4].payload["result"]["epoch"], 0);
  // Once-only survives a restart.
  Restart();
  gw_->SetActuator("front", [&](std::chrono::milliseconds d) {
    pulses.push_back(d.count());
    return Status::Ok();
  });
  link_.sent.clear();
  Send("cmd/request", Command("c-1", "unlock", {{"door", "front"}, {"seconds", 3}}));
  EXPECT_EQ(pulses.size(), 1u);
  ASSERT_EQ(link_.On("cmd/response").size(), 1u);
  EXPECT_EQ(link_.On("cmd/response")[0].payload["ok"], false);
}

TEST_F(SyncTest, SetDoorModeCommandLocksTheDoorDown) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  ASSERT_EQ(Decide("a1b2"), "granted");
  Send("cmd/request",
       Command("m-1", "set_door_mode", {{"door", "front"}, {"mode", "locked_down"}}));
  EXPECT_EQ(Decide("a1b2"), "door_locked_down");
  auto r = link_.On("cmd/response");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].payload["ok"], true);
  EXPECT_EQ(Stored(), (Position{1, 1})) << "a command does not move the cloud position";
}

TEST_F(SyncTest, ResyncCommandRequestsASnapshot) {
  Send("cmd/request", Command("r-1", "resync", json::object()));
  auto req = link_.On("sync/request");
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].payload["want"], "snapshot");
}

TEST_F(SyncTest, ExpiredHeadIsStaleAndChangesNothing) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  Send("sync/head", Head(1, 5, "2026-11-23T11:00:00Z"));
  EXPECT_TRUE(link_.On("sync/request").empty());
  EXPECT_EQ(sync_->counters().rejected_by_reason.at("stale"), 1u);
}

TEST_F(SyncTest, OfflinePolicyStaffOnlyAfterTheHeadExpiresPlusHours) {
  WriteConfig("  offline: {policy: staff_only, staff_only_after_h: 2}\n");
  Restart();
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  Send("sync/head", Head(1, 1, "2026-11-23T13:00:00Z"));
  EXPECT_EQ(Decide("a1b2"), "granted");
  clock_.SetWall(T("2026-11-23T14:59:00Z"));  // the head expired, within the 2 h allowance
  sync_->Tick();
  EXPECT_EQ(Decide("a1b2"), "granted");
  clock_.SetWall(T("2026-11-23T15:00:01Z"));
  sync_->Tick();
  EXPECT_EQ(Decide("a1b2"), "offline_staff_only");
  EXPECT_EQ(Decide("5a5a"), "granted") << "staff keep access";
  // Also after a restart (the head's expiry is stored).
  Restart();
  EXPECT_EQ(Decide("a1b2"), "offline_staff_only");
  // A fresh head lifts it.
  Send("sync/head", Head(1, 1, "2026-11-24T15:00:00Z"));
  EXPECT_EQ(Decide("a1b2"), "granted");
}

TEST_F(SyncTest, DefaultOfflinePolicyKeepsEnforcingAndTimeStillEndsLeases) {
  json r = Records();
  r["leases"][0]["ends_at"] = "2026-12-01T00:00:00Z";
  Send("sync/snapshot", Snapshot(1, 1, r));
  Send("sync/head", Head(1, 1, "2026-11-23T13:00:00Z"));
  sync_->OnDisconnected("cloud gone");
  clock_.SetWall(T("2026-11-30T23:59:00Z"));  // days without any cloud message
  sync_->Tick();
  EXPECT_EQ(Decide("a1b2"), "granted");
  clock_.SetWall(T("2026-12-01T00:00:00Z"));
  EXPECT_EQ(Decide("a1b2"), "lease_ended");
}

TEST_F(SyncTest, InvalidSnapshotLeavesTheOldStateInForce) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  json r = Records();
  r["credentials"][0]["person"] = "nobody";
  Send("sync/snapshot", Snapshot(1, 2, r, 1, 1, "snap-2"));
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(Decide("a1b2"), "granted");
  auto acks = link_.On("sync/ack");
  EXPECT_EQ(acks.back().payload["result"], "rejected");
  EXPECT_EQ(acks.back().payload["version"], 2);
}

// ---- issue 13, point 5: a snapshot is staged in the store page by page
// ---------------------------

// One number `sql` reads from the store file (its own connection); -1 when it fails.
int64_t QueryNumber(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      n = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return n;
}
int64_t StageTables(const std::string& path) {
  return QueryNumber(path, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'stage%'");
}

// Issue 13, point 2, during a snapshot apply: a revocation that arrives while the worker is still
// busy with a snapshot (here: building its index) is in force at once, stays in force when the
// snapshot's index (which grants the card again) is swapped in, and is committed after it.
TEST_F(SyncTest, Issue13RevocationDuringASnapshotApplyStaysInForceAcrossTheSwap) {
  struct Gate {
    std::atomic<int> jobs{1 << 30};  // jobs the worker may still start
    std::atomic<bool> hold_index{false};
    std::atomic<bool> in_index{false};
  };
  auto gate = std::make_shared<Gate>();
  // A failed assertion returns early: the worker is let go, or the teardown would wait for it.
  struct LetGo {
    std::shared_ptr<Gate> g;
    ~LetGo() {
      g->jobs = 1 << 30;
      g->hold_index = false;
    }
  } let_go{gate};
  sync_faults_.worker = [gate](std::string_view stage) -> Status {
    if (stage == "index") {
      gate->in_index = true;
      while (gate->hold_index.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      gate->in_index = false;
    } else if (stage == "job") {
      while (gate->jobs.load() <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      --gate->jobs;
    }
    return Status::Ok();
  };
  Restart();
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  ASSERT_EQ(Decide("a1b2"), "granted");

  // The cloud's full state again (a1b2 active) with a new card c3c3; the worker stops in the
  // middle of it, building its index.
  gate->hold_index = true;
  json next = Records();
  next["credentials"].push_back(Card("c3", "p1", "c3c3", "active"));
  Send("sync/snapshot", Snapshot(1, 2, next, 1, 1, "snap-2"), false);
  for (int i = 0; i < 500 && !gate->in_index; ++i) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  ASSERT_TRUE(gate->in_index) << "the worker builds the snapshot's index";

  gate->jobs = 0;  // the revocation's own job waits, so only the snapshot's index comes in first
  Send(
      "sync/delta",
      Delta(
          1, 3,
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}}),
      false);
  for (int i = 0; i < 500 && Decide("a1b2") != "credential_revoked"; ++i) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  EXPECT_EQ(Decide("a1b2"), "credential_revoked") << "in force while the snapshot applies";
  EXPECT_EQ(Decide("c3c3"), "unknown_credential") << "the snapshot is not in force yet";

  gate->hold_index = false;
  for (int i = 0; i < 500 && Decide("c3c3") != "granted"; ++i) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
    ASSERT_EQ(Decide("a1b2"), "credential_revoked") << "never granted again, at any turn";
  }
  ASSERT_EQ(Decide("c3c3"), "granted") << "the snapshot's index is in force";
  EXPECT_EQ(Decide("a1b2"), "credential_revoked") << "the revocation is kept on top of it";
  EXPECT_EQ(Stored(), (Position{1, 2})) << "the revocation is not committed yet";
  EXPECT_EQ(Decide("5a5a"), "granted");

  gate->jobs = 1 << 30;
  Settle();
  EXPECT_EQ(Stored(), (Position{1, 3}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(Decide("c3c3"), "granted");
  auto acks = link_.On("sync/ack");
  ASSERT_GE(acks.size(), 2u);
  EXPECT_EQ(acks[acks.size() - 2].payload["version"], 2) << "acknowledged in order";
  EXPECT_EQ(acks.back().payload["version"], 3);
  EXPECT_EQ(sync_->counters().restricted_early, 1u);
}

TEST_F(SyncTest, Issue13SnapshotPagesAreStagedAsTheyArriveAndACrashLeavesTheOldState) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  json page1 = Records();
  page1["credentials"].push_back(Card("c3", "p1", "c3c3", "active"));
  json page2 = {{"credentials", json::array({Card("c4", "p1", "c4c4", "active")})}};
  Send("sync/snapshot", Snapshot(1, 2, page1, 1, 3, "snap-2"));
  Send("sync/snapshot", Snapshot(1, 2, page2, 2, 3, "snap-2"));
  // The worker writes each page into the stage tables as it comes; nothing is in force yet.
  const std::string path = config_.store_path;
  for (int i = 0; i < 500 && QueryNumber(path, "SELECT count(*) FROM stage_credentials") != 4;
       ++i) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  EXPECT_EQ(QueryNumber(path, "SELECT count(*) FROM stage_credentials"), 4);
  EXPECT_EQ(QueryNumber(path, "SELECT count(*) FROM stage_people"), 2);
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(Decide("c3c3"), "unknown_credential");
  EXPECT_EQ(Decide("a1b2"), "granted");

  // The process ends before the last page: at the next start the stage is gone and the old
  // state is in force; the snapshot sent again (each page) applies.
  Restart();
  EXPECT_EQ(StageTables(path), 0);
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(Decide("a1b2"), "granted");
  json page3 = {{"credentials", json::array({Card("c5", "p1", "c5c5", "active")})}};
  Send("sync/snapshot", Snapshot(1, 2, page2, 2, 3, "snap-2"));  // out of order: held back
  Send("sync/snapshot", Snapshot(1, 2, page1, 1, 3, "snap-2"));
  Send("sync/snapshot", Snapshot(1, 2, page3, 3, 3, "snap-2"));
  EXPECT_EQ(Stored(), (Position{1, 2}));
  EXPECT_EQ(StageTables(path), 0);
  for (const char* uid : {"a1b2", "c3c3", "c4c4", "c5c5"}) EXPECT_EQ(Decide(uid), "granted") << uid;
  EXPECT_EQ(link_.On("sync/ack").back().payload["result"], "applied");
}

TEST_F(SyncTest, Issue13ARejectedStagedSnapshotLeavesTheOldStateAndIndex) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  const std::string path = config_.store_path;
  json page1 = Records();
  page1["credentials"].push_back(Card("c3", "p1", "c3c3", "active"));
  // Invalid across pages: a credential of a person no page has.
  json bad = {{"credentials", json::array({Card("c4", "nobody", "c4c4", "active")})}};
  Send("sync/snapshot", Snapshot(1, 2, page1, 1, 2, "snap-2"));
  Send("sync/snapshot", Snapshot(1, 2, bad, 2, 2, "snap-2"));
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(Decide("a1b2"), "granted");
  EXPECT_EQ(Decide("c3c3"), "unknown_credential") << "the old index stays in force";
  auto acks = link_.On("sync/ack");
  EXPECT_EQ(acks.back().payload["result"], "rejected");
  EXPECT_EQ(acks.back().payload["version"], 2);
  EXPECT_NE(acks.back().payload.dump().find("credential c4: person \\\"nobody\\\" does not exist"),
            std::string::npos)
      << acks.back().payload.dump();
  EXPECT_EQ(StageTables(path), 0);

  // An id on two pages: the stage refuses the second, the snapshot is rejected, nothing changed.
  json again = {{"credentials", json::array({Card("c1", "p1", "d1d1", "active")})}};
  Send("sync/snapshot", Snapshot(1, 3, page1, 1, 2, "snap-3"));
  Send("sync/snapshot", Snapshot(1, 3, again, 2, 2, "snap-3"));
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(link_.On("sync/ack").back().payload["result"], "rejected");
  EXPECT_NE(link_.On("sync/ack").back().payload.dump().find("credential c1: UNIQUE constraint"),
            std::string::npos);
  EXPECT_EQ(Decide("d1d1"), "unknown_credential");
  EXPECT_EQ(StageTables(path), 0);

  // Kinds out of order across pages (credentials before their people): validated from the stage,
  // with the same verdicts.
  json creds = {{"credentials", page1["credentials"]}};
  json rest = page1;
  rest.erase("credentials");
  Send("sync/snapshot", Snapshot(1, 4, creds, 1, 2, "snap-4"));
  Send("sync/snapshot", Snapshot(1, 4, bad, 2, 2, "snap-4"));
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(link_.On("sync/ack").back().payload["result"], "rejected");
  Send("sync/snapshot", Snapshot(1, 5, creds, 1, 2, "snap-5"));
  Send("sync/snapshot", Snapshot(1, 5, rest, 2, 2, "snap-5"));
  EXPECT_EQ(Stored(), (Position{1, 5}));
  EXPECT_EQ(Decide("c3c3"), "granted");
}

// ---- issue 10, point 15: the store fails under the sync (FaultStore) ------------------------

TEST_F(SyncTest, DeltaTheStoreCannotCommitIsNotAckedAppliedAndAppliesWhenSentAgain) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  link_.sent.clear();
  faults_->FailWrites(store::Fault::kDiskFull);
  json revoke = Delta(
      1, 2,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}});
  Send("sync/delta", revoke);
  EXPECT_EQ(Stored(), (Position{1, 1})) << "nothing committed";
  EXPECT_EQ(sync_->applied(), (Position{1, 1}));
  for (const Published& ack : link_.On("sync/ack")) {
    EXPECT_NE(ack.payload["result"], "applied") << ack.payload.dump();
  }
  EXPECT_EQ(Decide("ffff"), "unknown_credential") << "doors keep deciding";
  // Fail secure (issue 10, point 2 follow-up): the revocation is in force at once, from memory.
  EXPECT_EQ(Decide("a1b2"), "credential_revoked") << "a revoked card keeps no door open";
  EXPECT_EQ(sync_->StatusJson()["in_memory_revocations"], 1);
  EXPECT_EQ(sync_->counters().applied_in_memory, 1u);
  EXPECT_GE(faults_->failed_writes(), 1u);

  // Space returns; the cloud's next head shows the gateway behind: it asks again, and the delta
  // sent again applies.
  faults_->FailWrites(store::Fault::kNone);
  ASSERT_TRUE(gw_->Tick().ok());
  link_.sent.clear();
  Send("sync/head", Head(1, 2));
  auto requests = link_.On("sync/request");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].payload["from"], json({{"epoch", 1}, {"version", 1}}));
  Send("sync/delta", revoke);
  EXPECT_EQ(Stored(), (Position{1, 2}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  auto acks = link_.On("sync/ack");
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(acks.back().payload["result"], "applied");
  EXPECT_EQ(sync_->StatusJson()["in_memory_revocations"], 0) << "the store has it now";
  // The event journaled while the disk was full was kept in memory and written once it could be.
  auto in_memory = Journal("sync.applied_in_memory");
  ASSERT_EQ(in_memory.size(), 1u);
  EXPECT_EQ(in_memory[0]["epoch"], 1);
  EXPECT_EQ(in_memory[0]["version"], 2);
  EXPECT_NE(in_memory[0]["error"].get<std::string>().find("disk is full"), std::string::npos);
}

// Only what takes access away goes into force from memory; anything granting waits for the store.
TEST_F(SyncTest, GrantingDeltaTheStoreCannotCommitIsNotAppliedAtAll) {
  json r = Records();
  r["credentials"][0]["status"] = "suspended";
  Send("sync/snapshot", Snapshot(1, 1, r));
  ASSERT_EQ(Decide("a1b2"), "credential_suspended");
  link_.sent.clear();
  faults_->FailWrites(store::Fault::kDiskFull);
  // A new card, and a suspended one made active again: both grant.
  Send(
      "sync/delta",
      Delta(
          1, 2,
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c3", "p1", "c3c3", "active")}}}));
  EXPECT_EQ(Decide("c3c3"), "unknown_credential") << "a new card is not in force";
  Send(
      "sync/delta",
      Delta(
          1, 2,
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "active")}}}));
  EXPECT_EQ(Decide("a1b2"), "credential_suspended") << "a suspension is not lifted";
  // A delta that revokes one card and adds another grants too: none of it is in force.
  Send(
      "sync/delta",
      Delta(
          1, 2,
          {{{"op", "delete"}, {"kind", "credential"}, {"id", "c2"}},
           {{"op", "put"}, {"kind", "credential"}, {"data", Card("c3", "p1", "c3c3", "active")}}}));
  EXPECT_EQ(Decide("5a5a"), "granted") << "all or nothing";
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(sync_->applied(), (Position{1, 1}));
  EXPECT_EQ(sync_->StatusJson()["in_memory_revocations"], 0);
  EXPECT_EQ(sync_->counters().applied_in_memory, 0u);
  for (const Published& ack : link_.On("sync/ack")) {
    EXPECT_EQ(ack.payload["result"], "rejected") << ack.payload.dump();
  }
}

// Several restricting deltas while full (a burst after a request): each follows the one before in
// memory; all are enforced, and all apply for real once the cloud sends them again.
TEST_F(SyncTest, RestrictingDeltasStackInMemoryAndApplyWhenSentAgain) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  faults_->FailWrites(store::Fault::kReadOnly);
  json revoke = Delta(
      1, 2,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}});
  json drop_staff = Delta(1, 3,
                          {{{"op", "delete"}, {"kind", "credential"}, {"id", "c2"}},
                           {{"op", "delete"}, {"kind", "person"}, {"id", "s1"}}});
  link_.sent.clear();
  Send("sync/delta", revoke, /*settle=*/false);
  Send("sync/delta", drop_staff);
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(Decide("5a5a"), "unknown_credential");
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(sync_->applied(), (Position{1, 1}));
  EXPECT_EQ(sync_->StatusJson()["in_memory_revocations"], 2);
  for (const Published& ack : link_.On("sync/ack")) {
    EXPECT_EQ(ack.payload["result"], "rejected") << ack.payload.dump();
  }
  // A granting delta that follows them is not applied: the store cannot take it.
  link_.sent.clear();
  json grant = Delta(
      1, 4,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c3", "p1", "c3c3", "active")}}});
  Send("sync/delta", grant);
  EXPECT_EQ(Decide("c3c3"), "unknown_credential");
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  auto refused = link_.On("sync/ack");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].payload["result"], "rejected");
  EXPECT_EQ(refused[0].payload["version"], 4);
  // Sent again while still read-only: nothing changes, nothing is un-revoked.
  Send("sync/delta", revoke, false);
  Send("sync/delta", drop_staff);
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(Decide("5a5a"), "unknown_credential");
  EXPECT_EQ(sync_->StatusJson()["in_memory_revocations"], 2);
  // A local change (a door mode) committed meanwhile rebuilds the index: memory stays applied.
  faults_->FailWrites(store::Fault::kNone);
  Send("cmd/request", Command("cmd-1", "set_door_mode", {{"door", "unit-1"}, {"mode", "normal"}}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(Decide("5a5a"), "unknown_credential");
  // Writable again: the resent deltas apply for real and are acked applied.
  link_.sent.clear();
  Send("sync/delta", revoke, false);
  Send("sync/delta", drop_staff);
  EXPECT_EQ(Stored(), (Position{1, 3}));
  EXPECT_EQ(sync_->applied(), (Position{1, 3}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(Decide("5a5a"), "unknown_credential");
  EXPECT_EQ(sync_->StatusJson()["in_memory_revocations"], 0);
  auto acks = link_.On("sync/ack");
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].payload["result"], "applied");
  EXPECT_EQ(acks[1].payload["result"], "applied");
  EXPECT_EQ(acks[1].payload["version"], 3);
}

// Documented limit (README "A full or read-only disk"): what is only in memory is gone after a
// restart; the head shows the gateway behind, it asks, and the resent delta is in force again.
TEST_F(SyncTest, RestartWhileFullForgetsInMemoryRevocationsUntilTheCloudSendsThemAgain) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  faults_->FailWrites(store::Fault::kDiskFull);
  json revoke = Delta(
      1, 2,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}});
  Send("sync/delta", revoke);
  ASSERT_EQ(Decide("a1b2"), "credential_revoked");
  Restart();
  EXPECT_EQ(Decide("a1b2"), "granted") << "the store never had the revocation";
  EXPECT_EQ(sync_->applied(), (Position{1, 1}));
  link_.sent.clear();
  Send("sync/head", Head(1, 2));
  auto requests = link_.On("sync/request");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].payload["from"], json({{"epoch", 1}, {"version", 1}}));
  Send("sync/delta", revoke);
  EXPECT_EQ(Decide("a1b2"), "credential_revoked") << "in force again, from memory";
}

TEST_F(SyncTest, EventsKeptInMemoryAreReportedInStateAndPublishedOnceWritten) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  sync_->Tick();
  link_.sent.clear();
  faults_->FailWrites(store::Fault::kDiskFull);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Decide("a1b2"), "granted");
  EXPECT_TRUE(link_.On("events").empty()) << "nothing reached the outbox";
  sync_->Tick();
  auto states = link_.On("state");
  ASSERT_EQ(states.size(), 1u) << "republished when events start waiting in memory";
  EXPECT_EQ(states[0].payload["unwritten"], 3);
  EXPECT_FALSE(states[0].payload.contains("lost")) << "nothing was dropped";

  faults_->FailWrites(store::Fault::kNone);
  link_.sent.clear();
  ASSERT_TRUE(gw_->Tick().ok());  // housekeeping writes them; the outbox publishes them
  std::vector<json> published;
  for (const auto& b : link_.On("events")) {
    for (const json& e : b.payload["events"]) published.push_back(e);
  }
  ASSERT_EQ(published.size(), 3u);
  for (const json& e : published) EXPECT_EQ(e["type"], "access.granted");
  sync_->Tick();
  states = link_.On("state");
  ASSERT_EQ(states.size(), 1u);
  EXPECT_FALSE(states[0].payload.contains("unwritten")) << "the contract's payload again";
}

TEST_F(SyncTest, CommandIsRefusedWhenItCannotBeRecordedOnceOnly) {
  faults_->FailWrites(store::Fault::kDiskFull);
  link_.sent.clear();
  Send("cmd/request", Command("cmd-1", "ping", json::object()));
  auto responses = link_.On("cmd/response");
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].payload["ok"], false);
  EXPECT_NE(responses[0].payload["error"].get<std::string>().find("disk is full"),
            std::string::npos);
}

// Issue 10 point 11: the daemon's SIGHUP path (gateway/main.cpp) checks every part before it
// commits any. Before, gw.Reload switched the core to the new doors and then CloudSync refused the
// new gateway id, while the log said the old config stayed in force.
TEST_F(SyncTest, ReloadRefusedByCloudSyncLeavesTheCoreOnTheOldConfig) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  config::Config next = config_;
  next.doors.push_back({"garage", "Garage", true, 5000, 30});
  next.gateway_id = "gw-2";
  std::optional<core::Gateway::PreparedReload> prepared;
  const std::vector<core::ReloadPart> parts = {
      {"core",
       [&] {
         auto p = gw_->PrepareReload(next);
         if (!p.ok()) return p.status();
         prepared = std::move(*p);
         return Status::Ok();
       },
       [&] { gw_->CommitReload(std::move(*prepared)); }},
      {"cloud sync", [&] { return sync_->CheckReload(next); },
       [&] { ASSERT_TRUE(sync_->Reload(next).ok()); }},
  };
  Status s = core::ReloadAll(parts);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message().rfind("cloud sync: ", 0), 0u) << s.message();
  EXPECT_EQ(gw_->config().doors.size(), 2u) << "the core kept the running config";
  EXPECT_EQ(gw_->engine().index()->FindDoor("garage"), rules::kNone);
  EXPECT_EQ(gw_->config().gateway_id, "gw-1");
  // The same reload without the id change is taken by both.
  next.gateway_id = "gw-1";
  ASSERT_TRUE(core::ReloadAll(parts).ok());
  Settle();
  EXPECT_NE(gw_->engine().index()->FindDoor("garage"), rules::kNone);
  EXPECT_EQ(Decide("5a5a", "garage"), "granted") << "staff's default group has the new door";
}

// Issue 10 point 3: a floor an older version stored in 2099 (a clock that had jumped forward) is
// replaced by the cloud's signed time when the wall clock lies inside the head's window; until
// then every lease with an end was denied, and every head looked expired.
TEST_F(SyncTest, StoredFloorFarInTheFutureIsReplacedByASignedHead) {
  json r = Records();
  r["leases"][0]["ends_at"] = "2026-12-01T00:00:00Z";
  Send("sync/snapshot", Snapshot(1, 1, r));
  sync_.reset();
  gw_.reset();
  {
    auto store = store::Store::Open(config_.store_path, {});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->AdvanceLastKnownGood(T("2099-01-01T00:00:00Z")).ok());
  }
  clock_.SetSynchronized(false);
  Open();
  EXPECT_EQ(Decide("a1b2"), "lease_ended") << "the unsynchronized clock cannot overrule the floor";
  Send("sync/head", Head(1, 1));  // issued 10:00, expires tomorrow; the wall clock says 12:00
  EXPECT_EQ(sync_->counters().rejected_by_reason.count("stale"), 0u) << "the head is fresh";
  EXPECT_EQ(Decide("a1b2"), "granted");
  json events = (*gw_->Handle({{"cmd", "events.tail"}, {"n", 50}}))["events"];
  int resets = 0;
  for (const json& e : events) {
    if (e["type"] != "clock.floor_reset") continue;
    ++resets;
    EXPECT_EQ(e["from"], "2099-01-01T00:00:00Z");
    EXPECT_EQ(e["to"], "2026-11-23T10:00:00Z");
    EXPECT_EQ(e["source"], "signed cloud time");
  }
  EXPECT_EQ(resets, 1) << events.dump();
  Restart();
  EXPECT_EQ(Decide("a1b2"), "granted") << "the replaced floor was stored";
}

// ---- issue 10
// ------------------------------------------------------------------------------------

TEST_F(SyncTest, Issue10ForgedFloodIsJournaledCoalescedAndTheDoorsStillDecide) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  json revoke = Delta(
      1, 2,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}});
  const std::string forged = Sign(revoke, Key(9), "cloud-1");
  const size_t before = JournalCount("sync.rejected");
  constexpr int kFlood = 2000;
  for (int i = 0; i < kFlood; ++i) SendRaw("sync/delta", forged, false);
  // Verifying takes a while on a loaded machine (the parser thread runs at a lower priority).
  for (int i = 0; i < 12000 && sync_->pending_jobs() > 0; ++i) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  Settle();
  EXPECT_EQ(Decide("a1b2"), "granted") << "nothing forged applies";
  EXPECT_EQ(Stored(), (Position{1, 1}));
  // Every message is counted: verified and refused, or dropped unread when the parser's queue
  // (cloud.limits.queue_messages, 1000) was full.
  const auto& by = sync_->counters().rejected_by_reason;
  uint64_t signature = by.contains("signature") ? by.at("signature") : 0;
  uint64_t overload = by.contains("overload") ? by.at("overload") : 0;
  EXPECT_EQ(signature + overload, static_cast<uint64_t>(kFlood));
  EXPECT_GE(signature, 900u);
  // One journal event per reason so far (the first of a quiet period), not one per message.
  EXPECT_LE(JournalCount("sync.rejected") - before, 2u);
  EXPECT_EQ(link_.On("sync/ack").size(), 1u) << "only the snapshot's ack; forgeries get none";
  // After the interval (60 s by default), one more event per reason carries the rest, counted.
  clock_.Advance(std::chrono::seconds(61));
  sync_->Tick();
  EXPECT_LE(JournalCount("sync.rejected") - before, 4u);
  EXPECT_EQ(JournaledRejections("signature"), signature);
  EXPECT_EQ(JournaledRejections("overload"), overload);
  json first = Journal("sync.rejected", "signature").front();
  EXPECT_EQ(first["topic"], "sync/delta");
  EXPECT_TRUE(first.contains("first_at") && first.contains("last_at"));
  EXPECT_EQ(sync_->StatusJson()["counters"]["rejected_journaled"].get<uint64_t>(),
            JournalCount("sync.rejected") - before);
}

// Issue 10, point 1: the MQTT client's thread hands each message straight to the parser's bounded
// queue (TakeOffLoop), so a flood is never queued on the core loop. Every message is accounted for
// (verified and refused, or dropped as overload), and a real delta sent the same way still applies.
TEST_F(SyncTest, Issue10MessagesTakenOffTheLoopAreVerifiedCountedAndApplied) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  json revoke = Delta(
      1, 2,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}});
  const std::string forged = Sign(revoke, Key(9), "cloud-1");
  const std::string topic = sync_->topics().root + "/sync/delta";
  constexpr int kFlood = 3000;
  int taken = 0;
  std::thread client([&] {
    for (int i = 0; i < kFlood; ++i) taken += sync_->TakeOffLoop(topic, forged) ? 1 : 0;
  });
  client.join();
  EXPECT_EQ(taken, kFlood) << "every message within its limit is taken off the loop";
  EXPECT_FALSE(sync_->TakeOffLoop(topic, std::string(5 << 20, 'A')))
      << "over the delta limit: left to the loop, which counts it";
  for (int i = 0; i < 12000 && sync_->pending_jobs() > 0; ++i) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  Settle();
  sync_->Tick();
  const auto& by = sync_->counters().rejected_by_reason;
  uint64_t signature = by.contains("signature") ? by.at("signature") : 0;
  uint64_t overload = by.contains("overload") ? by.at("overload") : 0;
  EXPECT_EQ(signature + overload, static_cast<uint64_t>(kFlood));
  EXPECT_GE(sync_->counters().messages, static_cast<uint64_t>(kFlood));
  EXPECT_EQ(Decide("a1b2"), "granted") << "nothing forged applies";
  // The cloud's real delta, through the same path.
  ASSERT_TRUE(sync_->TakeOffLoop(topic, Sign(revoke, key_, "cloud-1")));
  for (int i = 0; i < 3000 && Stored() != Position{1, 2}; ++i) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  Settle();
  EXPECT_EQ(Stored(), (Position{1, 2}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
}

// Issue 13, point 5: a snapshot of many more pages than the parser's queue holds, arriving as fast
// as the MQTT client's thread can hand them on: the pages wait for room (back-pressure to the
// broker) instead of being dropped, and the snapshot completes.
// A config reload (SIGHUP) between two pages of a staged snapshot: the pages before it were
// validated against the old site on the digest thread, which held views into it. The reload
// stops that validation, and the completion validates the whole stage against the new site (a
// group naming the new door is valid; before, the thread read the freed site).
TEST_F(SyncTest, Issue13ASiteReloadWhilePagesAreStagedValidatesAgainstTheNewSite) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  // Page 1 names the door the reload adds; the kinds come in order, so the pages are validated
  // as they arrive.
  json page1 = Records();
  page1["groups"] = json::array(
      {{{"id", "g-garage"}, {"name", "Garage"}, {"doors", {"garage"}}, {"schedule", "always"}}});
  page1["people"].push_back(
      {{"id", "p9"}, {"name", "Pat"}, {"role", "staff"}, {"groups", {"g-garage"}}});
  json page2 = {{"credentials", json::array({Card("c4", "p1", "c4c4", "active")})}};
  Send("sync/snapshot", Snapshot(1, 2, page1, 1, 3, "snap-2"));
  Send("sync/snapshot", Snapshot(1, 2, page2, 2, 3, "snap-2"));

  config::Config next = config_;
  next.doors.push_back({"garage", "Garage", false, 5000, 30});
  auto prepared = gw_->PrepareReload(next);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  ASSERT_TRUE(sync_->CheckReload(next).ok());
  gw_->CommitReload(std::move(*prepared));
  ASSERT_TRUE(sync_->Reload(next).ok());

  json page3 = {{"credentials", json::array({Card("c9", "p9", "c9c9", "active")})}};
  Send("sync/snapshot", Snapshot(1, 2, page3, 3, 3, "snap-2"));
  Settle();
  EXPECT_EQ(link_.On("sync/ack").back().payload["result"], "applied")
      << link_.On("sync/ack").back().payload.dump();
  EXPECT_EQ(Stored(), (Position{1, 2}));
  EXPECT_EQ(Decide("c9c9", "garage"), "granted");
  EXPECT_EQ(Decide("c4c4"), "granted");
  EXPECT_EQ(StageTables(config_.store_path), 0);
}

TEST_F(SyncTest, Issue13SnapshotPagesWaitForRoomInsteadOfBeingDropped) {
  WriteConfig("  limits: {queue_messages: 16}\n");
  Restart();
  constexpr int kPages = 200;
  std::vector<std::string> pages;
  for (int p = 1; p <= kPages; ++p) {
    json records = p == 1 ? Records() : json::object();
    if (p > 1) {
      char uid[16];
      std::snprintf(uid, sizeof uid, "%04x", 0x1000 + p);
      records["credentials"] =
          json::array({Card(("cx" + std::to_string(p)).c_str(), "p1", uid, "active")});
    }
    pages.push_back(Sign(Snapshot(1, 1, records, p, kPages), key_, "cloud-1"));
  }
  const std::string topic = sync_->topics().root + "/sync/snapshot";
  int taken = 0;
  std::thread client([&] {
    for (const std::string& page : pages) taken += sync_->TakeOffLoop(topic, page) ? 1 : 0;
  });
  for (int i = 0; i < 6000 && Stored() != Position{1, 1}; ++i) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  client.join();
  Settle();
  EXPECT_EQ(taken, kPages);
  sync_->Tick();  // collects what the MQTT client's thread counted
  Settle();
  EXPECT_FALSE(sync_->counters().rejected_by_reason.contains("overload"));
  EXPECT_EQ(sync_->counters().messages, static_cast<uint64_t>(kPages));
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(Decide("10c8"), "granted") << "the last page's card";
  EXPECT_EQ(Decide("a1b2"), "granted") << "the first page's card";
}

// The threads of this process by name (/proc/self/task/*/comm): their nice values and slices.
struct ThreadSched {
  int nice = 0;
  uint64_t slice_ns = 0;  // ThreadSliceNs
};
std::multimap<std::string, ThreadSched> ThreadsByName() {
  std::multimap<std::string, ThreadSched> out;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // Fields after the ")" closing the name: state is field 3, nice field 19.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19 && rest >> field; ++i) {
    }
    out.emplace(name, ThreadSched{std::stoi(field),
                                  ThreadSliceNs(std::stoi(task.path().filename().string()))});
  }
  return out;
}

// Issue 13, point 2: the cloud path runs between the doors and the state worker. A revocation's
// parser below the worker waited for the worker's whole time slice while a snapshot applied.
TEST_F(SyncTest, Issue13TheCloudPathRunsBelowTheDoorsAndAboveTheStateWorker) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  const int doors = ThisThreadNice();
  const std::multimap<std::string, ThreadSched> threads = ThreadsByName();
  ASSERT_EQ(threads.count("sync-parser"), 2u);
  ASSERT_EQ(threads.count("state-worker"), 1u);
  for (auto [it, end] = threads.equal_range("sync-parser"); it != end; ++it) {
    EXPECT_EQ(it->second.nice, std::min(19, doors + kMessageNiceAbove));
  }
  EXPECT_EQ(threads.find("state-worker")->second.nice, std::min(19, doors + kBulkNiceAbove));
  EXPECT_LT(kMessageNiceAbove, kBulkNiceAbove);
  // And their slices: the parsers ask for short ones (a woken parser preempts bulk work at once),
  // the state worker has the kernel's default (where the kernel has slices: Linux 6.12+).
  if (ThreadSliceNs() == 0) GTEST_SKIP() << "this kernel reports no slice for SCHED_OTHER";
  for (auto [it, end] = threads.equal_range("sync-parser"); it != end; ++it) {
    EXPECT_EQ(it->second.slice_ns,
              static_cast<uint64_t>(std::chrono::nanoseconds(kShortSlice).count()));
  }
  EXPECT_NE(threads.find("state-worker")->second.slice_ns,
            static_cast<uint64_t>(std::chrono::nanoseconds(kShortSlice).count()));
}

// Every queue has a bound: deltas that find the state worker with cloud.limits.queue_messages jobs
// queued (here a held worker, as behind a long snapshot) are dropped and counted, without a gap
// ack for each, and requested again once the worker is down to half; the cloud's resend applies.
// A revocation among them is in force all the same, from its arrival to its commit.
TEST_F(SyncTest, Issue13DeltasBeyondTheWorkersQueueAreShedAndRequestedAgain) {
  WriteConfig("  limits: {queue_messages: 16}\n");
  auto hold = HoldWorkerBeforeJobs();
  Restart();
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  const size_t acks = link_.On("sync/ack").size();
  auto card = [&](int v) {
    if (v == 20) {  // shed: revokes a1b2
      return json::array(
          {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}});
    }
    char uid[16];
    std::snprintf(uid, sizeof uid, "%04x", 0x2000 + v);
    return json::array({{{"op", "put"},
                         {"kind", "credential"},
                         {"data", Card(("cd" + std::to_string(v)).c_str(), "p1", uid, "active")}}});
  };
  auto overload = [&] {
    auto& by = sync_->counters().rejected_by_reason;
    return by.contains("overload") ? by.at("overload") : 0;
  };
  // One at a time, each handled before the next (the parser's own queue has the same bound).
  auto send = [&](int v) {
    const uint64_t shed = overload();
    Send("sync/delta", Delta(1, v, card(v)), false);
    for (int i = 0;
         i < 500 && sync_->pending().version != static_cast<uint64_t>(v) && overload() == shed;
         ++i) {
      EXPECT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
    }
  };
  hold->store(true);
  for (int v = 2; v <= 25; ++v) send(v);
  EXPECT_EQ(overload(), 8u) << "deltas 18..25: the worker holds 16 jobs";
  EXPECT_EQ(Decide("a1b2"), "credential_revoked") << "delta 20, shed, revokes it all the same";
  EXPECT_EQ(sync_->pending(), (Position{1, 17}));
  EXPECT_EQ(link_.On("sync/ack").size(), acks) << "no gap ack for what was shed";
  EXPECT_EQ(sync_->counters().gaps, 0u);
  const size_t requests = link_.On("sync/request").size();

  hold->store(false);
  Settle();
  EXPECT_EQ(Stored(), (Position{1, 17}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked") << "until its resend is committed";
  EXPECT_EQ(Decide("2011"), "granted") << "delta 17's card";
  auto asked = link_.On("sync/request");
  ASSERT_EQ(asked.size(), requests + 1) << "requested again once the worker had room";
  EXPECT_EQ(asked.back().payload,
            json::parse(R"({"want":"deltas","from":{"epoch":1,"version":17}})"));
  for (int v = 18; v <= 25; ++v) Send("sync/delta", Delta(1, v, card(v)), false);
  Settle();
  EXPECT_EQ(Stored(), (Position{1, 25}));
  EXPECT_EQ(Decide("2019"), "granted") << "delta 25's card";
  EXPECT_EQ(Decide("a1b2"), "credential_revoked") << "committed";
  EXPECT_EQ(overload(), 8u);
}

// Issue 13, point 1: the state worker's commits never checkpoint the WAL (a checkpoint under a
// delta's commit cost ~100 ms at 2,000,000 credentials). A snapshot's WAL is copied into the
// database within the snapshot's job; what deltas leave there, once the worker has been idle for
// kIdleCheckpointAfter.
TEST_F(SyncTest, Issue13TheWorkerCheckpointsTheWalWhenIdleNotUnderACommit) {
  namespace fs = std::filesystem;
  auto cards = [&](int from, int n) {
    json out = json::array();
    for (int i = from; i < from + n; ++i) {
      char uid[16];
      std::snprintf(uid, sizeof uid, "%08x", 0x10000000 + i);
      out.push_back(Card(("cw" + std::to_string(i)).c_str(), "p1", uid, "active"));
    }
    return out;
  };
  // Large jobs: waited for without Settle's bound (sanitizer builds run them many times slower).
  auto until_stored = [&](Position p) {
    for (int i = 0; i < 30000 && Stored() != p; ++i) {
      ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
    }
    ASSERT_EQ(Stored(), p);
    Settle();
  };
  json records = Records();
  for (const json& c : cards(0, 20000)) records["credentials"].push_back(c);
  Send("sync/snapshot", Snapshot(1, 1, records), /*settle=*/false);
  until_stored(Position{1, 1});
  const auto after_snapshot = fs::file_size(config_.store_path);
  EXPECT_GT(after_snapshot, uintmax_t{1} << 20) << "the snapshot's pages are in the database file";
  // A delta: its pages stay in the WAL...
  json ops = json::array();
  for (const json& c : cards(100000, 4000)) {
    ops.push_back({{"op", "put"}, {"kind", "credential"}, {"data", c}});
  }
  const auto sent_at = std::chrono::steady_clock::now();
  Send("sync/delta", Delta(1, 2, ops), /*settle=*/false);
  until_stored(Position{1, 2});
  const auto before = fs::file_size(config_.store_path);
  const uint64_t checkpoints_before = sync_->wal_checkpoints();
  // Checked when the worker cannot have been idle for kIdleCheckpointAfter since its commit yet
  // (a slow sanitizer build or a loaded machine may take longer to get here).
  if (std::chrono::steady_clock::now() - sent_at < cloud::kIdleCheckpointAfter) {
    EXPECT_LT(before, after_snapshot + (uintmax_t{128} << 10))
        << "no commit checkpointed the delta's pages";
  }
  // ...and are copied into the database once the worker is idle.
  auto deadline = std::chrono::steady_clock::now() + cloud::kIdleCheckpointAfter * 30;
  while (fs::file_size(config_.store_path) <= before + (uintmax_t{256} << 10) &&
         std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(50)).ok());
  }
  EXPECT_GT(fs::file_size(config_.store_path), before + (uintmax_t{256} << 10))
      << "checkpointed when idle";
  // Counted once it is done (cloud_bench waits for it before a pass), and shown in the status.
  while (sync_->wal_checkpoints() == checkpoints_before &&
         std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
  }
  EXPECT_GT(sync_->wal_checkpoints(), checkpoints_before);
  EXPECT_GE(sync_->idle_upkeeps(), sync_->wal_checkpoints());
  EXPECT_EQ(sync_->StatusJson()["components"]["worker"]["wal_checkpoints"],
            sync_->wal_checkpoints());
  EXPECT_EQ(Decide("10000007"), "granted");
}

TEST_F(SyncTest, Issue10OversizedMessagesAreDroppedUnreadPerTopicLimit) {
  WriteConfig("  limits: {delta_bytes: 2048, snapshot_page_bytes: 65536}\n");
  Restart();
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  json big = Delta(1, 2, json::array());
  big["padding"] = std::string(4000, 'x');  // over 2048 bytes once signed
  for (int i = 0; i < 10; ++i) Send("sync/delta", big);
  EXPECT_EQ(sync_->counters().rejected_by_reason.at("too_large"), 10u);
  EXPECT_FALSE(sync_->counters().rejected_by_reason.contains("bad_field")) << "never parsed";
  EXPECT_EQ(JournalCount("sync.rejected", "too_large"), 1u);
  json e = Journal("sync.rejected", "too_large").front();
  EXPECT_NE(e["error"].get<std::string>().find("cloud.limits.delta_bytes"), std::string::npos)
      << e.dump();
  // A delta within the limit still applies.
  Send("sync/delta", Delta(1, 2, json::array()));
  EXPECT_EQ(Stored(), (Position{1, 2}));
}

TEST_F(SyncTest, Issue10CommandExpiringBeforeItsIssueIsRefusedOnCmdResponse) {
  Send("cmd/request",
       Command("c-9", "ping", json::object(), "2026-11-23T11:00:00Z", "2026-11-23T11:50:00Z"));
  auto r = link_.On("cmd/response");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].payload["id"], "c-9");
  EXPECT_EQ(r[0].payload["ok"], false);
  EXPECT_EQ(r[0].payload["error"],
            "command expired at 2026-11-23T11:00:00Z, before it was issued at "
            "2026-11-23T11:50:00Z");
  EXPECT_FALSE(r[0].payload.contains("result"));
  EXPECT_EQ(sync_->counters().commands_refused, 1u);
}

TEST_F(SyncTest, Issue10AckTimeoutRunsOnTheInjectedClock) {
  Decide("ffff");
  auto events = [&] {
    size_t n = 0;
    for (const auto& b : link_.On("events")) n += b.payload["events"].size();
    return n;
  };
  const size_t sent = events();
  ASSERT_GT(sent, 0u);
  clock_.Advance(CloudSync::kAckTimeout - std::chrono::seconds(1));
  sync_->Tick();
  EXPECT_EQ(events(), sent) << "not yet: no resend before the timeout";
  clock_.Advance(std::chrono::seconds(2));
  sync_->Tick();
  ASSERT_GT(events(), sent) << "resent after kAckTimeout on the FakeClock, no wall time waited";
  EXPECT_EQ(link_.On("events").back().payload["events"].front()["historical"], true);
}

TEST_F(SyncTest, Issue10IndexBuildFailureIsLoudUnacknowledgedAndRetried) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  auto fail_index = std::make_shared<std::atomic<int>>(0);
  sync_faults_.worker = [fail_index](std::string_view stage) -> Status {
    if (stage == "index" && fail_index->load() > 0) {
      fail_index->fetch_sub(1);
      return Status::IoError("disk I/O error (injected)");
    }
    return Status::Ok();
  };
  Restart();
  fail_index->store(2);  // the build after the delta fails, and the first retry too
  size_t acks = link_.On("sync/ack").size();
  const size_t applied_events = JournalCount("sync.applied");
  json revoke = Delta(
      1, 2,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}},
       {{"op", "put"}, {"kind", "credential"}, {"data", Card("c3", "p1", "c3c3", "active")}}});
  Send("sync/delta", revoke);
  EXPECT_EQ(Stored(), (Position{1, 2})) << "committed";
  EXPECT_EQ(link_.On("sync/ack").size(), acks) << "but not acknowledged";
  EXPECT_EQ(JournalCount("sync.applied"), applied_events) << "not journaled as applied";
  ASSERT_EQ(JournalCount("sync.index_failed"), 1u);
  EXPECT_TRUE(sync_->index_failed());
  EXPECT_EQ(sync_->StatusJson()["index_failed"], true);
  EXPECT_EQ(sync_->applied(), (Position{1, 1})) << "the doors decide on the previous state";
  EXPECT_EQ(Decide("c3c3"), "unknown_credential");
  // First retry (after 1 s) fails again: still loud in status, journaled once.
  clock_.Advance(std::chrono::seconds(1));
  sync_->Tick();
  Settle();
  EXPECT_TRUE(sync_->index_failed());
  EXPECT_EQ(JournalCount("sync.index_failed"), 1u);
  // The next (after 2 s more) succeeds: in force, acknowledged, journaled.
  clock_.Advance(std::chrono::seconds(2));
  sync_->Tick();
  Settle();
  EXPECT_FALSE(sync_->index_failed());
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(Decide("c3c3"), "granted");
  auto after = link_.On("sync/ack");
  ASSERT_EQ(after.size(), acks + 1);
  EXPECT_EQ(after.back().payload["result"], "applied");
  EXPECT_EQ(after.back().payload["version"], 2);
  EXPECT_EQ(sync_->applied(), (Position{1, 2}));
  EXPECT_EQ(JournalCount("sync.applied"), applied_events + 1);
  EXPECT_EQ(sync_->counters().index_failures, 2u);
}

TEST_F(SyncTest, Issue10StateWorkerJobThatThrowsMarksTheWorkerFailedAndTheGatewayDecides) {
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  auto throw_next = std::make_shared<std::atomic<bool>>(false);
  sync_faults_.worker = [throw_next](std::string_view stage) -> Status {
    if (stage == "job" && throw_next->exchange(false)) throw std::runtime_error("injected bug");
    return Status::Ok();
  };
  Restart();
  throw_next->store(true);
  json revoke = Delta(
      1, 2,
      {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", "revoked")}}});
  Send("sync/delta", revoke);
  EXPECT_EQ(Stored(), (Position{1, 1})) << "the job threw: nothing changed";
  json worker = sync_->StatusJson()["components"]["worker"];
  EXPECT_EQ(worker["ok"], false);
  EXPECT_EQ(worker["faults"], 1);
  EXPECT_NE(worker["error"].get<std::string>().find("injected bug"), std::string::npos);
  EXPECT_EQ(Decide("a1b2"), "granted") << "the gateway keeps deciding";
  // The worker thread lives on: the same delta, sent again, applies.
  Send("sync/delta", revoke);
  EXPECT_EQ(Stored(), (Position{1, 2}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
}

// Issue 13, point 2: a small message that finds the parser pool idle is verified on the MQTT
// client's thread that received it (no parser thread to wake first); a burst goes to the pool
// beyond the first few, and every message is still handed on in arrival order.
TEST_F(SyncTest, Issue13ASmallMessageIsVerifiedOnTheReceivingThreadWhenThePoolIsIdle) {
  std::mutex mu;
  std::vector<std::thread::id> verified_on;
  sync_faults_.parser = [&] {
    std::lock_guard lock(mu);
    verified_on.push_back(std::this_thread::get_id());
  };
  Restart();
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  const std::string topic = sync_->topics().root + "/sync/delta";
  auto revoke = [&](uint64_t version, const char* status) {
    return Sign(
        Delta(
            1, version,
            {{{"op", "put"}, {"kind", "credential"}, {"data", Card("c1", "p1", "a1b2", status)}}}),
        key_, "cloud-1");
  };
  auto run_until = [&](Position at) {
    for (int i = 0; i < 3000 && Stored() != at; ++i) {
      ASSERT_TRUE(loop_->RunOnce(std::chrono::milliseconds(10)).ok());
    }
    Settle();
  };

  // One revocation, alone: verified on the thread that took it, before TakeOffLoop returned.
  std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the token bucket is full
  std::thread::id receiver;
  size_t before = 0;
  std::thread client([&] {
    receiver = std::this_thread::get_id();
    {
      std::lock_guard lock(mu);
      before = verified_on.size();
    }
    ASSERT_TRUE(sync_->TakeOffLoop(topic, revoke(2, "revoked")));
    std::lock_guard lock(mu);
    ASSERT_EQ(verified_on.size(), before + 1) << "verified before TakeOffLoop returned";
  });
  client.join();
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(verified_on.back(), receiver);
  }
  run_until(Position{1, 2});
  EXPECT_EQ(Stored(), (Position{1, 2}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked");
  EXPECT_EQ(sync_->StatusJson()["components"]["parser"]["on_receive"], 1);

  // A burst of 40 deltas at once: at most a few on the receiving thread (kInlineBurst, then one per
  // millisecond), the rest on the pool; applied in order (a swap would be a gap and stop short),
  // the last one deciding the card's status.
  constexpr uint64_t kBurst = 40;
  std::vector<std::string> burst;
  for (uint64_t v = 3; v < 3 + kBurst; ++v)
    burst.push_back(revoke(v, v % 2 ? "active" : "revoked"));
  std::thread burster([&] {
    receiver = std::this_thread::get_id();
    for (const std::string& m : burst) ASSERT_TRUE(sync_->TakeOffLoop(topic, m));
  });
  burster.join();
  run_until(Position{1, 2 + kBurst});
  EXPECT_EQ(Stored(), (Position{1, 2 + kBurst}));
  EXPECT_EQ(Decide("a1b2"), "credential_revoked") << "version 42, the last, revokes";
  EXPECT_EQ(sync_->counters().rejected_by_reason.size(), 0u);
  size_t on_receiver = 0, on_pool = 0;
  {
    std::lock_guard lock(mu);
    for (size_t i = before + 1; i < verified_on.size(); ++i) {
      (verified_on[i] == receiver ? on_receiver : on_pool) += 1;
    }
  }
  EXPECT_EQ(on_receiver + on_pool, kBurst);
  EXPECT_GE(on_receiver, 1u);
  EXPECT_GE(on_pool, kBurst / 2) << "a burst is not verified on the receiving thread";
}

TEST_F(SyncTest, Issue10ParserThreadExceptionIsCaughtCountedAndTheNextMessageParses) {
  auto throw_next = std::make_shared<std::atomic<bool>>(false);
  sync_faults_.parser = [throw_next] {
    if (throw_next->exchange(false)) throw std::runtime_error("injected parser bug");
  };
  Restart();
  throw_next->store(true);
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  EXPECT_EQ(Stored(), (Position{0, 0}));
  json parser = sync_->StatusJson()["components"]["parser"];
  EXPECT_EQ(parser["ok"], false);
  EXPECT_EQ(parser["faults"], 1);
  EXPECT_EQ(sync_->counters().rejected_by_reason.at("internal"), 1u);
  EXPECT_EQ(sync_->StatusJson()["components"]["worker"]["ok"], true);
  Send("sync/snapshot", Snapshot(1, 1, Records()));
  EXPECT_EQ(Stored(), (Position{1, 1}));
  EXPECT_EQ(Decide("a1b2"), "granted");
}

}  // namespace
}  // namespace lintel::cloud
