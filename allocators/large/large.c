// allocators/large/large.c: the large tier (model in large.h).
#include "allocators/large/large.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"
#include "platform/pagemap.h"
#include "platform/tool_hooks.h"

#define CHUNK XSMEM_PAGEMAP_CHUNK
#define HDR 128                            // the header sits at user - HDR, inside the page below the user pointer
#define LARGE_MAGIC 0x786c617267654d31ull  // "xlargeM1"

enum { STATE_LIVE = 1, STATE_CACHED = 2, STATE_MOVING = 3 };

typedef struct large_header {
  uint64_t magic;  // LARGE_MAGIC ^ address of the header
  const void *owner;
  char *base;
  size_t map_size;
  size_t offset;  // user pointer - base
  size_t requested;
  struct large_header *prev, *next;
  uint64_t freed_ns;
  uint32_t state;
} large_header;

_Static_assert(sizeof(large_header) <= HDR, "header fits below the user pointer");

typedef struct large {
  xsmem_allocator base;
  xsmem_source *source;  // NULL: os_vm directly (mremap allowed)
  size_t cache_limit;
  uint64_t delay_ns;            // under lock; followed when the options change (cache_evict)
  uint64_t options_generation;  // xsmem_options_generation() delay_ns was read at
  bool follow_options;
  unsigned vm_flags;
  xsmem_spinlock lock;                    // everything below
  large_header *live;                     // live blocks, newest first
  large_header *cache_head, *cache_tail;  // cached mappings, most recently freed first
  uint64_t allocs, frees, in_use, peak, largest, metadata, live_bytes, cached_bytes, live_count, cached_count;
  uint64_t hits, misses, remap_in_place, remap_moved, evictions;
  // The recent peak of live_bytes: the highest of this window and the last
  // (each delay_ns long, window_start the start of this one). The cache keeps
  // at most recent peak - live_bytes: what the program had in use lately and
  // may ask for again, not a fixed cache_limit of mappings it stopped using.
  uint64_t window_start, peak_this_window, peak_last_window;
  uint64_t failed;  // atomic
} large;

static const xsmem_allocator_ops kLargeOps;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static large_header *header_of(const void *p) { return (large_header *)((char *)p - HDR); }
static uint64_t magic_for(const large_header *h) { return LARGE_MAGIC ^ (uint64_t)(uintptr_t)h; }

// ---------------------------------------------------------------------------
// Lists (lock held).

static void live_push(large *l, large_header *h) {
  h->prev = NULL;
  h->next = l->live;
  if (h->next) h->next->prev = h;
  l->live = h;
}

static void live_remove(large *l, large_header *h) {
  if (h->prev) h->prev->next = h->next;
  else l->live = h->next;
  if (h->next) h->next->prev = h->prev;
}

static void cache_push(large *l, large_header *h) {
  h->prev = NULL;
  h->next = l->cache_head;
  if (h->next) h->next->prev = h;
  else l->cache_tail = h;
  l->cache_head = h;
  l->cached_bytes += h->map_size;
  l->cached_count++;
}

static void cache_remove(large *l, large_header *h) {
  if (h->prev) h->prev->next = h->next;
  else l->cache_head = h->next;
  if (h->next) h->next->prev = h->prev;
  else l->cache_tail = h->prev;
  l->cached_bytes -= h->map_size;
  l->cached_count--;
}

// Notes live_bytes in this window's peak. Lock held.
static void note_use(large *l) {
  if (l->live_bytes > l->peak_this_window) l->peak_this_window = l->live_bytes;
}

// Returns the recent peak of live_bytes at now, after moving the window on
// when it has passed (a window with no operation in it peaked at live_bytes).
// Lock held.
static uint64_t recent_peak(large *l, uint64_t now) {
  uint64_t elapsed = now - l->window_start;
  if ((int64_t)elapsed < 0) elapsed = 0;
  if (elapsed >= l->delay_ns) {
    l->peak_last_window = elapsed >= 2 * l->delay_ns ? l->live_bytes : l->peak_this_window;
    l->peak_this_window = l->live_bytes;
    l->window_start = now;
  }
  return XSMEM_MAX(XSMEM_MAX(l->peak_this_window, l->peak_last_window), l->live_bytes);
}

