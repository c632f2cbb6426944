// allocators/pool/pool.c: the LRU pool (model in pool.h).
#include "allocators/pool/pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "allocators/bfc/bfc.h"
#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"
#include "platform/tool_hooks.h"

#define MIN_BLOCK 32                 // a kept block holds its four list links
#define POW2_MAX ((size_t)64 << 20)  // pow2 rounding up to here, then eighths (at most 12.5%)
#define WINDOW 1000                  // requests per auto-resize decision
#define KEPT 1u                      // low bit of a table entry's size: the block is kept
#define TOMB ((uintptr_t)1)          // a deleted table slot

// A kept block's first bytes. The links are safe-linked (glibc's
// safe-linking): each is stored as the pointer ^ its own address ^ the pool's
// random link key, so a pointer written into a kept block after its free
// decodes to garbage, and each is checked before the pool writes through it
// (unlink_kept): it must lead to a kept block whose back link points back.
typedef struct node {
  struct node *lru_prev, *lru_next;  // global LRU: head newest
  struct node *sz_prev, *sz_next;    // blocks of the same size: head newest
} node;

// Tools (platform/tool_hooks.h; nothing in a normal build): kept blocks are
// poisoned whole, their links opened only for the pool's own reads and
// writes. Over a source the pool is a Valgrind MEMPOOL of its own; over a
// backing its blocks are the backing's (live there while kept), so the pool
// only changes their access.
#define NODE_OPEN(n) XSMEM_TOOL_UNPOISON((n), sizeof(node))
#define NODE_CLOSE(n) XSMEM_TOOL_POISON((n), sizeof(node))
#define NODE_SET(p, n, field, v)     \
  do {                               \
    NODE_OPEN(n);                    \
    link_set((p), &(n)->field, (v)); \
    NODE_CLOSE(n);                   \
  } while (0)

typedef struct entry {  // block table: pointer -> size | KEPT
  uintptr_t ptr;        // 0 empty, TOMB deleted
  size_t size;
} entry;

typedef struct bucket {  // size table: size -> newest kept block of that size
  size_t size;           // 0 empty
  node *head;
  uint64_t ghosts;  // blocks of this size evicted and not yet asked for again
} bucket;

struct xsmem_pool {
  xsmem_allocator base;  // first: the allocator interface
  pthread_mutex_t mu;
  xsmem_allocator *backing;  // one of backing and source is set
  xsmem_source *source;
  xsmem_pool_options opt;
  size_t page;
  entry *blocks;
  size_t blocks_cap, blocks_used;  // used counts tombstones too
  bucket *sizes;
  size_t sizes_cap, sizes_used;
  node *lru_head, *lru_tail;
  uint64_t link_key;  // mixed into every link stored in a kept block (random)
  // Counters, exact under mu.
  uint64_t allocs, frees, failed, hits, misses, evictions, puts, resizes;
  uint64_t in_use, peak, largest, cached, cached_blocks, live_blocks, source_bytes;
  // The auto-resize window.
  uint64_t w_requests, w_hits, w_ghost_hits, w_peak_cached;
};

// ---------------------------------------------------------------------------
// Rounding.

size_t xsmem_pool_round(const xsmem_pool *p, size_t n) {
  if (n < MIN_BLOCK) n = MIN_BLOCK;
  size_t r;
  if (p->opt.rounding == XSMEM_POOL_ROUND_POW2 && n <= POW2_MAX) {
    r = xsmem_next_pow2(n);
  } else if (p->opt.rounding == XSMEM_POOL_ROUND_POW2) {
    // Past POW2_MAX, an eighth of the power of two below: doubling a 3 GiB
    // request would spend a whole GiB of the backing's limit on rounding.
    size_t step = ((size_t)1 << (63 - __builtin_clzll((unsigned long long)(n - 1)))) / 8;
    if (!xsmem_align_up_checked(n, step, &r)) return 0;
  } else if (!xsmem_align_up_checked(n, XSMEM_MIN_ALIGN, &r)) {
    return 0;
  }
  if (p->source && !xsmem_align_up_checked(r, p->page, &r)) return 0;
  return r;
}

// ---------------------------------------------------------------------------
// Tables (open addressing, linear probing, os_vm memory).

