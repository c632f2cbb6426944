// export/prometheus.c: Prometheus text exposition format 0.0.4 (see format.h).
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/allocator.h"
#include "export/format.h"
#include "export/snapshot.h"
#include "platform/log.h"
#include "platform/options.h"

// Appends s as UTF-8 text with backslash and newline escaped, and the double
// quote too when quote is set (label values; HELP text keeps it). An invalid
// UTF-8 byte becomes U+FFFD: the exposition format is UTF-8.
static void escaped(xsmem_buf *out, const char *s, bool quote) {
  for (const char *p = s ? s : ""; *p;) {
    if (*p == '\\') xsmem_buf_puts(out, "\\\\");
    else if (*p == '"' && quote) xsmem_buf_puts(out, "\\\"");
    else if (*p == '\n') xsmem_buf_puts(out, "\\n");
    else if ((unsigned char)*p < 0x80) xsmem_buf_append(out, p, 1);
    else {
      size_t n = xsmem_utf8_len(p);
      if (n) xsmem_buf_append(out, p, n);
      else xsmem_buf_puts(out, "\xef\xbf\xbd");
      p += n ? n : 1;
      continue;
    }
    p++;
  }
}

void xsmem_prometheus_label(xsmem_buf *out, const char *s) { escaped(out, s, true); }

// The exposition format spells the non-finite values NaN, +Inf and -Inf.
static void value(xsmem_buf *out, double v) {
  xsmem_buf_puts(out, " ");
  if (isinf(v)) xsmem_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
  else xsmem_buf_number(out, v, "NaN", "+Inf");
  xsmem_buf_puts(out, "\n");
}

// ---------------------------------------------------------------------------
// Names. Prometheus' naming guide: the unit last and in base units
// (xsmem_in_use_bytes), counters end in _total and ratios in _ratio, no type
// name (histogram, summary) and no histogram suffix (_count, _sum, _bucket)
// outside a histogram, no rate computed in advance (rate() over the counter
// does it, over the window the query asks for), and labels whose values stay
// the same from scrape to scrape. The snapshot keeps its own names (the stat
// fields and detail keys, in JSON and protobuf); they are mapped here, and
// docs/OBSERVING.md has the table of old and new names.

enum {
  NAME_CAP = 128,
  // Histogram buckets written: le = 2^(k+1) - 1 for k < this (the last is
  // 1 TiB - 1), then +Inf. Larger requests only fail.
  HIST_BOUNDS = 40,
};

// How a detail group appears in /metrics. Groups not listed: xsmem_<group>_<key>{<group>="label"}.
typedef struct group_rule {
  const char *group;
  const char *prefix;  // the name is xsmem_<prefix>_<key>; NULL: the group stays out of /metrics
  const char *label;   // the label's name; NULL: no label (the group has one label value)
  const char *unit;    // appended to a gauge's name that has no unit
} group_rule;

static const group_rule kGroupRules[] = {
    {"chunk", NULL, NULL, NULL},                 // one label per chunk address: new series at every scrape
    {"timeline", NULL, NULL, NULL},              // one label per point in time: JSON and protobuf only
    {"size_histogram", NULL, NULL, NULL},        // the histogram xsmem_request_size_bytes instead
    {"callsite", NULL, NULL, NULL},              // xsmem_call_site_*, on request (XSMEM_METRICS_CALL_SITES)
    {"chunk_summary", "chunk_map", NULL, NULL},  // "summary" is a type's name; its one label is "map"
    {"bfc", "bfc", NULL, NULL},                  // labels "regions" and "free", with keys of their own
    {"pool", "pool", NULL, NULL},                // one label, "cache"
    {"tracker", "tracker", "mode", NULL},        // the label is the tracking mode
    {"fragmentation", "inner", "inner", NULL},   // the label names the tracker's inner allocator
    {"peer", "peer", "peer", "_bytes"},          // the peers' gauges are byte counts
};

// Keys renamed in every group (group NULL) or in one; `to` NULL: left out.
typedef struct key_rule {
  const char *group, *key, *to;
} key_rule;

