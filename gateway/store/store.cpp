#include "gateway/store/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <thread>
#include <type_traits>
#include <utility>

#include "gateway/base/log.h"
#include "gateway/store/encoding.h"
#include "gateway/store/schema.h"
#include "gateway/store/sqlite.h"

namespace lintel::store {
namespace {

using internal::CodeFromSqlite;
using internal::ResetOnExit;
using internal::Stmt;


// Creates `path` with mode 0600 when absent; tightens an existing file readable or writable by
// group or others to owner-only, and so its -wal and -shm files when they exist (SQLite gives the
// ones it creates the database file's mode).
Status PrepareFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  Status status;
  if (::fstat(fd, &st) != 0) {
    status = Status::IoError(path + ": cannot stat: " + std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    status = Status::IoError(path + ": not a regular file");
  } else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0 && ::fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
    status =
        Status::IoError(path + ": cannot make it private (chmod 0600): " + std::strerror(errno));
  }
  ::close(fd);
  if (!status.ok()) return status;
  for (const char* suffix : {"-wal", "-shm"}) {
    std::string side = path + suffix;
    if (::stat(side.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0 &&
        ::chmod(side.c_str(), S_IRUSR | S_IWUSR) != 0) {
      return Status::IoError(side +
                             ": cannot make it private (chmod 0600): " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

// uint64 values are stored as their int64 bit pattern.
int64_t ToSql(uint64_t v) { return static_cast<int64_t>(v); }
uint64_t FromSql(int64_t v) { return static_cast<uint64_t>(v); }
int64_t ClampToSql(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(v);
}

// True when `v` is a value of the enum E, whose last enumerator is `last`. A value above it was
// written by no build of Lintel (or by a newer one that failed to bump the schema): Corruption.
template <typename E>
bool EnumInRange(int64_t v, E last) {
  return v >= 0 && v <= static_cast<int64_t>(last);
}

// One table of records: what the generated statements need. Column order is the bind order.
struct Table {
  const char* name;
  const char* label;  // in messages: "credential c-1: ..."
  const char* key;
  const char* columns;
  int column_count;
};
constexpr std::array<Table, 6> kTables = {{
    {"schedules", "schedule", "id", "id, windows, exceptions", 3},
    {"access_groups", "group", "id", "id, name, door_ids, schedule", 4},
    {"people", "person", "id", "id, name, role, primary_id, inherit, group_ids, status", 7},
    {"leases", "lease", "id",
     "id, unit, member_ids, group_ids, starts_at, ends_at, paid_through, grace_days", 8},
    {"credentials", "credential", "id",
     "id, person, type, status, valid_from, valid_until, card_format, card_facility, card_number, "
     "card_uid, pin, ble_lock, ble_key, ble_name",
     14},
    {"door_modes", "door_mode", "door", "door, mode, until", 3},
}};
// One record of any kind, in RecordKind order.
using Record = std::variant<rules::Schedule, rules::Group, rules::Person, rules::Lease,
                            rules::Credential, rules::DoorMode>;

constexpr size_t kKinds = kTables.size();
static_assert(kKinds == std::variant_size_v<Record>);

const Table& TableOf(RecordKind k) { return kTables[static_cast<size_t>(k)]; }

std::string InsertSql(const Table& t, bool replace) {
  std::string sql = replace ? "INSERT OR REPLACE INTO " : "INSERT INTO ";
  sql += t.name;
  sql += '(';
  sql += t.columns;
  sql += ") VALUES(";
  for (int i = 0; i < t.column_count; ++i) sql += i == 0 ? "?" : ", ?";
  sql += ')';
  return sql;
}
std::string SelectSql(const Table& t) {
  return std::string("SELECT ") + t.columns + " FROM " + t.name + " ORDER BY " + t.key;
}
std::string DeleteSql(const Table& t) {
  return std::string("DELETE FROM ") + t.name + " WHERE " + t.key + " = ?";
}

// The index of T among Record's alternatives (== its RecordKind).
template <typename T, typename V>
struct AlternativeIndex;
template <typename T, typename... Ts>
struct AlternativeIndex<T, std::variant<Ts...>> {
  static constexpr size_t value = [] {
    constexpr bool match[] = {std::is_same_v<T, Ts>...};
    for (size_t i = 0; i < sizeof...(Ts); ++i) {
      if (match[i]) return i;
    }
    return sizeof...(Ts);
  }();
};

const std::string& RecordId(const rules::Schedule& r) { return r.id; }
const std::string& RecordId(const rules::Group& r) { return r.id; }
const std::string& RecordId(const rules::Person& r) { return r.id; }
const std::string& RecordId(const rules::Lease& r) { return r.id; }
const std::string& RecordId(const rules::Credential& r) { return r.id; }
const std::string& RecordId(const rules::DoorMode& r) { return r.door; }

std::string Unknown(const char* field, int64_t v) {
  return std::string(field) + " " + std::to_string(v) + " is not a known value";
}

void ReadOptInstant(const Stmt& s, int col, std::optional<Instant>* out) {
  if (s.IsNull(col)) {
    out->reset();
  } else {
    *out = FromUnix(s.Int(col));
  }
}

// The page cache ReplaceState uses for its bulk load (the connection's own is restored after).
constexpr int64_t kBulkCacheKiB = 128 * 1024;

// The first 8 bytes of `id` as a big-endian number, zero-padded: a < b for these numbers implies
// the same order of the strings (compared as unsigned bytes, as std::string and SQLite do).
uint64_t IdPrefix(std::string_view id) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) {
    v = (v << 8) | (i < id.size() ? static_cast<unsigned char>(id[i]) : 0u);
  }
  return v;
}

// Collects rows into a rules::Records.
class CopyVisitor final : public RecordVisitor {
 public:
  explicit CopyVisitor(rules::Records* out) : out_(out) {}
  void OnSchedule(const rules::Schedule& r) override { out_->schedules.push_back(r); }
  void OnGroup(const rules::Group& r) override { out_->groups.push_back(r); }
  void OnPerson(const rules::Person& r) override { out_->people.push_back(r); }
  void OnLease(const rules::Lease& r) override { out_->leases.push_back(r); }
  void OnCredential(const rules::Credential& r) override { out_->credentials.push_back(r); }
  void OnDoorMode(const rules::DoorMode& r) override { out_->door_modes.push_back(r); }

 private:
  rules::Records* out_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  ~SqliteStore() override {
    for (auto& s : stmts_) s = Stmt();
    if (int rc = sqlite3_close_v2(db_); rc != SQLITE_OK) {
      LogError("store", path_ + ": close failed: " + sqlite3_errstr(rc));
    }
  }

  Status Init(const StoreOptions& options);
  static int OnBusy(void* self, int attempts);  // sqlite3_busy_handler

  int opened_at_schema_version() const override { return opened_at_; }
  bool read_only() const override { return read_only_; }
  void set_read_only() { read_only_ = true; }

  Status ReplaceState(const rules::Records& records, Position pos) override;
  Status ApplyOps(const std::vector<Op>& ops, Position new_pos) override;
  Status StageBegin() override;
  Status StageRecords(const rules::Records& page) override;
  Status StageLoad(RecordVisitor& visitor) override;
  Status StageCommit(Position pos) override;
  Status StageDrop() override;
  Status Checkpoint() override;
  Result<Position> AppliedPosition() override;
  Status LoadState(RecordVisitor& visitor) override;
  Result<rules::Records> LoadRecords() override;
  std::unique_ptr<StoredStateReader> ReadState() override;

  Result<std::optional<Instant>> LastKnownGood() override;
  Status AdvanceLastKnownGood(Instant t) override;
  Status ResetLastKnownGood(Instant t) override;

  Result<std::optional<std::string>> GetMeta(std::string_view key) override;
  Status SetMeta(std::string_view key, std::string_view value) override;
  Result<std::optional<std::string>> FindCommand(std::string_view id) override;
  Status RecordCommand(std::string_view id, Instant at, std::string_view response) override;
  Status PruneCommands(Instant before) override;

  Result<uint64_t> Append(std::span<JournalEvent> events) override;
  Result<std::vector<JournalEvent>> ReadFrom(uint64_t from_seq, size_t limit) override;
  Result<std::vector<JournalEvent>> Tail(size_t n) override;
  Status DeleteUpTo(uint64_t seq) override;
  Result<uint64_t> Count() override;
  Result<uint64_t> LastSeq() override;

  Result<std::vector<LockOutboxOp>> ReplaceLockOutbox(std::string_view lock,
                                                      std::vector<LockOutboxOp> ops) override;
  Result<std::vector<LockOutboxOp>> LockOutbox(std::string_view lock) override;
  Status MarkLockOpDone(std::string_view lock, const LockOutboxOp& op,
                        std::optional<uint32_t> lock_entry_id, Instant at) override;
  Status MarkLockOpFailed(std::string_view lock, uint64_t op_id, uint32_t attempts, Instant next_at,
                          std::string_view error) override;
  Result<std::vector<LockEntryRecord>> LockEntryMap(std::string_view lock) override;
  Status SetLockEntry(std::string_view lock, const LockEntryRecord& entry) override;
  Status UpdateLockEntries(std::string_view lock, const std::vector<std::string>& remove,
                           const std::vector<LockEntryRecord>& set) override;
  Status RemoveLockEntry(std::string_view lock, std::string_view credential) override;
  Status RecordLockSync(std::string_view lock, Instant at, const Status& outcome) override;
  Result<std::optional<LockSyncState>> LockSyncStatus(std::string_view lock) override;
  Status ForgetLock(std::string_view lock) override;

 private:
  // Cached prepared statements: the insert, put and delete of each kind, then the rest.
  enum StmtId : size_t {
    kInsert = 0,
    kPut = kInsert + kKinds,
    kDelete = kPut + kKinds,
    kSelect = kDelete + kKinds,
    kSetPosition = kSelect + kKinds,
    kGetPosition,
    kGetClock,
    kAdvanceClock,
    kResetClock,
    kAppendEvent,
    kReadEvents,
    kTailEvents,
    kDeleteEvents,
    kEventRange,
    kLastSeq,
    kGetMeta,
    kSetMeta,
    kFindCommand,
    kRecordCommand,
    kPruneCommands,
    kLockOutboxSelect,
    kLockOutboxClear,
    kLockOutboxInsert,
    kLockOutboxDeleteOne,
    kLockOutboxFail,
    kLockEntrySelect,
    kLockEntryPut,
    kLockEntryDelete,
    kLockEntryClear,
    kLockSyncGet,
    kLockSyncOk,
    kLockSyncFail,
    kLockSyncClear,
    kGetPerson,
    kGetLease,
    kGetCredential,
    kPeopleByPrimary,
    kCredentialsByPerson,
    kCredentialsByCard,
    kCredentialsByUid,
    kCredentialsByPin,
    kLeasesByMember,
    kLeaseMembersClear,
    kLeaseMemberInsert,
    kStageInsert,  // one per kind, into stage_<table>
    kStageSelect = kStageInsert + kKinds,
    kStageMemberInsert = kStageSelect + kKinds,
    kStmtCount,
  };
  friend class SqliteStateReader;
  // The rows `id` selects (the columns of R's table), after `bind` bound its parameters.
  template <typename R, typename Bind>
  Status QueryRows(size_t id, Bind&& bind, std::vector<R>* out);
  static std::string SqlOf(size_t id);

  // A Status for a failed SQLite call on this connection, using its current error message.
  Status Err(int rc, std::string_view what) const;
  // The same for a failure while opening: damage reads as "not a Lintel database or damaged".
  Status OpenErr(int rc, std::string_view what) const;
  Status BadRow(const char* table, std::string_view id, std::string_view problem) const {
    return Status::Corruption(path_ + ": " + table + " row " + std::string(id) + ": " +
                              std::string(problem));
  }

  Result<Stmt*> Prepare(size_t id);
  Status Exec(const char* sql, std::string_view what);
  // Steps a write statement to completion and resets it. Errors name "<label> <id>".
  Status Run(Stmt& s, const char* label, std::string_view id);
  // Runs `f` inside BEGIN IMMEDIATE .. COMMIT; rolls back when f or the commit fails.
  template <typename F>
  Status InTransaction(F&& f);
  Result<int64_t> PragmaInt(const char* sql);
  Status Migrate(int from);

  Status WriteRecord(Stmt& s, const rules::Schedule& r);
  Status WriteRecord(Stmt& s, const rules::Group& r);
  Status WriteRecord(Stmt& s, const rules::Person& r);
  Status WriteRecord(Stmt& s, const rules::Lease& r);
  Status WriteLeaseMembers(const rules::Lease& r);  // lease_members of `r` (schema v5)
  Status WriteRecord(Stmt& s, const rules::Credential& r);
  Status WriteRecord(Stmt& s, const rules::DoorMode& r);
  template <typename R>
  Status WriteAll(size_t first_stmt, const std::vector<R>& rows);
  Status SetPosition(Position pos);
  Status BadList(const char* label, const std::string& id, const char* field) const {
    return Status::InvalidArgument(std::string(label) + " " + id + ": an id in " + field +
                                   " is empty or contains the byte 0x1f");
  }

  Status ReadRow(const Stmt& s, rules::Schedule* r) const;
  Status ReadRow(const Stmt& s, rules::Group* r) const;
  Status ReadRow(const Stmt& s, rules::Person* r) const;
  Status ReadRow(const Stmt& s, rules::Lease* r) const;
  Status ReadRow(const Stmt& s, rules::Credential* r) const;
  Status ReadRow(const Stmt& s, rules::DoorMode* r) const;
  template <typename R, typename F>
  Status LoadKind(RecordKind kind, R* row, F&& deliver, size_t first_select = kSelect);
  Status LoadAll(RecordVisitor& v, size_t first_select);
  // The stage's table names and the CREATE statements of the state's indexes (their stored SQL).
  Result<std::vector<std::pair<std::string, std::string>>> StateIndexes();
  Status DropStageTables();
  void ForgetStageStatements();
  Status SetCache(int64_t kib);
  Result<std::vector<JournalEvent>> ReadEvents(Stmt& s);
  Result<std::vector<LockOutboxOp>> ReadLockOutbox(std::string_view lock);
  Status ReadRow(const Stmt& s, LockOutboxOp* op) const;
  Status PutLockEntry(std::string_view lock, const LockEntryRecord& entry);
  Status RunLockStmt(size_t id, std::string_view lock, std::string_view what);

  std::string path_;
  sqlite3* db_;
  int busy_timeout_ms_ = 5000;
  int64_t wal_size_limit_ = int64_t{64} << 20;
  std::chrono::steady_clock::time_point busy_since_;  // the current wait's first OnBusy
  int opened_at_ = 0;
  bool read_only_ = false;
  bool durable_ = true;
  bool mmap_ = true;
  bool staging_ = false;          // StageBegin on this connection, no commit or drop since
  int64_t cache_kib_before_ = 0;  // the connection's cache_size before the stage (PRAGMA value)
  std::array<Stmt, kStmtCount> stmts_;
  std::array<std::string, 3> scratch_;  // encoded lists and schedules, bound until the step
  // Set by ReplaceState while it writes leases: their (person, lease) pairs go here instead of
  // into lease_members one lease at a time.
  std::vector<std::pair<std::string_view, std::string_view>>* bulk_members_ = nullptr;
};

std::string SqliteStore::SqlOf(size_t id) {
  if (id >= kStageInsert && id < kStageSelect) {
    return "INSERT INTO stage_" + InsertSql(kTables[id - kStageInsert], false).substr(12);
  }
  if (id >= kStageSelect && id < kStageMemberInsert) {
    const Table& t = kTables[id - kStageSelect];
    return std::string("SELECT ") + t.columns + " FROM stage_" + t.name + " ORDER BY " + t.key;
  }
  if (id == kStageMemberInsert) {
    return "INSERT OR IGNORE INTO stage_lease_members(person, lease) VALUES(?1, ?2)";
  }
  if (id < kPut) return InsertSql(kTables[id - kInsert], false);
  if (id < kDelete) return InsertSql(kTables[id - kPut], true);
  if (id < kSelect) return DeleteSql(kTables[id - kDelete]);
  if (id < kSetPosition) return SelectSql(kTables[id - kSelect]);
  auto where = [](RecordKind kind, const char* condition) {
    const Table& t = TableOf(kind);
    return std::string("SELECT ") + t.columns + " FROM " + t.name + " WHERE " + condition;
  };
  switch (id) {
    case kGetPerson:
      return where(RecordKind::kPerson, "id = ?1");
    case kGetLease:
      return where(RecordKind::kLease, "id = ?1");
    case kGetCredential:
      return where(RecordKind::kCredential, "id = ?1");
    case kPeopleByPrimary:
      return where(RecordKind::kPerson, "primary_id = ?1");
    case kCredentialsByPerson:
      return where(RecordKind::kCredential, "person = ?1");
    case kCredentialsByCard:
      return where(RecordKind::kCredential,
                   "card_format = ?1 AND card_facility = ?2 AND card_number = ?3");
    case kCredentialsByUid:
      return where(RecordKind::kCredential, "card_uid = ?1");
    case kCredentialsByPin:
      return where(RecordKind::kCredential, "pin = ?1");
    case kLeasesByMember:
      return where(RecordKind::kLease, "id IN (SELECT lease FROM lease_members WHERE person = ?1)");
    case kLeaseMembersClear:
      return "DELETE FROM lease_members WHERE lease = ?1";
    case kLeaseMemberInsert:
      return "INSERT OR IGNORE INTO lease_members(person, lease) VALUES(?1, ?2)";
    case kSetPosition:
      // Every state commit also bumps `state_serial` (an index image names the state it is of by
      // position and serial: a local import or a command's door mode keeps the position).
      return "INSERT OR REPLACE INTO meta(key, value) VALUES('epoch', ?1), ('version', ?2), "
             "('state_serial', coalesce((SELECT value FROM meta WHERE key = 'state_serial'), 0) "
             "+ 1)";
    case kGetPosition:
      return "SELECT key, value FROM meta WHERE key IN ('epoch', 'version')";
    case kGetClock:
      return "SELECT last_known_good FROM clock WHERE id = 1";
    case kAdvanceClock:
      return "INSERT INTO clock(id, last_known_good) VALUES(1, ?1) ON CONFLICT(id) DO UPDATE SET "
             "last_known_good = max(last_known_good, excluded.last_known_good)";
    case kResetClock:
      return "INSERT INTO clock(id, last_known_good) VALUES(1, ?1) ON CONFLICT(id) DO UPDATE SET "
             "last_known_good = excluded.last_known_good";
    case kAppendEvent:
      return "INSERT INTO events(ts, type, body) VALUES(?1, ?2, ?3)";
    case kReadEvents:
      return "SELECT seq, ts, type, body FROM events WHERE seq >= ?1 ORDER BY seq LIMIT ?2";
    case kTailEvents:
      return "SELECT seq, ts, type, body FROM events ORDER BY seq DESC LIMIT ?1";
    case kDeleteEvents:
      return "DELETE FROM events WHERE seq <= ?1";
    case kEventRange:
      // Two subqueries: SQLite answers a lone min() or max() from the primary key's b-tree
      // (O(log n)), but "SELECT min(seq), max(seq)" scans the whole table.
      return "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)";
    case kLastSeq:
      return "SELECT seq FROM sqlite_sequence WHERE name = 'events'";
    case kGetMeta:
      return "SELECT value FROM meta WHERE key = ?1";
    case kSetMeta:
      return "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)";
    case kFindCommand:
      return "SELECT response FROM commands WHERE id = ?1";
    case kRecordCommand:
      return "INSERT INTO commands(id, executed_at, response) VALUES(?1, ?2, ?3)";
    case kPruneCommands:
      return "DELETE FROM commands WHERE executed_at < ?1";
    case kLockOutboxSelect:
      return "SELECT id, op, restricts, lock_entry_id, credential, person, kind, name, code, key, "
             "valid_from, valid_until, weekdays, from_min, until_min, attempts, next_at, "
             "last_error FROM lock_outbox WHERE lock = ?1 ORDER BY id";
    case kLockOutboxClear:
      return "DELETE FROM lock_outbox WHERE lock = ?1";
    case kLockOutboxInsert:
      return "INSERT INTO lock_outbox(lock, op, restricts, lock_entry_id, credential, person, "
             "kind, name, code, key, valid_from, valid_until, weekdays, from_min, until_min, "
             "attempts, next_at, last_error) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
             "?12, ?13, ?14, ?15, ?16, ?17, ?18)";
    case kLockOutboxDeleteOne:
      return "DELETE FROM lock_outbox WHERE lock = ?1 AND id = ?2";
    case kLockOutboxFail:
      return "UPDATE lock_outbox SET attempts = ?3, next_at = ?4, last_error = ?5 "
             "WHERE lock = ?1 AND id = ?2";
    case kLockEntrySelect:
      return "SELECT credential, kind, lock_entry_id, fingerprint, written_at FROM lock_entries "
             "WHERE lock = ?1 ORDER BY credential";
    case kLockEntryPut:
      return "INSERT OR REPLACE INTO lock_entries(lock, credential, kind, lock_entry_id, "
             "fingerprint, written_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
    case kLockEntryDelete:
      return "DELETE FROM lock_entries WHERE lock = ?1 AND credential = ?2";
    case kLockEntryClear:
      return "DELETE FROM lock_entries WHERE lock = ?1";
    case kLockSyncGet:
      return "SELECT last_success, last_attempt, consecutive_failures, last_error FROM lock_sync "
             "WHERE lock = ?1";
    case kLockSyncOk:
      return "INSERT INTO lock_sync(lock, last_success, last_attempt, consecutive_failures, "
             "last_error) VALUES(?1, ?2, ?2, 0, '') ON CONFLICT(lock) DO UPDATE SET "
             "last_success = excluded.last_success, last_attempt = excluded.last_attempt, "
             "consecutive_failures = 0, last_error = ''";
    case kLockSyncFail:
      return "INSERT INTO lock_sync(lock, last_success, last_attempt, consecutive_failures, "
             "last_error) VALUES(?1, NULL, ?2, 1, ?3) ON CONFLICT(lock) DO UPDATE SET "
             "last_attempt = excluded.last_attempt, "
             "consecutive_failures = consecutive_failures + 1, last_error = excluded.last_error";
    case kLockSyncClear:
      return "DELETE FROM lock_sync WHERE lock = ?1";
    default:
      return "";
  }
}

Status SqliteStore::Err(int rc, std::string_view what) const {
  std::string detail = sqlite3_errmsg(db_);
  StatusCode code = CodeFromSqlite(rc);
  switch (code) {
    case StatusCode::kCorruption:
      return Status::Corruption(path_ + ": database damaged: " + std::string(what) + ": " + detail);
    case StatusCode::kInvalidArgument:
      return Status::InvalidArgument(std::string(what) + ": " + detail);
    default:
      return Status(code, path_ + ": " + std::string(what) + ": " + detail);
  }
}

Status SqliteStore::OpenErr(int rc, std::string_view what) const {
  if (CodeFromSqlite(rc) != StatusCode::kCorruption) return Err(rc, what);
  return Status::Corruption(path_ + ": not a Lintel database or damaged: " + sqlite3_errmsg(db_));
}

Result<Stmt*> SqliteStore::Prepare(size_t id) {
  Stmt& s = stmts_[id];
  if (!s) {
    std::string sql = SqlOf(id);
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) return Err(rc, "prepare \"" + sql + "\"");
    s = Stmt(raw);
  }
  return &s;
}

Status SqliteStore::Exec(const char* sql, std::string_view what) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Err(rc, what);
  return Status::Ok();
}

Status SqliteStore::Run(Stmt& s, const char* label, std::string_view id) {
  ResetOnExit reset(s);
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  return Err(rc, std::string(label) + (id.empty() ? "" : " ") + std::string(id));
}

template <typename F>
Status SqliteStore::InTransaction(F&& f) {
  LINTEL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin transaction"));
  Status status = f();
  if (status.ok()) status = Exec("COMMIT", "commit");
  if (!status.ok() && !sqlite3_get_autocommit(db_)) {
    if (int rc = sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
      LogError("store", path_ + ": rollback failed: " + sqlite3_errmsg(db_));
    }
  }
  return status;
}

Result<int64_t> SqliteStore::PragmaInt(const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr);
  Stmt s(raw);
  if (rc != SQLITE_OK) return OpenErr(rc, sql);
  rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return s.Int(0);
  if (rc == SQLITE_DONE) return int64_t{0};
  return OpenErr(rc, sql);
}

// Waits for another connection's write lock in steps of 0.2 ms (then 1 ms after 10 ms), up to
// the busy timeout. SQLite's own handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10, 15, 20, 25 ms
// and so on: a lock held 4 ms by the journal writer's commit cost a delta's commit 8 ms, and one
// held 40 ms (a slow fsync) 53 ms (issue 13, point 1).
int SqliteStore::OnBusy(void* self, int attempts) {
  auto* store = static_cast<SqliteStore*>(self);
  using std::chrono::steady_clock;
  const steady_clock::time_point now = steady_clock::now();
  if (attempts == 0) store->busy_since_ = now;
  if (now - store->busy_since_ >= std::chrono::milliseconds(store->busy_timeout_ms_)) return 0;
  std::this_thread::sleep_for(now - store->busy_since_ < std::chrono::milliseconds(10)
                                  ? std::chrono::microseconds(200)
                                  : std::chrono::microseconds(1000));
  return 1;
}

Status SqliteStore::Init(const StoreOptions& options) {
  sqlite3_extended_result_codes(db_, 1);
  busy_timeout_ms_ = options.busy_timeout_ms;
  sqlite3_busy_handler(db_, &SqliteStore::OnBusy, this);

  // Everything up to the migrations only reads, so a file refused here is left as it was.
  Result<int64_t> version = PragmaInt("PRAGMA user_version");
  if (!version.ok()) return version.status();
  Result<int64_t> app_id = PragmaInt("PRAGMA application_id");
  if (!app_id.ok()) return app_id.status();
  Result<int64_t> objects = PragmaInt("SELECT count(*) FROM sqlite_schema");
  if (!objects.ok()) return objects.status();

  bool is_new = *version == 0 && *app_id == 0 && *objects == 0;
  if (!is_new && *app_id != internal::kApplicationId) {
    return Status::Corruption(path_ +
                              ": not a Lintel database or damaged: it is an SQLite database of "
                              "another program (application_id " +
                              std::to_string(*app_id) + ", schema version " +
                              std::to_string(*version) + ")");
  }
  if (*version > kSchemaVersion) {
    return Status::Corruption(path_ + ": schema version " + std::to_string(*version) +
                              " is newer than this build supports (" +
                              std::to_string(kSchemaVersion) +
                              "); refusing to open — upgrade lintel or restore a backup");
  }
  if (!is_new && *version < 1) {
    return Status::Corruption(path_ + ": not a Lintel database or damaged: schema version " +
                              std::to_string(*version));
  }

  if (options.verify_on_open && !is_new) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, "PRAGMA quick_check(5)", -1, &raw, nullptr);
    Stmt s(raw);
    if (rc != SQLITE_OK) return OpenErr(rc, "quick_check");
    std::string problems;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      std::string_view line = s.Text(0);
      if (line == "ok") continue;
      if (!problems.empty()) problems += "; ";
      problems += line;
    }
    if (rc != SQLITE_DONE) return OpenErr(rc, "quick_check");
    if (!problems.empty()) {
      return Status::Corruption(path_ + ": not a Lintel database or damaged: " + problems);
    }
  }

  if (read_only_) {
    // Nothing may be written: no journal mode change, no migration.
    if (*version != kSchemaVersion) {
      return Status::IoError(path_ + ": read-only and at schema version " +
                             std::to_string(*version) + ", which needs migrating to " +
                             std::to_string(kSchemaVersion));
    }
    LINTEL_RETURN_IF_ERROR(Exec("PRAGMA mmap_size = 4294967296", "set mmap_size"));
    opened_at_ = static_cast<int>(*version);
    return Status::Ok();
  }
  {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode = WAL", -1, &raw, nullptr);
    Stmt s(raw);
    if (rc == SQLITE_OK) rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW) return OpenErr(rc, "set journal_mode=WAL");
    if (s.Text(0) != "wal") {
      return Status::IoError(path_ + ": cannot use WAL journal mode (SQLite kept '" +
                             std::string(s.Text(0)) + "'); is the file on a local file system?");
    }
  }
  LINTEL_RETURN_IF_ERROR(
      Exec(options.durable_commits ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
           "set synchronous"));
  // After a checkpoint the WAL is truncated to this size, so one large snapshot does not leave a
  // WAL of the whole state on disk.
  wal_size_limit_ = options.wal_size_limit;
  std::string limit = "PRAGMA journal_size_limit = " + std::to_string(wal_size_limit_);
  LINTEL_RETURN_IF_ERROR(Exec(limit.c_str(), "set journal_size_limit"));
  if (options.checkpoint_pages != 1000) {
    std::string pages = "PRAGMA wal_autocheckpoint = " + std::to_string(options.checkpoint_pages);
    LINTEL_RETURN_IF_ERROR(Exec(pages.c_str(), "set wal_autocheckpoint"));
  }
  // Read through a memory map: the start-up scan of millions of rows then costs no read() copy per
  // page. Writes still go through the WAL. (An I/O error under the map would be SIGBUS rather than
  // an error code; the store is a local file owned by this one process.)
  mmap_ = options.mmap;
  if (mmap_) LINTEL_RETURN_IF_ERROR(Exec("PRAGMA mmap_size = 4294967296", "set mmap_size"));

  opened_at_ = static_cast<int>(*version);
  durable_ = options.durable_commits;
  LINTEL_RETURN_IF_ERROR(Migrate(opened_at_));
  // A snapshot a crash left half-staged (StageBegin .. StageCommit) is dropped: it was never in
  // force, and the cloud sends the snapshot again.
  if (!options.drop_stale_stage) return Status::Ok();
  Result<int64_t> stale = PragmaInt(
      "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name LIKE 'stage\\_%' "
      "ESCAPE '\\'");
  if (!stale.ok()) return stale.status();
  if (*stale > 0) {
    LINTEL_RETURN_IF_ERROR(InTransaction([&] { return DropStageTables(); }));
    LogWarning("store", path_ + ": dropped a snapshot a crash left half-written");
  }
  return Status::Ok();
}

