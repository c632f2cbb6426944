// tools/list.c: `xsmem list`: the configurations and their options.
//
// The configurations are the plain preload libraries found (libraries.c).
// Each library is preloaded into a child (`xsmem __describe LIB`) that reads
// the library's own registry through dlsym, so the summary and option list
// printed are those compiled into it; options are described from
// platform/options_list.h.
#include <dlfcn.h>
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
      printf("    %s\n", summary);
      char *save = NULL;
      for (char *o = strtok_r(options, " ", &save); o; o = strtok_r(NULL, " ", &save)) {
        const xsmem_option_info *info = option_info(o);
        if (info)
          printf("      %-26s default %-8s %s\n", o, info->default_value[0] ? info->default_value : "''",
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
