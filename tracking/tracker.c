// tracking/tracker.c: the recording paths (model in tracker.h).
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
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"
#include "platform/pagemap.h"
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
#define kPinLow (INT64_MIN / 2)  // every malloc takes the shim's slow path
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

// 1/p, p the probability that a block of `size` bytes is sampled with a mean
// interval of `mean` bytes.
static double inverse_sample_probability(size_t mean, size_t size) {
  double s = (double)(size ? size : 1);
  return 1.0 / -expm1(-s / (double)mean);
}

// The weight of a recorded block: the blocks it stands for.
static double sample_weight(const xsmem_tracker *t, size_t size) {
  return t->opt.mode == XSMEM_TRACK_SAMPLE ? inverse_sample_probability(t->opt.sample_bytes, size) : 1.0;
}

// ---------------------------------------------------------------------------
// Counters, histogram, timeline.

void tracker_note_histogram(xsmem_tracker *t, size_t size, double weight) {
  unsigned b = hist_bucket(size);
  stripe_counters *c = &t->stripes[xsmem_track_stripe];
  atomic_fetch_add_explicit(&c->hist_count[b], (uint64_t)(weight + 0.5), memory_order_relaxed);
  atomic_fetch_add_explicit(&c->hist_bytes[b], (uint64_t)(weight * (double)size + 0.5), memory_order_relaxed);
  atomic_fetch_add_explicit(&c->sampled, 1, memory_order_relaxed);
}

// The timeline decimates instead of wrapping: when its kTimelinePoints are
// full, every other point is dropped and the interval doubles. A short run
// gets points at the fine starting interval, a long one keeps its whole
// history from the first point on, in at most kTimelinePoints points.
static void timeline_record(xsmem_tracker *t, uint64_t now) {
  xsmem_stats s = xsmem_get_stats(t->inner);
  xsmem_spin_lock(&t->timeline_lock);
  uint64_t n = atomic_load_explicit(&t->timeline_count, memory_order_relaxed);
  if (n == kTimelinePoints) {
    for (uint64_t i = 1; i < kTimelinePoints / 2; i++) t->timeline[i] = t->timeline[2 * i];
    n = kTimelinePoints / 2;
    uint64_t interval = atomic_load_explicit(&t->timeline_interval_ns, memory_order_relaxed);
    atomic_store_explicit(&t->timeline_interval_ns, interval * 2, memory_order_relaxed);
  }
  t->timeline[n] = (xsmem_track_point){now, s.bytes_in_use, s.num_allocs, s.num_frees};
  atomic_store_explicit(&t->timeline_count, n + 1, memory_order_release);
  xsmem_spin_unlock(&t->timeline_lock);
}

static void maybe_tick(xsmem_tracker *t, uint64_t now) {
  uint64_t next = atomic_load_explicit(&t->timeline_next_ns, memory_order_relaxed);
  if (XSMEM_LIKELY(now < next)) return;
  uint64_t want = now + atomic_load_explicit(&t->timeline_interval_ns, memory_order_relaxed);
  if (atomic_compare_exchange_strong(&t->timeline_next_ns, &next, want)) timeline_record(t, now);
}

void xsmem_tracker_tick(xsmem_allocator *a) { timeline_record((xsmem_tracker *)a, tracker_now_ns()); }

