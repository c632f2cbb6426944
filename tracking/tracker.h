// tracking/tracker.h: a decorator that watches every call to an allocator.
//
// xsmem_tracker_create(inner, options) returns an xsmem_allocator that serves
// each request from `inner` and records what happened. Modes:
//   off     nothing is recorded (create returns `inner` itself unless guarded
//           sampling is on, so the decorator costs nothing)
//   sample  on average one allocation per `sample_bytes` bytes is recorded
//           (geometric sampling, as TCMalloc does: an allocation of s bytes is
//           sampled with probability p = 1 - exp(-s / sample_bytes) and
//           stands for 1/p allocations and s/p bytes, so every total derived
//           from samples is an unbiased estimate). Through a shim header
//           (tracker_fast.h) an unsampled malloc costs one subtraction from a
//           thread-local countdown; an unsampled free costs nothing when the
//           sampled blocks are placed apart (options.sample_home, so a tag
//           the shim reads anyway tells them) and one load of a counting
//           filter otherwise.
//   full    every allocation is recorded, fenced by 16-byte canaries before
//           and after, and on free poisoned (its first 128 bytes) and held in
//           a bounded quarantine.
//
// A sampled block's record (requested and granted size, alignment, thread,
// timestamp, allocation id, call site) lives in a sharded SwissTable keyed by
// the user pointer (platform/swiss_map). A full-mode block's record
// (requested size, thread and allocation id, timestamp, call site) lives in
// a header in front of the block, and its pointer in a set of live blocks
// (tracking/live_set.h) that is asked before any of a freed pointer's
// memory is read. A call site is a short stack of return
// addresses captured from .eh_frame rule tables (frame pointers or glibc's
// backtrace() on request, see XSMEM_TRACK_UNWIND), hashed; sites are aggregated (live bytes and count,
// total bytes and count, peak live bytes) in an arena of site entries found
// by a second table (site hash -> entry) behind a per-thread cache; a record
// keeps its site's entry index, so a free updates the site without a lookup.
// Full mode batches those updates (and the size histogram) per thread and
// flushes every thread's batch before figures are read, so they stay exact.
// Symbols are resolved only when a report is written (dladdr: function+offset,
// module).
//
// Memory: every table, ring and quarantine index comes from os_vm, never from
// `inner` or malloc, so the tracker can sit under the malloc shim. Code that
// might allocate (backtrace, dladdr, pthread_getattr_np) runs with a
// thread-local re-entry flag set; allocations made meanwhile are served and
// recorded without a call site and never reported as leaks.
//
// Errors (all with the call site of the allocation and of the bad operation,
// the latter captured when the error is found; the first free's site too
// when options.free_sites is set,
// then xsmem_report_bad_pointer: abort, or continue under XSMEM_ON_ERROR=warn):
//   double free, free of a pointer the tracker never returned (full mode and
//   guarded blocks), damaged canary before/after a block (underflow/overflow),
//   write after free (poison damaged when the block leaves quarantine).
// Guarded sampling (GWP-ASan's design, any mode): about one allocation in
// `guard_sample_rate` (of at most a page; chosen by a second clock on the
// sampler's byte countdown, except in full mode and at a rate of 1, which
// count allocations) is placed in its own page between
// inaccessible guard pages, right- or left-aligned; after free the page is
// made inaccessible, so overflows, underflows and uses after free fault at the
// offending instruction and the SIGSEGV handler reports both call sites.
//
// Thread-safety: every function may be called from any thread.
#ifndef XSMEM_TRACKING_TRACKER_H_
#define XSMEM_TRACKING_TRACKER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSMEM_TRACK_MAX_DEPTH 64

// Every option the tracker reads, for a tracked configuration's registry entry
// (`xsmem list`): "BASE_OPTIONS " XSMEM_TRACKER_OPTIONS.
#define XSMEM_TRACKER_OPTIONS                                                                          \
  "XSMEM_TRACK XSMEM_TRACK_SAMPLE_BYTES XSMEM_TRACK_DEPTH XSMEM_TRACK_UNWIND XSMEM_TRACK_TIMELINE_MS " \
  "XSMEM_TRACK_FREE_SITES XSMEM_LEAK_REPORT XSMEM_LEAK_REPORT_SITES XSMEM_LEAK_SUPPRESS "              \
  "XSMEM_LEAK_SHOW_REACHABLE "                                                                         \
  "XSMEM_QUARANTINE_BYTES XSMEM_GUARD_SAMPLE_RATE XSMEM_GUARD_SLOTS"
