// tools/xsmem.c: the `xsmem` command's entry point and shared helpers
// (snapshot loading, text summary, atomic writes, finding the preload
// libraries), plus the small subcommands: list, stats, report.
#include "tools/xsmem.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocators/registry.h"
#include "export/format.h"
#include "export/output.h"
#include "export/snapshot.h"
#include "platform/options.h"

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

// ---------------------------------------------------------------------------
// Snapshots.

// A collector always stamps the wall clock; a message without it that still
// parsed is some other protobuf (protobuf accepts many byte strings).
static bool plausible(const Xsmem__Snapshot *s) { return s->time_unix_ns != 0 && s->pid > 0; }

// Reports a refused or cut record of path's stream.
static void report_issue(const char *path, const xsmem_snapshot_stream *st, size_t read) {
  if (st->cut) {
    tool_error("%s: byte %zu: %s (its writer stopped: killed, or out of disk space); %zu intact snapshot%s "
               "before it read",
               path, st->error_offset, st->error, read, read == 1 ? "" : "s");
  } else {
    tool_error("%s: byte %zu: %s; refused", path, st->error_offset, st->error);
  }
}

bool tool_snapshot_load(const char *path, tool_snapshot *out) {
  memset(out, 0, sizeof(*out));
  out->path = path;
  xsmem_buf file = XSMEM_BUF_INIT;
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    tool_error("%s: is a directory, not a snapshot", path);
    return false;
  }
  if (!xsmem_snapshot_read_file(path, &file)) {
    if (errno == EFBIG) {
      tool_error("%s: not a snapshot: larger than %zu MiB, the most xsmem reads", path,
                 XSMEM_SNAPSHOT_MAX_FILE >> 20);
    } else if (errno == EBADMSG) {
      tool_error("%s: not an xsmem snapshot (its first bytes begin neither snapshot format)", path);
    } else {
      tool_error("cannot read snapshot %s: %s", path, strerror(errno));
    }
    xsmem_buf_free(&file);
    return false;
  }
  if (file.len == 0) {
    tool_error("%s: empty file, not a snapshot", path);
    xsmem_buf_free(&file);
    return false;
  }
  if (!xsmem_snapshot_is_framed(file.data, file.len)) {
    // Format 1: one bare Snapshot, else a stream of delimited ones.
    Xsmem__Snapshot *one = xsmem_snapshot_unpack(&out->arena, file.data, file.len);
    if (one && plausible(one)) {
      out->series = calloc(1, sizeof(*out->series));
      out->series[0] = one;
      out->n_series = 1;
      out->last = one;
      xsmem_buf_free(&file);
      return true;
    }
  }
  // A stream: every intact record, each refused or cut one reported.
  xsmem_snapshot_stream stream = {.data = (const uint8_t *)file.data, .len = file.len};
  size_t cap = 0, refused = 0, issues = 0;
  Xsmem__Snapshot *s;
  int r;
  while ((r = xsmem_snapshot_next(&stream, &out->arena, &s)) != 0) {
    if (r == 1 && !plausible(s)) {
      r = -1;
      stream.error = "a protobuf message that is not an xsmem snapshot";
      stream.error_offset = stream.record_offset;
      stream.cut = false;
      if (stream.format == 1) stream.pos = stream.len;  // no checksums: the rest cannot be trusted
    }
    if (r < 0) {
      issues++;
      // A version-1 file that is no stream at all gets one message below.
      if (stream.format == 1 && out->n_series == 0) break;
      report_issue(path, &stream, out->n_series);
      if (!stream.cut) refused++;  // a cut tail is how a killed writer's stream ends, not damage
      continue;
    }
    if (out->n_series == cap) {
      cap = cap ? cap * 2 : 16;
      out->series = realloc(out->series, cap * sizeof(*out->series));
    }
    out->series[out->n_series++] = s;
  }
  xsmem_buf_free(&file);
  out->refused = refused;
  if (out->n_series == 0) {
    if (issues && stream.format == 2) tool_error("%s: no intact snapshot in the file", path);
    else tool_error("%s: not an xsmem snapshot (corrupt or truncated protobuf)", path);
    tool_snapshot_free(out);
    return false;
  }
  out->last = out->series[out->n_series - 1];
  return true;
}

