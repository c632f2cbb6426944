// allocators/default/default.h: the general-purpose allocator, four tiers.
//
// Model: one request is served by exactly one tier, chosen by its size:
//   small   n <= XSMEM_SMALL_MAX (1 MiB)          allocators/tls_buckets: thread-cached size classes
//   medium  below XSMEM_LARGE_MIN (512 MiB)        allocators/buddy: power-of-two blocks in 1 GiB regions
//   large   n >= XSMEM_LARGE_MIN                   allocators/large: one mapping each, cached, mremap
//   huge    beyond a buddy region, or whatever buddy refuses: also allocators/large
// Alignments up to 4 KiB stay in the tier of the size; larger ones go to buddy
// (blocks aligned to their size) or large. Every tier takes its memory in
// 4 MiB-aligned chunks tagged in platform/pagemap, so free, realloc and
// usable_size find the owner with a pagemap lookup (xsmem_pagemap_get); a pointer
// no tier tagged is reported as foreign. realloc stays inside a tier when the
// new size belongs to it (the tier's own realloc: in-place for small, merge or
// split for buddy, mremap for large) and moves between tiers otherwise.
// Statistics are the sums of the tiers; detail forwards each tier's figures
// (groups "tier", "class", "contention", "order", ...).
// The malloc shim calls default_shim.h, which inlines the small tier's fast path.
#ifndef XSMEM_ALLOCATORS_DEFAULT_DEFAULT_H_
#define XSMEM_ALLOCATORS_DEFAULT_DEFAULT_H_

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

// Returns the process-wide default allocator ("default"), building it and its
// tiers on first call from the XSMEM_* options. Never calls malloc; thread-safe.
xsmem_allocator *xsmem_default_allocator(void);

// The tiers, for tests and tools (valid after xsmem_default_allocator()).
// The medium tier is NULL when it could not be built (an address-space
// limit too tight for its tables): medium requests then go to the large tier.
xsmem_allocator *xsmem_default_small(void);
xsmem_allocator *xsmem_default_medium(void);
xsmem_allocator *xsmem_default_large(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_DEFAULT_DEFAULT_H_
