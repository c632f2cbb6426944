// tracking/tracker_internal.h: the tracker's state, shared by its files, and
// what of each concern the recording paths run inline.
//
// The tracker's files, one concern each:
//   tracker.c          the recording paths (sampled and full) and the ops
//   tracker_capture.c  stack capture: frame-pointer walk, backtrace()
//   tracker_sites.c    call sites, the tallies of their figures, top sites
//   tracker_checks.c   error reports, free history, quarantine eviction,
//                      the canary check on demand
//   tracker_summary.c  histogram, timeline, own memory, the summary
//   tracker_create.c   options, creation and destruction, reports at exit
//   report.c           symbolization, the leak report, the detail op
//   guarded.c          guarded sampling
// What the recording paths run on every block stays inline, below in the
// section of its concern (which names the file holding the rest), so the
// paths compile as they did when the tracker was one file. What else the
// files share is hidden (XSMEM_TRACKER_HIDDEN) and prefixed tracker_ or
// xsmem_track_, so that neither a shared library's exports nor a static
// link gains a name.
#ifndef XSMEM_TRACKING_TRACKER_INTERNAL_H_
#define XSMEM_TRACKING_TRACKER_INTERNAL_H_

#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/atomics.h"
#include "platform/swiss_map.h"
#include "platform/tool_hooks.h"
#include "tracking/live_set.h"
#include "tracking/tracker.h"

#define XSMEM_TLS __thread __attribute__((tls_model("initial-exec")))
// Functions on the recording paths: captures skip frames in this section.
#define XSMEM_TRACKER_TEXT __attribute__((section("xsmem_tracker_text")))
// What the tracker's files share that none exports (a shared library keeps
// it to itself, as it did when each was static in one file).
#define XSMEM_TRACKER_HIDDEN __attribute__((visibility("hidden")))

enum {
  kCanary = 16,  // bytes of canary before and after each full-mode block
  kCanaryByte = 0xCB,
  kPoisonByte = 0xDF,       // freed blocks in quarantine
  kStripes = 8,             // counter and quarantine stripes (by thread)
  kFilterSlots = 1 << 16,   // counting filter of sampled pointers
  kHistorySlots = 1 << 14,  // recently freed pointers, for double-free reports
  kTimelinePoints = 512,
  kPoisonSpan = 128,     // leading bytes of a freed block poisoned and checked
  kSiteSlots = 1 << 16,  // call sites a tracker can count (the arena; more go uncounted; fewer under ulimit -v)
  kSiteCache = 256,      // per-thread cache of site hash -> arena index
};

enum { REC_SAMPLED = 1, REC_INTERNAL = 2 };

// Site index of a full-mode block allocated re-entrantly (inside the
// tracker's own calls): counted nowhere, never reported as a leak.
#define kSiteInternal UINT32_MAX

// The record of a full-mode block, in the front of its inner block:
//   inner block: [padding][block_header][canary][user bytes][canary]
// Found only after the user pointer was found in the live set, so a foreign
// pointer's memory is never read.
typedef struct block_header {
  uint64_t requested;
  uint64_t id;          // thread id << 40 | the thread's allocation count
  uint64_t time_ns;     // coarse clock at allocation
  uint32_t site_index;  // the site's arena index + 1; 0: uncounted; kSiteInternal
  uint32_t front;       // bytes between the inner block and the user pointer
} block_header;

enum {
  kHeader = sizeof(block_header),
  kFullFront = kHeader + kCanary,  // least front of a full-mode block (alignment 16)
};
_Static_assert(sizeof(block_header) == 32, "the header keeps the user pointer 16-aligned");

// Value of the records map of sample mode (key: user pointer).
typedef struct track_record {
  uint64_t requested;
  uint64_t granted;  // usable bytes the inner allocator gave (minus the canaries)
  uint64_t site;     // call-site hash, 0 when captured re-entrantly
  uint64_t id;
  uint64_t time_ns;
  uint32_t tid;
  uint32_t front;  // bytes between the inner block and the user pointer
  uint8_t align_log2;
  uint8_t flags;
  uint32_t site_index;  // the site's arena index + 1; 0: not counted
} track_record;

// A call site in the site arena (stable address: a free updates its figures
// through the record's site_index, without a lookup). The sites map takes a
// site hash to its arena index. frames and depth are written once, before the
// index is published under the map's shard lock; the figures under lock.
typedef struct track_site_value {
  uint64_t hash;
  uintptr_t frames[XSMEM_TRACK_MAX_DEPTH];
  uint32_t depth;
  xsmem_spinlock lock;
  double live_bytes, live_count, total_bytes, total_count, peak_bytes;
  double temporary;  // blocks freed before their thread's next allocation (full mode)
} track_site_value;

