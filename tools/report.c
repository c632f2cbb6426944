// tools/report.c: one self-contained HTML page from snapshots.
//
// Everything is inline: CSS in a <style> block, charts as <svg> elements,
// no script, no font or image fetched, so the file opens offline and can be
// mailed or attached to a CI run. One column per snapshot (side by side when
// several are given, with a comparison table above them). Sections, each
// present only when the snapshot has the data:
//   allocators (stats table), usage timeline (bytes in use and committed over
//   time: the tracker's or sampler's timeline, or the points of a snapshot
//   stream), size histogram (allocations per power-of-two size, log scale),
//   fragmentation map (BFC: per bin, used and free bytes; by address when the
//   allocator reports "chunk" detail values labelled by address), per-tier and
//   per-node bars, top call sites, leaks with their stacks, alerts.
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export/format.h"
#include "tools/symbolize.h"
#include "tools/xsmem.h"

// HTML-escapes s after escaping what a terminal would also show wrongly
// (control bytes, invalid UTF-8, bidirectional overrides: xsmem_term_string).
static void esc(FILE *f, const char *in) {
  xsmem_buf b = XSMEM_BUF_INIT;
  xsmem_term_string(&b, in, (size_t)-1);
  const char *s = b.data ? b.data : "";
  for (; *s; s++) {
    switch (*s) {
      case '<': fputs("&lt;", f); break;
      case '>': fputs("&gt;", f); break;
      case '&': fputs("&amp;", f); break;
      case '"': fputs("&quot;", f); break;
      default: fputc(*s, f);
    }
  }
  xsmem_buf_free(&b);
}

static const char *B(double v) {
  // Rotating buffers: several values per printf.
  static char bufs[8][32];
  static int k;
  k = (k + 1) & 7;
  return tool_bytes(v, bufs[k], sizeof bufs[k]);
}

// "512", "4K", "2M": axis labels for power-of-two sizes.
static const char *short_size(uint64_t v) {
  static char bufs[4][24];
  static int k;
  k = (k + 1) & 3;
  static const char kUnit[] = " KMGTP";
  int u = 0;
  while (v >= 1024 && v % 1024 == 0 && u < 5) v /= 1024, u++;
  if (u) snprintf(bufs[k], sizeof bufs[k], "%" PRIu64 "%c", v, kUnit[u]);
  else snprintf(bufs[k], sizeof bufs[k], "%" PRIu64, v);
  return bufs[k];
}

static const char kStyle[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#1e293b;background:#f8fafc}"
    "h1{font-size:22px;margin:0 0 8px}h2{font-size:16px;margin:0 0 4px;word-break:break-all}"
    "h3{font-size:14px;margin:14px 0 4px;color:#334155}"
    ".cols{display:grid;gap:16px;grid-template-columns:repeat(var(--n),minmax(420px,1fr))}"
    ".snap{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px;min-width:0}"
    ".meta{color:#64748b;font-size:12px}table{border-collapse:collapse;width:100%;font-size:12px}"
    "th,td{text-align:right;padding:2px 6px;border-bottom:1px solid #f1f5f9}"
    "th:first-child,td:first-child{text-align:left}td.sym{text-align:left;font-family:monospace;word-break:break-all}"
    "tr.proc td{font-weight:600}svg{width:100%;max-width:760px;height:auto;background:#fff;display:block}"
    ".none{color:#94a3b8;font-style:italic}.alert{color:#b91c1c}"
    "details{font-family:monospace;font-size:11px;color:#475569}"
    ".legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}";

// ---------------------------------------------------------------------------
// Charts.

enum { kW = 600, kH = 200, kL = 64, kR = 12, kT = 12, kBot = 28 };

static void svg_open(FILE *f, int h, const char *label) {
  fprintf(f, "<svg viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", kW, h);
  esc(f, label);
  fputs("\" xmlns=\"http://www.w3.org/2000/svg\">", f);
}

static void axis_y(FILE *f, double max, int h) {
  for (int i = 0; i <= 4; i++) {
    double v = max * i / 4;
    double y = kT + (h - kT - kBot) * (1 - i / 4.0);
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e2e8f0\"/>", kL, kW - kR, y, y);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#64748b\">%s</text>", kL - 4,
            y + 3, B(v));
  }
}

