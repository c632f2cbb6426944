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
// Before starting anything the program is checked: it must exist and be
// executable, be dynamically linked (a static binary never loads
// LD_PRELOAD), and carry no sanitizer runtime (ASan, TSan, MSan, HWASan and
// LSan replace malloc themselves). `#!` scripts are checked through their
// interpreter.
//
// --counters opens perf_event_open counters on the child before it execs
// (enable_on_exec, inherited by its threads and children): cache references
// and misses, dTLB load misses, page faults, context switches. A counter the
// machine or its perf_event_paranoid setting refuses is shown as
// "not available".
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "export/output.h"
#include "export/snapshot.h"
#include "tools/symbolize.h"
#include "tools/xsmem.h"

// ---------------------------------------------------------------------------
// Finding and checking the program.

// Returns the executable path of cmd (searching PATH when it has no '/'),
// malloc'ed, or NULL.
static char *resolve_program(const char *cmd) {
  if (strchr(cmd, '/')) return access(cmd, F_OK) == 0 ? strdup(cmd) : NULL;
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  char *copy = strdup(path), *save = NULL, *found = NULL;
  for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
    char *p = NULL;
    if (asprintf(&p, "%s/%s", *d ? d : ".", cmd) < 0) break;
    struct stat st;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) found = p;
    else free(p);
  }
  free(copy);
  return found;
}

static const char *const kSanitizers[] = {"asan", "tsan", "msan", "hwasan", "lsan"};

// Returns the sanitizer whose runtime `name` (a DT_NEEDED entry or a symbol) names, or NULL.
static const char *sanitizer_in(const char *name) {
  static char found[16];
  for (size_t i = 0; i < sizeof(kSanitizers) / sizeof(kSanitizers[0]); i++) {
    char lib[32], sym[32];
    snprintf(lib, sizeof lib, "lib%s.so", kSanitizers[i]);
    snprintf(sym, sizeof sym, "__%s_init", kSanitizers[i]);
    if (strstr(name, lib) || !strcmp(name, sym)) {
      snprintf(found, sizeof found, "%s", kSanitizers[i]);
      return found;
    }
  }
  return NULL;
}

// Checks an ELF file: dynamically linked, no sanitizer runtime. Returns NULL
// when preloading can work, else why not (static text).
static const char *check_elf(const unsigned char *m, size_t len, char *why, size_t n) {
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m;
  if (len < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64) return NULL;  // cannot tell: let it run
  if (eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) > len) return "a truncated ELF file";
  bool interp = false;
  const Elf64_Phdr *ph = (const Elf64_Phdr *)(m + eh->e_phoff);
  for (int i = 0; i < eh->e_phnum; i++) interp |= ph[i].p_type == PT_INTERP;
  if (!interp) {
    snprintf(why, n, "it is statically linked (no program interpreter), so LD_PRELOAD is never read; "
                     "link it against //allocators:NAME instead");
    return why;
  }
  if (eh->e_shoff == 0 || eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > len) return NULL;
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(m + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != SHT_DYNAMIC && sh[i].sh_type != SHT_DYNSYM) continue;
    if (sh[i].sh_link >= eh->e_shnum) continue;
    const Elf64_Shdr *strs = &sh[sh[i].sh_link];
    if (sh[i].sh_offset + sh[i].sh_size > len || strs->sh_offset + strs->sh_size > len) continue;
    const char *str = (const char *)m + strs->sh_offset;
    const char *san = NULL;
    if (sh[i].sh_type == SHT_DYNAMIC) {
      const Elf64_Dyn *d = (const Elf64_Dyn *)(m + sh[i].sh_offset);
      for (size_t k = 0; k < sh[i].sh_size / sizeof(*d) && !san; k++)
        if (d[k].d_tag == DT_NEEDED && d[k].d_un.d_val < strs->sh_size) san = sanitizer_in(str + d[k].d_un.d_val);
    } else {
      const Elf64_Sym *s = (const Elf64_Sym *)(m + sh[i].sh_offset);
      for (size_t k = 0; k < sh[i].sh_size / sizeof(*s) && !san; k++)
        if (s[k].st_name && s[k].st_name < strs->sh_size) san = sanitizer_in(str + s[k].st_name);
    }
    if (san) {
      snprintf(why, n, "it carries the %s runtime, which replaces malloc itself; "
                       "build it without -fsanitize to observe it under xsmem", san);
      return why;
    }
  }
  return NULL;
}

