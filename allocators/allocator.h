// allocators/allocator.h: the one interface between xsmem's layers.
//
// Two small interfaces carry everything:
//   xsmem_source     hands out large aligned regions and takes them back
//                    (TensorFlow's SubAllocator, snmalloc's range). Implemented
//                    by the OS (xsmem_os_source), by NUMA-bound sources, and by
//                    any allocator through xsmem_source_from_allocator.
//   xsmem_allocator  alloc / free / usable_size / owns / realloc / stats / trim
//                    / fork / destroy. Every front (tls_buckets, bfc, pool,
//                    buddy, large) and every decorator (tracker) implements it.
// Implementations embed the struct first and keep one static const ops table,
// so a call through a known allocator devirtualizes.
//
// Contract of alloc: returns a block of at least `size` bytes aligned to
// `align` (a power of two >= 1; XSMEM_MIN_ALIGN is what malloc promises), or
// NULL with errno = ENOMEM (or EINVAL for a bad alignment). Size 0 is served
// as the smallest block. XSMEM_ALLOC_ZERO returns zeroed memory.
// Contract of free: p came from this allocator's alloc and is freed once; size
// is the requested size when the caller knows it, else 0. A pointer that
// breaks this is reported through xsmem_report_bad_pointer where the metadata
// can tell.
#ifndef XSMEM_ALLOCATORS_ALLOCATOR_H_
#define XSMEM_ALLOCATORS_ALLOCATOR_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_allocator xsmem_allocator;
typedef struct xsmem_source xsmem_source;

// ---------------------------------------------------------------------------
// Statistics: one X-macro list generates the struct, the text report, and the
// field names every exporter uses (JSON keys, Prometheus xsmem_<name>).
// X(type, name, kind, help): kind is counter (only grows) or gauge.

#define XSMEM_STAT_FIELDS(X)                                                                                        \
  X(uint64_t, num_allocs, counter, "Allocations served")                                                            \
  X(uint64_t, num_frees, counter, "Blocks freed")                                                                   \
  X(uint64_t, num_failed, counter, "Allocations that returned NULL")                                                \
  X(uint64_t, bytes_in_use, gauge, "Bytes handed out and not yet freed (granted sizes)")                            \
  X(uint64_t, peak_bytes_in_use, gauge, "Highest bytes_in_use seen")                                                \
  X(uint64_t, bytes_reserved, gauge, "Bytes obtained from the source or the OS")                                    \
  X(uint64_t, bytes_cached, gauge, "Free bytes held for reuse")                                                     \
  X(uint64_t, bytes_metadata, gauge, "Bytes of bookkeeping")                                                        \
  X(uint64_t, largest_alloc_size, gauge, "Largest single allocation served")                                        \
  X(uint64_t, bytes_limit, gauge, "Upper bound on bytes_reserved (0: none)")                                        \
  X(double, fragmentation, gauge, "Share of the data memory held that serves no block: cached / (in use + cached)") \
  X(uint64_t, bytes_committed, gauge,                                                                               \
    "Bytes of bytes_reserved backed by memory or ready to be (touched, not given back); 0: not tracked")

#define XSMEM_STATS_VERSION 2  // 2: bytes_committed

typedef struct xsmem_stats {
  uint32_t size;     // sizeof(xsmem_stats) as the producer knows it
  uint32_t version;  // XSMEM_STATS_VERSION
#define XSMEM_STAT_DECLARE(type, name, kind, help) type name;
  XSMEM_STAT_FIELDS(XSMEM_STAT_DECLARE)
#undef XSMEM_STAT_DECLARE
} xsmem_stats;

// Returns a zeroed stats struct with size and version set.
XSMEM_INLINE xsmem_stats xsmem_stats_init(void) {
  xsmem_stats s;
  __builtin_memset(&s, 0, sizeof(s));
  s.size = (uint32_t)sizeof(s);
  s.version = XSMEM_STATS_VERSION;
  return s;
}

