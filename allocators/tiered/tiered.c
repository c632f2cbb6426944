// allocators/tiered/tiered.c: routing between the tiers (see tiered.h).
#include "allocators/tiered/tiered.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "allocators/buddy/buddy.h"
#include "allocators/tiered/tiers.h"
#include "allocators/large/large.h"
#include "allocators/tls_buckets/tls_buckets.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/once.h"
#include "platform/options.h"
#include "platform/pagemap.h"

// The per-thread grow cache keeps one freed buddy block up to this size; buddy
// blocks up to it also stay whole when realloc shrinks them.
#define GROW_CACHE_MAX ((size_t)64 << 10)

// One thread's grow cache: a freed buddy block (a growing buffer's last home)
// kept for the next buffer that realloc grows, so a buffer grown again and
// again lands in memory that is already faulted in and grows in place,
// without a lock. Listed for the statistics and for fork.
typedef struct grow_cache {
  void *blk;             // owner thread only
  _Atomic size_t bytes;  // blk's size, 0 when empty; summed by stats
  // The buddy block this thread last got from the grow path and its size:
  // realloc of it needs no lookup. Cleared whenever this thread frees it or
  // gets it again from buddy (then it may be of another size).
  void *cur;
  size_t cur_bytes;
  struct grow_cache *next, *prev;
  bool registered, exited;
} grow_cache;

static __thread grow_cache t_grow __attribute__((tls_model("initial-exec")));

typedef struct tiered_allocator {
  xsmem_allocator base;
  xsmem_tiers t;             // small, medium, large and the thresholds between them
  xsmem_spinlock grow_lock;  // the list of grow caches
  grow_cache *grow_list;
  // What buddy does not see of the grow caches, for the statistics: blocks
  // the program freed into one (puts) and got out of one (takes), and cached
  // blocks given back to buddy (returns: buddy counts those frees).
  _Atomic uint64_t grow_puts, grow_takes, grow_returns;
  pthread_key_t grow_key;  // its destructor gives an exiting thread's block back
} tiered_allocator;

static tiered_allocator g_tiered;

XSMEM_NOINLINE static void *tiered_alloc_routed(tiered_allocator *d, size_t size, size_t align, unsigned flags) {
  if (!xsmem_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  int k = xsmem_tiers_route(&d->t, size, align);
  if (k == XSMEM_TIER_SMALL && align <= XSMEM_MIN_ALIGN && !(flags & XSMEM_ALLOC_ZERO) && size) {
    return xsmem_tls_malloc(size);
  }
  xsmem_allocator *o = xsmem_tiers_at(&d->t, k);
  void *p = o->ops->alloc(o, size, align, flags);
  if (!p && k == XSMEM_TIER_MEDIUM) p = d->t.large->ops->alloc(d->t.large, size, align, flags);  // buddy full
  if (XSMEM_UNLIKELY(p == t_grow.cur)) t_grow.cur = NULL;
  return p;
}

// The usual request (small, the minimum alignment, not zeroed) goes to the
// small tier's thread cache before anything that needs a stack frame: callers
// through the ops (the tracker, realloc) pay what the shim's malloc does.
static void *tiered_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  tiered_allocator *d = (tiered_allocator *)a;
  if (XSMEM_LIKELY(align == XSMEM_MIN_ALIGN && !flags && size - 1 < d->t.small_max)) return xsmem_tls_malloc(size);
  return tiered_alloc_routed(d, size, align, flags);
}

static bool grow_cache_put(tiered_allocator *d, void *p, size_t bytes);

XSMEM_NOINLINE static void tiered_free_routed(tiered_allocator *d, void *p, size_t size, uint8_t tag) {
  if (tag == XSMEM_TAG_BUDDY) {
    if (p == t_grow.cur) t_grow.cur = NULL;
    size_t bytes = xsmem_buddy_live_size(d->t.medium, p, "free");  // reports a bad pointer
    if (!bytes || grow_cache_put(d, p, bytes)) return;
  }
  xsmem_allocator *o = xsmem_tiers_owner(&d->t, d->base.name, p, "free");
  if (o) o->ops->free(o, p, size);
  // Emptied buddy regions and cached large mappings go back to the OS from
  // the purger's passes: a program that never empties a small slab starts it here.
  xsmem_tls_purger_start();
}

