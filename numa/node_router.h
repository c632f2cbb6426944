// numa/node_router.h: one child allocator per NUMA node, each over its node's
// source, and a front that sends every request to the caller's node.
//
// Model: the router owns a space (numa/numa_source.h) and builds one child
// per node with a factory (a BFC per node for `bfc_numa`), plus, where the
// policy or XSMEM_NUMA_INTERLEAVE_MIN asks for it, one child over the
// interleaved source. Routing:
//   alloc   XSMEM_NUMA=local: the child of the caller's node (cached per
//           thread, xsmem_numa_current_node); requests of at least
//           interleave_min bytes go to the interleaved child.
//           XSMEM_NUMA=interleave: the interleaved child. XSMEM_NUMA=off (or a
//           fallback topology): one child, no binding.
//           When a node's child fails with ENOMEM (its node is exhausted, by
//           the node limit or by the kernel) and fallback is on, the other
//           nodes are tried nearest first; the request counts as a cross-node
//           fallback out of the caller's node and into the serving one.
//   free    the owner is the span the pointer lies in: one subtract and one
//           shift, no lookup, whichever thread frees. A pointer outside the
//           space is asked of each child (owns: a region that overflowed its
//           span, numa_source.h); one that no child owns is reported as foreign.
// Fast path cost over the child: the thread's cached node (a TLS decrement
// and load), one indexed load of the child, the child's call. No atomics, no
// locks: per-node bytes in use and allocations are the children's own
// counters; only fallbacks (a slow path) are counted by the router.
//
// Stats: the sum of the children's (peak_bytes_in_use is the sum of the
// children's peaks, an upper bound on the true peak). detail() reports group "node",
// labels "0".."N-1" and "interleave", keys bytes_in_use, num_allocs,
// num_frees, bytes_reserved, bytes_mapped, fallbacks_out, fallbacks_in,
// refused, bind_failures.
// Thread-safety: as the children; the router itself keeps no lock.
#ifndef XSMEM_NUMA_NODE_ROUTER_H_
#define XSMEM_NUMA_NODE_ROUTER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/allocator.h"
#include "numa/numa_source.h"
#include "numa/topology.h"

#ifdef __cplusplus
extern "C" {
#endif

// Builds the child of one slot over source. node is the node (-1: the
// interleaved child); name is stable storage ("bfc_numa.node1"). Returns NULL
// on failure (errno set). Must not call malloc.
typedef xsmem_allocator *(*xsmem_node_router_factory)(void *ctx, int node, xsmem_source *source, const char *name);

typedef struct xsmem_node_router xsmem_node_router;

typedef struct xsmem_node_router_options {
  xsmem_numa_policy policy;  // off, local or interleave
  bool fallback;             // serve from other nodes when the caller's is exhausted
  size_t interleave_min;     // local policy: requests this big go interleaved (0: never)
  xsmem_numa_space_options space;
  // Optional: called once a request has failed everywhere it could go (before
  // NULL is returned), e.g. to dump the children's memory maps.
  void (*on_failure)(void *ctx, xsmem_node_router *r, size_t size, size_t align);
  void *on_failure_ctx;
} xsmem_node_router_options;

typedef struct xsmem_node_router_node_stats {
  xsmem_stats child;  // the child's own stats (bytes in use, allocations, ...)
  xsmem_numa_source_stats source;
  uint64_t fallbacks_out;  // requests from this node served by another node
  uint64_t fallbacks_in;   // requests from other nodes served here
} xsmem_node_router_node_stats;

struct xsmem_node_router {
  xsmem_allocator base;
  int fixed_slot;  // >= 0: every request goes there (off, interleave); -1: caller's node
  int num_nodes;
  int interleave_slot;  // num_nodes when an interleaved child exists, else -1
  bool fallback;
  size_t interleave_min;  // SIZE_MAX when unused
  xsmem_allocator *child[XSMEM_NUMA_MAX_NODES + 1];
  int8_t order[XSMEM_NUMA_MAX_NODES][XSMEM_NUMA_MAX_NODES];  // fallback order per node
  uint64_t fallbacks_out[XSMEM_NUMA_MAX_NODES + 1];
  uint64_t fallbacks_in[XSMEM_NUMA_MAX_NODES + 1];
  uint64_t failures;
  void (*on_failure)(void *ctx, xsmem_node_router *r, size_t size, size_t align);
  void *on_failure_ctx;
  char names[XSMEM_NUMA_MAX_NODES + 1][40];
  xsmem_numa_space space;
};

// Returns the options from XSMEM_NUMA, XSMEM_NUMA_FALLBACK,
// XSMEM_NUMA_INTERLEAVE_MIN and the space's options.
xsmem_node_router_options xsmem_node_router_options_from_env(void);

// Builds the router in r (static storage or os_vm memory: it is large) named
// name, with one child per node from factory. Returns false with errno set
// when the space or a child cannot be built (what was built is released).
bool xsmem_node_router_init(xsmem_node_router *r, const char *name, const xsmem_node_router_options *options,
                            xsmem_node_router_factory factory, void *ctx);

XSMEM_INLINE xsmem_allocator *xsmem_node_router_allocator(xsmem_node_router *r) { return &r->base; }

// Returns the slot (node, or interleave_slot) that owns p; -1 when foreign.
XSMEM_INLINE int xsmem_node_router_owner(const xsmem_node_router *r, const void *p) {
  return xsmem_numa_space_slot_of(&r->space, p);
}

// Returns the child of a slot (NULL when the slot has none).
xsmem_allocator *xsmem_node_router_child(xsmem_node_router *r, int slot);

// Fills *out for slot (a node, or interleave_slot). Returns false for a slot
// without a child.
bool xsmem_node_router_node_stats_get(xsmem_node_router *r, int slot, xsmem_node_router_node_stats *out);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_NUMA_NODE_ROUTER_H_
