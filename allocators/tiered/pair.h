// allocators/tiered/pair.h: a buddy tier for everything below XSMEM_LARGE_MIN
// (and that its regions can hold), a large tier from there up; frees go to
// the owner named by the pagemap tag. The tiered front without its small
// tier, so the conformance suite runs both tiers whole (configuration
// `buddy_large`, for tests).
#ifndef XSMEM_ALLOCATORS_TIERED_PAIR_H_
#define XSMEM_ALLOCATORS_TIERED_PAIR_H_

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

// Returns the process's pair front named name over buddy (a buddy
// allocator) and large (a large allocator), built on the first call; later
// calls return it. NULL (errno ENOMEM) when a part is missing. Never mallocs.
xsmem_allocator *xsmem_tiered_pair_build(const char *name, xsmem_allocator *buddy, xsmem_allocator *large);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_TIERED_PAIR_H_
