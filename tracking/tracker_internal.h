// tracking/tracker_internal.h: the tracker's state, shared by its files.
#ifndef XSMEM_TRACKING_TRACKER_INTERNAL_H_
#define XSMEM_TRACKING_TRACKER_INTERNAL_H_

#include <stdatomic.h>

#include "platform/atomics.h"
#include "platform/swiss_map.h"
#include "tracking/live_set.h"
#include "tracking/tracker.h"

#define XSMEM_TLS __thread __attribute__((tls_model("initial-exec")))
// Functions on the recording paths: captures skip frames in this section.
#define XSMEM_TRACKER_TEXT __attribute__((section("xsmem_tracker_text")))
// What the tracker's files share that none exports (a shared library keeps
// it to itself, as it did when each was static in one file).
#define XSMEM_TRACKER_HIDDEN __attribute__((visibility("hidden")))

enum {
  kCanary = 16,            // bytes of canary before and after each full-mode block
  kCanaryByte = 0xCB,
  kPoisonByte = 0xDF,      // freed blocks in quarantine
  kStripes = 8,            // counter and quarantine stripes (by thread)
  kFilterSlots = 1 << 16,  // counting filter of sampled pointers
  kHistorySlots = 1 << 14, // recently freed pointers, for double-free reports
  kTimelinePoints = 512,
  kPoisonSpan = 128,       // leading bytes of a freed block poisoned and checked
  kSiteSlots = 1 << 16,    // call sites a tracker can count (the arena; more go uncounted; fewer under ulimit -v)
  kSiteCache = 256,        // per-thread cache of site hash -> arena index
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
  uint32_t front;    // bytes between the inner block and the user pointer
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
  int64_t live_bytes, live_count, total_bytes, total_count, live_peak;
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
  uint8_t *base;        // (2 * slots + 1) pages: guard, data, guard, data, ..., guard
  size_t bytes, page;
  size_t span;          // bytes rounded up to whole pagemap chunks: reserved and tagged
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
  size_t mapped;  // bytes of this struct's own mapping
  int report_fd;        // where the report at exit goes (a copy of stderr)
  uint64_t generation;  // unique per tracker created (thread caches key on it)
  xsmem_swiss_map records;      // sample mode: sampled blocks
  live_set live;                // full mode: live blocks (records in their headers)
  xsmem_swiss_map sites;        // site hash -> arena index
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
  _Atomic uint64_t timeline_count;  // points held, oldest first (at most kTimelinePoints)
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

// tracker.c
extern XSMEM_TLS int xsmem_track_busy;  // > 0 while tracker code that may allocate runs
uint64_t tracker_now_ns(void);
void tracker_print_frames(int fd, const char *title, const uintptr_t *frames, unsigned depth);
void tracker_print_site(xsmem_tracker *t, int fd, const char *title, uint64_t site);

// ---------------------------------------------------------------------------
// Stack capture (tracker_capture.c): the frame-pointer walk is inline, for
// the recording paths hash the frames as they walk.

unsigned tracker_capture(uintptr_t *frames, unsigned max, xsmem_track_unwind how);
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

#endif  // XSMEM_TRACKING_TRACKER_INTERNAL_H_
