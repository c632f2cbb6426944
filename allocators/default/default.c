// allocators/default/default.c: routing between the tiers (see default.h).
#include "allocators/default/default.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"
#include "allocators/tls_buckets/tls_buckets.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "platform/log.h"
#include "platform/pagemap.h"

#define SMALL_MAX_ALIGN ((size_t)4096)  // larger alignments go to buddy (size-aligned blocks)

typedef struct default_allocator {
  xsmem_allocator base;
  xsmem_allocator *small, *medium, *large;
  size_t small_max, large_min, medium_max;
  _Atomic int state;  // 0 new, 1 building, 2 ready
} default_allocator;

static default_allocator g_default;

enum { TIER_SMALL, TIER_MEDIUM, TIER_LARGE };

static int route(const default_allocator *d, size_t size, size_t align) {
  if (size <= d->small_max && align <= SMALL_MAX_ALIGN) return TIER_SMALL;
  if (size < d->large_min && size <= d->medium_max && align <= d->medium_max) return TIER_MEDIUM;
  return TIER_LARGE;
}

static xsmem_allocator *tier(const default_allocator *d, int t) {
  return t == TIER_SMALL ? d->small : t == TIER_MEDIUM ? d->medium : d->large;
}

static void *default_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  default_allocator *d = (default_allocator *)a;
  if (!xsmem_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  int t = route(d, size, align);
  if (t == TIER_SMALL && align <= XSMEM_MIN_ALIGN && !(flags & XSMEM_ALLOC_ZERO) && size) {
    return xsmem_tls_malloc(size);
  }
  void *p = tier(d, t)->ops->alloc(tier(d, t), size, align, flags);
  if (!p && t == TIER_MEDIUM) p = d->large->ops->alloc(d->large, size, align, flags);  // buddy full
  return p;
}

// Returns the tier owning p, or NULL after reporting a foreign pointer.
static xsmem_allocator *owner(const default_allocator *d, const void *p, const char *op) {
  switch (xsmem_pagemap_get(p)) {
    case XSMEM_TAG_SMALL:
      return d->small;
    case XSMEM_TAG_BUDDY:
      return d->medium;
    case XSMEM_TAG_LARGE:
      return d->large;
    default:
      xsmem_report_bad_pointer(d->base.name, op, p, "pointer not allocated by xsmem");
      return NULL;
  }
}

static void default_free(xsmem_allocator *a, void *p, size_t size) {
  default_allocator *d = (default_allocator *)a;
  uint8_t tag = xsmem_pagemap_get(p);
  if (XSMEM_LIKELY(tag == XSMEM_TAG_SMALL)) {
    xsmem_tls_free(p);
    return;
  }
  xsmem_allocator *o = owner(d, p, "free");
  if (o) o->ops->free(o, p, size);
}

static size_t default_usable(const xsmem_allocator *a, const void *p) {
  xsmem_allocator *o = owner((const default_allocator *)a, p, "usable_size");
  return o ? o->ops->usable_size(o, p) : 0;
}

static bool default_owns(const xsmem_allocator *a, const void *p) {
  const default_allocator *d = (const default_allocator *)a;
  uint8_t tag = xsmem_pagemap_get(p);
  xsmem_allocator *o = tag == XSMEM_TAG_SMALL ? d->small
                       : tag == XSMEM_TAG_BUDDY ? d->medium
                       : tag == XSMEM_TAG_LARGE ? d->large
                                                : NULL;
  return o && o->ops->owns && o->ops->owns(o, p);
}

static void *default_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  default_allocator *d = (default_allocator *)a;
  xsmem_allocator *o = owner(d, p, "realloc");
  if (!o) {
    errno = EINVAL;
    return NULL;
  }
  xsmem_allocator *want = tier(d, route(d, size, XSMEM_MIN_ALIGN));
  if (want == o && o->ops->realloc) return o->ops->realloc(o, p, size, flags);
  size_t usable = o->ops->usable_size(o, p);
  if (want != o && o == d->large && size <= usable && size >= usable / 2) return p;  // shrink in place
  void *q = default_alloc(a, size, XSMEM_MIN_ALIGN, 0);
  if (!q) return NULL;
  memcpy(q, p, XSMEM_MIN(size, usable));
  o->ops->free(o, p, 0);
  return q;
}

