#include "gateway/store/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/store/load_index.h"
#include "rules/engine.h"
#include "tests/integration/tiny_tmpfs.h"

namespace lintel::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

Instant T(int64_t unix_seconds) { return FromUnix(unix_seconds); }

// ---- a canonical text form of the records, so a mismatch prints readably ----------------------

std::string Opt(const std::optional<Instant>& t) {
  return t ? std::to_string(ToUnix(*t)) : std::string("-");
}
std::string List(const std::vector<std::string>& v) {
  std::string s = "[";
  for (const auto& x : v) s += x + ",";
  return s + "]";
}
std::string Dump(const rules::Records& r) {
  std::ostringstream o;
  for (const auto& s : r.schedules) {
    o << "schedule " << s.id << " windows:";
    for (const auto& w : s.windows) o << " " << +w.days << "/" << w.from_min << "-" << w.to_min;
    o << " exceptions:";
    for (const auto& e : s.exceptions) {
      o << " " << e.date << "{";
      for (const auto& w : e.windows) o << +w.days << "/" << w.from_min << "-" << w.to_min << " ";
      o << "}";
    }
    o << "\n";
  }
  for (const auto& g : r.groups) {
    o << "group " << g.id << " '" << g.name << "' " << List(g.doors) << " " << g.schedule << "\n";
  }
  for (const auto& p : r.people) {
    o << "person " << p.id << " '" << p.name << "' role=" << +static_cast<int>(p.role)
      << " primary=" << p.primary.value_or("-") << " inherit=" << p.inherit << " " << List(p.groups)
      << " status=" << static_cast<int>(p.status) << "\n";
  }
  for (const auto& l : r.leases) {
    o << "lease " << l.id << " " << l.unit << " " << List(l.members) << " " << List(l.groups) << " "
      << ToUnix(l.starts_at) << " " << Opt(l.ends_at) << " " << Opt(l.paid_through) << " "
      << (l.grace_days ? std::to_string(*l.grace_days) : "-") << "\n";
  }
  for (const auto& c : r.credentials) {
    o << "credential " << c.id << " " << c.person << " type=" << static_cast<int>(c.type)
      << " status=" << static_cast<int>(c.status) << " " << Opt(c.valid_from) << " "
      << Opt(c.valid_until) << " card=" << static_cast<int>(c.card.format) << "/" << c.card.facility
      << "/" << c.card.number << "/" << c.card.uid << " pin=" << c.pin << " ble=" << c.ble_key.lock
      << "/" << c.ble_key.key << "/" << c.ble_key.name << "\n";
  }
  for (const auto& d : r.door_modes) {
    o << "door_mode " << d.door << " " << static_cast<int>(d.mode) << " " << Opt(d.until) << "\n";
  }
  return o.str();
}

// Records of every kind, each with its optional fields set in one row and unset in another, and
// every enum value used at least once. Ids ascend in each kind, as LoadState returns them.
rules::Records FullRecords() {
  rules::Records r;
  r.schedules.push_back({"office",
                         {{0x1f, 480, 1080}, {0x60, 600, 840}},
                         {{20819, {}}, {20820, {{0x7f, 600, 720}, {0x01, 780, 1440}}}}});
  r.schedules.push_back({"plain", {}, {}});
  r.groups.push_back({"default", "Common doors", {"front", "garage"}, "always"});
  r.groups.push_back({"empty", "", {}, "office"});
  for (int role = 0; role <= static_cast<int>(rules::Role::kGuest); ++role) {
    rules::Person p;
    p.id = "p-" + std::to_string(role);
    p.name = "Person " + std::to_string(role);
    p.role = static_cast<rules::Role>(role);
    if (role % 2 == 1) p.primary = "p-0";
    p.inherit = role % 2 == 1;
    if (role != 2) p.groups = {"default", "gym"};
    p.status = role == 3 ? rules::PersonStatus::kSuspended : rules::PersonStatus::kActive;
    r.people.push_back(p);
  }
  r.leases.push_back(
      {"l-1", "4B", {"p-0", "p-1"}, {"default"}, T(1767225600), T(1798761600), T(1769904000), 5});
  r.leases.push_back({"l-2", "", {}, {}, T(-86400), std::nullopt, std::nullopt, std::nullopt});
  int n = 0;
  auto cred = [&](rules::CredentialType type) {
    rules::Credential c;
    c.id = "c-" + std::to_string(10 + n++);
    c.person = "p-0";
    c.type = type;
    return c;
  };
  for (int f = 0; f <= static_cast<int>(rules::CardFormat::kC1k48); ++f) {
    rules::Credential c = cred(rules::CredentialType::kCard);
    c.card.format = static_cast<rules::CardFormat>(f);
    c.card.facility = 4294967295u - static_cast<uint32_t>(f);
    c.card.number = (uint64_t{1} << 63) + static_cast<uint64_t>(f);  // high bit survives
    if (f == 0) c.card.uid = "04A1B2C3D4E5F6A7";
    c.status = static_cast<rules::CredentialStatus>(f % 3);
    if (f % 2 == 0) c.valid_from = T(1767225600 + f);
    if (f % 3 == 0) c.valid_until = T(1798761600 + f);
    r.credentials.push_back(c);
  }
  rules::Credential pin = cred(rules::CredentialType::kPin);
  pin.pin = "0482";
  r.credentials.push_back(pin);
  rules::Credential ble = cred(rules::CredentialType::kBleKey);
  ble.ble_key = {"front", "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=", "Ben's phone"};
  ble.valid_from = T(1);
  r.credentials.push_back(ble);
  r.door_modes.push_back({"front", rules::DoorModeKind::kUnlocked, std::nullopt});
  r.door_modes.push_back({"garage", rules::DoorModeKind::kLockedDown, T(1767312000)});
  r.door_modes.push_back({"gym", rules::DoorModeKind::kNormal, std::nullopt});
  return r;
}

rules::Credential Card(std::string id, uint64_t number) {
  rules::Credential c;
  c.id = std::move(id);
  c.person = "p-0";
  c.card = {rules::CardFormat::kH10301, 12, number, ""};
  return c;
}

