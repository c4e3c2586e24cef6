// CowVector: a vector stored in fixed-size chunks shared between copies, copied on write.
//
// The index of 2,000,000 credentials is a few hundred MiB of arrays. A change of one tenant must
// not copy them (issue 13, point 1: every change O(change), peak memory during a delta <= 1.2x
// steady): a copy of a CowVector copies only its chunk pointers (one per 64 KiB), and the first
// write to a chunk of the copy copies that chunk alone. Readers of the original are never
// disturbed: a chunk is only written while this vector is its sole owner.
//
// Elements of one chunk are contiguous; a run of elements that must be contiguous (a string in
// the arena, a reference list) is placed with Append(), which starts a new chunk rather than
// splitting the run.
//
// Threads: a const CowVector may be read from any number of threads. Mutable()/Append()/copying
// are for the one thread that owns this vector; the chunks it shares with other vectors are
// never written.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "gateway/base/huge_pages.h"

namespace lintel::rules {

template <typename T, size_t kChunkBytes = 64 * 1024>
class CowVector {
  static_assert(std::is_trivially_copyable_v<T>, "chunks are copied with memcpy");

  static constexpr size_t Bits() {
    size_t bits = 0;
    while ((size_t{2} << bits) * sizeof(T) <= kChunkBytes) ++bits;
    return bits;
  }

 public:
  static constexpr size_t kChunkBits = Bits();
  static constexpr size_t kChunk = size_t{1} << kChunkBits;  // elements per chunk
  static constexpr size_t kMask = kChunk - 1;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& operator[](size_t i) const { return chunks_[i >> kChunkBits].get()[i & kMask]; }
  // A pointer to element `i` (nullptr past the end); the run up to the end of its chunk is
  // contiguous.
  const T* data_at(size_t i) const { return i < size_ ? &(*this)[i] : nullptr; }

  // Element `i` for writing: its chunk is copied first when another vector shares it.
  T& Mutable(size_t i) {
    std::shared_ptr<T[]>& c = chunks_[i >> kChunkBits];
    if (c.use_count() != 1) {
      std::shared_ptr<T[]> copy = NewChunk();
      std::memcpy(copy.get(), c.get(), kChunk * sizeof(T));
      c = std::move(copy);
      ++copied_;
    }
    return c.get()[i & kMask];
  }

  void push_back(const T& v) {
    if ((size_ & kMask) == 0) {
      chunks_.push_back(NewChunk());
    }
    Mutable(size_) = v;
    ++size_;
  }

  // Appends `n` elements as one contiguous run (n <= kChunk), starting a new chunk when the rest
  // of the last one is too short (the gap keeps value-initialised elements). Returns the index of
  // the run's first element.
  size_t Append(const T* data, size_t n) {
    assert(n <= kChunk);
    if (n == 0) return size_;
    if ((size_ & kMask) != 0 && (size_ & kMask) + n > kChunk) {
      size_ = (size_ + kMask) & ~kMask;  // skip to the next chunk
    }
    if ((size_ & kMask) == 0) chunks_.push_back(NewChunk());
    size_t at = size_;
    T* dst = &Mutable(at);
    std::memcpy(dst, data, n * sizeof(T));
    size_ += n;
    return at;
  }

  // `n` copies of `v` (the previous content is dropped).
  void assign(size_t n, const T& v) {
    chunks_.clear();
    chunks_.reserve((n + kMask) >> kChunkBits);
    size_ = 0;
    while (size_ < n) {
      std::shared_ptr<T[]> c = NewChunk();
      std::fill_n(c.get(), kChunk, v);
      chunks_.push_back(std::move(c));
      size_ = std::min(n, size_ + kChunk);
    }
  }

  void reserve(size_t n) { chunks_.reserve((n + kMask) >> kChunkBits); }

  // Heap bytes held (chunks and their pointers; a chunk shared with another vector counts here
  // too).
  size_t MemoryBytes() const {
    return chunks_.size() * (kChunk * sizeof(T) + sizeof(std::shared_ptr<T[]>) + 32);
  }
  // Chunks copied by Mutable() since this vector was made (a measure of a change's cost).
  size_t chunks_copied() const { return copied_; }
  size_t chunk_count() const { return chunks_.size(); }
  // Bytes of the chunks this vector shares with `o` (the same chunk at the same place).
  size_t SharedBytes(const CowVector& o) const {
    size_t n = 0;
    for (size_t i = 0; i < std::min(chunks_.size(), o.chunks_.size()); ++i) {
      n += chunks_[i] == o.chunks_[i] ? kChunk * sizeof(T) : 0;
    }
    return n;
  }

  // Chunk `c` (kChunk elements; those past size() are value-initialised), for serialising.
  const T* chunk(size_t c) const { return chunks_[c].get(); }

  // A vector of `size` elements whose chunks are `chunks` (at least ceil(size / kChunk) of them),
  // typically aliasing a read-only mapping (rules/index_image.h). `pin` is held by this vector
  // and its copies: it shares the chunks' owner, so an aliased chunk's use_count() is never 1
  // and Mutable() always copies it instead of writing into the mapping.
  static CowVector FromChunks(std::vector<std::shared_ptr<T[]>> chunks, size_t size,
                              std::shared_ptr<const void> pin) {
    CowVector v;
    v.chunks_ = std::move(chunks);
    v.size_ = size;
    v.pin_ = std::move(pin);
    return v;
  }

  // A copy holding every chunk alone, each copied into a fresh chunk from the huge-page slabs: for
  // a vector aliasing a mapped image (FromChunks), whose pages are 4 KiB, so that random reads
  // stop missing the TLB, and the copy no longer pins the mapping. O(size).
  CowVector Owned() const {
    CowVector v;
    v.chunks_.reserve(chunks_.size());
    for (const std::shared_ptr<T[]>& c : chunks_) {
      std::shared_ptr<T[]> copy = NewChunk();
      std::memcpy(copy.get(), c.get(), kChunk * sizeof(T));
      v.chunks_.push_back(std::move(copy));
    }
    v.size_ = size_;
    return v;
  }
  // Whether this vector's chunks alias a mapping (FromChunks), directly or through a copy.
  bool aliases_mapping() const { return pin_ != nullptr; }

  CowVector() = default;
  CowVector(const CowVector& o) : chunks_(o.chunks_), size_(o.size_), pin_(o.pin_) {}
  CowVector& operator=(const CowVector& o) {
    chunks_ = o.chunks_;
    size_ = o.size_;
    copied_ = 0;
    pin_ = o.pin_;
    return *this;
  }
  CowVector(CowVector&&) noexcept = default;
  CowVector& operator=(CowVector&&) noexcept = default;

 private:
  // A chunk from a huge-page slab (gateway/base/huge_pages.h), its elements value-initialised.
  static std::shared_ptr<T[]> NewChunk() {
    std::shared_ptr<void> block = AllocateHugeBlock(kChunk * sizeof(T));
    T* p = static_cast<T*>(block.get());
    std::uninitialized_value_construct_n(p, kChunk);
    return std::shared_ptr<T[]>(std::move(block), p);
  }

  std::vector<std::shared_ptr<T[]>> chunks_;
  size_t size_ = 0;
  size_t copied_ = 0;
  std::shared_ptr<const void> pin_;  // the owner of aliased chunks (FromChunks), else null
};

}  // namespace lintel::rules
