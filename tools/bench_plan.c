// tools/bench_plan.c: the command line of `xsmem bench` into a plan: the
// allocators to compare, the workloads' command lines, the CPUs to pin to,
// and the outputs, every name and path checked before anything runs (a
// usage error exits 2 with nothing run or written).
//
// Allocators: xsmem configurations (libxsmem_NAME.so, found as `run` finds
// them), any library given as --lib NAME=PATH, and the peers: glibc (nothing
// preloaded) and Debian's jemalloc, mimalloc and tcmalloc
// (/usr/lib/x86_64-linux-gnu; skipped with a message when not installed).
// xsmem's come first, in the order named, then the peers. Workloads: the
// bench suite's programs (//bench/workloads, from the runfiles), "python"
// (Debian's python3 over tools/demo_workload.py), and those built into this
// binary (workloads.c).
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/output.h"
#include "tools/bench_internal.h"
#include "tools/xsmem.h"

static const char kPeerDir[] = "/usr/lib/x86_64-linux-gnu";
static const struct {
  const char *name, *lib;
} kPeers[] = {
    {"glibc", NULL},
    {"jemalloc", "libjemalloc.so.2"},
    {"mimalloc", "libmimalloc.so.2"},
    {"tcmalloc", "libtcmalloc_minimal.so.4"},
};
enum { kNumPeers = sizeof(kPeers) / sizeof(kPeers[0]) };

// The bench suite's programs (//bench/workloads), found in the runfiles;
// each takes its scale as its one argument.
static const char *const kSuite[] = {
    "larson",         "xmalloc",      "cache_scratch",  "large_blocks",     "churn",
    "pairs",          "pairs_rounds", "bulk_free",      "random_sizes",     "random_sizes_2t",
    "xthread_random", "thread_loop",  "write_locality", "producer_consumer"};
enum { kNumSuite = sizeof(kSuite) / sizeof(kSuite[0]) };

static void bench_usage(FILE *f) {
  fputs(
      "usage: xsmem bench [OPTIONS]   (every option also as --NAME=VALUE)\n"
      "  --allocators A,B,...     xsmem configurations (libxsmem_NAME.so) and peers: glibc (nothing\n"
      "                           preloaded), jemalloc, mimalloc, tcmalloc (Debian's libraries in\n"
      "                           /usr/lib/x86_64-linux-gnu)\n"
      "                           [glibc,system,default,bfc,pool,jemalloc,mimalloc,tcmalloc]\n"
      "  --peers P,Q,...          the peers instead of those named in --allocators ('' for none)\n"
      "  --lib NAME=PATH          also preload the library PATH, as NAME (repeatable)\n"
      "  --lib-env NAME:VAR=VALUE set VAR for NAME's runs (repeatable): --lib-env\n"
      "                           default_tracked_full:XSMEM_TRACK=full\n"
      "  --workloads W,X,...      larson, xmalloc, cache_scratch, large_blocks, churn, pairs, pairs_rounds,\n"
      "                           bulk_free, random_sizes, random_sizes_2t, xthread_random, thread_loop,\n"
      "                           write_locality, producer_consumer, large_random (bench/workloads),\n"
      "                           python, small, mixed, large, threads ('' for none)\n"
      "                           [larson,xmalloc,cache_scratch,large_blocks,churn,bulk_free,random_sizes,\n"
      "                           random_sizes_2t,xthread_random,thread_loop,write_locality,\n"
      "                           producer_consumer,python]\n"
      "  --reps N                 repetitions of every run, interleaved, 1..50 [3]\n"
      "  --scale X                work per workload run, (0, 64] [1]\n"
      "  --micro PATH             also run this google benchmark binary (//bench:micro) under each\n"
      "  --micro-min-time S       its --benchmark_min_time [0.05]\n"
      "  --no-micro               skip the micro benchmarks\n"
      "  --cpus LIST              run every program on these CPUs only (1, 0,2 or 0-1)\n"
      "  --timeout S              seconds before a run counts as failed (micro runs: 5 times that) [120]\n"
      "  --out DIR                bench.txt (the tables printed), .html, .md, .csv, .json [a new "
      "$TMPDIR/xsmem-bench-*]\n"
      "  --results FILE.md        append the markdown section to FILE.md (bench/RESULTS.md)\n"
      "  --title TEXT             a note for that section's heading\n"
      "Columns: the xsmem allocators in the order named, then the peers. Medians; the table gives\n"
      "ratios to glibc (else the first column), the markdown also to the best of jemalloc, mimalloc\n"
      "and tcmalloc, with geometric means. Exit status 1 when a run failed (its cell: FAILED).\n",
      f);
}

