// tracking/tool_hooks_test.cc: the fronts' ASan hooks (platform/tool_hooks.h).
//
// Under --config=asan every front must let ASan stop a use after free and an
// overflow out of a block into free memory (or the front's own off-limits
// bytes) at the offending access, called through the xsmem_allocator
// interface. The workout tests run in every configuration: they drive each
// front through the paths that read and write metadata inside free memory
// (links, splits, merges, in-place realloc, the caches, trim) and must raise
// no report under ASan (a false positive aborts them) and change nothing in a
// normal build.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/bfc/bfc.h"
#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"
#include "allocators/os/os_alloc.h"
#include "allocators/pool/pool.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

#define REQUIRE_ASAN() \
  if (!kAsan) GTEST_SKIP() << "needs --config=asan"

// ASan's report for manually poisoned memory.
constexpr char kPoisoned[] = "AddressSanitizer: use-after-poison";

// Reads and writes one byte, so neither is optimized away.
void Touch(void *p, ptrdiff_t i) {
  volatile char *c = static_cast<volatile char *>(p);
  c[i] = static_cast<char>(c[i] + 1);
}

// Each test makes its own fronts, so the layout it relies on (a fresh region:
// the first block at its start, the rest free) does not depend on test order.
xsmem_allocator *Buddy(unsigned delay_ms) {
  xsmem_buddy_options o = xsmem_buddy_options_from_env();
  o.region_size = 4 * kMiB;
  o.min_block = 4096;
  o.decommit_delay_ms = delay_ms;
  return xsmem_buddy_create("hooks_buddy", xsmem_os_source(), &o);
}

xsmem_bfc *Bfc() {
  xsmem_bfc_options o{};
  o.bytes_limit = 64 * kMiB;
  o.initial_region = 2 * kMiB;
  o.gc = true;
  return xsmem_bfc_create(xsmem_os_source(), &o, "hooks_bfc");
}

xsmem_allocator *Large(size_t cache) {
  xsmem_large_options o = xsmem_large_options_from_env();
  o.cache_bytes = cache;
  o.decommit_delay_ms = 60000;
  o.huge_pages = false;
  return xsmem_large_create(cache ? "hooks_large_cached" : "hooks_large", nullptr, &o);
}

// A pool over its own bfc; destroy the pool, then the bfc.
struct PoolOverBfc {
  xsmem_bfc *bfc = Bfc();
  xsmem_allocator *a = nullptr;
  PoolOverBfc() {
    xsmem_pool_options o{};
    o.limit = 1 * kMiB;
    a = xsmem_pool_allocator(xsmem_pool_create(xsmem_bfc_allocator(bfc), &o, "hooks_pool"));
  }
  ~PoolOverBfc() {
    a->ops->destroy(a);
    xsmem_bfc_destroy(bfc);
  }
};

// ---------------------------------------------------------------------------
// Buddy: links in the first 16 bytes of free blocks, split halves, merges.

TEST(ToolHooksBuddy, UseAfterFree) {
  REQUIRE_ASAN();
  xsmem_allocator *a = Buddy(60000);  // the emptied region stays mapped
  char *p = static_cast<char *>(xsmem_alloc(a, 100, 16, 0));
  ASSERT_NE(p, nullptr);
  Touch(p, 99);
  xsmem_free(a, p);
  EXPECT_DEATH(Touch(p, 40), kPoisoned);
  EXPECT_DEATH(Touch(p, 0), kPoisoned);  // the free-list links are poisoned too
  a->ops->destroy(a);
}

TEST(ToolHooksBuddy, OverflowIntoFreeBuddy) {
  REQUIRE_ASAN();
  xsmem_allocator *a = Buddy(0);
  char *p = static_cast<char *>(xsmem_alloc(a, 4096, 16, 0));
  ASSERT_NE(p, nullptr);
  size_t n = xsmem_usable_size(a, p);
  Touch(p, static_cast<ptrdiff_t>(n) - 1);  // the whole block is usable
  // The region's first block: its right buddy is a free split half.
  EXPECT_DEATH(Touch(p, static_cast<ptrdiff_t>(n)), kPoisoned);
  EXPECT_DEATH(Touch(p, static_cast<ptrdiff_t>(n) + 8), kPoisoned);  // the buddy's links
  xsmem_free(a, p);
  a->ops->destroy(a);
}

