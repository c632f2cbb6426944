// tools/bench.c: `xsmem bench`: workloads under each allocator.
//
// Each (allocator, workload) pair runs as a child process with the
// allocator's preload library (libxsmem_NAME.so; "glibc" runs with nothing
// preloaded). Workloads: the bench suite's programs (//bench/workloads:
// larson, xmalloc, cache_scratch, large_blocks, churn; the default set, with
// python), "python" (Debian's python3 over tools/demo_workload.py), and four
// built into this binary (workloads.c: small, mixed, large, threads). --scale multiplies the work of each run (default 1). Every pair runs --reps times
// (default 3) in interleaved order and the median wall time and the largest
// max RSS are kept. The table gives, per workload, time and RSS as ratios to
// the first allocator listed (glibc by default); it is printed and written,
// with an HTML bar chart (inline SVG), to --out (default ./xsmem-bench).
// A progress bar is drawn on stderr when it is a terminal.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/xsmem.h"

// ---------------------------------------------------------------------------
// The runner.

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

// The bench suite's programs (//bench/workloads), found in the runfiles;
// each takes its scale as its one argument.
static const char *const kSuite[] = {"larson", "xmalloc", "cache_scratch", "large_blocks", "churn"};
enum { kNumSuite = sizeof(kSuite) / sizeof(kSuite[0]) };

static bool is_suite(const char *w) {
  for (int k = 0; k < kNumSuite; k++)
    if (!strcmp(w, kSuite[k])) return true;
  return false;
}

// Runs one measurement of argv under lib (NULL: nothing preloaded); returns
// false when the child failed.
static bool measure(const char *lib, char *const *args, double *secs, double *rss) {
  double t0 = now_s();
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    signal(SIGPIPE, SIG_DFL);
    if (lib) setenv("LD_PRELOAD", lib, 1);
    else unsetenv("LD_PRELOAD");
    execv(args[0], args);
    _exit(127);
  }
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  *secs = now_s() - t0;
  *rss = (double)ru.ru_maxrss * 1024;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static size_t split(char *s, char **out, size_t max) {
  size_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(s, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save)) out[n++] = t;
  return n;
}

static void progress(size_t done, size_t total, const char *what) {
  if (!isatty(2)) return;
  int width = 30, fill = (int)(width * done / (total ? total : 1));
  fprintf(stderr, "\r[%.*s%*s] %3zu%% %-28.28s", fill, "##############################", width - fill, "",
          100 * done / (total ? total : 1), what);
  if (done == total) fputs("\n", stderr);
}

