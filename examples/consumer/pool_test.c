// A user's test linked with xsmem's `pool` configuration as its malloc.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/registry.h"

#define CHECK(c)                           \
  do {                                     \
    if (!(c)) {                            \
      fprintf(stderr, "FAILED: %s\n", #c); \
      return 1;                            \
    }                                      \
  } while (0)

int main(void) {
  xsmem_allocator *a = xsmem_process_allocator();
  CHECK(a != NULL && strcmp(a->name, "pool") == 0);
  void *p = NULL;
  CHECK(posix_memalign(&p, 4096, 100) == 0 && ((uintptr_t)p & 4095) == 0);
  free(p);
  errno = 0;
  CHECK(malloc(SIZE_MAX / 2) == NULL && errno == ENOMEM);
  char *s = calloc(1000, 1);
  CHECK(s != NULL && s[999] == 0);
  s = realloc(s, 100000);
  CHECK(s != NULL);
  free(s);
  printf("pool_test: ok\n");
  return 0;
}
