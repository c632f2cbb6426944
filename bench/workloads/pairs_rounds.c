// pairs_rounds: pairs (64 producer/consumer pairs, 128 threads, the same
// sizes) in lock-step rounds; not in the suite's default list (run it with
// --workloads pairs_rounds).
//
// Every producer fills its queue (96 blocks), all 128 threads meet at a
// barrier, every consumer empties its queue and frees the blocks, all meet
// again. So the live data peaks at 64 full queues each round, the same under
// every allocator whatever the scheduler does (pairs' peak moves by 10-20%
// between runs), and every block the consumers free must wait somewhere (a
// thread cache, a stack, a central list, an empty slab) while the producers
// allocate the next round's: the worst case for an allocator that keeps free
// memory per size class, as the small tier does in its slabs until the
// purger decommits them (XSMEM_DECOMMIT_DELAY_MS).
// Usage: pairs_rounds [scale]
#include <pthread.h>

#include "bench/workloads/common.h"
#include "bench/workloads/pairs_blocks.h"

enum { kPairs = 64, kQueueCap = 96 };

typedef struct pair_queue {
  void *items[kQueueCap];
  size_t sizes[kQueueCap];
  uint64_t seed;
  uint64_t sum;  // what the consumer read
} pair_queue;

static pair_queue g_queues[kPairs];
static long g_rounds;
static pthread_barrier_t g_barrier;

static void *produce(void *arg) {
  pair_queue *q = arg;
  for (long r = 0; r < g_rounds; r++) {
    for (int k = 0; k < kQueueCap; k++) {
      size_t n = pairs_pick_size(&q->seed);
      unsigned char *p = workload_check(malloc(n), n);
      pairs_fill(p, n);
      q->items[k] = p;
      q->sizes[k] = n;
    }
    pthread_barrier_wait(&g_barrier);  // the queues are full
    pthread_barrier_wait(&g_barrier);  // and emptied
  }
  return NULL;
}

static void *consume(void *arg) {
  pair_queue *q = arg;
  for (long r = 0; r < g_rounds; r++) {
    pthread_barrier_wait(&g_barrier);
    for (int k = 0; k < kQueueCap; k++) {
      const unsigned char *p = q->items[k];
      size_t n = q->sizes[k];
      q->sum += p[0] + p[n - 1] + n;
      free(q->items[k]);
    }
    pthread_barrier_wait(&g_barrier);
  }
  return NULL;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  g_rounds = workload_scaled(40, scale, 2);
  pthread_barrier_init(&g_barrier, NULL, 2 * kPairs);
  pthread_t producers[kPairs], consumers[kPairs];
  for (int i = 0; i < kPairs; i++) g_queues[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
  for (int i = 0; i < kPairs; i++) pthread_create(&consumers[i], NULL, consume, &g_queues[i]);
  for (int i = 0; i < kPairs; i++) pthread_create(&producers[i], NULL, produce, &g_queues[i]);
  for (int i = 0; i < kPairs; i++) pthread_join(producers[i], NULL);
  for (int i = 0; i < kPairs; i++) pthread_join(consumers[i], NULL);
  uint64_t checksum = 0;
  for (int i = 0; i < kPairs; i++) checksum += g_queues[i].sum;
  printf("pairs_rounds pairs=%d rounds=%ld blocks=%ld checksum=%llu peak_rss_kib=%ld\n", kPairs, g_rounds,
         g_rounds * kQueueCap * kPairs, (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
