// tools/bench.c: `xsmem bench`: workloads and micro benchmarks under each
// allocator, the one benchmark driver (`./bazelw run //bench:run` runs it
// with the suite's defaults).
//
// The command line becomes a plan (bench_plan.c). Every (workload,
// allocator) pair then runs --reps times, interleaved (each repetition runs
// every workload under every allocator in turn, so drift in the machine's
// speed hits every allocator alike), then the micro benchmarks the same way
// (bench_micro.c); each run is a child process (bench_spawn.c), pinned to
// --cpus when given and killed past --timeout. Medians are reported
// (bench_report.c): a text table of ratios on stdout and in --out DIR
// (bench.txt, with bench.html, a bar chart, and bench.md), and the markdown
// section bench/RESULTS.md collects, appended to --results FILE.md. A
// progress bar is drawn on stderr when it is a terminal, else one line per
// run.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/output.h"
#include "tools/bench_internal.h"
#include "tools/xsmem.h"

// ---------------------------------------------------------------------------
// The runs.

// Progress: runs done of each kind and the time they took. Workload runs
// and micro runs differ by tens of times, so each kind's remainder is
// estimated from its own mean; micro runs not yet timed are named, not guessed.
typedef struct bench_clock {
  size_t done[2], total[2];  // [0] workload runs, [1] micro runs
  double spent[2];
} bench_clock;

static size_t clock_done(const bench_clock *k) { return k->done[0] + k->done[1]; }
static size_t clock_total(const bench_clock *k) { return k->total[0] + k->total[1]; }

// The time left ("" before the first run).
static const char *time_left(const bench_clock *k, char *buf, size_t cap) {
  if (clock_done(k) == 0) return "";
  double left = 0;
  bool untimed = false;
  for (int i = 0; i < 2; i++) {
    if (k->done[i]) left += k->spent[i] / (double)k->done[i] * (double)(k->total[i] - k->done[i]);
    else untimed |= k->total[i] > 0;
  }
  const char *more = untimed ? " + micro" : "";
  if (left >= 60) snprintf(buf, cap, ", ~%.0fm%02.0fs%s left", floor(left / 60), fmod(left, 60), more);
  else snprintf(buf, cap, ", ~%.0fs%s left", left, more);
  return buf;
}

// Counts a run of kind i that took `secs`.
static void clock_tick(bench_clock *k, int i, double secs) {
  k->done[i]++;
  k->spent[i] += secs;
}

// A bar redrawn in place on a terminal; elsewhere (a pipe, a log) the lines
// run_all prints after each run carry the same count and estimate.
static void progress(const bench_clock *k, const char *what) {
  if (!isatty(2)) return;
  char eta[48];
  size_t done = clock_done(k), total = clock_total(k);
  int width = 30, fill = (int)(width * done / (total ? total : 1));
  fprintf(stderr, "\r[%.*s%*s] %3zu%%%-26s %-28.28s", fill, "##############################", width - fill, "",
          100 * done / (total ? total : 1), time_left(k, eta, sizeof eta), what);
  if (done == total) fputs("\n", stderr);
}

