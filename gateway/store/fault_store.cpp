#include "gateway/store/fault_store.h"

namespace lintel::store {

Status FaultStatus(Fault fault, const std::string& path, std::string_view what) {
  std::string where = path + ": " + std::string(what) + ": ";
  switch (fault) {
    case Fault::kNone:
      return Status::Ok();
    case Fault::kDiskFull:
      return Status::IoError(where + "database or disk is full");
    case Fault::kIoError:
      return Status::IoError(where + "disk I/O error");
    case Fault::kBusy:
      return Status::Unavailable(where + "database is locked");
    case Fault::kReadOnly:
      return Status::IoError(where + "attempt to write a readonly database");
  }
  return Status::Internal(where + "unknown fault");
}

StoreOpener FaultPlan::Opener(std::shared_ptr<FaultPlan> plan) {
  return [plan](const std::string& path,
                const StoreOptions& options) -> Result<std::unique_ptr<Store>> {
    Result<std::unique_ptr<Store>> inner = Store::Open(path, options);
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<Store>(std::make_unique<FaultStore>(std::move(*inner), plan, path));
  };
}

FaultStore::FaultStore(std::unique_ptr<Store> inner, std::shared_ptr<FaultPlan> plan,
                       std::string path)
    : inner_(std::move(inner)), plan_(std::move(plan)), path_(std::move(path)) {}

Status FaultStore::Write(std::string_view what) {
  Status s = FaultStatus(plan_->writes(), path_, what);
  if (!s.ok()) ++plan_->failed_writes_;
  return s;
}

Status FaultStore::Read(std::string_view what) {
  Status s = FaultStatus(plan_->reads(), path_, what);
  if (!s.ok()) ++plan_->failed_reads_;
  return s;
}

Status FaultStore::ReplaceState(const rules::Records& records, Position pos) {
  LINTEL_RETURN_IF_ERROR(Write("replace state"));
  return inner_->ReplaceState(records, pos);
}
Status FaultStore::ApplyOps(const std::vector<Op>& ops, Position new_pos) {
  LINTEL_RETURN_IF_ERROR(Write("apply ops"));
  return inner_->ApplyOps(ops, new_pos);
}
Status FaultStore::StageBegin() {
  LINTEL_RETURN_IF_ERROR(Write("begin the stage"));
  return inner_->StageBegin();
}
Status FaultStore::StageRecords(const rules::Records& page) {
  LINTEL_RETURN_IF_ERROR(Write("stage records"));
  return inner_->StageRecords(page);
}
Status FaultStore::StageLoad(RecordVisitor& visitor) {
  LINTEL_RETURN_IF_ERROR(Read("load the stage"));
  return inner_->StageLoad(visitor);
}
Status FaultStore::StageCommit(Position pos) {
  LINTEL_RETURN_IF_ERROR(Write("commit the stage"));
  return inner_->StageCommit(pos);
}
Status FaultStore::StageDrop() {
  LINTEL_RETURN_IF_ERROR(Write("drop the stage"));
  return inner_->StageDrop();
}
Result<Position> FaultStore::AppliedPosition() {
  LINTEL_RETURN_IF_ERROR(Read("read position"));
  return inner_->AppliedPosition();
}
Status FaultStore::LoadState(RecordVisitor& visitor) {
  LINTEL_RETURN_IF_ERROR(Read("load state"));
  return inner_->LoadState(visitor);
}
Result<rules::Records> FaultStore::LoadRecords() {
  LINTEL_RETURN_IF_ERROR(Read("load state"));
  return inner_->LoadRecords();
}
Status FaultStore::Checkpoint() {
  LINTEL_RETURN_IF_ERROR(Write("checkpoint the WAL"));
  return inner_->Checkpoint();
}

Result<std::optional<Instant>> FaultStore::LastKnownGood() {
  LINTEL_RETURN_IF_ERROR(Read("read last-known-good time"));
  return inner_->LastKnownGood();
}
Status FaultStore::AdvanceLastKnownGood(Instant t) {
  LINTEL_RETURN_IF_ERROR(Write("advance last-known-good time"));
  return inner_->AdvanceLastKnownGood(t);
}
Status FaultStore::ResetLastKnownGood(Instant t) {
  LINTEL_RETURN_IF_ERROR(Write("reset last-known-good time"));
  return inner_->ResetLastKnownGood(t);
}
Result<std::optional<std::string>> FaultStore::GetMeta(std::string_view key) {
  LINTEL_RETURN_IF_ERROR(Read("get meta"));
  return inner_->GetMeta(key);
}
Status FaultStore::SetMeta(std::string_view key, std::string_view value) {
  LINTEL_RETURN_IF_ERROR(Write("set meta"));
  return inner_->SetMeta(key, value);
}
Result<std::optional<std::string>> FaultStore::FindCommand(std::string_view id) {
  LINTEL_RETURN_IF_ERROR(Read("find command"));
  return inner_->FindCommand(id);
}
Status FaultStore::RecordCommand(std::string_view id, Instant at, std::string_view response) {
  LINTEL_RETURN_IF_ERROR(Write("record command"));
  return inner_->RecordCommand(id, at, response);
}
Status FaultStore::PruneCommands(Instant before) {
  LINTEL_RETURN_IF_ERROR(Write("prune commands"));
  return inner_->PruneCommands(before);
}
Result<uint64_t> FaultStore::Append(std::span<JournalEvent> events) {
  LINTEL_RETURN_IF_ERROR(Write("append events"));
  return inner_->Append(events);
}
Result<std::vector<JournalEvent>> FaultStore::ReadFrom(uint64_t from_seq, size_t limit) {
  LINTEL_RETURN_IF_ERROR(Read("read events"));
  return inner_->ReadFrom(from_seq, limit);
}
Result<std::vector<JournalEvent>> FaultStore::Tail(size_t n) {
  LINTEL_RETURN_IF_ERROR(Read("read events"));
  return inner_->Tail(n);
}
Status FaultStore::DeleteUpTo(uint64_t seq) {
  LINTEL_RETURN_IF_ERROR(Write("delete events"));
  return inner_->DeleteUpTo(seq);
}
Result<uint64_t> FaultStore::Count() {
  LINTEL_RETURN_IF_ERROR(Read("count events"));
  return inner_->Count();
}
Result<uint64_t> FaultStore::LastSeq() {
  LINTEL_RETURN_IF_ERROR(Read("read last seq"));
  return inner_->LastSeq();
}

Result<std::vector<LockOutboxOp>> FaultStore::ReplaceLockOutbox(std::string_view lock,
                                                                std::vector<LockOutboxOp> ops) {
  LINTEL_RETURN_IF_ERROR(Write("replace lock outbox"));
  return inner_->ReplaceLockOutbox(lock, std::move(ops));
}
Result<std::vector<LockOutboxOp>> FaultStore::LockOutbox(std::string_view lock) {
  LINTEL_RETURN_IF_ERROR(Read("read lock outbox"));
  return inner_->LockOutbox(lock);
}
Status FaultStore::MarkLockOpDone(std::string_view lock, const LockOutboxOp& op,
                                  std::optional<uint32_t> lock_entry_id, Instant at) {
  LINTEL_RETURN_IF_ERROR(Write("mark lock op done"));
  return inner_->MarkLockOpDone(lock, op, lock_entry_id, at);
}
Status FaultStore::MarkLockOpFailed(std::string_view lock, uint64_t op_id, uint32_t attempts,
                                    Instant next_at, std::string_view error) {
  LINTEL_RETURN_IF_ERROR(Write("mark lock op failed"));
  return inner_->MarkLockOpFailed(lock, op_id, attempts, next_at, error);
}
Result<std::vector<LockEntryRecord>> FaultStore::LockEntryMap(std::string_view lock) {
  LINTEL_RETURN_IF_ERROR(Read("read lock entry map"));
  return inner_->LockEntryMap(lock);
}
Status FaultStore::SetLockEntry(std::string_view lock, const LockEntryRecord& entry) {
  LINTEL_RETURN_IF_ERROR(Write("set lock entry"));
  return inner_->SetLockEntry(lock, entry);
}
Status FaultStore::RemoveLockEntry(std::string_view lock, std::string_view credential) {
  LINTEL_RETURN_IF_ERROR(Write("remove lock entry"));
  return inner_->RemoveLockEntry(lock, credential);
}
Status FaultStore::UpdateLockEntries(std::string_view lock, const std::vector<std::string>& remove,
                                     const std::vector<LockEntryRecord>& set) {
  LINTEL_RETURN_IF_ERROR(Write("update lock entries"));
  return inner_->UpdateLockEntries(lock, remove, set);
}
Status FaultStore::RecordLockSync(std::string_view lock, Instant at, const Status& outcome) {
  LINTEL_RETURN_IF_ERROR(Write("record lock sync"));
  return inner_->RecordLockSync(lock, at, outcome);
}
Result<std::optional<LockSyncState>> FaultStore::LockSyncStatus(std::string_view lock) {
  LINTEL_RETURN_IF_ERROR(Read("read lock sync status"));
  return inner_->LockSyncStatus(lock);
}
Status FaultStore::ForgetLock(std::string_view lock) {
  LINTEL_RETURN_IF_ERROR(Write("forget lock"));
  return inner_->ForgetLock(lock);
}

}  // namespace lintel::store
