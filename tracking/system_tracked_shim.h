// tracking/system_tracked_shim.h: the malloc shim's direct calls for the
// system_tracked configuration (allocators/configs/system_tracked.c: glibc
// under the tracker).
//
// malloc charges the tracker's byte countdown (tracker_fast.h) and, while it
// stays positive, tail-calls the system allocator's malloc directly (no
// vtable, no frame: glibc sets errno itself). free reads the pagemap tag of
// the block's chunk: glibc's memory has none, so a pointer whose tag is
// xsmem_system_tracked_inline_tag goes straight to glibc, anything else to
// the tracker. That is exact because the tracker places its sampled blocks in
// tagged tiers (sample_home), and because the inline tag names no tag at all
// while the tracker must see every free (full mode, guarded sampling) or
// before the configuration is built.
#ifndef XSMEM_TRACKING_SYSTEM_TRACKED_SHIM_H_
#define XSMEM_TRACKING_SYSTEM_TRACKED_SHIM_H_

#include <errno.h>

#include "allocators/system/system.h"
#include "platform/pagemap.h"
#include "tracking/tracker_fast.h"

// XSMEM_TAG_NONE once system_tracked is built in mode off or sample (without
// guarded sampling), else a tag no chunk has (set by the configuration's
// instance(); another configuration chosen with XSMEM_CONFIG leaves it so).
extern uint8_t xsmem_system_tracked_inline_tag;

// The countdown ran out. In the tracker's text section, so that call-site
// captures skip this frame as they skip the tracker's own; malloc reaches it
// by a tail call, so the frame above is malloc's caller.
__attribute__((section("xsmem_tracker_text"))) XSMEM_COLD XSMEM_NOINLINE static void *
xsmem_system_tracked_malloc_slow(xsmem_allocator *a, size_t n) {
  bool inline_ok = __atomic_load_n(&xsmem_system_tracked_inline_tag, __ATOMIC_RELAXED) == XSMEM_TAG_NONE;
  void *p = xsmem_tracker_malloc_slow(a, n, inline_ok);
  if (XSMEM_UNLIKELY(!p)) errno = ENOMEM;
  return p;
}

XSMEM_INLINE void *xsmem_system_tracked_malloc(xsmem_allocator *a, size_t n) {
  if (XSMEM_UNLIKELY(!xsmem_tracker_charge(n))) return xsmem_system_tracked_malloc_slow(a, n);
  return xsmem_system_malloc(n);
}

XSMEM_INLINE void xsmem_system_tracked_free(xsmem_allocator *a, void *p) {
  if (XSMEM_LIKELY(xsmem_pagemap_get(p) == __atomic_load_n(&xsmem_system_tracked_inline_tag, __ATOMIC_RELAXED))) {
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
#define XSMEM_SHIM_MALLOC_SETS_ERRNO  // both paths above set it

#endif  // XSMEM_TRACKING_SYSTEM_TRACKED_SHIM_H_
