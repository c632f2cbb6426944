// Tests for allocators/buddy: split/merge exactness, the order bitmap,
// alignment, stats, bad pointers, realloc, region release and concurrency.
#include "allocators/buddy/buddy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>

#include "platform/os_vm.h"
#include "platform/pagemap.h"
#include "tests/testing/corruption.h"
#include "tests/testing/detail.h"

namespace {

constexpr size_t kRegion = 4 << 20;
constexpr size_t kMin = 4096;

xsmem_buddy_options Opts(unsigned delay_ms = 600000) {
  xsmem_buddy_options o = xsmem_buddy_options_from_env();
  o.region_size = kRegion;
  o.min_block = kMin;
  o.max_regions = 64;
  o.decommit_delay_ms = delay_ms;
  return o;
}

// detail() figures, read by order.
struct Detail : xsmem::testing::Detail {
  using xsmem::testing::Detail::Detail;
  double FreeAt(size_t block) const { return Get("order", std::to_string(block), "free_blocks"); }
  double LiveAt(size_t block) const { return Get("order", std::to_string(block), "live_blocks"); }
};

class BuddyTest : public ::testing::Test {
 protected:
  void Make(unsigned delay_ms = 600000) {
    xsmem_buddy_options o = Opts(delay_ms);
    a_ = xsmem_buddy_create("buddy.test", xsmem_os_source(), &o);
    ASSERT_NE(a_, nullptr);
  }
  void SetUp() override { Make(); }
  void TearDown() override {
    if (a_) a_->ops->destroy(a_);
  }
  xsmem_stats Stats() { return xsmem_get_stats(a_); }
  void ExpectIdentity() {
    xsmem_stats s = Stats();
    EXPECT_EQ(s.bytes_in_use + s.bytes_cached + s.bytes_metadata, s.bytes_reserved);
  }
  void *Alloc(size_t size, size_t align = 16) { return a_->ops->alloc(a_, size, align, 0); }
  void Free(void *p) { a_->ops->free(a_, p, 0); }
  xsmem_allocator *a_ = nullptr;
};

TEST_F(BuddyTest, RejectsBadOptions) {
  xsmem_buddy_options o = Opts();
  o.region_size = 3 << 20;
  errno = 0;
  EXPECT_EQ(xsmem_buddy_create("bad", xsmem_os_source(), &o), nullptr);
  EXPECT_EQ(errno, EINVAL);
  o = Opts();
  o.region_size = 2 << 20;  // below a pagemap chunk
  EXPECT_EQ(xsmem_buddy_create("bad", xsmem_os_source(), &o), nullptr);
  o = Opts();
  o.min_block = kRegion;
  EXPECT_EQ(xsmem_buddy_create("bad", xsmem_os_source(), &o), nullptr);
  o = Opts();
  o.max_regions = 70000;
  EXPECT_EQ(xsmem_buddy_create("bad", xsmem_os_source(), &o), nullptr);
}

// One min block out of a fresh region leaves exactly one free block at every
// order from min to region/2: the split chain, seen through the bitmap.
TEST_F(BuddyTest, SplitChainAndMergeBack) {
  void *p = Alloc(1);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(xsmem_usable_size(a_, p), kMin);
  EXPECT_TRUE(xsmem_is_aligned(p, kRegion));  // first block of a fresh region
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_BUDDY);
  Detail d(a_);
  for (size_t b = kMin; b < kRegion; b *= 2) {
    EXPECT_EQ(d.FreeAt(b), 1) << b;
    EXPECT_EQ(d.LiveAt(b), b == kMin ? 1 : 0) << b;
  }
  EXPECT_EQ(d.FreeAt(kRegion), 0);
  xsmem_stats s = Stats();
  EXPECT_EQ(s.bytes_in_use, kMin);
  EXPECT_EQ(s.bytes_cached, kRegion - kMin);
  EXPECT_DOUBLE_EQ(s.fragmentation, double(kRegion - kMin) / double(kRegion));  // cached / (in use + cached)
  EXPECT_EQ(s.bytes_committed, kMin + s.bytes_metadata);                        // only the handed-out part holds memory
  ExpectIdentity();

