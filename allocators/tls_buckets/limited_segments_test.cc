// The small tier under an address-space limit (ulimit -v), set in main before
// the tier is built: segments map only the head of their 4 MiB chunk, start
// at a class's minimum and double, so tens of classes fit where 4 MiB each
// would not; running out gives NULL with ENOMEM and freed blocks come back.
// Before, every class took a whole 4 MiB segment and `default` could not
// start python3 under ulimit -v 300 MiB.
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

#include <vector>

#include "allocators/tls_buckets/tls_buckets.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "gtest/gtest.h"
#include "tests/testing/address_space.h"
#include "platform/pagemap.h"

namespace {

constexpr size_t kKiB = 1024, kMiB = 1024 * 1024;

xsmem_allocator *A() { return xsmem_tls_buckets(nullptr, nullptr); }
void *Alloc(size_t n) { return A()->ops->alloc(A(), n, 16, 0); }
void Free(void *p) { A()->ops->free(A(), p, 0); }
size_t Reserved() { return xsmem_get_stats(A()).bytes_reserved; }

// The bytes a segment maps: its header, then data_bytes of blocks (and at
// most one block's worth of slack).
size_t SegmentEnd(const xsmem_tls_seg_head *s) { return XSMEM_TLS_SEG_HEADER + s->data_bytes; }

TEST(LimitedSegments, AClassStartsWithItsMinimumAndDoubles) {
  size_t before = Reserved();
  std::vector<void *> blocks;
  std::vector<const xsmem_tls_seg_head *> segs;
  for (int i = 0; i < 6000; i++) {  // 64-byte blocks: 384 KB, several segments
    void *p = Alloc(64);
    ASSERT_NE(p, nullptr);
    blocks.push_back(p);
    const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
    if (segs.empty() || segs.back() != s) segs.push_back(s);
    ASSERT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_SMALL);
    ASSERT_LT((uintptr_t)p - (uintptr_t)s, SegmentEnd(s));
  }
  ASSERT_GE(segs.size(), 2u);
  EXPECT_LE(SegmentEnd(segs[0]), 128 * kKiB) << "the first segment is the class's minimum";
  EXPECT_GT(SegmentEnd(segs[1]), 128 * kKiB) << "the next one is twice as long";
  EXPECT_LE(SegmentEnd(segs[1]), 256 * kKiB);
  EXPECT_LT(Reserved() - before, 2 * kMiB) << "not a 4 MiB chunk per segment";
  for (void *p : blocks) Free(p);
}

TEST(LimitedSegments, FortyClassesTakeAMinimumSegmentEach) {
  size_t before = Reserved();
  std::vector<void *> blocks;
  for (size_t n = 2048; n <= 64 * kKiB; n += n / 8) {  // 40 classes none of the tests used yet
    void *p = Alloc(n);
    ASSERT_NE(p, nullptr) << n;
    blocks.push_back(p);
  }
  size_t used = Reserved() - before;
  EXPECT_LE(used, blocks.size() * 128 * kKiB) << used;
  for (void *p : blocks) Free(p);
}

// A pointer past the mapped head of a segment's chunk reads the chunk's tag
// but is never taken for a block.
TEST(LimitedSegmentsDeathTest, APointerPastTheMappedHeadIsNotABlock) {
  void *p = Alloc(100);
  ASSERT_NE(p, nullptr);
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
  ASSERT_LT(SegmentEnd(s), XSMEM_TLS_SEGMENT);
  char *past = (char *)s + XSMEM_TLS_SEGMENT / 2;
  EXPECT_EQ(xsmem_pagemap_get(past), XSMEM_TAG_SMALL);
  EXPECT_FALSE(xsmem_tls_is_block_start(s, past));
  EXPECT_DEATH(Free(past), "not the start of a block");
  Free(p);
}

// Out of address space: NULL with ENOMEM, never an abort; what is freed
// serves again.
TEST(LimitedSegments, ExhaustionFailsWithENOMEMAndRecovers) {
  std::vector<void *> blocks;
  blocks.reserve(1 << 20);
  errno = 0;
  for (;;) {
    void *p = Alloc(1000);
    if (!p) break;
    blocks.push_back(p);
    ASSERT_LT(blocks.size(), (size_t)1 << 20) << "no limit reached";
  }
  EXPECT_EQ(errno, ENOMEM);
  size_t first = blocks.size();
  EXPECT_GT(first, 1000u);
  for (void *p : blocks) Free(p);
  blocks.clear();
  for (size_t i = 0; i < first; i++) {
    void *p = Alloc(1000);
    ASSERT_NE(p, nullptr) << "block " << i << " of " << first << " again";
    blocks.push_back(p);
  }
  for (void *p : blocks) Free(p);
}

}  // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // What the process has, plus 96 MiB: segments of at most (that / 256),
  // 512 KiB, and room to run out in a second.
  xsmem::testing::AddressSpaceLimit limit(xsmem::testing::MappedBytes() + 96 * kMiB);
  if (!limit.ok()) return 2;
  A();  // built under the limit
  return RUN_ALL_TESTS();
}
