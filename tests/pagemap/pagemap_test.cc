// Tests for platform/pagemap: tags per 4 MiB chunk, zero for anything unset.
#include "platform/pagemap.h"

#include <gtest/gtest.h>
#include "tests/testing/address_space.h"

#include <errno.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

constexpr uintptr_t kChunk = XSMEM_PAGEMAP_CHUNK;

const void *At(uintptr_t a) { return reinterpret_cast<const void *>(a); }

TEST(PagemapTest, UnsetAddressesReadNone) {
  EXPECT_EQ(xsmem_pagemap_get(nullptr), XSMEM_TAG_NONE);
  int local = 0;
  EXPECT_EQ(xsmem_pagemap_get(&local), XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_get(At(~uintptr_t{0})), XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_get(At(uintptr_t{1} << 48)), XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_get(At(0xffff800000001000ull)), XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_get(At((uintptr_t{1} << 48) - 1)), XSMEM_TAG_NONE);
}

TEST(PagemapTest, SetTagsWholeChunksOnly) {
  const uintptr_t base = uintptr_t{0x3000} * kChunk;  // 48 GiB: arbitrary, need not be mapped
  xsmem_pagemap_set(At(base), 3 * kChunk, XSMEM_TAG_BUDDY);
  EXPECT_EQ(xsmem_pagemap_get(At(base - 1)), XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_get(At(base)), XSMEM_TAG_BUDDY);
  EXPECT_EQ(xsmem_pagemap_get(At(base + kChunk + 12345)), XSMEM_TAG_BUDDY);
  EXPECT_EQ(xsmem_pagemap_get(At(base + 3 * kChunk - 1)), XSMEM_TAG_BUDDY);
  EXPECT_EQ(xsmem_pagemap_get(At(base + 3 * kChunk)), XSMEM_TAG_NONE);

  // Retag the middle chunk, then clear everything.
  xsmem_pagemap_set(At(base + kChunk), kChunk, XSMEM_TAG_LARGE);
  EXPECT_EQ(xsmem_pagemap_get(At(base)), XSMEM_TAG_BUDDY);
  EXPECT_EQ(xsmem_pagemap_get(At(base + kChunk)), XSMEM_TAG_LARGE);
  EXPECT_EQ(xsmem_pagemap_get(At(base + 2 * kChunk)), XSMEM_TAG_BUDDY);
  xsmem_pagemap_set(At(base), 3 * kChunk, XSMEM_TAG_NONE);
  for (uintptr_t a = base; a < base + 3 * kChunk; a += kChunk / 2) {
    EXPECT_EQ(xsmem_pagemap_get(At(a)), XSMEM_TAG_NONE);
  }
  // Zero size is a no-op.
  xsmem_pagemap_set(At(base), 0, XSMEM_TAG_SMALL);
  EXPECT_EQ(xsmem_pagemap_get(At(base)), XSMEM_TAG_NONE);
}

TEST(PagemapTest, TopAndBottomOfTheAddressSpace) {
  const uintptr_t top = (uintptr_t{1} << 48) - kChunk;
  xsmem_pagemap_set(At(top), kChunk, XSMEM_TAG_SMALL);
  EXPECT_EQ(xsmem_pagemap_get(At(top)), XSMEM_TAG_SMALL);
  EXPECT_EQ(xsmem_pagemap_get(At(top + kChunk - 1)), XSMEM_TAG_SMALL);
  EXPECT_EQ(xsmem_pagemap_get(At(top + kChunk)), XSMEM_TAG_NONE);  // 2^48: outside
  xsmem_pagemap_set(At(top), kChunk, XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_get(At(top)), XSMEM_TAG_NONE);

  xsmem_pagemap_set(At(0), kChunk, XSMEM_TAG_SMALL);
  EXPECT_EQ(xsmem_pagemap_get(nullptr), XSMEM_TAG_SMALL);
  xsmem_pagemap_set(At(0), kChunk, XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_get(nullptr), XSMEM_TAG_NONE);
}

TEST(PagemapTest, TouchedBytesCountWrittenPages) {
  const uintptr_t base = uintptr_t{0x7000} * kChunk;  // its own table page
  size_t before = xsmem_pagemap_bytes_touched();
  xsmem_pagemap_set(At(base), kChunk, XSMEM_TAG_LARGE);
  size_t after = xsmem_pagemap_bytes_touched();
  EXPECT_GE(after, before);
  EXPECT_LE(after, before + 4096);
  EXPECT_EQ(after % 4096, 0u);
  EXPECT_GT(after, 0u);
  xsmem_pagemap_set(At(base), kChunk, XSMEM_TAG_NONE);
}

