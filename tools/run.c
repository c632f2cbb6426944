// tools/run.c: `xsmem run`: a program with a configuration preloaded.
//
// The program runs with LD_PRELOAD=libxsmem_<config>_export.so (the
// configuration plus the exporter) and XSMEM_SNAPSHOT pointing into a private
// temporary directory ("%p": every process of the run writes its own file;
// the one of the program itself is reported). With tracking on, the
// configuration's *_tracked variant is preloaded instead, so the snapshot
// carries call sites, the size histogram and the leaks. After the program
// ends the tool prints a summary, and copies the snapshot / renders the HTML
// report into place (temporary file + rename).
//
// The command reads top to bottom as its four steps: parse the command line,
// choose the library, spawn the program (after checking that it can run
// under a preloaded allocator: program_check.c), summarize. --counters
// attaches perf_event_open counters to the child before it execs
// (counters.c).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export/output.h"
#include "export/snapshot.h"
#include "tools/run_internal.h"
#include "tools/symbolize.h"
#include "tools/xsmem.h"

// ---------------------------------------------------------------------------
// Parse: the command line into a request.

typedef struct run_request {
  const char *config, *track, *snap_out, *report_out, *workload;
  bool counters;
  int top;
  char **cmd;        // the program and its arguments, NULL-terminated
  char *builtin[5];  // cmd of a built-in workload
  char *script;      // malloc'ed: the python workload's script
  char self[4096];   // this binary, for the C workloads
} run_request;

static void run_usage(void) {
  fputs("usage: xsmem run [OPTIONS] (-- CMD ARGS... | --workload NAME)   (xsmem run --help: the options)\n", stderr);
}

// A built-in workload instead of a command: python3 over the demo script,
// or one of the bench's C workloads run by this binary. Returns 0 or the
// exit status after saying why.
static int builtin_command(run_request *r) {
  if (!strcmp(r->workload, "python")) {
    r->builtin[0] = "/usr/bin/python3";
    r->builtin[1] = r->script = tool_find_runfile("tools/demo_workload.py");
    if (!r->script) {
      tool_error("run: tools/demo_workload.py is neither in the runfiles nor beside the binary");
      return XSMEM_EXIT_FAIL;
    }
  } else if (tool_is_builtin_workload(r->workload)) {
    ssize_t n = readlink("/proc/self/exe", r->self, sizeof r->self - 1);
    if (n <= 0) return XSMEM_EXIT_FAIL;
    r->self[n] = 0;
    r->builtin[0] = r->self;
    r->builtin[1] = "__workload";
    r->builtin[2] = (char *)r->workload;
  } else {
    tool_error("run: unknown workload '%s' (python, small, mixed, large, threads)", r->workload);
    return XSMEM_EXIT_USAGE;
  }
  r->cmd = r->builtin;
  return 0;
}

