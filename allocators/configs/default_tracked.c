// Configuration `default_tracked`: the default configuration under the
// tracker (XSMEM_TRACK=off|sample|full picks what is recorded at run time);
// what `xsmem run --config default --track sample|full` preloads. Sampled
// blocks are placed in default's buddy tier, so the shim
// (allocators/shim/default_tracked.h) frees small-tier blocks inline.
#include "allocators/buddy/buddy.h"
#include "allocators/registry.h"
#include "allocators/tiered/tiered.h"
#include "platform/pagemap.h"
#include "tracking/tracker.h"

extern const xsmem_config xsmem_config_default;

// Read by the shim's free: blocks with this tag skip the tracker.
uint8_t xsmem_default_tracked_inline_tag = 0xFF;

static xsmem_allocator *build(void) {
  xsmem_allocator *inner = xsmem_config_instance(&xsmem_config_default);
  if (!inner) return NULL;
  xsmem_tracker_options o;
  xsmem_tracker_options_from_env(&o);
  o.sample_home = xsmem_tiered_medium(inner);
  o.sample_home_max = o.sample_home ? xsmem_buddy_max_size(o.sample_home) : 0;
  xsmem_allocator *a = xsmem_tracker_over(inner, &o, "default_tracked");
  // Off or sample mode: a small-tier block is never one the tracker recorded.
  if (xsmem_tracker_mode(a) != XSMEM_TRACK_FULL) {
    __atomic_store_n(&xsmem_default_tracked_inline_tag, (uint8_t)XSMEM_TAG_SMALL, __ATOMIC_RELAXED);
  }
  return a;
}

XSMEM_CONFIG(default_tracked,
             "the default malloc (tls_buckets + buddy + large) under the tracker (leaks, call sites, sampling)", build);
