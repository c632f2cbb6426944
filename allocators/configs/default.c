// Configuration `default`: the general-purpose malloc. Small requests go to
// thread-cached size classes (tls_buckets), medium ones to buddy, the biggest
// to direct mappings (large); free finds the owner through the pagemap.
#include "allocators/default/default.h"
#include "allocators/registry.h"

const xsmem_config xsmem_config_default = {
    .name = "default",
    .summary = "tls_buckets (small) + buddy (medium) + large, over os_vm: the general-purpose malloc",
    .options = "XSMEM_SMALL_MAX XSMEM_TLS_CACHE_BYTES XSMEM_TLS_SPARE_BYTES XSMEM_TLS_TOTAL_BYTES "
               "XSMEM_DECOMMIT_DELAY_MS XSMEM_BUDDY_REGION XSMEM_LARGE_MIN "
               "XSMEM_LARGE_CACHE XSMEM_HUGE_PAGES XSMEM_BUDDY_THP",
    .instance = xsmem_default_allocator,
};
XSMEM_REGISTER_CONFIG(xsmem_config_default);
