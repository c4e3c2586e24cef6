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

// A copy is one reference to the table of chunk pointers (an index copy on the core loop costs a
// few reference counts, not one per chunk); the first write to either side gives that side a
// table of its own, and growing a copy never grows the original.
TEST(CowVector, ACopySharesTheTableOfChunksUntilEitherSideWrites) {
  Vec base = Filled(3 * Vec::kChunk);
  const Vec snapshot = base;
  Vec copy = base;
  EXPECT_TRUE(copy.SharesTableWith(base));
  EXPECT_TRUE(snapshot.SharesTableWith(base));

  copy.push_back(42);  // a new chunk: in the copy's own table only
  EXPECT_FALSE(copy.SharesTableWith(base));
  EXPECT_EQ(copy.chunk_count(), 4u);
  EXPECT_EQ(base.chunk_count(), 3u);
  EXPECT_EQ(base.size(), 3 * Vec::kChunk);
  EXPECT_EQ(copy.chunks_copied(), 0u) << "adding a chunk copies none";
  EXPECT_EQ(copy.SharedBytes(base), 3 * Vec::kChunk * sizeof(uint32_t));

  base.Mutable(2) = 99;  // the original written while a copy shares its table
  EXPECT_FALSE(base.SharesTableWith(snapshot));
  EXPECT_EQ(base.chunks_copied(), 1u);
  EXPECT_EQ(base[2], 99u);
  EXPECT_EQ(snapshot[2], 2u) << "a copy saw the original's write";
  EXPECT_EQ(copy[2], 2u) << "a copy saw the original's write";
  EXPECT_EQ(copy[3 * Vec::kChunk], 42u);

  Vec alone = Filled(Vec::kChunk);
  alone.Mutable(1) = 5;  // sole owner of table and chunk: in place
  EXPECT_EQ(alone.chunks_copied(), 0u);
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