// A thread's pending changes to the figures of full-mode sites and its
// share of the size histogram (the batching of statistics): one entry per
// site in use, direct-mapped by site index. Integer deltas, exact; live_peak
// is the highest live_bytes reached since the entry was last flushed, so the
// site's peak can be raised by what it would have been had the pending
// changes been applied one by one.
//
// Only the owner thread writes a tally, with plain (relaxed atomic) stores:
// no lock, so the hot path has no locked instruction to wait for its stores
// to cold blocks. The owner moves an entry's figures to its site (and zeroes
// the entry) under the site's lock and only then names another site in it;
// a reader holding a site's lock adds the entries naming that site to the
// site's figures, so it counts each change once.
typedef struct tally_entry {
  uint32_t index;  // site arena index + 1; 0: empty
  uint32_t pad;
  int64_t live_bytes, live_count, total_bytes, total_count, live_peak, temporary;
} tally_entry;

enum { kTallies = 128, kTallyEntries = 16 };

typedef struct tally {
  _Atomic uint32_t owner;  // thread id of the owner; 0: free
  tally_entry e[kTallyEntries];
  // The thread's share of the size histogram (the stripes' counters hold
  // what was counted without a tally); readers add every tally's.
  uint64_t hist_count[XSMEM_TRACK_HIST_BUCKETS];
  uint64_t hist_bytes[XSMEM_TRACK_HIST_BUCKETS];
  uint64_t sampled;
} XSMEM_CACHE_ALIGNED tally;

typedef struct quarantine_entry {
  uint8_t *p;
  uint64_t size;
  uint32_t alloc_index, free_index;  // site arena indexes + 1 (0: none)
  uint32_t front;
} quarantine_entry;

typedef struct quarantine_stripe {
  xsmem_spinlock lock;
  quarantine_entry *ring;  // cap entries (os_vm)
  size_t cap, head, count;
  size_t bytes;  // requested bytes held
} XSMEM_CACHE_ALIGNED quarantine_stripe;

typedef struct history_entry {
  uintptr_t p;
  uint64_t size;
  uint64_t sites;  // alloc site index << 32 | free site index (arena index + 1; 0: none)
} history_entry;

typedef struct stripe_counters {
  _Atomic uint64_t hist_count[XSMEM_TRACK_HIST_BUCKETS];
  _Atomic uint64_t hist_bytes[XSMEM_TRACK_HIST_BUCKETS];
  _Atomic uint64_t sampled;
} XSMEM_CACHE_ALIGNED stripe_counters;

// One guarded slot (guarded.c): a data page between two guard pages.
typedef struct guard_slot {
  uintptr_t user;
  size_t size;
  uint32_t state;  // 0 never used, 1 live, 2 freed
  uint32_t depth_alloc, depth_free;
  uintptr_t alloc_frames[XSMEM_TRACK_MAX_DEPTH];
  uintptr_t free_frames[XSMEM_TRACK_MAX_DEPTH];
} guard_slot;

typedef struct guard_pool {
  uint8_t *base;  // (2 * slots + 1) pages: guard, data, guard, data, ..., guard
  size_t bytes, page;
  size_t span;  // bytes rounded up to whole pagemap chunks: reserved and tagged
  unsigned slots;
  guard_slot *meta;     // os_vm array of slots
  unsigned *free_ring;  // FIFO of free slot indices (oldest freed first)
  size_t ring_head, ring_count;
  xsmem_spinlock lock;
  _Atomic uint64_t allocs, frees;
  _Atomic uint64_t live_pages;  // data pages holding a live block
} guard_pool;

