// allocators/tls_buckets/tls_buckets.c: everything of the small tier but the
// fast path (tls_fast.h): refills and flushes, the lock-free batch stacks, the
// central lists, segments, thread caches, the purger, statistics.
#include "allocators/tls_buckets/tls_buckets.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "allocators/tls_buckets/tls_fast.h"
#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"
#include "platform/pagemap.h"

#define SEG_SIZE XSMEM_TLS_SEGMENT
#define SEG_HEADER XSMEM_TLS_SEG_HEADER
#define MAX_SLABS 128
#define SLAB_TARGET ((size_t)64 << 10)  // blocks per slab: about this many bytes
#define MAX_PER_SLAB 4096
#define BITMAP_WORDS ((SEG_SIZE - SEG_HEADER) / 16 / 64)
#define STACK_MAX_DEPTH 128            // batches per class on the global stack,
#define STACK_MAX_BYTES ((size_t)4 << 20)  // and at most about this many bytes
#define CACHE_MAX 512
#define NO_CLASS 0xffffffffu

// ---------------------------------------------------------------------------
// Tool builds (tls_fast.h): link accesses that bypass ASan's checks or
// silence Valgrind's, and the hand-out / take-back of whole blocks.

// Accesses to words inside free blocks: ASan does not check them (the block
// is poisoned), Valgrind does not report them.
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

#ifdef XSMEM_TLS_TOOLS
static size_t class_size(unsigned c);

TOOL_NO_CHECKS void *xsmem_tls_link_get(const void *b) {
  TOOL_CHECKS_OFF();
  void *next = *(void *const *)b;
  TOOL_CHECKS_ON();
  return next;
}

TOOL_NO_CHECKS void xsmem_tls_link_set(void *b, void *next) {
  TOOL_CHECKS_OFF();
  *(void **)b = next;
  TOOL_CHECKS_ON();
}

TOOL_NO_CHECKS uint64_t xsmem_tls_key_get(const void *b) {
  TOOL_CHECKS_OFF();
  uint64_t key = __atomic_load_n((const uint64_t *)b + 1, __ATOMIC_RELAXED);
  TOOL_CHECKS_ON();
  return key;
}

TOOL_NO_CHECKS void xsmem_tls_key_set(void *b, uint64_t key) {
  TOOL_CHECKS_OFF();
  __atomic_store_n((uint64_t *)b + 1, key, __ATOMIC_RELAXED);
  TOOL_CHECKS_ON();
}

static int g_tool_pool;  // the pool's name for Valgrind

void xsmem_tls_tool_alloc(void *p, unsigned c) { XSMEM_TOOL_ALLOC(&g_tool_pool, p, class_size(c)); }
void xsmem_tls_tool_free(void *p, unsigned c) { XSMEM_TOOL_FREE(&g_tool_pool, p, class_size(c)); }
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
  uint32_t fresh;  // slabs [fresh, nslabs) never used yet
  uint64_t slab_magic;      // UINT64_MAX / per_slab + 1 (0 when per_slab == 1): slab_of
  tls_segment *next;        // the class's segments
  tls_slab slab[MAX_SLABS];
  uint64_t bitmap[BITMAP_WORDS];  // bit j: block j is on its slab's free list
};
_Static_assert(sizeof(tls_segment) <= SEG_HEADER, "segment header must fit its reserved space");
_Static_assert(XSMEM_TLS_SEGMENT_SHIFT == XSMEM_PAGEMAP_SHIFT, "one pagemap tag per segment");

static char *seg_data(tls_segment *s) { return (char *)s + SEG_HEADER; }

// n / d for a 32-bit n by one multiply, magic = UINT64_MAX / d + 1 (Lemire,
// Kaser, Kurz: exact for every 32-bit n). The central lists divide by the
// block size and the slab length once per block: a hardware division each
// would cost more than the rest of the block's handling.
static uint32_t fastdiv(uint64_t magic, uint32_t n) {
  return (uint32_t)(((unsigned __int128)magic * n) >> 64);
}

// Returns the index of block p in its segment.
static uint32_t block_index(tls_segment *seg, const void *p) {
  return fastdiv(seg->head.div_magic, (uint32_t)((const char *)p - seg_data(seg)));
}

// Returns the slab of block index j.
static uint32_t slab_of(const tls_segment *seg, uint32_t j) {
  return seg->slab_magic ? fastdiv(seg->slab_magic, j) : j;
}

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
  uint64_t out;          // blocks outside the central list (caches, stacks, users)
  uint64_t free_blocks;  // blocks on slab free lists
  uint64_t lock_waits;   // atomic
} XSMEM_CACHE_ALIGNED tls_central;

typedef struct tls_stack {
  xsmem_pair128 head;  // lo: top batch; hi: tag << 16 | depth
  uint64_t cas_retries;  // atomic
  int active;            // a push or pop since the purger last looked
#ifdef XSMEM_CAS128_LOCKED
  xsmem_spinlock pop_lock;  // TSan: pops read the top batch's link under it
#endif
} XSMEM_CACHE_ALIGNED tls_stack;

// Indexed by slot (node * tls_nclasses + class); the per-class figures are
// replicated for every node's slots.
static tls_central tls_centrals[XSMEM_TLS_MAX_SLOTS];
static tls_stack tls_stacks[XSMEM_TLS_MAX_SLOTS];

static uint32_t tls_size[XSMEM_TLS_MAX_SLOTS];
static uint32_t tls_limit[XSMEM_TLS_MAX_SLOTS];  // thread cache bound (list + spare)
static uint32_t tls_batch[XSMEM_TLS_MAX_SLOTS];  // blocks per batch (of the stacks, spares)
static uint32_t tls_cap[XSMEM_TLS_MAX_SLOTS];    // bound of a thread's list: tls_batch, or 0 (not thread-cached)
static bool tls_spare[XSMEM_TLS_MAX_SLOTS];      // the bound leaves room for a spare batch
static uint32_t tls_depth[XSMEM_TLS_MAX_SLOTS];  // batches the global stack may hold
static uint32_t tls_per_slab[XSMEM_TLS_MAX_SLOTS];
// The shortest segment of a slot: its header and one slab, rounded up to a
// power of two (128 KiB for classes up to 64 KiB; 2 MiB for 1 MiB blocks).
static uint32_t tls_seg_min[XSMEM_TLS_MAX_SLOTS];
// The most bytes a new segment maps: 4 MiB (the whole chunk); under an
// address-space limit 1/256 of it, halved whenever the source refuses (only
// ever halved; atomic). Whether a limit was in force when the tier was built:
// then each class's segments start at its minimum and double (segment_map).
static size_t tls_seg_len;
static bool tls_seg_limited;
static unsigned tls_nclasses;
static unsigned tls_nnodes = 1, tls_nslots;  // tls_nslots = tls_nnodes * tls_nclasses
static xsmem_source *tls_node_src[XSMEM_TLS_MAX_NODES];

size_t xsmem_tls_small_max_;

#ifdef XSMEM_TLS_TOOLS
static size_t class_size(unsigned c) { return tls_size[c]; }
#endif

// ---------------------------------------------------------------------------
// Thread caches.

static xsmem_tls_cache tls_empty_cache;  // bounds 0: every operation takes the slow path
__thread xsmem_tls_cache *xsmem_tls_cache_ __attribute__((tls_model("initial-exec"))) = &tls_empty_cache;
static __thread int t_exited __attribute__((tls_model("initial-exec")));
// Frees a thread made before it had a cache. The first few go straight to
// the central lists instead of building a cache (a cache is built by the
// thread's first malloc): a thread that frees a block
// another thread handed it and then allocates the same size must not get
// that block back, next to the giver's other blocks in one cache line
// (passive false sharing, bench/workloads/cache_scratch.c). A thread that
// only frees (a consumer) gets its cache after kCachelessFrees.
enum { kCachelessFrees = 64 };
static __thread uint32_t t_cacheless_frees __attribute__((tls_model("initial-exec")));
__thread uint32_t xsmem_tls_node_base_ __attribute__((tls_model("initial-exec")));

typedef struct tls_global {
  xsmem_allocator base;
  xsmem_source *src;
  xsmem_tls_options opt;
  pthread_key_t key;
  _Atomic int state;  // 0 new, 1 building, 2 ready
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
  uint64_t failed, peak;  // atomic
  uint64_t bytes_decommitted, purger_passes;  // atomic
  uint64_t held;  // atomic: thread lists (at their bound), spares and stacks (the budget)
  _Atomic int purger;  // 0 not started, 1 started
} tls_global;

static tls_global tls_g;