  // The smallest adequate order is taken: a 64 KiB request splits the 64 KiB
  // free block, not the 2 MiB one.
  void *q = Alloc(64 << 10);
  ASSERT_NE(q, nullptr);
  Detail d2(a_);
  EXPECT_EQ(d2.FreeAt(64 << 10), 0);
  EXPECT_EQ(d2.FreeAt(kRegion / 2), 1);
  size_t meta = Stats().bytes_metadata;
  EXPECT_EQ(Stats().bytes_committed, (size_t{128} << 10) + meta);  // q is [64 KiB, 128 KiB)
  Free(q);
  Free(p);
  Detail d3(a_);
  for (size_t b = kMin; b < kRegion; b *= 2) EXPECT_EQ(d3.FreeAt(b), 0) << b;
  EXPECT_EQ(d3.FreeAt(kRegion), 1);
  s = Stats();
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.bytes_cached, kRegion);
  EXPECT_EQ(s.fragmentation, 1.0);  // everything held is free
  EXPECT_EQ(s.num_allocs, 2u);
  EXPECT_EQ(s.num_frees, 2u);
  EXPECT_EQ(s.peak_bytes_in_use, kMin + (64 << 10));
  EXPECT_EQ(s.bytes_committed, (size_t{128} << 10) + meta);  // freed pages stay until trim
  EXPECT_LT(s.bytes_committed, s.bytes_reserved);
}

// Allocate every block of one order, free them in random order: the region
// coalesces back to a single block.
TEST_F(BuddyTest, AllBlocksOfAnOrderCoalesceBack) {
  std::mt19937 rng(7);
  for (size_t block : {kMin, size_t{64} << 10, size_t{1} << 20, kRegion}) {
    size_t n = kRegion / block;
    std::vector<char *> v;
    for (size_t i = 0; i < n; i++) {
      char *p = static_cast<char *>(Alloc(block));
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(xsmem_is_aligned(p, block));
      v.push_back(p);
    }
    std::sort(v.begin(), v.end());
    for (size_t i = 1; i < n; i++) EXPECT_EQ(v[i] - v[i - 1], static_cast<ptrdiff_t>(block));  // tiles the region
    xsmem_stats s = Stats();
    EXPECT_EQ(s.bytes_in_use, kRegion);
    EXPECT_EQ(s.bytes_cached, 0u);
    EXPECT_EQ(s.fragmentation, 0.0);
    ExpectIdentity();
    std::shuffle(v.begin(), v.end(), rng);
    for (size_t i = 0; i < n; i++) {
      Free(v[i]);
      s = Stats();
      EXPECT_EQ(s.bytes_in_use, (n - i - 1) * block);
      EXPECT_EQ(s.bytes_cached, (i + 1) * block);
    }
    Detail d(a_);
    EXPECT_EQ(d.FreeAt(kRegion), 1) << block;
    for (size_t b = kMin; b < kRegion; b *= 2) EXPECT_EQ(d.FreeAt(b), 0) << block << " " << b;
    EXPECT_EQ(Stats().fragmentation, 1.0);
  }
  EXPECT_EQ(Stats().bytes_reserved - Stats().bytes_metadata, kRegion);  // never needed a second region
}

TEST_F(BuddyTest, FullRegionGrowsASecondOne) {
  void *p = Alloc(kRegion);
  ASSERT_NE(p, nullptr);
  void *q = Alloc(1);
  ASSERT_NE(q, nullptr);
  EXPECT_NE(reinterpret_cast<uintptr_t>(p) / kRegion, reinterpret_cast<uintptr_t>(q) / kRegion);
  xsmem_stats s = Stats();
  EXPECT_EQ(s.bytes_reserved - s.bytes_metadata, 2 * kRegion);
  EXPECT_EQ(s.bytes_in_use, kRegion + kMin);
  EXPECT_EQ(s.largest_alloc_size, kRegion);
  ExpectIdentity();
  Free(p);
  Free(q);
}

