// tools/list.c: `xsmem list`: the configurations and their options.
//
// The configurations are the plain preload libraries found (libraries.c).
// Each library is preloaded into a child (`xsmem __describe LIB`) that reads
// the library's own registry through dlsym, so the summary and option list
// printed are those compiled into it; options are described from
// platform/options_list.h, each with its value in effect in this
// environment (the one a program run from here inherits), marked '*' when
// set to other than the default and '!' when the value given is not
// accepted; lines fit in 100 columns.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocators/registry.h"
#include "platform/options.h"
#include "tools/xsmem.h"

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
    // The library reads the options as it starts: what it would say about
    // them is said once by `xsmem list` itself, not once per library.
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 2);
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

enum { kWidth = 100, kTextIndent = 10 };

#ifndef XSMEM_EXPORT_OPTIONS
#define XSMEM_EXPORT_OPTIONS ""  // tools/BUILD.bazel sets it from export/options.bzl
#endif

// Prints text from column `indent`, wrapped at kWidth columns (a word longer
// than a line gets a line of its own).
static void print_wrapped(const char *text, int indent) {
  int col = 0;
  for (const char *p = text; *p;) {
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    if (!len) break;
    if (col > indent && col + 1 + (int)len > kWidth) {
      putchar('\n');
      col = 0;
    }
    if (col == 0) col = printf("%*s", indent, "");
    else col += printf(" ");
    col += printf("%.*s", (int)len, p);
    p += len;
  }
  if (col) putchar('\n');
}

// Prints one option: a line with its value in effect in this environment
// (marked '*' when not the default, '!' when the value given is not accepted)
// and where it came from, then its meaning and what it accepts, wrapped.
static void print_option(const char *name) {
  xsmem_option_state st;
  if (!xsmem_option_lookup(name, &st)) {
    printf("      %s\n", name);
    return;
  }
  const xsmem_option_info *o = st.info;
  char where[200];
  if (!st.given) snprintf(where, sizeof where, "(default)");
  else if (!st.accepted)
    snprintf(where, sizeof where, "(default: %.24s%s from %s%s is not accepted)", st.given,
             strlen(st.given) > 24 ? "..." : "", st.source == XSMEM_OPTION_FROM_ENV ? "the " : "",
             xsmem_option_source_name(st.source));
  else if (strcmp(st.value, o->default_value) == 0)
    snprintf(where, sizeof where, "(%s, the default)", xsmem_option_source_name(st.source));
  else
    snprintf(where, sizeof where, "(%s; default %s)", xsmem_option_source_name(st.source),
             o->default_value[0] ? o->default_value : "''");
  char mark = !st.accepted ? '!' : st.given && strcmp(st.value, o->default_value) != 0 ? '*' : ' ';
  const char *value = st.value[0] ? st.value : "''";
  // The value is cut to keep the line within kWidth columns.
  int room = kWidth - (6 + (int)strlen(name) + 3 + 1 + (int)strlen(where));
  if (room < 8) room = 8;
  if ((int)strlen(value) > room) printf("    %c %s = %.*s... %s\n", mark, name, room - 3, value, where);
  else printf("    %c %s = %s %s\n", mark, name, value, where);
  char accepted[200], text[1200];
  xsmem_option_describe_accepted(o, accepted, sizeof accepted);
  snprintf(text, sizeof text, "%s. Accepts %s%s.", o->description, accepted,
           o->live ? "; can change while running (xsmem_option_set)" : "");
  print_wrapped(text, kTextIndent);
}

static void print_options(const char *options) {
  char *copy = strdup(options), *save = NULL;
  for (char *o = strtok_r(copy, " ", &save); o; o = strtok_r(NULL, " ", &save)) print_option(o);
  free(copy);
}

int tool_cmd_list(int argc, char **argv) {
  bool brief = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--names")) brief = true;
    else if (tool_is_help(argv[i])) return tool_help("list");
    else return tool_usage_error("list", argv[i]);
  }
  char **names;
  size_t n = tool_list_configs(&names);
  if (n == 0) {
    tool_error(
        "no preload libraries found (build //tools:xsmem, or set XSMEM_LIB_DIR to a directory of libxsmem_*.so)");
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
      print_wrapped(summary, 4);
      print_options(options);
      if (exp) {
        printf("    with libxsmem_%s_export.so, the exporter's too:\n", names[i]);
        print_options(XSMEM_EXPORT_OPTIONS);
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
