// xmalloc: producer/consumer, after Lever & Boreham's xmalloc-test.
//
// Producer threads allocate small blocks (16..512 B), write them, and hand
// them in batches of 256 to consumer threads through a shared queue; the
// consumers read and free them. Every block is freed by a thread that did not
// allocate it, which stresses an allocator's remote-free path.
// Usage: xmalloc [scale]
#include <pthread.h>
#include <string.h>

#include "bench/workloads/common.h"

enum { kProducers = 1, kConsumers = 1, kBatch = 256, kQueueCap = 64 };

typedef struct batch {
  void *items[kBatch];
  size_t sizes[kBatch];
} batch;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  batch *ring[kQueueCap];
  int head, count, producers_left;
} g_q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, kProducers};

static long g_batches_per_producer;

static void put(batch *b) {
  pthread_mutex_lock(&g_q.mu);
  while (g_q.count == kQueueCap) pthread_cond_wait(&g_q.not_full, &g_q.mu);
  g_q.ring[(g_q.head + g_q.count) % kQueueCap] = b;
  g_q.count++;
  pthread_cond_signal(&g_q.not_empty);
  pthread_mutex_unlock(&g_q.mu);
}

// Returns the next batch, or NULL once every producer is done and the queue is empty.
static batch *get(void) {
  pthread_mutex_lock(&g_q.mu);
  while (g_q.count == 0 && g_q.producers_left > 0) pthread_cond_wait(&g_q.not_empty, &g_q.mu);
  batch *b = NULL;
  if (g_q.count > 0) {
    b = g_q.ring[g_q.head];
    g_q.head = (g_q.head + 1) % kQueueCap;
    g_q.count--;
    pthread_cond_signal(&g_q.not_full);
  }
  pthread_mutex_unlock(&g_q.mu);
  return b;
}

static void *produce(void *arg) {
  uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)arg;
  for (long i = 0; i < g_batches_per_producer; i++) {
    batch *b = workload_check(malloc(sizeof(batch)), sizeof(batch));
    for (int k = 0; k < kBatch; k++) {
      size_t n = 16 + workload_rand(&seed) % 497;
      char *p = workload_check(malloc(n), n);
      memset(p, (int)(n & 0xff), n < 64 ? n : 64);
      b->items[k] = p;
      b->sizes[k] = n;
    }
    put(b);
  }
  pthread_mutex_lock(&g_q.mu);
  g_q.producers_left--;
  pthread_cond_broadcast(&g_q.not_empty);
  pthread_mutex_unlock(&g_q.mu);
  return NULL;
}

static void *consume(void *arg) {
  uint64_t *sum = arg;
  for (batch *b; (b = get()) != NULL;) {
    for (int k = 0; k < kBatch; k++) {
      const unsigned char *p = b->items[k];
      *sum += p[0] + b->sizes[k];
      free(b->items[k]);
    }
    free(b);
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  g_batches_per_producer = workload_scaled(12000, scale, 4);
  pthread_t producers[kProducers], consumers[kConsumers];
  uint64_t sums[kConsumers] = {0};
  for (int c = 0; c < kConsumers; c++) pthread_create(&consumers[c], NULL, consume, &sums[c]);
  for (int p = 0; p < kProducers; p++) pthread_create(&producers[p], NULL, produce, (void *)(uintptr_t)(p + 1));
  for (int p = 0; p < kProducers; p++) pthread_join(producers[p], NULL);
  for (int c = 0; c < kConsumers; c++) pthread_join(consumers[c], NULL);
  uint64_t checksum = 0;
  for (int c = 0; c < kConsumers; c++) checksum += sums[c];
  printf("xmalloc producers=%d consumers=%d blocks=%ld checksum=%llu peak_rss_kib=%ld\n", kProducers, kConsumers,
         g_batches_per_producer * kBatch * kProducers, (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