// ---- files ----------------------------------------------------------------------------------

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}
fs::path Fixture(const std::string& name) {
  const char* root = std::getenv("LINTEL_SOURCE_DIR");
  return fs::path(root != nullptr ? root : ".") / "tests" / "fixtures" / name;
}
unsigned Mode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// Raw SQLite access, for what the Store API cannot do: tamper with rows, read the schema.
class RawDb {
 public:
  explicit RawDb(const fs::path& p) {
    EXPECT_EQ(sqlite3_open_v2(p.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
              SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }
  // Every row of a query, columns joined with '|', rows with '\n'.
  std::string Query(const std::string& sql) {
    std::string out;
    char* err = nullptr;
    sqlite3_exec(
        db_, sql.c_str(),
        [](void* o, int n, char** cols, char**) {
          auto* s = static_cast<std::string*>(o);
          for (int i = 0; i < n; ++i)
            *s += std::string(i ? "|" : "") + (cols[i] ? cols[i] : "NULL");
          *s += "\n";
          return 0;
        },
        &out, &err);
    EXPECT_EQ(err, nullptr) << err;
    sqlite3_free(err);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// The schema of a file: every object's DDL (whitespace differences do not matter) and the
// application id.
std::string SchemaOf(const fs::path& f) {
  std::string s = RawDb(f).Query(
      "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name; PRAGMA application_id");
  std::string squeezed;
  for (char c : s) {
    if (!(std::isspace(static_cast<unsigned char>(c)) && !squeezed.empty() &&
          squeezed.back() == ' ')) {
      squeezed += std::isspace(static_cast<unsigned char>(c)) ? ' ' : c;
    }
  }
  return squeezed;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "lintel-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ / "lintel.sqlite";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> OpenOk(const fs::path& p) {
    StoreOptions options;
    options.durable_commits = false;  // the tests do not pull the plug
    Result<std::unique_ptr<Store>> s = Store::Open(p.string(), options);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::unique_ptr<Store> OpenOk() { return OpenOk(path_); }

  // Copies a committed fixture into the temp dir (never open the original).
  fs::path CopyFixture(const std::string& name) {
    fs::path to = dir_ / name;
    fs::copy_file(Fixture(name), to);
    return to;
  }

  // Opening `p` fails with Corruption whose message contains `expected`, and leaves it unchanged.
  void ExpectRefused(const fs::path& p, const std::string& expected) {
    std::string before = ReadFile(p);
    Result<std::unique_ptr<Store>> s = Store::Open(p.string());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kCorruption) << s.status().ToString();
    EXPECT_THAT(s.status().message(), HasSubstr(p.string() + ": "));
    EXPECT_THAT(s.status().message(), HasSubstr(expected));
    EXPECT_EQ(ReadFile(p), before) << "a refused file must not be changed";
  }

  fs::path dir_;
  fs::path path_;
};

// ---- basics ---------------------------------------------------------------------------------

TEST_F(StoreTest, NewStoreIsEmptyAtPositionZero) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->opened_at_schema_version(), 0);
  EXPECT_EQ(*store->AppliedPosition(), (Position{0, 0}));
  EXPECT_EQ(Dump(*store->LoadRecords()), "");
  EXPECT_EQ(*store->LastKnownGood(), std::nullopt);
  EXPECT_EQ(*store->Count(), 0u);
  EXPECT_EQ(*store->LastSeq(), 0u);
  store.reset();
  EXPECT_EQ(RawDb(path_).Query("PRAGMA user_version"),
            std::to_string(Store::kSchemaVersion) + "\n");
  EXPECT_EQ(RawDb(path_).Query("PRAGMA journal_mode"), "wal\n");
  EXPECT_EQ(OpenOk()->opened_at_schema_version(), Store::kSchemaVersion);
}

TEST_F(StoreTest, CreatesTheFileOwnerOnly) {
  ::umask(022);
  auto store = OpenOk();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->ReplaceState(FullRecords(), {1, 1}).ok());
  EXPECT_EQ(Mode(path_), 0600u);
  ASSERT_TRUE(fs::exists(path_.string() + "-wal"));
  EXPECT_EQ(Mode(path_.string() + "-wal"), 0600u);
  EXPECT_EQ(Mode(path_.string() + "-shm"), 0600u);
}

TEST_F(StoreTest, TightensAnExistingFileOpenToOthers) {
  fs::copy_file(Fixture("store-v1.sqlite"), path_);
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  ASSERT_TRUE(OpenOk());
  EXPECT_EQ(Mode(path_), 0600u);
}

TEST_F(StoreTest, TightensLeftoverWalFilesOpenToOthers) {
  {
    auto store = OpenOk();
    ASSERT_TRUE(store);
  }
  WriteFile(path_.string() + "-wal", "");
  ASSERT_EQ(::chmod((path_.string() + "-wal").c_str(), 0666), 0);
  auto store = OpenOk();  // keeps the -wal file while open
  ASSERT_TRUE(store);
  EXPECT_EQ(Mode(path_.string() + "-wal"), 0600u);
}

TEST_F(StoreTest, OpenInAMissingDirectoryIsIoError) {
  Result<std::unique_ptr<Store>> s = Store::Open((dir_ / "no" / "such.sqlite").string());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kIoError);
  EXPECT_THAT(s.status().message(), HasSubstr("such.sqlite: cannot open: "));
}

TEST_F(StoreTest, OpenOfADirectoryIsIoError) {
  Result<std::unique_ptr<Store>> s = Store::Open(dir_.string());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kIoError) << s.status().ToString();
}

// ---- records --------------------------------------------------------------------------------

TEST_F(StoreTest, RoundTripsEveryRecordKindWithOptionalFieldsSetAndUnset) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  rules::Records records = FullRecords();
  ASSERT_TRUE(store->ReplaceState(records, {7, 9}).ok());
  Result<rules::Records> loaded = store->LoadRecords();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Dump(*loaded), Dump(records));
  EXPECT_EQ(*store->AppliedPosition(), (Position{7, 9}));
}

TEST_F(StoreTest, StoresOnlyTheFieldsOfACredentialsType) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  rules::Credential pin;
  pin.id = "c-1";
  pin.type = rules::CredentialType::kPin;
  pin.pin = "1234";
  pin.card = {rules::CardFormat::kH10301, 1, 2, ""};  // meaningless for a pin: not stored
  pin.ble_key.name = "stray";
  rules::Records r;
  r.credentials = {pin};
  ASSERT_TRUE(store->ReplaceState(r, {1, 1}).ok());
  rules::Credential want;
  want.id = "c-1";
  want.type = rules::CredentialType::kPin;
  want.pin = "1234";
  r.credentials = {want};
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(r));
  store.reset();
  EXPECT_EQ(RawDb(path_).Query("SELECT card_format, card_uid, pin, ble_name FROM credentials"),
            "NULL|NULL|1234|NULL\n");
}

TEST_F(StoreTest, PositionKeepsFullUnsigned64BitRange) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  Position big{UINT64_MAX, (uint64_t{1} << 63) + 1};
  ASSERT_TRUE(store->ReplaceState({}, big).ok());
  EXPECT_EQ(*store->AppliedPosition(), big);
}

TEST_F(StoreTest, LoadStateVisitsKindsInOrderAndIdsAscending) {
  struct Recorder : RecordVisitor {
    std::vector<std::string> seen;
    void OnSchedule(const rules::Schedule& r) override { seen.push_back("s:" + r.id); }
    void OnGroup(const rules::Group& r) override { seen.push_back("g:" + r.id); }
    void OnPerson(const rules::Person& r) override { seen.push_back("p:" + r.id); }
    void OnLease(const rules::Lease& r) override { seen.push_back("l:" + r.id); }
    void OnCredential(const rules::Credential& r) override { seen.push_back("c:" + r.id); }
    void OnDoorMode(const rules::DoorMode& r) override { seen.push_back("d:" + r.door); }
  } v;
  rules::Records r;
  r.door_modes.push_back({"z", {}, {}});
  r.credentials = {Card("c-b", 2), Card("c-a", 1)};
  r.leases.push_back({"l", "u", {}, {}, T(0), {}, {}, {}});
  r.people.push_back({"p", "", {}, {}, false, {}, {}});
  r.groups.push_back({"g", "", {}, "always"});
  r.schedules.push_back({"s", {}, {}});
  auto store = OpenOk();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->ReplaceState(r, {1, 1}).ok());
  ASSERT_TRUE(store->LoadState(v).ok());
  EXPECT_THAT(v.seen, ::testing::ElementsAre("s:s", "g:g", "p:p", "l:l", "c:c-a", "c:c-b", "d:z"));
}

