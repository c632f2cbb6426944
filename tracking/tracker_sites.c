// tracking/tracker_sites.c: call sites and the tallies that batch their figures.
//
// A call site is a stack's frames, counted in the site arena (stable
// addresses: a free updates its figures through the record's site index,
// without a lookup); the sites map takes a site hash to its arena index and
// each thread caches what it looked up. In full mode each thread batches its
// sites' changes and its share of the size histogram in a tally (the types
// and the inline paths of both are in tracker_internal.h). Here: finding and
// making sites, flushing and adopting tallies, and reading site figures with
// every tally's pending changes (top sites, the leak report's groups).
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/log.h"
#include "tracking/tracker_internal.h"

// Each thread's site cache and tally, for the tracker of one generation.
XSMEM_TLS site_cache_entry xsmem_track_site_cache[kSiteCache];
XSMEM_TLS uint64_t xsmem_track_site_owner;
XSMEM_TLS tally *xsmem_track_tally;
XSMEM_TLS uintptr_t xsmem_track_last_block;
XSMEM_TLS uint64_t xsmem_track_tally_owner;

// ---------------------------------------------------------------------------
// Call sites.

typedef struct site_create {
  xsmem_tracker *t;
  uint64_t hash;
  const uintptr_t *frames;
  unsigned depth;
  uint32_t index;  // out: arena index + 1, 0 when the arena is full
} site_create;

// Runs under the sites map's shard lock: the first sight of a hash takes an
// arena slot (value 0: none left, the site goes uncounted).
static void site_find_or_make(void *value, bool created, void *ctx) {
  uint64_t *slot = value;
  site_create *c = ctx;
  if (created) {
    uint32_t i = atomic_fetch_add_explicit(&c->t->site_count, 1, memory_order_relaxed);
    if (i < c->t->site_slots) {
      track_site_value *s = &c->t->site_arena[i];
      memcpy(s->frames, c->frames, c->depth * sizeof(uintptr_t));
      s->depth = c->depth;
      s->hash = c->hash;
      *slot = i + 1;
    } else {
      atomic_store_explicit(&c->t->site_count, c->t->site_slots, memory_order_relaxed);
      *slot = 0;
    }
  }
  c->index = (uint32_t)*slot;
}

void tracker_site_add(xsmem_tracker *t, uint32_t index, double bytes, double count) {
  if (index - 1 >= t->site_slots) return;  // uncounted (0) or internal
  track_site_value *s = &t->site_arena[index - 1];
  xsmem_spin_lock(&s->lock);
  s->live_bytes += bytes;
  s->live_count += count;
  if (count > 0) {
    s->total_bytes += bytes;
    s->total_count += count;
    if (s->live_bytes > s->peak_bytes) s->peak_bytes = s->live_bytes;
  }
  // Absorb the rounding of sample weights. Not in full mode: a site's live
  // figures may be negative until another thread's tally is flushed.
  if (t->opt.mode == XSMEM_TRACK_SAMPLE && s->live_count < 0.5) s->live_bytes = s->live_count = 0;
  xsmem_spin_unlock(&s->lock);
}

void tracker_site_temporary(xsmem_tracker *t, uint32_t index) {
  if (index - 1 >= t->site_slots) return;
  track_site_value *s = &t->site_arena[index - 1];
  xsmem_spin_lock(&s->lock);
  s->temporary += 1;
  xsmem_spin_unlock(&s->lock);
}

// Returns the arena index + 1 of the site with these frames (0: uncounted).
// The cache missed (or belongs to another tracker): the sites map. frames:
// the site's n frames, or NULL to walk them again from start (the fast path
// walks without storing them).
XSMEM_NOINLINE uint32_t tracker_site_index_slow(xsmem_tracker *t, uint64_t h, const uintptr_t *frames, unsigned n,
                                                uintptr_t start) {
  if (xsmem_track_site_owner != t->generation) {
    memset(xsmem_track_site_cache, 0, sizeof(xsmem_track_site_cache));
    xsmem_track_site_owner = t->generation;
  }
  site_cache_entry *e = &xsmem_track_site_cache[(h ^ (h >> 17)) & (kSiteCache - 1)];
  if (e->hash == h) return e->index;
  uintptr_t walked[XSMEM_TRACK_MAX_DEPTH];
  if (!frames) {
    walk_frames(start, t->opt.depth, walked, &n);
    frames = walked;
  }
  site_create c = {t, h, frames, n, 0};
  xsmem_swiss_map_with(&t->sites, h, true, site_find_or_make, &c);
  e->hash = h;
  e->index = c.index;
  return c.index;
}