// Runs every workload under every allocator p->reps times, then the micro
// benchmarks. Returns false when a run failed (each said why).
static bool run_all(const bench_plan *p, bench_results *r) {
  bench_clock k = {.total = {p->n_allocs * p->n_works * (size_t)p->reps, p->micro ? p->n_allocs * (size_t)p->reps : 0}};
  bool ok = true, tty = isatty(2);
  char eta[48];
  // Repetitions outermost: drift in the machine's speed hits every allocator alike.
  for (int rep = 0; rep < p->reps; rep++)
    for (size_t w = 0; w < p->n_works; w++)
      for (size_t a = 0; a < p->n_allocs; a++) {
        char what[96];
        snprintf(what, sizeof what, "%s / %s", p->works[w].name, p->allocs[a].name);
        progress(&k, what);
        double t = tool_now_s();
        bench_child c;
        bench_spawn(p, &p->allocs[a], p->works[w].argv, p->timeout_s, &c);
        clock_tick(&k, 0, tool_now_s() - t);
        size_t i = bench_run_at(p, a, w, rep), cell = bench_cell(p, a, w);
        if (c.ok) {
          r->secs[i] = c.secs;
          r->rss_kib[i] = c.rss_kib;
          if (!r->first_line[cell] && c.out) r->first_line[cell] = strndup(c.out, strcspn(c.out, "\n"));
          if (!tty)
            fprintf(stderr, "[%zu/%zu%s] rep %d %-14s %-12s %7.3f s %8.0f KiB\n", clock_done(&k), clock_total(&k),
                    time_left(&k, eta, sizeof eta), rep + 1, p->works[w].name, p->allocs[a].name, c.secs, c.rss_kib);
        } else {
          if (tty) fputc('\n', stderr);
          tool_error("bench: %s failed under %s (%s)", p->works[w].name, p->allocs[a].name, c.why);
          r->failed[cell] = true;
          ok = false;
        }
        free(c.out);
      }
  for (int rep = 0; p->micro && rep < p->reps; rep++)
    for (size_t a = 0; a < p->n_allocs; a++) {
      char what[96];
      snprintf(what, sizeof what, "micro / %s", p->allocs[a].name);
      progress(&k, what);
      double t = tool_now_s();
      bool ran = bench_micro_run(p, a, rep, r);
      clock_tick(&k, 1, tool_now_s() - t);
      if (!ran) ok = false;
      else if (!tty)
        fprintf(stderr, "[%zu/%zu%s] rep %d micro          %-12s done\n", clock_done(&k), clock_total(&k),
                time_left(&k, eta, sizeof eta), rep + 1, p->allocs[a].name);
    }
  progress(&k, "done");
  return ok;
}

// Warns when a workload printed different checksums under different
// allocators: the same work everywhere gives the same checksum.
static void check_checksums(const bench_plan *p, const bench_results *r) {
  for (size_t w = 0; w < p->n_works; w++) {
    const char *first = NULL;
    bool differ = false;
    for (size_t a = 0; a < p->n_allocs; a++) {
      const char *line = r->first_line[bench_cell(p, a, w)], *sum = line ? strstr(line, "checksum=") : NULL;
      if (!sum) continue;
      if (first && strcspn(first, " ") == strcspn(sum, " ") && !strncmp(first, sum, strcspn(sum, " "))) continue;
      differ |= first != NULL;
      if (!first) first = sum;
    }
    if (!differ) continue;
    char *list = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&list, &len);
    for (size_t a = 0; a < p->n_allocs; a++) {
      const char *line = r->first_line[bench_cell(p, a, w)], *sum = line ? strstr(line, "checksum=") : NULL;
      if (sum) fprintf(f, " %s=%.*s", p->allocs[a].name, (int)strcspn(sum + 9, " "), sum + 9);
    }
    fclose(f);
    tool_error("bench: WARNING: %s printed different checksums:%s", p->works[w].name, list);
    free(list);
  }
}

// ---------------------------------------------------------------------------
// The outputs.

// Appends the markdown section md to path (a file not ending in a newline
// gets one first; a new or empty file starts with a title). A device or FIFO
// is written in place (export/output.h).
static bool append_results(const char *path, const char *md, size_t len) {
  char why[PATH_MAX + 256];
  bool regular = false, empty = false;
  int fd = xsmem_output_append_open(path, -1, &regular, &empty, why, sizeof why);
  if (fd < 0) {
    tool_error("%s", why);
    return false;
  }
  bool newline = false;
  if (regular && !empty) {
    int r = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char last;
    if (r >= 0 && fstat(r, &st) == 0 && st.st_size > 0 && pread(r, &last, 1, st.st_size - 1) == 1)
      newline = last != '\n';
    if (r >= 0) close(r);
  }
  char *all = NULL;
  size_t all_len = 0;
  FILE *f = open_memstream(&all, &all_len);
  if (newline) fputc('\n', f);
  if (empty)
    fputs(
        "# xsmem bench results\n\nWritten by `xsmem bench --results` (`./bazelw run //bench:run`), newest section "
        "last; bench/workloads/BUILD.bazel says what each workload does.\n",
        f);
  fwrite(md, 1, len, f);
  fclose(f);
  bool ok = xsmem_output_write_fd(fd, all, all_len, -1);
  if (close(fd) != 0) ok = false;
  if (ok) fprintf(stderr, "xsmem: appended to %s\n", path);
  else tool_error("cannot write %s: %s", path, strerror(errno));
  free(all);
  return ok;
}