TEST_F(StoreTest, ReplaceStateReplacesWholly) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->ReplaceState(FullRecords(), {1, 5}).ok());
  rules::Records next;
  next.credentials = {Card("c-new", 77)};
  next.schedules.push_back({"night", {{0x7f, 0, 360}}, {}});
  ASSERT_TRUE(store->ReplaceState(next, {2, 1}).ok());
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(next));
  EXPECT_EQ(*store->AppliedPosition(), (Position{2, 1}));
  ASSERT_TRUE(store->ReplaceState({}, {2, 2}).ok());
  EXPECT_EQ(Dump(*store->LoadRecords()), "");
}

TEST_F(StoreTest, FailedReplaceStateKeepsOldStateAndPosition) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  rules::Records old = FullRecords();
  ASSERT_TRUE(store->ReplaceState(old, {1, 5}).ok());

  rules::Records bad;
  bad.people.push_back({"p-x", "", {}, {}, false, {}, {}});
  bad.credentials = {Card("c-1", 1), Card("c-2", 2), Card("c-1", 3)};
  Status st = store->ReplaceState(bad, {2, 1});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("credential c-1: UNIQUE constraint failed: credentials.id"));
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(old));
  EXPECT_EQ(*store->AppliedPosition(), (Position{1, 5}));

  // The store is still usable afterwards.
  ASSERT_TRUE(store->ReplaceState({}, {2, 2}).ok());
  EXPECT_EQ(*store->AppliedPosition(), (Position{2, 2}));
}

// ReplaceState drops the secondary indexes for its bulk load and creates them again: after it
// (and after one that failed and rolled back) the file has exactly the schema of a new file, the
// readers' queries go through the indexes, and lease_members holds one row per member and lease.
TEST_F(StoreTest, ReplaceStateKeepsTheSchemaAndTheIndexes) {
  fs::path fresh = dir_ / "fresh.sqlite";
  ASSERT_TRUE(OpenOk(fresh));
  auto store = OpenOk();
  ASSERT_TRUE(store);
  rules::Records r = FullRecords();
  rules::Lease twice{"l-twice", "7A", {"p-1", "p-1"}, {}, T(1767225600), {}, {}, {}};
  r.leases.push_back(twice);
  ASSERT_TRUE(store->ReplaceState(r, {1, 1}).ok());
  EXPECT_EQ(SchemaOf(path_), SchemaOf(fresh));
  EXPECT_EQ(RawDb(path_).Query("SELECT person FROM lease_members WHERE lease = 'l-twice'"),
            "p-1\n");

  rules::Records bad;
  bad.credentials = {Card("c-1", 1), Card("c-1", 2)};
  ASSERT_EQ(store->ReplaceState(bad, {2, 1}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SchemaOf(path_), SchemaOf(fresh));
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(r));

  RawDb raw(path_);
  for (const char* q : {"SELECT id FROM credentials WHERE pin = '1'",
                        "SELECT id FROM credentials WHERE person = 'p-1'",
                        "SELECT id FROM people WHERE primary_id = 'p-1'",
                        "SELECT lease FROM lease_members WHERE lease = 'l-1'"}) {
    EXPECT_THAT(raw.Query(std::string("EXPLAIN QUERY PLAN ") + q), HasSubstr("USING")) << q;
  }
}

// ---- a snapshot staged page by page (issue 13, point 5)
// ------------------------------------------

// The schema with the table names unquoted: a swapped-in table's stored statement names it
// quoted ("CREATE TABLE \"people\"(..."), which changes nothing else.
std::string UnquotedSchemaOf(const fs::path& f) {
  std::string s = SchemaOf(f);
  std::erase(s, '"');
  return s;
}

TEST_F(StoreTest, StagedPagesReplaceTheStateOnlyAtCommit) {
  fs::path fresh = dir_ / "fresh.sqlite";
  ASSERT_TRUE(OpenOk(fresh));
  auto store = OpenOk();
  ASSERT_TRUE(store);
  rules::Records old;
  old.credentials = {Card("c-old", 5)};
  ASSERT_TRUE(store->ReplaceState(old, {1, 1}).ok());

  rules::Records all = FullRecords();
  rules::Records page1, page2;
  page1.schedules = all.schedules;
  page1.groups = all.groups;
  page1.people = all.people;
  page2.leases = all.leases;
  page2.credentials = all.credentials;
  page2.door_modes = all.door_modes;
  ASSERT_TRUE(store->StageBegin().ok());
  ASSERT_TRUE(store->StageRecords(page1).ok());
  // Readers still see the old state while pages are staged (also another connection).
  EXPECT_EQ(Dump(*OpenOk()->LoadRecords()), Dump(old));
  ASSERT_TRUE(store->StageRecords(page2).ok());
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(old));
  rules::Records staged;
  class Copy final : public RecordVisitor {
   public:
    explicit Copy(rules::Records* r) : r_(r) {}
    void OnSchedule(const rules::Schedule& x) override { r_->schedules.push_back(x); }
    void OnGroup(const rules::Group& x) override { r_->groups.push_back(x); }
    void OnPerson(const rules::Person& x) override { r_->people.push_back(x); }
    void OnLease(const rules::Lease& x) override { r_->leases.push_back(x); }
    void OnCredential(const rules::Credential& x) override { r_->credentials.push_back(x); }
    void OnDoorMode(const rules::DoorMode& x) override { r_->door_modes.push_back(x); }

   private:
    rules::Records* r_;
  } copy(&staged);
  ASSERT_TRUE(store->StageLoad(copy).ok());
  EXPECT_EQ(Dump(staged), Dump(all));

  Status committed = store->StageCommit({2, 1});
  ASSERT_TRUE(committed.ok()) << committed.ToString();
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(all));
  EXPECT_EQ(*store->AppliedPosition(), (Position{2, 1}));
  EXPECT_EQ(Dump(*OpenOk()->LoadRecords()), Dump(all));
  // The same tables and indexes as a new file (no stage table left), the readers' queries
  // indexed, and a second snapshot staged on top works the same way.
  EXPECT_EQ(UnquotedSchemaOf(path_), UnquotedSchemaOf(fresh));
  RawDb raw(path_);
  EXPECT_THAT(raw.Query("EXPLAIN QUERY PLAN SELECT id FROM credentials WHERE person = 'p-1'"),
              HasSubstr("USING"));
  {
    fs::path replaced = dir_ / "replaced.sqlite";
    ASSERT_TRUE(OpenOk(replaced)->ReplaceState(all, {2, 1}).ok());
    const char* q = "SELECT person, lease FROM lease_members ORDER BY person, lease";
    EXPECT_EQ(raw.Query(q), RawDb(replaced).Query(q));
    EXPECT_NE(raw.Query(q), "");
  }
  ASSERT_TRUE(store->StageBegin().ok());
  ASSERT_TRUE(store->StageRecords(old).ok());
  ASSERT_TRUE(store->StageCommit({2, 2}).ok());
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(old));
  EXPECT_EQ(UnquotedSchemaOf(path_), UnquotedSchemaOf(fresh));
  // Every state commit bumps the state serial, a swap too.
  EXPECT_EQ(raw.Query("SELECT value FROM meta WHERE key = 'state_serial'"), "3\n");
}

