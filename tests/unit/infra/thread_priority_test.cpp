// LowerThisThreadPriority: the calling thread, and only it, runs nicer (Linux nice is per thread).
#include "gateway/base/thread_priority.h"

#include <gtest/gtest.h>

#include <thread>

namespace lintel {
namespace {

TEST(ThreadPriority, LowersOnlyTheCallingThreadAndStopsAtNineteen) {
  const int main_before = ThisThreadNice();
  int before = 0, after = 0, capped = 0;
  std::thread t([&] {
    before = ThisThreadNice();
    EXPECT_TRUE(LowerThisThreadPriority(3));
    after = ThisThreadNice();
    EXPECT_TRUE(LowerThisThreadPriority(40));
    capped = ThisThreadNice();
  });
  t.join();
  EXPECT_EQ(before, main_before) << "a new thread starts at its creator's nice value";
  EXPECT_EQ(after, std::min(19, before + 3));
  EXPECT_EQ(capped, 19);
  EXPECT_EQ(ThisThreadNice(), main_before) << "the other threads keep theirs";
}

}  // namespace
}  // namespace lintel
