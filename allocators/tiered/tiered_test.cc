// Tests of the default configuration linked as the process malloc: routing by
// size, owner lookup through the pagemap, bad pointers, fork, threads.
#include "allocators/tiered/tiered.h"

#include "allocators/large/large.h"

#include <malloc.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "allocators/registry.h"
#include "allocators/tls_buckets/tls_buckets.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "gtest/gtest.h"
#include "platform/pagemap.h"
#include "tests/testing/detail.h"

namespace {

// Keeps the compiler from pairing and eliding malloc/free.
void *volatile g_sink;
void *Malloc(size_t n) {
  void *p = malloc(n);
  g_sink = p;
  return p;
}

// Allocations before main and during exit: a static object allocates in its
// constructor and frees (and allocates again) in its destructor.
struct BeforeMain {
  char *p;
  BeforeMain() : p(static_cast<char *>(malloc(1000))) { strcpy(p, "made before main"); }
  ~BeforeMain() {
    if (strcmp(p, "made before main") != 0) abort();
    free(p);
    void *q = malloc(50000);  // during exit
    memset(q, 1, 50000);
    free(q);
  }
} g_before_main;

TEST(Default, AllocatedBeforeMain) {
  EXPECT_STREQ(g_before_main.p, "made before main");
  EXPECT_EQ(xsmem_pagemap_get(g_before_main.p), XSMEM_TAG_SMALL);
}

TEST(Default, IsTheProcessAllocator) {
  ASSERT_NE(xsmem_process_allocator(), nullptr);
  EXPECT_STREQ(xsmem_process_allocator()->name, "default");
  EXPECT_STREQ(xsmem_process_allocator()->ops->kind, "tiered");
}

TEST(Default, RoutesBySizeAndFreesThroughThePagemap) {
  const size_t large_min = xsmem_large_min_size();  // XSMEM_LARGE_MIN
  const size_t small_max = xsmem_tls_small_max_;    // XSMEM_SMALL_MAX
  struct Case {
    size_t n;
    uint8_t tag;
  } cases[] = {{1, XSMEM_TAG_SMALL},         {4096, XSMEM_TAG_SMALL},
               {small_max, XSMEM_TAG_SMALL}, {small_max + 1, XSMEM_TAG_BUDDY},
               {8 << 20, XSMEM_TAG_BUDDY},   {large_min - 1, XSMEM_TAG_BUDDY},
               {large_min, XSMEM_TAG_LARGE}, {(size_t)2 << 30, XSMEM_TAG_LARGE}};
  for (const Case &c : cases) {
    auto *p = static_cast<char *>(Malloc(c.n));
    ASSERT_NE(p, nullptr) << c.n;
    EXPECT_EQ(xsmem_pagemap_get(p), c.tag) << c.n;
    EXPECT_GE(malloc_usable_size(p), c.n);
    p[0] = 1;
    p[c.n - 1] = 2;
    free(p);
  }
  // Alignments above 4 KiB leave the small tier.
  void *q = nullptr;
  ASSERT_EQ(posix_memalign(&q, 64 << 10, 100), 0);
  EXPECT_EQ(xsmem_pagemap_get(q), XSMEM_TAG_BUDDY);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % (64 << 10), 0u);
  free(q);
}

TEST(Default, ReallocMovesAcrossTiersAndKeepsContents) {
  auto *p = static_cast<unsigned char *>(Malloc(100));
  for (int i = 0; i < 100; i++) p[i] = static_cast<unsigned char>(i);
  size_t sizes[] = {200, 100000, 1 << 20, 70 << 20, 3 << 20, 50, 10};
  for (size_t n : sizes) {
    p = static_cast<unsigned char *>(realloc(p, n));
    ASSERT_NE(p, nullptr) << n;
    for (int i = 0; i < 10; i++) ASSERT_EQ(p[i], i) << n;
  }
  free(p);
}

// Through volatile pointers: the compiler neither elides nor questions them.
void *(*volatile g_realloc)(void *, size_t) = realloc;
void (*volatile g_free)(void *) = free;

// Gives this thread's grow cache back (trim flushes it) so a test starts clean.
void FlushGrowCache() {
  xsmem_allocator *a = xsmem_process_allocator();
  a->ops->trim(a, 0);
}

