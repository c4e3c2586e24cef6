// CowVector: chunks shared between copies, copied on first write, reused once freed, and copied
// out of a mapping (Owned).
#include "rules/cow_vector.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace lintel::rules {
namespace {

using Vec = CowVector<uint32_t>;

Vec Filled(size_t n) {
  Vec v;
  for (size_t i = 0; i < n; ++i) v.push_back(static_cast<uint32_t>(i));
  return v;
}

TEST(CowVector, AWriteToACopyCopiesOnlyTheChunkItTouches) {
  const Vec base = Filled(4 * Vec::kChunk);
  Vec copy = base;
  copy.Mutable(Vec::kChunk + 5) = 7;
  EXPECT_EQ(copy.chunks_copied(), 1u);
  EXPECT_EQ(copy[Vec::kChunk + 5], 7u);
  EXPECT_EQ(base[Vec::kChunk + 5], Vec::kChunk + 5) << "the original was written";
  EXPECT_EQ(copy.SharedBytes(base), 3 * Vec::kChunk * sizeof(uint32_t));
}

// An edit frees the chunks of the index before it; the next edit's copies take those blocks again
// instead of new memory (a block given back would split its slab's huge page).
TEST(CowVector, AChunkFreedByOneCopyIsReusedByTheNext) {
  ReleaseKeptHugeBlocks();  // what earlier tests of this process freed
  const Vec base = Filled(2 * Vec::kChunk);
  const uint32_t* freed = nullptr;
  {
    Vec first = base;
    first.Mutable(3) = 1;
    freed = first.data_at(0);
  }
  Vec second = base;
  second.Mutable(3) = 2;
  EXPECT_EQ(second.data_at(0), freed);
  EXPECT_EQ(second[3], 2u);
  EXPECT_EQ(second[4], 4u) << "the reused block holds the copied chunk";
  EXPECT_EQ(base[3], 3u);
}

TEST(CowVector, OwnedCopiesEveryChunkAndReleasesTheMapping) {
  auto mapping = std::make_shared<std::vector<uint32_t>>(2 * Vec::kChunk);
  for (size_t i = 0; i < mapping->size(); ++i) (*mapping)[i] = static_cast<uint32_t>(3 * i);
  std::vector<std::shared_ptr<uint32_t[]>> chunks;
  for (size_t c = 0; c < 2; ++c) {
    chunks.emplace_back(std::shared_ptr<const void>(mapping), mapping->data() + c * Vec::kChunk);
  }
  std::weak_ptr<std::vector<uint32_t>> alive = mapping;
  Vec aliased = Vec::FromChunks(std::move(chunks), 2 * Vec::kChunk - 10, mapping);
  mapping.reset();
  EXPECT_TRUE(aliased.aliases_mapping());
  Vec owned = aliased.Owned();
  EXPECT_FALSE(owned.aliases_mapping());
  EXPECT_EQ(owned.size(), aliased.size());
  EXPECT_EQ(owned.SharedBytes(aliased), 0u);
  for (size_t i = 0; i < owned.size(); ++i) ASSERT_EQ(owned[i], 3 * i) << i;
  aliased = Vec();
  EXPECT_TRUE(alive.expired()) << "the copy still holds the mapping";
  owned.Mutable(0) = 9;  // its own chunks: written in place
  EXPECT_EQ(owned.chunks_copied(), 0u);
  EXPECT_EQ(owned[0], 9u);
}

}  // namespace
}  // namespace lintel::rules
