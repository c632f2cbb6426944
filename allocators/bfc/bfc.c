// allocators/bfc/bfc.c: the BFC arena (model in bfc.h): chunk handles, bins,
// regions, split and merge, allocation, lookup and free, trim, fork, options,
// creation and destruction. Statistics, visiting and dumps are bfc_report.c.
#include "allocators/bfc/bfc.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "allocators/bfc/bfc_internal.h"
#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"
#include "platform/tool_hooks.h"

// ---------------------------------------------------------------------------
// Chunk handles.

// Makes sure at least n handles can be taken without mapping.
static bool reserve_handles(xsmem_bfc *b, uint32_t n) {
  uint64_t capacity = (uint64_t)b->num_segs * SEG_CHUNKS;
  uint32_t spare = capacity > b->fresh ? (uint32_t)(capacity - b->fresh) : 0;
  for (uint32_t h = b->free_handles; h && spare < n; h = C(b, h)->next) spare++;
  if (spare >= n) return true;
  if (b->num_segs == MAX_SEGS) return false;
  chunk *seg = xsmem_os_map(SEG_CHUNKS * sizeof(chunk), b->page, 0);
  if (!seg) return false;
  b->segs[b->num_segs++] = seg;
  b->metadata += SEG_CHUNKS * sizeof(chunk);
  return true;
}

// REQUIRES: reserve_handles succeeded for this many handles.
static uint32_t new_handle(xsmem_bfc *b) {
  uint32_t h = b->free_handles;
  if (h) {
    b->free_handles = C(b, h)->next;
  } else {
    h = b->fresh++;
  }
  memset(C(b, h), 0, sizeof(chunk));
  return h;
}

static void drop_handle(xsmem_bfc *b, uint32_t h) {
  C(b, h)->next = b->free_handles;
  C(b, h)->size = 0;
  b->free_handles = h;
}

// ---------------------------------------------------------------------------
// Bins: treaps ordered by (size, address), priorities hashed from the handle.

int xsmem_bfc_bin_of(size_t size) {
  size_t g = size >> G_SHIFT;
  if (g == 0) return 0;
  unsigned i = xsmem_log2_floor(g);
  return i < NBINS ? (int)i : NBINS - 1;
}

XSMEM_INLINE uint32_t prio(uint32_t h) { return h * 0x9E3779B1u; }

XSMEM_INLINE bool key_less(const chunk *a, size_t size, uintptr_t ptr) {
  return a->size < size || (a->size == size && a->ptr < ptr);
}

static uint32_t treap_insert(xsmem_bfc *b, uint32_t root, uint32_t h) {
  if (!root) return h;
  chunk *r = C(b, root), *c = C(b, h);
  if (key_less(c, r->size, r->ptr)) {
    r->left = treap_insert(b, r->left, h);
    if (prio(r->left) > prio(root)) {  // rotate right
      uint32_t l = r->left;
      r->left = C(b, l)->right;
      C(b, l)->right = root;
      return l;
    }
  } else {
    r->right = treap_insert(b, r->right, h);
    if (prio(r->right) > prio(root)) {  // rotate left
      uint32_t rr = r->right;
      r->right = C(b, rr)->left;
      C(b, rr)->left = root;
      return rr;
    }
  }
  return root;
}

static uint32_t treap_join(xsmem_bfc *b, uint32_t l, uint32_t r) {
  if (!l) return r;
  if (!r) return l;
  if (prio(l) > prio(r)) {
    C(b, l)->right = treap_join(b, C(b, l)->right, r);
    return l;
  }
  C(b, r)->left = treap_join(b, l, C(b, r)->left);
  return r;
}

static uint32_t treap_remove(xsmem_bfc *b, uint32_t root, uint32_t h) {
  if (root == h) return treap_join(b, C(b, h)->left, C(b, h)->right);
  chunk *r = C(b, root), *c = C(b, h);
  if (key_less(c, r->size, r->ptr)) {
    r->left = treap_remove(b, r->left, h);
  } else {
    r->right = treap_remove(b, r->right, h);
  }
  return root;
}