typedef struct xsmem_tracker {
  // The first members are xsmem_tracker_view (tracker_fast.h): keep in step.
  xsmem_allocator base;
  xsmem_allocator *inner;
  uint32_t fast_sample;  // sampling and guarded sampling on the shim's byte countdown
  xsmem_tracker_options opt;
  char name[48];
  size_t mapped;                 // bytes of this struct's own mapping
  int report_fd;                 // where the report at exit goes (a copy of stderr)
  uint64_t options_generation;   // xsmem_options_generation() when it was built
  uint64_t generation;           // unique per tracker created (thread caches key on it)
  xsmem_swiss_map records;       // sample mode: sampled blocks
  live_set live;                 // full mode: live blocks (records in their headers)
  xsmem_swiss_map sites;         // site hash -> arena index
  track_site_value *site_arena;  // site_slots (os_vm, touched as used)
  uint32_t site_slots;           // kSiteSlots, or fewer under an address-space limit
  tally *tallies;                // kTallies (os_vm), full mode
  _Atomic uint32_t site_count;
  stripe_counters stripes[kStripes];
  quarantine_stripe quarantine[kStripes];
  _Atomic uint16_t filter[kFilterSlots];
  history_entry *history;  // kHistorySlots (os_vm)
  _Atomic uint64_t errors;
  _Atomic uint64_t peak_seen;  // highest peak_bytes_in_use reported by the stats op
  _Atomic uint64_t timeline_next_ns;
  _Atomic uint64_t timeline_count;        // points held, oldest first (at most kTimelinePoints)
  _Atomic uint64_t timeline_interval_ns;  // timeline_ms, doubled each time the timeline fills
  xsmem_spinlock timeline_lock;
  xsmem_track_point timeline[kTimelinePoints];
  guard_pool guard;
} xsmem_tracker;

// guarded.c
extern XSMEM_TLS int64_t xsmem_guard_countdown;  // allocations until the next guarded one
bool tracker_guard_init(xsmem_tracker *t);
void *tracker_guard_alloc(xsmem_tracker *t, size_t size, size_t align, unsigned flags);
// Places a block in a free slot now (NULL: too big, no slot free, or busy).
void *tracker_guard_place(xsmem_tracker *t, size_t size, size_t align, unsigned flags);
XSMEM_INLINE bool tracker_guard_owns(const xsmem_tracker *t, const void *p) {
  return (uintptr_t)p - (uintptr_t)t->guard.base < t->guard.bytes;
}
void tracker_guard_free(xsmem_tracker *t, void *p);
size_t tracker_guard_usable(const xsmem_tracker *t, const void *p);

// leak_scan.c: which unfreed full-mode blocks are leaks (reachability).
typedef struct tracker_scan_block {
  uintptr_t beg;        // the user pointer
  uint64_t size;        // requested bytes
  uint32_t site_index;  // as in its header
  uint32_t state;       // reached, indirectly lost, or not reached (definitely lost)
} tracker_scan_block;

typedef struct tracker_scan_result {
  tracker_scan_block *blocks;  // every live block, in address order (os_vm, grown by doubling)
  size_t n, cap, mapped;
  uint32_t *work;  // the flood's stack of block indexes (os_vm)
  size_t work_mapped;
  uint64_t root_bytes;  // bytes of roots read (modules, stacks, TLS)
  unsigned threads;     // other threads' stacks read
} tracker_scan_result;

// Registers the calling thread's stack and TLS anchor for leak scans (once
// per thread: full mode's tally claim). May allocate: call with busy set.
XSMEM_TRACKER_HIDDEN void tracker_thread_note(void);
// Classifies every live block of full-mode tracker t (false: not full mode,
// or no memory for the tables). The calling thread's stack is read from
// `from` up (TRACKER_STACK_ENTRY of the public call). Call
// tracker_leak_scan_release after.
XSMEM_TRACKER_HIDDEN bool tracker_leak_scan(xsmem_tracker *t, tracker_scan_result *s, uintptr_t from);
// In a public function asking for a scan (built with frame pointers): spills
// the caller's callee-saved registers below this frame, and returns the
// address from which the calling thread's stack is read (those registers,
// the saved frame pointer, and the callers' frames above).
#define TRACKER_STACK_ENTRY() (__builtin_unwind_init(), (uintptr_t)__builtin_frame_address(0) - 6 * sizeof(uintptr_t))
XSMEM_TRACKER_HIDDEN void tracker_leak_scan_release(tracker_scan_result *s);
XSMEM_TRACKER_HIDDEN xsmem_leak_kind tracker_scan_kind(const tracker_scan_block *b);

// report.c
void tracker_print_frames(int fd, const char *title, const uintptr_t *frames, unsigned depth);
void tracker_detail(const xsmem_allocator *a, xsmem_stats_sink *sink);  // the detail op

// ---------------------------------------------------------------------------
// Thread identity, time (tracker.c).

