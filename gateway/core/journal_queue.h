// JournalQueue: the journal events the core has made but not yet written to the store, in the
// order they were made, bounded. Normally it holds the one or few events of the current decision
// or command; while the store cannot be written (a full or read-only disk) it holds everything
// made since, up to `max` events. Past that an event must be dropped, deliberately:
//
//   access decisions (type "access.granted" / "access.denied", the audit trail of who was let in
//   or refused) are kept ahead of every other event: a new event drops the oldest non-access event
//   held; only when every held event is an access decision is the oldest access decision dropped.
//
// Every drop is counted (Lost) until TakeLost(), so the core journals `events.lost` with the
// count once the store can be written again. Pure: no I/O, no clock. One thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "gateway/base/time.h"
#include "gateway/store/store.h"

namespace lintel::core {

class JournalQueue {
 public:
  // What was dropped since the last TakeLost().
  struct Lost {
    uint64_t access = 0;  // access decisions dropped
    uint64_t other = 0;   // other events dropped
    Instant first{};      // ts of the oldest and newest dropped event (when any)
    Instant last{};
    uint64_t total() const { return access + other; }
  };

  // `max` >= 1.
  explicit JournalQueue(size_t max) : max_(max < 1 ? 1 : max) {}

  // Appends `event` (its seq is ignored); when the queue already holds max() events, first drops
  // one as the class comment says.
  void Push(store::JournalEvent event);
  size_t size() const { return access_.size() + other_.size(); }
  bool empty() const { return access_.empty() && other_.empty(); }
  size_t max() const { return max_; }
  // A new bound; when below size(), the excess is dropped at once by the same rule.
  void SetMax(size_t max);

  // Copies of the oldest `n` (or fewer) events, in the order they were pushed.
  std::vector<store::JournalEvent> Front(size_t n) const;
  // Removes the oldest `n` events (those Front(n) returned).
  void PopFront(size_t n);

  const Lost& lost() const { return lost_; }
  // Every event dropped since start (not reset by TakeLost).
  uint64_t lost_total() const { return lost_total_; }
  // Returns what was dropped since the last call, and resets it.
  Lost TakeLost();
  // A write taken out with Front/PopFront (and TakeLost) failed: `events` go back ahead of every
  // event held, in their order, and `lost` is counted again (not in lost_total(): those drops were
  // counted once). The bound applies as for Push.
  void PutBack(std::vector<store::JournalEvent> events, const Lost& lost);

 private:
  struct Item {
    uint64_t order;
    store::JournalEvent event;
  };
  static bool IsAccess(const store::JournalEvent& e);
  void DropOne();
  // The deque holding the oldest item; both non-empty or one of them.
  std::deque<Item>& Oldest();

  size_t max_;
  uint64_t next_order_ = 0;
  std::deque<Item> access_;
  std::deque<Item> other_;
  Lost lost_;
  uint64_t lost_total_ = 0;
};

}  // namespace lintel::core
