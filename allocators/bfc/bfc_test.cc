// Unit tests for the BFC arena: the cases a best-fit-with-coalescing allocator must get right.
#include "allocators/bfc/bfc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/detail.h"

namespace {

constexpr size_t kG = XSMEM_BFC_GRANULE;

struct Chunk {
  uintptr_t address;
  size_t size;
  bool in_use;
  uint64_t id, freed_at;
  uintptr_t region;
};

// Collects the regions and chunks of b in address order.
struct Snapshot {
  std::vector<xsmem_bfc_region_info> regions;
  std::vector<Chunk> chunks;
};

Snapshot Take(xsmem_bfc *b) {
  struct V {
    xsmem_bfc_visitor v;
    Snapshot *s;
  } v{};
  Snapshot s;
  v.s = &s;
  v.v.region = [](xsmem_bfc_visitor *vv, const xsmem_bfc_region_info *r) {
    reinterpret_cast<V *>(vv)->s->regions.push_back(*r);
  };
  v.v.chunk = [](xsmem_bfc_visitor *vv, const xsmem_bfc_region_info *r, const xsmem_bfc_chunk_info *c) {
    reinterpret_cast<V *>(vv)->s->chunks.push_back(
        {c->address, c->size, c->in_use, c->allocation_id, c->freed_at, r->base});
  };
  xsmem_bfc_visit(b, &v.v);
  return s;
}

class Bfc : public ::testing::Test {
 protected:
  xsmem_bfc *Make(size_t limit, size_t initial = 64 * 1024) {
    xsmem_bfc_options o{};
    o.bytes_limit = limit;
    o.initial_region = initial;
    o.oom = [](void *ctx, xsmem_bfc *, size_t size, size_t) { static_cast<Bfc *>(ctx)->ooms_.push_back(size); };
    o.oom_ctx = this;
    opts_ = o;
    return Make(o);
  }
  xsmem_bfc *Make(const xsmem_bfc_options &o) {
    xsmem_bfc *b = xsmem_bfc_create(xsmem_os_source(), &o, "bfc.test");
    EXPECT_NE(b, nullptr);
    made_.push_back(b);
    return b;
  }
  void TearDown() override {
    for (auto *b : made_) xsmem_bfc_destroy(b);
  }
  static void *A(xsmem_bfc *b, size_t n, size_t align = 16) {
    return xsmem_bfc_allocator(b)->ops->alloc(xsmem_bfc_allocator(b), n, align, 0);
  }
  static void F(xsmem_bfc *b, void *p) { xsmem_bfc_allocator(b)->ops->free(xsmem_bfc_allocator(b), p, 0); }
  static xsmem_stats S(xsmem_bfc *b) { return xsmem_get_stats(xsmem_bfc_allocator(b)); }