// Returns NULL when `path` can run with a preloaded allocator, else why not.
static const char *check_program(const char *path, int depth, char *why, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, n, "cannot open it: %s", strerror(errno));
    return why;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 4) {
    close(fd);
    snprintf(why, n, "it is not a regular executable file");
    return why;
  }
  size_t len = (size_t)st.st_size;
  unsigned char *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return NULL;
  const char *r = NULL;
  if (!memcmp(m, ELFMAG, SELFMAG)) {
    r = check_elf(m, len, why, n);
  } else if (m[0] == '#' && m[1] == '!' && depth < 3) {
    // The interpreter is what gets loaded: check it (through env as well).
    char line[256];
    size_t k = 0;
    for (size_t i = 2; i < len && m[i] != '\n' && k + 1 < sizeof line; i++) line[k++] = (char)m[i];
    line[k] = 0;
    char *save = NULL, *interp = strtok_r(line, " \t", &save), *arg = strtok_r(NULL, " \t", &save);
    char *target = NULL;
    if (interp && !strcmp(interp, "/usr/bin/env") && arg) target = resolve_program(arg);
    else if (interp) target = strdup(interp);
    if (target) r = check_program(target, depth + 1, why, n);
    free(target);
  }
  munmap(m, len);
  return r;
}

// ---------------------------------------------------------------------------
// Hardware and software counters.

typedef struct counter {
  const char *name;
  uint32_t type;
  uint64_t config;
  int fd;
} counter;

