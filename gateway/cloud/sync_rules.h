// The contract's sync rules as pure decisions (shared/contract/cloud-mqtt.md, "Sync rules"): what a
// verified head, delta or snapshot page means against the applied position. No I/O, no clock of its
// own; the sync state machine (next) carries out the verdicts: applies, acknowledges, requests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gateway/base/position.h"
#include "gateway/base/status.h"
#include "gateway/cloud/messages.h"

namespace lintel::cloud {

// What to do with a head.
struct HeadVerdict {
  enum class Action : uint8_t {
    kNothing,          // the head is at the applied position: in sync
    kRequestDeltas,    // same epoch, ahead: `sync/request` deltas from the applied position
    kRequestSnapshot,  // a newer epoch (which starts with a snapshot) or nothing applied yet
    kStale,            // behind the applied position: a replayed or rolled-back head; ignore
  };
  Action action = Action::kNothing;
  std::string reason;  // for the log and, with kRequestSnapshot, the request's "reason"
};
HeadVerdict JudgeHead(const Position& applied, const Head& head);

// What to do with a delta (rule 2: it applies only if (epoch, prev) equals the applied position).
struct DeltaVerdict {
  enum class Action : uint8_t {
    kApply,            // apply in one transaction, then `sync/ack` "applied"
    kDuplicate,        // at or below the applied position: drop silently (replay protection)
    kGap,              // same epoch, a hole: `sync/ack` "gap" + request deltas from `applied`
    kRequestSnapshot,  // a newer epoch starts with a snapshot, never with a delta
  };
  Action action = Action::kDuplicate;
  std::string reason;
};
DeltaVerdict JudgeDelta(const Position& applied, const Delta& delta);

// Collects the pages of one snapshot (rule 4). Pages of a snapshot at or below the applied position
// are refused; a page of a newer snapshot (by position) discards the pages staged so far; pages of
// an older snapshot than the one being staged are refused. Pages may be handed on as soon as every
// page before them is in (TakeReady: the state worker stages them in the store as they come,
// issue 13, point 5); complete() once every page 1..pages of one snapshot_id is in.
// Single-threaded.
class SnapshotStager {
 public:
  // OK when the page was staged (or was a harmless repeat of a staged or handed-on page). Errors:
  // FailedPrecondition for a stale page (reason in the message), InvalidArgument for a page that
  // contradicts the staged ones (same snapshot_id, other position or page count).
  // `accept_equal`: a snapshot at exactly the applied position is staged too (the gateway asked
  // for one to repair its state: a resync); one below it never is.
  Status Add(const Position& applied, SnapshotPage page, bool accept_equal = false);
  // Every page is in (staged here or handed on).
  bool complete() const;
  // The staged snapshot's position and id (when any page of it is in).
  std::optional<Position> position() const;
  const std::string& snapshot_id() const { return snapshot_id_; }
  // Moves out the pages that follow the ones handed on so far, in page order (none while the next
  // one is missing). O(pages).
  std::vector<SnapshotPage> TakeReady();
  // Moves the merged records out and clears the stage; requires complete() and nothing handed
  // on. Costs a pass over every record: at 2,000,000 credentials, seconds.
  rules::Records TakeRecords();
  // Moves the pages out in page order and clears the stage; requires complete() and nothing
  // handed on. O(pages): the records are not touched (MergePages joins them).
  std::vector<rules::Records> TakePages();
  void Clear();

 private:
  std::string snapshot_id_;
  Position position_;
  uint64_t pages_ = 0;                       // 0: nothing staged
  uint64_t handed_ = 0;                      // pages 1..handed_ were taken by TakeReady
  std::map<uint64_t, SnapshotPage> staged_;  // by page number, each > handed_
};

// The records of `pages` in order (each kind: page 1's, then page 2's, ...), as one Records. Each
// page is freed as soon as it is moved, so the peak is the whole state plus one page.
rules::Records MergePages(std::vector<rules::Records> pages);

}  // namespace lintel::cloud
