#include "gateway/base/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace lintel {
namespace {
constexpr size_t kHuge = size_t{2} << 20;
thread_local bool no_fresh_slabs = false;
}  // namespace

void KeepHugePageFaultsOffThisThread() { no_fresh_slabs = true; }

void* AllocateMaybeHuge(size_t bytes) {
  if (bytes < kHuge) return ::operator new(bytes);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  madvise(p, bytes, MADV_HUGEPAGE);  // a hint: ignored where THP is disabled
  return p;
}

namespace {

// A 2 MiB-aligned anonymous mapping of kHuge bytes, hinted for huge pages.
void* MapAlignedSlab() {
  void* p = mmap(nullptr, 2 * kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (start + kHuge - 1) & ~(kHuge - 1);
  if (aligned > start) munmap(p, aligned - start);
  const uintptr_t end = start + 2 * kHuge;
  if (end > aligned + kHuge)
    munmap(reinterpret_cast<void*>(aligned + kHuge), end - aligned - kHuge);
  void* slab = reinterpret_cast<void*>(aligned);
  madvise(slab, kHuge, MADV_HUGEPAGE);  // a hint: ignored where THP is disabled
  return slab;
}

// Freed blocks are kept for reuse, up to this many bytes, instead of being given back at once: a
// delta edit copies the few chunks it touches and the index before it frees as many (rules::
// CowVector), so the next edit takes those. Giving a block back (MADV_DONTNEED on part of a huge
// page) splits the huge page into 4 KiB pages for every chunk still living in that slab: after
// 50 tenant edits at 2,000,000 credentials 42 of the index's 254 MiB of huge pages were split and
// decide p99 was ~10 % higher than on a fresh copy (tests/bench/foundation_bench.cpp).
constexpr size_t kRecycleBytes = size_t{8} << 20;

struct FreeBlock {
  char* block;
  std::shared_ptr<void> slab;
};

struct SlabCursor {
  std::mutex mu;
  std::shared_ptr<void> slab;  // unmaps the slab when its last block is gone
  size_t used = kHuge;
  std::unordered_map<size_t, std::vector<FreeBlock>> free;  // by block size, most recent last
  size_t free_bytes = 0;
};

SlabCursor& Cursor() {
  static SlabCursor* cursor = new SlabCursor();  // never destroyed: blocks may outlive statics
  return *cursor;
}

// Gives `block`'s whole pages back to the kernel (a slab is never carved twice).
void GiveBack(void* block, size_t bytes) {
  const uintptr_t from = (reinterpret_cast<uintptr_t>(block) + 4095) & ~uintptr_t{4095};
  const uintptr_t to = (reinterpret_cast<uintptr_t>(block) + bytes) & ~uintptr_t{4095};
  if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

// `block` (`bytes` of `slab`) as an owner: its release keeps the block for reuse while fewer than
// kRecycleBytes are kept, else gives its whole pages back to the kernel (a slab is never carved
// twice) and lets go of the slab.
std::shared_ptr<void> Own(char* block, std::shared_ptr<void> slab, size_t bytes) {
  return std::shared_ptr<void>(block, [slab = std::move(slab), bytes](void* b) mutable {
    SlabCursor& c = Cursor();
    {
      std::lock_guard lock(c.mu);
      if (c.free_bytes + bytes <= kRecycleBytes) {
        try {
          c.free[bytes].push_back({static_cast<char*>(b), slab});
          c.free_bytes += bytes;
          return;
        } catch (const std::bad_alloc&) {
          // No room to keep it: given back below (a deleter must not throw).
        }
      }
    }
    GiveBack(b, bytes);
    slab.reset();
  });
}

}  // namespace

std::shared_ptr<void> AllocateHugeBlock(size_t bytes) {
  if (bytes == 0 || bytes > kHuge) throw std::bad_alloc();
  bytes = (bytes + 63) & ~size_t{63};  // cache-line aligned blocks
  SlabCursor& c = Cursor();
  // A slab mapped outside the lock (mmap waits for the process's memory map lock, which another
  // thread's page fault may hold): a thread needing a block meanwhile never waits behind it.
  std::shared_ptr<void> fresh;
  for (;;) {
    std::shared_ptr<void> slab;
    char* block = nullptr;
    {
      std::lock_guard lock(c.mu);
      auto reuse = c.free.find(bytes);
      if (reuse != c.free.end() && !reuse->second.empty()) {
        FreeBlock f = std::move(reuse->second.back());
        reuse->second.pop_back();
        c.free_bytes -= bytes;
        block = f.block;
        slab = std::move(f.slab);
      } else if (c.used + bytes > kHuge && fresh) {
        c.slab = std::move(fresh);
        c.used = 0;
      }
      // Not on a thread kept off huge-page faults: the current slab's untouched part may be
      // faulted in by this very block (or by it and another thread at once, each zeroing 2 MiB).
      if (!block && c.used + bytes <= kHuge && !no_fresh_slabs) {
        slab = c.slab;
        block = static_cast<char*>(slab.get()) + c.used;
        c.used += bytes;
      }
    }
    if (block) return Own(block, std::move(slab), bytes);  // `fresh`, if unused, unmapped here
    if (no_fresh_slabs) {
      void* p = ::operator new (bytes, std::align_val_t{64});
      return std::shared_ptr<void>(p, [](void* b) { ::operator delete (b, std::align_val_t{64}); });
    }
    fresh = std::shared_ptr<void>(MapAlignedSlab(), [](void* s) { munmap(s, kHuge); });
  }
}

void ReleaseKeptHugeBlocks() {
  std::unordered_map<size_t, std::vector<FreeBlock>> kept;
  {
    SlabCursor& c = Cursor();
    std::lock_guard lock(c.mu);
    kept.swap(c.free);
    c.free_bytes = 0;
  }
  for (auto& [bytes, blocks] : kept) {
    for (FreeBlock& f : blocks) GiveBack(f.block, bytes);
  }
}  // `kept` lets go of the slabs here

void DeallocateMaybeHuge(void* p, size_t bytes) {
  if (p == nullptr) return;
  if (bytes < kHuge) {
    ::operator delete(p);
  } else {
    munmap(p, bytes);
  }
}

}  // namespace lintel