static const key_rule kKeyRules[] = {
    {NULL, "num_allocs", "allocations"},
    {NULL, "allocs", "allocations"},
    {NULL, "num_frees", "frees"},
    {NULL, "num_failed", "allocation_failures"},
    {NULL, "largest_alloc_size", "largest_allocation_bytes"},
    {NULL, "fragmentation", "fragmentation_ratio"},
    // A rate over the tracker's own window: rate(xsmem_tracker_allocations_total[1m]) instead.
    {"tracker", "alloc_rate", NULL},
    {"tracker", "total_bytes", "allocated_bytes"},
    {"tracker", "total_blocks", "allocations"},
    {"tracker", "guarded_allocs", "guarded_allocations"},
    // hits / (hits + misses) since the start: the two counters' rates say it for any window.
    {"pool", "hit_rate", NULL},
    {"bfc", "count", "regions"},  // _count is a histogram's suffix
    {"bfc", "next_size", "next_region_bytes"},
    {"fragmentation", "internal", "fragmentation_ratio"},
    {"fragmentation", "reserved_unused", "reserved_unused_ratio"},
};

static bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Appends s reduced to [a-zA-Z0-9_] (a metric or label name component).
static void name_part(xsmem_buf *out, const char *s) {
  for (const char *p = s; *p; p++) {
    char c = name_char(*p) ? *p : '_';
    xsmem_buf_append(out, &c, 1);
  }
}

