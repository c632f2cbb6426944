// bench/numa/numa_bench.c: what NUMA placement costs and what it saves.
//
// Part 1 (needs several nodes): a thread bound to node 0 reads, writes and
// pointer-chases buffers placed on its own node (local), on the farthest node
// (remote) and interleaved over every node; prints GB/s and ns per dependent
// load. On one node it prints "single node: nothing to compare".
// Part 2 (any machine): the per-node routing overhead of bfc_numa against bfc:
// ns per malloc+free pair of mixed small sizes, single thread, and with a
// window of live blocks. Run it with XSMEM_NUMA_FAKE_NODES=2 to include the
// cached node lookup of a multi-node machine.
// Part 3 (any machine): the router alone over a child that does nothing:
// what routing adds per malloc+free, free of the BFC's lock and its noise.
//
// Usage: numa_bench [buffer MiB (default 256)] [alloc pairs (default 2000000)]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "numa/node_router.h"
#include "numa/numa_source.h"
#include "numa/topology.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint64_t g_sink;

// ---------------------------------------------------------------------------
// Part 1: placement.

static double read_gbs(const uint64_t *p, size_t n) {
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    double t = now_s();
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) {
      s0 += p[i];
      s1 += p[i + 1];
      s2 += p[i + 2];
      s3 += p[i + 3];
    }
    g_sink += s0 + s1 + s2 + s3;
    t = now_s() - t;
    if (t < best) best = t;
  }
  return (double)(n * 8) / best / 1e9;
}

static double write_gbs(uint64_t *p, size_t n) {
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    double t = now_s();
    memset(p, rep, n * 8);
    g_sink += p[n / 2];
    t = now_s() - t;
    if (t < best) best = t;
  }
  return (double)(n * 8) / best / 1e9;
}

// A random cycle through one pointer per cache line of the first `bytes`.
static double chase_ns(uint64_t *p, size_t bytes) {
  size_t lines = bytes / 64, stride = 64 / 8;
  uint32_t *order = malloc(lines * sizeof(uint32_t));
  if (!order) return -1;
  for (size_t i = 0; i < lines; i++) order[i] = (uint32_t)i;
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = lines - 1; i > 0; i--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t j = x % (i + 1);
    uint32_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (size_t i = 0; i < lines; i++) p[order[i] * stride] = (uint64_t)(uintptr_t)&p[order[(i + 1) % lines] * stride];
  free(order);
  size_t hops = 20 * 1000 * 1000;
  uint64_t *q = p;
  double t = now_s();
  for (size_t i = 0; i < hops; i++) q = (uint64_t *)(uintptr_t)*q;
  t = now_s() - t;
  g_sink += (uintptr_t)q;
  return t / (double)hops * 1e9;
}

static void placement(size_t mib) {
  char desc[160];
  printf("topology: %s\n", xsmem_numa_describe(desc, sizeof(desc)));
  int nodes = xsmem_numa_num_nodes();
  if (xsmem_numa_topology_kind() != XSMEM_NUMA_KIND_REAL || nodes < 2) {
    printf("placement: single node: nothing to compare\n");
    return;
  }
  int remote = 1;
  for (int n = 1; n < nodes; n++) {
    if (xsmem_numa_distance(0, n) > xsmem_numa_distance(0, remote)) remote = n;
  }
  if (xsmem_numa_bind_thread(0) != 0) printf("warning: could not bind the thread to node 0\n");
  static xsmem_numa_space sp;
  xsmem_numa_space_options o = xsmem_numa_space_options_from_env();
  o.bind = true;
  o.mode = XSMEM_NUMA_BIND_STRICT;
  if (!xsmem_numa_space_init(&sp, &o)) {
    printf("placement: cannot reserve the space\n");
    return;
  }
  struct {
    const char *name;
    xsmem_source *src;
  } cases[] = {
      {"local (node 0)", xsmem_numa_space_node_source(&sp, 0)},
      {"remote", xsmem_numa_space_node_source(&sp, remote)},
      {"interleaved", xsmem_numa_space_interleaved_source(&sp)},
  };
  size_t bytes = mib * (1 << 20);
  printf("thread on node 0, remote = node %d (distance %d), buffer %zu MiB, chase over 64 MiB\n", remote,
         xsmem_numa_distance(0, remote), mib);
  printf("%-16s %10s %10s %12s\n", "placement", "read GB/s", "write GB/s", "chase ns/ld");
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    size_t got;
    uint64_t *p = xsmem_source_map(cases[c].src, bytes, 4096, &got);
    if (!p) {
      printf("%-16s (cannot map %zu MiB on that node)\n", cases[c].name, mib);
      continue;
    }
    memset(p, 1, got);  // first touch: the binding places the pages
    double w = write_gbs(p, got / 8);
    double r = read_gbs(p, got / 8);
    double l = chase_ns(p, XSMEM_MIN(got, (size_t)64 << 20));
    printf("%-16s %10.2f %10.2f %12.1f   (page 0 on node %d)\n", cases[c].name, r, w, l, xsmem_numa_node_of_address(p));
    xsmem_source_unmap(cases[c].src, p, got);
  }
}

// ---------------------------------------------------------------------------
// Part 2: routing overhead.

static double pairs_ns(xsmem_allocator *a, size_t pairs) {
  static const size_t kSizes[8] = {16, 48, 100, 256, 640, 1000, 2048, 4000};
  double t = now_s();
  for (size_t i = 0; i < pairs; i++) {
    void *p = a->ops->alloc(a, kSizes[i & 7], 16, 0);
    a->ops->free(a, p, 0);
  }
  return (now_s() - t) / (double)pairs * 1e9;
}