// ---------------------------------------------------------------------------
// Recording.

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
  tally_free(t, index, size);
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
XSMEM_TRACKER_TEXT XSMEM_NOINLINE static void *sampled_alloc(xsmem_tracker *t, size_t size, size_t align, unsigned flags) {
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
      (t->opt.mode == XSMEM_TRACK_OFF ||
       atomic_load_explicit(filter_slot(t, p), memory_order_relaxed) == 0)) {
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

static uint64_t site_arena_bytes(xsmem_tracker *t) {
  return xsmem_align_up(sites_used(t) * sizeof(track_site_value), xsmem_os_page_size());
}

static uint64_t tally_bytes(const xsmem_tracker *t) { return t->tallies ? kTallies * sizeof(tally) : 0; }

// The tracker's own memory (records, live set, sites, history, tallies),
// quarantine rings aside.
static uint64_t tracker_metadata_bytes(xsmem_tracker *t) {
  xsmem_swiss_stats rs, ss;
  xsmem_swiss_map_stats(&t->records, &rs);
  xsmem_swiss_map_stats(&t->sites, &ss);
  return t->mapped + rs.bytes + live_set_bytes(&t->live) + ss.bytes + kHistorySlots * sizeof(history_entry) +
         site_arena_bytes(t) + tally_bytes(t);
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
  while (peak > seen && !atomic_compare_exchange_weak(&t->peak_seen, &seen, peak)) {
  }
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

void tracker_detail(const xsmem_allocator *a, xsmem_stats_sink *sink);  // report.c

static void tracker_destroy(xsmem_allocator *a);

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

// ---------------------------------------------------------------------------
// Creation, the process-wide instance, exit.

static _Atomic uint64_t g_generation;
static xsmem_tracker *g_trackers[8];  // for the leak report at exit
static _Atomic int g_num_trackers;

void xsmem_tracker_options_from_env(xsmem_tracker_options *o) {
  static const char *const kModes[] = {"off", "sample", "full"};
  static const char *const kUnwind[] = {"fp", "backtrace"};
  memset(o, 0, sizeof(*o));
  o->mode = (xsmem_track_mode)xsmem_option_choice("XSMEM_TRACK", kModes, 3);
  o->sample_bytes = xsmem_option_bytes("XSMEM_TRACK_SAMPLE_BYTES");
  o->depth = (unsigned)xsmem_option_int("XSMEM_TRACK_DEPTH");
  o->free_sites = xsmem_option_bool("XSMEM_TRACK_FREE_SITES");
  o->unwind = (xsmem_track_unwind)xsmem_option_choice("XSMEM_TRACK_UNWIND", kUnwind, 2);
  o->quarantine_bytes = xsmem_option_bytes("XSMEM_QUARANTINE_BYTES");
  long long rate = xsmem_option_int("XSMEM_GUARD_SAMPLE_RATE");
  o->guard_sample_rate = rate > 0 ? (uint64_t)rate : 0;
  o->guard_slots = (unsigned)xsmem_option_int("XSMEM_GUARD_SLOTS");
  o->leak_report_at_exit = xsmem_option_bool("XSMEM_LEAK_REPORT");
  o->leak_report_sites = (unsigned)xsmem_option_int("XSMEM_LEAK_REPORT_SITES");
  o->timeline_ms = (unsigned)xsmem_option_int("XSMEM_TRACK_TIMELINE_MS");
}

xsmem_allocator *xsmem_tracker_create(xsmem_allocator *inner, const xsmem_tracker_options *o,
                                      const char *name) {
  if (!inner || !o || o->mode > XSMEM_TRACK_FULL || (o->mode == XSMEM_TRACK_SAMPLE && o->sample_bytes == 0) ||
      o->depth == 0 || o->depth > XSMEM_TRACK_MAX_DEPTH || (o->guard_sample_rate && o->guard_slots == 0)) {
    errno = EINVAL;
    return NULL;
  }
  if (o->mode == XSMEM_TRACK_OFF && !o->guard_sample_rate) return inner;
  size_t bytes = xsmem_align_up(sizeof(xsmem_tracker), xsmem_os_page_size());
  xsmem_tracker *t = xsmem_os_map(bytes, XSMEM_CACHE_LINE, 0);
  if (!t) return NULL;
  t->base.ops = &tracker_ops;
  xsmem_snprintf(t->name, sizeof(t->name), "%s", name ? name : "tracker");
  t->base.name = t->name;
  t->inner = inner;
  t->opt = *o;
  t->generation = atomic_fetch_add(&g_generation, 1) + 1;
  // The shim's byte countdown serves sampling and guarded sampling (but for a
  // rate of 1: every block, which needs no clock); full mode sees every call.
  t->fast_sample = (o->mode == XSMEM_TRACK_SAMPLE || o->mode == XSMEM_TRACK_OFF) && o->guard_sample_rate != 1;
  if (t->opt.timeline_ms == 0) t->opt.timeline_ms = 10;
  if (t->opt.leak_report_sites == 0) t->opt.leak_report_sites = 20;
  t->mapped = bytes;
  xsmem_swiss_map_init(&t->records, sizeof(track_record));
  xsmem_swiss_map_init(&t->sites, sizeof(uint64_t));
  // The arena is address space touched as sites appear: 12 MiB for all of
  // them, which a limited address space (ulimit -v) is given back mostly:
  // at most 1/64 of the limit (4096 sites under 64 MiB; more go uncounted).
  t->site_slots = kSiteSlots;
  size_t as_limit = xsmem_os_as_limit();
  while (t->site_slots > 1024 && t->site_slots * sizeof(track_site_value) > as_limit / 64) t->site_slots /= 2;
  t->site_arena = xsmem_os_map(t->site_slots * sizeof(track_site_value), xsmem_os_page_size(), 0);
  if (!t->site_arena) goto fail;
  t->history = xsmem_os_map(kHistorySlots * sizeof(history_entry), xsmem_os_page_size(), 0);
  if (!t->history) goto fail;
  if (o->mode == XSMEM_TRACK_FULL) {
    t->tallies = xsmem_os_map(kTallies * sizeof(tally), xsmem_os_page_size(), 0);
    if (!t->tallies) goto fail;
  }
  if (o->mode == XSMEM_TRACK_FULL && o->quarantine_bytes) {
    size_t cap = XSMEM_MAX((size_t)64, o->quarantine_bytes / kStripes / 64);
    if (cap > 65536) cap = 65536;
    cap = xsmem_next_pow2(cap);  // ring indexes are masked
    for (int i = 0; i < kStripes; i++) {
      t->quarantine[i].cap = cap;
      t->quarantine[i].ring = xsmem_os_map(cap * sizeof(quarantine_entry), xsmem_os_page_size(), 0);
      if (!t->quarantine[i].ring) goto fail;
    }
  }
  if (o->guard_sample_rate && !tracker_guard_init(t)) goto fail;
  // The report at exit goes to a copy of stderr: programs such as coreutils
  // close fd 2 in their own atexit handlers, before destructors run.
  t->report_fd = o->leak_report_at_exit ? fcntl(2, F_DUPFD_CLOEXEC, 64) : -1;
  if (o->leak_report_at_exit && t->report_fd < 0) t->report_fd = 2;
  atomic_store(&t->timeline_interval_ns, (uint64_t)t->opt.timeline_ms * 1000000ull);
  timeline_record(t, tracker_now_ns());
  atomic_store(&t->timeline_next_ns, tracker_now_ns() + (uint64_t)t->opt.timeline_ms * 1000000ull);
  int slot = atomic_fetch_add(&g_num_trackers, 1);
  if (slot < (int)XSMEM_ARRAY_SIZE(g_trackers)) {
    __atomic_store_n(&g_trackers[slot], t, __ATOMIC_RELEASE);
  }
  return &t->base;
fail:
  tracker_destroy(&t->base);
  errno = ENOMEM;
  return NULL;
}

static void tracker_destroy(xsmem_allocator *a) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  for (int i = 0; i < (int)XSMEM_ARRAY_SIZE(g_trackers); i++) {
    if (__atomic_load_n(&g_trackers[i], __ATOMIC_ACQUIRE) == t) __atomic_store_n(&g_trackers[i], NULL, __ATOMIC_RELEASE);
  }
  // Quarantined blocks go back to the inner allocator; live ones stay its own.
  for (int i = 0; i < kStripes; i++) {
    quarantine_stripe *q = &t->quarantine[i];
    while (q->ring && q->count) {
      quarantine_entry e;
      quarantine_pop(q, &e);
      release_block(t, e.p, e.size, e.front);
    }
    if (q->ring) xsmem_os_unmap(q->ring, q->cap * sizeof(quarantine_entry));
  }
  xsmem_swiss_map_destroy(&t->records);
  live_set_destroy(&t->live);
  xsmem_swiss_map_destroy(&t->sites);
  if (t->site_arena) xsmem_os_unmap(t->site_arena, t->site_slots * sizeof(track_site_value));
  if (t->history) xsmem_os_unmap(t->history, kHistorySlots * sizeof(history_entry));
  if (t->tallies) xsmem_os_unmap(t->tallies, kTallies * sizeof(tally));
  if (t->report_fd > 2) close(t->report_fd);
  if (t->guard.base) {
    xsmem_pagemap_set(t->guard.base, t->guard.span, XSMEM_TAG_NONE);
    xsmem_os_release(t->guard.base, t->guard.span, 0);
    xsmem_os_unmap(t->guard.meta, xsmem_align_up(t->guard.slots * (sizeof(guard_slot) + sizeof(unsigned)),
                                                 xsmem_os_page_size()));
  }
  xsmem_os_unmap(t, t->mapped);
}

xsmem_allocator *xsmem_tracker_over(xsmem_allocator *inner, const xsmem_tracker_options *o, const char *name) {
  if (!inner) return NULL;
  errno = 0;
  xsmem_allocator *a = xsmem_tracker_create(inner, o, name);
  if (a) return a;
  int err = errno;
  xsmem_log("tracker over '%s' could not be built (%s); tracking is off", inner->name,
            err == ENOMEM ? "no room for its tables: out of memory or address space" : "bad XSMEM_TRACK* options?");
  return inner;
}

// Runs last among destructors: the program's own cleanup has freed what it frees.
__attribute__((destructor(101))) static void tracker_at_exit(void) {
  for (int i = 0; i < (int)XSMEM_ARRAY_SIZE(g_trackers); i++) {
    xsmem_tracker *t = __atomic_load_n(&g_trackers[i], __ATOMIC_ACQUIRE);
    if (t && t->opt.leak_report_at_exit) {
      xsmem_tracker_leak_report(&t->base, t->report_fd, XSMEM_REPORT_TEXT, t->opt.leak_report_sites);
    }
  }
}

// ---------------------------------------------------------------------------
// Summary, histogram (report.c renders them).

typedef struct sum_ctx {
  const xsmem_tracker *t;
  double live_bytes, live_count;
} sum_ctx;

static void sum_record(uint64_t key, const void *value, void *c) {
  const track_record *r = value;
  sum_ctx *x = c;
  if (r->flags & REC_INTERNAL) return;
  double w = sample_weight(x->t, r->requested);
  x->live_bytes += w * (double)r->requested;
  x->live_count += w;
}

// A walk's visit, as check_one.
static void sum_block(uintptr_t key, void *c) {
  const block_header *h = header_of((const void *)key);
  sum_ctx *x = c;
  if (h->site_index == kSiteInternal) return;
  x->live_bytes += (double)h->requested;
  x->live_count += 1;
}

void xsmem_tracker_summary(xsmem_allocator *a, xsmem_track_summary *out) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  memset(out, 0, sizeof(*out));
  out->mode = t->opt.mode;
  sum_ctx c = {t, 0, 0};
  xsmem_swiss_map_for_each(&t->records, sum_record, &c);
  live_set_for_each(&t->live, sum_block, &c);
  out->live_bytes = c.live_bytes;
  out->live_count = c.live_count;
  xsmem_swiss_stats rs, ss;
  xsmem_swiss_map_stats(&t->records, &rs);
  xsmem_swiss_map_stats(&t->sites, &ss);
  out->records = rs.size + live_set_size(&t->live);
  out->sites = ss.size;
  double counts[XSMEM_TRACK_HIST_BUCKETS] = {0}, bytes[XSMEM_TRACK_HIST_BUCKETS] = {0};
  tracker_tally_histogram(t, counts, bytes, &out->sampled);
  for (int b = 0; b < XSMEM_TRACK_HIST_BUCKETS; b++) {
    out->total_count += counts[b];
    out->total_bytes += bytes[b];
  }
  for (int i = 0; i < kStripes; i++) {
    out->sampled += atomic_load_explicit(&t->stripes[i].sampled, memory_order_relaxed);
    for (int b = 0; b < XSMEM_TRACK_HIST_BUCKETS; b++) {
      out->total_count += (double)atomic_load_explicit(&t->stripes[i].hist_count[b], memory_order_relaxed);
      out->total_bytes += (double)atomic_load_explicit(&t->stripes[i].hist_bytes[b], memory_order_relaxed);
    }
    xsmem_spin_lock(&t->quarantine[i].lock);
    out->quarantine_bytes += t->quarantine[i].bytes;
    xsmem_spin_unlock(&t->quarantine[i].lock);
  }
  out->guarded_allocs = atomic_load_explicit(&t->guard.allocs, memory_order_relaxed);
  out->errors = atomic_load_explicit(&t->errors, memory_order_relaxed);
  out->metadata_bytes = tracker_metadata_bytes(t);
  for (int i = 0; i < kStripes; i++) out->metadata_bytes += t->quarantine[i].cap * sizeof(quarantine_entry);
  xsmem_track_point pts[kTimelinePoints];
  size_t n = xsmem_tracker_timeline(a, pts, kTimelinePoints);
  if (n >= 2 && pts[n - 1].time_ns > pts[0].time_ns) {
    out->alloc_rate = (double)(pts[n - 1].allocs - pts[0].allocs) * 1e9 / (double)(pts[n - 1].time_ns - pts[0].time_ns);
  }
}

void xsmem_tracker_histogram(xsmem_allocator *a, double counts[XSMEM_TRACK_HIST_BUCKETS],
                             double bytes[XSMEM_TRACK_HIST_BUCKETS]) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  for (int b = 0; b < XSMEM_TRACK_HIST_BUCKETS; b++) {
    counts[b] = bytes[b] = 0;
    for (int i = 0; i < kStripes; i++) {
      counts[b] += (double)atomic_load_explicit(&t->stripes[i].hist_count[b], memory_order_relaxed);
      bytes[b] += (double)atomic_load_explicit(&t->stripes[i].hist_bytes[b], memory_order_relaxed);
    }
  }
  tracker_tally_histogram(t, counts, bytes, NULL);
}

size_t xsmem_tracker_timeline(xsmem_allocator *a, xsmem_track_point *out, size_t max) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  xsmem_spin_lock(&t->timeline_lock);
  size_t have = (size_t)atomic_load_explicit(&t->timeline_count, memory_order_relaxed);
  size_t n = have < max ? have : max;
  for (size_t i = 0; i < n; i++) out[i] = t->timeline[have - n + i];
  xsmem_spin_unlock(&t->timeline_lock);
  return n;
}
