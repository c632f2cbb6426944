// tools/bench_micro.c: the micro benchmarks of `xsmem bench --micro PATH`.
//
// PATH is a google benchmark binary (//bench:micro: malloc+free pairs,
// batches, realloc growth, cross-thread frees), run once per allocator and
// repetition with --benchmark_format=json and --benchmark_min_time. Each
// benchmark's figure is 1e9 / items_per_second: nanoseconds per operation
// (benchmarks that set no item count are left out). The JSON is read with
// json_scan.h: the "benchmarks" array, each entry's "name" and
// "items_per_second".
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench_internal.h"
#include "tools/json_scan.h"
#include "tools/xsmem.h"

// Returns the index of name among r's benchmarks, adding it when new;
// -1 when the table is full.
static int micro_index(bench_results *r, const char *name) {
  for (size_t i = 0; i < r->n_micro; i++)
    if (!strcmp(r->micro_names[i], name)) return (int)i;
  if (r->n_micro == kBenchMaxMicro) return -1;
  r->micro_names[r->n_micro] = strdup(name);
  return (int)r->n_micro++;
}

// Removes every "/real_time" from name (google benchmark appends it to
// benchmarks timed by wall clock).
static void strip_real_time(char *name) {
  static const char kTag[] = "/real_time";
  char *t;
  while ((t = strstr(name, kTag))) memmove(t, t + sizeof kTag - 1, strlen(t + sizeof kTag - 1) + 1);
}

bool bench_micro_parse(const bench_plan *p, const char *text, size_t len, size_t a, int rep, bench_results *r) {
  const char *end = text + len, *start = memchr(text, '{', len);  // anything printed before the JSON is skipped
  const char *list = start ? json_member(start, end, "benchmarks") : NULL;
  json_iter it;
  if (!list || !json_array_begin(&it, list, end)) return false;
  for (const char *b; (b = json_array_next(&it));) {
    char name[256];
    double ips;
    const char *v = json_member(b, end, "name");
    if (!v || !json_string(v, end, name, sizeof name)) continue;
    v = json_member(b, end, "items_per_second");
    if (!v || !json_number(v, end, &ips) || !(ips > 0)) continue;
    strip_real_time(name);
    int k = micro_index(r, name);
    if (k >= 0) r->micro_ns[bench_micro_at(p, (size_t)k, a, rep)] = 1e9 / ips;
  }
  return !it.error;
}

bool bench_micro_run(const bench_plan *p, size_t a, int rep, bench_results *r) {
  char min_time[64];
  snprintf(min_time, sizeof min_time, "--benchmark_min_time=%g", p->micro_min_time);
  char *argv[] = {(char *)p->micro, "--benchmark_format=json", min_time, NULL};
  bench_child c;
  bench_spawn(p, &p->allocs[a], argv, p->timeout_s * 5, &c);
  bool ok = c.ok;
  if (!ok) {
    tool_error("bench: the micro benchmarks failed under %s (%s)", p->allocs[a].name, c.why);
  } else if (!bench_micro_parse(p, c.out, strlen(c.out), a, rep, r)) {
    tool_error("bench: %s printed no google benchmark JSON under %s", p->micro, p->allocs[a].name);
    ok = false;
  }
  free(c.out);
  return ok;
}