// The region lookup table is two-level: an instance of 4 MiB regions maps a
// leaf where a region lies, not 128 MiB (2^26 slots) of table up front, which
// an address-space limit refused.
TEST(BuddyTableTest, SmallRegionsNeedNoTableUpFront) {
  xsmem_os_stats before, built, grown;
  xsmem_os_counters(&before);
  xsmem_buddy_options o = Opts(600000);
  o.region_size = 4 << 20;
  xsmem_allocator *a = xsmem_buddy_create("buddy.small_regions", xsmem_os_source(), &o);
  ASSERT_NE(a, nullptr);
  xsmem_os_counters(&built);
  EXPECT_LT(built.bytes_reserved - before.bytes_reserved, (size_t)1 << 20);
  void *p = a->ops->alloc(a, 4096, 16, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(a->ops->owns(a, p));
  xsmem_os_counters(&grown);
  EXPECT_LT(grown.bytes_reserved - built.bytes_reserved, (size_t)5 << 20) << "the region, its meta bytes, one leaf";
  static char outside[64];
  EXPECT_FALSE(a->ops->owns(a, outside));
  a->ops->free(a, p, 0);
  a->ops->destroy(a);
}

TEST_F(BuddyTest, AlignmentAndLimits) {
  void *p = Alloc(100, 64 << 10);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(xsmem_is_aligned(p, 64 << 10));
  EXPECT_EQ(xsmem_usable_size(a_, p), size_t{64} << 10);  // alignment rounds the order up
  EXPECT_EQ(xsmem_buddy_block_size(a_, 100, 64 << 10), size_t{64} << 10);
  EXPECT_EQ(xsmem_buddy_block_size(a_, 5000, 16), size_t{8192});
  EXPECT_EQ(xsmem_buddy_block_size(a_, kRegion + 1, 16), 0u);
  EXPECT_EQ(xsmem_buddy_max_size(a_), kRegion);
  void *z = a_->ops->alloc(a_, 0, 1, 0);
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(xsmem_usable_size(a_, z), kMin);
  errno = 0;
  EXPECT_EQ(Alloc(kRegion + 1), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(Alloc(16, kRegion * 2), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(Alloc(16, 48), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(Stats().num_failed, 3u);
  Free(p);
  Free(z);
}

TEST_F(BuddyTest, ZeroFlagAndOwns) {
  char *p = static_cast<char *>(Alloc(8192));
  memset(p, 0xab, 8192);
  Free(p);
  char *q = static_cast<char *>(a_->ops->alloc(a_, 8192, 16, XSMEM_ALLOC_ZERO));
  ASSERT_EQ(q, p);  // same block comes back
  for (size_t i = 0; i < 8192; i++) ASSERT_EQ(q[i], 0) << i;
  EXPECT_TRUE(a_->ops->owns(a_, q));
  EXPECT_TRUE(a_->ops->owns(a_, q + 100));
  int local;
  EXPECT_FALSE(a_->ops->owns(a_, &local));
  EXPECT_FALSE(a_->ops->owns(a_, nullptr));
  Free(q);
}

// A zeroed request from memory the source never saw handed out is not
// written beyond the free-list links (its pages stay untouched); from reused
// memory it is zeroed.
TEST_F(BuddyTest, ZeroFlagSkipsFreshMemory) {
  constexpr size_t kBlock = 1 << 20;
  // A split leaves links in the free halves; merging back must clear them.
  Free(Alloc(kMin));
  char *p = static_cast<char *>(a_->ops->alloc(a_, kBlock, 16, XSMEM_ALLOC_ZERO));
  ASSERT_NE(p, nullptr);
  std::vector<unsigned char> resident(kBlock / 4096);
  ASSERT_EQ(mincore(p, kBlock, resident.data()), 0);
  size_t touched = 0;
  for (unsigned char r : resident) touched += r & 1;
  EXPECT_LE(touched, 9u);  // page 0 and the 8 split halves inside the block held free-list links
  for (size_t i = 0; i < kBlock; i++) ASSERT_EQ(p[i], 0) << i;
  memset(p, 0x77, kBlock);
  Free(p);
  char *q = static_cast<char *>(a_->ops->alloc(a_, kBlock / 2, 16, XSMEM_ALLOC_ZERO));
  ASSERT_EQ(q, p);
  for (size_t i = 0; i < kBlock / 2; i++) ASSERT_EQ(q[i], 0) << i;
  Free(q);
}

// Carving small blocks from a fresh region writes nothing into the free
// halves a split leaves (each is alone on its list, its links not yet
// written): the region's pages stay untouched, where writing the links
// touched the region's first page and one more per split (11 here). Freeing and carving again, with
// blocks joining lists that hold one already, keeps every block intact.
TEST_F(BuddyTest, CarvingFromAFreshRegionTouchesNoFreeHalf) {
  char *first = static_cast<char *>(Alloc(kMin));
  ASSERT_NE(first, nullptr);
  char *base = first - (reinterpret_cast<uintptr_t>(first) & (kRegion - 1));
  auto resident = [&] {
    std::vector<unsigned char> v(kRegion / 4096);
    EXPECT_EQ(mincore(base, kRegion, v.data()), 0);
    size_t n = 0;
    for (unsigned char r : v) n += r & 1;
    return n;
  };
  EXPECT_EQ(resident(), 0u);
  std::vector<char *> blocks{first};
  for (int i = 0; i < 5; i++) blocks.push_back(static_cast<char *>(Alloc(kMin << (i % 3))));
  EXPECT_EQ(resident(), 0u);
  for (size_t i = 0; i < blocks.size(); i++) memset(blocks[i], static_cast<int>(i + 1), kMin);
  Free(blocks[1]);
  Free(blocks[3]);
  char *again = static_cast<char *>(Alloc(kMin));
  memset(again, 0x55, kMin);
  for (size_t i : {0, 2, 4, 5}) {
    for (size_t j = 0; j < kMin; j++) ASSERT_EQ(blocks[i][j], static_cast<char>(i + 1)) << i;
  }
  ExpectIdentity();
  for (size_t i : {0, 2, 4, 5}) Free(blocks[i]);
  Free(again);
  EXPECT_EQ(Stats().bytes_in_use, 0u);
  EXPECT_EQ(Detail(a_).FreeAt(kRegion), 1);  // all merged back
}

TEST_F(BuddyTest, ReallocInPlaceAndMoving) {
  char *p = static_cast<char *>(Alloc(5000));  // 8 KiB block at the region start
  for (int i = 0; i < 5000; i++) p[i] = static_cast<char>(i * 7);
  // Grows into the free right-hand buddies.
  char *q = static_cast<char *>(a_->ops->realloc(a_, p, 60000, 0));
  EXPECT_EQ(q, p);
  EXPECT_EQ(xsmem_usable_size(a_, q), size_t{64} << 10);
  EXPECT_EQ(Stats().bytes_in_use, size_t{64} << 10);
  for (int i = 0; i < 5000; i++) ASSERT_EQ(q[i], static_cast<char>(i * 7));
  // Shrinks in place, the upper halves come back as free blocks.
  q = static_cast<char *>(a_->ops->realloc(a_, q, 3000, 0));
  EXPECT_EQ(q, p);
  EXPECT_EQ(xsmem_usable_size(a_, q), kMin);
  EXPECT_EQ(Stats().bytes_in_use, kMin);
  for (int i = 0; i < 3000; i++) ASSERT_EQ(q[i], static_cast<char>(i * 7));
  // Blocked on the right: moves.
  void *blocker = Alloc(kMin);
  EXPECT_EQ(static_cast<char *>(blocker), p + kMin);
  char *m = static_cast<char *>(a_->ops->realloc(a_, q, 100000, 0));
  ASSERT_NE(m, nullptr);
  EXPECT_NE(m, p);
  for (int i = 0; i < 3000; i++) ASSERT_EQ(m[i], static_cast<char>(i * 7));
  EXPECT_EQ(Stats().bytes_in_use, kMin + (128 << 10));
  ExpectIdentity();
  Free(m);
  Free(blocker);
  EXPECT_EQ(Stats().bytes_in_use, 0u);
  EXPECT_EQ(Detail(a_).FreeAt(kRegion), 1);
}

// Pages of blocks freed around a live block are dropped once the region has
// been idle for a few purge passes (a region with a live block is never given
// back), and not while it is busy.
TEST_F(BuddyTest, IdleRegionDropsFreedPages) {
  const size_t kBlock = 1 << 20;
  char *pin = static_cast<char *>(Alloc(kMin));
  memset(pin, 5, kMin);
  std::vector<char *> blocks;
  for (int i = 0; i < 4; i++) {
    blocks.push_back(static_cast<char *>(Alloc(kBlock)));
    memset(blocks.back(), 1, kBlock);
  }
  for (char *p : blocks) Free(p);
  auto resident = [&](char *p) {
    std::vector<unsigned char> v(kBlock / 4096);
    EXPECT_EQ(mincore(p, kBlock, v.data()), 0);
    size_t n = 0;
    for (unsigned char r : v) n += r & 1;
    return n;
  };
  xsmem_buddy_purge(a_);  // just freed: busy, kept
  EXPECT_EQ(resident(blocks[1]), kBlock / 4096);
  for (int i = 0; i < 4; i++) xsmem_buddy_purge(a_);
  for (char *p : blocks) EXPECT_LE(resident(p), 1u);  // the first page of a free block keeps its links
  for (size_t i = 0; i < kMin; i++) ASSERT_EQ(pin[i], 5);
  char *again = static_cast<char *>(Alloc(kBlock));
  memset(again, 2, kBlock);  // dropped pages come back on use
  Free(again);
  Free(pin);
}

TEST_F(BuddyTest, TrimGivesEmptyRegionsBack) {
  void *p = Alloc(kRegion);
  void *q = Alloc(kMin);
  Free(p);
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_BUDDY);
  size_t released = a_->ops->trim(a_, 0);
  EXPECT_GE(released, kRegion);
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_NONE);
  EXPECT_FALSE(a_->ops->owns(a_, p));
  xsmem_stats s = Stats();
  EXPECT_EQ(s.bytes_reserved - s.bytes_metadata, kRegion);
  ExpectIdentity();
  Free(q);
}

TEST(BuddyDelayTest, ZeroDelayReleasesAtOnce) {
  xsmem_buddy_options o = Opts(0);
  xsmem_allocator *a = xsmem_buddy_create("buddy.nodelay", xsmem_os_source(), &o);
  ASSERT_NE(a, nullptr);
  xsmem_os_stats before, after;
  xsmem_os_counters(&before);
  void *p = a->ops->alloc(a, 1 << 20, 16, 0);
  ASSERT_NE(p, nullptr);
  a->ops->free(a, p, 0);
  xsmem_os_counters(&after);
  EXPECT_EQ(after.num_unmaps - before.num_unmaps, 2u);  // the region and its order bytes
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_EQ(s.bytes_reserved, s.bytes_metadata);
  EXPECT_EQ(s.bytes_cached, 0u);
  a->ops->destroy(a);
}

TEST(BuddyDelayTest, PurgeReleasesAfterTheDelay) {
  xsmem_buddy_options o = Opts(30);
  xsmem_allocator *a = xsmem_buddy_create("buddy.purge", xsmem_os_source(), &o);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(xsmem_buddy_purge(a), 0u);
  void *p = a->ops->alloc(a, 1 << 20, 16, 0);
  a->ops->free(a, p, 0);
  EXPECT_EQ(xsmem_buddy_purge(a), 0u);  // empty, but not for long enough
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_BUDDY);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  EXPECT_GE(xsmem_buddy_purge(a), kRegion);
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_NONE);
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_EQ(s.bytes_reserved, s.bytes_metadata);
  // A released slot is reused by the next region.
  void *q = a->ops->alloc(a, 1 << 20, 16, 0);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(xsmem_get_stats(a).bytes_in_use, size_t{1} << 20);
  a->ops->free(a, q, 0);
  a->ops->destroy(a);
}

