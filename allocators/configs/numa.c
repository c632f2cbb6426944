// Configuration `numa`: the default configuration with per-node memory. Small
// requests use per-node size classes (a thread allocates from its node's
// segments), medium and large ones a buddy / large allocator per node, each
// a node router over node-bound spans; an exhausted node falls back to the
// nearest other one (XSMEM_NUMA_FALLBACK).
#include <errno.h>

#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"
#include "allocators/registry.h"
#include "allocators/tls_buckets/tls_buckets.h"
#include "numa/node_router.h"
#include "numa/numa_tiered.h"

static xsmem_node_router g_medium, g_large;  // static storage: nothing here mallocs
static xsmem_buddy_options g_buddy;
static xsmem_large_options g_large_opts;

static xsmem_allocator *buddy_for_node(void *ctx, int node, xsmem_source *source, const char *name) {
  return xsmem_buddy_create(name, source, &g_buddy);
}

static xsmem_allocator *large_for_node(void *ctx, int node, xsmem_source *source, const char *name) {
  return xsmem_large_create(name, source, &g_large_opts);
}

static xsmem_allocator *build(void) {
  g_buddy = xsmem_buddy_options_from_env();
  g_large_opts = xsmem_large_options_from_env();
  xsmem_node_router_options o = xsmem_node_router_options_from_env();
  // A node limit counts what the node's source maps, and a buddy region is
  // mapped whole: a region of at most a quarter of the limit leaves the
  // medium tier room (a 1 GiB region under a 64 MiB limit refused it all).
  size_t limit = o.space.node_limit;
  while (limit && g_buddy.region_size > ((size_t)4 << 20) && g_buddy.region_size > limit / 4) g_buddy.region_size /= 2;
  if (!xsmem_node_router_init(&g_medium, "numa.medium", &o, buddy_for_node, NULL)) return NULL;
  if (!xsmem_node_router_init(&g_large, "numa.large", &o, large_for_node, NULL)) {
    int err = errno;
    g_medium.base.ops->destroy(&g_medium.base);  // tried again whole on the next call
    errno = err;
    return NULL;
  }
  xsmem_tls_options small;
  xsmem_tls_options_from_env(&small);
  return xsmem_numa_tiered_build("numa", &g_medium, &g_large, &small, o.fallback);
}

XSMEM_CONFIG(numa,
             "default (tls_buckets + buddy + large) with per-node memory: per-node size classes, a buddy and a large "
             "allocator per node, nearest-node fallback",
             build);
