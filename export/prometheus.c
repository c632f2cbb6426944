// export/prometheus.c: Prometheus text exposition format 0.0.4 (see format.h).
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "allocators/allocator.h"
#include "export/format.h"
#include "export/snapshot.h"
#include "platform/log.h"

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

// Appends s reduced to [a-zA-Z0-9_] (a metric or label name component).
static void name_part(xsmem_buf *out, const char *s) {
  for (const char *p = s; *p; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    xsmem_buf_append(out, ok ? &c : "_", 1);
  }
}

// Writes xsmem_<group>_<key> with both parts reduced to [a-zA-Z0-9_] (cut at cap).
static void metric_name(char *out, size_t cap, const char *group, const char *key) {
  size_t n = 0;
  const char *parts[4] = {"xsmem_", group, "_", key};
  for (int i = 0; i < 4; i++) {
    for (const char *p = parts[i]; *p && n + 1 < cap; p++) {
      char c = *p;
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      out[n++] = ok ? c : '_';
    }
  }
  out[n] = '\0';
}

static void family(xsmem_buf *out, const char *name, const char *suffix, const char *type, const char *help) {
  xsmem_buf_printf(out, "# HELP %s%s ", name, suffix);
  escaped(out, help, false);  // HELP text escapes only backslash and newline
  xsmem_buf_printf(out, "\n# TYPE %s%s %s\n", name, suffix, type);
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
#define XSMEM_STAT_PROM(type, name, kind, help)                                   \
  if (xsmem_snapshot_stat_present(#name)) {                                       \
    bool counter = strcmp(#kind, "counter") == 0;                                 \
    const char *suffix = counter ? "_total" : "";                                 \
    family(out, "xsmem_" #name, suffix, #kind, help);                             \
    for (size_t i = 0; i < s->n_allocators; i++) {                                \
      if (!xsmem_snapshot_stat_get(s->allocators[i]->stats, #name, &v)) continue; \
      xsmem_buf_printf(out, "xsmem_%s%s{", #name, suffix);                        \
      allocator_labels(out, s->allocators[i]);                                    \
      xsmem_buf_puts(out, "}");                                                   \
      value(out, v);                                                              \
    }                                                                             \
  }
  XSMEM_STAT_FIELDS(XSMEM_STAT_PROM)
#undef XSMEM_STAT_PROM
}

// Returns true when (group, key) appeared earlier in the snapshot (allocator i, value j).
static bool seen_before(const Xsmem__Snapshot *s, size_t i, size_t j) {
  const Xsmem__DetailValue *d = s->allocators[i]->detail[j];
  for (size_t a = 0; a <= i; a++) {
    size_t end = a == i ? j : s->allocators[a]->n_detail;
    for (size_t b = 0; b < end; b++) {
      const Xsmem__DetailValue *e = s->allocators[a]->detail[b];
      if (strcmp(e->group, d->group) == 0 && strcmp(e->key, d->key) == 0) return true;
    }
  }
  return false;
}

// The label name for a detail group: sanitized, and never one of ours.
static void group_label(xsmem_buf *out, const char *group) {
  if (strcmp(group, "allocator") == 0 || strcmp(group, "config") == 0 || group[0] == '_' ||
      (group[0] >= '0' && group[0] <= '9') || !group[0])
    xsmem_buf_puts(out, "group_");
  name_part(out, group);
}

// One family per distinct (group, key) across all allocators; samples of a
// family must be contiguous, so each family gathers its values from everyone.
static void detail_families(const Xsmem__Snapshot *s, xsmem_buf *out) {
  for (size_t i = 0; i < s->n_allocators; i++) {
    for (size_t j = 0; j < s->allocators[i]->n_detail; j++) {
      const Xsmem__DetailValue *d = s->allocators[i]->detail[j];
      // The chunk map (label = chunk address) would be a new series per chunk
      // at every scrape: it stays in snapshots and JSON, not in /metrics.
      if (strcmp(d->group, "chunk") == 0 || seen_before(s, i, j)) continue;
      char name_data[256];
      metric_name(name_data, sizeof(name_data), d->group, d->key);
      struct {
        const char *data;
      } name = {name_data};
      const char *suffix = d->counter ? "_total" : "";
      char help[256];
      xsmem_snprintf(help, sizeof(help), "%s per %s, from the allocator's detail report", d->key, d->group);
      family(out, name.data, suffix, d->counter ? "counter" : "gauge", help);
      for (size_t a = i; a < s->n_allocators; a++) {
        const Xsmem__Allocator *al = s->allocators[a];
        for (size_t b = 0; b < al->n_detail; b++) {
          const Xsmem__DetailValue *e = al->detail[b];
          if (strcmp(e->group, d->group) != 0 || strcmp(e->key, d->key) != 0) continue;
          xsmem_buf_printf(out, "%s%s{", name.data, suffix);
          allocator_labels(out, al);
          xsmem_buf_puts(out, ",");
          group_label(out, d->group);
          xsmem_buf_puts(out, "=\"");
          xsmem_prometheus_label(out, e->label);
          xsmem_buf_puts(out, "\"}");
          value(out, e->value);
        }
      }
    }
  }
}

static void histogram_family(const Xsmem__Snapshot *s, xsmem_buf *out) {
  if (!s->n_histogram) return;
  family(out, "xsmem_alloc_size_bytes", "", "histogram", "Requested allocation sizes (from the analysis provider)");
  uint64_t cum = 0, sum = 0;
  for (size_t i = 0; i < s->n_histogram; i++) {
    const Xsmem__HistogramBucket *b = s->histogram[i];
    cum += b->count;
    sum += b->bytes;
    if (b->upper == 0) continue;  // the unbounded bucket is +Inf below
    xsmem_buf_printf(out, "xsmem_alloc_size_bytes_bucket{le=\"%llu\"} %llu\n", (unsigned long long)(b->upper - 1),
                     (unsigned long long)cum);
  }
  xsmem_buf_printf(out, "xsmem_alloc_size_bytes_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
  xsmem_buf_printf(out, "xsmem_alloc_size_bytes_sum %llu\n", (unsigned long long)sum);
  xsmem_buf_printf(out, "xsmem_alloc_size_bytes_count %llu\n", (unsigned long long)cum);
}

static void call_site_families(const Xsmem__Snapshot *s, xsmem_buf *out) {
  if (!s->n_call_sites) return;
  static const char *const keys[] = {"live_bytes", "live_count"};
  for (int k = 0; k < 2; k++) {
    char name[64], help[128];
    xsmem_snprintf(name, sizeof(name), "xsmem_call_site_%s", keys[k]);
    xsmem_snprintf(help, sizeof(help), "%s of the top call sites (rank 1 = most live bytes)", keys[k]);
    family(out, name, "", "gauge", help);
    for (size_t i = 0; i < s->n_call_sites; i++) {
      const Xsmem__CallSite *c = s->call_sites[i];
      xsmem_buf_printf(out, "%s{rank=\"%zu\",site=\"", name, i + 1);
      xsmem_prometheus_label(out, c->symbol[0] ? c->symbol : "?");
      if (c->n_frames) xsmem_buf_printf(out, "@0x%llx", (unsigned long long)c->frames[0]);
      xsmem_buf_puts(out, "\"}");
      value(out, (double)(k == 0 ? c->live_bytes : c->live_count));
    }
  }
}

static void alert_families(const Xsmem__Snapshot *s, xsmem_buf *out) {
  if (!s->n_alerts) return;
  family(out, "xsmem_alert_active", "", "gauge", "1 while the alert's threshold is crossed");
  for (size_t i = 0; i < s->n_alerts; i++) {
    xsmem_buf_puts(out, "xsmem_alert_active{alert=\"");
    xsmem_prometheus_label(out, s->alerts[i]->name);
    xsmem_buf_puts(out, "\",allocator=\"");
    xsmem_prometheus_label(out, s->alerts[i]->allocator);
    xsmem_buf_puts(out, "\"}");
    value(out, s->alerts[i]->active ? 1 : 0);
  }
  family(out, "xsmem_alerts_raised", "_total", "counter", "Times the alert went from clear to active");
  for (size_t i = 0; i < s->n_alerts; i++) {
    xsmem_buf_puts(out, "xsmem_alerts_raised_total{alert=\"");
    xsmem_prometheus_label(out, s->alerts[i]->name);
    xsmem_buf_puts(out, "\",allocator=\"");
    xsmem_prometheus_label(out, s->alerts[i]->allocator);
    xsmem_buf_puts(out, "\"}");
    value(out, (double)s->alerts[i]->raised_count);
  }
}

void xsmem_prometheus(const Xsmem__Snapshot *s, xsmem_buf *out) {
  stat_families(s, out);
  detail_families(s, out);
  if (s->os) {
    family(out, "xsmem_os_bytes_reserved", "", "gauge", "Address space held by os_vm");
    xsmem_buf_printf(out, "xsmem_os_bytes_reserved %llu\n", (unsigned long long)s->os->bytes_reserved);
    family(out, "xsmem_os_bytes_committed", "", "gauge", "Bytes of os_vm mappings that are accessible");
    xsmem_buf_printf(out, "xsmem_os_bytes_committed %llu\n", (unsigned long long)s->os->bytes_committed);
    family(out, "xsmem_os_maps", "_total", "counter", "Mappings made by os_vm");
    xsmem_buf_printf(out, "xsmem_os_maps_total %llu\n", (unsigned long long)s->os->num_maps);
    family(out, "xsmem_os_unmaps", "_total", "counter", "Mappings released by os_vm");
    xsmem_buf_printf(out, "xsmem_os_unmaps_total %llu\n", (unsigned long long)s->os->num_unmaps);
  }
  histogram_family(s, out);
  call_site_families(s, out);
  if (s->analysis_source[0]) {
    family(out, "xsmem_leaks", "", "gauge", "Live blocks reported as leaked by the analysis provider");
    uint64_t bytes = 0, blocks = 0;
    for (size_t i = 0; i < s->n_leaks; i++) {
      bytes += s->leaks[i]->size;
      blocks += s->leaks[i]->count ? s->leaks[i]->count : 1;  // a call site's group, or one block
    }
    xsmem_buf_printf(out, "xsmem_leaks %llu\n", (unsigned long long)blocks);
    family(out, "xsmem_leaked_bytes", "", "gauge", "Bytes of the blocks reported as leaked");
    xsmem_buf_printf(out, "xsmem_leaked_bytes %llu\n", (unsigned long long)bytes);
  }
  alert_families(s, out);
}

// ---------------------------------------------------------------------------
// CSV.

void xsmem_csv_timeline(const Xsmem__Snapshot *s, xsmem_buf *out) {
  xsmem_buf_puts(out, "time_ns,bytes_in_use,bytes_reserved,num_allocs,num_frees\n");
  for (size_t i = 0; i < s->n_timeline; i++) {
    const Xsmem__TimelinePoint *p = s->timeline[i];
    xsmem_buf_printf(out, "%llu,%llu,%llu,%llu,%llu\n", (unsigned long long)p->time_ns,
                     (unsigned long long)p->bytes_in_use, (unsigned long long)p->bytes_reserved,
                     (unsigned long long)p->num_allocs, (unsigned long long)p->num_frees);
  }
}