Status SqliteStore::Migrate(int from) {
  for (const internal::Migration& m : internal::Migrations()) {
    if (m.version <= from) continue;
    Status status = InTransaction([&]() -> Status {
      // Under the write lock: another process may have migrated since we looked.
      Result<int64_t> now = PragmaInt("PRAGMA user_version");
      if (!now.ok()) return now.status();
      if (*now >= m.version) return Status::Ok();
      LINTEL_RETURN_IF_ERROR(Exec(m.sql, "migration"));
      std::string set = "PRAGMA user_version = " + std::to_string(m.version);
      return Exec(set.c_str(), "set user_version");
    });
    if (!status.ok()) {
      return Status(status.code(), "migrating to schema version " + std::to_string(m.version) +
                                       " failed: " + status.message());
    }
    if (from > 0) {
      LogInfo("store", path_ + ": migrated to schema version " + std::to_string(m.version));
    }
  }
  return Status::Ok();
}

// ---- writing records --------------------------------------------------------------------------

Status SqliteStore::WriteRecord(Stmt& s, const rules::Schedule& r) {
  internal::EncodeWindows(r.windows, &scratch_[0]);
  internal::EncodeExceptions(r.exceptions, &scratch_[1]);
  s.BindText(1, r.id);
  s.BindText(2, scratch_[0]);
  s.BindText(3, scratch_[1]);
  return Run(s, "schedule", r.id);
}

