// The conformance suite: the malloc contract, checked against the process
// allocator, which is the configuration this test binary is linked with
// (XSMEM_TEST_CONFIG names it).
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "gtest/gtest.h"
#include "tests/testing/shadow.h"

namespace {

// The compiler may not fold these calls away: they go through volatile pointers.
void *(*volatile g_malloc)(size_t) = malloc;
void *(*volatile g_calloc)(size_t, size_t) = calloc;
void *(*volatile g_realloc)(void *, size_t) = realloc;
void *(*volatile g_reallocarray)(void *, size_t, size_t) = reallocarray;
void (*volatile g_free)(void *) = free;

const char *ConfigName() {
  const char *n = getenv("XSMEM_TEST_CONFIG");
  return n ? n : "";
}

bool Aligned(const void *p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

// Whether p's page is mapped (msync fails with ENOMEM on an unmapped one).
bool Mapped(const void *p) {
  uintptr_t page = reinterpret_cast<uintptr_t>(p) & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
  return msync(reinterpret_cast<void *>(page), 1, MS_ASYNC) == 0;
}

using xsmem::testing::Check;
using xsmem::testing::Fill;
using xsmem::testing::Shadow;
using xsmem::testing::ShadowBlock;

TEST(Registry, ConfigurationIsRegisteredAndServesMalloc) {
  const xsmem_config *c = xsmem_config_find(ConfigName());
  ASSERT_NE(c, nullptr) << "configuration '" << ConfigName() << "' is not registered";
  EXPECT_STREQ(c->name, ConfigName());
  EXPECT_NE(c->summary, nullptr);
  void *p = g_malloc(1);  // make sure the shim is initialised
  g_free(p);
  EXPECT_EQ(xsmem_config_instance(c), xsmem_process_allocator());
  bool listed = false;
  for (size_t i = 0; i < xsmem_config_count(); i++) listed |= xsmem_config_at(i) == c;
  EXPECT_TRUE(listed);
  EXPECT_EQ(xsmem_config_find("no-such-configuration"), nullptr);
}

TEST(Malloc, EverySizeUpTo64KiB) {
  // A window of live blocks, each filled with its own pattern, catches overlap.
  Shadow window(64);
  for (size_t n = 0; n <= 64 * 1024; n++) {
    ShadowBlock &slot = window[n % window.size()];
    if (slot.p) {
      ASSERT_EQ(window.Check(slot), slot.n) << "block of " << slot.n << " bytes was overwritten";
      g_free(slot.p);
    }
    void *p = g_malloc(n);
    ASSERT_NE(p, nullptr) << n;
    ASSERT_TRUE(Aligned(p, 16)) << n;
    ASSERT_GE(malloc_usable_size(p), n);
    // Fill whole small blocks; large ones at their edges and every 4 KiB.
    size_t fill = n <= 4096 || n % 97 == 0 ? n : 0;
    if (fill == 0 && n > 0) {
      for (size_t i = 0; i < n; i += 4096) static_cast<uint8_t *>(p)[i] = 1;
      static_cast<uint8_t *>(p)[n - 1] = 1;
    }
    window.Set(slot, p, fill, static_cast<uint8_t>(n));
  }
  for (ShadowBlock &slot : window) {
    ASSERT_EQ(window.Check(slot), slot.n);
    g_free(slot.p);
  }
}

TEST(Malloc, LargeSizesUpTo256MiB) {
  const size_t kSizes[] = {64 * 1024 + 1,     100000,   256 * 1024 - 1, 1 << 20,
                           3 * (1 << 20) + 5, 16 << 20, (64 << 20) + 1, 256u << 20};
  for (size_t n : kSizes) {
    auto *p = static_cast<uint8_t *>(g_malloc(n));
    ASSERT_NE(p, nullptr) << n;
    ASSERT_TRUE(Aligned(p, 16));
    ASSERT_GE(malloc_usable_size(p), n);
    p[0] = 0x5a;
    p[n / 2] = 0x5b;
    p[n - 1] = 0x5c;
    EXPECT_EQ(p[0], 0x5a);
    EXPECT_EQ(p[n - 1], 0x5c);
    g_free(p);
  }
}

TEST(Malloc, ImpossibleSizesFailWithENOMEM) {
  for (size_t n : {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, (size_t)1 << 62}) {
    errno = 0;
    void *p = g_malloc(n);
    EXPECT_EQ(p, nullptr) << n;
    EXPECT_EQ(errno, ENOMEM) << n;
  }
  void *p = nullptr;
  EXPECT_EQ(posix_memalign(&p, 4096, SIZE_MAX - 100), ENOMEM);
  EXPECT_EQ(p, nullptr);
}

TEST(Alignment, EveryPowerOfTwoUpTo64KiB) {
  for (size_t a = 1; a <= 64 * 1024; a *= 2) {
    for (size_t n : {(size_t)0, (size_t)1, (size_t)17, a, 3 * a + 1}) {
      void *p = memalign(a, n);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(Aligned(p, a)) << "memalign " << a;
      EXPECT_GE(malloc_usable_size(p), n);
      EXPECT_TRUE(Mapped(p)) << "memalign " << a << ", " << n << ": the block lies outside mapped memory";
      Fill(p, n, 3);
      free(p);
      if (a >= sizeof(void *)) {
        void *q = nullptr;
        ASSERT_EQ(posix_memalign(&q, a, n), 0);
        EXPECT_TRUE(Aligned(q, a)) << "posix_memalign " << a;
        Fill(q, n, 4);
        EXPECT_EQ(Check(q, n, 4), n);
        free(q);
      }
      void *r = aligned_alloc(a, n);
      ASSERT_NE(r, nullptr);
      EXPECT_TRUE(Aligned(r, a)) << "aligned_alloc " << a;
      free(r);
    }
  }
}

TEST(Alignment, LargeRequestsUpTo1GiB) {
  for (size_t a = 128 * 1024; a <= ((size_t)1 << 30); a *= 2) {
    void *p = nullptr;
    ASSERT_EQ(posix_memalign(&p, a, 1 << 20), 0) << a;
    EXPECT_TRUE(Aligned(p, a)) << a;
    static_cast<uint8_t *>(p)[0] = 1;
    static_cast<uint8_t *>(p)[(1 << 20) - 1] = 1;
    free(p);
  }
}

TEST(Alignment, BadAlignmentsAreRejected) {
  void *p = reinterpret_cast<void *>(0x1234);
  for (size_t a : {(size_t)0, (size_t)3, (size_t)4, (size_t)24, (size_t)48, (size_t)1000}) {
    EXPECT_EQ(posix_memalign(&p, a, 16), EINVAL) << a;
    EXPECT_EQ(p, reinterpret_cast<void *>(0x1234)) << "posix_memalign wrote its result on failure";
  }
  // memalign rounds a non-power-of-two alignment up, like glibc, and so does
  // aligned_alloc, which is memalign in glibc 2.36 (0 reads as no alignment).
  for (size_t a : {(size_t)0, (size_t)3, (size_t)24}) {
    void *q = memalign(a, 100);
    ASSERT_NE(q, nullptr) << a;
    EXPECT_TRUE(Aligned(q, a == 24 ? 32 : 16)) << a;
    free(q);
    q = aligned_alloc(a, 100);
    ASSERT_NE(q, nullptr) << a;
    EXPECT_TRUE(Aligned(q, a == 24 ? 32 : 16)) << a;
    free(q);
  }
}

TEST(Alignment, VallocAndPvalloc) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  void *p = valloc(100);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(Aligned(p, page));
  free(p);
  void *q = pvalloc(page + 1);
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(Aligned(q, page));
  EXPECT_GE(malloc_usable_size(q), 2 * page);
  free(q);
}

TEST(Calloc, ZeroesEvenReusedMemory) {
  for (size_t n : {(size_t)1, (size_t)24, (size_t)100, (size_t)4000, (size_t)70000, (size_t)3 << 20}) {
    for (int round = 0; round < 4; round++) {
      void *dirty = g_malloc(n);
      ASSERT_NE(dirty, nullptr);
      memset(dirty, 0xAB, n);
      g_free(dirty);
      auto *p = static_cast<uint8_t *>(g_calloc(1, n));
      ASSERT_NE(p, nullptr);
      for (size_t i = 0; i < n; i++) ASSERT_EQ(p[i], 0) << "byte " << i << " of calloc(" << n << ")";
      g_free(p);
    }
  }
}

TEST(Calloc, OverflowFailsWithENOMEM) {
  errno = 0;
  EXPECT_EQ(g_calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(g_calloc((size_t)1 << 33, (size_t)1 << 33), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Realloc, NullShrinkGrowAndZero) {
  auto *p = static_cast<uint8_t *>(g_realloc(nullptr, 100));
  ASSERT_NE(p, nullptr);
  Fill(p, 100, 9);
  p = static_cast<uint8_t *>(g_realloc(p, 40));  // shrink keeps the prefix
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Check(p, 40, 9), 40u);
  p = static_cast<uint8_t *>(g_realloc(p, 100000));  // grow keeps the content
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Check(p, 40, 9), 40u);
  Fill(p, 100000, 10);
  p = static_cast<uint8_t *>(g_realloc(p, 5 << 20));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Check(p, 100000, 10), 100000u);
  p = static_cast<uint8_t *>(g_realloc(p, 10));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Check(p, 10, 10), 10u);
  // Size 0 frees the block and returns NULL, as glibc does.
  EXPECT_EQ(g_realloc(p, 0), nullptr);
}

