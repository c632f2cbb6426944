// allocators/buddy/buddy_pages.c: what backs the buddy front's blocks.
// Huge-page advice per block (XSMEM_BUDDY_THP), empty regions given back to
// the source once they stayed empty for the decommit delay, and the pages of
// free blocks dropped: by trim, and by the periodic purge in regions that
// went idle with live blocks in them.
#include <sys/mman.h>

#include "allocators/buddy/buddy_internal.h"
#include "platform/options.h"
#include "platform/os_vm.h"
#include "platform/pagemap.h"

// ---------------------------------------------------------------------------
// Huge-page advice.

// Per-block huge-page advice (the process-wide instance): a block of at least
// a huge page is advised MADV_HUGEPAGE (one fault per 2 MiB of a buffer that
// is filled), a smaller one takes the advice back from its huge page first
// (so a 16 KiB block never commits 2 MiB). One bit per huge page of the
// region, kept after the meta bytes, says it is advised; the syscall runs only
// when that changes. Region lock held.
void buddy_thp_advise(buddy *b, buddy_region *r, char *blk, unsigned k) {
  unsigned h = b->thp_shift;
  if (!h) return;
  uint64_t *bits = (uint64_t *)(r->meta + (b->region_size >> b->min_shift));
  size_t first = (size_t)(blk - r->base) >> h;
  if (k >= h) {
    bool change = false;
    for (size_t i = first, e = first + ((size_t)1 << (k - h)); i < e; i++) {
      change |= !(bits[i >> 6] & ((uint64_t)1 << (i & 63)));
      bits[i >> 6] |= (uint64_t)1 << (i & 63);
    }
    if (change) madvise(blk, (size_t)1 << k, MADV_HUGEPAGE);  // advice only: failure changes nothing
  } else if (bits[first >> 6] & ((uint64_t)1 << (first & 63))) {
    bits[first >> 6] &= ~((uint64_t)1 << (first & 63));
    madvise(r->base + (first << h), (size_t)1 << h, MADV_NOHUGEPAGE);
  }
}

// ---------------------------------------------------------------------------
// Empty regions.

// Gives r back to the source if it is still empty. grow_lock held.
static size_t region_release(buddy *b, buddy_region *r) {
  xsmem_spin_lock(&r->lock);
  char *base = r->base;
  if (!base || r->in_use != 0) {
    xsmem_spin_unlock(&r->lock);
    return 0;
  }
  uint8_t *meta = r->meta;
  buddy_table_set(b, base, 0);
  xsmem_pagemap_set(base, b->region_size, XSMEM_TAG_NONE);
  __atomic_store_n(&r->nonempty, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&r->base, NULL, __ATOMIC_RELAXED);
  r->meta = NULL;
  r->head[b->region_shift] = NULL;
  r->lone = 0;
  r->nfree[b->region_shift] = 0;
  __atomic_store_n(&r->empty_since_ns, 0, __ATOMIC_RELAXED);
  b->active--;
  xsmem_spin_unlock(&r->lock);
  XSMEM_TOOL_UNPOISON(base, b->region_size);  // ASan's shadow outlives the mapping
  xsmem_source_unmap(b->source, base, b->region_size);
  xsmem_os_unmap(meta, b->meta_bytes);
  return b->region_size + b->meta_bytes;
}

// Returns the decommit delay, read again from XSMEM_DECOMMIT_DELAY_MS (LIVE)
// when xsmem_option_set changed an option and b follows the options.
static uint64_t delay_ns(buddy *b) {
  if (b->follow_options) {
    uint64_t gen = xsmem_options_generation();
    if (gen != __atomic_load_n(&b->options_generation, __ATOMIC_RELAXED)) {
      __atomic_store_n(&b->options_generation, gen, __ATOMIC_RELAXED);
      uint64_t ms = (uint64_t)xsmem_option_int("XSMEM_DECOMMIT_DELAY_MS");
      __atomic_store_n(&b->delay_ns, ms * 1000000u, __ATOMIC_RELAXED);
    }
  }
  return __atomic_load_n(&b->delay_ns, __ATOMIC_RELAXED);
}

