// export/tracker_provider.c: the tracker's analyses in every snapshot.
//
// Linked next to a tracked configuration (//export:tracker_provider, which
// libxsmem_*_tracked_export.so include), a constructor installs an analysis
// provider that reads the first tracker among the observed allocators (the
// process allocator first): the size histogram (power-of-two buckets by
// requested size), the timeline, and the top call sites by live bytes with
// the innermost frame outside the allocator symbolized. Sample-mode figures
// are the tracker's unbiased estimates, rounded. The leaks section is the
// tracker's leak report as data (xsmem_tracker_leaks): one Leak per call site
// of unfreed blocks (address 0, size = their bytes, count = blocks), largest
// first, XSMEM_LEAK_SUPPRESS honoured, frames from the program's first one.
// Symbolizing (dladdr) on the exporter's thread is safe: the tracker does it
// under its re-entry flag, so what dladdr allocates is neither tracked nor
// recursed into, and no allocator lock is held meanwhile; `xsmem run`
// re-symbolizes the frames from the saved maps (tools/symbolize.c).
#include <dlfcn.h>
#include <stdatomic.h>
#include <string.h>

#include "export/provider.h"
#include "export/snapshot.h"
#include "platform/atomics.h"
#include "platform/log.h"
#include "tracking/tracker.h"

static xsmem_allocator *find_tracker(void) {
  xsmem_observed obs[XSMEM_EXPORT_MAX_ALLOCATORS + 1];
  size_t n = xsmem_export_observed(obs, XSMEM_EXPORT_MAX_ALLOCATORS + 1);
  xsmem_allocator *first = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!xsmem_is_tracker(obs[i].allocator)) continue;
    if (obs[i].process) return obs[i].allocator;
    if (!first) first = obs[i].allocator;
  }
  return first;
}

static uint64_t round_u64(double v) { return v > 0 ? (uint64_t)(v + 0.5) : 0; }

static void histogram(void *ctx, xsmem_analysis_sink *sink) {
  xsmem_allocator *t = find_tracker();
  if (!t) return;
  static double counts[XSMEM_TRACK_HIST_BUCKETS], bytes[XSMEM_TRACK_HIST_BUCKETS];  // under lock
  static double live_counts[XSMEM_TRACK_HIST_BUCKETS], live_bytes[XSMEM_TRACK_HIST_BUCKETS];
  static xsmem_spinlock lock;
  xsmem_spin_lock(&lock);
  xsmem_tracker_histogram(t, counts, bytes);
  xsmem_tracker_live_histogram(t, live_counts, live_bytes);
  for (int k = 0; k < XSMEM_TRACK_HIST_BUCKETS; k++) {
    if (round_u64(counts[k]) == 0 && round_u64(live_counts[k]) == 0) continue;
    xsmem_hist_bucket b = {k ? 1ull << k : 0,   k + 1 < 64 ? 1ull << (k + 1) : 0, round_u64(counts[k]),
                           round_u64(bytes[k]), round_u64(live_counts[k]),        round_u64(live_bytes[k])};
    sink->bucket(sink, &b);
  }
  xsmem_spin_unlock(&lock);
}

static void timeline(void *ctx, xsmem_analysis_sink *sink) {
  xsmem_allocator *t = find_tracker();
  if (!t) return;
  static xsmem_track_point pts[1024];  // static: too big for every thread's stack
  static xsmem_spinlock lock;
  xsmem_spin_lock(&lock);
  size_t n = xsmem_tracker_timeline(t, pts, 1024);
  for (size_t i = 0; i < n; i++) {
    xsmem_timeline_point p = {pts[i].time_ns, pts[i].bytes_in_use, 0, pts[i].allocs, pts[i].frees, 0};
    sink->point(sink, &p);
  }
  xsmem_spin_unlock(&lock);
}

// Returns the file name of the module holding xsmem (the preload library or
// the program), "" if unknown. Unnamed frames there belong to the allocator.
static const char *own_module(void) {
  static char name[256];
  static _Atomic int done;
  if (!atomic_load(&done)) {
    Dl_info info;
    const char *m = "";
    if (dladdr((void *)&own_module, &info) && info.dli_fname) {
      m = strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 : info.dli_fname;
    }
    xsmem_snprintf(name, sizeof(name), "%s+0x", m);
    atomic_store(&done, 1);
  }
  return name;
}

