// numa/numa_tiered.h: the tiered front with per-node memory (configuration
// `numa`): a thread gets its memory from its own node.
//
// Model: the same routing by size as allocators/tiered (small <=
// XSMEM_SMALL_MAX, medium below XSMEM_LARGE_MIN, large above; owners found
// through the pagemap), with every tier split by node:
//   small   tls_buckets with per-node size classes (as TCMalloc's NUMA mode):
//           slot = node * classes + class; node n's segments are mapped from
//           node n's bound source; a thread's malloc adds its node base
//           (xsmem_tls_malloc_node), refreshed from getcpu on the slow path;
//           free reads the slot from the segment header, so a block goes back
//           to its node's lists whichever thread frees it.
//   medium  a node_router of one buddy per node over the node-bound spans of
//           one reserved space (the small tier's segments come from the same
//           spans, so a node's bytes_mapped covers both).
//   large   a node_router of one large allocator per node (its own space).
// When a node's source refuses (XSMEM_NUMA_NODE_LIMIT, or the kernel) and
// XSMEM_NUMA_FALLBACK is on, the nearest other node serves (small: the
// segment is mapped there but stays in the requesting node's slots); each such
// request counts as a cross-node fallback out of one node and into another.
// XSMEM_NUMA=interleave serves everything from interleaved memory;
// XSMEM_NUMA_INTERLEAVE_MIN sends medium and large requests of at least that
// size to interleaved memory. XSMEM_NUMA=off, or a machine with one node:
// one node, no binding, the same tiers as `default` plus the routing.
// Statistics: the sums of the tiers; detail() adds group "node" (labels
// "0".."N-1", and "interleave" when used) with bytes_in_use, num_allocs,
// num_frees (all tiers), small_/medium_/large_bytes_in_use, bytes_mapped,
// fallbacks_out, fallbacks_in, refused, bind_failures, and the small tier's
// own detail (classes labelled "size.nodeN").
// The small tier is one per process: a process that also builds `default`
// shares whichever tier was built first (correct, but then not per node).
#ifndef XSMEM_NUMA_NUMA_TIERED_H_
#define XSMEM_NUMA_NUMA_TIERED_H_

#include <stdint.h>

#include "allocators/allocator.h"
#include "allocators/tls_buckets/tls_buckets.h"
#include "numa/node_router.h"

#ifdef __cplusplus
extern "C" {
#endif

// Returns the process's numa front named name over its parts (built by
// allocators/configs/numa.c): medium and large, node routers of one buddy
// and one large allocator per node (initialised, over one numa space), and
// the small tier's options (the front gives the tier its per-node sources).
// Built on the first call; later calls return it. NULL (errno) when it
// cannot be built; a later call tries again. Never calls malloc.
xsmem_allocator *xsmem_numa_tiered_build(const char *name, xsmem_node_router *medium, xsmem_node_router *large,
                                         const xsmem_tls_options *small, bool fallback);

// The tiers of the front (medium and large are its node routers).
xsmem_allocator *xsmem_numa_tiered_small(const xsmem_allocator *a);
xsmem_allocator *xsmem_numa_tiered_medium(const xsmem_allocator *a);
xsmem_allocator *xsmem_numa_tiered_large(const xsmem_allocator *a);

// Returns the nodes the front places memory on (1: one node, or off).
int xsmem_numa_tiered_num_nodes(const xsmem_allocator *a);

typedef struct xsmem_numa_tiered_node_stats {
  uint64_t bytes_in_use, num_allocs, num_frees;  // all tiers
  uint64_t small_bytes_in_use, medium_bytes_in_use, large_bytes_in_use;
  uint64_t small_segments;  // 4 MiB segments of the node's size classes
  uint64_t bytes_mapped;    // from the node's sources (small + medium + large)
  uint64_t fallbacks_out;   // requests of this node served by another node
  uint64_t fallbacks_in;    // requests of other nodes served here
  uint64_t refused;         // maps the node's sources refused
  uint64_t bind_failures;
} xsmem_numa_tiered_node_stats;

// Fills *out for node (0 <= node < num_nodes). Returns false otherwise.
bool xsmem_numa_tiered_node_stats_get(const xsmem_allocator *a, int node, xsmem_numa_tiered_node_stats *out);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_NUMA_NUMA_TIERED_H_
