// export/service.c: option-driven start and stop of the exporter (see service.h).
#include "export/service.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "export/buf.h"
#include "export/http.h"
#include "export/monitor.h"
#include "export/output.h"
#include "export/provider.h"
#include "export/snapshot.h"
#include "platform/log.h"
#include "platform/options.h"

enum {
  SAMPLE_MS = 250,
  EXPORT_WAIT_MS = 2000,  // the longest a snapshot waits for a FIFO's reader
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;  // start/stop
static bool g_started;
static pid_t g_owner;
static xsmem_http_server *g_http;
static char g_path[4096];
static long long g_interval_ms;

static pthread_t g_sampler;
static bool g_sampler_running;
static pthread_mutex_t g_wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake;
static bool g_stop;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Expands %p to the pid; %% to %. Returns false when the result does not fit.
static bool expand_path(const char *in, char *out, size_t cap) {
  size_t n = 0;
  for (const char *p = in; *p; p++) {
    char tmp[24];
    const char *piece = tmp;
    size_t len;
    if (p[0] == '%' && p[1] == 'p') {
      len = xsmem_snprintf(tmp, sizeof(tmp), "%d", (int)getpid());
      p++;
    } else if (p[0] == '%' && p[1] == '%') {
      piece = "%";
      len = 1;
      p++;
    } else {
      piece = p;
      len = 1;
    }
    if (n + len + 1 > cap) return false;
    memcpy(out + n, piece, len);
    n += len;
  }
  out[n] = '\0';
  return true;
}

static bool snapshot_to_file(bool append) {
  xsmem_arena arena = XSMEM_ARENA_INIT;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&arena);
  char why[512];
  if (!s) {
    xsmem_log("cannot collect the snapshot for %s: %s", g_path, xsmem_strerror(errno));
  } else if (append ? !xsmem_snapshot_append_file_ex(g_path, s, EXPORT_WAIT_MS, why, sizeof(why))
                    : !xsmem_snapshot_write_file_ex(g_path, s, EXPORT_WAIT_MS, why, sizeof(why))) {
    xsmem_log("%s", why);
    s = NULL;
  }
  xsmem_arena_free(&arena);
  return s != NULL;
}

// ---------------------------------------------------------------------------
// HTTP, and children that inherit XSMEM_HTTP.
//
// A process that serves XSMEM_HTTP says so on stderr (pid, program, port: the
// port chosen when 0 was asked) and sets XSMEM_HTTP_SERVER="PID ADDRESS" for
// its children. A child (a shell wrapper's program, pyenv's shims, a forking
// server's workers) whose XSMEM_HTTP is that same address then does not try
// to bind it (which failed with "errno 98" in every child): by default it
// stays quiet (XSMEM_HTTP_CHILDREN=quiet; one line under XSMEM_VERBOSE), or
// with XSMEM_HTTP_CHILDREN=next it serves on the next free port and says so.
// A process that exec()s keeps its pid, so after exec it serves again.

enum { NEXT_PORTS = 64 };  // how far `next` looks for a free port

// Parses XSMEM_HTTP_SERVER ("PID ADDRESS"): returns the pid, 0 when unset or
// malformed, with *addr pointing into the variable.
static long marker_pid(const char **addr) {
  const char *m = xsmem_getenv("XSMEM_HTTP_SERVER");
  long pid = 0;
  if (!m) return 0;
  for (; *m >= '0' && *m <= '9' && pid < (1L << 30); m++) pid = pid * 10 + (*m - '0');
  if (*m != ' ') return 0;
  *addr = m + 1;
  return pid;
}

// Writes addr with its port replaced by port (addr is HOST:PORT, [V6]:PORT,
// :PORT or PORT). Returns false when it does not fit or has no numeric port.
static bool with_port(const char *addr, unsigned port, char *out, size_t cap) {
  const char *colon = strrchr(addr, ':');
  const char *close = strrchr(addr, ']');
  if (close && colon && colon < close) return false;
  size_t keep = colon ? (size_t)(colon - addr) + 1 : 0;
  if (keep >= cap) return false;
  memcpy(out, addr, keep);
  return xsmem_snprintf(out + keep, cap - keep, "%u", port) < cap - keep;
}