extern XSMEM_TLS int xsmem_track_busy;                              // > 0 while tracker code that may allocate runs
extern XSMEM_TLS XSMEM_TRACKER_HIDDEN uint32_t xsmem_track_tid;     // 0 until thread_id
extern XSMEM_TLS XSMEM_TRACKER_HIDDEN uint32_t xsmem_track_stripe;  // the thread's counter and quarantine stripe
extern XSMEM_TRACKER_HIDDEN _Atomic uint32_t xsmem_track_next_stripe;
uint64_t tracker_now_ns(void);

// The calling thread's id (its first call also picks the thread's stripe).
static inline uint32_t thread_id(void) {
  if (XSMEM_UNLIKELY(!xsmem_track_tid)) {
    xsmem_track_tid = (uint32_t)syscall(SYS_gettid);
    xsmem_track_stripe = atomic_fetch_add_explicit(&xsmem_track_next_stripe, 1, memory_order_relaxed) % kStripes;
  }
  return xsmem_track_tid;
}

// 1/p, p the probability that a block of `size` bytes is sampled with a mean
// interval of `mean` bytes.
static inline double inverse_sample_probability(size_t mean, size_t size) {
  double s = (double)(size ? size : 1);
  return 1.0 / -expm1(-s / (double)mean);
}

// The weight of a recorded block: the blocks it stands for.
static inline double sample_weight(const xsmem_tracker *t, size_t size) {
  return t->opt.mode == XSMEM_TRACK_SAMPLE ? inverse_sample_probability(t->opt.sample_bytes, size) : 1.0;
}

// ---------------------------------------------------------------------------
// Figures (tracker_summary.c).

// Counts a recorded block of `size` bytes standing for `weight` blocks in
// the size histogram (the stripes' counters).
XSMEM_TRACKER_HIDDEN void tracker_note_histogram(xsmem_tracker *t, size_t size, double weight);
// Adds a point (the inner allocator's figures at `now`) to the timeline.
XSMEM_TRACKER_HIDDEN void tracker_timeline_record(xsmem_tracker *t, uint64_t now);
// The tracker's own memory (records, live set, sites, history, tallies),
// quarantine rings aside.
XSMEM_TRACKER_HIDDEN uint64_t tracker_metadata_bytes(xsmem_tracker *t);

// ---------------------------------------------------------------------------
// Creation (tracker_create.c).

XSMEM_TRACKER_HIDDEN void tracker_destroy(xsmem_allocator *a);  // the destroy op

// ---------------------------------------------------------------------------
// Stack capture (tracker_capture.c): the frame-pointer walk is inline, for
// the recording paths hash the frames as they walk.

unsigned tracker_capture(uintptr_t *frames, unsigned max, xsmem_track_unwind how);
// The capture of XSMEM_UNWIND_DWARF from a frame record of the tracker's
// caller chain: the tracker's own frames are skipped by their frame
// pointers (as walk_frames does), the rest unwound by the rule tables of
// tracking/unwind.h. Stores up to max frames in out; returns how many.
unsigned tracker_unwind_from(uintptr_t start, uintptr_t *out, unsigned max);
// The frame-pointer walk from a given frame record of this thread's stack
// (the captures start at their own frames): tracker_walk_test.c.
unsigned tracker_walk_from(uintptr_t frame, uintptr_t *out, unsigned max);

// This thread's stack: the walk reads frames in [lo, top] (lo 0: not found yet).
extern XSMEM_TLS XSMEM_TRACKER_HIDDEN uintptr_t xsmem_track_stack_lo, xsmem_track_stack_top;
// Finds this thread's stack bounds (once; with busy set, for it may allocate).
XSMEM_TRACKER_HIDDEN XSMEM_NOINLINE XSMEM_COLD void tracker_stack_bounds(void);

// The tracker's recording functions live in their own section, so a capture
// can drop its leading frames whatever was inlined where.
extern const char __start_xsmem_tracker_text[] __attribute__((weak, visibility("hidden")));
extern const char __stop_xsmem_tracker_text[] __attribute__((weak, visibility("hidden")));

static inline bool tracker_text(uintptr_t pc) {
  return pc - 1 >= (uintptr_t)__start_xsmem_tracker_text && pc - 1 < (uintptr_t)__stop_xsmem_tracker_text;
}

// One xor and one multiply per frame (each step a bijection of the running
// hash; hash_finish mixes the result, the maps mix keys again); the same
// step runs inside the frame-pointer walk of walk_frames.
XSMEM_INLINE uint64_t hash_step(uint64_t h, uintptr_t frame) { return (h ^ frame) * 0xff51afd7ed558ccdull; }