// Fills *r from the command line. Returns 0, -1 for --help, or the exit status
// after saying why (usage errors; an output that cannot be written fails
// before anything runs).
static int parse_request(int argc, char **argv, run_request *r) {
  memset(r, 0, sizeof *r);
  r->config = "default";
  r->top = 5;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    if (a[0] != '-') break;  // the command starts here
    bool has = i + 1 < argc;
    if (!strcmp(a, "--config") && has) r->config = argv[++i];
    else if (!strcmp(a, "--track") && has) r->track = argv[++i];
    else if (!strcmp(a, "--snapshot") && has) r->snap_out = argv[++i];
    else if (!strcmp(a, "--report") && has) r->report_out = argv[++i];
    else if (!strcmp(a, "--top") && has) r->top = atoi(argv[++i]);
    else if (!strcmp(a, "--workload") && has) r->workload = argv[++i];
    else if (!strcmp(a, "--counters")) r->counters = true;
    else if (tool_is_help(a)) return -1;
    else return tool_usage_error("run", a);
  }
  if (r->workload) {
    if (i < argc) {
      tool_error("run: give either --workload or a command, not both");
      return XSMEM_EXIT_USAGE;
    }
    int rc = builtin_command(r);
    if (rc) return rc;
  } else if (i >= argc) {
    tool_error("run: no command given");
    run_usage();
    return XSMEM_EXIT_USAGE;
  } else {
    r->cmd = argv + i;
  }
  if (r->track && strcmp(r->track, "off") && strcmp(r->track, "sample") && strcmp(r->track, "full")) {
    tool_error("run: --track takes off, sample or full (got '%s')", r->track);
    return XSMEM_EXIT_USAGE;
  }
  if (r->top < 0) r->top = 0;
  // Fail before running anything when an output cannot be written.
  const char *outs[2] = {r->snap_out, r->report_out};
  for (int k = 0; k < 2; k++) {
    char why[PATH_MAX + 256];
    if (outs[k] && !xsmem_output_check(outs[k], why, sizeof why)) {
      tool_error("run: %s", why);
      return XSMEM_EXIT_FAIL;
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Choose the library: NAME (or NAME_tracked when tracking), then its _export
// library.

typedef struct run_library {
  char chosen[256];  // the configuration run
  bool tracked;
  const char *mode;  // XSMEM_TRACK: off, sample or full
  char *path;        // libxsmem_<chosen>_export.so, malloc'ed
} run_library;

static bool has_library(const char *stem) {
  char *p = tool_find_library(stem);
  free(p);
  return p != NULL;
}

static void print_configs(FILE *f, bool tracked_only) {
  char **names;
  size_t n = tool_list_configs(&names);
  fprintf(f, "xsmem: %s:", tracked_only ? "tracked configurations" : "configurations");
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(names[i]);
    if (!tracked_only || (l > 8 && !strcmp(names[i] + l - 8, "_tracked"))) fprintf(f, " %s", names[i]);
    free(names[i]);
  }
  fprintf(f, "%s\n", n ? "" : " none found (set XSMEM_LIB_DIR)");
  free(names);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

// Fills *l for r's configuration and tracking mode. Returns 0, or the exit
// status after saying why (an unknown configuration, no tracked variant where
// tracking was asked for, no exporter library).
static int choose_library(const run_request *r, run_library *l) {
  const char *config = r->config, *track = r->track;
  char known[300];
  snprintf(known, sizeof known, "%s_export", config);
  if (!has_library(config) && !has_library(known)) {
    char **names;
    size_t n = tool_list_configs(&names);
    const char *near = tool_closest(config, (const char *const *)names, n);
    if (near) {
      tool_error("unknown configuration '%s' (did you mean '%s'?)", config, near);
    } else {
      tool_error("unknown configuration '%s'", config);
      print_configs(stderr, false);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return XSMEM_EXIT_USAGE;
  }
  snprintf(l->chosen, sizeof l->chosen, "%s", config);
  l->tracked = ends_with(config, "_tracked");
  if (!l->tracked && track && strcmp(track, "off")) {
    snprintf(l->chosen, sizeof l->chosen, "%s_tracked", config);
    if (!has_library(l->chosen)) {
      tool_error("configuration '%s' has no tracked variant '%s_tracked'; use --track off, or a tracked one", config,
                 config);
      print_configs(stderr, true);
      return XSMEM_EXIT_USAGE;
    }
    l->tracked = true;
  } else if (!l->tracked && !track) {
    // Default: sampled tracking when the configuration has a tracked variant.
    char t[256];
    snprintf(t, sizeof t, "%s_tracked", config);
    if (has_library(t)) {
      snprintf(l->chosen, sizeof l->chosen, "%s", t);
      l->tracked = true;
    }
  }
  l->mode = !l->tracked ? "off" : track ? track : "sample";
  char stem[300];
  snprintf(stem, sizeof stem, "%s_export", l->chosen);
  l->path = tool_find_library(stem);
  if (!l->path) {
    tool_error(
        "no exporter library libxsmem_%s.so for configuration '%s' (build //tools:xsmem, or set "
        "XSMEM_LIB_DIR)",
        stem, l->chosen);
    return XSMEM_EXIT_FAIL;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Spawn: the program, checked, under the library.

// Returns the path of the program named cmd0 (malloc'ed), or NULL after
// saying why it cannot run under a preloaded allocator.
static char *checked_program(const char *cmd0) {
  char *prog = run_resolve_program(cmd0);
  if (!prog) {
    tool_error("program '%s' not found%s", cmd0, strchr(cmd0, '/') ? "" : " in PATH");
    return NULL;
  }
  if (access(prog, X_OK) != 0) {
    tool_error("program '%s' is not executable: %s", prog, strerror(errno));
    free(prog);
    return NULL;
  }
  char why[512];
  const char *bad = run_check_program(prog, why, sizeof why);
  const char *preload = getenv("LD_PRELOAD");
  if (!bad && preload && run_sanitizer_in(preload)) {
    snprintf(why, sizeof why, "LD_PRELOAD already holds a sanitizer runtime (%s)", preload);
    bad = why;
  }
  if (bad) {
    tool_error("cannot preload an allocator into '%s': %s", prog, bad);
    free(prog);
    return NULL;
  }
  return prog;
}

// Removes our private mkdtemp directory and the snapshot files in it.
static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, e->d_name) >= 0) unlink(p);
    free(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

// A finished run: its snapshots' directory and how the program ended.
typedef struct run_child {
  char dir[sizeof "/tmp/xsmem-run-XXXXXX"];  // where its processes wrote their snapshots
  pid_t pid;
  int status;
  struct rusage ru;
  double elapsed;
} run_child;

// Runs prog (argv r->cmd) with l preloaded beside libxsmem_maps.so and the
// caller's own LD_PRELOAD, XSMEM_SNAPSHOT pointing into a private directory,
// and waits for it. Returns 0, or XSMEM_EXIT_FAIL after saying why (the
// directory removed).
static int spawn(const run_request *r, const run_library *l, const char *prog, run_child *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->dir, sizeof c->dir, "/tmp/xsmem-run-XXXXXX");
  if (!mkdtemp(c->dir)) {
    tool_error("cannot create a temporary directory: %s", strerror(errno));
    return XSMEM_EXIT_FAIL;
  }
  char pattern[sizeof c->dir + 16];
  snprintf(pattern, sizeof pattern, "%s/s-%%p.pb", c->dir);
  // libxsmem_maps.so saves the mappings at exit, for symbolizing the stacks.
  const char *preload = getenv("LD_PRELOAD");
  char *maps_lib = tool_find_runfile("tools/libxsmem_maps.so");
  char *new_preload = NULL;
  if (asprintf(&new_preload, "%s%s%s%s%s", l->path, maps_lib ? ":" : "", maps_lib ? maps_lib : "",
               preload && *preload ? ":" : "", preload ? preload : "") < 0)
    new_preload = NULL;
  free(maps_lib);
  if (!new_preload) {
    remove_dir(c->dir);
    return XSMEM_EXIT_FAIL;
  }

  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    tool_error("pipe: %s", strerror(errno));
    free(new_preload);
    remove_dir(c->dir);
    return XSMEM_EXIT_FAIL;
  }
  double t0 = tool_now_s();
  pid_t pid = fork();
  if (pid < 0) {
    tool_error("fork: %s", strerror(errno));
    free(new_preload);
    remove_dir(c->dir);
    return XSMEM_EXIT_FAIL;
  }
  if (pid == 0) {
    char ch;
    close(go[1]);
    close(err[0]);
    // Wait until the parent has attached the counters.
    while (read(go[0], &ch, 1) < 0 && errno == EINTR) {}
    signal(SIGPIPE, SIG_DFL);
    setenv("LD_PRELOAD", new_preload, 1);
    setenv("XSMEM_SNAPSHOT", pattern, 1);
    if (l->tracked) setenv("XSMEM_TRACK", l->mode, 1);
    // Untracked runs get their timeline from a stream of snapshots.
    else if (!getenv("XSMEM_SNAPSHOT_INTERVAL_MS")) setenv("XSMEM_SNAPSHOT_INTERVAL_MS", "100", 1);
    execv(prog, r->cmd);
    int e = errno;
    if (write(err[1], &e, sizeof e) < 0) _exit(127);
    _exit(127);
  }
  close(go[0]);
  close(err[1]);
  if (r->counters) run_counters_open(pid);
  // Like system(): the terminal's signals go to the program, whose end we report.
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  close(go[1]);
  int exec_errno = 0;
  ssize_t got;
  while ((got = read(err[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {}
  close(err[0]);
  c->pid = pid;
  while (wait4(pid, &c->status, 0, &c->ru) < 0 && errno == EINTR) {}
  c->elapsed = tool_now_s() - t0;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);
  free(new_preload);
  if (got == (ssize_t)sizeof exec_errno) {
    tool_error("cannot execute '%s': %s", prog, strerror(exec_errno));
    remove_dir(c->dir);
    return XSMEM_EXIT_FAIL;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Summarize: how the program ended, the snapshot it left, the outputs.

// Writes the snapshot and report asked for from snap (have: one was taken;
// symbolized: its stacks were named in memory). Returns false when one was
// not written (after saying why).
static bool write_outputs(const run_request *r, tool_snapshot *snap, bool have, bool symbolized,
                          const char *snap_path) {
  bool ok = true;
  if (r->snap_out) {
    if (!have) {
      tool_error("snapshot %s not written (none was taken)", r->snap_out);
      ok = false;
    } else if (symbolized && snap->n_series == 1) {
      // Symbolized stacks travel in the symbol fields of the written snapshot.
      char why[PATH_MAX + 256];
      if (xsmem_snapshot_write_file_ex(r->snap_out, snap->last, -1, why, sizeof why)) {
        fprintf(stderr, "  snapshot: %s\n", r->snap_out);
      } else {
        tool_error("%s", why);
        ok = false;
      }
    } else if (tool_copy_atomic(snap_path, r->snap_out)) {
      fprintf(stderr, "  snapshot: %s\n", r->snap_out);
    } else {
      ok = false;
    }
  }
  if (r->report_out) {
    if (!have) {
      tool_error("report %s not written (no snapshot was taken)", r->report_out);
      ok = false;
    } else {
      char *html = NULL;
      size_t len = 0;
      FILE *f = open_memstream(&html, &len);
      tool_render_report(f, snap, 1);
      fclose(f);
      if (tool_write_atomic(r->report_out, html, len)) fprintf(stderr, "  report: %s\n", r->report_out);
      else ok = false;
      free(html);
    }
  }
  return ok;
}

// Prints s for a POSIX shell: as is when it needs no quoting, else in single quotes.
static void print_shell_word(FILE *f, const char *s) {
  if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+=/.,:@%") == strlen(s)) {
    fputs(s, f);
    return;
  }
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') fputs("'\\''", f);
    else fputc(*s, f);
  }
  fputc('\'', f);
}

// Sample mode (the default) records one allocation per XSMEM_TRACK_SAMPLE_BYTES
// (2 MiB) allocated, on average: its leak figures are estimates, a leak of
// small blocks is mostly missed (10,000 blocks of 216 bytes: one sample
// expected, so "0 B" as often as not), and no block is classified. Full
// tracking finds and classifies every leak, at a cost a profile should not
// pay by default (on `--workload python`: 0.08 s and 19.7 MiB max RSS
// sampled, 0.11 s and 23.2 MiB full; headers and canaries on every block,
// the quarantine). So the summary says what the figures are, and the
// command that gives exact ones.
static void print_sample_leak_note(FILE *f, const run_request *r) {
  fputs(
      "  leaks: estimated from sampled allocations (about one per XSMEM_TRACK_SAMPLE_BYTES, 2 MiB, allocated): "
      "small leaks are mostly missed and lost blocks are not told from reachable ones. Exact, classified leaks:\n"
      "    xsmem run --track full",
      f);
  if (strcmp(r->config, "default") != 0) {
    fputs(" --config ", f);
    print_shell_word(f, r->config);
  }
  if (r->workload) {
    fputs(" --workload ", f);
    print_shell_word(f, r->workload);
  } else {
    fputs(" --", f);
    for (char **a = r->cmd; *a; a++) {
      fputc(' ', f);
      print_shell_word(f, *a);
    }
  }
  fputc('\n', f);
}

// Prints the summary of c's run on stderr (its end, the program's own
// snapshot symbolized, the counters), then writes the outputs. Returns false
// when an output was not written.
static bool summarize(const run_request *r, const run_library *l, const run_child *c) {
  char b1[32];
  char shown[300];
  snprintf(shown, sizeof shown, "%s%s", r->workload ? "workload " : "", r->workload ? r->workload : r->cmd[0]);
  fprintf(stderr, "\nxsmem: '%s' %s %d after %.2f s under '%s' (tracking %s), max RSS %s\n", shown,
          WIFEXITED(c->status) ? "exited with status" : "was killed by signal",
          WIFEXITED(c->status) ? WEXITSTATUS(c->status) : WTERMSIG(c->status), c->elapsed, l->chosen, l->mode,
          tool_bytes((double)c->ru.ru_maxrss * 1024, b1, sizeof b1));
  char snap_path[sizeof c->dir + 32];
  snprintf(snap_path, sizeof snap_path, "%s/s-%d.pb", c->dir, (int)c->pid);
  tool_snapshot snap;
  bool have = false;
  if (access(snap_path, F_OK) != 0) {
    tool_error(
        "no snapshot: the program ended without running its exit handlers (killed, _exit, or it "
        "replaced its environment)");
  } else {
    have = tool_snapshot_load(snap_path, &snap);
  }
  bool symbolized = false;
  if (have && (snap.last->n_call_sites || snap.last->n_leaks)) {
    // The snapshot places its frames in its modules; the saved maps serve
    // a library that wrote none (an older xsmem's).
    char maps_path[sizeof snap_path + 8];
    snprintf(maps_path, sizeof maps_path, "%s.maps", snap_path);
    tool_symbolizer *z = tool_symbolizer_for_snapshot(snap.last);
    if (!z) z = tool_symbolizer_load(maps_path);
    if (z) {
      tool_symbolize_snapshot(z, snap.last, &snap.arena);
      symbolized = true;
      tool_symbolizer_free(z);
    }
  }
  if (have) {
    snap.path = r->snap_out ? r->snap_out : "xsmem run";
    const Xsmem__Allocator *a = tool_process_allocator(snap.last);
    if (a && a->stats) {
      char b2[32], b3[32];
      fprintf(stderr,
              "  peak %s in use, %llu allocations, %llu frees, %s of address space reserved at exit, %s still in use\n",
              tool_bytes((double)a->stats->peak_bytes_in_use, b1, sizeof b1), (unsigned long long)a->stats->num_allocs,
              (unsigned long long)a->stats->num_frees, tool_bytes((double)a->stats->bytes_reserved, b2, sizeof b2),
              tool_bytes((double)a->stats->bytes_in_use, b3, sizeof b3));
    }
    tool_print_summary(stderr, snap.last, (size_t)r->top, true);
    if (l->tracked && !strcmp(l->mode, "sample")) print_sample_leak_note(stderr, r);
  }
  if (r->counters) run_counters_print(stderr);
  bool ok = write_outputs(r, &snap, have, symbolized, snap_path);
  if (have) tool_snapshot_free(&snap);
  return ok;
}

// ---------------------------------------------------------------------------

int tool_cmd_run(int argc, char **argv) {
  run_request r;
  run_library l = {.path = NULL};
  int rc = parse_request(argc, argv, &r);
  if (rc < 0) return tool_help("run");
  if (rc == 0) rc = choose_library(&r, &l);
  char *prog = NULL;
  if (rc == 0 && !(prog = checked_program(r.cmd[0]))) rc = XSMEM_EXIT_FAIL;
  run_child c;
  if (rc == 0) rc = spawn(&r, &l, prog, &c);
  if (rc == 0) {
    // The program's own status, unless it succeeded and an output failed.
    int status = WIFEXITED(c.status) ? WEXITSTATUS(c.status) : 128 + WTERMSIG(c.status);
    bool ok = summarize(&r, &l, &c);
    remove_dir(c.dir);
    rc = !ok && status == 0 ? XSMEM_EXIT_FAIL : status;
  }
  free(prog);
  free(l.path);
  free(r.script);
  return rc;
}
