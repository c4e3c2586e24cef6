#include "gateway/devices/ble_worker.h"

#include <exception>
#include <utility>

#include "gateway/base/thread_priority.h"

namespace lintel::devices {

BleWorker::BleWorker(std::string adapter, MakeGattLink make_link, size_t max_queued,
                     std::function<void(const std::string& what)> on_exception)
    : adapter_(std::move(adapter)),
      make_link_(std::move(make_link)),
      max_queued_(max_queued == 0 ? 1 : max_queued),
      on_exception_(std::move(on_exception)) {
  thread_ = std::thread([this] { Main(); });
}

BleWorker::~BleWorker() {
  {
    MutexLock lock(mu_);
    stop_ = true;
    urgent_.clear();
    normal_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (link_) {
    link_->Disconnect();
    link_.reset();
  }
}

bool BleWorker::Enqueue(BleJob job, bool urgent) {
  {
    MutexLock lock(mu_);
    std::deque<BleJob>& lane = urgent ? urgent_ : normal_;
    const size_t waiting = urgent ? urgent_.size() : urgent_.size() + normal_.size();
    if (!stop_ && waiting < max_queued_) {
      lane.push_back(std::move(job));
      cv_.notify_one();
      return true;
    }
  }
  if (job.abandon) {
    job.abandon(Status::Unavailable("the BLE queue of adapter " + adapter_ + " is full (" +
                                    std::to_string(max_queued_) + " jobs waiting)"));
  }
  return false;
}

size_t BleWorker::queued() const {
  MutexLock lock(mu_);
  return urgent_.size() + normal_.size();
}

ble::GattLink* BleWorker::Link(Status* error) {
  if (link_) return link_.get();
  if (!make_link_) {
    *error = Status::Unavailable("no BLE transport for adapter " + adapter_);
    return nullptr;
  }
  Result<std::unique_ptr<ble::GattLink>> made = make_link_(adapter_);
  if (!made.ok()) {
    *error = made.status();
    return nullptr;
  }
  link_ = std::move(*made);
  return link_.get();
}

void BleWorker::RunJob(BleJob& job) {
  try {
    Status error;
    ble::GattLink* link = Link(&error);
    if (job.run) job.run(link, error);
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (on_exception_) on_exception_(what);
    if (job.abandon) job.abandon(Status::Internal("internal error: " + what));
  } catch (...) {
    if (on_exception_) on_exception_("unknown exception");
    if (job.abandon) job.abandon(Status::Internal("internal error: unknown exception"));
  }
}

size_t BleWorker::RunUrgent() {
  if (in_urgent_) return 0;
  in_urgent_ = true;
  size_t ran = 0;
  for (;;) {
    BleJob job;
    {
      MutexLock lock(mu_);
      if (stop_ || urgent_.empty()) break;
      job = std::move(urgent_.front());
      urgent_.pop_front();
    }
    RunJob(job);
    ++ran;
  }
  in_urgent_ = false;
  return ran;
}

void BleWorker::Main() {
  NameThisThread("ble");
  for (;;) {
    BleJob job;
    {
      MutexLock lock(mu_);
      cv_.wait(lock, [&]() REQUIRES(mu_) { return stop_ || !urgent_.empty() || !normal_.empty(); });
      if (stop_) return;
      std::deque<BleJob>& lane = urgent_.empty() ? normal_ : urgent_;
      job = std::move(lane.front());
      lane.pop_front();
    }
    RunJob(job);
  }
}

}  // namespace lintel::devices
