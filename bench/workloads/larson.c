// larson: a server simulation after Larson & Krishnan (1998).
//
// Each worker thread owns a table of live blocks; it repeatedly frees a
// random block and allocates a new one of random size (16..1024 B) in its
// place. When a round ends the tables pass to fresh threads, so the first
// free of each slot in a round releases memory another thread allocated:
// the pattern of a server whose connections move between threads.
// Usage: larson [scale]
#include <pthread.h>
#include <string.h>

#include "bench/workloads/common.h"

enum { kThreads = 2, kSlots = 4000, kMinSize = 16, kMaxSize = 1024 };

typedef struct worker {
  char **slots;
  long ops;
  uint64_t seed;
  uint64_t checksum;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  for (long i = 0; i < w->ops; i++) {
    uint64_t r = workload_rand(&w->seed);
    long k = (long)(r % kSlots);
    if (w->slots[k]) {
      w->checksum += (uint8_t)w->slots[k][0];
      free(w->slots[k]);
    }
    size_t n = kMinSize + (r >> 32) % (kMaxSize - kMinSize + 1);
    char *p = workload_check(malloc(n), n);
    p[0] = (char)(r >> 16);
    p[n - 1] = (char)i;
    w->slots[k] = p;
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long rounds = workload_scaled(50, scale, 1);
  long ops = 100000;
  worker workers[kThreads];
  for (int t = 0; t < kThreads; t++) {
    workers[t].slots = workload_check(calloc(kSlots, sizeof(char *)), kSlots * sizeof(char *));
    workers[t].seed = 0x1234567ull * (uint64_t)(t + 1);
    workers[t].checksum = 0;
    workers[t].ops = ops;
  }
  for (long round = 0; round < rounds; round++) {
    pthread_t threads[kThreads];
    for (int t = 0; t < kThreads; t++) pthread_create(&threads[t], NULL, work, &workers[t]);
    for (int t = 0; t < kThreads; t++) pthread_join(threads[t], NULL);
    // The next round's threads take over the tables (and free their blocks).
    char **first = workers[0].slots;
    for (int t = 0; t + 1 < kThreads; t++) workers[t].slots = workers[t + 1].slots;
    workers[kThreads - 1].slots = first;
  }
  uint64_t checksum = 0;
  for (int t = 0; t < kThreads; t++) {
    checksum += workers[t].checksum;
    for (int k = 0; k < kSlots; k++) free(workers[t].slots[k]);
    free(workers[t].slots);
  }
  printf("larson threads=%d rounds=%ld ops=%ld checksum=%llu peak_rss_kib=%ld\n", kThreads, rounds,
         rounds * ops * kThreads, (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
