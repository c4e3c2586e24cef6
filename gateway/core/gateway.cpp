#include "gateway/core/gateway.h"

#include <algorithm>
#include <fstream>

#include "gateway/base/ids.h"
#include "gateway/base/log.h"
#include "gateway/base/thread_priority.h"
#include "gateway/codec/records_json.h"
#include "gateway/core/decision_json.h"
#include "gateway/store/index_image_file.h"
#include "rules/validate.h"

namespace lintel::core {
namespace {

// Events written per transaction when the queue is drained (after the store could not be
// written): a little free space is used as it comes, and no transaction grows without bound.
constexpr size_t kWriteChunk = 500;

// 64 MiB of 4 KiB pages: a WAL only grows this far when no state worker runs (no cloud) or it is
// never idle; then these connections checkpoint it.
constexpr int kBackstopCheckpointPages = 16384;

store::StoreOptions CoreStoreOptions() {
  store::StoreOptions options;
  options.verify_on_open = false;  // LoadState reads (and so checks) every state page
  // The sync worker may hold the write lock while it stores a large snapshot: the core thread
  // waits briefly, then keeps its journal queued and retries (it never stalls the doors).
  options.busy_timeout_ms = 100;
  // The state worker checkpoints the WAL when idle; this connection only past 64 MiB (a commit
  // here never copies the WAL into the database in the ordinary course).
  options.checkpoint_pages = kBackstopCheckpointPages;
  return options;
}

}  // namespace

using nlohmann::json;

json RecordCounts(const rules::Records& records) {
  return json{
      {"schedules", records.schedules.size()},     {"groups", records.groups.size()},
      {"people", records.people.size()},           {"leases", records.leases.size()},
      {"credentials", records.credentials.size()}, {"door_modes", records.door_modes.size()}};
}

Result<rules::Records> ParseValidState(const rules::Site& site, const json& records_json) {
  Result<rules::Records> records = codec::ParseRecords(records_json);
  if (!records.ok()) return records.status();
  std::vector<std::string> errors = rules::Validate(site, *records);
  if (!errors.empty()) {
    std::string msg = "state rejected, nothing changed:";
    for (const std::string& e : errors) msg += "\n  " + e;
    return Status::InvalidArgument(msg);
  }
  return records;
}

Gateway::Gateway(config::Config config, const Clock& clock, std::unique_ptr<store::Store> store,
                 std::shared_ptr<const rules::Index> index, store::StoreOpener open)
    : config_(std::move(config)),
      clock_(clock),
      store_(std::move(store)),
      engine_(std::move(index)),
      open_(std::move(open)),
      pending_(static_cast<size_t>(config_.max_unwritten_events)),
      started_at_(clock.Wall()) {}

Result<std::unique_ptr<Gateway>> Gateway::Open(config::Config config, const Clock& clock,
                                               store::StoreOpener open) {
  if (!open) open = store::DefaultStoreOpener();
  store::StoreOptions options = CoreStoreOptions();
  // A building whose disk filled up (or was remounted read-only) must still start and decide.
  options.read_only_fallback = true;
  options.drop_stale_stage = true;  // a snapshot a crash left half-written (no worker runs yet)
  Result<std::unique_ptr<store::Store>> store = open(config.store_path, options);
  if (!store.ok()) return store.status();
  rules::Site site = config::MakeSite(config);
  std::vector<std::string> warnings;
  Result<store::StartIndex> start = store::LoadIndexPreferImage(
      **store, store::IndexImagePath(config.store_path), site, &warnings);
  for (const std::string& w : warnings) LogWarning("core", "stored state: " + w);
  if (!start.ok()) return start.status();
  LogInfo("core", "index " + start->how);
  std::unique_ptr<Gateway> g(
      new Gateway(std::move(config), clock, std::move(*store), start->index, std::move(open)));
  g->index_source_ = start->from_image ? "image" : "store";
  g->NoteIndexState(start->index, start->stamp);
  if (start->from_image) {
    g->image_on_disk_ = g->stamped_generation_;
  } else if (start->stamp) {
    g->SaveImageInBackground();
  }
  Result<std::optional<Instant>> lkg = g->store_->LastKnownGood();
  if (!lkg.ok()) return lkg.status();
  if (lkg->has_value()) g->engine_.time().Restore(**lkg, g->Reading().mono_ms);
  rules::DecisionTime now = g->engine_.Now(g->Reading());
  g->NoteClock(now.went_back, now.suspect);
  const rules::Index& x = *g->engine_.index();
  g->Journal({{"type", "gateway.started"},
              {"credentials", x.credential_count()},
              {"people", x.person_count()}});
  if (Status ticked = g->Tick(); !ticked.ok()) {
    LogWarning("core",
               "cannot write to the store at start; deciding anyway, journal events wait "
               "in memory until it can be written: " +
                   ticked.ToString());
  }
  LogInfo("core", "state loaded: " + std::to_string(x.credential_count()) + " credentials, " +
                      std::to_string(x.person_count()) + " people, " +
                      std::to_string(x.lease_count()) + " leases");
  return g;
}

Gateway::~Gateway() {
  if (image_writer_.joinable()) image_writer_.join();
  if (index_copier_.joinable()) index_copier_.join();
}

void Gateway::CopyIndexOutOfImage() {
  if (writer_stopped_) return;  // stopping: the destructor joins a copy in progress
  if (index_copier_.joinable()) {
    if (!copied_ready_.load(std::memory_order_acquire)) return;  // still copying
    index_copier_.join();
    std::shared_ptr<const rules::Index> source = std::move(copy_source_);
    std::shared_ptr<const rules::Index> copy = std::move(copied_);
    copied_ready_ = false;
    if (!copy) {
      copy_failed_ = true;  // out of memory: the mapped index keeps deciding, only slower
      LogWarning("core", "index not copied out of the image mapping: out of memory");
      return;
    }
    if (engine_.index() == source) {
      // The same state in other memory: the stamp, its generation and the image on disk stay
      // true of it.
      if (stamped_index_ == source) stamped_index_ = copy;
      engine_.SwapIndex(copy);
      LogInfo("core", "index copied out of the image mapping (" +
                          std::to_string(copy->MemoryBytes() >> 20) + " MiB)");
      if (on_index_copied_) on_index_copied_(std::move(source), std::move(copy));
      return;
    }
  }
  std::shared_ptr<const rules::Index> now = engine_.index();
  if (copy_failed_ || !now || !now->AliasesMapping()) return;
  copy_source_ = now;
  index_copier_ = std::thread([this, now] {
    NameThisThread("index-copier");
    LowerThisThreadPriority(kBulkNiceAbove);  // the doors first
    try {
      copied_ = rules::CopyToOwnedChunks(*now);
    } catch (const std::bad_alloc&) {
      copied_ = nullptr;
    }
    copied_ready_.store(true, std::memory_order_release);
  });
}

void Gateway::NoteIndexState(const std::shared_ptr<const rules::Index>& index,
                             std::optional<rules::ImageStamp> stamp) {
  // No wait for an image being written: it is of an earlier generation, which it records.
  stamped_index_ = stamp ? index : nullptr;
  stamped_at_ = stamp.value_or(rules::ImageStamp{});
  ++stamped_generation_;
  stamped_since_ = clock_.Monotonic();
}

void Gateway::InstallIndex(std::shared_ptr<const rules::Index> index,
                           std::optional<rules::ImageStamp> stamp) {
  NoteIndexState(index, stamp);
  engine_.SwapIndex(std::move(index));
}

bool Gateway::SaveImageInBackground() {
  if (image_writing_.load()) return false;
  if (image_writer_.joinable()) image_writer_.join();  // done: returns at once
  image_writing_ = true;
  image_writer_ = std::thread([this, index = stamped_index_, stamp = stamped_at_,
                               generation = stamped_generation_,
                               path = store::IndexImagePath(config_.store_path)] {
    NameThisThread("image-writer");
    LowerThisThreadPriority(kBulkNiceAbove);  // 263 MB checksummed and written: the doors first
    Result<uint64_t> n = store::SaveIndexImage(path, *index, stamp);
    if (n.ok()) {
      image_on_disk_ = generation;
      LogInfo("core", "index image written: " + path + " (" + std::to_string(*n >> 20) + " MiB, " +
                          rules::ToString(stamp) + ")");
    } else {
      LogWarning("core",
                 "index image not written (the next start rebuilds): " + n.status().ToString());
    }
    image_writing_ = false;
  });
  return true;
}

void Gateway::RefreshImage() {
  if (!stamped_index_ || engine_.index() != stamped_index_ ||
      image_on_disk_.load() == stamped_generation_ || image_writing_.load() ||
      clock_.Monotonic() - stamped_since_ < kImageAfterQuiet) {
    return;
  }
  Result<rules::ImageStamp> stamp = store::ReadStateStamp(*store_);
  if (!stamp.ok() || !(*stamp == stamped_at_)) return;  // the store moved on: a new index comes
  SaveImageInBackground();
}

void Gateway::SaveImageAtStop() {
  if (image_writer_.joinable()) image_writer_.join();
  std::shared_ptr<const rules::Index> now = engine_.index();
  if (!stamped_index_ || now != stamped_index_ || image_on_disk_.load() == stamped_generation_) {
    return;
  }
  Result<rules::ImageStamp> stamp = store::ReadStateStamp(*store_);
  if (!stamp.ok() || !(*stamp == stamped_at_)) return;  // the store moved on: no image of it here
  SaveImageInBackground();
  image_writer_.join();
}

Result<Gateway::PreparedReload> Gateway::PrepareReload(config::Config config) {
  if (config.store_path != config_.store_path) {
    return Status::FailedPrecondition("store.path changed from " + config_.store_path + " to " +
                                      config.store_path + "; restart lintel to move the store");
  }
  std::vector<std::string> warnings;
  Result<store::StartIndex> built =
      store::BuildIndexStamped(*store_, config::MakeSite(config), &warnings);
  for (const std::string& w : warnings) LogWarning("core", "stored state: " + w);
  if (!built.ok()) return built.status();
  return PreparedReload{std::move(config), std::move(built->index), built->stamp};
}

void Gateway::CommitReload(PreparedReload prepared) {
  NoteIndexState(prepared.index, prepared.stamp);
  engine_.SwapIndex(std::move(prepared.index));
  config_ = std::move(prepared.config);
  ++config_generation_;
  pending_.SetMax(static_cast<size_t>(config_.max_unwritten_events));
}

Status Gateway::Reload(config::Config config) {
  Result<PreparedReload> prepared = PrepareReload(std::move(config));
  if (!prepared.ok()) return prepared.status();
  CommitReload(std::move(*prepared));
  return Status::Ok();
}

Status Gateway::Tick() {
  CopyIndexOutOfImage();
  rules::DecisionTime now = engine_.Now(Reading());
  NoteClock(now.went_back, now.suspect);
  if (store_->read_only()) ReopenForWriting();
  // A replaced (lowered) floor not yet written is retried here; until then the store keeps the
  // old one (advancing to the lower floor below changes nothing).
  Status reset = SaveFloorReset();
  if (!reset.ok()) LogError("core", "cannot store the replaced time floor: " + reset.ToString());
  if (!writer_stopped_) RefreshImage();  // not at Stop (it writes the image itself)
  if (writer_ && !writer_stopped_) {
    // Handed to the writer's connection: the core never waits for the store's write lock (the
    // state worker may hold it for seconds). Failures come back through OnUpkeepFailed.
    writer_->SetFloor(engine_.time_floor(), /*reset=*/false);
    if (delete_retry_) {
      delete_retry_ = false;
      writer_->DeleteUpTo(delete_upto_);
    }
    for (auto& [key, value] : meta_retry_) writer_->SetMeta(key, value);
    meta_retry_.clear();
    return Flush(/*retry=*/true);
  }
  // Not fatal: the engine keeps its floor in memory; the journal is written regardless.
  Status advanced = store_->AdvanceLastKnownGood(engine_.time_floor());
  if (delete_upto_ > 0) {
    // What the writer was given (Stop() writes it again here: idempotent, and nothing the
    // writer failed to write is left behind).
    Status deleted = store_->DeleteUpTo(delete_upto_);
    if (!deleted.ok()) {
      LogError("core", "cannot remove acknowledged events: " + deleted.ToString());
    } else {
      delete_upto_ = 0;
      delete_retry_ = false;
    }
  }
  for (auto it = meta_handed_.begin(); it != meta_handed_.end();) {
    Status set = store_->SetMeta(it->first, it->second);
    if (!set.ok()) {
      LogError("core", "cannot store " + it->first + ": " + set.ToString());
      ++it;
    } else {
      it = meta_handed_.erase(it);
    }
  }
  meta_retry_.clear();
  Status flushed = Flush(/*retry=*/true);
  return advanced.ok() ? flushed : advanced;
}

Status Gateway::SetMetaLater(std::string key, std::string value) {
  if (!writer_ || writer_stopped_) return store_->SetMeta(key, value);
  meta_handed_[key] = value;
  writer_->SetMeta(std::move(key), std::move(value));
  return Status::Ok();
}

Status Gateway::DeleteEventsUpTo(uint64_t seq) {
  if (!writer_ || writer_stopped_) return store_->DeleteUpTo(seq);
  delete_upto_ = std::max(delete_upto_, seq);
  writer_->DeleteUpTo(seq);
  return Status::Ok();
}

void Gateway::OnUpkeepFailed(const JournalWriter::Upkeep& failed, const Status& error) {
  const bool busy = error.code() == StatusCode::kUnavailable;
  std::string what;
  if (failed.floor) {
    what = failed.reset ? "the replaced time floor" : "the time floor";
    if (failed.reset) floor_reset_unsaved_ = true;  // handed over again by the next Tick
  }
  if (failed.delete_upto) {
    what += std::string(what.empty() ? "" : " and ") + "the removal of acknowledged events";
    delete_retry_ = true;  // the next Tick hands it over again (the next ack would, too)
  }
  for (const auto& [key, value] : failed.meta) {
    what += std::string(what.empty() ? "" : " and ") + key;
    meta_retry_[key] = value;
  }
  std::string msg =
      "cannot store " + what + " (retried by the next housekeeping tick): " + error.ToString();
  if (busy) {
    LogWarning("core", msg);
  } else {
    LogError("core", msg);
  }
}

void Gateway::ReopenForWriting() {
  store::StoreOptions options = CoreStoreOptions();
  Result<std::unique_ptr<store::Store>> s = open_(config_.store_path, options);
  if (!s.ok()) {
    LogDebug("core", "store still not writable: " + s.status().ToString());
    return;
  }
  store_ = std::move(*s);
  LogInfo("core", config_.store_path + ": reopened for writing");
}

Status Gateway::Stop() {
  // The batch with the writer is finished, and the rest is written here: nothing is left behind
  // in a thread (SIGTERM loses no event the store can take).
  DrainWriter();
  if (writer_) {
    writer_->WaitSettled();
    // Its failures may be posted to a loop that no longer runs: the Tick below writes the floor
    // (a reset handed over is written as a reset) and the deletions again, on this thread.
    if (floor_reset_handed_) floor_reset_unsaved_ = true;
  }
  writer_stopped_ = true;
  Status s = Tick();
  RunJournalWaiters();  // control commands still waiting answer now
  SaveImageAtStop();
  if (pending_.empty()) return s;
  std::map<std::string, size_t> by_type;
  std::vector<store::JournalEvent> left = pending_.Front(pending_.size());
  for (const store::JournalEvent& e : left) ++by_type[e.type];
  std::string types;
  for (const auto& [type, n] : by_type) {
    types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + type;
  }
  LogError("core",
           "stopping with " + std::to_string(left.size()) +
               " journal events the store could not write; they are lost (" + types + ", from " +
               FormatRfc3339(left.front().ts) + " to " + FormatRfc3339(left.back().ts) + "; " +
               std::to_string(pending_.lost_total()) +
               " more were dropped earlier when the memory queue was full): " + s.ToString());
  return s;
}

rules::ClockReading Gateway::Reading() const {
  auto mono =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Monotonic().time_since_epoch());
  return {clock_.Wall(), clock_.Synchronized(), mono.count()};
}

