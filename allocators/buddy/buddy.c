// allocators/buddy/buddy.c: the buddy front (model in buddy.h): free lists
// and orders, regions and their lookup table, alloc, free and realloc, fork,
// destroy, options and creation. buddy_pages.c gives memory back and advises
// huge pages; buddy_report.c has the statistics.
#include "allocators/buddy/buddy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "allocators/buddy/buddy_internal.h"
#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"
#include "platform/pagemap.h"
#include "platform/tool_hooks.h"

static const xsmem_allocator_ops kBuddyOps;

static __thread uint32_t t_home __attribute__((tls_model("initial-exec")));

static size_t region_id(const buddy_region *r, const buddy *b) { return (size_t)(r - b->regions); }

// ---------------------------------------------------------------------------
// Free lists and the order bitmap (region lock held).
//
// The links are the only data buddy keeps inside blocks, and they are
// safe-linked (glibc's PROTECT_PTR): a link is stored as value ^ its own
// address ^ the region's random link_key, so a pointer written into a free
// block after free decodes to garbage. Every link is checked before it is
// followed or written through: it must be NULL or a free block of the list's
// order in the region (its order byte, kept outside the blocks, says so), and
// its back link must point back (glibc's safe unlink). A bad link is reported
// as heap corruption (the allocator, the block size, the block); under
// XSMEM_ON_ERROR=warn the list is then rebuilt from the order bytes, so
// nothing is lost and nothing the writer chose is followed.

static bool list_lone(const buddy_region *r, unsigned k) { return (r->lone >> k) & 1; }

static free_block *link_get(const buddy_region *r, free_block *const *slot) {
  LINKS_OPEN(slot);
  uintptr_t v = (uintptr_t)*slot;
  LINKS_CLOSE(slot);
  return (free_block *)(v ^ (uintptr_t)slot ^ r->link_key);
}

static void link_set(const buddy_region *r, free_block **slot, const free_block *v) {
  LINKS_OPEN(slot);
  *slot = (free_block *)((uintptr_t)v ^ (uintptr_t)slot ^ r->link_key);
  LINKS_CLOSE(slot);
}

// Returns true when q is NULL or a free block of order k of r: a link that
// may be followed.
static bool link_ok(const buddy *b, const buddy_region *r, unsigned k, const free_block *q) {
  if (!q) return true;
  size_t off = (size_t)((uintptr_t)q - (uintptr_t)r->base);
  if (off >= b->region_size || (off & (((size_t)1 << k) - 1))) return false;
  return r->meta[off >> b->min_shift] == (uint8_t)(META_FREE | k);
}

// Rebuilds list k of r from the order bytes, leaving out `skip` (a block
// being taken off the list; NULL: none).
static void list_rebuild(buddy *b, buddy_region *r, unsigned k, const free_block *skip) {
  free_block *head = NULL, *last = NULL;
  uint32_t n = 0;
  for (size_t off = 0; off < b->region_size; off += (size_t)1 << k) {
    free_block *f = (free_block *)(r->base + off);
    if (r->meta[off >> b->min_shift] != (uint8_t)(META_FREE | k) || f == skip) continue;
    if (last) link_set(r, &last->next, f);
    else head = f;
    link_set(r, &f->prev, last);
    last = f;
    n++;
  }
  if (last) link_set(r, &last->next, NULL);
  r->head[k] = head;
  r->nfree[k] = n;
  r->lone &= ~((uint64_t)1 << k);  // every link written
  uint64_t bit = (uint64_t)1 << k;
  __atomic_store_n(&r->nonempty, head ? r->nonempty | bit : r->nonempty & ~bit, __ATOMIC_RELAXED);
}

// Reports the corrupted links of f (on list k of r) and rebuilds the list
// without skip. Returns only under XSMEM_ON_ERROR=warn.
XSMEM_COLD static void list_corrupted(buddy *b, buddy_region *r, unsigned k, const free_block *f,
                                      const free_block *skip, const char *op) {
  char msg[200];
  xsmem_snprintf(msg, sizeof(msg),
                 "heap corruption in a free %zu-byte block: its free-list links were overwritten (write after "
                 "free); not followed, the list is rebuilt from the order map",
                 (size_t)1 << k);
  xsmem_report_bad_pointer(b->base.name, op, f, msg);
  list_rebuild(b, r, k, skip);
}

