#include "gateway/base/thread_priority.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace lintel {
namespace {

id_t ThisThreadId() { return static_cast<id_t>(::syscall(SYS_gettid)); }

}  // namespace

int ThisThreadNice() {
  errno = 0;
  return ::getpriority(PRIO_PROCESS, ThisThreadId());
}

bool RunThisThreadWhenIdle() {
  sched_param param{};
  param.sched_priority = 0;
  return ::sched_setscheduler(static_cast<pid_t>(ThisThreadId()), SCHED_IDLE, &param) == 0;
}

int ThisThreadPolicy() { return ::sched_getscheduler(static_cast<pid_t>(ThisThreadId())); }

bool LowerThisThreadPriority(int by) {
  errno = 0;
  const int now = ::getpriority(PRIO_PROCESS, ThisThreadId());
  if (now == -1 && errno != 0) return false;
  return ::setpriority(PRIO_PROCESS, ThisThreadId(), std::min(19, now + by)) == 0;
}

}  // namespace lintel
