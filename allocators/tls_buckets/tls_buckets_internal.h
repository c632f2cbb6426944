// allocators/tls_buckets/tls_buckets_internal.h: what the small tier's files
// share (package-private; tls_fast.h is the fast path, tls_buckets.h the API).
//
// The tier's files, one concern each:
//   tls_central.c  segments, slabs and the central lists (carving, take, put),
//                  and the checks of the links found inside free blocks;
//   tls_stack.c    the global batch stacks (128-bit CAS push and pop, batch links);
//   tls_cache.c    thread caches (creation, flush, exit, spares) and the slow
//                  paths of malloc and free;
//   tls_purger.c   the purger (its thread, idle spares, decommit of empty slabs);
//   tls_buckets.c  the tier: construction, options, the allocator ops,
//                  statistics and detail, fork, the tool builds' link accessors.
// What is declared here has hidden visibility: calls from file to file and
// loads of the shared state stay as direct in a preload library as they were
// within one file. Small helpers are static inline here for the same reason.
#ifndef XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_BUCKETS_INTERNAL_H_
#define XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_BUCKETS_INTERNAL_H_

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "allocators/tls_buckets/tls_buckets.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "platform/atomics.h"
#include "platform/once.h"
#include "platform/pagemap.h"

#pragma GCC visibility push(hidden)

#define SEG_SIZE XSMEM_TLS_SEGMENT
#define SEG_HEADER XSMEM_TLS_SEG_HEADER
#define MAX_SLABS 128
#define BITMAP_WORDS ((SEG_SIZE - SEG_HEADER) / 16 / 64)
#define NO_CLASS 0xffffffffu

// Tool builds (tls_fast.h): accesses to words inside free blocks bypass
// ASan's checks (the block is poisoned) and silence Valgrind's.
#if defined(XSMEM_TOOL_ASAN)
#define TOOL_NO_CHECKS __attribute__((no_sanitize_address, noinline))
#else
#define TOOL_NO_CHECKS
#endif
#if defined(XSMEM_TOOL_VG)
#define TOOL_CHECKS_OFF() VALGRIND_DISABLE_ERROR_REPORTING
#define TOOL_CHECKS_ON() VALGRIND_ENABLE_ERROR_REPORTING
#else
#define TOOL_CHECKS_OFF() ((void)0)
#define TOOL_CHECKS_ON() ((void)0)
#endif

// ---------------------------------------------------------------------------
// Segments and slabs.

enum { SLAB_PARTIAL = 1, SLAB_FULL, SLAB_EMPTY, SLAB_DECOMMITTED };

typedef struct tls_segment tls_segment;

typedef struct tls_slab {
  struct tls_slab *next, *prev;  // in one of the central lists (not when FULL)
  tls_segment *seg;
  void *free;            // blocks given back to the central list
  uint32_t nfree;        // length of free
  uint32_t carved;       // blocks [0, carved) of the slab have been handed out
  uint32_t index;        // in seg->slab
  uint32_t state;        // SLAB_*
  uint64_t empty_since;  // ms, CLOCK_MONOTONIC
} tls_slab;

struct tls_segment {
  xsmem_tls_seg_head head;  // read by the fast path; must stay first
  uint32_t size;            // block size
  uint32_t per_slab;        // blocks per slab
  uint32_t nslabs;
  uint32_t fresh;       // slabs [fresh, nslabs) never used yet
  uint64_t slab_magic;  // UINT64_MAX / per_slab + 1 (0 when per_slab == 1): slab_of
  tls_segment *next;    // the class's segments
  tls_slab slab[MAX_SLABS];
  uint64_t bitmap[BITMAP_WORDS];  // bit j: block j is on its slab's free list
};
_Static_assert(sizeof(tls_segment) <= SEG_HEADER, "segment header must fit its reserved space");
_Static_assert(XSMEM_TLS_SEGMENT_SHIFT == XSMEM_PAGEMAP_SHIFT, "one pagemap tag per segment");

// ---------------------------------------------------------------------------
// Per-class state.

typedef struct tls_central {
  xsmem_spinlock lock;
  tls_slab *partial;      // slabs with free or uncarved blocks
  tls_slab *empty;        // all blocks back, committed; newest first
  tls_slab *decommitted;  // empty and decommitted
  tls_segment *cur;       // the segment fresh slabs come from
  tls_segment *segments;
  uint64_t nsegments, nempty, ndecommitted;
  uint64_t segment_bytes;  // mapped for the class's segments (a segment may be a 4 MiB chunk's head only)
  size_t next_seg_len;     // under an address-space limit: the length of the class's next segment
  uint64_t out;            // blocks outside the central list (caches, stacks, users)
  uint64_t free_blocks;    // blocks on slab free lists
  uint64_t lock_waits;     // atomic
} XSMEM_CACHE_ALIGNED tls_central;

