// tools/xsmem.c: the `xsmem` command's entry point (usage, dispatch to the
// subcommands) and the helpers every subcommand uses: messages, byte counts,
// terminal escaping, atomic writes. Each subcommand lives in its own file
// (run.c, report.c, stats.c, bench.c, top.c, list.c); shared pieces are
// declared in xsmem.h.
#include "tools/xsmem.h"

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

static void usage(FILE *f) {
  fputs(
      "usage: xsmem COMMAND [ARGS]\n"
      "  run [--config NAME] [--track off|sample|full] [--snapshot FILE] [--report FILE.html]\n"
      "      [--counters] [--top N] -- CMD ARGS...   run a program with a configuration preloaded\n"
      "      (or --workload python|small|mixed|large|threads instead of a command)\n"
      "  report SNAPSHOT... -o FILE.html             self-contained HTML report (several: side by side)\n"
      "  stats SNAPSHOT [--format text|json|prometheus|csv]\n"
      "  bench [--allocators a,b] [--workloads w,x] [--reps N] [--scale X] [--micro PATH] [--out DIR]\n"
      "      [--results FILE.md] ...                  allocators compared (bench --help: every option)\n"
      "  top HOST:PORT [--interval S] [--count N]    live view of a process serving XSMEM_HTTP\n"
      "  list [--names]                              the configurations and their options\n"
      "Preload libraries come from the runfiles, or from $XSMEM_LIB_DIR.\n",
      f);
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
  static const struct {
    const char *name;
    int (*fn)(int, char **);
  } kCmds[] = {
      {"run", tool_cmd_run},
      {"report", tool_cmd_report},
      {"stats", tool_cmd_stats},
      {"bench", tool_cmd_bench},
      {"top", tool_cmd_top},
      {"list", tool_cmd_list},
      {"__describe", tool_cmd_describe},
      {"__workload", tool_cmd_workload},
  };
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof(kCmds) / sizeof(kCmds[0]); i++)
    if (!strcmp(cmd, kCmds[i].name)) return kCmds[i].fn(argc - 1, argv + 1);
  tool_error("unknown command '%s'", cmd);
  usage(stderr);
  return XSMEM_EXIT_USAGE;
}