TEST(ToolHooks, BuddyWorkout) {
  xsmem_allocator *a = Buddy(0);
  std::vector<char *> v;
  for (int i = 0; i < 200; i++) {
    size_t n = size_t{1} << (12 + i % 7);
    char *p = static_cast<char *>(xsmem_alloc(a, n, 16, i % 3 == 0 ? XSMEM_ALLOC_ZERO : 0));
    ASSERT_NE(p, nullptr);
    if (i % 3 == 0) {
      EXPECT_EQ(p[n - 1], 0);
    }
    memset(p, 1, n);
    v.push_back(p);
  }
  for (size_t i = 0; i < v.size(); i += 2) xsmem_free(a, v[i]);
  for (size_t i = 1; i < v.size(); i += 2) {  // in-place grow into freed buddies, then shrink
    char *q = static_cast<char *>(xsmem_realloc(a, v[i], xsmem_usable_size(a, v[i]) * 2));
    ASSERT_NE(q, nullptr);
    memset(q, 2, xsmem_usable_size(a, q));
    q = static_cast<char *>(xsmem_realloc(a, q, 4096));
    ASSERT_NE(q, nullptr);
    memset(q, 3, xsmem_usable_size(a, q));
    v[i] = q;
  }
  a->ops->trim(a, 0);  // walks the free lists
  for (size_t i = 1; i < v.size(); i += 2) xsmem_free(a, v[i]);
  a->ops->trim(a, 0);                                              // gives the empty regions back
  char *p = static_cast<char *>(xsmem_alloc(a, 4 * kMiB, 16, 0));  // a whole fresh region
  ASSERT_NE(p, nullptr);
  memset(p, 4, 4 * kMiB);
  xsmem_free(a, p);
  a->ops->destroy(a);
}

// ---------------------------------------------------------------------------
// BFC: chunks split from a region, coalesced on free, in-place realloc.

TEST(ToolHooksBfc, UseAfterFree) {
  REQUIRE_ASAN();
  xsmem_bfc *b = Bfc();
  xsmem_allocator *a = xsmem_bfc_allocator(b);
  char *p = static_cast<char *>(xsmem_alloc(a, 1000, 16, 0));
  ASSERT_NE(p, nullptr);
  Touch(p, 999);
  xsmem_free(a, p);  // the one region stays (gc keeps the last)
  EXPECT_DEATH(Touch(p, 8), kPoisoned);
  xsmem_bfc_destroy(b);
}

TEST(ToolHooksBfc, OverflowIntoFreeChunk) {
  REQUIRE_ASAN();
  xsmem_bfc *b = Bfc();
  xsmem_allocator *a = xsmem_bfc_allocator(b);
  char *p = static_cast<char *>(xsmem_alloc(a, 1000, 16, 0));
  ASSERT_NE(p, nullptr);
  size_t n = xsmem_usable_size(a, p);
  Touch(p, static_cast<ptrdiff_t>(n) - 1);
  EXPECT_DEATH(Touch(p, static_cast<ptrdiff_t>(n)), kPoisoned);  // the split-off rest is free
  xsmem_free(a, p);
  xsmem_bfc_destroy(b);
}

