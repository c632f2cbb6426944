// numa/node_router.c: per-node children, routing by the caller's node, fallback.
#include "numa/node_router.h"

#include <errno.h>
#include <string.h>

#include "platform/log.h"
#include "platform/options.h"

xsmem_node_router_options xsmem_node_router_options_from_env(void) {
  xsmem_node_router_options o;
  memset(&o, 0, sizeof(o));
  o.policy = xsmem_numa_policy_get();
  o.fallback = xsmem_option_bool("XSMEM_NUMA_FALLBACK");
  o.interleave_min = xsmem_option_bytes("XSMEM_NUMA_INTERLEAVE_MIN");
  o.space = xsmem_numa_space_options_from_env();
  return o;
}

// ---------------------------------------------------------------------------
// The fast path: the caller's node, its child, done.

XSMEM_COLD static void *alloc_fallback(xsmem_node_router *r, int slot, size_t size, size_t align, unsigned flags) {
  int err = errno;
  if (err == ENOMEM && r->fallback && slot < r->num_nodes) {
    for (int i = 0; i < r->num_nodes - 1; i++) {
      int other = r->order[slot][i];
      xsmem_allocator *c = r->child[other];
      void *p = c->ops->alloc(c, size, align, flags);
      if (p) {
        __atomic_fetch_add(&r->fallbacks_out[slot], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->fallbacks_in[other], 1, __ATOMIC_RELAXED);
        return p;
      }
    }
  }
  __atomic_fetch_add(&r->failures, 1, __ATOMIC_RELAXED);
  if (r->on_failure) r->on_failure(r->on_failure_ctx, r, size, align);
  errno = err ? err : ENOMEM;
  return NULL;
}

static void *router_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  xsmem_node_router *r = (xsmem_node_router *)a;
  int slot = r->fixed_slot >= 0 ? r->fixed_slot : xsmem_numa_current_node();
  if (XSMEM_UNLIKELY(size >= r->interleave_min) && r->interleave_slot >= 0) slot = r->interleave_slot;
  xsmem_allocator *c = r->child[slot];
  void *p = c->ops->alloc(c, size, align, flags);
  if (XSMEM_LIKELY(p != NULL)) return p;
  return alloc_fallback(r, slot, size, align, flags);
}

// Returns the child that owns p although p lies outside the space (its
// region overflowed the span, numa_source.h), asking each child; NULL when
// none does.
XSMEM_COLD static xsmem_allocator *overflow_owner(const xsmem_node_router *r, const void *p) {
  for (int i = 0; i <= r->num_nodes; i++) {
    xsmem_allocator *c = r->child[i];
    if (c && c->ops->owns && c->ops->owns(c, p)) return c;
  }
  return NULL;
}

// Returns the child owning p, or NULL after reporting it as foreign.
XSMEM_INLINE xsmem_allocator *owner(const xsmem_node_router *r, const void *p, const char *op) {
  int slot = xsmem_numa_space_slot_of(&r->space, p);
  xsmem_allocator *c = XSMEM_LIKELY(slot >= 0) ? r->child[slot] : overflow_owner(r, p);
  if (XSMEM_UNLIKELY(c == NULL)) {
    xsmem_report_bad_pointer(r->base.name, op, p, "pointer not allocated by this allocator (outside every node)");
  }
  return c;
}

static void router_free(xsmem_allocator *a, void *p, size_t size) {
  xsmem_allocator *c = owner((xsmem_node_router *)a, p, "free");
  if (XSMEM_LIKELY(c != NULL)) c->ops->free(c, p, size);
}

static size_t router_usable(const xsmem_allocator *a, const void *p) {
  const xsmem_allocator *c = owner((const xsmem_node_router *)a, p, "malloc_usable_size");
  return c ? c->ops->usable_size(c, p) : 0;
}

static bool router_owns(const xsmem_allocator *a, const void *p) {
  const xsmem_node_router *r = (const xsmem_node_router *)a;
  int slot = xsmem_numa_space_slot_of(&r->space, p);
  if (slot < 0) return overflow_owner(r, p) != NULL;
  const xsmem_allocator *c = r->child[slot];
  if (!c) return false;
  return c->ops->owns ? c->ops->owns(c, p) : true;
}