static double window_ns(xsmem_allocator *a, size_t pairs) {
  enum { kWindow = 1024 };
  static void *live[kWindow];
  uint64_t x = 12345;
  for (int i = 0; i < kWindow; i++) live[i] = a->ops->alloc(a, 64, 16, 0);
  double t = now_s();
  for (size_t i = 0; i < pairs; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t slot = x % kWindow;
    a->ops->free(a, live[slot], 0);
    live[slot] = a->ops->alloc(a, 16 + (x >> 32) % 4000, 16, 0);
  }
  t = now_s() - t;
  for (int i = 0; i < kWindow; i++) a->ops->free(a, live[i], 0);
  return t / (double)pairs * 1e9;
}

// The two configurations take turns, 9 rounds each; the best round of each
// counts (a shared machine only ever adds time).
static void routing(size_t pairs) {
  const char *names[2] = {"bfc", "bfc_numa"};
  xsmem_allocator *a[2];
  double same[2] = {1e30, 1e30}, window[2] = {1e30, 1e30};
  for (int i = 0; i < 2; i++) {
    const xsmem_config *c = xsmem_config_find(names[i]);
    if (!c) {
      printf("%s is not linked\n", names[i]);
      return;
    }
    a[i] = xsmem_config_instance(c);
    pairs_ns(a[i], pairs / 10);  // warm up: regions mapped, caches hot
  }
  for (int round = 0; round < 9; round++) {
    for (int i = 0; i < 2; i++) {
      double s = pairs_ns(a[i], pairs / 9), w = window_ns(a[i], pairs / 9);
      if (s < same[i]) same[i] = s;
      if (w < window[i]) window[i] = w;
    }
  }
  printf("\nrouting overhead, single thread, %zu malloc+free pairs per config (best of 9 alternating rounds)\n", pairs);
  printf("%-10s %14s %18s\n", "config", "ns/pair", "ns/pair (1k live)");
  for (int i = 0; i < 2; i++) printf("%-10s %14.1f %18.1f\n", names[i], same[i], window[i]);
  printf("bfc_numa / bfc: %.3f (same size), %.3f (window)\n", same[1] / same[0], window[1] / window[0]);
}

// ---------------------------------------------------------------------------
// Part 3: the router alone, over a child that does nothing (one block mapped
// from its node's source, handed out again and again), so that the router's
// own cost is not lost in the BFC's lock.

typedef struct null_child {
  xsmem_allocator base;
  void *block;
} null_child;

static void *null_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  (void)size, (void)align, (void)flags;
  return ((null_child *)a)->block;
}
static void null_free(xsmem_allocator *a, void *p, size_t size) { (void)a, (void)p, (void)size; }
static size_t null_usable(const xsmem_allocator *a, const void *p) { return (void)a, (void)p, 64; }
static void null_stats(const xsmem_allocator *a, xsmem_stats *out) { (void)a, (void)out; }
static const xsmem_allocator_ops kNullOps = {
    .kind = "null", .alloc = null_alloc, .free = null_free, .usable_size = null_usable, .stats = null_stats};
static null_child g_null[XSMEM_NUMA_MAX_NODES + 1];

static xsmem_allocator *null_factory(void *ctx, int node, xsmem_source *src, const char *name) {
  (void)ctx;
  null_child *c = &g_null[node < 0 ? XSMEM_NUMA_MAX_NODES : node];
  size_t got;
  c->block = xsmem_source_map(src, 4096, 4096, &got);
  c->base.ops = &kNullOps;
  c->base.name = name;
  return c->block ? &c->base : NULL;
}

static double null_pairs_ns(xsmem_allocator *a, size_t pairs) {
  double t = now_s();
  for (size_t i = 0; i < pairs; i++) {
    void *p = a->ops->alloc(a, 16 + (i & 255), 16, 0);
    __asm__ __volatile__("" : : "r"(p) : "memory");
    a->ops->free(a, p, 0);
  }
  return (now_s() - t) / (double)pairs * 1e9;
}

static void router_alone(size_t pairs) {
  static xsmem_node_router r;
  xsmem_node_router_options o = xsmem_node_router_options_from_env();
  if (!xsmem_node_router_init(&r, "bench_router", &o, null_factory, NULL)) {
    printf("router: cannot build\n");
    return;
  }
  xsmem_allocator *child = xsmem_node_router_child(&r, r.fixed_slot >= 0 ? r.fixed_slot : 0);
  double direct = 1e30, routed = 1e30;
  for (int round = 0; round < 9; round++) {
    double d = null_pairs_ns(child, pairs), rt = null_pairs_ns(&r.base, pairs);
    if (d < direct) direct = d;
    if (rt < routed) routed = rt;
  }
  printf("\nrouter alone over a null child (%d node%s, best of 9 rounds of %zu pairs)\n", r.num_nodes,
         r.num_nodes == 1 ? "" : "s", pairs);
  printf("direct %.2f ns/pair, routed %.2f ns/pair: the router adds %.2f ns per malloc+free\n", direct, routed,
         routed - direct);
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
  size_t pairs = argc > 2 ? (size_t)atol(argv[2]) : 2000000;
  if (mib < 64) mib = 64;
  placement(mib);
  routing(pairs);
  router_alone(pairs);
  return 0;
}
