// How the small tier is built (platform/once.h): by the first call of
// xsmem_tls_buckets, once, with that call's arguments; callers that arrive
// meanwhile wait for it, and later calls get the same tier whatever they
// pass. Its own binary: the tier starts unbuilt.
#include <atomic>
#include <thread>
#include <vector>

#include "allocators/tls_buckets/tls_buckets.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "gtest/gtest.h"

namespace {

TEST(Construction, NothingToDoBeforeTheFirstCall) {
  EXPECT_EQ(xsmem_tls_class_count(), 0u);
  EXPECT_EQ(xsmem_tls_purge(0), 0u);
  xsmem_tls_node_stats s;
  xsmem_tls_get_node_stats(0, &s);
  EXPECT_EQ(s.allocs, 0u);
}

TEST(Construction, ConcurrentFirstCallsGetOneTierBuiltOnce) {
  constexpr int kThreads = 8;
  std::vector<xsmem_tls_options> opts(kThreads);
  for (int i = 0; i < kThreads; i++) {
    xsmem_tls_options_from_env(&opts[i]);
    opts[i].small_max = i % 2 ? 1024 : 64 * 1024;
  }
  std::atomic<bool> go{false};
  std::vector<xsmem_allocator *> got(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      got[i] = xsmem_tls_buckets(nullptr, &opts[i]);
    });
  }
  go = true;
  for (auto &t : threads) t.join();
  ASSERT_NE(got[0], nullptr);
  for (int i = 1; i < kThreads; i++) EXPECT_EQ(got[i], got[0]);
  // One caller's options, whole: the classes of 1 KiB or of 64 KiB.
  unsigned n = xsmem_tls_class_count();
  EXPECT_TRUE(n == xsmem_tls_class_of(1024) + 1 || n == xsmem_tls_class_of(64 * 1024) + 1) << n;
  void *p = xsmem_alloc(got[0], 100, 16, 0);
  ASSERT_NE(p, nullptr);
  xsmem_free(got[0], p);
}

TEST(Construction, LaterCallsIgnoreTheirArguments) {
  xsmem_allocator *a = xsmem_tls_buckets(nullptr, nullptr);
  unsigned n = xsmem_tls_class_count();
  xsmem_tls_options o;
  xsmem_tls_options_from_env(&o);
  o.small_max = 1024 * 1024;
  EXPECT_EQ(xsmem_tls_buckets(nullptr, &o), a);
  EXPECT_EQ(xsmem_tls_class_count(), n);
}

}  // namespace
