// LowerThisThreadPriority: the calling thread, and only it, runs nicer (Linux nice is per thread);
// short slices for the threads on the doors' and the cloud's paths.
#include "gateway/base/thread_priority.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
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

// Slices (Linux 6.12+): a thread asks for kShortSlice, its nice value unchanged; the threads it
// starts inherit it; bulk work gives it back when it lowers its priority, the cloud path keeps it.
TEST(ThreadPriority, ShortSlicesAreInheritedAndGivenBackByBulkWork) {
  constexpr uint64_t kShortNs = std::chrono::nanoseconds(kShortSlice).count();
  bool ok = false;
  int nice_before = 0, nice_after = 0, bulk_nice = 0;
  uint64_t before = 0, asked = 0, inherited = 0, bulk = 0, cloud = 0;
  std::thread t([&] {
    before = ThreadSliceNs();
    nice_before = ThisThreadNice();
    ok = UseShortSlicesOnThisThread();
    nice_after = ThisThreadNice();
    asked = ThreadSliceNs();
    std::thread([&] {
      inherited = ThreadSliceNs();
      LowerThisThreadPriority(kBulkNiceAbove);
      bulk = ThreadSliceNs();
      bulk_nice = ThisThreadNice();
    }).join();
    std::thread([&] {
      LowerThisThreadPriority(kMessageNiceAbove, Slice::kShort);
      cloud = ThreadSliceNs();
    }).join();
  });
  t.join();
  EXPECT_EQ(nice_after, nice_before) << "the nice value is kept";
  EXPECT_EQ(bulk_nice, std::min(19, nice_before + kBulkNiceAbove));
  if (asked == 0) GTEST_SKIP() << "this kernel reports no slice for SCHED_OTHER (before 6.12)";
  EXPECT_TRUE(ok);
  EXPECT_NE(before, kShortNs) << "a thread starts with its creator's, here the default";
  EXPECT_EQ(asked, kShortNs);
  EXPECT_EQ(inherited, kShortNs);
  EXPECT_EQ(bulk, before) << "bulk work is back on the kernel's default slice";
  EXPECT_EQ(cloud, kShortNs);
  EXPECT_EQ(ThreadSliceNs(), before) << "the other threads keep theirs";
}

}  // namespace
}  // namespace lintel