Status SqliteStore::WriteRecord(Stmt& s, const rules::Group& r) {
  if (!internal::JoinIds(r.doors, &scratch_[0])) return BadList("group", r.id, "doors");
  s.BindText(1, r.id);
  s.BindText(2, r.name);
  s.BindText(3, scratch_[0]);
  s.BindText(4, r.schedule);
  return Run(s, "group", r.id);
}

Status SqliteStore::WriteRecord(Stmt& s, const rules::Person& r) {
  if (!internal::JoinIds(r.groups, &scratch_[0])) return BadList("person", r.id, "groups");
  s.BindText(1, r.id);
  s.BindText(2, r.name);
  s.BindInt(3, static_cast<int64_t>(r.role));
  if (r.primary) {
    s.BindText(4, *r.primary);
  } else {
    s.BindNull(4);
  }
  s.BindInt(5, r.inherit ? 1 : 0);
  s.BindText(6, scratch_[0]);
  s.BindInt(7, static_cast<int64_t>(r.status));
  return Run(s, "person", r.id);
}

Status SqliteStore::WriteRecord(Stmt& s, const rules::Lease& r) {
  if (!internal::JoinIds(r.members, &scratch_[0])) return BadList("lease", r.id, "members");
  if (!internal::JoinIds(r.groups, &scratch_[1])) return BadList("lease", r.id, "groups");
  s.BindText(1, r.id);
  s.BindText(2, r.unit);
  s.BindText(3, scratch_[0]);
  s.BindText(4, scratch_[1]);
  s.BindInstant(5, r.starts_at);
  s.BindOptInstant(6, r.ends_at);
  s.BindOptInstant(7, r.paid_through);
  if (r.grace_days) {
    s.BindInt(8, *r.grace_days);
  } else {
    s.BindNull(8);
  }
  LINTEL_RETURN_IF_ERROR(Run(s, "lease", r.id));
  // ReplaceState collects every lease's members and writes lease_members once, in key order.
  if (bulk_members_ != nullptr) {
    for (const std::string& m : r.members) bulk_members_->emplace_back(m, r.id);
    return Status::Ok();
  }
  return WriteLeaseMembers(r);
}

