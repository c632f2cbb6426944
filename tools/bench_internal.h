// tools/bench_internal.h: what the files of `xsmem bench` share.
//
//   bench.c         the interleaved runs; the outputs
//   bench_plan.c    the command line into a plan, every name checked
//   bench_spawn.c   one program run under one allocator: time, peak RSS, output
//   bench_micro.c   the google-benchmark binary's JSON output into ns per operation
//   bench_report.c  the results as a text table, a markdown section, an HTML chart
//
// Private to tools/.
#ifndef XSMEM_TOOLS_BENCH_INTERNAL_H_
#define XSMEM_TOOLS_BENCH_INTERNAL_H_

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum {
  kBenchMaxAllocs = 32,
  kBenchMaxWorkloads = 16,
  kBenchMaxEnv = 8,     // --lib-env variables per allocator
  kBenchMaxMicro = 64,  // micro benchmarks kept (the rest are ignored)
  kBenchMaxReps = 50,
};

// An allocator compared: a preload library, or glibc (nothing preloaded).
typedef struct bench_alloc {
  char name[64];
  char *preload;                  // malloc'ed path, or NULL: glibc's malloc
  bool peer;                      // glibc, or Debian's jemalloc, mimalloc, tcmalloc
  const char *env[kBenchMaxEnv];  // "VAR=VALUE" (--lib-env) for its runs
  size_t n_env;
} bench_alloc;

// A workload and the command that runs it (its scale included).
typedef struct bench_workload {
  char name[32];
  char *argv[6];
  char *owned;  // the malloc'ed element of argv, if any
} bench_workload;

// What to run, from the command line (bench_plan.c).
typedef struct bench_plan {
  bench_alloc allocs[kBenchMaxAllocs];  // xsmem's first, then the peers
  size_t n_allocs;
  bench_workload works[kBenchMaxWorkloads];
  size_t n_works;
  int reps;
  double scale;
  char scale_s[32];
  const char *micro;  // the micro benchmark binary, or NULL
  double micro_min_time;
  double timeout_s;  // per workload run; a micro run gets 5 times as long
  bool pinned;       // --cpus: every program runs on `cpus` only
  cpu_set_t cpus;
  char cpus_s[64];
  const char *out_dir, *results, *title;
  char out_tmp[PATH_MAX];  // the fresh directory the outputs go to without --out
  int argc;                // the command line, for the markdown section
  char **argv;
  double load_at_start;
} bench_plan;

// Checks the command line (argv[0] is "bench") and everything it names, and
// fills p (self: this binary, for its built-in workloads). Returns 0, -1
// after --help, or the exit status after saying what was wrong.
int bench_make_plan(int argc, char **argv, bench_plan *p, char *self);
void bench_free_plan(bench_plan *p);

// Returns the index of glibc in p->allocs, else 0: what the text table and the
// chart give ratios to.
size_t bench_baseline(const bench_plan *p);

// ---------------------------------------------------------------------------
// One run (bench_spawn.c).

typedef struct bench_child {
  bool ok;         // exited with status 0 within the time allowed
  double secs;     // wall time, fork to reaping
  double rss_kib;  // the program's own peak_rss_kib= when it printed one, else wait4's ru_maxrss
  char *out;       // its standard output, NUL-terminated (malloc'ed; free it)
  char why[640];   // when !ok: how it ended, and the end of what it printed on stderr
} bench_child;

// Runs argv (argv[0] a path) under a, pinned as p says, for at most
// timeout_s seconds, its standard output captured and its standard error
// kept for the failure message. Always fills *c.
void bench_spawn(const bench_plan *p, const bench_alloc *a, char *const *argv, double timeout_s, bench_child *c);

// ---------------------------------------------------------------------------
// Results.

typedef struct bench_results {
  // Whole workloads, [alloc][workload][rep]: NAN where the run failed.
  double *secs, *rss_kib;
  bool *failed;       // [alloc][workload]: some repetition failed
  char **first_line;  // [alloc][workload]: the first line it printed (malloc'ed)
  // Micro benchmarks, in the order they first appeared; ns per operation
  // [benchmark][alloc][rep], NAN where missing.
  char *micro_names[kBenchMaxMicro];
  size_t n_micro;
  double *micro_ns;
  double took_s;
} bench_results;

static inline size_t bench_cell(const bench_plan *p, size_t a, size_t w) { return a * p->n_works + w; }

static inline size_t bench_run_at(const bench_plan *p, size_t a, size_t w, int rep) {
  return bench_cell(p, a, w) * (size_t)p->reps + (size_t)rep;
}

static inline size_t bench_micro_at(const bench_plan *p, size_t b, size_t a, int rep) {
  return (b * p->n_allocs + a) * (size_t)p->reps + (size_t)rep;
}

// Runs the micro benchmark binary once under allocator a and records its
// figures as repetition rep. Returns false after saying why (the run failed,
// or its output was no google benchmark JSON).
bool bench_micro_run(const bench_plan *p, size_t a, int rep, bench_results *r);

// Reads google benchmark's JSON output (text[0..len)) into r as allocator
// a's repetition rep: ns per operation (1e9 / items_per_second) by benchmark
// name, "/real_time" left out of the names. Returns false when the text
// holds no benchmarks array.
bool bench_micro_parse(const bench_plan *p, const char *text, size_t len, size_t a, int rep, bench_results *r);

// ---------------------------------------------------------------------------
// Reports (bench_report.c).

// Returns the median of the n values that are not NAN (NAN when none).
double bench_median(const double *v, size_t n);

// The text table printed and written to bench.txt: per workload, median time
// and peak RSS as ratios to the baseline, a geometric mean, the baseline's
// absolute figures; the micro benchmarks likewise.
void bench_report_text(FILE *f, const bench_plan *p, const bench_results *r);

// The markdown section for bench/RESULTS.md: the machine and command, then
// medians with ratios to glibc and to the best peer (jemalloc, mimalloc,
// tcmalloc) and their geometric means, for wall time, peak RSS and the
// micro benchmarks.
void bench_report_markdown(FILE *f, const bench_plan *p, const bench_results *r);

// A self-contained HTML page: bars of each workload's time ratio, then the
// text table.
// One row per (workload or micro benchmark, allocator): the median, its
// ratio to the baseline, and for workloads the peak RSS and its ratio.
void bench_report_csv(FILE *f, const bench_plan *p, const bench_results *r);
void bench_report_json(FILE *f, const bench_plan *p, const bench_results *r);
void bench_report_html(FILE *f, const bench_plan *p, const bench_results *r, const char *text);

#endif  // XSMEM_TOOLS_BENCH_INTERNAL_H_