TEST(BuddyOptionsTest, FromTheEnvironmentOverOsVm) {
  xsmem_buddy_options o = xsmem_buddy_options_from_env();
  xsmem_allocator *a = xsmem_buddy_create("buddy", xsmem_os_source(), &o);
  ASSERT_NE(a, nullptr);
  EXPECT_STREQ(a->ops->kind, "buddy");
  void *p = a->ops->alloc(a, 1 << 20, 16, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_BUDDY);
  a->ops->free(a, p, 0);
  a->ops->destroy(a);
}

using BuddyDeathTest = BuddyTest;

TEST_F(BuddyDeathTest, BadFreesAreReported) {
  char *p = static_cast<char *>(Alloc(64 << 10));
  char *keep = static_cast<char *>(Alloc(64 << 10));  // p's buddy: keeps p from merging
  ASSERT_EQ(keep, p + (64 << 10));
  int local;
  EXPECT_DEATH(Free(&local), "not allocated by this allocator");
  EXPECT_DEATH(Free(p + 16), "interior pointer");
  EXPECT_DEATH(Free(p + kMin), "interior pointer or double free");
  EXPECT_DEATH(a_->ops->free(a_, p, (64 << 10) + 1), "larger than the block");
  // A query is reported and answered 0, never an abort (nothing can be lost).
  testing::internal::CaptureStderr();
  EXPECT_EQ(xsmem_usable_size(a_, p + 32), 0u);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("interior pointer"), std::string::npos);
  Free(p);
  EXPECT_DEATH(Free(p), "double free");
  Free(keep);
}

