// numa/numa_tiered.c: the tiered front with per-node memory (see numa_tiered.h).
#include "numa/numa_tiered.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "allocators/buddy/buddy.h"
#include "allocators/tiered/tiers.h"
#include "allocators/large/large.h"
#include "allocators/tls_buckets/tls_buckets.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "numa/node_router.h"
#include "numa/topology.h"
#include "platform/log.h"
#include "platform/once.h"
#include "platform/pagemap.h"

// The small tier's source for one node: that node's span, else (fallback on)
// the nearest other node that accepts.
typedef struct small_source {
  xsmem_source base;
  int node;
} small_source;

typedef struct numa_front {
  xsmem_allocator base;
  xsmem_tiers t;    // the small tier, the per-node routers and the thresholds between them
  int small_nodes;  // nodes of the small tier (1: one node or interleave)
  bool fallback;
  xsmem_source *small_single;  // the small tier's source when it has one node
  small_source small_src[XSMEM_TLS_MAX_NODES];
  uint64_t small_fallbacks_out[XSMEM_NUMA_MAX_NODES], small_fallbacks_in[XSMEM_NUMA_MAX_NODES];  // atomic
  xsmem_node_router *medium, *large;  // the configuration's, per-node buddies and large allocators
} numa_front;

static numa_front g_front;
static xsmem_once g_built;

// ---------------------------------------------------------------------------
// The small tier's per-node sources.

static void *small_map(xsmem_source *s, size_t size, size_t align, size_t *got) {
  int node = ((small_source *)s)->node;
  xsmem_numa_space *sp = &g_front.medium->space;
  void *p = xsmem_source_map(xsmem_numa_space_node_source(sp, node), size, align, got);
  if (XSMEM_LIKELY(p != NULL) || !g_front.fallback || errno != ENOMEM) return p;
  for (int i = 0; i < g_front.medium->num_nodes - 1; i++) {
    int other = g_front.medium->order[node][i];
    p = xsmem_source_map(xsmem_numa_space_node_source(sp, other), size, align, got);
    if (p) {
      __atomic_fetch_add(&g_front.small_fallbacks_out[node], 1, __ATOMIC_RELAXED);
      __atomic_fetch_add(&g_front.small_fallbacks_in[other], 1, __ATOMIC_RELAXED);
      return p;
    }
  }
  errno = ENOMEM;
  return NULL;
}

static void small_unmap(xsmem_source *s, void *p, size_t size) {
  int slot = xsmem_numa_space_slot_of(&g_front.medium->space, p);
  if (slot < 0) slot = ((small_source *)s)->node;  // outside the spans: that source's own mapping
  xsmem_source_unmap(&g_front.medium->space.sources[slot].base, p, size);
}

static const xsmem_source_ops small_source_ops = {
    .map = small_map,
    .unmap = small_unmap,
    .caps = XSMEM_SRC_ZEROED | XSMEM_SRC_NODE_BOUND,
};

static xsmem_source *small_node_source(void *ctx, unsigned node) {
  numa_front *f = ctx;
  return node < XSMEM_TLS_MAX_NODES ? &f->small_src[node].base : NULL;
}

// ---------------------------------------------------------------------------
// Routing (as allocators/default, with the node base on the small fast path).

static void *numa_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  numa_front *f = (numa_front *)a;
  if (!xsmem_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  int k = xsmem_tiers_route(&f->t, size, align);
  if (k == XSMEM_TIER_SMALL && align <= XSMEM_MIN_ALIGN && !(flags & XSMEM_ALLOC_ZERO) && size) {
    return xsmem_tls_malloc_node(size);
  }
  xsmem_allocator *o = xsmem_tiers_at(&f->t, k);
  void *p = o->ops->alloc(o, size, align, flags);
  if (!p && k == XSMEM_TIER_MEDIUM)
    p = g_front.large->base.ops->alloc(&g_front.large->base, size, align, flags);  // every buddy full
  return p;
}

static void numa_free(xsmem_allocator *a, void *p, size_t size) {
  numa_front *f = (numa_front *)a;
  if (XSMEM_LIKELY(xsmem_pagemap_get(p) == XSMEM_TAG_SMALL)) {
    xsmem_tls_free(p);
    return;
  }
  xsmem_allocator *o = xsmem_tiers_owner(&f->t, f->base.name, p, "free");
  if (o) o->ops->free(o, p, size);
}

static size_t numa_usable(const xsmem_allocator *a, const void *p) {
  const numa_front *f = (const numa_front *)a;
  xsmem_allocator *o = xsmem_tiers_owner(&f->t, f->base.name, p, "usable_size");
  return o ? o->ops->usable_size(o, p) : 0;
}

