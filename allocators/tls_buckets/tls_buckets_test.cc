// Tests of the small tier, driven through its allocator ops (malloc stays glibc's).
#include "allocators/tls_buckets/tls_buckets.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "allocators/tls_buckets/tls_fast.h"
#include "gtest/gtest.h"
#include "tests/testing/corruption.h"
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif
#include "platform/os_vm.h"
#include "platform/pagemap.h"
#include "tests/testing/detail.h"

namespace {

xsmem_allocator *A() { return xsmem_tls_buckets(nullptr, nullptr); }
void *Alloc(size_t n) { return A()->ops->alloc(A(), n, 16, 0); }
void Free(void *p) { A()->ops->free(A(), p, 0); }

TEST(SizeClasses, BoundedWasteAndAlignment) {
  A();
  unsigned n = xsmem_tls_class_count();
  ASSERT_GE(n, 2u);
  EXPECT_EQ(xsmem_tls_class_size(n - 1), xsmem_tls_small_max_);  // XSMEM_SMALL_MAX (1 MiB) is a class
  for (unsigned c = 0; c < n; c++) {
    size_t s = xsmem_tls_class_size(c);
    EXPECT_EQ(s % 16, 0u) << s;
    if (c) {
      EXPECT_GT(s, xsmem_tls_class_size(c - 1));
    }
    EXPECT_EQ(xsmem_tls_class_of(s), c) << s;
    EXPECT_EQ(xsmem_tls_class_of(s + 1), c + 1) << s;
  }
  // Every request: the class fits it; waste <= 12.5% above 128 B, < 16 B below.
  double worst = 0;
  for (size_t req = 0; req <= xsmem_tls_small_max_; req++) {
    size_t s = xsmem_tls_class_size(xsmem_tls_class_of(req));
    ASSERT_GE(s, req);
    if (req <= 128) {
      ASSERT_LT(s - req, req == 0 ? 17u : 16u) << req;
    } else {
      double waste = double(s - req) / double(req);
      ASSERT_LE(waste, 0.125) << req;
      worst = std::max(worst, waste);
    }
  }
  EXPECT_GT(worst, 0.12);  // the bound is tight, not vacuous
}

TEST(SmallTier, BlocksAreDistinctAlignedAndSized) {
  std::vector<std::pair<uint8_t *, size_t>> live;
  for (size_t n = 0; n < 70000; n += (n < 2048 ? 1 : 97)) {
    auto *p = static_cast<uint8_t *>(Alloc(n));
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    ASSERT_EQ(xsmem_pagemap_get(p), XSMEM_TAG_SMALL);
    ASSERT_GE(A()->ops->usable_size(A(), p), n);
    memset(p, static_cast<int>(n & 0xff), n);
    live.push_back({p, n});
  }
  for (auto &[p, n] : live) {
    for (size_t i = 0; i < n; i++) ASSERT_EQ(p[i], static_cast<uint8_t>(n & 0xff)) << n;
    Free(p);
  }
}

TEST(SmallTier, AlignedRequestsAndZeroing) {
  for (size_t align = 16; align <= 4096; align *= 2) {
    for (size_t n : {1ul, 100ul, 5000ul}) {
      void *p = A()->ops->alloc(A(), n, align, XSMEM_ALLOC_ZERO);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << align;
      for (size_t i = 0; i < n; i++) ASSERT_EQ(static_cast<char *>(p)[i], 0);
      memset(p, 0xab, n);
      Free(p);
    }
  }
  errno = 0;
  EXPECT_EQ(Alloc(xsmem_tls_small_max_ + 1), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(SmallTier, ReallocKeepsContents) {
  auto *p = static_cast<char *>(Alloc(10));
  strcpy(p, "abcdefghi");
  p = static_cast<char *>(A()->ops->realloc(A(), p, 9000, 0));
  ASSERT_NE(p, nullptr);
  EXPECT_STREQ(p, "abcdefghi");
  p = static_cast<char *>(A()->ops->realloc(A(), p, 20, 0));
  EXPECT_STREQ(p, "abcdefghi");
  Free(p);
}

// A thread's list overflows into batches on the global stack, and an empty
// list refills from there: the same blocks come back.
TEST(ThreadCache, OverflowGoesToTheStackAndRefillsFromIt) {
  constexpr size_t kSize = 1500;  // class 1536: bound 42 blocks, batches of 21
  constexpr int kN = 300;
  const unsigned c = xsmem_tls_class_of(kSize);
  std::set<void *> first;
  std::vector<void *> v;
  for (int i = 0; i < kN; i++) v.push_back(Alloc(kSize));
  first.insert(v.begin(), v.end());
  EXPECT_EQ(xsmem_tls_thread_cache_limit(c), 42u);
  xsmem_tls_counters c0;
  xsmem_tls_get_counters(&c0);
  for (void *p : v) {
    Free(p);
    ASSERT_LE(xsmem_tls_thread_cached(c), 42u);
  }
  xsmem_tls_counters c1;
  xsmem_tls_get_counters(&c1);
  EXPECT_GE(c1.stack_batches, c0.stack_batches + (kN - 42) / 21 - 1);
  v.clear();
  for (int i = 0; i < kN; i++) v.push_back(Alloc(kSize));
  int reused = 0;
  for (void *p : v) reused += first.count(p);
  EXPECT_GE(reused, kN - 42);  // the cache may have held older blocks of the class
  for (void *p : v) Free(p);
}

// 8 threads; every block is freed by a different thread than allocated it.
// A thread that frees tens of thousands of blocks of one size at once (a
// structure torn down) leaves them on the class's global stack in batches,
// where the next allocations of the size take them back whole: no block is
// sorted back into its slab one by one under the class lock. The stack used
// to stop at 128 batches, sending the rest (half of these) to the central list.
TEST(ThreadCache, ABulkFreeStaysOnTheStack) {
  constexpr size_t kSize = 208;  // a class no other test here uses
  constexpr int kBlocks = 40000;
  unsigned c = xsmem_tls_class_of(kSize);
  uint32_t batch = xsmem_tls_thread_cache_limit(c) / 2;  // blocks per batch
  ASSERT_GT(batch, 0u);
  std::vector<void *> blocks(kBlocks);
  for (auto &p : blocks) ASSERT_NE(p = Alloc(kSize), nullptr);
  for (void *p : blocks) Free(p);
  double batches = xsmem::testing::Detail(A()).ByLabel("class", "stack_batches")[std::to_string(kSize)];
  // All but what the thread's own list and spare keep (two batches).
  EXPECT_GE(batches, (kBlocks - 2 * batch) / batch);
  for (auto &p : blocks) ASSERT_NE(p = Alloc(kSize), nullptr);
  for (void *p : blocks) Free(p);
}

TEST(Threads, CrossThreadFreesUnder8Threads) {
  constexpr int kThreads = 8, kRounds = 20000;
  std::mutex mu[kThreads];
  std::vector<std::pair<uint8_t *, size_t>> inbox[kThreads];
  std::atomic<int> errors{0};
  xsmem_stats s0;
  A()->ops->stats(A(), &s0);
  auto drain = [&](int t) {
    std::vector<std::pair<uint8_t *, size_t>> mine;
    {
      std::lock_guard<std::mutex> l(mu[t]);
      mine.swap(inbox[t]);
    }
    for (auto &[p, n] : mine) {
      for (size_t i = 0; i < n; i++) {
        if (p[i] != static_cast<uint8_t>(n)) {
          errors++;
          break;
        }
      }
      Free(p);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      uint64_t x = 88172645463325252ull + t;
      for (int r = 0; r < kRounds; r++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = 1 + x % (r % 64 == 0 ? 20000 : 512);
        auto *p = static_cast<uint8_t *>(Alloc(n));
        if (!p) {
          errors++;
          continue;
        }
        memset(p, static_cast<int>(n & 0xff), n);
        int to = (t + 1 + r % (kThreads - 1)) % kThreads;
        {
          std::lock_guard<std::mutex> l(mu[to]);
          inbox[to].push_back({p, n});
        }
        if (r % 32 == 0) drain(t);
      }
    });
  }
  for (auto &th : threads) th.join();
  for (int t = 0; t < kThreads; t++) drain(t);
  EXPECT_EQ(errors.load(), 0);
  xsmem_stats s1;
  A()->ops->stats(A(), &s1);
  EXPECT_EQ(s1.num_allocs - s0.num_allocs, uint64_t(kThreads) * kRounds);
  EXPECT_EQ(s1.num_frees - s0.num_frees, uint64_t(kThreads) * kRounds);
  EXPECT_EQ(s1.bytes_in_use, s0.bytes_in_use);
}

TEST(Threads, ExitingThreadHandsItsCacheBack) {
  xsmem_tls_counters c0;
  xsmem_tls_get_counters(&c0);
  xsmem_stats s0;
  A()->ops->stats(A(), &s0);
  const unsigned c = xsmem_tls_class_of(48);
  xsmem_tls_cache *cache = nullptr;
  uint32_t held = 0;
  std::thread t([&] {
    std::vector<void *> v;
    for (int i = 0; i < 200; i++) v.push_back(Alloc(48));
    for (void *p : v) Free(p);
    cache = xsmem_tls_cache_;
    held = xsmem_tls_thread_cached(c);
  });
  t.join();
  EXPECT_GT(held, 0u);
  // The cache (kept for the next thread) is empty: its blocks went back.
  EXPECT_EQ(cache->bin[c].head, nullptr);
  EXPECT_EQ(cache->spare[c], nullptr);
  xsmem_tls_counters c1;
  xsmem_tls_get_counters(&c1);
  EXPECT_EQ(c1.threads_exited, c0.threads_exited + 1);
  EXPECT_EQ(c1.threads_live, c0.threads_live);
  xsmem_stats s1;
  A()->ops->stats(A(), &s1);
  EXPECT_EQ(s1.num_allocs - s0.num_allocs, 200u);  // the exited thread's counts are kept
  EXPECT_EQ(s1.num_frees - s0.num_frees, 200u);
  EXPECT_EQ(s1.bytes_in_use, s0.bytes_in_use);
}

// A thread that only frees (a consumer) does build a cache after a few frees,
// so its frees stop taking the central lock.
TEST(Threads, ConsumerThreadGetsACache) {
  const unsigned c = xsmem_tls_class_of(32);
  std::vector<void *> v;
  for (int i = 0; i < 200; i++) v.push_back(Alloc(32));
  uint32_t cached = 0;
  std::thread t([&] {
    for (void *p : v) Free(p);
    cached = xsmem_tls_thread_cached(c);
  });
  t.join();
  EXPECT_GT(cached, 0u);
}

// A destructor that runs after the tier's own (a later key) still allocates.
pthread_key_t g_late_key;
std::atomic<int> g_late_ok{0};
void LateDestructor(void *) {
  void *p = Alloc(200);
  if (p) {
    memset(p, 1, 200);
    Free(p);
    g_late_ok++;
  }
}

TEST(Threads, AllocationAfterTheCacheWasHandedBack) {
  A();
  ASSERT_EQ(pthread_key_create(&g_late_key, LateDestructor), 0);
  std::thread t([] {
    Free(Alloc(200));
    pthread_setspecific(g_late_key, reinterpret_cast<void *>(1));
  });
  t.join();
  EXPECT_EQ(g_late_ok.load(), 1);
}

// Returns the resident set size in bytes (/proc/self/statm).
size_t Resident() {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &size, &rss) != 2) rss = 0;
    fclose(f);
  }
  return rss * sysconf(_SC_PAGESIZE);
}

