#include "drivers/intercom/command_worker.h"

#include <exception>

#include "gateway/base/log.h"

namespace lintel::intercom::internal {

CommandWorker::CommandWorker(std::string panel_id, std::unique_ptr<HttpSeam> seam,
                             const Clock& clock, size_t max_queue,
                             std::chrono::milliseconds max_age,
                             std::function<void(const CommandResult&)> on_result,
                             std::function<void(bool)> on_done)
    : panel_id_(std::move(panel_id)),
      seam_(std::move(seam)),
      clock_(clock),
      max_queue_(max_queue),
      max_age_(max_age),
      on_result_(std::move(on_result)),
      on_done_(std::move(on_done)) {}

CommandWorker::~CommandWorker() { Stop(); }

int64_t CommandWorker::NowNs() const { return clock_.Monotonic().time_since_epoch().count(); }

void CommandWorker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void CommandWorker::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  seam_->Abort();  // a request in flight returns now (Unavailable "aborted")
  if (thread_.joinable()) thread_.join();
  std::deque<Pending> left;
  {
    MutexLock lock(mu_);
    left.swap(queue_);
  }
  for (const Pending& p : left) {
    Report(p, Status::Unavailable("panel '" + panel_id_ + "': output " + std::to_string(p.output) +
                                  ": not sent: the panel driver stopped"));
  }
}

Result<uint64_t> CommandWorker::Submit(int output, Job job) {
  uint64_t id = 0;
  {
    MutexLock lock(mu_);
    if (stop_) return Status::FailedPrecondition("panel '" + panel_id_ + "': driver stopped");
    if (queue_.size() >= max_queue_) {
      return Status::Unavailable("panel '" + panel_id_ + "': " + std::to_string(max_queue_) +
                                 " commands already waiting");
    }
    id = next_id_++;
    queue_.push_back({id, output, NowNs(), std::move(job)});
  }
  cv_.notify_all();
  return id;
}

void CommandWorker::Report(const Pending& p, Status status) {
  // The thread boundary: a throwing callback must not end the process.
  try {
    if (on_done_) on_done_(status.ok());
    if (on_result_) on_result_(CommandResult{p.id, p.output, std::move(status)});
  } catch (const std::exception& e) {
    LogError("intercom", "panel '" + panel_id_ + "': command callback threw: " + e.what());
  } catch (...) {
    LogError("intercom", "panel '" + panel_id_ + "': command callback threw");
  }
}

void CommandWorker::Run() {
  while (true) {
    Pending p;
    {
      MutexLock lock(mu_);
      cv_.wait(lock, [this]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
      if (stop_) return;
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    const int64_t waited_ns = NowNs() - p.queued_ns;
    if (waited_ns > std::chrono::nanoseconds(max_age_).count()) {
      Report(p, Status::Unavailable(
                    "panel '" + panel_id_ + "': output " + std::to_string(p.output) +
                    ": not sent: waited " + std::to_string(waited_ns / 1'000'000) +
                    " ms, over the limit of " + std::to_string(max_age_.count()) + " ms"));
      continue;
    }
    Status st;
    try {
      st = p.job(*seam_);
    } catch (const std::exception& e) {
      st = Status::Internal("panel '" + panel_id_ +
                            "': exception in the command thread: " + e.what());
    } catch (...) {
      st = Status::Internal("panel '" + panel_id_ + "': unknown exception in the command thread");
    }
    Report(p, std::move(st));
  }
}

}  // namespace lintel::intercom::internal