// Detailed statistics: an allocator reports labeled figures in named groups
// (group "tier" label "small", group "class" label "48", group "node" label
// "1", group "bin" label "8"), one callback per (key, value). Exporters render
// them generically: Prometheus xsmem_<group>_<key>{allocator=..., <group>=label},
// JSON {"<group>": {"<label>": {"<key>": value}}}. kind is "counter" or "gauge".
typedef struct xsmem_stats_sink xsmem_stats_sink;
struct xsmem_stats_sink {
  void (*value)(xsmem_stats_sink *sink, const char *group, const char *label, const char *key, const char *kind,
                double value);
};

// Memory types: where an allocator's memory lives. Host allocators are
// HOST_PAGEABLE; device/ adds sources of the others. An allocator that is
// not pageable host memory says so in its detail op, group "memory", label
// the type's name, keys "device" (the device index, -1 for host memory) and
// "fallback" (1: it stands in with host memory for what it could not have);
// export/ renders it as each allocator's memory_type and device.
typedef enum xsmem_memory_type {
  XSMEM_MEMORY_HOST_PAGEABLE = 0,
  XSMEM_MEMORY_HOST_PINNED = 1,  // page-locked host memory (cudaHostAlloc)
  XSMEM_MEMORY_DEVICE = 2,       // one device's memory: not addressable by the host
  XSMEM_MEMORY_MANAGED = 3,      // unified memory (cudaMallocManaged), host and device
} xsmem_memory_type;