// Writes after free into the free-list links buddy keeps in a free block's
// first 16 bytes (next, prev; safe-linked): reported as heap corruption
// naming the allocator and the block size, never followed nor written
// through; under XSMEM_ON_ERROR=warn the list is rebuilt from the order
// bytes, so every block comes back and the region coalesces whole.
using xsmem::testing::g_forge_target;
using xsmem::testing::WriteWord;

class BuddyCorruptionDeathTest : public BuddyTest {
 protected:
  // Eight 64 KiB blocks, every other one freed (none merges): a list of
  // four whose head is v[6]. `word` of `victim` gets the target's address.
  void Corrupt(void **v, int victim, size_t word) {
    for (int i = 0; i < 8; i++) v[i] = Alloc(64 << 10);
    for (int i = 0; i < 8; i += 2) Free(v[i]);
    WriteWord(v[victim], word, reinterpret_cast<uintptr_t>(g_forge_target.at(1024)));
  }
};

TEST_F(BuddyCorruptionDeathTest, ForgedLinkIsReportedNotFollowed) {
  for (size_t word : {0, 1}) {
    // The head's next (taken by the next allocation of its order) or prev.
    EXPECT_DEATH(
        {
          void *v[8];
          Corrupt(v, 6, word);
          for (int i = 0; i < 8; i++) Alloc(64 << 10);
        },
        "malloc\\(0x[0-9a-f]+\\) in allocator 'buddy.test': heap corruption in a free 65536-byte block")
        << word;
    EXPECT_EXIT(
        {
          setenv("XSMEM_ON_ERROR", "warn", 1);
          void *v[8];
          void *got[8];
          Corrupt(v, 6, word);
          int bad = 0;
          for (auto &p : got) {
            p = Alloc(64 << 10);
            bad += p == nullptr || g_forge_target.Holds(p);
          }
          for (auto &p : got) Free(p);
          for (int i = 1; i < 8; i += 2) Free(v[i]);
          Detail d(a_);  // nothing lost: the region is one free block again
          bool whole = d.FreeAt(kRegion) == 1 && d.FreeAt(64 << 10) == 0;
          _exit(bad == 0 && whole && g_forge_target.Untouched() && xsmem_bad_pointer_count() > 0 ? 0 : 1);
        },
        testing::ExitedWithCode(0), "heap corruption in a free 65536-byte block")
        << word;
  }
}