  std::vector<xsmem_bfc *> made_;
  std::vector<size_t> ooms_;
  xsmem_bfc_options opts_{};
};

TEST_F(Bfc, BinsAreExponentialFrom256Bytes) {
  EXPECT_EQ(xsmem_bfc_bin_of(256), 0);
  EXPECT_EQ(xsmem_bfc_bin_of(511), 0);
  EXPECT_EQ(xsmem_bfc_bin_of(512), 1);
  EXPECT_EQ(xsmem_bfc_bin_of(1 << 20), 12);
  EXPECT_EQ(xsmem_bfc_bin_of((size_t)256 << 20), 20);
  EXPECT_EQ(xsmem_bfc_bin_of((size_t)64 << 30), 20);
}

TEST_F(Bfc, CoalescesWithBothNeighbours) {
  xsmem_bfc *b = Make(64 << 20);
  char *a = static_cast<char *>(A(b, 1000));
  char *m = static_cast<char *>(A(b, 1000));
  char *c = static_cast<char *>(A(b, 1000));
  char *guard = static_cast<char *>(A(b, 1000));
  ASSERT_EQ(m, a + 1024);
  ASSERT_EQ(c, m + 1024);
  F(b, a);
  F(b, c);
  EXPECT_EQ(Take(b).chunks.size(), 5u);  // a(free) m c(free) guard tail(free)
  F(b, m);                               // merges with a (before) and c (after)
  Snapshot s = Take(b);
  ASSERT_GE(s.chunks.size(), 3u);
  EXPECT_EQ(s.chunks[0].address, (uintptr_t)a);
  EXPECT_EQ(s.chunks[0].size, 3 * 1024u);
  EXPECT_FALSE(s.chunks[0].in_use);
  EXPECT_EQ(s.chunks[1].address, (uintptr_t)guard);
  F(b, guard);  // now everything is one free chunk again
  s = Take(b);
  ASSERT_EQ(s.chunks.size(), 1u);
  EXPECT_EQ(s.chunks[0].size, s.regions[0].size);
  EXPECT_EQ(S(b).fragmentation, 1.0);  // all it holds is free
  xsmem::testing::Detail d(xsmem_bfc_allocator(b));
  EXPECT_EQ(d.Get("bfc", "free", "largest_free_chunk_bytes"), (double)s.regions[0].size);  // but in one piece
}

TEST_F(Bfc, BestFitTakesTheSmallestAdequateChunkLowestAddressFirst) {
  xsmem_bfc *b = Make(64 << 20);
  // Free holes of 512, 1024, 512, 768 bytes separated by live guards.
  std::vector<size_t> holes = {512, 1024, 512, 768};
  std::vector<void *> hole_ptrs, guards;
  for (size_t h : holes) {
    hole_ptrs.push_back(A(b, h));
    guards.push_back(A(b, 256));
  }
  for (void *p : hole_ptrs) F(b, p);
  EXPECT_EQ(A(b, 400), hole_ptrs[0]);  // 512-byte tie: lowest address
  EXPECT_EQ(A(b, 500), hole_ptrs[2]);  // the other 512
  EXPECT_EQ(A(b, 600), hole_ptrs[3]);  // 768 beats 1024 and the tail
  EXPECT_EQ(A(b, 1000), hole_ptrs[1]);
}

TEST_F(Bfc, SplitsOnlyWhenTheRemainderIsWorthIt) {
  xsmem_bfc *b = Make(64 << 20);
  void *hole = A(b, 1024 + 512);
  void *guard = A(b, 256);
  F(b, hole);
  // 1280 of a 1536 chunk: slack 256 < 1 KiB and 1536 < 2 * 1280, so it is not split.
  void *p = A(b, 1280);
  ASSERT_EQ(p, hole);
  EXPECT_EQ(xsmem_usable_size(xsmem_bfc_allocator(b), p), 1536u);
  F(b, p);
  // 512 of it: split, the rest stays free and serves the next request.
  void *q = A(b, 512);
  EXPECT_EQ(q, hole);
  EXPECT_EQ(xsmem_usable_size(xsmem_bfc_allocator(b), q), 512u);
  EXPECT_EQ(A(b, 1000), static_cast<char *>(hole) + 512);
  (void)guard;
}

TEST_F(Bfc, RegionsGrowGeometricallyAndABigRequestGetsItsOwn) {
  xsmem_bfc *b = Make(64 << 20, 64 * 1024);
  void *small = A(b, 100);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(S(b).bytes_reserved, 64 * 1024u);
  EXPECT_EQ(Take(b).regions.size(), 1u);
  void *big = A(b, 1 << 20);  // more than the step: a region of its own size
  ASSERT_NE(big, nullptr);
  ASSERT_EQ(Take(b).regions.size(), 2u);
  EXPECT_EQ(S(b).bytes_reserved, 64 * 1024u + (1u << 20));
  ASSERT_NE(A(b, 60 * 1024), nullptr);  // fills the first region
  // The next small request gets a region of the step (doubled once), not one
  // as large as all before it: a big buffer must not make every later region
  // big too (it would spend the limit on address space).
  ASSERT_NE(A(b, 8 * 1024), nullptr);
  EXPECT_EQ(Take(b).regions.size(), 3u);
  EXPECT_EQ(S(b).bytes_reserved, 64 * 1024u + (1u << 20) + 128 * 1024u);
  ASSERT_NE(A(b, 100 * 1024), nullptr);  // fits the third region
  EXPECT_EQ(Take(b).regions.size(), 3u);
  ASSERT_NE(A(b, 64 * 1024), nullptr);  // does not: the step doubles again
  EXPECT_EQ(Take(b).regions.size(), 4u);
  EXPECT_EQ(S(b).bytes_reserved, 64 * 1024u + (1u << 20) + 128 * 1024u + 256 * 1024u);
}

TEST_F(Bfc, LimitReturnsNullWithENOMEMAndADump) {
  xsmem_bfc *b = Make(1 << 20, 256 * 1024);
  void *x = A(b, 128 * 1024), *y = A(b, 128 * 1024);  // region 1: 256 KiB
  void *z = A(b, 256 * 1024);                         // region 2: 256 KiB
  void *w = A(b, 512 * 1024);                         // region 3: 512 KiB, the limit is reached
  for (void *p : {x, y, z, w}) ASSERT_NE(p, nullptr);
  EXPECT_EQ(S(b).bytes_reserved, 1u << 20);
  F(b, y);  // 128 KiB free: not enough for 256 KiB, and no region is wholly free
  errno = 0;
  EXPECT_EQ(A(b, 256 * 1024), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  ASSERT_EQ(ooms_.size(), 1u);
  EXPECT_EQ(ooms_[0], 256 * 1024u);
  EXPECT_EQ(S(b).num_failed, 1u);
  EXPECT_EQ(S(b).bytes_reserved, 1u << 20);
  // A request beyond the limit fails at once, without a dump.
  EXPECT_EQ(A(b, 2 << 20), nullptr);
  EXPECT_EQ(ooms_.size(), 1u);
  // The dump names the bins, the regions, the chunks and the largest free chunk.
  char path[] = "/tmp/bfc_dumpXXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  xsmem_bfc_dump(b, fd, 0);
  std::string text(16384, '\0');
  lseek(fd, 0, SEEK_SET);
  text.resize(read(fd, &text[0], text.size()));
  close(fd);
  unlink(path);
  EXPECT_NE(text.find("largest free chunk 131072 B"), std::string::npos) << text;
  EXPECT_NE(text.find("in 3 regions"), std::string::npos) << text;
  EXPECT_NE(text.find("region ["), std::string::npos) << text;
  EXPECT_NE(text.find("in use  requested 262144"), std::string::npos) << text;
  EXPECT_NE(text.find("bin  9 (>= 131072 B): free 1 chunks"), std::string::npos) << text;
  // Freeing makes room again.
  F(b, x);  // region 1 is wholly free: 256 KiB fit
  EXPECT_NE(A(b, 256 * 1024), nullptr);
  EXPECT_EQ(ooms_.size(), 1u);
}

TEST_F(Bfc, LimitReachedGivesWhollyFreeRegionsBackBeforeFailing) {
  xsmem_bfc *b = Make(4 << 20, 1 << 20);
  void *p = A(b, 1 << 20);  // region 1 (1 MiB)
  void *q = A(b, 2 << 20);  // region 2 (2 MiB)
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  F(b, p);
  F(b, q);
  EXPECT_EQ(S(b).bytes_reserved, 3u << 20);
  void *big = A(b, 4 << 20);  // needs the whole limit: the free regions go back first
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(S(b).bytes_reserved, 4u << 20);
  EXPECT_TRUE(ooms_.empty());
}

TEST_F(Bfc, FrontierDelaysReuseAndMerging) {
  xsmem_bfc_options o{};
  o.bytes_limit = 64 << 20;
  o.initial_region = 64 * 1024;
  o.frontier = true;
  xsmem_bfc *b = Make(o);
  void *x = A(b, 1024);
  void *y = A(b, 1024);
  void *guard = A(b, 1024);
  uint64_t before = xsmem_bfc_counter(b);
  EXPECT_EQ(xsmem_bfc_allocation_id(b, y), xsmem_bfc_allocation_id(b, x) + 1);
  F(b, x);
  F(b, y);
  uint64_t after = xsmem_bfc_counter(b);
  EXPECT_EQ(after, before + 2);
  // Not merged: two free chunks side by side.
  Snapshot s = Take(b);
  ASSERT_GE(s.chunks.size(), 3u);
  EXPECT_FALSE(s.chunks[0].in_use);
  EXPECT_FALSE(s.chunks[1].in_use);
  EXPECT_EQ(s.chunks[0].freed_at, before + 1);
  EXPECT_EQ(s.chunks[1].freed_at, before + 2);
  // A request that demands the old frontier does not reuse x or y.
  void *z = xsmem_bfc_alloc_frontier(b, 1024, 16, before);
  EXPECT_NE(z, x);
  EXPECT_NE(z, y);
  EXPECT_GT((uintptr_t)z, (uintptr_t)guard);
  // A frontier past x's free reuses x but not y.
  void *w = xsmem_bfc_alloc_frontier(b, 1024, 16, before + 1);
  EXPECT_EQ(w, x);
  F(b, w);
  // Once the safe frontier passes both, trimming merges them.
  xsmem_bfc_set_safe_frontier(b, xsmem_bfc_counter(b));
  xsmem_bfc_trim(b);
  s = Take(b);
  EXPECT_FALSE(s.chunks[0].in_use);
  EXPECT_EQ(s.chunks[0].size, 2048u);
  EXPECT_EQ(A(b, 2000), x);  // a plain request takes the merged chunk
}

TEST_F(Bfc, StatsAreExactAfterEveryStep) {
  xsmem_bfc *b = Make(256 << 20, 128 * 1024);
  std::mt19937_64 rng(7);
  std::map<void *, size_t> live;  // pointer -> usable
  uint64_t allocs = 0, frees = 0, in_use = 0, peak = 0, largest = 0;
  for (int step = 0; step < 4000; step++) {
    if (live.empty() || rng() % 3 != 0) {
      size_t n = rng() % 16 == 0 ? rng() % (1 << 20) : rng() % 4096;
      void *p = A(b, n);
      ASSERT_NE(p, nullptr);
      size_t u = xsmem_usable_size(xsmem_bfc_allocator(b), p);
      ASSERT_GE(u, n);
      ASSERT_EQ(u % kG, 0u);
      live[p] = u;
      allocs++;
      in_use += u;
      peak = std::max(peak, in_use);
      largest = std::max<uint64_t>(largest, n);
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      F(b, it->first);
      in_use -= it->second;
      frees++;
      live.erase(it);
    }
    xsmem_stats s = S(b);
    ASSERT_EQ(s.num_allocs, allocs) << step;
    ASSERT_EQ(s.num_frees, frees) << step;
    ASSERT_EQ(s.bytes_in_use, in_use) << step;
    ASSERT_EQ(s.peak_bytes_in_use, peak) << step;
    ASSERT_EQ(s.largest_alloc_size, largest) << step;
    ASSERT_EQ(s.bytes_limit, 256u << 20);
    if (step % 100 == 0) {  // the slower cross-checks against the chunk map
      Snapshot snap = Take(b);
      size_t region_bytes = 0, free_bytes = 0, largest_free = 0, used = 0;
      for (auto &r : snap.regions) region_bytes += r.size;
      for (size_t i = 0; i < snap.chunks.size(); i++) {
        const Chunk &c = snap.chunks[i];
        if (c.in_use) {
          used += c.size;
          ASSERT_TRUE(live.count(reinterpret_cast<void *>(c.address)));
        } else {
          free_bytes += c.size;
          largest_free = std::max(largest_free, c.size);
          // Immediate coalescing: no two free chunks are neighbours.
          if (i + 1 < snap.chunks.size() && snap.chunks[i + 1].region == c.region) {
            ASSERT_TRUE(snap.chunks[i + 1].in_use) << "free neighbours not merged at step " << step;
          }
        }
      }
      ASSERT_EQ(used, in_use);
      ASSERT_EQ(region_bytes, s.bytes_reserved);
      ASSERT_EQ(free_bytes, s.bytes_cached);
      ASSERT_DOUBLE_EQ(s.fragmentation, used + free_bytes ? (double)free_bytes / (double)(used + free_bytes) : 0.0);
      xsmem::testing::Detail d(xsmem_bfc_allocator(b));
      ASSERT_EQ(d.Get("bfc", "free", "largest_free_chunk_bytes"), (double)largest_free);
      ASSERT_EQ(d.Get("bfc", "free", "free_bytes"), (double)free_bytes);
    }
  }
  for (auto &kv : live) F(b, kv.first);
  EXPECT_EQ(S(b).bytes_in_use, 0u);
}

TEST_F(Bfc, GarbageCollectionGivesFreeRegionsBack) {
  xsmem_bfc_options o{};
  o.bytes_limit = 64 << 20;
  o.initial_region = 64 * 1024;
  o.gc = true;
  xsmem_bfc *b = Make(o);
  void *keep = A(b, 1000);
  void *big = A(b, 4 << 20);
  ASSERT_EQ(Take(b).regions.size(), 2u);
  uint64_t reserved = S(b).bytes_reserved;
  F(b, big);  // its region is wholly free now: given back at once
  EXPECT_EQ(Take(b).regions.size(), 1u);
  EXPECT_EQ(S(b).bytes_reserved, reserved - (4u << 20));
  F(b, keep);  // the last region is kept
  EXPECT_EQ(Take(b).regions.size(), 1u);
  // Without the option, regions stay until trimmed.
  xsmem_bfc *c = Make(64 << 20);
  void *x = A(c, 4 << 20);
  F(c, x);
  EXPECT_EQ(Take(c).regions.size(), 1u);
  EXPECT_EQ(xsmem_bfc_trim(c), 4u << 20);
  EXPECT_EQ(Take(c).regions.size(), 0u);
  EXPECT_EQ(S(c).bytes_reserved, 0u);
  EXPECT_NE(A(c, 100), nullptr);  // and it grows again
}

TEST_F(Bfc, ReserveAllMapsTheLimitUpFront) {
  xsmem_bfc_options o{};
  o.bytes_limit = 8 << 20;
  o.reserve_all = true;
  xsmem_bfc *b = Make(o);
  EXPECT_EQ(S(b).bytes_reserved, 8u << 20);
  void *p = A(b, 7 << 20);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Take(b).regions.size(), 1u);
  F(b, p);
  EXPECT_EQ(xsmem_bfc_trim(b), 0u);  // the reserved region is never given back
  EXPECT_EQ(S(b).bytes_reserved, 8u << 20);
}

TEST_F(Bfc, AlignmentsAboveTheGranularity) {
  xsmem_bfc *b = Make((size_t)4 << 30, 64 * 1024);
  std::vector<void *> live;
  for (size_t a = 512; a <= ((size_t)1 << 30); a *= 2) {
    for (size_t n : {(size_t)1, (size_t)1000, std::min<size_t>(a, 1 << 20) + 1}) {
      void *p = A(b, n, a);
      ASSERT_NE(p, nullptr) << a;
      EXPECT_EQ((uintptr_t)p % a, 0u) << a;
      EXPECT_GE(xsmem_usable_size(xsmem_bfc_allocator(b), p), n);
      memset(p, 0x5a, std::min<size_t>(n, 1 << 20));
      live.push_back(p);
    }
  }
  xsmem_stats s = S(b);
  EXPECT_LT(s.bytes_reserved, (size_t)1 << 30);  // alignment costs address space, not reserved bytes
  for (void *p : live) F(b, p);
  EXPECT_EQ(S(b).bytes_in_use, 0u);
  errno = 0;
  EXPECT_EQ(A(b, 16, 3), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(Bfc, ZeroFlagAndImpossibleSizes) {
  xsmem_bfc *b = Make(64 << 20);
  xsmem_allocator *a = xsmem_bfc_allocator(b);
  void *p = A(b, 5000);
  memset(p, 0xff, 5000);
  F(b, p);
  auto *q = static_cast<unsigned char *>(a->ops->alloc(a, 5000, 16, XSMEM_ALLOC_ZERO));
  ASSERT_EQ(q, p);
  for (int i = 0; i < 5000; i++) ASSERT_EQ(q[i], 0);
  for (size_t n : {SIZE_MAX, SIZE_MAX - 100, (size_t)1 << 62}) {
    errno = 0;
    EXPECT_EQ(A(b, n), nullptr);
    EXPECT_EQ(errno, ENOMEM);
  }
  EXPECT_TRUE(ooms_.empty());
}

TEST_F(Bfc, ReallocGrowsAndShrinksInPlaceWhenItCan) {
  xsmem_bfc *b = Make(64 << 20);
  xsmem_allocator *a = xsmem_bfc_allocator(b);
  auto *p = static_cast<unsigned char *>(A(b, 1000));
  auto *next = A(b, 3000);
  auto *guard = A(b, 256);
  memset(p, 7, 1000);
  F(b, next);  // 3072 free bytes after p
  uint64_t allocs = S(b).num_allocs;
  auto *q = static_cast<unsigned char *>(xsmem_realloc(a, p, 4000));  // grows into the neighbour
  ASSERT_EQ(q, p);
  EXPECT_EQ(xsmem_usable_size(a, q), 4096u);
  EXPECT_EQ(q[999], 7);
  EXPECT_EQ(S(b).bytes_in_use, 4096u + 256);
  EXPECT_EQ(S(b).num_allocs, allocs);
  q = static_cast<unsigned char *>(xsmem_realloc(a, q, 500));  // shrinks: the tail is free again
  ASSERT_EQ(q, p);
  EXPECT_EQ(xsmem_usable_size(a, q), 512u);
  EXPECT_EQ(S(b).bytes_in_use, 512u + 256);
  Snapshot s = Take(b);
  ASSERT_GE(s.chunks.size(), 3u);
  EXPECT_FALSE(s.chunks[1].in_use);
  EXPECT_EQ(s.chunks[1].size, 4096u - 512);
  EXPECT_EQ(s.chunks[2].address, (uintptr_t)guard);
  q = static_cast<unsigned char *>(xsmem_realloc(a, q, 8000));  // the neighbour is too small: moves
  ASSERT_NE(q, p);
  EXPECT_EQ(q[499], 7);
  EXPECT_GE(xsmem_usable_size(a, q), 8000u);
  F(b, q);
  F(b, guard);
  EXPECT_EQ(S(b).bytes_in_use, 0u);
  EXPECT_EQ(Take(b).chunks.size(), 1u);
}

TEST_F(Bfc, DetailReportsEveryBin) {
  xsmem_bfc *b = Make(64 << 20);
  void *p = A(b, 3000);
  xsmem::testing::Detail d(xsmem_bfc_allocator(b));
  EXPECT_EQ(d.Get("bin", "2048", "used_chunks"), 1.0);
  EXPECT_EQ(d.Get("bin", "2048", "used_bytes"), 3072.0);
  EXPECT_EQ(d.Get("bfc", "regions", "count"), 1.0);
  EXPECT_TRUE(d.Has("bin", "268435456", "free_bytes"));
  F(b, p);
}

struct MapEntry {
  uintptr_t address;
  size_t size;
  bool used;
};

struct DetailMap {
  std::vector<MapEntry> entries;
  std::map<std::string, double> summary;
};

// Runs the detail op with a sink that allocates from b itself on its first
// call: it would deadlock if the op still held the lock.
DetailMap TakeMap(xsmem_bfc *b) {
  xsmem_allocator *a = xsmem_bfc_allocator(b);
  bool first = true;
  xsmem::testing::Detail detail(a, [&](const xsmem::testing::DetailValue &) {
    if (first) a->ops->free(a, a->ops->alloc(a, 100, 16, 0), 0);
    first = false;
  });
  const std::vector<xsmem::testing::DetailValue> &values = detail.values();
  DetailMap m;
  for (size_t i = 0; i < values.size(); i++) {
    const xsmem::testing::DetailValue &d = values[i];
    if (d.group == "chunk_summary") m.summary[d.key] = d.value;
    if (d.group != "chunk" || d.key != "size") continue;
    // Each entry: "size" then "used" under the same label.
    EXPECT_LT(i + 1, values.size());
    if (i + 1 >= values.size()) break;
    const xsmem::testing::DetailValue &u = values[i + 1];
    EXPECT_EQ(u.label, d.label);
    EXPECT_EQ(u.key, "used");
    EXPECT_TRUE(u.value == 0.0 || u.value == 1.0) << u.value;
    EXPECT_EQ(d.label.rfind("0x", 0), 0u) << d.label;
    m.entries.push_back({(uintptr_t)std::stoull(d.label, nullptr, 16), (size_t)d.value, u.value != 0});
  }
  return m;
}

TEST_F(Bfc, DetailMapsChunksInAddressOrder) {
  xsmem_bfc *b = Make(64 << 20, 64 * 1024);
  char *x = static_cast<char *>(A(b, 4096));
  char *y = static_cast<char *>(A(b, 4096));
  char *z = static_cast<char *>(A(b, 4096));
  F(b, y);
  DetailMap m = TakeMap(b);
  ASSERT_EQ(m.entries.size(), 4u);
  EXPECT_EQ(m.entries[0].address, (uintptr_t)x);
  EXPECT_EQ(m.entries[1].address, (uintptr_t)y);
  EXPECT_EQ(m.entries[2].address, (uintptr_t)z);
  std::vector<bool> used;
  for (const MapEntry &e : m.entries) used.push_back(e.used);
  EXPECT_EQ(used, (std::vector<bool>{true, false, true, false}));  // A, hole B, C, the region's free tail
  for (size_t i = 0; i < 3; i++) EXPECT_EQ(m.entries[i].size, 4096u);
  EXPECT_EQ(m.entries[3].address, (uintptr_t)z + 4096);
  EXPECT_EQ(m.entries[3].size, 64u * 1024 - 3 * 4096);
  EXPECT_EQ(m.summary["chunks"], 4.0);
  EXPECT_EQ(m.summary["entries"], 4.0);
  EXPECT_EQ(m.summary["merged"], 0.0);
  EXPECT_EQ(m.summary["dropped_chunks"], 0.0);
  // The map agrees with the visitor.
  Snapshot s = Take(b);
  ASSERT_EQ(s.chunks.size(), m.entries.size());
  for (size_t i = 0; i < s.chunks.size(); i++) {
    EXPECT_EQ(s.chunks[i].address, m.entries[i].address);
    EXPECT_EQ(s.chunks[i].in_use, m.entries[i].used);
  }
  F(b, x);
  F(b, z);
}

TEST_F(Bfc, DetailMapStaysBoundedMergingRunsThenDropping) {
  const size_t kRegion = 4 << 20, kBlocks = XSMEM_BFC_MAP_ENTRIES + 476;
  xsmem_bfc *b = Make(256 << 20, kRegion);
  std::vector<void *> p;
  for (size_t i = 0; i < kBlocks; i++) p.push_back(A(b, kG));
  for (size_t i = 1; i < kBlocks; i++) ASSERT_GT(p[i], p[i - 1]);
  // More chunks than entries, all in use: one used run and the free tail.
  DetailMap m = TakeMap(b);
  EXPECT_EQ(m.summary["chunks"], (double)(kBlocks + 1));
  EXPECT_EQ(m.summary["merged"], 1.0);
  ASSERT_EQ(m.entries.size(), 2u);
  EXPECT_EQ(m.entries[0].address, (uintptr_t)p[0]);
  EXPECT_TRUE(m.entries[0].used);
  EXPECT_EQ(m.entries[0].size, kBlocks * kG);
  EXPECT_FALSE(m.entries[1].used);
  EXPECT_EQ(m.entries[1].size, kRegion - kBlocks * kG);
  EXPECT_EQ(m.summary["dropped_chunks"], 0.0);
  // Every other block freed: the runs alternate, so only the first
  // XSMEM_BFC_MAP_ENTRIES fit and the rest are counted as dropped.
  for (size_t i = 1; i < kBlocks; i += 2) F(b, p[i]);
  size_t chunks = Take(b).chunks.size();
  EXPECT_GT(chunks, (size_t)XSMEM_BFC_MAP_ENTRIES);
  m = TakeMap(b);
  ASSERT_EQ(m.entries.size(), (size_t)XSMEM_BFC_MAP_ENTRIES);
  EXPECT_EQ(m.summary["entries"], (double)XSMEM_BFC_MAP_ENTRIES);
  EXPECT_EQ(m.summary["chunks"], (double)chunks);
  EXPECT_EQ(m.summary["dropped_chunks"], (double)(chunks - XSMEM_BFC_MAP_ENTRIES));
  size_t shown = 0;
  for (size_t i = 0; i < m.entries.size(); i++) {
    EXPECT_EQ(m.entries[i].address, (uintptr_t)p[i]);
    EXPECT_EQ(m.entries[i].used, i % 2 == 0) << i;
    EXPECT_EQ(m.entries[i].size, kG);
    shown += m.entries[i].size;
  }
  EXPECT_EQ(shown + (size_t)m.summary["dropped_bytes"], kRegion);
  for (size_t i = 0; i < kBlocks; i += 2) F(b, p[i]);
}

TEST_F(Bfc, ThreadsKeepStatsExact) {
  xsmem_bfc *b = Make(512 << 20, 1 << 20);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([b, t] {
      std::mt19937 rng(t);
      std::vector<std::pair<unsigned char *, size_t>> mine;
      for (int i = 0; i < 20000; i++) {
        if (mine.size() < 200 && rng() % 2) {
          size_t n = 1 + rng() % 3000;
          auto *p = static_cast<unsigned char *>(A(b, n));
          ASSERT_NE(p, nullptr);
          memset(p, t, n);
          mine.emplace_back(p, n);
        } else if (!mine.empty()) {
          auto [p, n] = mine.back();
          mine.pop_back();
          ASSERT_EQ(p[0], t);
          ASSERT_EQ(p[n - 1], t);
          F(b, p);
        }
      }
      for (auto &[p, n] : mine) F(b, p);
    });
  }
  for (auto &th : threads) th.join();
  xsmem_stats s = S(b);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.num_allocs, s.num_frees);
  EXPECT_EQ(Take(b).chunks.size(), Take(b).regions.size());  // everything merged back
}

using BfcDeathTest = Bfc;

TEST_F(BfcDeathTest, ForeignInteriorAndDoubleFreesAreReported) {
  xsmem_bfc *b = Make(64 << 20);
  char *p = static_cast<char *>(A(b, 4096));
  char *guard = static_cast<char *>(A(b, 100));
  int local = 0;
  EXPECT_DEATH(F(b, &local), "not allocated by this allocator");
  EXPECT_DEATH(F(b, p + 16), "middle of a block");
  EXPECT_DEATH(F(b, p + 512), "middle of a block");
  F(b, p);
  EXPECT_DEATH(F(b, p), "double free");
  // A query is reported and answered 0, never an abort (nothing can be lost).
  testing::internal::CaptureStderr();
  EXPECT_EQ(xsmem_usable_size(xsmem_bfc_allocator(b), p), 0u);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("double free"), std::string::npos);
  EXPECT_DEATH(xsmem_realloc(xsmem_bfc_allocator(b), p, 100), "double free");
  EXPECT_FALSE(xsmem_bfc_allocator(b)->ops->owns(xsmem_bfc_allocator(b), p));
  EXPECT_TRUE(xsmem_bfc_allocator(b)->ops->owns(xsmem_bfc_allocator(b), guard));
  // A block merged into its free neighbour is still named as a double free.
  char *x = static_cast<char *>(A(b, 256));
  char *y = static_cast<char *>(A(b, 256));
  A(b, 256);
  F(b, x);
  F(b, y);  // merged into x
  EXPECT_DEATH(F(b, y), "double free");
}

