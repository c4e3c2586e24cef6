// HugePageAllocator: a std allocator for the few very large, randomly read arrays of the decision
// index (millions of rows). Blocks of 2 MiB or more are mmap'ed and marked MADV_HUGEPAGE before
// they are first touched, so a lookup walks one TLB entry per 2 MiB instead of one per 4 KiB;
// smaller blocks come from operator new. Thread-safe; falls back silently where transparent huge
// pages are off (the hint is just ignored).
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace lintel {

void* AllocateMaybeHuge(size_t bytes);
void DeallocateMaybeHuge(void* p, size_t bytes);

// A block of `bytes` (at most 2 MiB; 64-byte aligned) carved from a 2 MiB-aligned slab marked
// MADV_HUGEPAGE: the chunks of rules::CowVector, so that the index's arrays keep huge pages
// although they are made of 64 KiB chunks. When the last owner of a block lets go, the block is
// kept for the next request of its size while fewer than 8 MiB are kept (a delta edit frees about
// as many chunks as the next one copies; giving part of a huge page back would split it), else its
// whole pages go back to the kernel (MADV_DONTNEED); a slab is unmapped with its last block.
// Thread-safe.
std::shared_ptr<void> AllocateHugeBlock(size_t bytes);
// From the calling thread on, AllocateHugeBlock only reuses kept blocks (already faulted in) here
// and never carves a slab: without a kept block, the block comes from operator new (4 KiB pages).
// The first touch of a fresh slab faults in a whole 2 MiB page, which on the gateway's virtual
// machines cost the thread 2-7 ms of system time; the core loop (the doors, and the revocations it
// puts in force ahead of their commit) must not pay that (issue 13, points 2 and 3). Its few
// blocks (the chunks a revocation copies) are read through small pages; the bulk stays huge.
void KeepHugePageFaultsOffThisThread();

// Gives the blocks kept for reuse back to the kernel now (tests; a caller that just freed a whole
// index and wants its memory back at once).
void ReleaseKeptHugeBlocks();

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: allocator rebinding
  T* allocate(size_t n) { return static_cast<T*>(AllocateMaybeHuge(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { DeallocateMaybeHuge(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

}  // namespace lintel
