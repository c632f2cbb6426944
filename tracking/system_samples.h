// tracking/system_samples.h: glibc with a home beside it for the tracker's
// sampled blocks (configuration system_tracked, in sample mode).
//
// The home is a buddy tier for blocks up to 16 MiB and a large tier above
// it, both over os_vm and tagged in the pagemap. glibc's memory carries no
// tag, so the malloc shim (allocators/shim/system_tracked.h) frees a pointer
// whose chunk has no tag straight into glibc and sends only tagged ones, the
// sampled blocks, to the tracker: the free fast path reads one pagemap byte
// instead of the tracker's counting filter. The tracker wraps `inner`, glibc
// plus the home, so its free, usable_size and realloc know both, and
// allocates sampled blocks from `home` (xsmem_tracker_options.sample_home).
#ifndef XSMEM_TRACKING_SYSTEM_SAMPLES_H_
#define XSMEM_TRACKING_SYSTEM_SAMPLES_H_

#include <stdbool.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

// Builds the home beside system (the system allocator) and sets *inner (for
// the tracker to wrap) and *home (its sample_home, holding every size).
// Returns false when the home cannot be made (an address-space limit):
// sampled blocks then stay in glibc. Once per process; never mallocs.
bool xsmem_system_samples_build(xsmem_allocator *system, xsmem_allocator **inner, xsmem_allocator **home);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_TRACKING_SYSTEM_SAMPLES_H_
