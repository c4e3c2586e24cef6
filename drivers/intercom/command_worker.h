// Internal to lintel_intercom_io (not part of its API): the command thread of a panel driver.
//
// A command (open a door) must not wait behind the event channel's long poll, so each panel has
// this second thread with its own HttpSeam (its own connection). Commands run in submission
// order; one that waited longer than `max_age` before its turn is not sent (a door opened a
// minute late is worse than not at all) and reported Unavailable.
//
// Threads: Submit() from any thread, never blocks on the network. Results are reported on the
// worker thread. Stop() from any thread but the worker's.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "drivers/intercom/http_seam.h"
#include "drivers/intercom/panel.h"
#include "gateway/base/clock.h"
#include "gateway/base/mutex.h"
#include "gateway/base/status.h"

namespace lintel::intercom::internal {

class CommandWorker {
 public:
  using Job = std::function<Status(HttpSeam& seam)>;

  // `on_result` may be empty; `on_done(ok)` (may be empty) runs before it, for the owner's
  // counters.
  CommandWorker(std::string panel_id, std::unique_ptr<HttpSeam> seam, const Clock& clock,
                size_t max_queue, std::chrono::milliseconds max_age,
                std::function<void(const CommandResult&)> on_result,
                std::function<void(bool ok)> on_done);
  ~CommandWorker();  // Stop()
  CommandWorker(const CommandWorker&) = delete;
  CommandWorker& operator=(const CommandWorker&) = delete;

  void Start();
  // Aborts the request in flight (its result is reported Unavailable "aborted"), drops the queue
  // (each reported Unavailable "not sent: the panel driver stopped"), joins. Idempotent.
  void Stop();

  // Queues `job` for output `output`. Errors: Unavailable when `max_queue` commands are waiting;
  // FailedPrecondition after Stop().
  Result<uint64_t> Submit(int output, Job job);

 private:
  struct Pending {
    uint64_t id;
    int output;
    int64_t queued_ns;
    Job job;
  };
  void Run();
  void Report(const Pending& p, Status status);
  int64_t NowNs() const;

  const std::string panel_id_;
  const std::unique_ptr<HttpSeam> seam_;
  const Clock& clock_;
  const size_t max_queue_;
  const std::chrono::milliseconds max_age_;
  const std::function<void(const CommandResult&)> on_result_;
  const std::function<void(bool)> on_done_;

  Mutex mu_;
  CondVar cv_;
  std::deque<Pending> queue_ GUARDED_BY(mu_);
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace lintel::intercom::internal