// The frame of the function calling the one this is used in (its saved
// frame pointer: checked by the walk like any other). Only where that
// function's own return address is always in the tracker's text: a
// function the compiler may enter by a tail call from outside (full_alloc
// from tracker_alloc) starts at its own frame, whose return address the walk
// tests.
#define CALLER_FRAME() (*(const uintptr_t *)__builtin_frame_address(0))

// Called only from the tracker's own functions (never by a tail call), so
// its return address is theirs and the walk may start at its caller's frame.
XSMEM_TRACKER_TEXT XSMEM_NOINLINE uint64_t tracker_note_site(xsmem_tracker *t, double bytes, double count,
                                                             uint32_t *index) {
  *index = 0;
  if (xsmem_track_busy) return 0;
  uint64_t h = site_from(t, CALLER_FRAME(), index);
  if (count != 0) tracker_site_add(t, *index, bytes, count);
  return h;
}

// The site of a hash (frames are immutable once published), or NULL.
static const track_site_value *site_by_hash(xsmem_tracker *t, uint64_t h) {
  uint64_t index;
  if (!h || !xsmem_swiss_map_find(&t->sites, h, &index) || !index) return NULL;
  return &t->site_arena[index - 1];
}

void tracker_print_site(xsmem_tracker *t, int fd, const char *title, uint64_t site) {
  const track_site_value *v = site_by_hash(t, site);
  if (v) {
    tracker_print_frames(fd, title, v->frames, v->depth);
  } else {
    xsmem_dprintf(fd, "  %s: (no call site recorded)\n", title);
  }
}

// ---------------------------------------------------------------------------
// Tallies: full mode's per-thread batching of site figures (tracker_internal.h).

// Returns true when thread `tid` of this process is gone (its tally may be
// adopted: its pending figures stay and are flushed with the new owner's).
static bool thread_gone(uint32_t tid) {
  int saved = errno;
  bool gone = syscall(SYS_tgkill, (long)getpid(), (long)tid, 0) != 0 && errno == ESRCH;
  errno = saved;
  return gone;
}

// Finds this thread's tally of t: its own (or one left by an exited thread
// whose id it now has), a free one, or one whose owner has exited. NULL when
// all are held by live threads (the figures then go straight to the sites).
XSMEM_COLD tally *tracker_tally_claim(xsmem_tracker *t) {
  uint32_t tid = thread_id();
  tally *found = NULL;
  for (int pass = 0; pass < 3 && !found; pass++) {
    for (int i = 0; i < kTallies && !found; i++) {
      tally *ty = &t->tallies[i];
      uint32_t owner = atomic_load_explicit(&ty->owner, memory_order_relaxed);
      if (pass == 0 ? owner == tid : pass == 1 ? owner == 0 : thread_gone(owner)) {
        if (pass == 0 || atomic_compare_exchange_strong(&ty->owner, &owner, tid)) found = ty;
      }
    }
  }
  xsmem_track_tally = found;
  xsmem_track_tally_owner = t->generation;
  // Once per thread and tracker: the leak scan reads its stack and TLS.
  xsmem_track_busy++;
  tracker_thread_note();
  xsmem_track_busy--;
  return found;
}

// Adds entry e's pending changes to site figures *s (a track_site_value or an
// xsmem_track_site: the same six fields), raising the peak to what it would
// have been had the changes been applied one by one.
#define SITE_ADD_ENTRY(s, e)                                            \
  do {                                                                  \
    double peak_ = (s)->live_bytes + (double)TALLY_GET((e)->live_peak); \
    if (peak_ > (s)->peak_bytes) (s)->peak_bytes = peak_;               \
    (s)->live_bytes += (double)TALLY_GET((e)->live_bytes);              \
    (s)->live_count += (double)TALLY_GET((e)->live_count);              \
    (s)->total_bytes += (double)TALLY_GET((e)->total_bytes);            \
    (s)->total_count += (double)TALLY_GET((e)->total_count);            \
    (s)->temporary += (double)TALLY_GET((e)->temporary);                \
  } while (0)

// Moves an entry's pending changes to its site and zeroes it, under the
// site's lock (so a reader holding it sees them in one place or the other).
// REQUIRES: the caller owns the entry's tally.
void tracker_tally_flush_entry(xsmem_tracker *t, tally_entry *e) {
  track_site_value *s = &t->site_arena[e->index - 1];
  xsmem_spin_lock(&s->lock);
  SITE_ADD_ENTRY(s, e);
  TALLY_SET(e->live_bytes, 0);
  TALLY_SET(e->live_count, 0);
  TALLY_SET(e->total_bytes, 0);
  TALLY_SET(e->total_count, 0);
  TALLY_SET(e->live_peak, 0);
  TALLY_SET(e->temporary, 0);
  xsmem_spin_unlock(&s->lock);
}