// A block stays with the node that owns it: realloc is the owner's.
static void *router_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  xsmem_allocator *c = owner((xsmem_node_router *)a, p, "realloc");
  if (!c) {
    errno = EINVAL;
    return NULL;
  }
  if (c->ops->realloc) return c->ops->realloc(c, p, size, flags);
  return xsmem_realloc(c, p, size);
}

// ---------------------------------------------------------------------------
// Stats, trim, fork, destroy.

static void router_stats(const xsmem_allocator *a, xsmem_stats *out) {
  const xsmem_node_router *r = (const xsmem_node_router *)a;
  bool unlimited = false, untracked = false;  // a child that does not track committed bytes
  for (int i = 0; i <= r->num_nodes; i++) {
    const xsmem_allocator *c = r->child[i];
    if (!c) continue;
    xsmem_stats s = xsmem_get_stats(c);
    xsmem_stats_add_counts(out, &s);  // num_failed is the router's own, set below
    out->bytes_cached += s.bytes_cached;
    out->bytes_committed += s.bytes_committed;
    untracked |= s.bytes_committed == 0 && s.bytes_reserved != 0;
    out->bytes_limit += s.bytes_limit;
    unlimited |= s.bytes_limit == 0;
  }
  if (unlimited) out->bytes_limit = 0;
  if (untracked) out->bytes_committed = 0;  // not tracked (allocator.h)
  out->num_failed = __atomic_load_n(&r->failures, __ATOMIC_RELAXED);
  out->bytes_metadata += sizeof(*r);
}

static size_t router_trim(xsmem_allocator *a, size_t goal) {
  xsmem_node_router *r = (xsmem_node_router *)a;
  size_t released = 0;
  for (int i = 0; i <= r->num_nodes; i++) {
    xsmem_allocator *c = r->child[i];
    if (c && c->ops->trim) released += c->ops->trim(c, goal > released ? goal - released : 0);
  }
  return released;
}

static void router_fork(xsmem_allocator *a, int phase) {
  xsmem_node_router *r = (xsmem_node_router *)a;
  if (phase != XSMEM_FORK_PREPARE) xsmem_numa_space_fork(&r->space, phase);
  for (int i = 0; i <= r->num_nodes; i++) {
    xsmem_allocator *c = r->child[i];
    if (c && c->ops->fork) c->ops->fork(c, phase);
  }
  if (phase == XSMEM_FORK_PREPARE)
    xsmem_numa_space_fork(&r->space, phase);  // children first: they map under their locks
}

static void destroy_children(xsmem_node_router *r) {
  for (int i = 0; i <= XSMEM_NUMA_MAX_NODES; i++) {
    xsmem_allocator *c = r->child[i];
    if (c && c->ops->destroy) c->ops->destroy(c);
    r->child[i] = NULL;
  }
}

static void router_destroy(xsmem_allocator *a) {
  xsmem_node_router *r = (xsmem_node_router *)a;
  destroy_children(r);
  xsmem_numa_space_release(&r->space);
}

bool xsmem_node_router_node_stats_get(xsmem_node_router *r, int slot, xsmem_node_router_node_stats *out) {
  memset(out, 0, sizeof(*out));
  if (slot < 0 || slot > r->num_nodes || !r->child[slot]) return false;
  out->child = xsmem_get_stats(r->child[slot]);
  xsmem_numa_source_stats_get(&r->space, slot, &out->source);
  out->fallbacks_out = __atomic_load_n(&r->fallbacks_out[slot], __ATOMIC_RELAXED);
  out->fallbacks_in = __atomic_load_n(&r->fallbacks_in[slot], __ATOMIC_RELAXED);
  return true;
}

