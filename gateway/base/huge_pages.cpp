#include "gateway/base/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>

namespace lintel {
namespace {
constexpr size_t kHuge = size_t{2} << 20;
}  // namespace

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

struct SlabCursor {
  std::mutex mu;
  std::shared_ptr<void> slab;  // unmaps the slab when its last block is gone
  size_t used = kHuge;
};

}  // namespace

std::shared_ptr<void> AllocateHugeBlock(size_t bytes) {
  if (bytes == 0 || bytes > kHuge) throw std::bad_alloc();
  bytes = (bytes + 63) & ~size_t{63};            // cache-line aligned blocks
  static SlabCursor* cursor = new SlabCursor();  // never destroyed: blocks may outlive statics
  std::shared_ptr<void> slab;
  char* block;
  {
    std::lock_guard lock(cursor->mu);
    if (cursor->used + bytes > kHuge) {
      cursor->slab = std::shared_ptr<void>(MapAlignedSlab(), [](void* s) { munmap(s, kHuge); });
      cursor->used = 0;
    }
    slab = cursor->slab;
    block = static_cast<char*>(slab.get()) + cursor->used;
    cursor->used += bytes;
  }
  return std::shared_ptr<void>(block, [slab = std::move(slab), bytes](void* b) mutable {
    // The whole pages of the block go back to the kernel now (a slab is never carved twice).
    const uintptr_t from = (reinterpret_cast<uintptr_t>(b) + 4095) & ~uintptr_t{4095};
    const uintptr_t to = (reinterpret_cast<uintptr_t>(b) + bytes) & ~uintptr_t{4095};
    if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
    slab.reset();
  });
}

void DeallocateMaybeHuge(void* p, size_t bytes) {
  if (p == nullptr) return;
  if (bytes < kHuge) {
    ::operator delete(p);
  } else {
    munmap(p, bytes);
  }
}

}  // namespace lintel