static unsigned port_of(const char *addr) {
  const char *colon = strrchr(addr, ':');
  const char *p = colon ? colon + 1 : addr;
  unsigned v = 0;
  for (; *p >= '0' && *p <= '9' && v < 100000; p++) v = v * 10 + (unsigned)(*p - '0');
  return v;
}

static bool start_http(const char *http) {
  xsmem_http_config cfg = {
      .addr = http,
      .token = xsmem_option_str("XSMEM_HTTP_TOKEN"),
      .token_file = xsmem_option_str("XSMEM_HTTP_TOKEN_FILE"),
      .allow_hosts = xsmem_option_str("XSMEM_HTTP_ALLOW_HOSTS"),
      .show_cmdline = xsmem_option_bool("XSMEM_HTTP_SHOW_CMDLINE"),
  };
  const char *const kChildren[] = {"quiet", "next"};
  const char *owner_addr = NULL;
  long owner = marker_pid(&owner_addr);
  bool inherited = owner > 0 && owner != (long)getpid() && strcmp(owner_addr, http) == 0;
  char why[512] = "";
  if (!inherited) {
    g_http = xsmem_http_start_config(&cfg, why, sizeof(why));
  } else if (xsmem_option_choice("XSMEM_HTTP_CHILDREN", kChildren, 2) == 0) {
    if (xsmem_option_bool("XSMEM_VERBOSE"))
      xsmem_log(
          "not serving HTTP: %s is served by pid %ld, whose XSMEM_HTTP this process inherited "
          "(XSMEM_HTTP_CHILDREN=next serves on the next free port)",
          http, owner);
    return true;
  } else {
    unsigned base = port_of(http);
    char addr[300];
    for (unsigned k = base ? 1 : 0; k <= NEXT_PORTS && !g_http; k++) {
      if (base + k > 65535 || !with_port(http, base + k, addr, sizeof(addr))) break;
      cfg.addr = addr;
      g_http = xsmem_http_start_config(&cfg, why, sizeof(why));
      if (!g_http && errno != EADDRINUSE) break;
      if (!base) break;  // port 0: the kernel picked a free one, or failed
    }
  }
  if (!g_http) {
    xsmem_log("%s", why[0] ? why : "cannot serve HTTP");
    return false;
  }
  char where[300];
  xsmem_http_address(g_http, where, sizeof(where));
  const char *prog = program_invocation_short_name ? program_invocation_short_name : "?";
  unsigned port = xsmem_http_port(g_http);
  if (inherited) {
    xsmem_log(
        "pid %d (%s) serves /metrics and the dashboard on port %u: http://%s/ (%s is pid %ld's, whose "
        "XSMEM_HTTP it inherited)%s",
        (int)getpid(), prog, port, where, http, owner, xsmem_http_has_token(g_http) ? "; a token is required" : "");
    return true;
  }
  xsmem_log("pid %d (%s) serves /metrics and the dashboard on port %u: http://%s/%s", (int)getpid(), prog, port, where,
            xsmem_http_has_token(g_http) ? "; a token is required" : "");
  // Children that inherit XSMEM_HTTP learn that this process serves it.
  char marker[400];
  if (xsmem_snprintf(marker, sizeof(marker), "%d %s", (int)getpid(), http) < sizeof(marker))
    setenv("XSMEM_HTTP_SERVER", marker, 1);
  return true;
}

static void *sampler_main(void *arg) {
  xsmem_export_set_observer_thread(true);
  uint64_t next_snapshot = mono_ns() + (uint64_t)g_interval_ms * 1000000ull;
  pthread_mutex_lock(&g_wake_lock);
  while (!g_stop) {
    pthread_mutex_unlock(&g_wake_lock);
    uint64_t now = mono_ns();
    xsmem_monitor_sample(now);
    if (g_interval_ms > 0 && g_path[0] && now >= next_snapshot) {
      snapshot_to_file(true);
      next_snapshot = now + (uint64_t)g_interval_ms * 1000000ull;
    }
    uint64_t wait_ns = SAMPLE_MS * 1000000ull;
    if (g_interval_ms > 0 && g_interval_ms < SAMPLE_MS) wait_ns = (uint64_t)g_interval_ms * 1000000ull;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    uint64_t t = (uint64_t)until.tv_sec * 1000000000ull + (uint64_t)until.tv_nsec + wait_ns;
    until.tv_sec = (time_t)(t / 1000000000ull);
    until.tv_nsec = (long)(t % 1000000000ull);
    pthread_mutex_lock(&g_wake_lock);
    while (!g_stop && pthread_cond_timedwait(&g_wake, &g_wake_lock, &until) == 0) {}
  }
  pthread_mutex_unlock(&g_wake_lock);
  return NULL;
}