static bool numa_owns(const xsmem_allocator *a, const void *p) {
  return xsmem_tiers_owns(&((const numa_front *)a)->t, p);
}

static void *numa_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  numa_front *f = (numa_front *)a;
  xsmem_allocator *o = xsmem_tiers_owner(&f->t, f->base.name, p, "realloc");
  if (!o) {
    errno = EINVAL;
    return NULL;
  }
  size_t usable = o->ops->usable_size(o, p);
  // A buffer grown step by step goes to the medium tier with room for the
  // next step (buddy's same-order realloc takes no lock).
  if (xsmem_tiers_grows_to_medium(&f->t, size, usable) && o != &g_front.large->base) {
    if (o == &g_front.medium->base) {
      void *q = o->ops->realloc(o, p, 2 * size, flags);
      if (q) return q;
    } else {
      void *q = g_front.medium->base.ops->alloc(&g_front.medium->base, 2 * size, XSMEM_MIN_ALIGN, 0);
      if (q) return xsmem_move_block(o, p, usable, q, size);
    }
  }
  xsmem_allocator *want = xsmem_tiers_realloc_tier(&f->t, o, size);
  if (want == o && o->ops->realloc) {
    void *q = o->ops->realloc(o, p, size, flags);
    if (q || o != &g_front.medium->base) return q;
    // every buddy is full (their regions could not be mapped): the large tier, as for malloc
    return xsmem_move_block(o, p, usable,
                            g_front.large->base.ops->alloc(&g_front.large->base, size, XSMEM_MIN_ALIGN, 0), size);
  }
  if (want != o && o == &g_front.large->base && size <= usable && size >= usable / 2) return p;  // shrink in place
  return xsmem_move_block(o, p, usable, numa_alloc(a, size, XSMEM_MIN_ALIGN, 0), size);
}

// ---------------------------------------------------------------------------
// Statistics.

static void numa_stats(const xsmem_allocator *a, xsmem_stats *out) {
  const numa_front *f = (const numa_front *)a;
  *out = xsmem_stats_init();
  xsmem_allocator *tiers[] = {f->t.small, &g_front.medium->base, &g_front.large->base};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(tiers); i++) {
    xsmem_stats s = xsmem_get_stats(tiers[i]);
    xsmem_stats_add_tier(out, &s);
  }
}

int xsmem_numa_tiered_num_nodes(const xsmem_allocator *a) { return ((const numa_front *)a)->medium->num_nodes; }

bool xsmem_numa_tiered_node_stats_get(const xsmem_allocator *a, int node, xsmem_numa_tiered_node_stats *o) {
  memset(o, 0, sizeof(*o));
  (void)a;
  if (!xsmem_once_done(&g_built) || node < 0 || node >= g_front.medium->num_nodes) return false;
  xsmem_node_router_node_stats m, l;
  xsmem_node_router_node_stats_get(g_front.medium, node, &m);  // zeroed when the node has no child (interleave)
  xsmem_node_router_node_stats_get(g_front.large, node, &l);
  xsmem_numa_source_stats_get(&g_front.medium->space, node, &m.source);
  xsmem_numa_source_stats_get(&g_front.large->space, node, &l.source);
  xsmem_tls_node_stats s = {0};
  // The small tier's node n: its slots when it is per node; node 0 holds the
  // single-node tier's figures (label "interleave" holds them when interleaved).
  bool small_interleaved =
      g_front.medium->fixed_slot >= 0 && g_front.medium->fixed_slot == g_front.medium->interleave_slot;
  if (g_front.small_nodes > 1 || (node == 0 && !small_interleaved)) xsmem_tls_get_node_stats((unsigned)node, &s);
  o->small_bytes_in_use = s.bytes_in_use;
  o->medium_bytes_in_use = m.child.bytes_in_use;
  o->large_bytes_in_use = l.child.bytes_in_use;
  o->small_segments = s.segments;
  o->bytes_in_use = s.bytes_in_use + m.child.bytes_in_use + l.child.bytes_in_use;
  o->num_allocs = s.allocs + m.child.num_allocs + l.child.num_allocs;
  o->num_frees = s.frees + m.child.num_frees + l.child.num_frees;
  o->bytes_mapped = m.source.bytes_mapped + l.source.bytes_mapped;
  o->fallbacks_out =
      __atomic_load_n(&g_front.small_fallbacks_out[node], __ATOMIC_RELAXED) + m.fallbacks_out + l.fallbacks_out;
  o->fallbacks_in =
      __atomic_load_n(&g_front.small_fallbacks_in[node], __ATOMIC_RELAXED) + m.fallbacks_in + l.fallbacks_in;
  o->refused = m.source.num_refused + l.source.num_refused;
  o->bind_failures = m.source.bind_failures + l.source.bind_failures;
  return true;
}

