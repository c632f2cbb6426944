// export/format.h: text renderings of a Snapshot.
//
// Every writer appends to an xsmem_buf (os_vm memory, never malloc) and takes
// the allocator statistics from XSMEM_STAT_FIELDS, so a new stat field appears
// in JSON and Prometheus output with no change here.
//
// Strings come from a snapshot, so they are any bytes: every writer escapes
// them by its format's rules, and replaces invalid UTF-8 (JSON with \ufffd,
// Prometheus with U+FFFD; both formats are UTF-8 text). Terminal text has its
// own escaping (xsmem_term_string).
// JSON: one object; allocators' detail values nested as
//   "detail": {"<group>": {"<label>": {"<key>": value}}}.
// Prometheus text exposition format 0.0.4, named by Prometheus' naming guide
// (docs/OBSERVING.md has the names and the table of the old ones): every
// family has HELP and TYPE; units last in base units (xsmem_in_use_bytes),
// counters end in _total (xsmem_allocations_total), ratios in _ratio; labels
// allocator and config on every allocator series; detail groups become
// xsmem_<group>_<key>{allocator=..., <group>=label} (tier, class, node, bin,
// ...); the tracker's size buckets become one histogram per allocator,
// xsmem_request_size_bytes; alerts xsmem_alert_active /
// xsmem_alerts_raised_total. Nothing whose labels change from scrape to scrape
// is written (timeline points, chunk addresses, call-site ranks or addresses):
// those stay in JSON and protobuf. Call sites are written, by symbol, only when
// asked for (XSMEM_METRICS_CALL_SITES).
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

// The Prometheus text, with the top XSMEM_METRICS_CALL_SITES call sites.
void xsmem_prometheus(const Xsmem__Snapshot *s, xsmem_buf *out);
// The same with the top call_sites call sites (0: none; at most
// XSMEM_EXPORT_TOP_CALL_SITES, what a snapshot holds).
void xsmem_prometheus_ex(const Xsmem__Snapshot *s, size_t call_sites, xsmem_buf *out);
// Appends s escaped for a Prometheus label value (\\, \", \n; invalid UTF-8
// as U+FFFD).
void xsmem_prometheus_label(xsmem_buf *out, const char *s);

void xsmem_csv_timeline(const Xsmem__Snapshot *s, xsmem_buf *out);

// Returns the length (1-4) of the valid UTF-8 sequence starting at p (a
// NUL-terminated string), or 0 when p starts an invalid one: a stray
// continuation byte, an overlong form, a surrogate, beyond U+10FFFF, cut short.
size_t xsmem_utf8_len(const char *p);

// Appends s[0..n) (stopping at a NUL) made safe to print on a terminal: a
// snapshot's strings (program name, command line, symbols) are any bytes, and
// an escape sequence in them would drive the terminal. Printable ASCII and
// valid UTF-8 pass; backslash becomes \\, newline, return and tab \n \r \t,
// other control bytes and invalid UTF-8 bytes \xNN, and C1 controls and the
// bidirectional overrides (which reorder what is shown) \uNNNN.
void xsmem_term_string(xsmem_buf *out, const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_FORMAT_H_