TEST(Realloc, FailureLeavesTheBlockIntact) {
  auto *p = static_cast<uint8_t *>(g_malloc(64));
  Fill(p, 64, 11);
  errno = 0;
  EXPECT_EQ(g_realloc(p, SIZE_MAX - 8), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(Check(p, 64, 11), 64u);
  errno = 0;
  EXPECT_EQ(g_reallocarray(p, SIZE_MAX / 4, 8), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(Check(p, 64, 11), 64u);
  g_free(p);
}

// Long random alloc / realloc / free sequences against a shadow model.
TEST(Integrity, RandomSequenceMatchesShadowModel) {
  Shadow slots(3000);
  std::mt19937_64 rng(12345);
  auto random_size = [&]() -> size_t {
    uint64_t r = rng();
    switch (r % 16) {
      case 0: return r >> 44;  // up to 1 MiB
      case 1:
      case 2: return (r >> 32) % 16384;
      default: return (r >> 32) % 512;
    }
  };
  // XSMEM_CONFORMANCE_OPS shortens the run for configurations that make a
  // system call per operation (os); the default is what every other one runs.
  const char *ops_env = getenv("XSMEM_CONFORMANCE_OPS");
  const int ops = ops_env ? atoi(ops_env) : 300000;
  for (int op = 0; op < ops; op++) {
    ShadowBlock &b = slots[rng() % slots.size()];
    if (b.p) {
      ASSERT_EQ(slots.Check(b), b.n) << "op " << op;
      if (rng() % 3 == 0) {
        size_t n = random_size();
        auto *q = static_cast<uint8_t *>(g_realloc(b.p, n));
        if (n == 0) {
          ASSERT_EQ(q, nullptr);
          b = ShadowBlock{};
          continue;
        }
        ASSERT_NE(q, nullptr);
        ASSERT_EQ(slots.CheckMoved(b, q, n), std::min(n, b.n)) << "realloc lost data, op " << op;
        slots.Set(b, q, n, static_cast<uint8_t>(rng()));
      } else {
        g_free(b.p);
        b = ShadowBlock{};
      }
    } else {
      size_t n = random_size();
      auto *p = static_cast<uint8_t *>(g_malloc(n));
      ASSERT_NE(p, nullptr);
      ASSERT_TRUE(Aligned(p, 16));
      ASSERT_GE(malloc_usable_size(p), n);
      slots.Set(b, p, n, static_cast<uint8_t>(rng()));
    }
    if (op % 50000 == 0) {
      ASSERT_TRUE(slots.Disjoint(malloc_usable_size)) << "live blocks overlap, op " << op;
    }
  }
  ASSERT_TRUE(slots.Disjoint(malloc_usable_size)) << "live blocks overlap";
  for (ShadowBlock &b : slots) {
    if (b.p) {
      ASSERT_EQ(slots.Check(b), b.n);
      g_free(b.p);
    }
  }
}

// 8 threads allocate; each block is freed by another thread.
TEST(Threads, CrossThreadFrees) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40000;
  struct Queue {
    std::mutex mu;
    std::vector<std::pair<uint8_t *, size_t>> items;
  };
  std::vector<Queue> queues(kThreads);
  std::atomic<int> errors{0};
  std::atomic<int> producers_done{0};
  auto drain = [&](int self) {
    std::vector<std::pair<uint8_t *, size_t>> mine;
    {
      std::lock_guard<std::mutex> l(queues[self].mu);
      mine.swap(queues[self].items);
    }
    for (auto &[p, n] : mine) {
      if (Check(p, n, static_cast<uint8_t>(n)) != n) errors++;
      g_free(p);
    }
    return mine.size();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kPerThread; i++) {
        size_t n = rng() % (i % 100 == 0 ? 65536 : 256);
        auto *p = static_cast<uint8_t *>(g_malloc(n));
        if (!p) {
          errors++;
          continue;
        }
        Fill(p, n, static_cast<uint8_t>(n));
        Queue &q = queues[(t + 1 + rng() % (kThreads - 1)) % kThreads];
        {
          std::lock_guard<std::mutex> l(q.mu);
          q.items.emplace_back(p, n);
        }
        if (i % 64 == 0) drain(t);
      }
      producers_done++;
      while (producers_done.load() < kThreads) {
        drain(t);
        std::this_thread::yield();
      }
      drain(t);
    });
  }
  for (auto &th : threads) th.join();
  for (int t = 0; t < kThreads; t++) drain(t);
  EXPECT_EQ(errors.load(), 0);
}