// "host_pageable", "host_pinned", "device", "managed" ("unknown" otherwise).
XSMEM_INLINE const char *xsmem_memory_type_name(xsmem_memory_type t) {
  switch (t) {
    case XSMEM_MEMORY_HOST_PAGEABLE: return "host_pageable";
    case XSMEM_MEMORY_HOST_PINNED: return "host_pinned";
    case XSMEM_MEMORY_DEVICE: return "device";
    case XSMEM_MEMORY_MANAGED: return "managed";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Allocation flags.

enum {
  XSMEM_ALLOC_ZERO = 1u << 0,    // the block is zeroed
  XSMEM_ALLOC_NOFAIL = 1u << 1,  // failure is fatal (reported, then abort) instead of NULL
  XSMEM_ALLOC_RETRY = 1u << 2,   // on failure trim the allocator and try once more
};

// ---------------------------------------------------------------------------
// The allocator vtable.

enum { XSMEM_FORK_PREPARE = 0, XSMEM_FORK_PARENT = 1, XSMEM_FORK_CHILD = 2 };

typedef struct xsmem_allocator_ops {
  const char *kind;  // the component: "system", "os", "bfc", "tracker", ...
  void *(*alloc)(xsmem_allocator *a, size_t size, size_t align, unsigned flags);
  void (*free)(xsmem_allocator *a, void *p, size_t size);
  // Returns the usable size of a live block (>= its requested size).
  size_t (*usable_size)(const xsmem_allocator *a, const void *p);
  // Optional (NULL: cannot tell). Returns true when p lies in a block of a.
  bool (*owns)(const xsmem_allocator *a, const void *p);
  // Optional (NULL: alloc + copy + free). p != NULL, size > 0.
  void *(*realloc)(xsmem_allocator *a, void *p, size_t size, unsigned flags);
  void (*stats)(const xsmem_allocator *a, xsmem_stats *out);
  // Optional. Gives cached memory back to the source; returns bytes released.
  size_t (*trim)(xsmem_allocator *a, size_t goal_bytes);
  // Optional. Called around fork() with XSMEM_FORK_*: take every lock in
  // PREPARE, release in PARENT, reinitialise in CHILD.
  void (*fork)(xsmem_allocator *a, int phase);
  // Optional. Releases everything; the allocator is unusable afterwards.
  void (*destroy)(xsmem_allocator *a);
  // Optional. Reports detailed figures (per tier, class, bin, node) to sink.
  void (*detail)(const xsmem_allocator *a, xsmem_stats_sink *sink);
} xsmem_allocator_ops;

struct xsmem_allocator {
  const xsmem_allocator_ops *ops;
  const char *name;  // instance name ("default", "bfc.node0", ...)
};

// Returns a block, honouring XSMEM_ALLOC_RETRY and XSMEM_ALLOC_NOFAIL.
void *xsmem_alloc_slow(xsmem_allocator *a, size_t size, size_t align, unsigned flags);

XSMEM_INLINE void *xsmem_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  void *p = a->ops->alloc(a, size, align, flags);
  if (XSMEM_UNLIKELY(!p) && (flags & (XSMEM_ALLOC_RETRY | XSMEM_ALLOC_NOFAIL))) {
    p = xsmem_alloc_slow(a, size, align, flags);
  }
  return p;
}

XSMEM_INLINE void xsmem_free(xsmem_allocator *a, void *p) {
  if (p) a->ops->free(a, p, 0);
}

// Non-zero while the calling thread answers a query for its caller
// (xsmem_usable_size, malloc_usable_size): a bad pointer found then is
// reported and answered 0 rather than aborting (xsmem_report_bad_pointer).
extern __thread unsigned xsmem_query_depth_;

// Returns the usable size of p (0 for NULL, and for a bad pointer after its report).
XSMEM_INLINE size_t xsmem_usable_size(const xsmem_allocator *a, const void *p) {
  if (!p) return 0;
  xsmem_query_depth_++;
  size_t n = a->ops->usable_size(a, p);
  xsmem_query_depth_--;
  return n;
}

// realloc semantics: p NULL allocates; size 0 frees and returns NULL; on
// failure p is untouched and NULL is returned with errno = ENOMEM.
void *xsmem_realloc(xsmem_allocator *a, void *p, size_t size);

// malloc(n) through a's ops, errno = ENOMEM on failure: the malloc shims'
// out-of-line path for what their inline front does not serve (a call of its
// own, so malloc itself only makes tail calls and needs no frame).
void *xsmem_malloc_via_ops(xsmem_allocator *a, size_t n);

// realloc's move, shared by the fronts: copies the first min(size, have)
// bytes of p (a block of `from` with `have` usable bytes) into q, frees p and
// returns q. A NULL q (no new block could be had) leaves p as it was and
// returns NULL with errno = ENOMEM.
void *xsmem_move_block(xsmem_allocator *from, void *p, size_t have, void *q, size_t size);

// Fragmentation, one definition for every allocator and every view: the
// share of the memory an allocator holds for data that serves no block,
// cached / (in use + cached). Whether a large request fits without new
// memory is another question: allocators with chunks answer it in their
// detail (bfc: group "bfc", label "free", key "largest_free_chunk_bytes").
XSMEM_INLINE double xsmem_fragmentation_of(uint64_t in_use, uint64_t cached) {
  return in_use + cached ? (double)cached / (double)(in_use + cached) : 0.0;
}

// Returns the stats of a (zeroes where the allocator has none), with the
// fragmentation computed from its in-use and cached bytes.
xsmem_stats xsmem_get_stats(const xsmem_allocator *a);

// Adds the counts of a part (a tier, a node's child) into a whole: blocks
// allocated, freed and failed, bytes in use, reserved and of metadata, the
// peak (the sum of the parts' peaks: an upper bound, as parts peak at
// different times) and the largest allocation. Cached and committed bytes,
// limits and fragmentation are the caller's to combine, each whole its own way.
void xsmem_stats_add_counts(xsmem_stats *out, const xsmem_stats *part);
// For an allocator made of tiers: adds a tier's counts, and its committed
// bytes (all it holds when it does not track them) of which the ones it does
// not use are cached: address space reserved and never touched is not.
void xsmem_stats_add_tier(xsmem_stats *out, const xsmem_stats *tier);

// Writes a human-readable stats table for a to fd, without allocating.
void xsmem_stats_print(int fd, const xsmem_allocator *a);

// Where xsmem_stats_write sends its output, in pieces: len bytes at data
// (not NUL-terminated).
typedef void (*xsmem_write_fn)(void *opaque, const char *data, size_t len);

// Writes a's statistics in `format`, "text" (xsmem_stats_print's table, then
// the detailed figures, a line each) or "json" (one object:
// {"allocator", "kind", "stats": {field: value}, "detail": [{"group",
// "label", "key", "kind", "value"}]}), through write(opaque, ...). The fields
// are XSMEM_STAT_FIELDS; docs/OBSERVING.md defines each. Never calls malloc
// (safe inside a malloc hook or a signal handler's report). Returns 0, or
// EINVAL (writing nothing) for a NULL allocator or an unknown format. The
// process's malloc: xsmem_malloc_stats_write (allocators/registry.h).
int xsmem_stats_write(const xsmem_allocator *a, const char *format, xsmem_write_fn write, void *opaque);

// Updates peak and largest after a successful allocation of `granted` bytes
// into counters kept by an allocator (a helper for implementations).
XSMEM_INLINE void xsmem_stats_note_peak(uint64_t *peak, uint64_t in_use) {
  if (in_use > *peak) *peak = in_use;
}

// ---------------------------------------------------------------------------
// Errors: a bad pointer is reported with the pointer, the allocator's name and
// what was wrong; then the process aborts unless XSMEM_ON_ERROR=warn.

// Reports that `op` (e.g. "free") on p in allocator a failed because of `what`
// (e.g. "double free", "pointer not allocated by xsmem"). Returns only in warn
// mode, or during a query (xsmem_query_depth_), which changes nothing and is
// answered 0 by the caller.
void xsmem_report_bad_pointer(const char *allocator, const char *op, const void *p, const char *what);

// Returns how many bad pointers have been reported (useful in warn mode).
uint64_t xsmem_bad_pointer_count(void);

// ---------------------------------------------------------------------------
// Sources.

enum {
  XSMEM_SRC_ZEROED = 1u << 0,      // fresh regions read as zero
  XSMEM_SRC_ADJACENT = 1u << 1,    // consecutive regions may be adjacent (coalescable)
  XSMEM_SRC_HUGE = 1u << 2,        // regions are backed by huge pages where possible
  XSMEM_SRC_NODE_BOUND = 1u << 3,  // regions are bound to a NUMA node
};

typedef struct xsmem_source_ops {
  // Returns a region of at least size bytes aligned to align, its real size
  // in *got; NULL with errno = ENOMEM when refused.
  void *(*map)(xsmem_source *s, size_t size, size_t align, size_t *got);
  // Takes back a region returned by map (size is the *got it reported).
  void (*unmap)(xsmem_source *s, void *p, size_t size);
  unsigned caps;  // XSMEM_SRC_*
} xsmem_source_ops;

struct xsmem_source {
  const xsmem_source_ops *ops;
  const char *name;
};

XSMEM_INLINE void *xsmem_source_map(xsmem_source *s, size_t size, size_t align, size_t *got) {
  return s->ops->map(s, size, align, got);
}

XSMEM_INLINE void xsmem_source_unmap(xsmem_source *s, void *p, size_t size) { s->ops->unmap(s, p, size); }

// Returns the process-wide source backed by platform/os_vm (page-granular,
// zeroed, thread-safe). flags XSMEM_VM_* are applied to every mapping.
xsmem_source *xsmem_os_source(void);

// The same with transparent huge pages requested for every mapping.
xsmem_source *xsmem_os_huge_source(void);

// Makes any allocator serve as a source. `storage` lives as long as the source.
typedef struct xsmem_allocator_source {
  xsmem_source base;
  xsmem_allocator *allocator;
} xsmem_allocator_source;

xsmem_source *xsmem_source_from_allocator(xsmem_allocator_source *storage, xsmem_allocator *a);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_ALLOCATOR_H_