// ---------------------------------------------------------------------------
// The command line.

// What the command line names, before it is checked.
typedef struct bench_args {
  const char *allocators, *peers, *workloads;  // peers: NULL when not given
  const char *libs[kBenchMaxAllocs];
  size_t n_libs;
  const char *lib_envs[kBenchMaxAllocs * kBenchMaxEnv];
  size_t n_lib_envs;
  bool no_micro;
} bench_args;

static bool parse_number(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (!*s || *end || errno || !isfinite(v)) return false;
  *out = v;
  return true;
}

// Fills p and x from argv. Returns 0, -1 after --help, or the exit status
// after saying what was wrong.
static int parse_args(int argc, char **argv, bench_plan *p, bench_args *x) {
  static const struct {
    const char *name;
    bool value;
  } kOptions[] = {
      {"--allocators", true}, {"--peers", true},   {"--lib", true},   {"--lib-env", true},        {"--workloads", true},
      {"--reps", true},       {"--scale", true},   {"--micro", true}, {"--micro-min-time", true}, {"--no-micro", false},
      {"--cpus", true},       {"--timeout", true}, {"--out", true},   {"--results", true},        {"--title", true}};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      bench_usage(stdout);
      return -1;
    }
    const char *eq = !strncmp(argv[i], "--", 2) ? strchr(argv[i], '=') : NULL;
    size_t len = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
    const char *opt = NULL, *v = eq ? eq + 1 : NULL;
    bool takes = false;
    for (size_t k = 0; k < sizeof kOptions / sizeof kOptions[0] && !opt; k++)
      if (strlen(kOptions[k].name) == len && !strncmp(argv[i], kOptions[k].name, len)) {
        opt = kOptions[k].name;
        takes = kOptions[k].value;
      }
    if (!opt || (!takes && v)) {
      const char *names[XSMEM_ARRAY_SIZE(kOptions)];
      for (size_t k = 0; k < XSMEM_ARRAY_SIZE(kOptions); k++) names[k] = kOptions[k].name;
      char given[64];
      snprintf(given, sizeof given, "%.*s", (int)len, argv[i]);
      const char *near = tool_closest(given, names, XSMEM_ARRAY_SIZE(kOptions));
      if (near) {
        tool_error("bench: unknown option '%s' (did you mean '%s'? xsmem bench --help lists them)", argv[i], near);
      } else {
        tool_error("bench: unknown option '%s' (xsmem bench --help lists them)", argv[i]);
      }
      return XSMEM_EXIT_USAGE;
    }
    if (takes && !v) {
      if (i + 1 == argc) {
        tool_error("bench: %s takes a value", opt);
        return XSMEM_EXIT_USAGE;
      }
      v = argv[++i];
    }
    double num = 0;
    bool numeric = !strcmp(opt, "--reps") || !strcmp(opt, "--scale") || !strcmp(opt, "--micro-min-time") ||
        !strcmp(opt, "--timeout");
    if (numeric && !parse_number(v, &num)) {
      tool_error("bench: %s takes a number (got '%s')", opt, v);
      return XSMEM_EXIT_USAGE;
    }
    if (!strcmp(opt, "--allocators")) x->allocators = v;
    else if (!strcmp(opt, "--peers")) x->peers = v;
    else if (!strcmp(opt, "--workloads")) x->workloads = v;
    else if (!strcmp(opt, "--no-micro")) x->no_micro = true;
    else if (!strcmp(opt, "--micro")) p->micro = v;
    else if (!strcmp(opt, "--cpus")) snprintf(p->cpus_s, sizeof p->cpus_s, "%s", v);
    else if (!strcmp(opt, "--out")) p->out_dir = v;
    else if (!strcmp(opt, "--results")) p->results = v;
    else if (!strcmp(opt, "--title")) p->title = v;
    else if (!strcmp(opt, "--reps")) p->reps = num == floor(num) && num >= 1 && num <= kBenchMaxReps ? (int)num : 0;
    else if (!strcmp(opt, "--scale")) p->scale = num;
    else if (!strcmp(opt, "--micro-min-time")) p->micro_min_time = num;
    else if (!strcmp(opt, "--timeout")) p->timeout_s = num;
    else if (!strcmp(opt, "--lib") && x->n_libs < kBenchMaxAllocs) x->libs[x->n_libs++] = v;
    else if (!strcmp(opt, "--lib-env") && x->n_lib_envs < kBenchMaxAllocs * kBenchMaxEnv)
      x->lib_envs[x->n_lib_envs++] = v;
    else {
      tool_error("bench: too many %s options", opt);
      return XSMEM_EXIT_USAGE;
    }
  }
  if (p->reps < 1) {
    tool_error("bench: --reps takes 1..%d", kBenchMaxReps);
    return XSMEM_EXIT_USAGE;
  }
  if (!(p->scale > 0 && p->scale <= 64)) {
    tool_error("bench: --scale takes a number in (0, 64]");
    return XSMEM_EXIT_USAGE;
  }
  if (!(p->micro_min_time > 0) || !(p->timeout_s > 0)) {
    tool_error("bench: --micro-min-time and --timeout take seconds above 0");
    return XSMEM_EXIT_USAGE;
  }
  if (x->no_micro) p->micro = NULL;
  return 0;
}

