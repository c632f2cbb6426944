// Reads the byte before every 48-byte block it allocates (of those with
// exactly 48 usable bytes): harmless for an ordinary block (it reads the
// neighbour), a fault for a guarded block placed
// against the previous guard page (every other guarded block; the first one is
// placed against the next guard page and freed later, so the free path of the
// shim must hand it back to the tracker). Run with a tracked library preloaded
// and guarded sampling on, it must die with the tracker's report
// (tracking/guard_shim_test.sh). `overflow first`: reads the program's first
// block after freeing it (a guard at a rate of 1 must catch it).
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *(*volatile allocate)(size_t) = malloc;  // the compiler cannot see the block's size
void (*volatile release)(void *) = free;      // nor that the first block is freed

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "first")) {
    volatile char *p = allocate(48);
    release((void *)p);
    return p[5];
  }
  long n = argc > 1 ? atol(argv[1]) : 200000;
  // Never read before: the first block of a size class may start its region.
  void *first = allocate(48);
  void *keep[64] = {0};
  long sum = 0;
  for (long i = 0; i < n; i++) {
    char *p = allocate(48);
    if (!p) return 2;
    // Blocks of exactly 48 usable bytes: guarded ones, and small-tier ones that
    // follow another block (a sampled block in a region of its own may not).
    if (malloc_usable_size(p) == 48) sum += ((volatile char *)p)[-1];
    free(keep[i % 64]);  // keeps blocks live for a while, freed out of order
    keep[i % 64] = p;
  }
  printf("no fault (%ld)\n", sum);
  free(first);
  return 0;
}
