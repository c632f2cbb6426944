// tools/bench_report.c: the results of `xsmem bench` as text, markdown and
// HTML.
//
// Every figure is a median over the repetitions that succeeded. The text
// table (stdout, bench.txt) gives ratios to the baseline: glibc when it was
// compared, else the first column. The markdown section (bench.md,
// --results) is the one bench/RESULTS.md collects: absolute medians with
// ratios to glibc and to the best peer of each row (the fastest or smallest
// of jemalloc, mimalloc and tcmalloc), and their geometric means. The HTML
// page draws the text table's time ratios as bars (inline SVG, no script).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench_internal.h"

// Results dominated by page faults (13 us each on the VMs measured here):
// marked with a footnote in the markdown.
static const char *const kFaultDominated[] = {"large_blocks", "BM_Batch1000/512"};

static bool fault_dominated(const char *name) {
  for (size_t i = 0; i < sizeof kFaultDominated / sizeof kFaultDominated[0]; i++)
    if (!strcmp(name, kFaultDominated[i])) return true;
  return false;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_median(const double *v, size_t n) {
  double s[kBenchMaxReps];
  size_t k = 0;
  for (size_t i = 0; i < n && k < kBenchMaxReps; i++)
    if (!isnan(v[i])) s[k++] = v[i];
  if (k == 0) return NAN;
  qsort(s, k, sizeof s[0], cmp_double);
  return k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
}

// A running geometric mean of the positive values added.
typedef struct geo {
  double log_sum;
  size_t n;
} geo;

static void geo_add(geo *g, double v) {
  if (v > 0 && isfinite(v)) {
    g->log_sum += log(v);
    g->n++;
  }
}

static double geo_mean(const geo *g) { return g->n ? exp(g->log_sum / (double)g->n) : NAN; }

size_t bench_baseline(const bench_plan *p) {
  for (size_t a = 0; a < p->n_allocs; a++)
    if (!strcmp(p->allocs[a].name, "glibc")) return a;
  return 0;
}

// A table of medians: rows x allocators, NAN where there is none.
typedef struct table {
  size_t rows;
  const char *(*label)(const bench_plan *, const bench_results *, size_t row);
  double *med;  // [row][alloc]
} table;

static const char *workload_label(const bench_plan *p, const bench_results *r, size_t w) { return p->works[w].name; }
static const char *micro_label(const bench_plan *p, const bench_results *r, size_t b) { return r->micro_names[b]; }

// Medians of the workloads' wall times (rss: peak RSS in MiB) or of the
// micro benchmarks.
static table workload_table(const bench_plan *p, const bench_results *r, bool rss) {
  table t = {p->n_works, workload_label, calloc(p->n_works * p->n_allocs + 1, sizeof(double))};
  for (size_t w = 0; w < p->n_works; w++)
    for (size_t a = 0; a < p->n_allocs; a++) {
      const double *v = (rss ? r->rss_kib : r->secs) + bench_run_at(p, a, w, 0);
      t.med[w * p->n_allocs + a] = bench_median(v, (size_t)p->reps) / (rss ? 1024 : 1);
    }
  return t;
}

static table micro_table(const bench_plan *p, const bench_results *r) {
  table t = {r->n_micro, micro_label, calloc(r->n_micro * p->n_allocs + 1, sizeof(double))};
  for (size_t b = 0; b < r->n_micro; b++)
    for (size_t a = 0; a < p->n_allocs; a++)
      t.med[b * p->n_allocs + a] = bench_median(r->micro_ns + bench_micro_at(p, b, a, 0), (size_t)p->reps);
  return t;
}

static double med_at(const bench_plan *p, const table *t, size_t row, size_t a) {
  double v = t->med[row * p->n_allocs + a];
  return v > 0 ? v : NAN;
}

// Returns the smallest median of the row among the peers other than glibc,
// NAN when none (glibc_if_alone: glibc's when no other peer was compared).
static double best_peer(const bench_plan *p, const table *t, size_t row, bool glibc_if_alone) {
  bool others = false;
  for (size_t a = 0; a < p->n_allocs; a++) others |= p->allocs[a].peer && strcmp(p->allocs[a].name, "glibc");
  double best = NAN;
  for (size_t a = 0; a < p->n_allocs; a++) {
    if (!p->allocs[a].peer) continue;
    if (!strcmp(p->allocs[a].name, "glibc") && (others || !glibc_if_alone)) continue;
    double v = med_at(p, t, row, a);
    if (!isnan(v) && (isnan(best) || v < best)) best = v;
  }
  return best;
}

// ---------------------------------------------------------------------------
// Text.

// Writes item at column *col, first starting a new line (indented) when it
// would pass column 80.
static void wrapped(FILE *f, int *col, const char *item) {
  if (*col + (int)strlen(item) > 80) *col = fprintf(f, "\n ");
  *col += fprintf(f, "%s", item);
}

void bench_report_text(FILE *f, const bench_plan *p, const bench_results *r) {
  size_t base = bench_baseline(p), na = p->n_allocs;
  const char *bname = p->allocs[base].name;
  if (p->n_works) {
    table t = workload_table(p, r, false), m = workload_table(p, r, true);
    // Two tables, time then peak RSS, each a ratio to the baseline per column.
    for (int kind = 0; kind < 2; kind++) {
      const table *x = kind ? &m : &t;
      fprintf(f, "%s%s, median of %d runs, as a ratio to %s's (lower is better)\n", kind ? "\n" : "",
              kind ? "peak RSS" : "wall time", p->reps, bname);
      fprintf(f, "%-14s", "workload");
      for (size_t a = 0; a < na; a++) fprintf(f, " %9.9s", p->allocs[a].name);
      fputc('\n', f);
      geo g[kBenchMaxAllocs] = {{0}};
      for (size_t w = 0; w < p->n_works; w++) {
        fprintf(f, "%-14s", p->works[w].name);
        for (size_t a = 0; a < na; a++) {
          double v = med_at(p, x, w, a) / med_at(p, x, w, base);
          if (r->failed[bench_cell(p, a, w)]) fprintf(f, " %9s", "FAILED");
          else if (isnan(v)) fprintf(f, " %9s", "-");
          else fprintf(f, " %8.2fx", v);
          geo_add(&g[a], v);
        }
        fputc('\n', f);
      }
      fprintf(f, "%-14s", "geomean");
      for (size_t a = 0; a < na; a++) {
        if (g[a].n) fprintf(f, " %8.2fx", geo_mean(&g[a]));
        else fprintf(f, " %9s", "-");
      }
      fputc('\n', f);
    }
    // The baseline's own medians.
    int col = fprintf(f, "%s's own figures:", bname);
    for (size_t w = 0; w < p->n_works; w++) {
      char item[96];
      if (w) col += fprintf(f, ",");  // the comma stays on the line it ends
      snprintf(item, sizeof item, " %s %.3f s %.0f MiB", p->works[w].name, med_at(p, &t, w, base),
               med_at(p, &m, w, base));
      wrapped(f, &col, item);
    }
    fputc('\n', f);
    // Against the best peer of each workload, when peers other than glibc ran.
    geo gb[kBenchMaxAllocs] = {{0}};
    bool any = false;
    for (size_t w = 0; w < p->n_works; w++) {
      double best = best_peer(p, &t, w, false);
      any |= !isnan(best);
      for (size_t a = 0; a < na; a++) geo_add(&gb[a], med_at(p, &t, w, a) / best);
    }
    if (any) {
      int col = fprintf(f, "time vs the best peer, geomean:");
      for (size_t a = 0; a < na; a++) {
        char item[96];
        snprintf(item, sizeof item, " %s %.2f", p->allocs[a].name, geo_mean(&gb[a]));
        wrapped(f, &col, item);
      }
      fputc('\n', f);
    }
    free(t.med);
    free(m.med);
  }
  if (r->n_micro) {
    table t = micro_table(p, r);
    // Two narrow tables (ns, then the ratio to the baseline) rather than one
    // wide one: six allocators fit 80 columns beside the usual names.
    int w = 9;
    for (size_t b = 0; b < r->n_micro; b++)
      if ((int)strlen(r->micro_names[b]) > w) w = (int)strlen(r->micro_names[b]);
    for (int kind = 0; kind < 2; kind++) {
      if (kind) fprintf(f, "\nmicro benchmarks as a ratio to %s's ns per operation (lower is better)\n", bname);
      else
        fprintf(f, "%smicro benchmarks: ns per operation, median of %d runs (lower is better)\n",
                p->n_works ? "\n" : "", p->reps);
      fprintf(f, "%-*s", w, "benchmark");
      for (size_t a = 0; a < na; a++) fprintf(f, " %9.9s", p->allocs[a].name);
      fputc('\n', f);
      geo g[kBenchMaxAllocs] = {{0}};
      for (size_t b = 0; b < r->n_micro; b++) {
        fprintf(f, "%-*s", w, r->micro_names[b]);
        for (size_t a = 0; a < na; a++) {
          double v = med_at(p, &t, b, a), ratio = v / med_at(p, &t, b, base);
          geo_add(&g[a], ratio);
          if (kind ? isnan(ratio) : isnan(v)) fprintf(f, " %9s", "-");
          else if (kind) fprintf(f, " %8.2fx", ratio);
          else fprintf(f, " %9.1f", v);
        }
        fputc('\n', f);
      }
      if (!kind) continue;
      fprintf(f, "%-*s", w, "geomean");
      for (size_t a = 0; a < na; a++) {
        if (g[a].n) fprintf(f, " %8.2fx", geo_mean(&g[a]));
        else fprintf(f, " %9s", "-");
      }
      fputc('\n', f);
    }
    free(t.med);
  }
}

// ---------------------------------------------------------------------------
// Markdown (the format of bench/RESULTS.md's sections).

static void md_value(FILE *f, double v, int decimals) {
  if (isnan(v)) fputs(" | -", f);
  else fprintf(f, " | %.*f", decimals, v);
}

static void md_header(FILE *f, const bench_plan *p, const char *what) {
  fprintf(f, "| %s |", what);
  for (size_t a = 0; a < p->n_allocs; a++) fprintf(f, " %s |", p->allocs[a].name);
  fputs("\n|---|", f);
  for (size_t a = 0; a < p->n_allocs; a++) fputs("---:|", f);
  fputc('\n', f);
}

// Medians, then geometric means of the ratios to glibc and to the best peer.
static void md_table(FILE *f, const bench_plan *p, const bench_results *r, const table *t, int decimals,
                     const char *what, bool footnotes) {
  size_t na = p->n_allocs;
  long glibc = -1;
  for (size_t a = 0; a < na; a++)
    if (!strcmp(p->allocs[a].name, "glibc")) glibc = (long)a;
  md_header(f, p, what);
  geo vs_glibc[kBenchMaxAllocs] = {{0}}, vs_best[kBenchMaxAllocs] = {{0}};
  for (size_t row = 0; row < t->rows; row++) {
    const char *label = t->label(p, r, row);
    fprintf(f, "| %s%s", label, footnotes && fault_dominated(label) ? " ¹" : "");
    double g = glibc >= 0 ? med_at(p, t, row, (size_t)glibc) : NAN, best = best_peer(p, t, row, true);
    for (size_t a = 0; a < na; a++) {
      double v = med_at(p, t, row, a);
      md_value(f, v, decimals);
      geo_add(&vs_glibc[a], v / g);
      geo_add(&vs_best[a], v / best);
    }
    fputs(" |\n", f);
  }
  fputs("| **geomean vs glibc**", f);
  for (size_t a = 0; a < na; a++) md_value(f, geo_mean(&vs_glibc[a]), 2);
  fputs(" |\n| **geomean vs best peer**", f);
  for (size_t a = 0; a < na; a++) md_value(f, geo_mean(&vs_best[a]), 2);
  fputs(" |\n", f);
}

// Each row's ratios to glibc and to the best peer other than glibc.
static void md_ratios(FILE *f, const bench_plan *p, const bench_results *r, const table *t) {
  long glibc = -1;
  for (size_t a = 0; a < p->n_allocs; a++)
    if (!strcmp(p->allocs[a].name, "glibc")) glibc = (long)a;
  md_header(f, p, "workload");
  for (size_t row = 0; row < t->rows; row++) {
    fprintf(f, "| %s", t->label(p, r, row));
    double g = glibc >= 0 ? med_at(p, t, row, (size_t)glibc) : NAN, best = best_peer(p, t, row, false);
    for (size_t a = 0; a < p->n_allocs; a++) {
      double v = med_at(p, t, row, a);
      if (isnan(v) || isnan(g) || isnan(best)) fputs(" | -", f);
      else fprintf(f, " | %.2f / %.2f", v / g, v / best);
    }
    fputs(" |\n", f);
  }
}

// Prints s as a shell word (POSIX quoting where needed).
static void shell_word(FILE *f, const char *s) {
  bool plain = *s != 0;
  for (const char *c = s; *c && plain; c++)
    plain =
        (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("@%+=:,./-_", *c);
  if (plain) {
    fputs(s, f);
    return;
  }
  fputc('\'', f);
  for (const char *c = s; *c; c++) {
    if (*c == '\'') fputs("'\"'\"'", f);
    else fputc(*c, f);
  }
  fputc('\'', f);
}

static void machine_line(FILE *f, const bench_plan *p) {
  char cpu[256] = "";
  FILE *c = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (c && !cpu[0] && fgets(line, sizeof line, c)) {
    char *colon = strchr(line, ':');
    if (strncmp(line, "model name", 10) || !colon) continue;
    colon += 1 + strspn(colon + 1, " \t");
    colon[strcspn(colon, "\n")] = 0;
    snprintf(cpu, sizeof cpu, "%s", colon);
  }
  if (c) fclose(c);
  struct utsname u;
  if (uname(&u) != 0) memset(&u, 0, sizeof u);
  fprintf(f, "- Machine: %s, %ld cores, %s %s, load average %.1f at start\n", cpu[0] ? cpu : u.machine,
          sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, p->load_at_start);
}

// Compares "VAR=VALUE" strings by VAR.
static int cmp_env(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
  int c = strncmp(x, y, nx < ny ? nx : ny);
  return c ? c : nx < ny ? -1 : nx > ny;
}

void bench_report_markdown(FILE *f, const bench_plan *p, const bench_results *r) {
  char when[64];
  time_t now = time(NULL);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &tm));
  fprintf(f, "\n## %s%s%s\n\n", when, p->title && p->title[0] ? " — " : "", p->title ? p->title : "");
  machine_line(f, p);
  fputs("- Command: `xsmem bench", f);
  for (int i = 1; i < p->argc; i++) {
    fputc(' ', f);
    shell_word(f, p->argv[i]);
  }
  fputs("`\n- Allocators: ", f);
  for (size_t a = 0; a < p->n_allocs; a++) {
    const bench_alloc *al = &p->allocs[a];
    const char *base = al->preload ? strrchr(al->preload, '/') : NULL;
    fprintf(f, "%s%s (%s", a ? ", " : "", al->name, al->preload ? (base ? base + 1 : al->preload) : "no preload");
    const char *env[kBenchMaxEnv];
    memcpy(env, al->env, al->n_env * sizeof env[0]);
    qsort(env, al->n_env, sizeof env[0], cmp_env);
    for (size_t i = 0; i < al->n_env; i++) fprintf(f, " %s", env[i]);
    fputc(')', f);
  }
  fprintf(f,
          "\n- Ratios against the best peer use the best of jemalloc, mimalloc and tcmalloc for each row\n"
          "- %d repetitions, interleaved; medians; scale %g; took %.0f s\n",
          p->reps, p->scale, r->took_s);
  if (p->pinned)
    fprintf(f, "- Every program pinned to CPU%s %s (`--cpus`)\n", CPU_COUNT(&p->cpus) > 1 ? "s" : "", p->cpus_s);
  fputc('\n', f);
  if (p->n_works) {
    table t = workload_table(p, r, false), m = workload_table(p, r, true);
    fputs("### Whole workloads: wall time (s, median; lower is better)\n\n", f);
    md_table(f, p, r, &t, 3, "workload", true);
    fputs("\nRatios (time / glibc's, time / best peer's):\n\n", f);
    md_ratios(f, p, r, &t);
    fputs("\n### Whole workloads: peak RSS (MiB, median; lower is better)\n\n", f);
    md_table(f, p, r, &m, 1, "workload", false);
    free(t.med);
    free(m.med);
  }
  if (r->n_micro) {
    table t = micro_table(p, r);
    fputs("\n### Micro benchmarks: ns per operation (median; lower is better)\n\n", f);
    md_table(f, p, r, &t, 1, "benchmark", true);
    free(t.med);
  }
  fputs(
      "\n¹ dominated by page faults (about 13 µs per 4 KiB first touch on these VMs, 0.1-0.3 µs on bare metal): "
      "an allocator that returns freed memory to the OS at once and faults it back in pays that on every "
      "iteration here.\n",
      f);
}

