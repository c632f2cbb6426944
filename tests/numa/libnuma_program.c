// A program that itself uses libnuma, for the preload test: libnuma calls
// malloc while it initialises (its constructor runs before main), so a
// preloaded xsmem allocator must serve those calls without calling back into
// libnuma. Prints what libnuma sees and checks its allocations.
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  if (numa_available() < 0) {
    printf("libnuma: not available\n");
  } else {
    int max = numa_max_node();
    printf("libnuma: available, max node %d, %d configured cpus\n", max, numa_num_configured_cpus());
    struct bitmask *nodes = numa_allocate_nodemask();  // malloc inside libnuma
    numa_bitmask_setbit(nodes, 0);
    numa_bitmask_free(nodes);
    for (int node = 0; node <= max; node++) {
      size_t size = 1 << 20;
      char *p = numa_alloc_onnode(size, node);
      if (!p) {
        printf("numa_alloc_onnode(%d) failed\n", node);
        return 1;
      }
      memset(p, 0x5a, size);
      if (p[size - 1] != 0x5a) return 1;
      numa_free(p, size);
    }
  }
  // Plenty of ordinary allocations next to libnuma's.
  void *blocks[1000];
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 1000; i++) {
      blocks[i] = malloc((size_t)(i * 37 + round) % 5000 + 1);
      if (!blocks[i]) return 1;
      memset(blocks[i], i, (size_t)(i * 37 + round) % 5000 + 1);
    }
    for (int i = 0; i < 1000; i++) free(blocks[i]);
  }
  char *s = strdup("done");
  printf("libnuma program: %s\n", s);
  free(s);
  return 0;
}
