// tests/limits: the first malloc, which builds the preloaded configuration,
// made with no address space to spare (RLIMIT_AS below what the process
// already has): it and the next must fail with ENOMEM, never abort, and once
// the limit is lifted malloc must work (a configuration that could not be
// built is built then). Output through write(2): stdio may allocate.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void *(*volatile do_malloc)(size_t) = malloc;

static void say(const char *s) {
  if (write(1, s, strlen(s)) < 0) _exit(3);
}

int main(void) {
  struct rlimit saved, tight;
  if (getrlimit(RLIMIT_AS, &saved) != 0) return 2;
  tight = saved;
  tight.rlim_cur = 4096;  // below the process's own size: no new mapping at all
  if (setrlimit(RLIMIT_AS, &tight) != 0) return 2;
  errno = 0;
  void *p = do_malloc(100);
  int e1 = errno;
  errno = 0;
  void *q = do_malloc(5000);
  int e2 = errno;
  if (setrlimit(RLIMIT_AS, &saved) != 0) return 2;
  int failures = 0;
  if (p || e1 != ENOMEM) {
    say("FAIL: the first malloc under the limit did not fail with ENOMEM\n");
    failures++;
  }
  if (q || e2 != ENOMEM) {
    say("FAIL: the second malloc under the limit did not fail with ENOMEM\n");
    failures++;
  }
  void *r = do_malloc(300);
  if (!r) {
    say("FAIL: malloc still fails once the limit is lifted\n");
    return 1;
  }
  memset(r, 1, 300);
  free(r);
  free(p);
  free(q);
  say(failures ? "FAIL\n" : "PASS\n");
  return failures != 0;
}