size_t Committed() {
  xsmem_os_stats s;
  xsmem_os_counters(&s);
  return s.bytes_committed;
}

// After a burst is freed, the purger decommits the empty slabs on its own
// (XSMEM_DECOMMIT_DELAY_MS=100 in this test's environment).
TEST(Purger, DecommitsEmptySlabsAfterTheDelay) {
  constexpr size_t kSize = 1000, kN = 40000;  // ~40 MB in class 1024
  std::vector<void *> v;
  for (size_t i = 0; i < kN; i++) {
    v.push_back(Alloc(kSize));
    memset(v.back(), 7, kSize);
  }
  xsmem_tls_counters c0;
  xsmem_tls_get_counters(&c0);
  size_t committed0 = Committed();
  size_t resident0 = Resident();
  auto t0 = std::chrono::steady_clock::now();
  for (void *p : v) Free(p);
  xsmem_tls_counters c1;
  xsmem_tls_get_counters(&c1);
  if (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
    EXPECT_LT(c1.bytes_decommitted - c0.bytes_decommitted, 10u << 20);  // not at once
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  xsmem_tls_counters c2;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    xsmem_tls_get_counters(&c2);
  } while (c2.bytes_decommitted - c0.bytes_decommitted < 30u << 20 && std::chrono::steady_clock::now() < deadline);
  EXPECT_GE(c2.bytes_decommitted - c0.bytes_decommitted, 30u << 20);
  EXPECT_GT(c2.slabs_decommitted, c0.slabs_decommitted);
  EXPECT_LE(Committed() + (30u << 20), committed0);
  // The pages really went back (a looser bound: the rest of the process may
  // have grown meanwhile; a run under load missed 30 MiB by 0.6 MiB).
  EXPECT_LE(Resident() + (20u << 20), resident0);
  // The slabs serve again after decommit.
  void *p = Alloc(kSize);
  memset(p, 1, kSize);
  Free(p);
}

