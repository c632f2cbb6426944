// pairs: 64 producer/consumer pairs (128 threads); the footprint of many
// threads' caches.
//
// Each producer allocates blocks of mixed sizes (three in four small, 16 B to
// 1 KiB; the rest medium, 1 KiB to 64 KiB, one in twenty-five up to 1 MiB),
// writes them and hands them through its own bounded queue (256 blocks) to
// its consumer, which reads and frees them: every block is freed by another
// thread than the one that allocated it, 64 times over, so what an allocator
// keeps in per-thread caches and global stacks, times 128 threads, shows in
// the peak RSS next to the live data (at most a full queue per pair, about
// 450 MiB; how full the queues get depends on the scheduler, so the peak
// moves by 10-20% between runs under any allocator). Issue 17 (item 7)
// measured a program of this shape at 2.7x glibc's peak under default and
// numa.
// Usage: pairs [scale]
#include <pthread.h>
#include <string.h>

#include "bench/workloads/common.h"

enum { kPairs = 64, kQueueCap = 256 };

typedef struct pair_queue {
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  void *items[kQueueCap];
  size_t sizes[kQueueCap];
  int head, count, done;
  uint64_t seed;
  uint64_t sum;  // what the consumer read
} pair_queue;

static pair_queue g_queues[kPairs];
static long g_items_per_producer;

static size_t pick_size(uint64_t *seed) {
  uint64_t r = workload_rand(seed);
  unsigned kind = (unsigned)(r % 100);
  r >>= 8;
  if (kind < 75) return 16 + r % 1009;          // small: 16 B .. 1 KiB
  if (kind < 96) return 1024 + r % (63 * 1024);  // medium: 1 .. 64 KiB
  return 64 * 1024 + r % (960 * 1024);           // large: 64 KiB .. 1 MiB
}

// Writes a message into p: its first bytes and one in every page, so every
// page of the block is resident (a whole memset would cost more than the
// allocators being measured).
static void fill(unsigned char *p, size_t n) {
  memset(p, (int)(n & 0xff), n < 256 ? n : 256);
  for (size_t i = 4096; i < n; i += 4096) p[i] = (unsigned char)i;
  p[n - 1] = (unsigned char)n;
}

static void *produce(void *arg) {
  pair_queue *q = arg;
  for (long i = 0; i < g_items_per_producer; i++) {
    size_t n = pick_size(&q->seed);
    unsigned char *p = workload_check(malloc(n), n);
    fill(p, n);
    pthread_mutex_lock(&q->mu);
    while (q->count == kQueueCap) pthread_cond_wait(&q->not_full, &q->mu);
    int slot = (q->head + q->count) % kQueueCap;
    q->items[slot] = p;
    q->sizes[slot] = n;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
  }
  pthread_mutex_lock(&q->mu);
  q->done = 1;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

static void *consume(void *arg) {
  pair_queue *q = arg;
  for (;;) {
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->done) pthread_cond_wait(&q->not_empty, &q->mu);
    if (q->count == 0) {
      pthread_mutex_unlock(&q->mu);
      break;
    }
    unsigned char *p = q->items[q->head];
    size_t n = q->sizes[q->head];
    q->head = (q->head + 1) % kQueueCap;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    q->sum += p[0] + p[n - 1] + n;
    free(p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  g_items_per_producer = workload_scaled(4000, scale, 16);
  pthread_t producers[kPairs], consumers[kPairs];
  for (int i = 0; i < kPairs; i++) {
    pthread_mutex_init(&g_queues[i].mu, NULL);
    pthread_cond_init(&g_queues[i].not_empty, NULL);
    pthread_cond_init(&g_queues[i].not_full, NULL);
    g_queues[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
  }
  for (int i = 0; i < kPairs; i++) pthread_create(&consumers[i], NULL, consume, &g_queues[i]);
  for (int i = 0; i < kPairs; i++) pthread_create(&producers[i], NULL, produce, &g_queues[i]);
  for (int i = 0; i < kPairs; i++) pthread_join(producers[i], NULL);
  for (int i = 0; i < kPairs; i++) pthread_join(consumers[i], NULL);
  uint64_t checksum = 0;
  for (int i = 0; i < kPairs; i++) checksum += g_queues[i].sum;
  printf("pairs pairs=%d blocks=%ld checksum=%llu peak_rss_kib=%ld\n", kPairs, g_items_per_producer * kPairs,
         (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