int tool_cmd_bench(int argc, char **argv) {
  char alloc_default[] = "glibc,system,default,bfc,pool,jemalloc,mimalloc,tcmalloc";
  char work_default[] = "larson,xmalloc,cache_scratch,large_blocks,churn,python";
  char *allocs_s = alloc_default, *works_s = work_default;
  const char *out_dir = "xsmem-bench";
  int reps = 3;
  double scale = 1.0;
  for (int i = 1; i < argc; i++) {
    bool has = i + 1 < argc;
    if (!strcmp(argv[i], "--allocators") && has) allocs_s = argv[++i];
    else if (!strcmp(argv[i], "--workloads") && has) works_s = argv[++i];
    else if (!strcmp(argv[i], "--reps") && has) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--scale") && has) scale = atof(argv[++i]);
    else if (!strcmp(argv[i], "--out") && has) out_dir = argv[++i];
    else {
      tool_error("bench: unknown option '%s' (usage: xsmem bench [--allocators a,b] [--workloads w,x] "
                 "[--reps N] [--scale X] [--out DIR])", argv[i]);
      return XSMEM_EXIT_USAGE;
    }
  }
  if (reps < 1 || reps > 50 || !(scale > 0 && scale <= 64)) {
    tool_error("bench: --reps takes 1..50 and --scale (0, 64]");
    return XSMEM_EXIT_USAGE;
  }
  allocs_s = strdup(allocs_s);
  works_s = strdup(works_s);
  char *allocs[32], *works[16];
  size_t na = split(allocs_s, allocs, 32), nw = split(works_s, works, 16);
  if (!na || !nw) {
    tool_error("bench: empty allocator or workload list");
    return XSMEM_EXIT_USAGE;
  }
  char *libs[32] = {0};
  for (size_t a = 0; a < na; a++) {
    if (!strcmp(allocs[a], "glibc")) continue;
    libs[a] = tool_find_library(allocs[a]);
    if (!libs[a]) {
      tool_error("bench: unknown configuration '%s' (no libxsmem_%s.so; see xsmem list)", allocs[a], allocs[a]);
      return XSMEM_EXIT_USAGE;
    }
  }
  // Each workload's command line: a suite program, python3 over the demo
  // script, or this binary's built-in workload.
  char scale_s[32];
  snprintf(scale_s, sizeof scale_s, "%g", scale);
  char *self = realpath("/proc/self/exe", NULL);
  char *cmds[16][5];
  char *owned[16] = {0};
  for (size_t w = 0; w < nw; w++) {
    memset(cmds[w], 0, sizeof cmds[w]);
    bool builtin = tool_is_builtin_workload(works[w]);
    char rel[128];
    snprintf(rel, sizeof rel, "bench/workloads/%s", works[w]);
    if (is_suite(works[w]) && (owned[w] = tool_find_runfile(rel))) {
      cmds[w][0] = owned[w];
      cmds[w][1] = scale_s;
    } else if (!strcmp(works[w], "python") && (owned[w] = tool_find_runfile("tools/demo_workload.py")) &&
               access("/usr/bin/python3", X_OK) == 0) {
      cmds[w][0] = "/usr/bin/python3";
      cmds[w][1] = owned[w];
    } else if (builtin && self) {
      cmds[w][0] = self;
      cmds[w][1] = "__workload";
      cmds[w][2] = works[w];
      cmds[w][3] = scale_s;
    } else {
      if (is_suite(works[w]) || !strcmp(works[w], "python")) {
        tool_error("bench: workload '%s' is neither in the runfiles nor beside the binary (build //tools:xsmem)", works[w]);
        return XSMEM_EXIT_FAIL;
      }
      tool_error("bench: unknown workload '%s' (larson, xmalloc, cache_scratch, large_blocks, churn, python, "
                 "small, mixed, large, threads)", works[w]);
      return XSMEM_EXIT_USAGE;
    }
  }
  if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
    tool_error("bench: cannot create %s: %s", out_dir, strerror(errno));
    return XSMEM_EXIT_FAIL;
  }
  double *secs = calloc(na * nw * (size_t)reps, sizeof(double));
  double *rss = calloc(na * nw, sizeof(double));
  bool *failed = calloc(na * nw, sizeof(bool));
  size_t total = na * nw * (size_t)reps, done = 0;
  // Repetitions outermost: drift in the machine's speed hits every allocator alike.
  for (int r = 0; r < reps; r++)
    for (size_t w = 0; w < nw; w++)
      for (size_t a = 0; a < na; a++) {
        char what[96];
        snprintf(what, sizeof what, "%s / %s", works[w], allocs[a]);
        progress(done, total, what);
        double s, m;
        if (!measure(libs[a], cmds[w], &s, &m)) failed[a * nw + w] = true;
        secs[(a * nw + w) * (size_t)reps + (size_t)r] = s;
        if (m > rss[a * nw + w]) rss[a * nw + w] = m;
        done++;
      }
  progress(done, total, "done");

  // The table: median time, ratios to the first allocator.
  char *text = NULL, *html = NULL;
  size_t text_len = 0, html_len = 0;
  FILE *t = open_memstream(&text, &text_len), *h = open_memstream(&html, &html_len);
  double *med = calloc(na * nw, sizeof(double));
  for (size_t i = 0; i < na * nw; i++) {
    qsort(secs + i * (size_t)reps, (size_t)reps, sizeof(double), cmp_double);
    med[i] = secs[i * (size_t)reps + (size_t)reps / 2];
  }
  fprintf(t, "xsmem bench: median of %d runs, time and max RSS as ratios to %s (lower is better)\n", reps,
          allocs[0]);
  fprintf(t, "%-14s", "workload");
  for (size_t a = 0; a < na; a++) fprintf(t, " %17s", allocs[a]);
  fputc('\n', t);
  for (size_t w = 0; w < nw; w++) {
    fprintf(t, "%-14s", works[w]);
    for (size_t a = 0; a < na; a++) {
      size_t i = a * nw + w;
      if (failed[i]) fprintf(t, " %17s", "FAILED");
      else fprintf(t, "   %5.2fx t %5.2fx m", med[i] / med[w], rss[i] / rss[w]);
    }
    fputc('\n', t);
  }
  fprintf(t, "absolute (%s): ", allocs[0]);
  for (size_t w = 0; w < nw; w++) fprintf(t, "%s %.3f s / %.0f MiB  ", works[w], med[w], rss[w] / 1048576);
  fputc('\n', t);
  fclose(t);

  // HTML: grouped bars of the time ratio per workload.
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>xsmem bench</title><style>"
        "body{font:14px system-ui,sans-serif;margin:16px}pre{background:#f1f5f9;padding:8px}"
        "svg{width:100%;max-width:900px;height:auto}</style></head><body><h1>xsmem bench</h1>",
        h);
  static const char *const kColors[] = {"#64748b", "#94a3b8", "#2563eb", "#16a34a", "#f59e0b",
                                         "#dc2626", "#9333ea", "#0891b2"};
  double vmax = 1;
  for (size_t i = 0; i < na * nw; i++)
    if (!failed[i]) vmax = fmax(vmax, med[i] / med[i % nw]);
  int W = 900, H = 300, L = 50, B = 40;
  double gw = (double)(W - L - 10) / (double)nw, bw = gw * 0.8 / (double)na;
  fprintf(h, "<h2>Time relative to %s (median of %d)</h2><svg viewBox=\"0 0 %d %d\" "
             "xmlns=\"http://www.w3.org/2000/svg\">",
          allocs[0], reps, W, H + 20 * (int)((na + 5) / 6));
  for (int k = 0; k <= 4; k++) {
    double v = vmax * k / 4, y = 10 + (H - B - 10) * (1 - k / 4.0);
    fprintf(h, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e2e8f0\"/><text x=\"%d\" y=\"%.1f\" "
               "font-size=\"11\" text-anchor=\"end\">%.2fx</text>",
            L, W - 10, y, y, L - 4, y + 4, v);
  }
  for (size_t w = 0; w < nw; w++) {
    for (size_t a = 0; a < na; a++) {
      size_t i = a * nw + w;
      double v = failed[i] ? 0 : med[i] / med[w], bh = (H - B - 10) * v / vmax;
      fprintf(h, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s on %s: %.2fx "
                 "(%.3f s)</title></rect>",
              L + gw * (double)w + gw * 0.1 + bw * (double)a, H - B - bh, bw - 1, bh, kColors[a % 8], works[w],
              allocs[a], v, med[i]);
    }
    fprintf(h, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>", L + gw * (double)w + gw / 2,
            H - B + 16, works[w]);
  }
  for (size_t a = 0; a < na; a++)
    fprintf(h, "<rect x=\"%zu\" y=\"%zu\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%zu\" y=\"%zu\" "
               "font-size=\"12\">%s</text>",
            (size_t)L + (a % 6) * 140, (size_t)H + (a / 6) * 20, kColors[a % 8], (size_t)L + (a % 6) * 140 + 14,
            (size_t)H + (a / 6) * 20 + 10, allocs[a]);
  fputs("</svg><h2>Table</h2><pre>", h);
  for (const char *c = text; *c; c++) {
    if (*c == '<') fputs("&lt;", h);
    else if (*c == '&') fputs("&amp;", h);
    else fputc(*c, h);
  }
  fputs("</pre></body></html>\n", h);
  fclose(h);

  fputs(text, stdout);
  char *tp = NULL, *hp = NULL;
  bool ok = asprintf(&tp, "%s/bench.txt", out_dir) >= 0 && asprintf(&hp, "%s/bench.html", out_dir) >= 0 &&
            tool_write_atomic(tp, text, text_len) && tool_write_atomic(hp, html, html_len);
  if (ok) fprintf(stderr, "xsmem: wrote %s and %s\n", tp, hp);
  bool any_failed = false;
  for (size_t i = 0; i < na * nw; i++) any_failed |= failed[i];
  if (any_failed) tool_error("bench: some runs failed (marked FAILED)");
  free(tp);
  free(hp);
  free(text);
  free(html);
  free(secs);
  free(rss);
  free(med);
  free(failed);
  for (size_t a = 0; a < na; a++) free(libs[a]);
  for (size_t w = 0; w < nw; w++) free(owned[w]);
  free(self);
  free(allocs_s);
  free(works_s);
  return ok && !any_failed ? 0 : XSMEM_EXIT_FAIL;
}