// One shift folds the well-mixed high bits into the low ones (the site cache
// indexes by low bits; the sites map mixes its keys again). Never 0 (0 marks
// a re-entrant capture).
XSMEM_INLINE uint64_t hash_finish(uint64_t h) {
  h ^= h >> 29;
  return h ? h : 1;
}

// The running hash's start: hash_frames and walk_frames must agree.
#define kFrameHashSeed 0x9e3779b97f4a7c15ull

static inline uint64_t hash_frames(const uintptr_t *f, unsigned n) {
  uint64_t h = kFrameHashSeed;
  for (unsigned i = 0; i < n; i++) h = hash_step(h, f[i]);
  return hash_finish(h ^ n);
}

// Whether a saved frame pointer leads to a frame the walk may read: above
// the current one, within the stack (next - f - 1 < top - f: next lies in
// (f, top]) and word-aligned. Code built without frame pointers leaves any
// value in that slot; a misaligned one ends the walk as one out of range does.
XSMEM_INLINE bool frame_leads_on(uintptr_t next, uintptr_t f, uintptr_t top) {
  return next - f - 1 < top - f && (next & (sizeof(uintptr_t) - 1)) == 0;
}

// Walks saved frame pointers: [fp] = caller's fp, [fp+8] = return address.
// Each next frame must lie above the current one and its two words within
// the thread's stack, so a frame built without a frame pointer ends the walk
// instead of faulting. Skips the tracker's own leading frames, then hashes
// up to max return addresses (the hash of hash_frames), storing them in out
// unless out is NULL: the recording paths walk once without storing, and
// again, storing, only when their site cache misses. start: the frame to
// begin at, one of the tracker's own (or its caller's).
XSMEM_INLINE uint64_t walk_frames(uintptr_t start, unsigned max, uintptr_t *out, unsigned *depth) {
  if (XSMEM_UNLIKELY(!xsmem_track_stack_lo)) tracker_stack_bounds();
  uintptr_t f = start, top = xsmem_track_stack_top;
  uint64_t h = kFrameHashSeed;
  unsigned n = 0;
  if (f < xsmem_track_stack_lo || f > top || (f & (sizeof(uintptr_t) - 1))) goto done;
  while (tracker_text(((const uintptr_t *)f)[1])) {
    uintptr_t next = ((const uintptr_t *)f)[0];
    if (!frame_leads_on(next, f, top)) goto done;
    f = next;
  }
  while (n < max) {
    uintptr_t ret = ((const uintptr_t *)f)[1], next = ((const uintptr_t *)f)[0];
    if (ret < 4096) break;
    if (out) out[n] = ret;
    n++;
    h = hash_step(h, ret);
    if (!frame_leads_on(next, f, top)) break;
    f = next;
  }
done:
  *depth = n;
  return hash_finish(h ^ n);
}

// ---------------------------------------------------------------------------
// Call sites and tallies (tracker_sites.c): the per-thread site cache and
// the tallies' hot paths are inline, for the recording paths use them on
// every block.

// Per-thread cache of site hash -> arena index + 1 (direct mapped), for the
// tracker of one generation: a known site costs no map lookup.
typedef struct site_cache_entry {
  uint64_t hash;
  uint32_t index;
} site_cache_entry;
// This thread's cache, for the tracker of generation xsmem_track_site_owner.
extern XSMEM_TLS XSMEM_TRACKER_HIDDEN site_cache_entry xsmem_track_site_cache[kSiteCache];
extern XSMEM_TLS XSMEM_TRACKER_HIDDEN uint64_t xsmem_track_site_owner;

XSMEM_TRACKER_HIDDEN void tracker_site_add(xsmem_tracker *t, uint32_t index, double bytes, double count);
// Counts a temporary block of site index (threads without a tally).
XSMEM_TRACKER_HIDDEN void tracker_site_temporary(xsmem_tracker *t, uint32_t index);
// The site index when the thread's cache misses (site_index).
XSMEM_TRACKER_HIDDEN XSMEM_NOINLINE uint32_t tracker_site_index_slow(xsmem_tracker *t, uint64_t h,
                                                                     const uintptr_t *frames, unsigned n,
                                                                     uintptr_t start);
// Captures the caller's site (0 and *index 0 when re-entered) and adds
// bytes and count to its figures (not when count is 0).
XSMEM_TRACKER_HIDDEN XSMEM_TRACKER_TEXT XSMEM_NOINLINE uint64_t tracker_note_site(xsmem_tracker *t, double bytes,
                                                                                  double count, uint32_t *index);