// A thread that stops using a class while holding a full list and a spare
// batch of it: the purger takes the spare back (the list stays: only its
// owner touches it), and the thread's cache keeps working afterwards.
TEST(Purger, TakesTheSpareOfAnIdleThread) {
  constexpr size_t kSize = 1500;  // class 1536: bound 42 blocks, batches of 21
  const unsigned c = xsmem_tls_class_of(kSize);
  std::mutex mu;
  std::condition_variable cv;
  int phase = 0;
  uint32_t before = 0, after = 0;
  std::thread t([&] {
    std::vector<void *> v;
    for (int i = 0; i < 42; i++) v.push_back(Alloc(kSize));
    for (void *p : v) Free(p);
    before = xsmem_tls_thread_cached(c);
    {
      std::unique_lock<std::mutex> l(mu);
      phase = 1;
      cv.notify_all();
      cv.wait(l, [&] { return phase == 2; });  // idle, holding its cache
    }
    after = xsmem_tls_thread_cached(c);
    v.clear();
    for (int i = 0; i < 42; i++) v.push_back(Alloc(kSize));
    for (void *p : v) Free(p);
  });
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return phase == 1; });
  }
  // The background purger takes the spares of classes idle for a tick; an
  // explicit pass (trim) takes every spare.
  xsmem_tls_purge(-1);
  {
    std::lock_guard<std::mutex> l(mu);
    phase = 2;
  }
  cv.notify_all();
  t.join();
  EXPECT_GT(before, 21u);         // a list and a spare batch of 21
  EXPECT_EQ(after, before - 21);  // the spare went back
}

