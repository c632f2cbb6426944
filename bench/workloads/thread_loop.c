// thread_loop: a threaded loop of small allocations and frees (after the
// classic threadtest pattern, which reports iterations).
//
// Two threads; in each iteration a thread allocates 1000 small blocks (8 to
// 128 B), writes them, and frees them all in allocation order. 1000 blocks of
// mixed classes exceed a thread cache's bound per class on some classes, so
// each iteration also exercises the refill and flush paths. Fixed work.
// Usage: thread_loop [scale]
#include <pthread.h>
#include <string.h>

#include "bench/workloads/common.h"

enum { kThreads = 2, kBatch = 1000, kMinSize = 8, kMaxSize = 128 };

typedef struct worker {
  long iterations;
  uint64_t seed, checksum;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  char *blocks[kBatch];
  for (long it = 0; it < w->iterations; it++) {
    for (int i = 0; i < kBatch; i++) {
      size_t n = kMinSize + workload_rand(&w->seed) % (kMaxSize - kMinSize + 1);
      char *p = workload_check(malloc(n), n);
      memset(p, (int)i, 8);
      blocks[i] = p;
    }
    for (int i = 0; i < kBatch; i++) {
      w->checksum += (uint8_t)blocks[i][7];
      free(blocks[i]);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long iterations = workload_scaled(30000, scale, 2);
  worker workers[kThreads];
  pthread_t threads[kThreads];
  for (int t = 0; t < kThreads; t++) {
    workers[t] = (worker){.iterations = iterations, .seed = 0x243f6a8885a308d3ull * (uint64_t)(t + 1)};
    pthread_create(&threads[t], NULL, work, &workers[t]);
  }
  uint64_t checksum = 0;
  for (int t = 0; t < kThreads; t++) {
    pthread_join(threads[t], NULL);
    checksum += workers[t].checksum;
  }
  printf("thread_loop threads=%d iterations=%ld checksum=%llu peak_rss_kib=%ld\n", kThreads, iterations * kThreads,
         (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