TEST(Stats, ConsistentWithOperations) {
  const xsmem_config *c = xsmem_config_find(ConfigName());
  ASSERT_NE(c, nullptr);
  xsmem_allocator *a = xsmem_config_instance(c);
  constexpr int kBlocks = 100;
  constexpr size_t kSize = 1000;
  void *blocks[kBlocks];
  xsmem_stats s0 = xsmem_get_stats(a);
  ASSERT_EQ(s0.version, (uint32_t)XSMEM_STATS_VERSION);
  ASSERT_EQ(s0.size, sizeof(xsmem_stats));
  for (auto &b : blocks) b = g_malloc(kSize);
  xsmem_stats s1 = xsmem_get_stats(a);
  EXPECT_EQ(s1.num_allocs - s0.num_allocs, (uint64_t)kBlocks);
  EXPECT_GE(s1.bytes_in_use - s0.bytes_in_use, kBlocks * kSize);
  EXPECT_GE(s1.peak_bytes_in_use, s1.bytes_in_use);
  EXPECT_GE(s1.largest_alloc_size, kSize);
  for (auto &b : blocks) g_free(b);
  xsmem_stats s2 = xsmem_get_stats(a);
  EXPECT_EQ(s2.num_frees - s1.num_frees, (uint64_t)kBlocks);
  EXPECT_EQ(s2.bytes_in_use, s0.bytes_in_use);
  EXPECT_GE(s2.peak_bytes_in_use, s1.bytes_in_use);
  EXPECT_GE(s2.num_allocs, s2.num_frees);
  if (s2.bytes_limit) {
    EXPECT_LE(s2.bytes_reserved, s2.bytes_limit);
  }
  // One definition of fragmentation for every configuration (allocator.h).
  EXPECT_DOUBLE_EQ(
      s2.fragmentation,
      s2.bytes_in_use + s2.bytes_cached ? (double)s2.bytes_cached / (double)(s2.bytes_in_use + s2.bytes_cached) : 0.0);
  if (s2.bytes_committed) {  // tracked: part of the reserve, holding at least what is in use
    EXPECT_LE(s2.bytes_committed, s2.bytes_reserved);
    EXPECT_GE(s2.bytes_committed, s2.bytes_in_use);
    // Cached bytes are memory held free: never more than what is committed
    // (reserved address space never touched is not cached).
    EXPECT_LE(s2.bytes_in_use + s2.bytes_cached, s2.bytes_committed);
  }
}

}  // namespace
