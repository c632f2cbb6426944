// tools/xsmem.c: the `xsmem` command's entry point (usage, dispatch to the
// subcommands) and the helpers every subcommand uses: messages, byte counts,
// terminal escaping, atomic writes. Each subcommand lives in its own file
// (run.c, report.c, stats.c, bench.c, top.c, history.c, list.c); shared pieces are
// declared in xsmem.h.
#include "tools/xsmem.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "export/format.h"
#include "export/output.h"
#include "export/snapshot.h"

#ifndef XSMEM_VERSION
#define XSMEM_VERSION "unknown"  // tools/BUILD.bazel passes //:version.bzl's
#endif

// ---------------------------------------------------------------------------
// Messages and numbers.

void tool_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("xsmem: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

const char *tool_bytes(double bytes, char *buf, size_t n) {
  static const char *const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = bytes;
  while (fabs(v) >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (u == 0) snprintf(buf, n, "%.0f B", v);
  else snprintf(buf, n, "%.1f %s", v, kUnits[u]);
  return buf;
}

const char *tool_count(double n, char *buf, size_t cap) {
  static const char *const kUnits[] = {"", "k", "M", "G", "T"};
  int u = 0;
  while (fabs(n) >= 1000 && u < 4) {
    n /= 1000;
    u++;
  }
  if (u == 0) snprintf(buf, cap, "%.0f", n);
  else snprintf(buf, cap, n < 10 ? "%.2f%s" : n < 100 ? "%.1f%s" : "%.0f%s", n, kUnits[u]);
  return buf;
}

const char *tool_tty_n(const char *s, size_t n) {
  static char *ring[16];
  static int k;
  k = (k + 1) % 16;
  free(ring[k]);
  xsmem_buf b = XSMEM_BUF_INIT;
  xsmem_term_string(&b, s, n);
  ring[k] = strndup(b.data ? b.data : "", b.len);
  xsmem_buf_free(&b);
  return ring[k];
}

const char *tool_tty(const char *s) { return tool_tty_n(s, SIZE_MAX); }

double tool_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// ---------------------------------------------------------------------------
// Files.

bool tool_write_atomic(const char *path, const void *data, size_t len) {
  char why[PATH_MAX + 256];
  // -1: a FIFO without a reader is waited for, as a shell redirection would.
  if (xsmem_output_write(path, data, len, -1, why, sizeof why)) return true;
  tool_error("%s", why);
  return false;
}

bool tool_copy_atomic(const char *src, const char *dst) {
  xsmem_buf b = XSMEM_BUF_INIT;
  if (!xsmem_read_file(src, &b)) {
    tool_error("cannot read %s: %s", src, strerror(errno));
    return false;
  }
  bool ok = tool_write_atomic(dst, b.data ? b.data : "", b.len);
  xsmem_buf_free(&b);
  return ok;
}

// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Usage, help and "did you mean".

// Each subcommand's usage: what `xsmem CMD --help` prints, and where an
// unknown option's closest match is looked for (every --word in it).
static const struct command {
  const char *name;
  int (*fn)(int, char **);
  const char *summary;  // one line for `xsmem --help`
  const char *usage;    // NULL: the subcommand prints its own (bench)
} kCommands[] = {
    {"run", tool_cmd_run, "run a program (or a built-in workload) with a configuration preloaded",
     "usage: xsmem run [OPTIONS] -- CMD ARGS...\n"
     "       xsmem run [OPTIONS] --workload python|small|mixed|large|threads\n"
     "Runs the program with a configuration preloaded, then prints a summary: peak, allocations,\n"
     "top call sites, unfreed blocks.\n"
     "  --config NAME        the configuration (default: default; xsmem list names them)\n"
     "  --track MODE         off, sample (the default of tracked configurations) or full\n"
     "  --snapshot FILE      write the final snapshot (protobuf; xsmem stats and report read it)\n"
     "  --report FILE.html   write the HTML report\n"
     "  --counters           also count page faults and CPU time (perf counters where allowed)\n"
     "  --top N              call sites in the summary (default 5)\n"
     "  --workload NAME      a built-in workload instead of a command\n"},
    {"report", tool_cmd_report, "an HTML report of one or more snapshots (several: side by side)",
     "usage: xsmem report SNAPSHOT... -o FILE.html [--debug-root DIRS]\n"
     "A self-contained HTML report: timeline, size histogram, tiers, nodes, call sites, leaks.\n"
     "  -o, --output FILE.html   where to write it\n"
     "  --debug-root DIRS        where separate debug files are (':'-separated; default\n"
     "                           XSMEM_DEBUG_ROOT, else /usr/lib/debug)\n"},
    {"stats", tool_cmd_stats, "a snapshot's figures as text, JSON, Prometheus text or CSV",
     "usage: xsmem stats SNAPSHOT [--format text|json|prometheus|csv] [--debug-root DIRS]\n"
     "  --format F          text (default), json, prometheus or csv\n"
     "  --debug-root DIRS   where separate debug files are (':'-separated; default\n"
     "                      XSMEM_DEBUG_ROOT, else /usr/lib/debug)\n"},
    {"bench", tool_cmd_bench, "compare allocators on workloads and micro benchmarks", NULL},
    {"top", tool_cmd_top, "a live view of a process serving XSMEM_HTTP",
     "usage: xsmem top HOST:PORT [--interval SECONDS] [--count N]\n"
     "Polls the process's /metrics; q quits.\n"
     "  --interval S   seconds between refreshes (default 1)\n"
     "  --count N      stop after N refreshes\n"},
    {"history", tool_cmd_history, "snapshots kept in an SQLite database: list, trend, diff",
     "usage: xsmem history add SNAPSHOT... [--host H] [--program P] [--db FILE]\n"
     "       xsmem history list [--program P] [--config C] [--db FILE]\n"
     "       xsmem history trend METRIC [--program P] [--config C] [--allocator A] [--db FILE]\n"
     "       xsmem history diff RUN1 RUN2 [--db FILE]\n"
     "Snapshots stored in an SQLite database, for trends across runs. add stores each file's\n"
     "last snapshot, all of them or (a file damaged) none.\n"
     "  --db FILE       the database (default $XDG_DATA_HOME/xsmem/history.db, else\n"
     "                  ~/.local/share/xsmem/history.db)\n"
     "  --host H        add: the host to record (default this machine's name)\n"
     "  --program P     add: the program to record (default the command line's first word);\n"
     "                  list, trend: only runs of P\n"
     "  --config C      list, trend: only runs with configuration C\n"
     "  --allocator A   trend: this allocator's figure (default the one serving malloc)\n"
     "METRIC is an allocator figure: num_allocs, num_frees, num_failed, bytes_in_use,\n"
     "peak_bytes_in_use, bytes_reserved, bytes_cached, bytes_metadata, largest_alloc_size,\n"
     "bytes_limit, fragmentation, bytes_committed. RUN is a run's id (xsmem history list).\n"},
    {"list", tool_cmd_list, "the configurations and the options each reads",
     "usage: xsmem list [--names]\n"
     "  --names   the configurations' names only\n"},
};

static void usage(FILE *f) {
  fputs("usage: xsmem COMMAND [ARGS]   (xsmem COMMAND --help: its options)\n", f);
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kCommands); i++)
    fprintf(f, "  %-8s %s\n", kCommands[i].name, kCommands[i].summary);
  fputs(
      "  --version\n"
      "Preload libraries come from the runfiles, from ../lib beside the binary, or from $XSMEM_LIB_DIR.\n",
      f);
}

