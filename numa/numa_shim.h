// numa/numa_shim.h: the malloc shim's direct calls into the `numa`
// configuration (configs.bzl "shim_header"): as allocators/default/default_shim.h,
// with the small tier's per-node fast path (the thread's node base added to
// the class) inline. Everything else goes through the allocator's ops.
#ifndef XSMEM_NUMA_NUMA_SHIM_H_
#define XSMEM_NUMA_NUMA_SHIM_H_

#include "allocators/allocator.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "platform/pagemap.h"

// n - 1 < small_max: size 0 (and any size before the tier exists, when
// small_max is still 0) takes the generic path.
XSMEM_INLINE void *xsmem_numa_shim_malloc(xsmem_allocator *a, size_t n) {
  if (XSMEM_LIKELY(n - 1 < xsmem_tls_small_max_)) return xsmem_tls_malloc_node(n);
  return a->ops->alloc(a, n, XSMEM_MIN_ALIGN, 0);
}

XSMEM_INLINE void xsmem_numa_shim_free(xsmem_allocator *a, void *p) {
  if (XSMEM_LIKELY(xsmem_pagemap_get(p) == XSMEM_TAG_SMALL)) {
    xsmem_tls_free(p);
    return;
  }
  a->ops->free(a, p, 0);
}

#define XSMEM_SHIM_MALLOC(a, n) xsmem_numa_shim_malloc((a), (n))
#define XSMEM_SHIM_FREE(a, p) xsmem_numa_shim_free((a), (p))
#define XSMEM_SHIM_USABLE(a, p) ((a)->ops->usable_size((a), (p)))

#endif  // XSMEM_NUMA_NUMA_SHIM_H_