// Returns the next comma-separated item of *list (copied into buf), or NULL.
static const char *next_item(const char **list, char *buf, size_t n) {
  while (**list == ',') (*list)++;
  if (!**list) return NULL;
  size_t len = strcspn(*list, ",");
  snprintf(buf, n, "%.*s", (int)len, *list);
  *list += len;
  return buf;
}

static int peer_index(const char *name) {
  for (int k = 0; k < kNumPeers; k++)
    if (!strcmp(name, kPeers[k].name)) return k;
  return -1;
}

// A name usable in tables and file names: letters, digits, '_', '-', '.', '+'.
static bool good_name(const char *s) {
  if (!*s || strlen(s) >= sizeof(((bench_alloc *)0)->name)) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("_-.+", *s)))
      return false;
  return true;
}

static bench_alloc *find_alloc(bench_plan *p, const char *name) {
  for (size_t a = 0; a < p->n_allocs; a++)
    if (!strcmp(p->allocs[a].name, name)) return &p->allocs[a];
  return NULL;
}

static int add_alloc(bench_plan *p, const char *name, char *preload, bool peer) {
  if (p->n_allocs == kBenchMaxAllocs || find_alloc(p, name)) {
    if (p->n_allocs == kBenchMaxAllocs) tool_error("bench: at most %d allocators", kBenchMaxAllocs);
    else tool_error("bench: two allocators named '%s'", name);
    free(preload);
    return XSMEM_EXIT_USAGE;
  }
  bench_alloc *a = &p->allocs[p->n_allocs++];
  snprintf(a->name, sizeof a->name, "%s", name);
  a->preload = preload;
  a->peer = peer;
  return 0;
}

// The allocators, xsmem's first: configurations named in --allocators, then
// --lib libraries, then the peers (--peers, else those named in
// --allocators), then the --lib-env variables. Returns 0 or the exit status
// after saying what was wrong.
static int choose_allocators(bench_plan *p, const bench_args *x) {
  char name[256];
  const char *list = x->allocators;
  int rc = 0;
  while (!rc && next_item(&list, name, sizeof name)) {
    if (peer_index(name) >= 0) continue;
    char *lib = good_name(name) ? tool_find_library(name) : NULL;
    if (!lib) {
      char **names;
      size_t n = tool_list_configs(&names);
      const char *near = tool_closest(name, (const char *const *)names, n);
      char hint[300] = "";
      if (near) snprintf(hint, sizeof hint, "did you mean '%s'? ", near);
      tool_error("bench: unknown configuration '%s' (%sno libxsmem_%s.so; see xsmem list)", name, hint, name);
      for (size_t i = 0; i < n; i++) free(names[i]);
      free(names);
      return XSMEM_EXIT_USAGE;
    }
    rc = add_alloc(p, name, lib, false);
  }
  for (size_t i = 0; !rc && i < x->n_libs; i++) {
    const char *spec = x->libs[i], *eq = strchr(spec, '=');
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - spec) : 0, spec);
    if (!eq || !eq[1] || !good_name(name)) {
      tool_error("bench: --lib wants NAME=PATH (NAME of letters, digits, _-.+), got '%s'", spec);
      return XSMEM_EXIT_USAGE;
    }
    char *path = realpath(eq + 1, NULL);
    if (!path || access(path, R_OK) != 0) {
      tool_error("bench: --lib %s: no library at %s", name, eq + 1);
      free(path);
      return XSMEM_EXIT_USAGE;
    }
    rc = add_alloc(p, name, path, false);
  }
  list = x->peers ? x->peers : x->allocators;
  while (!rc && next_item(&list, name, sizeof name)) {
    int k = peer_index(name);
    if (k < 0) {
      if (!x->peers) continue;  // a configuration, added above
      tool_error("bench: unknown peer '%s' (glibc, jemalloc, mimalloc, tcmalloc)", name);
      return XSMEM_EXIT_USAGE;
    }
    char *lib = NULL;
    if (kPeers[k].lib && asprintf(&lib, "%s/%s", kPeerDir, kPeers[k].lib) >= 0 && access(lib, R_OK) != 0) {
      tool_error("bench: skipping %s: %s is not installed", name, lib);
      free(lib);
      continue;
    }
    rc = add_alloc(p, name, lib, true);
  }
  for (size_t i = 0; !rc && i < x->n_lib_envs; i++) {
    const char *spec = x->lib_envs[i], *colon = strchr(spec, ':'), *eq = colon ? strchr(colon, '=') : NULL;
    if (!colon || !eq || eq == colon + 1) {
      tool_error("bench: --lib-env wants NAME:VAR=VALUE, got '%s'", spec);
      return XSMEM_EXIT_USAGE;
    }
    snprintf(name, sizeof name, "%.*s", (int)(colon - spec), spec);
    bench_alloc *a = find_alloc(p, name);
    if (!a) {
      tool_error("bench: --lib-env names '%s', which is none of the allocators compared (--allocators, --lib)", name);
      return XSMEM_EXIT_USAGE;
    }
    // A variable set twice keeps the last value.
    size_t k = 0, var_len = (size_t)(eq - colon);  // "VAR="
    while (k < a->n_env && strncmp(a->env[k], colon + 1, var_len)) k++;
    if (k == kBenchMaxEnv) {
      tool_error("bench: at most %d --lib-env variables for '%s'", kBenchMaxEnv, name);
      return XSMEM_EXIT_USAGE;
    }
    a->env[k] = colon + 1;
    if (k == a->n_env) a->n_env++;
  }
  if (!rc && p->n_allocs == 0) {
    tool_error("bench: no allocator to compare");
    rc = XSMEM_EXIT_USAGE;
  }
  return rc;
}

