// tracking/tracker.c: the recording paths and the allocator ops (model in
// tracker.h; the other files of the tracker: tracker_internal.h).
//
// Fast paths, per mode:
//   sample alloc  one thread-local subtraction and a branch (inline in the
//                 shim headers); the sampled slow path (about one per
//                 sample_bytes) captures, records and places the block in
//                 sample_home.
//   sample free   default_tracked and system_tracked: nothing (the shim's
//                 pagemap tag branch); otherwise one load of the counting
//                 filter (a slot per page). Only pointers whose slot is
//                 non-zero look in the records map.
//   full alloc    inner alloc, header and canaries, one capture hashed as it
//                 walks (from the frame the allocation is inlined into:
//                 malloc's slow path, or full_alloc), the site's index
//                 (per-thread cache), one live-set insert, the thread's tally
//                 (site figures and histogram, written by that thread alone).
//   full free     one live-set erase (before any of the block is read),
//                 canary check, the tally, history, poison and quarantine
//                 (usually one entry out, checked and freed); no capture
//                 unless free_sites.
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "tracking/tracker_internal.h"

XSMEM_TLS int xsmem_track_busy;
// Bytes until the next sample (tracker_fast.h). Below zero until drawn, so a
// thread's first malloc, malloc(0) included, takes the slow path, which pins
// it for a tracker that must see every malloc.
XSMEM_TLS int64_t xsmem_track_until_sample = -1;
// The countdown of sample-mode trackers the shim does not call inline (with
// guarded sampling): the shim pins xsmem_track_until_sample for those.
static XSMEM_TLS int64_t t_until_sample_ops;
static XSMEM_TLS int t_sample_ready;  // bit 0: xsmem_track_until_sample drawn, bit 1: t_until_sample_ops
// The countdown runs to the nearer of two clocks, both in bytes: the next
// sample and (guarded sampling in sample mode or with tracking off) the next
// guarded block. t_clock_set is the countdown's value when it was last set,
// so set minus its value now is what was allocated since. One set per
// countdown (index 0: the shim's, 1: t_until_sample_ops).
static XSMEM_TLS int64_t t_clock_set[2], t_sample_left[2], t_guard_left[2];
// The thread's estimate of allocations and bytes, from its samples (each
// stands for 1/p blocks): the guard clock's mean is the rate times the mean
// block size, so that about one allocation in the rate is guarded.
static XSMEM_TLS double t_est_blocks, t_est_bytes;
#define kPinLow (INT64_MIN / 2)   // every malloc takes the shim's slow path
#define kPinHigh (INT64_MAX / 2)  // none does
static XSMEM_TLS uint64_t t_rng;
static XSMEM_TLS uint64_t t_next_id;  // thread id << 40 | the thread's next count (0: unset)
XSMEM_TLS uint32_t xsmem_track_tid, xsmem_track_stripe;
_Atomic uint32_t xsmem_track_next_stripe;
#include "tracking/tracker_fast.h"
_Static_assert(offsetof(xsmem_tracker, inner) == offsetof(xsmem_tracker_view, inner), "view layout");
_Static_assert(offsetof(xsmem_tracker, fast_sample) == offsetof(xsmem_tracker_view, fast_sample), "view layout");
#define tracker_ops xsmem_tracker_ops

// ---------------------------------------------------------------------------
// Thread identity, time, randomness.

// The next allocation id of this thread: its id << 40 | its count, from 1.
// One TLS add; the first call, and a count that wrapped (carried into the
// thread's bits), start the thread's count again.
XSMEM_INLINE uint64_t next_alloc_id(void) {
  if (XSMEM_UNLIKELY(!(t_next_id & ((1ull << 40) - 1)))) t_next_id = (uint64_t)thread_id() << 40 | 1;
  return t_next_id++;
}

