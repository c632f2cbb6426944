// export/provider.h: how an analysis (the tracker) feeds snapshots.
//
// The exporter reads allocator statistics itself; the analyses that need a
// decorator seeing every call - size histogram, usage timeline, call sites,
// leaks - come from one *analysis provider*, registered at run time by the
// component that computes them (tracking/ registers when its tracker is
// built). Without a provider a snapshot is still complete and valid: those
// sections are empty. The timeline is the exporter's own sampler's
// (monitor.h: regular, with bytes reserved) whenever it has two points or
// more, the provider's otherwise.
//
// The provider's functions are called from an observer thread (HTTP server,
// snapshot writer, exit handler) and emit records through the sink, which
// copies them into exporter-owned memory; they must not call malloc or take
// a lock that malloc may hold while emitting. Any of them may be NULL.
// xsmem_export_observer_thread() tells a tracker that the current allocation
// comes from the exporter's own threads (libmicrohttpd allocates), so it can
// leave it out of its analyses.
#ifndef XSMEM_EXPORT_PROVIDER_H_
#define XSMEM_EXPORT_PROVIDER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_hist_bucket {
  uint64_t lower, upper;  // sizes in [lower, upper); upper 0 = unbounded
  uint64_t count, bytes, live_count, live_bytes;
} xsmem_hist_bucket;

typedef struct xsmem_timeline_point {
  uint64_t time_ns;  // CLOCK_MONOTONIC
  uint64_t bytes_in_use, bytes_reserved, num_allocs, num_frees;
  uint64_t bytes_committed;  // 0: not known
} xsmem_timeline_point;

typedef struct xsmem_call_site {
  const uint64_t *frames;  // innermost first
  size_t num_frames;
  const char *symbol;  // may be NULL
  uint64_t count, bytes, live_count, live_bytes;
} xsmem_call_site;

// One leaked block, or a call site's group of them (address 0, count blocks
// of size bytes in all).
typedef struct xsmem_leak {
  uint64_t address, size;
  const uint64_t *frames;
  size_t num_frames;
  const char *symbol;  // may be NULL
  uint64_t count;      // blocks; 0 means 1
  const char *kind;    // "definite", "indirect", "reachable"; NULL or "": unclassified
} xsmem_leak;

typedef struct xsmem_analysis_sink xsmem_analysis_sink;
struct xsmem_analysis_sink {
  void (*bucket)(xsmem_analysis_sink *s, const xsmem_hist_bucket *b);
  void (*point)(xsmem_analysis_sink *s, const xsmem_timeline_point *p);
  void (*call_site)(xsmem_analysis_sink *s, const xsmem_call_site *c);
  void (*leak)(xsmem_analysis_sink *s, const xsmem_leak *l);
};

typedef struct xsmem_analysis_provider {
  const char *name;  // e.g. "tracker"
  void *ctx;
  void (*histogram)(void *ctx, xsmem_analysis_sink *sink);
  void (*timeline)(void *ctx, xsmem_analysis_sink *sink);
  // Emits at most `max` call sites, largest live bytes first.
  void (*call_sites)(void *ctx, size_t max, xsmem_analysis_sink *sink);
  // Emits at most `max` leak records (blocks or call-site groups, largest
  // first) of what is unfreed now (at exit: leaked).
  void (*leaks)(void *ctx, size_t max, xsmem_analysis_sink *sink);
} xsmem_analysis_provider;

// Installs p (NULL removes). p must stay valid until replaced. Thread-safe.
void xsmem_export_set_provider(const xsmem_analysis_provider *p);

// Returns the installed provider or NULL.
const xsmem_analysis_provider *xsmem_export_provider(void);

// Returns true on a thread owned by the exporter (or while it collects).
bool xsmem_export_observer_thread(void);

// Marks the current thread as an observer (the exporter's threads do this).
void xsmem_export_set_observer_thread(bool on);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_PROVIDER_H_