Status SqliteStore::WriteLeaseMembers(const rules::Lease& r) {
  Result<Stmt*> clear = Prepare(kLeaseMembersClear);
  if (!clear.ok()) return clear.status();
  (*clear)->BindText(1, r.id);
  LINTEL_RETURN_IF_ERROR(Run(**clear, "lease", r.id));
  Result<Stmt*> insert = Prepare(kLeaseMemberInsert);
  if (!insert.ok()) return insert.status();
  for (const std::string& m : r.members) {
    (*insert)->BindText(1, m);
    (*insert)->BindText(2, r.id);
    LINTEL_RETURN_IF_ERROR(Run(**insert, "lease", r.id));
  }
  return Status::Ok();
}

Status SqliteStore::WriteRecord(Stmt& s, const rules::Credential& r) {
  s.BindText(1, r.id);
  s.BindText(2, r.person);
  s.BindInt(3, static_cast<int64_t>(r.type));
  s.BindInt(4, static_cast<int64_t>(r.status));
  s.BindOptInstant(5, r.valid_from);
  s.BindOptInstant(6, r.valid_until);
  // Only the columns of the credential's type are set; the others are NULL.
  for (int col = 7; col <= 14; ++col) s.BindNull(col);
  switch (r.type) {
    case rules::CredentialType::kCard:
      s.BindInt(7, static_cast<int64_t>(r.card.format));
      s.BindInt(8, r.card.facility);
      s.BindInt(9, ToSql(r.card.number));
      s.BindText(10, r.card.uid);
      break;
    case rules::CredentialType::kPin:
      s.BindText(11, r.pin);
      break;
    case rules::CredentialType::kBleKey:
      s.BindText(12, r.ble_key.lock);
      s.BindText(13, r.ble_key.key);
      s.BindText(14, r.ble_key.name);
      break;
  }
  return Run(s, "credential", r.id);
}

Status SqliteStore::WriteRecord(Stmt& s, const rules::DoorMode& r) {
  s.BindText(1, r.door);
  s.BindInt(2, static_cast<int64_t>(r.mode));
  s.BindOptInstant(3, r.until);
  return Run(s, "door_mode", r.door);
}

template <typename R>
Status SqliteStore::WriteAll(size_t first_stmt, const std::vector<R>& rows) {
  constexpr size_t kind = AlternativeIndex<R, Record>::value;
  static_assert(kind < kKinds);
  Result<Stmt*> s = Prepare(first_stmt + kind);
  if (!s.ok()) return s.status();
  // Rows go into a B-tree keyed by id. In id order every insert appends to the rightmost leaf;
  // in random order (UUIDs) each one touches a random page, several times slower once the table
  // outgrows SQLite's page cache. So write in id order, sorting a list of pointers when needed.
  auto by_id = [](const R& a, const R& b) { return RecordId(a) < RecordId(b); };
  if (std::is_sorted(rows.begin(), rows.end(), by_id)) {
    for (const R& r : rows) LINTEL_RETURN_IF_ERROR(WriteRecord(**s, r));
    return Status::Ok();
  }
  // Sorted by the id's first 8 bytes (big-endian, zero-padded: the same order as comparing the
  // strings, as far as it goes), then by the whole id on a tie: most comparisons touch no string.
  struct Keyed {
    uint64_t prefix;
    const R* row;
  };
  std::vector<Keyed> sorted;
  sorted.reserve(rows.size());
  for (const R& r : rows) sorted.push_back({IdPrefix(RecordId(r)), &r});
  std::sort(sorted.begin(), sorted.end(), [](const Keyed& a, const Keyed& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return RecordId(*a.row) < RecordId(*b.row);
  });
  for (const Keyed& k : sorted) LINTEL_RETURN_IF_ERROR(WriteRecord(**s, *k.row));
  return Status::Ok();
}

Status SqliteStore::SetPosition(Position pos) {
  Result<Stmt*> s = Prepare(kSetPosition);
  if (!s.ok()) return s.status();
  (*s)->BindInt(1, ToSql(pos.epoch));
  (*s)->BindInt(2, ToSql(pos.version));
  return Run(**s, "position", "");
}

Status SqliteStore::ReplaceState(const rules::Records& records, Position pos) {
  // A bulk load: the secondary indexes of the record tables (and lease_members's) are dropped
  // inside the transaction and created again after the rows are in, exactly as they were (their
  // own stored SQL): CREATE INDEX sorts the keys and builds each B-tree bottom-up, several times
  // faster than inserting 2,000,000 keys one by one in random order. A larger page cache for the
  // duration keeps the load from spilling pages to the WAL and writing them again. It is still
  // one transaction: any failure rolls back the drops with the rows, leaving the old state.
  Result<int64_t> cache = PragmaInt("PRAGMA cache_size");
  if (!cache.ok()) return cache.status();
  std::string bulk_cache = "PRAGMA cache_size = " + std::to_string(-kBulkCacheKiB);
  LINTEL_RETURN_IF_ERROR(Exec(bulk_cache.c_str(), "set cache_size"));
  std::vector<std::pair<std::string_view, std::string_view>> members;
  Status status = InTransaction([&]() -> Status {
    std::vector<std::pair<std::string, std::string>> indexes;  // name, CREATE INDEX statement
    {
      sqlite3_stmt* raw = nullptr;
      const char* sql =
          "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND "
          "tbl_name IN ('schedules', 'access_groups', 'people', 'leases', 'credentials', "
          "'door_modes', 'lease_members') ORDER BY name";
      int rc = sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr);
      Stmt s(raw);
      if (rc != SQLITE_OK) return Err(rc, "list indexes");
      while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
        indexes.emplace_back(std::string(s.Text(0)), std::string(s.Text(1)));
      }
      if (rc != SQLITE_DONE) return Err(rc, "list indexes");
    }
    for (const auto& [name, create] : indexes) {
      std::string drop = "DROP INDEX \"" + name + "\"";
      LINTEL_RETURN_IF_ERROR(Exec(drop.c_str(), drop));
    }
    for (const Table& t : kTables) {
      std::string sql = std::string("DELETE FROM ") + t.name;
      LINTEL_RETURN_IF_ERROR(Exec(sql.c_str(), sql));
    }
    LINTEL_RETURN_IF_ERROR(Exec("DELETE FROM lease_members", "DELETE FROM lease_members"));
    LINTEL_RETURN_IF_ERROR(WriteAll(kInsert, records.schedules));
    LINTEL_RETURN_IF_ERROR(WriteAll(kInsert, records.groups));
    LINTEL_RETURN_IF_ERROR(WriteAll(kInsert, records.people));
    members.reserve(records.leases.size());
    bulk_members_ = &members;
    Status leases = WriteAll(kInsert, records.leases);
    bulk_members_ = nullptr;
    LINTEL_RETURN_IF_ERROR(leases);
    // lease_members in key order (person, lease); a member named twice in one lease is one row.
    std::sort(members.begin(), members.end());
    members.erase(std::unique(members.begin(), members.end()), members.end());
    Result<Stmt*> insert = Prepare(kLeaseMemberInsert);
    if (!insert.ok()) return insert.status();
    for (const auto& [person, lease] : members) {
      (*insert)->BindText(1, person);
      (*insert)->BindText(2, lease);
      LINTEL_RETURN_IF_ERROR(Run(**insert, "lease", lease));
    }
    LINTEL_RETURN_IF_ERROR(WriteAll(kInsert, records.credentials));
    LINTEL_RETURN_IF_ERROR(WriteAll(kInsert, records.door_modes));
    for (const auto& [name, create] : indexes) {
      LINTEL_RETURN_IF_ERROR(Exec(create.c_str(), "create index " + name));
    }
    return SetPosition(pos);
  });
  std::string restore = "PRAGMA cache_size = " + std::to_string(*cache);
  if (Status s = Exec(restore.c_str(), "restore cache_size"); !s.ok()) {
    LogError("store", path_ + ": " + s.message());
  }
  // Give back what the bulk cache held (the pages are in the file and the OS cache now).
  sqlite3_db_release_memory(db_);
  return status;
}

// ---- the stage ---------------------------------------------------------------------------------

// The tables a snapshot replaces: the record tables and lease_members.
constexpr std::array<const char*, 7> kStateTables = {
    "schedules", "access_groups", "people", "leases", "credentials", "door_modes", "lease_members"};
// The page cache while a snapshot is staged: its pages are written in the cloud's order, not the
// keys', so the B-trees' recent leaves should stay cached between pages.
constexpr int64_t kStageCacheKiB = 32 * 1024;
// The page cache for the swap's CREATE INDEX sorts: the swap runs while the old index is in force
// and the new one is built beside it. At 2,000,000 credentials (issue 13, point 5: peak <= 2x
// steady, end to end <= 2x a bare insert) 128 MiB put the peak at 2.06x steady, 64 MiB at
// 1.93-2.01x, 32 MiB at 1.72x but a second more of sorting (2.25x the bare insert in that run);
// 48 MiB: 1.91x and 1.66x.
constexpr int64_t kSwapCacheKiB = 48 * 1024;

Status SqliteStore::SetCache(int64_t kib) {
  std::string sql = "PRAGMA cache_size = " + std::to_string(-kib);
  return Exec(sql.c_str(), "set cache_size");
}

void SqliteStore::ForgetStageStatements() {
  for (size_t id = kStageInsert; id <= kStageMemberInsert; ++id) stmts_[id] = Stmt();
}

Status SqliteStore::DropStageTables() {
  ForgetStageStatements();
  for (const char* t : kStateTables) {
    std::string sql = std::string("DROP TABLE IF EXISTS stage_") + t;
    LINTEL_RETURN_IF_ERROR(Exec(sql.c_str(), sql));
  }
  return Status::Ok();
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteStore::StateIndexes() {
  std::vector<std::pair<std::string, std::string>> indexes;
  sqlite3_stmt* raw = nullptr;
  const char* sql =
      "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND "
      "tbl_name IN ('schedules', 'access_groups', 'people', 'leases', 'credentials', "
      "'door_modes', 'lease_members') ORDER BY name";
  int rc = sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr);
  Stmt s(raw);
  if (rc != SQLITE_OK) return Err(rc, "list indexes");
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    indexes.emplace_back(std::string(s.Text(0)), std::string(s.Text(1)));
  }
  if (rc != SQLITE_DONE) return Err(rc, "list indexes");
  return indexes;
}