void Gateway::NoteSignedTime(Instant issued_at, std::optional<Instant> expires_at) {
  engine_.time().ObserveSigned(issued_at, expires_at, Reading());
  rules::DecisionTime now = engine_.Now(Reading());
  NoteClock(now.went_back, now.suspect);
}

Status Gateway::SaveFloorReset() {
  if (!floor_reset_unsaved_) return Status::Ok();
  if (writer_ && !writer_stopped_) {
    writer_->SetFloor(engine_.time_floor(), /*reset=*/true);  // never waits for the lock here
    floor_reset_unsaved_ = false;
    floor_reset_handed_ = true;
    return Status::Ok();
  }
  Status st = store_->ResetLastKnownGood(engine_.time_floor());
  if (!st.ok()) return st;
  floor_reset_unsaved_ = false;
  return Status::Ok();
}

void Gateway::NoteClock(bool behind, bool suspect) {
  if (std::optional<rules::FloorReset> reset = engine_.time().TakeFloorReset()) {
    LogWarning("core", "time floor " + FormatRfc3339(reset->from) + " is far ahead of the " +
                           reset->source + " (" + FormatRfc3339(reset->to) +
                           "): replaced by it; leases and credentials decide on real time again");
    Journal({{"type", "clock.floor_reset"},
             {"from", FormatRfc3339(reset->from)},
             {"to", FormatRfc3339(reset->to)},
             {"source", reset->source}});
    floor_reset_unsaved_ = true;
    Status saved = SaveFloorReset();
    if (!saved.ok()) LogError("core", "cannot store the replaced time floor: " + saved.ToString());
  }
  if (suspect != clock_suspect_) {
    clock_suspect_ = suspect;
    Instant wall = clock_.Wall();
    Instant estimate = engine_.time().Estimate(Reading().mono_ms);
    if (suspect) {
      bool trusted = engine_.time().trusted_this_run();
      LogWarning("core", "wall clock " + FormatRfc3339(wall) +
                             " is not synchronized and far ahead of trusted time " +
                             FormatRfc3339(estimate) + "; not stored, deciding at " +
                             FormatRfc3339(estimate) +
                             (trusted ? "" : " and granting only what the wall time grants too"));
      Journal({{"type", "clock.suspect"},
               {"wall", FormatRfc3339(wall)},
               {"estimate", FormatRfc3339(estimate)},
               {"max_ahead_days", engine_.index()->site().policy.clock_max_ahead_days}});
    } else {
      LogInfo("core", "wall clock " + FormatRfc3339(wall) + " is believed again");
    }
  }
  if (behind == clock_behind_) return;
  clock_behind_ = behind;
  Instant wall = clock_.Wall();
  Instant floor = engine_.time_floor();
  if (behind) {
    LogWarning("core", "wall clock " + FormatRfc3339(wall) +
                           " is behind the last-known-good time " + FormatRfc3339(floor) +
                           "; deciding at the last-known-good time until it catches up");
    Journal({{"type", "clock.jump"},
             {"wall", FormatRfc3339(wall)},
             {"last_known_good", FormatRfc3339(floor)}});
  } else {
    LogInfo("core", "wall clock caught up with the last-known-good time");
  }
}