// A small block (the usual free) without a stack frame, as tiered_alloc.
static void tiered_free(xsmem_allocator *a, void *p, size_t size) {
  uint8_t tag = xsmem_pagemap_get(p);
  if (XSMEM_LIKELY(tag == XSMEM_TAG_SMALL)) {
    xsmem_tls_free(p);
    return;
  }
  tiered_free_routed((tiered_allocator *)a, p, size, tag);
}

static size_t tiered_usable(const xsmem_allocator *a, const void *p) {
  const tiered_allocator *d = (const tiered_allocator *)a;
  xsmem_allocator *o = xsmem_tiers_owner(&d->t, d->base.name, p, "usable_size");
  return o ? o->ops->usable_size(o, p) : 0;
}

static bool tiered_owns(const xsmem_allocator *a, const void *p) {
  return xsmem_tiers_owns(&((const tiered_allocator *)a)->t, p);
}

// The small tier's block size of class c (the formula tls_buckets builds its
// classes with; tiered_test checks the two agree for every class).
XSMEM_INLINE size_t small_class_size(unsigned c) {
  return c < 8 ? (size_t)16 * (c + 1) : (size_t)(9 + (c - 8) % 8) << (4 + (c - 8) / 8);
}

// ---------------------------------------------------------------------------
// The grow cache.

// Gives a cached block back to buddy.
static void grow_return(tiered_allocator *d, void *blk) {
  atomic_fetch_add_explicit(&d->grow_returns, 1, memory_order_relaxed);
  d->t.medium->ops->free(d->t.medium, blk, 0);
}

static void grow_cache_exit(void *arg) {
  tiered_allocator *d = &g_tiered;
  grow_cache *gc = (grow_cache *)arg;
  gc->exited = true;  // frees during later destructors go straight to buddy
  void *blk = gc->blk;
  gc->blk = NULL;
  atomic_store_explicit(&gc->bytes, 0, memory_order_relaxed);
  xsmem_spin_lock(&d->grow_lock);
  if (gc->prev) gc->prev->next = gc->next;
  else d->grow_list = gc->next;
  if (gc->next) gc->next->prev = gc->prev;
  gc->registered = false;
  xsmem_spin_unlock(&d->grow_lock);
  if (blk) grow_return(d, blk);
}

XSMEM_COLD static bool grow_cache_register(tiered_allocator *d, grow_cache *gc) {
  if (gc->exited || pthread_setspecific(d->grow_key, gc) != 0) return false;
  xsmem_spin_lock(&d->grow_lock);
  gc->prev = NULL;
  gc->next = d->grow_list;
  if (gc->next) gc->next->prev = gc;
  d->grow_list = gc;
  gc->registered = true;
  xsmem_spin_unlock(&d->grow_lock);
  return true;
}

// Keeps the freed buddy block p (bytes long) in this thread's grow cache
// when it is small enough and bigger than what the cache holds (the smaller
// one goes back to buddy). Returns false when p was not kept.
static bool grow_cache_put(tiered_allocator *d, void *p, size_t bytes) {
  grow_cache *gc = &t_grow;
  if (XSMEM_UNLIKELY(p == gc->blk)) {
    xsmem_report_bad_pointer(d->base.name, "free", p, "double free (block already freed)");
    return true;  // (when reports only warn) keep it cached, once
  }
  if (bytes > GROW_CACHE_MAX || (gc->blk && bytes <= atomic_load_explicit(&gc->bytes, memory_order_relaxed))) {
    return false;
  }
  if (XSMEM_UNLIKELY(!gc->registered) && !grow_cache_register(d, gc)) return false;
  void *old = gc->blk;
  gc->blk = p;
  atomic_store_explicit(&gc->bytes, bytes, memory_order_relaxed);
  atomic_fetch_add_explicit(&d->grow_puts, 1, memory_order_relaxed);
  if (old) grow_return(d, old);
  return true;
}

// Takes the cached block when it holds at least size bytes (*bytes: its size).
static void *grow_cache_take(size_t size, size_t *bytes) {
  grow_cache *gc = &t_grow;
  size_t have = atomic_load_explicit(&gc->bytes, memory_order_relaxed);
  if (!gc->blk || have < size) return NULL;
  void *p = gc->blk;
  gc->blk = NULL;
  atomic_store_explicit(&gc->bytes, 0, memory_order_relaxed);
  *bytes = have;
  return p;
}