// The frames and figures (pending tallies included) of the site at arena
// index + 1 `index`; false when there is none.
XSMEM_TRACKER_HIDDEN bool tracker_site_figures(xsmem_tracker *t, uint32_t index, xsmem_track_site *s);
// Prints the frames of the site with hash `site` under title.
void tracker_print_site(xsmem_tracker *t, int fd, const char *title, uint64_t site);

XSMEM_INLINE uint32_t site_index(xsmem_tracker *t, uint64_t h, const uintptr_t *frames, unsigned n, uintptr_t start) {
  site_cache_entry *e = &xsmem_track_site_cache[(h ^ (h >> 17)) & (kSiteCache - 1)];
  if (XSMEM_LIKELY(xsmem_track_site_owner == t->generation && e->hash == h)) return e->index;
  return tracker_site_index_slow(t, h, frames, n, start);
}

// Captures the stack from frame `start` (a frame of the tracker's caller
// chain; the walk skips the tracker's own) and returns its site hash; *index
// gets the site's arena index + 1. REQUIRES: not re-entered (busy clear).
XSMEM_INLINE uint64_t site_from(xsmem_tracker *t, uintptr_t start, uint32_t *index) {
  if (XSMEM_LIKELY(t->opt.unwind == XSMEM_UNWIND_DWARF)) {
    // Stored as they are walked (the walk is out of line), hashed after; the
    // site cache then keys on the hash, and a miss has the frames at hand.
    uintptr_t frames[XSMEM_TRACK_MAX_DEPTH];
    unsigned n = tracker_unwind_from(start, frames, t->opt.depth);
    uint64_t h = hash_frames(frames, n);
    *index = site_index(t, h, frames, n, start);
    return h;
  }
  if (t->opt.unwind == XSMEM_UNWIND_FP) {
    unsigned n;
    uint64_t h = walk_frames(start, t->opt.depth, NULL, &n);
    *index = site_index(t, h, NULL, n, start);
    return h;
  }
  uintptr_t frames[XSMEM_TRACK_MAX_DEPTH];
  unsigned n = tracker_capture(frames, t->opt.depth, t->opt.unwind);
  uint64_t h = hash_frames(frames, n);
  *index = site_index(t, h, frames, n, start);
  return h;
}

// Arena slots taken (touched memory: the metadata figures count these).
static inline uint32_t sites_used(xsmem_tracker *t) {
  uint32_t n = atomic_load_explicit(&t->site_count, memory_order_relaxed);
  return n < t->site_slots ? n : t->site_slots;
}

static inline void site_release(xsmem_tracker *t, uint32_t index, double bytes, double count) {
  tracker_site_add(t, index, -bytes, -count);
}

// The hash of the site at an arena index + 1 (0 when there is none).
static inline uint64_t site_hash_at(xsmem_tracker *t, uint32_t index) {
  return index - 1 < t->site_slots ? t->site_arena[index - 1].hash : 0;
}

// This thread's tally, for the tracker of generation xsmem_track_tally_owner.
extern XSMEM_TLS XSMEM_TRACKER_HIDDEN tally *xsmem_track_tally;
// The thread's last full-mode block: freed before the thread allocates again,
// it was a temporary allocation (heaptrack's definition, per thread). Kept
// inverted, so the leak scan's look at TLS never takes it for a pointer.
extern XSMEM_TLS XSMEM_TRACKER_HIDDEN uintptr_t xsmem_track_last_block;
extern XSMEM_TLS XSMEM_TRACKER_HIDDEN uint64_t xsmem_track_tally_owner;

XSMEM_TRACKER_HIDDEN XSMEM_COLD tally *tracker_tally_claim(xsmem_tracker *t);
XSMEM_TRACKER_HIDDEN void tracker_tally_flush_entry(xsmem_tracker *t, tally_entry *e);
// Adds every tally's histogram to counts/bytes (and its allocations to *sampled).
XSMEM_TRACKER_HIDDEN void tracker_tally_histogram(xsmem_tracker *t, double *counts, double *bytes, uint64_t *sampled);

// A tally field: written by its owner only (relaxed, so a reader's racing
// load is defined; it compiles to a plain load and store).
#define TALLY_GET(f) __atomic_load_n(&(f), __ATOMIC_RELAXED)
#define TALLY_SET(f, v) __atomic_store_n(&(f), (v), __ATOMIC_RELAXED)
#define TALLY_ADD(f, d) TALLY_SET(f, TALLY_GET(f) + (d))

