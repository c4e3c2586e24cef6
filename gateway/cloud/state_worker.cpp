#include "gateway/cloud/state_worker.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>

#include "gateway/base/log.h"
#include "gateway/base/thread_priority.h"
#include "gateway/cloud/sync_rules.h"
#include "gateway/store/index_image_file.h"
#include "gateway/store/load_index.h"
#include "gateway/store/store.h"
#include "rules/ops.h"
#include "rules/validate.h"
#include "rules/validate_delta.h"

namespace lintel::cloud {
namespace {

using Clock = std::chrono::steady_clock;

// While a snapshot is staged, the WAL is checkpointed after each this many records (~40 MiB).
constexpr size_t kStageCheckpointRecords = 250000;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

size_t RecordCount(const rules::Records& r) {
  return r.schedules.size() + r.groups.size() + r.people.size() + r.leases.size() +
         r.credentials.size() + r.door_modes.size();
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) {
    if (!out.empty()) out += "\n";
    out += l;
  }
  return out;
}

// A staged snapshot's second thread (issue 13, point 5): validates each page while the worker
// writes the next one, so the pages are freed as they go. Bounded: Push waits while kDigestQueue
// pages are queued. After the last page, Validated() waits for the validation.
class PageDigest {
 public:
  static constexpr size_t kDigestQueue = 2;
  struct Page {
    rules::Records records;
    std::shared_ptr<const void> hold;
  };
  struct Validation {
    bool ordered = false;  // false: validate from the stage instead (kinds out of order, or threw)
    bool needs_replay = false;
    std::vector<std::string> errors;
    std::string fault;  // the thread caught this (a bug): the stage path is used
  };

  // `site` must outlive this (the validator keeps views into it): a SiteJob drops the digest
  // before it replaces the worker's site.
  explicit PageDigest(const rules::Site& site) : validator_(site, 20, {.ids_unique = true}) {
    thread_ = std::thread([this] { Run(); });
  }
  ~PageDigest() {
    Cancel();
    if (thread_.joinable()) thread_.join();
  }

  void Push(std::shared_ptr<Page> page) {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return queue_.size() < kDigestQueue || cancelled_; });
    if (cancelled_) return;
    queue_.push_back(std::move(page));
    work_.notify_all();
  }
  // No more pages: the validation's result (waits for it).
  Validation Validated() {
    std::unique_lock lock(mu_);
    ended_ = true;
    work_.notify_all();
    room_.wait(lock, [&] { return validated_; });
    return validation_;
  }
  // The validator itself (for a replay of the credentials): only after Validated().
  rules::StateValidator& validator() { return validator_; }
  void Cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    queue_.clear();
    work_.notify_all();
    room_.notify_all();
  }

 private:
  void Run() {
    NameThisThread("stage-digest");
    bool ok = true;
    while (true) {
      std::shared_ptr<Page> page;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [&] { return cancelled_ || ended_ || !queue_.empty(); });
        if (cancelled_) break;
        if (queue_.empty()) break;  // ended
        page = std::move(queue_.front());
        queue_.pop_front();
        room_.notify_all();
      }
      if (!ok) continue;
      try {
        validator_.AddAll(page->records);
      } catch (const std::exception& e) {
        ok = false;
        validation_.fault = e.what();
      } catch (...) {
        ok = false;
        validation_.fault = "unknown exception";
      }
    }
    std::unique_lock lock(mu_);
    if (!cancelled_ && ok) {
      validation_.ordered = validator_.ordered();
      validation_.needs_replay = validation_.ordered && validator_.NeedsReplay();
      if (validation_.ordered && !validation_.needs_replay)
        validation_.errors = validator_.Finish();
    }
    validated_ = true;
    room_.notify_all();
  }

  rules::StateValidator validator_;
  std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable room_;
  std::deque<std::shared_ptr<Page>> queue_;
  bool ended_ = false;
  bool validated_ = false;
  bool cancelled_ = false;
  Validation validation_;
  std::thread thread_;
};

// Feeds a StateValidator from the store (the stage's rows, in kind order).
class ValidatorVisitor final : public store::RecordVisitor {
 public:
  explicit ValidatorVisitor(rules::StateValidator& v, bool replay = false)
      : v_(v), replay_(replay) {}
  void OnSchedule(const rules::Schedule& x) override {
    if (!replay_) v_.Add(x);
  }
  void OnGroup(const rules::Group& x) override {
    if (!replay_) v_.Add(x);
  }
  void OnPerson(const rules::Person& x) override {
    if (!replay_) v_.Add(x);
  }
  void OnLease(const rules::Lease& x) override {
    if (!replay_) v_.Add(x);
  }
  void OnCredential(const rules::Credential& x) override {
    if (replay_) {
      v_.Replay(x);
    } else {
      v_.Add(x);
    }
  }
  void OnDoorMode(const rules::DoorMode& x) override {
    if (!replay_) v_.Add(x);
  }

 private:
  rules::StateValidator& v_;
  bool replay_;
};

// A snapshot being staged page by page. At namespace scope, not nested in Session: clang does
// not see a nested struct with default member initializers as default-constructible while the
// enclosing class is incomplete, so std::optional<Stage>::emplace() would not compile.
struct Stage {
  std::string snapshot_id;
  Position to;
  uint64_t pages = 0;
  uint64_t next = 1;  // the page that follows
  size_t records = 0;
  size_t checkpointed = 0;  // records staged at the last WAL checkpoint
  Status error;        // the first failure (a page write, a page out of order): the snapshot's end
  bool fault = false;  // a page's job threw (a bug): reported with the snapshot's outcome
  std::unique_ptr<PageDigest> digest;
};