typedef struct point {
  double t, used, committed;  // memory only: reserved address space is no memory
} point;

static size_t timeline_points(const tool_snapshot *ts, point **out) {
  const Xsmem__Snapshot *s = ts->last;
  size_t n = 0;
  point *p = NULL;
  if (s->n_timeline >= 2) {
    p = calloc(s->n_timeline, sizeof *p);
    for (size_t i = 0; i < s->n_timeline; i++) {
      const Xsmem__TimelinePoint *tp = s->timeline[i];
      p[n++] = (point){(double)(tp->time_ns - s->timeline[0]->time_ns) / 1e9, (double)tp->bytes_in_use,
                       (double)tp->bytes_committed};
    }
  } else if (ts->n_series >= 2) {
    p = calloc(ts->n_series, sizeof *p);
    for (size_t i = 0; i < ts->n_series; i++) {
      const Xsmem__Allocator *a = tool_process_allocator(ts->series[i]);
      if (!a || !a->stats) continue;
      p[n++] = (point){(double)(ts->series[i]->time_ns - ts->series[0]->time_ns) / 1e9, (double)a->stats->bytes_in_use,
                       (double)a->stats->bytes_committed};
    }
  }
  *out = p;
  return n;
}

static void chart_timeline(FILE *f, const tool_snapshot *ts) {
  point *p;
  size_t n = timeline_points(ts, &p);
  fputs("<h3>Usage timeline</h3>", f);
  if (n < 2) {
    fputs("<p class=\"none\">No timeline: the run was shorter than two sampling intervals.</p>", f);
    free(p);
    return;
  }
  double tmax = p[n - 1].t > 0 ? p[n - 1].t : 1, vmax = 1;
  for (size_t i = 0; i < n; i++) vmax = fmax(vmax, fmax(p[i].used, p[i].committed));
  svg_open(f, kH, "bytes in use and committed over time");
  axis_y(f, vmax, kH);
  const char *colors[2] = {"#94a3b8", "#2563eb"};
  bool committed = false;
  for (size_t i = 0; i < n; i++) committed |= p[i].committed > 0;
  for (int series = committed ? 0 : 1; series < 2; series++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", colors[series]);
    for (size_t i = 0; i < n; i++) {
      double v = series ? p[i].used : p[i].committed;
      fprintf(f, "%.1f,%.1f ", kL + (kW - kL - kR) * p[i].t / tmax, kT + (kH - kT - kBot) * (1 - v / vmax));
    }
    fputs("\"/>", f);
  }
  for (int i = 0; i <= 4; i++)
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"%s\" fill=\"#64748b\">%.2f s</text>",
            kL + (kW - kL - kR) * i / 4.0, kH - 10, i == 4 ? "end" : "middle", tmax * i / 4);
  fprintf(f, "</svg><div class=\"legend\"><span style=\"background:#2563eb\"></span>in use%s</div>",
          committed ? "<span style=\"background:#94a3b8\"></span>committed (in use, cached and metadata)" : "");
  free(p);
}

static void chart_histogram(FILE *f, const Xsmem__Snapshot *s) {
  fputs("<h3>Size histogram</h3>", f);
  size_t first = s->n_histogram, last = 0;
  double cmax = 1;
  for (size_t i = 0; i < s->n_histogram; i++) {
    if (!s->histogram[i]->count) continue;
    if (first == s->n_histogram) first = i;
    last = i;
    cmax = fmax(cmax, (double)s->histogram[i]->count);
  }
  if (first == s->n_histogram) {
    fputs("<p class=\"none\">No histogram (tracking off).</p>", f);
    return;
  }
  size_t nb = last - first + 1;
  double lmax = log10(cmax + 1), bw = (double)(kW - kL - kR) / (double)nb;
  svg_open(f, kH, "allocations per size class");
  for (int i = 0; i <= 4; i++) {
    double y = kT + (kH - kT - kBot) * (1 - i / 4.0);
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e2e8f0\"/>", kL, kW - kR, y, y);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#64748b\">%.0f</text>", kL - 4,
            y + 3, pow(10, lmax * i / 4) - 1);
  }
  for (size_t i = first; i <= last; i++) {
    const Xsmem__HistogramBucket *b = s->histogram[i];
    double h = (kH - kT - kBot) * log10((double)b->count + 1) / lmax;
    double x = kL + bw * (double)(i - first);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#2563eb\">", x + 1, kH - kBot - h,
            fmax(bw - 2, 1), h);
    fprintf(f, "<title>[%s, %s): %" PRIu64 " allocations, %s; live %" PRIu64 " (%s)</title></rect>",
            B((double)b->lower), b->upper ? B((double)b->upper) : "inf", b->count, B((double)b->bytes), b->live_count,
            B((double)b->live_bytes));
    if (nb <= 16 || (i - first) % 2 == 0)
      fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" fill=\"#64748b\">%s</text>",
              x + bw / 2, kH - 14, short_size(b->lower));
  }
  fputs(
      "</svg><div class=\"meta\">allocations per size range (log scale), by requested size; hover for "
      "bytes and live blocks</div>",
      f);
}

