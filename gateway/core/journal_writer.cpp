#include "gateway/core/journal_writer.h"

#include <exception>

#include "gateway/base/log.h"

namespace lintel::core {

std::optional<Result<uint64_t>> JournalWriter::Shared::Take() {
  if (!busy || !outcome) return std::nullopt;
  busy = false;
  std::optional<Result<uint64_t>> out = std::move(outcome);
  outcome.reset();
  return out;
}

JournalWriter::JournalWriter(std::string path, store::StoreOpener open, Poster post,
                             int busy_timeout_ms)
    : path_(std::move(path)),
      open_(open ? std::move(open) : store::DefaultStoreOpener()),
      post_(std::move(post)),
      busy_timeout_ms_(busy_timeout_ms) {
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

void JournalWriter::Run() {
  std::unique_ptr<store::Store> store;
  std::shared_ptr<Shared> s = s_;
  MutexLock lock(s->mu);
  while (true) {
    s->cv.wait(lock, [&]() REQUIRES(s->mu) { return s->stop || s->batch.has_value(); });
    if (!s->batch) return;  // stopping with nothing to write
    std::vector<store::JournalEvent> batch = std::move(*s->batch);
    s->batch.reset();
    Done done = std::move(s->done);
    lock.unlock();
    Result<uint64_t> result = Status::Internal("journal writer: not written");
    try {
      if (!store) {
        store::StoreOptions options;
        options.verify_on_open = false;
        options.busy_timeout_ms = busy_timeout_ms_;
        Result<std::unique_ptr<store::Store>> opened = open_(path_, options);
        if (opened.ok()) {
          store = std::move(*opened);
        } else {
          result = opened.status();
        }
      }
      if (store) {
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
    if (s->stop) return;
  }
}

}  // namespace lintel::core