void Gateway::Journal(json event) {
  pending_.Push(MakeEvent(std::move(event)));
  ++journaled_total_;
}

bool Gateway::WhenJournalWritten(std::function<void()> f) {
  if (!writer_ || writer_stopped_) {
    static_cast<void>(FlushSync(false));
    f();
    return true;
  }
  static_cast<void>(Flush());
  const uint64_t upto = journaled_total_;
  if (write_failing_ || written_total_ + pending_.lost_total() >= upto) {
    f();
    return true;
  }
  if (journal_waiters_.size() >= kMaxWaitingCommands) return false;
  journal_waiters_.push_back({upto, std::move(f)});
  return true;
}

void Gateway::RunJournalWaiters() {
  while (!journal_waiters_.empty()) {
    JournalWaiter& w = journal_waiters_.front();
    if (!write_failing_ && !writer_stopped_ && written_total_ + pending_.lost_total() < w.upto) {
      return;
    }
    std::function<void()> f = std::move(w.f);
    journal_waiters_.erase(journal_waiters_.begin());
    f();  // may journal, flush and wait again (appended behind)
  }
}

void Gateway::WriteLater(std::function<Status(store::Store&)> op,
                         std::function<void(Status)> done) {
  if (!writer_ || writer_stopped_) {
    Status st = op(*store_);
    if (done) done(st);
    return;
  }
  if (!writer_->Submit(std::move(op), done)) {
    if (done) {
      done(Status::Unavailable("the journal writer has " + std::to_string(JournalWriter::kMaxOps) +
                               " writes waiting"));
    }
  }
}