static void tier_summary(xsmem_stats_sink *sink, const char *label, const xsmem_allocator *t) {
  xsmem_stats s = xsmem_get_stats(t);
  sink->value(sink, "tier", label, "allocs", "counter", (double)s.num_allocs);
  sink->value(sink, "tier", label, "frees", "counter", (double)s.num_frees);
  sink->value(sink, "tier", label, "bytes_in_use", "gauge", (double)s.bytes_in_use);
  sink->value(sink, "tier", label, "bytes_cached", "gauge", (double)s.bytes_cached);
  sink->value(sink, "tier", label, "bytes_reserved", "gauge", (double)s.bytes_reserved);
}

static void numa_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  const numa_front *f = (const numa_front *)a;
  if (f->t.small->ops->detail) f->t.small->ops->detail(f->t.small, sink);  // classes and tier "small"
  tier_summary(sink, "medium", &g_front.medium->base);
  tier_summary(sink, "large", &g_front.large->base);
  char label[16];
  for (int n = 0; n < g_front.medium->num_nodes; n++) {
    xsmem_numa_tiered_node_stats s;
    if (!xsmem_numa_tiered_node_stats_get(a, n, &s)) continue;
    xsmem_snprintf(label, sizeof(label), "%d", n);
    sink->value(sink, "node", label, "bytes_in_use", "gauge", (double)s.bytes_in_use);
    sink->value(sink, "node", label, "num_allocs", "counter", (double)s.num_allocs);
    sink->value(sink, "node", label, "num_frees", "counter", (double)s.num_frees);
    sink->value(sink, "node", label, "small_bytes_in_use", "gauge", (double)s.small_bytes_in_use);
    sink->value(sink, "node", label, "medium_bytes_in_use", "gauge", (double)s.medium_bytes_in_use);
    sink->value(sink, "node", label, "large_bytes_in_use", "gauge", (double)s.large_bytes_in_use);
    sink->value(sink, "node", label, "small_segments", "gauge", (double)s.small_segments);
    sink->value(sink, "node", label, "bytes_mapped", "gauge", (double)s.bytes_mapped);
    sink->value(sink, "node", label, "fallbacks_out", "counter", (double)s.fallbacks_out);
    sink->value(sink, "node", label, "fallbacks_in", "counter", (double)s.fallbacks_in);
    sink->value(sink, "node", label, "refused", "counter", (double)s.refused);
    sink->value(sink, "node", label, "bind_failures", "counter", (double)s.bind_failures);
  }
  if (g_front.medium->interleave_slot >= 0) {
    xsmem_node_router_node_stats m, l;
    xsmem_node_router_node_stats_get(g_front.medium, g_front.medium->interleave_slot, &m);
    xsmem_node_router_node_stats_get(g_front.large, g_front.large->interleave_slot, &l);
    xsmem_tls_node_stats t = {0};
    if (g_front.medium->fixed_slot == g_front.medium->interleave_slot)
      xsmem_tls_get_node_stats(0, &t);  // small tier interleaved too
    m.child.bytes_in_use += t.bytes_in_use;
    m.child.num_allocs += t.allocs;
    m.child.num_frees += t.frees;
    sink->value(sink, "node", "interleave", "bytes_in_use", "gauge",
                (double)(m.child.bytes_in_use + l.child.bytes_in_use));
    sink->value(sink, "node", "interleave", "num_allocs", "counter", (double)(m.child.num_allocs + l.child.num_allocs));
    sink->value(sink, "node", "interleave", "num_frees", "counter", (double)(m.child.num_frees + l.child.num_frees));
    sink->value(sink, "node", "interleave", "bytes_mapped", "gauge",
                (double)(m.source.bytes_mapped + l.source.bytes_mapped));
  }
  sink->value(sink, "route", "small", "max_bytes", "gauge", (double)f->t.small_max);
  sink->value(sink, "route", "large", "min_bytes", "gauge", (double)f->t.large_min);
  sink->value(sink, "route", "small", "nodes", "gauge", (double)f->small_nodes);
}

static size_t numa_trim(xsmem_allocator *a, size_t goal) {
  numa_front *f = (numa_front *)a;
  size_t released = 0;
  xsmem_allocator *tiers[] = {f->t.small, &g_front.medium->base, &g_front.large->base};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(tiers); i++) {
    if (tiers[i]->ops->trim) released += tiers[i]->ops->trim(tiers[i], goal);
  }
  return released;
}

