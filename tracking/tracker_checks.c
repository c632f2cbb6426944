// tracking/tracker_checks.c: what full mode checks, and how it reports.
//
// Canaries before and after each block, checked on free and on demand; a
// poisoned quarantine of freed blocks, checked when they leave it; a
// history of recent frees, which tells a double free from a foreign
// pointer. The paths every free runs (canary check, history note,
// quarantine push) are inline in tracker_internal.h; here the reports, the
// quarantine's eviction and the check on demand.
#include <string.h>

#include "platform/log.h"
#include "tracking/tracker_internal.h"

// ---------------------------------------------------------------------------
// Error reports.

// Reports a bad pointer with the sites involved, then hands over to
// xsmem_report_bad_pointer (abort unless XSMEM_ON_ERROR=warn).
XSMEM_TRACKER_TEXT XSMEM_COLD void tracker_report_error(xsmem_tracker *t, const char *op, const void *p,
                                                        const char *what, uint64_t size, uint64_t alloc_site,
                                                        uint64_t free_site, bool has_alloc) {
  atomic_fetch_add_explicit(&t->errors, 1, memory_order_relaxed);
  xsmem_track_busy++;
  uintptr_t here[XSMEM_TRACK_MAX_DEPTH];
  unsigned n = tracker_capture(here, t->opt.depth, t->opt.unwind);
  xsmem_dprintf(2, "xsmem: tracker '%s': %s: %s(%p)%s", t->name, what, op, p, has_alloc ? "" : "\n");
  if (has_alloc) {
    xsmem_dprintf(2, " of a %llu-byte block\n", (unsigned long long)size);
    tracker_print_site(t, 2, "allocated at", alloc_site);
  }
  if (free_site) tracker_print_site(t, 2, "freed at", free_site);
  tracker_print_frames(2, "detected at", here, n);
  xsmem_track_busy--;
  xsmem_report_bad_pointer(t->name, op, p, what);
}

// ---------------------------------------------------------------------------
// History of recent frees, for double-free reports.

static bool history_find(xsmem_tracker *t, const void *p, history_entry *out) {
  history_entry *e = history_slot(t, p);
  if (__atomic_load_n(&e->p, __ATOMIC_ACQUIRE) != (uintptr_t)p) return false;
  // Acquire loads keep the re-read of p after the fields.
  out->size = __atomic_load_n(&e->size, __ATOMIC_ACQUIRE);
  out->sites = __atomic_load_n(&e->sites, __ATOMIC_ACQUIRE);
  out->p = __atomic_load_n(&e->p, __ATOMIC_RELAXED);
  return out->p == (uintptr_t)p;
}

XSMEM_TRACKER_TEXT XSMEM_COLD void tracker_bad_free(xsmem_tracker *t, const char *op, void *p) {
  history_entry h;
  if (history_find(t, p, &h)) {
    tracker_report_error(t, op, p, "double free", h.size, site_hash_at(t, (uint32_t)(h.sites >> 32)),
                         site_hash_at(t, (uint32_t)h.sites), true);
  } else {
    tracker_report_error(t, op, p, "pointer not allocated by this allocator (foreign or already freed)", 0, 0, 0,
                         false);
  }
}

// ---------------------------------------------------------------------------
// Quarantine (full mode): poison checked on eviction.

// What a poisoned span reads: one memcmp (vectorised by libc) checks it.
static const uint8_t kPoisonPattern[kPoisonSpan] = {[0 ... kPoisonSpan - 1] = kPoisonByte};

// Returns true when the poison of a quarantined block is intact. Only its
// first kPoisonSpan bytes are poisoned and checked: stale pointers mostly
// write the first words of a block (list links, reference counts), and
// touching all of a large block twice would dominate the cost of full mode.
XSMEM_INLINE bool poison_intact(const uint8_t *p, uint64_t size) {
  return memcmp(p, kPoisonPattern, size < kPoisonSpan ? size : kPoisonSpan) == 0;
}

XSMEM_INLINE void quarantine_evicted(xsmem_tracker *t, const quarantine_entry *e) {
  UNPOISON(e->p, e->size);
  if (!poison_intact(e->p, e->size)) {
    tracker_report_error(t, "free", e->p, "write after free (poison damaged while in quarantine)", e->size,
                         site_hash_at(t, e->alloc_index), site_hash_at(t, e->free_index), true);
  }
  release_block(t, e->p, e->size, e->front);
}