#define XSMEM_TRACK_HIST_BUCKETS 48  // power-of-two size buckets: [2^k, 2^(k+1))

typedef enum xsmem_track_mode {
  XSMEM_TRACK_OFF = 0,
  XSMEM_TRACK_SAMPLE = 1,
  XSMEM_TRACK_FULL = 2,
} xsmem_track_mode;

typedef enum xsmem_track_unwind {
  XSMEM_UNWIND_FP = 0,         // walk saved frame pointers (16-28 ns for 8 frames; needs -fno-omit-frame-pointer)
  XSMEM_UNWIND_BACKTRACE = 1,  // glibc backtrace() via DWARF unwind tables (exact, 1.6-1.9 us)
  XSMEM_UNWIND_DWARF = 2,      // per-module rule tables built from .eh_frame (tracking/unwind.h)
} xsmem_track_unwind;

// XSMEM_TRACK_SAMPLE_BYTES's default, TCMalloc's: at allocation rates of
// 1 GB/s (larson) a sample per 512 KiB (jemalloc's lg_prof_sample 19) cost
// 1.5% of instructions beyond tracking off (about 3% of CPU on one core), a
// sample per 2 MiB 0.6%; the estimates' error doubles (a site's figures rest
// on a quarter as many samples).
#define XSMEM_TRACK_DEFAULT_SAMPLE_BYTES ((size_t)2 << 20)

typedef struct xsmem_tracker_options {
  xsmem_track_mode mode;
  size_t sample_bytes;      // mean bytes between samples (sample mode), > 0
  size_t quarantine_bytes;  // freed bytes held poisoned (full mode); 0: none
  unsigned depth;           // frames kept per call site, 1..XSMEM_TRACK_MAX_DEPTH
  xsmem_track_unwind unwind;
  uint64_t guard_sample_rate;  // one allocation in N is guarded; 0: never
  unsigned guard_slots;        // guarded blocks live or in their after-free window
  bool leak_report_at_exit;    // print the leak report to stderr at exit
  unsigned leak_report_sites;  // call sites shown per report
  unsigned timeline_ms;        // first interval between timeline points (doubles when the timeline fills)
  // Where sampled blocks of up to sample_home_max bytes are placed (sample
  // mode; NULL: inner). It must be a part of inner that inner's free,
  // usable_size and realloc recognise (a tier of the default allocator;
  // system_tracked's tiers beside glibc, allocators/configs/system_tracked.c).
  // Keeping sampled blocks out of the memory a malloc shim frees inline lets
  // that free skip the tracker (default_tracked_shim.h). A block the home
  // refuses comes from inner and goes unsampled.
  xsmem_allocator *sample_home;
  size_t sample_home_max;
  bool free_sites;  // full mode: capture each free's call site too (named in reports)
  // Follow the LIVE options (XSMEM_LEAK_REPORT, XSMEM_LEAK_REPORT_SITES): at
  // exit the tracker reads them again when xsmem_option_set changed one
  // (xsmem_tracker_options_from_env sets it).
  bool follow_options;
} xsmem_tracker_options;

// Fills *o from the XSMEM_TRACK* / XSMEM_LEAK_* / XSMEM_QUARANTINE_BYTES /
// XSMEM_GUARD_* options (platform/options_list.h).
void xsmem_tracker_options_from_env(xsmem_tracker_options *o);

// Returns a tracker over inner (memory from os_vm, no malloc), or inner itself
// when o->mode is off and guarded sampling is off; NULL with errno = ENOMEM or
// EINVAL (bad options). name is the decorated allocator's name ("system_tracked").
xsmem_allocator *xsmem_tracker_create(xsmem_allocator *inner, const xsmem_tracker_options *o, const char *name);

