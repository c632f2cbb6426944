// allocators/tls_buckets/tls_buckets.h: the small tier, thread-cached size classes.
//
// Model (a tcmalloc-like layering, each layer off the previous one's fast path):
//   1. Size classes: 16-byte steps up to 128 B, then 8 classes per power of two
//      up to XSMEM_SMALL_MAX (1 MiB, the most; by default). Rounding
//      wastes at most 12.5% above 128 B (16-byte alignment forces 16-byte
//      steps below, so at most 15 bytes there).
//   2. Thread cache: per thread and class a free list with no lock and no
//      atomic read-modify-write (tls_fast.h); the thread's counts of
//      allocations and frees of the class double as the list's length. A
//      list holds at most one batch (half of XSMEM_TLS_CACHE_BYTES / block
//      size, 1..256 blocks); a class whose block is larger than
//      XSMEM_TLS_CACHE_BYTES is not thread-cached (jemalloc's tcache_max):
//      its blocks go to and come from the global stack one at a time (one
//      block of each such class, up to 1 MiB, per thread was most of the
//      footprint of a program with many threads). A list is opened, and
//      counted against the process-wide budget at its bound, by the
//      thread's first use of the class. A free that finds it full sets the
//      whole list aside as the class's spare batch (while the thread's
//      spares stay within XSMEM_TLS_SPARE_BYTES, all classes together) and
//      pushes the spare it replaces, or the list itself, as one batch to
//   3. the global per-class batch stack: a lock-free stack of batches whose
//      head is a (pointer, tag|depth) pair updated with xsmem_cas128, so a
//      stale head never matches (ABA-safe). An empty list takes its spare
//      back, else pops one batch; nothing walks a list on the way in or out.
//      A full stack (2048 batches or 32 MiB) overflows into the central list,
//      and so does every batch leaving a thread while the process-wide
//      budget (XSMEM_TLS_TOTAL_BYTES: every thread's open lists at their
//      bound, the spares and the stacks together, TCMalloc's overall thread
//      cache size) is spent: no spare is kept and no stack takes a batch
//      then, so what the tier holds beside the slabs stays bounded however
//      many threads there are (their lists aside, each within its bound):
//   4. the central list of the class (a spinlock, never on the fast path):
//      it sorts each block back into its slab, keeps a per-slab free bitmap
//      (a second free of a block reaching it is a reported double free), and
//      carves fresh blocks. A slab whose blocks all came back is empty; after
//      XSMEM_DECOMMIT_DELAY_MS the
//   5. purger thread decommits it (os_vm: the pages go back to the kernel,
//      the range stays mapped). The purger also drains batch stacks that sat
//      idle for a tick, and takes the spare batch of every class a thread has
//      not used since the previous tick (spares change hands by atomic
//      exchange; a thread's lists are its own and stay), so resident memory
//      falls after a burst even while the program, or a thread holding its
//      cache, sleeps. It starts when a slab first becomes empty.
// Memory: segments of 4 MiB, 4 MiB-aligned, from the source, tagged
// XSMEM_TAG_SMALL in platform/pagemap; one class per segment; the first 64 KiB
// hold the segment header, slab descriptors and the free bitmap; slabs are runs
// of about 64 KiB of blocks (one block for classes above 32 KiB). Under an
// address-space limit (ulimit -v) a segment maps only the head of its chunk:
// a class's first segment is its header and one slab (128 KiB for most
// classes), each next one twice the last, up to 1/256 of the limit (halved
// whenever the source refuses), so a program that uses sixty classes does
// not need 240 MiB of address space. Segments are
// kept for the life of the process (decommitted, not unmapped), which is what
// lets the lock-free stack read a stale head without faulting.
// Ownership: free, usable_size and realloc find the segment by masking the
// pointer (O(1)); a pointer that is not a block start is reported.
// Threads: a cross-thread free goes into the freeing thread's cache (no owner
// is contacted, so threads never serialize on each other). Passive false
// sharing (a block coming back to a thread other than the one that carved it,
// next to another thread's block; bench/workloads/cache_scratch.c) is avoided
// where it starts: a thread's cache is built by its first malloc, its first
// frees before that go to the central lists, and a refill hands out freshly
// carved blocks before ones freed earlier. A thread that exits
// hands its cache back (pthread key destructor); a thread that allocates after
// that works without a cache, straight from the central lists.
// Statistics: per-thread per-class counters summed when read, per-class
// central figures, and contention counters (CAS retries, lock waits).
//
// Per-node classes (options num_nodes > 1, the `numa` configuration): the
// classes are replicated per node (slot = node * classes + class, see
// tls_fast.h); the segments of node n's slots come from node_source(n), the
// caller's node (current_node) is looked at on the slow path only and kept as
// the thread's node base, which xsmem_tls_malloc_node adds to the class. free
// reads the slot from the segment header as always, so blocks go back to their
// own node's lists and batches never mix nodes. A thread that migrates follows
// at its next refill.
//
// Heap corruption: every link the tier keeps inside free blocks (lists,
// spares, batch links, central lists) is safe-linked and checked before it
// is followed (tls_fast.h); a bad one is reported as heap corruption naming
// the block size, and the rest of its list is dropped, not followed.
//
// Tools: under ASan the tier poisons every block it holds and unpoisons a
// block (its class size) when it hands it out; with XSMEM_VALGRIND it
// describes them as a memcheck MEMPOOL (platform/tool_hooks.h). Links inside
// free blocks are read and written past the checks. Normal builds: nothing.
//
// There is one small tier per process (thread caches are process-wide).
#ifndef XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_BUCKETS_H_
#define XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_BUCKETS_H_

