// tests/bad_free: one bad call through malloc's API, as a program run with an
// xsmem library preloaded would make it (bad_free_test.sh runs each under
// each configuration). Prints DISTINCT when the allocator still hands out
// distinct blocks after the bad call (under XSMEM_ON_ERROR=warn).
//
// usage: bad_free SCENARIO [SIZE]
//   foreign_first  free() of a static pointer before any allocation
//   realloc_first  realloc() of it, usable_first  malloc_usable_size() of it
//   foreign_built, realloc_built, usable_built: the same once a failed
//                  malloc(SIZE_MAX) has built the allocator (holding nothing)
//   double         free(p) twice
//   aba            free(p), free(q), free(p)
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Through volatile pointers: the compiler must not drop or merge the calls.
static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;
static void *(*volatile do_realloc)(void *, size_t) = realloc;
static size_t (*volatile do_usable)(void *) = malloc_usable_size;

static _Alignas(64) char not_heap[256];

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *what = argv[1];
  size_t n = argc > 2 ? strtoul(argv[2], NULL, 0) : 100;
  const char *built = strstr(what, "_built");
  if (built && do_malloc(SIZE_MAX)) return 3;
  if (!strcmp(what, "foreign_first") || !strcmp(what, "foreign_built")) {
    do_free(not_heap + 64);
  } else if (!strcmp(what, "realloc_first") || !strcmp(what, "realloc_built")) {
    if (do_realloc(not_heap + 64, 32)) return 3;  // never a block for a bad pointer
  } else if (!strcmp(what, "usable_first") || !strcmp(what, "usable_built")) {
    if (do_usable(not_heap + 64)) return 3;
  } else if (!strcmp(what, "double")) {
    void *p = do_malloc(n);
    do_free(p);
    do_free(p);
  } else if (!strcmp(what, "aba")) {
    void *p = do_malloc(n), *q = do_malloc(n);
    do_free(p);
    do_free(q);
    do_free(p);
  } else {
    return 2;
  }
  void *a = do_malloc(n), *b = do_malloc(n), *c = do_malloc(n);
  if (!a || !b || !c || a == b || a == c || b == c) {
    printf("DUPLICATE %p %p %p\n", a, b, c);
    return 1;
  }
  printf("DISTINCT\n");
  return 0;
}