// ---------------------------------------------------------------------------
// CSV and JSON: the medians and ratios, a row per (row, allocator).

typedef struct flat_row {
  const char *kind;  // "workload" or "micro"
  const char *name, *allocator;
  double median, ratio;       // seconds (workload) or ns per operation (micro)
  double rss_mib, rss_ratio;  // workloads only (NAN for micro)
  bool failed;
} flat_row;

// Calls emit for every row, workloads first.
static void flat_rows(const bench_plan *p, const bench_results *r, void (*emit)(FILE *, const flat_row *, bool),
                      FILE *f) {
  size_t base = bench_baseline(p);
  bool first = true;
  if (p->n_works) {
    table t = workload_table(p, r, false), m = workload_table(p, r, true);
    for (size_t w = 0; w < p->n_works; w++)
      for (size_t a = 0; a < p->n_allocs; a++) {
        flat_row row = {"workload",
                        p->works[w].name,
                        p->allocs[a].name,
                        med_at(p, &t, w, a),
                        med_at(p, &t, w, a) / med_at(p, &t, w, base),
                        med_at(p, &m, w, a),
                        med_at(p, &m, w, a) / med_at(p, &m, w, base),
                        r->failed[bench_cell(p, a, w)]};
        emit(f, &row, first);
        first = false;
      }
    free(t.med);
    free(m.med);
  }
  if (r->n_micro) {
    table t = micro_table(p, r);
    for (size_t b = 0; b < r->n_micro; b++)
      for (size_t a = 0; a < p->n_allocs; a++) {
        flat_row row = {"micro",
                        r->micro_names[b],
                        p->allocs[a].name,
                        med_at(p, &t, b, a),
                        med_at(p, &t, b, a) / med_at(p, &t, b, base),
                        NAN,
                        NAN,
                        false};
        emit(f, &row, first);
        first = false;
      }
    free(t.med);
  }
}