Status SqliteStore::StageBegin() {
  if (!staging_) {
    Result<int64_t> cache = PragmaInt("PRAGMA cache_size");
    if (!cache.ok()) return cache.status();
    cache_kib_before_ = *cache;
  }
  LINTEL_RETURN_IF_ERROR(InTransaction([&]() -> Status {
    LINTEL_RETURN_IF_ERROR(DropStageTables());
    // Each stage table as its state table was created (columns, STRICT, WITHOUT ROWID).
    for (const char* t : kStateTables) {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(
          db_, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1", -1, &raw,
          nullptr);
      Stmt s(raw);
      if (rc != SQLITE_OK) return Err(rc, "read the schema");
      s.BindText(1, t);
      rc = sqlite3_step(s.get());
      if (rc != SQLITE_ROW) return Err(rc, std::string("read the schema of ") + t);
      // After a StageCommit the stored statement names the table quoted ("CREATE TABLE
      // \"people\"(..."): everything from the column list on is what is kept.
      std::string create(s.Text(0));
      const size_t columns = create.find('(');
      if (create.rfind("CREATE TABLE ", 0) != 0 || columns == std::string::npos) {
        return Status::Internal(path_ + ": unexpected schema of table " + t + ": " + create);
      }
      create = std::string("CREATE TABLE stage_") + t + create.substr(columns);
      LINTEL_RETURN_IF_ERROR(Exec(create.c_str(), std::string("create stage_") + t));
    }
    return Status::Ok();
  }));
  staging_ = true;
  return SetCache(kStageCacheKiB);
}

Status SqliteStore::StageRecords(const rules::Records& page) {
  if (!staging_) return Status::FailedPrecondition(path_ + ": no snapshot is being staged");
  // Not synced on its own: a crash loses at most stage rows, which Open drops anyway. The commit
  // that swaps them in is durable, and syncs what the WAL holds before it.
  if (durable_) LINTEL_RETURN_IF_ERROR(Exec("PRAGMA synchronous = NORMAL", "set synchronous"));
  std::vector<std::pair<std::string_view, std::string_view>> members;
  Status status = InTransaction([&]() -> Status {
    LINTEL_RETURN_IF_ERROR(WriteAll(kStageInsert, page.schedules));
    LINTEL_RETURN_IF_ERROR(WriteAll(kStageInsert, page.groups));
    LINTEL_RETURN_IF_ERROR(WriteAll(kStageInsert, page.people));
    members.reserve(page.leases.size());
    bulk_members_ = &members;
    Status leases = WriteAll(kStageInsert, page.leases);
    bulk_members_ = nullptr;
    LINTEL_RETURN_IF_ERROR(leases);
    std::sort(members.begin(), members.end());
    Result<Stmt*> insert = Prepare(kStageMemberInsert);
    if (!insert.ok()) return insert.status();
    for (const auto& [person, lease] : members) {
      (*insert)->BindText(1, person);
      (*insert)->BindText(2, lease);
      LINTEL_RETURN_IF_ERROR(Run(**insert, "lease", lease));
    }
    LINTEL_RETURN_IF_ERROR(WriteAll(kStageInsert, page.credentials));
    return WriteAll(kStageInsert, page.door_modes);
  });
  if (durable_) {
    if (Status s = Exec("PRAGMA synchronous = FULL", "set synchronous"); !s.ok()) {
      return status.ok() ? s : status;
    }
  }
  return status;
}

Status SqliteStore::StageLoad(RecordVisitor& visitor) { return LoadAll(visitor, kStageSelect); }

Status SqliteStore::StageCommit(Position pos) {
  if (!staging_) return Status::FailedPrecondition(path_ + ": no snapshot is being staged");
  // The swap: the state's tables dropped (with their indexes), the stage tables renamed to their
  // names, the indexes created again from their stored SQL (each sorted and built bottom-up, as
  // in ReplaceState). Nothing is copied; one transaction, so a failure leaves the old state.
  LINTEL_RETURN_IF_ERROR(SetCache(kSwapCacheKiB));  // CREATE INDEX sorts within it
  // Its scans (CREATE INDEX) read through the page cache, not the memory map: the map's pages
  // would stay resident in this process after the swap.
  if (mmap_) LINTEL_RETURN_IF_ERROR(Exec("PRAGMA mmap_size = 0", "set mmap_size"));
  ForgetStageStatements();
  Status status = InTransaction([&]() -> Status {
    Result<std::vector<std::pair<std::string, std::string>>> indexes = StateIndexes();
    if (!indexes.ok()) return indexes.status();
    for (const char* t : kStateTables) {
      std::string drop = std::string("DROP TABLE ") + t;
      LINTEL_RETURN_IF_ERROR(Exec(drop.c_str(), drop));
      std::string rename = std::string("ALTER TABLE stage_") + t + " RENAME TO " + t;
      LINTEL_RETURN_IF_ERROR(Exec(rename.c_str(), rename));
    }
    for (const auto& [name, create] : *indexes) {
      LINTEL_RETURN_IF_ERROR(Exec(create.c_str(), "create index " + name));
    }
    return SetPosition(pos);
  });
  // The statements of the state's tables name tables that were dropped: prepared again on use.
  for (size_t id = 0; id < kSetPosition; ++id) stmts_[id] = Stmt();
  for (size_t id = kGetPerson; id <= kLeaseMemberInsert; ++id) stmts_[id] = Stmt();
  if (status.ok()) staging_ = false;
  if (Status s = SetCache(status.ok() ? -cache_kib_before_ : kStageCacheKiB); !s.ok()) {
    LogError("store", path_ + ": " + s.message());
  }
  if (status.ok()) sqlite3_db_release_memory(db_);
  if (mmap_) {
    if (Status s = Exec("PRAGMA mmap_size = 4294967296", "set mmap_size"); !s.ok()) {
      LogError("store", path_ + ": " + s.message());
    }
  }
  return status;
}

Status SqliteStore::Checkpoint() {
  LINTEL_RETURN_IF_ERROR(Exec("PRAGMA wal_checkpoint(PASSIVE)", "checkpoint the WAL"));
  struct stat st {};
  if (::stat((path_ + "-wal").c_str(), &st) != 0 || st.st_size <= wal_size_limit_) {
    return Status::Ok();
  }
  // Everything was copied above: TRUNCATE only waits for the write lock and for readers of the
  // WAL, then truncates it to 0 bytes.
  const int busy_before = busy_timeout_ms_;
  busy_timeout_ms_ = kTruncateWaitMs;
  int log_frames = 0, done_frames = 0;
  const int rc = sqlite3_wal_checkpoint_v2(db_, "main", SQLITE_CHECKPOINT_TRUNCATE, &log_frames,
                                           &done_frames);
  busy_timeout_ms_ = busy_before;
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return Status::Ok();  // left to the next commit
  if (rc != SQLITE_OK) return Err(rc, "truncate the WAL");
  // The truncation is synced through SQLite's own handle of the WAL file (no second descriptor,
  // whose close could drop the process's POSIX locks on it).
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK &&
      wal != nullptr && wal->pMethods != nullptr) {
    const int synced = wal->pMethods->xSync(wal, SQLITE_SYNC_FULL);
    if (synced != SQLITE_OK) return Err(synced, "sync the truncated WAL");
  }
  return Status::Ok();
}

Status SqliteStore::StageDrop() {
  Status status = InTransaction([&] { return DropStageTables(); });
  if (staging_ && status.ok()) {
    staging_ = false;
    if (Status s = SetCache(-cache_kib_before_); !s.ok())
      LogError("store", path_ + ": " + s.message());
    sqlite3_db_release_memory(db_);
  }
  return status;
}

Status SqliteStore::ApplyOps(const std::vector<Op>& ops, Position new_pos) {
  return InTransaction([&]() -> Status {
    for (const Op& op : ops) {
      if (op.op == rules::OpKind::kPut) {
        if (op.record.index() != static_cast<size_t>(op.kind) + 1) {
          return Status::InvalidArgument(std::string(TableOf(op.kind).label) + " " + op.id +
                                         ": put without a record of that kind");
        }
        Result<Stmt*> s = Prepare(kPut + static_cast<size_t>(op.kind));
        if (!s.ok()) return s.status();
        LINTEL_RETURN_IF_ERROR(std::visit(
            [&](const auto& r) -> Status {
              if constexpr (std::is_same_v<std::decay_t<decltype(r)>, std::monostate>) {
                return Status::Internal("unreachable");
              } else {
                return WriteRecord(**s, r);
              }
            },
            op.record));
      } else {
        Result<Stmt*> s = Prepare(kDelete + static_cast<size_t>(op.kind));
        if (!s.ok()) return s.status();
        (*s)->BindText(1, op.id);
        LINTEL_RETURN_IF_ERROR(Run(**s, TableOf(op.kind).label, op.id));
        if (op.kind == RecordKind::kLease) {
          Result<Stmt*> clear = Prepare(kLeaseMembersClear);
          if (!clear.ok()) return clear.status();
          (*clear)->BindText(1, op.id);
          LINTEL_RETURN_IF_ERROR(Run(**clear, "lease", op.id));
        }
      }
    }
    return SetPosition(new_pos);
  });
}

Result<Position> SqliteStore::AppliedPosition() {
  Result<Stmt*> s = Prepare(kGetPosition);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  Position pos;
  int rc;
  while ((rc = sqlite3_step((*s)->get())) == SQLITE_ROW) {
    std::string_view key = (*s)->Text(0);
    if (sqlite3_column_type((*s)->get(), 1) != SQLITE_INTEGER) {
      return BadRow("meta", key, "not an integer");
    }
    (key == "epoch" ? pos.epoch : pos.version) = FromSql((*s)->Int(1));
  }
  if (rc != SQLITE_DONE) return Err(rc, "read position");
  return pos;
}

// ---- reading records --------------------------------------------------------------------------

Status SqliteStore::ReadRow(const Stmt& s, rules::Schedule* r) const {
  s.TextInto(0, &r->id);
  if (!internal::DecodeWindows(s.Text(1), &r->windows)) {
    return BadRow("schedules", r->id, "malformed windows \"" + std::string(s.Text(1)) + "\"");
  }
  if (!internal::DecodeExceptions(s.Text(2), &r->exceptions)) {
    return BadRow("schedules", r->id, "malformed exceptions \"" + std::string(s.Text(2)) + "\"");
  }
  return Status::Ok();
}

Status SqliteStore::ReadRow(const Stmt& s, rules::Group* r) const {
  s.TextInto(0, &r->id);
  s.TextInto(1, &r->name);
  internal::SplitIds(s.Text(2), &r->doors);
  s.TextInto(3, &r->schedule);
  return Status::Ok();
}