// Everything the worker thread owns.
class Session {
 public:
  Session(std::string path, rules::Site site, std::shared_ptr<const rules::Index> index,
          store::StoreOpener open, StateWorker::FaultHook fault)
      : path_(std::move(path)),
        site_(std::move(site)),
        index_(std::move(index)),
        open_(open ? std::move(open) : store::DefaultStoreOpener()),
        fault_(std::move(fault)) {}

  Status Open() {
    if (store_) return Status::Ok();
    // Its commits never checkpoint the WAL: a delta's commit is one WAL append and fsync. The WAL
    // is checkpointed here when the worker is idle (IdleUpkeep), never under a delta.
    Result<std::unique_ptr<store::Store>> s =
        open_(path_, {.verify_on_open = false, .checkpoint_pages = 0});
    if (!s.ok()) return s.status();
    store_ = std::move(*s);
    return Status::Ok();
  }

  // Runs one job; an exception is the job's failure (kFailed), never the thread's end.
  StateOutcome Do(StateJob& job) {
    StateOutcome out;
    out.job = static_cast<JobKind>(job.index());
    if (const auto* d = std::get_if<DeltaJob>(&job)) out.position = d->to;
    if (const auto* sj = std::get_if<SnapshotJob>(&job)) out.position = sj->to;
    auto started = Clock::now();
    try {
      Status open = Open();
      if (open.ok() && fault_) open = fault_("job");
      if (!open.ok()) {
        out.result = StateOutcome::Result::kFailed;
        out.error = open.ToString();
        if (auto* page = std::get_if<SnapshotPageJob>(&job)) PageFailed(*page, open);
        return out;
      }
      // An index built with a snapshot describes the store only until the next job changes it
      // (a page of the next snapshot changes nothing).
      if (!std::holds_alternative<SnapshotPageJob>(job)) prebuilt_.reset();
      std::visit([&](auto& j) { Handle(j, out); }, job);
    } catch (const std::exception& e) {
      LogError("sync",
               "state worker: " + std::string(JobKindName(out.job)) + " job threw: " + e.what());
      Fail(out, Status::Internal(std::string("internal error: ") + e.what()));
      out.fault = true;
    } catch (...) {
      LogError("sync", "state worker: " + std::string(JobKindName(out.job)) + " job threw");
      Fail(out, Status::Internal("internal error: unknown exception"));
      out.fault = true;
    }
    if (out.fault) {
      if (auto* page = std::get_if<SnapshotPageJob>(&job)) {
        PageFailed(*page, Status::Internal(out.error));
        if (stage_) stage_->fault = true;
      }
      if (std::holds_alternative<SnapshotJob>(job)) DropStage();
    }
    out.apply_ms = MsSince(started);
    out.in_memory_deltas = memory_.size();
    if (!memory_.empty()) out.in_memory_upto = memory_.back().to;
    return out;
  }

  // Between bursts, after kIdleCheckpointAfter without a job: what this worker committed since its
  // last checkpoint (or a WAL file beyond kCheckpointWalBytes: others' commits) is copied into the
  // database (Store::Checkpoint), so the checkpoint's I/O never runs under a delta's commit (at
  // 2,000,000 credentials one took ~100 ms and delayed every commit with it).
  // True when a checkpoint ran and completed.
  bool IdleUpkeep() {
    if (!store_) return false;
    // The WAL file keeps its size after a checkpoint: only growth since the last one counts.
    struct stat st {};
    const uint64_t wal = ::stat((path_ + "-wal").c_str(), &st) == 0 ? st.st_size : 0;
    const bool big = wal > wal_at_checkpoint_ + kCheckpointWalBytes;
    if (!uncheckpointed_ && !big) return false;
    uncheckpointed_ = false;
    wal_at_checkpoint_ = wal;
    try {
      Status done = store_->Checkpoint();
      if (done.ok()) return true;
      LogWarning("sync", "state worker: WAL checkpoint: " + done.ToString());
    } catch (const std::exception& e) {
      LogError("sync", std::string("state worker: WAL checkpoint threw: ") + e.what());
    }
    return false;
  }

  // True when a job changed the state and the index must be rebuilt.
  bool changed() const { return changed_; }

  // Builds the index of the current state (after a burst that changed it). Errors: the records
  // cannot be loaded, the fault hook says so, or the build threw; changed() stays true, so the
  // next burst (an IndexJob) builds it again.
  Result<std::shared_ptr<const rules::Index>> BuildIndex(double* ms) {
    try {
      return BuildIndexOrThrow(ms);
    } catch (const std::exception& e) {
      records_.reset();
      baseline_.reset();
      return Status::Internal(std::string("index build threw: ") + e.what());
    } catch (...) {
      records_.reset();
      baseline_.reset();
      return Status::Internal("index build threw");
    }
  }

  // The stamp of the store's state the last index built or patched is of (out.index), when
  // certain: an index image of it may be written (gateway/store/index_image_file.h).
  std::optional<rules::ImageStamp> stamp() const { return stamp_; }

  void Handle(AdoptIndexJob& j, StateOutcome&) {
    if (index_ == j.from) index_ = std::move(j.to);
  }

