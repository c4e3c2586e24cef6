#include "gateway/base/huge_pages.h"

#include <sys/mman.h>

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

void DeallocateMaybeHuge(void* p, size_t bytes) {
  if (p == nullptr) return;
  if (bytes < kHuge) {
    ::operator delete(p);
  } else {
    munmap(p, bytes);
  }
}

}  // namespace lintel
