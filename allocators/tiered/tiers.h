// allocators/tiered/tiers.h: the three-tier routing shared by the `default`
// and `numa` fronts. A request goes to the small tier up to small_max (and
// alignments up to a page), to the medium tier below large_min (within
// medium_max), else to the large tier; a block's tier is found from the
// pagemap tag of its 4 MiB chunk (one byte load), never by asking the tiers.
#ifndef XSMEM_ALLOCATORS_TIERED_TIERS_H_
#define XSMEM_ALLOCATORS_TIERED_TIERS_H_

#include <stdbool.h>
#include <stddef.h>

#include "allocators/allocator.h"
#include "platform/pagemap.h"

#define XSMEM_TIERS_SMALL_MAX_ALIGN ((size_t)4096)  // larger alignments go to buddy (size-aligned blocks)

typedef struct xsmem_tiers {
  xsmem_allocator *small, *medium, *large;
  size_t small_max, large_min, medium_max;
} xsmem_tiers;

enum { XSMEM_TIER_SMALL, XSMEM_TIER_MEDIUM, XSMEM_TIER_LARGE };

XSMEM_INLINE int xsmem_tiers_route(const xsmem_tiers *t, size_t size, size_t align) {
  if (size <= t->small_max && align <= XSMEM_TIERS_SMALL_MAX_ALIGN) return XSMEM_TIER_SMALL;
  if (size < t->large_min && size <= t->medium_max && align <= t->medium_max) return XSMEM_TIER_MEDIUM;
  return XSMEM_TIER_LARGE;
}

XSMEM_INLINE xsmem_allocator *xsmem_tiers_at(const xsmem_tiers *t, int k) {
  return k == XSMEM_TIER_SMALL ? t->small : k == XSMEM_TIER_MEDIUM ? t->medium : t->large;
}

// Returns the tier whose tag p's chunk carries, or NULL (not xsmem's).
XSMEM_INLINE xsmem_allocator *xsmem_tiers_of(const xsmem_tiers *t, const void *p) {
  switch (xsmem_pagemap_get(p)) {
    case XSMEM_TAG_SMALL: return t->small;
    case XSMEM_TAG_BUDDY: return t->medium;
    case XSMEM_TAG_LARGE: return t->large;
    default: return NULL;
  }
}

// Returns the tier owning p, or NULL after reporting a foreign pointer as
// front `name`'s operation `op`.
XSMEM_INLINE xsmem_allocator *xsmem_tiers_owner(const xsmem_tiers *t, const char *name, const void *p, const char *op) {
  xsmem_allocator *o = xsmem_tiers_of(t, p);
  if (!o) xsmem_report_bad_pointer(name, op, p, "pointer not allocated by xsmem");
  return o;
}

// realloc of a growing buffer: a step (to at most twice the block's usable
// bytes) to at least this size moves the buffer to the medium tier, taking
// room for the next step there (2 * size), so later steps stay in place or
// absorb the free right-hand buddy instead of copying through the small classes.
#define XSMEM_TIERS_GROW_TO_MEDIUM ((size_t)4096)

// Whether realloc to `size` of a block with `usable` bytes is such a step,
// with room for 2 * size in the medium tier.
XSMEM_INLINE bool xsmem_tiers_grows_to_medium(const xsmem_tiers *t, size_t size, size_t usable) {
  return size > usable && size <= 2 * usable && size >= XSMEM_TIERS_GROW_TO_MEDIUM && 2 * size <= t->medium_max &&
      2 * size < t->large_min;
}

// The tier realloc to `size` keeps a block of tier `owner` in: its route,
// except that a medium block stays medium down to half the grow-to-medium
// size (a growing buffer that shrinks a little and grows again keeps its place).
XSMEM_INLINE xsmem_allocator *xsmem_tiers_realloc_tier(const xsmem_tiers *t, const xsmem_allocator *owner,
                                                       size_t size) {
  xsmem_allocator *want = xsmem_tiers_at(t, xsmem_tiers_route(t, size, XSMEM_MIN_ALIGN));
  if (owner == t->medium && want == t->small && size > XSMEM_TIERS_GROW_TO_MEDIUM / 2) return t->medium;
  return want;
}

XSMEM_INLINE bool xsmem_tiers_owns(const xsmem_tiers *t, const void *p) {
  xsmem_allocator *o = xsmem_tiers_of(t, p);
  return o && o->ops->owns && o->ops->owns(o, p);
}

#endif  // XSMEM_ALLOCATORS_TIERED_TIERS_H_