  void Handle(IndexJob&, StateOutcome& out) {
    Rebuild();  // the rebuild is what this job is for
    Result<Position> at = store_->AppliedPosition();
    if (!at.ok()) return Fail(out, at.status());
    out.position = *at;
  }

 private:
  Result<std::shared_ptr<const rules::Index>> BuildIndexOrThrow(double* ms) {
    auto started = Clock::now();
    if (fault_) LINTEL_RETURN_IF_ERROR(fault_("index"));
    if (edited_ && memory_.empty()) {
      // The burst's deltas edited into the index (EditIndex): nothing to build.
      index_ = std::move(edited_);
      stamp_ = edited_stamp_;
      *ms = edit_ms_;
      edit_ms_ = 0;
      changed_ = false;
      return index_;
    }
    edited_.reset();
    std::vector<std::string> warnings;
    std::shared_ptr<const rules::Index> index;
    stamp_.reset();
    if (memory_.empty() && prebuilt_ && !records_) {  // a staged snapshot's, built as it came
      for (const std::string& w : prebuilt_->warnings) LogWarning("sync", "state: " + w);
      index_ = std::move(prebuilt_->index);
      stamp_ = prebuilt_->stamp;
      prebuilt_.reset();
      *ms = MsSince(started);
      changed_ = false;
      return index_;
    }
    if (memory_.empty() && !records_) {
      // Streamed from the store into the builder: no copy of the whole state (issue 13), with
      // the stamp of the state it is of (when nothing committed meanwhile).
      Result<store::StartIndex> built = store::BuildIndexStamped(*store_, site_, &warnings);
      if (!built.ok()) return built.status();
      for (const std::string& w : warnings) LogWarning("sync", "state: " + w);
      *ms = MsSince(started);
      index_ = built->index;
      stamp_ = built->stamp;
      changed_ = false;
      return index_;
    }
    LINTEL_RETURN_IF_ERROR(Load());
    if (memory_.empty() && prebuilt_) {  // a snapshot's, built while it was written
      index = std::move(prebuilt_->index);
      warnings = std::move(prebuilt_->warnings);
      stamp_ = prebuilt_->stamp;
      prebuilt_.reset();
    } else if (memory_.empty()) {
      index = rules::BuildIndex(site_, *records_, &warnings);
    } else {
      index = rules::BuildIndex(site_, InForce(), &warnings);  // what the store could not write
    }
    for (const std::string& w : warnings) LogWarning("sync", "state: " + w);
    *ms = MsSince(started);
    index_ = index;
    changed_ = false;
    if (RecordCount(*records_) > kCacheRecordsUpTo) {
      records_.reset();
      baseline_.reset();
    }
    return index;
  }

  Status Load() {
    if (records_ && !deferred_.empty()) {
      rules::ApplyOpsTo(*records_, deferred_);
      deferred_.clear();
    }
    if (records_) return Status::Ok();
    deferred_.clear();
    Result<rules::Records> r = store_->LoadRecords();
    if (!r.ok()) return r.status();
    records_ = std::move(*r);
    return Status::Ok();
  }
  // The problems the stored state already has (tolerated when it was stored under another YAML):
  // a delta is only blamed for problems it brings.
  std::set<std::string>& Baseline() {
    if (!baseline_) {
      std::vector<std::string> errors = rules::Validate(site_, *records_, SIZE_MAX);
      baseline_.emplace(errors.begin(), errors.end());
    }
    return *baseline_;
  }

  void Handle(DeltaJob& j, StateOutcome& out) {
    out.position = j.to;
    out.changes = j.ops.size();
    Result<Position> at = store_->AppliedPosition();
    if (!at.ok()) return Fail(out, at.status());
    if (*at != j.from && HeldInMemory(j.to)) {
      out.result = StateOutcome::Result::kFailed;
      out.error = "not written: the store is at " + PositionText(*at) +
                  ", behind a delta in force in memory only";
      out.in_memory = true;
      return;
    }
    if (*at != j.from) {
      const std::string skipped =
          "the store is at " + PositionText(*at) + ", the delta follows " + PositionText(j.from);
      if (!memory_.empty() && memory_.back().to == j.from && *at < j.from) {
        // It follows a delta kept in memory: the store cannot take it before that one.
        out.result = StateOutcome::Result::kFailed;
        out.error = "not written: " + skipped + ", which is in force in memory only";
        KeepInMemory(j, /*validated=*/false, out);  // kFailed when it grants: it must wait
        return;
      }
      out.result = StateOutcome::Result::kSkipped;
      out.error = skipped;
      return;
    }
    if (memory_.empty() && FastPath(j, out)) return;
    ApplyOps(j.ops, j.to, out, &j);
  }

