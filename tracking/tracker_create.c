// tracking/tracker_create.c: making and unmaking trackers.
//
// The options (from the environment or the caller), a tracker's creation
// over its inner allocator and its destruction, the fallback to no tracker
// when one cannot be built, and the leak reports at exit of the trackers
// made in this process.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"
#include "platform/pagemap.h"
#include "tracking/tracker_fast.h"
#include "tracking/tracker_internal.h"

static _Atomic uint64_t g_generation;
static xsmem_tracker *g_trackers[8];  // for the leak report at exit
static _Atomic int g_num_trackers;

void xsmem_tracker_options_from_env(xsmem_tracker_options *o) {
  static const char *const kModes[] = {"off", "sample", "full"};
  static const char *const kUnwind[] = {"fp", "backtrace", "dwarf"};
  memset(o, 0, sizeof(*o));
  o->mode = (xsmem_track_mode)xsmem_option_choice("XSMEM_TRACK", kModes, 3);
  o->sample_bytes = xsmem_option_bytes("XSMEM_TRACK_SAMPLE_BYTES");
  o->depth = (unsigned)xsmem_option_int("XSMEM_TRACK_DEPTH");
  o->free_sites = xsmem_option_bool("XSMEM_TRACK_FREE_SITES");
  o->unwind = (xsmem_track_unwind)xsmem_option_choice("XSMEM_TRACK_UNWIND", kUnwind, 3);
  o->quarantine_bytes = xsmem_option_bytes("XSMEM_QUARANTINE_BYTES");
  long long rate = xsmem_option_int("XSMEM_GUARD_SAMPLE_RATE");
  o->guard_sample_rate = rate > 0 ? (uint64_t)rate : 0;
  o->guard_slots = (unsigned)xsmem_option_int("XSMEM_GUARD_SLOTS");
  o->leak_report_at_exit = xsmem_option_bool("XSMEM_LEAK_REPORT");
  o->leak_report_sites = (unsigned)xsmem_option_int("XSMEM_LEAK_REPORT_SITES");
  o->timeline_ms = (unsigned)xsmem_option_int("XSMEM_TRACK_TIMELINE_MS");
  o->follow_options = true;
}

// Writes what makes o unusable (xsmem_tracker_create's EINVAL), naming the
// option each field comes from.
static void options_problem(const xsmem_allocator *inner, const xsmem_tracker_options *o, char *buf, size_t cap) {
  if (!inner || !o) {
    xsmem_snprintf(buf, cap, "no %s given", inner ? "options" : "allocator");
  } else if (o->mode > XSMEM_TRACK_FULL) {
    xsmem_snprintf(buf, cap, "mode %d is not off, sample or full (XSMEM_TRACK)", (int)o->mode);
  } else if (o->mode == XSMEM_TRACK_SAMPLE && o->sample_bytes == 0) {
    xsmem_snprintf(buf, cap, "sample mode needs a mean of at least 1 byte between samples (XSMEM_TRACK_SAMPLE_BYTES)");
  } else if (o->depth == 0 || o->depth > XSMEM_TRACK_MAX_DEPTH) {
    xsmem_snprintf(buf, cap, "a depth of %u frames is outside 1..%d (XSMEM_TRACK_DEPTH)", o->depth,
                   XSMEM_TRACK_MAX_DEPTH);
  } else if (o->guard_sample_rate && o->guard_slots == 0) {
    xsmem_snprintf(buf, cap, "guarded sampling needs at least 1 slot (XSMEM_GUARD_SLOTS)");
  } else {
    xsmem_snprintf(buf, cap, "invalid options");
  }
}

xsmem_allocator *xsmem_tracker_create(xsmem_allocator *inner, const xsmem_tracker_options *o, const char *name) {
  if (!inner || !o || o->mode > XSMEM_TRACK_FULL || (o->mode == XSMEM_TRACK_SAMPLE && o->sample_bytes == 0) ||
      o->depth == 0 || o->depth > XSMEM_TRACK_MAX_DEPTH || (o->guard_sample_rate && o->guard_slots == 0)) {
    errno = EINVAL;
    return NULL;
  }
  if (o->mode == XSMEM_TRACK_OFF && !o->guard_sample_rate) return inner;
  size_t bytes = xsmem_align_up(sizeof(xsmem_tracker), xsmem_os_page_size());
  xsmem_tracker *t = xsmem_os_map(bytes, XSMEM_CACHE_LINE, 0);
  if (!t) return NULL;
  t->base.ops = &xsmem_tracker_ops;
  xsmem_snprintf(t->name, sizeof(t->name), "%s", name ? name : "tracker");
  t->base.name = t->name;
  t->inner = inner;
  t->opt = *o;
  t->generation = atomic_fetch_add(&g_generation, 1) + 1;
  t->options_generation = xsmem_options_generation();
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
  tracker_timeline_record(t, tracker_now_ns());
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

void tracker_destroy(xsmem_allocator *a) {
  xsmem_tracker *t = (xsmem_tracker *)a;
  for (int i = 0; i < (int)XSMEM_ARRAY_SIZE(g_trackers); i++) {
    if (__atomic_load_n(&g_trackers[i], __ATOMIC_ACQUIRE) == t)
      __atomic_store_n(&g_trackers[i], NULL, __ATOMIC_RELEASE);
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
    xsmem_os_unmap(t->guard.meta,
                   xsmem_align_up(t->guard.slots * (sizeof(guard_slot) + sizeof(unsigned)), xsmem_os_page_size()));
  }
  xsmem_os_unmap(t, t->mapped);
}

xsmem_allocator *xsmem_tracker_over(xsmem_allocator *inner, const xsmem_tracker_options *o, const char *name) {
  if (!inner) return NULL;
  errno = 0;
  xsmem_allocator *a = xsmem_tracker_create(inner, o, name);
  if (a) return a;
  int err = errno;
  char why[160];
  if (err == EINVAL) options_problem(inner, o, why, sizeof(why));
  else xsmem_snprintf(why, sizeof(why), "no room for its tables: out of memory or address space");
  xsmem_log("tracker over '%s' could not be built (%s); tracking is off", inner->name, why);
  return inner;
}

// Runs last among destructors: the program's own cleanup has freed what it frees.
// Full mode first checks every live block's canaries and the quarantine's
// poison, so an overflow or a write after free is reported even when the
// program exits before freeing the block (as any error: XSMEM_ON_ERROR).
// A tracker that follows the options reads XSMEM_LEAK_REPORT and
// XSMEM_LEAK_REPORT_SITES again when xsmem_option_set changed an option since
// it was built (its report then goes to stderr as it is at exit, when no copy
// was made at creation).
__attribute__((destructor(101))) static void tracker_at_exit(void) {
  for (int i = 0; i < (int)XSMEM_ARRAY_SIZE(g_trackers); i++) {
    xsmem_tracker *t = __atomic_load_n(&g_trackers[i], __ATOMIC_ACQUIRE);
    if (!t) continue;
    if (t->opt.mode == XSMEM_TRACK_FULL) xsmem_tracker_check(&t->base);
    bool report = t->opt.leak_report_at_exit;
    unsigned sites = t->opt.leak_report_sites;
    if (t->opt.follow_options && xsmem_options_generation() != t->options_generation) {
      report = xsmem_option_bool("XSMEM_LEAK_REPORT");
      sites = (unsigned)xsmem_option_int("XSMEM_LEAK_REPORT_SITES");
    }
    if (report) xsmem_tracker_leak_report(&t->base, t->report_fd >= 0 ? t->report_fd : 2, XSMEM_REPORT_TEXT, sites);
  }
}