TEST_F(StoreTest, AStagedDuplicateIsRefusedAndTheDroppedStageChangesNothing) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  rules::Records old = FullRecords();
  ASSERT_TRUE(store->ReplaceState(old, {1, 5}).ok());
  rules::Records page1, page2;
  page1.credentials = {Card("c-1", 1)};
  page2.credentials = {Card("c-2", 2), Card("c-1", 3)};
  EXPECT_EQ(store->StageRecords(page1).code(), StatusCode::kFailedPrecondition) << "no stage";
  ASSERT_TRUE(store->StageBegin().ok());
  ASSERT_TRUE(store->StageRecords(page1).ok());
  Status st = store->StageRecords(page2);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("credential c-1: UNIQUE constraint failed"));
  ASSERT_TRUE(store->StageDrop().ok());
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(old));
  EXPECT_EQ(*store->AppliedPosition(), (Position{1, 5}));
  EXPECT_EQ(store->StageCommit({2, 1}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(RawDb(path_).Query("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'stage%'"),
            "0\n");
}

TEST_F(StoreTest, AStageACrashLeftIsDroppedAtOpen) {
  fs::path fresh = dir_ / "fresh.sqlite";
  ASSERT_TRUE(OpenOk(fresh));
  rules::Records old = FullRecords();
  {
    auto store = OpenOk();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->ReplaceState(old, {1, 5}).ok());
    ASSERT_TRUE(store->StageBegin().ok());
    rules::Records page;
    page.credentials = {Card("c-staged", 1)};
    ASSERT_TRUE(store->StageRecords(page).ok());
    // The process dies here: no commit, no drop.
  }
  EXPECT_EQ(RawDb(path_).Query("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'stage%'"),
            "7\n");
  // An ordinary open leaves them (it may be a tool's, while the daemon stages a snapshot).
  ASSERT_TRUE(OpenOk());
  EXPECT_EQ(RawDb(path_).Query("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'stage%'"),
            "7\n");
  StoreOptions options;
  options.durable_commits = false;
  options.drop_stale_stage = true;  // the daemon's first open
  Result<std::unique_ptr<Store>> opened = Store::Open(path_.string(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> store = std::move(*opened);
  EXPECT_EQ(RawDb(path_).Query("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'stage%'"),
            "0\n");
  EXPECT_EQ(SchemaOf(path_), SchemaOf(fresh));
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(old));
  EXPECT_EQ(*store->AppliedPosition(), (Position{1, 5}));
}

TEST_F(StoreTest, ReplaceStateRejectsListIdsThatWouldNotReadBack) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->ReplaceState(FullRecords(), {1, 5}).ok());
  rules::Records bad;
  bad.people.push_back({"p-1",
                        "",
                        {},
                        {},
                        false,
                        {"a\x1f"
                         "b"},
                        {}});
  Status st = store->ReplaceState(bad, {2, 1});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "person p-1: an id in groups is empty or contains the byte 0x1f");
  bad.people.clear();
  bad.leases.push_back({"l-1", "", {"p-1", ""}, {}, T(0), {}, {}, {}});
  st = store->ReplaceState(bad, {2, 1});
  EXPECT_EQ(st.message(), "lease l-1: an id in members is empty or contains the byte 0x1f");
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(FullRecords()));
  EXPECT_EQ(*store->AppliedPosition(), (Position{1, 5}));
}

TEST_F(StoreTest, ApplyOpsPutsAndDeletesInOneTransaction) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  rules::Records base;
  base.credentials = {Card("c-1", 1), Card("c-2", 2)};
  base.people.push_back({"p-0", "Ada", {}, {}, false, {}, {}});
  base.door_modes.push_back({"front", rules::DoorModeKind::kLockedDown, T(100)});
  ASSERT_TRUE(store->ReplaceState(base, {1, 1}).ok());

  rules::Credential c1 = Card("c-1", 1);
  c1.status = rules::CredentialStatus::kRevoked;
  rules::Person renamed{"p-0", "Ada L.", {}, {}, false, {"gym"}, {}};
  std::vector<Op> ops = {
      rules::PutOp(c1),                                      // replaces c-1 wholly
      rules::PutOp(Card("c-3", 3)),                          // new
      rules::DeleteOp(RecordKind::kCredential, "c-2"),       // present
      rules::DeleteOp(RecordKind::kCredential, "c-absent"),  // absent: not an error
      rules::PutOp(renamed),
      rules::PutOp(rules::Schedule{"s-1", {{0x1f, 0, 60}}, {}}),
      rules::DeleteOp(RecordKind::kSchedule, "s-1"),  // a later op undoes an earlier one
      rules::DeleteOp(RecordKind::kDoorMode, "front"),
      rules::PutOp(rules::Group{"g", "Gym", {"gym"}, "always"}),
      rules::PutOp(rules::Lease{"l-1", "4B", {"p-0"}, {"g"}, T(10), T(20), {}, 3}),
  };
  ASSERT_TRUE(store->ApplyOps(ops, {1, 2}).ok());

  rules::Records want;
  want.groups.push_back({"g", "Gym", {"gym"}, "always"});
  want.people.push_back(renamed);
  want.leases.push_back({"l-1", "4B", {"p-0"}, {"g"}, T(10), T(20), {}, 3});
  want.credentials = {c1, Card("c-3", 3)};
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(want));
  EXPECT_EQ(*store->AppliedPosition(), (Position{1, 2}));
}

TEST_F(StoreTest, FailedApplyOpsChangesNothing) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->ReplaceState(FullRecords(), {1, 1}).ok());
  std::vector<Op> ops = {
      rules::DeleteOp(RecordKind::kCredential, "c-10"),
      rules::PutOp(Card("c-99", 99)),
      rules::PutOp(rules::Group{"g-bad", "", {"front", ""}, "always"}),
  };
  Status st = store->ApplyOps(ops, {1, 2});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("group g-bad"));
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(FullRecords()));
  EXPECT_EQ(*store->AppliedPosition(), (Position{1, 1}));
}

