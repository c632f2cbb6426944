// tools/workloads.c: the workloads built into the xsmem binary, run in a
// child as `xsmem __workload NAME [SCALE]` with the allocator under test as
// malloc: by `xsmem run --workload NAME` and `xsmem bench --workloads NAME`.
//
//   small    16-256 B objects, a sliding window of 4096 live blocks
//   mixed    log-uniform sizes from 16 B to 256 KiB, with realloc
//   large    256 KiB-64 MiB buffers allocated in steps and released
//   threads  4 threads handing blocks to each other (cross-thread frees)
//
// SCALE multiplies the work (default 1). The larger suite of whole workloads
// is bench/workloads (separate programs).
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/xsmem.h"

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

// Touches a block so that the allocator's pages are really used.
static void touch(void *p, size_t n) {
  volatile char *c = p;
  c[0] = 1;
  c[n - 1] = 2;
}

// Small objects, a sliding window of live blocks (object-heavy programs).
static uint64_t wl_small(uint64_t seed, double scale) {
  enum { kLive = 4096 };
  void *live[kLive] = {0};
  uint64_t sum = 0;
  for (long i = 0; i < (long)(3000000 * scale); i++) {
    size_t k = rng(&seed) % kLive, n = 16 + rng(&seed) % 240;
    free(live[k]);
    live[k] = malloc(n);
    touch(live[k], n);
    sum += (uintptr_t)live[k] & 0xff;
  }
  for (int k = 0; k < kLive; k++) free(live[k]);
  return sum;
}

// Log-uniform sizes from 16 B to 256 KiB with reallocs (mixed server load).
static uint64_t wl_mixed(uint64_t seed, double scale) {
  enum { kLive = 1024 };
  void *live[kLive] = {0};
  size_t size[kLive] = {0};
  uint64_t sum = 0;
  for (long i = 0; i < (long)(100000 * scale); i++) {
    size_t k = rng(&seed) % kLive;
    size_t n = (size_t)1 << (4 + rng(&seed) % 14);
    n += rng(&seed) % n;
    if (live[k] && rng(&seed) % 4 == 0) {
      void *q = realloc(live[k], n);
      if (q) live[k] = q, size[k] = n;
    } else {
      free(live[k]);
      live[k] = malloc(n);
      size[k] = n;
    }
    if (live[k]) touch(live[k], size[k]);
    sum += size[k];
  }
  for (int k = 0; k < kLive; k++) free(live[k]);
  return sum;
}

// Tensors: 256 KiB..64 MiB buffers allocated in steps and released (ML steps).
static uint64_t wl_large(uint64_t seed, double scale) {
  enum { kLive = 24 };
  uint64_t sum = 0;
  for (int step = 0; step < (int)(60 * scale); step++) {
    void *live[kLive];
    size_t size[kLive];
    for (int k = 0; k < kLive; k++) {
      size[k] = ((size_t)256 << 10) << (rng(&seed) % 9);
      live[k] = malloc(size[k]);
      if (live[k]) touch(live[k], size[k]);
    }
    for (int k = 0; k < kLive; k++) {
      sum += size[k];
      free(live[k]);
    }
  }
  return sum;
}

// Threads that allocate and hand half of their blocks to the next thread to
// free (cross-thread frees).
enum { kThreads = 4, kSlots = 1024 };
static void *volatile g_handoff[kThreads][kSlots];

typedef struct worker {
  int id;
  double scale;
  uint64_t sum;
} worker;

static void *thread_main(void *arg) {
  worker *w = arg;
  uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
  for (long i = 0; i < (long)(800000 * w->scale); i++) {
    size_t n = 16 + rng(&seed) % 1000;
    void *p = malloc(n);
    touch(p, n);
    size_t slot = rng(&seed) % kSlots;
    // Give it to the next thread's slot; free what was there (another thread's block).
    void *old = __atomic_exchange_n(&g_handoff[(w->id + 1) % kThreads][slot], p, __ATOMIC_ACQ_REL);
    free(old);
    w->sum += n;
  }
  return NULL;
}

static uint64_t wl_threads(uint64_t seed, double scale) {
  (void)seed;
  pthread_t t[kThreads];
  worker w[kThreads];
  for (int i = 0; i < kThreads; i++) {
    w[i] = (worker){i, scale, 0};
    pthread_create(&t[i], NULL, thread_main, &w[i]);
  }
  uint64_t sum = 0;
  for (int i = 0; i < kThreads; i++) {
    pthread_join(t[i], NULL);
    sum += w[i].sum;
  }
  for (int i = 0; i < kThreads; i++)
    for (int k = 0; k < kSlots; k++) free(g_handoff[i][k]);
  return sum;
}

static const struct {
  const char *name;
  uint64_t (*fn)(uint64_t, double);
  const char *what;
} kWorkloads[] = {
    {"small", wl_small, "16-256 B objects, 4096 live"},
    {"mixed", wl_mixed, "16 B-256 KiB log-uniform sizes with realloc"},
    {"large", wl_large, "256 KiB-64 MiB buffers in steps"},
    {"threads", wl_threads, "4 threads, cross-thread frees"},
};
enum { kNumBuiltin = sizeof(kWorkloads) / sizeof(kWorkloads[0]) };

int tool_cmd_workload(int argc, char **argv) {
  if (argc < 2) return XSMEM_EXIT_USAGE;
  double scale = argc > 2 ? atof(argv[2]) : 1.0;
  for (int i = 0; i < kNumBuiltin; i++)
    if (!strcmp(argv[1], kWorkloads[i].name)) {
      uint64_t r = kWorkloads[i].fn(42, scale > 0 ? scale : 1.0);
      // The result keeps the work from being optimized away.
      return r == 1 ? 3 : 0;
    }
  return XSMEM_EXIT_USAGE;
}

bool tool_is_builtin_workload(const char *name) {
  for (int i = 0; i < kNumBuiltin; i++)
    if (!strcmp(name, kWorkloads[i].name)) return true;
  return false;
}
