// CowVector: a vector stored in fixed-size chunks shared between copies, copied on write.
//
// The index of 2,000,000 credentials is a few hundred MiB of arrays. A change of one tenant must
// not copy them (issue 13, point 1: every change O(change), peak memory during a delta <= 1.2x
// steady). The chunk pointers (one per 64 KiB) are a table shared between copies too: a copy of a
// CowVector is one reference count, the first write to a copy copies its table of pointers, and
// the first write to a chunk of the copy copies that chunk alone. An index copy on the core loop
// (a revocation in force ahead of its commit) then costs the pointers of the one array it writes,
// not of all nine (at 2,000,000 credentials ~4,000 reference counts, ~0.1-0.2 ms, to be freed
// again later on the same thread). Readers of the original are never disturbed: a table or a
// chunk is only written while this vector is its sole owner.
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
#include <utility>
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
  const T& operator[](size_t i) const { return data_[i >> kChunkBits].get()[i & kMask]; }
  // A pointer to element `i` (nullptr past the end); the run up to the end of its chunk is
  // contiguous.
  const T* data_at(size_t i) const { return i < size_ ? &(*this)[i] : nullptr; }

  // Element `i` for writing: its chunk is copied first when another vector shares it.
  T& Mutable(size_t i) {
    std::shared_ptr<T[]>& c = OwnTable()[i >> kChunkBits];
    if (c.use_count() != 1) {
      std::shared_ptr<T[]> copy = NewChunk();
      std::memcpy(copy.get(), c.get(), kChunk * sizeof(T));
      c = std::move(copy);
      ++copied_;
    }
    return c.get()[i & kMask];
  }

  void push_back(const T& v) {
    if ((size_ & kMask) == 0) AddChunk(NewChunk());
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
    if ((size_ & kMask) == 0) AddChunk(NewChunk());
    size_t at = size_;
    T* dst = &Mutable(at);
    std::memcpy(dst, data, n * sizeof(T));
    size_ += n;
    return at;
  }

  // `n` copies of `v` (the previous content is dropped).
  void assign(size_t n, const T& v) {
    table_ = std::make_shared<Table>();
    table_->reserve((n + kMask) >> kChunkBits);
    size_ = 0;
    while (size_ < n) {
      std::shared_ptr<T[]> c = NewChunk();
      std::fill_n(c.get(), kChunk, v);
      table_->push_back(std::move(c));
      size_ = std::min(n, size_ + kChunk);
    }
    data_ = table_->data();
  }

  void reserve(size_t n) {
    OwnTable().reserve((n + kMask) >> kChunkBits);
    data_ = table_->data();
  }

  // Heap bytes held (chunks and their pointers; a chunk shared with another vector counts here
  // too).
  size_t MemoryBytes() const {
    return chunk_count() * (kChunk * sizeof(T) + sizeof(std::shared_ptr<T[]>) + 32);
  }
  // Chunks copied by Mutable() since this vector was made (a measure of a change's cost).
  size_t chunks_copied() const { return copied_; }
  size_t chunk_count() const { return table_ ? table_->size() : 0; }
  // Bytes of the chunks this vector shares with `o` (the same chunk at the same place).
  size_t SharedBytes(const CowVector& o) const {
    size_t n = 0;
    for (size_t i = 0; i < std::min(chunk_count(), o.chunk_count()); ++i) {
      n += data_[i] == o.data_[i] ? kChunk * sizeof(T) : 0;
    }
    return n;
  }

  // Whether this vector and `o` share one table of chunk pointers (a copy not yet written).
  bool SharesTableWith(const CowVector& o) const { return table_ != nullptr && table_ == o.table_; }

  // Chunk `c` (kChunk elements; those past size() are value-initialised), for serialising.
  const T* chunk(size_t c) const { return data_[c].get(); }

  // A vector of `size` elements whose chunks are `chunks` (at least ceil(size / kChunk) of them),
  // typically aliasing a read-only mapping (rules/index_image.h). `pin` is held by this vector
  // and its copies: it shares the chunks' owner, so an aliased chunk's use_count() is never 1
  // and Mutable() always copies it instead of writing into the mapping.
  static CowVector FromChunks(std::vector<std::shared_ptr<T[]>> chunks, size_t size,
                              std::shared_ptr<const void> pin) {
    CowVector v;
    v.table_ = std::make_shared<Table>(std::move(chunks));
    v.data_ = v.table_->data();
    v.size_ = size;
    v.pin_ = std::move(pin);
    return v;
  }

  // A copy holding every chunk alone, each copied into a fresh chunk from the huge-page slabs: for
  // a vector aliasing a mapped image (FromChunks), whose pages are 4 KiB, so that random reads
  // stop missing the TLB, and the copy no longer pins the mapping. O(size).
  CowVector Owned() const {
    CowVector v;
    v.table_ = std::make_shared<Table>();
    v.table_->reserve(chunk_count());
    for (size_t c = 0; c < chunk_count(); ++c) {
      std::shared_ptr<T[]> copy = NewChunk();
      std::memcpy(copy.get(), data_[c].get(), kChunk * sizeof(T));
      v.table_->push_back(std::move(copy));
    }
    v.data_ = v.table_->data();
    v.size_ = size_;
    return v;
  }
  // Whether this vector's chunks alias a mapping (FromChunks), directly or through a copy.
  bool aliases_mapping() const { return pin_ != nullptr; }

  CowVector() = default;
  CowVector(const CowVector& o) : table_(o.table_), data_(o.data_), size_(o.size_), pin_(o.pin_) {}
  CowVector& operator=(const CowVector& o) {
    table_ = o.table_;
    data_ = o.data_;
    size_ = o.size_;
    copied_ = 0;
    pin_ = o.pin_;
    return *this;
  }
  CowVector(CowVector&& o) noexcept
      : table_(std::move(o.table_)),
        data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        copied_(std::exchange(o.copied_, 0)),
        pin_(std::move(o.pin_)) {}
  CowVector& operator=(CowVector&& o) noexcept {
    table_ = std::move(o.table_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    copied_ = std::exchange(o.copied_, 0);
    pin_ = std::move(o.pin_);
    return *this;
  }

 private:
  // A chunk from a huge-page slab (gateway/base/huge_pages.h), its elements value-initialised.
  static std::shared_ptr<T[]> NewChunk() {
    std::shared_ptr<void> block = AllocateHugeBlock(kChunk * sizeof(T));
    T* p = static_cast<T*>(block.get());
    std::uninitialized_value_construct_n(p, kChunk);
    return std::shared_ptr<T[]>(std::move(block), p);
  }

  using Table = std::vector<std::shared_ptr<T[]>>;

  // The table of chunk pointers for writing: copied first when another vector shares it (its
  // chunks are then shared by both tables, so Mutable() copies each before writing it).
  Table& OwnTable() {
    if (!table_) {
      table_ = std::make_shared<Table>();
    } else if (table_.use_count() != 1) {
      table_ = std::make_shared<Table>(*table_);
    }
    data_ = table_->data();
    return *table_;
  }
  void AddChunk(std::shared_ptr<T[]> c) {
    OwnTable().push_back(std::move(c));
    data_ = table_->data();
  }

  std::shared_ptr<Table> table_;
  const std::shared_ptr<T[]>* data_ = nullptr;  // table_->data(), read without the indirection
  size_t size_ = 0;
  size_t copied_ = 0;
  std::shared_ptr<const void> pin_;  // the owner of aliased chunks (FromChunks), else null
};

}  // namespace lintel::rules