TEST(ToolHooks, BfcWorkout) {
  xsmem_bfc *b = Bfc();
  xsmem_allocator *a = xsmem_bfc_allocator(b);
  std::vector<char *> v;
  for (int i = 0; i < 300; i++) {
    size_t n = 256 + size_t(i % 17) * 300;
    char *p = static_cast<char *>(xsmem_alloc(a, n, i % 5 == 0 ? 4096 : 16, XSMEM_ALLOC_ZERO));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p[n - 1], 0);
    memset(p, 1, xsmem_usable_size(a, p));
    v.push_back(p);
  }
  for (size_t i = 0; i < v.size(); i += 2) xsmem_free(a, v[i]);
  for (size_t i = 1; i < v.size(); i += 2) {
    char *q = static_cast<char *>(xsmem_realloc(a, v[i], xsmem_usable_size(a, v[i]) + 512));
    ASSERT_NE(q, nullptr);
    memset(q, 2, xsmem_usable_size(a, q));
    q = static_cast<char *>(xsmem_realloc(a, q, 256));
    ASSERT_NE(q, nullptr);
    memset(q, 3, xsmem_usable_size(a, q));
    v[i] = q;
  }
  char *big = static_cast<char *>(xsmem_alloc(a, 8 * kMiB, 16, 0));  // a new region
  ASSERT_NE(big, nullptr);
  memset(big, 4, 8 * kMiB);
  xsmem_free(a, big);  // gc gives it back
  for (size_t i = 1; i < v.size(); i += 2) xsmem_free(a, v[i]);
  xsmem_bfc_trim(b);
  xsmem_bfc_destroy(b);
}

// ---------------------------------------------------------------------------
// Pool over a bfc: kept blocks hold their links in their first 32 bytes.

TEST(ToolHooksPool, UseAfterFreeOfKeptBlock) {
  REQUIRE_ASAN();
  PoolOverBfc pool;
  xsmem_allocator *a = pool.a;
  char *p = static_cast<char *>(xsmem_alloc(a, 100, 16, 0));
  ASSERT_NE(p, nullptr);
  Touch(p, 99);
  xsmem_free(a, p);  // kept by the pool, still live in the bfc
  EXPECT_DEATH(Touch(p, 64), kPoisoned);
  EXPECT_DEATH(Touch(p, 0), kPoisoned);  // the LRU links
}

TEST(ToolHooksPool, OverflowPastTheRoundedSize) {
  REQUIRE_ASAN();
  PoolOverBfc pool;
  xsmem_allocator *a = pool.a;
  char *p = static_cast<char *>(xsmem_alloc(a, 100, 16, 0));
  ASSERT_NE(p, nullptr);
  size_t n = xsmem_usable_size(a, p);  // R = 112; the bfc chunk behind it has 256
  Touch(p, static_cast<ptrdiff_t>(n) - 1);
  EXPECT_DEATH(Touch(p, static_cast<ptrdiff_t>(n)), kPoisoned);
  xsmem_free(a, p);
}

TEST(ToolHooks, PoolWorkout) {
  PoolOverBfc pool;
  xsmem_allocator *a = pool.a;
  std::vector<char *> v;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 400; i++) {  // more than the limit: evictions
      size_t n = 32 + size_t(i % 13) * 700;
      char *p = static_cast<char *>(xsmem_alloc(a, n, 16, round == 1 ? XSMEM_ALLOC_ZERO : 0));
      ASSERT_NE(p, nullptr);
      if (round == 1) {
        EXPECT_EQ(p[n - 1], 0);
      }
      memset(p, 1, xsmem_usable_size(a, p));
      v.push_back(p);
    }
    for (char *p : v) xsmem_free(a, p);  // hits in the next round
    v.clear();
  }
  a->ops->trim(a, 0);
}

TEST(ToolHooks, PoolOnSourceWorkout) {
  xsmem_pool_options o{};
  o.limit = 256 * 1024;
  xsmem_pool *p = xsmem_pool_create_on_source(xsmem_os_source(), &o, "hooks_pool_src");
  ASSERT_NE(p, nullptr);
  xsmem_allocator *a = xsmem_pool_allocator(p);
  for (int i = 0; i < 200; i++) {
    size_t n = 4096 * size_t(1 + i % 9);
    char *q = static_cast<char *>(xsmem_alloc(a, n, 16, XSMEM_ALLOC_ZERO));
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q[n - 1], 0);
    memset(q, 1, n);
    xsmem_free(a, q);
  }
  a->ops->destroy(a);
}