  // Revocations and suspensions (puts of existing cards and PINs changing only status or an
  // earlier end): no revalidation of the whole state and no rebuild, the current index is copied
  // and patched (rules::PatchCredentials). Only when no rebuild is pending (`changed_`), so the
  // patched index is the latest state. Returns false to take the general path.
  bool FastPath(const DeltaJob& j, StateOutcome& out) {
    const std::vector<rules::Op>& ops = j.ops;
    if (changed_ || !index_ || ops.empty()) return false;
    std::vector<rules::Credential> updates;
    for (const rules::Op& op : ops) {
      const auto* c = std::get_if<rules::Credential>(&op.record);
      if (op.op != rules::OpKind::kPut || c == nullptr) return false;
      updates.push_back(*c);
    }
    auto started = Clock::now();
    std::shared_ptr<const rules::Index> patched = rules::PatchCredentials(*index_, updates);
    if (!patched) return false;
    double patch_ms = MsSince(started);
    const std::optional<rules::ImageStamp> before = ReadStamp();
    uncheckpointed_ = true;
    if (!Committed(TimedApply(ops, j.to, out), out)) {
      // The store cannot write it: still in force if it only restricts (PatchCredentials already
      // refuses a later end and an unrevoke; a suspended card may not become active either).
      if (out.result == StateOutcome::Result::kFailed) {
        bool restricts = true;
        for (const rules::Credential& c : updates) {
          const rules::CredentialRec& r = index_->credentials()[index_->FindCredentialById(c.id)];
          if (r.status != rules::CredentialStatus::kActive &&
              c.status == rules::CredentialStatus::kActive) {
            restricts = false;
          }
        }
        if (restricts) {
          Keep(j, std::move(patched), out);
        } else {
          out.error += "; not applied in memory either, it lifts a suspension";
        }
      }
      return true;
    }
    index_ = patched;
    stamp_ = stamp_ && before == stamp_ ? Follow(before) : std::nullopt;
    out.index = std::move(patched);
    out.stamp = stamp_;
    out.index_ms = patch_ms;
    out.patched = true;
    // The cached records catch up before the next job reads them (off the revocation's path).
    if (records_) deferred_.insert(deferred_.end(), ops.begin(), ops.end());
    baseline_.reset();
    return true;
  }

  void Handle(LocalOpsJob& j, StateOutcome& out) {
    out.tag = j.tag;
    out.changes = j.ops.size();
    Result<Position> at = store_->AppliedPosition();
    if (!at.ok()) return Fail(out, at.status());
    out.position = *at;
    ApplyOps(j.ops, *at, out);
  }

  // Applies `ops` to the cached records in place (no copy of the state), validates the result and
  // commits. A rejected or failed change drops the cache: the store is the truth to reload from.
  // `delta`: the delta job these ops are (null for a local change): a store that cannot write it
  // keeps it in memory when it only restricts access.
  void ApplyOps(const std::vector<rules::Op>& ops, Position to, StateOutcome& out,
                const DeltaJob* delta = nullptr) {
    if (memory_.empty() && ApplyValidatedByDelta(ops, to, out, delta)) return;
    Status loaded = Load();
    if (!loaded.ok()) return Fail(out, loaded);
    std::set<std::string> before = std::move(Baseline());
    baseline_.reset();
    rules::ApplyOpsTo(*records_, ops);
    std::vector<std::string> errors = rules::Validate(site_, *records_, SIZE_MAX);
    std::vector<std::string> added;
    for (const std::string& e : errors) {
      if (!before.contains(e)) added.push_back(e);
      if (added.size() >= 20) break;
    }
    if (!added.empty()) {
      out.result = StateOutcome::Result::kRejected;
      out.error = JoinLines(added);
      records_.reset();
      return;
    }
    uncheckpointed_ = true;
    if (!Committed(TimedApply(ops, to, out), out)) {
      if (delta && out.result == StateOutcome::Result::kFailed) {
        KeepInMemory(*delta, /*validated=*/true, out);
      }
      return;
    }
    if (delta) DropMemoryUpTo(delta->to);
    // The new state's problems are the next change's baseline (all of them were already there).
    baseline_.emplace(std::make_move_iterator(errors.begin()),
                      std::make_move_iterator(errors.end()));
    Rebuild();
  }

  // Issue 13: the delta is validated by what it touches and what refers to it, read through the
  // store's indexes (rules::ValidateDelta), not against a loaded copy of the whole state. Returns
  // false when that cannot decide (a group delete): the caller validates the whole state.
  bool ApplyValidatedByDelta(const std::vector<rules::Op>& ops, Position to, StateOutcome& out,
                             const DeltaJob* delta) {
    std::optional<std::vector<std::string>> errors;
    {
      std::unique_ptr<store::StoredStateReader> reader = store_->ReadState();
      errors = rules::ValidateDelta(site_, *reader, ops, 20);
      if (!reader->status().ok()) {
        Fail(out, reader->status());
        return true;
      }
    }
    if (!errors) return false;
    if (!errors->empty()) {
      out.result = StateOutcome::Result::kRejected;
      out.error = JoinLines(*errors);
      return true;
    }
    const std::optional<rules::ImageStamp> before = ReadStamp();
    uncheckpointed_ = true;
    if (!Committed(TimedApply(ops, to, out), out)) {
      if (delta && out.result == StateOutcome::Result::kFailed) {
        KeepInMemory(*delta, /*validated=*/true, out);
      }
      return true;
    }
    if (delta) DropMemoryUpTo(delta->to);
    // A cached copy catches up when it is next read (the index is built from the store).
    if (records_) deferred_.insert(deferred_.end(), ops.begin(), ops.end());
    baseline_.reset();
    EditIndex(ops, before, out);
    return true;
  }