void tool_snapshot_free(tool_snapshot *s) {
  free(s->series);
  xsmem_arena_free(&s->arena);
  s->series = NULL;
  s->n_series = 0;
  s->last = NULL;
}

const Xsmem__Allocator *tool_process_allocator(const Xsmem__Snapshot *s) {
  for (size_t i = 0; i < s->n_allocators; i++)
    if (s->allocators[i]->process_allocator) return s->allocators[i];
  return s->n_allocators ? s->allocators[0] : NULL;
}

double tool_detail(const Xsmem__Allocator *a, const char *group, const char *label, const char *key) {
  for (size_t i = 0; i < a->n_detail; i++) {
    const Xsmem__DetailValue *d = a->detail[i];
    if (!strcmp(d->group, group) && (!label || !strcmp(d->label, label)) && !strcmp(d->key, key)) return d->value;
  }
  return NAN;
}

static const Xsmem__AllocatorStats kNoStats = XSMEM__ALLOCATOR_STATS__INIT;

void tool_print_summary(FILE *f, const Xsmem__Snapshot *s, size_t top, bool at_exit) {
  char b1[32], b2[32], b3[32], b4[32], b5[32];
  // Every string of a snapshot is escaped for the terminal (tool_tty).
  fprintf(f, "snapshot of pid %lld (%s), configuration '%s'\n", (long long)s->pid,
          s->cmdline[0] ? tool_tty(s->cmdline) : "?", s->config[0] ? tool_tty(s->config) : "none");
  fprintf(f, "  %-18s %12s %12s %12s %12s %12s %12s %6s\n", "allocator", "allocs", "frees", "in use", "peak",
          "committed", "reserved", "frag");
  for (size_t i = 0; i < s->n_allocators; i++) {
    const Xsmem__Allocator *a = s->allocators[i];
    const Xsmem__AllocatorStats *st = a->stats ? a->stats : &kNoStats;
    fprintf(f, "%c %-18s %12llu %12llu %12s %12s %12s %12s %5.1f%%\n", a->process_allocator ? '*' : ' ',
            tool_tty(a->name),
            (unsigned long long)st->num_allocs, (unsigned long long)st->num_frees,
            tool_bytes((double)st->bytes_in_use, b1, sizeof b1),
            tool_bytes((double)st->peak_bytes_in_use, b2, sizeof b2),
            st->bytes_committed ? tool_bytes((double)st->bytes_committed, b5, sizeof b5) : "-",
            tool_bytes((double)st->bytes_reserved, b3, sizeof b3), 100.0 * st->fragmentation);
  }
  if (s->os) {
    fprintf(f, "  os_vm: %s reserved, %s committed, %llu maps, %llu unmaps\n",
            tool_bytes((double)s->os->bytes_reserved, b1, sizeof b1),
            tool_bytes((double)s->os->bytes_committed, b2, sizeof b2), (unsigned long long)s->os->num_maps,
            (unsigned long long)s->os->num_unmaps);
  }
  for (size_t i = 0; i < s->n_alerts; i++) {
    const Xsmem__Alert *al = s->alerts[i];
    if (al->active)
      fprintf(f, "  ALERT %s on %s: %g > %g. %s\n", tool_tty(al->name), tool_tty(al->allocator), al->value,
              al->threshold, tool_tty(al->recommendation));
  }
  if (!s->analysis_source[0]) {
    fprintf(f, "  call sites and leaks: not tracked (use a *_tracked configuration or --track sample|full)\n");
    return;
  }
  fprintf(f, "  top call sites by live bytes (%s):\n", tool_tty(s->analysis_source));
  if (s->n_call_sites == 0) fprintf(f, "    none\n");
  for (size_t i = 0; i < s->n_call_sites && i < top; i++) {
    const Xsmem__CallSite *c = s->call_sites[i];
    // A symbolized stack holds one frame per line: the first names the site.
    fprintf(f, "    %10s live in %6llu blocks, %10s in %8llu allocations  %s\n",
            tool_bytes((double)c->live_bytes, b1, sizeof b1), (unsigned long long)c->live_count,
            tool_bytes((double)c->bytes, b2, sizeof b2), (unsigned long long)c->count,
            c->symbol[0] ? tool_tty_n(c->symbol, strcspn(c->symbol, "\n")) : "?");
  }
  // Leak records: the tracker's leak report (one per call site, largest
  // first), or single blocks (count 0 or 1 with an address) from other providers.
  double leaked = 0, leaked_blocks = 0;
  for (size_t i = 0; i < s->n_leaks; i++) {
    leaked += (double)s->leaks[i]->size;
    leaked_blocks += (double)(s->leaks[i]->count ? s->leaks[i]->count : 1);
  }
  if (s->n_leaks) {
    fprintf(f, "  %s: %s in %.0f blocks from %zu %s\n",
            at_exit ? "leaks (unfreed at exit)" : "unfreed when the snapshot was taken", tool_bytes(leaked, b3, sizeof b3),
            leaked_blocks, s->n_leaks, s->leaks[0]->address ? "records" : "call sites");
    for (size_t i = 0; i < s->n_leaks && i < top; i++) {
      const Xsmem__Leak *l = s->leaks[i];
      char at[40] = "";
      if (l->address) snprintf(at, sizeof at, " at 0x%llx", (unsigned long long)l->address);
      fprintf(f, "    %10s in %6llu blocks%s  %s\n", tool_bytes((double)l->size, b4, sizeof b4),
              (unsigned long long)(l->count ? l->count : 1), at,
              l->symbol[0] ? tool_tty_n(l->symbol, strcspn(l->symbol, "\n")) : "?");
    }
    if (s->n_leaks > top) fprintf(f, "    ... and %zu more\n", s->n_leaks - top);
    return;
  }
  if (!at_exit) return;
  // The exit snapshot's live call sites are the unfreed blocks by call site.
  double live = 0, blocks = 0;
  size_t sites = 0;
  for (size_t i = 0; i < s->n_call_sites; i++) {
    if (!s->call_sites[i]->live_count) continue;
    live += (double)s->call_sites[i]->live_bytes;
    blocks += (double)s->call_sites[i]->live_count;
    sites++;
  }
  fprintf(f, "  leaks (unfreed when the snapshot was taken, by call site): %s in %.0f blocks from %zu sites%s\n",
          tool_bytes(live, b3, sizeof b3), blocks, sites, sites ? " (largest above)" : "");
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
// Preload libraries: $XSMEM_LIB_DIR, the runfiles tree, bazel-bin.

enum { kMaxDirs = 12 };

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  return s;
}

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