static bool is_suite(const char *w) {
  for (int k = 0; k < kNumSuite; k++)
    if (!strcmp(w, kSuite[k])) return true;
  return false;
}

// Each workload's command line: a suite program, python3 over the demo
// script, or this binary's built-in workload. Returns 0 or the exit status
// after saying what was wrong.
static int choose_workloads(bench_plan *p, const char *list, char *self) {
  char name[256];
  while (next_item(&list, name, sizeof name)) {
    if (p->n_works == kBenchMaxWorkloads) {
      tool_error("bench: at most %d workloads", kBenchMaxWorkloads);
      return XSMEM_EXIT_USAGE;
    }
    bench_workload *w = &p->works[p->n_works];
    // Known names only get past the checks below, and all fit.
    snprintf(w->name, sizeof w->name, "%.*s", (int)sizeof w->name - 1, name);
    char rel[300];
    snprintf(rel, sizeof rel, "bench/workloads/%s", name);
    if (is_suite(name) && (w->owned = tool_find_runfile(rel))) {
      w->argv[0] = w->owned;
      w->argv[1] = p->scale_s;
    } else if (!strcmp(name, "python") && (w->owned = tool_find_runfile("tools/demo_workload.py")) &&
               access("/usr/bin/python3", X_OK) == 0) {
      w->argv[0] = "/usr/bin/python3";
      w->argv[1] = w->owned;
    } else if (tool_is_builtin_workload(name) && self) {
      w->argv[0] = self;
      w->argv[1] = "__workload";
      w->argv[2] = w->name;
      w->argv[3] = p->scale_s;
    } else {
      free(w->owned);
      w->owned = NULL;
      if (is_suite(name) || !strcmp(name, "python")) {
        tool_error("bench: workload '%s' is neither in the runfiles nor beside the binary (build //tools:xsmem)", name);
        return XSMEM_EXIT_FAIL;
      }
      tool_error(
          "bench: unknown workload '%s' (larson, xmalloc, cache_scratch, large_blocks, churn, pairs, "
          "pairs_rounds, bulk_free, random_sizes, random_sizes_2t, xthread_random, thread_loop, write_locality, "
          "producer_consumer, large_random, python, small, mixed, large, threads)",
          name);
      return XSMEM_EXIT_USAGE;
    }
    p->n_works++;
  }
  return 0;
}

