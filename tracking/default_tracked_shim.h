// tracking/default_tracked_shim.h: the malloc shim's direct calls for the
// default_tracked configuration: unsampled mallocs and frees take the default
// front's inline fast path (allocators/default/default_shim.h) after the
// tracker's countdown / filter check; everything else goes through the tracker.
#ifndef XSMEM_TRACKING_DEFAULT_TRACKED_SHIM_H_
#define XSMEM_TRACKING_DEFAULT_TRACKED_SHIM_H_

#include "allocators/default/default_shim.h"
#include "tracking/tracker_fast.h"

XSMEM_INLINE void *xsmem_default_tracked_malloc(xsmem_allocator *a, size_t n) {
  int sampled;
  xsmem_allocator *target = xsmem_tracker_fast_malloc_target(a, n, &sampled);
  if (XSMEM_LIKELY(target != NULL)) return xsmem_default_shim_malloc(target, n);
  return sampled ? xsmem_tracker_sampled_alloc(a, n) : a->ops->alloc(a, n, XSMEM_MIN_ALIGN, 0);
}

XSMEM_INLINE void xsmem_default_tracked_free(xsmem_allocator *a, void *p) {
  xsmem_allocator *target = xsmem_tracker_fast_free_target(a, p);
  if (XSMEM_LIKELY(target != NULL)) {
    xsmem_default_shim_free(target, p);
    return;
  }
  a->ops->free(a, p, 0);
}

#undef XSMEM_SHIM_MALLOC
#undef XSMEM_SHIM_FREE
#undef XSMEM_SHIM_USABLE
#undef XSMEM_SHIM_MALLOC_SETS_ERRNO  // default_shim.h's: the tracker's paths leave errno to the shim
#undef XSMEM_SHIM_TRY_FREE           // and a tracked block is not freed as a small one
#define XSMEM_SHIM_MALLOC(a, n) xsmem_default_tracked_malloc((a), (n))
#define XSMEM_SHIM_FREE(a, p) xsmem_default_tracked_free((a), (p))
#define XSMEM_SHIM_USABLE(a, p) ((a)->ops->usable_size((a), (p)))

#endif  // XSMEM_TRACKING_DEFAULT_TRACKED_SHIM_H_
