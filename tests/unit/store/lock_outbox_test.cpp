// The BLE locks' tables (issue 11): each lock's outbox of pending changes, its entry map and its
// sync status; durable across a reopen and a kill -9.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "gateway/store/fault_store.h"
#include "gateway/store/store.h"

namespace lintel::store {
namespace {

namespace fs = std::filesystem;
using rules::LockEntry;
using rules::LockOp;

Instant T(int64_t unix_seconds) { return FromUnix(unix_seconds); }

constexpr const char* kKey = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

LockOutboxOp Op(LockOp::Kind kind, std::string credential, uint32_t code) {
  LockOutboxOp o;
  o.op.kind = kind;
  o.op.restricts = kind == LockOp::Kind::kRemove;
  o.op.entry.credential = std::move(credential);
  o.op.entry.person = "ada";
  o.op.entry.name = "Ada Lovelace";
  o.op.entry.code = code;
  o.next_at = T(1000);
  return o;
}

// Every field set to something other than its default.
LockOutboxOp FullAuthorization() {
  LockOutboxOp o = Op(LockOp::Kind::kUpdate, "c-phone", 0);
  o.op.restricts = true;
  o.op.entry.kind = LockEntry::Kind::kAuthorization;
  o.op.entry.key = kKey;
  o.op.entry.from = T(1767225600);
  o.op.entry.until = T(1798761600);
  o.op.entry.weekdays = 0x7c;
  o.op.entry.from_min = 540;
  o.op.entry.until_min = 1439;
  o.lock_entry_id = 4000000000u;
  o.attempts = 3;
  o.next_at = T(1767229200);
  o.last_error = "lock error 0x45 busy";
  return o;
}

class StoreLocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "lintel-locks-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "lintel.sqlite").string();
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    StoreOptions options;
    options.durable_commits = false;  // a reopen, not a power cut
    Result<std::unique_ptr<Store>> s = Store::Open(path_, options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  std::vector<LockOutboxOp> Replace(std::string_view lock, std::vector<LockOutboxOp> ops) {
    Result<std::vector<LockOutboxOp>> r = store_->ReplaceLockOutbox(lock, std::move(ops));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : std::vector<LockOutboxOp>{};
  }
  std::vector<LockOutboxOp> Outbox(std::string_view lock) {
    Result<std::vector<LockOutboxOp>> r = store_->LockOutbox(lock);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : std::vector<LockOutboxOp>{};
  }
  std::vector<LockEntryRecord> Map(std::string_view lock) {
    Result<std::vector<LockEntryRecord>> r = store_->LockEntryMap(lock);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : std::vector<LockEntryRecord>{};
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

std::vector<std::string> Credentials(const std::vector<LockOutboxOp>& ops) {
  std::vector<std::string> out;
  for (const LockOutboxOp& o : ops) out.push_back(o.op.entry.credential);
  return out;
}

// ---- outbox -----------------------------------------------------------------------------------

TEST_F(StoreLocksTest, ReplaceStoresEveryFieldAndAssignsAscendingIdsInOrder) {
  LockOutboxOp plain = Op(LockOp::Kind::kAdd, "c-ada", 345678);
  std::vector<LockOutboxOp> stored =
      Replace("unit-101", {Op(LockOp::Kind::kRemove, "c-old", 111111), FullAuthorization(), plain});
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_LT(stored[0].id, stored[1].id);
  EXPECT_LT(stored[1].id, stored[2].id);
  EXPECT_EQ(Outbox("unit-101"), stored);
  LockOutboxOp full = FullAuthorization();
  full.id = stored[1].id;
  EXPECT_EQ(stored[1], full);
  plain.id = stored[2].id;
  EXPECT_EQ(stored[2], plain) << "unset optionals read back unset";
  EXPECT_TRUE(Outbox("unit-102").empty());
}

TEST_F(StoreLocksTest, ReplaceReplacesOnlyThatLocksOpsAndEmptyClears) {
  Replace("unit-101",
          {Op(LockOp::Kind::kAdd, "c-1", 345678), Op(LockOp::Kind::kAdd, "c-2", 456789)});
  Replace("unit-102", {Op(LockOp::Kind::kAdd, "c-9", 567891)});
  Replace("unit-101", {Op(LockOp::Kind::kRemove, "c-2", 456789)});
  EXPECT_EQ(Credentials(Outbox("unit-101")), std::vector<std::string>{"c-2"});
  EXPECT_EQ(Outbox("unit-101")[0].op.kind, LockOp::Kind::kRemove);
  EXPECT_EQ(Credentials(Outbox("unit-102")), std::vector<std::string>{"c-9"});
  Replace("unit-101", {});
  EXPECT_TRUE(Outbox("unit-101").empty());
  EXPECT_EQ(Outbox("unit-102").size(), 1u);
}

TEST_F(StoreLocksTest, AnUnchangedOpKeepsItsBackoffAChangedOneStartsAfresh) {
  std::vector<LockOutboxOp> first = Replace(
      "unit-101", {Op(LockOp::Kind::kAdd, "c-1", 345678), Op(LockOp::Kind::kAdd, "c-2", 456789)});
  ASSERT_TRUE(
      store_->MarkLockOpFailed("unit-101", first[0].id, 4, T(5000), "lock out of range").ok());
  ASSERT_TRUE(store_->MarkLockOpFailed("unit-101", first[1].id, 2, T(3000), "busy").ok());
  // The diff again: c-1 unchanged; c-2's window changed.
  LockOutboxOp c2 = Op(LockOp::Kind::kAdd, "c-2", 456789);
  c2.op.entry.until = T(9000);
  std::vector<LockOutboxOp> second =
      Replace("unit-101", {Op(LockOp::Kind::kAdd, "c-1", 345678), c2});
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].attempts, 4u);
  EXPECT_EQ(second[0].next_at, T(5000));
  EXPECT_EQ(second[0].last_error, "lock out of range");
  EXPECT_GT(second[0].id, first[1].id) << "ids are never reused";
  EXPECT_EQ(second[1].attempts, 0u);
  EXPECT_EQ(second[1].next_at, T(1000));
  EXPECT_EQ(second[1].last_error, "");
  EXPECT_EQ(Outbox("unit-101"), second);
}

TEST_F(StoreLocksTest, MarkFailedOfAnOpNoLongerPendingIsNotFound) {
  std::vector<LockOutboxOp> ops = Replace("unit-101", {Op(LockOp::Kind::kAdd, "c-1", 345678)});
  Replace("unit-101", {});
  Status s = store_->MarkLockOpFailed("unit-101", ops[0].id, 1, T(2000), "x");
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  s = store_->MarkLockOpFailed("unit-102", ops[0].id, 1, T(2000), "x");
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << "another lock's id";
}

// ---- done: the entry map ---------------------------------------------------------------------

TEST_F(StoreLocksTest, DoneDeletesTheOpAndRecordsWhatTheLockNowHolds) {
  LockOutboxOp add = Op(LockOp::Kind::kAdd, "c-1", 345678);
  LockOutboxOp remove = Op(LockOp::Kind::kRemove, "c-0", 111111);
  remove.lock_entry_id = 3;
  std::vector<LockOutboxOp> ops = Replace("unit-101", {remove, add});
  ASSERT_TRUE(
      store_->SetLockEntry("unit-101", {"c-0", LockEntry::Kind::kKeypadCode, 3, 77, T(10)}).ok());

  ASSERT_TRUE(store_->MarkLockOpDone("unit-101", ops[0], std::nullopt, T(2000)).ok());
  EXPECT_TRUE(Map("unit-101").empty()) << "the removal deleted c-0's row";
  Status no_id = store_->MarkLockOpDone("unit-101", ops[1], std::nullopt, T(2000));
  EXPECT_EQ(no_id.code(), StatusCode::kInvalidArgument) << no_id.ToString();
  EXPECT_EQ(Outbox("unit-101").size(), 1u) << "nothing changed";
  ASSERT_TRUE(store_->MarkLockOpDone("unit-101", ops[1], 17, T(2001)).ok());
  EXPECT_TRUE(Outbox("unit-101").empty());
  EXPECT_EQ(Map("unit-101"),
            (std::vector<LockEntryRecord>{{"c-1", LockEntry::Kind::kKeypadCode, 17,
                                           rules::Fingerprint(add.op.entry), T(2001)}}));

  // An update keeps the lock's id unless a new one is given.
  LockOutboxOp update = FullAuthorization();
  update.op.entry.credential = "c-1";
  update.lock_entry_id = 17;
  ops = Replace("unit-101", {update});
  ASSERT_TRUE(store_->MarkLockOpDone("unit-101", ops[0], std::nullopt, T(3000)).ok());
  std::vector<LockEntryRecord> map = Map("unit-101");
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map[0].lock_entry_id, 17u);
  EXPECT_EQ(map[0].kind, LockEntry::Kind::kAuthorization);
  EXPECT_EQ(map[0].fingerprint, rules::Fingerprint(update.op.entry));
}

TEST_F(StoreLocksTest, DoneOfAnOpAlreadyReplacedStillRecordsTheLocksEntry) {
  std::vector<LockOutboxOp> ops = Replace("unit-101", {Op(LockOp::Kind::kAdd, "c-1", 345678)});
  std::vector<LockOutboxOp> newer = Replace("unit-101", {Op(LockOp::Kind::kAdd, "c-2", 456789)});
  ASSERT_TRUE(store_->MarkLockOpDone("unit-101", ops[0], 5, T(2000)).ok());
  ASSERT_EQ(Map("unit-101").size(), 1u);
  EXPECT_EQ(Map("unit-101")[0].credential, "c-1");
  EXPECT_EQ(Outbox("unit-101"), newer) << "the newer op is untouched";
}

TEST_F(StoreLocksTest, EntryMapIsPerLockSortedAndRemovable) {
  ASSERT_TRUE(
      store_->SetLockEntry("unit-101", {"c-b", LockEntry::Kind::kKeypadCode, 2, 1, T(1)}).ok());
  ASSERT_TRUE(store_
                  ->SetLockEntry("unit-101", {"c-a", LockEntry::Kind::kAuthorization, 4294967295u,
                                              0xfedcba9876543210ull, T(2)})
                  .ok());
  ASSERT_TRUE(
      store_->SetLockEntry("unit-102", {"c-z", LockEntry::Kind::kKeypadCode, 9, 9, T(3)}).ok());
  std::vector<LockEntryRecord> map = Map("unit-101");
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0], (LockEntryRecord{"c-a", LockEntry::Kind::kAuthorization, 4294967295u,
                                     0xfedcba9876543210ull, T(2)}))
      << "full u32 id and u64 fingerprint";
  EXPECT_EQ(map[1].credential, "c-b");
  ASSERT_TRUE(
      store_->SetLockEntry("unit-101", {"c-b", LockEntry::Kind::kKeypadCode, 8, 1, T(4)}).ok());
  EXPECT_EQ(Map("unit-101")[1].lock_entry_id, 8u) << "replaced";
  ASSERT_TRUE(store_->RemoveLockEntry("unit-101", "c-a").ok());
  ASSERT_TRUE(store_->RemoveLockEntry("unit-101", "c-none").ok());
  EXPECT_EQ(Map("unit-101").size(), 1u);
  EXPECT_EQ(Map("unit-102").size(), 1u);
}

