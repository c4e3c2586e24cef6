// AllocateHugeBlock on a thread kept off huge-page faults (the core loop's): never a block of a
// slab marked for huge pages that it might be the first to touch; a kept block (already faulted
// in) is still reused there.
#include "gateway/base/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace lintel {
namespace {

constexpr size_t kBlock = size_t{64} << 10;

// The VmFlags of the mapping holding `p` (/proc/self/smaps), as " rd wr ... " (spaces around).
std::string VmFlagsOf(const void* p) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t from = 0, to = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> from >> dash >> to && dash == '-' && line.find(':') > line.find(' ')) {
      inside = from <= at && at < to;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line.substr(8) + " ";
  }
  return "";
}

std::shared_ptr<void> AllocateOnALoopThread() {
  std::shared_ptr<void> block;
  std::thread([&] {
    KeepHugePageFaultsOffThisThread();
    block = AllocateHugeBlock(kBlock);
  }).join();
  return block;
}

TEST(HugePages, ALoopThreadTakesNoBlockOfAHugePageSlabItWouldFaultIn) {
  ReleaseKeptHugeBlocks();  // what earlier tests of this process freed
  std::shared_ptr<void> bulk = AllocateHugeBlock(kBlock);
  std::shared_ptr<void> loop = AllocateOnALoopThread();
  ASSERT_NE(loop, nullptr);
  ASSERT_FALSE(VmFlagsOf(bulk.get()).empty());
  EXPECT_NE(VmFlagsOf(bulk.get()).find(" hg "), std::string::npos)
      << "another thread's block comes from a slab marked MADV_HUGEPAGE: " << VmFlagsOf(bulk.get());
  EXPECT_EQ(VmFlagsOf(loop.get()).find(" hg "), std::string::npos)
      << "the loop thread's block is in small pages: " << VmFlagsOf(loop.get());
  static_cast<char*>(loop.get())[kBlock - 1] = 1;  // usable to its end
  EXPECT_EQ(reinterpret_cast<uintptr_t>(loop.get()) % 64, 0u) << "cache-line aligned";
}

TEST(HugePages, ALoopThreadReusesAKeptBlock) {
  ReleaseKeptHugeBlocks();
  std::shared_ptr<void> bulk = AllocateHugeBlock(kBlock);
  static_cast<char*>(bulk.get())[0] = 1;  // faulted in
  void* const kept = bulk.get();
  bulk.reset();  // kept for reuse
  std::shared_ptr<void> loop = AllocateOnALoopThread();
  EXPECT_EQ(loop.get(), kept);
  loop.reset();
  ReleaseKeptHugeBlocks();
}

}  // namespace
}  // namespace lintel