// Moves cached mappings past the delay, or beyond the cache's bound (the
// byte limit, and the recent peak of live bytes less those live now), onto
// *out (chained through next) for unmapping after the lock is dropped.
static void cache_evict(large *l, uint64_t now, bool all, large_header **out) {
  uint64_t gen = xsmem_options_generation();
  if (l->follow_options && gen != l->options_generation) {  // XSMEM_DECOMMIT_DELAY_MS is LIVE
    l->options_generation = gen;
    l->delay_ns = (uint64_t)xsmem_option_int("XSMEM_DECOMMIT_DELAY_MS") * 1000000u;
  }
  uint64_t bound = XSMEM_MIN((uint64_t)l->cache_limit, recent_peak(l, now) - l->live_bytes);
  while (l->cache_tail) {
    large_header *h = l->cache_tail;
    bool expired = (int64_t)(now - h->freed_ns) >= (int64_t)l->delay_ns;
    if (!all && !expired && l->cached_bytes <= bound) break;
    cache_remove(l, h);
    l->evictions++;
    h->state = 0;
    h->next = *out;
    *out = h;
  }
}

// ---------------------------------------------------------------------------
// Mappings.

// Returns the alignment a mapping needs so that base + offset is aligned to
// the caller's alignment (offset is that alignment when it exceeds a page).
static size_t map_align(size_t offset) { return XSMEM_MAX(offset, CHUNK); }

static char *map_fresh(large *l, size_t size, size_t offset) {
  size_t align = map_align(offset);
  if (!l->source) return xsmem_os_map(size, align, l->vm_flags);
  size_t got = 0;
  char *p = xsmem_source_map(l->source, size, align, &got);
  if (p && (((uintptr_t)p & (align - 1)) || got != size)) {
    xsmem_log("large %s: source %s returned a misaligned or odd-sized region", l->base.name, l->source->name);
    xsmem_source_unmap(l->source, p, got);
    errno = ENOMEM;
    return NULL;
  }
  // A source maps plain pages; huge pages are this tier's choice (advice only).
  if (p && (l->vm_flags & XSMEM_VM_HUGE) && size >= 2 * XSMEM_MiB && xsmem_os_huge_policy() > 0) {
    madvise(p, size, MADV_HUGEPAGE);
  }
  return p;
}

static void unmap_range(large *l, char *base, size_t size) {
  xsmem_pagemap_set(base, size, XSMEM_TAG_NONE);
  if (l->source) {
    xsmem_source_unmap(l->source, base, size);
  } else {
    xsmem_os_unmap(base, size);
  }
}

static void unmap_list(large *l, large_header *h) {
  while (h) {
    large_header *next = h->next;
    h->magic = 0;
    XSMEM_TOOL_UNPOISON(h->base, h->map_size);  // ASan's shadow outlives the mapping
    unmap_range(l, h->base, h->map_size);
    h = next;
  }
}

// Resizes the mapping of h (not on any list) to size bytes, keeping its pages;
// *how is 1 when it grew in place, 2 when it moved. Returns the new header (it
// moves with the pages) or NULL; h is intact on failure.
static large_header *remap(large *l, large_header *h, size_t size, int *how) {
  char *base = h->base;
  size_t old = h->map_size, offset = h->offset;
  *how = 0;
  // ASan's shadow stays at the old address: clean it, poison the new padding below.
  XSMEM_TOOL_UNPOISON(base, old);
  if (size < old) {
    xsmem_pagemap_set(base + size, old - size, XSMEM_TAG_NONE);
    xsmem_os_release(base + size, old - size, old - size);
    h->map_size = size;
    XSMEM_TOOL_POISON(base, offset - HDR);
    return h;
  }
  char *nb = xsmem_os_remap(base, old, size, NULL);
  *how = 1;
  if (nb && !xsmem_pagemap_set(nb, size, XSMEM_TAG_LARGE)) {
    // The pagemap cannot describe the new part (an address-space limit): the
    // mapping shrinks back (in place, which cannot fail) and the request fails.
    xsmem_os_remap(nb, size, old, NULL);
    XSMEM_TOOL_POISON(base, offset - HDR);
    errno = ENOMEM;
    return NULL;
  }
  if (!nb) {
    *how = 2;
    char *target = xsmem_os_reserve(size, map_align(offset));
    if (!target) return NULL;
    if (!xsmem_pagemap_set(target, size, XSMEM_TAG_LARGE)) {  // before any pointer into it exists
      xsmem_os_release(target, size, 0);
      XSMEM_TOOL_POISON(base, offset - HDR);
      errno = ENOMEM;
      return NULL;
    }
    // Untag the old range before the move unmaps it: once it is unmapped another
    // thread may map a block there and tag it, and a late untag would erase that.
    xsmem_pagemap_set(base, old, XSMEM_TAG_NONE);
    nb = xsmem_os_remap(base, old, size, target);
    if (!nb) {
      xsmem_pagemap_set(base, old, XSMEM_TAG_LARGE);  // its leaves exist: cannot fail
      xsmem_pagemap_set(target, size, XSMEM_TAG_NONE);
      xsmem_os_release(target, size, 0);
      return NULL;
    }
  }
  large_header *n = (large_header *)(nb + offset - HDR);
  n->magic = magic_for(n);
  n->base = nb;
  n->map_size = size;
  XSMEM_TOOL_POISON(nb, offset - HDR);
  return n;
}