static const xsmem_allocator_ops tls_ops;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void add_relaxed(uint64_t *x, uint64_t v) { __atomic_fetch_add(x, v, __ATOMIC_RELAXED); }
static uint64_t load_relaxed(const uint64_t *x) { return __atomic_load_n(x, __ATOMIC_RELAXED); }

// Updates a counter owned by a lock holder that statistics read without the lock.
static void bump(uint64_t *x, int64_t d) {
  __atomic_store_n(x, __atomic_load_n(x, __ATOMIC_RELAXED) + (uint64_t)d, __ATOMIC_RELAXED);
}

// ---------------------------------------------------------------------------
// Slab lists (doubly linked, under the class lock).

static void list_push(tls_slab **list, tls_slab *s) {
  s->prev = NULL;
  s->next = *list;
  if (*list) (*list)->prev = s;
  *list = s;
}

static void list_remove(tls_slab **list, tls_slab *s) {
  if (s->prev) s->prev->next = s->next;
  else *list = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
}

static void tls_central_lock(tls_central *ce) {
  if (XSMEM_LIKELY(xsmem_spin_trylock(&ce->lock))) return;
  add_relaxed(&ce->lock_waits, 1);
  xsmem_spin_lock(&ce->lock);
}

static char *slab_start(const tls_slab *s) {
  return seg_data(s->seg) + (size_t)s->index * s->seg->per_slab * s->seg->size;
}

// Decommits the whole pages inside a slab (its edge pages may hold neighbours).
static size_t tls_slab_decommit(tls_slab *s) {
  size_t page = xsmem_os_page_size();
  uintptr_t b = xsmem_align_up((uintptr_t)slab_start(s), page);
  uintptr_t e = xsmem_align_down((uintptr_t)slab_start(s) + (size_t)s->seg->per_slab * s->seg->size, page);
  if (e <= b || !xsmem_os_decommit((void *)b, e - b)) return 0;
  return e - b;
}

static void slab_recommit(tls_slab *s) {
  size_t page = xsmem_os_page_size();
  uintptr_t b = xsmem_align_up((uintptr_t)slab_start(s), page);
  uintptr_t e = xsmem_align_down((uintptr_t)slab_start(s) + (size_t)s->seg->per_slab * s->seg->size, page);
  if (e > b) xsmem_os_commit((void *)b, e - b);  // accounting; the range never lost access
}

// The keys of a new segment (tls_fast.h): its free key (never 0) and its
// link key, drawn for each segment, so that one segment's keys say nothing of
// another's. Where the kernel has no entropy to give yet (early boot), they
// come from a secret drawn with the tier, the clock and the address.
static uint64_t g_key_secret;

static uint64_t mix64(uint64_t x) {  // splitmix64's finalizer
  x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ x >> 27) * 0x94D049BB133111EBull;
  return x ^ x >> 31;
}

static uint64_t random_secret(void) {
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts;  // no entropy yet (early boot): the clock and ASLR
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = ((uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec) ^ (uintptr_t)&r;
  }
  return r;
}

static void segment_keys(tls_segment *s) {
  uint64_t r[2];
  if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r[0] = mix64(g_key_secret ^ (uintptr_t)s ^ (uint64_t)ts.tv_nsec);
    r[1] = mix64(r[0] + g_key_secret);
  }
  s->head.free_key = r[0] | 1;
  s->head.link_key = r[1];
}

// Maps a segment for slot c from src: at the start of a 4 MiB-aligned chunk,
// the whole chunk, or under an address-space limit a power of two between
// the slot's minimum and tls_seg_len: a class's first segment is the minimum
// (128 KiB for most classes: a program touches tens of classes and most hold
// a few blocks) and each next one doubles, so a busy class pays little for
// headers. When the source refuses, the length is halved down to the slot's
// minimum and tls_seg_len with it. The rest of the chunk stays unmapped: the
// header's data_bytes bounds the blocks, so a pointer there is never taken
// for one. Returns the segment and its length in *len, or NULL (errno).
// REQUIRES: the class lock.
static void *segment_map(xsmem_source *src, unsigned c, size_t *len) {
  tls_central *ce = &tls_centrals[c];
  size_t cap = __atomic_load_n(&tls_seg_len, __ATOMIC_RELAXED), min = tls_seg_min[c];
  size_t want = !__atomic_load_n(&tls_seg_limited, __ATOMIC_RELAXED) ? SEG_SIZE : XSMEM_MAX(XSMEM_MIN(ce->next_seg_len ? ce->next_seg_len : min, cap), min);
  for (;;) {
    size_t got = 0;
    void *mem = xsmem_source_map(src, want, SEG_SIZE, &got);
    if (mem) {
      ce->next_seg_len = XSMEM_MIN(2 * want, SEG_SIZE);
      *len = got;
      return mem;
    }
    if (errno != ENOMEM || want <= min) return NULL;
    want = XSMEM_MAX(want / 2, min);
    __atomic_store_n(&tls_seg_limited, true, __ATOMIC_RELAXED);  // refused without a limit in sight (say, a node limit): from now on, as under one
    size_t cur = __atomic_load_n(&tls_seg_len, __ATOMIC_RELAXED);
    while (cur > want && !__atomic_compare_exchange_n(&tls_seg_len, &cur, want, true, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED)) {
    }
  }
}

// Returns a new segment for class c, tagged in the pagemap; NULL (errno
// ENOMEM) when the source refuses or the pagemap cannot take the tag.
static tls_segment *segment_new(unsigned c) {
  size_t len = 0;
  xsmem_source *src = tls_nnodes > 1 ? tls_node_src[c / tls_nclasses] : tls_g.src;  // the slot's node
  void *mem = segment_map(src, c, &len);
  if (!mem) return NULL;
  if (((uintptr_t)mem & (SEG_SIZE - 1)) != 0) xsmem_fatal("tls_buckets: source returned a misaligned segment");
  if (!xsmem_pagemap_set(mem, SEG_SIZE, XSMEM_TAG_SMALL)) {  // before any block of it exists
    xsmem_source_unmap(src, mem, len);
    errno = ENOMEM;
    return NULL;
  }
  tls_segment *s = (tls_segment *)mem;
  if (!(src->ops->caps & XSMEM_SRC_ZEROED)) memset(s, 0, sizeof(*s));
  uint32_t size = tls_size[c], k = tls_per_slab[c];
  uint32_t nblocks = (uint32_t)((XSMEM_MIN(len, SEG_SIZE) - SEG_HEADER) / size);
  s->size = size;
  s->per_slab = k;
  s->nslabs = nblocks / k;
  s->fresh = 0;
  s->head.cls = c;
  s->head.data_bytes = s->nslabs * k * size;
  s->head.div_magic = UINT64_MAX / size + 1;
  segment_keys(s);
  s->slab_magic = k > 1 ? UINT64_MAX / k + 1 : 0;
  bump(&tls_centrals[c].segment_bytes, (int64_t)len);
  return s;
}

// Returns a slab with room for class c (empty, decommitted, fresh or from a
// new segment), or NULL. REQUIRES: the class lock.
static tls_slab *slab_acquire(unsigned c) {
  tls_central *ce = &tls_centrals[c];
  tls_slab *s = ce->empty;
  if (s) {
    list_remove(&ce->empty, s);
    bump(&ce->nempty, -1);
    return s;
  }
  if ((s = ce->decommitted)) {
    list_remove(&ce->decommitted, s);
    bump(&ce->ndecommitted, -1);
    slab_recommit(s);
    return s;
  }
  tls_segment *seg = ce->cur;
  if (!seg || seg->fresh == seg->nslabs) {
    seg = segment_new(c);
    if (!seg) return NULL;
    seg->next = ce->segments;
    ce->segments = seg;
    ce->cur = seg;
    bump(&ce->nsegments, 1);
  }
  s = &seg->slab[seg->fresh];
  s->seg = seg;
  s->index = seg->fresh++;
  s->free = NULL;
  s->nfree = s->carved = 0;
  return s;
}

// ---------------------------------------------------------------------------
// Links inside free blocks (safe-linked, tls_fast.h) and their checks.

// Sets and reads the list link of free block b (its first word).
static void link_to(void *b, const void *next) { xsmem_tls_next_set(xsmem_tls_seg_of(b), b, next); }
static void *link_of(const void *b) { return xsmem_tls_next_get(xsmem_tls_seg_of(b), b); }

// Returns true when q is the start of a block slot of a small segment (of
// slot c unless c is NO_CLASS): a decoded link that may be followed (read).
// Never faults, whatever q is: the pagemap says whether q's segment exists.
static bool tls_block_of(const void *q, unsigned c) {
  if (xsmem_pagemap_get(q) != XSMEM_TAG_SMALL) return false;
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(q);
  return (c == NO_CLASS || s->cls == c) && xsmem_tls_is_block_start(s, q);
}

