// bench/bfc_latency.cc: alloc+free latency of bfc and pool with many live chunks,
// and the cost of their one mutex under threads.
//
//   bfc_latency [--configs=bfc,pool,system] [--iters=200000] [--threads=1,2,4]
//
// Latency: for each configuration and each live count N (10^2 .. 10^5), N blocks
// of mixed sizes are allocated, then each step frees a random live block and
// allocates a new one of a random size in its place; every step (one free + one
// alloc) is timed alone with the TSC-backed steady clock (its own overhead,
// measured first, is subtracted). Reported: median and p99 in ns per step.
// Threads: T threads each run steps over their own 1000 live blocks; reported
// is the wall time per step over all threads (ns/step, lower is better).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> Split(const std::string &s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

// Sizes: mostly small tensors and buffers, a tail of larger ones.
size_t RandomSize(std::mt19937_64 &rng) {
  uint64_t r = rng();
  switch (r % 16) {
    case 0: return 16384 + (r >> 20) % (256 * 1024);
    case 1:
    case 2:
    case 3: return 1024 + (r >> 20) % 15360;
    default: return 16 + (r >> 20) % 1008;
  }
}

double ClockOverheadNs() {
  std::vector<double> v;
  for (int i = 0; i < 100000; i++) {
    auto t0 = Clock::now();
    auto t1 = Clock::now();
    v.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

void Latency(xsmem_allocator *a, const char *name, size_t live, size_t iters, double overhead) {
  std::mt19937_64 rng(live);
  std::vector<void *> blocks(live);
  for (auto &b : blocks) b = a->ops->alloc(a, RandomSize(rng), 16, 0);
  std::vector<double> ns;
  ns.reserve(iters);
  for (size_t i = 0; i < iters; i++) {
    size_t k = rng() % live;
    size_t n = RandomSize(rng);
    auto t0 = Clock::now();
    a->ops->free(a, blocks[k], 0);
    void *p = a->ops->alloc(a, n, 16, 0);
    auto t1 = Clock::now();
    blocks[k] = p;
    ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() - overhead);
  }
  for (auto &b : blocks) a->ops->free(a, b, 0);
  std::sort(ns.begin(), ns.end());
  xsmem_stats s = xsmem_get_stats(a);
  printf("| %s | %zu | %.0f | %.0f | %.3f |\n", name, live, ns[ns.size() / 2], ns[ns.size() * 99 / 100],
         s.fragmentation);
  fflush(stdout);
}

void Threads(xsmem_allocator *a, const char *name, int threads, size_t iters) {
  auto body = [&](int t) {
    std::mt19937_64 rng(t + 1);
    std::vector<void *> blocks(1000);
    for (auto &b : blocks) b = a->ops->alloc(a, RandomSize(rng), 16, 0);
    for (size_t i = 0; i < iters; i++) {
      size_t k = rng() % blocks.size();
      a->ops->free(a, blocks[k], 0);
      blocks[k] = a->ops->alloc(a, RandomSize(rng), 16, 0);
    }
    for (auto &b : blocks) a->ops->free(a, b, 0);
  };
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++) ts.emplace_back(body, t);
  for (auto &t : ts) t.join();
  double total = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  printf("| %s | %d | %.0f |\n", name, threads, total / (double)(iters * threads));
  fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
  std::string configs = "bfc,pool,system", threads = "1,2,4";
  size_t iters = 200000;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg.rfind("--configs=", 0) == 0) configs = arg.substr(10);
    else if (arg.rfind("--iters=", 0) == 0) iters = strtoull(arg.c_str() + 8, nullptr, 10);
    else if (arg.rfind("--threads=", 0) == 0) threads = arg.substr(10);
    else {
      fprintf(stderr, "usage: bfc_latency [--configs=a,b] [--iters=N] [--threads=1,2,4]\n");
      return 2;
    }
  }
  double overhead = ClockOverheadNs();
  printf("clock overhead subtracted: %.0f ns\n\n", overhead);
  printf(
      "| configuration | live blocks | median ns (free+alloc) | p99 ns | fragmentation after "
      "|\n|---|---|---|---|---|\n");
  for (size_t live : {100u, 1000u, 10000u, 100000u}) {
    for (const std::string &name : Split(configs)) {
      const xsmem_config *c = xsmem_config_find(name.c_str());
      if (!c) {
        fprintf(stderr, "configuration %s is not linked in\n", name.c_str());
        return 1;
      }
      Latency(xsmem_config_instance(c), c->name, live, iters, overhead);
    }
  }
  printf("\n| configuration | threads | ns per step (wall / all steps) |\n|---|---|---|\n");
  for (const std::string &t : Split(threads)) {
    for (const std::string &name : Split(configs)) {
      const xsmem_config *c = xsmem_config_find(name.c_str());
      Threads(xsmem_config_instance(c), c->name, atoi(t.c_str()), iters / 2);
    }
  }
  return 0;
}