uint64_t tracker_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Record timestamps: the coarse clock (a few ms of resolution) costs a tenth
// of the precise one on virtual machines.
static uint64_t coarse_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(void) {
  if (XSMEM_UNLIKELY(!t_rng)) t_rng = tracker_now_ns() ^ ((uint64_t)thread_id() << 32) ^ (uintptr_t)&t_rng;
  t_rng ^= t_rng << 13;  // xorshift64
  t_rng ^= t_rng >> 7;
  t_rng ^= t_rng << 17;
  return t_rng;
}

// Returns an exponentially distributed byte interval with the given mean.
static int64_t sample_interval(size_t mean) {
  double u = ((double)(rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // (0, 1)
  double v = -log(u) * (double)mean;
  return v > 4e18 ? (int64_t)4e18 : (int64_t)v + 1;
}

// ---------------------------------------------------------------------------
// Recording.

// Records a point of the timeline when its interval has passed.
static void maybe_tick(xsmem_tracker *t, uint64_t now) {
  uint64_t next = atomic_load_explicit(&t->timeline_next_ns, memory_order_relaxed);
  if (XSMEM_LIKELY(now < next)) return;
  uint64_t want = now + atomic_load_explicit(&t->timeline_interval_ns, memory_order_relaxed);
  if (atomic_compare_exchange_strong(&t->timeline_next_ns, &next, want)) tracker_timeline_record(t, now);
}

// Adds the record of a new block; returns false (block to be freed) on ENOMEM.
XSMEM_TRACKER_TEXT static bool record_alloc(xsmem_tracker *t, void *p, size_t size, size_t align, size_t granted,
                                            uint32_t front, uint8_t flags) {
  double w = sample_weight(t, size);
  track_record r;
  r.requested = size;
  r.granted = granted;
  r.tid = thread_id();
  r.id = next_alloc_id();
  r.time_ns = coarse_now_ns();
  r.front = front;
  r.align_log2 = (uint8_t)xsmem_log2_floor(align ? align : 1);
  r.flags = flags | (xsmem_track_busy ? REC_INTERNAL : 0);
  r.site = tracker_note_site(t, w * (double)size, w, &r.site_index);
  bool added = xsmem_swiss_map_insert(&t->records, (uintptr_t)p, &r);
  if (XSMEM_UNLIKELY(!added)) {
    site_release(t, r.site_index, w * (double)size, w);
    return false;
  }
  if (!(r.flags & REC_INTERNAL)) tracker_note_histogram(t, size, w);
  maybe_tick(t, r.time_ns);
  return true;
}

// A pointer's filter slot, by its page: samples placed near each other (the
// sample home hands out neighbouring blocks) share a page or two of the
// 128 KiB filter instead of faulting in all 32 of its pages. An unsampled
// block on a page with a live sample costs its free one map probe.
XSMEM_INLINE _Atomic uint16_t *filter_slot(xsmem_tracker *t, const void *p) {
  uintptr_t page = (uintptr_t)p >> 12;
  return &t->filter[(page ^ page >> 16 ^ page >> 32) & (kFilterSlots - 1)];
}
// A full-mode block: the record goes in the block's header, the pointer in
// the live set (one probe), the figures to its site.
//
// Always inlined: the stack walk starts at the frame of the function it is
// inlined into (full_alloc, or malloc's slow path, which so needs no call
// and no extra frame of its own to skip).
XSMEM_INLINE void *full_alloc_here(xsmem_tracker *t, size_t size, size_t align, unsigned flags) {
  // The front holds the header and the canary and keeps the user pointer aligned.
  size_t front = align <= kCanary ? kFullFront : xsmem_align_up(kFullFront, align);
  if (XSMEM_UNLIKELY(size > SIZE_MAX - front - kCanary || front > UINT32_MAX)) {
    errno = ENOMEM;
    return NULL;
  }
  uint8_t *b = t->inner->ops->alloc(t->inner, front + size + kCanary, align, flags);
  if (XSMEM_UNLIKELY(!b)) return NULL;
  uint8_t *p = b + front;
  block_header *h = header_of(p);
  h->requested = size;
  h->id = next_alloc_id();
  h->time_ns = coarse_now_ns();
  h->front = (uint32_t)front;
  uint32_t index = kSiteInternal;
  if (XSMEM_LIKELY(!xsmem_track_busy)) site_from(t, (uintptr_t)__builtin_frame_address(0), &index);
  h->site_index = index;
  memset(p - kCanary, kCanaryByte, kCanary);
  memset(p + size, kCanaryByte, kCanary);
  POISON(p - kCanary, kCanary);
  POISON(p + size, kCanary);
  if (XSMEM_UNLIKELY(!live_set_insert(&t->live, (uintptr_t)p))) {
    release_block(t, p, size, (uint32_t)front);
    errno = ENOMEM;
    return NULL;
  }
  tally_alloc(t, index, size);
  xsmem_track_last_block = ~(uintptr_t)p;  // inverted: the leak scan reads TLS for pointers
  maybe_tick(t, h->time_ns);
  return p;
}

XSMEM_TRACKER_TEXT XSMEM_NOINLINE static void *full_alloc(xsmem_tracker *t, size_t size, size_t align, unsigned flags) {
  return full_alloc_here(t, size, align, flags);
}

XSMEM_TRACKER_TEXT XSMEM_NOINLINE static void full_free(xsmem_tracker *t, void *p) {
  // The live set first: a pointer the tracker did not hand out (or handed
  // out and took back) is reported without reading its memory.
  if (XSMEM_UNLIKELY(!live_set_erase(&t->live, (uintptr_t)p))) {
    tracker_bad_free(t, "free", p);
    return;
  }
  uint8_t *u = p;
  const block_header *h = header_of(u);
  uint64_t size = h->requested;
  uint32_t index = h->site_index, front = h->front;
  // The first free's call site, for later reports (XSMEM_TRACK_FREE_SITES);
  // a bad free's own site is captured when it is reported.
  uint32_t free_index = 0;
  if (t->opt.free_sites && !xsmem_track_busy) tracker_note_site(t, 0, 0, &free_index);
  bool temporary = ~(uintptr_t)p == xsmem_track_last_block;
  xsmem_track_last_block = 0;
  tally_free(t, index, size, temporary);
  UNPOISON(u - kCanary, kCanary);
  UNPOISON(u + size, kCanary);
  int damage = canary_damage(u, size);
  if (XSMEM_UNLIKELY(damage)) {
    tracker_report_error(t, "free", p,
                         damage < 0 ? "heap buffer underflow (canary before the block damaged)"
                                    : "heap buffer overflow (canary after the block damaged)",
                         size, site_hash_at(t, index), site_hash_at(t, free_index), true);
    // Under XSMEM_ON_ERROR=warn: an underflow may have reached the header,
    // whose front locates the inner block, so that block is not freed.
    if (damage < 0) return;
  }
  history_note(t, p, size, index, free_index);
  quarantine_push(t, u, size, front, index, free_index);
}

// The countdown this thread keeps for t (see t_until_sample_ops).
static int64_t *sample_countdown(const xsmem_tracker *t) {
  return t->fast_sample ? &xsmem_track_until_sample : &t_until_sample_ops;
}

// Draws the guard clock's next interval (the far future without guarded sampling).
static int64_t guard_interval(const xsmem_tracker *t) {
  if (!t->guard.base) return kPinHigh;
  double mean_block = t_est_blocks > 0 ? t_est_bytes / t_est_blocks : 64.0;
  return sample_interval((size_t)(mean_block * (double)t->opt.guard_sample_rate) + 1);
}

// Sets countdown k to the nearer of its clocks.
static void clock_arm(int64_t *until, int k) {
  t_clock_set[k] = t_sample_left[k] < t_guard_left[k] ? t_sample_left[k] : t_guard_left[k];
  *until = t_clock_set[k];
}

// The countdown ran out (its size already charged): a sample (sample mode:
// recorded; tracking off: only counted for the estimate of the mean block),
// else a guarded block, else neither (the thread's first allocation).
XSMEM_TRACKER_TEXT XSMEM_NOINLINE static void *sampled_alloc(xsmem_tracker *t, size_t size, size_t align,
                                                             unsigned flags) {
  int64_t *until = sample_countdown(t);
  int k = t->fast_sample ? 0 : 1, ready = 1 << k;
  // Sample mode's mean interval; with tracking off the samples only feed the
  // estimate (sample_bytes may be unset then).
  size_t mean = t->opt.sample_bytes ? t->opt.sample_bytes : XSMEM_TRACK_DEFAULT_SAMPLE_BYTES;
  if (XSMEM_UNLIKELY(!(t_sample_ready & ready)) || XSMEM_UNLIKELY(*until < kPinLow / 2)) {
    // First allocation of this thread (or the countdown was pinned): draw
    // the intervals instead of sampling.
    t_sample_ready |= ready;
    t_sample_left[k] = sample_interval(mean);
    t_guard_left[k] = t->fast_sample ? guard_interval(t) : kPinHigh;
    clock_arm(until, k);
    *until -= (int64_t)size;
    if (*until >= 0) return t->inner->ops->alloc(t->inner, size, align, flags);
  }
  int64_t used = t_clock_set[k] - *until;
  t_sample_left[k] -= used;
  t_guard_left[k] -= used;
  bool sample = t_sample_left[k] < 0, guard = t_guard_left[k] < 0;
  if (sample) t_sample_left[k] = sample_interval(mean);
  if (sample && t->fast_sample && t->guard.base) {
    double w = inverse_sample_probability(mean, size);
    t_est_blocks += w;
    t_est_bytes += w * (double)size;
    // Redraw the guard clock with the new estimate: the exponential forgets
    // the time it already ran (so redrawing keeps one block in the rate),
    // and an interval drawn while one large sample skewed the estimate does
    // not outlast it.
    t_guard_left[k] = guard_interval(t);
  } else if (guard) {
    t_guard_left[k] = t->fast_sample ? guard_interval(t) : kPinHigh;
  }
  clock_arm(until, k);
  if (!sample || t->opt.mode != XSMEM_TRACK_SAMPLE) {
    void *g = guard ? tracker_guard_place(t, size, align, flags) : NULL;
    return g ? g : t->inner->ops->alloc(t->inner, size, align, flags);
  }
  xsmem_allocator *home = t->opt.sample_home;
  bool record = true;
  void *p;
  if (home && size <= t->opt.sample_home_max) {
    p = home->ops->alloc(home, size, align, flags);
    if (XSMEM_UNLIKELY(!p)) {  // the block may land where a shim frees inline: leave it unsampled
      record = false;
      p = t->inner->ops->alloc(t->inner, size, align, flags);
    }
  } else {
    p = t->inner->ops->alloc(t->inner, size, align, flags);
  }
  if (XSMEM_UNLIKELY(!p)) return NULL;
  size_t granted = t->inner->ops->usable_size(t->inner, p);
  if (record && record_alloc(t, p, size, align, granted, 0, REC_SAMPLED)) {
    atomic_fetch_add_explicit(filter_slot(t, p), 1, memory_order_relaxed);
  }
  return p;
}

XSMEM_TRACKER_TEXT XSMEM_NOINLINE static void sampled_free(xsmem_tracker *t, void *p) {
  track_record r;
  if (xsmem_swiss_map_erase(&t->records, (uintptr_t)p, &r)) {
    atomic_fetch_sub_explicit(filter_slot(t, p), 1, memory_order_relaxed);
    double w = sample_weight(t, r.requested);
    site_release(t, r.site_index, w * (double)r.requested, w);
  }
  t->inner->ops->free(t->inner, p, 0);
}

// malloc's result: errno set on failure (the shims' entry points).
static void *malloc_result(void *p) {
  if (XSMEM_UNLIKELY(!p)) errno = ENOMEM;
  return p;
}

// A request no allocator can meet (XSMEM_TRACK_IMPOSSIBLE), charged by the
// shim: refused, the charge taken back (modulo 2^64, exact).
XSMEM_NOINLINE XSMEM_COLD static void *refuse_impossible(size_t n) {
  xsmem_track_until_sample = (int64_t)((uint64_t)xsmem_track_until_sample + n);
  errno = ENOMEM;
  return NULL;
}

XSMEM_TRACKER_TEXT void *xsmem_tracker_malloc_slow(xsmem_allocator *a, size_t n, bool front_inline) {
  if (a->ops != &tracker_ops) {  // tracking off: the countdown never matters again
    xsmem_track_until_sample = front_inline ? kPinHigh : kPinLow;
    return malloc_result(a->ops->alloc(a, n, XSMEM_MIN_ALIGN, 0));
  }
  xsmem_tracker *t = (xsmem_tracker *)a;
  if (!t->fast_sample) {  // full mode or guarding every block: the tracker sees every malloc
    xsmem_track_until_sample = kPinLow;
    if (t->opt.mode == XSMEM_TRACK_FULL && !t->guard.base) {
      return malloc_result(full_alloc_here(t, n, XSMEM_MIN_ALIGN, 0));
    }
    return malloc_result(a->ops->alloc(a, n, XSMEM_MIN_ALIGN, 0));
  }
  return malloc_result(sampled_alloc(t, n, XSMEM_MIN_ALIGN, 0));
}

XSMEM_TRACKER_TEXT void *xsmem_tracker_malloc_rest(size_t n, xsmem_allocator *a, bool front_inline) {
  if (XSMEM_UNLIKELY(n >= XSMEM_TRACK_IMPOSSIBLE)) return refuse_impossible(n);
  if (XSMEM_UNLIKELY(xsmem_track_until_sample < 0)) return xsmem_tracker_malloc_slow(a, n, front_inline);
  return xsmem_tracker_malloc_unsampled(a, n);
}

void *xsmem_tracker_malloc_unsampled(xsmem_allocator *a, size_t n) {
  // A tracker that sees every malloc gets this one too.
  if (a->ops == &tracker_ops && ((xsmem_tracker *)a)->fast_sample) a = ((xsmem_tracker *)a)->inner;
  return malloc_result(a->ops->alloc(a, n, XSMEM_MIN_ALIGN, 0));
}

// ---------------------------------------------------------------------------
// The allocator ops.

XSMEM_TRACKER_TEXT static void *tracker_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  if (XSMEM_UNLIKELY(size >= XSMEM_TRACK_IMPOSSIBLE)) {  // before any countdown is charged
    errno = ENOMEM;
    return NULL;
  }
  // Guarding by a count of allocations: full mode, or a rate of 1.
  if (XSMEM_UNLIKELY(t->guard.base != NULL) && !t->fast_sample && XSMEM_UNLIKELY(--xsmem_guard_countdown <= 0)) {
    void *g = tracker_guard_alloc(t, size, align, flags);
    if (g) return g;
  }
  if (t->opt.mode == XSMEM_TRACK_SAMPLE || t->fast_sample) {
    int64_t *until = sample_countdown(t);
    *until -= (int64_t)size;
    if (XSMEM_LIKELY(*until >= 0)) return t->inner->ops->alloc(t->inner, size, align, flags);
    return sampled_alloc(t, size, align, flags);
  }
  if (t->opt.mode == XSMEM_TRACK_FULL) return full_alloc(t, size, align, flags);
  return t->inner->ops->alloc(t->inner, size, align, flags);
}

XSMEM_TRACKER_TEXT static void tracker_free(xsmem_allocator *a, void *p, size_t size) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  if (XSMEM_UNLIKELY(tracker_guard_owns(t, p))) {
    tracker_guard_free(t, p);
    return;
  }
  if (t->opt.mode == XSMEM_TRACK_SAMPLE) {
    if (XSMEM_LIKELY(atomic_load_explicit(filter_slot(t, p), memory_order_relaxed) == 0)) {
      t->inner->ops->free(t->inner, p, size);
      return;
    }
    sampled_free(t, p);
    return;
  }
  if (t->opt.mode == XSMEM_TRACK_FULL) {
    full_free(t, p);
    return;
  }
  t->inner->ops->free(t->inner, p, size);
}