XSMEM_INLINE size_t hash_word(uintptr_t x, size_t cap) {
  return (size_t)((x >> 4) * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
}

// Returns the entry of ptr, or NULL.
static entry *block_find(const xsmem_pool *p, uintptr_t ptr) {
  if (!p->blocks_cap) return NULL;
  for (size_t i = hash_word(ptr, p->blocks_cap);; i = (i + 1) & (p->blocks_cap - 1)) {
    entry *e = &p->blocks[i];
    if (e->ptr == ptr) return e;
    if (e->ptr == 0) return NULL;
  }
}

static void block_put(entry *table, size_t cap, uintptr_t ptr, size_t size) {
  size_t i = hash_word(ptr, cap);
  while (table[i].ptr > TOMB) i = (i + 1) & (cap - 1);
  table[i] = (entry){ptr, size};
}

// Drops the tombstones of the block table in place (no new mapping: for
// when none can be had). Linear probing stays intact: from an empty slot on,
// each entry is taken out and put back from its home, which lands it in its
// own slot or an earlier one, never in one still to be visited.
static void block_compact(xsmem_pool *p) {
  size_t cap = p->blocks_cap, mask = cap - 1, start = 0;
  for (size_t i = 0; i < cap; i++) {
    if (p->blocks[i].ptr == TOMB) p->blocks[i].ptr = 0;
  }
  while (start < cap && p->blocks[start].ptr != 0) start++;  // one exists: the table is at most 3/4 full
  for (size_t k = 1; k <= cap; k++) {
    size_t i = (start + k) & mask;
    if (p->blocks[i].ptr == 0) continue;
    entry e = p->blocks[i];
    p->blocks[i].ptr = 0;
    block_put(p->blocks, cap, e.ptr, e.size);
  }
  p->blocks_used = p->live_blocks + p->cached_blocks;
}

// Makes room for one more block entry; false when the table cannot grow.
static bool block_reserve(xsmem_pool *p) {
  if ((p->blocks_used + 1) * 4 <= p->blocks_cap * 3) return true;
  size_t live = p->live_blocks + p->cached_blocks;
  size_t cap = p->blocks_cap ? p->blocks_cap : 1024;
  while ((live + 1) * 2 > cap) cap *= 2;  // rehash at most half full
  entry *t = xsmem_os_map(cap * sizeof(entry), p->page, 0);
  if (!t && p->blocks_used > live) {  // out of address space, but tombstones to reclaim
    block_compact(p);
    return (p->blocks_used + 1) * 4 <= p->blocks_cap * 3;
  }
  if (!t) return false;
  for (size_t i = 0; i < p->blocks_cap; i++) {
    if (p->blocks[i].ptr > TOMB) block_put(t, cap, p->blocks[i].ptr, p->blocks[i].size);
  }
  if (p->blocks) xsmem_os_unmap(p->blocks, p->blocks_cap * sizeof(entry));
  p->blocks = t;
  p->blocks_cap = cap;
  p->blocks_used = live;
  return true;
}

static void block_insert(xsmem_pool *p, uintptr_t ptr, size_t size) {
  size_t i = hash_word(ptr, p->blocks_cap);
  while (p->blocks[i].ptr > TOMB) i = (i + 1) & (p->blocks_cap - 1);
  p->blocks_used += p->blocks[i].ptr == 0;
  p->blocks[i] = (entry){ptr, size};
}

static bucket *size_find(const xsmem_pool *p, size_t size) {
  if (!p->sizes_cap) return NULL;
  for (size_t i = hash_word(size, p->sizes_cap);; i = (i + 1) & (p->sizes_cap - 1)) {
    bucket *b = &p->sizes[i];
    if (b->size == size) return b;
    if (b->size == 0) return NULL;
  }
}

// Returns the bucket of size, adding it (and dropping empty ones on a rehash); NULL when out of memory.
static bucket *size_get(xsmem_pool *p, size_t size) {
  bucket *b = size_find(p, size);
  if (b) return b;
  if ((p->sizes_used + 1) * 4 > p->sizes_cap * 3) {
    size_t nonempty = 0;
    for (size_t i = 0; i < p->sizes_cap; i++) nonempty += p->sizes[i].head || p->sizes[i].ghosts;
    size_t cap = 64;
    while ((nonempty + 1) * 2 > cap) cap *= 2;
    bucket *t = xsmem_os_map(cap * sizeof(bucket), p->page, 0);
    if (!t) return NULL;
    size_t used = 0;
    for (size_t i = 0; i < p->sizes_cap; i++) {
      if (!p->sizes[i].head && !p->sizes[i].ghosts) continue;
      size_t j = hash_word(p->sizes[i].size, cap);
      while (t[j].size) j = (j + 1) & (cap - 1);
      t[j] = p->sizes[i];
      used++;
    }
    if (p->sizes) xsmem_os_unmap(p->sizes, p->sizes_cap * sizeof(bucket));
    p->sizes = t;
    p->sizes_cap = cap;
    p->sizes_used = used;
  }
  size_t j = hash_word(size, p->sizes_cap);
  while (p->sizes[j].size) j = (j + 1) & (p->sizes_cap - 1);
  p->sizes[j] = (bucket){size, NULL, 0};
  p->sizes_used++;
  return &p->sizes[j];
}

// ---------------------------------------------------------------------------
// The backing.

static void *back_alloc(xsmem_pool *p, size_t size, size_t align, unsigned flags) {
  if (p->backing) return p->backing->ops->alloc(p->backing, size, align, flags);
  size_t got = 0;
  void *q = xsmem_source_map(p->source, size, align, &got);
  if (q) p->source_bytes += size;
  return q;  // sources hand out zeroed memory or say so; the os source does
}

static void back_free(xsmem_pool *p, void *q, size_t size) {
  if (p->backing) {
    p->backing->ops->free(p->backing, q, size);
  } else {
    XSMEM_TOOL_UNPOISON(q, size);  // ASan's shadow outlives the mapping
    xsmem_source_unmap(p->source, q, size);
    p->source_bytes -= size;
  }
}

// ---------------------------------------------------------------------------
// Kept blocks.

// Reads a link of an open node (NODE_OPEN), and writes one.
static node *link_get(const xsmem_pool *p, node *const *slot) {
  return (node *)((uintptr_t)*slot ^ (uintptr_t)slot ^ p->link_key);
}

static void link_set(const xsmem_pool *p, node **slot, const node *v) {
  *slot = (node *)((uintptr_t)v ^ (uintptr_t)slot ^ p->link_key);
}

// Returns true when q, a decoded link, is a kept block: one the pool may
// read and write (the block table, kept outside the blocks, says so).
static bool is_kept(const xsmem_pool *p, const node *q) {
  if ((uintptr_t)q <= TOMB || ((uintptr_t)q & (XSMEM_MIN_ALIGN - 1))) return false;
  entry *e = block_find(p, (uintptr_t)q);
  return e && (e->size & KEPT);
}

// Returns link `field` of kept block q.
#define PEER(p, q, field) peer_link((p), (q), offsetof(node, field))
static node *peer_link(const xsmem_pool *p, node *q, size_t off) {
  NODE_OPEN(q);
  node *v = link_get(p, (node *const *)((char *)q + off));
  NODE_CLOSE(q);
  return v;
}

// Puts kept block n at the head of the LRU list and of its size's list b.
static void link_kept(xsmem_pool *p, node *n, bucket *b) {
  NODE_OPEN(n);
  link_set(p, &n->lru_prev, NULL);
  link_set(p, &n->lru_next, p->lru_head);
  link_set(p, &n->sz_prev, NULL);
  link_set(p, &n->sz_next, b->head);
  NODE_CLOSE(n);
  if (p->lru_head) NODE_SET(p, p->lru_head, lru_prev, n);
  else p->lru_tail = n;
  p->lru_head = n;
  if (b->head) NODE_SET(p, b->head, sz_prev, n);
  b->head = n;
}

// Rebuilds both lists from the block table, without `skip` (a block being
// taken off them): the LRU order is lost, no kept block is.
static void lists_rebuild(xsmem_pool *p, const node *skip) {
  p->lru_head = p->lru_tail = NULL;
  for (size_t i = 0; i < p->sizes_cap; i++) p->sizes[i].head = NULL;
  for (size_t i = 0; i < p->blocks_cap; i++) {
    entry *e = &p->blocks[i];
    if (e->ptr <= TOMB || !(e->size & KEPT) || e->ptr == (uintptr_t)skip) continue;
    node *n = (node *)e->ptr;
    bucket *b = size_find(p, e->size & ~(size_t)KEPT);
    link_kept(p, n, b);
  }
}

// Takes kept block n off the LRU and its size's list, after checking every
// link it would follow or write through. A bad one (written after free) is
// reported as heap corruption; under XSMEM_ON_ERROR=warn the lists are
// rebuilt without n instead.
static void unlink_kept(xsmem_pool *p, node *n, bucket *b, const char *op) {
  NODE_OPEN(n);
  node m = {link_get(p, &n->lru_prev), link_get(p, &n->lru_next), link_get(p, &n->sz_prev), link_get(p, &n->sz_next)};
  NODE_CLOSE(n);
  bool ok = (m.lru_prev ? is_kept(p, m.lru_prev) && PEER(p, m.lru_prev, lru_next) == n : p->lru_head == n) &&
      (m.lru_next ? is_kept(p, m.lru_next) && PEER(p, m.lru_next, lru_prev) == n : p->lru_tail == n) &&
      (m.sz_prev ? is_kept(p, m.sz_prev) && PEER(p, m.sz_prev, sz_next) == n : b->head == n) &&
      (!m.sz_next || (is_kept(p, m.sz_next) && PEER(p, m.sz_next, sz_prev) == n));
  if (XSMEM_UNLIKELY(!ok)) {
    char msg[200];
    xsmem_snprintf(msg, sizeof(msg),
                   "heap corruption in a free %zu-byte block (kept by the pool): its list links were overwritten "
                   "(write after free); not followed, the lists are rebuilt from the block table",
                   b->size);
    xsmem_report_bad_pointer(p->base.name, op, n, msg);
    lists_rebuild(p, n);
    return;
  }
  if (m.lru_prev) NODE_SET(p, m.lru_prev, lru_next, m.lru_next);
  else p->lru_head = m.lru_next;
  if (m.lru_next) NODE_SET(p, m.lru_next, lru_prev, m.lru_prev);
  else p->lru_tail = m.lru_prev;
  if (m.sz_prev) NODE_SET(p, m.sz_prev, sz_next, m.sz_next);
  else b->head = m.sz_next;
  if (m.sz_next) NODE_SET(p, m.sz_next, sz_prev, m.sz_prev);
}

// Gives the least recently kept block back to the backing.
static void evict_one(xsmem_pool *p) {
  node *n = p->lru_tail;
  entry *e = block_find(p, (uintptr_t)n);
  size_t size = e->size & ~(size_t)KEPT;
  bucket *b = size_find(p, size);
  unlink_kept(p, n, b, "free");
  b->ghosts++;
  e->ptr = TOMB;
  p->cached -= size;
  p->cached_blocks--;
  p->evictions++;
  back_free(p, n, size);
}

static void evict_to(xsmem_pool *p, size_t limit) {
  while (p->cached > limit) evict_one(p);
}

// One request more in the window; adjusts the limit at its end.
static void window_tick(xsmem_pool *p) {
  if (!p->opt.auto_resize || ++p->w_requests < WINDOW) return;
  // Grow when blocks evicted earlier are asked for again (ghost hits: a larger
  // pool would have served them); shrink when none were and the pool is
  // mostly idle or mostly useless.
  size_t limit = p->opt.limit;
  if (p->w_ghost_hits * 50 > p->w_requests) {
    limit = XSMEM_MIN(p->opt.max_limit, limit + limit / 4);
  } else if (!p->w_ghost_hits && (p->w_peak_cached < limit / 4 || p->w_hits * 4 < p->w_requests)) {
    limit = XSMEM_MAX(p->opt.min_limit, limit - limit / 8);
  }
  if (limit != p->opt.limit) {
    p->opt.limit = limit;
    p->resizes++;
    evict_to(p, limit);
  }
  p->w_requests = p->w_hits = p->w_ghost_hits = 0;
  p->w_peak_cached = p->cached;
}

// ---------------------------------------------------------------------------
// The allocator.

static void *pool_alloc(xsmem_allocator *a, size_t n, size_t align, unsigned flags) {
  xsmem_pool *p = (xsmem_pool *)a;
  if (XSMEM_UNLIKELY(!xsmem_is_pow2(align))) {
    errno = EINVAL;
    return NULL;
  }
  size_t size = xsmem_pool_round(p, n);
  if (XSMEM_UNLIKELY(!size)) goto fail_unlocked;
  pthread_mutex_lock(&p->mu);
  uint64_t hits0 = p->hits;
  const unsigned flags0 = flags;
  window_tick(p);
  bucket *b = size_find(p, size);
  node *q = b ? b->head : NULL;
  if (q && ((uintptr_t)q & (align - 1)) == 0) {  // a hit
    unlink_kept(p, q, b, "malloc");
    block_find(p, (uintptr_t)q)->size = size;
    p->cached -= size;
    p->cached_blocks--;
    p->hits++;
    p->w_hits++;
  } else {
    p->misses++;
    if (b && b->ghosts) {
      b->ghosts--;
      p->w_ghost_hits++;
    }
    if (!block_reserve(p)) goto fail;
    // A miss's block is zeroed by the backing, which knows what of it is
    // fresh (untouched memory needs no memset: a huge calloc stays lazy).
    q = back_alloc(p, size, align, p->backing ? flags : flags & ~(unsigned)XSMEM_ALLOC_ZERO);
    if (!q && p->cached) {
      // The backing is out of memory (a limit, the address space) while kept
      // blocks hold some: give them all back and try once more.
      evict_to(p, 0);
      q = back_alloc(p, size, align, p->backing ? flags : flags & ~(unsigned)XSMEM_ALLOC_ZERO);
    }
    if (!q) goto fail;
    block_insert(p, (uintptr_t)q, size);
    flags &= ~(unsigned)XSMEM_ALLOC_ZERO;  // zeroed by the backing, or fresh source pages
  }
  // Tools: a kept block (q from the cache) or a source's block becomes accessible.
  if (!p->backing) XSMEM_TOOL_ALLOC(p, q, size);
  else if (p->hits != hits0) XSMEM_TOOL_UNPOISON(q, size);
  if (XSMEM_TOOL_ENABLED && p->backing && p->hits == hits0) {  // the backing's slack past R is off limits
    size_t u = p->backing->ops->usable_size(p->backing, q);
    if (u > size) XSMEM_TOOL_POISON((char *)q + size, u - size);
  }
  if (!p->backing && (flags0 & XSMEM_ALLOC_ZERO)) XSMEM_TOOL_UNPOISON(q, n);  // memcheck: fresh pages are zero
  p->allocs++;
  p->live_blocks++;
  p->in_use += size;
  xsmem_stats_note_peak(&p->peak, p->in_use);
  if (n > p->largest) p->largest = n;
  pthread_mutex_unlock(&p->mu);
  if (flags & XSMEM_ALLOC_ZERO) memset(q, 0, n);
  return q;
fail:
  pthread_mutex_unlock(&p->mu);
fail_unlocked:
  __atomic_fetch_add(&p->failed, 1, __ATOMIC_RELAXED);
  errno = ENOMEM;
  return NULL;
}

// Returns the live entry of q or NULL after reporting it. REQUIRES: mu held; releases it on failure.
static entry *live_entry(xsmem_pool *p, const void *q, const char *op) {
  entry *e = block_find(p, (uintptr_t)q);
  if (XSMEM_LIKELY(e && !(e->size & KEPT))) return e;
  pthread_mutex_unlock(&p->mu);
  xsmem_report_bad_pointer(p->base.name, op, q,
                           e ? "double free (block already freed)" : "pointer not allocated by this allocator");
  return NULL;
}

static void pool_free(xsmem_allocator *a, void *q, size_t unused) {
  xsmem_pool *p = (xsmem_pool *)a;
  pthread_mutex_lock(&p->mu);
  entry *e = live_entry(p, q, "free");
  if (!e) return;
  size_t size = e->size;
  p->frees++;
  p->live_blocks--;
  p->in_use -= size;
  p->puts++;
  if (!p->backing) XSMEM_TOOL_FREE(p, q, size);
  if (size > p->opt.limit) {  // never fits: straight back
    e->ptr = TOMB;
    p->evictions++;
    back_free(p, q, size);
    pthread_mutex_unlock(&p->mu);
    return;
  }
  bucket *b = size_get(p, size);
  if (!b) {
    e->ptr = TOMB;
    back_free(p, q, size);
    pthread_mutex_unlock(&p->mu);
    return;
  }
  evict_to(p, p->opt.limit - size);
  e = block_find(p, (uintptr_t)q);  // evictions leave entries in place, but be exact
  e->size = size | KEPT;
  node *n = (node *)q;
  XSMEM_TOOL_POISON(q, size);  // kept: free memory for the program
  link_kept(p, n, b);
  p->cached += size;
  p->cached_blocks++;
  if (p->cached > p->w_peak_cached) p->w_peak_cached = p->cached;
  pthread_mutex_unlock(&p->mu);
}

static size_t pool_usable(const xsmem_allocator *a, const void *q) {
  xsmem_pool *p = (xsmem_pool *)a;
  pthread_mutex_lock(&p->mu);
  entry *e = live_entry(p, q, "malloc_usable_size");
  if (!e) return 0;
  size_t size = e->size;
  pthread_mutex_unlock(&p->mu);
  return size;
}

static bool pool_owns(const xsmem_allocator *a, const void *q) {
  xsmem_pool *p = (xsmem_pool *)a;
  pthread_mutex_lock(&p->mu);
  entry *e = block_find(p, (uintptr_t)q);
  bool live = e && !(e->size & KEPT);
  pthread_mutex_unlock(&p->mu);
  return live;
}

static void pool_stats(const xsmem_allocator *a, xsmem_stats *out) {
  xsmem_pool *p = (xsmem_pool *)a;
  xsmem_stats back = xsmem_stats_init();
  pthread_mutex_lock(&p->mu);
  if (p->backing) p->backing->ops->stats(p->backing, &back);
  out->num_allocs = p->allocs;
  out->num_frees = p->frees;
  out->num_failed = __atomic_load_n(&p->failed, __ATOMIC_RELAXED);
  out->bytes_in_use = p->in_use;
  out->peak_bytes_in_use = p->peak;
  out->largest_alloc_size = p->largest;
  out->bytes_cached = p->cached + (back.bytes_cached);
  out->bytes_reserved = p->backing ? back.bytes_reserved : p->source_bytes;
  out->bytes_metadata = back.bytes_metadata + p->blocks_cap * sizeof(entry) + p->sizes_cap * sizeof(bucket) +
      xsmem_align_up(sizeof(xsmem_pool), p->page);
  out->bytes_limit = back.bytes_limit;
  pthread_mutex_unlock(&p->mu);
}

void xsmem_pool_get_counters(xsmem_pool *p, xsmem_pool_counters *out) {
  pthread_mutex_lock(&p->mu);
  *out = (xsmem_pool_counters){p->hits,      p->misses, p->evictions,     p->puts,       p->resizes,
                               p->opt.limit, p->cached, p->cached_blocks, p->live_blocks};
  pthread_mutex_unlock(&p->mu);
}

void xsmem_pool_set_limit(xsmem_pool *p, size_t limit) {
  pthread_mutex_lock(&p->mu);
  p->opt.limit = limit;
  evict_to(p, limit);
  pthread_mutex_unlock(&p->mu);
}

size_t xsmem_pool_drain(xsmem_pool *p) {
  pthread_mutex_lock(&p->mu);
  size_t before = p->cached;
  uint64_t evictions = p->evictions;
  evict_to(p, 0);
  p->evictions = evictions;  // a drain is not an eviction
  pthread_mutex_unlock(&p->mu);
  return before;
}

static size_t pool_trim(xsmem_allocator *a, size_t goal) {
  xsmem_pool *p = (xsmem_pool *)a;
  size_t n = xsmem_pool_drain(p);
  if (p->backing && p->backing->ops->trim) n += p->backing->ops->trim(p->backing, goal);
  return n;
}

static void pool_fork(xsmem_allocator *a, int phase) {
  xsmem_pool *p = (xsmem_pool *)a;
  if (phase == XSMEM_FORK_PREPARE) pthread_mutex_lock(&p->mu);
  if (p->backing && p->backing->ops->fork) p->backing->ops->fork(p->backing, phase);
  if (phase == XSMEM_FORK_PARENT) pthread_mutex_unlock(&p->mu);
  if (phase == XSMEM_FORK_CHILD) pthread_mutex_init(&p->mu, NULL);
}

static void pool_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  xsmem_pool *p = (xsmem_pool *)a;
  xsmem_pool_counters c;
  xsmem_pool_get_counters(p, &c);
  sink->value(sink, "pool", "cache", "hits", "counter", (double)c.hits);
  sink->value(sink, "pool", "cache", "misses", "counter", (double)c.misses);
  sink->value(sink, "pool", "cache", "evictions", "counter", (double)c.evictions);
  sink->value(sink, "pool", "cache", "puts", "counter", (double)c.puts);
  sink->value(sink, "pool", "cache", "resizes", "counter", (double)c.resizes);
  sink->value(sink, "pool", "cache", "limit_bytes", "gauge", (double)c.limit);
  sink->value(sink, "pool", "cache", "cached_bytes", "gauge", (double)c.cached_bytes);
  sink->value(sink, "pool", "cache", "cached_blocks", "gauge", (double)c.cached_blocks);
  double lookups = (double)(c.hits + c.misses);
  sink->value(sink, "pool", "cache", "hit_rate", "gauge", lookups ? (double)c.hits / lookups : 0.0);
  if (p->backing && p->backing->ops->detail) p->backing->ops->detail(p->backing, sink);
}

