// BleWorker: the one thread that talks to the BLE locks of one adapter (issue 11 point 2: "one
// operation at a time per adapter", "never on the core loop"). It owns the adapter's GattLink and
// runs jobs one after the other from a bounded queue with two lanes: urgent jobs (unlocks) go
// before every normal job (state reads, syncs, pairing, disconnects), and a running job may let
// urgent ones in between its steps (RunUrgent), so an unlock never waits for a long sync.
//
// The link comes from the injected factory (BluezGattLink in the daemon, an in-process link to the
// simulated lock in tests), made on the worker thread the first time a job needs it; when the
// factory fails, the job is told the error and the next job asks the factory again.
//
// Jobs never touch the core: they post their results to the core loop themselves (EventLoop::Post,
// BleLocks does that). An exception thrown by a job is caught here: the job's `abandon` is called
// with Internal "internal error: <what>" and `on_exception` is told (logged and shown by the
// owner); the worker carries on with the next job.
//
// Threads: Enqueue, queued() and the destructor from any one owner thread (the core loop);
// RunUrgent only from inside a running job (the worker thread).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "drivers/ble/gatt_link.h"
#include "gateway/base/mutex.h"
#include "gateway/base/status.h"

namespace lintel::devices {

// Makes the GattLink of an adapter ("hci0"). Called on that adapter's worker thread.
using MakeGattLink =
    std::function<Result<std::unique_ptr<ble::GattLink>>(const std::string& adapter)>;

struct BleJob {
  // Runs on the worker thread. `link` is null when the factory failed; `link_error` says why.
  std::function<void(ble::GattLink* link, const Status& link_error)> run;
  // Called instead of (or after a throwing) `run` when the job cannot run: Unavailable when the
  // queue was full at Enqueue (called on the caller's thread, before Enqueue returns), Internal
  // when `run` threw (on the worker thread). May be null. Never called for jobs dropped because
  // the worker is being destroyed.
  std::function<void(const Status&)> abandon;
};

class BleWorker {
 public:
  // Starts the thread. `on_exception(what)` is called on the worker thread when a job throws.
  BleWorker(std::string adapter, MakeGattLink make_link, size_t max_queued,
            std::function<void(const std::string& what)> on_exception);
  // Stops after the running job (queued jobs are dropped without a call), joins the thread, then
  // disconnects and destroys the link.
  ~BleWorker();
  BleWorker(const BleWorker&) = delete;
  BleWorker& operator=(const BleWorker&) = delete;

  // Queues `job`; urgent jobs run before normal ones (first in, first out within a lane). When
  // `max_queued` jobs are waiting, a normal job is refused (abandon(Unavailable), false); an urgent
  // one is refused only when that many urgent jobs are waiting.
  bool Enqueue(BleJob job, bool urgent);

  // From inside a running job: runs the urgent jobs waiting now, on this thread, with the same
  // link. Returns how many ran.
  size_t RunUrgent();

  size_t queued() const;
  const std::string& adapter() const { return adapter_; }

 private:
  void Main();
  void RunJob(BleJob& job);
  ble::GattLink* Link(Status* error);

  const std::string adapter_;
  MakeGattLink make_link_;
  const size_t max_queued_;
  std::function<void(const std::string&)> on_exception_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<BleJob> urgent_ GUARDED_BY(mu_);
  std::deque<BleJob> normal_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::unique_ptr<ble::GattLink> link_;  // worker thread only
  bool in_urgent_ = false;               // worker thread only: RunUrgent is not re-entered
  std::thread thread_;
};

}  // namespace lintel::devices
