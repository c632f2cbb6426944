// cache-scratch: passive false sharing, after Hoard's cache-scratch test.
//
// The main thread allocates one small object per worker, adjacent in memory
// under a naive allocator, and hands each to a worker. Each worker frees its
// object, then repeatedly allocates an object of the same size, writes to it
// many times, and frees it. An allocator that gives the workers blocks from
// one cache line makes their writes fight over that line.
// Usage: cache_scratch [scale]
#include <pthread.h>

#include "bench/workloads/common.h"

enum { kThreads = 2, kObjectSize = 8, kWrites = 1000 };

typedef struct job {
  char *initial;
  long iterations;
  uint64_t sum;
} job;

static void *work(void *arg) {
  job *j = arg;
  free(j->initial);
  for (long i = 0; i < j->iterations; i++) {
    volatile char *p = workload_check(malloc(kObjectSize), kObjectSize);
    for (int k = 0; k < kObjectSize; k++) p[k] = 0;  // fresh blocks hold anything
    for (int w = 0; w < kWrites; w++) {
      for (int k = 0; k < kObjectSize; k++) p[k] = (char)(p[k] + w + k);
    }
    j->sum += (unsigned char)p[kObjectSize - 1];
    free((void *)p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long iterations = workload_scaled(40000, scale, 10);
  job jobs[kThreads];
  pthread_t threads[kThreads];
  for (int t = 0; t < kThreads; t++) {
    jobs[t].initial = workload_check(malloc(kObjectSize), kObjectSize);
    jobs[t].iterations = iterations;
    jobs[t].sum = 0;
  }
  for (int t = 0; t < kThreads; t++) pthread_create(&threads[t], NULL, work, &jobs[t]);
  uint64_t checksum = 0;
  for (int t = 0; t < kThreads; t++) {
    pthread_join(threads[t], NULL);
    checksum += jobs[t].sum;
  }
  printf("cache_scratch threads=%d iterations=%ld writes=%d checksum=%llu peak_rss_kib=%ld\n", kThreads, iterations,
         kWrites, (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
