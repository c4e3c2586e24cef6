// Store: the gateway's durable truth (DESIGN.md decision 3). One SQLite file in WAL mode holds the
// cloud records, the applied position (epoch, version), the event journal that the cloud outbox
// drains, the last-known-good wall time, and per BLE lock its entry map, outbox and sync status.
//
// Ownership and threads: a Store owns its database connection. It is used by one thread at a time
// (the core thread); it may be handed to another thread between calls, never shared during one.
// It does no locking of its own and starts no threads.
//
// Atomicity: every mutating call is one SQLite transaction. It either commits wholly or, on any
// error, changes nothing (the state and the position stay as they were). With
// StoreOptions::durable_commits (the default) a call that returned OK survives power loss.
//
// Errors common to every call (not repeated below):
//   Corruption   the file is damaged ("<path>: database damaged: <sqlite message>"), or a row holds
//                a value no build wrote ("<path>: people row p-7: role 9 is not a known value").
//   IoError      the OS refused a read or write, or the disk is full.
//   Unavailable  another connection holds the database lock past the busy timeout
//                (StoreOptions::busy_timeout_ms).
//   Internal     SQLite failed in a way not listed here (out of memory, misuse).
//
// Stored form of the records, for other readers of the file (lintelctl, support): see README.md.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/base/position.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"
#include "rules/lock_entry.h"
#include "rules/model.h"
#include "rules/ops.h"
#include "rules/validate_delta.h"

