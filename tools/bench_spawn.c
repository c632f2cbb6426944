// tools/bench_spawn.c: one program run under one allocator, for `xsmem
// bench`.
//
// The child gets the allocator's library as LD_PRELOAD (none for glibc, the
// caller's own LD_PRELOAD dropped), its --lib-env variables, and the CPUs of
// --cpus; its standard output and error go to memory files. The parent waits
// on a pidfd with poll, so a run past its time is killed on time without a
// polling loop adding to the measured time. Wall time runs from fork to
// reaping. Peak RSS is the program's own figure when it prints
// peak_rss_kib=N (the bench/workloads programs print their VmHWM): wait4's
// ru_maxrss also counts what this process had resident at fork time, which
// exec keeps in the child's high-water mark.
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/bench_internal.h"
#include "tools/xsmem.h"

// Returns the contents of memory file fd (malloc'ed, NUL-terminated).
static char *slurp(int fd) {
  off_t len = lseek(fd, 0, SEEK_END);
  if (len < 0) len = 0;
  char *s = malloc((size_t)len + 1);
  if (!s) return NULL;
  size_t got = 0;
  while (got < (size_t)len) {
    ssize_t r = pread(fd, s + got, (size_t)len - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  s[got] = 0;
  return s;
}

// Waits for pid at most timeout_s seconds; kills it past that. Returns
// whether it was killed.
static bool wait_or_kill(pid_t pid, double timeout_s) {
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0) return false;  // no pidfd (kernel before 5.3): no time limit
  double deadline = tool_now_s() + timeout_s;
  bool killed = false;
  for (;;) {
    double left = deadline - tool_now_s();
    struct pollfd q = {.fd = pfd, .events = POLLIN};
    int n = left > 0 ? poll(&q, 1, (int)ceil(left * 1000)) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && tool_now_s() < deadline) continue;  // woke a little early
    if (n == 0) {
      kill(pid, SIGKILL);
      killed = true;
    }
    break;
  }
  close(pfd);
  return killed;
}

// Returns the value of peak_rss_kib= in out, or -1.
static double printed_rss_kib(const char *out) {
  const char *k = out ? strstr(out, "peak_rss_kib=") : NULL;
  if (!k) return -1;
  char *end;
  double v = strtod(k + strlen("peak_rss_kib="), &end);
  return end != k + strlen("peak_rss_kib=") && v >= 0 ? v : -1;
}

void bench_spawn(const bench_plan *p, const bench_alloc *a, char *const *argv, double timeout_s, bench_child *c) {
  memset(c, 0, sizeof *c);
  c->secs = c->rss_kib = NAN;
  int out = memfd_create("xsmem-bench-stdout", MFD_CLOEXEC);
  int err = memfd_create("xsmem-bench-stderr", MFD_CLOEXEC);
  if (out < 0 || err < 0) {
    snprintf(c->why, sizeof c->why, "memfd_create: %s", strerror(errno));
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    return;
  }
  double t0 = tool_now_s();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out, 1);
    dup2(err, 2);
    signal(SIGPIPE, SIG_DFL);
    if (a->preload) setenv("LD_PRELOAD", a->preload, 1);
    else unsetenv("LD_PRELOAD");
    for (size_t i = 0; i < a->n_env; i++) putenv((char *)a->env[i]);
    if (p->pinned && sched_setaffinity(0, sizeof p->cpus, &p->cpus) != 0) {
      dprintf(2, "sched_setaffinity: %s\n", strerror(errno));
      _exit(126);
    }
    execv(argv[0], argv);
    dprintf(2, "cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  if (pid < 0) {
    snprintf(c->why, sizeof c->why, "fork: %s", strerror(errno));
    close(out);
    close(err);
    return;
  }
  bool killed = wait_or_kill(pid, timeout_s);
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
  c->secs = tool_now_s() - t0;
  c->out = slurp(out);
  double printed = printed_rss_kib(c->out);
  c->rss_kib = printed >= 0 ? printed : (double)ru.ru_maxrss;
  c->ok = !killed && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!c->ok) {
    int n = killed          ? snprintf(c->why, sizeof c->why, "killed after the %g s allowed (--timeout)", timeout_s)
        : WIFEXITED(status) ? snprintf(c->why, sizeof c->why, "exit status %d", WEXITSTATUS(status))
                            : snprintf(c->why, sizeof c->why, "killed by signal %d", WTERMSIG(status));
    // The end of its standard error says why, usually: on one line.
    char *e = slurp(err);
    if (e && n > 0 && (size_t)n < sizeof c->why) {
      size_t len = 0;
      for (const char *s = e; *s; s++) {
        bool space = *s == '\n' || *s == '\t' || *s == ' ' || *s == '\r';
        if (!space) e[len++] = *s;
        else if (len && e[len - 1] != ' ') e[len++] = ' ';
      }
      while (len && e[len - 1] == ' ') len--;
      e[len] = 0;
      size_t room = sizeof c->why - (size_t)n - 3;
      const char *tail = len > room ? e + len - room : e;
      if (len) snprintf(c->why + n, sizeof c->why - (size_t)n, ": %s", tail);
    }
    free(e);
  }
  close(out);
  close(err);
}
