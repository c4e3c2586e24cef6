#include "gateway/store/load_index.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace lintel::store {
namespace {

// Rows travel from the reading thread to the building thread in batches.
struct Batch {
  std::vector<rules::Schedule> schedules;
  std::vector<rules::Group> groups;
  std::vector<rules::Person> people;
  std::vector<rules::Lease> leases;
  std::vector<rules::Credential> credentials;
  std::vector<rules::DoorMode> door_modes;
  size_t size() const {
    return schedules.size() + groups.size() + people.size() + leases.size() + credentials.size() +
           door_modes.size();
  }
};

// A bounded single-producer single-consumer queue of batches.
class BatchQueue {
 public:
  void Push(Batch b) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return queue_.size() < kMaxQueued; });
    queue_.push_back(std::move(b));
    not_empty_.notify_one();
  }
  void Finish(Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    status_ = std::move(s);
    not_empty_.notify_one();
  }
  // False when the producer has finished and everything was taken.
  bool Pop(Batch* out) {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return !queue_.empty() || done_; });
    if (queue_.empty()) return false;
    *out = std::move(queue_.front());
    queue_.pop_front();
    not_full_.notify_one();
    return true;
  }
  Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  static constexpr size_t kMaxQueued = 8;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Batch> queue_;
  bool done_ = false;
  Status status_;
};

class BatchingVisitor final : public RecordVisitor {
 public:
  explicit BatchingVisitor(BatchQueue& q) : q_(q) {}
  void OnSchedule(const rules::Schedule& x) override { Add(batch_.schedules, x); }
  void OnGroup(const rules::Group& x) override { Add(batch_.groups, x); }
  void OnPerson(const rules::Person& x) override { Add(batch_.people, x); }
  void OnLease(const rules::Lease& x) override { Add(batch_.leases, x); }
  void OnCredential(const rules::Credential& x) override { Add(batch_.credentials, x); }
  void OnDoorMode(const rules::DoorMode& x) override { Add(batch_.door_modes, x); }
  void Flush() {
    if (batch_.size() > 0) q_.Push(std::exchange(batch_, Batch{}));
  }

 private:
  static constexpr size_t kBatchRows = 4096;
  template <typename R>
  void Add(std::vector<R>& v, const R& x) {
    v.push_back(x);
    if (++rows_ == kBatchRows) {
      rows_ = 0;
      Flush();
    }
  }
  BatchQueue& q_;
  Batch batch_;
  size_t rows_ = 0;
};

}  // namespace

Result<std::shared_ptr<const rules::Index>> LoadIndex(Store& store, const rules::Site& site,
                                                      std::vector<std::string>* warnings) {
  // Reading and decoding rows (SQLite) and adding them to the index overlap: one thread reads,
  // this one builds. The store is used by the reading thread alone until it has finished.
  BatchQueue queue;
  std::thread reader([&] {
    BatchingVisitor visitor(queue);
    Status s = store.LoadState(visitor);
    if (s.ok()) visitor.Flush();
    queue.Finish(std::move(s));
  });
  rules::IndexBuilder builder(site);
  Batch b;
  while (queue.Pop(&b)) {
    for (const auto& x : b.schedules) builder.Add(x);
    for (const auto& x : b.groups) builder.Add(x);
    for (const auto& x : b.people) builder.Add(x);
    for (const auto& x : b.leases) builder.Add(x);
    for (const auto& x : b.credentials) builder.Add(x);
    for (const auto& x : b.door_modes) builder.Add(x);
  }
  reader.join();
  LINTEL_RETURN_IF_ERROR(queue.status());
  return builder.Build(warnings);
}

}  // namespace lintel::store
