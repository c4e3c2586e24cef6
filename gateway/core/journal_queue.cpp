#include "gateway/core/journal_queue.h"

#include <algorithm>

namespace lintel::core {

bool JournalQueue::IsAccess(const store::JournalEvent& e) {
  return e.type == "access.granted" || e.type == "access.denied";
}

void JournalQueue::Push(store::JournalEvent event) {
  while (size() >= max_) DropOne();
  Item item{next_order_++, std::move(event)};
  if (IsAccess(item.event)) {
    access_.push_back(std::move(item));
  } else {
    other_.push_back(std::move(item));
  }
}

void JournalQueue::SetMax(size_t max) {
  max_ = max < 1 ? 1 : max;
  while (size() > max_) DropOne();
}

void JournalQueue::DropOne() {
  std::deque<Item>& from = other_.empty() ? access_ : other_;
  if (from.empty()) return;
  const store::JournalEvent& e = from.front().event;
  if (lost_.total() == 0 || e.ts < lost_.first) lost_.first = e.ts;
  if (lost_.total() == 0 || e.ts > lost_.last) lost_.last = e.ts;
  if (&from == &access_) {
    ++lost_.access;
  } else {
    ++lost_.other;
  }
  ++lost_total_;
  from.pop_front();
}

std::deque<JournalQueue::Item>& JournalQueue::Oldest() {
  if (access_.empty()) return other_;
  if (other_.empty()) return access_;
  return access_.front().order < other_.front().order ? access_ : other_;
}

std::vector<store::JournalEvent> JournalQueue::Front(size_t n) const {
  std::vector<store::JournalEvent> out;
  out.reserve(std::min(n, size()));
  size_t a = 0, o = 0;
  while (out.size() < n && (a < access_.size() || o < other_.size())) {
    bool take_access =
        o >= other_.size() || (a < access_.size() && access_[a].order < other_[o].order);
    out.push_back(take_access ? access_[a++].event : other_[o++].event);
  }
  return out;
}

void JournalQueue::PopFront(size_t n) {
  for (size_t i = 0; i < n && !empty(); ++i) Oldest().pop_front();
}

void JournalQueue::PutBack(std::vector<store::JournalEvent> events, const Lost& lost) {
  if (lost.total() > 0) {
    if (lost_.total() == 0 || lost.first < lost_.first) lost_.first = lost.first;
    if (lost_.total() == 0 || lost.last > lost_.last) lost_.last = lost.last;
    lost_.access += lost.access;
    lost_.other += lost.other;
  }
  std::vector<store::JournalEvent> held = Front(size());
  access_.clear();
  other_.clear();
  for (store::JournalEvent& e : events) Push(std::move(e));
  for (store::JournalEvent& e : held) Push(std::move(e));
}

JournalQueue::Lost JournalQueue::TakeLost() {
  Lost out = lost_;
  lost_ = Lost{};
  return out;
}

}  // namespace lintel::core
