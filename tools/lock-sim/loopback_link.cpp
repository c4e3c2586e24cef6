#include "tools/lock-sim/loopback_link.h"

#include <cctype>

namespace lintel::locksim {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// 8-4-4-4-12 hex digits.
bool WellFormedUuid(std::string_view u) {
  if (u.size() != 36) return false;
  for (size_t i = 0; i < u.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !std::isxdigit(static_cast<unsigned char>(u[i]))) return false;
  }
  return true;
}

}  // namespace

LoopbackLink::LoopbackLink(LockPeer& lock, std::string address, size_t max_queued)
    : lock_(&lock), address_(Lower(address)), max_queued_(max_queued) {}

Status LoopbackLink::Connect(std::string_view address, std::chrono::milliseconds timeout) {
  MutexLock lock(mu_);
  if (connected_) return Status::Ok();
  if (!address_.empty() && Lower(address) != address_) {
    return Status::Unavailable("no lock at " + std::string(address) + " (this one is " + address_ +
                               ")");
  }
  if (!in_range_) {
    return ble::DeadlineExceeded("connecting to " + std::string(address) + ": out of range");
  }
  if (fail_connects_ > 0) {
    --fail_connects_;
    return ble::DeadlineExceeded("connecting to " + std::string(address) + " took more than " +
                                 std::to_string(timeout.count()) + " ms");
  }
  queues_.clear();
  connected_ = true;
  ++connects_;
  lock_->OnConnect();
  return Status::Ok();
}

Status LoopbackLink::Write(std::string_view characteristic_uuid, std::span<const uint8_t> value) {
  MutexLock lock(mu_);
  if (!WellFormedUuid(characteristic_uuid)) {
    return Status::InvalidArgument("malformed characteristic UUID \"" +
                                   std::string(characteristic_uuid) + "\"");
  }
  if (!connected_) return Status::Unavailable("not connected to the lock");
  if (value.size() > ble::kGattValueSize) {
    return Status::Unavailable("write of " + std::to_string(value.size()) +
                               " bytes refused: the characteristic takes at most 20");
  }
  ++writes_;
  Result<std::vector<Indication>> out = lock_->OnWrite(characteristic_uuid, value);
  if (!out.ok()) return Status::Unavailable(out.status().message());
  for (Indication& ind : *out) {
    std::deque<std::vector<uint8_t>>& q = queues_[ind.first];
    if (q.size() >= max_queued_) {
      ++dropped_;
      continue;
    }
    q.push_back(std::move(ind.second));
  }
  return Status::Ok();
}

Result<std::vector<uint8_t>> LoopbackLink::NextIndication(std::string_view characteristic_uuid,
                                                          std::chrono::milliseconds timeout) {
  MutexLock lock(mu_);
  if (!WellFormedUuid(characteristic_uuid)) {
    return Status::InvalidArgument("malformed characteristic UUID \"" +
                                   std::string(characteristic_uuid) + "\"");
  }
  auto it = queues_.find(Lower(characteristic_uuid));
  if (it == queues_.end() || it->second.empty()) {
    if (!connected_) return Status::Unavailable("not connected to the lock");
    return ble::DeadlineExceeded("no indication of " + std::string(characteristic_uuid) +
                                 " within " + std::to_string(timeout.count()) + " ms");
  }
  std::vector<uint8_t> value = std::move(it->second.front());
  it->second.pop_front();
  return value;
}

void LoopbackLink::DropConnection() {
  if (!connected_) return;
  connected_ = false;
  queues_.clear();
  lock_->OnDisconnect();
}

void LoopbackLink::Disconnect() {
  MutexLock lock(mu_);
  DropConnection();
}

bool LoopbackLink::connected() const {
  MutexLock lock(mu_);
  return connected_;
}

void LoopbackLink::SetInRange(bool in_range) {
  MutexLock lock(mu_);
  in_range_ = in_range;
  if (!in_range) DropConnection();
}

void LoopbackLink::FailNextConnects(int n) {
  MutexLock lock(mu_);
  fail_connects_ = n;
}

size_t LoopbackLink::writes() const {
  MutexLock lock(mu_);
  return writes_;
}

size_t LoopbackLink::connects() const {
  MutexLock lock(mu_);
  return connects_;
}

size_t LoopbackLink::dropped_indications() const {
  MutexLock lock(mu_);
  return dropped_;
}

size_t LoopbackLink::queued(std::string_view characteristic_uuid) const {
  MutexLock lock(mu_);
  auto it = queues_.find(Lower(characteristic_uuid));
  return it == queues_.end() ? 0 : it->second.size();
}

}  // namespace lintel::locksim
