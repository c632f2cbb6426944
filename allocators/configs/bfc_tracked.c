// Configuration `bfc_tracked`: the BFC allocator under the tracker
// (XSMEM_TRACK=off|sample|full picks what is recorded at run time).
#include "allocators/bfc/bfc.h"
#include "allocators/registry.h"
#include "tracking/tracker.h"

static xsmem_allocator *volatile g_instance;

static xsmem_allocator *instance(void) {
  return xsmem_tracker_once(&g_instance, xsmem_bfc_default, "bfc_tracked");
}

const xsmem_config xsmem_config_bfc_tracked = {
    .name = "bfc_tracked",
    .summary = "best-fit with coalescing (TensorFlow's BFC) under the tracker (leaks, call sites, sampling, checks)",
    .options = "XSMEM_BFC_LIMIT_MB XSMEM_BFC_RESERVE_ALL XSMEM_BFC_GC XSMEM_BFC_INITIAL_REGION XSMEM_BFC_SPLIT_SLACK "
               "XSMEM_BFC_DUMP_ON_OOM " XSMEM_TRACKER_OPTIONS,
    .instance = instance,
};
XSMEM_REGISTER_CONFIG(xsmem_config_bfc_tracked);
