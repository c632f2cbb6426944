// Configuration `default_tracked`: the default general-purpose malloc under
// the tracker (XSMEM_TRACK=off|sample|full picks what is recorded at run
// time); what `xsmem run --config default --track sample|full` preloads.
#include "allocators/default/default.h"
#include "allocators/registry.h"
#include "tracking/tracker.h"

static xsmem_allocator *volatile g_instance;

static xsmem_allocator *instance(void) {
  return xsmem_tracker_once(&g_instance, xsmem_default_allocator, "default_tracked");
}

const xsmem_config xsmem_config_default_tracked = {
    .name = "default_tracked",
    .summary = "the default malloc (tls_buckets + buddy + large) under the tracker (leaks, call sites, sampling)",
    .options = "XSMEM_SMALL_MAX XSMEM_TLS_CACHE_BYTES XSMEM_DECOMMIT_DELAY_MS XSMEM_BUDDY_REGION XSMEM_LARGE_MIN "
               "XSMEM_LARGE_CACHE XSMEM_HUGE_PAGES XSMEM_TRACK XSMEM_TRACK_SAMPLE_BYTES XSMEM_TRACK_DEPTH "
               "XSMEM_LEAK_REPORT XSMEM_QUARANTINE_BYTES XSMEM_GUARD_SAMPLE_RATE XSMEM_GUARD_SLOTS",
    .instance = instance,
};
XSMEM_REGISTER_CONFIG(xsmem_config_default_tracked);