// The same without a call: the background purger (a tick of 25 ms under
// XSMEM_DECOMMIT_DELAY_MS=100) takes the spare of a class the thread has
// not touched for a tick, while the thread sleeps.
TEST(Purger, BackgroundPassTakesTheSpareOfASleepingThread) {
  // Make sure the purger runs: it starts when a slab first becomes empty.
  void *big = Alloc(200000);
  Free(big);
  xsmem_tls_flush_thread();       // to the stack,
  xsmem_tls_purge(0);             // to its slab, which is then empty
  constexpr size_t kSize = 1500;  // class 1536: batches of 21
  const unsigned c = xsmem_tls_class_of(kSize);
  uint32_t before = 0, after = 0;
  std::thread t([&] {
    std::vector<void *> v;
    for (int i = 0; i < 42; i++) v.push_back(Alloc(kSize));
    for (void *p : v) Free(p);
    before = xsmem_tls_thread_cached(c);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    do {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      after = xsmem_tls_thread_cached(c);
    } while (after == before && std::chrono::steady_clock::now() < deadline);
  });
  t.join();
  EXPECT_GT(before, 21u);
  EXPECT_EQ(after, before - 21);
}

TEST(Stats, DetailReportsClassesTiersAndContention) {
  void *p = Alloc(64);
  std::map<std::string, double> seen = xsmem::testing::DetailMap(A());
  EXPECT_GE(seen["class/64/allocs"], 1);
  EXPECT_GE(seen["class/64/bytes_in_use"], 64);
  EXPECT_GE(seen["tier/small/allocs"], seen["class/64/allocs"]);
  EXPECT_TRUE(seen.count("contention/small/stack_cas_retries"));
  EXPECT_TRUE(seen.count("contention/small/central_lock_waits"));
  Free(p);
}

// ---------------------------------------------------------------------------
// Bad pointers.

TEST(BadPointerDeathTest, ForeignPointer) {
  static char not_ours[64] __attribute__((aligned(16)));
  EXPECT_DEATH(Free(not_ours), "not allocated by xsmem");
}