// A horizontal bar per label of `group`: keys a (blue) and b (orange),
// stacked, or with a drawn over b when a is a part of b (in use of reserved).
static bool chart_bars(FILE *f, const Xsmem__Allocator *al, const char *group, const char *ka, const char *kb,
                       const char *na, const char *nb, bool part) {
  const char *labels[128];
  size_t n = 0;
  double vmax = 0;
  for (size_t i = 0; i < al->n_detail && n < 128; i++) {
    const Xsmem__DetailValue *d = al->detail[i];
    if (strcmp(d->group, group)) continue;
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++) seen = !strcmp(labels[k], d->label);
    if (!seen) labels[n++] = d->label;
  }
  if (!n) return false;
  for (size_t k = 0; k < n; k++) {
    double a = tool_detail(al, group, labels[k], ka), b = tool_detail(al, group, labels[k], kb);
    a = isnan(a) ? 0 : a;
    b = isnan(b) ? 0 : b;
    vmax = fmax(vmax, part ? fmax(a, b) : a + b);
  }
  if (vmax <= 0) vmax = 1;
  int row = 16, h = (int)n * row + 24;
  svg_open(f, h, group);
  for (size_t k = 0; k < n; k++) {
    double a = tool_detail(al, group, labels[k], ka), b = tool_detail(al, group, labels[k], kb);
    a = isnan(a) ? 0 : a;
    b = isnan(b) ? 0 : b;
    double span = kW - 110 - kR - 110;  // room for the figures after the bar
    double y = 4 + (double)k * row, wa = span * a / vmax, wb = span * b / vmax;
    if (part) wb = fmax(wb - wa, 0);  // b's remainder after a
    fprintf(f, "<text x=\"104\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#334155\">", y + 11);
    esc(f, labels[k]);
    fputs("</text>", f);
    fprintf(f, "<rect x=\"110\" y=\"%.1f\" width=\"%.1f\" height=\"12\" fill=\"#2563eb\"><title>%s %s</title></rect>",
            y, wa, na, B(a));
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"12\" fill=\"#f59e0b\"><title>%s %s</title></rect>",
            110 + wa, y, wb, nb, B(b));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#475569\">%s / %s</text>", 110 + wa + wb + 4, y + 10,
            B(a), B(b));
  }
  fprintf(f,
          "</svg><div class=\"legend\"><span style=\"background:#2563eb\"></span>%s"
          "<span style=\"background:#f59e0b\"></span>%s</div>",
          na, nb);
  return true;
}

