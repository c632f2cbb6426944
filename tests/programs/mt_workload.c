// A multi-threaded program of our own for the preload tests (tests/programs).
//
// Each thread allocates blocks of mixed sizes, fills them with a pattern
// derived from (thread, index), and hands them to the next thread's queue. A
// thread that receives a block verifies the pattern, and either passes it on
// (after a realloc, sometimes) or frees it. So most blocks are freed by a
// thread other than the one that allocated them. The printed checksum is a sum
// over blocks, independent of scheduling: a run under any allocator prints
// the same lines, or reports the corrupted block and exits with status 1.
//
// Usage: mt_workload [scale] (default 1.0: 4 threads x 25000 blocks).
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kThreads = 4 };

typedef struct block {
  struct block *next;  // queue link while the block travels
  uint32_t size;       // bytes allocated, this header included
  uint32_t seed;
  uint32_t hops;  // passes left before the block is freed
  uint32_t pad;
} block;

typedef struct queue {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  block *head;
} queue;

static queue g_queues[kThreads];
static long g_per_thread;
static atomic_long g_freed;
static atomic_ullong g_checksum;
static atomic_ullong g_bytes;
static atomic_int g_errors;

static uint32_t next_rand(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

// Sizes: mostly small, some medium, a few large (1 MiB).
static uint32_t pick_size(uint32_t *s) {
  uint32_t r = next_rand(s);
  if (r % 4000 == 0) return (1u << 20) + r % 4096;
  if (r % 40 == 0) return 4096 + r % 60000;
  return (uint32_t)sizeof(block) + r % 480;
}

static void fill(block *b) {
  uint8_t *p = (uint8_t *)(b + 1);
  size_t n = b->size - sizeof(block);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(b->seed + i * 31);
}

// Returns a hash of the payload, or flags an error when the pattern is broken.
static uint64_t verify(const block *b) {
  const uint8_t *p = (const uint8_t *)(b + 1);
  size_t n = b->size - sizeof(block);
  uint64_t h = 1469598103934665603ull ^ b->seed;
  for (size_t i = 0; i < n; i++) {
    if (p[i] != (uint8_t)(b->seed + i * 31)) {
      if (atomic_fetch_add(&g_errors, 1) < 5) {
        fprintf(stderr, "mt_workload: block %p (seed %u, size %u) corrupted at byte %zu\n", (void *)b, b->seed, b->size,
                i);
      }
      return 0;
    }
    h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

static void push(int to, block *b) {
  queue *q = &g_queues[to];
  pthread_mutex_lock(&q->mu);
  b->next = q->head;
  q->head = b;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

// Takes every block queued for thread t (waits briefly when none and wait is set).
static block *take_all(int t, int wait) {
  queue *q = &g_queues[t];
  pthread_mutex_lock(&q->mu);
  if (!q->head && wait) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 2000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&q->cv, &q->mu, &ts);
  }
  block *all = q->head;
  q->head = NULL;
  pthread_mutex_unlock(&q->mu);
  return all;
}

static void handle(int t, block *b) {
  uint64_t h = verify(b);
  if (b->hops > 0) {
    b->hops--;
    if (b->seed % 3 == 0) {
      // Grow or shrink the block on the way; the payload is rewritten.
      uint32_t s = b->seed;
      uint32_t size = pick_size(&s);
      block *nb = realloc(b, size);
      if (!nb) {
        fprintf(stderr, "mt_workload: realloc(%u) failed\n", size);
        exit(1);
      }
      nb->size = size;
      nb->seed = s;
      fill(nb);
      b = nb;
    }
    push((t + 1 + (int)(b->seed % (kThreads - 1))) % kThreads, b);
    return;
  }
  atomic_fetch_add(&g_checksum, h);
  atomic_fetch_add(&g_bytes, b->size);
  free(b);
  atomic_fetch_add(&g_freed, 1);
}

static void *run(void *arg) {
  int t = (int)(intptr_t)arg;
  uint32_t s = 0x9e3779b9u * (uint32_t)(t + 1);
  for (long i = 0; i < g_per_thread; i++) {
    uint32_t size = pick_size(&s);
    block *b = malloc(size);
    if (!b) {
      fprintf(stderr, "mt_workload: malloc(%u) failed\n", size);
      exit(1);
    }
    b->size = size;
    b->seed = next_rand(&s);
    b->hops = b->seed % 3;
    fill(b);
    push((t + 1) % kThreads, b);
    if (i % 16 == 0) {
      for (block *q = take_all(t, 0), *next; q; q = next) {
        next = q->next;
        handle(t, q);
      }
    }
  }
  while (atomic_load(&g_freed) < g_per_thread * kThreads) {
    for (block *q = take_all(t, 1), *next; q; q = next) {
      next = q->next;
      handle(t, q);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = argc > 1 ? atof(argv[1]) : 1.0;
  g_per_thread = (long)(25000 * scale);
  if (g_per_thread < 100) g_per_thread = 100;
  for (int t = 0; t < kThreads; t++) {
    pthread_mutex_init(&g_queues[t].mu, NULL);
    pthread_cond_init(&g_queues[t].cv, NULL);
  }
  pthread_t threads[kThreads];
  for (int t = 0; t < kThreads; t++) {
    if (pthread_create(&threads[t], NULL, run, (void *)(intptr_t)t) != 0) {
      fprintf(stderr, "mt_workload: pthread_create failed\n");
      return 1;
    }
  }
  for (int t = 0; t < kThreads; t++) pthread_join(threads[t], NULL);
  printf("blocks %ld\n", (long)atomic_load(&g_freed));
  printf("bytes %llu\n", (unsigned long long)atomic_load(&g_bytes));
  printf("checksum %016llx\n", (unsigned long long)atomic_load(&g_checksum));
  int errors = atomic_load(&g_errors);
  printf("errors %d\n", errors);
  return errors ? 1 : 0;
}