// Releases empty regions: all of them when force, else those empty for longer
// than the delay. Returns the bytes given back.
size_t buddy_purge_empty(buddy *b, bool force) {
  size_t released = 0;
  uint32_t n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
  uint64_t now = force ? 0 : now_ns();
  int64_t delay = (int64_t)delay_ns(b);
  bool any = false;  // a look without the lock first: the common answer is "none due"
  for (uint32_t i = 0; i < n && !any; i++) {
    uint64_t since = __atomic_load_n(&b->regions[i].empty_since_ns, __ATOMIC_RELAXED);
    any = since && (force || (int64_t)(now - since) >= delay);
  }
  if (!any) return 0;
  xsmem_spin_lock(&b->grow_lock);
  n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n; i++) {
    buddy_region *r = &b->regions[i];
    uint64_t since = __atomic_load_n(&r->empty_since_ns, __ATOMIC_RELAXED);
    if (!since || (!force && (int64_t)(now - since) < delay)) continue;
    released += region_release(b, r);
  }
  xsmem_spin_unlock(&b->grow_lock);
  return released;
}

// ---------------------------------------------------------------------------
// Free blocks' pages.

// Drops the pages of r's free blocks (their first page keeps the free-list
// links). Region lock held. Returns the bytes dropped.
static size_t drop_free_pages(buddy *b, buddy_region *r) {
  size_t released = 0, page = xsmem_os_page_size();
  for (unsigned k = b->region_shift; r->base && k > b->min_shift && ((size_t)1 << k) > page; k--) {
    for (free_block *f = r->head[k], *next; f; f = next) {
      next = buddy_list_next(b, r, k, f);
      if (madvise((char *)f + page, ((size_t)1 << k) - page, MADV_DONTNEED) == 0) {
        released += ((size_t)1 << k) - page;
      }
    }
  }
  __atomic_store_n(&r->freed_dirty, 0, __ATOMIC_RELAXED);
  return released;
}

// Gives empty regions back, then drops the pages of free blocks. Returns the
// bytes given back.
size_t buddy_trim(xsmem_allocator *a, size_t goal_bytes) {
  buddy *b = (buddy *)a;
  size_t released = buddy_purge_empty(b, true);
  uint32_t n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n && (goal_bytes == 0 || released < goal_bytes); i++) {
    buddy_region *r = &b->regions[i];
    xsmem_spin_lock(&r->lock);
    released += drop_free_pages(b, r);
    xsmem_spin_unlock(&r->lock);
  }
  return released;
}

// A region that still holds live blocks is never given back, and its free
// blocks would keep their pages for good: once it has had no alloc or free
// for IDLE_PASSES purge passes (about the decommit delay: the purger runs
// 4 passes per delay) and at least DIRTY_MIN bytes were freed in it since, the
// free blocks' pages are dropped (a burst of medium blocks freed around one
// long-lived block lets RSS fall).
#define IDLE_PASSES 4
#define DIRTY_MIN ((uint64_t)1 << 20)

size_t xsmem_buddy_purge(xsmem_allocator *a) {
  buddy *b = (buddy *)a;
  size_t released = buddy_purge_empty(b, false);
  uint64_t pass = __atomic_add_fetch(&b->passes, 1, __ATOMIC_RELAXED);
  uint32_t n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n; i++) {
    buddy_region *r = &b->regions[i];
    // Looks without the lock first (the common answer: nothing to drop).
    if (__atomic_load_n(&r->freed_dirty, __ATOMIC_RELAXED) < DIRTY_MIN ||
        pass - __atomic_load_n(&r->active_pass, __ATOMIC_RELAXED) < IDLE_PASSES) {
      continue;
    }
    if (!xsmem_spin_trylock(&r->lock)) continue;  // busy: not idle
    if (r->base && r->freed_dirty >= DIRTY_MIN && pass - r->active_pass >= IDLE_PASSES) {
      released += drop_free_pages(b, r);
    }
    xsmem_spin_unlock(&r->lock);
  }
  return released;
}