Status SqliteStore::ReadRow(const Stmt& s, rules::Person* r) const {
  s.TextInto(0, &r->id);
  s.TextInto(1, &r->name);
  int64_t role = s.Int(2), status = s.Int(6);
  if (!EnumInRange(role, rules::Role::kGuest))
    return BadRow("people", r->id, Unknown("role", role));
  if (!EnumInRange(status, rules::PersonStatus::kSuspended)) {
    return BadRow("people", r->id, Unknown("status", status));
  }
  r->role = static_cast<rules::Role>(role);
  if (s.IsNull(3)) {
    r->primary.reset();
  } else {
    if (!r->primary) r->primary.emplace();
    s.TextInto(3, &*r->primary);
  }
  r->inherit = s.Int(4) != 0;
  internal::SplitIds(s.Text(5), &r->groups);
  r->status = static_cast<rules::PersonStatus>(status);
  return Status::Ok();
}

Status SqliteStore::ReadRow(const Stmt& s, rules::Lease* r) const {
  s.TextInto(0, &r->id);
  s.TextInto(1, &r->unit);
  internal::SplitIds(s.Text(2), &r->members);
  internal::SplitIds(s.Text(3), &r->groups);
  r->starts_at = FromUnix(s.Int(4));
  ReadOptInstant(s, 5, &r->ends_at);
  ReadOptInstant(s, 6, &r->paid_through);
  if (s.IsNull(7)) {
    r->grace_days.reset();
  } else {
    int64_t g = s.Int(7);
    if (g < std::numeric_limits<int32_t>::min() || g > std::numeric_limits<int32_t>::max()) {
      return BadRow("leases", r->id, "grace_days " + std::to_string(g) + " out of range");
    }
    r->grace_days = static_cast<int32_t>(g);
  }
  return Status::Ok();
}

Status SqliteStore::ReadRow(const Stmt& s, rules::Credential* r) const {
  s.TextInto(0, &r->id);
  s.TextInto(1, &r->person);
  int64_t type = s.Int(2), status = s.Int(3);
  if (!EnumInRange(type, rules::CredentialType::kBleKey)) {
    return BadRow("credentials", r->id, Unknown("type", type));
  }
  if (!EnumInRange(status, rules::CredentialStatus::kRevoked)) {
    return BadRow("credentials", r->id, Unknown("status", status));
  }
  r->type = static_cast<rules::CredentialType>(type);
  r->status = static_cast<rules::CredentialStatus>(status);
  ReadOptInstant(s, 4, &r->valid_from);
  ReadOptInstant(s, 5, &r->valid_until);
  // Only the columns of the credential's type are read (the others are NULL); the fields of the
  // other types are reset, keeping their capacity for the next row.
  r->card.format = rules::CardFormat::kUid;
  r->card.facility = 0;
  r->card.number = 0;
  r->card.uid.clear();
  r->pin.clear();
  r->ble_key.lock.clear();
  r->ble_key.key.clear();
  r->ble_key.name.clear();
  switch (r->type) {
    case rules::CredentialType::kCard: {
      if (s.IsNull(6)) return BadRow("credentials", r->id, "card without card_format");
      int64_t format = s.Int(6), facility = s.Int(7);
      if (!EnumInRange(format, rules::CardFormat::kC1k48)) {
        return BadRow("credentials", r->id, Unknown("card_format", format));
      }
      if (facility < 0 || facility > std::numeric_limits<uint32_t>::max()) {
        return BadRow("credentials", r->id,
                      "card_facility " + std::to_string(facility) + " out of range");
      }
      r->card.format = static_cast<rules::CardFormat>(format);
      r->card.facility = static_cast<uint32_t>(facility);
      r->card.number = FromSql(s.Int(8));
      s.TextInto(9, &r->card.uid);
      break;
    }
    case rules::CredentialType::kPin:
      s.TextInto(10, &r->pin);
      break;
    case rules::CredentialType::kBleKey:
      s.TextInto(11, &r->ble_key.lock);
      s.TextInto(12, &r->ble_key.key);
      s.TextInto(13, &r->ble_key.name);
      break;
  }
  return Status::Ok();
}

Status SqliteStore::ReadRow(const Stmt& s, rules::DoorMode* r) const {
  s.TextInto(0, &r->door);
  int64_t mode = s.Int(1);
  if (!EnumInRange(mode, rules::DoorModeKind::kUnlocked)) {
    return BadRow("door_modes", r->door, Unknown("mode", mode));
  }
  r->mode = static_cast<rules::DoorModeKind>(mode);
  ReadOptInstant(s, 2, &r->until);
  return Status::Ok();
}

template <typename R, typename F>
Status SqliteStore::LoadKind(RecordKind kind, R* row, F&& deliver, size_t first_select) {
  Result<Stmt*> s = Prepare(first_select + static_cast<size_t>(kind));
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  int rc;
  while ((rc = sqlite3_step((*s)->get())) == SQLITE_ROW) {
    LINTEL_RETURN_IF_ERROR(ReadRow(**s, row));
    deliver(*row);
  }
  if (rc != SQLITE_DONE) return Err(rc, std::string("read ") + TableOf(kind).name);
  return Status::Ok();
}

Status SqliteStore::LoadState(RecordVisitor& v) { return LoadAll(v, kSelect); }

Status SqliteStore::LoadAll(RecordVisitor& v, size_t first) {
  // A read transaction, so every table is read from the same commit.
  LINTEL_RETURN_IF_ERROR(Exec("BEGIN", "begin read"));
  Status status = [&]() -> Status {
    rules::Schedule schedule;
    LINTEL_RETURN_IF_ERROR(LoadKind(
        RecordKind::kSchedule, &schedule, [&](const rules::Schedule& r) { v.OnSchedule(r); },
        first));
    rules::Group group;
    LINTEL_RETURN_IF_ERROR(LoadKind(
        RecordKind::kGroup, &group, [&](const rules::Group& r) { v.OnGroup(r); }, first));
    rules::Person person;
    LINTEL_RETURN_IF_ERROR(LoadKind(
        RecordKind::kPerson, &person, [&](const rules::Person& r) { v.OnPerson(r); }, first));
    rules::Lease lease;
    LINTEL_RETURN_IF_ERROR(LoadKind(
        RecordKind::kLease, &lease, [&](const rules::Lease& r) { v.OnLease(r); }, first));
    rules::Credential credential;
    LINTEL_RETURN_IF_ERROR(LoadKind(
        RecordKind::kCredential, &credential,
        [&](const rules::Credential& r) { v.OnCredential(r); }, first));
    rules::DoorMode mode;
    return LoadKind(
        RecordKind::kDoorMode, &mode, [&](const rules::DoorMode& r) { v.OnDoorMode(r); }, first);
  }();
  // Ending a read transaction cannot lose data; report a failure only when nothing else failed.
  Status end = Exec(status.ok() ? "COMMIT" : "ROLLBACK", "end read");
  return status.ok() ? end : status;
}

template <typename R, typename Bind>
Status SqliteStore::QueryRows(size_t id, Bind&& bind, std::vector<R>* out) {
  Result<Stmt*> s = Prepare(id);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  bind(**s);
  R row;
  int rc;
  while ((rc = sqlite3_step((*s)->get())) == SQLITE_ROW) {
    LINTEL_RETURN_IF_ERROR(ReadRow(**s, &row));
    out->push_back(row);
  }
  if (rc != SQLITE_DONE) return Err(rc, "read state");
  return Status::Ok();
}

// Every call is one indexed query (schema v5); a failed one is kept in status_ and returns nothing.
class SqliteStateReader final : public StoredStateReader {
 public:
  explicit SqliteStateReader(SqliteStore& store) : store_(store) {}
  Status status() const override { return status_; }

  std::optional<rules::Person> GetPerson(std::string_view id) const override {
    return One(Query<rules::Person>(SqliteStore::kGetPerson, id));
  }
  std::optional<rules::Lease> GetLease(std::string_view id) const override {
    return One(Query<rules::Lease>(SqliteStore::kGetLease, id));
  }
  std::optional<rules::Credential> GetCredential(std::string_view id) const override {
    return One(Query<rules::Credential>(SqliteStore::kGetCredential, id));
  }
  std::vector<rules::Person> PeopleWithPrimary(std::string_view person) const override {
    return Query<rules::Person>(SqliteStore::kPeopleByPrimary, person);
  }
  std::vector<rules::Credential> CredentialsOf(std::string_view person) const override {
    return Query<rules::Credential>(SqliteStore::kCredentialsByPerson, person);
  }
  std::vector<rules::Lease> LeasesNaming(std::string_view person) const override {
    return Query<rules::Lease>(SqliteStore::kLeasesByMember, person);
  }
  std::vector<rules::Credential> CredentialsWithKeyOf(const rules::Credential& c) const override {
    std::vector<rules::Credential> out;
    Status st;
    if (c.type == rules::CredentialType::kPin) {
      st = store_.QueryRows(
          SqliteStore::kCredentialsByPin, [&](Stmt& s) { s.BindText(1, c.pin); }, &out);
    } else if (c.type == rules::CredentialType::kCard && c.card.format == rules::CardFormat::kUid) {
      st = store_.QueryRows(
          SqliteStore::kCredentialsByUid, [&](Stmt& s) { s.BindText(1, c.card.uid); }, &out);
    } else if (c.type == rules::CredentialType::kCard) {
      st = store_.QueryRows(
          SqliteStore::kCredentialsByCard,
          [&](Stmt& s) {
            s.BindInt(1, static_cast<int64_t>(c.card.format));
            s.BindInt(2, c.card.facility);
            s.BindInt(3, ToSql(c.card.number));
          },
          &out);
    }
    Keep(st);
    // The same card or PIN by the rules' reading (a UID in another case, say).
    const rules::CredentialKey key = rules::KeyOf(c);
    std::erase_if(out, [&](const rules::Credential& o) { return !(rules::KeyOf(o) == key); });
    return out;
  }
  std::vector<rules::Schedule> Schedules() const override {
    return All<rules::Schedule>(RecordKind::kSchedule);
  }
  std::vector<rules::Group> Groups() const override {
    return All<rules::Group>(RecordKind::kGroup);
  }
  std::vector<rules::DoorMode> DoorModes() const override {
    return All<rules::DoorMode>(RecordKind::kDoorMode);
  }

 private:
  template <typename R>
  std::vector<R> Query(size_t id, std::string_view key) const {
    std::vector<R> out;
    Keep(store_.QueryRows(
        id, [&](Stmt& s) { s.BindText(1, key); }, &out));
    return out;
  }
  template <typename R>
  std::vector<R> All(RecordKind kind) const {
    std::vector<R> out;
    R row;
    Keep(store_.LoadKind(kind, &row, [&](const R& r) { out.push_back(r); }));
    return out;
  }
  template <typename R>
  static std::optional<R> One(std::vector<R> rows) {
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
  }
  void Keep(const Status& st) const {
    if (!st.ok() && status_.ok()) status_ = st;
  }

  SqliteStore& store_;
  mutable Status status_;
};

std::unique_ptr<StoredStateReader> SqliteStore::ReadState() {
  return std::make_unique<SqliteStateReader>(*this);
}

Result<rules::Records> SqliteStore::LoadRecords() {
  rules::Records records;
  CopyVisitor v(&records);
  LINTEL_RETURN_IF_ERROR(LoadState(v));
  return records;
}

// ---- last-known-good time ---------------------------------------------------------------------

