// FaultStore: a Store that fails on demand, for tests of the layers above (STYLE.md rule 11, after
// leveldb's ErrorEnv). It wraps a real store and forwards every call, except that while a fault is
// set the calls it covers fail with the Status the SQLite store returns for that error, and change
// nothing. Faults live in a FaultPlan shared by every FaultStore opened through the plan's
// Opener(): the core's connection and the state worker's fail together, as on a real disk.
//
// Threads: a FaultStore is used like the store it wraps (one thread at a time). FaultPlan's
// members may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "gateway/store/store.h"

namespace lintel::store {

enum class Fault : uint8_t {
  kNone,
  kDiskFull,  // IoError "<path>: <what>: database or disk is full" (SQLITE_FULL)
  kIoError,   // IoError "<path>: <what>: disk I/O error" (SQLITE_IOERR)
  kBusy,      // Unavailable "<path>: <what>: database is locked" (SQLITE_BUSY)
  kReadOnly,  // IoError "<path>: <what>: attempt to write a readonly database" (SQLITE_READONLY)
};

class FaultPlan {
 public:
  // Writes: ReplaceState, ApplyOps, StageBegin, StageRecords, StageCommit, StageDrop,
  // AdvanceLastKnownGood, ResetLastKnownGood, SetMeta, RecordCommand, PruneCommands, Append,
  // DeleteUpTo, ReplaceLockOutbox, MarkLockOpDone, MarkLockOpFailed, SetLockEntry, RemoveLockEntry,
  // UpdateLockEntries, RecordLockSync, ForgetLock. kNone: they work again.
  void FailWrites(Fault fault) { writes_.store(fault); }
  // Reads: every other call except opened_at_schema_version and read_only.
  void FailReads(Fault fault) { reads_.store(fault); }
  Fault writes() const { return writes_.load(); }
  Fault reads() const { return reads_.load(); }
  // Calls refused so far.
  uint64_t failed_writes() const { return failed_writes_.load(); }
  uint64_t failed_reads() const { return failed_reads_.load(); }

  // Opens the real store (Store::Open) and wraps it in a FaultStore of this plan. The plan must
  // outlive the stores: it is shared.
  static StoreOpener Opener(std::shared_ptr<FaultPlan> plan);

 private:
  friend class FaultStore;
  std::atomic<Fault> writes_{Fault::kNone};
  std::atomic<Fault> reads_{Fault::kNone};
  std::atomic<uint64_t> failed_writes_{0};
  std::atomic<uint64_t> failed_reads_{0};
};

// The Status a store call `what` on `path` returns for `fault` (kNone: OK).
Status FaultStatus(Fault fault, const std::string& path, std::string_view what);

class FaultStore final : public Store {
 public:
  FaultStore(std::unique_ptr<Store> inner, std::shared_ptr<FaultPlan> plan, std::string path);

  int opened_at_schema_version() const override { return inner_->opened_at_schema_version(); }
  bool read_only() const override { return inner_->read_only(); }
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
  std::unique_ptr<StoredStateReader> ReadState() override { return inner_->ReadState(); }
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
  Status Write(std::string_view what);
  Status Read(std::string_view what);

  std::unique_ptr<Store> inner_;
  std::shared_ptr<FaultPlan> plan_;
  std::string path_;
};

}  // namespace lintel::store
