// export/testing/live_demo.c: a live process for the exporter's end-to-end tests.
//
//   live_demo SECONDS [PORTFILE]
// Runs an allocation workload through malloc (the `os` configuration) for
// SECONDS with //export:runtime linked, so XSMEM_HTTP / XSMEM_SNAPSHOT* act as
// in any process. Since no tracker is linked here, the demo feeds the
// analysis slot itself from its own bookkeeping (a size histogram and three
// named "call sites"), and adds one allocator of its own that reports
// per-tier and per-node detail figures, so every dashboard chart has real
// data from this run. PORTFILE receives the HTTP port once serving.
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "export/provider.h"
#include "export/service.h"
#include "export/snapshot.h"
#include "platform/log.h"

// ---------------------------------------------------------------------------
// A decorator over the process allocator that counts bytes per tier and node.

enum { TIERS = 3, NODES = 4 };
static const char *const kTier[TIERS] = {"small", "medium", "large"};

typedef struct demo_alloc {
  xsmem_allocator base;
  xsmem_allocator *inner;
  _Atomic uint64_t tier_bytes[TIERS], tier_allocs[TIERS];
  _Atomic uint64_t node_bytes[NODES];
} demo_alloc;

static int tier_of(size_t n) { return n <= 1024 ? 0 : n <= 64 * 1024 ? 1 : 2; }

static int node_now(void) {
  unsigned cpu = 0, node = 0;
  if (getcpu(&cpu, &node) != 0) node = 0;
  return (int)(node % NODES);
}

// A block carries a 16-byte header: its size and the node it was counted on.
static void *demo_alloc_fn(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  demo_alloc *d = (demo_alloc *)a;
  uint64_t *h = d->inner->ops->alloc(d->inner, size + 16, 16, flags);
  if (!h) return NULL;
  int node = node_now();
  h[0] = size;
  h[1] = (uint64_t)node;
  atomic_fetch_add(&d->tier_bytes[tier_of(size)], size);
  atomic_fetch_add(&d->tier_allocs[tier_of(size)], 1);
  atomic_fetch_add(&d->node_bytes[node], size);
  return h + 2;
}

static void demo_free_fn(xsmem_allocator *a, void *p, size_t size) {
  demo_alloc *d = (demo_alloc *)a;
  uint64_t *h = (uint64_t *)p - 2;
  atomic_fetch_sub(&d->tier_bytes[tier_of(h[0])], h[0]);
  atomic_fetch_sub(&d->node_bytes[h[1]], h[0]);
  d->inner->ops->free(d->inner, h, 0);
}

static size_t demo_usable(const xsmem_allocator *a, const void *p) { return ((const uint64_t *)p)[-2]; }

static void demo_stats(const xsmem_allocator *a, xsmem_stats *out) {
  const demo_alloc *d = (const demo_alloc *)a;
  xsmem_stats s = xsmem_get_stats(d->inner);
  *out = s;
}

static void demo_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  demo_alloc *d = (demo_alloc *)a;
  for (int t = 0; t < TIERS; t++) {
    sink->value(sink, "tier", kTier[t], "bytes_in_use", "gauge", (double)atomic_load(&d->tier_bytes[t]));
    sink->value(sink, "tier", kTier[t], "allocs", "counter", (double)atomic_load(&d->tier_allocs[t]));
  }
  for (int n = 0; n < NODES; n++) {
    uint64_t b = atomic_load(&d->node_bytes[n]);
    char label[8];
    xsmem_snprintf(label, sizeof(label), "%d", n);
    if (b || n == 0) sink->value(sink, "node", label, "bytes_in_use", "gauge", (double)b);
  }
}

static const xsmem_allocator_ops kDemoOps = {
    .kind = "demo",
    .alloc = demo_alloc_fn,
    .free = demo_free_fn,
    .usable_size = demo_usable,
    .stats = demo_stats,
    .detail = demo_detail,
};

static demo_alloc g_demo = {.base = {&kDemoOps, "demo"}};

// ---------------------------------------------------------------------------
// The demo's own analysis: histogram by power of two, three sites.

enum { BUCKETS = 24, SITES = 3 };
static const char *const kSite[SITES] = {"parse_records", "build_index", "cache_blobs"};
static _Atomic uint64_t g_hist_count[BUCKETS], g_hist_bytes[BUCKETS], g_hist_live[BUCKETS], g_hist_live_bytes[BUCKETS];
static _Atomic uint64_t g_site_count[SITES], g_site_bytes[SITES], g_site_live[SITES], g_site_live_bytes[SITES];

static int bucket_of(size_t n) {
  int b = n ? 63 - __builtin_clzll(n) : 0;
  return b < BUCKETS ? b : BUCKETS - 1;
}

