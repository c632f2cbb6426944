// export/service.c: option-driven start and stop of the exporter (see service.h).
#include "export/service.h"

#include <errno.h>
#include <pthread.h>
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
    while (!g_stop && pthread_cond_timedwait(&g_wake, &g_wake_lock, &until) == 0) {
    }
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
  if (http[0]) {
    g_http = xsmem_http_start(http);
    if (!g_http) {
      xsmem_log("cannot serve HTTP on %s (errno %d)", http, errno);
      ok = false;
    } else if (xsmem_option_bool("XSMEM_VERBOSE")) {
      xsmem_log("serving metrics and the dashboard on port %u", (unsigned)xsmem_http_port(g_http));
    }
  }
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