// This binary's path into buf (cap bytes); false when it cannot be read.
static bool self_path(char *buf, size_t cap) {
  ssize_t len = readlink("/proc/self/exe", buf, cap - 1);
  if (len <= 0) return false;
  buf[len] = 0;
  return true;
}

// Runfiles roots: $RUNFILES_DIR, $TEST_SRCDIR, then <this binary>.runfiles.
static size_t runfiles_roots(char **roots, size_t max) {
  size_t n = 0;
  const char *env[] = {getenv("RUNFILES_DIR"), getenv("TEST_SRCDIR")};
  for (size_t i = 0; i < 2 && n < max; i++)
    if (env[i] && env[i][0]) roots[n++] = strdup(env[i]);
  char exe[PATH_MAX];
  if (n < max && self_path(exe, sizeof exe)) roots[n++] = dup_printf("%s.runfiles", exe);
  return n;
}

// Directories that may hold libxsmem_*.so, most specific first.
static size_t lib_dirs(char **dirs) {
  size_t n = 0;
  // An override replaces the search: exactly the libraries in that directory.
  const char *env = getenv("XSMEM_LIB_DIR");
  if (env && env[0]) {
    dirs[n++] = strdup(env);
    return n;
  }
  char *roots[4];
  size_t nr = runfiles_roots(roots, 4);
  for (size_t i = 0; i < nr; i++) {
    static const char *const kWs[] = {"xsmem", "__main__"};
    for (size_t w = 0; w < 2 && n + 2 <= kMaxDirs; w++) {
      char *a = dup_printf("%s/%s/allocators", roots[i], kWs[w]);
      char *e = dup_printf("%s/%s/export", roots[i], kWs[w]);
      if (is_dir(a)) dirs[n++] = a;
      else free(a);
      if (is_dir(e)) dirs[n++] = e;
      else free(e);
    }
    free(roots[i]);
  }
  // bazel-bin/tools/xsmem -> bazel-bin/allocators, bazel-bin/export.
  char exe[PATH_MAX];
  if (n + 2 <= kMaxDirs && self_path(exe, sizeof exe)) {
    char *d = dirname(dirname(exe));
    dirs[n++] = dup_printf("%s/allocators", d);
    dirs[n++] = dup_printf("%s/export", d);
  }
  return n;
}