  // Issue 13: the committed ops applied to the latest index (rules::ApplyOpsToIndex: O(change),
  // sharing every untouched chunk) when it is the index of the store's state before them; a
  // rebuild otherwise, or when the edit cannot be made (a schedule or group delete, a full id
  // table, too many edits since the last build). The edited index is published after the burst's
  // last job (BuildIndex), as a rebuild would be. `before`: the store's stamp before the commit.
  void EditIndex(const std::vector<rules::Op>& ops, std::optional<rules::ImageStamp> before,
                 StateOutcome& out) {
    const std::shared_ptr<const rules::Index>& base = edited_ ? edited_ : index_;
    if ((changed_ && !edited_) || !base || !memory_.empty()) return Rebuild();
    const std::optional<rules::ImageStamp> base_stamp = edited_ ? edited_stamp_ : stamp_;
    auto started = Clock::now();
    std::string why;
    std::shared_ptr<const rules::Index> next;
    try {
      next = rules::ApplyOpsToIndex(*base, ops, &why);
    } catch (const std::exception& e) {
      why = std::string("the edit threw: ") + e.what();
    }
    if (!next) {
      LogInfo("sync", "index rebuilt instead of edited: " + why);
      return Rebuild();
    }
    edited_ = std::move(next);
    edited_stamp_ = base_stamp && base_stamp == before ? Follow(before) : std::nullopt;
    edit_ms_ += MsSince(started);
    changed_ = true;  // published by BuildIndex after the burst
    out.patched = true;
  }

  // The index must be built again from the state (an edit on top of the latest is not possible).
  void Rebuild() {
    changed_ = true;
    edited_.reset();
    edit_ms_ = 0;
  }

  // Store::ApplyOps, its time in out.commit_ms.
  Status TimedApply(const std::vector<rules::Op>& ops, Position to, StateOutcome& out) {
    auto started = Clock::now();
    Status st = store_->ApplyOps(ops, to);
    out.commit_ms += MsSince(started);
    return st;
  }

  // The store's stamp now; nullopt when it cannot be read (then no image is written of it).
  std::optional<rules::ImageStamp> ReadStamp() {
    Result<rules::ImageStamp> s = store::ReadStateStamp(*store_);
    return s.ok() ? std::optional(*s) : std::nullopt;
  }
  // After one commit of this worker from the stamp `before`: the stamp now, when it follows
  // `before` by exactly that commit (no other writer committed in between).
  std::optional<rules::ImageStamp> Follow(std::optional<rules::ImageStamp> before) {
    if (!before) return std::nullopt;
    std::optional<rules::ImageStamp> now = ReadStamp();
    if (!now || now->state_serial != before->state_serial + 1) return std::nullopt;
    return now;
  }

  // A page of a snapshot (SnapshotPageJob): staged in the store, digested on the second thread.
  void Handle(SnapshotPageJob& j, StateOutcome& out) {
    out.tag = j.snapshot_id;
    if (j.page == 1) {
      NewStage(j);
      stage_->error = store_->StageBegin();
      if (stage_->error.ok()) stage_->digest = std::make_unique<PageDigest>(site_);
    }
    if (!stage_ || stage_->snapshot_id != j.snapshot_id || stage_->to != j.to ||
        stage_->pages != j.pages || stage_->next != j.page) {
      // Not the page that follows the stage (the core hands them on in order): the snapshot
      // cannot complete from this stage.
      if (stage_ && stage_->snapshot_id == j.snapshot_id && stage_->error.ok()) {
        stage_->error = Status::Internal("snapshot " + j.snapshot_id + ": page " +
                                         std::to_string(j.page) + " came out of order");
      }
      return;
    }
    ++stage_->next;
    if (!stage_->error.ok()) return;
    stage_->records += RecordCount(j.records);
    Status written = store_->StageRecords(j.records);
    if (!written.ok()) {
      stage_->error = written;
      stage_->digest.reset();
      return;
    }
    // The stage goes through the WAL: copied into the database as it grows (the worker's
    // connection never checkpoints on its own), not by another connection's backstop.
    if (stage_->records >= stage_->checkpointed + kStageCheckpointRecords) {
      stage_->checkpointed = stage_->records;
      Status done = store_->Checkpoint();
      if (!done.ok()) LogWarning("sync", "state worker: WAL checkpoint: " + done.ToString());
    }
    auto page = std::make_shared<PageDigest::Page>();
    page->records = std::move(j.records);
    page->hold = std::move(j.hold);
    if (stage_->digest) stage_->digest->Push(std::move(page));  // none after a SiteJob
  }

  // A page could not even be handled (the store cannot be opened, the job threw).
  void PageFailed(const SnapshotPageJob& j, const Status& why) {
    if (j.page == 1) {
      NewStage(j);
      stage_->next = 2;
    }
    if (stage_ && stage_->snapshot_id == j.snapshot_id) {
      if (stage_->next == j.page) ++stage_->next;
      if (stage_->error.ok()) stage_->error = why;
      stage_->digest.reset();
    }
  }

  // A new stage for the snapshot whose first page `j` is, in place of any earlier one.
  void NewStage(const SnapshotPageJob& j) {
    DropStage();
    stage_.emplace();
    stage_->snapshot_id = j.snapshot_id;
    stage_->to = j.to;
    stage_->pages = j.pages;
  }

  // Forgets the stage (its tables too, when the store can drop them: else the next StageBegin or
  // the next start does).
  void DropStage() {
    if (!stage_) return;
    stage_.reset();
    if (store_) {
      Status dropped = store_->StageDrop();
      if (!dropped.ok()) LogWarning("sync", "state worker: drop the stage: " + dropped.ToString());
    }
  }

