// Tests for allocators/large: OS accounting, alignment, mremap realloc, the
// cache of freed mappings, bad pointers, leak listing and concurrency.
#include "allocators/large/large.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "platform/os_vm.h"
#include "platform/pagemap.h"
#include "tests/testing/address_space.h"
#include "tests/testing/detail.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kChunk = XSMEM_PAGEMAP_CHUNK;
const size_t kPage = 4096;

xsmem_allocator *Make(size_t cache, unsigned delay_ms = 600000, xsmem_source *src = nullptr) {
  // Map the pagemap's table now, so that it does not show in the OS counters of a test.
  xsmem_pagemap_set(reinterpret_cast<void *>(uintptr_t{0x7000} * kChunk), kChunk, XSMEM_TAG_NONE);
  xsmem_large_options o = xsmem_large_options_from_env();
  o.cache_bytes = cache;
  o.decommit_delay_ms = delay_ms;
  return xsmem_large_create("large.test", src, &o);
}

xsmem_os_stats Os() {
  xsmem_os_stats s;
  xsmem_os_counters(&s);
  return s;
}

// Returns the large tier's detail figures (group "tier", label "large") by key.
std::map<std::string, double> Detail(const xsmem_allocator *a) {
  return xsmem::testing::Detail(a).Figures("tier", "large");
}

void ExpectIdentity(const xsmem_allocator *a) {
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_EQ(s.bytes_in_use + s.bytes_cached + s.bytes_metadata, s.bytes_reserved);
}

void Fill(char *p, size_t n, int seed) {
  for (size_t i = 0; i < n; i += kPage) p[i] = static_cast<char>(seed + i / kPage);
}

bool Check(const char *p, size_t n, int seed) {
  for (size_t i = 0; i < n; i += kPage) {
    if (p[i] != static_cast<char>(seed + i / kPage)) return false;
  }
  return true;
}

TEST(LargeTest, MapsAndUnmapsThroughOsVm) {
  xsmem_allocator *a = Make(0);
  ASSERT_NE(a, nullptr);
  xsmem_os_stats before = Os();
  char *p = static_cast<char *>(a->ops->alloc(a, 10 * kMiB, 16, 0));
  ASSERT_NE(p, nullptr);
  xsmem_os_stats mid = Os();
  EXPECT_EQ(mid.num_maps - before.num_maps, 1u);
  EXPECT_EQ(mid.bytes_committed - before.bytes_committed, 12 * kMiB);  // 10 MiB + header page, in 4 MiB chunks
  EXPECT_TRUE(xsmem_is_aligned(p, kPage));
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_LARGE);
  EXPECT_EQ(xsmem_pagemap_get(p + 11 * kMiB), XSMEM_TAG_LARGE);
  EXPECT_EQ(xsmem_usable_size(a, p), 12 * kMiB - kPage);
  memset(p, 1, 10 * kMiB);
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_EQ(s.num_allocs, 1u);
  EXPECT_EQ(s.bytes_in_use, 12 * kMiB - kPage);
  EXPECT_EQ(s.bytes_metadata, kPage);
  EXPECT_EQ(s.bytes_reserved, 12 * kMiB);
  EXPECT_EQ(s.largest_alloc_size, 10 * kMiB);
  ExpectIdentity(a);
  a->ops->free(a, p, 10 * kMiB);
  xsmem_os_stats after = Os();
  EXPECT_EQ(after.num_unmaps - mid.num_unmaps, 1u);
  EXPECT_EQ(after.bytes_committed, before.bytes_committed);
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_NONE);
  s = xsmem_get_stats(a);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.bytes_reserved, 0u);
  EXPECT_EQ(s.peak_bytes_in_use, 12 * kMiB - kPage);
  EXPECT_EQ(s.num_frees, 1u);
  a->ops->destroy(a);
}

