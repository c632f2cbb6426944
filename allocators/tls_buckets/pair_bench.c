// A quick malloc+free timing loop for tuning the small tier; run it under
// LD_PRELOAD with each allocator (it links none itself):
//   pair   malloc(n) then free at once (the thread-cache round trip)
//   batch  1000 x malloc(n), then 1000 x free (list refills and flushes)
// Prints ns per malloc+free pair. The full comparison lives in bench/.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *volatile g_sink;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);  // CPU time: robust to a loaded machine
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  const size_t sizes[] = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
  const long iters = argc > 1 ? atol(argv[1]) : 20000000;
  static void *v[1000];
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("%-6s %10s %10s\n", "size", "pair_ns", "batch_ns");
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    size_t n = sizes[i];
    double best_pair = 1e30, best_batch = 1e30;
    for (int rep = 0; rep < 7; rep++) {
      double t0 = now_ns();
      for (long k = 0; k < iters; k++) {
        void *p = malloc(n);
        g_sink = p;
        free(p);
      }
      double t1 = now_ns();
      for (long k = 0; k < iters / 1000; k++) {
        for (int j = 0; j < 1000; j++) v[j] = malloc(n);
        g_sink = v[k % 1000];
        for (int j = 0; j < 1000; j++) free(v[j]);
      }
      double t2 = now_ns();
      if ((t1 - t0) / iters < best_pair) best_pair = (t1 - t0) / iters;
      if ((t2 - t1) / (iters / 1000 * 1000) < best_batch) best_batch = (t2 - t1) / (iters / 1000 * 1000);
    }
    printf("%-6zu %10.2f %10.2f\n", n, best_pair, best_batch);
  }
  return 0;
}