void Gateway::HandleLater(json request, Reply reply) {
  auto run = [this, request = std::move(request), reply]() mutable {
    Result<json> out = Dispatch(request);
    auto answer = [reply, out = std::move(out)]() mutable { reply(std::move(out)); };
    if (!WhenJournalWritten(answer)) answer();  // its events are queued; the answer stands
  };
  if (!WhenJournalWritten(run)) {
    reply(Status::Unavailable("too many control commands wait for the journal's writer (" +
                              std::to_string(kMaxWaitingCommands) + "); try again"));
  }
}

store::JournalEvent Gateway::MakeEvent(json event) {
  store::JournalEvent e;
  e.ts = engine_.Now(Reading()).at;
  e.type = event["type"].get<std::string>();
  event["id"] = NewUuid();
  event["ts"] = FormatRfc3339(e.ts);
  // The same instant in milliseconds since 1970 (`ts` stays whole seconds, as the contract's
  // timestamps are): lintelctl shows it; the sub-second part only while the clock is not clamped.
  const std::chrono::sys_time<std::chrono::milliseconds> wall = clock_.WallMillis();
  event["ts_millis"] = (std::chrono::floor<std::chrono::seconds>(wall) == e.ts
                            ? wall
                            : std::chrono::sys_time<std::chrono::milliseconds>(e.ts))
                           .time_since_epoch()
                           .count();
  event["clock_synced"] = clock_.Synchronized();
  e.body = event.dump();
  return e;
}