void xsmem_pool_destroy(xsmem_pool *p) {
  evict_to(p, 0);
  if (p->blocks) xsmem_os_unmap(p->blocks, p->blocks_cap * sizeof(entry));
  if (p->sizes) xsmem_os_unmap(p->sizes, p->sizes_cap * sizeof(bucket));
  XSMEM_TOOL_POOL_DESTROY(p);
  pthread_mutex_destroy(&p->mu);
  xsmem_os_unmap(p, xsmem_align_up(sizeof(*p), p->page));
}

static void pool_destroy(xsmem_allocator *a) { xsmem_pool_destroy((xsmem_pool *)a); }

static const xsmem_allocator_ops kPoolOps = {
    .kind = "pool",
    .alloc = pool_alloc,
    .free = pool_free,
    .usable_size = pool_usable,
    .owns = pool_owns,
    .stats = pool_stats,
    .trim = pool_trim,
    .fork = pool_fork,
    .destroy = pool_destroy,
    .detail = pool_detail,
};

// ---------------------------------------------------------------------------
// Construction.

xsmem_pool_options xsmem_pool_options_from_env(void) {
  static const char *const kRounding[] = {"none", "pow2"};
  xsmem_pool_options o = {0};
  long long mb = xsmem_option_int("XSMEM_POOL_LIMIT_MB");
  o.limit = mb > 0 ? (size_t)mb * XSMEM_MiB : 0;
  o.rounding = (xsmem_pool_rounding)xsmem_option_choice("XSMEM_POOL_ROUNDING", kRounding, 2);
  o.auto_resize = xsmem_option_bool("XSMEM_POOL_AUTO_RESIZE");
  return o;
}

