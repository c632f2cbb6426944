// Configuration `os_tracked`: the checked os configuration under the tracker.
#include "allocators/registry.h"
#include "tracking/tracker.h"

extern const xsmem_config xsmem_config_os;

static xsmem_allocator *build(void) {
  xsmem_tracker_options o;
  xsmem_tracker_options_from_env(&o);
  return xsmem_tracker_over(xsmem_config_instance(&xsmem_config_os), &o, "os_tracked");
}

XSMEM_CONFIG(os_tracked, "every block its own os_vm mapping, under the tracker", build);