// Returns a tracker over inner built with *o (for configuration files, which
// build once): a tracker that cannot be built (bad options, no room for its
// tables) is said once and leaves inner untracked, which is returned instead.
// NULL only when inner is NULL.
xsmem_allocator *xsmem_tracker_over(xsmem_allocator *inner, const xsmem_tracker_options *o, const char *name);

// Returns a as a tracker's allocator, or NULL when a is not a tracker.
bool xsmem_is_tracker(const xsmem_allocator *a);

// The mode of tracker a; XSMEM_TRACK_OFF when a is not a tracker.
xsmem_track_mode xsmem_tracker_mode(const xsmem_allocator *a);

// ---------------------------------------------------------------------------
// Analyses (the exporter's and the reports' API). `t` must be a tracker.

typedef struct xsmem_track_site {
  uint64_t hash;
  unsigned depth;
  uintptr_t frames[XSMEM_TRACK_MAX_DEPTH];  // return addresses, innermost first
  double live_bytes, live_count;            // estimates in sample mode, exact in full mode
  double total_bytes, total_count;
  double peak_bytes;  // highest live_bytes seen
  // Blocks freed before their thread allocated again (heaptrack's temporary
  // allocations; full mode only, 0 in sample mode).
  double temporary;
} xsmem_track_site;

typedef enum xsmem_track_order {
  XSMEM_BY_LIVE_BYTES = 0,
  XSMEM_BY_TOTAL_BYTES = 1,
} xsmem_track_order;

// Copies the top `max` call sites (by live or total bytes, largest first;
// sites with nothing live are skipped for XSMEM_BY_LIVE_BYTES) into out.
// Returns how many were written.
size_t xsmem_tracker_top_sites(xsmem_allocator *t, xsmem_track_order order, xsmem_track_site *out, size_t max);

typedef struct xsmem_track_summary {
  xsmem_track_mode mode;
  uint64_t records;                 // live records in the map
  uint64_t sites;                   // call sites known
  double live_bytes, live_count;    // by the records (estimated in sample mode)
  double total_bytes, total_count;  // allocations seen (estimated in sample mode)
  uint64_t sampled;                 // allocations recorded (sample mode) / all (full mode)
  uint64_t quarantine_bytes;        // freed bytes held
  uint64_t guarded_allocs;          // guarded blocks handed out
  uint64_t errors;                  // bad frees and corruptions reported
  uint64_t metadata_bytes;          // os_vm bytes of the tracker's own tables
  double alloc_rate;                // allocations per second over the timeline window
} xsmem_track_summary;

void xsmem_tracker_summary(xsmem_allocator *t, xsmem_track_summary *out);

// Size histogram by requested size: bucket k counts sizes in [2^k, 2^(k+1))
// (bucket 0 also holds size 0). Estimates in sample mode.
void xsmem_tracker_histogram(xsmem_allocator *t, double counts[XSMEM_TRACK_HIST_BUCKETS],
                             double bytes[XSMEM_TRACK_HIST_BUCKETS]);
// The same buckets for the blocks live now (a walk of the live records:
// estimates in sample mode, exact in full mode).
void xsmem_tracker_live_histogram(xsmem_allocator *t, double counts[XSMEM_TRACK_HIST_BUCKETS],
                                  double bytes[XSMEM_TRACK_HIST_BUCKETS]);

typedef struct xsmem_track_point {
  uint64_t time_ns;       // CLOCK_MONOTONIC
  uint64_t bytes_in_use;  // the wrapped allocator's bytes_in_use
  uint64_t allocs;        // its num_allocs (cumulative)
  uint64_t frees;         // its num_frees (cumulative)
} xsmem_track_point;

// Copies up to max timeline points (the newest ones), oldest first. Returns
// how many. The timeline holds at most 512 points: when they fill up, every
// other one is dropped and the interval doubles, so the first point (the
// tracker's creation) stays and a long run is covered end to end.
size_t xsmem_tracker_timeline(xsmem_allocator *t, xsmem_track_point *out, size_t max);

// Records a timeline point now (points are otherwise taken every timeline_ms
// on the recording path).
void xsmem_tracker_tick(xsmem_allocator *t);

// Checks the canaries of every live block and the poison of every quarantined
// one; reports each damaged block. Returns how many were damaged.
size_t xsmem_tracker_check(xsmem_allocator *t);