TEST_F(StoreTest, UnknownEnumValueInARowIsCorruptionNamingTableAndId) {
  {
    auto store = OpenOk();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->ReplaceState(FullRecords(), {1, 1}).ok());
  }
  RawDb(path_).Exec("UPDATE people SET role = 9 WHERE id = 'p-3'");
  auto store = OpenOk();
  ASSERT_TRUE(store);
  Result<rules::Records> r = store->LoadRecords();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(r.status().message(), path_.string() + ": people row p-3: role 9 is not a known value");

  RawDb(path_).Exec(
      "UPDATE people SET role = 0; UPDATE credentials SET card_format = 7 WHERE id = 'c-12'");
  r = store->LoadRecords();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            path_.string() + ": credentials row c-12: card_format 7 is not a known value");

  RawDb(path_).Exec(
      "UPDATE credentials SET card_format = 0; UPDATE schedules SET windows = '1:2' WHERE id = "
      "'plain'");
  r = store->LoadRecords();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            path_.string() + ": schedules row plain: malformed windows \"1:2\"");
}

// ---- reopen ---------------------------------------------------------------------------------

TEST_F(StoreTest, ReopenKeepsStatePositionLastKnownGoodAndEvents) {
  std::vector<JournalEvent> events = {{0, T(100), "gateway.started", R"({"id":"a"})"},
                                      {0, T(101), "access.granted", R"({"id":"b","door":"f"})"}};
  {
    auto store = OpenOk();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->ReplaceState(FullRecords(), {4, 2}).ok());
    ASSERT_TRUE(store->AdvanceLastKnownGood(T(1767225600)).ok());
    ASSERT_TRUE(store->Append(events).ok());
  }
  auto store = OpenOk();
  ASSERT_TRUE(store);
  EXPECT_EQ(Dump(*store->LoadRecords()), Dump(FullRecords()));
  EXPECT_EQ(*store->AppliedPosition(), (Position{4, 2}));
  EXPECT_EQ(*store->LastKnownGood(), T(1767225600));
  EXPECT_EQ(*store->ReadFrom(0, 10), events);
}

// ---- last-known-good time -------------------------------------------------------------------

TEST_F(StoreTest, LastKnownGoodNeverGoesBackwards) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->AdvanceLastKnownGood(T(1000)).ok());
  EXPECT_EQ(*store->LastKnownGood(), T(1000));
  ASSERT_TRUE(store->AdvanceLastKnownGood(T(2000)).ok());
  EXPECT_EQ(*store->LastKnownGood(), T(2000));
  ASSERT_TRUE(store->AdvanceLastKnownGood(T(1500)).ok());  // the clock jumped back
  EXPECT_EQ(*store->LastKnownGood(), T(2000));
  ASSERT_TRUE(store->AdvanceLastKnownGood(T(-5)).ok());
  store.reset();
  EXPECT_EQ(*OpenOk()->LastKnownGood(), T(2000));
}

// ---- event journal --------------------------------------------------------------------------

std::vector<JournalEvent> Events(int n, int64_t ts0 = 1000) {
  std::vector<JournalEvent> v;
  for (int i = 0; i < n; ++i) {
    v.push_back({0, T(ts0 + i), "door.opened", R"({"id":")" + std::to_string(ts0 + i) + R"("})"});
  }
  return v;
}
std::vector<uint64_t> Seqs(const std::vector<JournalEvent>& v) {
  std::vector<uint64_t> s;
  for (const auto& e : v) s.push_back(e.seq);
  return s;
}

TEST_F(StoreTest, AppendAssignsConsecutiveSeqsAndReadsBackInOrder) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  std::vector<JournalEvent> a = Events(3);
  Result<uint64_t> last = store->Append(a);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 3u);
  EXPECT_THAT(Seqs(a), ::testing::ElementsAre(1, 2, 3));
  std::vector<JournalEvent> b = Events(2, 2000);
  EXPECT_EQ(*store->Append(b), 5u);
  EXPECT_THAT(Seqs(b), ::testing::ElementsAre(4, 5));
  std::vector<JournalEvent> none;
  EXPECT_EQ(*store->Append(none), 5u);

  EXPECT_EQ(*store->Count(), 5u);
  EXPECT_EQ(*store->LastSeq(), 5u);
  EXPECT_THAT(Seqs(*store->ReadFrom(2, 2)), ::testing::ElementsAre(2, 3));
  EXPECT_THAT(Seqs(*store->ReadFrom(4, 100)), ::testing::ElementsAre(4, 5));
  EXPECT_TRUE(store->ReadFrom(6, 100)->empty());
  EXPECT_TRUE(store->ReadFrom(UINT64_MAX, 100)->empty());
  EXPECT_THAT(Seqs(*store->Tail(2)), ::testing::ElementsAre(4, 5));
  EXPECT_THAT(Seqs(*store->Tail(50)), ::testing::ElementsAre(1, 2, 3, 4, 5));
  EXPECT_EQ(store->ReadFrom(0, 5)->at(3), b[0]);
}

TEST_F(StoreTest, DeleteUpToRemovesAPrefix) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  std::vector<JournalEvent> a = Events(6);
  ASSERT_TRUE(store->Append(a).ok());
  ASSERT_TRUE(store->DeleteUpTo(4).ok());
  EXPECT_EQ(*store->Count(), 2u);
  EXPECT_THAT(Seqs(*store->ReadFrom(0, 100)), ::testing::ElementsAre(5, 6));
  ASSERT_TRUE(store->DeleteUpTo(2).ok());  // already gone: no-op
  EXPECT_EQ(*store->Count(), 2u);
  ASSERT_TRUE(store->DeleteUpTo(UINT64_MAX).ok());
  EXPECT_EQ(*store->Count(), 0u);
  EXPECT_TRUE(store->Tail(3)->empty());
  EXPECT_EQ(*store->LastSeq(), 6u);
}

TEST_F(StoreTest, SeqIsNeverReusedAfterDeleteUpToAndReopen) {
  {
    auto store = OpenOk();
    ASSERT_TRUE(store);
    std::vector<JournalEvent> a = Events(3);
    ASSERT_TRUE(store->Append(a).ok());
    ASSERT_TRUE(store->DeleteUpTo(3).ok());  // the journal is empty now
  }
  auto store = OpenOk();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->LastSeq(), 3u);
  std::vector<JournalEvent> b = Events(1);
  EXPECT_EQ(*store->Append(b), 4u);
  EXPECT_EQ(b[0].seq, 4u);
}

// ---- meta and commands ------------------------------------------------------------------------

TEST_F(StoreTest, MetaValuesPersistAndThePositionKeysAreProtected) {
  {
    auto store = OpenOk();
    EXPECT_EQ(*store->GetMeta("head_expires_at"), std::nullopt);
    ASSERT_TRUE(store->SetMeta("head_expires_at", "2026-11-24T10:00:00Z").ok());
    ASSERT_TRUE(store->SetMeta("head_expires_at", "2026-11-25T10:00:00Z").ok());
    Status st = store->SetMeta("version", "99");
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  }
  auto store = OpenOk();
  EXPECT_EQ(*store->GetMeta("head_expires_at"), std::optional<std::string>("2026-11-25T10:00:00Z"));
  EXPECT_EQ(*store->AppliedPosition(), (Position{0, 0}));
}