char *tool_find_library(const char *stem) {
  char *dirs[kMaxDirs];
  size_t n = lib_dirs(dirs);
  char *found = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!found) {
      char *p = dup_printf("%s/libxsmem_%s.so", dirs[i], stem);
      if (access(p, R_OK) == 0) found = p;
      else free(p);
    }
    free(dirs[i]);
  }
  return found;
}

char *tool_find_runfile(const char *rel) {
  char *roots[4];
  size_t nr = runfiles_roots(roots, 4);
  char *found = NULL;
  for (size_t i = 0; i < nr; i++) {
    if (!found) {
      char *p = dup_printf("%s/xsmem/%s", roots[i], rel);
      if (access(p, R_OK) == 0) found = p;
      else free(p);
    }
    free(roots[i]);
  }
  char exe[PATH_MAX];
  if (!found && self_path(exe, sizeof exe)) {  // a copy of the tool outside Bazel's tree: beside it
    const char *base = strrchr(rel, '/');
    char *p = dup_printf("%s/%s", dirname(exe), base ? base + 1 : rel);
    if (access(p, R_OK) == 0) found = p;
    else free(p);
  }
  return found;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

size_t tool_list_configs(char ***names) {
  char *dirs[kMaxDirs];
  size_t n = lib_dirs(dirs), count = 0, cap = 0;
  char **out = NULL;
  for (size_t i = 0; i < n; i++) {
    DIR *d = opendir(dirs[i]);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      size_t len = strlen(e->d_name);
      if (len < 13 || strncmp(e->d_name, "libxsmem_", 9) || strcmp(e->d_name + len - 3, ".so")) continue;
      char *name = strndup(e->d_name + 9, len - 12);
      size_t nl = strlen(name);
      // libxsmem_maps.so is run's helper (it saves the mappings), not a configuration.
      bool dup = (nl > 7 && !strcmp(name + nl - 7, "_export")) || !strcmp(name, "maps");
      for (size_t k = 0; k < count && !dup; k++) dup = !strcmp(out[k], name);
      if (dup) {
        free(name);
        continue;
      }
      if (count == cap) {
        cap = cap ? cap * 2 : 16;
        out = realloc(out, cap * sizeof(*out));
      }
      out[count++] = name;
    }
    if (d) closedir(d);
    free(dirs[i]);
  }
  if (count) qsort(out, count, sizeof(*out), cmp_str);
  *names = out;
  return count;
}

// ---------------------------------------------------------------------------
// list: each library is preloaded into a child that reads its registry.

