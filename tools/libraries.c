// tools/libraries.c: where the tool finds what it preloads and runs.
//
// Preload libraries (libxsmem_NAME.so, libxsmem_NAME_export.so) are looked
// for in $XSMEM_LIB_DIR alone when it is set (exactly the libraries in that
// directory), else in the installed tree's lib/ when this binary is an
// installed one (PREFIX/bin/xsmem beside PREFIX/libexec/xsmem: //:install),
// then in the runfiles trees ($RUNFILES_DIR, $TEST_SRCDIR, <this
// binary>.runfiles, under the workspace name xsmem or __main__), then beside
// the binary in bazel-bin. Other runfiles (the demo script, the bench
// programs, libxsmem_maps.so) come from the installed tree's libexec/xsmem,
// the runfiles trees, or, for a copy of the binary outside Bazel's tree,
// from beside it. The installed tree comes first: it is what an installed
// tool was installed with, whatever runfiles variables it inherits.
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/xsmem.h"

enum { kMaxDirs = 16 };

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

// Returns PREFIX/sub (malloc'ed) when this binary is PREFIX/bin/xsmem of an
// installed tree (PREFIX/libexec/xsmem exists), else NULL.
static char *installed_dir(const char *sub) {
  char exe[PATH_MAX];
  if (!self_path(exe, sizeof exe)) return NULL;
  const char *prefix = dirname(dirname(exe));
  char *marker = dup_printf("%s/libexec/xsmem", prefix);
  bool installed = marker && is_dir(marker);
  free(marker);
  return installed ? dup_printf("%s/%s", prefix, sub) : NULL;
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
  char *installed = installed_dir("lib");
  if (installed) dirs[n++] = installed;
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

// Returns the first readable dirs[i]/name (malloc'ed), or NULL (also when
// name is NULL: out of memory); frees dirs[0..n).
static char *first_readable(char **dirs, size_t n, const char *name) {
  char *found = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!found && name) {
      char *p = dup_printf("%s/%s", dirs[i], name);
      if (p && access(p, R_OK) == 0) found = p;
      else free(p);
    }
    free(dirs[i]);
  }
  return found;
}

char *tool_find_library(const char *stem) {
  char *dirs[kMaxDirs];
  size_t n = lib_dirs(dirs);
  char *name = dup_printf("libxsmem_%s.so", stem);
  char *found = first_readable(dirs, n, name);
  free(name);
  return found;
}

char *tool_find_runfile(const char *rel) {
  const char *slash = strrchr(rel, '/');
  const char *base = slash ? slash + 1 : rel;
  // Installed (//:install): PREFIX/libexec/xsmem/<file name>.
  char *found = NULL, *libexec = installed_dir("libexec/xsmem");
  if (libexec) found = first_readable(&libexec, 1, base);
  if (found) return found;
  char *roots[4];
  size_t nr = runfiles_roots(roots, 4);
  char *name = dup_printf("xsmem/%s", rel);
  found = first_readable(roots, nr, name);
  free(name);
  char exe[PATH_MAX];
  if (!found && self_path(exe, sizeof exe)) {  // a copy of the tool outside Bazel's tree: beside it
    char *p = dup_printf("%s/%s", dirname(exe), base);
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