// Gives this thread's cached block back to buddy; returns its size.
static size_t grow_cache_flush(tiered_allocator *d) {
  size_t bytes = 0;
  void *p = grow_cache_take(0, &bytes);
  if (p) grow_return(d, p);
  return bytes;
}

// ---------------------------------------------------------------------------
// realloc.

// Moves p (have usable bytes, owned by from; NULL: the small tier) into q:
// copies and frees p.
static void *move_block(xsmem_allocator *from, void *p, size_t have, void *q, size_t size) {
  if (!q) return NULL;
  memcpy(q, p, XSMEM_MIN(size, have));
  if (from) from->ops->free(from, p, 0);
  else xsmem_tls_free(p);
  return q;
}

// realloc of a small block, inline: the class comes from the segment header.
// A growing block moves into this thread's grow cache block when there is
// one; else, grown step by step (to at most twice its size) past
// XSMEM_TIERS_GROW_TO_MEDIUM, it moves to a buddy block with room for the next step,
// where later growth absorbs the free right-hand buddy in place instead of
// copying every step.
static void *realloc_small(tiered_allocator *d, void *p, size_t size) {
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
  if (XSMEM_UNLIKELY(!xsmem_tls_is_block_start(s, p))) {
    xsmem_report_bad_pointer(d->t.small->name, "realloc", p, "not the start of a block (interior pointer)");
    errno = EINVAL;
    return NULL;
  }
  size_t have = small_class_size(s->cls);
  if (size <= have && (s->cls == 0 || size > have / 2)) return p;  // fits, wastes at most half
  void *q = NULL;
  size_t cached;
  if (size > have && (q = grow_cache_take(size, &cached)) != NULL) {
    atomic_fetch_add_explicit(&d->grow_takes, 1, memory_order_relaxed);
    t_grow.cur = q;  // the buffer keeps growing in the cached block
    t_grow.cur_bytes = cached;
  } else if (xsmem_tiers_grows_to_medium(&d->t, size, have)) {
    q = d->t.medium->ops->alloc(d->t.medium, 2 * size, XSMEM_MIN_ALIGN, 0);
    if (q) {
      t_grow.cur = q;
      t_grow.cur_bytes = xsmem_buddy_block_size(d->t.medium, 2 * size, XSMEM_MIN_ALIGN);
    } else {
      q = tiered_alloc(&d->base, size, XSMEM_MIN_ALIGN, 0);  // buddy full
    }
  } else if (size <= d->t.small_max) {
    q = xsmem_tls_malloc(size);
  } else {
    q = tiered_alloc(&d->base, size, XSMEM_MIN_ALIGN, 0);
  }
  return move_block(NULL, p, have, q, size);
}

// Whether a buddy block of usable bytes keeps a realloc to size in place:
// blocks up to GROW_CACHE_MAX stay whole when shrunk, bigger ones split above half.
XSMEM_INLINE bool medium_fits(size_t size, size_t usable) {
  return size <= usable && (usable <= GROW_CACHE_MAX || size > usable / 2);
}