bool xsmem_export_start(void) {
  pthread_mutex_lock(&g_lock);
  if (g_started) {
    pthread_mutex_unlock(&g_lock);
    return true;
  }
  g_started = true;
  g_owner = getpid();
  bool ok = true;
  const char *path = xsmem_option_str("XSMEM_SNAPSHOT");
  if (path[0] && !expand_path(path, g_path, sizeof(g_path))) {
    xsmem_log("XSMEM_SNAPSHOT is too long; no snapshot will be written");
    g_path[0] = '\0';
    ok = false;
  }
  g_interval_ms = xsmem_option_int("XSMEM_SNAPSHOT_INTERVAL_MS");
  if (g_interval_ms < 0) g_interval_ms = 0;
  if (g_interval_ms > 0 && g_interval_ms < 10) g_interval_ms = 10;  // a floor against busy loops
  if (g_interval_ms > 0 && !g_path[0]) {
    xsmem_log("XSMEM_SNAPSHOT_INTERVAL_MS needs XSMEM_SNAPSHOT=path; no periodic snapshots");
    g_interval_ms = 0;
  }
  char why[512];
  // A fresh series for this run: a regular file is removed (through links); a
  // device or FIFO is left as it is.
  if (g_path[0] && g_interval_ms > 0 && !xsmem_output_reset(g_path, why, sizeof(why))) {
    xsmem_log("%s; no snapshots will be written", why);
    g_path[0] = '\0';
    g_interval_ms = 0;
    ok = false;
  }
  const char *http = xsmem_option_str("XSMEM_HTTP");
  if (http[0] && !start_http(http)) ok = false;
  if (g_http || g_interval_ms > 0 || xsmem_monitor_alerts_enabled()) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_wake, &ca);
    pthread_condattr_destroy(&ca);
    g_stop = false;
    xsmem_monitor_sample(0);  // the first point before anything is served
    if (pthread_create(&g_sampler, NULL, sampler_main, NULL) == 0) {
      g_sampler_running = true;
    } else {
      xsmem_log("cannot start the sampler thread");
      ok = false;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return ok;
}

uint16_t xsmem_export_http_port(void) {
  pthread_mutex_lock(&g_lock);
  uint16_t p = g_http ? xsmem_http_port(g_http) : 0;
  pthread_mutex_unlock(&g_lock);
  return p;
}

bool xsmem_export_write_snapshot(void) {
  pthread_mutex_lock(&g_lock);
  bool ok = g_path[0] && snapshot_to_file(g_interval_ms > 0);
  pthread_mutex_unlock(&g_lock);
  return ok;
}

void xsmem_export_stop(void) {
  pthread_mutex_lock(&g_lock);
  if (!g_started || getpid() != g_owner) {  // a forked child owns no thread and no file
    pthread_mutex_unlock(&g_lock);
    return;
  }
  g_started = false;
  if (g_http) {
    xsmem_http_stop(g_http);
    g_http = NULL;
  }
  if (g_sampler_running) {
    pthread_mutex_lock(&g_wake_lock);
    g_stop = true;
    pthread_cond_signal(&g_wake);
    pthread_mutex_unlock(&g_wake_lock);
    pthread_join(g_sampler, NULL);
    g_sampler_running = false;
    pthread_cond_destroy(&g_wake);
  }
  if (g_path[0]) {
    bool was = xsmem_export_observer_thread();
    xsmem_export_set_observer_thread(true);
    xsmem_monitor_sample(0);
    snapshot_to_file(g_interval_ms > 0);
    xsmem_export_set_observer_thread(was);
  }
  g_path[0] = '\0';
  pthread_mutex_unlock(&g_lock);
}