// A block in the middle of a list, taken off it by a merge when its buddy is
// freed: a forged prev would have been written through (the unlink's
// p->next = n).
TEST_F(BuddyCorruptionDeathTest, ForgedLinkOfAMergedBuddyIsReported) {
  for (size_t word : {0, 1}) {
    EXPECT_DEATH(
        {
          void *v[8];
          Corrupt(v, 2, word);
          Free(v[3]);
        },
        "free\\(0x[0-9a-f]+\\) in allocator 'buddy.test': heap corruption in a free 65536-byte block")
        << word;
    EXPECT_EXIT(
        {
          setenv("XSMEM_ON_ERROR", "warn", 1);
          void *v[8];
          Corrupt(v, 2, word);
          for (int i = 1; i < 8; i += 2) Free(v[i]);
          Detail d(a_);
          bool whole = d.FreeAt(kRegion) == 1 && d.FreeAt(64 << 10) == 0;
          _exit(whole && g_forge_target.Untouched() && xsmem_bad_pointer_count() > 0 ? 0 : 1);
        },
        testing::ExitedWithCode(0), "heap corruption in a free 65536-byte block")
        << word;
  }
}

// 8 threads allocate, stamp, check and free random sizes; afterwards the
// counters balance and the regions have coalesced.
TEST_F(BuddyTest, ConcurrentAllocFree) {
  constexpr int kThreads = 8;
  std::atomic<int> corrupt{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::pair<unsigned char *, size_t>> live;
      for (int i = 0; i < 4000; i++) {
        if (live.size() < 16 && (rng() % 3 != 0 || live.empty())) {
          size_t size = size_t{16} << (rng() % 16);  // 16 B .. 512 KiB
          auto *p = static_cast<unsigned char *>(a_->ops->alloc(a_, size, 16, 0));
          if (!p) continue;
          memset(p, t + 1, std::min<size_t>(size, 64));
          p[size - 1] = static_cast<unsigned char>(t + 1);
          live.emplace_back(p, size);
        } else {
          size_t j = rng() % live.size();
          auto [p, size] = live[j];
          if (p[0] != t + 1 || p[size - 1] != t + 1) corrupt.fetch_add(1);
          a_->ops->free(a_, p, size);
          live[j] = live.back();
          live.pop_back();
        }
      }
      for (auto [p, size] : live) a_->ops->free(a_, p, size);
    });
  }
  for (auto &t : ts) t.join();
  EXPECT_EQ(corrupt.load(), 0);
  xsmem_stats s = Stats();
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.num_allocs, s.num_frees);
  EXPECT_GT(s.peak_bytes_in_use, 0u);
  // Every region is back to one whole block.
  Detail d(a_);
  EXPECT_EQ(d.FreeAt(kRegion) * kRegion, s.bytes_cached);
  for (size_t b = kMin; b < kRegion; b *= 2) EXPECT_EQ(d.FreeAt(b), 0) << b;
  ExpectIdentity();
}

}  // namespace
