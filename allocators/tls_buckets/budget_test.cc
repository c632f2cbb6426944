// The small tier's footprint under many threads (a fresh tier per process,
// built with this test's environment: XSMEM_TLS_TOTAL_BYTES=2m, the default
// XSMEM_TLS_CACHE_BYTES of 32k).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "allocators/tls_buckets/tls_buckets.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "gtest/gtest.h"
#include "tests/testing/detail.h"

namespace {

xsmem_allocator *A() { return xsmem_tls_buckets(nullptr, nullptr); }
void *Alloc(size_t n) { return A()->ops->alloc(A(), n, 16, 0); }
void Free(void *p) { A()->ops->free(A(), p, 0); }

constexpr uint64_t kBudget = 2 << 20;  // XSMEM_TLS_TOTAL_BYTES in BUILD.bazel

// Returns the bytes on the global stacks, from the detail op (class label ->
// batches): batches * batch blocks * block size.
uint64_t StackBytes() {
  std::map<std::string, double> seen = xsmem::testing::Detail(A()).ByLabel("class", "stack_batches");
  uint64_t bytes = 0;
  for (auto &[label, batches] : seen) {
    size_t size = std::stoul(label);
    unsigned c = xsmem_tls_class_of(size);
    uint64_t limit = xsmem_tls_thread_cache_limit(c);
    uint64_t batch = limit / 2 ? limit / 2 : 1;
    bytes += static_cast<uint64_t>(batches) * batch * size;
  }
  return bytes;
}

// A block larger than XSMEM_TLS_CACHE_BYTES (32 KiB) is not thread-cached:
// a thread that frees blocks of every class above it holds none of them
// (it kept one block of each, up to 1 MiB, before: 128 threads held
// gigabytes so). Blocks of the class still go from thread to thread.
TEST(ThreadCache, BlocksAboveTheClassBoundAreNotCached) {
  std::vector<size_t> sizes;
  for (size_t n = 33 << 10; n <= (1 << 20); n += n / 8) sizes.push_back(n);
  std::vector<void *> blocks;
  for (size_t n : sizes) {
    for (int i = 0; i < 3; i++) blocks.push_back(Alloc(n));
  }
  uint64_t held = 0;
  std::thread([&] {
    for (void *p : blocks) Free(p);
    for (size_t n : sizes) held += uint64_t{xsmem_tls_thread_cached(xsmem_tls_class_of(n))} * n;
  }).join();
  EXPECT_EQ(held, 0u);
  for (size_t n : sizes) EXPECT_EQ(xsmem_tls_thread_cache_limit(xsmem_tls_class_of(n)), 0u) << n;
  // The freed blocks come back (from the stack or their slabs).
  std::vector<void *> again;
  for (size_t n : sizes) {
    for (int i = 0; i < 3; i++) again.push_back(Alloc(n));
  }
  int reused = 0;
  for (void *p : again) reused += std::count(blocks.begin(), blocks.end(), p) > 0;
  EXPECT_GT(reused, 0);
  for (void *p : again) Free(p);
}

// 16 producer/consumer pairs over 30 classes up to 32 KiB: without the
// budget the consumers' overflowing lists would put about 30 MiB of batches
// on the stacks (each class's stack takes up to 32 MiB) and keep a spare per
// class; with XSMEM_TLS_TOTAL_BYTES=2m the stacks and spares share what the
// open lists leave of 2 MiB, so they stay within it (a few batches over, of
// threads that checked the budget at the same time).
TEST(Budget, StacksAndSparesStayWithinTheProcessWideBudget) {
  constexpr int kPairs = 16, kBlocks = 3000;
  std::vector<size_t> sizes;
  for (size_t n = 64; n <= (32 << 10); n += n / 4) sizes.push_back(n);
  std::atomic<uint64_t> worst_stacks{0}, worst_over{0};  // stacks; stacks and spares
  std::vector<std::thread> threads;
  std::mutex mu[kPairs];
  std::vector<void *> queue[kPairs];
  std::atomic<int> producers_left{kPairs};
  for (int t = 0; t < kPairs; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBlocks; i++) {
        void *p = Alloc(sizes[(i * 7 + t) % sizes.size()]);
        std::lock_guard<std::mutex> l(mu[t]);
        queue[t].push_back(p);
      }
      producers_left--;
    });
    threads.emplace_back([&, t] {
      for (;;) {
        std::vector<void *> mine;
        {
          std::lock_guard<std::mutex> l(mu[t]);
          mine.swap(queue[t]);
        }
        for (void *p : mine) Free(p);
        xsmem_tls_counters k;
        xsmem_tls_get_counters(&k);
        uint64_t stacks = StackBytes();
        uint64_t beside_lists = k.bytes_spares + k.bytes_stacks;
        uint64_t w = worst_stacks.load();
        while (stacks > w && !worst_stacks.compare_exchange_weak(w, stacks)) {}
        w = worst_over.load();
        while (beside_lists > w && !worst_over.compare_exchange_weak(w, beside_lists)) {}
        if (mine.empty() && producers_left.load() == 0) {
          std::lock_guard<std::mutex> l(mu[t]);
          if (queue[t].empty()) break;
        }
      }
    });
  }
  for (auto &th : threads) th.join();
  const uint64_t slack = 1 << 20;  // batches of threads that checked the budget at the same moment
  EXPECT_LE(worst_stacks.load(), kBudget + slack);
  EXPECT_LE(worst_over.load(), kBudget + slack);
  xsmem_tls_counters k;
  xsmem_tls_get_counters(&k);
  EXPECT_EQ(k.bytes_stacks, StackBytes());
  // Every thread has exited: their lists are closed, nothing counted but the stacks.
  EXPECT_EQ(k.bytes_lists, 0u);
  EXPECT_EQ(k.bytes_held, k.bytes_stacks);
  EXPECT_LE(k.bytes_held, kBudget + slack);
}

}  // namespace
