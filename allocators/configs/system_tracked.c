// Configuration `system_tracked`: glibc's malloc under the tracker decorator
// (XSMEM_TRACK=off|sample|full picks what is recorded at run time). In sample
// mode sampled blocks live in a home beside glibc's heap
// (tracking/system_samples.h), so the shim (allocators/shim/system_tracked.h)
// frees every untagged block straight into glibc.
#include <stdint.h>

#include "allocators/registry.h"
#include "allocators/shim/system_tracked.h"
#include "allocators/system/system.h"
#include "platform/pagemap.h"
#include "tracking/system_samples.h"
#include "tracking/tracker.h"

// Read by the shim's free: every free goes to the tracker until build()
// finds it may go to glibc.
xsmem_system_tracked_route xsmem_system_tracked_route_ = {.inline_tag = 0xFF, .inline_free = false};

static xsmem_allocator *build(void) {
  xsmem_allocator *inner = xsmem_system_allocator(), *home = NULL;
  xsmem_tracker_options o;
  xsmem_tracker_options_from_env(&o);
  // Only sample mode records blocks the shim's inline free must not take,
  // and needs the home; every other mode keeps glibc itself inside.
  if (o.mode == XSMEM_TRACK_SAMPLE && xsmem_system_samples_build(inner, &inner, &home)) {
    o.sample_home = home;
    o.sample_home_max = SIZE_MAX;  // every sampled block: one left in glibc would be freed inline
  }
  xsmem_allocator *a = xsmem_tracker_over(inner, &o, "system_tracked");
  // Off (guarded sampling or not), or sample mode with every sampled block
  // tagged: an untagged block is never one the tracker must see (guarded
  // blocks are tagged XSMEM_TAG_GUARD).
  if (!xsmem_is_tracker(a) ||
      (((const xsmem_tracker_view *)a)->fast_sample && (home || xsmem_tracker_mode(a) == XSMEM_TRACK_OFF))) {
    __atomic_store_n(&xsmem_system_tracked_route_.inline_tag, (uint8_t)XSMEM_TAG_NONE, __ATOMIC_RELAXED);
    __atomic_store_n(&xsmem_system_tracked_route_.inline_free, true, __ATOMIC_RELAXED);
  }
  return a;
}

XSMEM_CONFIG(system_tracked, "glibc malloc under the tracker (leaks, call sites, sampling, corruption checks)", build);
