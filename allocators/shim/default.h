// allocators/shim/default.h: the malloc shim's direct calls into the
// default configuration (configs.bzl "shim_header"). malloc of a small size and
// free of a small block run the small tier's fast path inline (tls_fast.h):
// no vtable hop. Everything else goes through the default allocator's ops.
#ifndef XSMEM_ALLOCATORS_SHIM_DEFAULT_H_
#define XSMEM_ALLOCATORS_SHIM_DEFAULT_H_

#include "allocators/allocator.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "platform/pagemap.h"

// n - 1 < small_max: size 0 (and any size before the tier exists, when
// small_max is still 0) takes the generic path (errno set as malloc must;
// the small tier's slow path sets it too).
XSMEM_INLINE void *xsmem_default_shim_malloc(xsmem_allocator *a, size_t n) {
  if (XSMEM_LIKELY(n - 1 < xsmem_tls_small_max_)) return xsmem_tls_malloc(n);
  return xsmem_malloc_via_ops(a, n);
}

// A small block (tagged by the small tier, which exists then) is freed
// before the shim's other tests: NULL and bootstrap blocks are never tagged.
XSMEM_INLINE bool xsmem_default_shim_try_free(void *p) {
  if (XSMEM_LIKELY(xsmem_pagemap_get(p) == XSMEM_TAG_SMALL)) {
    xsmem_tls_free(p);
    return true;
  }
  return false;
}

XSMEM_INLINE void xsmem_default_shim_free(xsmem_allocator *a, void *p) {
  if (XSMEM_LIKELY(xsmem_pagemap_get(p) == XSMEM_TAG_SMALL)) {
    xsmem_tls_free(p);
    return;
  }
  a->ops->free(a, p, 0);
}

#define XSMEM_SHIM_MALLOC(a, n) xsmem_default_shim_malloc((a), (n))
// A small request needs neither the configuration pointer nor its test:
// small_max is 0 until the tier exists.
#define XSMEM_SHIM_MALLOC_FIRST(n) \
  if (XSMEM_LIKELY((n)-1 < xsmem_tls_small_max_)) return xsmem_tls_malloc(n)
#define XSMEM_SHIM_FREE(a, p) xsmem_default_shim_free((a), (p))
#define XSMEM_SHIM_USABLE(a, p) ((a)->ops->usable_size((a), (p)))
#define XSMEM_SHIM_MALLOC_SETS_ERRNO 1
#define XSMEM_SHIM_TRY_FREE(p) xsmem_default_shim_try_free(p)

#endif  // XSMEM_ALLOCATORS_SHIM_DEFAULT_H_