static void csv_number(FILE *f, double v) {
  if (isnan(v)) fputs(",", f);
  else fprintf(f, ",%.6g", v);
}

static void csv_row(FILE *f, const flat_row *row, bool first) {
  fprintf(f, "%s,%s,%s", row->kind, row->name, row->allocator);
  csv_number(f, row->median);
  csv_number(f, row->ratio);
  csv_number(f, row->rss_mib);
  csv_number(f, row->rss_ratio);
  fprintf(f, ",%d\n", row->failed);
}

void bench_report_csv(FILE *f, const bench_plan *p, const bench_results *r) {
  // Names are workloads, benchmarks and allocators: no commas or quotes.
  fprintf(f, "kind,name,allocator,median,ratio_to_%s,peak_rss_mib,rss_ratio_to_%s,failed\n",
          p->allocs[bench_baseline(p)].name, p->allocs[bench_baseline(p)].name);
  flat_rows(p, r, csv_row, f);
}

static void json_number(FILE *f, const char *key, double v) {
  if (isnan(v) || isinf(v)) fprintf(f, ", \"%s\": null", key);
  else fprintf(f, ", \"%s\": %.6g", key, v);
}

static void json_row(FILE *f, const flat_row *row, bool first) {
  fprintf(f, "%s\n    {\"kind\": \"%s\", \"name\": \"%s\", \"allocator\": \"%s\"", first ? "" : ",", row->kind,
          row->name, row->allocator);
  json_number(f, "median", row->median);
  json_number(f, "ratio", row->ratio);
  json_number(f, "peak_rss_mib", row->rss_mib);
  json_number(f, "rss_ratio", row->rss_ratio);
  fprintf(f, ", \"failed\": %s}", row->failed ? "true" : "false");
}

