// numa/numa_source.h: page sources whose regions are bound to a NUMA node
// (or interleaved over all nodes) before anything touches them.
//
// Model: a *space* is one reservation of address space (PROT_NONE, no memory
// behind it) cut into equal, power-of-two *spans*: span i belongs to node i,
// and the last one to the interleaved source. Each span is carved by its own
// xsmem_source:
//   map     takes the first free extent that fits (extents are kept sorted by
//           address and merged), else bumps the span's frontier; commits the
//           range (mprotect), binds it to the node (MPOL_BIND, or
//           MPOL_PREFERRED when XSMEM_NUMA_BIND=preferred; MPOL_INTERLEAVE for
//           the interleaved span), and only then hands it out, so the first
//           touch faults the pages in on the right node.
//   unmap   gives the pages back (MADV_DONTNEED), makes the range
//           inaccessible again and returns it to the free extents.
// Because every region of node i lies in span i, the node (slot) that owns a
// pointer is one subtraction and one shift (xsmem_numa_space_slot_of): the
// per-node router frees without a lookup.
//
// Overflow: when a span has no room (or there is no reservation: under an
// address-space limit the space takes at most an eighth of it, and no span
// shorter than 64 MiB is reserved), map gives a region of its own from os_vm,
// bound the same way; xsmem_numa_space_slot_of says -1 for it, so whoever
// must find its owner asks the allocators over the sources (the node router
// does), and unmap gives it back to the OS.
//
// Binding happens only where it means something: on a real topology with
// more than one node, or on a fake one (where it is recorded). On one node,
// or with XSMEM_NUMA=off, the sources are plain page sources (no system call
// beyond mmap/mprotect/madvise). A node limit makes a source refuse (ENOMEM)
// once it has that many bytes mapped: the node counts as exhausted.
//
// Thread-safety: each source has its own spinlock around its extent list
// (map and unmap are the rare path of the allocators above). Nothing here
// calls malloc; the space lives wherever its caller puts it (static storage
// in the configurations).
#ifndef XSMEM_NUMA_NUMA_SOURCE_H_
#define XSMEM_NUMA_NUMA_SOURCE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/allocator.h"
#include "numa/topology.h"
#include "platform/atomics.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSMEM_NUMA_SOURCE_EXTENTS 128  // free extents a source remembers

typedef struct xsmem_numa_extent {
  uintptr_t start;
  size_t len;
} xsmem_numa_extent;

typedef struct xsmem_numa_source_stats {
  uint64_t bytes_mapped;  // handed out and not given back
  uint64_t peak_mapped;
  uint64_t num_maps, num_unmaps;
  uint64_t num_refused;     // maps refused: the node limit or the span is exhausted
  uint64_t num_binds;       // bindings performed or recorded
  uint64_t bind_failures;   // bindings the kernel refused (memory kept, unbound)
  uint64_t bytes_lost;      // address space no longer reusable (extent list full)
  uint64_t overflow_maps;   // regions mapped outside the span (it was full, or there is none)
  uint64_t overflow_bytes;  // of bytes_mapped, those outside the span
} xsmem_numa_source_stats;

typedef struct xsmem_numa_source {
  xsmem_source base;
  int node;   // -1: the interleaved source
  bool bind;  // binding is performed (or recorded)
  xsmem_numa_bind_mode mode;
  size_t limit;  // bytes_mapped at most (0: none)
  uintptr_t lo, hi;
  xsmem_spinlock lock;
  uintptr_t bump;  // everything from here to hi is unused
  int num_extents;
  xsmem_numa_extent extents[XSMEM_NUMA_SOURCE_EXTENTS];
  xsmem_numa_source_stats stats;
  char name[24];
} xsmem_numa_source;

typedef struct xsmem_numa_space_options {
  int num_nodes;              // 0: xsmem_numa_num_nodes() (1 when the policy is off)
  size_t span;                // address space per span (0: XSMEM_NUMA_SPAN); shrunk to a limit, halved until it fits
  size_t node_limit;          // per source (0: none)
  xsmem_numa_bind_mode mode;  // strict or preferred
  bool bind;                  // false: never bind (XSMEM_NUMA=off)
} xsmem_numa_space_options;

typedef struct xsmem_numa_space xsmem_numa_space;

// A source that maps from the calling thread's node (and, when that node's
// source refuses and fallback is on, from the nearest other node that
// accepts); unmap goes to whichever node's span the region lies in. For
// fronts that take one source but should place fresh memory near the thread
// that asks (a thread-cached small tier's segments, say).
typedef struct xsmem_numa_local_source {
  xsmem_source base;
  xsmem_numa_space *space;
  bool fallback;
  uint64_t fallbacks;  // maps served by another node than the caller's
} xsmem_numa_local_source;

struct xsmem_numa_space {
  uintptr_t base;
  size_t span;
  int span_shift;
  int num_nodes;    // node spans 0..num_nodes-1; the interleaved span is num_nodes
  size_t reserved;  // bytes of the reservation
  xsmem_numa_source sources[XSMEM_NUMA_MAX_NODES + 1];
  xsmem_numa_local_source local;
};

// Returns the options from XSMEM_NUMA, XSMEM_NUMA_BIND, XSMEM_NUMA_NODE_LIMIT
// and XSMEM_NUMA_SPAN.
xsmem_numa_space_options xsmem_numa_space_options_from_env(void);

// Reserves the space and sets up its sources. The span is options->span
// (XSMEM_NUMA_SPAN), shrunk to the address-space limit's share and halved
// until the reservation succeeds; when no span of 64 MiB fits, the space has
// no reservation and its sources map every region outside it (overflow).
// Returns false with errno EINVAL for a bad node count. REQUIRES: sp is
// zeroed or released.
bool xsmem_numa_space_init(xsmem_numa_space *sp, const xsmem_numa_space_options *options);

// Returns the source of node (0 <= node < num_nodes).
XSMEM_INLINE xsmem_source *xsmem_numa_space_node_source(xsmem_numa_space *sp, int node) {
  return &sp->sources[node].base;
}

// Returns the interleaved source (its regions are spread over every node).
XSMEM_INLINE xsmem_source *xsmem_numa_space_interleaved_source(xsmem_numa_space *sp) {
  return &sp->sources[sp->num_nodes].base;
}

// Returns the caller's-node source of the space (see xsmem_numa_local_source);
// fallback says whether a refused map tries the other nodes, nearest first.
xsmem_source *xsmem_numa_space_local_source(xsmem_numa_space *sp, bool fallback);

// Returns the slot owning p: a node (0..num_nodes-1), num_nodes for the
// interleaved span, or -1 when p is outside the space (a foreign pointer, or
// a region that overflowed its span). Cost: a subtract, a shift, a compare.
XSMEM_INLINE int xsmem_numa_space_slot_of(const xsmem_numa_space *sp, const void *p) {
  uintptr_t off = (uintptr_t)p - sp->base;  // wraps for p < base: then too big
  uintptr_t slot = off >> sp->span_shift;
  return slot <= (uintptr_t)sp->num_nodes ? (int)slot : -1;
}

// Copies the counters of slot's source into *out.
void xsmem_numa_source_stats_get(xsmem_numa_space *sp, int slot, xsmem_numa_source_stats *out);

// Takes (PREPARE) or releases (PARENT, CHILD) every source lock around fork.
void xsmem_numa_space_fork(xsmem_numa_space *sp, int phase);

// Returns the reservation to the OS. Every region must have been unmapped.
void xsmem_numa_space_release(xsmem_numa_space *sp);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_NUMA_NUMA_SOURCE_H_