// Returns the first chunk with key >= (size, ptr), or 0.
static uint32_t treap_lower_bound(const xsmem_bfc *b, uint32_t n, size_t size, uintptr_t ptr) {
  uint32_t best = 0;
  while (n) {
    const chunk *c = C(b, n);
    if (!key_less(c, size, ptr)) {
      best = n;
      n = c->left;
    } else {
      n = c->right;
    }
  }
  return best;
}

static void bin_insert(xsmem_bfc *b, uint32_t h) {
  chunk *c = C(b, h);
  c->left = c->right = 0;
  int i = xsmem_bfc_bin_of(c->size);
  b->bins[i] = treap_insert(b, b->bins[i], h);
  b->bin_mask |= 1u << i;
}

static void bin_remove(xsmem_bfc *b, uint32_t h) {
  int i = xsmem_bfc_bin_of(C(b, h)->size);
  b->bins[i] = treap_remove(b, b->bins[i], h);
  if (!b->bins[i]) b->bin_mask &= ~(1u << i);
}

// ---------------------------------------------------------------------------
// Regions.

static region *region_find(const xsmem_bfc *b, uintptr_t p) {
  size_t lo = 0, hi = b->num_regions;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (b->regions[mid].end <= p) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < b->num_regions && p >= b->regions[lo].base ? &b->regions[lo] : NULL;
}

XSMEM_INLINE uint32_t *slot_of(const region *r, uintptr_t p) { return &r->slots[(p - r->base) >> G_SHIFT]; }

// Adds [p, p+mapped) as a region with one free chunk. Returns false (nothing
// changed) when the metadata cannot be mapped.
static bool region_add(xsmem_bfc *b, void *p, size_t mapped, bool pinned) {
  size_t usable = xsmem_align_down(mapped, G);
  if (!reserve_handles(b, 1)) return false;
  if (b->num_regions == b->region_cap) {
    size_t cap = b->region_cap ? b->region_cap * 2 : b->page / sizeof(region);
    region *n = xsmem_os_map(cap * sizeof(region), b->page, 0);
    if (!n) return false;
    if (b->regions) {
      memcpy(n, b->regions, b->num_regions * sizeof(region));
      xsmem_os_unmap(b->regions, b->region_cap * sizeof(region));
      b->metadata -= b->region_cap * sizeof(region);
    }
    b->regions = n;
    b->region_cap = cap;
    b->metadata += cap * sizeof(region);
  }
  size_t slots_bytes = xsmem_align_up((usable >> G_SHIFT) * sizeof(uint32_t), b->page);
  uint32_t *slots = xsmem_os_map(slots_bytes, b->page, 0);  // zero: no chunk starts
  if (!slots) return false;
  size_t i = 0;
  while (i < b->num_regions && b->regions[i].base < (uintptr_t)p) i++;
  memmove(&b->regions[i + 1], &b->regions[i], (b->num_regions - i) * sizeof(region));
  region *r = &b->regions[i];
  *r = (region){(uintptr_t)p, (uintptr_t)p + usable, mapped, slots, slots_bytes, pinned, (uintptr_t)p};
  b->num_regions++;
  XSMEM_TOOL_POISON(p, mapped);  // free memory until a chunk of it is handed out
  uint32_t h = new_handle(b);
  chunk *c = C(b, h);
  c->ptr = (uintptr_t)p;
  c->size = usable;
  slots[0] = h;
  bin_insert(b, h);
  b->reserved += mapped;
  b->usable += usable;
  b->metadata += slots_bytes;
  return true;
}

// Gives region r back. REQUIRES: its one chunk is free and out of its bin.
static size_t region_release(xsmem_bfc *b, region *r) {
  drop_handle(b, r->slots[0]);
  region gone = *r;
  size_t i = (size_t)(r - b->regions);
  memmove(r, r + 1, (b->num_regions - i - 1) * sizeof(region));
  b->num_regions--;
  b->reserved -= gone.mapped;
  b->released[b->released_next % RELEASED_KEPT].base = gone.base;
  b->released[b->released_next % RELEASED_KEPT].end = gone.end;
  b->released_next++;
  b->usable -= gone.end - gone.base;
  b->metadata -= gone.slots_bytes;
  xsmem_os_unmap(gone.slots, gone.slots_bytes);
  XSMEM_TOOL_UNPOISON((void *)gone.base, gone.mapped);  // ASan's shadow outlives the mapping
  xsmem_source_unmap(b->source, (void *)gone.base, gone.mapped);
  return gone.mapped;
}

