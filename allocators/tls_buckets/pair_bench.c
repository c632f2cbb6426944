// A quick malloc+free timing loop for tuning the small tier; run it under
// LD_PRELOAD with each allocator (it links none itself):
//   pair   malloc(n) then free at once (the thread-cache round trip)
//   batch  1000 x malloc(n), then 1000 x free (64 above 64 KiB): refills and flushes
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
  size_t sizes[16] = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
  size_t nsizes = 9;
  const long iters = argc > 1 ? atol(argv[1]) : 20000000;
  if (argc > 2) {  // explicit sizes: pair_bench ITERS SIZE...
    nsizes = 0;
    for (int a = 2; a < argc && nsizes < 16; a++) sizes[nsizes++] = (size_t)atol(argv[a]);
  }
  static void *v[1000];
  memset(v, 0, sizeof(v));
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("%-6s %10s %10s\n", "size", "pair_ns", "batch_ns");
  for (size_t i = 0; i < nsizes; i++) {
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
      const int nb = n > 65536 ? 64 : 1000;  // batch blocks (64 MiB at most)
      for (long k = 0; k < iters / nb; k++) {
        for (int j = 0; j < nb; j++) v[j] = malloc(n);
        g_sink = v[k % nb];
        for (int j = 0; j < nb; j++) free(v[j]);
      }
      double t2 = now_ns();
      if ((t1 - t0) / iters < best_pair) best_pair = (t1 - t0) / iters;
      if ((t2 - t1) / (iters / nb * nb) < best_batch) best_batch = (t2 - t1) / (iters / nb * nb);
    }
    printf("%-6zu %10.2f %10.2f\n", n, best_pair, best_batch);
  }
  return 0;
}
