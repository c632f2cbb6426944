// tests/programs: many short-lived threads, each allocating and freeing a
// few blocks, with an xsmem library preloaded (thread_churn_test.sh): what the
// process keeps must not grow with the number of threads that have come and
// gone (per-thread state an allocator, its shim or its tracker never gives
// back). Compares the resident set after the first 2000 threads with the one
// after all of them, against a bound.
//
// usage: thread_churn [THREADS] [BOUND_KIB]
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*volatile do_malloc)(size_t) = malloc;

static void *work(void *arg) {
  static const size_t kSizes[] = {16, 100, 1000, 5000, 40000, 300000};
  void *v[6];
  for (int i = 0; i < 6; i++) {
    v[i] = do_malloc(kSizes[i]);
    if (!v[i]) return arg;
    memset(v[i], i + 1, kSizes[i] < 4096 ? kSizes[i] : 4096);
  }
  for (int i = 0; i < 6; i++) free(v[i]);
  return NULL;
}

static long resident_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = 0;
    fclose(f);
  }
  return rss * 4;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 20000;
  long bound = argc > 2 ? atol(argv[2]) : 2048;
  long warm = 0;
  enum { kWave = 8 };  // threads alive at once
  for (int i = 0; i < threads; i += kWave) {
    pthread_t t[kWave];
    for (int k = 0; k < kWave; k++) {
      if (pthread_create(&t[k], NULL, work, NULL) != 0) return 2;
    }
    for (int k = 0; k < kWave; k++) {
      void *failed;
      pthread_join(t[k], &failed);
      if (failed) return 3;
    }
    if (i + kWave == 2000) warm = resident_kib();
  }
  long end = resident_kib();
  printf("threads=%d resident after 2000: %ld KiB, after all: %ld KiB (bound +%ld KiB)\n", threads, warm, end, bound);
  return end - warm > bound ? 1 : 0;
}
