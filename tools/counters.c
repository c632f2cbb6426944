// tools/counters.c: the hardware and software counters of `xsmem run
// --counters`.
//
// Counters are opened with perf_event_open on the child before it execs
// (enable_on_exec, inherited by its threads and children): cache references
// and misses, dTLB load misses, page faults, context switches. A counter the
// machine or its perf_event_paranoid setting refuses is shown as
// "not available".
#include <linux/perf_event.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tools/run_internal.h"

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

void run_counters_open(pid_t child) {
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

void run_counters_print(FILE *f) {
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