// Locks are taken small -> medium -> large and given back in reverse.
static void numa_fork(xsmem_allocator *a, int phase) {
  numa_front *f = (numa_front *)a;
  xsmem_allocator *tiers[] = {f->t.small, &g_front.medium->base, &g_front.large->base};
  if (phase == XSMEM_FORK_PREPARE) {
    for (size_t i = 0; i < 3; i++) tiers[i]->ops->fork(tiers[i], phase);
  } else {
    for (size_t i = 3; i-- > 0;) tiers[i]->ops->fork(tiers[i], phase);
  }
}

static const xsmem_allocator_ops numa_ops = {
    .kind = "numa_tiered",
    .alloc = numa_alloc,
    .free = numa_free,
    .usable_size = numa_usable,
    .owns = numa_owns,
    .realloc = numa_realloc,
    .stats = numa_stats,
    .trim = numa_trim,
    .fork = numa_fork,
    .destroy = NULL,  // process-wide
    .detail = numa_detail,
};

// ---------------------------------------------------------------------------
// Construction.

// Run by the small tier's purger on every pass (as in the tiered front).
static size_t purge_medium_and_large(void *ctx) {
  numa_front *f = ctx;
  size_t released = 0;
  for (int i = 0; i <= f->medium->num_nodes; i++) {
    xsmem_allocator *m = xsmem_node_router_child(f->medium, i), *l = xsmem_node_router_child(f->large, i);
    if (m) released += xsmem_buddy_purge(m);
    if (l) released += xsmem_large_purge(l);
  }
  return released;
}

// Asked on the small tier's refills: looked up each time (sched_getcpu reads
// rseq, no system call), so a migrated thread's next refill follows it.
static int current_node(void) { return xsmem_numa_current_node_refresh(); }

typedef struct parts {
  const char *name;
  xsmem_node_router *medium, *large;
  const xsmem_tls_options *small;
  bool fallback;
} parts;

static bool build(void *ctx) {
  const parts *in = ctx;
  numa_front *f = &g_front;
  f->base.ops = &numa_ops;
  f->base.name = in->name;
  f->medium = in->medium;
  f->large = in->large;
  f->fallback = in->fallback;
  xsmem_tls_options t = *in->small;
  if (f->medium->fixed_slot < 0) {  // local policy on several nodes: per-node classes
    f->small_nodes = XSMEM_MIN(f->medium->num_nodes, XSMEM_TLS_MAX_NODES);
    for (int n = 0; n < f->small_nodes; n++) {
      f->small_src[n].base.ops = &small_source_ops;
      f->small_src[n].base.name = "numa.small";
      f->small_src[n].node = n;
    }
    t.num_nodes = (unsigned)f->small_nodes;
    t.node_source = small_node_source;
    t.node_ctx = f;
    t.current_node = current_node;
    f->small_single = NULL;
  } else {  // one node, off, or interleave: the fixed slot's source
    f->small_nodes = 1;
    f->small_single = &f->medium->space.sources[f->medium->fixed_slot].base;
  }
  f->t.small = xsmem_tls_buckets(f->small_single ? f->small_single : NULL, &t);
  f->t.medium = &f->medium->base;
  f->t.large = &f->large->base;
  if (f->small_single == NULL && xsmem_tls_num_nodes() != (unsigned)f->small_nodes) {
    f->small_nodes = (int)xsmem_tls_num_nodes();  // another configuration built the tier first
  }
  f->t.small_max = xsmem_tls_small_max_;
  f->t.large_min = xsmem_large_min_size();
  xsmem_allocator *any = NULL;
  for (int i = 0; i <= f->medium->num_nodes && !any; i++) any = xsmem_node_router_child(f->medium, i);
  f->t.medium_max = xsmem_buddy_max_size(any);
  xsmem_tls_set_purge_hook(purge_medium_and_large, f);
  return true;
}

xsmem_allocator *xsmem_numa_tiered_build(const char *name, xsmem_node_router *medium, xsmem_node_router *large,
                                         const xsmem_tls_options *small, bool fallback) {
  if (XSMEM_LIKELY(xsmem_once_done(&g_built))) return &g_front.base;
  parts in = {name, medium, large, small, fallback};
  if (xsmem_once_run(&g_built, build, &in) != XSMEM_ONCE_DONE) {
    errno = ENOMEM;
    return NULL;
  }
  return &g_front.base;
}

xsmem_allocator *xsmem_numa_tiered_small(const xsmem_allocator *a) { return ((const numa_front *)a)->t.small; }
xsmem_allocator *xsmem_numa_tiered_medium(const xsmem_allocator *a) { return ((const numa_front *)a)->t.medium; }
xsmem_allocator *xsmem_numa_tiered_large(const xsmem_allocator *a) { return ((const numa_front *)a)->t.large; }