// ---------------------------------------------------------------------------
// The allocator ops.

XSMEM_COLD static void *alloc_fail(large *l, int err) {
  __atomic_fetch_add(&l->failed, 1, __ATOMIC_RELAXED);
  errno = err;
  return NULL;
}

// Links h (live) in and counts it. Lock held.
static void account_live(large *l, large_header *h, size_t size) {
  live_push(l, h);
  l->allocs++;
  l->live_count++;
  l->live_bytes += h->map_size;
  l->in_use += h->map_size - h->offset;
  l->metadata += h->offset;
  note_use(l);
  xsmem_stats_note_peak(&l->peak, l->in_use);
  if (size > l->largest) l->largest = size;
}

static void account_gone(large *l, large_header *h) {
  live_remove(l, h);
  l->live_count--;
  l->live_bytes -= h->map_size;
  l->in_use -= h->map_size - h->offset;
  l->metadata -= h->offset;
}

// Takes the cached mapping that fits need best: the smallest at least as big,
// else (when it can be grown with mremap) the largest. Lock held.
static large_header *cache_take(large *l, size_t need, size_t offset) {
  large_header *best = NULL, *biggest = NULL;
  for (large_header *h = l->cache_head; h; h = h->next) {
    if (h->offset != offset) continue;
    if (h->map_size >= need) {
      if (l->source && h->map_size > 2 * need) continue;  // cannot trim a source's region
      if (!best || h->map_size < best->map_size) best = h;
      if (h->map_size == need) break;
    } else if (!biggest || h->map_size > biggest->map_size) {
      biggest = h;
    }
  }
  if (!best && !l->source) best = biggest;
  if (best) cache_remove(l, best);
  return best;
}

