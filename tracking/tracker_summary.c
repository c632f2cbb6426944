// tracking/tracker_summary.c: the tracker's figures (report.c renders them).
//
// The size histogram (the stripes' counters, plus every tally's share in
// full mode), the usage timeline, the tracker's own memory, and the summary
// that adds them up with the live records.
#include <string.h>

#include "platform/os_vm.h"
#include "tracking/tracker_internal.h"

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
void tracker_timeline_record(xsmem_tracker *t, uint64_t now) {
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

void xsmem_tracker_tick(xsmem_allocator *a) { tracker_timeline_record((xsmem_tracker *)a, tracker_now_ns()); }

// ---------------------------------------------------------------------------
// The tracker's own memory.

static uint64_t site_arena_bytes(xsmem_tracker *t) {
  return xsmem_align_up(sites_used(t) * sizeof(track_site_value), xsmem_os_page_size());
}

static uint64_t tally_bytes(const xsmem_tracker *t) { return t->tallies ? kTallies * sizeof(tally) : 0; }

// The tracker's own memory (records, live set, sites, history, tallies),
// quarantine rings aside.
uint64_t tracker_metadata_bytes(xsmem_tracker *t) {
  xsmem_swiss_stats rs, ss;
  xsmem_swiss_map_stats(&t->records, &rs);
  xsmem_swiss_map_stats(&t->sites, &ss);
  return t->mapped + rs.bytes + live_set_bytes(&t->live) + ss.bytes + kHistorySlots * sizeof(history_entry) +
      site_arena_bytes(t) + tally_bytes(t);
}

// ---------------------------------------------------------------------------
// Summary, histogram (report.c renders them).

typedef struct sum_ctx {
  const xsmem_tracker *t;
  double live_bytes, live_count;
  double *hist_count, *hist_bytes;  // per size bucket, when asked
} sum_ctx;

static void sum_add(sum_ctx *x, uint64_t size, double w) {
  x->live_bytes += w * (double)size;
  x->live_count += w;
  if (!x->hist_count) return;
  unsigned b = hist_bucket(size);
  x->hist_count[b] += w;
  x->hist_bytes[b] += w * (double)size;
}

static void sum_record(uint64_t key, const void *value, void *c) {
  const track_record *r = value;
  sum_ctx *x = c;
  if (r->flags & REC_INTERNAL) return;
  sum_add(x, r->requested, sample_weight(x->t, r->requested));
}

// A walk's visit, as check_one.
static void sum_block(uintptr_t key, void *c) {
  const block_header *h = header_of((const void *)key);
  sum_ctx *x = c;
  if (h->site_index == kSiteInternal) return;
  sum_add(x, h->requested, 1.0);
}

void xsmem_tracker_summary(xsmem_allocator *a, xsmem_track_summary *out) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  memset(out, 0, sizeof(*out));
  out->mode = t->opt.mode;
  sum_ctx c = {t, 0, 0, NULL, NULL};
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

void xsmem_tracker_live_histogram(xsmem_allocator *a, double counts[XSMEM_TRACK_HIST_BUCKETS],
                                  double bytes[XSMEM_TRACK_HIST_BUCKETS]) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  for (int b = 0; b < XSMEM_TRACK_HIST_BUCKETS; b++) counts[b] = bytes[b] = 0;
  sum_ctx c = {t, 0, 0, counts, bytes};
  xsmem_swiss_map_for_each(&t->records, sum_record, &c);
  live_set_for_each(&t->live, sum_block, &c);
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
