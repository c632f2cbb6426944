// Prints the process allocator's statistics with xsmem_malloc_stats_write in
// the format named by argv[1] (text or json), after a few allocations, and
// checks the calls' errors: an unknown format and a NULL allocator write
// nothing and return EINVAL.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/allocator.h"
#include "allocators/registry.h"

static size_t g_written;

static void to_stdout(void *opaque, const char *data, size_t len) {
  g_written += len;
  fwrite(data, 1, len, (FILE *)opaque);
}

int main(int argc, char **argv) {
  void *blocks[100];
  for (int i = 0; i < 100; i++) blocks[i] = malloc((size_t)(i + 1) * 24);
  for (int i = 0; i < 100; i += 2) free(blocks[i]);
  if (xsmem_malloc_stats_write("yaml", to_stdout, stdout) != EINVAL || g_written != 0) return 2;
  if (xsmem_stats_write(NULL, "json", to_stdout, stdout) != EINVAL || g_written != 0) return 3;
  int rc = xsmem_malloc_stats_write(argc > 1 ? argv[1] : "text", to_stdout, stdout);
  for (int i = 1; i < 100; i += 2) free(blocks[i]);
  return rc;
}
