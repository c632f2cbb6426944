// numa/libnuma_topology.h: the topology as libnuma sees it, for code outside
// any allocator's paths (tools, benchmarks, tests, start-up checks).
//
// numa/topology.h never calls libnuma: libnuma mallocs while it initialises,
// so a preloaded allocator that reached it from malloc would recurse. Programs
// that already use libnuma can ask it through this library and compare its
// view with the allocator's (xsmem_numa_libnuma_compare): the two must agree
// on availability, the node count, every CPU's node and every distance.
// Links libnuma (//third_party/numa). Not for use inside malloc.
#ifndef XSMEM_NUMA_LIBNUMA_TOPOLOGY_H_
#define XSMEM_NUMA_LIBNUMA_TOPOLOGY_H_

#include <stdbool.h>
#include <stddef.h>

#include "numa/topology.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_numa_libnuma_view {
  bool available;                       // numa_available() >= 0
  int num_nodes;                        // numa_max_node() + 1
  int num_cpus;                         // numa_num_configured_cpus(), capped at XSMEM_NUMA_MAX_CPUS
  short cpu_node[XSMEM_NUMA_MAX_CPUS];  // numa_node_of_cpu (-1: unknown)
  unsigned char distance[XSMEM_NUMA_MAX_NODES][XSMEM_NUMA_MAX_NODES];  // numa_distance
} xsmem_numa_libnuma_view;

// Fills *out from libnuma. Returns out->available.
bool xsmem_numa_libnuma_view_get(xsmem_numa_libnuma_view *out);

// Returns the number of disagreements between libnuma's view and
// numa/topology's (availability, node count, CPU nodes, distances); the first
// one is described in buf. A fake topology always disagrees: compare only the
// real one.
int xsmem_numa_libnuma_compare(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_NUMA_LIBNUMA_TOPOLOGY_H_