static void list_push(buddy_region *r, unsigned k, char *blk) {
  free_block *f = (free_block *)blk, *n = r->head[k];
  if (!n) {
    r->lone |= (uint64_t)1 << k;  // links not written: read as NULL
  } else {
    if (list_lone(r, k)) {  // the lone block's links, now that it has a neighbour
      r->lone &= ~((uint64_t)1 << k);
      link_set(r, &n->next, NULL);
    }
    link_set(r, &f->prev, NULL);
    link_set(r, &f->next, n);
    link_set(r, &n->prev, f);  // n is the head: no link of a block led to it
  }
  r->head[k] = f;
  r->nfree[k]++;
  __atomic_store_n(&r->nonempty, r->nonempty | ((uint64_t)1 << k), __ATOMIC_RELAXED);
}

// The block after f on list k (NULL at the end, and after a report).
free_block *buddy_list_next(buddy *b, buddy_region *r, unsigned k, free_block *f) {
  if (list_lone(r, k)) return NULL;
  free_block *n = link_get(r, &f->next);
  if (XSMEM_UNLIKELY(!link_ok(b, r, k, n) || (n && link_get(r, &n->prev) != f))) {
    list_corrupted(b, r, k, f, NULL, "trim");
    return NULL;
  }
  return n;
}

// Takes f, a free block of order k (its order byte says so), off list k.
static void list_remove(buddy *b, buddy_region *r, unsigned k, free_block *f, const char *op) {
  if (list_lone(r, k)) {  // f is the only block
    r->lone &= ~((uint64_t)1 << k);
    r->head[k] = NULL;
    r->nfree[k]--;
    __atomic_store_n(&r->nonempty, r->nonempty & ~((uint64_t)1 << k), __ATOMIC_RELAXED);
    return;
  }
  free_block *p = link_get(r, &f->prev), *n = link_get(r, &f->next);
  if (XSMEM_UNLIKELY(!link_ok(b, r, k, p) || !link_ok(b, r, k, n) ||
                     (p ? link_get(r, &p->next) != f : r->head[k] != f) || (n && link_get(r, &n->prev) != f))) {
    list_corrupted(b, r, k, f, f, op);
    return;
  }
  if (p) link_set(r, &p->next, n);
  else r->head[k] = n;
  if (n) link_set(r, &n->prev, p);
  r->nfree[k]--;
  if (!r->head[k]) __atomic_store_n(&r->nonempty, r->nonempty & ~((uint64_t)1 << k), __ATOMIC_RELAXED);
}

static void meta_set(buddy *b, buddy_region *r, const char *blk, uint8_t v) {
  __atomic_store_n(&r->meta[(size_t)(blk - r->base) >> b->min_shift], v, __ATOMIC_RELAXED);
}