int tool_cmd_describe(int argc, char **argv) {
  if (argc < 2) return XSMEM_EXIT_USAGE;
  void *h = dlopen(argv[1], RTLD_NOLOAD | RTLD_LAZY);
  if (!h) return XSMEM_EXIT_FAIL;
  size_t (*count)(void) = (size_t(*)(void))dlsym(h, "xsmem_config_count");
  const xsmem_config *(*at)(size_t) = (const xsmem_config *(*)(size_t))dlsym(h, "xsmem_config_at");
  if (!count || !at) return XSMEM_EXIT_FAIL;
  for (size_t i = 0; i < count(); i++) {
    const xsmem_config *c = at(i);
    printf("%s\t%s\t%s\n", c->name, c->summary ? c->summary : "", c->options ? c->options : "");
  }
  return 0;
}

// Runs `xsmem __describe LIB` with LIB preloaded; returns its output (malloc'ed) or NULL.
static char *describe_library(const char *lib) {
  int fds[2];
  if (pipe(fds) != 0) return NULL;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    signal(SIGPIPE, SIG_DFL);
    setenv("LD_PRELOAD", lib, 1);
    execl("/proc/self/exe", "xsmem", "__describe", lib, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  size_t len = 0, cap = 4096;
  char *out = malloc(cap);
  ssize_t r;
  while ((r = read(fds[0], out + len, cap - len - 1)) > 0) {
    len += (size_t)r;
    if (cap - len < 256) out = realloc(out, cap *= 2);
  }
  out[len] = 0;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    free(out);
    return NULL;
  }
  return out;
}

static const xsmem_option_info *option_info(const char *name) {
  size_t n;
  const xsmem_option_info *t = xsmem_options_table(&n);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(t[i].name, name)) return &t[i];
  return NULL;
}

int tool_cmd_list(int argc, char **argv) {
  bool brief = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--names")) brief = true;
    else {
      tool_error("list: unknown option '%s' (usage: xsmem list [--names])", argv[i]);
      return XSMEM_EXIT_USAGE;
    }
  }
  char **names;
  size_t n = tool_list_configs(&names);
  if (n == 0) {
    tool_error("no preload libraries found (build //tools:xsmem, or set XSMEM_LIB_DIR to a directory of libxsmem_*.so)");
    return XSMEM_EXIT_FAIL;
  }
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (brief) {
      printf("%s\n", names[i]);
      continue;
    }
    char *lib = tool_find_library(names[i]);
    char *exp_name = NULL;
    if (asprintf(&exp_name, "%s_export", names[i]) < 0) exp_name = NULL;
    char *exp = exp_name ? tool_find_library(exp_name) : NULL;
    char *desc = lib ? describe_library(lib) : NULL;
    // The library's own configuration is the line naming it.
    char *summary = NULL, *options = NULL;
    for (char *line = desc ? strtok(desc, "\n") : NULL; line; line = strtok(NULL, "\n")) {
      char *t1 = strchr(line, '\t');
      if (!t1) continue;
      *t1 = 0;
      char *t2 = strchr(t1 + 1, '\t');
      if (t2) *t2 = 0;
      if (!strcmp(line, names[i])) {
        summary = t1 + 1;
        options = t2 ? t2 + 1 : "";
      }
    }
    printf("%s%s\n", names[i], exp ? "" : "  (no _export library: run --snapshot/--report unavailable)");
    if (!summary) {
      printf("    (could not read its registry from %s)\n", lib ? lib : "?");
      rc = XSMEM_EXIT_FAIL;
    } else {
      printf("    %s\n", summary);
      char *save = NULL;
      for (char *o = strtok_r(options, " ", &save); o; o = strtok_r(NULL, " ", &save)) {
        const xsmem_option_info *info = option_info(o);
        if (info) printf("      %-26s default %-8s %s\n", o, info->default_value[0] ? info->default_value : "''",
                         info->description);
        else printf("      %s\n", o);
      }
    }
    free(desc);
    free(lib);
    free(exp);
    free(exp_name);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

// ---------------------------------------------------------------------------
// stats SNAPSHOT [--format text|json|prometheus|csv]