// Returns true when next, read from a free block at `from` of slot c, may be
// followed: a block start of from's segment (no pagemap lookup), or else of
// another segment of the class.
static bool link_ok(const void *from, const void *next, unsigned c) {
  if (!(((uintptr_t)from ^ (uintptr_t)next) >> XSMEM_TLS_SEGMENT_SHIFT)) {
    return xsmem_tls_is_block_start(xsmem_tls_seg_of(from), next);
  }
  return tls_block_of(next, c);
}

// Reports heap corruption found in the free block p of slot c (what was
// wrong; link: what its link decoded to, when that was it). Returns only
// under XSMEM_ON_ERROR=warn; the caller then drops what it cannot trust.
XSMEM_COLD static void tls_report_corruption(const char *op, unsigned c, const void *p, const char *what,
                                         const void *link) {
  char node[16] = "", msg[320];
  if (tls_nnodes > 1) xsmem_snprintf(node, sizeof(node), ", node %u", c / tls_nclasses);
  size_t n = xsmem_snprintf(msg, sizeof(msg), "heap corruption in a free %u-byte block (size class %u%s): %s",
                            tls_size[c], c % tls_nclasses, node, what);
  if (link && n < sizeof(msg)) {
    xsmem_snprintf(msg + n, sizeof(msg) - n, " (it decodes to %p, not a block of the class; not followed)", link);
  }
  xsmem_report_bad_pointer(tls_g.base.name, op, p, msg);
}

// A list of blocks being built: head, and the last block (whose link is set
// when the list is closed).
typedef struct block_chain {
  void *head, *last;
} block_chain;

static void chain_add(block_chain *ch, void *b) {
  if (ch->last) link_to(ch->last, b);
  else ch->head = b;
  ch->last = b;
}

// Returns true when q is a block of slab s on its free list (its bit set):
// what a slab's list link must decode to. REQUIRES: the class lock.
static bool slab_holds_free(const tls_slab *s, const void *q) {
  tls_segment *seg = s->seg;
  if (((uintptr_t)q ^ (uintptr_t)seg) >> XSMEM_TLS_SEGMENT_SHIFT || !xsmem_tls_is_block_start(&seg->head, q)) {
    return false;
  }
  uint32_t j = block_index(seg, q);
  return slab_of(seg, j) == s->index && (seg->bitmap[j >> 6] >> (j & 63) & 1);
}

// Moves up to `want` blocks of class c out of the central list into a NULL-
// terminated list; returns how many. Freshly carved blocks come first and
// blocks that were freed before come last: a thread pops its list from the
// head, so the first block it uses is one no other thread has had, rather
// than one another thread just gave back next to blocks it still writes
// (see t_cacheless_frees). REQUIRES: the class lock.
static uint32_t tls_central_take(unsigned c, uint32_t want, void **out) {
  tls_central *ce = &tls_centrals[c];
  block_chain fresh = {NULL, NULL}, reused = {NULL, NULL};
  uint32_t got = 0;
  while (got < want) {
    tls_slab *s = ce->partial;
    if (!s) {
      if (!(s = slab_acquire(c))) break;
      s->state = SLAB_PARTIAL;
      list_push(&ce->partial, s);
    }
    tls_segment *seg = s->seg;
    while (got < want && s->free) {
      void *b = s->free;
      void *next = link_of(b);
      if (next && !slab_holds_free(s, next)) {
        // Not followed: the blocks after b stay counted free in the slab
        // (nfree, bitmap), so the slab still empties, and is carved anew,
        // once its other blocks come back.
        tls_report_corruption("malloc", c, b, "its central free-list link was overwritten (write after free)", next);
        next = NULL;
      }
      s->free = next;
      s->nfree--;
      bump(&ce->free_blocks, -1);
      uint32_t j = block_index(seg, b);
      seg->bitmap[j >> 6] &= ~((uint64_t)1 << (j & 63));
      chain_add(&reused, b);
      got++;
    }
    if (got < want && s->carved < seg->per_slab) {
      char *b = slab_start(s) + (size_t)s->carved * seg->size;
      uint32_t n = XSMEM_MIN(want - got, seg->per_slab - s->carved);
      for (uint32_t i = 0; i < n; i++, b += seg->size) {
        XSMEM_TOOL_POISON(b, seg->size);  // fresh blocks are held by the tier too
        xsmem_tls_key_set(b, seg->head.free_key);  // as every block the tier holds (a pop checks it)
        chain_add(&fresh, b);
      }
      s->carved += n;
      got += n;
    }
    if (!s->free && s->carved == seg->per_slab) {
      list_remove(&ce->partial, s);
      s->state = SLAB_FULL;
    }
  }
  if (fresh.last) link_to(fresh.last, reused.head);
  if (reused.last) link_to(reused.last, NULL);
  bump(&ce->out, got);
  *out = fresh.head ? fresh.head : reused.head;
  return got;
}

// Gives one block back to its slab. Returns true when the slab became empty
// and waits for the purger. REQUIRES: the class lock; p a block start.
static bool tls_central_put(unsigned c, void *p) {
  tls_central *ce = &tls_centrals[c];
  tls_segment *seg = (tls_segment *)xsmem_tls_seg_of(p);
  uint32_t j = block_index(seg, p), k = slab_of(seg, j);
  tls_slab *s = &seg->slab[k];
  uint64_t bit = (uint64_t)1 << (j & 63);
  if (j - k * seg->per_slab >= s->carved || s->index >= seg->fresh) {
    xsmem_report_bad_pointer(tls_g.base.name, "free", p, "double free (its slab was already emptied) or block never allocated");
    return false;
  }
  if (seg->bitmap[j >> 6] & bit) {
    xsmem_report_bad_pointer(tls_g.base.name, "free", p, "double free");
    return false;
  }
  seg->bitmap[j >> 6] |= bit;
  link_to(p, s->free);
  s->free = p;
  s->nfree++;
  bump(&ce->free_blocks, 1);
  bump(&ce->out, -1);
  if (s->state == SLAB_FULL) {
    s->state = SLAB_PARTIAL;
    list_push(&ce->partial, s);
  }
  if (s->nfree != s->carved) return false;
  // Empty: forget its blocks (carving restarts at 0) and park it.
  list_remove(&ce->partial, s);
  size_t first = (size_t)s->index * seg->per_slab, last = first + s->carved;
  for (size_t b = first; b < last; b++) seg->bitmap[b >> 6] &= ~((uint64_t)1 << (b & 63));
  bump(&ce->free_blocks, -(int64_t)s->nfree);
  s->free = NULL;
  s->nfree = s->carved = 0;
  if (tls_g.opt.decommit_delay_ms == 0) {
    add_relaxed(&tls_g.bytes_decommitted, tls_slab_decommit(s));
    s->state = SLAB_DECOMMITTED;
    list_push(&ce->decommitted, s);
    bump(&ce->ndecommitted, 1);
    return false;
  }
  s->state = SLAB_EMPTY;
  s->empty_since = now_ms();
  list_push(&ce->empty, s);
  bump(&ce->nempty, 1);
  return tls_g.opt.decommit_delay_ms > 0;
}

static void tls_purger_start(void);

// Gives a NULL-terminated list of class-c blocks back to the central list.
static void tls_central_put_list(unsigned c, void *list) {
  bool emptied = false;
  tls_central_lock(&tls_centrals[c]);
  while (list) {
    void *next = link_of(list);
    if (next && !link_ok(list, next, c)) {
      tls_report_corruption("free", c, list, "its free-list link was overwritten (write after free)", next);
      next = NULL;  // the rest of the list is lost, not followed
    }
    emptied |= tls_central_put(c, list);
    list = next;
  }
  xsmem_spin_unlock(&tls_centrals[c].lock);
  if (emptied) tls_purger_start();
}

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

static bool budget_allows(uint64_t bytes) {
  return !tls_g.opt.total_bytes || load_relaxed(&tls_g.held) + bytes <= tls_g.opt.total_bytes;
}

static void held_add(int64_t bytes) { __atomic_fetch_add(&tls_g.held, (uint64_t)bytes, __ATOMIC_RELAXED); }

// ---------------------------------------------------------------------------
// The global batch stacks: lock-free, ABA-safe through the tag. A batch is
// tls_batch[c] blocks linked through word 0; a word of its first block links
// the batch below it. Segments are never unmapped, so reading a stale top's
// link cannot fault; the CAS then fails on the tag.