// Adds every tally's histogram to counts/bytes (and its allocations to *sampled).
void tracker_tally_histogram(xsmem_tracker *t, double *counts, double *bytes, uint64_t *sampled) {
  for (int i = 0; t->tallies && i < kTallies; i++) {
    tally *ty = &t->tallies[i];
    if (!atomic_load_explicit(&ty->owner, memory_order_relaxed)) continue;  // never claimed
    for (int b = 0; b < XSMEM_TRACK_HIST_BUCKETS; b++) {
      if (counts) counts[b] += (double)TALLY_GET(ty->hist_count[b]);
      if (bytes) bytes[b] += (double)TALLY_GET(ty->hist_bytes[b]);
    }
    if (sampled) *sampled += TALLY_GET(ty->sampled);
  }
}

// Adds the pending changes of every tally to the figures of site `index`
// (read from the arena into *s). REQUIRES: the site's lock held, so no
// owner moves changes into the site meanwhile; the reader counts each once.
static void tally_merge_site(xsmem_tracker *t, uint32_t index, xsmem_track_site *s) {
  for (int i = 0; t->tallies && i < kTallies; i++) {
    tally *ty = &t->tallies[i];
    if (!atomic_load_explicit(&ty->owner, memory_order_relaxed)) continue;  // never claimed
    tally_entry *e = &ty->e[index & (kTallyEntries - 1)];
    if (__atomic_load_n(&e->index, __ATOMIC_ACQUIRE) != index) continue;
    SITE_ADD_ENTRY(s, e);  // as tracker_tally_flush_entry would, the entries taken in turn
  }
}

// ---------------------------------------------------------------------------
// Top sites.

typedef struct top_ctx {
  xsmem_tracker *t;
  xsmem_track_site *out;
  size_t max, n;
  xsmem_track_order order;
} top_ctx;

static double site_key(const xsmem_track_site *s, xsmem_track_order o) {
  return o == XSMEM_BY_LIVE_BYTES ? s->live_bytes : s->total_bytes;
}

static void top_one(uint64_t key, const void *value, void *c) {
  uint64_t index = *(const uint64_t *)value;
  top_ctx *x = c;
  if (!index) return;
  track_site_value *v = &x->t->site_arena[index - 1];
  xsmem_track_site s;
  s.hash = key;
  s.depth = v->depth;
  memcpy(s.frames, v->frames, sizeof(s.frames));
  xsmem_spin_lock(&v->lock);
  s.live_bytes = v->live_bytes;
  s.live_count = v->live_count;
  s.total_bytes = v->total_bytes;
  s.total_count = v->total_count;
  s.peak_bytes = v->peak_bytes;
  s.temporary = v->temporary;
  tally_merge_site(x->t, (uint32_t)index, &s);
  xsmem_spin_unlock(&v->lock);
  if (x->order == XSMEM_BY_LIVE_BYTES ? s.live_count < 0.5 : s.total_count < 0.5) return;
  double k = site_key(&s, x->order);
  // Insertion into the sorted (largest first) array of the best max.
  size_t i = x->n < x->max ? x->n++ : x->max;
  if (i == x->max && (x->max == 0 || k <= site_key(&x->out[x->max - 1], x->order))) return;
  if (i == x->max) i = x->max - 1;
  while (i > 0 && site_key(&x->out[i - 1], x->order) < k) {
    x->out[i] = x->out[i - 1];
    i--;
  }
  x->out[i] = s;
}

bool tracker_site_figures(xsmem_tracker *t, uint32_t index, xsmem_track_site *s) {
  if (index - 1 >= t->site_slots || index > sites_used(t)) return false;
  track_site_value *v = &t->site_arena[index - 1];
  s->hash = v->hash;
  s->depth = v->depth;
  memcpy(s->frames, v->frames, sizeof(s->frames));
  xsmem_spin_lock(&v->lock);
  s->live_bytes = v->live_bytes;
  s->live_count = v->live_count;
  s->total_bytes = v->total_bytes;
  s->total_count = v->total_count;
  s->peak_bytes = v->peak_bytes;
  tally_merge_site(t, index, s);
  xsmem_spin_unlock(&v->lock);
  return true;
}

size_t xsmem_tracker_top_sites(xsmem_allocator *a, xsmem_track_order order, xsmem_track_site *out, size_t max) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  top_ctx c = {t, out, max, 0, order};
  xsmem_swiss_map_for_each(&t->sites, top_one, &c);
  return c.n;
}