// Grows a buffer from 16 B to 64 KiB in 1.5x steps (BM_ReallocGrowth), checking
// the contents at each step. Returns how many steps moved it.
int GrowBuffer(std::vector<uint8_t> *tags = nullptr) {
  auto *p = static_cast<unsigned char *>(Malloc(16));
  memset(p, 7, 16);
  size_t filled = 16;
  int moves = 0;
  for (size_t n = 32; n <= 64 * 1024; n += n / 2) {
    auto *q = static_cast<unsigned char *>(realloc(p, n));
    EXPECT_NE(q, nullptr);
    moves += q != p;
    for (size_t i = 0; i < filled; i++) {
      if (q[i] != static_cast<unsigned char>(filled == 16 && i < 16 ? 7 : i * 31)) {
        ADD_FAILURE() << "byte " << i << " lost growing to " << n;
        break;
      }
    }
    for (size_t i = 0; i < n; i++) q[i] = static_cast<unsigned char>(i * 31);
    filled = n;
    EXPECT_GE(malloc_usable_size(q), n);
    if (tags) tags->push_back(xsmem_pagemap_get(q));
    p = q;
  }
  free(p);
  return moves;
}

TEST(Default, ReallocGrowthMovesToBuddyThenGrowsInPlace) {
  FlushGrowCache();
  std::vector<uint8_t> tags;
  int first = GrowBuffer(&tags);
  // Small while below 4 KiB, then buddy (grown in place from there on).
  EXPECT_EQ(tags.front(), XSMEM_TAG_SMALL);
  EXPECT_EQ(tags.back(), XSMEM_TAG_BUDDY);
  // The freed buffer waits in the grow cache: the next one moves once, into it.
  int second = GrowBuffer();
  EXPECT_LT(second, first);
  EXPECT_EQ(second, 1);
  FlushGrowCache();
}

TEST(Default, GrowCacheCountsAsCachedAndGoesBackOnTrim) {
  FlushGrowCache();
  xsmem_allocator *a = xsmem_process_allocator();
  xsmem_stats s0 = xsmem_get_stats(a);
  xsmem_stats m0 = xsmem_get_stats(xsmem_tiered_medium(xsmem_process_allocator()));
  GrowBuffer();  // its 64 KiB block stays in this thread's grow cache
  xsmem_stats s1 = xsmem_get_stats(a);
  xsmem_stats m1 = xsmem_get_stats(xsmem_tiered_medium(xsmem_process_allocator()));
  EXPECT_EQ(m1.bytes_in_use - m0.bytes_in_use, size_t{64} << 10);  // live to buddy
  EXPECT_EQ(s1.bytes_in_use, s0.bytes_in_use);                     // free to the program
  EXPECT_GE(s1.bytes_cached, s0.bytes_cached + (size_t{64} << 10));
  FlushGrowCache();
  EXPECT_EQ(xsmem_get_stats(xsmem_tiered_medium(xsmem_process_allocator())).bytes_in_use, m0.bytes_in_use);
}

// Buffers grown through the grow cache count one allocation and one free
// each, as they do without it: the program mallocs, moves into the cached
// block (an allocation and a free), grows in place and frees (into the cache).
// The counts once missed every take and every put but the last.
TEST(Default, GrowCacheTakesAndPutsCountAsAllocationsAndFrees) {
  FlushGrowCache();
  xsmem_allocator *a = xsmem_process_allocator();
  GrowBuffer();  // leaves its block in the grow cache
  xsmem_stats s0 = xsmem_get_stats(a);
  const int kBuffers = 50;
  for (int i = 0; i < kBuffers; i++) EXPECT_EQ(GrowBuffer(), 1);  // moved once, into the cached block
  xsmem_stats s1 = xsmem_get_stats(a);
  EXPECT_EQ(s1.num_allocs - s0.num_allocs, uint64_t{2} * kBuffers);  // malloc(16), the move
  EXPECT_EQ(s1.num_frees - s0.num_frees, uint64_t{2} * kBuffers);    // the 16-byte block, the free
  FlushGrowCache();  // buddy takes the block back: no free the program made
  xsmem_stats s2 = xsmem_get_stats(a);
  EXPECT_EQ(s2.num_frees, s1.num_frees);
  EXPECT_EQ(s2.num_allocs, s1.num_allocs);
}