// The word of a batch's first block that links the batch below it: word 2,
// past the free key (tls_fast.h), in blocks of 32 bytes or more; word 1 in
// 16-byte blocks, which have no other, and get their key back when the
// batch comes off (tls_batch_unlinked).
static unsigned batch_link_word(const void *batch) { return tls_size[xsmem_tls_seg_of(batch)->cls] > 16 ? 2 : 1; }

// A pop reads the link from a top that another thread may have popped and
// handed out meanwhile (the CAS then fails): an atomic, and no tool
// check (its poisoning says nothing then). Safe-linked as a list's link is,
// with the address of its own word (tls_fast.h).
TOOL_NO_CHECKS static void tls_batch_link_set(void *batch, void *below) {
  void **slot = &((void **)batch)[batch_link_word(batch)];
  TOOL_CHECKS_OFF();
  __atomic_store_n(slot, xsmem_tls_decode(xsmem_tls_seg_of(batch), slot, below), __ATOMIC_RELAXED);
  TOOL_CHECKS_ON();
}

TOOL_NO_CHECKS static void *tls_batch_link_get(void *batch) {
  void **slot = &((void **)batch)[batch_link_word(batch)];
  TOOL_CHECKS_OFF();
  void *stored = __atomic_load_n(slot, __ATOMIC_ACQUIRE);  // before tls_stack_pop's second look at the head
  TOOL_CHECKS_ON();
  return xsmem_tls_decode(xsmem_tls_seg_of(batch), slot, stored);
}

// A batch taken off a stack or a list of batches: its first block holds the
// free key again.
static void tls_batch_unlinked(void *batch) {
  if (batch_link_word(batch) == 1) xsmem_tls_key_set(batch, xsmem_tls_seg_of(batch)->free_key);
}

#define STACK_DEPTH(hi) ((hi)&0xffffu)
#define STACK_NEXT_TAG(hi) ((((hi) >> 16) + 1) << 16)

static bool tls_stack_push(unsigned c, void *batch) {
  tls_stack *st = &tls_stacks[c];
  uint64_t bytes = (uint64_t)tls_batch[c] * tls_size[c];
  if (!budget_allows(bytes)) return false;
  xsmem_pair128 old = xsmem_load128(&st->head);
  for (;;) {
    if (STACK_DEPTH(old.hi) >= tls_depth[c]) {
      tls_batch_unlinked(batch);  // a 16-byte head's link, written by a try that lost the race, goes
      return false;
    }
    tls_batch_link_set(batch, (void *)(uintptr_t)old.lo);
    xsmem_pair128 nw = {(uint64_t)(uintptr_t)batch, STACK_NEXT_TAG(old.hi) | (STACK_DEPTH(old.hi) + 1)};
    if (xsmem_cas128(&st->head, &old, nw)) break;
    add_relaxed(&st->cas_retries, 1);
  }
  held_add((int64_t)bytes);
  if (!__atomic_load_n(&st->active, __ATOMIC_RELAXED)) __atomic_store_n(&st->active, 1, __ATOMIC_RELAXED);
  return true;
}

static void *tls_stack_pop(unsigned c) {
  tls_stack *st = &tls_stacks[c];
  void *top = NULL;
  uint64_t taken = 0;  // batches off the stack: the top, and those dropped below a bad link
#ifdef XSMEM_CAS128_LOCKED
  xsmem_spin_lock(&st->pop_lock);
#endif
  xsmem_pair128 old = xsmem_load128(&st->head);
  while (old.lo) {
    taken = 1;
    void *next = tls_batch_link_get((void *)(uintptr_t)old.lo);
    xsmem_pair128 nw = {(uint64_t)(uintptr_t)next, STACK_NEXT_TAG(old.hi) | (STACK_DEPTH(old.hi) - 1)};
    if (next && !tls_block_of(next, c)) {
      // A stale top (popped meanwhile, and written by its new owner) moved
      // the head on: try again. A head unchanged since (the tag changes with
      // every push and pop; the link's load is an acquire, so this load
      // follows it) held its top while the link was read: the link was
      // overwritten on the stack.
      xsmem_pair128 now = xsmem_load128(&st->head);
      if (now.lo != old.lo || now.hi != old.hi) {
        old = now;
        continue;
      }
      tls_report_corruption("malloc", c, (void *)(uintptr_t)old.lo,
                        "its batch link on the global stack was overwritten (write after free)", next);
      nw.lo = 0;  // the batches below are dropped, not followed (nor counted)
      nw.hi = STACK_NEXT_TAG(old.hi);
      taken = STACK_DEPTH(old.hi);
    }
    if (xsmem_cas128(&st->head, &old, nw)) {
      top = (void *)(uintptr_t)old.lo;
      break;
    }
    add_relaxed(&st->cas_retries, 1);
  }
#ifdef XSMEM_CAS128_LOCKED
  xsmem_spin_unlock(&st->pop_lock);
#endif
  if (!top) return NULL;
  tls_batch_unlinked(top);
  held_add(-(int64_t)(taken * tls_batch[c] * tls_size[c]));
  if (!__atomic_load_n(&st->active, __ATOMIC_RELAXED)) __atomic_store_n(&st->active, 1, __ATOMIC_RELAXED);
  return top;
}

// ---------------------------------------------------------------------------
// Thread caches: creation, flush, exit.

static void tls_thread_exit(void *arg);

// A list's length is kept in its bin's counts (tls_fast.h): these read and
// set it. Its bound is the cache's cap: 0 until the thread uses the class
// (every operation of it goes to the slow path, which opens the list), then
// tls_cap.
static uint32_t bin_count(const xsmem_tls_cache *tc, unsigned c) {
  const xsmem_tls_bin *b = &tc->bin[c];
  return (uint32_t)((int64_t)(b->frees - b->allocs) - b->stop + (int64_t)tc->cap[c]);
}

static void bin_set(xsmem_tls_cache *tc, unsigned c, void *list, uint32_t n) {
  xsmem_tls_bin *b = &tc->bin[c];
  b->head = list;
  b->stop = (int64_t)(b->frees - b->allocs) - (int64_t)n + (int64_t)tc->cap[c];
}

// Opens the calling thread's list of class c (its first use since the
// cache's last flush): counted at its bound from now on.
static void list_open(xsmem_tls_cache *tc, unsigned c) {
  uint32_t n = bin_count(tc, c);  // 0: a closed list is empty
  tc->cap[c] = tls_cap[c];
  held_add((int64_t)tls_cap[c] * tls_size[c]);
  __atomic_store_n(&tc->list_bytes, tc->list_bytes + (uint64_t)tls_cap[c] * tls_size[c], __ATOMIC_RELAXED);
  bin_set(tc, c, tc->bin[c].head, n);
}

static xsmem_tls_cache *cache_create(void) {
  xsmem_spin_lock(&tls_g.threads_lock);
  xsmem_tls_cache *tc = tls_g.pool;
  if (tc) {
    tls_g.pool = tc->next;
    memset(tc, 0, sizeof(*tc));
  } else {
    size_t need = xsmem_align_up(sizeof(xsmem_tls_cache), XSMEM_CACHE_LINE);
    if (tls_g.pool_left < need) {
      size_t chunk = 64 * XSMEM_KiB;
      char *mem = (char *)xsmem_os_map(chunk, xsmem_os_page_size(), 0);
      if (!mem) {
        xsmem_spin_unlock(&tls_g.threads_lock);
        return NULL;
      }
      tls_g.pool_chunk = mem;
      tls_g.pool_left = chunk;
      bump(&tls_g.pool_bytes, (int64_t)chunk);  // read without the lock by the statistics
    }
    tc = (xsmem_tls_cache *)tls_g.pool_chunk;
    tls_g.pool_chunk += need;
    tls_g.pool_left -= need;
  }
  // Fresh chunks are zero: only a reused cache is cleared, so a thread touches
  // the pages of the slots in use, not the whole (per-node sized) cache.
  for (unsigned c = 0; c < tls_nslots; c++) {
    bin_set(tc, c, NULL, 0);  // closed (cap 0) until the thread uses the class
    tc->refill[c] = (uint32_t)XSMEM_MIN(XSMEM_MAX(4096 / tls_size[c], 1), tls_batch[c]);
  }
  tc->next = tls_g.threads;
  if (tls_g.threads) tls_g.threads->prev = tc;
  tls_g.threads = tc;
  tls_g.threads_live++;
  xsmem_spin_unlock(&tls_g.threads_lock);
  xsmem_tls_cache_ = tc;  // before setspecific, which may allocate
  pthread_setspecific(tls_g.key, tc);
  return tc;
}