void Gateway::StartJournalWriter(JournalWriter::Poster post) {
  std::weak_ptr<Gateway*> self = self_;
  writer_ = std::make_unique<JournalWriter>(config_.store_path, open_, std::move(post),
                                            /*busy_timeout_ms=*/2000,
                                            [self](JournalWriter::Upkeep failed, Status error) {
                                              if (std::shared_ptr<Gateway*> g = self.lock())
                                                (*g)->OnUpkeepFailed(failed, error);
                                            });
}

Status Gateway::Flush(bool retry) {
  if (writer_ && !writer_stopped_) return FlushToWriter(retry);
  return FlushSync(retry);
}

Status Gateway::FlushNow(bool retry) {
  DrainWriter();
  return FlushSync(retry);
}

void Gateway::DrainWriter() {
  while (writer_ && in_flight_) {
    std::optional<Result<uint64_t>> r = writer_->WaitIdle();
    if (!r) break;  // its outcome was delivered (OnJournalWritten ran): nothing in flight
    OnJournalWritten(std::move(*r), /*continue_writing=*/false);
  }
}

Status Gateway::FlushToWriter(bool retry) {
  if (in_flight_) return Status::Ok();  // its outcome writes the rest
  if (pending_.empty() && pending_.lost().total() == 0) return Status::Ok();
  if (write_failing_ && !retry) return write_error_;  // kept in memory: Tick retries
  in_flight_events_ = pending_.Front(kWriteChunk);
  pending_.PopFront(in_flight_events_.size());
  std::vector<store::JournalEvent> batch = in_flight_events_;
  in_flight_lost_ = pending_.TakeLost();
  if (in_flight_lost_.total() > 0) {
    batch.insert(batch.begin(), LostEvent(in_flight_lost_));
  }
  in_flight_ = true;
  std::weak_ptr<Gateway*> self = self_;
  writer_->Write(std::move(batch), [self](Result<uint64_t> r) {
    if (std::shared_ptr<Gateway*> g = self.lock()) {
      (*g)->OnJournalWritten(std::move(r), /*continue_writing=*/true);
    }
  });
  return Status::Ok();
}

void Gateway::OnJournalWritten(Result<uint64_t> result, bool continue_writing) {
  if (!in_flight_) return;
  in_flight_ = false;
  std::vector<store::JournalEvent> events = std::move(in_flight_events_);
  in_flight_events_.clear();
  JournalQueue::Lost lost = in_flight_lost_;
  in_flight_lost_ = {};
  if (!result.ok()) {
    pending_.PutBack(std::move(events), lost);  // in front, in order: written by a later try
    NoteWriteFailure(result.status());
    RunJournalWaiters();  // the store is failing: the commands answer, their events wait
    return;
  }
  written_total_ += events.size();
  if (write_failing_) {
    write_failing_ = false;
    write_error_ = Status::Ok();
    LogInfo("core",
            "the store can be written again: writing the journal events kept in memory" +
                (lost.total() > 0 ? ", with events.lost for " + std::to_string(lost.total()) +
                                        " dropped while the queue was full"
                                  : std::string()));
  }
  if (on_journal_) on_journal_();
  if (continue_writing) static_cast<void>(Flush());
  RunJournalWaiters();
}

store::JournalEvent Gateway::LostEvent(const JournalQueue::Lost& lost) {
  return MakeEvent({{"type", "events.lost"},
                    {"count", lost.total()},
                    {"access", lost.access},
                    {"other", lost.other},
                    {"from", FormatRfc3339(lost.first)},
                    {"to", FormatRfc3339(lost.last)},
                    {"why",
                     "the store could not be written and the memory queue was full "
                     "(store.max_unwritten_events " +
                         std::to_string(pending_.max()) + ")"}});
}

Status Gateway::FlushSync(bool retry) {
  if (pending_.empty() && pending_.lost().total() == 0) return Status::Ok();
  if (write_failing_ && !retry) return write_error_;  // kept in memory: Tick retries
  size_t written = 0;
  uint64_t lost_noted = 0;
  Status result;
  while (!pending_.empty() || pending_.lost().total() > 0) {
    std::vector<store::JournalEvent> batch = pending_.Front(kWriteChunk);
    size_t from_queue = batch.size();
    const JournalQueue::Lost& lost = pending_.lost();
    bool with_lost = lost.total() > 0;
    if (with_lost) {
      batch.insert(batch.begin(), LostEvent(lost));
    }
    Result<uint64_t> r = store_->Append(batch);
    if (!r.ok()) {
      result = r.status();
      break;
    }
    pending_.PopFront(from_queue);
    if (with_lost) lost_noted += pending_.TakeLost().total();
    written += from_queue;
    written_total_ += from_queue;
  }
  if (!result.ok()) {
    NoteWriteFailure(result);
  } else if (write_failing_) {
    write_failing_ = false;
    write_error_ = Status::Ok();
    LogInfo("core", "the store can be written again: wrote " + std::to_string(written) +
                        " journal events kept in memory" +
                        (lost_noted > 0 ? ", and events.lost for " + std::to_string(lost_noted) +
                                              " dropped while the queue was full"
                                        : ""));
  }
  if ((written > 0 || lost_noted > 0) && on_journal_) on_journal_();
  return result;
}

