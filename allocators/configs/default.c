// Configuration `default`: the general-purpose malloc. Small requests go to
// thread-cached size classes (tls_buckets), medium ones to buddy, the biggest
// to direct mappings (large), all over os_vm; free finds the owner through
// the pagemap.
#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"
#include "allocators/registry.h"
#include "allocators/tiered/tiered.h"
#include "allocators/tls_buckets/tls_buckets.h"

static xsmem_allocator *build(void) {
  // Parts a failed attempt made are kept for the next (an address-space
  // limit may refuse one): built once each.
  static xsmem_allocator *small, *medium, *large;
  xsmem_source *os = xsmem_os_source();
  if (!small) {
    xsmem_tls_options o;
    xsmem_tls_options_from_env(&o);
    small = xsmem_tls_buckets(os, &o);
  }
  if (!medium) {
    xsmem_buddy_options o = xsmem_buddy_options_from_env();
    medium = xsmem_buddy_create("buddy", os, &o);  // NULL: medium requests go to large
  }
  if (!large) {
    xsmem_large_options o = xsmem_large_options_from_env();
    large = xsmem_large_create("large", NULL, &o);  // os_vm directly: mremap
  }
  return xsmem_tiered_build("default", small, medium, large);
}

XSMEM_CONFIG(default, "tls_buckets (small) + buddy (medium) + large, over os_vm: the general-purpose malloc", build);