TEST(BadPointerDeathTest, InteriorPointer) {
  char *p = static_cast<char *>(Alloc(64));
  EXPECT_DEATH(Free(p + 16), "interior pointer");
  Free(p);
}

TEST(BadPointerDeathTest, ImmediateDoubleFree) {
  EXPECT_DEATH(
      {
        void *p = Alloc(80);
        Free(p);
        Free(p);
      },
      "double free");
}

// A double free with other frees between (A-B-A) is found by the block's free
// key (tls_fast.h) wherever the first free left it: the thread's list, its
// spare, the global stack, the central lists, another thread's list. Sizes
// from the 16-byte class (its batch link shares the key's word) to classes
// whose batch is one block (every free past the first goes to the stack).
const size_t kDoubleFreeSizes[] = {16, 80, 7000, 300000};

TEST(BadPointerDeathTest, DoubleFreeWithAnotherFreeBetween) {
  for (size_t n : kDoubleFreeSizes) {
    EXPECT_DEATH(
        {
          void *p = Alloc(n);
          void *q = Alloc(n);
          Free(p);
          Free(q);
          Free(p);
        },
        "double free \\(block already freed\\)")
        << n;
  }
}

TEST(BadPointerDeathTest, DoubleFreeAfterItsBatchLeftTheThread) {
  for (size_t n : kDoubleFreeSizes) {
    // Enough frees after p's to push its batch to the global stack...
    EXPECT_DEATH(
        {
          std::vector<void *> v(3 * xsmem_tls_thread_cache_limit(xsmem_tls_class_of(n)) + 8);
          void *p = Alloc(n);
          for (void *&b : v) b = Alloc(n);
          Free(p);
          for (void *b : v) Free(b);
          Free(p);
        },
        "double free")
        << n;
    // ...or to the central lists. r keeps p's slab from emptying where a
    // slab holds more than one block: the purge decommits an empty slab,
    // and its blocks' keys with it, so the second free of a 300000-byte
    // block is found only when the slab gets it back (flush and purge).
    EXPECT_DEATH(
        {
          void *r = Alloc(n);
          void *p = Alloc(n);
          void *q = Alloc(n);
          Free(p);
          Free(q);
          xsmem_tls_flush_thread();
          xsmem_tls_purge(0);
          Free(p);
          xsmem_tls_flush_thread();
          xsmem_tls_purge(0);
          Free(r);
        },
        "double free")
        << n;
  }
}

TEST(BadPointerDeathTest, DoubleFreeFromAnotherThread) {
  for (size_t n : kDoubleFreeSizes) {
    EXPECT_DEATH(
        {
          void *p = Alloc(n);
          Free(p);
          std::thread([p] { Free(p); }).join();
        },
        "double free \\(block already freed\\)")
        << n;
  }
}

// No false reports: blocks freed without ever being written (their second
// word is what the tier left there) through every path, fast and slow, one
// thread and across threads; every hand-out clears the key.
TEST(BadPointerTest, UnwrittenBlocksFreeCleanly) {
  uint64_t before = xsmem_bad_pointer_count();
  std::vector<std::thread> threads;
  std::vector<void *> shared[4];
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([t, &shared] {
      uint64_t x = 0x9E3779B97F4A7C15ull * (t + 1);
      std::vector<void *> mine;
      for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = x % 4 == 0 ? 16 : (x >> 8) % 5000 + 1;
        if (mine.size() < 3000 && (x >> 40) % 3) {
          mine.push_back(Alloc(n));
        } else if (!mine.empty()) {
          size_t k = (x >> 20) % mine.size();
          Free(mine[k]);
          mine[k] = mine.back();
          mine.pop_back();
        }
      }
      shared[t] = std::move(mine);
    });
  }
  for (auto &th : threads) th.join();
  // Each thread's leftovers freed by another thread, then flushed and purged.
  for (int t = 0; t < 4; t++) {
    std::thread([&shared, t] {
      for (void *p : shared[(t + 1) % 4]) Free(p);
    }).join();
  }
  xsmem_tls_purge(0);
  EXPECT_EQ(xsmem_bad_pointer_count(), before);
}

// ---------------------------------------------------------------------------
// Heap corruption: writes after free into the links the tier keeps inside
// free blocks (safe-linked, tls_fast.h). A forged link is reported, naming
// the tier and the block size, and never followed: no block handed out is
// the writer's address, and under XSMEM_ON_ERROR=warn the tier goes on.