static void router_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  xsmem_node_router *r = (xsmem_node_router *)a;
  for (int i = 0; i <= r->num_nodes; i++) {
    xsmem_node_router_node_stats n;
    if (!xsmem_node_router_node_stats_get(r, i, &n)) continue;
    char label[16];
    if (i == r->interleave_slot) {
      xsmem_snprintf(label, sizeof(label), "interleave");
    } else {
      xsmem_snprintf(label, sizeof(label), "%d", i);
    }
    sink->value(sink, "node", label, "bytes_in_use", "gauge", (double)n.child.bytes_in_use);
    sink->value(sink, "node", label, "num_allocs", "counter", (double)n.child.num_allocs);
    sink->value(sink, "node", label, "num_frees", "counter", (double)n.child.num_frees);
    sink->value(sink, "node", label, "bytes_reserved", "gauge", (double)n.child.bytes_reserved);
    sink->value(sink, "node", label, "bytes_mapped", "gauge", (double)n.source.bytes_mapped);
    sink->value(sink, "node", label, "fallbacks_out", "counter", (double)n.fallbacks_out);
    sink->value(sink, "node", label, "fallbacks_in", "counter", (double)n.fallbacks_in);
    sink->value(sink, "node", label, "refused", "counter", (double)n.source.num_refused);
    sink->value(sink, "node", label, "bind_failures", "counter", (double)n.source.bind_failures);
  }
}

static const xsmem_allocator_ops kRouterOps = {
    .kind = "numa_router",
    .alloc = router_alloc,
    .free = router_free,
    .usable_size = router_usable,
    .owns = router_owns,
    .realloc = router_realloc,
    .stats = router_stats,
    .trim = router_trim,
    .fork = router_fork,
    .destroy = router_destroy,
    .detail = router_detail,
};

// ---------------------------------------------------------------------------
// Construction.

xsmem_allocator *xsmem_node_router_child(xsmem_node_router *r, int slot) {
  return slot >= 0 && slot <= r->num_nodes ? r->child[slot] : NULL;
}

bool xsmem_node_router_init(xsmem_node_router *r, const char *name, const xsmem_node_router_options *o,
                            xsmem_node_router_factory factory, void *ctx) {
  memset(r, 0, sizeof(*r));
  xsmem_numa_space_options so = o->space;
  if (o->policy == XSMEM_NUMA_POLICY_OFF) {
    so.num_nodes = 1;
    so.bind = false;
  }
  if (!xsmem_numa_space_init(&r->space, &so)) return false;
  r->base.ops = &kRouterOps;
  r->base.name = name;
  r->num_nodes = r->space.num_nodes;
  r->fallback = o->fallback;
  r->on_failure = o->on_failure;
  r->on_failure_ctx = o->on_failure_ctx;
  r->interleave_min = SIZE_MAX;
  r->interleave_slot = -1;
  r->fixed_slot = -1;
  bool want_interleave =
      o->policy == XSMEM_NUMA_POLICY_INTERLEAVE || (o->policy == XSMEM_NUMA_POLICY_LOCAL && o->interleave_min > 0);
  if (o->policy == XSMEM_NUMA_POLICY_OFF || r->num_nodes == 1) r->fixed_slot = 0;
  if (want_interleave && r->num_nodes > 1) {
    r->interleave_slot = r->num_nodes;
    if (o->policy == XSMEM_NUMA_POLICY_INTERLEAVE) {
      r->fixed_slot = r->interleave_slot;
    } else {
      r->interleave_min = o->interleave_min;
    }
  }
  for (int i = 0; i < r->num_nodes; i++) {
    int order[XSMEM_NUMA_MAX_NODES];
    int k = xsmem_numa_num_nodes() == r->num_nodes ? xsmem_numa_nodes_by_distance(i, order, XSMEM_NUMA_MAX_NODES) : 0;
    for (int j = 0; j < r->num_nodes - 1; j++) {
      r->order[i][j] = (int8_t)(j < k ? order[j] : (i + 1 + j) % r->num_nodes);
    }
  }
  for (int i = 0; i <= r->num_nodes; i++) {
    bool is_interleave = i == r->num_nodes;
    if (is_interleave && r->interleave_slot < 0) continue;
    if (!is_interleave && r->fixed_slot == r->interleave_slot && r->interleave_slot >= 0) continue;  // interleave only
    if (is_interleave) {
      xsmem_snprintf(r->names[i], sizeof(r->names[i]), "%s.interleave", name);
    } else {
      xsmem_snprintf(r->names[i], sizeof(r->names[i]), "%s.node%d", name, i);
    }
    r->child[i] = factory(ctx, is_interleave ? -1 : i, &r->space.sources[i].base, r->names[i]);
    if (!r->child[i]) {
      int err = errno;
      destroy_children(r);
      xsmem_numa_space_release(&r->space);
      errno = err ? err : ENOMEM;
      return false;
    }
  }
  return true;
}
