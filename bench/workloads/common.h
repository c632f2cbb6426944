// bench/workloads/common.h: what the whole-workload programs share.
//
// Each workload is a plain C program linked only against libc, so that any
// allocator can be swapped in with LD_PRELOAD (`xsmem bench` does that).
// Every program takes one optional argument, a scale factor for its amount of
// work (default 1.0, sized so that one run takes about 0.3-2 s with glibc), and
// prints one line: its name, what it did, a checksum of the data it saw (so
// that a broken allocator shows up as a wrong line, not as a fast time), and
// its peak resident set as peak_rss_kib=N.
#ifndef XSMEM_BENCH_WORKLOADS_COMMON_H_
#define XSMEM_BENCH_WORKLOADS_COMMON_H_

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

// Returns the scale factor from argv[1] (default 1.0, at least 0.001).
static inline double workload_scale(int argc, char **argv) {
  double s = argc > 1 ? atof(argv[1]) : 1.0;
  return s < 0.001 ? 0.001 : s;
}

// Returns a count scaled by s, at least min.
static inline long workload_scaled(long base, double s, long min) {
  long n = (long)(base * s);
  return n < min ? min : n;
}

// A small fast generator (xorshift64*), one per thread.
static inline uint64_t workload_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

// Returns seconds from a monotonic clock.
static inline double workload_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Returns this process's peak resident set in KiB: VmHWM, the high-water mark
// of this program's own address space. (getrusage's and wait4's ru_maxrss
// also count the parent's resident set at fork time, which exec keeps: a
// workload started from Python would report Python's size when smaller.)
static inline long workload_peak_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof(line), f)) {
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  }
  if (f) fclose(f);
  if (kib < 0) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    kib = ru.ru_maxrss;
  }
  return kib;
}

// Exits with a message when p is NULL.
static inline void *workload_check(void *p, size_t n) {
  if (!p) {
    fprintf(stderr, "allocation of %zu bytes failed\n", n);
    exit(1);
  }
  return p;
}

#endif  // XSMEM_BENCH_WORKLOADS_COMMON_H_
