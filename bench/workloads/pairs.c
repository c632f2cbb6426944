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

#include "bench/workloads/common.h"
#include "bench/workloads/pairs_blocks.h"

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

static void *produce(void *arg) {
  pair_queue *q = arg;
  for (long i = 0; i < g_items_per_producer; i++) {
    size_t n = pairs_pick_size(&q->seed);
    unsigned char *p = workload_check(malloc(n), n);
    pairs_fill(p, n);
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
