// Configuration `system_tracked`: glibc's malloc under the tracker decorator
// (XSMEM_TRACK=off|sample|full picks what is recorded at run time).
#include "allocators/registry.h"
#include "allocators/system/system.h"
#include "tracking/tracker.h"

static xsmem_allocator *volatile g_instance;

static xsmem_allocator *instance(void) {
  return xsmem_tracker_once(&g_instance, xsmem_system_allocator, "system_tracked");
}

const xsmem_config xsmem_config_system_tracked = {
    .name = "system_tracked",
    .summary = "glibc malloc under the tracker (leaks, call sites, sampling, corruption checks)",
    .options = "XSMEM_TRACK XSMEM_TRACK_SAMPLE_BYTES XSMEM_TRACK_DEPTH XSMEM_TRACK_UNWIND XSMEM_LEAK_REPORT "
               "XSMEM_QUARANTINE_BYTES XSMEM_GUARD_SAMPLE_RATE XSMEM_GUARD_SLOTS",
    .instance = instance,
};
XSMEM_REGISTER_CONFIG(xsmem_config_system_tracked);
