// Configuration `os_tracked`: the checked os allocator under the tracker.
#include "allocators/os/os_alloc.h"
#include "allocators/registry.h"
#include "tracking/tracker.h"

static xsmem_allocator *volatile g_instance;

static xsmem_allocator *instance(void) {
  return xsmem_tracker_once(&g_instance, xsmem_os_allocator, "os_tracked");
}

const xsmem_config xsmem_config_os_tracked = {
    .name = "os_tracked",
    .summary = "every block its own os_vm mapping, under the tracker",
    .options = "XSMEM_HUGE_PAGES " XSMEM_TRACKER_OPTIONS,
    .instance = instance,
};
XSMEM_REGISTER_CONFIG(xsmem_config_os_tracked);
