// allocators/tiered/tiered.h: the general-purpose front: tiers routed by size.
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
// Parts are passed in (allocators/configs/default.c composes them); the
// malloc shim calls allocators/shim/default.h, which inlines the small tier's
// fast path.
#ifndef XSMEM_ALLOCATORS_TIERED_TIERED_H_
#define XSMEM_ALLOCATORS_TIERED_TIERED_H_

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

// Returns the process's tiered front over small (the tls_buckets tier, which
// is the process's own), medium (a buddy allocator; NULL: none, medium
// requests go to large) and large, named name; built on the first call, and
// later calls return it whatever their parts (the small tier and the
// threads' grow caches are per process). NULL with errno when it cannot be
// built (small or large missing); a later call tries again. Never calls malloc.
xsmem_allocator *xsmem_tiered_build(const char *name, xsmem_allocator *small, xsmem_allocator *medium,
                                    xsmem_allocator *large);

// The tiers of a front from xsmem_tiered_build (medium may be NULL).
xsmem_allocator *xsmem_tiered_small(const xsmem_allocator *a);
xsmem_allocator *xsmem_tiered_medium(const xsmem_allocator *a);
xsmem_allocator *xsmem_tiered_large(const xsmem_allocator *a);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_TIERED_TIERED_H_
