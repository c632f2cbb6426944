// Configuration `numa`: the default configuration with per-node memory. Small
// requests use per-node size classes (a thread allocates from its node's
// segments), medium and large ones a buddy / large allocator per node; an
// exhausted node falls back to the nearest other one (XSMEM_NUMA_FALLBACK).
#include "allocators/registry.h"
#include "numa/numa_default.h"

const xsmem_config xsmem_config_numa = {
    .name = "numa",
    .summary = "default (tls_buckets + buddy + large) with per-node memory: per-node size classes, a buddy and "
               "a large allocator per node, nearest-node fallback",
    .options = "XSMEM_NUMA XSMEM_NUMA_BIND XSMEM_NUMA_FALLBACK XSMEM_NUMA_NODE_LIMIT XSMEM_NUMA_INTERLEAVE_MIN "
               "XSMEM_NUMA_SPAN XSMEM_SMALL_MAX XSMEM_TLS_CACHE_BYTES XSMEM_TLS_SPARE_BYTES XSMEM_TLS_TOTAL_BYTES "
               "XSMEM_DECOMMIT_DELAY_MS XSMEM_BUDDY_REGION "
               "XSMEM_LARGE_MIN XSMEM_LARGE_CACHE XSMEM_HUGE_PAGES",
    .instance = xsmem_numa_default_allocator,
};
XSMEM_REGISTER_CONFIG(xsmem_config_numa);
