// A C++ program on `bfc_numa`: its containers' memory (operator new goes to
// malloc) comes from the BFC arena, placed per NUMA node; a pmr vector and an
// STL container take theirs through xsmem/memory_resource.hpp explicitly.
#include <cstdio>
#include <cstring>
#include <map>
#include <memory_resource>
#include <string>
#include <thread>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "xsmem/memory_resource.hpp"

int main() {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([t] {
      std::map<int, std::string> m;
      for (int i = 0; i < 20000; i++) m[i] = std::string(static_cast<size_t>(i % 200), static_cast<char>('a' + t));
      for (int i = 0; i < 20000; i += 2) m.erase(i);
    });
  }
  for (auto &th : threads) th.join();
  xsmem::memory_resource resource = xsmem::memory_resource::from_config("bfc_numa");
  std::pmr::vector<double> pv(&resource);
  for (int i = 0; i < 10000; i++) pv.push_back(i);
  std::vector<int, xsmem::allocator<int>> sv(5000, 1);  // the process allocator: bfc_numa
  std::vector<int> *v = new std::vector<int>(100000, 7);
  xsmem_allocator *a = xsmem_process_allocator();
  bool owned = a->ops->owns == nullptr ||
      (a->ops->owns(a, v->data()) && a->ops->owns(a, pv.data()) && a->ops->owns(a, sv.data()));
  xsmem_stats s = xsmem_get_stats(a);
  std::printf("operator new is served by configuration '%s'; allocations %llu, bytes in use %llu\n", a->name,
              static_cast<unsigned long long>(s.num_allocs), static_cast<unsigned long long>(s.bytes_in_use));
  delete v;
  return std::strcmp(a->name, "bfc_numa") == 0 && owned && s.num_allocs > 80000 ? 0 : 1;
}