void bench_report_json(FILE *f, const bench_plan *p, const bench_results *r) {
  fprintf(f,
          "{\"baseline\": \"%s\", \"repetitions\": %d, \"scale\": %g,\n  \"units\": {\"workload\": \"s\", "
          "\"micro\": \"ns per operation\"},\n  \"rows\": [",
          p->allocs[bench_baseline(p)].name, p->reps, p->scale);
  flat_rows(p, r, json_row, f);
  fputs("\n  ]}\n", f);
}

// ---------------------------------------------------------------------------
// HTML: grouped bars of the time and peak RSS ratios per workload.

// A round step for about 5 ticks up to vmax: 1, 2 or 5 times a power of 10.
static double tick_step(double vmax) {
  double raw = vmax / 5, mag = pow(10, floor(log10(raw))), n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

static void html_chart(FILE *h, const bench_plan *p, const bench_results *r, const table *t, const char *title) {
  static const char *const kColors[] = {"#64748b", "#94a3b8", "#2563eb", "#16a34a",
                                        "#f59e0b", "#dc2626", "#9333ea", "#0891b2"};
  size_t na = p->n_allocs, nw = p->n_works, base = bench_baseline(p);
  double vmax = 1;
  for (size_t w = 0; w < nw; w++)
    for (size_t a = 0; a < na; a++) {
      double v = med_at(p, t, w, a) / med_at(p, t, w, base);
      if (!r->failed[bench_cell(p, a, w)] && !isnan(v)) vmax = fmax(vmax, v);
    }
  double step = tick_step(vmax);
  vmax = ceil(vmax / step - 1e-9) * step;
  int W = 900, H = 300, L = 50, B = 40;
  double gw = (double)(W - L - 10) / (double)(nw ? nw : 1), bw = gw * 0.8 / (double)na, ph = H - B - 10;
  fprintf(h,
          "<h2>%s relative to %s (median of %d; lower is better)</h2><svg viewBox=\"0 0 %d %d\" "
          "xmlns=\"http://www.w3.org/2000/svg\">",
          title, p->allocs[base].name, p->reps, W, H + 20 * (int)((na + 5) / 6));
  for (double v = 0; v <= vmax + step / 2; v += step) {
    double y = 10 + ph * (1 - v / vmax);
    fprintf(h,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e2e8f0\"/><text x=\"%d\" y=\"%.1f\" "
            "font-size=\"11\" text-anchor=\"end\">%gx</text>",
            L, W - 10, y, y, L - 4, y + 4, v);
  }
  for (size_t w = 0; w < nw; w++) {
    for (size_t a = 0; a < na; a++) {
      double v = med_at(p, t, w, a) / med_at(p, t, w, base);
      if (r->failed[bench_cell(p, a, w)] || isnan(v)) v = 0;
      double bh = ph * v / vmax;
      fprintf(h,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s on %s: %.2fx "
              "(%.3g)</title></rect>",
              L + gw * (double)w + gw * 0.1 + bw * (double)a, H - B - bh, bw - 1, bh, kColors[a % 8], p->works[w].name,
              p->allocs[a].name, v, med_at(p, t, w, a));
    }
    fprintf(h, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>",
            L + gw * (double)w + gw / 2, H - B + 16, p->works[w].name);
  }
  // The baseline: 1.0, drawn over the bars.
  double y1 = 10 + ph * (1 - 1 / vmax);
  fprintf(h,
          "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#0f172a\" stroke-dasharray=\"6 3\" "
          "class=\"baseline\"/>",
          L, W - 10, y1, y1);
  for (size_t a = 0; a < na; a++)
    fprintf(h,
            "<rect x=\"%zu\" y=\"%zu\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%zu\" y=\"%zu\" "
            "font-size=\"12\">%s</text>",
            (size_t)L + (a % 6) * 140, (size_t)H + (a / 6) * 20, kColors[a % 8], (size_t)L + (a % 6) * 140 + 14,
            (size_t)H + (a / 6) * 20 + 10, p->allocs[a].name);
  fputs("</svg>", h);
}

void bench_report_html(FILE *h, const bench_plan *p, const bench_results *r, const char *text) {
  fputs(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>xsmem bench</title><style>"
      "body{font:14px system-ui,sans-serif;margin:16px}pre{background:#f1f5f9;padding:8px}"
      "svg{width:100%;max-width:900px;height:auto}</style></head><body><h1>xsmem bench</h1>",
      h);
  if (p->n_works) {
    table t = workload_table(p, r, false), m = workload_table(p, r, true);
    html_chart(h, p, r, &t, "Wall time");
    html_chart(h, p, r, &m, "Peak RSS");
    free(t.med);
    free(m.med);
  }
  fputs("<h2>Tables</h2><pre>", h);
  for (const char *c = text; *c; c++) {
    if (*c == '<') fputs("&lt;", h);
    else if (*c == '&') fputs("&amp;", h);
    else fputc(*c, h);
  }
  fputs("</pre></body></html>\n", h);
}