XSMEM_INLINE unsigned hist_bucket(size_t size) {
  unsigned b = size ? xsmem_log2_floor(size) : 0;
  return b < XSMEM_TRACK_HIST_BUCKETS ? b : XSMEM_TRACK_HIST_BUCKETS - 1;
}

XSMEM_INLINE tally *my_tally(xsmem_tracker *t) {
  return XSMEM_LIKELY(xsmem_track_tally_owner == t->generation) ? xsmem_track_tally : tracker_tally_claim(t);
}

// Returns the entry of site `index` in ty, flushing the site that held it.
// REQUIRES: the caller owns ty, index a counted site.
XSMEM_INLINE tally_entry *tally_entry_of(xsmem_tracker *t, tally *ty, uint32_t index) {
  tally_entry *e = &ty->e[index & (kTallyEntries - 1)];
  if (XSMEM_UNLIKELY(e->index != index)) {
    if (e->index) tracker_tally_flush_entry(t, e);
    __atomic_store_n(&e->index, index, __ATOMIC_RELEASE);  // after the zeroing: readers key on it
  }
  return e;
}

// Full mode's site and histogram figures of an allocation, into this
// thread's tally (the shared counters when it has none).
XSMEM_INLINE void tally_alloc(xsmem_tracker *t, uint32_t index, uint64_t size) {
  if (index == kSiteInternal) return;
  bool counted = index - 1 < t->site_slots;  // else the arena is full: no site figures
  tally *ty = my_tally(t);
  if (XSMEM_UNLIKELY(!ty)) {
    if (counted) tracker_site_add(t, index, (double)size, 1);
    tracker_note_histogram(t, size, 1.0);
    return;
  }
  if (XSMEM_LIKELY(counted)) {
    tally_entry *e = tally_entry_of(t, ty, index);
    int64_t live = TALLY_GET(e->live_bytes) + (int64_t)size;
    TALLY_SET(e->live_bytes, live);
    TALLY_ADD(e->live_count, 1);
    TALLY_ADD(e->total_bytes, (int64_t)size);
    TALLY_ADD(e->total_count, 1);
    if (live > TALLY_GET(e->live_peak)) TALLY_SET(e->live_peak, live);
  }
  unsigned b = hist_bucket(size);
  TALLY_ADD(ty->hist_count[b], 1);
  TALLY_ADD(ty->hist_bytes[b], size);
  TALLY_ADD(ty->sampled, 1);
}

XSMEM_INLINE void tally_free(xsmem_tracker *t, uint32_t index, uint64_t size, bool temporary) {
  if (index - 1 >= t->site_slots) return;  // uncounted or internal
  tally *ty = my_tally(t);
  if (XSMEM_UNLIKELY(!ty)) {
    tracker_site_add(t, index, -(double)size, -1);
    if (temporary) tracker_site_temporary(t, index);
    return;
  }
  tally_entry *e = tally_entry_of(t, ty, index);
  TALLY_ADD(e->live_bytes, -(int64_t)size);
  TALLY_ADD(e->live_count, -1);
  TALLY_ADD(e->temporary, temporary);
}

// ---------------------------------------------------------------------------
// Checks and quarantine (tracker_checks.c): what every full-mode free runs
// is inline (the canary check, the history note, the quarantine push).

#define POISON(p, n) XSMEM_TOOL_POISON((p), (n))
#define UNPOISON(p, n) XSMEM_TOOL_UNPOISON((p), (n))

// Reports a bad pointer with the sites involved, then hands over to
// xsmem_report_bad_pointer (abort unless XSMEM_ON_ERROR=warn).
XSMEM_TRACKER_HIDDEN XSMEM_TRACKER_TEXT XSMEM_COLD void tracker_report_error(xsmem_tracker *t, const char *op,
                                                                             const void *p, const char *what,
                                                                             uint64_t size, uint64_t alloc_site,
                                                                             uint64_t free_site, bool has_alloc);
// Reports a free (or size query) of p, which the tracker does not hold: a
// double free when the history knows it, else a foreign pointer.
XSMEM_TRACKER_HIDDEN XSMEM_TRACKER_TEXT XSMEM_COLD void tracker_bad_free(xsmem_tracker *t, const char *op, void *p);
// A full stripe: makes room for e by evicting a batch.
XSMEM_TRACKER_HIDDEN XSMEM_TRACKER_TEXT XSMEM_NOINLINE void tracker_quarantine_insert_evicting(xsmem_tracker *t,
                                                                                               quarantine_stripe *q,
                                                                                               size_t budget,
                                                                                               quarantine_entry e);