XSMEM_TRACKER_TEXT static size_t tracker_usable(const xsmem_allocator *a, const void *p) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  if (tracker_guard_owns(t, p)) return tracker_guard_usable(t, p);
  if (t->opt.mode == XSMEM_TRACK_FULL) {
    if (!live_set_contains(&t->live, (uintptr_t)p)) {
      tracker_bad_free(t, "malloc_usable_size", (void *)p);
      return 0;
    }
    return header_of(p)->requested;  // the canary starts right after
  }
  return t->inner->ops->usable_size(t->inner, p);
}

static bool tracker_owns(const xsmem_allocator *a, const void *p) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  if (tracker_guard_owns(t, p)) return true;
  if (t->opt.mode == XSMEM_TRACK_FULL) return live_set_contains(&t->live, (uintptr_t)p);
  return t->inner->ops->owns ? t->inner->ops->owns(t->inner, p) : false;
}

XSMEM_TRACKER_TEXT static void *tracker_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  if (XSMEM_UNLIKELY(size >= XSMEM_TRACK_IMPOSSIBLE)) {  // p stays as it was
    errno = ENOMEM;
    return NULL;
  }
  // Unsampled blocks of sample mode keep the inner allocator's realloc (the
  // new size still counts toward the next sample).
  if (t->opt.mode != XSMEM_TRACK_FULL && !tracker_guard_owns(t, p) && t->inner->ops->realloc &&
      (t->opt.mode == XSMEM_TRACK_OFF || atomic_load_explicit(filter_slot(t, p), memory_order_relaxed) == 0)) {
    if (t->opt.mode == XSMEM_TRACK_SAMPLE) {
      int64_t *until = sample_countdown(t);
      *until -= (int64_t)size;
      if (*until < 0) goto copy;
    }
    return t->inner->ops->realloc(t->inner, p, size, flags);
  }
