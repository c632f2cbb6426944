// Configuration `default_tracked`: the default general-purpose malloc under
// the tracker (XSMEM_TRACK=off|sample|full picks what is recorded at run
// time); what `xsmem run --config default --track sample|full` preloads.
// Sampled blocks are placed in the buddy tier, so the shim
// (tracking/default_tracked_shim.h) frees small-tier blocks inline.
#include "allocators/buddy/buddy.h"
#include "allocators/default/default.h"
#include "allocators/registry.h"
#include "platform/pagemap.h"
#include "tracking/tracker.h"

static xsmem_allocator *volatile g_instance;

// Read by the shim's free: blocks with this tag skip the tracker.
uint8_t xsmem_default_tracked_inline_tag = 0xFF;

static void place_samples(xsmem_tracker_options *o) {
  o->sample_home = xsmem_default_medium();
  o->sample_home_max = o->sample_home ? xsmem_buddy_max_size(o->sample_home) : 0;
}

static xsmem_allocator *instance(void) {
  xsmem_allocator *a = xsmem_tracker_once_with(&g_instance, xsmem_default_allocator, place_samples, "default_tracked");
  // Off or sample mode: a small-tier block is never one the tracker recorded.
  if (a && xsmem_tracker_mode(a) != XSMEM_TRACK_FULL) {
    __atomic_store_n(&xsmem_default_tracked_inline_tag, (uint8_t)XSMEM_TAG_SMALL, __ATOMIC_RELAXED);
  }
  return a;
}

const xsmem_config xsmem_config_default_tracked = {
    .name = "default_tracked",
    .summary = "the default malloc (tls_buckets + buddy + large) under the tracker (leaks, call sites, sampling)",
    .options = "XSMEM_SMALL_MAX XSMEM_TLS_CACHE_BYTES XSMEM_TLS_SPARE_BYTES XSMEM_TLS_TOTAL_BYTES "
               "XSMEM_DECOMMIT_DELAY_MS XSMEM_BUDDY_REGION XSMEM_LARGE_MIN "
               "XSMEM_LARGE_CACHE XSMEM_HUGE_PAGES " XSMEM_TRACKER_OPTIONS,
    .instance = instance,
};
XSMEM_REGISTER_CONFIG(xsmem_config_default_tracked);