// Chunks by address: detail values of group "chunk", label = start address
// (hex), keys "size" and "used" (1 or 0). Returns false when there are none.
static bool chart_chunks(FILE *f, const Xsmem__Allocator *al) {
  typedef struct {
    uint64_t addr, size;
    bool used;
  } chunk;
  size_t n = 0;
  chunk *c = calloc(al->n_detail + 1, sizeof *c);
  for (size_t i = 0; i < al->n_detail; i++) {
    const Xsmem__DetailValue *d = al->detail[i];
    if (strcmp(d->group, "chunk") || strcmp(d->key, "size")) continue;
    double used = tool_detail(al, "chunk", d->label, "used");
    c[n++] = (chunk){strtoull(d->label, NULL, 16), (uint64_t)d->value, !isnan(used) && used != 0};
  }
  if (!n) {
    free(c);
    return false;
  }
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) total += c[i].size;
  // One strip per 8 rows, chunks drawn in address order with width by size.
  int rows = 8, h = rows * 18 + 8;
  double per_row = (double)total / rows, pos = 0, width = kW - 8;
  svg_open(f, h, "chunks by address");
  for (size_t i = 0; i < n; i++) {
    double start = pos, end = pos + (double)c[i].size;
    while (start < end) {
      int r = (int)(start / per_row);
      if (r >= rows) r = rows - 1;
      double row_end = (r + 1) * per_row, e = fmin(end, row_end);
      double x = 4 + width * (start - r * per_row) / per_row, w = width * (e - start) / per_row;
      fprintf(f,
              "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"16\" fill=\"%s\" stroke=\"#fff\" "
              "stroke-width=\"0.3\"><title>0x%" PRIx64 " %s %s</title></rect>",
              x, 4 + r * 18, fmax(w, 0.3), c[i].used ? "#2563eb" : "#f59e0b", c[i].addr, B((double)c[i].size),
              c[i].used ? "used" : "free");
      if (e >= end || r == rows - 1) break;
      start = e;
    }
    pos = end;
  }
  fputs(
      "</svg><div class=\"legend\"><span style=\"background:#2563eb\"></span>used chunk"
      "<span style=\"background:#f59e0b\"></span>free chunk (by address)</div>",
      f);
  free(c);
  return true;
}

static void section_fragmentation(FILE *f, const Xsmem__Snapshot *s) {
  fputs("<h3>Fragmentation map</h3>", f);
  bool any = false;
  for (size_t i = 0; i < s->n_allocators; i++) {
    const Xsmem__Allocator *a = s->allocators[i];
    bool chunks = false, bins = false;
    for (size_t k = 0; k < a->n_detail; k++) {
      chunks |= !strcmp(a->detail[k]->group, "chunk");
      bins |= !strcmp(a->detail[k]->group, "bin");
    }
    if (!chunks && !bins) continue;
    any = true;
    fprintf(f, "<div class=\"meta\">");
    esc(f, a->name);
    fprintf(f, ": fragmentation %.1f%% (cached / (in use + cached))", a->stats ? 100 * a->stats->fragmentation : 0.0);
    double largest = tool_detail(a, "bfc", "free", "largest_free_chunk_bytes"),
           free_bytes = tool_detail(a, "bfc", "free", "free_bytes");
    if (!isnan(largest) && !isnan(free_bytes) && free_bytes > 0)
      fprintf(f, "; largest free chunk %s of %s free", B(largest), B(free_bytes));
    fputs("</div>", f);
    if (!chart_chunks(f, a)) chart_bars(f, a, "bin", "used_bytes", "free_bytes", "used", "free", false);
    double all = tool_detail(a, "chunk_summary", "map", "chunks");
    double merged = tool_detail(a, "chunk_summary", "map", "merged");
    double dropped = tool_detail(a, "chunk_summary", "map", "dropped_chunks");
    if (chunks && !isnan(merged) && merged != 0)
      fprintf(f, "<div class=\"meta\">%.0f chunks: adjacent chunks in the same state drawn as one</div>", all);
    if (chunks && !isnan(dropped) && dropped > 0)
      fprintf(f, "<div class=\"meta\">map cut short: %.0f more chunks (%s) at higher addresses not shown</div>",
              dropped, B(tool_detail(a, "chunk_summary", "map", "dropped_bytes")));
  }
  if (!any) fputs("<p class=\"none\">No BFC allocator in this snapshot.</p>", f);
}

static void section_groups(FILE *f, const Xsmem__Snapshot *s, const char *group, const char *title) {
  bool header = false;
  for (size_t i = 0; i < s->n_allocators; i++) {
    const Xsmem__Allocator *a = s->allocators[i];
    bool has = false;
    for (size_t k = 0; k < a->n_detail && !has; k++) has = !strcmp(a->detail[k]->group, group);
    if (!has) continue;
    if (!header) fprintf(f, "<h3>%s</h3>", title);
    header = true;
    fputs("<div class=\"meta\">", f);
    esc(f, a->name);
    fputs("</div>", f);
    if (!strcmp(group, "node"))
      chart_bars(f, a, "node", "bytes_in_use", "bytes_reserved", "in use", "reserved (rest)", true);
    else chart_bars(f, a, group, "bytes_in_use", "bytes_cached", "in use", "cached", false);
  }
  if (!header && !strcmp(group, "node"))
    fprintf(f, "<h3>%s</h3><p class=\"none\">No per-node figures (not a NUMA configuration).</p>", title);
}