copy:;
  size_t old = tracker_usable(a, p);
  // A bad pointer (tracker_usable reported it) is refused and left alone.
  if (XSMEM_UNLIKELY(old == 0) && !tracker_owns(a, p)) {
    errno = EINVAL;
    return NULL;
  }
  void *q = tracker_alloc(a, size, XSMEM_MIN_ALIGN, flags);
  if (!q) return NULL;
  memcpy(q, p, old < size ? old : size);
  tracker_free(a, p, 0);
  return q;
}

static void tracker_stats(const xsmem_allocator *a, xsmem_stats *out) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  t->inner->ops->stats(t->inner, out);
  // Quarantined blocks are free to the program and still held from the inner
  // allocator: count them as freed and cached.
  // Their inner sizes are asked here, not on every free.
  uint64_t q_blocks = 0, q_bytes = 0;
  for (int i = 0; i < kStripes; i++) {
    quarantine_stripe *q = &t->quarantine[i];
    xsmem_spin_lock(&q->lock);
    q_blocks += q->count;
    for (size_t k = 0; q->ring && k < q->count; k++) {
      const quarantine_entry *e = &q->ring[(q->head + k) & (q->cap - 1)];
      q_bytes += t->inner->ops->usable_size(t->inner, e->p - e->front);
    }
    xsmem_spin_unlock(&q->lock);
  }
  out->num_frees += q_blocks;
  // Guarded blocks never reach the inner allocator: each holds a page.
  uint64_t g_live = atomic_load_explicit(&t->guard.live_pages, memory_order_relaxed) * t->guard.page;
  out->num_allocs += atomic_load_explicit(&t->guard.allocs, memory_order_relaxed);
  out->num_frees += atomic_load_explicit(&t->guard.frees, memory_order_relaxed);
  out->bytes_in_use += g_live;
  out->bytes_reserved += t->guard.bytes ? g_live : 0;
  if (out->bytes_committed) out->bytes_committed += t->guard.bytes ? g_live : 0;
  // The inner allocator's peak does not see guarded blocks: keep the highest
  // figure this op has reported, so the peak never falls below an earlier in-use.
  uint64_t peak = XSMEM_MAX(out->peak_bytes_in_use, out->bytes_in_use);
  uint64_t seen = atomic_load_explicit(&t->peak_seen, memory_order_relaxed);
  while (peak > seen && !atomic_compare_exchange_weak(&t->peak_seen, &seen, peak)) {}
  out->peak_bytes_in_use = XSMEM_MAX(peak, seen);
  out->bytes_in_use -= XSMEM_MIN(q_bytes, out->bytes_in_use);
  out->bytes_cached += q_bytes;
  uint64_t meta = tracker_metadata_bytes(t);
  out->bytes_metadata += meta;
  out->bytes_reserved += meta;
  if (out->bytes_committed) out->bytes_committed += meta;
}

