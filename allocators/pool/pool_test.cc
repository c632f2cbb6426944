// Unit tests for the LRU pool: rounding, hits and misses, LRU eviction, resizing, errors.
#include "allocators/pool/pool.h"

#include <errno.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "allocators/bfc/bfc.h"
#include "gtest/gtest.h"
#include "tests/testing/address_space.h"
#include "tests/testing/corruption.h"
#include "tests/testing/detail.h"

namespace {

class Pool : public ::testing::Test {
 protected:
  xsmem_pool *Make(size_t limit, xsmem_pool_rounding r, bool auto_resize = false, size_t max_limit = 0) {
    if (!bfc_) {
      xsmem_bfc_options bo{};
      bo.bytes_limit = 512 << 20;
      bfc_ = xsmem_bfc_create(xsmem_os_source(), &bo, "pool_test.bfc");
    }
    xsmem_pool_options o{};
    o.limit = limit;
    o.rounding = r;
    o.auto_resize = auto_resize;
    o.max_limit = max_limit;
    xsmem_pool *p = xsmem_pool_create(xsmem_bfc_allocator(bfc_), &o, "pool_test");
    EXPECT_NE(p, nullptr);
    pools_.push_back(p);
    return p;
  }
  void TearDown() override {
    for (auto *p : pools_) xsmem_pool_destroy(p);
    if (bfc_) {
      EXPECT_EQ(xsmem_get_stats(xsmem_bfc_allocator(bfc_)).bytes_in_use, leaked_);
      xsmem_bfc_destroy(bfc_);
    }
  }
  static void *A(xsmem_pool *p, size_t n, size_t align = 16, unsigned flags = 0) {
    return xsmem_pool_allocator(p)->ops->alloc(xsmem_pool_allocator(p), n, align, flags);
  }
  static void F(xsmem_pool *p, void *q) { xsmem_pool_allocator(p)->ops->free(xsmem_pool_allocator(p), q, 0); }
  static xsmem_pool_counters C(xsmem_pool *p) {
    xsmem_pool_counters c;
    xsmem_pool_get_counters(p, &c);
    return c;
  }
  bool BfcHolds(void *q) { return xsmem_bfc_allocator(bfc_)->ops->owns(xsmem_bfc_allocator(bfc_), q); }