XSMEM_INLINE block_header *header_of(const void *p) { return (block_header *)((uintptr_t)p - kFullFront); }

// The history slot of a pointer: one multiply, top bits (kHistorySlots = 2^14).
XSMEM_INLINE history_entry *history_slot(xsmem_tracker *t, const void *p) {
  _Static_assert(kHistorySlots == 1 << 14, "history_slot takes the top 14 bits");
  return &t->history[((uintptr_t)p * 0x9e3779b97f4a7c15ull) >> 50];
}

// Lock-free: the pointer is published last (release) and re-read after the
// fields, so a reader sees a consistent entry or none; two frees racing on
// one slot can only cost a report its detail.
static inline void history_note(xsmem_tracker *t, const void *p, uint64_t size, uint32_t alloc_index,
                                uint32_t free_index) {
  history_entry *e = history_slot(t, p);
  __atomic_store_n(&e->p, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&e->size, size, __ATOMIC_RELAXED);
  __atomic_store_n(&e->sites, (uint64_t)alloc_index << 32 | free_index, __ATOMIC_RELAXED);
  __atomic_store_n(&e->p, (uintptr_t)p, __ATOMIC_RELEASE);
}

// Returns true when the kCanary (16) bytes at p are all canary bytes: two
// word compares, no loop.
XSMEM_INLINE bool canary_intact(const uint8_t *p) {
  const uint64_t word = 0x0101010101010101ull * kCanaryByte;
  uint64_t a, b;
  memcpy(&a, p, 8);
  memcpy(&b, p + 8, 8);
  return ((a ^ word) | (b ^ word)) == 0;
}
_Static_assert(kCanary == 16, "canary_intact checks two words");

// Returns 0 when both canaries are intact, else -1 (before) or 1 (after).
static inline int canary_damage(const uint8_t *p, uint64_t size) {
  if (!canary_intact(p - kCanary)) return -1;
  if (!canary_intact(p + size)) return 1;
  return 0;
}

// Gives an erased block back to the wrapped allocator (once no walk of the
// live set can still read its header).
static inline void release_block(xsmem_tracker *t, uint8_t *p, uint64_t size, uint32_t front) {
  live_set_quiesce(&t->live);
  UNPOISON(p - front, front + size + kCanary);
  t->inner->ops->free(t->inner, p - front, 0);
}

// Takes the oldest entry out of a stripe into *out. REQUIRES: q->lock held, q->count > 0.
XSMEM_INLINE void quarantine_pop(quarantine_stripe *q, quarantine_entry *out) {
  *out = q->ring[q->head];
  q->head = (q->head + 1) & (q->cap - 1);
  q->count--;
  q->bytes -= out->size;
}

// Whether an entry of `size` bytes has no room in q yet. REQUIRES: q->lock held.
XSMEM_INLINE bool quarantine_no_room(const quarantine_stripe *q, uint64_t size, size_t budget) {
  return q->bytes + size > budget || q->count == q->cap;
}

// Appends e. REQUIRES: q->lock held, room for e.
XSMEM_INLINE void quarantine_put(quarantine_stripe *q, const quarantine_entry *e) {
  q->ring[(q->head + q->count) & (q->cap - 1)] = *e;
  q->count++;
  q->bytes += e->size;
}

XSMEM_TRACKER_TEXT static inline void quarantine_push(xsmem_tracker *t, uint8_t *p, uint64_t size, uint32_t front,
                                                      uint32_t alloc_index, uint32_t free_index) {
  quarantine_stripe *q = &t->quarantine[xsmem_track_stripe];
  size_t budget = t->opt.quarantine_bytes / kStripes;
  if (!q->ring || size > budget) {
    release_block(t, p, size, front);
    return;
  }
  if (XSMEM_LIKELY(size >= kPoisonSpan)) {
    memset(p, kPoisonByte, kPoisonSpan);  // a constant length: a few vector stores
  } else {
    memset(p, kPoisonByte, size);
  }
  POISON(p, size);
  quarantine_entry e = {p, size, alloc_index, free_index, front};
  xsmem_spin_lock(&q->lock);
  if (XSMEM_LIKELY(!quarantine_no_room(q, size, budget))) {
    quarantine_put(q, &e);
    xsmem_spin_unlock(&q->lock);
    return;
  }
  xsmem_spin_unlock(&q->lock);
  tracker_quarantine_insert_evicting(t, q, budget, e);
}

#endif  // XSMEM_TRACKING_TRACKER_INTERNAL_H_