// The site's name (first line of its symbol) and, folded, its stack: the
// symbolized frames when `xsmem run` could name them (one per line of the
// symbol), the raw return addresses otherwise.
static void site(FILE *f, const char *symbol, const uint64_t *fr, size_t n) {
  const char *nl = strchr(symbol, '\n');
  if (!symbol[0]) fputs("?", f);
  char *first = strndup(symbol, nl ? (size_t)(nl - symbol) : strlen(symbol));
  esc(f, first);
  free(first);
  if (!n && !nl) return;
  fputs("<details><summary>stack</summary>", f);
  if (nl) {
    size_t i = 0;
    for (const char *line = symbol; line && *line; i++) {
      const char *end = strchr(line, '\n');
      size_t len = end ? (size_t)(end - line) : strlen(line);
      char *copy = strndup(line, len);
      fprintf(f, "#%zu ", i);
      esc(f, copy);
      fputs("<br>", f);
      free(copy);
      line = end ? end + 1 : NULL;
    }
  } else {
    for (size_t i = 0; i < n; i++) fprintf(f, "#%zu 0x%" PRIx64 "<br>", i, fr[i]);
  }
  fputs("</details>", f);
}

static void section_sites(FILE *f, const Xsmem__Snapshot *s) {
  fputs("<h3>Top call sites</h3>", f);
  if (!s->analysis_source[0]) {
    fputs("<p class=\"none\">Not tracked: run a *_tracked configuration (xsmem run --track sample).</p>", f);
    return;
  }
  fputs("<table><tr><th>site</th><th>live</th><th>live blocks</th><th>allocated</th><th>allocations</th></tr>", f);
  for (size_t i = 0; i < s->n_call_sites; i++) {
    const Xsmem__CallSite *c = s->call_sites[i];
    fputs("<tr><td class=\"sym\">", f);
    site(f, c->symbol, c->frames, c->n_frames);
    fprintf(f, "</td><td>%s</td><td>%" PRIu64 "</td><td>%s</td><td>%" PRIu64 "</td></tr>", B((double)c->live_bytes),
            c->live_count, B((double)c->bytes), c->count);
  }
  fputs("</table>", f);
  if (!s->n_call_sites) fputs("<p class=\"none\">No call sites recorded.</p>", f);
}

static void section_leaks(FILE *f, const Xsmem__Snapshot *s) {
  fputs("<h3>Leaks</h3>", f);
  if (!s->analysis_source[0]) {
    fputs("<p class=\"none\">Not tracked.</p>", f);
    return;
  }
  double total = 0;
  for (size_t i = 0; i < s->n_leaks; i++) total += (double)s->leaks[i]->size;
  if (!s->n_leaks) {
    // No per-block records: the live call sites are the unfreed blocks.
    double blocks = 0;
    for (size_t i = 0; i < s->n_call_sites; i++) {
      total += (double)s->call_sites[i]->live_bytes;
      blocks += (double)s->call_sites[i]->live_count;
    }
    fprintf(f,
            "<div class=\"meta\">%s in %.0f blocks unfreed when the snapshot was taken (at exit: leaked), "
            "by call site:</div>",
            B(total), blocks);
    fputs("<table><tr><th>allocated at</th><th>unfreed</th><th>blocks</th></tr>", f);
    for (size_t i = 0; i < s->n_call_sites; i++) {
      const Xsmem__CallSite *c = s->call_sites[i];
      if (!c->live_count) continue;
      fputs("<tr><td class=\"sym\">", f);
      site(f, c->symbol, c->frames, c->n_frames);
      fprintf(f, "</td><td>%s</td><td>%" PRIu64 "</td></tr>", B((double)c->live_bytes), c->live_count);
    }
    fputs("</table>", f);
    return;
  }
  // Leak records: the tracker's leak report by call site (address 0), or
  // single blocks from other providers.
  double blocks = 0;
  for (size_t i = 0; i < s->n_leaks; i++) blocks += (double)(s->leaks[i]->count ? s->leaks[i]->count : 1);
  fprintf(f, "<div class=\"meta\">%s in %.0f blocks unfreed when the snapshot was taken (at exit: leaked), %s:</div>",
          B(total), blocks, s->leaks[0]->address ? "by block" : "by call site, largest first");
  fputs("<table><tr><th>allocated at</th><th>unfreed</th><th>blocks</th><th>address</th></tr>", f);
  for (size_t i = 0; i < s->n_leaks; i++) {
    const Xsmem__Leak *l = s->leaks[i];
    fputs("<tr><td class=\"sym\">", f);
    site(f, l->symbol, l->frames, l->n_frames);
    fprintf(f, "</td><td>%s</td><td>%" PRIu64 "</td><td>", B((double)l->size), l->count ? l->count : 1);
    if (l->address) fprintf(f, "0x%" PRIx64, l->address);
    fputs("</td></tr>", f);
  }
  fputs("</table>", f);
}

