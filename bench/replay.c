// bench/replay.c: replays an allocation trace against a named configuration.
//
// Trace format (one operation a line, the format of ../shared/traces):
//   a ID SIZE   allocate SIZE bytes as block ID (IDs are never reused)
//   f ID        free block ID
// Anything else (blank lines, lines starting with '#') is skipped.
//
//   replay --config=bfc [--trace=FILE] [--touch] [--sample=N] [--markdown] [--detail]
//   xz -dc ../shared/traces/python-ast.trace.xz | replay --config=pool
//
// The configuration is looked up by name in the registry (xsmem_config_find),
// so any configuration linked into this binary can be replayed, and its
// allocator is called directly (malloc itself is not replaced). The replayer
// keeps its own tables in mmap'ed memory so that it does not disturb glibc's
// heap when `system` is measured. It reports the trace's peak of live
// requested bytes, the allocator's peak_bytes_in_use, the highest
// bytes_reserved seen (sampled every N operations and at the end), the
// fragmentation ratios reserved / peak requested and reserved / peak in use,
// the process's peak RSS, and the time per operation (reading the trace
// included, the stats sampling excluded).
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "allocators/allocator.h"
#include "allocators/registry.h"

#define MAX_IDS ((size_t)1 << 28)  // address space for the id table: 2 GiB, touched as used

typedef struct block {
  void *p;
  size_t size;
} block;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long peak_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
  }
  fclose(f);
  return kib;
}

// Prints the allocator's detailed figures (bins, pool counters) as group/label/key = value.
static void print_value(xsmem_stats_sink *sink, const char *group, const char *label, const char *key, const char *kind,
                        double value) {
  if (strcmp(group, "bin") == 0 && value == 0) return;
  printf("  %s/%s/%s = %.4g\n", group, label, key, value);
}

static void usage(void) {
  fprintf(stderr,
          "usage: replay --config=NAME [--trace=FILE] [--touch] [--sample=N] [--markdown] [--detail]\n"
          "configurations linked in:");
  for (size_t i = 0; i < xsmem_config_count(); i++) fprintf(stderr, " %s", xsmem_config_at(i)->name);
  fprintf(stderr, "\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *config = NULL, *trace = NULL;
  int touch = 0, markdown = 0, detail = 0;
  long sample = 1024;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--config=", 9) == 0) {
      config = argv[i] + 9;
    } else if (strncmp(argv[i], "--trace=", 8) == 0) {
      trace = argv[i] + 8;
    } else if (strcmp(argv[i], "--touch") == 0) {
      touch = 1;
    } else if (strncmp(argv[i], "--sample=", 9) == 0) {
      sample = atol(argv[i] + 9);
    } else if (strcmp(argv[i], "--markdown") == 0) {
      markdown = 1;
    } else if (strcmp(argv[i], "--detail") == 0) {
      detail = 1;
    } else {
      usage();
    }
  }
  if (!config || sample <= 0) usage();
  const xsmem_config *c = xsmem_config_find(config);
  if (!c) {
    fprintf(stderr, "replay: configuration '%s' is not linked in\n", config);
    usage();
  }
  FILE *in = trace && strcmp(trace, "-") != 0 ? fopen(trace, "r") : stdin;
  if (!in) {
    fprintf(stderr, "replay: cannot open %s: %s\n", trace, strerror(errno));
    return 1;
  }
  block *blocks =
      mmap(NULL, MAX_IDS * sizeof(block), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (blocks == MAP_FAILED) {
    perror("replay: mmap");
    return 1;
  }
  xsmem_allocator *a = xsmem_config_instance(c);
  char line[256];
  uint64_t ops = 0, allocs = 0, frees = 0, bad = 0, failed = 0;
  uint64_t live = 0, peak_live = 0, max_reserved = 0;
  double t0 = now_s(), sampling = 0.0;
  while (fgets(line, sizeof(line), in)) {
    char op = line[0];
    char *end;
    unsigned long long id = strtoull(line + 1, &end, 10);
    if (op != 'a' && op != 'f') continue;
    if (id >= MAX_IDS) {
      bad++;
      continue;
    }
    block *b = &blocks[id];
    if (op == 'a') {
      size_t size = (size_t)strtoull(end, NULL, 10);
      if (b->p) {  // ids are never reused: a malformed trace
        bad++;
        continue;
      }
      b->p = a->ops->alloc(a, size, XSMEM_MIN_ALIGN, 0);
      if (!b->p) {
        failed++;
        continue;
      }
      b->size = size;
      if (size) ((volatile char *)b->p)[0] = 1;
      if (touch) {
        for (size_t off = 0; off < size; off += 4096) ((volatile char *)b->p)[off] = 1;
      }
      allocs++;
      live += size;
      if (live > peak_live) peak_live = live;
    } else {
      if (!b->p) {
        bad++;
        continue;
      }
      a->ops->free(a, b->p, b->size);
      live -= b->size;
      b->p = NULL;
      frees++;
    }
    if (++ops % (uint64_t)sample == 0) {  // sampling (mallinfo2 for system is slow) is not timed
      double s0 = now_s();
      xsmem_stats s = xsmem_get_stats(a);
      if (s.bytes_reserved > max_reserved) max_reserved = s.bytes_reserved;
      sampling += now_s() - s0;
    }
  }
  double elapsed = now_s() - t0 - sampling;
  xsmem_stats s = xsmem_get_stats(a);
  if (s.bytes_reserved > max_reserved) max_reserved = s.bytes_reserved;
  long rss = peak_rss_kib();
  double per_req = peak_live ? (double)max_reserved / (double)peak_live : 0.0;
  double per_use = s.peak_bytes_in_use ? (double)max_reserved / (double)s.peak_bytes_in_use : 0.0;
  if (markdown) {
    printf("| %s | %llu | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f | %.0f |\n", config, (unsigned long long)ops,
           peak_live / 1048576.0, s.peak_bytes_in_use / 1048576.0, max_reserved / 1048576.0, per_req, per_use,
           rss / 1024.0, ops ? elapsed * 1e9 / (double)ops : 0.0);
  } else {
    printf("config=%s ops=%llu allocs=%llu frees=%llu failed=%llu malformed=%llu\n", config, (unsigned long long)ops,
           (unsigned long long)allocs, (unsigned long long)frees, (unsigned long long)failed, (unsigned long long)bad);
    printf("peak_requested=%llu peak_bytes_in_use=%llu max_bytes_reserved=%llu end_bytes_reserved=%llu\n",
           (unsigned long long)peak_live, (unsigned long long)s.peak_bytes_in_use, (unsigned long long)max_reserved,
           (unsigned long long)s.bytes_reserved);
    printf(
        "reserved/peak_requested=%.3f reserved/peak_in_use=%.3f fragmentation_end=%.3f peak_rss_kib=%ld "
        "seconds=%.3f ns_per_op=%.1f\n",
        per_req, per_use, s.fragmentation, rss, elapsed, ops ? elapsed * 1e9 / (double)ops : 0.0);
  }
  if (detail && a->ops->detail) {
    xsmem_stats_sink sink = {print_value};
    a->ops->detail(a, &sink);
  }
  return failed ? 1 : 0;
}
