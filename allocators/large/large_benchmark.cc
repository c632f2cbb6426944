// Big-block benchmarks: the large tier (with and without its cache), the buddy
// tier and glibc, on loops that allocate, touch every page and free. Page
// faults per iteration are reported (counter "faults"): on these VMs a fault
// costs ~13 us, so they dominate. Used to choose XSMEM_LARGE_MIN and
// XSMEM_LARGE_CACHE (see allocators/large/README section in the report).
//
//   ./bazelw build //allocators/large:large_benchmark
//   bazel-bin/allocators/large/large_benchmark --benchmark_min_time=0.5
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;

long Faults() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt + ru.ru_majflt;
}

enum Kind { kLargeNoCache, kLargeCache, kBuddy, kBuddyHuge, kGlibc };

struct Target {
  xsmem_allocator *a = nullptr;
  Kind kind;
  explicit Target(Kind k) : kind(k) {
    if (k == kLargeNoCache || k == kLargeCache) {
      xsmem_large_options o = xsmem_large_options_from_env();
      o.cache_bytes = k == kLargeCache ? 1024 * kMiB : 0;
      o.decommit_delay_ms = 1000;
      a = xsmem_large_create("large.bench", nullptr, &o);
    } else if (k == kBuddy || k == kBuddyHuge) {
      xsmem_buddy_options o = xsmem_buddy_options_from_env();
      o.region_size = 1024 * kMiB;
      o.decommit_delay_ms = 1000;
      a = xsmem_buddy_create("buddy.bench", k == kBuddy ? xsmem_os_source() : xsmem_os_huge_source(), &o);
    }
  }
  ~Target() {
    if (a) a->ops->destroy(a);
  }
  void *Alloc(size_t n) { return a ? a->ops->alloc(a, n, 16, 0) : malloc(n); }
  void Free(void *p) {
    if (a) a->ops->free(a, p, 0);
    else free(p);
  }
};

void Touch(void *p, size_t n) {
  char *c = static_cast<char *>(p);
  for (size_t i = 0; i < n; i += 4096) c[i] = 1;
  benchmark::DoNotOptimize(c);
}

// One block of range(0) MiB: allocate, touch every page (range(1) == 1), free.
void BM_Repeat(benchmark::State &state, Kind kind) {
  Target t(kind);
  size_t n = static_cast<size_t>(state.range(0)) * kMiB;
  bool touch = state.range(1) != 0;
  long f0 = Faults();
  for (auto _ : state) {
    void *p = t.Alloc(n);
    if (touch) Touch(p, n);
    t.Free(p);
  }
  state.counters["faults"] = benchmark::Counter(double(Faults() - f0) / state.iterations());
}

// Four blocks live, sizes 1..range(0) MiB at random: allocate and touch a new
// one, free the oldest.
void BM_Mixed(benchmark::State &state, Kind kind) {
  Target t(kind);
  std::mt19937 rng(1);
  size_t max = static_cast<size_t>(state.range(0));
  std::vector<void *> live(4, nullptr);
  size_t i = 0;
  long f0 = Faults();
  for (auto _ : state) {
    size_t n = (1 + rng() % max) * kMiB;
    if (live[i % 4]) t.Free(live[i % 4]);
    void *p = t.Alloc(n);
    Touch(p, n);
    live[i++ % 4] = p;
  }
  for (void *p : live)
    if (p) t.Free(p);
  state.counters["faults"] = benchmark::Counter(double(Faults() - f0) / state.iterations());
}

#define REPEAT_ARGS                                                                                              \
  ->Args({512, 1})->Args({1, 1})->Args({4, 1})->Args({8, 1})->Args({32, 1})->Args({128, 1})->Args({8, 0})->Args( \
      {128, 0})
BENCHMARK_CAPTURE(BM_Repeat, large_nocache, kLargeNoCache) REPEAT_ARGS;
BENCHMARK_CAPTURE(BM_Repeat, large_cache, kLargeCache) REPEAT_ARGS;
BENCHMARK_CAPTURE(BM_Repeat, buddy, kBuddy) REPEAT_ARGS;
BENCHMARK_CAPTURE(BM_Repeat, buddy_thp, kBuddyHuge) REPEAT_ARGS;
BENCHMARK_CAPTURE(BM_Repeat, glibc, kGlibc) REPEAT_ARGS;

#define MIXED_ARGS ->Arg(8)->Arg(64)->Arg(256)
BENCHMARK_CAPTURE(BM_Mixed, large_nocache, kLargeNoCache) MIXED_ARGS;
BENCHMARK_CAPTURE(BM_Mixed, large_cache, kLargeCache) MIXED_ARGS;
BENCHMARK_CAPTURE(BM_Mixed, buddy, kBuddy) MIXED_ARGS;
BENCHMARK_CAPTURE(BM_Mixed, buddy_thp, kBuddyHuge) MIXED_ARGS;
BENCHMARK_CAPTURE(BM_Mixed, glibc, kGlibc) MIXED_ARGS;

}  // namespace