namespace lintel::store {

// The cloud position a state corresponds to (gateway/base/position.h).
using Position = lintel::Position;

// Delta ops are the rules' own (rules/ops.h): a put replaces the whole record with the record's id
// (a door mode's id is its door); a delete removes the record of `kind` with `id`, and is not an
// error when there is none (the sync layer has already checked the delta against the engine).
using Op = rules::Op;
using RecordKind = rules::RecordKind;

// Receives the stored records, one row at a time, from Store::LoadState. The reference passed to
// each call is valid only during that call: the store reuses one object per kind (its strings and
// vectors keep their capacity), so a visitor that keeps a row must copy it. Calls come in this
// order: every schedule, then groups, people, leases, credentials, door modes; within a kind in
// ascending id order (byte order). A visitor overrides what it needs; the defaults ignore the row.
// A visitor must not call back into the Store.
class RecordVisitor {
 public:
  virtual ~RecordVisitor() = default;
  virtual void OnSchedule(const rules::Schedule&) {}
  virtual void OnGroup(const rules::Group&) {}
  virtual void OnPerson(const rules::Person&) {}
  virtual void OnLease(const rules::Lease&) {}
  virtual void OnCredential(const rules::Credential&) {}
  virtual void OnDoorMode(const rules::DoorMode&) {}
};

// One journal entry (the outbox of shared/contract/cloud-mqtt.md "Events").
struct JournalEvent {
  uint64_t seq = 0;  // assigned by Store::Append; never reused, also across DeleteUpTo and restarts
  Instant ts{};      // the event's wall time (the engine's clamped clock)
  std::string type;  // "access.granted", ...: kept apart so the journal can be inspected and pruned
  // The event's JSON object as the caller built it, without "seq" (which is only known after
  // Append): the publisher adds "seq" from the row.
  std::string body;
  friend bool operator==(const JournalEvent&, const JournalEvent&) = default;
};

// ---- BLE locks (issue 11) ----------------------------------------------------------------------

// One row of a lock's entry map: what the gateway believes the lock holds for a credential.
struct LockEntryRecord {
  std::string credential;
  rules::LockEntry::Kind kind = rules::LockEntry::Kind::kKeypadCode;
  // The lock's own id of the entry: a keypad code id (u16) or an authorization id (u32).
  uint32_t lock_entry_id = 0;
  uint64_t fingerprint = 0;  // rules::Fingerprint of what was written (never logged)
  Instant written_at{};
  friend bool operator==(const LockEntryRecord&, const LockEntryRecord&) = default;
};

// A pending change to a lock: one row of its outbox.
struct LockOutboxOp {
  // Assigned by ReplaceLockOutbox: ascending in the order to carry the ops out, never reused (also
  // across restarts), so a late MarkLockOp* for a replaced op cannot hit a newer one.
  uint64_t id = 0;
  rules::LockOp op;  // remove / update / add, restricts, and the entry (rules/lock_entry.h)
  // The lock's own id of the entry an update or removal changes, when known.
  std::optional<uint32_t> lock_entry_id;
  uint32_t attempts = 0;   // failed attempts so far
  Instant next_at{};       // not to be tried before this
  std::string last_error;  // the last failure; empty when none. Never holds a code or key.
  friend bool operator==(const LockOutboxOp&, const LockOutboxOp&) = default;
};

// A lock's sync status (`lintelctl lock status`).
struct LockSyncState {
  // The last sync whose re-read confirmed that the lock holds exactly the desired entries.
  std::optional<Instant> last_success;
  std::optional<Instant> last_attempt;  // the last sync, successful or not
  uint32_t consecutive_failures = 0;    // syncs failed since the last success
  std::string last_error;               // of the last failed sync; empty after a success
  friend bool operator==(const LockSyncState&, const LockSyncState&) = default;
};

// How long Checkpoint() waits for other connections before it truncates a grown WAL (it then
// leaves the WAL to SQLite's own truncation at the next commit).
inline constexpr int kTruncateWaitMs = 200;

struct StoreOptions {
  // true: synchronous=FULL, a commit that returned is on disk (~110 us per small commit).
  // false: synchronous=NORMAL, still consistent after power loss but the last commits may be lost;
  // for benchmarks and tests only.
  bool durable_commits = true;
  // Run PRAGMA quick_check on open, so a damaged file is refused at start rather than discovered by
  // the first query that touches the damaged page. Reads the whole file once (see README.md for the
  // measured cost: ~1.4 s at 2,000,000 credentials). The daemon turns it off: its start-up reads
  // every state row anyway (a damaged state page fails LoadState with Corruption), and a damaged
  // journal page is reported as Corruption by the first journal call that touches it.
  bool verify_on_open = true;
  // How long a call waits for another connection's write transaction before failing with
  // Unavailable. The core thread uses a short wait (a sync worker may hold the write lock while it
  // replaces a large state; the journal keeps its events queued and retries), tools the default.
  int busy_timeout_ms = 5000;
  // After a commit of this connection that leaves the WAL holding more than this many pages, the
  // commit itself copies the WAL into the database (PRAGMA wal_autocheckpoint; SQLite's default
  // 1000; 0: never). At 2,000,000 credentials such a checkpoint costs ~100 ms, and one running on
  // any connection slows the others' commits as much (the fsyncs queue behind it): the daemon's
  // state worker uses 0 and checkpoints itself when idle (Checkpoint()), the core and the journal
  // writer a 64 MiB backstop (issue 13, point 1).
  int checkpoint_pages = 1000;
  // The WAL file's size after a checkpoint (PRAGMA journal_size_limit), and the size past which
  // Checkpoint() truncates it itself (to 0).
  int64_t wal_size_limit = int64_t{64} << 20;
  // When the file exists but cannot be opened for writing (a read-only or full file system: SQLite
  // cannot create or grow the -shm it needs), open it read-only instead of failing: every read
  // works, every write fails with IoError, and read_only() is true. SQLite reads a WAL database
  // without a writable -shm only as "immutable", which ignores the -wal file; that is done only
  // when the -wal is absent or empty (nothing committed is then missed), otherwise Open fails with
  // the read-write error. A read-only open does not migrate: a file at an older schema version is
  // refused (IoError). The daemon turns this on, so a building whose disk filled up still starts.
  bool read_only_fallback = false;
  // Drop the stage tables of a snapshot a crash left half-written (Store::StageBegin). Only for
  // the process's first connection at start-up: a connection opened while the state worker
  // stages a snapshot would drop its pages. Not done by a read-only open.
  bool drop_stale_stage = false;
  // Read the file through a memory map (the default: a scan of millions of rows costs no read()
  // copy per page). The mapped pages a scan touched count in the process's resident size; a
  // connection that scans once (the index of a snapshot being swapped in) reads without.
  bool mmap = true;
};

// A rules::StateReader over the store (Store::ReadState). The reader's calls cannot fail, so a
// read error is kept: status() is the first one (OK when every read succeeded; a failed read
// returned no records).
class StoredStateReader : public rules::StateReader {
 public:
  virtual Status status() const = 0;
};

class Store {
 public:
  // The schema version this build creates and migrates to (PRAGMA user_version).
  static constexpr int kSchemaVersion = 5;