enum { kEvictBatch = 64 };

// A full stripe: takes the oldest entries out in a batch, down to 15/16 of
// the budget (at most kEvictBatch at a time), inserts e, then checks and
// frees the batch outside the lock (a report may symbolize, and allocate).
// Batches keep the usual push to a lock, a compare and a store.
// REQUIRES: e.size <= budget.
XSMEM_TRACKER_TEXT XSMEM_NOINLINE void tracker_quarantine_insert_evicting(xsmem_tracker *t, quarantine_stripe *q,
                                                                          size_t budget, quarantine_entry e) {
  quarantine_entry out[kEvictBatch];
  size_t low = budget - budget / 16;
  for (;;) {
    size_t n = 0;
    xsmem_spin_lock(&q->lock);
    while (q->count > 0 && n < kEvictBatch && (q->bytes + e.size > low || q->count == q->cap)) {
      quarantine_pop(q, &out[n++]);
    }
    bool fits = !quarantine_no_room(q, e.size, budget);
    if (fits) quarantine_put(q, &e);
    xsmem_spin_unlock(&q->lock);
    for (size_t i = 0; i < n; i++) quarantine_evicted(t, &out[i]);
    if (fits) return;
  }
}

// ---------------------------------------------------------------------------
// Canary check on demand (report.c prints; here the walk).

typedef struct check_ctx {
  struct {
    void *p;
    uint64_t size;
    uint32_t alloc_index, free_index;
    int where;  // -1 underflow, 1 overflow, 2 write after free
  } damaged[64];
  size_t n, total;
} check_ctx;

static void check_note(check_ctx *x, void *p, uint64_t size, uint32_t alloc_index, uint32_t free_index, int where) {
  x->total++;
  if (x->n < XSMEM_ARRAY_SIZE(x->damaged)) {
    x->damaged[x->n].p = p;
    x->damaged[x->n].size = size;
    x->damaged[x->n].alloc_index = alloc_index;
    x->damaged[x->n].free_index = free_index;
    x->damaged[x->n++].where = where;
  }
}

// A walk's visit: the block's memory stays the tracker's until the walk is
// over (a free's release_block waits it out).
static void check_one(uintptr_t key, void *c) {
  uint8_t *p = (uint8_t *)key;
  const block_header *h = header_of(p);
  UNPOISON(p - kCanary, kCanary);
  UNPOISON(p + h->requested, kCanary);
  int d = canary_damage(p, h->requested);
  POISON(p - kCanary, kCanary);
  POISON(p + h->requested, kCanary);
  if (d) check_note(c, p, h->requested, h->site_index, 0, d);
}

XSMEM_TRACKER_TEXT size_t xsmem_tracker_check(xsmem_allocator *a) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  static check_ctx ctx;  // 64 entries: too big for some thread stacks
  static xsmem_spinlock lock;
  xsmem_spin_lock(&lock);
  memset(&ctx, 0, sizeof(ctx));
  live_set_for_each(&t->live, check_one, &ctx);
  // Quarantined blocks: poison must be intact.
  for (int i = 0; i < kStripes; i++) {
    quarantine_stripe *q = &t->quarantine[i];
    xsmem_spin_lock(&q->lock);
    for (size_t k = 0; q->ring && k < q->count; k++) {
      quarantine_entry *e = &q->ring[(q->head + k) & (q->cap - 1)];
      UNPOISON(e->p, e->size);
      bool ok = poison_intact(e->p, e->size);
      POISON(e->p, e->size);
      if (!ok) check_note(&ctx, e->p, e->size, e->alloc_index, e->free_index, 2);
    }
    xsmem_spin_unlock(&q->lock);
  }
  check_ctx local = ctx;
  xsmem_spin_unlock(&lock);
  for (size_t i = 0; i < local.n; i++) {
    int where = local.damaged[i].where;
    const char *what = where < 0 ? "heap buffer underflow (canary before the block damaged)"
        : where == 1             ? "heap buffer overflow (canary after the block damaged)"
                                 : "write after free (poison damaged while in quarantine)";
    tracker_report_error(t, "check", local.damaged[i].p, what, local.damaged[i].size,
                         site_hash_at(t, local.damaged[i].alloc_index), site_hash_at(t, local.damaged[i].free_index),
                         true);
  }
  return local.total;
}