static void *large_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  large *l = (large *)a;
  if (XSMEM_UNLIKELY(!xsmem_is_pow2(align))) return alloc_fail(l, EINVAL);
  size_t page = xsmem_os_page_size();
  size_t offset = align > page ? align : page;
  size_t need;
  if (__builtin_add_overflow(size, offset, &need) || !xsmem_align_up_checked(need, CHUNK, &need) ||
      need >= ((size_t)1 << XSMEM_PAGEMAP_ADDRESS_BITS)) {
    return alloc_fail(l, ENOMEM);
  }
  large_header *evicted = NULL, *h = NULL;
  xsmem_spin_lock(&l->lock);
  if (l->cache_head) {
    cache_evict(l, now_ns(), false, &evicted);
    h = cache_take(l, need, offset);
  }
  if (h) l->hits++;
  else l->misses++;
  xsmem_spin_unlock(&l->lock);
  unmap_list(l, evicted);
  evicted = NULL;
  size_t dirty = 0;  // bytes of the block that may hold old data
  int how = 0;
  if (h) {
    dirty = h->map_size - h->offset;
    // A cached mapping up to twice the need is taken whole (its pages are
    // resident: releasing the surplus only to fault it back later is what
    // this cache avoids); a bigger one is trimmed, a smaller one grown.
    if (!l->source && (h->map_size < need || h->map_size > 2 * need)) {
      large_header *n = remap(l, h, need, &how);
      if (!n) {  // give the old mapping back and map afresh
        h->next = NULL;
        unmap_list(l, h);
        dirty = 0;
      }
      h = n;
    }
  }
  char *user;
  if (h) {
    user = h->base + h->offset;
  } else {
    char *base = map_fresh(l, need, offset);
    if (!base && l->cache_head) {
      // Refused (an address-space limit, the overcommit policy) while freed
      // mappings wait in the cache: give them all back and try once more.
      large_header *all = NULL;
      xsmem_spin_lock(&l->lock);
      cache_evict(l, 0, true, &all);
      xsmem_spin_unlock(&l->lock);
      unmap_list(l, all);
      base = map_fresh(l, need, offset);
    }
    if (!base) return alloc_fail(l, ENOMEM);
    if (!xsmem_pagemap_set(base, need, XSMEM_TAG_LARGE)) {
      if (l->source) xsmem_source_unmap(l->source, base, need);
      else xsmem_os_unmap(base, need);
      return alloc_fail(l, ENOMEM);
    }
    user = base + offset;
    h = header_of(user);
    h->magic = magic_for(h);
    h->owner = l;
    h->base = base;
    h->map_size = need;
    h->offset = offset;
    // The page below the header is never touched: an underflow lands there.
    XSMEM_TOOL_POISON(base, offset - HDR);
  }
  h->requested = size;
  h->state = STATE_LIVE;
  XSMEM_TOOL_ALLOC(l, user, h->map_size - offset);
  if ((flags & XSMEM_ALLOC_ZERO) && dirty) memset(user, 0, XSMEM_MIN(size, dirty));
  if (flags & XSMEM_ALLOC_ZERO) XSMEM_TOOL_UNPOISON(user, size);  // memcheck: fresh pages are defined
  xsmem_spin_lock(&l->lock);
  account_live(l, h, size);
  l->remap_in_place += how == 1;
  l->remap_moved += how == 2;
  // What stays cached beside the new block is held to the recent peak (a
  // mapping grown from a smaller cached one took no fresh one out).
  if (l->cache_head) cache_evict(l, now_ns(), false, &evicted);
  xsmem_spin_unlock(&l->lock);
  unmap_list(l, evicted);
  return user;
}

// Returns the header of live block p, with the lock held; NULL after a report.
static large_header *lookup_locked(large *l, const void *p, const char *op) {
  const char *what = NULL;
  large_header *h = header_of(p);
  if (((uintptr_t)p & (xsmem_os_page_size() - 1)) || xsmem_pagemap_get(p) != XSMEM_TAG_LARGE ||
      xsmem_pagemap_get(h) != XSMEM_TAG_LARGE) {
    xsmem_report_bad_pointer(l->base.name, op, p, "pointer not allocated by this allocator (or already unmapped)");
    return NULL;
  }
  xsmem_spin_lock(&l->lock);
  if (h->magic != magic_for(h)) {
    what = "interior pointer or corrupted header (no block starts here)";
  } else if (h->owner != l) {
    what = "pointer belongs to another large allocator";
  } else if (h->state == STATE_CACHED) {
    what = "double free (block already freed)";
  } else if (h->state != STATE_LIVE || h->base + h->offset != (const char *)p) {
    what = "block is being resized or freed concurrently";
  }
  if (XSMEM_UNLIKELY(what != NULL)) {
    xsmem_spin_unlock(&l->lock);
    xsmem_report_bad_pointer(l->base.name, op, p, what);
    return NULL;
  }
  return h;
}

static void large_free(xsmem_allocator *a, void *p, size_t size) {
  large *l = (large *)a;
  large_header *h = lookup_locked(l, p, "free");
  if (!h) return;
  if (XSMEM_UNLIKELY(size > h->map_size - h->offset)) {
    xsmem_spin_unlock(&l->lock);
    xsmem_report_bad_pointer(l->base.name, "free", p, "sized free larger than the block");
    return;
  }
  account_gone(l, h);
  l->frees++;
  XSMEM_TOOL_FREE(l, p, h->map_size - h->offset);
  large_header *evicted = NULL;
  uint64_t now = now_ns();
  if (h->map_size <= l->cache_limit) {
    h->state = STATE_CACHED;
    h->freed_ns = now;
    cache_push(l, h);
  } else {
    h->state = 0;
    h->next = evicted;
    evicted = h;
  }
  cache_evict(l, now, false, &evicted);
  xsmem_spin_unlock(&l->lock);
  unmap_list(l, evicted);
}

static size_t large_usable(const xsmem_allocator *a, const void *p) {
  large *l = (large *)a;
  large_header *h = lookup_locked(l, p, "malloc_usable_size");
  if (!h) return 0;
  size_t n = h->map_size - h->offset;
  xsmem_spin_unlock(&l->lock);
  return n;
}