Result<std::optional<Instant>> SqliteStore::LastKnownGood() {
  Result<Stmt*> s = Prepare(kGetClock);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  int rc = sqlite3_step((*s)->get());
  if (rc == SQLITE_DONE) return std::optional<Instant>();
  if (rc != SQLITE_ROW) return Err(rc, "read last-known-good time");
  return std::optional<Instant>(FromUnix((*s)->Int(0)));
}

Status SqliteStore::AdvanceLastKnownGood(Instant t) {
  Result<Stmt*> s = Prepare(kAdvanceClock);
  if (!s.ok()) return s.status();
  (*s)->BindInstant(1, t);
  return Run(**s, "advance last-known-good time", "");
}

Status SqliteStore::ResetLastKnownGood(Instant t) {
  Result<Stmt*> s = Prepare(kResetClock);
  if (!s.ok()) return s.status();
  (*s)->BindInstant(1, t);
  return Run(**s, "reset last-known-good time", "");
}

// ---- meta and commands --------------------------------------------------------------------------

Result<std::optional<std::string>> SqliteStore::GetMeta(std::string_view key) {
  Result<Stmt*> s = Prepare(kGetMeta);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  (*s)->BindText(1, key);
  int rc = sqlite3_step((*s)->get());
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return Err(rc, "read meta " + std::string(key));
  return std::optional<std::string>(std::string((*s)->Text(0)));
}

Status SqliteStore::SetMeta(std::string_view key, std::string_view value) {
  if (key == "epoch" || key == "version" || key == "state_serial") {
    return Status::InvalidArgument("meta key " + std::string(key) + " is the applied position's");
  }
  Result<Stmt*> s = Prepare(kSetMeta);
  if (!s.ok()) return s.status();
  (*s)->BindText(1, key);
  (*s)->BindText(2, value);
  return Run(**s, "write meta", key);
}

Result<std::optional<std::string>> SqliteStore::FindCommand(std::string_view id) {
  Result<Stmt*> s = Prepare(kFindCommand);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  (*s)->BindText(1, id);
  int rc = sqlite3_step((*s)->get());
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return Err(rc, "read command " + std::string(id));
  return std::optional<std::string>(std::string((*s)->Text(0)));
}

Status SqliteStore::RecordCommand(std::string_view id, Instant at, std::string_view response) {
  Result<Stmt*> s = Prepare(kRecordCommand);
  if (!s.ok()) return s.status();
  (*s)->BindText(1, id);
  (*s)->BindInstant(2, at);
  (*s)->BindText(3, response);
  Status st = Run(**s, "record command", id);
  if (!st.ok() && sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return Status::AlreadyExists("command " + std::string(id) + " was already executed");
  }
  return st;
}

Status SqliteStore::PruneCommands(Instant before) {
  Result<Stmt*> s = Prepare(kPruneCommands);
  if (!s.ok()) return s.status();
  (*s)->BindInstant(1, before);
  return Run(**s, "prune commands", "");
}

// ---- event journal ----------------------------------------------------------------------------