enum { XSMEM_REPORT_TEXT = 0, XSMEM_REPORT_JSON = 1 };

// What an unfreed block is, by the pointers to it (full mode scans for them
// at each report; tracking/leak_scan.c): no pointer to it from the roots
// (modules' writable data, thread stacks and registers, TLS) nor from
// another live block: definitely lost; pointed to only from lost blocks
// (the nodes after a lost list's head): indirectly lost; reached from a root
// (a global, a local of a live frame): still reachable. Sample mode does
// not scan (it sees a fraction of the blocks): its figures are unclassified.
typedef enum xsmem_leak_kind {
  XSMEM_LEAK_UNCLASSIFIED = 0,
  XSMEM_LEAK_DEFINITE = 1,
  XSMEM_LEAK_INDIRECT = 2,
  XSMEM_LEAK_REACHABLE = 3,
} xsmem_leak_kind;

// "definitely lost", "indirectly lost", "still reachable", "unfreed".
const char *xsmem_leak_kind_name(xsmem_leak_kind k);

// Writes the leak report to fd, never allocating through the tracker:
// unfreed allocations grouped by call site and kind (definitely lost first,
// then indirectly lost, largest first within each), frames symbolized, and
// the still-reachable blocks as one line of totals (by call site too with
// XSMEM_LEAK_SHOW_REACHABLE=1). Returns the number of groups reported.
size_t xsmem_tracker_leak_report(xsmem_allocator *t, int fd, int format, size_t max_sites);

// One call site of unfreed allocations: a group of the leak report.
typedef struct xsmem_track_leak {
  double bytes, count;  // unfreed at this site (estimates in sample mode)
  uint64_t site;        // call-site hash
  unsigned depth;       // frames used
  // Return addresses, innermost first, from the first frame outside the
  // allocation entry points (malloc, the shim, the tracker): what the report prints.
  uintptr_t frames[XSMEM_TRACK_MAX_DEPTH];
  char symbol[192];      // frames[0] symbolized ("function+0xoff (module)"); "" when depth is 0
  xsmem_leak_kind kind;  // the group's blocks' kind (unclassified in sample mode)
} xsmem_track_leak;

typedef struct xsmem_track_leak_totals {
  double bytes, count;      // over every reported group, also those past `max`
  size_t sites;             // groups reported (a call site with lost blocks of both kinds is two)
  double suppressed_bytes;  // left out by XSMEM_LEAK_SUPPRESS
  size_t suppressed_sites;
  // By kind, suppressed groups aside (full mode; zero in sample mode).
  double definite_bytes, definite_count;
  double indirect_bytes, indirect_count;
  double reachable_bytes, reachable_count;
  size_t reachable_sites;
  bool classified;  // the blocks were scanned (full mode)
} xsmem_track_leak_totals;

// The leak report as data: fills out with up to max groups of unfreed
// allocations (a call site and a kind), definitely lost first, then
// indirectly lost, then still reachable when XSMEM_LEAK_SHOW_REACHABLE is set,
// largest bytes first within a kind, leaving out those XSMEM_LEAK_SUPPRESS
// matches: exactly the groups xsmem_tracker_leak_report prints (it considers
// the 256 largest). In full mode each call scans the roots and the live
// blocks (leak_scan.c: about the time to read the program's data, stacks
// and live heap once). Allocates nothing; symbolizes each site's first
// frame with dladdr under the re-entry flag (for the suppressions; cached by
// site, so a site costs ~25 us once), so call it from a thread that may take
// the loader's lock (not a signal handler).
// totals may be NULL. Returns how many were written.
size_t xsmem_tracker_leaks(xsmem_allocator *t, xsmem_track_leak *out, size_t max, xsmem_track_leak_totals *totals);

// Writes "function+0xoff (module)" for a code address into buf. Returns buf.
const char *xsmem_tracker_symbolize(uintptr_t pc, char *buf, size_t cap);

// Returns the call stack of the caller (innermost first) the way the tracker
// captures it. For tests and measurements.
unsigned xsmem_tracker_capture(uintptr_t *frames, unsigned max, xsmem_track_unwind how);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_TRACKING_TRACKER_H_
