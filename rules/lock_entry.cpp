#include "rules/lock_entry.h"

#include <algorithm>
#include <utility>

namespace lintel::rules {
namespace {

int64_t FromOr(const std::optional<Instant>& t) { return t ? ToUnix(*t) : INT64_MIN; }
int64_t UntilOr(const std::optional<Instant>& t) { return t ? ToUnix(*t) : INT64_MAX; }

// ---- diff -------------------------------------------------------------------------------------

// Does the lock admit under `a` nothing it does not admit under `b`? (Sufficient, not necessary:
// compares window and schedule separately.)
bool AdmitsNoMoreThan(const LockEntry& a, const LockEntry& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == LockEntry::Kind::kKeypadCode ? a.code != b.code : a.key != b.key) return false;
  if (FromOr(a.from) < FromOr(b.from) || UntilOr(a.until) > UntilOr(b.until)) return false;
  uint8_t ad = a.weekdays == 0 ? 0x7f : a.weekdays, bd = b.weekdays == 0 ? 0x7f : b.weekdays;
  if ((ad & ~bd) != 0) return false;
  auto span = [](const LockEntry& e) {
    return e.from_min == 0 && e.until_min == 0 ? std::make_pair(0, 1440)
                                               : std::make_pair(+e.from_min, +e.until_min);
  };
  auto [af, au] = span(a);
  auto [bf, bu] = span(b);
  return af >= bf && au <= bu;
}

void PutU64(uint64_t* h, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    *h = (*h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ULL;
  }
}
void PutStr(uint64_t* h, std::string_view s) {
  PutU64(h, s.size(), 4);
  for (unsigned char c : s) *h = (*h ^ c) * 1099511628211ULL;
}

}  // namespace

uint8_t LockWeekdays(uint8_t model_days) {
  if ((model_days & 0x7f) == 0x7f) return 0;
  uint8_t out = 0;
  for (unsigned d = 0; d < 7; ++d) {
    if (model_days >> d & 1) out |= static_cast<uint8_t>(1u << (6 - d));
  }
  return out;
}

bool SameOnLock(const LockEntry& a, const LockEntry& b) {
  return a.kind == b.kind && a.name == b.name && a.code == b.code && a.key == b.key &&
         a.from == b.from && a.until == b.until && a.weekdays == b.weekdays &&
         a.from_min == b.from_min && a.until_min == b.until_min;
}

uint64_t Fingerprint(const LockEntry& e) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64 over a fixed little-endian layout
  PutU64(&h, static_cast<uint64_t>(e.kind), 1);
  PutStr(&h, e.name);
  PutU64(&h, e.code, 4);
  PutStr(&h, e.key);
  PutU64(&h, e.from.has_value(), 1);
  PutU64(&h, static_cast<uint64_t>(FromOr(e.from)), 8);
  PutU64(&h, e.until.has_value(), 1);
  PutU64(&h, static_cast<uint64_t>(UntilOr(e.until)), 8);
  PutU64(&h, e.weekdays, 1);
  PutU64(&h, e.from_min, 2);
  PutU64(&h, e.until_min, 2);
  return h;
}

bool LockAdmits(const LockEntry& e, Instant t, const LocalTime& local) {
  if (e.from && t < *e.from) return false;
  if (e.until && t >= *e.until) return false;
  if (e.weekdays != 0 && !(e.weekdays >> (6 - local.weekday) & 1)) return false;
  if (e.from_min == 0 && e.until_min == 0) return true;
  return e.from_min <= local.minute && local.minute < e.until_min;
}

std::string_view LockOpKindName(LockOp::Kind k) {
  switch (k) {
    case LockOp::Kind::kRemove:
      return "remove";
    case LockOp::Kind::kUpdate:
      return "update";
    case LockOp::Kind::kAdd:
      return "add";
  }
  return "unknown";
}

std::vector<LockOp> DiffLockEntries(std::span<const LockEntry> desired,
                                    std::span<const LockEntry> actual) {
  auto by_id = [](const LockEntry* a, const LockEntry* b) { return a->credential < b->credential; };
  std::vector<const LockEntry*> want, have;
  for (const LockEntry& e : desired) want.push_back(&e);
  for (const LockEntry& e : actual) have.push_back(&e);
  std::stable_sort(want.begin(), want.end(), by_id);
  std::stable_sort(have.begin(), have.end(), by_id);

  std::vector<LockOp> removes, restricting, widening, adds;
  size_t i = 0, j = 0;
  while (i < want.size() || j < have.size()) {
    if (j == have.size() || (i < want.size() && want[i]->credential < have[j]->credential)) {
      adds.push_back({LockOp::Kind::kAdd, false, *want[i++]});
      continue;
    }
    // The lock's entries for this credential id: have[j, k).
    size_t k = j;
    while (k < have.size() && have[k]->credential == have[j]->credential) ++k;
    const LockEntry* target =
        i < want.size() && want[i]->credential == have[j]->credential ? want[i++] : nullptr;
    size_t keep = j;  // matched against the target; the rest of the run is removed
    if (target) {
      for (size_t m = j; m < k; ++m) {
        if (SameOnLock(*have[m], *target)) {
          keep = m;
          break;
        }
      }
    }
    for (size_t m = j; m < k; ++m) {
      if (!target || m != keep) removes.push_back({LockOp::Kind::kRemove, true, *have[m]});
    }
    if (target && !SameOnLock(*have[keep], *target)) {
      const LockEntry& old = *have[keep];
      bool replace = old.kind != target->kind ||
                     (old.kind == LockEntry::Kind::kAuthorization && old.key != target->key);
      if (replace) {
        removes.push_back({LockOp::Kind::kRemove, true, old});
        adds.push_back({LockOp::Kind::kAdd, false, *target});
      } else if (AdmitsNoMoreThan(old, *target)) {
        widening.push_back({LockOp::Kind::kUpdate, false, *target});
      } else {
        restricting.push_back({LockOp::Kind::kUpdate, true, *target});
      }
    }
    j = k;
  }
  auto by_cred = [](const LockOp& a, const LockOp& b) {
    return a.entry.credential < b.entry.credential;
  };
  std::stable_sort(removes.begin(), removes.end(), by_cred);
  std::vector<LockOp> out = std::move(removes);
  for (auto* part : {&restricting, &widening, &adds}) {
    out.insert(out.end(), std::make_move_iterator(part->begin()),
               std::make_move_iterator(part->end()));
  }
  return out;
}

}  // namespace lintel::rules