// Appends s to out[*n..cap) reduced to [a-zA-Z0-9_] (cut at cap).
static void add(char *out, size_t *n, size_t cap, const char *s) {
  for (const char *p = s; *p && *n + 1 < cap; p++) out[(*n)++] = name_char(*p) ? *p : '_';
  out[*n] = '\0';
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

// Moves the word "bytes" to the end of a key: bytes_in_use -> in_use_bytes,
// small_bytes_in_use -> small_in_use_bytes (the unit last).
static void unit_last(char *key, size_t cap) {
  size_t n = strlen(key);
  for (char *p = key; (p = strstr(p, "bytes")) != NULL; p++) {
    bool starts = p == key || p[-1] == '_', ends = p[5] == '\0';
    if (!starts || (!ends && p[5] != '_')) continue;
    if (ends) return;                      // already last
    memmove(p, p + 6, strlen(p + 6) + 1);  // drop "bytes_"
    n -= 6;
    if (n + 7 < cap) memcpy(key + n, "_bytes", 7);
    return;
  }
}

static const group_rule *group_rule_of(const char *group) {
  for (size_t i = 0; group && i < sizeof(kGroupRules) / sizeof(kGroupRules[0]); i++) {
    if (strcmp(kGroupRules[i].group, group) == 0) return &kGroupRules[i];
  }
  return NULL;
}

// Writes the metric name of a figure (group NULL: a stat field of the
// allocator) into out[0..cap); returns false when it stays out of /metrics.
static bool figure_name(const char *group, const char *key, bool counter, char *out, size_t cap) {
  const group_rule *g = group_rule_of(group);
  if (g && !g->prefix) return false;
  const char *to = key;
  const key_rule *match = NULL;
  for (size_t i = 0; i < sizeof(kKeyRules) / sizeof(kKeyRules[0]); i++) {
    const key_rule *r = &kKeyRules[i];
    if (strcmp(r->key, key) != 0) continue;
    if (r->group && group && strcmp(r->group, group) == 0) {
      match = r;
      break;  // a group's own rule wins
    }
    if (!r->group && !match) match = r;
  }
  if (match) {
    if (!match->to) return false;
    to = match->to;
  }
  char k[NAME_CAP];
  size_t kn = 0;
  add(k, &kn, sizeof(k), to);
  unit_last(k, sizeof(k));
  size_t n = 0;
  add(out, &n, cap, "xsmem_");
  if (group) {
    add(out, &n, cap, g ? g->prefix : group);
    add(out, &n, cap, "_");
  }
  add(out, &n, cap, k);
  if (g && g->unit && !counter && !ends_with(out, g->unit) && !ends_with(out, "_ratio")) add(out, &n, cap, g->unit);
  if (counter) add(out, &n, cap, "_total");
  return true;
}

static void family(xsmem_buf *out, const char *name, const char *type, const char *help) {
  xsmem_buf_printf(out, "# HELP %s ", name);
  escaped(out, help, false);  // HELP text escapes only backslash and newline
  xsmem_buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void allocator_labels(xsmem_buf *out, const Xsmem__Allocator *a) {
  xsmem_buf_puts(out, "allocator=\"");
  xsmem_prometheus_label(out, a->name);
  xsmem_buf_puts(out, "\",config=\"");
  xsmem_prometheus_label(out, a->config);
  xsmem_buf_puts(out, "\"");
}

static void stat_families(const Xsmem__Snapshot *s, xsmem_buf *out) {
  double v;
  char name[NAME_CAP];
#define XSMEM_STAT_PROM(type, field, kind, help)                                   \
  if (xsmem_snapshot_stat_present(#field)) {                                       \
    bool counter = strcmp(#kind, "counter") == 0;                                  \
    figure_name(NULL, #field, counter, name, sizeof(name));                        \
    family(out, name, #kind, help);                                                \
    for (size_t i = 0; i < s->n_allocators; i++) {                                 \
      if (!xsmem_snapshot_stat_get(s->allocators[i]->stats, #field, &v)) continue; \
      xsmem_buf_printf(out, "%s{", name);                                          \
      allocator_labels(out, s->allocators[i]);                                     \
      xsmem_buf_puts(out, "}");                                                    \
      value(out, v);                                                               \
    }                                                                              \
  }
  XSMEM_STAT_FIELDS(XSMEM_STAT_PROM)
#undef XSMEM_STAT_PROM
}

// Where each allocator's memory lives, as labels of an info metric (join on
// allocator to break any figure down by memory type or device).
static void memory_family(const Xsmem__Snapshot *s, xsmem_buf *out) {
  if (!s->n_allocators) return;
  family(out, "xsmem_allocator_memory_info", "gauge",
         "Where an allocator's memory lives: memory_type (host_pageable, host_pinned, device, managed) and device "
         "(-1: host memory); always 1");
  for (size_t i = 0; i < s->n_allocators; i++) {
    const Xsmem__Allocator *a = s->allocators[i];
    xsmem_buf_puts(out, "xsmem_allocator_memory_info{");
    allocator_labels(out, a);
    xsmem_buf_puts(out, ",memory_type=\"");
    xsmem_prometheus_label(out, a->memory_type[0] ? a->memory_type : "host_pageable");
    xsmem_buf_printf(out, "\",device=\"%d\"}", a->memory_type[0] ? (int)a->device : -1);
    value(out, 1);
  }
}

// The label name for a detail group: sanitized, and never one of ours or one
// the format reserves.
static void group_label(xsmem_buf *out, const char *group) {
  if (strcmp(group, "allocator") == 0 || strcmp(group, "config") == 0 || strcmp(group, "le") == 0 ||
      strcmp(group, "quantile") == 0 || group[0] == '_' || (group[0] >= '0' && group[0] <= '9') || !group[0])
    xsmem_buf_puts(out, "group_");
  name_part(out, group);
}

// A detail figure bound for /metrics, with its name.
typedef struct figure {
  char name[NAME_CAP];
  uint32_t allocator, index;  // s->allocators[allocator]->detail[index]
} figure;

static int figure_cmp(const figure *a, const figure *b) {
  int c = strcmp(a->name, b->name);
  if (c) return c;
  if (a->allocator != b->allocator) return a->allocator < b->allocator ? -1 : 1;
  return a->index < b->index ? -1 : a->index > b->index;
}

// One family per metric name across all allocators (a family's samples must
// be contiguous, and two keys may map to one name): the figures are named,
// then sorted by name (a shell sort over indices: qsort may call malloc).
static void detail_families(const Xsmem__Snapshot *s, xsmem_buf *out) {
  xsmem_buf figs = XSMEM_BUF_INIT, order = XSMEM_BUF_INIT;
  size_t n = 0;
  for (size_t i = 0; i < s->n_allocators; i++) {
    for (size_t j = 0; j < s->allocators[i]->n_detail; j++) {
      const Xsmem__DetailValue *d = s->allocators[i]->detail[j];
      figure f;
      if (!figure_name(d->group, d->key, d->counter, f.name, sizeof(f.name))) continue;
      f.allocator = (uint32_t)i;
      f.index = (uint32_t)j;
      xsmem_buf_append(&figs, &f, sizeof(f));
      uint32_t k = (uint32_t)n++;
      xsmem_buf_append(&order, &k, sizeof(k));
    }
  }
  if (figs.failed || order.failed) {
    out->failed = true;  // the caller reports the failure
    n = 0;
  }
  const figure *f = (const figure *)figs.data;
  uint32_t *o = (uint32_t *)order.data;
  for (size_t gap = n / 2; gap > 0; gap /= 2) {
    for (size_t i = gap; i < n; i++) {
      uint32_t t = o[i];
      size_t j = i;
      for (; j >= gap && figure_cmp(&f[o[j - gap]], &f[t]) > 0; j -= gap) o[j] = o[j - gap];
      o[j] = t;
    }
  }
  const figure *first = NULL;
  for (size_t i = 0; i < n; i++) {
    const figure *e = &f[o[i]];
    const Xsmem__Allocator *al = s->allocators[e->allocator];
    const Xsmem__DetailValue *d = al->detail[e->index];
    if (!first || strcmp(first->name, e->name) != 0) {
      first = e;
      const Xsmem__DetailValue *fd = s->allocators[e->allocator]->detail[e->index];
      char help[256];
      xsmem_snprintf(help, sizeof(help), "%s per %s, from the allocator's detail report", fd->key, fd->group);
      family(out, e->name, fd->counter ? "counter" : "gauge", help);
    }
    // A family has one type; a figure of the other kind under the same name is left out.
    if (d->counter != s->allocators[first->allocator]->detail[first->index]->counter) continue;
    const group_rule *g = group_rule_of(d->group);
    xsmem_buf_printf(out, "%s{", e->name);
    allocator_labels(out, al);
    if (!g || g->label) {
      xsmem_buf_puts(out, ",");
      if (g) xsmem_buf_puts(out, g->label);
      else group_label(out, d->group);
      xsmem_buf_puts(out, "=\"");
      xsmem_prometheus_label(out, d->label);
      xsmem_buf_puts(out, "\"");
    }
    xsmem_buf_puts(out, "}");
    value(out, d->value);
  }
  xsmem_buf_free(&figs);
  xsmem_buf_free(&order);
}

static uint64_t round_u64(double v) { return v > 0 ? (uint64_t)(v + 0.5) : 0; }

// Returns true when allocator a tracks requests (its detail report has the
// tracker's size histogram, or the tracker group in a mode other than off).
static bool has_histogram(const Xsmem__Allocator *a) {
  for (size_t j = 0; j < a->n_detail; j++) {
    const Xsmem__DetailValue *d = a->detail[j];
    if (strcmp(d->group, "size_histogram") == 0) return true;
    if (strcmp(d->group, "tracker") == 0 && strcmp(d->label, "off") != 0) return true;
  }
  return false;
}

// xsmem_request_size_bytes: the tracker's power-of-two buckets of requested
// sizes (detail group size_histogram: label 2^k, 0 for k = 0, holding sizes in
// [2^k, 2^(k+1)); keys count and bytes) as one histogram per allocator. Every
// bucket is written, empty or not, so that the series stay the same from one
// scrape to the next. Sizes are integers, so le = 2^(k+1) - 1 is the bucket's
// exact upper bound (le = 2^(k+1) would leave out the requests of exactly
// 2^(k+1) bytes, the commonest ones, which fall in the next bucket). Sample
// mode's estimates are rounded, as in the snapshot's histogram.
static void histogram_families(const Xsmem__Snapshot *s, xsmem_buf *out) {
  bool any = false;
  for (size_t i = 0; i < s->n_allocators && !any; i++) any = has_histogram(s->allocators[i]);
  if (!any) return;
  family(out, "xsmem_request_size_bytes", "histogram", "Sizes of the requests the tracker saw, in bytes");
  for (size_t i = 0; i < s->n_allocators; i++) {
    const Xsmem__Allocator *a = s->allocators[i];
    if (!has_histogram(a)) continue;
    uint64_t counts[HIST_BOUNDS + 1] = {0}, count = 0, sum = 0;
    for (size_t j = 0; j < a->n_detail; j++) {
      const Xsmem__DetailValue *d = a->detail[j];
      if (strcmp(d->group, "size_histogram") != 0) continue;
      unsigned long long lower = strtoull(d->label, NULL, 10);
      int k = 0;
      while (k < 63 && (lower >> (k + 1)) != 0) k++;
      if (k > HIST_BOUNDS) k = HIST_BOUNDS;  // counted in +Inf only
      if (strcmp(d->key, "count") == 0) {
        counts[k] += round_u64(d->value);
        count += round_u64(d->value);
      } else if (strcmp(d->key, "bytes") == 0) {
        sum += round_u64(d->value);
      }
    }
    uint64_t cum = 0;
    for (int k = 0; k < HIST_BOUNDS; k++) {
      cum += counts[k];
      xsmem_buf_puts(out, "xsmem_request_size_bytes_bucket{");
      allocator_labels(out, a);
      xsmem_buf_printf(out, ",le=\"%llu\"} %llu\n", (1ull << (k + 1)) - 1, (unsigned long long)cum);
    }
    const char *parts[] = {"_bucket", "_sum", "_count"};
    uint64_t values[] = {count, sum, count};
    for (int p = 0; p < 3; p++) {
      xsmem_buf_printf(out, "xsmem_request_size_bytes%s{", parts[p]);
      allocator_labels(out, a);
      xsmem_buf_printf(out, "%s} %llu\n", p == 0 ? ",le=\"+Inf\"" : "", (unsigned long long)values[p]);
    }
  }
}

// xsmem_call_site_live_bytes and _live_blocks{site="symbol"}: the top n call
// sites of the snapshot (the tracker's, by live bytes), when asked for.
// Labelled by symbol (function+offset or module+offset, the same in every run
// of the program), never by rank or return address, which change between
// scrapes or runs; sites whose stacks end in the same symbol are summed (one
// series per label set). The top n changes as the program runs, so these
// series come and go: that is why they are off by default.
static void call_site_families(const Xsmem__Snapshot *s, size_t n, xsmem_buf *out) {
  if (!n || !s->n_call_sites) return;
  size_t picked[XSMEM_EXPORT_TOP_CALL_SITES], np = 0;
  for (size_t i = 0; i < s->n_call_sites && np < n && np < XSMEM_EXPORT_TOP_CALL_SITES; i++) {
    bool seen = false;
    for (size_t k = 0; k < np && !seen; k++)
      seen = strcmp(s->call_sites[picked[k]]->symbol, s->call_sites[i]->symbol) == 0;
    if (!seen) picked[np++] = i;
  }
  for (int m = 0; m < 2; m++) {
    const char *name = m == 0 ? "xsmem_call_site_live_bytes" : "xsmem_call_site_live_blocks";
    family(out, name, "gauge",
           m == 0 ? "Bytes live from the top call sites (XSMEM_METRICS_CALL_SITES), by symbol"
                  : "Blocks live from the top call sites (XSMEM_METRICS_CALL_SITES), by symbol");
    for (size_t k = 0; k < np; k++) {
      const char *sym = s->call_sites[picked[k]]->symbol;
      uint64_t total = 0;
      for (size_t i = 0; i < s->n_call_sites; i++) {
        const Xsmem__CallSite *c = s->call_sites[i];
        if (strcmp(c->symbol, sym) == 0) total += m == 0 ? c->live_bytes : c->live_count;
      }
      xsmem_buf_printf(out, "%s{site=\"", name);
      xsmem_prometheus_label(out, sym[0] ? sym : "?");
      xsmem_buf_printf(out, "\"} %llu\n", (unsigned long long)total);
    }
  }
}

static void alert_families(const Xsmem__Snapshot *s, xsmem_buf *out) {
  if (!s->n_alerts) return;
  family(out, "xsmem_alert_active", "gauge", "1 while the alert's threshold is crossed");
  for (size_t i = 0; i < s->n_alerts; i++) {
    xsmem_buf_puts(out, "xsmem_alert_active{alert=\"");
    xsmem_prometheus_label(out, s->alerts[i]->name);
    xsmem_buf_puts(out, "\",allocator=\"");
    xsmem_prometheus_label(out, s->alerts[i]->allocator);
    xsmem_buf_puts(out, "\"}");
    value(out, s->alerts[i]->active ? 1 : 0);
  }
  family(out, "xsmem_alerts_raised_total", "counter", "Times the alert went from clear to active");
  for (size_t i = 0; i < s->n_alerts; i++) {
    xsmem_buf_puts(out, "xsmem_alerts_raised_total{alert=\"");
    xsmem_prometheus_label(out, s->alerts[i]->name);
    xsmem_buf_puts(out, "\",allocator=\"");
    xsmem_prometheus_label(out, s->alerts[i]->allocator);
    xsmem_buf_puts(out, "\"}");
    value(out, (double)s->alerts[i]->raised_count);
  }
}

static void unlabelled(xsmem_buf *out, const char *name, const char *type, const char *help, uint64_t v) {
  family(out, name, type, help);
  xsmem_buf_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

void xsmem_prometheus_ex(const Xsmem__Snapshot *s, size_t call_sites, xsmem_buf *out) {
  stat_families(s, out);
  memory_family(s, out);
  detail_families(s, out);
  if (s->os) {
    unlabelled(out, "xsmem_os_reserved_bytes", "gauge", "Address space held by os_vm", s->os->bytes_reserved);
    unlabelled(out, "xsmem_os_committed_bytes", "gauge", "Bytes of os_vm mappings that are accessible",
               s->os->bytes_committed);
    unlabelled(out, "xsmem_os_maps_total", "counter", "Mappings made by os_vm", s->os->num_maps);
    unlabelled(out, "xsmem_os_unmaps_total", "counter", "Mappings released by os_vm", s->os->num_unmaps);
  }
  histogram_families(s, out);
  call_site_families(s, call_sites, out);
  if (s->analysis_source[0]) {
    uint64_t bytes = 0, blocks = 0;
    for (size_t i = 0; i < s->n_leaks; i++) {
      bytes += s->leaks[i]->size;
      blocks += s->leaks[i]->count ? s->leaks[i]->count : 1;  // a call site's group, or one block
    }
    unlabelled(out, "xsmem_leaked_blocks", "gauge", "Live blocks reported as leaked by the analysis provider", blocks);
    unlabelled(out, "xsmem_leaked_bytes", "gauge", "Bytes of the blocks reported as leaked", bytes);
  }
  alert_families(s, out);
}

void xsmem_prometheus(const Xsmem__Snapshot *s, xsmem_buf *out) {
  // Read once (options are); a race only reads the same value twice.
  static _Atomic long long top = -1;
  long long n = atomic_load_explicit(&top, memory_order_relaxed);
  if (n < 0) {
    n = xsmem_option_int("XSMEM_METRICS_CALL_SITES");
    if (n < 0) n = 0;
    if (n > XSMEM_EXPORT_TOP_CALL_SITES) n = XSMEM_EXPORT_TOP_CALL_SITES;
    atomic_store_explicit(&top, n, memory_order_relaxed);
  }
  xsmem_prometheus_ex(s, (size_t)n, out);
}

// ---------------------------------------------------------------------------
// CSV.

void xsmem_csv_timeline(const Xsmem__Snapshot *s, xsmem_buf *out) {
  // Appended columns only: scripts reading the first five keep working.
  xsmem_buf_puts(out, "time_ns,bytes_in_use,bytes_reserved,num_allocs,num_frees,bytes_committed\n");
  for (size_t i = 0; i < s->n_timeline; i++) {
    const Xsmem__TimelinePoint *p = s->timeline[i];
    xsmem_buf_printf(out, "%llu,%llu,%llu,%llu,%llu,%llu\n", (unsigned long long)p->time_ns,
                     (unsigned long long)p->bytes_in_use, (unsigned long long)p->bytes_reserved,
                     (unsigned long long)p->num_allocs, (unsigned long long)p->num_frees,
                     (unsigned long long)p->bytes_committed);
  }
}