// Returns true when the chunk h is the whole of its region.
XSMEM_INLINE bool whole_region(const xsmem_bfc *b, uint32_t h) { return !C(b, h)->prev && !C(b, h)->next; }

// Releases every wholly free, unpinned region; returns the bytes released.
static size_t release_free_regions(xsmem_bfc *b) {
  size_t released = 0;
  for (size_t i = 0; i < b->num_regions;) {
    region *r = &b->regions[i];
    uint32_t h = r->slots[0];
    if (!r->pinned && !C(b, h)->alloc_id && whole_region(b, h)) {
      bin_remove(b, h);
      released += region_release(b, r);
    } else {
      i++;
    }
  }
  return released;
}

// Returns the size of the next region made for requests that fit in it: it
// doubles with each region made (so the total doubles), starts at
// initial_region, and is at most what is reserved (so after garbage
// collection it comes down with what is left).
size_t bfc_region_step(const xsmem_bfc *b) {
  size_t first = xsmem_align_up(b->opt.initial_region, b->page);
  return XSMEM_MIN(b->next_region, XSMEM_MAX(first, b->reserved));
}

// Maps a region that can hold `rounded` bytes at `align`: a region of the
// step's size, or of the request's own size when it is larger (a 4 GiB
// buffer then takes 4 GiB of the limit, and the next small request a region
// of the step's size, not another 4 GiB). A refusal (of the region, or of the
// metadata it needs) halves the request down to what is needed.
static bool grow(xsmem_bfc *b, size_t rounded, size_t align) {
  size_t need;
  if (!xsmem_align_up_checked(rounded, b->page, &need)) return false;
  size_t limit = b->opt.bytes_limit;
  if (b->reserved > limit || need > limit - b->reserved) return false;
  size_t avail = xsmem_align_down(limit - b->reserved, b->page);
  size_t step = bfc_region_step(b);
  // Over-aligned requests get a region of their own size too: the source
  // trims the alignment slack, so only address space is spent.
  size_t want = need > step || align > b->page ? need : step;
  if (want > avail) want = avail;
  size_t region_align = XSMEM_MAX(align, b->page);
  for (;;) {
    size_t got = 0;
    void *p = xsmem_source_map(b->source, want, region_align, &got);
    if (p && got < want) {  // a source that rounds down is not usable
      xsmem_source_unmap(b->source, p, got);
      p = NULL;
    }
    if (p) {
      if (b->reserved + got > limit) {
        xsmem_source_unmap(b->source, p, got);
        return false;
      }
      if (region_add(b, p, got, false)) {
        if (step <= limit / 2 && b->next_region < 2 * step) b->next_region = 2 * step;
        return true;
      }
      // Its metadata (slots, handles) found no room: the address space is
      // nearly full (ulimit -v). A smaller region leaves some.
      xsmem_source_unmap(b->source, p, got);
    }
    if (want == need) return false;
    want = XSMEM_MAX(need, xsmem_align_up(want / 2, b->page));
  }
}

// ---------------------------------------------------------------------------
// Split and merge.

// Cuts chunk h at n bytes; returns the handle of the free tail [ptr+n, end).
// REQUIRES: a handle reserved; h out of its bin; G <= n < size.
static uint32_t split(xsmem_bfc *b, region *r, uint32_t h, size_t n) {
  uint32_t t = new_handle(b);
  chunk *c = C(b, h), *tc = C(b, t);
  tc->ptr = c->ptr + n;
  tc->size = c->size - n;
  tc->freed_at = c->freed_at;
  tc->prev = h;
  tc->next = c->next;
  if (c->next) C(b, c->next)->prev = t;
  c->next = t;
  c->size = n;
  *slot_of(r, tc->ptr) = t;
  return t;
}

// Absorbs the free chunk `next` into its free predecessor h.
// REQUIRES: both out of their bins.
static void absorb(xsmem_bfc *b, region *r, uint32_t h, uint32_t next) {
  chunk *c = C(b, h), *n = C(b, next);
  c->size += n->size;
  c->next = n->next;
  if (n->next) C(b, n->next)->prev = h;
  if (n->freed_at > c->freed_at) c->freed_at = n->freed_at;
  *slot_of(r, n->ptr) = TOMB;  // remembers that a block started here
  drop_handle(b, next);
}