static void section_allocators(FILE *f, const Xsmem__Snapshot *s) {
  fputs(
      "<h3>Allocators</h3><table><tr><th>allocator</th><th>allocs</th><th>frees</th><th>in use</th><th>peak</th>"
      "<th>cached</th><th>committed</th><th>fragmentation</th><th>address space reserved</th></tr>",
      f);
  for (size_t i = 0; i < s->n_allocators; i++) {
    const Xsmem__Allocator *a = s->allocators[i];
    if (!a->stats) continue;
    fprintf(f, "<tr%s><td>", a->process_allocator ? " class=\"proc\"" : "");
    esc(f, a->name);
    fprintf(f,
            "%s</td><td>%" PRIu64 "</td><td>%" PRIu64
            "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.1f%%</td><td>%s</td></tr>",
            a->process_allocator ? " (malloc)" : "", a->stats->num_allocs, a->stats->num_frees,
            B((double)a->stats->bytes_in_use), B((double)a->stats->peak_bytes_in_use),
            B((double)a->stats->bytes_cached), a->stats->bytes_committed ? B((double)a->stats->bytes_committed) : "-",
            100 * a->stats->fragmentation, B((double)a->stats->bytes_reserved));
  }
  fputs(
      "</table><div class=\"meta\">cached: free memory held for reuse; committed: memory held (in use, cached "
      "and metadata); fragmentation: cached / (in use + cached); address space reserved is not memory.</div>",
      f);
  for (size_t i = 0; i < s->n_alerts; i++) {
    const Xsmem__Alert *al = s->alerts[i];
    if (!al->active && !al->raised_count) continue;
    fprintf(f, "<p class=\"alert\">alert %s on ", al->active ? "ACTIVE" : "raised");
    esc(f, al->name);
    fputs(" / ", f);
    esc(f, al->allocator);
    fprintf(f, ": %g (threshold %g). ", al->value, al->threshold);
    esc(f, al->recommendation);
    fputs("</p>", f);
  }
}

static void comparison(FILE *f, tool_snapshot *snaps, size_t n) {
  fputs("<h3>Comparison (ratio to the first snapshot)</h3><table><tr><th>figure</th>", f);
  for (size_t i = 0; i < n; i++) {
    fputs("<th>", f);
    esc(f, snaps[i].last->config[0] ? snaps[i].last->config : snaps[i].path);
    fputs("</th>", f);
  }
  fputs("</tr>", f);
  static const char *const kRows[] = {"peak_bytes_in_use", "bytes_reserved", "num_allocs", "bytes_metadata",
                                      "bytes_in_use"};
  for (size_t r = 0; r < 5; r++) {
    fprintf(f, "<tr><td>%s</td>", kRows[r]);
    double base = NAN;
    for (size_t i = 0; i < n; i++) {
      const Xsmem__Allocator *a = tool_process_allocator(snaps[i].last);
      double v = 0;
      if (a && a->stats) {
        if (r == 0) v = (double)a->stats->peak_bytes_in_use;
        if (r == 1) v = (double)a->stats->bytes_reserved;
        if (r == 2) v = (double)a->stats->num_allocs;
        if (r == 3) v = (double)a->stats->bytes_metadata;
        if (r == 4) v = (double)a->stats->bytes_in_use;
      }
      if (i == 0) base = v;
      fprintf(f, "<td>%s", r == 2 ? "" : B(v));
      if (r == 2) fprintf(f, "%.0f", v);
      if (i > 0 && base > 0) fprintf(f, " (%.2fx)", v / base);
      fputs("</td>", f);
    }
    fputs("</tr>", f);
  }
  fputs("</table>", f);
}