void Gateway::NoteWriteFailure(const Status& error) {
  if (error.code() == StatusCode::kUnavailable) {
    // Busy (another connection holds the write lock): the next write retries.
    LogWarning("core", "journal write postponed, keeping " + std::to_string(pending_.size()) +
                           " events queued: " + error.ToString());
    return;
  }
  if (!write_failing_) {
    LogError("core", "journal write failed; deciding on, keeping journal events in memory (" +
                         std::to_string(pending_.size()) + " now, at most " +
                         std::to_string(pending_.max()) +
                         ") and retrying every housekeeping tick: " + error.ToString());
  }
  write_failing_ = true;
  write_error_ = error;
}

Status Gateway::FlushJournal() {
  Status s = Flush();
  return write_failing_ ? Status::Ok() : s;
}

Status Gateway::JournalNow(json event) {
  Journal(std::move(event));
  return Flush();
}

Status Gateway::Unlock(std::string_view door, std::chrono::milliseconds duration,
                       std::string_view source) {
  auto it = actuators_.find(door);
  if (it == actuators_.end()) {
    return Status::NotFound("door " + std::string(door) + " has no lock actuator configured");
  }
  // Journaled once, with what the hardware did: when the actuator reports (during the call or
  // later, on this thread), or at once with "failed" when the unlock could not be requested.
  struct Pending {
    json event;
    bool done = false;
  };
  auto pending = std::make_shared<Pending>();
  pending->event = {
      {"type", "door.unlocked"}, {"door", door}, {"ms", duration.count()}, {"source", source}};
  std::weak_ptr<Gateway*> self = self_;
  LockReport journal = [pending, self](std::string_view lock) {
    if (pending->done) return;
    pending->done = true;
    std::shared_ptr<Gateway*> g = self.lock();
    if (!g) return;
    json e = std::move(pending->event);
    e["lock"] = lock;
    e["ok"] = lock == "pulsed";
    (*g)->Journal(std::move(e));
    static_cast<void>((*g)->Flush());  // on failure the event waits in memory
  };
  Status st = it->second(duration, journal);
  if (!st.ok()) {
    LogError("core", "door " + std::string(door) + ": " + std::string(source) +
                         " unlock: the lock actuator failed: " + st.ToString());
    pending->event["error"] = st.message();
    journal("failed");
  }
  return st;
}

rules::Decision Gateway::Present(const rules::Request& request, std::string_view source) {
  rules::Decision d = engine_.Decide(request, Reading());
  JournalDecision(request, d, source, "");
  return d;
}

void Gateway::SetActuator(std::string door, Actuator actuator) {
  if (!actuator) {
    SetReportingActuator(std::move(door), nullptr);
    return;
  }
  SetReportingActuator(std::move(door), [actuator = std::move(actuator)](
                                            std::chrono::milliseconds ms, LockReport report) {
    Status st = actuator(ms);
    if (st.ok()) report("pulsed");
    return st;
  });
}

void Gateway::SetReportingActuator(std::string door, ReportingActuator actuator) {
  if (actuator) {
    actuators_[std::move(door)] = std::move(actuator);
  } else {
    actuators_.erase(door);
  }
}

rules::Decision Gateway::Admit(const rules::Request& request, std::string_view source,
                               const std::function<void(const rules::Decision&)>& decided) {
  rules::Decision d = engine_.Decide(request, Reading());
  std::string lock;
  // A reporting actuator's outcome: reported during the call (kept for the journal below) or
  // later (the grant is journaled then, with the decision's event built now).
  struct Deferred {
    std::optional<std::string> lock;  // reported before Admit journaled
    std::optional<json> event;        // set when Admit returned without journaling the grant
    bool done = false;
  };
  std::shared_ptr<Deferred> deferred;
  if (d.granted) {
    auto it = actuators_.find(request.door);
    if (it == actuators_.end()) {
      lock = "none";
    } else {
      const config::DoorConfig* door = config::FindDoor(config_, request.door);
      deferred = std::make_shared<Deferred>();
      std::weak_ptr<Gateway*> self = self_;
      Status st = it->second(std::chrono::milliseconds(door != nullptr ? door->unlock_ms : 5000),
                             [deferred, self](std::string_view outcome) {
                               if (deferred->done) return;
                               if (!deferred->event) {
                                 deferred->lock = std::string(outcome);
                                 return;
                               }
                               deferred->done = true;
                               std::shared_ptr<Gateway*> g = self.lock();
                               if (!g) return;
                               json e = std::move(*deferred->event);
                               e["lock"] = outcome;
                               (*g)->Journal(std::move(e));
                               static_cast<void>((*g)->Flush());
                             });
      if (!st.ok()) {
        lock = "failed";
        deferred.reset();
        LogError("core", "door " + std::string(request.door) +
                             ": access granted but the lock actuator failed: " + st.ToString());
      } else if (deferred->lock) {
        lock = *deferred->lock;
        deferred->done = true;
        deferred.reset();
      }
    }
  }
  if (decided) decided(d);
  JournalDecision(request, d, source, lock, deferred ? &deferred->event : nullptr);
  static_cast<void>(Flush());  // on failure Flush logs and keeps the events queued for Tick()
  return d;
}

