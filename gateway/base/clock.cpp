#include "gateway/base/clock.h"

#include <sys/timex.h>

namespace lintel {

bool SystemClock::Synchronized() const {
  struct timex tx = {};
  int state = adjtimex(&tx);
  return state != TIME_ERROR && !(tx.status & STA_UNSYNC);
}

}  // namespace lintel