TEST(LargeTest, AlignmentAndBadArguments) {
  xsmem_allocator *a = Make(0);
  void *p = a->ops->alloc(a, 5 * kMiB, 8 * kMiB, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(xsmem_is_aligned(p, 8 * kMiB));
  EXPECT_GE(xsmem_usable_size(a, p), 5 * kMiB);
  p = a->ops->realloc(a, p, 50 * kMiB, 0);  // grown in place or moved: still aligned
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(xsmem_is_aligned(p, 8 * kMiB));
  a->ops->free(a, p, 0);
  errno = 0;
  EXPECT_EQ(a->ops->alloc(a, kMiB, 3, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(a->ops->alloc(a, SIZE_MAX - 100, 16, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(xsmem_get_stats(a).num_failed, 2u);
  a->ops->destroy(a);
}

TEST(LargeTest, ReallocGrowsAndShrinksKeepingData) {
  xsmem_allocator *a = Make(0);
  char *p = static_cast<char *>(a->ops->alloc(a, 8 * kMiB, 16, 0));
  Fill(p, 8 * kMiB, 3);
  xsmem_os_stats before = Os();
  char *q = static_cast<char *>(a->ops->realloc(a, p, 40 * kMiB, 0));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(Os().num_maps - before.num_maps, q == p ? 0u : 1u);  // in place, or one reservation to move onto
  EXPECT_TRUE(Check(q, 8 * kMiB, 3));
  EXPECT_GE(xsmem_usable_size(a, q), 40 * kMiB);
  EXPECT_EQ(xsmem_pagemap_get(q + 39 * kMiB), XSMEM_TAG_LARGE);
  memset(q + 8 * kMiB, 7, 32 * kMiB);
  auto d = Detail(a);
  EXPECT_EQ(d["remaps_in_place"] + d["remaps_moved"], 1);
  EXPECT_EQ(xsmem_get_stats(a).bytes_reserved, 44 * kMiB);
  ExpectIdentity(a);

  char *r = static_cast<char *>(a->ops->realloc(a, q, 5 * kMiB, 0));
  EXPECT_EQ(r, q);  // shrinking never moves
  EXPECT_TRUE(Check(r, 5 * kMiB, 3));
  EXPECT_EQ(xsmem_usable_size(a, r), 8 * kMiB - kPage);
  EXPECT_EQ(xsmem_pagemap_get(r + 9 * kMiB), XSMEM_TAG_NONE);
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_EQ(s.bytes_reserved, 8 * kMiB);
  EXPECT_EQ(s.num_allocs, 1u);
  ExpectIdentity(a);
  a->ops->free(a, r, 0);
  a->ops->destroy(a);
}

// A page mapped right after the block forbids growing in place: the pages
// move to a new reservation (nothing is copied) and the data comes along.
TEST(LargeTest, ReallocMovesWhenBlocked) {
  xsmem_allocator *a = Make(0);
  char *p = static_cast<char *>(a->ops->alloc(a, 6 * kMiB, 16, 0));
  Fill(p, 6 * kMiB, 9);
  char *end = p - kPage + 8 * kMiB;
  void *blocker = mmap(end, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (blocker != end) {
    if (blocker != MAP_FAILED) munmap(blocker, kPage);
    a->ops->free(a, p, 0);
    a->ops->destroy(a);
    GTEST_SKIP() << "could not place the blocker page";
  }
  char *q = static_cast<char *>(a->ops->realloc(a, p, 20 * kMiB, 0));
  ASSERT_NE(q, nullptr);
  EXPECT_NE(q, p);
  EXPECT_TRUE(xsmem_is_aligned(q - kPage, kChunk));
  EXPECT_TRUE(Check(q, 6 * kMiB, 9));
  EXPECT_EQ(Detail(a)["remaps_moved"], 1);
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_NONE);
  EXPECT_EQ(xsmem_pagemap_get(q), XSMEM_TAG_LARGE);
  munmap(blocker, kPage);
  a->ops->free(a, q, 0);
  a->ops->destroy(a);
}

TEST(LargeTest, CacheReusesFreedMappings) {
  xsmem_allocator *a = Make(64 * kMiB);
  char *p = static_cast<char *>(a->ops->alloc(a, 8 * kMiB, 16, 0));
  memset(p, 0x5a, 8 * kMiB);
  xsmem_os_stats before = Os();
  a->ops->free(a, p, 0);
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_EQ(s.bytes_cached, 12 * kMiB);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.fragmentation, 1.0);  // the cached mapping serves no block
  ExpectIdentity(a);
  char *q = static_cast<char *>(a->ops->alloc(a, 8 * kMiB, 16, XSMEM_ALLOC_ZERO));
  EXPECT_EQ(q, p);
  for (size_t i = 0; i < 8 * kMiB; i += 512) ASSERT_EQ(q[i], 0) << i;
  xsmem_os_stats after = Os();
  EXPECT_EQ(after.num_maps, before.num_maps);
  EXPECT_EQ(after.num_unmaps, before.num_unmaps);
  auto d = Detail(a);
  EXPECT_EQ(d["cache_hits"], 1);
  EXPECT_EQ(d["cache_misses"], 1);

  // A request needing at least half of a cached mapping takes it whole.
  a->ops->free(a, q, 0);
  char *w = static_cast<char *>(a->ops->alloc(a, 7 * kMiB, 16, 0));
  EXPECT_EQ(w, p);
  EXPECT_EQ(xsmem_usable_size(a, w), 12 * kMiB - kPage);
  // A much smaller one takes it and trims its surplus.
  a->ops->free(a, w, 0);
  char *r = static_cast<char *>(a->ops->alloc(a, 3 * kMiB, 16, 0));
  EXPECT_EQ(r, p);
  EXPECT_EQ(xsmem_usable_size(a, r), 4 * kMiB - kPage);
  EXPECT_EQ(xsmem_get_stats(a).bytes_reserved, 4 * kMiB);
  // A bigger one grows it (its touched pages come along).
  r[0] = 0x5a;
  a->ops->free(a, r, 0);
  char *g = static_cast<char *>(a->ops->alloc(a, 30 * kMiB, 16, 0));
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(Detail(a)["cache_hits"], 4);
  EXPECT_EQ(g[0], 0x5a);  // not zeroed: it was not asked for
  ExpectIdentity(a);
  a->ops->free(a, g, 0);
  EXPECT_EQ(a->ops->trim(a, 0), 32 * kMiB);
  EXPECT_EQ(xsmem_get_stats(a).bytes_reserved, 0u);
  EXPECT_EQ(xsmem_pagemap_get(g), XSMEM_TAG_NONE);
  a->ops->destroy(a);
}

TEST(LargeTest, CacheIsBoundedAndExpires) {
  xsmem_allocator *a = Make(20 * kMiB);
  void *p[3];
  for (auto &x : p) x = a->ops->alloc(a, 7 * kMiB, 16, 0);  // 8 MiB mappings
  xsmem_os_stats before = Os();
  for (auto &x : p) a->ops->free(a, x, 0);
  EXPECT_EQ(xsmem_get_stats(a).bytes_cached, 16 * kMiB);  // the oldest was evicted
  EXPECT_EQ(Os().num_unmaps - before.num_unmaps, 1u);
  EXPECT_EQ(Detail(a)["cache_evictions"], 1);
  a->ops->destroy(a);

  // Delay 0: nothing outlives the free.
  a = Make(20 * kMiB, 0);
  void *q = a->ops->alloc(a, 7 * kMiB, 16, 0);
  before = Os();
  a->ops->free(a, q, 0);
  EXPECT_EQ(Os().num_unmaps - before.num_unmaps, 1u);
  EXPECT_EQ(xsmem_get_stats(a).bytes_cached, 0u);
  a->ops->destroy(a);

  // A short delay: the cached mapping goes at the next operation after it.
  a = Make(20 * kMiB, 20);
  q = a->ops->alloc(a, 7 * kMiB, 16, 0);
  a->ops->free(a, q, 0);
  EXPECT_EQ(xsmem_get_stats(a).bytes_cached, 8 * kMiB);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  void *big = a->ops->alloc(a, 100 * kMiB, 16, 0);  // too big to reuse it; evicts on the way
  EXPECT_EQ(xsmem_get_stats(a).bytes_cached, 0u);
  a->ops->free(a, big, 0);
  a->ops->destroy(a);
}

// The cache holds what the program had in use lately, not up to its byte
// limit: mappings beyond the recent peak of live bytes go back at once, even
// with a 1 GiB limit and a delay no test outlasts.
TEST(LargeTest, CacheIsBoundedByRecentUse) {
  xsmem_allocator *a = Make(1024 * kMiB);
  // Ten 4 MiB mappings live at once (a peak of 40 MiB), then freed: all cached.
  void *p[10];
  for (auto &x : p) x = a->ops->alloc(a, 3 * kMiB, 16, 0);
  for (auto &x : p) a->ops->free(a, x, 0);
  EXPECT_EQ(xsmem_get_stats(a).bytes_cached, 40 * kMiB);
  // One 64 MiB block: nothing cached fits, so one cached mapping grows into
  // it. Live bytes peak at 64 MiB, so the nine other mappings (36 MiB) beside
  // it are more than the program used lately: 64 MiB live + 36 MiB cached
  // would be 100 MiB resident. They go back.
  void *big = a->ops->alloc(a, 63 * kMiB, 16, 0);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(xsmem_get_stats(a).bytes_cached, 0u);
  EXPECT_EQ(xsmem_get_stats(a).bytes_reserved, 64 * kMiB);
  EXPECT_EQ(Detail(a)["cache_evictions"], 9);
  ExpectIdentity(a);
  // Freed, it is cached whole: the program had it in use a moment ago.
  a->ops->free(a, big, 0);
  EXPECT_EQ(xsmem_get_stats(a).bytes_cached, 64 * kMiB);
  EXPECT_EQ(Detail(a)["cache_evictions"], 9);
  a->ops->destroy(a);
}

// A mapping the kernel refuses (ulimit -v reached) while freed mappings wait
// in the cache: they are given back and the request is tried once more.
TEST(LargeTest, ARefusedMappingEmptiesTheCacheAndRetries) {
  xsmem_allocator *a = Make(256 * kMiB);
  void *p = a->ops->alloc(a, 64 * kMiB, 16, 0);
  ASSERT_NE(p, nullptr);
  a->ops->free(a, p, 0);  // cached
  uint64_t mapped = xsmem::testing::MappedBytes();
  ASSERT_GT(mapped, 0u);
  xsmem::testing::AddressSpaceLimit limit(mapped + 32 * kMiB);  // less than 48 MiB more: only with the cache gone
  ASSERT_TRUE(limit.ok());
  // Another alignment: the cached mapping cannot serve it (a miss).
  void *q = a->ops->alloc(a, 48 * kMiB, 8 * kMiB, 0);
  ASSERT_TRUE(limit.Restore());
  ASSERT_NE(q, nullptr);
  EXPECT_EQ((uintptr_t)q % (8 * kMiB), 0u);
  a->ops->free(a, q, 0);
  a->ops->destroy(a);
}

TEST(LargeTest, PurgeUnmapsAfterTheDelay) {
  xsmem_allocator *a = Make(64 * kMiB, 30);
  void *p = a->ops->alloc(a, 5 * kMiB, 16, 0);
  a->ops->free(a, p, 0);
  EXPECT_EQ(xsmem_large_purge(a), 0u);
  EXPECT_EQ(xsmem_get_stats(a).bytes_cached, 8 * kMiB);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  xsmem_os_stats before = Os();
  EXPECT_EQ(xsmem_large_purge(a), 8 * kMiB);
  EXPECT_EQ(Os().num_unmaps - before.num_unmaps, 1u);
  EXPECT_EQ(xsmem_get_stats(a).bytes_reserved, 0u);
  a->ops->destroy(a);
}

TEST(LargeTest, LeakListingAndOwns) {
  xsmem_allocator *a = Make(0);
  void *p = a->ops->alloc(a, 5 * kMiB, 16, 0);
  void *q = a->ops->alloc(a, 9 * kMiB, 16, 0);
  std::map<const void *, size_t> seen;
  xsmem_large_for_each(
      a, [](void *ctx, const void *x, size_t n) { (*static_cast<std::map<const void *, size_t> *>(ctx))[x] = n; },
      &seen);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[p], 5 * kMiB);
  EXPECT_EQ(seen[q], 9 * kMiB);
  EXPECT_TRUE(a->ops->owns(a, static_cast<char *>(q) + kMiB));
  int local;
  EXPECT_FALSE(a->ops->owns(a, &local));
  a->ops->free(a, p, 0);
  a->ops->free(a, q, 0);
  a->ops->destroy(a);
}

TEST(LargeTest, OverAnotherSource) {
  xsmem_allocator *a = Make(32 * kMiB, 600000, xsmem_os_source());
  char *p = static_cast<char *>(a->ops->alloc(a, 5 * kMiB, 16, 0));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_LARGE);
  Fill(p, 5 * kMiB, 1);
  char *q = static_cast<char *>(a->ops->realloc(a, p, 13 * kMiB, 0));  // moves by copying
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(Check(q, 5 * kMiB, 1));
  a->ops->free(a, q, 0);
  char *r = static_cast<char *>(a->ops->alloc(a, 13 * kMiB, 16, 0));
  EXPECT_EQ(r, q);  // exact-size cache hit
  a->ops->free(a, r, 0);
  ExpectIdentity(a);
  a->ops->destroy(a);
}

TEST(LargeTest, FromTheEnvironmentOverOsVm) {
  xsmem_large_options o = xsmem_large_options_from_env();
  xsmem_allocator *a = xsmem_large_create("large", nullptr, &o);
  ASSERT_NE(a, nullptr);
  EXPECT_STREQ(a->ops->kind, "large");
  EXPECT_GT(xsmem_large_min_size(), 0u);
  void *p = a->ops->alloc(a, 5 * kMiB, 16, 0);
  ASSERT_NE(p, nullptr);
  a->ops->free(a, p, 0);
  a->ops->destroy(a);
}

TEST(LargeDeathTest, BadPointersAreReported) {
  xsmem_allocator *a = Make(64 * kMiB);
  xsmem_allocator *other = Make(0);
  char *p = static_cast<char *>(a->ops->alloc(a, 6 * kMiB, 16, 0));
  char *o = static_cast<char *>(other->ops->alloc(other, 6 * kMiB, 16, 0));
  int local;
  EXPECT_DEATH(a->ops->free(a, &local, 0), "not allocated by this allocator");
  EXPECT_DEATH(a->ops->free(a, p + 16, 0), "not allocated by this allocator");
  EXPECT_DEATH(a->ops->free(a, p + 2 * kPage, 0), "interior pointer");
  EXPECT_DEATH(a->ops->free(a, o, 0), "another large allocator");
  EXPECT_DEATH(a->ops->free(a, p, 8 * kMiB), "larger than the block");
  a->ops->free(a, p, 0);  // cached
  EXPECT_DEATH(a->ops->free(a, p, 0), "double free");
  other->ops->free(other, o, 0);  // unmapped at once
  EXPECT_DEATH(other->ops->free(other, o, 0), "already unmapped");
  a->ops->destroy(a);
  other->ops->destroy(other);
}

TEST(LargeTest, ConcurrentAllocFree) {
  xsmem_allocator *a = Make(64 * kMiB);
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; t++) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::pair<char *, size_t>> live;
      for (int i = 0; i < 200; i++) {
        if (live.size() < 2 && (live.empty() || rng() % 2)) {
          size_t n = (1 + rng() % 12) * kMiB;
          char *p = static_cast<char *>(a->ops->alloc(a, n, 16, 0));
          if (!p) continue;
          p[0] = static_cast<char>(t);
          p[n - 1] = static_cast<char>(t);
          if (rng() % 4 == 0) {
            size_t m = (1 + rng() % 12) * kMiB;
            char *q = static_cast<char *>(a->ops->realloc(a, p, m, 0));
            if (!q || q[0] != static_cast<char>(t)) bad++;
            p = q ? q : p;
            n = q ? m : n;
            p[n - 1] = static_cast<char>(t);
          }
          live.emplace_back(p, n);
        } else {
          auto [p, n] = live.back();
          live.pop_back();
          if (p[0] != static_cast<char>(t) || p[n - 1] != static_cast<char>(t)) bad++;
          a->ops->free(a, p, n);
        }
      }
      for (auto [p, n] : live) a->ops->free(a, p, n);
    });
  }
  for (auto &t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.num_allocs, s.num_frees);
  EXPECT_LE(s.bytes_cached, 64 * kMiB);
  ExpectIdentity(a);
  a->ops->destroy(a);
}

}  // namespace