// Merges the free chunk h (out of its bin) with free neighbours; returns the result.
static uint32_t coalesce(xsmem_bfc *b, region *r, uint32_t h) {
  uint32_t n = C(b, h)->next;
  if (n && !C(b, n)->alloc_id) {
    bin_remove(b, n);
    absorb(b, r, h, n);
  }
  uint32_t p = C(b, h)->prev;
  if (p && !C(b, p)->alloc_id) {
    bin_remove(b, p);
    absorb(b, r, p, h);
    h = p;
  }
  return h;
}

// Frontier mode: merges neighbouring free chunks the safe frontier has passed.
static size_t merge_safe(xsmem_bfc *b) {
  size_t merged = 0;
  uint64_t f = b->safe_frontier;
  for (size_t i = 0; i < b->num_regions; i++) {
    region *r = &b->regions[i];
    uint32_t h = r->slots[0];
    while (h) {
      chunk *c = C(b, h);
      uint32_t n = c->next;
      if (!c->alloc_id && c->freed_at <= f && n && !C(b, n)->alloc_id && C(b, n)->freed_at <= f) {
        bin_remove(b, h);
        bin_remove(b, n);
        absorb(b, r, h, n);
        bin_insert(b, h);
        merged++;
        continue;  // h may absorb its new next as well
      }
      h = n;
    }
  }
  return merged;
}

// ---------------------------------------------------------------------------
// Allocation.

// Returns the best-fitting free chunk for (rounded, align, freed_before) and
// the head padding its aligned start needs, or 0.
static uint32_t find_fit(const xsmem_bfc *b, size_t rounded, size_t align, uint64_t freed_before, size_t *pad) {
  bool simple = align <= G && freed_before == 0;
  for (int i = xsmem_bfc_bin_of(rounded); i < NBINS; i++) {
    uint32_t mask = b->bin_mask >> i;
    if (!mask) return 0;
    i += __builtin_ctz(mask);
    uint32_t h = treap_lower_bound(b, b->bins[i], rounded, 0);
    if (simple && h) {
      *pad = 0;
      return h;
    }
    while (h) {  // walk in (size, address) order for the first chunk that qualifies
      const chunk *c = C(b, h);
      if (freed_before == 0 || c->freed_at <= freed_before) {
        size_t p = align > G ? xsmem_align_up(c->ptr, align) - c->ptr : 0;
        if (p <= c->size && c->size - p >= rounded) {
          *pad = p;
          return h;
        }
      }
      h = treap_lower_bound(b, b->bins[i], c->size, c->ptr + 1);
    }
  }
  return 0;
}

// Notes that chunk c of region r is handed out; returns how many of its
// first `size` bytes may hold old data (the rest is the source's untouched
// memory: zero, when the source's regions are), for calloc.
static size_t note_handed_out(const xsmem_bfc *b, region *r, const chunk *c, size_t size) {
  size_t dirty = !b->zeroed ? size : c->ptr >= r->hwm ? 0 : XSMEM_MIN(size, r->hwm - c->ptr);
  if (c->ptr + c->size > r->hwm) r->hwm = c->ptr + c->size;
  return dirty;
}

// Hands out chunk h for `size` bytes; *dirty: how many of them may hold old
// data. REQUIRES: 2 handles reserved.
static void *take(xsmem_bfc *b, uint32_t h, size_t pad, size_t rounded, size_t size, size_t *dirty) {
  bin_remove(b, h);
  region *r = region_find(b, C(b, h)->ptr);
  if (pad) {  // the head stays free
    uint32_t t = split(b, r, h, pad);
    bin_insert(b, h);
    h = t;
  }
  chunk *c = C(b, h);
  size_t slack = c->size - rounded;
  if (slack >= G && (c->size >= 2 * rounded || slack >= b->opt.split_slack)) {
    bin_insert(b, split(b, r, h, rounded));
  }
  c->requested = size;
  c->alloc_id = ++b->counter;
  *dirty = note_handed_out(b, r, c, size);
  XSMEM_TOOL_ALLOC(b, (void *)c->ptr, c->size);
  b->allocs++;
  b->in_use += c->size;
  xsmem_stats_note_peak(&b->peak, b->in_use);
  if (size > b->largest) b->largest = size;
  return (void *)c->ptr;
}