typedef struct tls_stack {
  xsmem_pair128 head;    // lo: top batch; hi: tag << 16 | depth
  uint64_t cas_retries;  // atomic
  int active;            // a push or pop since the purger last looked
#ifdef XSMEM_CAS128_LOCKED
  xsmem_spinlock pop_lock;  // TSan: pops read the top batch's link under it
#endif
} XSMEM_CACHE_ALIGNED tls_stack;

// Indexed by slot (node * tls_nclasses + class); the per-class figures are
// replicated for every node's slots.
extern tls_central tls_centrals[XSMEM_TLS_MAX_SLOTS];
extern tls_stack tls_stacks[XSMEM_TLS_MAX_SLOTS];

extern uint32_t tls_size[XSMEM_TLS_MAX_SLOTS];
extern uint32_t tls_limit[XSMEM_TLS_MAX_SLOTS];  // thread cache bound (list + spare)
extern uint32_t tls_batch[XSMEM_TLS_MAX_SLOTS];  // blocks per batch (of the stacks, spares)
extern uint32_t tls_cap[XSMEM_TLS_MAX_SLOTS];    // bound of a thread's list: tls_batch, or 0 (not thread-cached)
extern bool tls_spare[XSMEM_TLS_MAX_SLOTS];      // the bound leaves room for a spare batch
extern uint32_t tls_depth[XSMEM_TLS_MAX_SLOTS];  // batches the global stack may hold
extern uint32_t tls_per_slab[XSMEM_TLS_MAX_SLOTS];
// The shortest segment of a slot: its header and one slab, rounded up to a
// power of two (128 KiB for classes up to 64 KiB; 2 MiB for 1 MiB blocks).
extern uint32_t tls_seg_min[XSMEM_TLS_MAX_SLOTS];
// The most bytes a new segment maps: 4 MiB (the whole chunk); under an
// address-space limit 1/256 of it, halved whenever the source refuses (only
// ever halved; atomic). Whether a limit was in force when the tier was built:
// then each class's segments start at its minimum and double (segment_map).
extern size_t tls_seg_len;
extern bool tls_seg_limited;
extern unsigned tls_nclasses;
extern unsigned tls_nnodes, tls_nslots;  // tls_nslots = tls_nnodes * tls_nclasses
extern xsmem_source *tls_node_src[XSMEM_TLS_MAX_NODES];

// The shared empty cache (tls_cache.c): a thread without a cache of its
// own points at it; its bounds send every operation to the slow path.
extern xsmem_tls_cache tls_empty_cache;

// The tier (tls_buckets.c).
typedef struct tls_global {
  xsmem_allocator base;
  xsmem_source *src;
  xsmem_tls_options opt;
  pthread_key_t key;
  xsmem_once once;  // built by the first xsmem_tls_buckets (platform/once.h)
  xsmem_spinlock threads_lock;
  xsmem_tls_cache *threads;  // live caches
  xsmem_tls_cache *pool;     // caches of exited threads, for reuse (linked by next)
  char *pool_chunk;
  size_t pool_left;
  uint64_t pool_bytes;
  uint64_t threads_live, threads_exited;
  // Counts of exited threads (under threads_lock) and of cacheless operations (atomic).
  uint64_t dead_allocs[XSMEM_TLS_MAX_SLOTS], dead_frees[XSMEM_TLS_MAX_SLOTS];
  uint64_t direct_allocs[XSMEM_TLS_MAX_SLOTS], direct_frees[XSMEM_TLS_MAX_SLOTS];
  uint64_t failed, peak;                      // atomic
  uint64_t bytes_decommitted, purger_passes;  // atomic
  uint64_t held;                              // atomic: thread lists (at their bound), spares and stacks (the budget)
  _Atomic int purger;                         // 0 not started, 1 started
  uint64_t options_generation;                // atomic: xsmem_options_generation() the delay was read at
} tls_global;

extern tls_global tls_g;

static inline uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void add_relaxed(uint64_t *x, uint64_t v) { __atomic_fetch_add(x, v, __ATOMIC_RELAXED); }
static inline uint64_t load_relaxed(const uint64_t *x) { return __atomic_load_n(x, __ATOMIC_RELAXED); }