  // Completes a staged snapshot: validated (from its pages as they came, or from the stage),
  // swapped in with one transaction, its index finished meanwhile.
  void CompleteStaged(SnapshotJob& j, StateOutcome& out) {
    const Status missing =
        Status::Internal("snapshot " + j.snapshot_id + ": its pages were not all staged in order");
    if (!stage_ || stage_->snapshot_id != j.snapshot_id || stage_->to != j.to) {
      DropStage();
      return Fail(out, missing);
    }
    out.changes = stage_->records;
    if (!stage_->error.ok()) {
      const Status why = stage_->error;
      out.fault = stage_->fault;
      DropStage();
      if (why.code() == StatusCode::kInvalidArgument) {
        out.result = StateOutcome::Result::kRejected;
        out.error = why.message();
        return;
      }
      Fail(out, why);
      if (out.fault) out.error = why.message();  // already "internal error: ..."
      return;
    }
    if (stage_->next != stage_->pages + 1) {
      DropStage();
      return Fail(out, missing);
    }
    std::unique_ptr<PageDigest> digest = std::move(stage_->digest);
    // No digest (the site changed while pages came): validated from the stage below.
    PageDigest::Validation v = digest ? digest->Validated() : PageDigest::Validation{};
    if (!v.fault.empty()) {
      LogError("sync", "state worker: the snapshot's page thread threw: " + v.fault);
      out.fault = true;
    }
    std::vector<std::string> errors;
    if (v.ordered && v.needs_replay) {
      ValidatorVisitor replay(digest->validator(), /*replay=*/true);
      Status read = store_->StageLoad(replay);
      if (!read.ok()) {
        DropStage();
        return Fail(out, read);
      }
      errors = digest->validator().Finish();
    } else if (v.ordered) {
      errors = std::move(v.errors);
    } else {
      // Kinds out of order: validated again from the stage, which streams them in order.
      rules::StateValidator validator(site_, 20, {.ids_unique = true});
      ValidatorVisitor feed(validator);
      Status read = store_->StageLoad(feed);
      if (read.ok() && validator.NeedsReplay()) {
        ValidatorVisitor replay(validator, /*replay=*/true);
        read = store_->StageLoad(replay);
      }
      if (!read.ok()) {
        DropStage();
        return Fail(out, read);
      }
      errors = validator.Finish();
    }
    if (!errors.empty()) {
      digest.reset();
      DropStage();
      out.result = StateOutcome::Result::kRejected;
      out.error = JoinLines(errors);
      return;
    }
    digest.reset();
    // The index of the new state is built from the stage on a connection of its own, while this
    // one swaps the stage in (the read sees the stage as committed before the swap). Used if
    // nothing changed in between; a build that fails is simply not used (the usual build runs).
    std::promise<void> reading;
    std::future<void> read_started = reading.get_future();
    std::future<Prebuilt> build = std::async(std::launch::async, [&]() -> Prebuilt {
      NameThisThread("index-build");
      Prebuilt p;
      bool told = false;
      auto tell = [&] {
        if (!told) reading.set_value();
        told = true;
      };
      try {
        Result<std::unique_ptr<store::Store>> reader =
            open_(path_, {.verify_on_open = false, .checkpoint_pages = 0, .mmap = false});
        if (reader.ok()) {
          Result<std::shared_ptr<const rules::Index>> index =
              store::LoadStagedIndex(**reader, site_, &p.warnings, tell);
          if (index.ok()) p.index = std::move(*index);
        }
      } catch (...) {
        p.index = nullptr;
      }
      tell();
      return p;
    });
    read_started.wait();
    const std::optional<rules::ImageStamp> before = ReadStamp();
    Status committed = store_->StageCommit(j.to);
    if (committed.ok()) {
      stage_.reset();
      Status checkpointed = store_->Checkpoint();
      if (!checkpointed.ok()) {
        LogWarning("sync", "state worker: WAL checkpoint: " + checkpointed.ToString());
      }
    }
    Prebuilt prebuilt = build.get();
    if (!Committed(committed, out)) {
      DropStage();
      return;
    }
    Rebuild();
    if (prebuilt.index) {
      prebuilt.stamp = Follow(before);  // a snapshot replaces the whole state
      prebuilt_ = std::move(prebuilt);
    }
    DropMemoryUpTo(j.to);
    records_.reset();
    deferred_.clear();
    baseline_.reset();
  }

  void Handle(SnapshotJob& j, StateOutcome& out) {
    out.position = j.to;
    out.tag = j.snapshot_id;
    if (j.staged) return CompleteStaged(j, out);
    if (!j.pages.empty()) {
      j.pages.insert(j.pages.begin(), std::move(j.records));
      j.records = MergePages(std::move(j.pages));
    }
    out.position = j.to;
    out.tag = j.snapshot_id;
    out.changes = RecordCount(j.records);
    std::vector<std::string> errors = rules::Validate(site_, j.records, 20);
    if (!errors.empty()) {
      out.result = StateOutcome::Result::kRejected;
      out.error = JoinLines(errors);
      return;
    }
    // The index of the new state is built on a second thread while the store writes it (issue 13,
    // point 5): both only read the records. Used by BuildIndex if nothing changed in between; a
    // build that throws is simply not used (the usual build runs, and fails as it would).
    std::future<Prebuilt> build = std::async(std::launch::async, [&]() -> Prebuilt {
      NameThisThread("index-build");
      Prebuilt p;
      try {
        p.index = rules::BuildIndex(site_, j.records, &p.warnings);
      } catch (...) {
        p.index = nullptr;
      }
      return p;
    });
    const std::optional<rules::ImageStamp> before = ReadStamp();
    Status committed = store_->ReplaceState(j.records, j.to);
    // The whole state went through the WAL: copied into the database now, within the snapshot's
    // job, rather than under the deltas that follow (or by the journal writer's 64 MiB backstop).
    if (committed.ok()) {
      Status checkpointed = store_->Checkpoint();
      if (!checkpointed.ok()) {
        LogWarning("sync", "state worker: WAL checkpoint: " + checkpointed.ToString());
      }
    }
    Prebuilt prebuilt = build.get();
    if (!Committed(committed, out)) return;
    Rebuild();
    if (prebuilt.index) {
      prebuilt.stamp = Follow(before);  // a snapshot replaces the whole state
      prebuilt_ = std::move(prebuilt);
    }
    DropMemoryUpTo(j.to);
    records_ = std::move(j.records);
    baseline_.reset();
  }

