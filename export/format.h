// export/format.h: text renderings of a Snapshot.
//
// Every writer appends to an xsmem_buf (os_vm memory, never malloc) and takes
// the allocator statistics from XSMEM_STAT_FIELDS, so a new stat field appears
// in JSON and Prometheus output with no change here.
//
// JSON: one object; allocators' detail values nested as
//   "detail": {"<group>": {"<label>": {"<key>": value}}}.
// Prometheus text exposition format 0.0.4: every family has HELP and TYPE;
// counters end in _total; labels allocator and config on every allocator
// series; detail groups become xsmem_<group>_<key>{allocator=..., <group>=label}
// (tier, class, node, bin, ...); the size histogram becomes the histogram
// xsmem_alloc_size_bytes; alerts xsmem_alert_active / xsmem_alerts_raised_total.
// CSV: the timeline, one header line then one row per point.
#ifndef XSMEM_EXPORT_FORMAT_H_
#define XSMEM_EXPORT_FORMAT_H_

#include "export/buf.h"
#include "export/xsmem_stats.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

void xsmem_json_snapshot(const Xsmem__Snapshot *s, xsmem_buf *out);
// The allocators as a JSON array of {name, kind, config, process_allocator, stats}.
void xsmem_json_allocators(const Xsmem__Snapshot *s, xsmem_buf *out);
// One allocator with its detail values.
void xsmem_json_allocator(const Xsmem__Allocator *a, xsmem_buf *out);
// Appends s as a JSON string literal (quotes and escapes included).
void xsmem_json_string(xsmem_buf *out, const char *s);

void xsmem_prometheus(const Xsmem__Snapshot *s, xsmem_buf *out);
// Appends s escaped for a Prometheus label value (\\, \", \n).
void xsmem_prometheus_label(xsmem_buf *out, const char *s);

void xsmem_csv_timeline(const Xsmem__Snapshot *s, xsmem_buf *out);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_FORMAT_H_
