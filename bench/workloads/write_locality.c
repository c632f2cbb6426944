// write_locality: one thread writing heavily into small blocks it allocated
// itself (a cache-locality test).
//
// The thread builds a list of 120000 nodes of 32-64 B, with short-lived
// scratch blocks of other sizes allocated and freed between them (as a parser
// would), then walks the list in allocation order many times, writing into
// every node; between passes it replaces 5% of the nodes at random. The walk
// is fast when consecutive allocations of a size sit next to each other in
// memory and slow when they are scattered: the allocator decides the cache
// misses. 120000 nodes exceed the caches of the machines measured here.
// Usage: write_locality [scale]
#include <string.h>

#include "bench/workloads/common.h"

enum { kNodes = 120000 };

typedef struct node {
  struct node *next;
  uint64_t value;
  uint32_t count;
  char pad[];  // 16..48 more bytes
} node;

static node *new_node(uint64_t *seed) {
  size_t n = sizeof(node) + 8 * (1 + workload_rand(seed) % 5);  // 32..64 B
  node *p = workload_check(malloc(n), n);
  p->next = NULL;
  p->value = 0;
  p->count = 0;
  return p;
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long passes = workload_scaled(1200, scale, 2);
  uint64_t seed = 7, checksum = 0;
  node **order = workload_check(malloc(kNodes * sizeof(node *)), kNodes * sizeof(node *));
  char *scratch[8] = {0};
  for (long i = 0; i < kNodes; i++) {
    order[i] = new_node(&seed);
    int k = (int)(i & 7);
    free(scratch[k]);  // scratch of other sizes, live a few nodes' time
    size_t n = 24 + workload_rand(&seed) % 200;
    scratch[k] = workload_check(malloc(n), n);
    scratch[k][0] = (char)i;
  }
  for (int k = 0; k < 8; k++) free(scratch[k]);
  for (long p = 0; p < passes; p++) {
    for (long i = 0; i < kNodes; i++) {
      node *x = order[i];
      x->value += (uint64_t)i ^ (uint64_t)p;
      x->count++;
    }
    // Replace 5% of the nodes: their slots in the order get fresh blocks.
    for (long r = 0; r < kNodes / 20; r++) {
      long i = (long)(workload_rand(&seed) % kNodes);
      checksum += order[i]->value + order[i]->count;
      free(order[i]);
      order[i] = new_node(&seed);
    }
  }
  for (long i = 0; i < kNodes; i++) {
    checksum += order[i]->value + order[i]->count;
    free(order[i]);
  }
  free(order);
  printf("write_locality nodes=%d passes=%ld checksum=%llu peak_rss_kib=%ld\n", kNodes, passes,
         (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