TEST_F(BfcDeathTest, AFreeIntoARegionGivenBackIsNamedSo) {
  xsmem_bfc_options o{};
  o.bytes_limit = 64 << 20;
  o.initial_region = 1 << 20;
  o.gc = true;
  xsmem_bfc *b = Make(o);
  void *keep = A(b, 1000);  // region 1 stays
  void *p = A(b, 2 << 20);  // region 2, its own
  F(b, p);                  // wholly free: given back at once
  EXPECT_DEATH(F(b, p), "region already given back");
  F(b, keep);
}

// Counts the resident pages of [p, p + n) (mincore).
size_t ResidentPages(void *p, size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> v((n + page - 1) / page);
  if (mincore(p, n, v.data()) != 0) return SIZE_MAX;
  size_t r = 0;
  for (unsigned char c : v) r += c & 1;
  return r;
}

TEST_F(Bfc, ZeroedRequestsTouchOnlyMemoryThatHeldData) {
  xsmem_bfc *b = Make(1 << 30, 1 << 20);
  xsmem_allocator *a = xsmem_bfc_allocator(b);
  // Fresh from the source: zero already, and left untouched (a huge calloc
  // the kernel allows must not fault every page in).
  const size_t kBig = 64 << 20;
  char *fresh = static_cast<char *>(a->ops->alloc(a, kBig, 16, XSMEM_ALLOC_ZERO));
  ASSERT_NE(fresh, nullptr);
  EXPECT_LT(ResidentPages(fresh, kBig), 16u);
  EXPECT_EQ(fresh[0], 0);
  EXPECT_EQ(fresh[kBig - 1], 0);
  // Memory that held data is zeroed.
  char *used = static_cast<char *>(A(b, 4096));
  memset(used, 0xAB, 4096);
  F(b, used);
  char *again = static_cast<char *>(a->ops->alloc(a, 4096, 16, XSMEM_ALLOC_ZERO));
  ASSERT_EQ(again, used);
  for (int i = 0; i < 4096; i++) ASSERT_EQ(again[i], 0) << i;
  // A block grown in place over a neighbour that held data: the grown part too.
  char *x = static_cast<char *>(A(b, 8192));
  char *y = static_cast<char *>(A(b, 8192));
  ASSERT_EQ(y, x + 8192);
  memset(y, 0xCD, 8192);
  F(b, y);
  ASSERT_EQ(xsmem_realloc(a, x, 16384), x);
  F(b, x);
  char *z = static_cast<char *>(a->ops->alloc(a, 16384, 16, XSMEM_ALLOC_ZERO));
  ASSERT_EQ(z, x);
  for (int i = 0; i < 16384; i++) ASSERT_EQ(z[i], 0) << i;
  F(b, z);
  // A big block that held data (given back to the kernel rather than written).
  const size_t kDirty = 8 << 20;
  char *d = static_cast<char *>(A(b, kDirty));
  memset(d, 0x5A, kDirty);
  F(b, d);
  char *d2 = static_cast<char *>(a->ops->alloc(a, kDirty, 16, XSMEM_ALLOC_ZERO));
  ASSERT_EQ(d2, d);
  for (size_t i = 0; i < kDirty; i += 511) ASSERT_EQ(d2[i], 0) << i;
  ASSERT_EQ(d2[kDirty - 1], 0);
  F(b, d2);
  F(b, again);
  F(b, fresh);
}

}  // namespace