// Takes the spare batch of class c out of a cache (NULL: none). The owner
// and the purger both may: whoever exchanges it out owns it.
static void *tls_spare_take(xsmem_tls_cache *tc, unsigned c) {
  if (!__atomic_load_n(&tc->spare[c], __ATOMIC_RELAXED)) return NULL;
  void *s = __atomic_exchange_n(&tc->spare[c], NULL, __ATOMIC_ACQUIRE);
  if (s) {
    __atomic_fetch_sub(&tc->spare_bytes, (uint64_t)tls_batch[c] * tls_size[c], __ATOMIC_RELAXED);
    held_add(-(int64_t)tls_batch[c] * tls_size[c]);
  }
  return s;
}

// Gives a list of class-c blocks that left a thread cache to the global stack
// (a full batch, when the stack has room) or to the central list.
static void cache_release(unsigned c, void *list, uint32_t n) {
  if (n != tls_batch[c] || !tls_stack_push(c, list)) tls_central_put_list(c, list);
}

// Moves everything in a thread's cache to the stacks (whole batches) and the
// central lists (the rest), and closes every list (its bound no longer
// counted in the budget until the thread uses the class again).
static void cache_flush(xsmem_tls_cache *tc) {
  for (unsigned c = 0; c < tls_nslots; c++) {
    void *spare = tls_spare_take(tc, c), *list = tc->bin[c].head;
    uint32_t n = bin_count(tc, c);
    tc->cap[c] = 0;
    bin_set(tc, c, NULL, 0);
    if (spare) cache_release(c, spare, tls_batch[c]);
    if (list) cache_release(c, list, n);
  }
  held_add(-(int64_t)tc->list_bytes);
  __atomic_store_n(&tc->list_bytes, 0, __ATOMIC_RELAXED);
}

static void tls_thread_exit(void *arg) {
  xsmem_tls_cache *tc = (xsmem_tls_cache *)arg;
  cache_flush(tc);
  xsmem_tls_cache_ = &tls_empty_cache;
  t_exited = 1;  // later calls of this thread go cacheless
  xsmem_spin_lock(&tls_g.threads_lock);
  for (unsigned c = 0; c < tls_nslots; c++) {
    tls_g.dead_allocs[c] += load_relaxed(&tc->bin[c].allocs);
    tls_g.dead_frees[c] += load_relaxed(&tc->bin[c].frees);
  }
  if (tc->prev) tc->prev->next = tc->next;
  else tls_g.threads = tc->next;
  if (tc->next) tc->next->prev = tc->prev;
  tc->next = tls_g.pool;
  tls_g.pool = tc;
  tls_g.threads_live--;
  tls_g.threads_exited++;
  xsmem_spin_unlock(&tls_g.threads_lock);
}

uint32_t xsmem_tls_thread_cached(unsigned c) {
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  if (tc == &tls_empty_cache || c >= tls_nslots) return 0;
  return bin_count(tc, c) + (__atomic_load_n(&tc->spare[c], __ATOMIC_RELAXED) ? tls_batch[c] : 0);
}

uint32_t xsmem_tls_thread_cache_limit(unsigned c) { return c < tls_nslots ? tls_limit[c] : 0; }

void xsmem_tls_flush_thread(void) {
  if (xsmem_tls_cache_ != &tls_empty_cache) cache_flush(xsmem_tls_cache_);
}

// ---------------------------------------------------------------------------
// Slow paths.

static void *direct_alloc(unsigned c) {
  void *p;
  tls_central_lock(&tls_centrals[c]);
  uint32_t n = tls_central_take(c, 1, &p);
  xsmem_spin_unlock(&tls_centrals[c].lock);
  if (!n) {
    add_relaxed(&tls_g.failed, 1);
    errno = ENOMEM;
    return NULL;
  }
  add_relaxed(&tls_g.direct_allocs[c], 1);
  xsmem_tls_tool_alloc(p, c);
  xsmem_tls_key_set(p, 0);
  return p;
}

// Re-reads the caller's node and returns class c's slot on it.
static unsigned node_slot(unsigned c) {
  int n = tls_g.opt.current_node ? tls_g.opt.current_node() : 0;
  unsigned node = n < 0 ? 0 : (unsigned)n % tls_nnodes;
  xsmem_tls_node_base_ = node * tls_nclasses;
  return c % tls_nclasses + xsmem_tls_node_base_;
}

unsigned xsmem_tls_num_nodes(void) { return tls_nnodes; }

unsigned xsmem_tls_node_refresh(void) {
  if (tls_nnodes > 1 && tls_nclasses) node_slot(0);
  return tls_nclasses ? xsmem_tls_node_base_ / tls_nclasses : 0;
}

// A block of a class no thread caches: from the global stack (batches of
// one block), else the central list. The bin only counts (its bound stays 0,
// so every free of the class comes to the slow path).
static void *uncached_alloc(xsmem_tls_cache *tc, unsigned c) {
  void *p = tls_stack_pop(c);
  if (!p) {
    tls_central_lock(&tls_centrals[c]);
    uint32_t n = tls_central_take(c, 1, &p);
    xsmem_spin_unlock(&tls_centrals[c].lock);
    if (!n) {
      add_relaxed(&tls_g.failed, 1);
      errno = ENOMEM;
      return NULL;
    }
  }
  if (xsmem_tls_key_get(p) != xsmem_tls_seg_of(p)->free_key) {
    tls_report_corruption("malloc", c, p, "its free key was overwritten (write after free)", NULL);
    return uncached_alloc(tc, c);  // p is not trusted: left where it is
  }
  void *next = link_of(p);  // a batch of one block: its list ends there
  if (next) tls_report_corruption("malloc", c, p, "its free-list link was overwritten (write after free)", next);
  xsmem_tls_count_(&tc->bin[c].allocs);
  bin_set(tc, c, NULL, 0);
  xsmem_tls_tool_alloc(p, c);
  xsmem_tls_key_set(p, 0);
  return p;
}

void *xsmem_tls_alloc_slow(unsigned c) {
  if (tls_nnodes > 1) c = node_slot(c);  // a migrated thread follows at its next refill
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  if (tc == &tls_empty_cache) {
    if (t_exited || !(tc = cache_create())) return direct_alloc(c);
  }
  xsmem_tls_bin *b = &tc->bin[c];
  if (!tls_cap[c]) return uncached_alloc(tc, c);
  if (!tc->cap[c]) list_open(tc, c);
  if (!b->head) {
    // The spare batch, else a batch from the global stack, else the central list.
    void *list = tls_spare_take(tc, c);
    uint32_t n = tls_batch[c];
    if (!list) list = tls_stack_pop(c);
    if (!list) {
      n = tc->refill[c];
      if (n < tls_batch[c]) tc->refill[c] = XSMEM_MIN(2 * n, tls_batch[c]);
      tls_central_lock(&tls_centrals[c]);
      n = tls_central_take(c, n, &list);
      xsmem_spin_unlock(&tls_centrals[c].lock);
      if (!n) {
        add_relaxed(&tls_g.failed, 1);
        errno = ENOMEM;
        return NULL;
      }
    }
    bin_set(tc, c, list, n);
  }
  return xsmem_tls_pop_checked(c);
}

void *xsmem_tls_pop_checked(unsigned c) {
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  xsmem_tls_bin *b = &tc->bin[c];
  void *p = b->head;  // a block of slot c: every link was checked before it became the head
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
  if (xsmem_tls_key_get(p) != s->free_key) {
    // Not a block the tier holds (a bad link that stayed in the segment),
    // or one whose first words were overwritten after free: neither it nor
    // its link is trusted. The list is dropped and refilled.
    tls_report_corruption("malloc", c, p, "its free key was overwritten (write after free)", NULL);
    bin_set(tc, c, NULL, 0);
    return xsmem_tls_alloc_slow(c);
  }
  void *next = xsmem_tls_next_get(s, p);
  if (next && !link_ok(p, next, c)) {
    tls_report_corruption("malloc", c, p, "its free-list link was overwritten (write after free)", next);
    bin_set(tc, c, p, 1);  // the list ends at p: the rest is lost, not followed
    next = NULL;
  }
  b->head = next;
  xsmem_tls_count_(&b->allocs);
  xsmem_tls_tool_alloc(p, c);
  xsmem_tls_key_set(p, 0);
  return p;
}

