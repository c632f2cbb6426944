// Configuration `buddy_large` (for tests): the buddy tier for everything
// below XSMEM_LARGE_MIN, the large tier from there up, over os_vm. It runs
// both tiers under the conformance suite; the shipping composition with the
// small tier in front is `default`.
#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"
#include "allocators/registry.h"
#include "allocators/tiered/pair.h"

static xsmem_allocator *build(void) {
  static xsmem_allocator *buddy, *large;  // kept when a later part fails
  if (!buddy) {
    xsmem_buddy_options o = xsmem_buddy_options_from_env();
    buddy = xsmem_buddy_create("buddy", xsmem_os_source(), &o);
  }
  if (!large) {
    xsmem_large_options o = xsmem_large_options_from_env();
    large = xsmem_large_create("large", NULL, &o);
  }
  return xsmem_tiered_pair_build("buddy_large", buddy, large);
}

XSMEM_CONFIG(buddy_large, "test composition: buddy tier below XSMEM_LARGE_MIN, direct mappings above (no small tier)",
             build);
