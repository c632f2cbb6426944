// allocators/shim/system_tracked.h: the malloc shim's direct calls for the
// system_tracked configuration (allocators/configs/system_tracked.c: glibc
// under the tracker).
//
// malloc charges the tracker's byte countdown (tracker_fast.h) and, while it
// stays positive, tail-calls the system allocator's malloc directly (no
// vtable, no frame). free reads the pagemap tag of the block's chunk: glibc's
// memory has none, so an untagged pointer goes straight to glibc, anything
// else to the tracker. That is exact because the tracker places its sampled
// blocks in tagged tiers (sample_home) and its guarded ones in a tagged pool,
// and because while the tracker must see every free (full mode, a guard rate
// of 1), or before the configuration is built, the tag freed inline is one no
// chunk has. The route is the pagemap lookup specialised for this free
// (the chunk index masked to 48 bits instead of a bound test and a branch).
#ifndef XSMEM_ALLOCATORS_SHIM_SYSTEM_TRACKED_H_
#define XSMEM_ALLOCATORS_SHIM_SYSTEM_TRACKED_H_

#include <stdbool.h>

#include "allocators/system/system.h"
#include "platform/pagemap.h"
#include "tracking/tracker_fast.h"

// What the shim's free compares a block's tag with (set by the
// configuration's instance(); another configuration chosen with XSMEM_CONFIG
// leaves the first state):
//   before, and while the tracker must see every free: 0xFF, a tag no chunk
//     has: every free goes to the tracker;
//   mode off, or sample (with guarded sampling or not, but for a rate of 1):
//     XSMEM_TAG_NONE: glibc's blocks go inline; sampled blocks (home tiers)
//     and guarded ones (XSMEM_TAG_GUARD) to the tracker.
// The chunk index is masked rather than range-checked (one instruction
// instead of a compare and a branch): a pointer at or above 2^48, which
// malloc never returned, may read another chunk's tag; if that sends it to
// the tracker, its inner allocator finds the owner with the checked
// xsmem_pagemap_get, as glibc's free would have been called.
// Relaxed: a thread that holds a sampled block learnt of it after instance()
// had set the route (the block is newer than the tracker).
typedef struct xsmem_system_tracked_route {
  uint8_t inline_tag;
  bool inline_free;  // the second state (for the countdown's slow path)
} xsmem_system_tracked_route;
extern xsmem_system_tracked_route xsmem_system_tracked_route_;
// The shim's copy of inline_tag, taken when the configuration is built
// (XSMEM_SHIM_READY): a static of this file, read without going through the GOT.
static uint8_t xsmem_system_tracked_shim_tag = 0xFF;

XSMEM_INLINE void *xsmem_system_tracked_malloc(xsmem_allocator *a, size_t n) {
  // An impossible size is left uncharged and to glibc, which refuses it (tracker_fast.h).
  if (XSMEM_LIKELY(n < XSMEM_TRACK_IMPOSSIBLE) && XSMEM_UNLIKELY(!xsmem_tracker_charge(n))) {
    // A tail call: the tracker's capture then starts at malloc's caller.
    bool inline_free = __atomic_load_n(&xsmem_system_tracked_route_.inline_free, __ATOMIC_RELAXED);
    return xsmem_tracker_malloc_slow(a, n, inline_free);
  }
  return xsmem_system_malloc(n);
}

XSMEM_INLINE void xsmem_system_tracked_free(xsmem_allocator *a, void *p) {
  uintptr_t chunk = ((uintptr_t)p >> XSMEM_PAGEMAP_SHIFT) & (XSMEM_PAGEMAP_ENTRIES - 1);
  uint8_t tag = __atomic_load_n(xsmem_pagemap_slot_(chunk), __ATOMIC_RELAXED);
  if (XSMEM_LIKELY(tag == __atomic_load_n(&xsmem_system_tracked_shim_tag, __ATOMIC_RELAXED))) {
    xsmem_system_free(p);
    return;
  }
  a->ops->free(a, p, 0);
}

#undef XSMEM_SHIM_MALLOC
#undef XSMEM_SHIM_FREE
#undef XSMEM_SHIM_USABLE
#define XSMEM_SHIM_MALLOC(a, n) xsmem_system_tracked_malloc((a), (n))
#define XSMEM_SHIM_FREE(a, p) xsmem_system_tracked_free((a), (p))
#define XSMEM_SHIM_USABLE(a, p) ((a)->ops->usable_size((a), (p)))
#undef XSMEM_SHIM_READY
#define XSMEM_SHIM_READY(a)                        \
  __atomic_store_n(&xsmem_system_tracked_shim_tag, \
                   __atomic_load_n(&xsmem_system_tracked_route_.inline_tag, __ATOMIC_RELAXED), __ATOMIC_RELAXED)
// glibc sets errno, and so does every allocator the slow path may end in (the
// alloc contract, allocator.h): the tracker adds none of its own failures
// without setting it.
#define XSMEM_SHIM_MALLOC_SETS_ERRNO 1

#endif  // XSMEM_ALLOCATORS_SHIM_SYSTEM_TRACKED_H_