void Gateway::JournalDecision(const rules::Request& request, const rules::Decision& d,
                              std::string_view source, std::string_view lock,
                              std::optional<json>* later) {
  json e = DecisionToJson(d, request.door);
  e["type"] = d.granted ? "access.granted" : "access.denied";
  e.erase("at");
  if (!request.reader.empty()) e["reader"] = request.reader;
  e["source"] = source;
  if (!lock.empty()) e["lock"] = lock;
  if (later != nullptr) {
    *later = std::move(e);  // journaled with its "lock" when the actuator reports
  } else {
    Journal(std::move(e));
  }
  NoteClock(d.clock_went_back, d.clock_suspect);
  if (d.lockout_started) {
    std::string reader(request.reader.empty() ? request.door : request.reader);
    LogWarning("core", "keypad of reader " + reader + " locked out after repeated PIN failures");
    Journal({{"type", "keypad.locked_out"}, {"door", request.door}, {"reader", reader}});
  }
}

Result<json> Gateway::Handle(const json& request) {
  // With the journal writer, what the doors journaled so far is written first: a command (status,
  // events tail) sees the journal as it is, not a batch half-way through the writer.
  if (writer_ && !writer_stopped_) static_cast<void>(FlushNow());
  Result<json> out = Dispatch(request);
  // A store that cannot be written keeps the command's events in memory (Flush logs it, status
  // reports it): the answer stands. Written here, not by the writer thread: a command's events
  // are in the store when it answers.
  static_cast<void>(FlushNow());
  return out;
}

Result<json> Gateway::Dispatch(const json& request) {
  if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string()) {
    return Status::InvalidArgument("request must be an object with a \"cmd\" string");
  }
  const std::string cmd = request["cmd"].get<std::string>();
  Result<json> out = Status::InvalidArgument(
      "unknown command \"" + cmd +
      "\" (status, import, state.import, present, explain, events.tail, events.since)");
  if (cmd == "status") {
    out = StatusCmd();
  } else if (cmd == "state.import") {
    out = Import(request);
  } else if (cmd == "present") {
    out = PresentCmd(request, false);
  } else if (cmd == "explain") {
    out = PresentCmd(request, true);
  } else if (cmd == "events.tail") {
    out = EventsTail(request);
  } else if (cmd == "events.since") {
    out = EventsSince(request);
  }
  return out;
}

Result<json> Gateway::StatusCmd() {
  const rules::Index& x = *engine_.index();
  // Status answers whatever the store can say: a value it cannot read is null and the error is
  // in store.error.
  std::string read_error;
  auto value = [&read_error](auto r) -> json {
    if (r.ok()) return *r;
    if (read_error.empty()) read_error = r.status().ToString();
    return nullptr;
  };
  Result<store::Position> pos = store_->AppliedPosition();
  json applied = pos.ok() ? json{{"epoch", pos->epoch}, {"version", pos->version}}
                          : json{{"epoch", nullptr}, {"version", nullptr}};
  if (!pos.ok()) read_error = pos.status().ToString();
  json queued = value(store_->Count());
  json last_seq = value(store_->LastSeq());
  json store_state = {{"writable", !write_failing_ && !store_->read_only()},
                      {"read_only", store_->read_only()}};
  if (write_failing_) store_state["error"] = write_error_.ToString();
  if (!read_error.empty()) store_state["read_error"] = read_error;
  json doors = json::array();
  for (const rules::DoorRec& d : x.doors()) doors.push_back(d.id);
  Instant now = clock_.Wall();
  json out = {
      {"site", config_.site_id},
      {"gateway", config_.gateway_id},
      {"time_zone", config_.time_zone},
      {"now", FormatRfc3339(now)},
      {"time_floor", FormatRfc3339(engine_.time_floor())},
      {"clock_synced", clock_.Synchronized()},
      {"clock_suspect", clock_suspect_},
      {"uptime_s", ToUnix(now) - ToUnix(started_at_)},
      {"applied", applied},
      {"state",
       {{"schedules", x.schedules().size() - 1},
        {"groups", x.groups().size()},
        {"people", x.person_count()},
        {"leases", x.lease_count()},
        {"credentials", x.credential_count()}}},
      {"index_bytes", x.MemoryBytes()},
      {"index_source", index_source_},
      // An image of the index in force is on disk (a start after a crash maps it).
      {"index_image_current", stamped_index_ != nullptr && engine_.index() == stamped_index_ &&
                                  image_on_disk_.load() == stamped_generation_},
      {"index_maps_image", x.AliasesMapping()},
      {"events",
       {{"queued", queued},
        {"last_seq", last_seq},
        {"unwritten", unwritten_events()},
        {"unwritten_max", pending_.max()},
        {"lost", pending_.lost_total()}}},
      {"store", store_state},
      {"doors", doors},
  };
  for (const auto& [key, extra] : status_extra_) out[key] = extra();
  return out;
}

Status Gateway::ImportAllowed() {
  if (!config_.cloud.broker.empty()) {
    return Status::FailedPrecondition(
        "this gateway syncs with the cloud (cloud.broker " + config_.cloud.broker +
        "); the property system is the source of truth, so a local import is refused");
  }
  Result<store::Position> pos = store_->AppliedPosition();
  if (!pos.ok()) return pos.status();
  if (pos->epoch != 0 || pos->version != 0) {
    return Status::FailedPrecondition(
        "this gateway's state comes from the cloud (applied epoch " + std::to_string(pos->epoch) +
        ", version " + std::to_string(pos->version) +
        "); the property system is the source of truth, so a local import is refused");
  }
  return Status::Ok();
}