static void default_stats(const xsmem_allocator *a, xsmem_stats *out) {
  const default_allocator *d = (const default_allocator *)a;
  *out = xsmem_stats_init();
  xsmem_allocator *tiers[] = {d->small, d->medium, d->large};
  double frag_weight = 0;
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(tiers); i++) {
    xsmem_stats s = xsmem_get_stats(tiers[i]);
    out->num_allocs += s.num_allocs;
    out->num_frees += s.num_frees;
    out->num_failed += s.num_failed;
    out->bytes_in_use += s.bytes_in_use;
    out->peak_bytes_in_use += s.peak_bytes_in_use;  // an upper bound: tiers peak at different times
    out->bytes_reserved += s.bytes_reserved;
    out->bytes_cached += s.bytes_cached;
    out->bytes_metadata += s.bytes_metadata;
    out->largest_alloc_size = XSMEM_MAX(out->largest_alloc_size, s.largest_alloc_size);
    frag_weight += s.fragmentation * (double)s.bytes_cached;
  }
  out->fragmentation = out->bytes_cached ? frag_weight / (double)out->bytes_cached : 0.0;
}

// Tier summaries under group "tier" come from the tiers themselves.
static void default_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  const default_allocator *d = (const default_allocator *)a;
  xsmem_allocator *tiers[] = {d->small, d->medium, d->large};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(tiers); i++) {
    if (tiers[i]->ops->detail) tiers[i]->ops->detail(tiers[i], sink);
  }
  sink->value(sink, "route", "small", "max_bytes", "gauge", (double)d->small_max);
  sink->value(sink, "route", "large", "min_bytes", "gauge", (double)d->large_min);
}

static size_t default_trim(xsmem_allocator *a, size_t goal) {
  default_allocator *d = (default_allocator *)a;
  size_t released = 0;
  xsmem_allocator *tiers[] = {d->small, d->medium, d->large};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(tiers); i++) {
    if (tiers[i]->ops->trim) released += tiers[i]->ops->trim(tiers[i], goal);
  }
  return released;
}

// Locks are taken small -> medium -> large and given back in reverse.
static void default_fork(xsmem_allocator *a, int phase) {
  default_allocator *d = (default_allocator *)a;
  xsmem_allocator *tiers[] = {d->small, d->medium, d->large};
  if (phase == XSMEM_FORK_PREPARE) {
    for (size_t i = 0; i < 3; i++) {
      if (tiers[i]->ops->fork) tiers[i]->ops->fork(tiers[i], phase);
    }
  } else {
    for (size_t i = 3; i-- > 0;) {
      if (tiers[i]->ops->fork) tiers[i]->ops->fork(tiers[i], phase);
    }
  }
}

static const xsmem_allocator_ops default_ops = {
    .kind = "default",
    .alloc = default_alloc,
    .free = default_free,
    .usable_size = default_usable,
    .owns = default_owns,
    .realloc = default_realloc,
    .stats = default_stats,
    .trim = default_trim,
    .fork = default_fork,
    .destroy = NULL,  // process-wide
    .detail = default_detail,
};

// Run by the small tier's purger thread on every pass: empty buddy regions and
// stale cached large mappings go back to the OS even while the program idles.
static size_t purge_medium_and_large(void *ctx) {
  default_allocator *d = (default_allocator *)ctx;
  return xsmem_buddy_purge(d->medium) + xsmem_large_purge(d->large);
}

xsmem_allocator *xsmem_default_allocator(void) {
  default_allocator *d = &g_default;
  if (XSMEM_LIKELY(atomic_load_explicit(&d->state, memory_order_acquire) == 2)) return &d->base;
  int expected = 0;
  if (atomic_compare_exchange_strong(&d->state, &expected, 1)) {
    d->base.ops = &default_ops;
    d->base.name = "default";
    d->small = xsmem_tls_buckets(NULL, NULL);
    d->medium = xsmem_buddy_instance();
    d->large = xsmem_large_instance();
    if (!d->small || !d->medium || !d->large) xsmem_fatal("default: a tier failed to build");
    d->small_max = xsmem_tls_small_max_;
    d->large_min = xsmem_large_min_size();
    d->medium_max = xsmem_buddy_max_size(d->medium);
    xsmem_tls_set_purge_hook(purge_medium_and_large, d);
    atomic_store_explicit(&d->state, 2, memory_order_release);
    return &d->base;
  }
  while (atomic_load_explicit(&d->state, memory_order_acquire) != 2) sched_yield();
  return &d->base;
}

xsmem_allocator *xsmem_default_small(void) { return g_default.small; }
xsmem_allocator *xsmem_default_medium(void) { return g_default.medium; }
xsmem_allocator *xsmem_default_large(void) { return g_default.large; }