TEST_F(StoreTest, CommandIdsAreRecordedOnceAndSurviveReopen) {
  {
    auto store = OpenOk();
    ASSERT_TRUE(store->RecordCommand("cmd-1", T(1000), R"({"door":"front"})").ok());
    Status again = store->RecordCommand("cmd-1", T(2000), "{}");
    EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.ToString();
  }
  auto store = OpenOk();
  EXPECT_EQ(*store->FindCommand("cmd-1"), std::optional<std::string>(R"({"door":"front"})"));
  ASSERT_TRUE(store->RecordCommand("cmd-2", T(5000), "{}").ok());
  ASSERT_TRUE(store->PruneCommands(T(3000)).ok());
  EXPECT_EQ(*store->FindCommand("cmd-1"), std::nullopt);
  EXPECT_TRUE(store->FindCommand("cmd-2")->has_value());
}

// ---- reading by reference (rules::ValidateDelta) -----------------------------------------------

TEST_F(StoreTest, ReadStateFindsRecordsByIdAndByReference) {
  auto store = OpenOk();
  rules::Records r;
  rules::Person ada;
  ada.id = "p-ada";
  ada.name = "Ada";
  rules::Person ben = ada;
  ben.id = "p-ben";
  ben.primary = "p-ada";
  r.people = {ada, ben};
  rules::Lease lease;
  lease.id = "l-1";
  lease.members = {"p-ada", "p-ben"};
  r.leases = {lease};
  rules::Credential card;
  card.id = "c-card";
  card.person = "p-ada";
  card.card.format = rules::CardFormat::kH10301;
  card.card.facility = 101;
  card.card.number = 251;
  rules::Credential uid = card;
  uid.id = "c-uid";
  uid.card = {};
  uid.card.uid = "04A1B2";
  rules::Credential pin = card;
  pin.id = "c-pin";
  pin.person = "p-ben";
  pin.type = rules::CredentialType::kPin;
  pin.card = {};
  pin.pin = "482913";
  r.credentials = {card, uid, pin};
  ASSERT_TRUE(store->ReplaceState(r, {1, 1}).ok());

  auto ids = [](const auto& v) {
    std::string s;
    for (const auto& x : v) s += x.id + ",";
    return s;
  };
  std::unique_ptr<StoredStateReader> reader = store->ReadState();
  EXPECT_EQ(reader->GetPerson("p-ben")->primary, std::optional<std::string>("p-ada"));
  EXPECT_FALSE(reader->GetPerson("p-nobody"));
  EXPECT_EQ(reader->GetCredential("c-pin")->pin, "482913");
  EXPECT_EQ(ids(reader->PeopleWithPrimary("p-ada")), "p-ben,");
  EXPECT_EQ(ids(reader->CredentialsOf("p-ada")), "c-card,c-uid,");
  EXPECT_EQ(ids(reader->LeasesNaming("p-ben")), "l-1,");
  rules::Credential same_card = card;
  same_card.id = "c-new";
  EXPECT_EQ(ids(reader->CredentialsWithKeyOf(same_card)), "c-card,");
  same_card.card.number = 252;
  EXPECT_EQ(ids(reader->CredentialsWithKeyOf(same_card)), "");
  EXPECT_EQ(ids(reader->CredentialsWithKeyOf(uid)), "c-uid,");
  EXPECT_EQ(ids(reader->CredentialsWithKeyOf(pin)), "c-pin,");
  EXPECT_TRUE(reader->status().ok());

  // Lease writes keep lease_members: a put replaces the members, a delete removes them.
  lease.members = {"p-ada"};
  ASSERT_TRUE(store->ApplyOps({rules::PutOp(lease)}, {1, 2}).ok());
  EXPECT_EQ(ids(reader->LeasesNaming("p-ben")), "");
  EXPECT_EQ(ids(reader->LeasesNaming("p-ada")), "l-1,");
  ASSERT_TRUE(store->ApplyOps({rules::DeleteOp(RecordKind::kLease, "l-1")}, {1, 3}).ok());
  EXPECT_EQ(ids(reader->LeasesNaming("p-ada")), "");
  EXPECT_EQ(RawDb(path_).Query("SELECT count(*) FROM lease_members"), "0\n");
}

// ---- migration and damaged files --------------------------------------------------------------

TEST_F(StoreTest, MigratesV1FixtureKeepingData) {
  fs::path p = CopyFixture("store-v1.sqlite");
  ASSERT_EQ(RawDb(p).Query("PRAGMA user_version"), "1\n");
  auto store = OpenOk(p);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->opened_at_schema_version(), 1);
  EXPECT_EQ(RawDb(p).Query("PRAGMA user_version"), std::to_string(Store::kSchemaVersion) + "\n");

  EXPECT_EQ(*store->AppliedPosition(), (Position{3, 42}));
  Result<rules::Records> r = store->LoadRecords();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(
      Dump(*r),
      "schedule office-hours windows: 31/480-1080 96/600-840 exceptions: 20819{} "
      "20820{127/600-720 127/780-900 }\n"
      "group default 'Common doors' [front,garage,] always\n"
      "group gym 'Gym' [gym,] office-hours\n"
      "person p-1 'Ada Tenant' role=0 primary=- inherit=0 [default,gym,] status=0\n"
      "person p-2 'Ben Family' role=2 primary=p-1 inherit=1 [] status=1\n"
      "lease l-1 4B [p-1,p-2,] [default,] 1767225600 1798761600 1769904000 5\n"
      "lease l-2 5C [] [] 1767225600 - - -\n"
      "credential c-1 p-1 type=0 status=0 1767225600 1798761600 card=1/12/34567/ pin= ble=//\n"
      "credential c-2 p-1 type=1 status=1 - - card=0/0/0/ pin=482913 ble=//\n"
      "credential c-3 p-2 type=0 status=2 - - card=0/0/0/04A1B2C3D4E5F6 pin= ble=//\n"
      "credential c-4 p-2 type=2 status=0 1767225600 - card=0/0/0/ pin= "
      "ble=front/q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=/Ben phone\n"
      "door_mode front 2 -\n"
      "door_mode garage 1 1767312000\n");
  EXPECT_EQ(*store->Count(), 3u);
  EXPECT_THAT(Seqs(*store->ReadFrom(0, 10)), ::testing::ElementsAre(3, 4, 5));
  EXPECT_EQ(store->ReadFrom(0, 1)->at(0).body,
            R"({"id":"e3","type":"access.denied","reason":"unknown_credential"})");

  // What v2, v3, v4 and v5 added works on the migrated file: v5 split the leases' members.
  EXPECT_EQ(RawDb(p).Query("SELECT person, lease FROM lease_members ORDER BY person"),
            "p-1|l-1\np-2|l-1\n");
  {
    std::unique_ptr<StoredStateReader> reader = store->ReadState();
    std::vector<rules::Lease> of_ben = reader->LeasesNaming("p-2");
    ASSERT_EQ(of_ben.size(), 1u);
    EXPECT_EQ(of_ben[0].id, "l-1");
    EXPECT_TRUE(reader->status().ok());
  }
  EXPECT_TRUE(store->LockOutbox("front")->empty());
  EXPECT_EQ(*store->LastKnownGood(), std::nullopt);
  ASSERT_TRUE(store->AdvanceLastKnownGood(T(1767225700)).ok());
  EXPECT_EQ(*store->FindCommand("cmd-1"), std::nullopt);
  ASSERT_TRUE(store->RecordCommand("cmd-1", T(1767225700), "{}").ok());
  std::vector<JournalEvent> e = Events(1);
  EXPECT_EQ(*store->Append(e), 6u);
  store.reset();
  EXPECT_EQ(OpenOk(p)->opened_at_schema_version(), Store::kSchemaVersion);
}