// The memory dump goes to stderr at the first failure only (a program that
// probes for memory, or retries, must not flood it); later failures are
// counted in num_failed, and xsmem_bfc_dump prints the map on demand.
static void report_oom(xsmem_bfc *b, size_t size, size_t align) {
  if (b->opt.oom) {
    b->opt.oom(b->opt.oom_ctx, b, size, align);
  } else if (b->opt.dump_on_oom && !__atomic_exchange_n(&b->oom_dumped, true, __ATOMIC_RELAXED)) {
    xsmem_dprintf(2,
                  "xsmem: bfc '%s' cannot serve %zu bytes (alignment %zu); its memory map follows (printed for "
                  "the first failure only: later ones are counted in num_failed)\n",
                  b->base.name, size, align);
    xsmem_bfc_dump(b, 2, 64);
  }
}

// Zeroes the first `dirty` bytes of a block for calloc. Only what may hold
// old data: a calloc of memory fresh from the source touches none of it (as
// glibc's of a fresh mapping). A big dirty range of a zeroed (anonymous)
// source is given back to the kernel instead, which hands it out again zero
// on first touch: what glibc's calloc of a new mapping costs, rather than
// faulting every page in at once (a 24 GiB calloc reusing a freed 64 TiB
// chunk met the OOM killer under vm.overcommit_memory=1).
static void zero(const xsmem_bfc *b, char *p, size_t dirty) {
  enum { kGiveBackMin = 4 << 20 };
  // (Not under the tools: memcheck would not see the kernel's zeroes.)
  if (!XSMEM_TOOL_ENABLED && b->zeroed && dirty >= kGiveBackMin) {
    uintptr_t lo = xsmem_align_up((uintptr_t)p, b->page), hi = xsmem_align_down((uintptr_t)p + dirty, b->page);
    if (madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0) {
      memset(p, 0, lo - (uintptr_t)p);
      memset((void *)hi, 0, (uintptr_t)p + dirty - hi);
      return;
    }
  }
  memset(p, 0, dirty);
}

static void *bfc_alloc_impl(xsmem_bfc *b, size_t size, size_t align, unsigned flags, uint64_t freed_before) {
  if (XSMEM_UNLIKELY(!xsmem_is_pow2(align))) {
    errno = EINVAL;
    return NULL;
  }
  size_t rounded;
  if (XSMEM_UNLIKELY(!xsmem_align_up_checked(size ? size : 1, G, &rounded) || rounded > b->opt.bytes_limit ||
                     align > b->opt.bytes_limit)) {
    __atomic_fetch_add(&b->failed, 1, __ATOMIC_RELAXED);
    errno = ENOMEM;
    return NULL;  // can never fit: no dump
  }
  pthread_mutex_lock(&b->mu);
  void *p = NULL;
  size_t pad = 0, dirty = 0;
  if (XSMEM_LIKELY(reserve_handles(b, 2))) {
    uint32_t h = find_fit(b, rounded, align, freed_before, &pad);
    if (!h && b->opt.frontier && merge_safe(b)) h = find_fit(b, rounded, align, freed_before, &pad);
    if (!h && grow(b, rounded, align)) h = find_fit(b, rounded, align, freed_before, &pad);
    if (!h && release_free_regions(b) && grow(b, rounded, align)) h = find_fit(b, rounded, align, freed_before, &pad);
    if (h) p = take(b, h, pad, rounded, size, &dirty);
  }
  if (!p) __atomic_fetch_add(&b->failed, 1, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&b->mu);
  if (XSMEM_UNLIKELY(!p)) {
    report_oom(b, size, align);
    errno = ENOMEM;
    return NULL;
  }
  if (flags & XSMEM_ALLOC_ZERO) {
    if (dirty) zero(b, p, dirty);
    if (dirty < size) XSMEM_TOOL_UNPOISON((char *)p + dirty, size - dirty);  // memcheck: fresh pages are zero
  }
  return p;
}

static void *bfc_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  return bfc_alloc_impl((xsmem_bfc *)a, size, align, flags, 0);
}