static counter g_counters[] = {
    {"cache references", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES, -1},
    {"cache misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES, -1},
    {"dTLB load misses", PERF_TYPE_HW_CACHE,
     PERF_COUNT_HW_CACHE_DTLB | (PERF_COUNT_HW_CACHE_OP_READ << 8) | (PERF_COUNT_HW_CACHE_RESULT_MISS << 16), -1},
    {"page faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS, -1},
    {"context switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES, -1},
};
enum { kNumCounters = sizeof(g_counters) / sizeof(g_counters[0]) };

static void counters_open(pid_t child) {
  for (int i = 0; i < kNumCounters; i++) {
    // Kernel-side counting first (page faults and switches happen there);
    // user-only when perf_event_paranoid refuses it.
    for (int excl = 0; excl < 2 && g_counters[i].fd < 0; excl++) {
      struct perf_event_attr a;
      memset(&a, 0, sizeof a);
      a.size = sizeof a;
      a.type = g_counters[i].type;
      a.config = g_counters[i].config;
      a.disabled = 1;
      a.enable_on_exec = 1;
      a.inherit = 1;
      a.exclude_kernel = (unsigned)excl;
      a.exclude_hv = 1;
      a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
      g_counters[i].fd = (int)syscall(SYS_perf_event_open, &a, child, -1, -1, PERF_FLAG_FD_CLOEXEC);
    }
  }
}

static void counters_print(FILE *f) {
  fprintf(f, "  hardware counters (perf_event_open, the program and its threads/children):\n");
  for (int i = 0; i < kNumCounters; i++) {
    uint64_t v[3] = {0, 0, 0};
    if (g_counters[i].fd < 0 || read(g_counters[i].fd, v, sizeof v) != (ssize_t)sizeof v || v[2] == 0) {
      fprintf(f, "    %-18s not available\n", g_counters[i].name);
    } else {
      // Scaled when the PMU multiplexed the counter.
      double value = (double)v[0] * ((double)v[1] / (double)v[2]);
      fprintf(f, "    %-18s %.0f%s\n", g_counters[i].name, value, v[1] != v[2] ? " (scaled)" : "");
    }
    if (g_counters[i].fd >= 0) close(g_counters[i].fd);
    g_counters[i].fd = -1;
  }
}

// ---------------------------------------------------------------------------

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

// Returns the frames of a stack symbolized, one per line, without the
// leading frames inside xsmem's own preloaded libraries (malloc, tracker);
// NULL when nothing could be named.
static char *symbolize_stack(tool_symbolizer *z, const uint64_t *frames, size_t n, xsmem_arena *arena) {
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  bool skipping = true, named = false;
  for (size_t i = 0; i < n; i++) {
    char buf[512];
    const char *module;
    // Every frame is a return address (leak records start at the program's
    // first), which points after the call: look up the call instruction.
    tool_symbolize(z, frames[i] - 1, buf, sizeof buf, &module);
    // An address in no mapping ends the stack (a frame-pointer walk that ran
    // into code without frame pointers reads garbage).
    if (!module) break;
    if (skipping && strstr(module, "/libxsmem_")) continue;
    skipping = false;
    named = true;
    fprintf(f, "%s%s", len || ftell(f) ? "\n" : "", buf);
  }
  fclose(f);
  char *r = named ? xsmem_arena_strdup(arena, out) : NULL;
  free(out);
  return r;
}

static void symbolize_snapshot(Xsmem__Snapshot *s, xsmem_arena *arena, tool_symbolizer *z) {
  for (size_t i = 0; i < s->n_call_sites; i++) {
    char *st = symbolize_stack(z, s->call_sites[i]->frames, s->call_sites[i]->n_frames, arena);
    if (st) s->call_sites[i]->symbol = st;
  }
  for (size_t i = 0; i < s->n_leaks; i++) {
    char *st = symbolize_stack(z, s->leaks[i]->frames, s->leaks[i]->n_frames, arena);
    if (st) s->leaks[i]->symbol = st;
  }
}

// Returns the path of libxsmem_maps.so (malloc'ed) or NULL.
static char *find_maps_library(void) { return tool_find_runfile("tools/libxsmem_maps.so"); }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

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

static void run_usage(void) {
  fprintf(stderr, "usage: xsmem run [--config NAME] [--track off|sample|full] [--snapshot FILE] "
                  "[--report FILE.html] [--counters] [--top N] (-- CMD ARGS... | --workload python|small|mixed|large|threads)\n");
}

int tool_cmd_run(int argc, char **argv) {
  const char *config = "default", *track = NULL, *snap_out = NULL, *report_out = NULL, *workload = NULL;
  bool counters = false;
  int top = 5, i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    if (a[0] != '-') break;  // the command starts here
    bool has = i + 1 < argc;
    if (!strcmp(a, "--config") && has) config = argv[++i];
    else if (!strcmp(a, "--track") && has) track = argv[++i];
    else if (!strcmp(a, "--snapshot") && has) snap_out = argv[++i];
    else if (!strcmp(a, "--report") && has) report_out = argv[++i];
    else if (!strcmp(a, "--top") && has) top = atoi(argv[++i]);
    else if (!strcmp(a, "--workload") && has) workload = argv[++i];
    else if (!strcmp(a, "--counters")) counters = true;
    else {
      tool_error("run: unknown option '%s'", a);
      run_usage();
      return XSMEM_EXIT_USAGE;
    }
  }
  // A built-in workload instead of a command: python3 over the demo script,
  // or one of the bench's C workloads run by this binary.
  char *builtin[5] = {NULL, NULL, NULL, NULL, NULL};
  if (workload) {
    if (i < argc) {
      tool_error("run: give either --workload or a command, not both");
      return XSMEM_EXIT_USAGE;
    }
    if (!strcmp(workload, "python")) {
      builtin[0] = "/usr/bin/python3";
      builtin[1] = tool_find_runfile("tools/demo_workload.py");
      if (!builtin[1]) {
        tool_error("run: tools/demo_workload.py is neither in the runfiles nor beside the binary");
        return XSMEM_EXIT_FAIL;
      }
    } else if (!strcmp(workload, "small") || !strcmp(workload, "mixed") || !strcmp(workload, "large") ||
               !strcmp(workload, "threads")) {
      static char self[4096];
      ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
      if (n <= 0) return XSMEM_EXIT_FAIL;
      self[n] = 0;
      builtin[0] = self;
      builtin[1] = "__workload";
      builtin[2] = (char *)workload;
    } else {
      tool_error("run: unknown workload '%s' (python, small, mixed, large, threads)", workload);
      return XSMEM_EXIT_USAGE;
    }
  } else if (i >= argc) {
    tool_error("run: no command given");
    run_usage();
    return XSMEM_EXIT_USAGE;
  }
  if (track && strcmp(track, "off") && strcmp(track, "sample") && strcmp(track, "full")) {
    tool_error("run: --track takes off, sample or full (got '%s')", track);
    return XSMEM_EXIT_USAGE;
  }
  if (top < 0) top = 0;
  // Fail before running anything when an output cannot be written.
  const char *outs[2] = {snap_out, report_out};
  for (int k = 0; k < 2; k++) {
    char why[PATH_MAX + 256];
    if (outs[k] && !xsmem_output_check(outs[k], why, sizeof why)) {
      tool_error("run: %s", why);
      return XSMEM_EXIT_FAIL;
    }
  }
  char **cmd = workload ? builtin : argv + i;

  // The configuration: NAME (or NAME_tracked when tracking), then its _export library.
  char known[300];
  snprintf(known, sizeof known, "%s_export", config);
  if (!has_library(config) && !has_library(known)) {
    tool_error("unknown configuration '%s'", config);
    print_configs(stderr, false);
    return XSMEM_EXIT_USAGE;
  }
  char chosen[256];
  snprintf(chosen, sizeof chosen, "%s", config);
  bool tracked = ends_with(config, "_tracked");
  if (!tracked && track && strcmp(track, "off")) {
    snprintf(chosen, sizeof chosen, "%s_tracked", config);
    if (!has_library(chosen)) {
      tool_error("configuration '%s' has no tracked variant '%s_tracked'; use --track off, or a tracked one",
                 config, config);
      print_configs(stderr, true);
      return XSMEM_EXIT_USAGE;
    }
    tracked = true;
  } else if (!tracked && !track) {
    // Default: sampled tracking when the configuration has a tracked variant.
    char t[256];
    snprintf(t, sizeof t, "%s_tracked", config);
    if (has_library(t)) {
      snprintf(chosen, sizeof chosen, "%s", t);
      tracked = true;
    }
  }
  const char *mode = !tracked ? "off" : track ? track : "sample";
  char stem[300];
  snprintf(stem, sizeof stem, "%s_export", chosen);
  char *lib = tool_find_library(stem);
  if (!lib) {
    tool_error("no exporter library libxsmem_%s.so for configuration '%s' (build //tools:xsmem, or set "
               "XSMEM_LIB_DIR)", stem, chosen);
    return XSMEM_EXIT_FAIL;
  }

  // The program.
  char *prog = resolve_program(cmd[0]);
  if (!prog) {
    tool_error("program '%s' not found%s", cmd[0], strchr(cmd[0], '/') ? "" : " in PATH");
    free(lib);
    return XSMEM_EXIT_FAIL;
  }
  if (access(prog, X_OK) != 0) {
    tool_error("program '%s' is not executable: %s", prog, strerror(errno));
    free(lib);
    free(prog);
    return XSMEM_EXIT_FAIL;
  }
  char why[512];
  const char *bad = check_program(prog, 0, why, sizeof why);
  const char *preload = getenv("LD_PRELOAD");
  if (!bad && preload && sanitizer_in(preload)) {
    snprintf(why, sizeof why, "LD_PRELOAD already holds a sanitizer runtime (%s)", preload);
    bad = why;
  }
  if (bad) {
    tool_error("cannot preload an allocator into '%s': %s", prog, bad);
    free(lib);
    free(prog);
    return XSMEM_EXIT_FAIL;
  }

  char dir[] = "/tmp/xsmem-run-XXXXXX";
  if (!mkdtemp(dir)) {
    tool_error("cannot create a temporary directory: %s", strerror(errno));
    free(lib);
    free(prog);
    return XSMEM_EXIT_FAIL;
  }
  char pattern[sizeof dir + 16];
  snprintf(pattern, sizeof pattern, "%s/s-%%p.pb", dir);
  // libxsmem_maps.so saves the mappings at exit, for symbolizing the stacks.
  char *maps_lib = find_maps_library();
  char *new_preload = NULL;
  if (asprintf(&new_preload, "%s%s%s%s%s", lib, maps_lib ? ":" : "", maps_lib ? maps_lib : "",
               preload && *preload ? ":" : "", preload ? preload : "") < 0)
    return XSMEM_EXIT_FAIL;
  free(maps_lib);

  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    tool_error("pipe: %s", strerror(errno));
    remove_dir(dir);
    return XSMEM_EXIT_FAIL;
  }
  double t0 = now_s();
  pid_t pid = fork();
  if (pid < 0) {
    tool_error("fork: %s", strerror(errno));
    remove_dir(dir);
    return XSMEM_EXIT_FAIL;
  }
  if (pid == 0) {
    char c;
    close(go[1]);
    close(err[0]);
    // Wait until the parent has attached the counters.
    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    signal(SIGPIPE, SIG_DFL);
    setenv("LD_PRELOAD", new_preload, 1);
    setenv("XSMEM_SNAPSHOT", pattern, 1);
    if (tracked) setenv("XSMEM_TRACK", mode, 1);
    // Untracked runs get their timeline from a stream of snapshots.
    else if (!getenv("XSMEM_SNAPSHOT_INTERVAL_MS")) setenv("XSMEM_SNAPSHOT_INTERVAL_MS", "100", 1);
    execv(prog, cmd);
    int e = errno;
    if (write(err[1], &e, sizeof e) < 0) _exit(127);
    _exit(127);
  }
  close(go[0]);
  close(err[1]);
  if (counters) counters_open(pid);
  // Like system(): the terminal's signals go to the program, whose end we report.
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  close(go[1]);
  int exec_errno = 0;
  ssize_t got;
  while ((got = read(err[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  close(err[0]);
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  double elapsed = now_s() - t0;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);
  free(new_preload);
  if (got == (ssize_t)sizeof exec_errno) {
    tool_error("cannot execute '%s': %s", prog, strerror(exec_errno));
    remove_dir(dir);
    free(lib);
    free(prog);
    return XSMEM_EXIT_FAIL;
  }
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

  // The summary.
  char b1[32];
  char shown[300];
  snprintf(shown, sizeof shown, "%s%s", workload ? "workload " : "", workload ? workload : cmd[0]);
  fprintf(stderr, "\nxsmem: '%s' %s %d after %.2f s under '%s' (tracking %s), max RSS %s\n", shown,
          WIFEXITED(status) ? "exited with status" : "was killed by signal",
          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), elapsed, chosen, mode,
          tool_bytes((double)ru.ru_maxrss * 1024, b1, sizeof b1));
  char snap_path[sizeof dir + 32];
  snprintf(snap_path, sizeof snap_path, "%s/s-%d.pb", dir, (int)pid);
  tool_snapshot snap;
  bool have = false;
  if (access(snap_path, F_OK) != 0) {
    tool_error("no snapshot: the program ended without running its exit handlers (killed, _exit, or it "
               "replaced its environment)");
  } else {
    have = tool_snapshot_load(snap_path, &snap);
  }
  bool symbolized = false;
  if (have && (snap.last->n_call_sites || snap.last->n_leaks)) {
    char maps_path[sizeof snap_path + 8];
    snprintf(maps_path, sizeof maps_path, "%s.maps", snap_path);
    tool_symbolizer *z = tool_symbolizer_load(maps_path);
    if (z) {
      symbolize_snapshot(snap.last, &snap.arena, z);
      symbolized = true;
      tool_symbolizer_free(z);
    }
  }
  if (have) {
    snap.path = snap_out ? snap_out : "xsmem run";
    const Xsmem__Allocator *a = tool_process_allocator(snap.last);
    if (a && a->stats) {
      char b2[32], b3[32];
      fprintf(stderr, "  peak %s in use, %llu allocations, %llu frees, %s reserved at exit, %s still in use\n",
              tool_bytes((double)a->stats->peak_bytes_in_use, b1, sizeof b1),
              (unsigned long long)a->stats->num_allocs, (unsigned long long)a->stats->num_frees,
              tool_bytes((double)a->stats->bytes_reserved, b2, sizeof b2),
              tool_bytes((double)a->stats->bytes_in_use, b3, sizeof b3));
    }
    tool_print_summary(stderr, snap.last, (size_t)top, true);
  }
  if (counters) counters_print(stderr);

  bool ok = true;
  if (snap_out) {
    if (!have) {
      tool_error("snapshot %s not written (none was taken)", snap_out);
      ok = false;
    } else if (symbolized && snap.n_series == 1) {
      // Symbolized stacks travel in the symbol fields of the written snapshot.
      char why[PATH_MAX + 256];
      if (xsmem_snapshot_write_file_ex(snap_out, snap.last, -1, why, sizeof why)) {
        fprintf(stderr, "  snapshot: %s\n", snap_out);
      } else {
        tool_error("%s", why);
        ok = false;
      }
    } else if (tool_copy_atomic(snap_path, snap_out)) {
      fprintf(stderr, "  snapshot: %s\n", snap_out);
    } else {
      ok = false;
    }
  }
  if (report_out) {
    if (!have) {
      tool_error("report %s not written (no snapshot was taken)", report_out);
      ok = false;
    } else {
      char *html = NULL;
      size_t len = 0;
      FILE *f = open_memstream(&html, &len);
      tool_render_report(f, &snap, 1);
      fclose(f);
      if (tool_write_atomic(report_out, html, len)) fprintf(stderr, "  report: %s\n", report_out);
      else ok = false;
      free(html);
    }
  }
  if (have) tool_snapshot_free(&snap);
  remove_dir(dir);
  free(lib);
  free(prog);
  return !ok && rc == 0 ? XSMEM_EXIT_FAIL : rc;
}