  void Handle(SiteJob& j, StateOutcome& out) {
    // A snapshot being staged was validated page by page against the old site: that validation
    // stops here (its thread holds views into the old site), and the snapshot's completion
    // validates the whole stage against the new one.
    if (stage_) stage_->digest.reset();
    site_ = std::move(j.site);
    baseline_.reset();
    Rebuild();
    Result<Position> at = store_->AppliedPosition();
    if (at.ok()) out.position = *at;
  }

  // The result of a store write: true when committed. Otherwise nothing changed in the store; the
  // cached records are dropped (they may hold the change) and the outcome says why: kRejected for
  // what the store refuses in the data (InvalidArgument), kFailed for the rest.
  bool Committed(const Status& st, StateOutcome& out) {
    if (st.ok()) return true;
    records_.reset();
    if (st.code() == StatusCode::kInvalidArgument) {
      out.result = StateOutcome::Result::kRejected;
      out.error = st.message();
      return false;
    }
    Fail(out, st);
    return false;
  }

  void Fail(StateOutcome& out, const Status& st) {
    out.result = StateOutcome::Result::kFailed;
    out.error = st.ToString();
    records_.reset();  // reload from the store next time: it is the truth
    baseline_.reset();
  }

  // The store's records with the deltas kept in memory applied (a copy; requires records_).
  rules::Records InForce() const {
    rules::Records state = *records_;
    for (const MemoryDelta& m : memory_) rules::ApplyOpsTo(state, m.ops);
    return state;
  }

  // A delta the store could not write (out: kFailed with the store's error): when it only
  // restricts access, the index of the state in force with it applied is built and handed out in
  // `out` (in_memory). `validated`: it already passed validation against the store's state.
  // Otherwise `out` is left as it is, with the reason appended to its error; a delta that breaks
  // the rules ends kRejected as it would with a working store.
  void KeepInMemory(const DeltaJob& j, bool validated, StateOutcome& out) {
    if (HeldInMemory(j.to)) {  // sent again while the store still cannot write it
      out.in_memory = true;
      return;
    }
    Status loaded = Load();  // reads work on a full or read-only disk
    if (!loaded.ok()) {
      out.error += "; not kept in memory: " + loaded.ToString();
      return;
    }
    rules::Records state = InForce();
    std::string why;
    if (!rules::OnlyRestricts(state, j.ops, &why)) {
      out.error += "; not applied in memory either, it does not only restrict access (" + why + ")";
      return;
    }
    std::vector<std::string> before;
    if (!validated) before = rules::Validate(site_, state, SIZE_MAX);
    rules::ApplyOpsTo(state, j.ops);
    if (!validated) {
      std::set<std::string> had(before.begin(), before.end());
      std::vector<std::string> added;
      for (const std::string& e : rules::Validate(site_, state, SIZE_MAX)) {
        if (!had.contains(e)) added.push_back(e);
        if (added.size() >= 20) break;
      }
      if (!added.empty()) {
        out.result = StateOutcome::Result::kRejected;
        out.error = JoinLines(added);
        return;
      }
    }
    auto started = Clock::now();
    std::vector<std::string> warnings;
    std::shared_ptr<const rules::Index> index = rules::BuildIndex(site_, state, &warnings);
    for (const std::string& w : warnings) LogWarning("sync", "state: " + w);
    out.index_ms = MsSince(started);
    Keep(j, std::move(index), out);
  }

  // `index` (the state in force with `j` applied) replaces the worker's: every later index keeps
  // the delta applied until the store commits its position.
  void Keep(const DeltaJob& j, std::shared_ptr<const rules::Index> index, StateOutcome& out) {
    memory_.push_back({j.from, j.to, j.ops});
    index_ = index;
    stamp_.reset();  // not a stored state
    edited_.reset();
    out.index = std::move(index);
    out.in_memory = true;
    changed_ = false;  // index_ is the store's state plus memory_
  }

  bool HeldInMemory(Position to) const {
    return std::any_of(memory_.begin(), memory_.end(),
                       [&](const MemoryDelta& m) { return m.to == to; });
  }

  // The store is at `at` (a commit of a delta or snapshot): deltas kept in memory up to there are
  // either written now or superseded by the snapshot.
  void DropMemoryUpTo(Position at) {
    std::erase_if(memory_, [&](const MemoryDelta& m) { return m.to <= at; });
  }

  static std::string PositionText(Position p) {
    return std::to_string(p.epoch) + "/" + std::to_string(p.version);
  }

