// Configuration `bfc_tracked`: the bfc configuration under the tracker
// (XSMEM_TRACK=off|sample|full picks what is recorded at run time).
#include "allocators/registry.h"
#include "tracking/tracker.h"

extern const xsmem_config xsmem_config_bfc;

static xsmem_allocator *build(void) {
  xsmem_tracker_options o;
  xsmem_tracker_options_from_env(&o);
  return xsmem_tracker_over(xsmem_config_instance(&xsmem_config_bfc), &o, "bfc_tracked");
}

XSMEM_CONFIG(bfc_tracked,
             "best-fit with coalescing (TensorFlow's BFC) under the tracker (leaks, call sites, sampling, checks)",
             build);