// Notes an alloc or free in r (region lock held; the purger reads it without).
static void note_active(buddy *b, buddy_region *r) {
  __atomic_store_n(&r->active_pass, __atomic_load_n(&b->passes, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

// Returns a block of order k from r, or NULL when r has none big enough.
// *dirty: how many leading bytes of it may hold old data.
static char *region_alloc(buddy *b, buddy_region *r, unsigned k, size_t *dirty) {
  uint64_t avail = r->nonempty & ~(((uint64_t)1 << k) - 1);
  if (!avail || !r->base) return NULL;
  unsigned j = (unsigned)__builtin_ctzll(avail);
  free_block *f = r->head[j];
  list_remove(b, r, j, f, "malloc");
  char *blk = (char *)f;
  while (j > k) {  // split: the upper half goes back on list j-1
    j--;
    char *upper = blk + ((size_t)1 << j);
    meta_set(b, r, upper, (uint8_t)(META_FREE | j));
    list_push(r, j, upper);
  }
  meta_set(b, r, blk, (uint8_t)(META_ALLOC | k));
  size_t off = (size_t)(blk - r->base), end = off + ((size_t)1 << k);
  // The free-list links of the block (and of split halves) dirtied its first bytes.
  *dirty = !b->zeroed ? (size_t)1 << k : off >= r->hwm ? sizeof(free_block) : XSMEM_MIN(r->hwm, end) - off;
  if (*dirty < sizeof(free_block)) *dirty = sizeof(free_block);
  if (end > r->hwm) r->hwm = end;
  buddy_thp_advise(b, r, blk, k);
  r->nlive[k]++;
  r->allocs++;
  r->in_use += (size_t)1 << k;
  note_active(b, r);
  __atomic_store_n(&r->empty_since_ns, 0, __ATOMIC_RELAXED);
  return blk;
}

// Frees blk of order k into r and merges it upwards. Returns true when the
// region is empty afterwards.
static bool region_free(buddy *b, buddy_region *r, char *blk, unsigned k) {
  r->nlive[k]--;
  r->frees++;
  r->in_use -= (size_t)1 << k;
  __atomic_store_n(&r->freed_dirty, r->freed_dirty + ((size_t)1 << k), __ATOMIC_RELAXED);
  note_active(b, r);
  size_t off = (size_t)(blk - r->base);
  XSMEM_TOOL_FREE(b, blk, (size_t)1 << k);
  meta_set(b, r, blk, 0);
  while (k < b->region_shift) {
    size_t boff = off ^ ((size_t)1 << k);
    uint8_t m = __atomic_load_n(&r->meta[boff >> b->min_shift], __ATOMIC_RELAXED);
    if (m != (META_FREE | k)) break;
    list_remove(b, r, k, (free_block *)(r->base + boff), "free");
    // Zero the merged buddy's links: blocks above hwm must read as zero.
    LINKS_OPEN(r->base + boff);
    memset(r->base + boff, 0, sizeof(free_block));
    LINKS_CLOSE(r->base + boff);
    r->meta[boff >> b->min_shift] = 0;
    off &= ~((size_t)1 << k);
    k++;
  }
  meta_set(b, r, r->base + off, (uint8_t)(META_FREE | k));
  list_push(r, k, r->base + off);
  return k == b->region_shift;
}

// ---------------------------------------------------------------------------
// Regions: creation (grow_lock held) and lookup (buddy_pages.c releases them).

// Returns a new region's link key: random for each region; from the clock
// and the address where the kernel has no entropy to give yet (early boot).
static uint64_t region_key(const buddy_region *r) {
  uint64_t k;
  if (getrandom(&k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    k = ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull) ^ (uintptr_t)r ^ (uintptr_t)&ts;
  }
  return k;
}

// Returns the leaf holding slot's entry, mapping it when make (grow_lock
// held); NULL when it has none (or cannot be mapped: errno ENOMEM).
static uint16_t *table_leaf(buddy *b, uintptr_t slot, bool make) {
  uint16_t **at = &b->table[slot >> b->leaf_shift];
  uint16_t *leaf = __atomic_load_n(at, __ATOMIC_ACQUIRE);
  if (leaf || !make) return leaf;
  leaf = xsmem_os_map(b->leaf_bytes, xsmem_os_page_size(), 0);
  if (!leaf) return NULL;
  b->leaves++;
  __atomic_store_n(at, leaf, __ATOMIC_RELEASE);
  return leaf;
}

// Sets base's entry to v (grow_lock held). Returns false when its leaf cannot
// be mapped (only when v names a region: clearing finds the leaf there).
bool buddy_table_set(buddy *b, const char *base, uint16_t v) {
  uintptr_t slot = (uintptr_t)base >> b->region_shift;
  uint16_t *leaf = table_leaf(b, slot, v != 0);
  if (!leaf) return v == 0;
  __atomic_store_n(&leaf[slot & b->leaf_mask], v, __ATOMIC_RELEASE);
  return true;
}

// On every free and realloc of a buddy block: inline.
XSMEM_INLINE buddy_region *region_of(const buddy *b, const void *p) {
  uintptr_t slot = (uintptr_t)p >> b->region_shift;
  if (XSMEM_UNLIKELY(slot >= b->table_entries)) return NULL;
  const uint16_t *leaf = __atomic_load_n(&b->table[slot >> b->leaf_shift], __ATOMIC_ACQUIRE);
  if (XSMEM_UNLIKELY(!leaf)) return NULL;
  uint16_t id = __atomic_load_n(&leaf[slot & b->leaf_mask], __ATOMIC_ACQUIRE);
  return id ? (buddy_region *)&b->regions[id - 1] : NULL;
}

// Maps a new region and returns it locked, or NULL (errno ENOMEM).
static buddy_region *region_create(buddy *b) {
  uint32_t n = __atomic_load_n(&b->nslots, __ATOMIC_RELAXED);
  buddy_region *r = NULL;
  for (uint32_t i = 0; i < n; i++) {
    if (!__atomic_load_n(&b->regions[i].base, __ATOMIC_RELAXED)) {
      r = &b->regions[i];
      break;
    }
  }
  if (!r) {
    if (n >= b->max_regions) {
      errno = ENOMEM;
      return NULL;
    }
    r = &b->regions[n];
  }
  size_t got = 0;
  char *base = xsmem_source_map(b->source, b->region_size, b->region_size, &got);
  if (!base) return NULL;
  if (((uintptr_t)base & (b->region_size - 1)) || got < b->region_size) {
    xsmem_log("buddy %s: source %s returned a misaligned or short region", b->base.name, b->source->name);
    xsmem_source_unmap(b->source, base, got);
    errno = ENOMEM;
    return NULL;
  }
  uint8_t *meta = xsmem_os_map(b->meta_bytes, xsmem_os_page_size(), 0);
  // The lookup table's leaf and the pagemap's: either may need a mapping the
  // address space no longer has room for.
  if (!meta || !table_leaf(b, (uintptr_t)base >> b->region_shift, true) ||
      !xsmem_pagemap_set(base, b->region_size, XSMEM_TAG_BUDDY)) {
    if (meta) xsmem_os_unmap(meta, b->meta_bytes);
    xsmem_source_unmap(b->source, base, got);
    errno = ENOMEM;
    return NULL;
  }
  XSMEM_TOOL_POISON(base, b->region_size);  // free memory until handed out
  xsmem_spin_lock(&r->lock);
  memset(r->head, 0, sizeof(r->head));
  r->link_key = region_key(r);
  r->lone = 0;
  memset(r->nfree, 0, sizeof(r->nfree));
  memset(r->nlive, 0, sizeof(r->nlive));
  r->meta = meta;
  r->allocs = r->frees = r->in_use = 0;
  r->hwm = 0;
  __atomic_store_n(&r->freed_dirty, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&r->empty_since_ns, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&r->nonempty, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&r->base, base, __ATOMIC_RELEASE);
  meta_set(b, r, base, (uint8_t)(META_FREE | b->region_shift));
  list_push(r, b->region_shift, base);
  buddy_table_set(b, base, (uint16_t)(region_id(r, b) + 1));  // its leaf exists: cannot fail
  b->active++;
  if (r == &b->regions[n]) __atomic_store_n(&b->nslots, n + 1, __ATOMIC_RELEASE);
  return r;
}

// ---------------------------------------------------------------------------
// The allocator ops.

// Returns the order serving size bytes aligned to align, or BUDDY_ORDERS when none can.
static unsigned order_for(const buddy *b, size_t size, size_t align) {
  size_t need = XSMEM_MAX(size, align);
  if (need > b->region_size) return BUDDY_ORDERS;
  unsigned k = xsmem_log2_ceil(need);
  return k < b->min_shift ? b->min_shift : k;
}

// Adds grown bytes to the exact in-use counter and updates peak and largest.
static void note_alloc(buddy *b, size_t size, uint64_t grown) {
  uint64_t in_use = __atomic_add_fetch(&b->in_use, grown, __ATOMIC_RELAXED);
  uint64_t peak = __atomic_load_n(&b->peak, __ATOMIC_RELAXED);
  while (in_use > peak &&
         !__atomic_compare_exchange_n(&b->peak, &peak, in_use, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
  uint64_t largest = __atomic_load_n(&b->largest, __ATOMIC_RELAXED);
  while (size > largest &&
         !__atomic_compare_exchange_n(&b->largest, &largest, size, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

XSMEM_COLD static void *alloc_fail(buddy *b, int err) {
  __atomic_fetch_add(&b->failed, 1, __ATOMIC_RELAXED);
  errno = err;
  return NULL;
}

// The source refused a new region (an address-space limit, say) while empty
// regions wait out their delay: gives those back and tries once more.
XSMEM_COLD static char *alloc_after_purge(buddy *b, unsigned k, size_t *dirty) {
  if (!buddy_purge_empty(b, true)) return NULL;
  xsmem_spin_lock(&b->grow_lock);
  buddy_region *r = region_create(b);
  char *blk = NULL;
  if (r) {
    blk = region_alloc(b, r, k, dirty);
    xsmem_spin_unlock(&r->lock);
    t_home = (uint32_t)region_id(r, b) + 1;
  }
  xsmem_spin_unlock(&b->grow_lock);
  return blk;
}

static void *buddy_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  buddy *b = (buddy *)a;
  if (XSMEM_UNLIKELY(!xsmem_is_pow2(align))) return alloc_fail(b, EINVAL);
  unsigned k = order_for(b, size, align);
  if (XSMEM_UNLIKELY(k >= BUDDY_ORDERS)) return alloc_fail(b, ENOMEM);
  uint32_t home = t_home;
  if (XSMEM_UNLIKELY(home == 0)) home = t_home = __atomic_add_fetch(&b->next_home, 1, __ATOMIC_RELAXED);
  char *blk = NULL;
  size_t dirty = 0;
  buddy_region *r = NULL;
  // Pass 0: try-lock, skipping busy regions; pass 1: wait for each lock.
  for (int pass = 0; pass < 2 && !blk; pass++) {
    uint32_t n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n && !blk; i++) {
      r = &b->regions[(home + i) % n];
      if (!(__atomic_load_n(&r->nonempty, __ATOMIC_RELAXED) >> k)) continue;
      if (pass == 0 ? !xsmem_spin_trylock(&r->lock) : (xsmem_spin_lock(&r->lock), false)) continue;
      blk = region_alloc(b, r, k, &dirty);
      xsmem_spin_unlock(&r->lock);
      if (blk && pass == 0 && i) t_home = (uint32_t)region_id(r, b) + 1;  // stay where it worked
    }
  }
  if (!blk) {
    xsmem_spin_lock(&b->grow_lock);
    // Another thread may have freed or grown meanwhile: one locked look first.
    uint32_t n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n && !blk; i++) {
      r = &b->regions[i];
      if (!(__atomic_load_n(&r->nonempty, __ATOMIC_RELAXED) >> k)) continue;
      xsmem_spin_lock(&r->lock);
      blk = region_alloc(b, r, k, &dirty);
      xsmem_spin_unlock(&r->lock);
    }
    if (!blk) {
      r = region_create(b);
      if (r) {
        blk = region_alloc(b, r, k, &dirty);
        xsmem_spin_unlock(&r->lock);
        t_home = (uint32_t)region_id(r, b) + 1;
      }
    }
    xsmem_spin_unlock(&b->grow_lock);
    if (!blk) blk = alloc_after_purge(b, k, &dirty);
    if (!blk) return alloc_fail(b, ENOMEM);
  }
  note_alloc(b, size, (uint64_t)1 << k);
  XSMEM_TOOL_ALLOC(b, blk, (size_t)1 << k);
  // Memory a zeroed source never saw handed out is still zero: calloc of a
  // big block touches only what earlier blocks dirtied.
  if ((flags & XSMEM_ALLOC_ZERO) && dirty) memset(blk, 0, XSMEM_MIN(size, dirty));
  if (flags & XSMEM_ALLOC_ZERO) XSMEM_TOOL_UNPOISON(blk, size);  // memcheck: known zero is defined
  return blk;
}

// Returns what is wrong with p as a live block of r, or NULL with its meta
// byte in *m. Needs no lock for a live block: only its owner changes the
// block's meta byte, and a region with live blocks is never released.
static const char *block_problem(const buddy *b, const buddy_region *r, const void *p, uint8_t *m) {
  const char *base = __atomic_load_n(&r->base, __ATOMIC_RELAXED);
  const uint8_t *meta = __atomic_load_n(&r->meta, __ATOMIC_RELAXED);
  size_t off = (size_t)((const char *)p - base);
  if (!base || !meta || off >= b->region_size) return "pointer not allocated by this allocator";
  if (off & (((size_t)1 << b->min_shift) - 1)) return "interior pointer (not the start of a block)";
  *m = __atomic_load_n(&meta[off >> b->min_shift], __ATOMIC_RELAXED);
  if (*m & META_FREE) return "double free (block already freed)";
  if (!(*m & META_ALLOC)) return "interior pointer or double free (no block starts here)";
  return NULL;
}

// Returns the region of a live block p and its order (via *k), without the
// lock (see block_problem); NULL after a report when p is not a live block of b.
// Inline: free and realloc of a buddy block run it (a call and its frame
// cost more than the lookup).
XSMEM_INLINE buddy_region *lookup(const buddy *b, const void *p, const char *op, unsigned *k) {
  buddy_region *r = region_of(b, p);
  uint8_t m = 0;
  const char *what = r ? block_problem(b, r, p, &m) : "pointer not allocated by this allocator";
  if (XSMEM_UNLIKELY(what != NULL)) {
    xsmem_report_bad_pointer(b->base.name, op, p, what);
    return NULL;
  }
  *k = META_ORDER(m);
  return r;
}

// As lookup, with the region locked on success.
static buddy_region *lookup_locked(buddy *b, const void *p, const char *op, unsigned *k) {
  buddy_region *r = region_of(b, p);
  if (XSMEM_UNLIKELY(!r)) {
    xsmem_report_bad_pointer(b->base.name, op, p, "pointer not allocated by this allocator");
    return NULL;
  }
  xsmem_spin_lock(&r->lock);
  uint8_t m = 0;
  const char *what = block_problem(b, r, p, &m);
  if (XSMEM_UNLIKELY(what != NULL)) {
    xsmem_spin_unlock(&r->lock);
    xsmem_report_bad_pointer(b->base.name, op, p, what);
    return NULL;
  }
  *k = META_ORDER(m);
  return r;
}

static void buddy_free(xsmem_allocator *a, void *p, size_t size) {
  buddy *b = (buddy *)a;
  unsigned k;
  buddy_region *r = lookup_locked(b, p, "free", &k);
  if (!r) return;
  if (XSMEM_UNLIKELY(size > ((size_t)1 << k))) {
    xsmem_spin_unlock(&r->lock);
    xsmem_report_bad_pointer(b->base.name, "free", p, "sized free larger than the block");
    return;
  }
  bool empty = region_free(b, r, p, k);
  if (empty) __atomic_store_n(&r->empty_since_ns, XSMEM_MAX(now_ns(), (uint64_t)1), __ATOMIC_RELAXED);
  xsmem_spin_unlock(&r->lock);
  __atomic_fetch_sub(&b->in_use, (uint64_t)1 << k, __ATOMIC_RELAXED);
  // An emptied region is the moment to give back regions that stayed empty
  // past the delay (rare: only when a whole region drains).
  if (XSMEM_UNLIKELY(empty)) buddy_purge_empty(b, false);
}

static size_t buddy_usable(const xsmem_allocator *a, const void *p) {
  unsigned k;
  return lookup((const buddy *)a, p, "malloc_usable_size", &k) ? (size_t)1 << k : 0;
}

static bool buddy_owns(const xsmem_allocator *a, const void *p) { return region_of((const buddy *)a, p) != NULL; }

// In place when the new size keeps the order, shrinks by splitting, or grows
// into free right-hand buddies; otherwise moves within this allocator.
static void *buddy_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  buddy *b = (buddy *)a;
  unsigned k;
  unsigned want = order_for(b, size, 1);
  // The common case of a growing buffer, the order stays: no lock.
  buddy_region *r = lookup(b, p, "realloc", &k);
  if (r && want == k) return p;
  if (r) r = lookup_locked(b, p, "realloc", &k);
  if (!r) {
    errno = EINVAL;
    return NULL;
  }
  char *blk = p;
  size_t off = (size_t)(blk - r->base);
  if (want < BUDDY_ORDERS && want != k) {
    // Grow in place while blk is the left buddy and its right buddy is whole and free.
    unsigned top = k;
    while (top < want && !(off & ((size_t)1 << top)) &&
           r->meta[(off + ((size_t)1 << top)) >> b->min_shift] == (META_FREE | top)) {
      top++;
    }
    if (want < k || top == want) {
      if (want > k) {
        for (unsigned j = k; j < want; j++) {
          char *right = blk + ((size_t)1 << j);
          list_remove(b, r, j, (free_block *)right, "realloc");
          meta_set(b, r, right, 0);
        }
      } else {
        for (unsigned j = k; j > want; j--) {  // the upper halves become free blocks
          char *upper = blk + ((size_t)1 << (j - 1));
          meta_set(b, r, upper, (uint8_t)(META_FREE | (j - 1)));
          list_push(r, j - 1, upper);
        }
      }
      meta_set(b, r, blk, (uint8_t)(META_ALLOC | want));
      if (off + ((size_t)1 << want) > r->hwm) r->hwm = off + ((size_t)1 << want);
      if (want > k) buddy_thp_advise(b, r, blk, want);
      r->nlive[k]--;
      r->nlive[want]++;
      r->in_use = r->in_use - ((size_t)1 << k) + ((size_t)1 << want);
      XSMEM_TOOL_RESIZE(b, blk, (size_t)1 << k, (size_t)1 << want);
      note_active(b, r);
      if (want < k) {
        __atomic_store_n(&r->freed_dirty, r->freed_dirty + ((size_t)1 << k) - ((size_t)1 << want), __ATOMIC_RELAXED);
      }
      xsmem_spin_unlock(&r->lock);
      if (want > k) {
        note_alloc(b, size, ((uint64_t)1 << want) - ((uint64_t)1 << k));
      } else {
        __atomic_fetch_sub(&b->in_use, ((uint64_t)1 << k) - ((uint64_t)1 << want), __ATOMIC_RELAXED);
      }
      return p;
    }
  }
  xsmem_spin_unlock(&r->lock);
  if (want == k) return p;
  void *q = buddy_alloc(a, size, XSMEM_MIN_ALIGN, flags & ~XSMEM_ALLOC_ZERO);
  if (!q) return NULL;
  memcpy(q, p, XSMEM_MIN(size, (size_t)1 << k));
  buddy_free(a, p, 0);
  return q;
}

static void buddy_fork(xsmem_allocator *a, int phase) {
  buddy *b = (buddy *)a;
  uint32_t n;
  if (phase == XSMEM_FORK_PREPARE) {
    xsmem_spin_lock(&b->grow_lock);
    n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; i++) xsmem_spin_lock(&b->regions[i].lock);
  } else {
    n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; i++) xsmem_spin_unlock(&b->regions[i].lock);
    xsmem_spin_unlock(&b->grow_lock);
  }
}

static void buddy_destroy(xsmem_allocator *a) {
  buddy *b = (buddy *)a;
  uint32_t n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n; i++) {
    buddy_region *r = &b->regions[i];
    if (!r->base) continue;
    buddy_table_set(b, r->base, 0);
    xsmem_pagemap_set(r->base, b->region_size, XSMEM_TAG_NONE);
    XSMEM_TOOL_UNPOISON(r->base, b->region_size);
    xsmem_source_unmap(b->source, r->base, b->region_size);
    xsmem_os_unmap(r->meta, b->meta_bytes);
    r->base = NULL;
  }
  for (unsigned i = 0; i < TABLE_ROOT; i++) {
    if (b->table[i]) xsmem_os_unmap(b->table[i], b->leaf_bytes);
  }
  XSMEM_TOOL_POOL_DESTROY(b);
  xsmem_os_unmap(b, b->self_bytes);
}

static const xsmem_allocator_ops kBuddyOps = {
    .kind = "buddy",
    .alloc = buddy_alloc,
    .free = buddy_free,
    .usable_size = buddy_usable,
    .owns = buddy_owns,
    .realloc = buddy_realloc,
    .stats = buddy_stats,
    .trim = buddy_trim,
    .fork = buddy_fork,
    .destroy = buddy_destroy,
    .detail = buddy_detail,
};

// ---------------------------------------------------------------------------
// Construction.

xsmem_buddy_options xsmem_buddy_options_from_env(void) {
  xsmem_buddy_options o;
  // Under an address-space limit a region takes at most an eighth of it (an
  // 8 MiB region under 64 MiB, 512 MiB under 4 GiB): the 1 GiB default would
  // not fit beside the program, and medium requests would all go to the
  // large tier, a mapping each.
  o.region_size = xsmem_os_fit_limit(xsmem_option_bytes("XSMEM_BUDDY_REGION"), 8, XSMEM_PAGEMAP_CHUNK);
  o.min_block = 4 * XSMEM_KiB;
  o.max_regions = 4096;
  // No more regions than the limit could hold: the region slots (a KiB each)
  // are mapped up front.
  size_t limit = xsmem_os_as_limit();
  if (limit != SIZE_MAX && xsmem_is_pow2(o.region_size)) {
    o.max_regions = XSMEM_MAX(XSMEM_MIN(limit / o.region_size, (size_t)4096), (size_t)1);
  }
  long long delay = xsmem_option_int("XSMEM_DECOMMIT_DELAY_MS");
  o.decommit_delay_ms = delay < 0 ? 0 : (unsigned)delay;
  o.thp = xsmem_option_bool("XSMEM_BUDDY_THP");
  o.follow_options = true;
  return o;
}

xsmem_allocator *xsmem_buddy_create(const char *name, xsmem_source *source, const xsmem_buddy_options *o) {
  xsmem_buddy_options d;
  if (!o) {
    d = xsmem_buddy_options_from_env();
    o = &d;
  }
  if (!source || !xsmem_is_pow2(o->region_size) || o->region_size < XSMEM_PAGEMAP_CHUNK ||
      o->region_size > ((size_t)1 << (BUDDY_ORDERS - 1)) || !xsmem_is_pow2(o->min_block) || o->min_block < 16 ||
      o->min_block > o->region_size / 2 || o->max_regions == 0 || o->max_regions > MAX_REGIONS_LIMIT) {
    errno = EINVAL;
    return NULL;
  }
  size_t self = xsmem_align_up(sizeof(buddy) + o->max_regions * sizeof(buddy_region), xsmem_os_page_size());
  buddy *b = xsmem_os_map(self, XSMEM_CACHE_LINE, 0);
  if (!b) return NULL;
  unsigned rshift = xsmem_log2_floor(o->region_size);
  size_t entries = (size_t)1 << (XSMEM_PAGEMAP_ADDRESS_BITS - rshift);
  b->base.ops = &kBuddyOps;
  b->base.name = name;
  b->source = source;
  b->zeroed = (source->ops->caps & XSMEM_SRC_ZEROED) != 0;
  b->min_shift = xsmem_log2_floor(o->min_block);
  b->region_shift = rshift;
  b->region_size = o->region_size;
  // Meta bytes, then room for buddy_thp_advise's bits (huge pages of 64 KiB or more).
  b->meta_bytes =
      xsmem_align_up((o->region_size >> b->min_shift) + (o->region_size >> 16) / 8 + 8, xsmem_os_page_size());
  b->max_regions = o->max_regions;
  b->delay_ns = (uint64_t)o->decommit_delay_ms * 1000000u;
  b->follow_options = o->follow_options;
  b->options_generation = xsmem_options_generation();
  b->self_bytes = self;
  b->table_entries = entries;
  b->leaf_shift = entries > TABLE_ROOT ? xsmem_log2_floor(entries / TABLE_ROOT) : 0;
  b->leaf_mask = ((uintptr_t)1 << b->leaf_shift) - 1;
  b->leaf_bytes = xsmem_align_up(((size_t)1 << b->leaf_shift) * sizeof(uint16_t), xsmem_os_page_size());
  size_t hs = xsmem_os_huge_page_size();
  if (o->thp && xsmem_os_huge_policy() >= 1 && xsmem_is_pow2(hs) && hs >= ((size_t)64 << 10) &&
      hs <= o->region_size / 2) {
    b->thp_shift = xsmem_log2_floor(hs);
  }
  XSMEM_TOOL_POOL_CREATE(b);
  return &b->base;
}

size_t xsmem_buddy_live_size(const xsmem_allocator *a, const void *p, const char *op) {
  unsigned k;
  return lookup((const buddy *)a, p, op, &k) ? (size_t)1 << k : 0;
}

size_t xsmem_buddy_max_size(const xsmem_allocator *a) { return ((const buddy *)a)->region_size; }

size_t xsmem_buddy_block_size(const xsmem_allocator *a, size_t size, size_t align) {
  unsigned k = order_for((const buddy *)a, size, align ? align : 1);
  return k < BUDDY_ORDERS ? (size_t)1 << k : 0;
}
