// The malloc+free pair of a small block, timed: the best of 5 rounds of
// 20 M pairs, in ns per pair. A consumer's default (fastbuild) build and a
// -c opt build of this same file should print about the same figure: the
// allocator's hot paths are optimized whatever mode the consumer builds in.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 20000000;
  void *(*volatile do_malloc)(size_t) = malloc;  // the calls are not folded away
  void (*volatile do_free)(void *) = free;
  double best = 1e300;
  for (int round = 0; round < 5; round++) {
    double t0 = now_ns();
    for (long i = 0; i < pairs; i++) do_free(do_malloc(64));
    double ns = (now_ns() - t0) / (double)pairs;
    if (ns < best) best = ns;
  }
  printf("%.2f ns per malloc+free pair\n", best);
  return 0;
}
