// numa/topology.h: NUMA nodes, the caller's node, the node of an address, and
// binding threads and ranges, with no malloc anywhere on these paths.
//
// Model: the topology is read once, on first use, from the raw system calls
// (get_mempolicy, getcpu) and /sys/devices/system/node with open/read, never
// through libnuma: libnuma calls malloc while it initialises, and a preloaded
// allocator that asked libnuma for the topology from inside malloc would
// recurse into itself (numa/libnuma_topology.h offers libnuma's view for code
// outside the allocation path). Nodes are numbered 0..num_nodes-1 as the kernel
// numbers them (num_nodes = highest online node + 1).
//
// Three kinds of topology:
//   real      the kernel supports NUMA and XSMEM_NUMA is not off: calls act
//   fallback  no kernel support (get_mempolicy gives ENOSYS or EPERM), no
//             /sys nodes, or XSMEM_NUMA=off: one node, node 0, and every
//             binding call is a cheap no-op that returns XSMEM_NUMA_NOOP
//   fake      installed by a test (xsmem_numa_fake_install) or by
//             XSMEM_NUMA_FAKE_NODES=N: N nodes, CPU c on node c % N, and every
//             binding is recorded instead of performed, so per-node logic is
//             testable on a one-node machine; node_of_address answers from the
//             records.
// A real machine with one node is "real" (binding to node 0 is performed) but
// xsmem_numa_num_nodes() is 1, which is all the allocators look at.
//
// The caller's node is cached per thread and refreshed every
// XSMEM_NUMA_REFRESH calls (a thread can migrate); a thread bound with
// xsmem_numa_bind_thread stays on its node and is never refreshed.
// Thread-safety: every function may be called from any thread.
#ifndef XSMEM_NUMA_TOPOLOGY_H_
#define XSMEM_NUMA_TOPOLOGY_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSMEM_NUMA_MAX_NODES 64
#define XSMEM_NUMA_MAX_CPUS 4096
#define XSMEM_NUMA_REFRESH 256  // calls between two looks at the caller's CPU

typedef enum xsmem_numa_kind {
  XSMEM_NUMA_KIND_FALLBACK = 0,
  XSMEM_NUMA_KIND_REAL = 1,
  XSMEM_NUMA_KIND_FAKE = 2,
} xsmem_numa_kind;

// XSMEM_NUMA: how allocators built on numa/ place memory.
typedef enum xsmem_numa_policy {
  XSMEM_NUMA_POLICY_OFF = 0,         // no binding at all (one node)
  XSMEM_NUMA_POLICY_LOCAL = 1,       // memory from the caller's node
  XSMEM_NUMA_POLICY_INTERLEAVE = 2,  // memory interleaved over every node
} xsmem_numa_policy;

// How a range is bound (XSMEM_NUMA_BIND).
typedef enum xsmem_numa_bind_mode {
  XSMEM_NUMA_BIND_STRICT = 0,      // MPOL_BIND: only that node; its exhaustion is a failure
  XSMEM_NUMA_BIND_PREFERRED = 1,   // MPOL_PREFERRED: that node first, others when it is full
  XSMEM_NUMA_BIND_INTERLEAVE = 2,  // MPOL_INTERLEAVE over every node
} xsmem_numa_bind_mode;

// Result of the binding calls: 0 done; XSMEM_NUMA_NOOP nothing to do (fallback
// topology, so nothing was asked of the kernel); XSMEM_NUMA_RECORDED (fake
// topology: recorded, not performed); negative errno on failure.
enum { XSMEM_NUMA_NOOP = 1, XSMEM_NUMA_RECORDED = 2 };

// Returns true when the kernel's NUMA calls work here (or a fake topology is
// installed); false in the fallback. A one-node machine with a NUMA kernel is
// available (as libnuma's numa_available() says), with one node.
bool xsmem_numa_available(void);

// Returns the kind of topology in force.
xsmem_numa_kind xsmem_numa_topology_kind(void);

// Returns the number of nodes (>= 1).
int xsmem_numa_num_nodes(void);

