#include "platform/atomics.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

TEST(Cas128, SucceedsAndFailsLikeACompareAndSwap) {
  xsmem_pair128 v = {1, 2};
  xsmem_pair128 expected = {1, 2};
  EXPECT_TRUE(xsmem_cas128(&v, &expected, xsmem_pair128{3, 4}));
  EXPECT_EQ(v.lo, 3u);
  EXPECT_EQ(v.hi, 4u);
  xsmem_pair128 stale = {1, 2};
  EXPECT_FALSE(xsmem_cas128(&v, &stale, xsmem_pair128{5, 6}));
  EXPECT_EQ(stale.lo, 3u);  // the current value is returned
  EXPECT_EQ(stale.hi, 4u);
  // Same pointer, different tag: must fail (this is what makes stacks ABA-safe).
  xsmem_pair128 same_ptr = {3, 99};
  EXPECT_FALSE(xsmem_cas128(&v, &same_ptr, xsmem_pair128{7, 8}));
  EXPECT_STRNE(xsmem_cas128_impl(), "");
}

// A lock-free counter over both halves: every increment must land exactly once.
TEST(Cas128, ConcurrentIncrementsAreExact) {
  static xsmem_pair128 v = {0, 0};
  constexpr int kThreads = 4, kIters = 100000;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([] {
      for (int i = 0; i < kIters; i++) {
        xsmem_pair128 cur = xsmem_load128(&v);
        while (!xsmem_cas128(&v, &cur, xsmem_pair128{cur.lo + 1, cur.hi + 2})) {}
      }
    });
  }
  for (auto &t : ts) t.join();
  EXPECT_EQ(v.lo, (uint64_t)kThreads * kIters);
  EXPECT_EQ(v.hi, 2ull * kThreads * kIters);
}

TEST(Spinlock, MutualExclusion) {
  static xsmem_spinlock lock = {0};
  static long counter = 0;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([] {
      for (int i = 0; i < 50000; i++) {
        xsmem_spin_lock(&lock);
        counter++;
        xsmem_spin_unlock(&lock);
      }
    });
  }
  for (auto &t : ts) t.join();
  EXPECT_EQ(counter, 200000);
}

}  // namespace