void xsmem_tls_free_slow(void *p) {
  unsigned c = xsmem_tls_seg_of(p)->cls;
  uint64_t key = xsmem_tls_seg_of(p)->free_key;
  if (xsmem_tls_key_get(p) == key) {
    xsmem_report_bad_pointer(tls_g.base.name, "free", p, "double free (block already freed)");
    return;
  }
  xsmem_tls_key_set(p, key);  // every block the tier takes back, wherever it goes
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  if (tc == &tls_empty_cache) {
    if (t_exited || t_cacheless_frees++ < kCachelessFrees || !(tc = cache_create())) {
      tls_central_lock(&tls_centrals[c]);
      bool emptied = tls_central_put(c, p);
      xsmem_spin_unlock(&tls_centrals[c].lock);
      add_relaxed(&tls_g.direct_frees[c], 1);
      if (emptied) tls_purger_start();
      return;
    }
  }
  xsmem_tls_bin *b = &tc->bin[c];
  if (!tls_cap[c]) {  // not thread-cached: a batch of one block, to the stack or its slab
    link_to(p, NULL);
    cache_release(c, p, 1);
    xsmem_tls_count_(&b->frees);
    bin_set(tc, c, NULL, 0);
    return;
  }
  if (!tc->cap[c]) list_open(tc, c);
  uint32_t n = bin_count(tc, c);
  if (n >= tls_batch[c]) {
    // The full list (one batch, NULL-terminated) becomes the spare, if the
    // thread's spares stay within their budget and the process within its
    // own; the spare it replaces goes to the global stack. No walk of a list.
    void *full = b->head, *old = tls_spare_take(tc, c);
    uint64_t bytes = (uint64_t)tls_batch[c] * tls_size[c];
    bin_set(tc, c, NULL, 0);
    if (tls_spare[c] && __atomic_load_n(&tc->spare_bytes, __ATOMIC_RELAXED) + bytes <= tls_g.opt.spare_bytes &&
        budget_allows(bytes)) {
      __atomic_fetch_add(&tc->spare_bytes, bytes, __ATOMIC_RELAXED);
      held_add((int64_t)bytes);
      __atomic_store_n(&tc->spare[c], full, __ATOMIC_RELEASE);
    } else {
      cache_release(c, full, n);
    }
    if (old) cache_release(c, old, tls_batch[c]);
  }
  link_to(p, b->head);
  b->head = p;
  xsmem_tls_count_(&b->frees);
}

void xsmem_tls_free_bad(void *p) {
  xsmem_report_bad_pointer(tls_g.base.name, "free", p, "not the start of a block (interior pointer)");
}

// ---------------------------------------------------------------------------
// The purger.

static size_t (*g_hook)(void *);
static void *g_hook_ctx;

void xsmem_tls_set_purge_hook(size_t (*fn)(void *ctx), void *ctx) {
  __atomic_store_n(&g_hook_ctx, ctx, __ATOMIC_RELAXED);
  __atomic_store_n(&g_hook, fn, __ATOMIC_RELEASE);
}

// Takes back the spare batches of classes that a thread has not used since
// the last pass (every spare when !idle_only): a thread that sits idle
// holding its cache keeps at most its lists. Lists stay: only their owner
// touches them.
static void purge_spares(bool idle_only) {
  void *taken = NULL;  // batches, linked like the stacks'
  xsmem_spin_lock(&tls_g.threads_lock);
  for (xsmem_tls_cache *tc = tls_g.threads; tc; tc = tc->next) {
    for (unsigned c = 0; c < tls_nslots; c++) {
      uint64_t ops = load_relaxed(&tc->bin[c].allocs) + load_relaxed(&tc->bin[c].frees);
      bool idle = ops == tc->purge_seen[c];
      tc->purge_seen[c] = ops;
      if (!idle && idle_only) continue;
      void *spare = tls_spare_take(tc, c);
      if (spare) {
        tls_batch_link_set(spare, taken);
        taken = spare;
      }
    }
  }
  xsmem_spin_unlock(&tls_g.threads_lock);
  // Released with no lock held: tls_central_put_list may start the purger thread,
  // and pthread_create may allocate.
  while (taken) {
    void *next = tls_batch_link_get(taken);
    unsigned c = xsmem_tls_seg_of(taken)->cls;
    if (next && !tls_block_of(next, NO_CLASS)) {
      tls_report_corruption("free", c, taken, "its batch link was overwritten (write after free)", next);
      next = NULL;  // the spares after it are lost, not followed
    }
    tls_batch_unlinked(taken);
    tls_central_put_list(c, taken);
    taken = next;
  }
}

static size_t purge_pass(long min_age_ms, bool idle_only) {
  size_t released = 0;
  purge_spares(idle_only);
  for (unsigned c = 0; c < tls_nslots; c++) {
    tls_stack *st = &tls_stacks[c];
    if (!idle_only || !__atomic_load_n(&st->active, __ATOMIC_RELAXED)) {
      void *batch;
      while ((batch = tls_stack_pop(c)) != NULL) tls_central_put_list(c, batch);
    }
    __atomic_store_n(&st->active, 0, __ATOMIC_RELAXED);
    tls_central *ce = &tls_centrals[c];
    if (!load_relaxed(&ce->nempty)) continue;
    tls_central_lock(ce);
    uint64_t now = now_ms();
    for (tls_slab *s = ce->empty, *next; s; s = next) {
      next = s->next;
      if (min_age_ms > 0 && now - s->empty_since < (uint64_t)min_age_ms) continue;
      list_remove(&ce->empty, s);
      bump(&ce->nempty, -1);
      released += tls_slab_decommit(s);
      s->state = SLAB_DECOMMITTED;
      list_push(&ce->decommitted, s);
      bump(&ce->ndecommitted, 1);
    }
    xsmem_spin_unlock(&ce->lock);
  }
  add_relaxed(&tls_g.bytes_decommitted, released);
  add_relaxed(&tls_g.purger_passes, 1);
  size_t (*hook)(void *) = __atomic_load_n(&g_hook, __ATOMIC_ACQUIRE);
  if (hook) released += hook(__atomic_load_n(&g_hook_ctx, __ATOMIC_RELAXED));
  return released;
}

size_t xsmem_tls_purge(long min_age_ms) {
  if (atomic_load(&tls_g.state) != 2) return 0;
  return purge_pass(min_age_ms, false);
}

