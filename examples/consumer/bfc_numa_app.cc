// A C++ program on `bfc_numa`: its containers' memory (operator new goes to
// malloc) comes from the BFC arena, placed per NUMA node.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"

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
  std::vector<int> *v = new std::vector<int>(100000, 7);
  xsmem_allocator *a = xsmem_process_allocator();
  bool owned = a->ops->owns == nullptr || a->ops->owns(a, v->data());
  xsmem_stats s = xsmem_get_stats(a);
  std::printf("operator new is served by configuration '%s'; allocations %llu, bytes in use %llu\n", a->name,
              static_cast<unsigned long long>(s.num_allocs), static_cast<unsigned long long>(s.bytes_in_use));
  delete v;
  return std::strcmp(a->name, "bfc_numa") == 0 && owned && s.num_allocs > 80000 ? 0 : 1;
}