static xsmem_pool *make(xsmem_allocator *backing, xsmem_source *source, const xsmem_pool_options *o, const char *name) {
  size_t page = xsmem_os_page_size();
  xsmem_pool *p = xsmem_os_map(xsmem_align_up(sizeof(xsmem_pool), page), page, 0);
  if (!p) return NULL;
  p->base.ops = &kPoolOps;
  p->base.name = name;
  pthread_mutex_init(&p->mu, NULL);
  p->backing = backing;
  p->source = source;
  p->page = page;
  p->opt = *o;
  if (getrandom(&p->link_key, sizeof(p->link_key), GRND_NONBLOCK) != (ssize_t)sizeof(p->link_key)) {
    struct timespec ts;  // no entropy yet (early boot): the clock and the address
    clock_gettime(CLOCK_MONOTONIC, &ts);
    p->link_key = ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull) ^ (uintptr_t)p;
  }
  if (!p->opt.limit) p->opt.limit = 64 * XSMEM_MiB;
  if (!p->opt.min_limit) p->opt.min_limit = p->opt.limit / 16;
  if (!p->opt.max_limit) p->opt.max_limit = p->opt.limit <= SIZE_MAX / 4 ? p->opt.limit * 4 : SIZE_MAX;
  XSMEM_TOOL_POOL_CREATE(p);
  return p;
}

xsmem_pool *xsmem_pool_create(xsmem_allocator *backing, const xsmem_pool_options *o, const char *name) {
  return make(backing, NULL, o, name);
}

xsmem_pool *xsmem_pool_create_on_source(xsmem_source *source, const xsmem_pool_options *o, const char *name) {
  return make(NULL, source, o, name);
}
