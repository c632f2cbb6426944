// export/monitor.h: the sampler (usage timeline) and health alerts.
//
// xsmem_monitor_sample() is called periodically by the exporter's background
// thread (every 250 ms while XSMEM_HTTP, XSMEM_SNAPSHOT_INTERVAL_MS or an
// alert is set). Each call records one timeline point for the process
// allocator in a ring of XSMEM_MONITOR_POINTS (the dashboard's usage chart
// when no tracker provides a timeline) and evaluates the alerts for every
// observed allocator:
//   bytes_in_use   > XSMEM_ALERT_BYTES_IN_USE
//   fragmentation  > XSMEM_ALERT_FRAGMENTATION (a fraction)
//   alloc_rate     > XSMEM_ALERT_ALLOC_RATE (allocations per second between samples)
//   pool_hit_rate  < XSMEM_ALERT_POOL_HIT_RATE (hits / (hits + misses), summed
//                    over the allocator's detail values keyed "hits" and "misses")
// An alert going from clear to active increments its counter, logs one line
// with a recommendation where one is clear, and shows on the dashboard; going
// back logs once more. Unset thresholds (0 or "") disable an alert.
// Thread-safety: sample() and the readers may race; a spinlock orders them.
#ifndef XSMEM_EXPORT_MONITOR_H_
#define XSMEM_EXPORT_MONITOR_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { XSMEM_MONITOR_POINTS = 1200, XSMEM_MONITOR_MAX_ALERTS = 256 };

typedef enum {
  XSMEM_ALERT_BYTES_IN_USE = 0,
  XSMEM_ALERT_FRAGMENTATION = 1,
  XSMEM_ALERT_ALLOC_RATE = 2,
  XSMEM_ALERT_POOL_HIT_RATE = 3,
  XSMEM_ALERT_KINDS = 4,
} xsmem_alert_kind;

typedef struct xsmem_alert_state {
  xsmem_alert_kind kind;
  const char *name;       // "bytes_in_use", ...
  const char *allocator;  // allocator instance name
  double value, threshold;
  bool active;
  uint64_t raised_count;
  const char *recommendation;  // "" when none is clear
} xsmem_alert_state;

typedef struct xsmem_alert_thresholds {
  double value[XSMEM_ALERT_KINDS];  // 0 (or negative): disabled
} xsmem_alert_thresholds;

// Returns the thresholds from the XSMEM_ALERT_* options.
xsmem_alert_thresholds xsmem_monitor_thresholds_from_options(void);

// Replaces the thresholds (tests; the runtime uses the options).
void xsmem_monitor_set_thresholds(const xsmem_alert_thresholds *t);

// Returns true when any threshold is set.
bool xsmem_monitor_alerts_enabled(void);

// Takes one sample at monotonic time now_ns (0: read the clock).
void xsmem_monitor_sample(uint64_t now_ns);

// Emits the recorded timeline, oldest first.
void xsmem_monitor_timeline(xsmem_analysis_sink *sink);

// Copies up to max alert states (every allocator x enabled alert seen so far).
size_t xsmem_monitor_alerts(xsmem_alert_state *out, size_t max);

// Returns the recommendation for an alert on an allocator of this kind.
const char *xsmem_monitor_recommendation(xsmem_alert_kind kind, const char *allocator_kind);

// Forgets every point and alert (tests).
void xsmem_monitor_reset(void);

// Parses a decimal number ("0.5", "12", "1e3"); false when malformed.
bool xsmem_parse_double(const char *s, double *out);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_MONITOR_H_
