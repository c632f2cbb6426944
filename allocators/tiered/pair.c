// allocators/tiered/pair.c: a buddy tier and a large tier routed by size (see pair.h).
#include "allocators/tiered/pair.h"

#include <errno.h>
#include <string.h>

#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"
#include "platform/once.h"
#include "platform/pagemap.h"

typedef struct tiers {
  xsmem_allocator base;
  xsmem_allocator *buddy, *large;
  size_t large_min;
} tiers;

static tiers g_tiers;

// Returns the tier that owns p (by its pagemap tag), or NULL after a report.
static xsmem_allocator *owner(const void *p, const char *op) {
  switch (xsmem_pagemap_get(p)) {
    case XSMEM_TAG_BUDDY: return g_tiers.buddy;
    case XSMEM_TAG_LARGE: return g_tiers.large;
    default: xsmem_report_bad_pointer(g_tiers.base.name, op, p, "pointer not allocated by xsmem"); return NULL;
  }
}

static xsmem_allocator *tier_for(size_t size, size_t align) {
  return size >= g_tiers.large_min || xsmem_buddy_block_size(g_tiers.buddy, size, align) == 0 ? g_tiers.large
                                                                                              : g_tiers.buddy;
}

static void *t_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  xsmem_allocator *t = tier_for(size, align);
  return t->ops->alloc(t, size, align, flags);
}

static void t_free(xsmem_allocator *a, void *p, size_t size) {
  xsmem_allocator *t = owner(p, "free");
  if (t) t->ops->free(t, p, size);
}

static size_t t_usable(const xsmem_allocator *a, const void *p) {
  xsmem_allocator *t = owner(p, "malloc_usable_size");
  return t ? t->ops->usable_size(t, p) : 0;
}

static bool t_owns(const xsmem_allocator *a, const void *p) {
  uint8_t tag = xsmem_pagemap_get(p);
  xsmem_allocator *t = tag == XSMEM_TAG_BUDDY ? g_tiers.buddy : tag == XSMEM_TAG_LARGE ? g_tiers.large : NULL;
  return t && t->ops->owns(t, p);
}

// Within a tier its own realloc (in place where it can); across tiers a move.
static void *t_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  xsmem_allocator *from = owner(p, "realloc");
  if (!from) {
    errno = EINVAL;
    return NULL;
  }
  xsmem_allocator *to = tier_for(size, 1);
  if (to == from) return from->ops->realloc(from, p, size, flags);
  return xsmem_move_block(from, p, from->ops->usable_size(from, p), to->ops->alloc(to, size, XSMEM_MIN_ALIGN, 0), size);
}

static void t_stats(const xsmem_allocator *a, xsmem_stats *out) {
  // The peak of the sum is at most the sum of the peaks: reported as that bound.
  *out = xsmem_stats_init();
  xsmem_stats b = xsmem_get_stats(g_tiers.buddy), l = xsmem_get_stats(g_tiers.large);
  xsmem_stats_add_tier(out, &b);
  xsmem_stats_add_tier(out, &l);
}

static size_t t_trim(xsmem_allocator *a, size_t goal) {
  return g_tiers.buddy->ops->trim(g_tiers.buddy, goal) + g_tiers.large->ops->trim(g_tiers.large, goal);
}

static void t_fork(xsmem_allocator *a, int phase) {
  g_tiers.buddy->ops->fork(g_tiers.buddy, phase);
  g_tiers.large->ops->fork(g_tiers.large, phase);
}

static void t_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  g_tiers.buddy->ops->detail(g_tiers.buddy, sink);
  g_tiers.large->ops->detail(g_tiers.large, sink);
}

static const xsmem_allocator_ops kTiersOps = {
    .kind = "tiers",
    .alloc = t_alloc,
    .free = t_free,
    .usable_size = t_usable,
    .owns = t_owns,
    .realloc = t_realloc,
    .stats = t_stats,
    .trim = t_trim,
    .fork = t_fork,
    .detail = t_detail,
};

typedef struct parts {
  const char *name;
  xsmem_allocator *buddy, *large;
} parts;

static bool build(void *ctx) {
  const parts *in = ctx;
  g_tiers.buddy = in->buddy;
  g_tiers.large = in->large;
  g_tiers.large_min = xsmem_large_min_size();
  g_tiers.base.ops = &kTiersOps;
  g_tiers.base.name = in->name;
  return true;
}

xsmem_allocator *xsmem_tiered_pair_build(const char *name, xsmem_allocator *buddy, xsmem_allocator *large) {
  static xsmem_once once;
  if (XSMEM_LIKELY(xsmem_once_done(&once))) return &g_tiers.base;
  if (!buddy || !large) {
    errno = ENOMEM;
    return NULL;
  }
  parts in = {name, buddy, large};
  return xsmem_once_run(&once, build, &in) == XSMEM_ONCE_DONE ? &g_tiers.base : NULL;
}