TEST_F(StoreTest, MigratedV1FileHasTheSchemaOfANewFile) {
  fs::path p = CopyFixture("store-v1.sqlite");
  ASSERT_TRUE(OpenOk(p));
  ASSERT_TRUE(OpenOk());
  EXPECT_EQ(SchemaOf(p), SchemaOf(path_));
}

// The previous schema version (3: before the BLE lock tables) migrates to the current one.
TEST_F(StoreTest, MigratesV3FixtureKeepingData) {
  fs::path p = CopyFixture("store-v3.sqlite");
  ASSERT_EQ(RawDb(p).Query("PRAGMA user_version"), "3\n");
  std::string records_before = RawDb(p).Query(
      "SELECT * FROM credentials ORDER BY id; SELECT * FROM leases ORDER BY id; "
      "SELECT seq, ts, type, body FROM events ORDER BY seq");
  auto store = OpenOk(p);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->opened_at_schema_version(), 3);
  EXPECT_EQ(RawDb(p).Query("PRAGMA user_version"), std::to_string(Store::kSchemaVersion) + "\n");

  EXPECT_EQ(*store->AppliedPosition(), (Position{3, 42}));
  EXPECT_EQ(store->LoadRecords()->credentials.size(), 4u);
  EXPECT_EQ(RawDb(p).Query("SELECT * FROM credentials ORDER BY id; SELECT * FROM leases ORDER BY "
                           "id; SELECT seq, ts, type, body FROM events ORDER BY seq"),
            records_before);
  EXPECT_EQ(*store->LastKnownGood(), T(1767225700));
  EXPECT_EQ(*store->FindCommand("cmd-1"), std::optional<std::string>(R"({"door":"front"})"));

  // The lock tables are there and empty, and work.
  EXPECT_TRUE(store->LockOutbox("unit-101")->empty());
  EXPECT_TRUE(store->LockEntryMap("unit-101")->empty());
  EXPECT_EQ(*store->LockSyncStatus("unit-101"), std::nullopt);
  LockOutboxOp op;
  op.op.entry.credential = "c-2";
  op.op.entry.code = 482913;
  Result<std::vector<LockOutboxOp>> stored = store->ReplaceLockOutbox("unit-101", {op});
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_TRUE(store->RecordLockSync("unit-101", T(1767225800), Status::Ok()).ok());
  store.reset();
  store = OpenOk(p);
  EXPECT_EQ(store->opened_at_schema_version(), Store::kSchemaVersion);
  EXPECT_EQ(*store->LockOutbox("unit-101"), *stored);
  EXPECT_EQ(store->LockSyncStatus("unit-101")->value().last_success, T(1767225800));
}

TEST_F(StoreTest, MigratedV3FileHasTheSchemaOfANewFile) {
  fs::path p = CopyFixture("store-v3.sqlite");
  ASSERT_TRUE(OpenOk(p));
  ASSERT_TRUE(OpenOk());
  EXPECT_EQ(SchemaOf(p), SchemaOf(path_));
  EXPECT_NE(SchemaOf(p).find("lock_outbox"), std::string::npos);
}

TEST_F(StoreTest, RefusesCorruptFixtureWithoutChangingIt) {
  ExpectRefused(CopyFixture("corrupt.sqlite"), "not a Lintel database or damaged");
}

TEST_F(StoreTest, RefusesRandomGarbage) {
  std::mt19937 rng(42);
  std::string garbage(64 * 1024, '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  WriteFile(path_, garbage);
  ExpectRefused(path_, "not a Lintel database or damaged: file is not a database");
}

TEST_F(StoreTest, RefusesATextFile) {
  WriteFile(path_, "site: demo\ndoors: []\n");
  ExpectRefused(path_, "not a Lintel database or damaged");
}

TEST_F(StoreTest, RefusesTruncatedFiles) {
  std::string whole = ReadFile(Fixture("store-v1.sqlite"));
  for (size_t size : {size_t{50}, size_t{4096}, size_t{4096 * 3 + 100}, whole.size() - 4096}) {
    SCOPED_TRACE("truncated to " + std::to_string(size));
    fs::path p = dir_ / ("truncated-" + std::to_string(size) + ".sqlite");
    WriteFile(p, whole.substr(0, size));
    ExpectRefused(p, "not a Lintel database or damaged");
  }
}

TEST_F(StoreTest, RefusesANewerSchemaVersion) {
  ASSERT_TRUE(OpenOk());
  RawDb(path_).Exec("PRAGMA user_version = 999");
  ExpectRefused(path_, "schema version 999 is newer than this build supports (" +
                           std::to_string(Store::kSchemaVersion) +
                           "); refusing to open — upgrade lintel or restore a backup");
  EXPECT_EQ(RawDb(path_).Query("PRAGMA user_version"), "999\n");
}

TEST_F(StoreTest, RefusesAnotherProgramsDatabase) {
  RawDb(path_).Exec("CREATE TABLE moz_places(id INTEGER PRIMARY KEY, url TEXT)");
  ExpectRefused(path_, "not a Lintel database or damaged: it is an SQLite database of another");
  fs::path q = dir_ / "other.sqlite";
  RawDb(q).Exec("PRAGMA application_id = 42; PRAGMA user_version = 1");
  ExpectRefused(q, "application_id 42");
}

TEST_F(StoreTest, DamageFoundAfterOpenIsCorruptionNotACrash) {
  {
    auto store = OpenOk();
    ASSERT_TRUE(store);
    rules::Records many;
    for (int i = 0; i < 5000; ++i)
      many.credentials.push_back(Card("c-" + std::to_string(100000 + i), i));
    ASSERT_TRUE(store->ReplaceState(many, {1, 1}).ok());
  }
  // Damage two pages in the middle of the credentials table, then open without the check. The
  // pages are found through dbstat: ReplaceState builds the secondary indexes after the rows, so
  // the middle of the file is index pages, which LoadRecords does not read.
  size_t page = std::stoul(RawDb(path_).Query(
      "SELECT pageno FROM dbstat WHERE name = 'credentials' AND pagetype = 'leaf' ORDER BY pageno "
      "LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat WHERE name = 'credentials' AND "
      "pagetype = 'leaf')"));
  size_t page_size = std::stoul(RawDb(path_).Query("PRAGMA page_size"));
  std::string bytes = ReadFile(path_);
  ASSERT_GT(bytes.size(), 40000u);
  ASSERT_GE(bytes.size(), page * page_size + page_size);
  for (size_t i = (page - 1) * page_size; i < (page + 1) * page_size; ++i) bytes[i] = '\xa5';
  WriteFile(path_, bytes);
  StoreOptions options;
  options.verify_on_open = false;
  Result<std::unique_ptr<Store>> store = Store::Open(path_.string(), options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Result<rules::Records> r = (*store)->LoadRecords();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(r.status().message(), HasSubstr(path_.string() + ": database damaged: "));
}

}  // namespace
}  // namespace lintel::store