  // Opens the store at `path`, creating it when absent, and migrates it to kSchemaVersion (each
  // migration in its own transaction; a failed one leaves the file at the previous version).
  // The file is created with mode 0600 (it holds PIN digits and keys); an existing file readable or
  // writable by group or others is tightened to owner-only. The journal files SQLite creates next
  // to it (-wal, -shm) take the same mode. Errors:
  //   IoError     the file cannot be created or opened, is not a regular file, or cannot be
  //   chmod-ed
  //               ("<path>: cannot open: Permission denied").
  //   Corruption  the file is not SQLite, is damaged or truncated, or is another program's
  //   database:
  //               "<path>: not a Lintel database or damaged: <detail>". The file is left untouched.
  //   Corruption  the file's schema is newer than this build: "<path>: schema version N is newer
  //               than this build supports (M); refusing to open — upgrade lintel or restore a
  //               backup". The file is left untouched.
  //   Unavailable another process holds the database locked past the busy timeout.
  static Result<std::unique_ptr<Store>> Open(const std::string& path,
                                             const StoreOptions& options = {});

  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The file's schema version when Open found it: 0 for a new file, kSchemaVersion when no
  // migration was needed.
  virtual int opened_at_schema_version() const = 0;

  // True when Open fell back to a read-only connection (StoreOptions::read_only_fallback): every
  // write fails with IoError. Reopen the store to write again.
  virtual bool read_only() const { return false; }

  // ---- records ------------------------------------------------------------------------------

  // Deletes every record and stores `records` and `pos`, in one transaction. Records are stored as
  // given; validating them is the caller's job (rules/), except what the storage itself needs. A
  // credential keeps only the fields of its type (card, pin or ble_key); the others read back as
  // their defaults. Cost: about that of a bare SQLite bulk insert of the same rows (README.md);
  // rows not already in id order are sorted first (by pointer), which keeps inserts sequential.
  // Errors:
  //   InvalidArgument  two records of one kind share an id ("credential c-1: UNIQUE constraint
  //                    failed: credentials.id"), or an id inside a list (person.groups,
  //                    lease.members, lease.groups, group.doors) is empty or contains the byte
  //                    0x1f.
  //   On any error nothing changed: the old records and position are in force.
  virtual Status ReplaceState(const rules::Records& records, Position pos) = 0;

  // ---- a snapshot written as its pages arrive (issue 13, point 5) ----------------------------
  //
  // The pages go into stage tables (stage_<table>: the record tables' and lease_members' columns
  // and primary keys, no secondary index) that no reader of the state ever sees; StageCommit then
  // swaps them in for the state in one transaction. Stage tables a crash left behind are dropped
  // by the daemon's first Open (StoreOptions::drop_stale_stage) and by the next StageBegin. One
  // stage at a time per file: StageBegin on another connection replaces this one's.

  // Drops any stage tables and creates them empty (each their own small transaction).
  virtual Status StageBegin() = 0;
  // Writes `page`'s records into the stage tables, in one transaction that is not synced on its
  // own (the stage means nothing until StageCommit, whose commit is durable). Errors:
  // InvalidArgument as for ReplaceState, also for an id staged by an earlier page;
  // FailedPrecondition when no stage is open (StageBegin). On error the page is not staged.
  virtual Status StageRecords(const rules::Records& page) = 0;
  // Streams the staged records to `visitor`, as LoadState streams the state (also on another
  // connection than the stager's: what it committed).
  virtual Status StageLoad(RecordVisitor& visitor) = 0;
  // In one durable transaction: the staged records become the state (the secondary indexes built
  // once, after the rows, as ReplaceState does), `pos` is stored and the stage tables are gone.
  // On error nothing changed: the old state and position are in force and the stage is left
  // (StageDrop it).
  virtual Status StageCommit(Position pos) = 0;
  // Drops the stage tables (none: OK).
  virtual Status StageDrop() = 0;

  // Applies `ops` in order and stores `new_pos`, in one transaction (a later op may undo an earlier
  // one, as in the delta). Errors: InvalidArgument as for ReplaceState (list ids); nothing changed.
  virtual Status ApplyOps(const std::vector<Op>& ops, Position new_pos) = 0;

