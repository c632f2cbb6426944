// Passive false sharing (bench/workloads/cache_scratch.c): threads that free
// blocks the main thread handed them, then allocate the same size, must not
// get those blocks back: they share a cache line with each other and with the
// main thread's. Its own binary: the tier starts empty, as in a program that
// hands out its first blocks (in a tier that other tests have used, recycled
// neighbours of the handed blocks may come back by chance; so may the handed
// blocks themselves once the central list has no fresh blocks to give).
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "allocators/tls_buckets/tls_buckets.h"
#include "gtest/gtest.h"

namespace {

xsmem_allocator *A() { return xsmem_tls_buckets(nullptr, nullptr); }
void *Alloc(size_t n) { return A()->ops->alloc(A(), n, 16, 0); }
void Free(void *p) { A()->ops->free(A(), p, 0); }
uintptr_t Line(const void *p) { return reinterpret_cast<uintptr_t>(p) / 64; }

TEST(FalseSharing, HandedBlocksDoNotComeBackToTheReceivers) {
  for (size_t size : {8, 24, 40}) {  // classes 16, 32, 48: several blocks per line
    constexpr int kWorkers = 3;
    void *handed[kWorkers], *got[kWorkers];
    for (auto &p : handed) p = Alloc(size);
    // The workers run together, as cache_scratch's do: each frees the block
    // it was handed, allocates, and holds its block until all have one.
    std::atomic<int> holding{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; w++) {
      workers.emplace_back([&, w] {
        Free(handed[w]);
        got[w] = Alloc(size);
        memset(got[w], w, size);
        holding++;
        while (holding.load() < kWorkers) std::this_thread::yield();
      });
    }
    for (auto &t : workers) t.join();
    for (int w = 0; w < kWorkers; w++) {
      for (void *h : handed) EXPECT_NE(Line(got[w]), Line(h)) << "size " << size << " worker " << w;
      for (int v = 0; v < w; v++)
        EXPECT_NE(Line(got[w]), Line(got[v])) << "size " << size << " workers " << v << "," << w;
    }
    for (void *p : got) Free(p);
  }
}

}  // namespace
