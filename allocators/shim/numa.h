// allocators/shim/numa.h: the malloc shim's direct calls into the `numa`
// configuration (configs.bzl "shim_header"): allocators/shim/default.h
// with one change, malloc's small-tier fast path adds the thread's node base
// to the class (xsmem_tls_malloc_node). Free is the same: the slot comes from
// the segment header.
#ifndef XSMEM_ALLOCATORS_SHIM_NUMA_H_
#define XSMEM_ALLOCATORS_SHIM_NUMA_H_

#include "allocators/shim/default.h"

XSMEM_INLINE void *xsmem_numa_shim_malloc(xsmem_allocator *a, size_t n) {
  if (XSMEM_LIKELY(n - 1 < xsmem_tls_small_max_)) return xsmem_tls_malloc_node(n);
  return xsmem_malloc_via_ops(a, n);
}

#undef XSMEM_SHIM_MALLOC
#undef XSMEM_SHIM_MALLOC_FIRST
#define XSMEM_SHIM_MALLOC(a, n) xsmem_numa_shim_malloc((a), (n))
#define XSMEM_SHIM_MALLOC_FIRST(n) \
  if (XSMEM_LIKELY((n)-1 < xsmem_tls_small_max_)) return xsmem_tls_malloc_node(n)

#endif  // XSMEM_ALLOCATORS_SHIM_NUMA_H_