namespace lintel::store {
namespace {

// Many rows, so that LoadIndex moves them across threads in several batches.
rules::Records ManyPins(int n) {
  rules::Records r;
  rules::Person p;
  p.id = "p-many";
  p.name = "Many";
  p.groups = {"default"};
  r.people.push_back(p);
  for (int i = 0; i < n; ++i) {
    rules::Credential c;
    c.id = "c-" + std::to_string(i);
    c.person = "p-many";
    c.type = rules::CredentialType::kPin;
    c.pin = std::to_string(10000000 + i);
    r.credentials.push_back(std::move(c));
  }
  return r;
}

rules::Site OneDoorSite() {
  rules::Site site;
  site.id = "s";
  site.doors = {{"front", true}};
  return site;
}

TEST_F(StoreTest, LoadIndexBuildsExactlyWhatWasStored) {
  auto store = OpenOk();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->ReplaceState(ManyPins(10000), {1, 1}).ok());
  Result<std::shared_ptr<const rules::Index>> index = LoadIndex(*store, OneDoorSite(), nullptr);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ((*index)->credentials().size(), 10000u);
  for (int i : {0, 4095, 4096, 9999}) {
    rules::Decision d =
        rules::DecideWith(**index, {"front", "", rules::PinPresented(std::to_string(10000000 + i))},
                          FromUnix(1800000000), INT64_MIN, nullptr);
    EXPECT_TRUE(d.granted) << i;
    EXPECT_EQ(d.credential, "c-" + std::to_string(i));
  }
}

TEST_F(StoreTest, LoadIndexReportsACorruptRowAndReturns) {
  {
    auto store = OpenOk();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->ReplaceState(ManyPins(10000), {1, 1}).ok());
  }
  RawDb(path_).Exec("UPDATE credentials SET status = 9 WHERE id = 'c-9000'");
  auto store = OpenOk();
  ASSERT_TRUE(store);
  Result<std::shared_ptr<const rules::Index>> index = LoadIndex(*store, OneDoorSite(), nullptr);
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().code(), StatusCode::kCorruption);
  EXPECT_NE(index.status().message().find("c-9000"), std::string::npos);
}

// Issue 10, point 2: a store on a file system filled to the last byte after a clean close (no -wal,
// no -shm left, and SQLite cannot create a new -shm) still opens, read-only, and reads.
TEST(StoreOnAFullDisk, OpensReadOnlyWithTheFallbackAndWritesAfterReopen) {
  char tmpl[] = "/tmp/lintel-store-full-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  fs::path dir = tmpl;
  {
    testing::TinyTmpfs disk(dir / "disk", 1 << 20);
    if (!disk.error().empty()) GTEST_SKIP() << "needs root for a tmpfs: " << disk.error();
    std::string path = (disk.dir() / "l.db").string();
    {
      auto s = Store::Open(path);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      ASSERT_TRUE((*s)->ReplaceState({}, Position{2, 9}).ok());
      std::vector<JournalEvent> e(1);
      e[0].type = "x";
      ASSERT_TRUE((*s)->Append(e).ok());
    }
    ASSERT_FALSE(fs::exists(path + "-wal"));
    ASSERT_GT(disk.Fill(), 0u);
    auto plain = Store::Open(path);
    ASSERT_FALSE(plain.ok()) << "without the fallback a full disk refuses the open";
    EXPECT_EQ(plain.status().code(), StatusCode::kIoError) << plain.status().ToString();

    StoreOptions options;
    options.read_only_fallback = true;
    auto s = Store::Open(path, options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_TRUE((*s)->read_only());
    EXPECT_EQ((*s)->AppliedPosition().value(), (Position{2, 9}));
    EXPECT_EQ((*s)->Count().value(), 1u);
    std::vector<JournalEvent> e(1);
    e[0].type = "y";
    Result<uint64_t> appended = (*s)->Append(e);
    ASSERT_FALSE(appended.ok());
    EXPECT_EQ(appended.status().code(), StatusCode::kIoError);
    s->reset();

    disk.Free();
    auto again = Store::Open(path, options);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_FALSE((*again)->read_only());
    EXPECT_TRUE((*again)->Append(e).ok());
  }
  fs::remove_all(dir);
}

// Issue 13, point 1: a WAL grown past its limit by one large transaction (a snapshot's swap) is
// truncated by Checkpoint() itself, not by the next commit (whose fsync then waited for the file
// system to free, and trim, the WAL's blocks); with a reader on the WAL, Checkpoint waits at most
// kTruncateWaitMs and leaves the truncation to SQLite's own at a later commit.
TEST_F(StoreTest, CheckpointTruncatesAWalGrownPastItsLimit) {
  StoreOptions options;
  options.durable_commits = true;
  options.checkpoint_pages = 0;  // as the state worker: only Checkpoint() copies the WAL
  options.wal_size_limit = int64_t{256} << 10;
  Result<std::unique_ptr<Store>> opened = Store::Open(path_.string(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  const std::string wal = path_.string() + "-wal";
  rules::Records many;
  for (int i = 0; i < 5000; ++i) many.credentials.push_back(Card("c-" + std::to_string(i), i));
  ASSERT_TRUE(store.ReplaceState(many, {1, 1}).ok());
  ASSERT_GT(fs::file_size(wal), uintmax_t{256} << 10) << "the state went through the WAL";

  // A reader of the WAL: the copy is done, the truncation waits for it no longer than its bound.
  {
    RawDb reader(path_);
    reader.Exec("BEGIN");
    ASSERT_EQ(reader.Query("SELECT count(*) FROM credentials"), "5000\n");
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(store.Checkpoint().ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0,
              std::chrono::milliseconds(kTruncateWaitMs) + std::chrono::seconds(2));
    EXPECT_GT(fs::file_size(wal), uintmax_t{256} << 10) << "not truncated under a reader";
    reader.Exec("COMMIT");
  }

  ASSERT_TRUE(store.Checkpoint().ok());
  EXPECT_EQ(fs::file_size(wal), 0u);
  EXPECT_EQ(store.LoadRecords()->credentials.size(), 5000u);
  // The store goes on: a commit, a checkpoint of a WAL within its limit (left as it is).
  ASSERT_TRUE(store.ApplyOps({rules::PutOp(Card("c-new", 999999))}, {1, 2}).ok());
  ASSERT_TRUE(store.Checkpoint().ok());
  EXPECT_GT(fs::file_size(wal), 0u);
  EXPECT_LE(fs::file_size(wal), uintmax_t{256} << 10);
  EXPECT_EQ(*store.AppliedPosition(), (Position{1, 2}));
  EXPECT_EQ(RawDb(path_).Query("SELECT count(*) FROM credentials"), "5001\n");
}

}  // namespace
}  // namespace lintel::store
