// Allocates through plain malloc (served by the linked `pool` configuration)
// and prints what the registry says about it; with --json, prints the
// allocator's statistics as JSON instead (xsmem_malloc_stats_write).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/allocator.h"
#include "allocators/registry.h"

static void to_stdout(void *opaque, const char *data, size_t len) { fwrite(data, 1, len, (FILE *)opaque); }

int main(int argc, char **argv) {
  char *blocks[1000];
  for (int i = 0; i < 1000; i++) {
    size_t n = (size_t)(i % 100) * 37 + 1;
    blocks[i] = malloc(n);
    if (!blocks[i]) return 2;
    memset(blocks[i], i & 0xff, n);
  }
  for (int i = 0; i < 1000; i += 2) free(blocks[i]);
  if (argc > 1 && strcmp(argv[1], "--json") == 0) return xsmem_malloc_stats_write("json", to_stdout, stdout);
  xsmem_allocator *a = xsmem_process_allocator();
  xsmem_stats s = xsmem_get_stats(a);
  printf("malloc is served by configuration '%s' (%zu configuration(s) linked)\n", a->name, xsmem_config_count());
  printf("allocations %llu, frees %llu, bytes in use %llu\n", (unsigned long long)s.num_allocs,
         (unsigned long long)s.num_frees, (unsigned long long)s.bytes_in_use);
  int owned = a->ops->owns == NULL || a->ops->owns(a, blocks[1]);
  for (int i = 1; i < 1000; i += 2) free(blocks[i]);
  return strcmp(a->name, "pool") == 0 && s.num_allocs >= 1000 && owned ? 0 : 1;
}