int tool_cmd_stats(int argc, char **argv) {
  const char *path = NULL, *fmt = "text";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--format") && i + 1 < argc) fmt = argv[++i];
    else if (!strncmp(argv[i], "--format=", 9)) fmt = argv[i] + 9;
    else if (argv[i][0] == '-' && argv[i][1]) {
      tool_error("stats: unknown option '%s'", argv[i]);
      return XSMEM_EXIT_USAGE;
    } else if (!path) path = argv[i];
    else {
      tool_error("stats: one snapshot at a time (got '%s' and '%s')", path, argv[i]);
      return XSMEM_EXIT_USAGE;
    }
  }
  if (!path) {
    tool_error("usage: xsmem stats SNAPSHOT [--format text|json|prometheus|csv]");
    return XSMEM_EXIT_USAGE;
  }
  if (strcmp(fmt, "text") && strcmp(fmt, "json") && strcmp(fmt, "prometheus") && strcmp(fmt, "csv")) {
    tool_error("stats: unknown format '%s' (text, json, prometheus, csv)", fmt);
    return XSMEM_EXIT_USAGE;
  }
  tool_snapshot snap;
  if (!tool_snapshot_load(path, &snap)) return XSMEM_EXIT_FAIL;
  if (!strcmp(fmt, "text")) {
    tool_print_summary(stdout, snap.last, 10, true);
  } else {
    xsmem_buf b = XSMEM_BUF_INIT;
    if (!strcmp(fmt, "json")) {
      xsmem_json_snapshot(snap.last, &b);
      xsmem_buf_puts(&b, "\n");
    } else if (!strcmp(fmt, "prometheus")) {
      xsmem_prometheus(snap.last, &b);
    } else {
      xsmem_csv_timeline(snap.last, &b);
    }
    if (b.failed) {
      tool_error("stats: out of memory rendering %s", fmt);
      xsmem_buf_free(&b);
      tool_snapshot_free(&snap);
      return XSMEM_EXIT_FAIL;
    }
    fwrite(b.data ? b.data : "", 1, b.len, stdout);
    xsmem_buf_free(&b);
  }
  size_t refused = snap.refused;
  tool_snapshot_free(&snap);
  // A full disk or a closed stdout: fwrite of a large block writes through
  // and only sets the error flag, which fflush alone does not report.
  if (fflush(stdout) != 0 || ferror(stdout)) {
    tool_error("stats: cannot write the output: %s", strerror(errno ? errno : EIO));
    return XSMEM_EXIT_FAIL;
  }
  return refused ? XSMEM_EXIT_FAIL : 0;
}

// ---------------------------------------------------------------------------
// report SNAPSHOT... -o FILE.html

int tool_cmd_report(int argc, char **argv) {
  const char *out = NULL;
  const char *paths[16];
  size_t n = 0;
  for (int i = 1; i < argc; i++) {
    if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) out = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1]) {
      tool_error("report: unknown option '%s'", argv[i]);
      return XSMEM_EXIT_USAGE;
    } else if (n < 16) paths[n++] = argv[i];
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

// ---------------------------------------------------------------------------

static void usage(FILE *f) {
  fputs("usage: xsmem COMMAND [ARGS]\n"
        "  run [--config NAME] [--track off|sample|full] [--snapshot FILE] [--report FILE.html]\n"
        "      [--counters] [--top N] -- CMD ARGS...   run a program with a configuration preloaded\n"
        "      (or --workload python|small|mixed|large|threads instead of a command)\n"
        "  report SNAPSHOT... -o FILE.html             self-contained HTML report (several: side by side)\n"
        "  stats SNAPSHOT [--format text|json|prometheus|csv]\n"
        "  bench [--allocators a,b] [--workloads w,x] [--reps N] [--scale X] [--out DIR]\n"
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
      {"run", tool_cmd_run},         {"report", tool_cmd_report},     {"stats", tool_cmd_stats},
      {"bench", tool_cmd_bench},     {"top", tool_cmd_top},           {"list", tool_cmd_list},
      {"__describe", tool_cmd_describe}, {"__workload", tool_cmd_workload},
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
