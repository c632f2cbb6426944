// random_sizes: random sizes up to a few KiB with a live set of many
// thousands of blocks, in one thread (random_sizes) or two (random_sizes_2t,
// built from this file with RANDOM_SIZES_THREADS=2).
//
// Each thread owns a table of 20000 slots and replaces a random one with a
// block of random size, most small and some up to 4 KiB (sizes drawn as a
// product of two uniform numbers, so small ones dominate as in real programs).
// Nothing crosses threads: this measures a thread's cache and refill paths
// under a working set much larger than the cache, not the remote-free path.
// Usage: random_sizes [scale]
#include <pthread.h>
#include <string.h>

#include "bench/workloads/common.h"

#ifndef RANDOM_SIZES_THREADS
#define RANDOM_SIZES_THREADS 1
#endif
#if RANDOM_SIZES_THREADS == 1
#define RANDOM_SIZES_NAME "random_sizes"
#else
#define RANDOM_SIZES_NAME "random_sizes_2t"
#endif

enum { kThreads = RANDOM_SIZES_THREADS, kSlots = 20000, kMaxSize = 4096 };

typedef struct worker {
  long ops;
  uint64_t seed, checksum;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  char **slots = workload_check(calloc(kSlots, sizeof(char *)), kSlots * sizeof(char *));
  size_t *sizes = workload_check(calloc(kSlots, sizeof(size_t)), kSlots * sizeof(size_t));
  for (long i = 0; i < w->ops; i++) {
    uint64_t r = workload_rand(&w->seed);
    long k = (long)(r % kSlots);
    if (slots[k]) {
      w->checksum += (uint8_t)slots[k][0] + (uint8_t)slots[k][sizes[k] - 1];
      free(slots[k]);
    }
    uint64_t a = (r >> 20) & 0xfff, b = (r >> 40) & 0xfff;  // 0..4095 each
    size_t n = 8 + (size_t)((a * b) >> 12) % (kMaxSize - 7);
    char *p = workload_check(malloc(n), n);
    p[0] = (char)i;
    p[n - 1] = (char)(r >> 8);
    slots[k] = p;
    sizes[k] = n;
  }
  for (long k = 0; k < kSlots; k++) free(slots[k]);
  free(slots);
  free(sizes);
  return NULL;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long ops = workload_scaled(6000000 / kThreads, scale, 1000);
  worker workers[kThreads];
  pthread_t threads[kThreads];
  for (int t = 0; t < kThreads; t++) {
    workers[t] = (worker){.ops = ops, .seed = 0xabcdef12345ull * (uint64_t)(t + 1), .checksum = 0};
    pthread_create(&threads[t], NULL, work, &workers[t]);
  }
  uint64_t checksum = 0;
  for (int t = 0; t < kThreads; t++) {
    pthread_join(threads[t], NULL);
    checksum += workers[t].checksum;
  }
  printf(RANDOM_SIZES_NAME " threads=%d slots=%d ops=%ld checksum=%llu peak_rss_kib=%ld\n", kThreads, kSlots,
         ops * kThreads, (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