static void *tiered_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  tiered_allocator *d = (tiered_allocator *)a;
  uint8_t tag = xsmem_pagemap_get(p);
  // A growing buffer: no lookup. (The tag check: after its region went back
  // to the OS, p's address may have come back as a small block.)
  if (p == t_grow.cur && tag == XSMEM_TAG_BUDDY && medium_fits(size, t_grow.cur_bytes)) return p;
  if (XSMEM_LIKELY(tag == XSMEM_TAG_SMALL)) return realloc_small(d, p, size);
  if (tag == XSMEM_TAG_BUDDY) {
    // Fits (the common case of a growing buffer): no lock.
    size_t usable = xsmem_buddy_live_size(d->t.medium, p, "realloc");
    if (!usable) {
      errno = EINVAL;
      return NULL;
    }
    if (medium_fits(size, usable)) return p;
  }
  xsmem_allocator *o = xsmem_tiers_owner(&d->t, d->base.name, p, "realloc");
  if (!o) {
    errno = EINVAL;
    return NULL;
  }
  xsmem_allocator *want = xsmem_tiers_realloc_tier(&d->t, o, size);
  size_t usable = o->ops->usable_size(o, p);
  if (want == o && o == d->t.medium && size > usable && size <= 2 * usable && 2 * size <= d->t.medium_max) {
    size *= 2;  // growing step by step: take the next step's room too (in place where the buddy is free)
  }
  if (p == t_grow.cur) t_grow.cur = NULL;
  if (want == o && o->ops->realloc) {
    void *q = o->ops->realloc(o, p, size, flags);
    if (q && o == d->t.medium) {  // the buffer grew (or moved) in buddy: its new size, for the next step
      t_grow.cur = q;
      t_grow.cur_bytes = xsmem_buddy_live_size(d->t.medium, q, "realloc");
    }
    if (q || o != d->t.medium) return q;
    // buddy is full (its regions could not be mapped): the large tier, as for malloc
    return move_block(o, p, usable, d->t.large->ops->alloc(d->t.large, size, XSMEM_MIN_ALIGN, 0), size);
  }
  if (want != o && o == d->t.large && size <= usable && size >= usable / 2) return p;  // shrink in place
  return move_block(o, p, usable, tiered_alloc(a, size, XSMEM_MIN_ALIGN, 0), size);
}

// Sums the tiers, counting memory as jemalloc does (allocated / active /
// resident / mapped kept apart): bytes_reserved is all the address space,
// bytes_committed what holds memory or was touched, bytes_cached the free part
// of that (buddy's never-touched region space is address space only, not
// cache).
// The small tier does not track commitment: its in-use, cached and metadata
// bytes count as committed.
static void tiered_stats(const xsmem_allocator *a, xsmem_stats *out) {
  tiered_allocator *d = (tiered_allocator *)a;
  *out = xsmem_stats_init();
  xsmem_allocator *tiers[] = {d->t.small, d->t.medium, d->t.large};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(tiers); i++) {
    if (!tiers[i]) continue;
    xsmem_stats s = xsmem_get_stats(tiers[i]);
    xsmem_stats_add_tier(out, &s);
  }
  // Blocks in the threads' grow caches are live to buddy, freed to the
  // program: each put into a cache counts as a free and each take out of one
  // as an allocation (a cached block given back to buddy is counted by buddy),
  // and cached blocks' bytes as cached, not in use.
  uint64_t grow_cached = 0;
  xsmem_spin_lock(&d->grow_lock);
  for (const grow_cache *gc = d->grow_list; gc; gc = gc->next) {
    grow_cached += atomic_load_explicit(&gc->bytes, memory_order_relaxed);
  }
  xsmem_spin_unlock(&d->grow_lock);
  grow_cached = XSMEM_MIN(grow_cached, out->bytes_in_use);
  out->bytes_in_use -= grow_cached;
  out->bytes_cached += grow_cached;
  uint64_t returns = atomic_load_explicit(&d->grow_returns, memory_order_relaxed);
  out->num_allocs += atomic_load_explicit(&d->grow_takes, memory_order_relaxed);
  out->num_frees += atomic_load_explicit(&d->grow_puts, memory_order_relaxed) - returns;
}

// Tier summaries under group "tier" come from the tiers themselves.
static void tiered_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  const tiered_allocator *d = (const tiered_allocator *)a;
  xsmem_allocator *tiers[] = {d->t.small, d->t.medium, d->t.large};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(tiers); i++) {
    if (tiers[i] && tiers[i]->ops->detail) tiers[i]->ops->detail(tiers[i], sink);
  }
  sink->value(sink, "route", "small", "max_bytes", "gauge", (double)d->t.small_max);
  sink->value(sink, "route", "large", "min_bytes", "gauge", (double)d->t.large_min);
}

static size_t tiered_trim(xsmem_allocator *a, size_t goal) {
  tiered_allocator *d = (tiered_allocator *)a;
  grow_cache_flush(d);  // this thread's; the others' are theirs
  size_t released = 0;
  xsmem_allocator *tiers[] = {d->t.small, d->t.medium, d->t.large};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(tiers); i++) {
    if (tiers[i] && tiers[i]->ops->trim) released += tiers[i]->ops->trim(tiers[i], goal);
  }
  return released;
}