#include <stddef.h>
#include <stdint.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_tls_options {
  size_t small_max;        // largest request served (XSMEM_SMALL_MAX), 1 KiB..1 MiB
  size_t cache_bytes;      // per-thread, per-class cache bound in bytes, list + spare (XSMEM_TLS_CACHE_BYTES)
  long decommit_delay_ms;  // empty slab -> decommit (XSMEM_DECOMMIT_DELAY_MS; 0 at once, <0 never)
  size_t spare_bytes;      // per-thread bound on spare batches, all classes (XSMEM_TLS_SPARE_BYTES)
  size_t total_bytes;      // process-wide bound: thread lists, spares, stacks (XSMEM_TLS_TOTAL_BYTES; 0 none)
  // Per-node classes: 0 or 1 = one node (every segment from the tier's
  // source); at most XSMEM_TLS_MAX_NODES (a node beyond folds onto node % N).
  unsigned num_nodes;
  xsmem_source *(*node_source)(void *ctx, unsigned node);  // segments of node's classes
  int (*current_node)(void);                               // the caller's node (slow path)
  void *node_ctx;
  // Follow XSMEM_DECOMMIT_DELAY_MS while running: the delay is read again when
  // xsmem_option_set changed an option (xsmem_tls_options_from_env sets it).
  bool follow_options;
} xsmem_tls_options;

// Fills o from the XSMEM_* options (one node).
void xsmem_tls_options_from_env(xsmem_tls_options *o);

// Returns the process's small tier, building it on the first call from
// `src` (NULL: xsmem_os_source()) and `opt` (NULL: from the environment);
// later calls return the same allocator and ignore their arguments; calls
// made while it is built wait for it (NULL only for a call from inside the
// build, on the building thread). Thread-safe; never calls malloc.
xsmem_allocator *xsmem_tls_buckets(xsmem_source *src, const xsmem_tls_options *opt);

// Returns the number of size classes in use and the block size of class c.
unsigned xsmem_tls_class_count(void);
size_t xsmem_tls_class_size(unsigned c);

// Hands the calling thread's cached blocks back to the global stacks (what a
// thread exit does). The thread keeps its (now empty) cache.
void xsmem_tls_flush_thread(void);

// Returns the blocks of class c the calling thread's cache holds now (its
// list and its spare batch), and the most it may hold.
uint32_t xsmem_tls_thread_cached(unsigned c);
uint32_t xsmem_tls_thread_cache_limit(unsigned c);

// One purger pass now: takes back every thread's spare batches, drains every
// batch stack into the central lists and
// decommits empty slabs older than `min_age_ms`. Returns bytes decommitted.
size_t xsmem_tls_purge(long min_age_ms);

// Registers fn(ctx) to run at the end of every purger pass (one hook; the
// default configuration purges its medium and large tiers with it). fn returns
// the bytes it released. Call before the tier is busy; fn must not malloc.
void xsmem_tls_set_purge_hook(size_t (*fn)(void *ctx), void *ctx);

// Returns the number of nodes of the tier (1 unless built with per-node classes).
unsigned xsmem_tls_num_nodes(void);

// Looks at the caller's node now (as the slow path does) and makes it the
// thread's node base; returns the node.
unsigned xsmem_tls_node_refresh(void);

// Figures of one node's slots (all of them when the tier has one node).
typedef struct xsmem_tls_node_stats {
  uint64_t allocs, frees;  // operations on blocks of the node's slots
  uint64_t bytes_in_use;   // live blocks (block sizes)
  uint64_t segments;       // 4 MiB segments of the node
} xsmem_tls_node_stats;

void xsmem_tls_get_node_stats(unsigned node, xsmem_tls_node_stats *out);

// Starts the purger thread if it is not running (it starts by itself when a
// small slab empties; the hook's owner calls this when it has memory to give
// back later). One relaxed load when it runs already. REQUIRES: tier built.
void xsmem_tls_purger_start(void);

// Figures the tests and the detail op use.
typedef struct xsmem_tls_counters {
  uint64_t threads_live;       // caches in use
  uint64_t threads_exited;     // caches handed back at thread exit
  uint64_t segments;           // 4 MiB segments taken from the source
  uint64_t slabs_empty;        // empty, still committed
  uint64_t slabs_decommitted;  // empty and decommitted
  uint64_t bytes_decommitted;  // total ever decommitted
  uint64_t purger_passes;      // purger ticks that ran
  uint64_t cas_retries;        // failed CAS on the batch stacks
  uint64_t lock_waits;         // central lock acquisitions that had to wait
  uint64_t stack_batches;      // batches now on the stacks
  uint64_t bytes_stacks;       // the blocks on the stacks, in bytes
  uint64_t bytes_lists;        // every thread's open lists, at their bound
  uint64_t bytes_spares;       // every thread's spare batches
  uint64_t bytes_held;         // what XSMEM_TLS_TOTAL_BYTES bounds: lists, spares and stacks
} xsmem_tls_counters;

void xsmem_tls_get_counters(xsmem_tls_counters *out);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_BUCKETS_H_