// Reads --cpus ("1", "0,2", "0-1") into p->cpus. Returns 0 or the exit
// status after saying what was wrong (not a CPU list, or a CPU this process
// may not run on).
static int choose_cpus(bench_plan *p) {
  if (!p->cpus_s[0]) return 0;
  cpu_set_t allowed;
  CPU_ZERO(&p->cpus);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) CPU_ZERO(&allowed);
  char part[64];
  const char *list = p->cpus_s;
  while (next_item(&list, part, sizeof part)) {
    char *end;
    errno = 0;
    long lo = strtol(part, &end, 10), hi = lo;
    if (*end == '-') hi = strtol(end + 1, &end, 10);
    if (errno || *end || part[0] < '0' || part[0] > '9' || lo < 0 || hi < lo) {
      tool_error("bench: --cpus: '%s' is not a CPU list (like 1, 0,2 or 0-1)", p->cpus_s);
      return XSMEM_EXIT_USAGE;
    }
    for (long c = lo; c <= hi; c++) {
      if (c >= CPU_SETSIZE || !CPU_ISSET((int)c, &allowed)) {
        char mine[256] = "";
        for (int k = 0, n = 0; k < CPU_SETSIZE && n < (int)sizeof mine - 16; k++)
          if (CPU_ISSET(k, &allowed)) n += snprintf(mine + n, sizeof mine - (size_t)n, "%s%d", n ? "," : "", k);
        tool_error("bench: --cpus: CPU %ld is not available here (allowed: %s)", c, mine);
        return XSMEM_EXIT_USAGE;
      }
      CPU_SET((int)c, &p->cpus);
    }
  }
  if (CPU_COUNT(&p->cpus) == 0) return 0;
  // The list as the results show it: every CPU, in order.
  p->pinned = true;
  size_t n = 0;
  for (int k = 0; k < CPU_SETSIZE && n < sizeof p->cpus_s - 16; k++)
    if (CPU_ISSET(k, &p->cpus)) n += (size_t)snprintf(p->cpus_s + n, sizeof p->cpus_s - n, "%s%d", n ? "," : "", k);
  return 0;
}

// ---------------------------------------------------------------------------
// The plan.

int bench_make_plan(int argc, char **argv, bench_plan *p, char *self) {
  bench_args x = {.allocators = "glibc,system,default,bfc,pool,jemalloc,mimalloc,tcmalloc",
                  .workloads =
                      "larson,xmalloc,cache_scratch,large_blocks,churn,bulk_free,random_sizes,random_sizes_2t,"
                      "xthread_random,thread_loop,write_locality,producer_consumer,python"};
  p->reps = 3;
  p->scale = 1;
  p->micro_min_time = 0.05;
  p->timeout_s = 120;
  p->out_dir = NULL;  // none asked for: a fresh directory under $TMPDIR, said at the end
  p->argc = argc;
  p->argv = argv;
  int rc = parse_args(argc, argv, p, &x);
  if (rc) return rc;
  snprintf(p->scale_s, sizeof p->scale_s, "%g", p->scale);
  if ((rc = choose_cpus(p)) || (rc = choose_allocators(p, &x)) || (rc = choose_workloads(p, x.workloads, self)))
    return rc;
  if (p->micro && access(p->micro, X_OK) != 0) {
    tool_error("bench: --micro %s: not an executable file", p->micro);
    return XSMEM_EXIT_USAGE;
  }
  if (!p->n_works && !p->micro) {
    tool_error("bench: no workload and no micro benchmark to run");
    return XSMEM_EXIT_USAGE;
  }
  // Fail before running anything when an output cannot be written.
  char why[PATH_MAX + 256];
  if (p->results && !xsmem_output_check(p->results, why, sizeof why)) {
    tool_error("bench: %s", why);
    return XSMEM_EXIT_FAIL;
  }
  if (!p->out_dir) {
    // Never into the working directory unasked (under `bazel run` that is
    // the source tree).
    const char *tmpdir = getenv("TMPDIR");
    snprintf(p->out_tmp, sizeof p->out_tmp, "%s/xsmem-bench-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(p->out_tmp)) {
      tool_error("bench: cannot create %s: %s", p->out_tmp, strerror(errno));
      return XSMEM_EXIT_FAIL;
    }
    p->out_dir = p->out_tmp;
  } else if (mkdir(p->out_dir, 0755) != 0 && errno != EEXIST) {
    tool_error("bench: cannot create %s: %s", p->out_dir, strerror(errno));
    return XSMEM_EXIT_FAIL;
  }
  double load[1];
  p->load_at_start = getloadavg(load, 1) == 1 ? load[0] : NAN;
  return 0;
}

void bench_free_plan(bench_plan *p) {
  for (size_t a = 0; a < p->n_allocs; a++) free(p->allocs[a].preload);
  for (size_t w = 0; w < p->n_works; w++) free(p->works[w].owned);
}