static bool large_owns(const xsmem_allocator *a, const void *p) {
  large *l = (large *)a;
  if (xsmem_pagemap_get(p) != XSMEM_TAG_LARGE) return false;
  bool found = false;
  xsmem_spin_lock(&l->lock);
  // A block's start, the common question (the numa router asks it of a block
  // outside its spans): its header, in a chunk a large tier mapped whole.
  const large_header *h = header_of(p);
  if (!((uintptr_t)p & (xsmem_os_page_size() - 1)) && xsmem_pagemap_get(h) == XSMEM_TAG_LARGE &&
      h->magic == magic_for(h) && h->state == STATE_LIVE && h->base + h->offset == (const char *)p) {
    found = h->owner == l;
    xsmem_spin_unlock(&l->lock);
    return found;
  }
  for (large_header *h = l->live; h && !found; h = h->next) {
    found = (const char *)p >= h->base + h->offset && (const char *)p < h->base + h->map_size;
  }
  xsmem_spin_unlock(&l->lock);
  return found;
}

static void *large_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  large *l = (large *)a;
  large_header *h = lookup_locked(l, p, "realloc");
  if (!h) {
    errno = EINVAL;
    return NULL;
  }
  size_t need;
  if (__builtin_add_overflow(size, h->offset, &need) || !xsmem_align_up_checked(need, CHUNK, &need) ||
      need >= ((size_t)1 << XSMEM_PAGEMAP_ADDRESS_BITS)) {
    xsmem_spin_unlock(&l->lock);
    return alloc_fail(l, ENOMEM);
  }
  if (need == h->map_size) {
    h->requested = size;
    if (size > l->largest) l->largest = size;
    xsmem_spin_unlock(&l->lock);
    return p;
  }
  size_t old_usable = h->map_size - h->offset;
  if (l->source) {  // a source's regions cannot be remapped: move
    xsmem_spin_unlock(&l->lock);
    void *q = large_alloc(a, size, h->offset > xsmem_os_page_size() ? h->offset : 1, flags & ~XSMEM_ALLOC_ZERO);
    if (!q) return NULL;
    memcpy(q, p, XSMEM_MIN(size, old_usable));
    large_free(a, p, 0);
    return q;
  }
  account_gone(l, h);
  h->state = STATE_MOVING;
  xsmem_spin_unlock(&l->lock);
  int how = 0;
  large_header *n = remap(l, h, need, &how);
  xsmem_spin_lock(&l->lock);
  if (!n) {
    h->state = STATE_LIVE;
    account_live(l, h, h->requested);
    l->allocs--;  // not a new allocation
    xsmem_spin_unlock(&l->lock);
    return alloc_fail(l, ENOMEM);
  }
  l->remap_in_place += how == 1;
  l->remap_moved += how == 2;
  n->requested = size;
  n->state = STATE_LIVE;
  XSMEM_TOOL_MOVE(l, p, n->base + n->offset, n->map_size - n->offset);
  account_live(l, n, size);
  l->allocs--;
  xsmem_spin_unlock(&l->lock);
  return n->base + n->offset;
}

static void large_stats(const xsmem_allocator *a, xsmem_stats *out) {
  large *l = (large *)a;
  xsmem_spin_lock(&l->lock);
  out->num_allocs = l->allocs;
  out->num_frees = l->frees;
  out->bytes_in_use = l->in_use;
  out->peak_bytes_in_use = l->peak;
  out->bytes_cached = l->cached_bytes;
  out->bytes_metadata = l->metadata;
  out->bytes_reserved = l->live_bytes + l->cached_bytes;
  out->bytes_committed = out->bytes_reserved;  // whole mappings, in use or cached
  out->largest_alloc_size = l->largest;
  xsmem_spin_unlock(&l->lock);
  out->num_failed = __atomic_load_n(&l->failed, __ATOMIC_RELAXED);
}

static void large_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  large *l = (large *)a;
  xsmem_spin_lock(&l->lock);
  double v[] = {(double)l->live_count,     (double)l->cached_count, (double)l->hits,     (double)l->misses,
                (double)l->remap_in_place, (double)l->remap_moved,  (double)l->evictions};
  xsmem_spin_unlock(&l->lock);
  static const char *const kKeys[] = {"live_mappings",   "cached_mappings", "cache_hits",     "cache_misses",
                                      "remaps_in_place", "remaps_moved",    "cache_evictions"};
  static const char *const kKinds[] = {"gauge", "gauge", "counter", "counter", "counter", "counter", "counter"};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(v); i++) sink->value(sink, "tier", "large", kKeys[i], kKinds[i], v[i]);
}