Result<json> Gateway::AdoptImport(std::shared_ptr<const rules::Index> index, json counts,
                                  uint64_t generation, std::optional<rules::ImageStamp> stamp) {
  if (generation != config_generation_) {
    // The config was reloaded while the import ran: index the stored state with today's site.
    Result<store::StartIndex> fresh =
        store::BuildIndexStamped(*store_, config::MakeSite(config_), nullptr);
    if (!fresh.ok()) return fresh.status();
    index = std::move(fresh->index);
    stamp = fresh->stamp;
  }
  NoteIndexState(index, stamp);
  engine_.SwapIndex(std::move(index));
  LogInfo("core", "state imported locally: " + counts.dump());
  Journal({{"type", "sync.applied"}, {"source", "local"}, {"counts", counts}});
  static_cast<void>(Flush());  // on failure Flush logs and keeps the event queued for Tick()
  return json{{"imported", std::move(counts)}};
}

Result<json> Gateway::Import(const json& request) {
  if (!request.contains("records")) {
    return Status::InvalidArgument("state.import needs \"records\" (a snapshot's records object)");
  }
  LINTEL_RETURN_IF_ERROR(ImportAllowed());
  rules::Site site = config::MakeSite(config_);
  Result<rules::Records> records = ParseValidState(site, request["records"]);
  if (!records.ok()) return records.status();
  LINTEL_RETURN_IF_ERROR(store_->ReplaceState(*records, store::Position{0, 0}));
  return AdoptImport(rules::BuildIndex(site, *records), RecordCounts(*records), config_generation_);
}

Result<json> Gateway::PresentCmd(const json& request, bool explain) {
  Result<PresentRequest> req = ParsePresentRequest(request);
  if (!req.ok()) return req.status();
  if (engine_.index()->FindDoor(req->door) == rules::kNone) {
    return Status::NotFound("door \"" + req->door + "\" is not a door of this site");
  }
  rules::Request r{req->door, req->reader, req->credential};
  rules::Trace trace;
  rules::Decision d;
  if (explain || req->at) {
    // A question about a moment: no journal, no lockout counting, no move of the time floor.
    d = engine_.Evaluate(r, req->at.value_or(engine_.Now(Reading()).at),
                         explain ? &trace : nullptr);
  } else {
    d = Present(r, "lintelctl");
  }
  json out = DecisionToJson(d, req->door);
  if (explain) out["checks"] = TraceToJson(trace);
  return out;
}

Result<json> Gateway::EventsTail(const json& request) {
  size_t n = 20;
  if (request.contains("n")) {
    const json& jn = request["n"];
    if (!jn.is_number_integer() || jn.get<int64_t>() < 0) {
      return Status::InvalidArgument("\"n\" must be an integer >= 0");
    }
    n = jn.get<size_t>();
  }
  Result<std::vector<store::JournalEvent>> events = store_->Tail(n);
  if (!events.ok()) return events.status();
  json a = json::array();
  for (const store::JournalEvent& e : *events) {
    json j = json::parse(e.body, nullptr, false);
    if (j.is_discarded()) j = {{"type", e.type}, {"corrupt", true}};
    j["seq"] = e.seq;
    a.push_back(std::move(j));
  }
  return json{{"events", a}};
}

Result<json> Gateway::EventsSince(const json& request) {
  auto number = [&](const char* key, uint64_t fallback) -> Result<uint64_t> {
    if (!request.contains(key)) return fallback;
    const json& v = request[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      return Status::InvalidArgument("\"" + std::string(key) + "\" must be an integer >= 0");
    }
    return v.get<uint64_t>();
  };
  Result<uint64_t> after = number("after", 0);
  if (!after.ok()) return after.status();
  Result<uint64_t> limit = number("limit", 500);
  if (!limit.ok()) return limit.status();
  std::optional<Instant> since;
  if (request.contains("since")) {
    Result<Instant> t = request["since"].is_string()
                            ? ParseRfc3339(request["since"].get<std::string>())
                            : Result<Instant>(Status::InvalidArgument("not a string"));
    if (!t.ok()) return Status::InvalidArgument("\"since\": " + t.status().message());
    since = *t;
  }
  Result<uint64_t> last_seq = store_->LastSeq();
  if (!last_seq.ok()) return last_seq.status();
  std::vector<store::JournalEvent> events;
  if (*limit > 0 && *after < UINT64_MAX) {
    Result<std::vector<store::JournalEvent>> read =
        store_->ReadFrom(*after + 1, std::min<uint64_t>(*limit, 5000));
    if (!read.ok()) return read.status();
    events = std::move(*read);
  }
  json a = json::array();
  for (const store::JournalEvent& e : events) {
    if (since && e.ts < *since) continue;
    json j = json::parse(e.body, nullptr, false);
    if (j.is_discarded()) j = {{"type", e.type}, {"corrupt", true}};
    j["seq"] = e.seq;
    a.push_back(std::move(j));
  }
  // "next_after": where the next call continues (the last seq read, shown or not).
  return json{{"events", a},
              {"next_after", events.empty() ? *after : events.back().seq},
              {"more", !events.empty() && events.size() == std::min<uint64_t>(*limit, 5000)},
              {"last_seq", *last_seq}};
}

}  // namespace lintel::core
