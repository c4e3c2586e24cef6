#include "gateway/cloud/sync_rules.h"

namespace lintel::cloud {
namespace {

std::string Pos(const Position& p) {
  return "(" + std::to_string(p.epoch) + ", " + std::to_string(p.version) + ")";
}

template <typename T>
void Append(std::vector<T>& to, std::vector<T>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

HeadVerdict JudgeHead(const Position& applied, const Head& head) {
  using A = HeadVerdict::Action;
  Position at{head.epoch, head.version};
  if (at == applied) return {A::kNothing, "in sync at " + Pos(at)};
  if (at < applied) {
    return {A::kStale, "head " + Pos(at) + " is behind the applied position " + Pos(applied)};
  }
  if (applied == Position{} || head.epoch != applied.epoch) {
    return {A::kRequestSnapshot, applied == Position{} ? "nothing applied yet, head at " + Pos(at)
                                                       : "new epoch " + std::to_string(head.epoch) +
                                                             " (applied " + Pos(applied) + ")"};
  }
  return {A::kRequestDeltas, "head " + Pos(at) + " is ahead of " + Pos(applied)};
}

DeltaVerdict JudgeDelta(const Position& applied, const Delta& delta) {
  using A = DeltaVerdict::Action;
  Position at{delta.epoch, delta.version};
  if (at <= applied) {
    return {A::kDuplicate,
            "delta " + Pos(at) + " is at or below the applied position " + Pos(applied)};
  }
  if (delta.epoch != applied.epoch || applied == Position{}) {
    return {A::kRequestSnapshot, "delta of epoch " + std::to_string(delta.epoch) + " but applied " +
                                     Pos(applied) + ": a new epoch starts with a snapshot"};
  }
  if (delta.prev != applied.version) {
    return {A::kGap, "delta " + std::to_string(delta.version) + " follows " +
                         std::to_string(delta.prev) + " but applied is " +
                         std::to_string(applied.version)};
  }
  return {A::kApply, "delta " + Pos(at) + " follows the applied position"};
}

Status SnapshotStager::Add(const Position& applied, SnapshotPage page, bool accept_equal) {
  Position at{page.epoch, page.version};
  if (at < applied || (at == applied && !accept_equal)) {
    return Status::FailedPrecondition("snapshot " + page.snapshot_id + " at " + Pos(at) +
                                      " is not newer than the applied position " + Pos(applied));
  }
  if (page.pages == 0 || page.page == 0 || page.page > page.pages) {
    return Status::InvalidArgument("snapshot " + page.snapshot_id + ": page " +
                                   std::to_string(page.page) + " of " + std::to_string(page.pages));
  }
  if (pages_ > 0 && page.snapshot_id != snapshot_id_) {
    if (at < position_) {
      return Status::FailedPrecondition("snapshot " + page.snapshot_id + " at " + Pos(at) +
                                        " is older than snapshot " + snapshot_id_ +
                                        " being staged at " + Pos(position_));
    }
    Clear();  // a newer (or equally positioned, re-issued) snapshot replaces the staged one
  }
  if (pages_ > 0 && (at != position_ || page.pages != pages_)) {
    return Status::InvalidArgument("snapshot " + page.snapshot_id + ": page " +
                                   std::to_string(page.page) +
                                   " contradicts the staged pages (position or page count)");
  }
  snapshot_id_ = page.snapshot_id;
  position_ = at;
  pages_ = page.pages;
  if (page.page <= handed_) return Status::Ok();  // a repeat of a page already handed on
  const uint64_t n = page.page;
  staged_.insert_or_assign(n, std::move(page));  // a repeated page replaces itself
  return Status::Ok();
}

bool SnapshotStager::complete() const { return pages_ > 0 && handed_ + staged_.size() == pages_; }

std::optional<Position> SnapshotStager::position() const {
  if (pages_ == 0) return std::nullopt;
  return position_;
}

std::vector<SnapshotPage> SnapshotStager::TakeReady() {
  std::vector<SnapshotPage> ready;
  for (auto it = staged_.begin(); it != staged_.end() && it->first == handed_ + 1;) {
    ready.push_back(std::move(it->second));
    it = staged_.erase(it);
    ++handed_;
  }
  return ready;
}

rules::Records SnapshotStager::TakeRecords() { return MergePages(TakePages()); }

std::vector<rules::Records> SnapshotStager::TakePages() {
  std::vector<rules::Records> pages;
  pages.reserve(staged_.size());
  for (auto& [n, p] : staged_) pages.push_back(std::move(p.records));
  Clear();
  return pages;
}

rules::Records MergePages(std::vector<rules::Records> pages) {
  rules::Records all;
  size_t n[6] = {};
  for (const rules::Records& r : pages) {
    n[0] += r.schedules.size();
    n[1] += r.groups.size();
    n[2] += r.people.size();
    n[3] += r.leases.size();
    n[4] += r.credentials.size();
    n[5] += r.door_modes.size();
  }
  all.schedules.reserve(n[0]);
  all.groups.reserve(n[1]);
  all.people.reserve(n[2]);
  all.leases.reserve(n[3]);
  all.credentials.reserve(n[4]);
  all.door_modes.reserve(n[5]);
  for (rules::Records& r : pages) {
    Append(all.schedules, r.schedules);
    Append(all.groups, r.groups);
    Append(all.people, r.people);
    Append(all.leases, r.leases);
    Append(all.credentials, r.credentials);
    Append(all.door_modes, r.door_modes);
    r = {};  // this page's moved-from elements and buffers go now
  }
  return all;
}

void SnapshotStager::Clear() {
  staged_.clear();
  snapshot_id_.clear();
  position_ = {};
  pages_ = 0;
  handed_ = 0;
}

}  // namespace lintel::cloud