using xsmem::testing::g_forge_target;
using xsmem::testing::WriteWord;

// Allocates n bytes `count` times; returns how many of the blocks were the
// writer's (each kept block is freed at the end).
int AllocMany(size_t n, int count) {
  std::vector<void *> got;
  int bad = 0;
  for (int i = 0; i < count; i++) {
    void *p = Alloc(n);
    if (!p) break;
    if (g_forge_target.Holds(p)) {
      bad++;
      continue;
    }
    memset(p, 0x33, std::min<size_t>(n, 128));
    got.push_back(p);
  }
  for (void *p : got) Free(p);
  return bad;
}

// Runs `corrupt` (which writes after free) then allocates, first under the
// default abort (the report and the abort), then under XSMEM_ON_ERROR=warn:
// reported, no writer's block handed out, and the tier still works.
template <typename F>
void ExpectReportedNotFollowed(size_t n, const char *pattern, F corrupt) {
  EXPECT_DEATH(
      {
        corrupt();
        AllocMany(n, 400);
      },
      pattern)
      << n;
  EXPECT_EXIT(
      {
        setenv("XSMEM_ON_ERROR", "warn", 1);
        uint64_t before = xsmem_bad_pointer_count();
        corrupt();
        int bad = AllocMany(n, 400);
        bool reported = xsmem_bad_pointer_count() > before;
        bad += AllocMany(n, 400);  // and after the report
        _exit(bad == 0 && reported ? 0 : 1);
      },
      testing::ExitedWithCode(0), pattern)
      << n;
}

const size_t kCorruptionSizes[] = {16, 64, 7000, 300000};

// The case: 8 bytes written into the first word of a freed block
// (the head of its thread's list) made the next-but-one malloc return them.
TEST(HeapCorruptionDeathTest, ForgedListLinkIsReportedNotFollowed) {
  for (size_t n : kCorruptionSizes) {
    std::string pattern = "'tls_buckets': heap corruption in a free " +
        std::to_string(xsmem_tls_class_size(xsmem_tls_class_of(n))) + "-byte block";
    ExpectReportedNotFollowed(n, pattern.c_str(), [n] {
      void *q = Alloc(n), *p = Alloc(n);
      Free(q);
      Free(p);
      WriteWord(p, 0, reinterpret_cast<uintptr_t>(g_forge_target.at(1024)));
    });
  }
}

// Random bytes over a freed block's first words: its link and its free key.
TEST(HeapCorruptionDeathTest, RandomBytesOverAFreeBlockAreReported) {
  for (size_t n : kCorruptionSizes) {
    ExpectReportedNotFollowed(n, "heap corruption in a free", [n] {
      void *v[4];
      for (auto &p : v) p = Alloc(n);
      for (auto &p : v) Free(p);
      uint64_t x = 0x9E3779B97F4A7C15ull;
      for (auto &p : v) {
        for (size_t w = 0; w < 2; w++) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          WriteWord(p, w, x);
        }
      }
    });
  }
}

// The link of a batch on the global stack (its first block's third word;
// the second in 16-byte blocks, where it is the free key's word, so either
// is reported): every freed block's word written, so the heads of the
// batches are.
TEST(HeapCorruptionDeathTest, ForgedBatchLinkIsReportedNotFollowed) {
  for (size_t n : {size_t{16}, size_t{1500}}) {
    const unsigned c = xsmem_tls_class_of(n);
    const size_t word = n > 16 ? 2 : 1;
    const char *pattern = n > 16 ? "1536-byte block .*batch link on the global stack was overwritten"
                                 : "heap corruption in a free 16-byte block";
    ExpectReportedNotFollowed(n, pattern, [n, c, word] {
      std::vector<void *> v(6 * xsmem_tls_thread_cache_limit(c));
      for (auto &p : v) p = Alloc(n);
      for (auto &p : v) Free(p);
      for (auto &p : v) WriteWord(p, word, reinterpret_cast<uintptr_t>(g_forge_target.at(2048)));
      xsmem_tls_flush_thread();  // the thread's own list and spare go to the stack too
    });
  }
}