  // Copies what the WAL holds into the database, without waiting for readers or writers (PRAGMA
  // wal_checkpoint(PASSIVE)); the WAL is reused from its start afterwards. A WAL file grown past
  // StoreOptions::wal_size_limit (a snapshot's swap writes the whole state's indexes through it:
  // ~600 MiB at 2,000,000 credentials) is then truncated here and the truncation synced, waiting
  // at most kTruncateWaitMs for other connections: the file system frees its blocks (on a mount
  // with `discard`, trims them) in this call rather than under the next commit's fsync, which
  // waited 50-110 ms for it. When others hold it longer, SQLite truncates it to the limit at the
  // next commit as before. Errors: the store's.
  virtual Status Checkpoint() = 0;

  // The position stored by the last ReplaceState or ApplyOps; {0, 0} for a new store.
  virtual Result<Position> AppliedPosition() = 0;

  // Streams every stored record to `visitor` (see RecordVisitor for order and lifetime), from one
  // consistent read. Stops at the first error; the visitor may then have seen part of the records.
  virtual Status LoadState(RecordVisitor& visitor) = 0;

  // LoadState into a rules::Records (copies every row; for tests, tools and small sites).
  virtual Result<rules::Records> LoadRecords() = 0;

  // The stored state read by id and by reference, for rules::ValidateDelta, without loading it:
  // each call is one indexed query (schema v5). The reader borrows this store and must not
  // outlive it; not thread-safe.
  virtual std::unique_ptr<StoredStateReader> ReadState() = 0;

  // ---- last-known-good wall time --------------------------------------------------------------

  // The latest wall time ever passed to AdvanceLastKnownGood; nullopt when never set. The engine's
  // clock never goes below it, so a clock that jumps back cannot revive an expired lease or
  // credential.
  virtual Result<std::optional<Instant>> LastKnownGood() = 0;

  // Sets the last-known-good time to max(stored, t): it only ever moves forward, an older `t` is
  // ignored (OK). Commits durably; callers advance it periodically (e.g. once a minute), not per
  // decision.
  virtual Status AdvanceLastKnownGood(Instant t) = 0;

  // Sets the last-known-good time to exactly `t`, also below the stored one. Only for a floor that
  // a trusted time (a synchronized clock, a signed cloud time) shows to be far in the future
  // (rules/time_guard.h); everything else advances. Commits durably.
  virtual Status ResetLastKnownGood(Instant t) = 0;

  // ---- small named values (sync bookkeeping) ---------------------------------------------------

  // The text stored under `key`, nullopt when none. Keys "epoch" and "version" are the position's
  // (use AppliedPosition). Used for the cloud head's expiry ("head_expires_at").
  virtual Result<std::optional<std::string>> GetMeta(std::string_view key) = 0;
  // Stores `value` under `key` (durably). InvalidArgument for "epoch" and "version".
  virtual Status SetMeta(std::string_view key, std::string_view value) = 0;

  // ---- cloud commands executed (once-only by id) ------------------------------------------------

  // The response recorded for command `id`, nullopt when it was never executed.
  virtual Result<std::optional<std::string>> FindCommand(std::string_view id) = 0;
  // Records that command `id` was executed at `at` with `response` (durably). AlreadyExists when
  // the id is already recorded (nothing changed).
  virtual Status RecordCommand(std::string_view id, Instant at, std::string_view response) = 0;
  // Forgets commands executed before `before` (a command expires long before that).
  virtual Status PruneCommands(Instant before) = 0;

  // ---- event journal (the cloud outbox) ---------------------------------------------------------

  // Appends `events` in order, in one transaction, and sets each one's seq (its input value is
  // ignored). Seqs are consecutive, above every seq ever assigned in this file. Returns the last
  // seq assigned; for an empty batch, LastSeq() without writing.
  virtual Result<uint64_t> Append(std::span<JournalEvent> events) = 0;

  // Up to `limit` events with seq >= from_seq, ascending.
  virtual Result<std::vector<JournalEvent>> ReadFrom(uint64_t from_seq, size_t limit) = 0;

  // The last `n` events (fewer when the journal holds fewer), ascending.
  virtual Result<std::vector<JournalEvent>> Tail(size_t n) = 0;

  // Removes every event with seq <= `seq` (the cloud acknowledged them). Seqs are not reused.
  virtual Status DeleteUpTo(uint64_t seq) = 0;

  // The number of events held. O(log n): the journal always holds a consecutive run of seqs, since
  // Append assigns consecutive seqs and DeleteUpTo removes a prefix.
  virtual Result<uint64_t> Count() = 0;