  std::string path_;
  rules::Site site_;
  std::unique_ptr<store::Store> store_;
  std::optional<rules::Records> records_;
  std::vector<rules::Op> deferred_;  // fast-path ops not yet applied to records_
  // Restricting deltas the store could not write, in force in memory only (oldest first).
  struct MemoryDelta {
    Position from;
    Position to;
    std::vector<rules::Op> ops;
  };
  std::vector<MemoryDelta> memory_;
  std::shared_ptr<const rules::Index> index_;  // the latest index this worker built or patched
  store::StoreOpener open_;
  bool changed_ = false;            // the store changed since index_ was built: a rebuild is due
  bool uncheckpointed_ = false;     // this worker committed since its last WAL checkpoint
  uint64_t wal_at_checkpoint_ = 0;  // the WAL file's size at the last idle checkpoint
  std::optional<rules::ImageStamp> stamp_;  // the stored state index_ is of, when certain
  // index_ with the burst's deltas edited in (EditIndex), published by BuildIndex; its stamp.
  std::shared_ptr<const rules::Index> edited_;
  std::optional<rules::ImageStamp> edited_stamp_;
  double edit_ms_ = 0;
  std::optional<std::set<std::string>> baseline_;
  // The index of the state the last snapshot committed, built alongside its write; reset when
  // any later job runs (it no longer describes the store then).
  struct Prebuilt {
    std::shared_ptr<const rules::Index> index;
    std::vector<std::string> warnings;
    std::optional<rules::ImageStamp> stamp;  // of the state it is of, when certain
  };
  std::optional<Prebuilt> prebuilt_;
  // The snapshot being staged page by page (SnapshotPageJob), until its SnapshotJob.
  std::optional<Stage> stage_;
  StateWorker::FaultHook fault_;
};

}  // namespace

std::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kDelta:
      return "delta";
    case JobKind::kSnapshot:
      return "snapshot";
    case JobKind::kLocalOps:
      return "local change";
    case JobKind::kSite:
      return "site";
    case JobKind::kIndex:
      return "index";
    case JobKind::kSnapshotPage:
      return "snapshot page";
    case JobKind::kAdoptIndex:
      return "index copy";
  }
  return "job";
}

StateWorker::StateWorker(std::string store_path, rules::Site site,
                         std::shared_ptr<const rules::Index> current, Poster post,
                         OnOutcome on_outcome, store::StoreOpener open, FaultHook fault)
    : store_path_(std::move(store_path)),
      open_(std::move(open)),
      site_(std::move(site)),
      current_(std::move(current)),
      post_(std::move(post)),
      on_outcome_(std::move(on_outcome)),
      fault_(std::move(fault)) {
  thread_ = std::thread([this] { Run(); });
}

StateWorker::~StateWorker() {
  {
    MutexLock lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

void StateWorker::Submit(StateJob job) {
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
}

void StateWorker::Run() {
  // The doors' loop and the message parsers come first when they compete for a core: a tenant's or
  // a snapshot's work here delayed a revocation parsed right behind it by milliseconds.
  NameThisThread("state-worker");
  LowerThisThreadPriority(kWorkerNiceAbove);
  Session session(store_path_, site_, std::move(current_), std::move(open_), fault_);
  MutexLock lock(mu_);
  while (true) {
    const bool woken = cv_.wait_for(lock, kIdleCheckpointAfter,
                                    [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    if (stop_) return;
    if (!woken) {
      lock.unlock();
      if (session.IdleUpkeep()) wal_checkpoints_.fetch_add(1, std::memory_order_relaxed);
      idle_upkeeps_.fetch_add(1, std::memory_order_relaxed);
      lock.lock();
      continue;
    }
    StateJob job = std::move(queue_.front());
    queue_.pop_front();
    const bool page = std::holds_alternative<SnapshotPageJob>(job);
    lock.unlock();
    StateOutcome out = session.Do(job);
    job = IndexJob{};  // a page is freed (and its credit returned) now
    lock.lock();
    if (page) continue;  // no outcome: the SnapshotJob completing the snapshot reports
    // Last job of a burst that changed the state (pages of a next snapshot do not count: they
    // change nothing): build and attach the index.
    const bool last = std::all_of(queue_.begin(), queue_.end(), [](const StateJob& j) {
      return std::holds_alternative<SnapshotPageJob>(j);
    });
    if (last && session.changed() && !stop_) {
      lock.unlock();
      Result<std::shared_ptr<const rules::Index>> index = session.BuildIndex(&out.index_ms);
      if (index.ok()) {
        out.index = std::move(*index);
        out.stamp = session.stamp();
      } else if (out.result == StateOutcome::Result::kApplied) {
        out.fault = index.status().code() == StatusCode::kInternal;
        // Committed, but the doors cannot decide on it yet: never reported as applied.
        out.result = StateOutcome::Result::kIndexFailed;
        out.error = "the change is committed but its index could not be built: " +
                    index.status().ToString();
      } else {
        // An earlier job of the burst committed; this one did not. The rebuild stays due.
        LogError("sync", "state worker: cannot build the index: " + index.status().ToString());
      }
      lock.lock();
    }
    if (stop_) return;
    lock.unlock();
    post_([cb = on_outcome_, o = std::move(out)]() mutable { cb(std::move(o)); });
    lock.lock();
  }
}

}  // namespace lintel::cloud
