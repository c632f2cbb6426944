// Micro benchmarks of the malloc API, for whichever allocator serves the
// process: glibc when run plainly, another one through LD_PRELOAD
// (`xsmem bench --micro` runs this binary under every allocator it compares).
//
//   BM_MallocFree/N       malloc(N) then free at once (the fast path's cost)
//   BM_Batch1000/N        1000 mallocs of N bytes, then 1000 frees
//   BM_ReallocGrowth      a block grown by realloc from 16 B to 64 KiB
//   BM_CrossThreadFree/N  one thread allocates, another frees (remote free)
//
// Calls go through volatile function pointers so the compiler cannot pair
// and remove a malloc with its free.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"

namespace {

void *(*volatile g_malloc)(size_t) = malloc;
void *(*volatile g_realloc)(void *, size_t) = realloc;
void (*volatile g_free)(void *) = free;

void BM_MallocFree(benchmark::State &state) {
  const size_t n = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void *p = g_malloc(n);
    benchmark::DoNotOptimize(p);
    g_free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MallocFree)->RangeMultiplier(4)->Range(16, 4096);

void BM_Batch1000(benchmark::State &state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<void *> blocks(1000);
  for (auto _ : state) {
    for (auto &b : blocks) b = g_malloc(n);
    benchmark::DoNotOptimize(blocks.data());
    for (auto &b : blocks) g_free(b);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_Batch1000)->Arg(64)->Arg(512);

void BM_ReallocGrowth(benchmark::State &state) {
  int64_t steps = 0;
  for (auto _ : state) {
    void *p = g_malloc(16);
    for (size_t n = 32; n <= 64 * 1024; n += n / 2) {
      p = g_realloc(p, n);
      static_cast<char *>(p)[n - 1] = 1;  // the new tail is really there
      steps++;
    }
    g_free(p);
  }
  state.SetItemsProcessed(steps);
}
BENCHMARK(BM_ReallocGrowth);

// A single-producer single-consumer ring: the benchmark thread allocates and
// pushes; a consumer thread pops and frees.
class Ring {
 public:
  bool Push(void *p) {
    size_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_.load(std::memory_order_acquire) == kSize) return false;
    slots_[h % kSize] = p;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  void *Pop() {
    size_t t = tail_.load(std::memory_order_relaxed);
    if (t == head_.load(std::memory_order_acquire)) return nullptr;
    void *p = slots_[t % kSize];
    tail_.store(t + 1, std::memory_order_release);
    return p;
  }
  bool Empty() const { return tail_.load() == head_.load(); }

 private:
  static constexpr size_t kSize = 4096;
  void *slots_[kSize];
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
};

void BM_CrossThreadFree(benchmark::State &state) {
  const size_t n = static_cast<size_t>(state.range(0));
  Ring ring;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    for (;;) {
      void *p = ring.Pop();
      if (p) {
        g_free(p);
      } else if (done.load(std::memory_order_acquire)) {
        if (ring.Empty()) return;
      } else {
        std::this_thread::yield();
      }
    }
  });
  for (auto _ : state) {
    void *p = g_malloc(n);
    static_cast<char *>(p)[0] = 1;
    while (!ring.Push(p)) std::this_thread::yield();
  }
  done.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CrossThreadFree)->Arg(64)->Arg(1024)->UseRealTime();

}  // namespace