  // The highest seq ever assigned in this file (also when since deleted); 0 when none.
  virtual Result<uint64_t> LastSeq() = 0;

  // ---- BLE locks: entry map, outbox, sync status (issue 11) -------------------------------------
  //
  // A lock is named by its id as configured (`lock`, not empty: InvalidArgument otherwise). The
  // rows of different locks are independent. Codes and keys are stored like the credentials' (the
  // file is 0600); they never appear in a Status message.

  // Replaces every pending op of `lock` by `ops`, in one transaction that is committed (durably,
  // with durable_commits) before it returns: the gateway carries out an op only after that, so a
  // pending change survives kill -9 and power loss. Ids are assigned in the order given (each
  // op's input id is ignored). An op equal to one already pending (same op, entry and
  // lock_entry_id) keeps that one's attempts, next_at and last_error, so recomputing the diff
  // does not reset its backoff; the others keep what the caller set. Empty `ops` clears the
  // outbox. Returns the stored ops, as LockOutbox would.
  virtual Result<std::vector<LockOutboxOp>> ReplaceLockOutbox(std::string_view lock,
                                                              std::vector<LockOutboxOp> ops) = 0;

  // The pending ops of `lock`, ascending by id (the order to carry them out); empty when none.
  virtual Result<std::vector<LockOutboxOp>> LockOutbox(std::string_view lock) = 0;

  // `op` (as LockOutbox returned it) was carried out on the lock. In one transaction: the op is
  // deleted (no error when a later ReplaceLockOutbox already dropped it: the lock changed anyway)
  // and its effect is recorded in the entry map: a removal deletes the credential's row; an add
  // or update stores {credential, kind, lock entry id, rules::Fingerprint(entry), at}, the lock
  // entry id being `lock_entry_id` (the id the lock gave an add) or else the op's.
  // Errors: InvalidArgument for an add or update with no lock entry id at all.
  virtual Status MarkLockOpDone(std::string_view lock, const LockOutboxOp& op,
                                std::optional<uint32_t> lock_entry_id, Instant at) = 0;

  // Op `op_id` of `lock` failed: stores its attempts, next attempt time and error.
  // Errors: NotFound when no such op is pending (it was replaced or done); nothing changed.
  virtual Status MarkLockOpFailed(std::string_view lock, uint64_t op_id, uint32_t attempts,
                                  Instant next_at, std::string_view error) = 0;

  // The entry map of `lock`, ascending by credential id; empty when none.
  virtual Result<std::vector<LockEntryRecord>> LockEntryMap(std::string_view lock) = 0;
  // Stores `entry` as the row of its credential (replacing one there); for rebuilding the map from
  // a re-read of the lock.
  virtual Status SetLockEntry(std::string_view lock, const LockEntryRecord& entry) = 0;
  // Deletes the row of `credential`; not an error when there is none.
  virtual Status RemoveLockEntry(std::string_view lock, std::string_view credential) = 0;
  // Deletes the rows of `remove` and stores `set` (as SetLockEntry), all in one transaction: a
  // re-read of 100 codes costs one durable commit, not 100 (they run on the core loop). Nothing
  // changes when it fails.
  virtual Status UpdateLockEntries(std::string_view lock, const std::vector<std::string>& remove,
                                   const std::vector<LockEntryRecord>& set) = 0;

  // Records a sync of `lock` at `at`: OK `outcome` sets last_success and last_attempt, clears
  // consecutive_failures and last_error; an error counts a failure and keeps its message.
  virtual Status RecordLockSync(std::string_view lock, Instant at, const Status& outcome) = 0;
  // The sync status of `lock`; nullopt when no sync was ever recorded.
  virtual Result<std::optional<LockSyncState>> LockSyncStatus(std::string_view lock) = 0;

  // Deletes the entry map, the outbox and the sync status of `lock`, in one transaction (a lock
  // reset, re-paired or removed from the configuration: its entry ids mean nothing any more).
  virtual Status ForgetLock(std::string_view lock) = 0;

 protected:
  Store() = default;
};

// How the layers above open a store connection: Store::Open, or in tests a wrapper that returns a
// fault-injecting store (fault_store.h). Called from the thread that will use the connection.
using StoreOpener =
    std::function<Result<std::unique_ptr<Store>>(const std::string& path, const StoreOptions&)>;

// Store::Open as a StoreOpener.
StoreOpener DefaultStoreOpener();

}  // namespace lintel::store