// ---------------------------------------------------------------------------
// Large: the cache keeps freed mappings; the page below the header is off limits.

TEST(ToolHooksLarge, UseAfterFreeOfCachedMapping) {
  REQUIRE_ASAN();
  xsmem_allocator *a = Large(64 * kMiB);
  char *p = static_cast<char *>(xsmem_alloc(a, 5 * kMiB, 16, 0));
  ASSERT_NE(p, nullptr);
  Touch(p, 5 * kMiB - 1);
  xsmem_free(a, p);  // cached: still mapped
  EXPECT_DEATH(Touch(p, 4096), kPoisoned);
}

TEST(ToolHooksLarge, UnderflowBelowTheHeader) {
  REQUIRE_ASAN();
  xsmem_allocator *a = Large(0);
  char *p = static_cast<char *>(xsmem_alloc(a, 5 * kMiB, 16, 0));
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(Touch(p, -1000), kPoisoned);
  xsmem_free(a, p);
}

TEST(ToolHooksLarge, UseAfterFreeUnmapped) {
  REQUIRE_ASAN();
  xsmem_allocator *a = Large(0);
  char *p = static_cast<char *>(xsmem_alloc(a, 5 * kMiB, 16, 0));
  ASSERT_NE(p, nullptr);
  xsmem_free(a, p);  // no cache: unmapped
  EXPECT_DEATH(Touch(p, 0), "AddressSanitizer: SEGV");
}

TEST(ToolHooks, LargeWorkout) {
  xsmem_allocator *a = Large(64 * kMiB);
  for (int i = 0; i < 20; i++) {
    size_t n = (size_t(1 + i % 5)) * 3 * kMiB;
    char *p = static_cast<char *>(xsmem_alloc(a, n, i % 4 == 0 ? 65536 : 16, i % 2 ? XSMEM_ALLOC_ZERO : 0));
    ASSERT_NE(p, nullptr);
    if (i % 2) {
      EXPECT_EQ(p[n - 1], 0);
    }
    memset(p, 1, n);
    p = static_cast<char *>(xsmem_realloc(a, p, n * 2));  // mremap, in place or moved
    ASSERT_NE(p, nullptr);
    memset(p, 2, n * 2);
    p = static_cast<char *>(xsmem_realloc(a, p, n / 2 + 1));
    ASSERT_NE(p, nullptr);
    memset(p, 3, n / 2 + 1);
    xsmem_free(a, p);
  }
  a->ops->trim(a, 0);
  a->ops->destroy(a);
}

// ---------------------------------------------------------------------------
// Os: one mapping per block, unmapped on free; padding below the header.

TEST(ToolHooksOs, UseAfterFree) {
  REQUIRE_ASAN();
  xsmem_allocator *a = xsmem_os_allocator();
  char *p = static_cast<char *>(xsmem_alloc(a, 1000, 16, 0));
  ASSERT_NE(p, nullptr);
  Touch(p, 999);
  xsmem_free(a, p);
  EXPECT_DEATH(Touch(p, 0), "AddressSanitizer: SEGV");
}

TEST(ToolHooksOs, UnderflowIntoPadding) {
  REQUIRE_ASAN();
  xsmem_allocator *a = xsmem_os_allocator();
  char *p = static_cast<char *>(xsmem_alloc(a, 1000, 8192, 0));  // user pointer 8 KiB into the mapping
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(Touch(p, -100), kPoisoned);
  xsmem_free(a, p);
}

TEST(ToolHooks, OsWorkout) {
  xsmem_allocator *a = xsmem_os_allocator();
  for (int i = 0; i < 50; i++) {
    size_t n = 100 + size_t(i) * 5000;
    char *p = static_cast<char *>(xsmem_alloc(a, n, i % 2 ? 8192 : 16, 0));
    ASSERT_NE(p, nullptr);
    memset(p, 1, xsmem_usable_size(a, p));
    xsmem_free(a, p);
  }
}

}  // namespace