// Returns the node of CPU cpu (0 when unknown).
int xsmem_numa_node_of_cpu(int cpu);

// Returns the number of CPUs on node (0 for a node without CPUs).
int xsmem_numa_node_cpu_count(int node);

// Returns the kernel's distance between nodes a and b (10 = local; 0 unknown).
int xsmem_numa_distance(int a, int b);

// Returns the nodes other than `node` ordered nearest first, in out[0..n-1]
// (n = num_nodes - 1). Used for fallback order.
int xsmem_numa_nodes_by_distance(int node, int *out, int cap);

// Returns the policy chosen by XSMEM_NUMA (off when the topology is fallback).
xsmem_numa_policy xsmem_numa_policy_get(void);

// Returns the bind mode chosen by XSMEM_NUMA_BIND (strict or preferred).
xsmem_numa_bind_mode xsmem_numa_bind_mode_get(void);

// Returns the node the calling thread runs on (cached; see the model).
int xsmem_numa_current_node(void);

// Returns the caller's node looked up now (as when the cache runs out: a
// bound or fake-placed thread keeps its node), and restarts the cache. For
// slow paths that should follow a migrated thread at once (a small tier's refill).
int xsmem_numa_current_node_refresh(void);

// Returns the node of the CPU the thread runs on right now (no cache).
int xsmem_numa_current_node_uncached(void);

// Returns the node holding the page at p, or -1 when the page is not resident
// (or, on a fake topology, when no recorded binding covers p). Never faults
// the page in through move_pages; where move_pages is refused it asks
// get_mempolicy, which does fault it in.
int xsmem_numa_node_of_address(const void *p);

// Runs the calling thread on the CPUs of node only and makes its own page
// allocations prefer node; the cached current node becomes node.
// Returns 0, XSMEM_NUMA_NOOP, XSMEM_NUMA_RECORDED, or -errno (-EINVAL: bad node).
int xsmem_numa_bind_thread(int node);

// Binds [p, p+len) to node with mode (before first touch, so the pages are
// placed there when touched). REQUIRES: p page-aligned. Returns as above.
int xsmem_numa_bind_range(void *p, size_t len, int node, xsmem_numa_bind_mode mode);

// Interleaves [p, p+len) over every node. Returns as above.
int xsmem_numa_interleave_range(void *p, size_t len);

// Moves the resident pages of [p, p+len) to node (move_pages, in batches).
// *on_node (optional) receives how many resident pages are on node afterwards.
// Returns 0, XSMEM_NUMA_NOOP (fallback: nothing moves), XSMEM_NUMA_RECORDED,
// or -errno.
int xsmem_numa_move_range(void *p, size_t len, int node, size_t *on_node);

// Returns a one-line description ("real: 2 nodes, policy local, bind strict")
// written into buf (no allocation).
const char *xsmem_numa_describe(char *buf, size_t cap);

// ---------------------------------------------------------------------------
// Fake topologies (tests). Installing replaces whatever topology was in force;
// removing brings the real one back. Not meant to race with allocations.

typedef struct xsmem_numa_record {
  uintptr_t addr;
  size_t len;
  int node;  // -1 for interleave
  int mode;  // xsmem_numa_bind_mode
} xsmem_numa_record;

// Installs a fake topology of nodes nodes (1..XSMEM_NUMA_MAX_NODES) and
// clears the records. Returns false on a bad count.
bool xsmem_numa_fake_install(int nodes);

// Removes the fake topology (the real or fallback one is back).
void xsmem_numa_fake_remove(void);

// Makes the calling thread appear to run on node (fake topology only; the
// same as xsmem_numa_bind_thread there). -1 returns to CPU % nodes.
void xsmem_numa_fake_set_thread_node(int node);

// Copies up to cap binding records, oldest first; returns how many exist.
size_t xsmem_numa_fake_records(xsmem_numa_record *out, size_t cap);

// Forgets the records.
void xsmem_numa_fake_clear_records(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_NUMA_TOPOLOGY_H_