// Locks are taken small -> medium -> large and given back in reverse.
static void tiered_fork(xsmem_allocator *a, int phase) {
  tiered_allocator *d = (tiered_allocator *)a;
  xsmem_allocator *tiers[] = {d->t.small, d->t.medium, d->t.large};
  if (phase == XSMEM_FORK_PREPARE) {
    for (size_t i = 0; i < 3; i++) {
      if (tiers[i] && tiers[i]->ops->fork) tiers[i]->ops->fork(tiers[i], phase);
    }
    xsmem_spin_lock(&d->grow_lock);
  } else {
    xsmem_spin_unlock(&d->grow_lock);
    for (size_t i = 3; i-- > 0;) {
      if (tiers[i] && tiers[i]->ops->fork) tiers[i]->ops->fork(tiers[i], phase);
    }
  }
  if (phase == XSMEM_FORK_CHILD) {
    // Only the forking thread lives on: the other threads' cached blocks go
    // back to buddy.
    grow_cache *gc = d->grow_list, *self = t_grow.registered ? &t_grow : NULL;
    d->grow_list = NULL;
    while (gc) {
      grow_cache *next = gc->next;
      if (gc != self && gc->blk) grow_return(d, gc->blk);
      gc = next;
    }
    if (self) {
      self->prev = self->next = NULL;
      d->grow_list = self;
    }
  }
}

static const xsmem_allocator_ops tiered_ops = {
    .kind = "tiered",
    .alloc = tiered_alloc,
    .free = tiered_free,
    .usable_size = tiered_usable,
    .owns = tiered_owns,
    .realloc = tiered_realloc,
    .stats = tiered_stats,
    .trim = tiered_trim,
    .fork = tiered_fork,
    .destroy = NULL,  // process-wide
    .detail = tiered_detail,
};

// Run by the small tier's purger thread on every pass: empty buddy regions and
// stale cached large mappings go back to the OS even while the program idles.
static size_t purge_medium_and_large(void *ctx) {
  tiered_allocator *d = (tiered_allocator *)ctx;
  return (d->t.medium ? xsmem_buddy_purge(d->t.medium) : 0) + xsmem_large_purge(d->t.large);
}

typedef struct parts {
  const char *name;
  xsmem_tiers t;
} parts;

static bool build(void *ctx) {
  tiered_allocator *d = &g_tiered;
  const parts *in = ctx;
  d->base.ops = &tiered_ops;
  d->base.name = in->name;
  d->t = in->t;
  d->t.small_max = xsmem_tls_small_max_;
  d->t.large_min = xsmem_large_min_size();
  // Without a medium tier (its tables could not be mapped: an address-space
  // limit) medium requests go to the large tier: medium_max 0 routes none
  // to it, and no chunk carries its tag.
  d->t.medium_max = d->t.medium ? xsmem_buddy_max_size(d->t.medium) : 0;
  if (!d->t.medium && xsmem_option_bool("XSMEM_VERBOSE")) {
    xsmem_log("%s: no medium tier; medium requests go to the large tier", d->base.name);
  }
  if (pthread_key_create(&d->grow_key, grow_cache_exit) != 0) return false;
  xsmem_tls_set_purge_hook(purge_medium_and_large, d);
  return true;
}

xsmem_allocator *xsmem_tiered_build(const char *name, xsmem_allocator *small, xsmem_allocator *medium,
                                    xsmem_allocator *large) {
  static xsmem_once once;
  if (XSMEM_LIKELY(xsmem_once_done(&once))) return &g_tiered.base;
  if (!small || !large) {
    errno = ENOMEM;
    return NULL;
  }
  parts in = {name, {.small = small, .medium = medium, .large = large}};
  if (xsmem_once_run(&once, build, &in) != XSMEM_ONCE_DONE) {
    errno = ENOMEM;
    return NULL;
  }
  return &g_tiered.base;
}

xsmem_allocator *xsmem_tiered_small(const xsmem_allocator *a) { return ((const tiered_allocator *)a)->t.small; }
xsmem_allocator *xsmem_tiered_medium(const xsmem_allocator *a) { return ((const tiered_allocator *)a)->t.medium; }
xsmem_allocator *xsmem_tiered_large(const xsmem_allocator *a) { return ((const tiered_allocator *)a)->t.large; }