TEST_F(StoreLocksTest, UpdateLockEntriesRemovesAndSetsInOneTransaction) {
  ASSERT_TRUE(
      store_->SetLockEntry("unit-101", {"c-old", LockEntry::Kind::kKeypadCode, 1, 1, T(1)}).ok());
  std::vector<LockEntryRecord> set;
  for (int i = 0; i < 100; ++i) {
    set.push_back({"c-" + std::to_string(100 + i), LockEntry::Kind::kKeypadCode,
                   static_cast<uint32_t>(i + 2), static_cast<uint64_t>(i), T(2)});
  }
  ASSERT_TRUE(store_->UpdateLockEntries("unit-101", {"c-old", "c-none"}, set).ok());
  std::vector<LockEntryRecord> map = Map("unit-101");
  ASSERT_EQ(map.size(), 100u);
  EXPECT_EQ(map.front().credential, "c-100");
  EXPECT_EQ(map.back().lock_entry_id, 101u);
  EXPECT_TRUE(store_->UpdateLockEntries("unit-101", {}, {}).ok()) << "nothing to do";
  EXPECT_EQ(store_->UpdateLockEntries("", {"c-100"}, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Map("unit-101").size(), 100u);
}

// ---- sync status, forgetting a lock ------------------------------------------------------------

TEST_F(StoreLocksTest, SyncStatusCountsFailuresUntilASuccess) {
  EXPECT_EQ(*store_->LockSyncStatus("unit-101"), std::nullopt);
  ASSERT_TRUE(store_->RecordLockSync("unit-101", T(100), Status::Unavailable("out of range")).ok());
  ASSERT_TRUE(
      store_->RecordLockSync("unit-101", T(200), Status::Unavailable("lock error 0x45 busy")).ok());
  EXPECT_EQ(*store_->LockSyncStatus("unit-101"),
            (LockSyncState{std::nullopt, T(200), 2, "lock error 0x45 busy"}));
  ASSERT_TRUE(store_->RecordLockSync("unit-101", T(300), Status::Ok()).ok());
  EXPECT_EQ(*store_->LockSyncStatus("unit-101"), (LockSyncState{T(300), T(300), 0, ""}));
  ASSERT_TRUE(store_->RecordLockSync("unit-101", T(400), Status::Unavailable("gone")).ok());
  EXPECT_EQ(*store_->LockSyncStatus("unit-101"), (LockSyncState{T(300), T(400), 1, "gone"}));
  EXPECT_EQ(*store_->LockSyncStatus("unit-102"), std::nullopt);
}

TEST_F(StoreLocksTest, ForgetLockClearsOnlyThatLock) {
  for (const char* lock : {"unit-101", "unit-102"}) {
    Replace(lock, {Op(LockOp::Kind::kAdd, "c-1", 345678)});
    ASSERT_TRUE(store_->SetLockEntry(lock, {"c-1", LockEntry::Kind::kKeypadCode, 1, 1, T(1)}).ok());
    ASSERT_TRUE(store_->RecordLockSync(lock, T(5), Status::Ok()).ok());
  }
  ASSERT_TRUE(store_->ForgetLock("unit-101").ok());
  EXPECT_TRUE(Outbox("unit-101").empty());
  EXPECT_TRUE(Map("unit-101").empty());
  EXPECT_EQ(*store_->LockSyncStatus("unit-101"), std::nullopt);
  EXPECT_EQ(Outbox("unit-102").size(), 1u);
  EXPECT_EQ(Map("unit-102").size(), 1u);
  EXPECT_TRUE(store_->LockSyncStatus("unit-102")->has_value());
}

TEST_F(StoreLocksTest, AnEmptyLockIdIsInvalid) {
  EXPECT_EQ(store_->LockOutbox("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ReplaceLockOutbox("", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RecordLockSync("", T(1), Status::Ok()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ForgetLock("").code(), StatusCode::kInvalidArgument);
}

// ---- durability -------------------------------------------------------------------------------

TEST_F(StoreLocksTest, EverythingSurvivesAReopenAndIdsAreNeverReused) {
  std::vector<LockOutboxOp> ops =
      Replace("unit-101", {FullAuthorization(), Op(LockOp::Kind::kAdd, "c-1", 345678)});
  ASSERT_TRUE(store_->MarkLockOpFailed("unit-101", ops[1].id, 1, T(7000), "busy").ok());
  ops[1].attempts = 1;
  ops[1].next_at = T(7000);
  ops[1].last_error = "busy";
  ASSERT_TRUE(
      store_->SetLockEntry("unit-101", {"c-x", LockEntry::Kind::kKeypadCode, 7, 42, T(9)}).ok());
  ASSERT_TRUE(store_->RecordLockSync("unit-101", T(50), Status::Unavailable("out of range")).ok());
  Reopen();
  EXPECT_EQ(Outbox("unit-101"), ops);
  EXPECT_EQ(Map("unit-101"),
            (std::vector<LockEntryRecord>{{"c-x", LockEntry::Kind::kKeypadCode, 7, 42, T(9)}}));
  EXPECT_EQ(*store_->LockSyncStatus("unit-101"),
            (LockSyncState{std::nullopt, T(50), 1, "out of range"}));
  Replace("unit-101", {});
  Reopen();
  std::vector<LockOutboxOp> later = Replace("unit-101", {Op(LockOp::Kind::kAdd, "c-2", 456789)});
  EXPECT_GT(later[0].id, ops[1].id);
}

// A gateway killed (SIGKILL) right after ReplaceLockOutbox returned loses no pending change: the
// op was committed before the gateway acted on it.
TEST_F(StoreLocksTest, APendingOpSurvivesKillDashNine) {
  store_.reset();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    Result<std::unique_ptr<Store>> s = Store::Open(path_);  // durable commits, as the daemon
    if (!s.ok()) ::_exit(2);
    LockOutboxOp revoke = Op(LockOp::Kind::kRemove, "c-checked-out", 345678);
    revoke.lock_entry_id = 12;
    if (!(*s)->ReplaceLockOutbox("unit-101", {revoke}).ok()) ::_exit(3);
    char c = 'k';
    if (::write(ready[1], &c, 1) != 1) ::_exit(4);
    // "Now carry it out": killed before anything else happens, the connection still open.
    ::raise(SIGKILL);
    ::_exit(5);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the child did not commit";
  ::close(ready[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  Reopen();
  std::vector<LockOutboxOp> ops = Outbox("unit-101");
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op.kind, LockOp::Kind::kRemove);
  EXPECT_EQ(ops[0].op.entry.credential, "c-checked-out");
  EXPECT_EQ(ops[0].lock_entry_id, 12u);
}

TEST_F(StoreLocksTest, AValueNoBuildWroteIsCorruptionNamingTheRow) {
  std::vector<LockOutboxOp> ops = Replace("unit-101", {Op(LockOp::Kind::kAdd, "c-1", 345678)});
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE lock_outbox SET op = 9", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Reopen();
  Result<std::vector<LockOutboxOp>> r = store_->LockOutbox("unit-101");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(r.status().message(), path_ + ": lock_outbox row " + std::to_string(ops[0].id) +
                                      ": op 9 is not a known value");
}

// ---- the fault-injecting store ------------------------------------------------------------------

TEST_F(StoreLocksTest, FaultStoreFailsTheLockCallsAndChangesNothing) {
  store_.reset();
  auto plan = std::make_shared<FaultPlan>();
  StoreOptions options;
  options.durable_commits = false;
  Result<std::unique_ptr<Store>> opened = FaultPlan::Opener(plan)(path_, options);
  ASSERT_TRUE(opened.ok());
  Store& s = **opened;
  Result<std::vector<LockOutboxOp>> ops =
      s.ReplaceLockOutbox("unit-101", {Op(LockOp::Kind::kAdd, "c-1", 345678)});
  ASSERT_TRUE(ops.ok());

  plan->FailWrites(Fault::kDiskFull);
  EXPECT_EQ(s.ReplaceLockOutbox("unit-101", {}).status().code(), StatusCode::kIoError);
  EXPECT_EQ(s.MarkLockOpDone("unit-101", (*ops)[0], 1, T(1)).code(), StatusCode::kIoError);
  EXPECT_EQ(s.MarkLockOpFailed("unit-101", (*ops)[0].id, 1, T(1), "x").code(),
            StatusCode::kIoError);
  EXPECT_EQ(s.SetLockEntry("unit-101", {"c-1", LockEntry::Kind::kKeypadCode, 1, 1, T(1)}).code(),
            StatusCode::kIoError);
  EXPECT_EQ(s.RemoveLockEntry("unit-101", "c-1").code(), StatusCode::kIoError);
  EXPECT_EQ(s.UpdateLockEntries("unit-101", {}, {{"c-1", LockEntry::Kind::kKeypadCode, 1, 1, T(1)}})
                .code(),
            StatusCode::kIoError);
  EXPECT_EQ(s.RecordLockSync("unit-101", T(1), Status::Ok()).code(), StatusCode::kIoError);
  EXPECT_EQ(s.ForgetLock("unit-101").code(), StatusCode::kIoError);
  EXPECT_EQ(plan->failed_writes(), 8u);
  plan->FailWrites(Fault::kNone);
  EXPECT_EQ(*s.LockOutbox("unit-101"), *ops) << "nothing changed";
  EXPECT_TRUE(s.LockEntryMap("unit-101")->empty());

  plan->FailReads(Fault::kIoError);
  EXPECT_EQ(s.LockOutbox("unit-101").status().code(), StatusCode::kIoError);
  EXPECT_EQ(s.LockEntryMap("unit-101").status().code(), StatusCode::kIoError);
  EXPECT_EQ(s.LockSyncStatus("unit-101").status().code(), StatusCode::kIoError);
  EXPECT_EQ(plan->failed_reads(), 3u);
}

}  // namespace
}  // namespace lintel::store