// Leaves are mapped by the first tag in their 256 GiB range, never by a
// lookup or a clear: the table costs 64 KiB of address space per range used,
// not 64 MiB up front.
TEST(PagemapTest, LeavesAreMappedOnDemand) {
  const uintptr_t leaf_span = uintptr_t{1} << XSMEM_PAGEMAP_ROOT_SHIFT;
  const uintptr_t base = uintptr_t{700} * leaf_span;  // a range nothing else here tags
  size_t before = xsmem_pagemap_leaves();
  EXPECT_EQ(xsmem_pagemap_get(At(base)), XSMEM_TAG_NONE);
  EXPECT_TRUE(xsmem_pagemap_set(At(base), 2 * kChunk, XSMEM_TAG_NONE));
  EXPECT_EQ(xsmem_pagemap_leaves(), before);
  // A range across two leaves maps both.
  EXPECT_TRUE(xsmem_pagemap_set(At(base + leaf_span - kChunk), 2 * kChunk, XSMEM_TAG_BUDDY));
  EXPECT_EQ(xsmem_pagemap_leaves(), before + 2);
  EXPECT_EQ(xsmem_pagemap_get(At(base + leaf_span - 1)), XSMEM_TAG_BUDDY);
  EXPECT_EQ(xsmem_pagemap_get(At(base + leaf_span)), XSMEM_TAG_BUDDY);
  EXPECT_EQ(xsmem_pagemap_get(At(base + leaf_span + kChunk)), XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_get(At(base)), XSMEM_TAG_NONE);
  EXPECT_TRUE(xsmem_pagemap_set(At(base + leaf_span - kChunk), 2 * kChunk, XSMEM_TAG_NONE));
  EXPECT_EQ(xsmem_pagemap_get(At(base + leaf_span)), XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_leaves(), before + 2);  // kept: a later tag there needs no mapping
}

// When a leaf cannot be mapped (ulimit -v reached), set() fails with ENOMEM
// and tags nothing, so the front gives its region back and fails the request.
TEST(PagemapTest, SetFailsCleanlyWhenALeafCannotBeMapped) {
  const uintptr_t leaf_span = uintptr_t{1} << XSMEM_PAGEMAP_ROOT_SHIFT;
  const uintptr_t base = uintptr_t{900} * leaf_span;
  size_t before = xsmem_pagemap_leaves();
  xsmem::testing::AddressSpaceLimit limit(4096);  // below what the process has: every new mapping is refused
  ASSERT_TRUE(limit.ok());
  errno = 0;
  bool ok = xsmem_pagemap_set(At(base), kChunk, XSMEM_TAG_LARGE);
  int err = errno;
  ASSERT_TRUE(limit.Restore());
  EXPECT_FALSE(ok);
  EXPECT_EQ(err, ENOMEM);
  EXPECT_EQ(xsmem_pagemap_get(At(base)), XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_leaves(), before);
  // With room again the same call succeeds.
  EXPECT_TRUE(xsmem_pagemap_set(At(base), kChunk, XSMEM_TAG_LARGE));
  EXPECT_EQ(xsmem_pagemap_get(At(base)), XSMEM_TAG_LARGE);
  EXPECT_TRUE(xsmem_pagemap_set(At(base), kChunk, XSMEM_TAG_NONE));
}

TEST(PagemapDeathTest, MisalignedSetIsFatal) {
  EXPECT_DEATH(xsmem_pagemap_set(At(kChunk + 4096), kChunk, XSMEM_TAG_SMALL), "not aligned");
  EXPECT_DEATH(xsmem_pagemap_set(At(kChunk), 4096, XSMEM_TAG_SMALL), "not aligned");
  EXPECT_DEATH(xsmem_pagemap_set(At(uintptr_t{1} << 48), kChunk, XSMEM_TAG_SMALL), "48-bit");
}

// Writers tag and clear their own ranges while readers scan all of them: a
// reader sees either 0 or the owner's tag, never anything else.
TEST(PagemapTest, ConcurrentSetAndGet) {
  constexpr int kWriters = 4;
  constexpr uintptr_t kChunksEach = 64;
  const uintptr_t base = uintptr_t{0x10000} * kChunk;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; w++) {
    threads.emplace_back([&, w] {
      uintptr_t mine = base + w * kChunksEach * kChunk;
      for (int round = 0; round < 200; round++) {
        xsmem_pagemap_set(At(mine), kChunksEach * kChunk, static_cast<uint8_t>(w + 1));
        xsmem_pagemap_set(At(mine), kChunksEach * kChunk, XSMEM_TAG_NONE);
      }
    });
  }
  for (int r = 0; r < 2; r++) {
    threads.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        for (int w = 0; w < kWriters; w++) {
          for (uintptr_t c = 0; c < kChunksEach; c++) {
            uint8_t t = xsmem_pagemap_get(At(base + (w * kChunksEach + c) * kChunk + 77));
            if (t != 0 && t != w + 1) bad.fetch_add(1);
          }
        }
      }
    });
  }
  for (int w = 0; w < kWriters; w++) threads[w].join();
  stop.store(true);
  for (size_t i = kWriters; i < threads.size(); i++) threads[i].join();
  EXPECT_EQ(bad.load(), 0);
  for (uintptr_t c = 0; c < kWriters * kChunksEach; c++) {
    EXPECT_EQ(xsmem_pagemap_get(At(base + c * kChunk)), XSMEM_TAG_NONE);
  }
}

}  // namespace
