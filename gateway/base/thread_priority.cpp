#include "gateway/base/thread_priority.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace lintel {
namespace {

id_t ThisThreadId() { return static_cast<id_t>(::syscall(SYS_gettid)); }

// The kernel's struct sched_attr as of Linux 3.14 (SCHED_ATTR_SIZE_VER0, 48 bytes); glibc 2.36 has
// no wrapper for sched_getattr/sched_setattr.
struct SchedAttr {
  uint32_t size = sizeof(SchedAttr);
  uint32_t sched_policy = 0;
  uint64_t sched_flags = 0;
  int32_t sched_nice = 0;
  uint32_t sched_priority = 0;
  uint64_t sched_runtime = 0;  // for SCHED_OTHER since Linux 6.12: the slice asked for (0: default)
  uint64_t sched_deadline = 0;
  uint64_t sched_period = 0;
};
static_assert(sizeof(SchedAttr) == 48);

bool GetAttr(int tid, SchedAttr& a) {
  return ::syscall(SYS_sched_getattr, tid, &a, sizeof a, 0) == 0;
}

// Sets the calling thread's nice value and slice (0: the kernel's default), its policy kept. Only
// for SCHED_OTHER and SCHED_BATCH (a real-time policy set by an installer stays as it is): false
// otherwise, or when refused.
bool SetFair(int nice, uint64_t slice_ns) {
  SchedAttr a;
  if (!GetAttr(0, a) || (a.sched_policy != SCHED_OTHER && a.sched_policy != SCHED_BATCH)) {
    return false;
  }
  SchedAttr want;
  want.sched_policy = a.sched_policy;
  want.sched_nice = nice;
  want.sched_runtime = slice_ns;
  return ::syscall(SYS_sched_setattr, 0, &want, 0) == 0;
}

constexpr uint64_t kShortSliceNs =
    std::chrono::duration_cast<std::chrono::nanoseconds>(kShortSlice).count();

}  // namespace

bool UseShortSlicesOnThisThread() {
  errno = 0;
  const int now = ::getpriority(PRIO_PROCESS, ThisThreadId());
  if (now == -1 && errno != 0) return false;
  return SetFair(now, kShortSliceNs);
}

uint64_t ThreadSliceNs(int tid) {
  SchedAttr a;
  return GetAttr(tid, a) ? a.sched_runtime : 0;
}

int ThisThreadNice() {
  errno = 0;
  return ::getpriority(PRIO_PROCESS, ThisThreadId());
}

void NameThisThread(const char* name) {
  (void)::prctl(PR_SET_NAME, reinterpret_cast<unsigned long>(name), 0, 0, 0);
}

bool LowerThisThreadPriority(int by, Slice slice) {
  errno = 0;
  const int now = ::getpriority(PRIO_PROCESS, ThisThreadId());
  if (now == -1 && errno != 0) return false;
  const int nice = std::min(19, now + by);
  if (SetFair(nice, slice == Slice::kShort ? kShortSliceNs : 0)) return true;
  return ::setpriority(PRIO_PROCESS, ThisThreadId(), nice) == 0;  // a real-time policy: nice only
}

}  // namespace lintel