void *xsmem_bfc_alloc_frontier(xsmem_bfc *b, size_t size, size_t align, uint64_t freed_before) {
  return bfc_alloc_impl(b, size, align, 0, freed_before);
}

// ---------------------------------------------------------------------------
// Lookup and free.

// Returns the handle of the live chunk starting at p, or 0 after writing why
// not into *why. REQUIRES: mu held.
static uint32_t lookup_live(const xsmem_bfc *b, const void *p, region **rp, const char **why) {
  region *r = region_find(b, (uintptr_t)p);
  if (!r) {
    *why = "pointer not allocated by this allocator";
    for (uint32_t i = 0; i < RELEASED_KEPT; i++) {
      if ((uintptr_t)p >= b->released[i].base && (uintptr_t)p < b->released[i].end) {
        *why = "pointer into a region already given back (XSMEM_BFC_GC): a double free, or a use after free";
      }
    }
    return 0;
  }
  uint32_t h = ((uintptr_t)p & (G - 1)) ? 0 : *slot_of(r, (uintptr_t)p);
  if (h == TOMB) {
    *why = "double free (block already freed)";
    return 0;
  }
  if (!h) {
    *why = "pointer into the middle of a block";
    return 0;
  }
  if (!C(b, h)->alloc_id) {
    *why = "double free (block already freed)";
    return 0;
  }
  *rp = r;
  return h;
}

static void bfc_free(xsmem_allocator *a, void *p, size_t size) {
  xsmem_bfc *b = (xsmem_bfc *)a;
  pthread_mutex_lock(&b->mu);
  region *r = NULL;
  const char *why = NULL;
  uint32_t h = lookup_live(b, p, &r, &why);
  if (XSMEM_UNLIKELY(!h)) {
    pthread_mutex_unlock(&b->mu);
    xsmem_report_bad_pointer(b->base.name, "free", p, why);
    return;
  }
  chunk *c = C(b, h);
  XSMEM_TOOL_FREE(b, p, c->size);
  b->frees++;
  b->in_use -= c->size;
  c->alloc_id = 0;
  c->requested = 0;
  c->freed_at = ++b->counter;
  if (!b->opt.frontier) h = coalesce(b, r, h);
  if (b->opt.gc && !r->pinned && b->num_regions > 1 && whole_region(b, h)) {
    region_release(b, r);
  } else {
    bin_insert(b, h);
  }
  pthread_mutex_unlock(&b->mu);
}

// Gives the tail of the in-use chunk h beyond `rounded` back when it is worth
// keeping apart. REQUIRES: mu held, a handle reserved.
static void trim_tail(xsmem_bfc *b, region *r, uint32_t h, size_t rounded) {
  chunk *c = C(b, h);
  size_t slack = c->size - rounded;
  if (slack < G || (c->size < 2 * rounded && slack < b->opt.split_slack)) return;
  uint32_t t = split(b, r, h, rounded);
  b->in_use -= C(b, t)->size;
  C(b, t)->freed_at = ++b->counter;
  if (!b->opt.frontier) t = coalesce(b, r, t);
  bin_insert(b, t);
}

// In place when the block shrinks or its next neighbour is free and large
// enough; otherwise allocate, copy, free.
static void *bfc_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  xsmem_bfc *b = (xsmem_bfc *)a;
  size_t rounded;
  if (!xsmem_align_up_checked(size, G, &rounded) || rounded > b->opt.bytes_limit) {
    errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_lock(&b->mu);
  region *r = NULL;
  const char *why = NULL;
  uint32_t h = lookup_live(b, p, &r, &why);
  if (XSMEM_UNLIKELY(!h)) {
    pthread_mutex_unlock(&b->mu);
    xsmem_report_bad_pointer(b->base.name, "realloc", p, why);
    errno = EINVAL;
    return NULL;
  }
  chunk *c = C(b, h);
  size_t old = c->size;
  uint32_t n = c->next;
  bool fits = rounded <= old;
  if (!fits && n && !C(b, n)->alloc_id && old + C(b, n)->size >= rounded) {  // grow into the free neighbour
    uintptr_t nptr = C(b, n)->ptr;
    bin_remove(b, n);
    b->in_use += C(b, n)->size;
    absorb(b, r, h, n);
    *slot_of(r, nptr) = 0;  // now the inside of a live block
    fits = true;
  }
  if (fits) {
    if (reserve_handles(b, 1)) trim_tail(b, r, h, rounded);
    note_handed_out(b, r, c, c->size);  // grown in place: its new bytes are the program's
    XSMEM_TOOL_RESIZE(b, p, old, c->size);
    c->requested = size;
    xsmem_stats_note_peak(&b->peak, b->in_use);
    if (size > b->largest) b->largest = size;
    pthread_mutex_unlock(&b->mu);
    return p;
  }
  pthread_mutex_unlock(&b->mu);
  void *q = bfc_alloc_impl(b, size, XSMEM_MIN_ALIGN, 0, 0);
  if (!q) return NULL;
  memcpy(q, p, old < size ? old : size);
  bfc_free(a, p, 0);
  return q;
}