// Returns true for a symbol of the allocation path every stack shares.
static bool allocator_symbol(const char *s) {
  const char *own = own_module();
  if (own[3] && strncmp(s, own, strlen(own)) == 0) return true;  // unnamed frame in xsmem's module
  static const char *const prefixes[] = {"malloc",        "calloc",   "realloc",  "free",   "posix_memalign",
                                         "aligned_alloc", "memalign", "valloc",   "xsmem_", "_Zn",
                                         "operator new",  "tracker_", "os_alloc", "?"};
  for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
    if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) return true;
  }
  return false;
}

// Names of call sites by hash (a hash stands for one stack): symbolizing a
// site costs tens of microseconds, and every snapshot names the same ones.
typedef struct site_name {
  uint64_t hash;  // 0: empty
  char sym[256];
} site_name;

static void call_sites(void *ctx, size_t max, xsmem_analysis_sink *sink) {
  xsmem_allocator *t = find_tracker();
  if (!t) return;
  static xsmem_track_site sites[XSMEM_EXPORT_TOP_CALL_SITES];
  static site_name names[256];  // under lock
  static xsmem_spinlock lock;
  if (max > XSMEM_EXPORT_TOP_CALL_SITES) max = XSMEM_EXPORT_TOP_CALL_SITES;
  xsmem_spin_lock(&lock);
  size_t n = xsmem_tracker_top_sites(t, XSMEM_BY_LIVE_BYTES, sites, max);
  for (size_t i = 0; i < n; i++) {
    uint64_t frames[XSMEM_TRACK_MAX_DEPTH];
    unsigned depth = sites[i].depth < XSMEM_TRACK_MAX_DEPTH ? sites[i].depth : XSMEM_TRACK_MAX_DEPTH;
    for (unsigned f = 0; f < depth; f++) frames[f] = sites[i].frames[f];
    site_name *nm = &names[sites[i].hash % XSMEM_ARRAY_SIZE(names)];
    if (nm->hash != sites[i].hash) {
      char sym[256] = "?", first[256] = "?";
      bool found = false;
      for (unsigned f = 0; f < depth && !found; f++) {
        xsmem_tracker_symbolize(sites[i].frames[f], sym, sizeof(sym));
        if (f == 0) memcpy(first, sym, sizeof(first));
        if (!allocator_symbol(sym)) found = true;
      }
      memcpy(nm->sym, found ? sym : first, sizeof(nm->sym));
      nm->hash = sites[i].hash;
    }
    xsmem_call_site c = {frames,
                         depth,
                         nm->sym,
                         round_u64(sites[i].total_count),
                         round_u64(sites[i].total_bytes),
                         round_u64(sites[i].live_count),
                         round_u64(sites[i].live_bytes)};
    sink->call_site(sink, &c);
  }
  xsmem_spin_unlock(&lock);
}

// The snapshot's name of a leak kind (xsmem_stats.proto, Leak.kind).
static const char *leak_kind(xsmem_leak_kind k) {
  return k == XSMEM_LEAK_DEFINITE ? "definite"
      : k == XSMEM_LEAK_INDIRECT  ? "indirect"
      : k == XSMEM_LEAK_REACHABLE ? "reachable"
                                  : "";
}

static void leaks(void *ctx, size_t max, xsmem_analysis_sink *sink) {
  xsmem_allocator *t = find_tracker();
  if (!t) return;
  static xsmem_track_leak out[XSMEM_EXPORT_MAX_LEAKS];  // static: ~90 KiB
  static xsmem_spinlock lock;
  if (max > XSMEM_EXPORT_MAX_LEAKS) max = XSMEM_EXPORT_MAX_LEAKS;
  xsmem_spin_lock(&lock);
  size_t n = xsmem_tracker_leaks(t, out, max, NULL);
  for (size_t i = 0; i < n; i++) {
    uint64_t frames[XSMEM_TRACK_MAX_DEPTH];
    for (unsigned f = 0; f < out[i].depth; f++) frames[f] = out[i].frames[f];
    xsmem_leak l = {0,
                    round_u64(out[i].bytes),
                    frames,
                    out[i].depth,
                    out[i].symbol[0] ? out[i].symbol : "?",
                    round_u64(out[i].count),
                    leak_kind(out[i].kind)};
    if (l.count == 0) continue;  // a sample-mode estimate below half a block
    sink->leak(sink, &l);
  }
  xsmem_spin_unlock(&lock);
}

static const xsmem_analysis_provider kTrackerProvider = {"tracker", NULL, histogram, timeline, call_sites, leaks};

// Installed at load time; a provider installed later (by a test, say) wins.
__attribute__((constructor)) static void install(void) {
  if (!xsmem_export_provider()) xsmem_export_set_provider(&kTrackerProvider);
}
