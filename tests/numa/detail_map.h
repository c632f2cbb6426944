// tests/numa/detail_map.h: an allocator's `detail` figures as a map keyed
// "group/label/key", for tests that check per-node and per-tier figures.
#ifndef XSMEM_TESTS_NUMA_DETAIL_MAP_H_
#define XSMEM_TESTS_NUMA_DETAIL_MAP_H_

#include <map>
#include <string>

#include "allocators/allocator.h"

namespace xsmem_test {

inline std::map<std::string, double> DetailMap(xsmem_allocator *a) {
  struct Sink {
    xsmem_stats_sink base;
    std::map<std::string, double> values;
  } sink{{[](xsmem_stats_sink *s, const char *group, const char *label, const char *key, const char *, double v) {
            reinterpret_cast<Sink *>(s)->values[std::string(group) + "/" + label + "/" + key] = v;
          }},
         {}};
  a->ops->detail(a, &sink.base);
  return sink.values;
}

}  // namespace xsmem_test

#endif  // XSMEM_TESTS_NUMA_DETAIL_MAP_H_
