// numa/libnuma_topology.c: libnuma's view, and its comparison with ours.
#include "numa/libnuma_topology.h"

#include <numa.h>
#include <string.h>

#include "platform/log.h"

bool xsmem_numa_libnuma_view_get(xsmem_numa_libnuma_view *out) {
  memset(out, 0, sizeof(*out));
  out->available = numa_available() >= 0;
  if (!out->available) {
    out->num_nodes = 1;
    return false;
  }
  int max = numa_max_node();
  out->num_nodes = max + 1 > XSMEM_NUMA_MAX_NODES ? XSMEM_NUMA_MAX_NODES : max + 1;
  int cpus = numa_num_configured_cpus();
  out->num_cpus = cpus > XSMEM_NUMA_MAX_CPUS ? XSMEM_NUMA_MAX_CPUS : cpus;
  for (int c = 0; c < out->num_cpus; c++) out->cpu_node[c] = (short)numa_node_of_cpu(c);
  for (int a = 0; a < out->num_nodes; a++) {
    for (int b = 0; b < out->num_nodes; b++) {
      int d = numa_distance(a, b);
      out->distance[a][b] = (unsigned char)(d < 0 ? 0 : d > 255 ? 255 : d);
    }
  }
  return true;
}

int xsmem_numa_libnuma_compare(char *buf, size_t cap) {
  static xsmem_numa_libnuma_view v;  // 12 KiB: not on the caller's stack
  xsmem_numa_libnuma_view_get(&v);
  int diffs = 0;
  if (cap) buf[0] = '\0';
#define DIFF(...)                                            \
  do {                                                       \
    if (diffs++ == 0) xsmem_snprintf(buf, cap, __VA_ARGS__); \
  } while (0)
  if (v.available != xsmem_numa_available()) {
    DIFF("available: libnuma %d, xsmem %d", v.available, xsmem_numa_available());
  }
  if (!v.available) return diffs;
  if (v.num_nodes != xsmem_numa_num_nodes()) DIFF("nodes: libnuma %d, xsmem %d", v.num_nodes, xsmem_numa_num_nodes());
  for (int c = 0; c < v.num_cpus; c++) {
    if (v.cpu_node[c] >= 0 && v.cpu_node[c] != xsmem_numa_node_of_cpu(c)) {
      DIFF("cpu %d: libnuma node %d, xsmem node %d", c, v.cpu_node[c], xsmem_numa_node_of_cpu(c));
    }
  }
  for (int a = 0; a < v.num_nodes; a++) {
    for (int b = 0; b < v.num_nodes; b++) {
      if (v.distance[a][b] && v.distance[a][b] != xsmem_numa_distance(a, b)) {
        DIFF("distance %d-%d: libnuma %d, xsmem %d", a, b, v.distance[a][b], xsmem_numa_distance(a, b));
      }
    }
  }
#undef DIFF
  return diffs;
}