TEST(Default, GrowCacheOfAnExitingThreadGoesBack) {
  size_t before = xsmem_get_stats(xsmem_tiered_medium(xsmem_process_allocator())).bytes_in_use;
  std::thread t([] { GrowBuffer(); });
  t.join();
  EXPECT_EQ(xsmem_get_stats(xsmem_tiered_medium(xsmem_process_allocator())).bytes_in_use, before);
}

TEST(Default, ForkedChildGetsOtherThreadsGrowCachesBack) {
  FlushGrowCache();
  size_t before = xsmem_get_stats(xsmem_tiered_medium(xsmem_process_allocator())).bytes_in_use;
  std::atomic<int> stage{0};
  std::thread t([&] {
    GrowBuffer();  // cached in this thread
    stage = 1;
    while (stage != 2) usleep(1000);
  });
  while (stage != 1) usleep(1000);
  EXPECT_EQ(xsmem_get_stats(xsmem_tiered_medium(xsmem_process_allocator())).bytes_in_use, before + (size_t{64} << 10));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The caching thread does not exist here: its block went back to buddy.
    size_t in_use = xsmem_get_stats(xsmem_tiered_medium(xsmem_process_allocator())).bytes_in_use;
    if (in_use != before) {
      fprintf(stderr, "child: buddy in use %zu, before %zu\n", in_use, before);
      _exit(1);
    }
    GrowBuffer();  // and the child's own growth still works
    _exit(::testing::Test::HasFailure() ? 2 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  stage = 2;
  t.join();
  EXPECT_EQ(xsmem_get_stats(xsmem_tiered_medium(xsmem_process_allocator())).bytes_in_use, before);
}

// realloc keeps a small block exactly while the size stays within its class
// (default.c computes class sizes itself: they must agree with the tier's).
TEST(Default, ReallocKnowsTheSmallClassSizes) {
  FlushGrowCache();
  for (unsigned c = 0; c < xsmem_tls_class_count(); c++) {
    size_t size = xsmem_tls_class_size(c);
    void *p = Malloc(size);
    ASSERT_EQ(malloc_usable_size(p), size) << c;
    EXPECT_EQ(g_realloc(p, size), p) << size;
    if (size < xsmem_tls_small_max_) {
      void *q = g_realloc(p, size + 1);
      ASSERT_NE(q, nullptr);
      EXPECT_NE(q, p) << size;
      EXPECT_GE(malloc_usable_size(q), size + 1);
      p = q;
    }
    free(p);
    FlushGrowCache();
  }
}

TEST(DefaultDeathTest, DoubleFreeOfACachedGrowBlock) {
  FlushGrowCache();
  EXPECT_DEATH(
      {
        void *p = Malloc(3000);
        p = g_realloc(p, 5000);  // grown past 4 KiB: a buddy block
        if (xsmem_pagemap_get(p) != XSMEM_TAG_BUDDY) abort();
        g_free(p);  // into the grow cache
        g_free(p);
      },
      "double free");
}

// Fragmentation counts committed memory, not buddy's 1 GiB of reserved
// address space: medium blocks half freed leave about half the committed
// data memory unused (it was ~97% when reserved space counted as free).
TEST(Default, FragmentationIsOverCommittedMemory) {
  xsmem_allocator *a = xsmem_process_allocator();
  std::vector<char *> blocks;
  for (int i = 0; i < 32; i++) {
    char *p = static_cast<char *>(Malloc(2 << 20));  // buddy
    memset(p, 1, 2 << 20);
    blocks.push_back(p);
  }
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_LT(s.bytes_committed, s.bytes_reserved);
  EXPECT_EQ(s.bytes_in_use + s.bytes_cached + s.bytes_metadata, s.bytes_committed);
  EXPECT_NEAR(s.fragmentation, 1.0 - double(s.bytes_in_use) / double(s.bytes_committed - s.bytes_metadata), 1e-12);
  EXPECT_LT(s.fragmentation, 0.3);  // 64 MiB in use and touched
  for (size_t i = 0; i < blocks.size(); i += 2) free(blocks[i]);
  xsmem_stats h = xsmem_get_stats(a);
  EXPECT_EQ(h.bytes_in_use + h.bytes_cached + h.bytes_metadata, h.bytes_committed);
  EXPECT_GT(h.fragmentation, 0.35);
  EXPECT_LT(h.fragmentation, 0.65);
  for (size_t i = 1; i < blocks.size(); i += 2) free(blocks[i]);
}

long RssKiB() {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// A burst of medium blocks freed gives its memory back after the decommit
// delay (1 s), with and without a live block keeping the region: the
// purger starts for medium frees too, empty regions go back, idle ones drop
// the pages of their free blocks.
TEST(Default, RssFallsAfterABurstOfMediumBlocks) {
  xsmem_allocator *a = xsmem_process_allocator();
  for (bool pinned : {false, true}) {
    void *pin = pinned ? Malloc(3 << 20) : nullptr;
    if (pin) memset(pin, 1, 3 << 20);
    a->ops->trim(a, 0);  // what earlier tests freed goes first
    long before = RssKiB();
    std::vector<void *> blocks;
    for (int i = 0; i < 50; i++) {
      blocks.push_back(Malloc(2 << 20));
      memset(blocks.back(), 1, 2 << 20);
    }
    EXPECT_GT(RssKiB(), before + 90 * 1024) << pinned;
    for (void *p : blocks) free(p);
    long after = RssKiB();
    for (int i = 0; i < 100 && after > before + 20 * 1024; i++) {  // up to 10 s on a loaded machine
      usleep(100 * 1000);
      after = RssKiB();
    }
    EXPECT_LT(after, before + 20 * 1024) << "pinned " << pinned << ": " << before << " -> " << after << " KiB";
    free(pin);
  }
}

TEST(Default, StatsSumTheTiersAndDetailNamesThem) {
  xsmem_allocator *a = xsmem_process_allocator();
  xsmem_stats s0 = xsmem_get_stats(a);
  void *small = Malloc(100), *medium = Malloc(1 << 20), *large = Malloc(xsmem_large_min_size());
  xsmem_stats s1 = xsmem_get_stats(a);
  EXPECT_EQ(s1.num_allocs - s0.num_allocs, 3u);
  EXPECT_GE(s1.bytes_in_use - s0.bytes_in_use, xsmem_large_min_size() + (1u << 20) + 100);
  free(small);
  free(medium);
  free(large);
  xsmem_stats s2 = xsmem_get_stats(a);
  EXPECT_EQ(s2.bytes_in_use, s0.bytes_in_use);
  xsmem::testing::Detail d(a);
  EXPECT_TRUE(d.Has("class", "112", "allocs"));
  EXPECT_TRUE(d.Has("tier", "small", "bytes_in_use"));
  EXPECT_TRUE(d.Has("contention", "small", "stack_cas_retries"));
  EXPECT_FALSE(d.Figures("tier", "buddy").empty());
  EXPECT_FALSE(d.Figures("tier", "large").empty());
}

TEST(DefaultDeathTest, ForeignPointer) {
  static char not_ours[64] __attribute__((aligned(16)));
  EXPECT_DEATH(free(not_ours), "not allocated by xsmem");
}

TEST(DefaultDeathTest, InteriorPointers) {
  char *p = static_cast<char *>(Malloc(64));
  char *m = static_cast<char *>(Malloc(1 << 20));
  EXPECT_DEATH(free(p + 16), "interior pointer");
  EXPECT_DEATH(free(m + 4096), "");
  free(p);
  free(m);
}

TEST(DefaultDeathTest, DoubleFree) {
  EXPECT_DEATH(
      {
        void *p = Malloc(40);
        free(p);
        free(g_sink);  // the same pointer, hidden from -Wuse-after-free
      },
      "double free");
}

// The shim's pthread_atfork handlers take the tiers' locks: a child forked
// while other threads allocate can allocate too.
TEST(Default, ForkWhileThreadsAllocate) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 3; t++) {
    busy.emplace_back([&, t] {
      while (!stop.load()) {
        void *v[32];
        for (int i = 0; i < 32; i++) v[i] = Malloc(16 + (i * 977 + t) % 300000);
        for (void *p : v) free(p);
      }
    });
  }
  for (int i = 0; i < 10; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      std::vector<void *> v;
      for (int j = 0; j < 2000; j++) v.push_back(Malloc(1 + j * 131 % 500000));
      for (void *p : v) free(p);
      std::string s(100000, 'x');  // C++ allocations work too
      _exit(s.size() == 100000 ? 0 : 1);
    }
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  stop = true;
  for (auto &t : busy) t.join();
}

}  // namespace