void tool_render_report(FILE *f, tool_snapshot *snaps, size_t n) {
  fprintf(f,
          "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>xsmem report</title>"
          "<style>%s</style></head><body>\n<h1>xsmem report</h1>\n",
          kStyle);
  fprintf(f, "<p class=\"meta\">%zu snapshot%s; figures of the allocator serving malloc are in bold.</p>", n,
          n == 1 ? "" : "s");
  if (n > 1) comparison(f, snaps, n);
  fprintf(f, "<div class=\"cols\" style=\"--n:%zu\">\n", n);
  for (size_t i = 0; i < n; i++) {
    const Xsmem__Snapshot *s = snaps[i].last;
    fputs("<section class=\"snap\"><h2>", f);
    esc(f, s->cmdline[0] ? s->cmdline : "(unknown program)");
    fputs("</h2><div class=\"meta\">", f);
    time_t t = (time_t)(s->time_unix_ns / 1000000000ull);
    struct tm tm;
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
    fprintf(f, "pid %lld, configuration <b>", (long long)s->pid);
    esc(f, s->config[0] ? s->config : "none");
    fprintf(f, "</b>, taken %s; ", when);
    if (snaps[i].n_series > 1) fprintf(f, "last of %zu snapshots in ", snaps[i].n_series);
    else fputs("from ", f);
    esc(f, snaps[i].path);
    if (s->analysis_source[0]) {
      fputs(", analyses by ", f);
      esc(f, s->analysis_source);
    }
    fputs("</div>\n", f);
    section_allocators(f, s);
    chart_timeline(f, &snaps[i]);
    chart_histogram(f, s);
    section_fragmentation(f, s);
    section_groups(f, s, "tier", "Per-tier figures");
    section_groups(f, s, "node", "Per-node figures");
    section_sites(f, s);
    section_leaks(f, s);
    fputs("</section>\n", f);
  }
  fputs("</div>\n<p class=\"meta\">Generated by xsmem report.</p></body></html>\n", f);
}

// ---------------------------------------------------------------------------
// report SNAPSHOT... -o FILE.html

int tool_cmd_report(int argc, char **argv) {
  const char *out = NULL;
  const char *paths[16];
  size_t n = 0;
  for (int i = 1; i < argc; i++) {
    if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) out = argv[++i];
    else if (!strcmp(argv[i], "--debug-root") && i + 1 < argc) tool_symbolizer_set_debug_root(argv[++i]);
    else if (tool_is_help(argv[i])) return tool_help("report");
    else if (argv[i][0] == '-' && argv[i][1]) return tool_usage_error("report", argv[i]);
    else if (n < 16) paths[n++] = argv[i];
    else {
      tool_error("report: at most 16 snapshots");
      return XSMEM_EXIT_USAGE;
    }
  }
  if (!out || n == 0) {
    tool_error("usage: xsmem report SNAPSHOT... -o report.html");
    return XSMEM_EXIT_USAGE;
  }
  tool_snapshot snaps[16];
  for (size_t i = 0; i < n; i++) {
    if (!tool_snapshot_load(paths[i], &snaps[i])) {
      for (size_t k = 0; k < i; k++) tool_snapshot_free(&snaps[k]);
      return XSMEM_EXIT_FAIL;
    }
    // Names from the files of the modules the snapshot records (and their
    // debug files), when they are here.
    tool_symbolize_loaded(snaps[i].last, &snaps[i].arena);
  }
  char *html = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&html, &len);
  tool_render_report(f, snaps, n);
  fclose(f);
  bool ok = tool_write_atomic(out, html, len);
  free(html);
  size_t refused = 0;
  for (size_t i = 0; i < n; i++) {
    refused += snaps[i].refused;
    tool_snapshot_free(&snaps[i]);
  }
  if (ok) fprintf(stderr, "xsmem: report written to %s (%zu snapshot%s)\n", out, n, n == 1 ? "" : "s");
  // Damaged records were left out of the report: say so in the status too.
  return ok && !refused ? 0 : XSMEM_EXIT_FAIL;
}
