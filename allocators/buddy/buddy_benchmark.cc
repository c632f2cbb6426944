// Buddy throughput: threads allocate and free random medium blocks (16 KiB ..
// 1 MiB, 32 live per thread, first byte touched). Compares one big region
// (every thread on one lock) with many small regions (threads spread over
// per-region locks) and glibc.
//
//   ./bazelw build //allocators/buddy:buddy_benchmark
//   bazel-bin/allocators/buddy/buddy_benchmark --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "allocators/buddy/buddy.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;

xsmem_allocator *g_buddy;

xsmem_allocator *Make(size_t region) {
  xsmem_buddy_options o = xsmem_buddy_options_from_env();
  o.region_size = region;
  o.decommit_delay_ms = 10000;
  return xsmem_buddy_create("buddy.bench", xsmem_os_huge_source(), &o);
}

template <bool kGlibc>
void Run(benchmark::State &state) {
  std::mt19937 rng(state.thread_index());
  std::vector<void *> live(32, nullptr);
  size_t i = 0;
  for (auto _ : state) {
    size_t n = size_t{16} << 10 << (rng() % 7);  // 16 KiB .. 1 MiB
    void *&slot = live[i++ % live.size()];
    if (slot) {
      if (kGlibc) free(slot);
      else g_buddy->ops->free(g_buddy, slot, 0);
    }
    slot = kGlibc ? malloc(n) : g_buddy->ops->alloc(g_buddy, n, 16, 0);
    *static_cast<char *>(slot) = 1;
  }
  for (void *p : live) {
    if (!p) continue;
    if (kGlibc) free(p);
    else g_buddy->ops->free(g_buddy, p, 0);
  }
}

// One allocator per variant, built once and shared by every run.
void BM_OneRegion(benchmark::State &state) {
  static xsmem_allocator *a = Make(1024 * kMiB);
  g_buddy = a;
  Run<false>(state);
}

void BM_SmallRegions(benchmark::State &state) {
  static xsmem_allocator *a = Make(8 * kMiB);
  g_buddy = a;
  Run<false>(state);
}

void BM_Glibc(benchmark::State &state) { Run<true>(state); }

BENCHMARK(BM_OneRegion)->ThreadRange(1, 8)->UseRealTime();
BENCHMARK(BM_SmallRegions)->ThreadRange(1, 8)->UseRealTime();
BENCHMARK(BM_Glibc)->ThreadRange(1, 8)->UseRealTime();

}  // namespace
