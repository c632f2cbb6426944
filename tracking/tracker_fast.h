// tracking/tracker_fast.h: the sampled tracker's fast path, for a malloc shim
// that calls its front inline (configs.bzl "shim_header").
//
// In sample mode (without guarded sampling) an unsampled malloc only charges
// the thread's byte countdown and an unsampled free only reads the counting
// filter; both can then go straight to the inner front's own inline fast path
// instead of through two vtables. xsmem_tracker_view mirrors the first
// members of the tracker (checked by static asserts in tracker.c).
#ifndef XSMEM_TRACKING_TRACKER_FAST_H_
#define XSMEM_TRACKING_TRACKER_FAST_H_

#include <stdatomic.h>
#include <stdint.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_tracker_view {
  xsmem_allocator base;
  xsmem_allocator *inner;
  uint32_t fast_sample;
  uint32_t fast_pad;
  _Atomic uint16_t *filter;
} xsmem_tracker_view;

extern const xsmem_allocator_ops xsmem_tracker_ops;
extern __thread int64_t xsmem_track_until_sample __attribute__((tls_model("initial-exec")));

// Records a sampled allocation (the countdown has run out). Returns the block.
void *xsmem_tracker_sampled_alloc(xsmem_allocator *a, size_t size);

XSMEM_INLINE size_t xsmem_tracker_filter_index(const void *p) {
  return (size_t)(((uintptr_t)p * 0x9e3779b97f4a7c15ull) >> 48);
}

// Returns the allocator that serves this malloc of n bytes inline (a itself
// when it is not a sampled tracker, its inner front when the allocation is not
// sampled), or NULL when the tracker must record it: then call
// xsmem_tracker_sampled_alloc if *sampled, else a->ops->alloc.
XSMEM_INLINE xsmem_allocator *xsmem_tracker_fast_malloc_target(xsmem_allocator *a, size_t n, int *sampled) {
  *sampled = 0;
  if (a->ops != &xsmem_tracker_ops) return a;
  const xsmem_tracker_view *v = (const xsmem_tracker_view *)a;
  if (!v->fast_sample) return NULL;
  xsmem_track_until_sample -= (int64_t)n;
  if (XSMEM_LIKELY(xsmem_track_until_sample > 0)) return v->inner;
  *sampled = 1;
  return NULL;
}

// Returns the allocator whose inline free may take p (a, or the inner front
// for a pointer the tracker did not sample), or NULL: then call a->ops->free.
XSMEM_INLINE xsmem_allocator *xsmem_tracker_fast_free_target(xsmem_allocator *a, const void *p) {
  if (a->ops != &xsmem_tracker_ops) return a;
  const xsmem_tracker_view *v = (const xsmem_tracker_view *)a;
  if (v->fast_sample &&
      atomic_load_explicit(&v->filter[xsmem_tracker_filter_index(p)], memory_order_relaxed) == 0) {
    return v->inner;
  }
  return NULL;
}

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_TRACKING_TRACKER_FAST_H_
