// bench/numa/malloc_pairs.c: malloc+free through the process allocator, for
// comparing `numa` with `default` (the same tiers without per-node memory):
// the same source is linked once with each (malloc_pairs_default,
// malloc_pairs_numa). On one node this is the cost of the per-node routing:
// the small fast path's node base, the node routers of the medium and large
// tiers. With XSMEM_NUMA_FAKE_NODES=2 it includes the multi-node lookups.
// Prints one line per case: ns per malloc+free pair, best of the rounds.
//
// Usage: malloc_pairs [pairs per round (default 2000000)] [rounds (default 9)]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Mixed small sizes, freed at once (the thread cache's fast path).
static double small_pairs(size_t pairs) {
  static const size_t kSizes[8] = {16, 48, 100, 256, 640, 1000, 2048, 4000};
  double t = now_s();
  for (size_t i = 0; i < pairs; i++) {
    void *p = malloc(kSizes[i & 7]);
    __asm__ __volatile__("" : : "r"(p) : "memory");
    free(p);
  }
  return (now_s() - t) / (double)pairs * 1e9;
}

// A window of 1024 live blocks of random small sizes (refills and flushes).
static double window_pairs(size_t pairs) {
  enum { kWindow = 1024 };
  static void *live[kWindow];
  uint64_t x = 12345;
  for (int i = 0; i < kWindow; i++) live[i] = malloc(64);
  double t = now_s();
  for (size_t i = 0; i < pairs; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t slot = x % kWindow;
    free(live[slot]);
    live[slot] = malloc(16 + (x >> 32) % 4000);
  }
  t = now_s() - t;
  for (int i = 0; i < kWindow; i++) free(live[i]);
  return t / (double)pairs * 1e9;
}

// Medium blocks (the buddy tier: through the node router in `numa`).
static double medium_pairs(size_t pairs) {
  static const size_t kSizes[4] = {2u << 20, 3u << 20, 5u << 20, 8u << 20};
  double t = now_s();
  for (size_t i = 0; i < pairs; i++) {
    char *p = malloc(kSizes[i & 3]);
    p[0] = 1;
    __asm__ __volatile__("" : : "r"(p) : "memory");
    free(p);
  }
  return (now_s() - t) / (double)pairs * 1e9;
}

int main(int argc, char **argv) {
  size_t pairs = argc > 1 ? (size_t)atol(argv[1]) : 2000000;
  int rounds = argc > 2 ? atoi(argv[2]) : 9;
  double best[3] = {1e30, 1e30, 1e30};
  small_pairs(pairs / 10);  // warm up: segments mapped, caches built
  medium_pairs(pairs / 100);
  for (int r = 0; r < rounds; r++) {
    double s = small_pairs(pairs), w = window_pairs(pairs), m = medium_pairs(pairs / 20);
    if (s < best[0]) best[0] = s;
    if (w < best[1]) best[1] = w;
    if (m < best[2]) best[2] = m;
  }
  printf("small %.2f ns/pair, window %.2f ns/pair, medium %.2f ns/pair\n", best[0], best[1], best[2]);
  return 0;
}