// The link of a slab's central list (blocks given back to their slab by a
// flush and a purge; r keeps each slab from emptying, which would forget
// its list).
TEST(HeapCorruptionDeathTest, ForgedCentralLinkIsReportedNotFollowed) {
  for (size_t n : {size_t{64}, size_t{7000}}) {
    ExpectReportedNotFollowed(n, "central free-list link was overwritten", [n] {
      std::vector<void *> keep, v;
      for (int i = 0; i < 600; i++) (i % 8 == 0 ? keep : v).push_back(Alloc(n));
      for (auto &p : v) Free(p);
      xsmem_tls_flush_thread();
      xsmem_tls_purge(0);
      for (auto &p : v) WriteWord(p, 0, reinterpret_cast<uintptr_t>(g_forge_target.at(3072)));
    });
  }
}

// No false report where a list's links cross segments: class 7168 fills a
// segment with 576 blocks, and blocks of four segments are freed in turn.
TEST(HeapCorruptionTest, LinksAcrossSegmentsAreFollowed) {
  uint64_t before = xsmem_bad_pointer_count();
  constexpr size_t kSize = 7000, kN = 2400;
  std::vector<void *> v;
  for (size_t i = 0; i < kN; i++) v.push_back(Alloc(kSize));
  std::set<uintptr_t> segments;
  for (void *p : v) segments.insert(reinterpret_cast<uintptr_t>(p) >> XSMEM_TLS_SEGMENT_SHIFT);
  ASSERT_GE(segments.size(), 4u);
  for (size_t k = 0; k < 600; k++) {
    for (size_t j = 0; j < 4; j++) Free(v[j * 600 + k]);  // neighbours in the lists: other segments
  }
  for (int round = 0; round < 2; round++) {
    for (auto &p : v) p = Alloc(kSize);
    for (void *p : v) ASSERT_NE(p, nullptr);
    for (size_t k = 0; k < 600; k++) {
      for (size_t j = 0; j < 4; j++) Free(v[j * 600 + k]);
    }
  }
  xsmem_tls_flush_thread();
  xsmem_tls_purge(0);
  EXPECT_EQ(xsmem_bad_pointer_count(), before);
}

// ---------------------------------------------------------------------------
// fork: a child allocates even when another thread was busy in the tier.

#if defined(__SANITIZE_ADDRESS__)
// Under ASan the tier poisons what it holds and unpoisons what it hands out
// (platform/tool_hooks.h): freed blocks, whole batches and fresh carved
// blocks are poisoned; a block handed out is writable to its class size.
TEST(ToolHooks, FreeBlocksArePoisonedAndHandedOutOnesAreNot) {
  std::vector<char *> v;
  for (int i = 0; i < 2000; i++) v.push_back(static_cast<char *>(Alloc(100)));  // class 112
  for (char *p : v) {
    EXPECT_FALSE(__asan_region_is_poisoned(p, 112));
    memset(p, 1, 112);
  }
  for (char *p : v) Free(p);
  for (char *p : v) EXPECT_TRUE(__asan_address_is_poisoned(p + 40));
  // A block handed out again is accessible again.
  char *q = static_cast<char *>(Alloc(100));
  EXPECT_FALSE(__asan_region_is_poisoned(q, 112));
  Free(q);
}

TEST(ToolHooksDeathTest, UseAfterFreeIsCaughtByASan) {
  auto *p = static_cast<volatile char *>(Alloc(48));
  p[0] = 1;
  Free(const_cast<char *>(p));
  EXPECT_DEATH(p[20] = 2, "use-after-poison");
}
#endif

TEST(Fork, ChildAllocates) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "TSan cannot start threads (the purger) in a child of a multi-threaded process";
#endif
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop.load()) {
      void *v[64];
      for (auto &p : v) p = Alloc(3000);
      for (auto &p : v) Free(p);
    }
  });
  for (int i = 0; i < 5; i++) {
    A()->ops->fork(A(), XSMEM_FORK_PREPARE);
    pid_t pid = fork();
    if (pid == 0) {
      A()->ops->fork(A(), XSMEM_FORK_CHILD);
      std::vector<void *> v;
      for (int j = 0; j < 5000; j++) v.push_back(Alloc(3000 + j % 100));
      for (void *p : v) Free(p);
      _exit(0);
    }
    A()->ops->fork(A(), XSMEM_FORK_PARENT);
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  stop = true;
  busy.join();
}

}  // namespace
