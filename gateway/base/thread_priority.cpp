#include "gateway/base/thread_priority.h"

#include <sys/prctl.h>
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

void NameThisThread(const char* name) {
  (void)::prctl(PR_SET_NAME, reinterpret_cast<unsigned long>(name), 0, 0, 0);
}

bool LowerThisThreadPriority(int by) {
  errno = 0;
  const int now = ::getpriority(PRIO_PROCESS, ThisThreadId());
  if (now == -1 && errno != 0) return false;
  return ::setpriority(PRIO_PROCESS, ThisThreadId(), std::min(19, now + by)) == 0;
}

}  // namespace lintel