static size_t bfc_usable(const xsmem_allocator *a, const void *p) {
  xsmem_bfc *b = (xsmem_bfc *)a;
  pthread_mutex_lock(&b->mu);
  region *r;
  const char *why = NULL;
  uint32_t h = lookup_live(b, p, &r, &why);
  size_t n = h ? C(b, h)->size : 0;
  pthread_mutex_unlock(&b->mu);
  if (!h) xsmem_report_bad_pointer(b->base.name, "malloc_usable_size", p, why);
  return n;
}

static bool bfc_owns(const xsmem_allocator *a, const void *p) {
  xsmem_bfc *b = (xsmem_bfc *)a;
  pthread_mutex_lock(&b->mu);
  region *r;
  const char *why;
  bool live = lookup_live(b, p, &r, &why) != 0;
  pthread_mutex_unlock(&b->mu);
  return live;
}

uint64_t xsmem_bfc_allocation_id(xsmem_bfc *b, const void *p) {
  pthread_mutex_lock(&b->mu);
  region *r;
  const char *why;
  uint32_t h = lookup_live(b, p, &r, &why);
  uint64_t id = h ? C(b, h)->alloc_id : 0;
  pthread_mutex_unlock(&b->mu);
  return id;
}

uint64_t xsmem_bfc_counter(xsmem_bfc *b) {
  pthread_mutex_lock(&b->mu);
  uint64_t c = b->counter;
  pthread_mutex_unlock(&b->mu);
  return c;
}

void xsmem_bfc_set_safe_frontier(xsmem_bfc *b, uint64_t f) {
  pthread_mutex_lock(&b->mu);
  if (f > b->safe_frontier) b->safe_frontier = f;
  pthread_mutex_unlock(&b->mu);
}

// ---------------------------------------------------------------------------
// Trim, fork, destroy.

size_t xsmem_bfc_trim(xsmem_bfc *b) {
  pthread_mutex_lock(&b->mu);
  if (b->opt.frontier) merge_safe(b);
  size_t n = release_free_regions(b);
  pthread_mutex_unlock(&b->mu);
  return n;
}

static size_t bfc_trim(xsmem_allocator *a, size_t goal) { return xsmem_bfc_trim((xsmem_bfc *)a); }

static void bfc_fork(xsmem_allocator *a, int phase) {
  xsmem_bfc *b = (xsmem_bfc *)a;
  if (phase == XSMEM_FORK_PREPARE) {
    pthread_mutex_lock(&b->mu);
  } else if (phase == XSMEM_FORK_PARENT) {
    pthread_mutex_unlock(&b->mu);
  } else {
    pthread_mutex_init(&b->mu, NULL);
  }
}

void xsmem_bfc_destroy(xsmem_bfc *b) {
  for (size_t i = 0; i < b->num_regions; i++) {
    region *r = &b->regions[i];
    xsmem_os_unmap(r->slots, r->slots_bytes);
    XSMEM_TOOL_UNPOISON((void *)r->base, r->mapped);
    xsmem_source_unmap(b->source, (void *)r->base, r->mapped);
  }
  XSMEM_TOOL_POOL_DESTROY(b);
  if (b->regions) xsmem_os_unmap(b->regions, b->region_cap * sizeof(region));
  for (uint32_t i = 0; i < b->num_segs; i++) xsmem_os_unmap(b->segs[i], SEG_CHUNKS * sizeof(chunk));
  pthread_mutex_destroy(&b->mu);
  xsmem_os_unmap(b, xsmem_align_up(sizeof(*b), b->page));
}

