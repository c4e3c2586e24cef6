#include "gateway/core/journal_writer.h"

#include <algorithm>
#include <exception>

#include "gateway/base/log.h"
#include "gateway/base/thread_priority.h"

namespace lintel::core {

std::optional<Result<uint64_t>> JournalWriter::Shared::Take() {
  if (!busy || !outcome) return std::nullopt;
  busy = false;
  std::optional<Result<uint64_t>> out = std::move(outcome);
  outcome.reset();
  return out;
}

void JournalWriter::Upkeep::Merge(const Upkeep& later) {
  if (later.floor) {
    if (later.reset || !floor) {
      floor = later.floor;
      reset = later.reset;
    } else {
      floor = std::max(*floor, *later.floor);  // kept a reset when this was one
    }
  }
  if (later.delete_upto) delete_upto = std::max(delete_upto.value_or(0), *later.delete_upto);
  for (const auto& [key, value] : later.meta) meta[key] = value;
}

JournalWriter::JournalWriter(std::string path, store::StoreOpener open, Poster post,
                             int busy_timeout_ms, Upkept upkept)
    : path_(std::move(path)),
      open_(open ? std::move(open) : store::DefaultStoreOpener()),
      post_(std::move(post)),
      busy_timeout_ms_(busy_timeout_ms),
      upkept_(std::move(upkept)) {
  thread_ = std::thread([this] { Run(); });
}

JournalWriter::~JournalWriter() {
  {
    MutexLock lock(s_->mu);
    s_->stop = true;
  }
  s_->cv.notify_all();
  thread_.join();
}

void JournalWriter::Write(std::vector<store::JournalEvent> batch, Done done) {
  {
    MutexLock lock(s_->mu);
    s_->batch = std::move(batch);
    s_->done = std::move(done);
    s_->busy = true;
    s_->outcome.reset();
  }
  s_->cv.notify_all();
}

std::optional<Result<uint64_t>> JournalWriter::WaitIdle() {
  MutexLock lock(s_->mu);
  s_->cv.wait(lock, [&]() REQUIRES(s_->mu) { return !s_->busy || s_->outcome.has_value(); });
  return s_->Take();
}

void JournalWriter::SetFloor(Instant floor, bool reset) {
  {
    MutexLock lock(s_->mu);
    s_->upkeep.Merge(Upkeep{floor, reset, std::nullopt, {}});
  }
  s_->cv.notify_all();
}

void JournalWriter::DeleteUpTo(uint64_t seq) {
  {
    MutexLock lock(s_->mu);
    s_->upkeep.Merge(Upkeep{std::nullopt, false, seq, {}});
  }
  s_->cv.notify_all();
}

void JournalWriter::SetMeta(std::string key, std::string value) {
  {
    MutexLock lock(s_->mu);
    s_->upkeep.Merge(
        Upkeep{std::nullopt, false, std::nullopt, {{std::move(key), std::move(value)}}});
  }
  s_->cv.notify_all();
}

bool JournalWriter::Submit(StoreOp op, OpDone done) {
  {
    MutexLock lock(s_->mu);
    if (s_->ops.size() >= kMaxOps) return false;
    s_->ops.emplace_back(std::move(op), std::move(done));
  }
  s_->cv.notify_all();
  return true;
}

void JournalWriter::WaitSettled() {
  MutexLock lock(s_->mu);
  s_->cv.wait(lock, [&]() REQUIRES(s_->mu) { return s_->upkeep.empty() && !s_->upkeeping; });
}

Status JournalWriter::EnsureOpen(std::unique_ptr<store::Store>& store) {
  if (store) return Status::Ok();
  store::StoreOptions options;
  options.verify_on_open = false;
  options.busy_timeout_ms = busy_timeout_ms_;
  // The state worker checkpoints the WAL when idle (issue 13): these commits only past 64 MiB,
  // the backstop for a gateway without a cloud link.
  options.checkpoint_pages = 16384;
  Result<std::unique_ptr<store::Store>> opened = open_(path_, options);
  if (!opened.ok()) return opened.status();
  store = std::move(*opened);
  return Status::Ok();
}

Status JournalWriter::WriteUpkeep(std::unique_ptr<store::Store>& store, const Upkeep& u,
                                  Upkeep* failed) {
  Status first;
  auto fail = [&](const Status& st, Upkeep part) {
    failed->Merge(part);
    if (first.ok()) first = st;
    if (st.code() != StatusCode::kUnavailable) store.reset();  // as for a batch: a fresh one next
  };
  try {
    if (u.floor) {
      Status st = EnsureOpen(store);
      if (st.ok()) {
        st = u.reset ? store->ResetLastKnownGood(*u.floor) : store->AdvanceLastKnownGood(*u.floor);
      }
      if (!st.ok()) fail(st, Upkeep{u.floor, u.reset, std::nullopt, {}});
    }
    if (u.delete_upto) {
      Status st = EnsureOpen(store);
      if (st.ok()) st = store->DeleteUpTo(*u.delete_upto);
      if (!st.ok()) fail(st, Upkeep{std::nullopt, false, u.delete_upto, {}});
    }
    for (const auto& [key, value] : u.meta) {
      Status st = EnsureOpen(store);
      if (st.ok()) st = store->SetMeta(key, value);
      if (!st.ok()) fail(st, Upkeep{std::nullopt, false, std::nullopt, {{key, value}}});
    }
  } catch (const std::exception& e) {
    LogError("core", std::string("journal writer: an upkeep write threw: ") + e.what());
    fail(Status::Internal(std::string("upkeep write threw: ") + e.what()), u);
  } catch (...) {
    LogError("core", "journal writer: an upkeep write threw");
    fail(Status::Internal("upkeep write threw"), u);
  }
  return first;
}

void JournalWriter::Run() {
  NameThisThread("journal");
  std::unique_ptr<store::Store> store;
  std::shared_ptr<Shared> s = s_;
  MutexLock lock(s->mu);
  while (true) {
    s->cv.wait(lock, [&]() REQUIRES(s->mu) {
      return s->stop || s->batch.has_value() || !s->upkeep.empty() || !s->ops.empty();
    });
    if (!s->batch && s->upkeep.empty() && s->ops.empty()) return;  // stopping, nothing to write
    if (!s->batch && !s->ops.empty()) {
      auto [op, done] = std::move(s->ops.front());
      s->ops.pop_front();
      lock.unlock();
      Status st = EnsureOpen(store);
      try {
        if (st.ok()) st = op(*store);
      } catch (const std::exception& e) {
        LogError("core", std::string("journal writer: a write threw: ") + e.what());
        st = Status::Internal(std::string("write threw: ") + e.what());
      } catch (...) {
        LogError("core", "journal writer: a write threw");
        st = Status::Internal("write threw");
      }
      if (!st.ok() && st.code() != StatusCode::kUnavailable &&
          st.code() != StatusCode::kAlreadyExists) {
        store.reset();  // as for a batch: a fresh connection next
      }
      if (done) post_([done = std::move(done), st] { done(st); });
      lock.lock();
      continue;
    }
    if (!s->batch) {
      // Upkeep, after any batch: the floor and the outbox's deletions.
      Upkeep u = s->upkeep;
      s->upkeep = Upkeep{};
      s->upkeeping = true;
      lock.unlock();
      Upkeep failed;
      Status st = WriteUpkeep(store, u, &failed);
      if (!st.ok() && upkept_) {
        post_([upkept = upkept_, failed, st] { upkept(failed, st); });
      }
      lock.lock();
      s->upkeeping = false;
      s->cv.notify_all();
      continue;
    }
    std::vector<store::JournalEvent> batch = std::move(*s->batch);
    s->batch.reset();
    Done done = std::move(s->done);
    lock.unlock();
    Result<uint64_t> result = Status::Internal("journal writer: not written");
    try {
      if (Status opened = EnsureOpen(store); !opened.ok()) {
        result = opened;
      } else {
        result = store->Append(batch);
        // A connection that failed to write may hold a stale view (a full disk, a remount): the
        // next batch opens a fresh one.
        if (!result.ok() && result.status().code() != StatusCode::kUnavailable) store.reset();
      }
    } catch (const std::exception& e) {
      LogError("core", std::string("journal writer: a write threw: ") + e.what());
      result = Status::Internal(std::string("journal write threw: ") + e.what());
      store.reset();
    } catch (...) {
      LogError("core", "journal writer: a write threw");
      result = Status::Internal("journal write threw");
      store.reset();
    }
    lock.lock();
    s->outcome = std::move(result);
    s->cv.notify_all();
    lock.unlock();
    // The task finds the outcome taken when WaitIdle came first, and then does nothing.
    post_([s, done = std::move(done)] {
      std::optional<Result<uint64_t>> out;
      {
        MutexLock l(s->mu);
        out = s->Take();
      }
      if (out) done(std::move(*out));
    });
    lock.lock();
  }
}

}  // namespace lintel::core