static size_t large_trim(xsmem_allocator *a, size_t goal_bytes) {
  large *l = (large *)a;
  large_header *evicted = NULL;
  xsmem_spin_lock(&l->lock);
  size_t released = l->cached_bytes;
  cache_evict(l, now_ns(), true, &evicted);
  xsmem_spin_unlock(&l->lock);
  unmap_list(l, evicted);
  return released;
}

size_t xsmem_large_purge(xsmem_allocator *a) {
  large *l = (large *)a;
  large_header *evicted = NULL;
  xsmem_spin_lock(&l->lock);
  uint64_t before = l->cached_bytes;
  cache_evict(l, now_ns(), false, &evicted);
  size_t released = before - l->cached_bytes;
  xsmem_spin_unlock(&l->lock);
  unmap_list(l, evicted);
  return released;
}

static void large_fork(xsmem_allocator *a, int phase) {
  large *l = (large *)a;
  if (phase == XSMEM_FORK_PREPARE) {
    xsmem_spin_lock(&l->lock);
  } else {
    xsmem_spin_unlock(&l->lock);
  }
}

static void large_destroy(xsmem_allocator *a) {
  large *l = (large *)a;
  large_trim(a, 0);
  large_header *h = l->live;
  l->live = NULL;
  unmap_list(l, h);
  XSMEM_TOOL_POOL_DESTROY(l);
  xsmem_os_unmap(l, xsmem_os_page_size());
}

static const xsmem_allocator_ops kLargeOps = {
    .kind = "large",
    .alloc = large_alloc,
    .free = large_free,
    .usable_size = large_usable,
    .owns = large_owns,
    .realloc = large_realloc,
    .stats = large_stats,
    .trim = large_trim,
    .fork = large_fork,
    .destroy = large_destroy,
    .detail = large_detail,
};

void xsmem_large_for_each(xsmem_allocator *a, void (*fn)(void *ctx, const void *p, size_t size), void *ctx) {
  large *l = (large *)a;
  xsmem_spin_lock(&l->lock);
  for (large_header *h = l->live; h; h = h->next) fn(ctx, h->base + h->offset, h->requested);
  xsmem_spin_unlock(&l->lock);
}

// ---------------------------------------------------------------------------
// Construction.

xsmem_large_options xsmem_large_options_from_env(void) {
  xsmem_large_options o;
  o.cache_bytes = xsmem_option_bytes("XSMEM_LARGE_CACHE");
  long long delay = xsmem_option_int("XSMEM_DECOMMIT_DELAY_MS");
  o.decommit_delay_ms = delay < 0 ? 0 : (unsigned)delay;
  o.huge_pages = true;
  o.follow_options = true;
  return o;
}

static void init(large *l, const char *name, xsmem_source *source, const xsmem_large_options *o) {
  l->base.ops = &kLargeOps;
  l->base.name = name;
  l->source = source;
  l->cache_limit = o->cache_bytes;
  l->delay_ns = (uint64_t)o->decommit_delay_ms * 1000000u;
  l->window_start = now_ns();
  l->follow_options = o->follow_options;
  l->options_generation = xsmem_options_generation();
  l->vm_flags = o->huge_pages ? XSMEM_VM_HUGE : 0;
  XSMEM_TOOL_POOL_CREATE(l);
}

xsmem_allocator *xsmem_large_create(const char *name, xsmem_source *source, const xsmem_large_options *o) {
  _Static_assert(sizeof(large) <= 4096, "the state fits one page");
  xsmem_large_options d;
  if (!o) {
    d = xsmem_large_options_from_env();
    o = &d;
  }
  large *l = xsmem_os_map(sizeof(large), XSMEM_CACHE_LINE, 0);
  if (!l) return NULL;
  init(l, name, source, o);
  return &l->base;
}

size_t xsmem_large_min_size(void) {
  static size_t cached;
  size_t v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (XSMEM_UNLIKELY(v == 0)) {
    v = xsmem_option_bytes("XSMEM_LARGE_MIN");
    if (v == 0) v = 1;
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
  }
  return v;
}