static const struct command *find_command(const char *name) {
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kCommands); i++)
    if (!strcmp(kCommands[i].name, name)) return &kCommands[i];
  return NULL;
}

// Edit distance, for words of up to 63 characters (longer: far).
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  return la > 63 || lb > 63 ? SIZE_MAX : xsmem_edit_distance(a, la, b, lb);
}

const char *tool_closest(const char *word, const char *const *words, size_t n) {
  const char *best = NULL;
  size_t best_d = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    size_t d = edit_distance(word, words[i]);
    if (d < best_d) {
      best_d = d;
      best = words[i];
    }
  }
  // Close enough to be a slip: a third of the word, at least 2 edits.
  return best && best_d <= XSMEM_MAX((size_t)2, strlen(word) / 3) ? best : NULL;
}

int tool_usage_error(const char *cmd, const char *arg) {
  const struct command *c = find_command(cmd);
  const char *usage = c && c->usage ? c->usage : "";
  // The candidates: every --word of the usage text.
  char words[32][32];
  const char *list[32];
  size_t n = 0;
  for (const char *p = strstr(usage, "--"); p && n < 32; p = strstr(p + 2, "--")) {
    size_t len = 2;
    while (p[len] && (isalnum((unsigned char)p[len]) || p[len] == '-')) len++;
    if (len == 2 || len >= sizeof words[0]) continue;
    memcpy(words[n], p, len);
    words[n][len] = 0;
    list[n] = words[n];
    n++;
  }
  char opt[64];
  snprintf(opt, sizeof opt, "%.*s", (int)strcspn(arg, "="), arg);  // --name=value: the name
  const char *near = tool_closest(opt, list, n);
  if (near) {
    tool_error("%s: unknown option '%s' (did you mean '%s'? xsmem %s --help lists them)", cmd, arg, near, cmd);
  } else {
    tool_error("%s: unknown option '%s' (xsmem %s --help lists them)", cmd, arg, cmd);
  }
  return XSMEM_EXIT_USAGE;
}

bool tool_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int tool_help(const char *cmd) {
  const struct command *c = find_command(cmd);
  if (c && c->usage) fputs(c->usage, stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return XSMEM_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  // A closed pipe on the summary must not stop the outputs being written
  // (children get the default back before exec).
  signal(SIGPIPE, SIG_IGN);
  // Under `bazel run` the working directory is the runfiles tree: relative
  // paths the user typed mean the directory they typed them in.
  const char *wd = getenv("BUILD_WORKING_DIRECTORY");
  if (wd && *wd && chdir(wd) != 0) {
    tool_error("cannot enter %s: %s", wd, strerror(errno));
    return XSMEM_EXIT_FAIL;
  }
  if (tool_is_help(cmd) || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("xsmem %s\n", XSMEM_VERSION);
    return 0;
  }
  // Internal entry points: the bench's and run's children.
  if (!strcmp(cmd, "__describe")) return tool_cmd_describe(argc - 1, argv + 1);
  if (!strcmp(cmd, "__workload")) return tool_cmd_workload(argc - 1, argv + 1);
  const struct command *c = find_command(cmd);
  if (c) return c->fn(argc - 1, argv + 1);
  const char *names[XSMEM_ARRAY_SIZE(kCommands)];
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kCommands); i++) names[i] = kCommands[i].name;
  const char *near = tool_closest(cmd, names, XSMEM_ARRAY_SIZE(kCommands));
  if (near) {
    tool_error("unknown command '%s' (did you mean '%s'?)", cmd, near);
  } else {
    tool_error("unknown command '%s'", cmd);
  }
  usage(stderr);
  return XSMEM_EXIT_USAGE;
}