// Prints the table and writes DIR/bench.txt, bench.html and bench.md, and
// the markdown section to --results. Returns false when one was not written.
static bool write_outputs(const bench_plan *p, const bench_results *r) {
  char *text = NULL, *html = NULL, *md = NULL;
  size_t text_len = 0, html_len = 0, md_len = 0;
  FILE *t = open_memstream(&text, &text_len);
  bench_report_text(t, p, r);
  fclose(t);
  FILE *h = open_memstream(&html, &html_len);
  bench_report_html(h, p, r, text);
  fclose(h);
  FILE *m = open_memstream(&md, &md_len);
  bench_report_markdown(m, p, r);
  fclose(m);
  fputs(text, stdout);
  fflush(stdout);
  char *csv = NULL, *json = NULL;
  size_t csv_len = 0, json_len = 0;
  FILE *c = open_memstream(&csv, &csv_len);
  bench_report_csv(c, p, r);
  fclose(c);
  FILE *j = open_memstream(&json, &json_len);
  bench_report_json(j, p, r);
  fclose(j);
  static const char *const kNames[] = {"bench.txt", "bench.html", "bench.md", "bench.csv", "bench.json"};
  const char *const data[] = {text, html, md, csv, json};
  const size_t lens[] = {text_len, html_len, md_len, csv_len, json_len};
  bool ok = true;
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kNames) && ok; i++) {
    char *path = NULL;
    ok = asprintf(&path, "%s/%s", p->out_dir, kNames[i]) >= 0 && tool_write_atomic(path, data[i], lens[i]);
    free(path);
  }
  if (ok) fprintf(stderr, "xsmem: wrote bench.txt, .html, .md, .csv and .json in %s\n", p->out_dir);
  if (p->results && !append_results(p->results, md, md_len)) ok = false;
  free(text);
  free(html);
  free(md);
  free(csv);
  free(json);
  return ok;
}

// ---------------------------------------------------------------------------

static void free_results(const bench_plan *p, bench_results *r) {
  for (size_t i = 0; r->first_line && i < p->n_allocs * p->n_works; i++) free(r->first_line[i]);
  for (size_t b = 0; b < r->n_micro; b++) free(r->micro_names[b]);
  free(r->secs);
  free(r->rss_kib);
  free(r->failed);
  free(r->first_line);
  free(r->micro_ns);
}

int tool_cmd_bench(int argc, char **argv) {
  static bench_plan plan;  // large (every allocator's and workload's command)
  bench_plan *p = &plan;
  memset(p, 0, sizeof *p);
  char *self = realpath("/proc/self/exe", NULL);
  int rc = bench_make_plan(argc, argv, p, self);
  if (rc) {
    bench_free_plan(p);
    free(self);
    return rc < 0 ? 0 : rc;
  }
  size_t cells = p->n_allocs * p->n_works, runs = cells * (size_t)p->reps;
  bench_results r = {
      .secs = malloc((runs + 1) * sizeof(double)),
      .rss_kib = malloc((runs + 1) * sizeof(double)),
      .failed = calloc(cells + 1, sizeof(bool)),
      .first_line = calloc(cells + 1, sizeof(char *)),
      .micro_ns = malloc((kBenchMaxMicro * p->n_allocs * (size_t)p->reps + 1) * sizeof(double)),
  };
  if (!r.secs || !r.rss_kib || !r.failed || !r.first_line || !r.micro_ns) {
    tool_error("bench: out of memory");
    free_results(p, &r);
    bench_free_plan(p);
    free(self);
    return XSMEM_EXIT_FAIL;
  }
  for (size_t i = 0; i < runs; i++) r.secs[i] = r.rss_kib[i] = NAN;
  for (size_t i = 0; i < kBenchMaxMicro * p->n_allocs * (size_t)p->reps; i++) r.micro_ns[i] = NAN;
  double t0 = tool_now_s();
  bool ran = run_all(p, &r);
  r.took_s = tool_now_s() - t0;
  check_checksums(p, &r);
  bool wrote = write_outputs(p, &r);
  if (!ran) tool_error("bench: some runs failed (marked FAILED; the others are in the results)");
  free_results(p, &r);
  bench_free_plan(p);
  free(self);
  return ran && wrote ? 0 : XSMEM_EXIT_FAIL;
}
