// A program that leaks on purpose (argv[1] = "leak") or frees everything
// ("clean"), linked with the system_tracked configuration. tracker_leak_test.sh
// checks the leak report it prints at exit.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Non-static and not inlined, so the report can name them (-rdynamic).
__attribute__((noinline)) void *leak_big_buffer(size_t n) {
  char *p = malloc(n);
  memset(p, 1, n);
  return p;
}

__attribute__((noinline)) void leak_small_strings(void **keep, int n) {
  static const char kText[] = "a string that nobody frees";
  for (int i = 0; i < n; i++) keep[i] = memcpy(malloc(sizeof(kText)), kText, sizeof(kText));
}

// Through libc's strdup, which has no frame pointer: only the backtrace()
// unwinder sees past it.
__attribute__((noinline)) void *leak_via_libc(void) { return strdup("0123456789abcde"); }

__attribute__((noinline)) void *temporary_work(void) {
  void *p = calloc(100, 10);
  free(p);
  return NULL;
}

static void *volatile g_sink;

int main(int argc, char **argv) {
  int leak = argc > 1 && strncmp(argv[1], "leak", 4) == 0;
  if (argc > 1 && strcmp(argv[1], "leak-close-stderr") == 0) close(2);  // as coreutils do at exit
  void *keep[10];
  void *big = leak_big_buffer(100000);
  void *dup = leak_via_libc();
  leak_small_strings(keep, 10);
  g_sink = temporary_work();
  if (!leak) {
    for (int i = 0; i < 10; i++) free(keep[i]);
    free(big);
    free(dup);
  } else {
    // Drop the last reference: the blocks are leaked.
    memset(keep, 0, sizeof(keep));
    big = dup = NULL;
  }
  return 0;
}
