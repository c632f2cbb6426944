// tracking/system_tracked_shim.h: the malloc shim's direct calls for the
// system_tracked configuration (glibc under the tracker).
//
// An unsampled malloc charges the tracker's byte countdown (tracker_fast.h)
// and calls the system allocator straight away; an unsampled free reads the
// tracker's counting filter and does the same. The tracker's own ops (one
// more indirect call and the mode tests each way) run only for sampled
// blocks, and for every block in full mode or with guarded sampling.
#ifndef XSMEM_TRACKING_SYSTEM_TRACKED_SHIM_H_
#define XSMEM_TRACKING_SYSTEM_TRACKED_SHIM_H_

#include "tracking/tracker_fast.h"

XSMEM_INLINE void *xsmem_system_tracked_malloc(xsmem_allocator *a, size_t n) {
  if (XSMEM_UNLIKELY(!xsmem_tracker_charge(n))) return xsmem_tracker_malloc_slow(a, n, true);
  // The countdown stays >= 0 only for a sample-mode tracker without guarded
  // sampling, or (pinned) for a configuration that is no tracker at all.
  xsmem_allocator *target = a->ops == &xsmem_tracker_ops ? ((const xsmem_tracker_view *)a)->inner : a;
  return target->ops->alloc(target, n, XSMEM_MIN_ALIGN, 0);
}

XSMEM_INLINE void xsmem_system_tracked_free(xsmem_allocator *a, void *p) {
  xsmem_allocator *target = xsmem_tracker_fast_free_target(a, p);
  if (XSMEM_LIKELY(target != NULL)) {
    target->ops->free(target, p, 0);
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

#endif  // XSMEM_TRACKING_SYSTEM_TRACKED_SHIM_H_