  xsmem_bfc *bfc_ = nullptr;
  std::vector<xsmem_pool *> pools_;
  uint64_t leaked_ = 0;  // bytes the test leaves live in the bfc on purpose
};

TEST_F(Pool, RoundingStrategies) {
  xsmem_pool *none = Make(1 << 20, XSMEM_POOL_ROUND_NONE);
  xsmem_pool *pow2 = Make(1 << 20, XSMEM_POOL_ROUND_POW2);
  EXPECT_EQ(xsmem_pool_round(none, 0), 32u);
  EXPECT_EQ(xsmem_pool_round(none, 33), 48u);
  EXPECT_EQ(xsmem_pool_round(none, 1000), 1008u);
  EXPECT_EQ(xsmem_pool_round(pow2, 1), 32u);
  EXPECT_EQ(xsmem_pool_round(pow2, 33), 64u);
  EXPECT_EQ(xsmem_pool_round(pow2, 1000), 1024u);
  EXPECT_EQ(xsmem_pool_round(pow2, (1 << 20) + 1), 2u << 20);
  EXPECT_EQ(xsmem_pool_round(pow2, SIZE_MAX), 0u);
  EXPECT_EQ(xsmem_pool_round(none, SIZE_MAX), 0u);
  void *q = A(pow2, 1000);
  EXPECT_EQ(xsmem_usable_size(xsmem_pool_allocator(pow2), q), 1024u);
  F(pow2, q);
  errno = 0;
  EXPECT_EQ(A(pow2, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(A(pow2, 16, 3), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(Pool, HitsMissesAndRoundingShareBlocks) {
  xsmem_pool *p = Make(1 << 20, XSMEM_POOL_ROUND_POW2);
  void *a = A(p, 100);
  F(p, a);
  EXPECT_TRUE(BfcHolds(a));  // kept, not given back
  void *b = A(p, 90);        // rounds to 128 as well: a hit on the same block
  EXPECT_EQ(b, a);
  void *c = A(p, 200);  // 256: a miss
  EXPECT_NE(c, a);
  xsmem_pool_counters k = C(p);
  EXPECT_EQ(k.hits, 1u);
  EXPECT_EQ(k.misses, 2u);
  EXPECT_EQ(k.puts, 1u);
  EXPECT_EQ(k.evictions, 0u);
  F(p, b);
  F(p, c);
  // Exact rounding: 100 and 90 are different keys.
  xsmem_pool *n = Make(1 << 20, XSMEM_POOL_ROUND_NONE);
  void *x = A(n, 100);
  F(n, x);
  void *y = A(n, 90);
  EXPECT_NE(y, x);
  EXPECT_EQ(A(n, 100), x);
  EXPECT_EQ(C(n).hits, 1u);
  leaked_ = 2 * 256;  // x and y stay live (bfc granules)
}

TEST_F(Pool, EvictsLeastRecentlyFreedFirst) {
  xsmem_pool *p = Make(4 * 1024, XSMEM_POOL_ROUND_POW2);
  std::vector<void *> v;
  for (int i = 0; i < 5; i++) v.push_back(A(p, 1024));
  for (int i = 0; i < 4; i++) F(p, v[i]);
  EXPECT_EQ(C(p).cached_bytes, 4096u);
  F(p, v[4]);  // over the limit: v[0], the oldest, goes back
  xsmem_pool_counters k = C(p);
  EXPECT_EQ(k.evictions, 1u);
  EXPECT_EQ(k.cached_blocks, 4u);
  EXPECT_FALSE(BfcHolds(v[0]));
  for (int i = 1; i < 5; i++) EXPECT_TRUE(BfcHolds(v[i]));
  // Reuse takes the newest block of the size; freeing it again makes it the newest.
  EXPECT_EQ(A(p, 1024), v[4]);
  void *small = A(p, 512);  // a miss
  F(p, small);              // newest now: cached 3*1024 + 512
  void *w = v[4];
  F(p, w);  // 4*1024 + 512 > limit: the oldest (v[1]) goes
  EXPECT_FALSE(BfcHolds(v[1]));
  EXPECT_TRUE(BfcHolds(small));
  EXPECT_EQ(C(p).evictions, 2u);
  // A block larger than the limit is never kept.
  void *big = A(p, 8192);
  F(p, big);
  EXPECT_FALSE(BfcHolds(big));
}

// A miss the backing cannot serve gives the kept blocks back and asks once
// more: blocks freed in one size serve another when memory runs out.
TEST_F(Pool, AFullBackingGetsTheKeptBlocksBack) {
  xsmem_bfc_options bo{};
  bo.bytes_limit = 4 << 20;
  bo.initial_region = 4 << 20;
  xsmem_bfc *small = xsmem_bfc_create(xsmem_os_source(), &bo, "pool_test.small_bfc");
  ASSERT_NE(small, nullptr);
  xsmem_pool_options o{};
  o.limit = 64 << 20;  // keeps everything freed
  o.rounding = XSMEM_POOL_ROUND_POW2;
  xsmem_pool *p = xsmem_pool_create(xsmem_bfc_allocator(small), &o, "pool_test.small");
  ASSERT_NE(p, nullptr);
  std::vector<void *> v;
  for (void *q; (q = A(p, 200 << 10)) != nullptr;) v.push_back(q);  // 256 KiB blocks until the bfc is full
  ASSERT_GE(v.size(), 8u);
  for (void *q : v) F(p, q);
  EXPECT_EQ(C(p).cached_blocks, v.size());
  void *big = A(p, 1 << 20);  // another size: a miss
  EXPECT_NE(big, nullptr) << "the kept blocks went back to the bfc, which merged them";
  EXPECT_EQ(C(p).cached_blocks, 0u);
  F(p, big);
  xsmem_pool_destroy(p);
  xsmem_bfc_destroy(small);
}

// The block table fills with tombstones as blocks come and go; growing it
// needs a mapping. When the address space has none left (ulimit -v), the
// tombstones are dropped in place instead and the request is served.
TEST_F(Pool, TheBlockTableCompactsWhenItCannotGrow) {
  xsmem_pool *p = Make(16, XSMEM_POOL_ROUND_POW2);  // keeps no 64-byte block: every free leaves a tombstone
  std::vector<void *> v;
  for (int i = 0; i < 760; i++) v.push_back(A(p, 64));  // a fresh table has 1024 slots, grows past 768 used
  for (void *q : v) F(p, q);
  v.clear();
  // The bfc's freed chunks taken by another user: the pool's next blocks lie
  // elsewhere, in slots of their own.
  xsmem_allocator *bfc = xsmem_bfc_allocator(bfc_);
  for (int i = 0; i < 760; i++) v.push_back(bfc->ops->alloc(bfc, 64, 16, 0));
  xsmem::testing::AddressSpaceLimit limit(4096);  // no new mapping at all
  ASSERT_TRUE(limit.ok());
  int got = 0;
  void *blocks[200];
  for (; got < 200; got++) {
    if (!(blocks[got] = A(p, 64))) break;
  }
  ASSERT_TRUE(limit.Restore());
  EXPECT_EQ(got, 200) << "served from the bfc's free chunks, with the table compacted";
  for (int i = 0; i < got; i++) F(p, blocks[i]);
  for (void *q : v) bfc->ops->free(bfc, q, 0);
}

TEST_F(Pool, StatsSeparateInUseFromCached) {
  xsmem_pool *p = Make(1 << 20, XSMEM_POOL_ROUND_POW2);
  xsmem_allocator *a = xsmem_pool_allocator(p);
  void *q = A(p, 3000);
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_EQ(s.num_allocs, 1u);
  EXPECT_EQ(s.bytes_in_use, 4096u);
  EXPECT_EQ(s.largest_alloc_size, 3000u);
  F(p, q);
  s = xsmem_get_stats(a);
  EXPECT_EQ(s.num_frees, 1u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_GE(s.bytes_cached, 4096u);
  EXPECT_EQ(s.peak_bytes_in_use, 4096u);
  EXPECT_FALSE(a->ops->owns(a, q));  // kept blocks are not live
  EXPECT_EQ(xsmem_pool_drain(p), 4096u);
  EXPECT_EQ(C(p).cached_bytes, 0u);
  EXPECT_FALSE(BfcHolds(q));
}

TEST_F(Pool, ZeroedHits) {
  xsmem_pool *p = Make(1 << 20, XSMEM_POOL_ROUND_POW2);
  void *q = A(p, 500);
  memset(q, 0xab, 500);
  F(p, q);
  auto *z = static_cast<unsigned char *>(A(p, 500, 16, XSMEM_ALLOC_ZERO));
  ASSERT_EQ(static_cast<void *>(z), q);
  for (int i = 0; i < 500; i++) ASSERT_EQ(z[i], 0);
  F(p, z);
}

TEST_F(Pool, AlignedRequestsSkipMisalignedBlocks) {
  xsmem_pool *p = Make(1 << 20, XSMEM_POOL_ROUND_POW2);
  void *q = A(p, 1000, 4096);
  ASSERT_EQ((uintptr_t)q % 4096, 0u);
  F(p, q);
  void *r = A(p, 1000, 1 << 16);
  ASSERT_EQ((uintptr_t)r % (1 << 16), 0u);
  F(p, r);
}

TEST_F(Pool, AutoResizeGrowsUnderEvictionsAndShrinksWhenIdle) {
  xsmem_pool *p = Make(8 * 1024, XSMEM_POOL_ROUND_POW2, true, 1 << 20);
  std::vector<void *> v(64);
  for (int round = 0; round < 300; round++) {  // cycle through 64 KiB with an 8 KiB pool
    for (auto &q : v) q = A(p, 1024);
    for (auto &q : v) F(p, q);
  }
  xsmem_pool_counters k = C(p);
  EXPECT_GT(k.resizes, 0u);
  EXPECT_GE(k.limit, 64u * 1024);  // grew until the working set fits
  uint64_t evictions = k.evictions;
  for (auto &q : v) q = A(p, 1024);
  for (auto &q : v) F(p, q);
  EXPECT_EQ(C(p).evictions, evictions);  // now all hits
  EXPECT_EQ(C(p).hits, k.hits + 64);
  size_t grown = C(p).limit;
  xsmem_pool_drain(p);
  for (int i = 0; i < 20000; i++) F(p, A(p, 64));  // a tiny working set
  EXPECT_LT(C(p).limit, grown);
  EXPECT_GE(C(p).limit, 8u * 1024 / 16);
  // The default bound: four times the starting limit.
  xsmem_pool *q = Make(8 * 1024, XSMEM_POOL_ROUND_POW2, true);
  for (int round = 0; round < 300; round++) {
    for (auto &b : v) b = A(q, 1024);
    for (auto &b : v) F(q, b);
  }
  EXPECT_EQ(C(q).limit, 32u * 1024);
}

TEST_F(Pool, OnASource) {
  xsmem_pool_options o{};
  o.limit = 1 << 20;
  o.rounding = XSMEM_POOL_ROUND_NONE;
  xsmem_pool *p = xsmem_pool_create_on_source(xsmem_os_source(), &o, "pool.os");
  ASSERT_NE(p, nullptr);
  xsmem_allocator *a = xsmem_pool_allocator(p);
  void *q = A(p, 5000);
  EXPECT_EQ(xsmem_usable_size(a, q), 8192u);
  EXPECT_EQ(xsmem_get_stats(a).bytes_reserved, 8192u);
  F(p, q);
  EXPECT_EQ(A(p, 6000), q);
  F(p, q);
  xsmem_pool_destroy(p);
}

TEST_F(Pool, DetailHasCountersAndTheBackingsBins) {
  xsmem_pool *p = Make(1 << 20, XSMEM_POOL_ROUND_POW2);
  F(p, A(p, 100));
  F(p, A(p, 100));
  xsmem::testing::Detail d(xsmem_pool_allocator(p));
  EXPECT_EQ(d.Get("pool", "cache", "hits"), 1.0);
  EXPECT_EQ(d.Get("pool", "cache", "misses"), 1.0);
  EXPECT_EQ(d.Get("pool", "cache", "hit_rate"), 0.5);
  EXPECT_EQ(d.Get("pool", "cache", "cached_blocks"), 1.0);
  EXPECT_TRUE(d.Has("bin", "256", "used_chunks"));
}

TEST_F(Pool, ThreadsKeepCountsExact) {
  xsmem_pool *p = Make(256 * 1024, XSMEM_POOL_ROUND_POW2, true);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([p, t] {
      std::vector<std::pair<unsigned char *, size_t>> mine;
      unsigned seed = t;
      for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245 + 12345;
        if (mine.size() < 100 && (seed >> 16) % 2) {
          size_t n = 1 + (seed >> 8) % 5000;
          auto *q = static_cast<unsigned char *>(A(p, n));
          ASSERT_NE(q, nullptr);
          memset(q, t, n);
          mine.emplace_back(q, n);
        } else if (!mine.empty()) {
          auto [q, n] = mine.back();
          mine.pop_back();
          ASSERT_EQ(q[n - 1], t);
          F(p, q);
        }
      }
      for (auto &[q, n] : mine) F(p, q);
    });
  }
  for (auto &th : threads) th.join();
  xsmem_stats s = xsmem_get_stats(xsmem_pool_allocator(p));
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.num_allocs, s.num_frees);
  xsmem_pool_counters k = C(p);
  EXPECT_EQ(k.hits + k.misses, s.num_allocs);
  EXPECT_EQ(k.live_blocks, 0u);
}

using PoolDeathTest = Pool;

TEST_F(PoolDeathTest, ForeignAndDoubleFreesAreReported) {
  xsmem_pool *p = Make(1 << 20, XSMEM_POOL_ROUND_POW2);
  int local;
  EXPECT_DEATH(F(p, &local), "not allocated by this allocator");
  void *q = A(p, 100);
  EXPECT_DEATH(F(p, static_cast<char *>(q) + 16), "not allocated by this allocator");
  F(p, q);
  EXPECT_DEATH(F(p, q), "double free");
  // A query is reported and answered 0, never an abort (nothing can be lost).
  testing::internal::CaptureStderr();
  EXPECT_EQ(xsmem_usable_size(xsmem_pool_allocator(p), q), 0u);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("double free"), std::string::npos);
}

}  // namespace

// ---------------------------------------------------------------------------
// Writes after free into the links a kept block holds (safe-linked): reported
// as heap corruption, never written through; under XSMEM_ON_ERROR=warn the
// lists are rebuilt from the block table and every kept block stays usable.

using xsmem::testing::g_forge_target;
using xsmem::testing::WriteWord;

using PoolDeathTest = Pool;

TEST_F(PoolDeathTest, ForgedLinkIsReportedNotWrittenThrough) {
  for (size_t word : {0, 1, 2, 3}) {  // lru_prev, lru_next, sz_prev, sz_next of the newest kept block
    auto corrupt = [&](std::vector<void *> &v) {
      xsmem_pool *p = Make(1 << 20, XSMEM_POOL_ROUND_POW2);
      for (int i = 0; i < 6; i++) v.push_back(A(p, 1000));
      for (void *q : v) F(p, q);
      WriteWord(v.back(), word, reinterpret_cast<uintptr_t>(g_forge_target.at(1024)));
      return p;
    };
    EXPECT_DEATH(
        {
          std::vector<void *> v;
          xsmem_pool *p = corrupt(v);
          A(p, 1000);  // takes the newest kept block of the size
        },
        "malloc\\(0x[0-9a-f]+\\) in allocator 'pool_test': heap corruption in a free 1024-byte block")
        << word;
    EXPECT_EXIT(
        {
          setenv("XSMEM_ON_ERROR", "warn", 1);
          std::vector<void *> v;
          xsmem_pool *p = corrupt(v);
          std::vector<void *> got;
          for (int i = 0; i < 6; i++) got.push_back(A(p, 1000));
          bool all_kept_came_back = C(p).hits == 6 && C(p).cached_blocks == 0;
          for (void *q : got) all_kept_came_back &= std::find(v.begin(), v.end(), q) != v.end();
          _exit(all_kept_came_back && g_forge_target.Untouched() && xsmem_bad_pointer_count() > 0 ? 0 : 1);
        },
        testing::ExitedWithCode(0), "heap corruption in a free 1024-byte block")
        << word;
  }
}