static size_t tracker_trim(xsmem_allocator *a, size_t goal) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  return t->inner->ops->trim ? t->inner->ops->trim(t->inner, goal) : 0;
}

static void tracker_fork(xsmem_allocator *a, int phase) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  if (phase == XSMEM_FORK_PREPARE) {
    // Tracker locks before the inner allocator's: quarantine eviction calls
    // into the inner allocator with a stripe lock held.
    xsmem_swiss_map_lock_all(&t->sites);
    for (uint32_t i = 0; i < sites_used(t); i++) xsmem_spin_lock(&t->site_arena[i].lock);
    xsmem_swiss_map_lock_all(&t->records);
    live_set_lock_all(&t->live);
    for (int i = 0; i < kStripes; i++) xsmem_spin_lock(&t->quarantine[i].lock);
    xsmem_spin_lock(&t->timeline_lock);
    xsmem_spin_lock(&t->guard.lock);
    if (t->inner->ops->fork) t->inner->ops->fork(t->inner, phase);
    return;
  }
  if (t->inner->ops->fork) t->inner->ops->fork(t->inner, phase);
  xsmem_spin_unlock(&t->guard.lock);
  xsmem_spin_unlock(&t->timeline_lock);
  for (int i = 0; i < kStripes; i++) xsmem_spin_unlock(&t->quarantine[i].lock);
  live_set_unlock_all(&t->live);
  xsmem_swiss_map_unlock_all(&t->records);
  for (uint32_t i = 0; i < sites_used(t); i++) xsmem_spin_unlock(&t->site_arena[i].lock);
  xsmem_swiss_map_unlock_all(&t->sites);
}

const xsmem_allocator_ops xsmem_tracker_ops = {
    .kind = "tracker",
    .alloc = tracker_alloc,
    .free = tracker_free,
    .usable_size = tracker_usable,
    .owns = tracker_owns,
    .realloc = tracker_realloc,
    .stats = tracker_stats,
    .trim = tracker_trim,
    .fork = tracker_fork,
    .destroy = tracker_destroy,
    .detail = tracker_detail,
};

bool xsmem_is_tracker(const xsmem_allocator *a) { return a && a->ops == &tracker_ops; }

xsmem_track_mode xsmem_tracker_mode(const xsmem_allocator *a) {
  return xsmem_is_tracker(a) ? ((const xsmem_tracker *)a)->opt.mode : XSMEM_TRACK_OFF;
}