// Updates a counter owned by a lock holder that statistics read without the lock.
static inline void bump(uint64_t *x, int64_t d) {
  __atomic_store_n(x, __atomic_load_n(x, __ATOMIC_RELAXED) + (uint64_t)d, __ATOMIC_RELAXED);
}

// ---------------------------------------------------------------------------
// Slab lists (doubly linked, under the class lock).

static inline void list_push(tls_slab **list, tls_slab *s) {
  s->prev = NULL;
  s->next = *list;
  if (*list) (*list)->prev = s;
  *list = s;
}

static inline void list_remove(tls_slab **list, tls_slab *s) {
  if (s->prev) s->prev->next = s->next;
  else *list = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
}

// ---------------------------------------------------------------------------
// Links inside free blocks (safe-linked, tls_fast.h) and their checks.

// Sets and reads the list link of free block b (its first word).
static inline void link_to(void *b, const void *next) { xsmem_tls_next_set(xsmem_tls_seg_of(b), b, next); }
static inline void *link_of(const void *b) { return xsmem_tls_next_get(xsmem_tls_seg_of(b), b); }

// Returns true when q is the start of a block slot of a small segment (of
// slot c unless c is NO_CLASS): a decoded link that may be followed (read).
// Never faults, whatever q is: the pagemap says whether q's segment exists.
bool tls_block_of(const void *q, unsigned c);

// Returns true when next, read from a free block at `from` of slot c, may be
// followed: a block start of from's segment (no pagemap lookup), or else of
// another segment of the class.
static inline bool link_ok(const void *from, const void *next, unsigned c) {
  if (!(((uintptr_t)from ^ (uintptr_t)next) >> XSMEM_TLS_SEGMENT_SHIFT)) {
    return xsmem_tls_is_block_start(xsmem_tls_seg_of(from), next);
  }
  return tls_block_of(next, c);
}

// Reports heap corruption found in the free block p of slot c (what was
// wrong; link: what its link decoded to, when that was it). Returns only
// under XSMEM_ON_ERROR=warn; the caller then drops what it cannot trust.
XSMEM_COLD void tls_report_corruption(const char *op, unsigned c, const void *p, const char *what, const void *link);

// ---------------------------------------------------------------------------
// The process-wide budget (XSMEM_TLS_TOTAL_BYTES, TCMalloc's overall thread
// cache size): tls_g.held counts the bytes kept for reuse outside the slabs, by
// every thread's lists (each counted at its bound, a batch, from the thread's
// first use of the class until its cache is flushed: the fast path keeps no
// count), the spare batches and the global stacks. Past the budget a batch
// leaving a thread (a full list, the spare it replaces, a flush) goes to the
// central lists, sorted back into its slabs, which the purger decommits when
// empty; no spare is kept and no stack takes a batch. A thread's own lists
// are never refused: under many threads they are what stays cached.

static inline bool budget_allows(uint64_t bytes) {
  return !tls_g.opt.total_bytes || load_relaxed(&tls_g.held) + bytes <= tls_g.opt.total_bytes;
}

static inline void held_add(int64_t bytes) { __atomic_fetch_add(&tls_g.held, (uint64_t)bytes, __ATOMIC_RELAXED); }

// The depth of a stack, from the high word of its head.
#define STACK_DEPTH(hi) ((hi)&0xffffu)

// ---------------------------------------------------------------------------
// Calls between the files.

// tls_central.c
void tls_segment_keys_init(void);  // draws the secret the segments' keys fall back on
void tls_central_lock(tls_central *ce);
size_t tls_slab_decommit(tls_slab *s);
uint32_t tls_central_take(unsigned c, uint32_t want, void **out);
bool tls_central_put(unsigned c, void *p);
void tls_central_put_list(unsigned c, void *list);

// tls_stack.c
void tls_batch_link_set(void *batch, void *below);
void *tls_batch_link_get(void *batch);
void tls_batch_unlinked(void *batch);
bool tls_stack_push(unsigned c, void *batch);
void *tls_stack_pop(unsigned c);

// tls_cache.c
void *tls_spare_take(xsmem_tls_cache *tc, unsigned c);
void tls_thread_exit(void *arg);  // the pthread key's destructor

// tls_purger.c
long tls_delay_ms(void);      // the decommit delay now (followed when the options change)
void tls_purger_start(void);  // once (and again in a forked child); called with no lock held

#pragma GCC visibility pop

#endif  // XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_BUCKETS_INTERNAL_H_
