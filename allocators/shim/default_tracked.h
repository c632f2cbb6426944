// allocators/shim/default_tracked.h: the malloc shim's direct calls for the
// default_tracked configuration (allocators/configs/default_tracked.c).
//
// malloc charges the tracker's byte countdown (tracker_fast.h) and, while it
// stays positive, runs the default front's inline fast path; the countdown
// running out sends the call to the tracker. free reads the block's pagemap tag,
// as the default shim does: a small-tier block is freed inline, anything else
// goes to the tracker. That is exact because the tracker places its sampled
// blocks outside the small tier (sample_home = the buddy tier), and because
// xsmem_default_tracked_inline_tag names no tag at all while the tracker must
// see every free (full mode) or before the configuration is built.
#ifndef XSMEM_ALLOCATORS_SHIM_DEFAULT_TRACKED_H_
#define XSMEM_ALLOCATORS_SHIM_DEFAULT_TRACKED_H_

#include "allocators/shim/default.h"
#include "tracking/tracker_fast.h"

// XSMEM_TAG_SMALL once default_tracked is built in mode off or sample, else
// a tag no chunk has (set by the configuration's instance(); another
// configuration chosen with XSMEM_CONFIG leaves it so).
extern uint8_t xsmem_default_tracked_inline_tag;
// The shim's copy, taken when the configuration is built (XSMEM_SHIM_READY):
// a static of this file, read without going through the GOT.
static uint8_t xsmem_default_tracked_shim_tag = 0xFF;

// The rest, after the first step (n already charged): the countdown ran out,
// or the request is not small.
XSMEM_INLINE void *xsmem_default_tracked_malloc(xsmem_allocator *a, size_t n) {
  return xsmem_tracker_malloc_rest(
      n, a, __atomic_load_n(&xsmem_default_tracked_shim_tag, __ATOMIC_RELAXED) == XSMEM_TAG_SMALL);
}

// Before the shim's other tests: NULL, bootstrap blocks and tracked blocks
// never carry the inline tag.
XSMEM_INLINE bool xsmem_default_tracked_try_free(void *p) {
  if (XSMEM_LIKELY(xsmem_pagemap_get(p) == __atomic_load_n(&xsmem_default_tracked_shim_tag, __ATOMIC_RELAXED))) {
    xsmem_tls_free(p);
    return true;
  }
  return false;
}

#undef XSMEM_SHIM_MALLOC
#undef XSMEM_SHIM_FREE
#undef XSMEM_SHIM_USABLE
#undef XSMEM_SHIM_TRY_FREE
#undef XSMEM_SHIM_MALLOC_FIRST
#define XSMEM_SHIM_TRY_FREE(p) xsmem_default_tracked_try_free(p)
// malloc's first step: charge the countdown and, while it stays positive,
// serve a small request inline; nothing is served before the configuration
// exists (the countdown starts below 0 and small_max is 0).
#define XSMEM_SHIM_MALLOC_FIRST(n) \
  if (XSMEM_LIKELY(xsmem_tracker_charge(n) && (n)-1 < xsmem_tls_small_max_)) return xsmem_tls_malloc(n)
#undef XSMEM_SHIM_READY
#define XSMEM_SHIM_READY(a)                         \
  __atomic_store_n(&xsmem_default_tracked_shim_tag, \
                   __atomic_load_n(&xsmem_default_tracked_inline_tag, __ATOMIC_RELAXED), __ATOMIC_RELAXED)
// XSMEM_SHIM_MALLOC_SETS_ERRNO stays (default_shim.h's): the tracker's malloc
// entry points set errno too, so malloc makes only tail calls (no frame).
#define XSMEM_SHIM_MALLOC(a, n) xsmem_default_tracked_malloc((a), (n))
#define XSMEM_SHIM_FREE(a, p) ((a)->ops->free((a), (p), 0))  // after XSMEM_SHIM_TRY_FREE: the tracker's
#define XSMEM_SHIM_USABLE(a, p) ((a)->ops->usable_size((a), (p)))

#endif  // XSMEM_ALLOCATORS_SHIM_DEFAULT_TRACKED_H_