static void *purger_main(void *arg) {
  long delay = tls_g.opt.decommit_delay_ms;
  long tick = XSMEM_MAX(1, XSMEM_MIN(delay / 4, 250));
  for (;;) {
    struct timespec ts = {tick / 1000, (tick % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    purge_pass(delay, true);
  }
  return arg;
}

// Starts the purger once (and again in a forked child). Called with no lock held.
static void tls_purger_start(void) {
  int expected = 0;
  if (atomic_load_explicit(&tls_g.purger, memory_order_relaxed) != 0 ||
      !atomic_compare_exchange_strong(&tls_g.purger, &expected, 1)) {
    return;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * XSMEM_KiB);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the purger takes no signals
  pthread_t t;
  if (pthread_create(&t, &attr, purger_main, NULL) != 0) {
    xsmem_log("tls_buckets: cannot start the purger thread; empty slabs stay committed until trim");
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

void xsmem_tls_purger_start(void) { tls_purger_start(); }

// ---------------------------------------------------------------------------
// The allocator ops.

unsigned xsmem_tls_class_count(void) { return tls_nclasses; }
size_t xsmem_tls_class_size(unsigned c) { return c < tls_nclasses ? tls_size[c] : 0; }

// Returns the smallest class of at least n bytes whose blocks are all aligned
// to align (block size a multiple of it; slabs start 64 KiB-aligned).
static unsigned class_for(size_t n, size_t align) {
  if (n > xsmem_tls_small_max_ || align > SEG_HEADER) return NO_CLASS;
  unsigned c = xsmem_tls_class_of(XSMEM_MAX(n, align));
  for (; c < tls_nclasses; c++) {
    if (tls_size[c] % align == 0) return c;
  }
  return NO_CLASS;
}

static void *tls_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  if (!xsmem_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  unsigned c = align <= XSMEM_MIN_ALIGN && size <= xsmem_tls_small_max_ ? xsmem_tls_class_of(size)
                                                                         : class_for(size, align);
  if (c == NO_CLASS) {
    add_relaxed(&tls_g.failed, 1);
    errno = ENOMEM;
    return NULL;
  }
  void *p = xsmem_tls_pop_(c + xsmem_tls_node_base_);  // the caller's node's slot (0 with one node)
  if (!p) return NULL;
  if (flags & XSMEM_ALLOC_ZERO) memset(p, 0, size);
  return p;
}

// Returns the class of a live small block, or reports p and returns NO_CLASS.
static unsigned check_block(const void *p, const char *op) {
  if (xsmem_pagemap_get(p) != XSMEM_TAG_SMALL) {
    xsmem_report_bad_pointer(tls_g.base.name, op, p, "pointer not allocated by xsmem");
    return NO_CLASS;
  }
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
  if (!xsmem_tls_is_block_start(s, p)) {
    xsmem_report_bad_pointer(tls_g.base.name, op, p, "not the start of a block (interior pointer)");
    return NO_CLASS;
  }
  return s->cls;
}

static void tls_free(xsmem_allocator *a, void *p, size_t size) {
  if (check_block(p, "free") != NO_CLASS) xsmem_tls_free(p);
}

static size_t tls_usable(const xsmem_allocator *a, const void *p) {
  unsigned c = check_block(p, "usable_size");
  return c == NO_CLASS ? 0 : tls_size[c];
}

static bool tls_owns(const xsmem_allocator *a, const void *p) {
  return xsmem_pagemap_get(p) == XSMEM_TAG_SMALL && xsmem_tls_is_block_start(xsmem_tls_seg_of(p), p);
}

static void *tls_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  unsigned c = check_block(p, "realloc");
  if (c == NO_CLASS) {
    errno = EINVAL;
    return NULL;
  }
  if (size <= tls_size[c] && (c == 0 || size > tls_size[c] / 2)) return p;  // fits, wastes at most half
  void *q = tls_alloc(a, size, XSMEM_MIN_ALIGN, 0);
  if (!q) return NULL;
  memcpy(q, p, XSMEM_MIN(size, tls_size[c]));
  xsmem_tls_free(p);
  return q;
}

// Per-class operation counts, live threads and exited ones together.
static void class_counts(uint64_t *allocs, uint64_t *frees) {
  for (unsigned c = 0; c < tls_nslots; c++) {
    allocs[c] = load_relaxed(&tls_g.direct_allocs[c]);
    frees[c] = load_relaxed(&tls_g.direct_frees[c]);
  }
  xsmem_spin_lock(&tls_g.threads_lock);
  for (unsigned c = 0; c < tls_nslots; c++) {
    allocs[c] += tls_g.dead_allocs[c];
    frees[c] += tls_g.dead_frees[c];
  }
  for (xsmem_tls_cache *tc = tls_g.threads; tc; tc = tc->next) {
    for (unsigned c = 0; c < tls_nslots; c++) {
      allocs[c] += load_relaxed(&tc->bin[c].allocs);
      frees[c] += load_relaxed(&tc->bin[c].frees);
    }
  }
  xsmem_spin_unlock(&tls_g.threads_lock);
}

static uint64_t rd(const uint64_t *x) { return __atomic_load_n(x, __ATOMIC_RELAXED); }

static void tls_stats(const xsmem_allocator *a, xsmem_stats *out) {
  *out = xsmem_stats_init();
  if (atomic_load(&tls_g.state) != 2) return;
  uint64_t allocs[XSMEM_TLS_MAX_SLOTS], frees[XSMEM_TLS_MAX_SLOTS];
  class_counts(allocs, frees);
  uint64_t largest_free = 0, cached = 0;
  for (unsigned c = 0; c < tls_nslots; c++) {
    tls_central *ce = &tls_centrals[c];
    uint64_t live = allocs[c] - frees[c];
    out->num_allocs += allocs[c];
    out->num_frees += frees[c];
    out->bytes_in_use += live * tls_size[c];
    if (allocs[c]) out->largest_alloc_size = XSMEM_MAX(out->largest_alloc_size, tls_size[c]);
    uint64_t out_blocks = rd(&ce->out), free_blocks = rd(&ce->free_blocks);
    uint64_t idle = (out_blocks > live ? out_blocks - live : 0) + free_blocks;
    cached += idle * tls_size[c];
    if (idle) largest_free = XSMEM_MAX(largest_free, tls_size[c]);
    out->bytes_reserved += rd(&ce->segment_bytes);
    out->bytes_metadata += rd(&ce->nsegments) * xsmem_align_up(sizeof(tls_segment), xsmem_os_page_size());
  }
  out->bytes_cached = cached;
  out->bytes_metadata += rd(&tls_g.pool_bytes);
  out->num_failed = rd(&tls_g.failed);
  uint64_t peak = rd(&tls_g.peak);
  while (out->bytes_in_use > peak && !__atomic_compare_exchange_n(&tls_g.peak, &peak, out->bytes_in_use, true,
                                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  out->peak_bytes_in_use = XSMEM_MAX(peak, out->bytes_in_use);
  out->fragmentation = cached ? 1.0 - (double)largest_free / (double)cached : 0.0;
  if (out->fragmentation < 0) out->fragmentation = 0;
}

void xsmem_tls_get_counters(xsmem_tls_counters *o) {
  memset(o, 0, sizeof(*o));
  xsmem_spin_lock(&tls_g.threads_lock);
  o->threads_live = tls_g.threads_live;
  o->threads_exited = tls_g.threads_exited;
  for (xsmem_tls_cache *tc = tls_g.threads; tc; tc = tc->next) {
    o->bytes_lists += load_relaxed(&tc->list_bytes);
    o->bytes_spares += load_relaxed(&tc->spare_bytes);
  }
  xsmem_spin_unlock(&tls_g.threads_lock);
  for (unsigned c = 0; c < tls_nslots; c++) {
    o->segments += rd(&tls_centrals[c].nsegments);
    o->slabs_empty += rd(&tls_centrals[c].nempty);
    o->slabs_decommitted += rd(&tls_centrals[c].ndecommitted);
    o->lock_waits += rd(&tls_centrals[c].lock_waits);
    o->cas_retries += rd(&tls_stacks[c].cas_retries);
    uint64_t depth = STACK_DEPTH(xsmem_load128(&tls_stacks[c].head).hi);
    o->stack_batches += depth;
    o->bytes_stacks += depth * tls_batch[c] * tls_size[c];
  }
  o->bytes_held = load_relaxed(&tls_g.held);
  o->bytes_decommitted = rd(&tls_g.bytes_decommitted);
  o->purger_passes = rd(&tls_g.purger_passes);
}

void xsmem_tls_get_node_stats(unsigned node, xsmem_tls_node_stats *o) {
  memset(o, 0, sizeof(*o));
  if (atomic_load(&tls_g.state) != 2 || node >= tls_nnodes) return;
  uint64_t allocs[XSMEM_TLS_MAX_SLOTS], frees[XSMEM_TLS_MAX_SLOTS];
  class_counts(allocs, frees);
  for (unsigned c = node * tls_nclasses; c < (node + 1) * tls_nclasses; c++) {
    o->allocs += allocs[c];
    o->frees += frees[c];
    o->bytes_in_use += (allocs[c] - frees[c]) * tls_size[c];
    o->segments += rd(&tls_centrals[c].nsegments);
  }
}

static void tls_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  if (atomic_load(&tls_g.state) != 2) return;
  uint64_t allocs[XSMEM_TLS_MAX_SLOTS], frees[XSMEM_TLS_MAX_SLOTS];
  class_counts(allocs, frees);
  char label[24];
  for (unsigned c = 0; c < tls_nslots; c++) {
    tls_central *ce = &tls_centrals[c];
    if (!allocs[c] && !rd(&ce->nsegments)) continue;
    if (tls_nnodes > 1) xsmem_snprintf(label, sizeof(label), "%u.node%u", tls_size[c], c / tls_nclasses);
    else xsmem_snprintf(label, sizeof(label), "%u", tls_size[c]);
    sink->value(sink, "class", label, "allocs", "counter", (double)allocs[c]);
    sink->value(sink, "class", label, "frees", "counter", (double)frees[c]);
    sink->value(sink, "class", label, "bytes_in_use", "gauge", (double)((allocs[c] - frees[c]) * tls_size[c]));
    sink->value(sink, "class", label, "segments", "gauge", (double)rd(&ce->nsegments));
    sink->value(sink, "class", label, "slabs_empty", "gauge", (double)rd(&ce->nempty));
    sink->value(sink, "class", label, "slabs_decommitted", "gauge", (double)rd(&ce->ndecommitted));
    sink->value(sink, "class", label, "central_free_blocks", "gauge", (double)rd(&ce->free_blocks));
    sink->value(sink, "class", label, "stack_batches", "gauge",
                (double)STACK_DEPTH(xsmem_load128(&tls_stacks[c].head).hi));
    sink->value(sink, "class", label, "cas_retries", "counter", (double)rd(&tls_stacks[c].cas_retries));
    sink->value(sink, "class", label, "lock_waits", "counter", (double)rd(&ce->lock_waits));
  }
  xsmem_stats s;
  tls_stats(a, &s);
  xsmem_tls_counters k;
  xsmem_tls_get_counters(&k);
  sink->value(sink, "tier", "small", "allocs", "counter", (double)s.num_allocs);
  sink->value(sink, "tier", "small", "frees", "counter", (double)s.num_frees);
  sink->value(sink, "tier", "small", "bytes_in_use", "gauge", (double)s.bytes_in_use);
  sink->value(sink, "tier", "small", "bytes_cached", "gauge", (double)s.bytes_cached);
  sink->value(sink, "tier", "small", "bytes_reserved", "gauge", (double)s.bytes_reserved);
  sink->value(sink, "tier", "small", "bytes_decommitted", "counter", (double)k.bytes_decommitted);
  sink->value(sink, "tier", "small", "slabs_empty", "gauge", (double)k.slabs_empty);
  sink->value(sink, "tier", "small", "slabs_decommitted", "gauge", (double)k.slabs_decommitted);
  sink->value(sink, "tier", "small", "threads_live", "gauge", (double)k.threads_live);
  sink->value(sink, "tier", "small", "threads_exited", "counter", (double)k.threads_exited);
  sink->value(sink, "tier", "small", "purger_passes", "counter", (double)k.purger_passes);
  sink->value(sink, "tier", "small", "bytes_held", "gauge", (double)k.bytes_held);
  sink->value(sink, "tier", "small", "bytes_thread_lists", "gauge", (double)k.bytes_lists);
  sink->value(sink, "tier", "small", "bytes_stacks", "gauge", (double)k.bytes_stacks);
  sink->value(sink, "contention", "small", "stack_cas_retries", "counter", (double)k.cas_retries);
  sink->value(sink, "contention", "small", "central_lock_waits", "counter", (double)k.lock_waits);
}

static size_t tls_trim(xsmem_allocator *a, size_t goal) {
  xsmem_tls_flush_thread();
  return xsmem_tls_purge(0);
}

// Fork: every lock is taken in PREPARE so the child finds them consistent.
static void tls_fork(xsmem_allocator *a, int phase) {
  if (phase == XSMEM_FORK_PREPARE) {
    xsmem_spin_lock(&tls_g.threads_lock);
    for (unsigned c = 0; c < tls_nslots; c++) {
#ifdef XSMEM_CAS128_LOCKED
      xsmem_spin_lock(&tls_stacks[c].pop_lock);
#endif
      xsmem_spin_lock(&tls_centrals[c].lock);
    }
    return;
  }
  for (unsigned c = tls_nslots; c-- > 0;) {
    xsmem_spin_unlock(&tls_centrals[c].lock);
#ifdef XSMEM_CAS128_LOCKED
    xsmem_spin_unlock(&tls_stacks[c].pop_lock);
#endif
  }
  xsmem_spin_unlock(&tls_g.threads_lock);
  if (phase == XSMEM_FORK_CHILD) atomic_store(&tls_g.purger, 0);  // threads do not survive fork
}

static const xsmem_allocator_ops tls_ops = {
    .kind = "tls_buckets",
    .alloc = tls_alloc,
    .free = tls_free,
    .usable_size = tls_usable,
    .owns = tls_owns,
    .realloc = tls_realloc,
    .stats = tls_stats,
    .trim = tls_trim,
    .fork = tls_fork,
    .destroy = NULL,  // thread caches point into it for the life of the process
    .detail = tls_detail,
};

// ---------------------------------------------------------------------------
// Construction.

void xsmem_tls_options_from_env(xsmem_tls_options *o) {
  memset(o, 0, sizeof(*o));
  o->small_max = xsmem_option_bytes("XSMEM_SMALL_MAX");
  o->cache_bytes = xsmem_option_bytes("XSMEM_TLS_CACHE_BYTES");
  o->decommit_delay_ms = (long)xsmem_option_int("XSMEM_DECOMMIT_DELAY_MS");
  o->spare_bytes = xsmem_option_bytes("XSMEM_TLS_SPARE_BYTES");
  o->total_bytes = xsmem_option_bytes("XSMEM_TLS_TOTAL_BYTES");
}

static void build(xsmem_source *src, const xsmem_tls_options *opt) {
  if (opt) tls_g.opt = *opt;
  else xsmem_tls_options_from_env(&tls_g.opt);
  tls_g.opt.small_max = XSMEM_MIN(XSMEM_MAX(tls_g.opt.small_max, XSMEM_KiB), XSMEM_MiB);
  if (tls_g.opt.cache_bytes == 0) tls_g.opt.cache_bytes = 1;
  tls_g.src = src ? src : xsmem_os_source();
  tls_g.base.ops = &tls_ops;
  tls_g.base.name = "tls_buckets";
#ifdef XSMEM_TLS_TOOLS
  XSMEM_TOOL_POOL_CREATE(&g_tool_pool);
#endif
  for (unsigned c = 0; c < XSMEM_TLS_MAX_SLOTS; c++) tls_empty_cache.bin[c].stop = INT64_MIN;
  g_key_secret = random_secret();
  tls_nclasses = xsmem_tls_class_of(tls_g.opt.small_max) + 1;
  for (unsigned c = 0; c < tls_nclasses; c++) {
    size_t size = c < 8 ? 16 * (c + 1) : (size_t)(9 + (c - 8) % 8) << (4 + (c - 8) / 8);
    tls_size[c] = (uint32_t)size;
    tls_per_slab[c] = (uint32_t)XSMEM_MIN(XSMEM_MAX(SLAB_TARGET / size, 1), MAX_PER_SLAB);
    // A block larger than the per-class bound is not thread-cached at all
    // (jemalloc's tcache_max): one block of each such class per thread, up
    // to 1 MiB each, made most of the footprint of many threads.
    size_t limit = XSMEM_MIN(tls_g.opt.cache_bytes / size, CACHE_MAX);
    tls_limit[c] = (uint32_t)limit;
    tls_batch[c] = (uint32_t)XSMEM_MAX(limit / 2, 1);
    tls_cap[c] = limit ? tls_batch[c] : 0;
    tls_spare[c] = limit >= 2 * (size_t)tls_batch[c];
    tls_depth[c] = (uint32_t)XSMEM_MIN(XSMEM_MAX(STACK_MAX_BYTES / ((size_t)tls_batch[c] * size), 2), STACK_MAX_DEPTH);
    if ((SEG_SIZE - SEG_HEADER) / size / tls_per_slab[c] > MAX_SLABS) xsmem_fatal("tls_buckets: class %zu needs too many slabs", size);
    tls_seg_min[c] = (uint32_t)xsmem_next_pow2(SEG_HEADER + (size_t)tls_per_slab[c] * size);
  }
  tls_nnodes = 1;
  if (tls_g.opt.num_nodes > 1 && tls_g.opt.node_source) {
    tls_nnodes = XSMEM_MIN(tls_g.opt.num_nodes, XSMEM_TLS_MAX_NODES);
    for (unsigned n = 0; n < tls_nnodes; n++) {
      if (!(tls_node_src[n] = tls_g.opt.node_source(tls_g.opt.node_ctx, n))) xsmem_fatal("tls_buckets: no source for node %u", n);
    }
    for (unsigned c = tls_nclasses; c < tls_nnodes * tls_nclasses; c++) {  // every node's slots as node 0's
      unsigned k = c % tls_nclasses;
      tls_size[c] = tls_size[k];
      tls_per_slab[c] = tls_per_slab[k];
      tls_limit[c] = tls_limit[k];
      tls_batch[c] = tls_batch[k];
      tls_cap[c] = tls_cap[k];
      tls_spare[c] = tls_spare[k];
      tls_depth[c] = tls_depth[k];
      tls_seg_min[c] = tls_seg_min[k];
    }
  }
  tls_nslots = tls_nnodes * tls_nclasses;
  // Under an address-space limit a segment is at most 1/256 of it (256 KiB
  // under 64 MiB, the whole 4 MiB chunk from 1 GiB up): a program touches
  // tens of classes, each with segments of its own.
  tls_seg_limited = xsmem_os_as_limit() != SIZE_MAX;
  tls_seg_len = xsmem_os_fit_limit(SEG_SIZE, 256, 128 * XSMEM_KiB);
  xsmem_tls_small_max_ = tls_g.opt.small_max;
  if (pthread_key_create(&tls_g.key, tls_thread_exit) != 0) xsmem_fatal("tls_buckets: pthread_key_create failed");
}

xsmem_allocator *xsmem_tls_buckets(xsmem_source *src, const xsmem_tls_options *opt) {
  int expected = 0;
  if (atomic_load_explicit(&tls_g.state, memory_order_acquire) == 2) return &tls_g.base;
  if (atomic_compare_exchange_strong(&tls_g.state, &expected, 1)) {
    build(src, opt);
    atomic_store_explicit(&tls_g.state, 2, memory_order_release);
    return &tls_g.base;
  }
  while (atomic_load_explicit(&tls_g.state, memory_order_acquire) != 2) sched_yield();
  return &tls_g.base;
}
