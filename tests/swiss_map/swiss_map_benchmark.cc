// Micro benchmark: platform/swiss_map against a plain chained map
// (std::unordered_map behind a mutex, i.e. one lock and a linked bucket per
// entry) on the tracker's workload: insert a pointer, look it up, erase it,
// with a working set of `range(0)` live keys.
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

#include "benchmark/benchmark.h"
#include "platform/swiss_map.h"

namespace {

struct Rec {
  uint64_t v[6];  // the size of a tracker record
};

std::vector<uint64_t> Keys(size_t n) {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> k(n);
  for (auto &x : k) x = 0x7f0000000000ULL + (rng() % (1ull << 30)) * 16;
  return k;
}

void BM_Swiss(benchmark::State &state) {
  static xsmem_swiss_map m;
  if (state.thread_index() == 0) xsmem_swiss_map_init(&m, sizeof(Rec));
  auto keys = Keys(state.range(0) * 2);
  for (auto &k : keys) k += uint64_t(state.thread_index()) << 36;
  size_t live = state.range(0);
  Rec r{};
  for (size_t i = 0; i < live; i++) xsmem_swiss_map_insert(&m, keys[i], &r);
  size_t i = 0;
  // Warm up to the steady state (growth and tombstone purges done) before timing.
  for (; i < 2 * keys.size(); i++) {
    xsmem_swiss_map_insert(&m, keys[(i + live) % keys.size()], &r);
    xsmem_swiss_map_erase(&m, keys[i % keys.size()], &r);
  }
  for (auto _ : state) {
    size_t a = i % keys.size(), b = (i + live) % keys.size();
    xsmem_swiss_map_insert(&m, keys[b], &r);
    benchmark::DoNotOptimize(xsmem_swiss_map_find(&m, keys[a], &r));
    xsmem_swiss_map_erase(&m, keys[a], &r);
    i++;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Chained(benchmark::State &state) {
  static std::unordered_map<uint64_t, Rec> m;
  static std::mutex mu;
  auto keys = Keys(state.range(0) * 2);
  for (auto &k : keys) k += uint64_t(state.thread_index()) << 36;
  size_t live = state.range(0);
  Rec r{};
  {
    std::lock_guard<std::mutex> g(mu);
    for (size_t i = 0; i < live; i++) m[keys[i]] = r;
  }
  size_t i = 0;
  for (auto _ : state) {
    size_t a = i % keys.size(), b = (i + live) % keys.size();
    {
      std::lock_guard<std::mutex> g(mu);
      m[keys[b]] = r;
    }
    {
      std::lock_guard<std::mutex> g(mu);
      auto it = m.find(keys[a]);
      if (it != m.end()) r = it->second;
    }
    {
      std::lock_guard<std::mutex> g(mu);
      m.erase(keys[a]);
    }
    benchmark::DoNotOptimize(r);
    i++;
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) m.clear();
}

BENCHMARK(BM_Swiss)->Arg(1000)->Arg(100000)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Chained)->Arg(1000)->Arg(100000)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