static void bfc_destroy(xsmem_allocator *a) { xsmem_bfc_destroy((xsmem_bfc *)a); }

// ---------------------------------------------------------------------------
// Construction.

static const xsmem_allocator_ops kBfcOps = {
    .kind = "bfc",
    .alloc = bfc_alloc,
    .free = bfc_free,
    .usable_size = bfc_usable,
    .owns = bfc_owns,
    .realloc = bfc_realloc,
    .stats = bfc_stats,
    .trim = bfc_trim,
    .fork = bfc_fork,
    .destroy = bfc_destroy,
    .detail = bfc_detail,
};

xsmem_bfc *xsmem_bfc_from_allocator(xsmem_allocator *a) { return a && a->ops == &kBfcOps ? (xsmem_bfc *)a : NULL; }

static size_t physical_memory(void) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : 4 * XSMEM_GiB;
}

xsmem_bfc_options xsmem_bfc_options_from_env(void) {
  xsmem_bfc_options o = {0};
  long long mb = xsmem_option_int("XSMEM_BFC_LIMIT_MB");
  o.bytes_limit = mb > 0 ? (size_t)mb * XSMEM_MiB : 0;
  o.reserve_all = xsmem_option_bool("XSMEM_BFC_RESERVE_ALL");
  o.gc = xsmem_option_bool("XSMEM_BFC_GC");
  o.initial_region = xsmem_option_bytes("XSMEM_BFC_INITIAL_REGION");
  o.split_slack = xsmem_option_bytes("XSMEM_BFC_SPLIT_SLACK");
  o.dump_on_oom = xsmem_option_bool("XSMEM_BFC_DUMP_ON_OOM");
  return o;
}

xsmem_bfc *xsmem_bfc_create(xsmem_source *source, const xsmem_bfc_options *options, const char *name) {
  size_t page = xsmem_os_page_size();
  xsmem_bfc *b = xsmem_os_map(xsmem_align_up(sizeof(xsmem_bfc), page), page, 0);
  if (!b) return NULL;
  b->base.ops = &kBfcOps;
  b->base.name = name;
  pthread_mutex_init(&b->mu, NULL);
  b->source = source;
  b->zeroed = (source->ops->caps & XSMEM_SRC_ZEROED) != 0;
  b->opt = *options;
  b->page = page;
  b->fresh = 1;  // handle 0 means "none"
  if (!b->opt.bytes_limit) b->opt.bytes_limit = xsmem_align_down(physical_memory() / 2, page);
  b->opt.bytes_limit = xsmem_align_down(b->opt.bytes_limit, page);
  if (b->opt.bytes_limit < page) b->opt.bytes_limit = page;
  if (!b->opt.initial_region) b->opt.initial_region = 2 * XSMEM_MiB;
  if (!b->opt.split_slack) b->opt.split_slack = XSMEM_KiB;
  b->next_region = XSMEM_MIN(xsmem_align_up(b->opt.initial_region, page), b->opt.bytes_limit);
  b->metadata = xsmem_align_up(sizeof(xsmem_bfc), page);
  XSMEM_TOOL_POOL_CREATE(b);
  if (b->opt.reserve_all) {
    // The whole limit, or as much of it as the address space allows (halved
    // down to the first region's size): the limit becomes what was had.
    size_t got = 0, want = b->opt.bytes_limit;
    void *p = xsmem_source_map(source, want, page, &got);
    while (!p && errno == ENOMEM && want / 2 >= b->next_region) {
      want = xsmem_align_down(want / 2, page);
      p = xsmem_source_map(source, want, page, &got);
    }
    if (p) b->opt.bytes_limit = XSMEM_MIN(b->opt.bytes_limit, xsmem_align_down(got, page));
    if (!p || !region_add(b, p, got, true)) {
      int e = errno;
      if (p) xsmem_source_unmap(source, p, got);
      xsmem_bfc_destroy(b);
      errno = e ? e : ENOMEM;
      return NULL;
    }
  }
  return b;
}