Result<uint64_t> SqliteStore::Append(std::span<JournalEvent> events) {
  if (events.empty()) return LastSeq();
  Result<Stmt*> s = Prepare(kAppendEvent);
  if (!s.ok()) return s.status();
  uint64_t last = 0;
  Status status = InTransaction([&]() -> Status {
    for (JournalEvent& e : events) {
      (*s)->BindInstant(1, e.ts);
      (*s)->BindText(2, e.type);
      (*s)->BindText(3, e.body);
      LINTEL_RETURN_IF_ERROR(Run(**s, "append event", e.type));
      last = FromSql(sqlite3_last_insert_rowid(db_));
      e.seq = last;
    }
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return last;
}

Result<std::vector<JournalEvent>> SqliteStore::ReadEvents(Stmt& s) {
  ResetOnExit reset(s);
  std::vector<JournalEvent> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    JournalEvent& e = out.emplace_back();
    e.seq = FromSql(s.Int(0));
    e.ts = FromUnix(s.Int(1));
    s.TextInto(2, &e.type);
    s.TextInto(3, &e.body);
  }
  if (rc != SQLITE_DONE) return Err(rc, "read events");
  return out;
}

Result<std::vector<JournalEvent>> SqliteStore::ReadFrom(uint64_t from_seq, size_t limit) {
  Result<Stmt*> s = Prepare(kReadEvents);
  if (!s.ok()) return s.status();
  (*s)->BindInt(1, ClampToSql(from_seq));
  (*s)->BindInt(2, ClampToSql(limit));
  return ReadEvents(**s);
}

Result<std::vector<JournalEvent>> SqliteStore::Tail(size_t n) {
  Result<Stmt*> s = Prepare(kTailEvents);
  if (!s.ok()) return s.status();
  (*s)->BindInt(1, ClampToSql(n));
  Result<std::vector<JournalEvent>> events = ReadEvents(**s);
  if (events.ok()) std::reverse(events->begin(), events->end());
  return events;
}

Status SqliteStore::DeleteUpTo(uint64_t seq) {
  Result<Stmt*> s = Prepare(kDeleteEvents);
  if (!s.ok()) return s.status();
  (*s)->BindInt(1, ClampToSql(seq));
  return Run(**s, "delete events", "");
}

Result<uint64_t> SqliteStore::Count() {
  Result<Stmt*> s = Prepare(kEventRange);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  int rc = sqlite3_step((*s)->get());
  if (rc != SQLITE_ROW) return Err(rc, "count events");
  if ((*s)->IsNull(0)) return uint64_t{0};
  return FromSql((*s)->Int(1)) - FromSql((*s)->Int(0)) + 1;
}

Result<uint64_t> SqliteStore::LastSeq() {
  Result<Stmt*> s = Prepare(kLastSeq);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  int rc = sqlite3_step((*s)->get());
  if (rc == SQLITE_DONE) return uint64_t{0};
  if (rc != SQLITE_ROW) return Err(rc, "read last seq");
  return FromSql((*s)->Int(0));
}

// ---- BLE locks ----------------------------------------------------------------------------------

Status NoLock() { return Status::InvalidArgument("a lock id must not be empty"); }
bool FitsU32(int64_t v) { return v >= 0 && v <= std::numeric_limits<uint32_t>::max(); }

Status SqliteStore::ReadRow(const Stmt& s, LockOutboxOp* o) const {
  o->id = FromSql(s.Int(0));
  std::string id = std::to_string(o->id);
  int64_t op = s.Int(1), kind = s.Int(6), code = s.Int(8), weekdays = s.Int(12);
  int64_t from_min = s.Int(13), until_min = s.Int(14), attempts = s.Int(15);
  if (!EnumInRange(op, rules::LockOp::Kind::kAdd)) {
    return BadRow("lock_outbox", id, Unknown("op", op));
  }
  if (!EnumInRange(kind, rules::LockEntry::Kind::kAuthorization)) {
    return BadRow("lock_outbox", id, Unknown("kind", kind));
  }
  if (!FitsU32(code) || weekdays < 0 || weekdays > 0x7f || from_min < 0 || from_min > 1439 ||
      until_min < 0 || until_min > 1439 || !FitsU32(attempts) ||
      (!s.IsNull(3) && !FitsU32(s.Int(3)))) {
    return BadRow("lock_outbox", id, "a value out of range");
  }
  o->op.kind = static_cast<rules::LockOp::Kind>(op);
  o->op.restricts = s.Int(2) != 0;
  if (s.IsNull(3)) {
    o->lock_entry_id.reset();
  } else {
    o->lock_entry_id = static_cast<uint32_t>(s.Int(3));
  }
  rules::LockEntry& e = o->op.entry;
  s.TextInto(4, &e.credential);
  s.TextInto(5, &e.person);
  e.kind = static_cast<rules::LockEntry::Kind>(kind);
  s.TextInto(7, &e.name);
  e.code = static_cast<uint32_t>(code);
  s.TextInto(9, &e.key);
  ReadOptInstant(s, 10, &e.from);
  ReadOptInstant(s, 11, &e.until);
  e.weekdays = static_cast<uint8_t>(weekdays);
  e.from_min = static_cast<uint16_t>(from_min);
  e.until_min = static_cast<uint16_t>(until_min);
  o->attempts = static_cast<uint32_t>(attempts);
  o->next_at = FromUnix(s.Int(16));
  s.TextInto(17, &o->last_error);
  return Status::Ok();
}

Result<std::vector<LockOutboxOp>> SqliteStore::ReadLockOutbox(std::string_view lock) {
  Result<Stmt*> s = Prepare(kLockOutboxSelect);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  (*s)->BindText(1, lock);
  std::vector<LockOutboxOp> out;
  int rc;
  while ((rc = sqlite3_step((*s)->get())) == SQLITE_ROW) {
    LINTEL_RETURN_IF_ERROR(ReadRow(**s, &out.emplace_back()));
  }
  if (rc != SQLITE_DONE) return Err(rc, "read outbox of lock " + std::string(lock));
  return out;
}

Result<std::vector<LockOutboxOp>> SqliteStore::LockOutbox(std::string_view lock) {
  if (lock.empty()) return NoLock();
  return ReadLockOutbox(lock);
}

Result<std::vector<LockOutboxOp>> SqliteStore::ReplaceLockOutbox(std::string_view lock,
                                                                 std::vector<LockOutboxOp> ops) {
  if (lock.empty()) return NoLock();
  std::string what = "outbox of lock " + std::string(lock);
  Status status = InTransaction([&]() -> Status {
    Result<std::vector<LockOutboxOp>> pending = ReadLockOutbox(lock);
    if (!pending.ok()) return pending.status();
    LINTEL_RETURN_IF_ERROR(RunLockStmt(kLockOutboxClear, lock, what));
    Result<Stmt*> s = Prepare(kLockOutboxInsert);
    if (!s.ok()) return s.status();
    std::vector<bool> claimed(pending->size());
    for (LockOutboxOp& o : ops) {
      // The same op already pending keeps its retry state (its backoff is not reset).
      for (size_t i = 0; i < pending->size(); ++i) {
        const LockOutboxOp& p = (*pending)[i];
        if (!claimed[i] && p.op == o.op && p.lock_entry_id == o.lock_entry_id) {
          claimed[i] = true;
          o.attempts = p.attempts;
          o.next_at = p.next_at;
          o.last_error = p.last_error;
          break;
        }
      }
      const rules::LockEntry& e = o.op.entry;
      Stmt& st = **s;
      st.BindText(1, lock);
      st.BindInt(2, static_cast<int64_t>(o.op.kind));
      st.BindInt(3, o.op.restricts ? 1 : 0);
      if (o.lock_entry_id) {
        st.BindInt(4, *o.lock_entry_id);
      } else {
        st.BindNull(4);
      }
      st.BindText(5, e.credential);
      st.BindText(6, e.person);
      st.BindInt(7, static_cast<int64_t>(e.kind));
      st.BindText(8, e.name);
      st.BindInt(9, e.code);
      st.BindText(10, e.key);
      st.BindOptInstant(11, e.from);
      st.BindOptInstant(12, e.until);
      st.BindInt(13, e.weekdays & 0x7f);
      st.BindInt(14, std::min<int64_t>(e.from_min, 1439));
      st.BindInt(15, std::min<int64_t>(e.until_min, 1439));
      st.BindInt(16, o.attempts);
      st.BindInstant(17, o.next_at);
      st.BindText(18, o.last_error);
      LINTEL_RETURN_IF_ERROR(Run(st, "lock outbox op of credential", e.credential));
      o.id = FromSql(sqlite3_last_insert_rowid(db_));
    }
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return ops;
}

Status SqliteStore::RunLockStmt(size_t id, std::string_view lock, std::string_view what) {
  Result<Stmt*> s = Prepare(id);
  if (!s.ok()) return s.status();
  (*s)->BindText(1, lock);
  return Run(**s, "clear", what);
}

Status SqliteStore::PutLockEntry(std::string_view lock, const LockEntryRecord& entry) {
  Result<Stmt*> s = Prepare(kLockEntryPut);
  if (!s.ok()) return s.status();
  (*s)->BindText(1, lock);
  (*s)->BindText(2, entry.credential);
  (*s)->BindInt(3, static_cast<int64_t>(entry.kind));
  (*s)->BindInt(4, entry.lock_entry_id);
  (*s)->BindInt(5, ToSql(entry.fingerprint));
  (*s)->BindInstant(6, entry.written_at);
  return Run(**s, "lock entry of credential", entry.credential);
}

Status SqliteStore::MarkLockOpDone(std::string_view lock, const LockOutboxOp& op,
                                   std::optional<uint32_t> lock_entry_id, Instant at) {
  if (lock.empty()) return NoLock();
  const rules::LockEntry& e = op.op.entry;
  bool remove = op.op.kind == rules::LockOp::Kind::kRemove;
  std::optional<uint32_t> entry_id = lock_entry_id ? lock_entry_id : op.lock_entry_id;
  if (!remove && !entry_id) {
    return Status::InvalidArgument("lock " + std::string(lock) + ": " +
                                   std::string(rules::LockOpKindName(op.op.kind)) +
                                   " of credential " + e.credential + " without a lock entry id");
  }
  return InTransaction([&]() -> Status {
    Result<Stmt*> s = Prepare(kLockOutboxDeleteOne);
    if (!s.ok()) return s.status();
    (*s)->BindText(1, lock);
    (*s)->BindInt(2, ClampToSql(op.id));
    LINTEL_RETURN_IF_ERROR(Run(**s, "lock outbox op", std::to_string(op.id)));
    if (!remove) {
      return PutLockEntry(lock, {e.credential, e.kind, *entry_id, rules::Fingerprint(e), at});
    }
    Result<Stmt*> d = Prepare(kLockEntryDelete);
    if (!d.ok()) return d.status();
    (*d)->BindText(1, lock);
    (*d)->BindText(2, e.credential);
    return Run(**d, "lock entry of credential", e.credential);
  });
}

Status SqliteStore::MarkLockOpFailed(std::string_view lock, uint64_t op_id, uint32_t attempts,
                                     Instant next_at, std::string_view error) {
  if (lock.empty()) return NoLock();
  Result<Stmt*> s = Prepare(kLockOutboxFail);
  if (!s.ok()) return s.status();
  (*s)->BindText(1, lock);
  (*s)->BindInt(2, ClampToSql(op_id));
  (*s)->BindInt(3, attempts);
  (*s)->BindInstant(4, next_at);
  (*s)->BindText(5, error);
  LINTEL_RETURN_IF_ERROR(Run(**s, "lock outbox op", std::to_string(op_id)));
  if (sqlite3_changes(db_) == 0) {
    return Status::NotFound("lock " + std::string(lock) + ": no pending op " +
                            std::to_string(op_id));
  }
  return Status::Ok();
}

Result<std::vector<LockEntryRecord>> SqliteStore::LockEntryMap(std::string_view lock) {
  if (lock.empty()) return NoLock();
  Result<Stmt*> s = Prepare(kLockEntrySelect);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  (*s)->BindText(1, lock);
  std::vector<LockEntryRecord> out;
  int rc;
  while ((rc = sqlite3_step((*s)->get())) == SQLITE_ROW) {
    LockEntryRecord& r = out.emplace_back();
    (*s)->TextInto(0, &r.credential);
    int64_t kind = (*s)->Int(1), id = (*s)->Int(2);
    if (!EnumInRange(kind, rules::LockEntry::Kind::kAuthorization)) {
      return BadRow("lock_entries", r.credential, Unknown("kind", kind));
    }
    if (!FitsU32(id)) {
      return BadRow("lock_entries", r.credential,
                    "lock_entry_id " + std::to_string(id) + " out of range");
    }
    r.kind = static_cast<rules::LockEntry::Kind>(kind);
    r.lock_entry_id = static_cast<uint32_t>(id);
    r.fingerprint = FromSql((*s)->Int(3));
    r.written_at = FromUnix((*s)->Int(4));
  }
  if (rc != SQLITE_DONE) return Err(rc, "read entry map of lock " + std::string(lock));
  return out;
}

Status SqliteStore::SetLockEntry(std::string_view lock, const LockEntryRecord& entry) {
  if (lock.empty()) return NoLock();
  return PutLockEntry(lock, entry);
}

Status SqliteStore::RemoveLockEntry(std::string_view lock, std::string_view credential) {
  if (lock.empty()) return NoLock();
  Result<Stmt*> s = Prepare(kLockEntryDelete);
  if (!s.ok()) return s.status();
  (*s)->BindText(1, lock);
  (*s)->BindText(2, credential);
  return Run(**s, "lock entry of credential", credential);
}

Status SqliteStore::UpdateLockEntries(std::string_view lock, const std::vector<std::string>& remove,
                                      const std::vector<LockEntryRecord>& set) {
  if (lock.empty()) return NoLock();
  if (remove.empty() && set.empty()) return Status::Ok();
  return InTransaction([&]() -> Status {
    for (const std::string& credential : remove) {
      Result<Stmt*> d = Prepare(kLockEntryDelete);
      if (!d.ok()) return d.status();
      (*d)->BindText(1, lock);
      (*d)->BindText(2, credential);
      LINTEL_RETURN_IF_ERROR(Run(**d, "lock entry of credential", credential));
    }
    for (const LockEntryRecord& entry : set) LINTEL_RETURN_IF_ERROR(PutLockEntry(lock, entry));
    return Status::Ok();
  });
}

Status SqliteStore::RecordLockSync(std::string_view lock, Instant at, const Status& outcome) {
  if (lock.empty()) return NoLock();
  Result<Stmt*> s = Prepare(outcome.ok() ? kLockSyncOk : kLockSyncFail);
  if (!s.ok()) return s.status();
  (*s)->BindText(1, lock);
  (*s)->BindInstant(2, at);
  if (!outcome.ok()) (*s)->BindText(3, outcome.message());
  return Run(**s, "sync status of lock", lock);
}

Result<std::optional<LockSyncState>> SqliteStore::LockSyncStatus(std::string_view lock) {
  if (lock.empty()) return NoLock();
  Result<Stmt*> s = Prepare(kLockSyncGet);
  if (!s.ok()) return s.status();
  ResetOnExit reset(**s);
  (*s)->BindText(1, lock);
  int rc = sqlite3_step((*s)->get());
  if (rc == SQLITE_DONE) return std::optional<LockSyncState>();
  if (rc != SQLITE_ROW) return Err(rc, "read sync status of lock " + std::string(lock));
  LockSyncState st;
  ReadOptInstant(**s, 0, &st.last_success);
  ReadOptInstant(**s, 1, &st.last_attempt);
  int64_t failures = (*s)->Int(2);
  if (!FitsU32(failures)) {
    return BadRow("lock_sync", lock,
                  "consecutive_failures " + std::to_string(failures) + " out of range");
  }
  st.consecutive_failures = static_cast<uint32_t>(failures);
  (*s)->TextInto(3, &st.last_error);
  return std::optional<LockSyncState>(std::move(st));
}

Status SqliteStore::ForgetLock(std::string_view lock) {
  if (lock.empty()) return NoLock();
  std::string what = "lock " + std::string(lock);
  return InTransaction([&]() -> Status {
    LINTEL_RETURN_IF_ERROR(RunLockStmt(kLockOutboxClear, lock, what));
    LINTEL_RETURN_IF_ERROR(RunLockStmt(kLockEntryClear, lock, what));
    return RunLockStmt(kLockSyncClear, lock, what);
  });
}

}  // namespace

namespace {

// `path` as an SQLite URI ("file:" plus the path with '%', '?' and '#' escaped) with `query`.
std::string FileUri(const std::string& path, const char* query) {
  std::string uri = "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      static constexpr char kHex[] = "0123456789ABCDEF";
      uri += '%';
      uri += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      uri += kHex[static_cast<unsigned char>(c) & 0xf];
    } else {
      uri += c;
    }
  }
  return uri + "?" + query;
}

Result<std::unique_ptr<SqliteStore>> OpenConnection(const std::string& path,
                                                    const std::string& name, int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status(CodeFromSqlite(rc) == StatusCode::kCorruption ? StatusCode::kCorruption
                                                                : StatusCode::kIoError,
                  path + ": cannot open: " + detail);
  }
  return std::make_unique<SqliteStore>(path, db);  // owns db from here
}

Result<std::unique_ptr<Store>> OpenReadOnly(const std::string& path, const StoreOptions& options,
                                            const Status& why) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return why;
  bool wal_content = ::stat((path + "-wal").c_str(), &st) == 0 && st.st_size > 0;
  Status last = why;
  for (const char* query : {"mode=ro", "immutable=1"}) {
    // immutable ignores the -wal: only when it holds nothing.
    if (std::string_view(query) == "immutable=1" && wal_content) break;
    Result<std::unique_ptr<SqliteStore>> store =
        OpenConnection(path, FileUri(path, query), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
    if (!store.ok()) {
      last = store.status();
      continue;
    }
    (*store)->set_read_only();
    Status init = (*store)->Init(options);
    if (init.ok()) {
      LogWarning("store", path + ": opened read-only (" + query +
                              "), every write will fail: " + why.ToString());
      return std::unique_ptr<Store>(std::move(*store));
    }
    last = init;
  }
  if (last.code() == StatusCode::kCorruption) return last;
  return why;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const StoreOptions& options) {
  Status prepared = PrepareFile(path);
  if (!prepared.ok()) {
    if (options.read_only_fallback && prepared.code() == StatusCode::kIoError) {
      return OpenReadOnly(path, options, prepared);
    }
    return prepared;
  }
  // No SQLITE_OPEN_CREATE: PrepareFile made the file with the right mode.
  Result<std::unique_ptr<SqliteStore>> store = OpenConnection(path, path, SQLITE_OPEN_READWRITE);
  Status status = store.ok() ? (*store)->Init(options) : store.status();
  if (status.ok()) return std::unique_ptr<Store>(std::move(*store));
  if (options.read_only_fallback && status.code() == StatusCode::kIoError) {
    if (store.ok()) store->reset();  // closes the failed connection before reopening
    return OpenReadOnly(path, options, status);
  }
  return status;
}

StoreOpener DefaultStoreOpener() {
  return [](const std::string& path, const StoreOptions& options) {
    return Store::Open(path, options);
  };
}

}  // namespace lintel::store
