// tests/limits: a small C workload whose output depends only on what it
// computes, run under an address-space limit with each configuration
// preloaded and without (limits_test.sh compares the two). Blocks of the
// small, medium and large tiers, calloc, realloc growth and shrinking,
// posix_memalign, and a second thread; a failed allocation prints
// "ENOMEM <what>" and exits 1, as a program that checks malloc would.
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*volatile do_malloc)(size_t) = malloc;

static void fail(const char *what) {
  printf("ENOMEM %s (errno %d)\n", what, errno);
  exit(1);
}

static uint64_t fill(unsigned char *p, size_t n, unsigned seed) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i += 61) {
    p[i] = (unsigned char)(seed + i);
    sum += p[i];
  }
  return sum;
}

static uint64_t check(const unsigned char *p, size_t n, unsigned seed) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i += 61) {
    if (p[i] != (unsigned char)(seed + i)) {
      printf("CORRUPT at %zu\n", i);
      exit(2);
    }
    sum += p[i];
  }
  return sum;
}

enum { kBlocks = 1500, kThreadBlocks = 1000 };

static void *worker(void *arg) {
  uint64_t *sum = arg;
  static void *v[kThreadBlocks];
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < kThreadBlocks; i++) {
      size_t n = 16 + (size_t)(i * 131 % 4000);
      if (!(v[i] = do_malloc(n))) fail("thread malloc");
      *sum += fill(v[i], n, (unsigned)i);
    }
    for (int i = 0; i < kThreadBlocks; i++) {
      *sum += check(v[i], 16 + (size_t)(i * 131 % 4000), (unsigned)i);
      free(v[i]);
    }
  }
  return NULL;
}

int main(void) {
  uint64_t sum = 0, tsum = 0;
  pthread_t t;
  if (pthread_create(&t, NULL, worker, &tsum) != 0) fail("pthread_create");
  static void *v[kBlocks];
  static size_t len[kBlocks];
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < kBlocks; i++) {
      // Mostly small; every 499th a medium block (1 to 2 MiB), one large one
      // (5 MiB): about 12 MiB live; under glibc the process's address space
      // peaks at 34 MiB (with its libraries and the thread's 8 MiB stack): a
      // small program beside ulimit -v 64 MiB.
      size_t n = 1 + (size_t)(i * 7919 % 4000);
      if (i % 499 == 0) n = ((size_t)1 << 20) + (size_t)(i % 3) * 500000;
      if (i == 1000) n = (size_t)5 << 20;
      len[i] = n;
      if (i % 3 == 0) {
        if (!(v[i] = calloc(1, n))) fail("calloc");
        for (size_t k = 0; k < n; k += 4093) {
          if (((unsigned char *)v[i])[k]) {
            printf("calloc not zero\n");
            return 2;
          }
        }
      } else if (i % 11 == 0) {
        if (posix_memalign(&v[i], 256, n) != 0) fail("posix_memalign");
        if ((uintptr_t)v[i] % 256) {
          printf("misaligned\n");
          return 2;
        }
      } else if (!(v[i] = do_malloc(n))) {
        fail("malloc");
      }
      sum += fill(v[i], n, (unsigned)i);
    }
    // Grow a buffer step by step, then shrink it.
    size_t have = 64;
    unsigned char *buf = malloc(have);
    if (!buf) fail("malloc buf");
    memset(buf, 7, have);
    for (; have < ((size_t)3 << 19); have += have / 2 + 100) {
      unsigned char *nb = realloc(buf, have + have / 2 + 100);
      if (!nb) fail("realloc grow");
      if (nb[have - 1] != 7) {
        printf("realloc lost data\n");
        return 2;
      }
      buf = nb;
      memset(buf, 7, have + have / 2 + 100);
    }
    buf = realloc(buf, 1000);
    if (!buf || buf[999] != 7) fail("realloc shrink");
    free(buf);
    for (int i = 0; i < kBlocks; i++) {
      sum += check(v[i], len[i], (unsigned)i);
      free(v[i]);
    }
  }
  pthread_join(t, NULL);
  printf("ok %llu %llu\n", (unsigned long long)sum, (unsigned long long)tsum);
  return 0;
}