static void hist_fn(void *ctx, xsmem_analysis_sink *s) {
  for (int b = 0; b < BUCKETS; b++) {
    uint64_t c = atomic_load(&g_hist_count[b]);
    if (!c) continue;
    xsmem_hist_bucket hb = {b ? 1ull << b : 0,
                            b == BUCKETS - 1 ? 0 : 1ull << (b + 1),
                            c,
                            atomic_load(&g_hist_bytes[b]),
                            atomic_load(&g_hist_live[b]),
                            atomic_load(&g_hist_live_bytes[b])};
    s->bucket(s, &hb);
  }
}

static void sites_fn(void *ctx, size_t max, xsmem_analysis_sink *s) {
  int order[SITES] = {0, 1, 2};
  for (int i = 0; i < SITES; i++) {  // by live bytes, largest first
    for (int j = i + 1; j < SITES; j++) {
      if (atomic_load(&g_site_live_bytes[order[j]]) > atomic_load(&g_site_live_bytes[order[i]])) {
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
  }
  for (size_t i = 0; i < SITES && i < max; i++) {
    int k = order[i];
    uint64_t frame = (uint64_t)(uintptr_t)kSite[k];
    xsmem_call_site c = {&frame,
                         1,
                         kSite[k],
                         atomic_load(&g_site_count[k]),
                         atomic_load(&g_site_bytes[k]),
                         atomic_load(&g_site_live[k]),
                         atomic_load(&g_site_live_bytes[k])};
    s->call_site(s, &c);
  }
}

static const xsmem_analysis_provider kProvider = {"live_demo", NULL, hist_fn, NULL, sites_fn, NULL};

// ---------------------------------------------------------------------------
// Workload: a working set that swells and shrinks, three allocation sites.

enum { SLOTS = 1024 };
typedef struct slot {
  void *p;
  size_t n;
  int site;
} slot;
static slot g_slots[SLOTS];
static volatile sig_atomic_t g_stop;

static void on_term(int sig) { g_stop = 1; }

static void take(slot *s, size_t n, int site) {
  s->p = xsmem_alloc(&g_demo.base, n, 16, 0);
  if (!s->p) return;
  memset(s->p, 0xab, n < 4096 ? n : 4096);
  s->n = n;
  s->site = site;
  int b = bucket_of(n);
  atomic_fetch_add(&g_hist_count[b], 1);
  atomic_fetch_add(&g_hist_bytes[b], n);
  atomic_fetch_add(&g_hist_live[b], 1);
  atomic_fetch_add(&g_hist_live_bytes[b], n);
  atomic_fetch_add(&g_site_count[site], 1);
  atomic_fetch_add(&g_site_bytes[site], n);
  atomic_fetch_add(&g_site_live[site], 1);
  atomic_fetch_add(&g_site_live_bytes[site], n);
}

static void give(slot *s) {
  if (!s->p) return;
  int b = bucket_of(s->n);
  atomic_fetch_sub(&g_hist_live[b], 1);
  atomic_fetch_sub(&g_hist_live_bytes[b], s->n);
  atomic_fetch_sub(&g_site_live[s->site], 1);
  atomic_fetch_sub(&g_site_live_bytes[s->site], s->n);
  xsmem_free(&g_demo.base, s->p);
  s->p = NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  g_demo.inner = xsmem_process_allocator();
  if (!g_demo.inner) xsmem_fatal("live_demo needs a configuration serving malloc");
  xsmem_export_add_allocator(&g_demo.base);
  xsmem_export_set_provider(&kProvider);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  if (argc > 2) {
    uint16_t port = xsmem_export_http_port();
    char tmp[4096], line[16];
    xsmem_snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
    size_t n = xsmem_snprintf(line, sizeof(line), "%u\n", (unsigned)port);
    FILE *f = fopen(tmp, "w");
    if (!f || fwrite(line, 1, n, f) != n || fclose(f) != 0 || rename(tmp, argv[2]) != 0)
      xsmem_fatal("cannot write %s", argv[2]);
  }
  unsigned seed = 12345;
  double start = now_s();
  while (!g_stop && now_s() - start < seconds) {
    double t = now_s() - start;
    // The target working set follows a slow wave between 10% and 90% of the slots.
    size_t target = (size_t)(SLOTS * (0.5 + 0.4 * __builtin_sin(t * 2.0)));
    for (int i = 0; i < 200; i++) {
      size_t k = rand_r(&seed) % SLOTS;
      slot *s = &g_slots[k];
      if (s->p && k >= target) {
        give(s);
        continue;
      }
      if (!s->p && k < target) {
        int site = rand_r(&seed) % SITES;
        size_t n = site == 0 ? 16 + rand_r(&seed) % 512
            : site == 1      ? 1024 + rand_r(&seed) % 16384
                             : 65536 + rand_r(&seed) % 131072;
        take(s, n, site);
      }
    }
    usleep(2000);
  }
  for (size_t k = 0; k < SLOTS; k++) {
    if (k % 4) give(&g_slots[k]);  // a quarter stays live at exit
  }
  return 0;
}
