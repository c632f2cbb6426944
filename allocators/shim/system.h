// allocators/shim/system.h: the malloc shim's direct calls for the
// system configuration (configs.bzl "shim_header"): malloc and free go to
// glibc through the system allocator's direct entry points, as tail calls
// (no vtable, no stack frame; glibc sets errno) when the allocator the shim
// serves is the system allocator (another configuration chosen with
// XSMEM_CONFIG keeps the generic calls).
// The same calls as allocators/shim/system_tracked.h makes for unsampled
// blocks, so the two configurations differ only by what tracking costs.
#ifndef XSMEM_ALLOCATORS_SHIM_SYSTEM_H_
#define XSMEM_ALLOCATORS_SHIM_SYSTEM_H_

#include "allocators/allocator.h"
#include "allocators/system/system.h"

XSMEM_INLINE void *xsmem_system_shim_malloc(xsmem_allocator *a, size_t n) {
  if (XSMEM_LIKELY(a == xsmem_system_instance_)) return xsmem_system_malloc(n);
  return xsmem_malloc_via_ops(a, n);
}

XSMEM_INLINE void xsmem_system_shim_free(xsmem_allocator *a, void *p) {
  if (XSMEM_LIKELY(a == xsmem_system_instance_)) {
    xsmem_system_free(p);
    return;
  }
  a->ops->free(a, p, 0);
}

#define XSMEM_SHIM_MALLOC(a, n) xsmem_system_shim_malloc((a), (n))
#define XSMEM_SHIM_FREE(a, p) xsmem_system_shim_free((a), (p))
#define XSMEM_SHIM_USABLE(a, p) ((a)->ops->usable_size((a), (p)))
#define XSMEM_SHIM_MALLOC_SETS_ERRNO 1

#endif  // XSMEM_ALLOCATORS_SHIM_SYSTEM_H_
