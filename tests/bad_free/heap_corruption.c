// tests/bad_free: writes after free into blocks the allocator holds, as a
// program run with an xsmem library preloaded would make them
// (heap_corruption_test.sh runs each under each configuration). The
// allocator must never hand out an address the writer chose, nor crash
// inside malloc: it reports the corruption (and aborts, or continues under
// XSMEM_ON_ERROR=warn), or keeps nothing inside free blocks to corrupt.
// Prints DISTINCT when it finishes with the allocator still handing out
// distinct blocks; exits 1 (HIJACKED) when a malloc returned the writer's
// address.
//
// usage: heap_corruption SCENARIO SIZE
//   forge   frees four blocks of SIZE (no two of them buddies), then writes
//           the address of a global, as a plain pointer, into the first
//           word of the last one freed (the head of its free list), then
//           mallocs SIZE 64 times
//   random  frees four blocks of SIZE as forge does, overwrites the first
//           64 bytes of each with pseudo-random bytes, then mallocs and
//           frees SIZE blocks, some held, some freed at once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Through volatile pointers: the compiler must not drop or merge the calls,
// nor reason about the writes into freed memory.
static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;
static void *(*volatile do_memset)(void *, int, size_t) = memset;

// The writer's target: what a forged link points to.
static _Alignas(4096) char g_target[8192];

// Writes after free, through a volatile pointer.
static void write_word(void *p, size_t i, uintptr_t v) { ((volatile uintptr_t *)p)[i] = v; }

static int hijacked(const void *p) {
  return (const char *)p >= g_target && (const char *)p < g_target + sizeof(g_target);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *what = argv[1];
  size_t n = strtoul(argv[2], NULL, 0);
  void *v[64] = {0};
  if (!strcmp(what, "forge")) {
    // Eight blocks, every other one freed: four free blocks of the size,
    // none next to a free neighbour (buddy and bfc merge those).
    for (int i = 0; i < 8; i++) v[i] = do_malloc(n);
    for (int i = 0; i < 8; i += 2) do_free(v[i]);
    write_word(v[6], 0, (uintptr_t)(g_target + 2048));
    for (int i = 0; i < 8; i += 2) v[i] = NULL;
    void *got[64];
    for (int i = 0; i < 64; i++) {
      got[i] = do_malloc(n);
      if (got[i] && hijacked(got[i])) {
        printf("HIJACKED: malloc(%zu) returned %p, the writer's address\n", n, got[i]);
        return 1;
      }
      if (got[i]) do_memset(got[i], 0x5a, n < 256 ? n : 256);
    }
    for (int i = 0; i < 64; i++) do_free(got[i]);
  } else if (!strcmp(what, "random")) {
    for (int i = 0; i < 8; i++) v[i] = do_malloc(n);
    for (int i = 0; i < 8; i += 2) do_free(v[i]);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 8; i += 2) {
      for (size_t w = 0; w < (n < 64 ? n : 64) / 8; w++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        write_word(v[i], w, (uintptr_t)x);
      }
      v[i] = NULL;
    }
    for (int round = 0; round < 200; round++) {
      void *p = do_malloc(n);
      if (p && hijacked(p)) return 1;
      if (p) do_memset(p, round, n < 256 ? n : 256);
      if (round % 3 == 0) {
        do_free(v[round % 64]);
        v[round % 64] = p;
      } else {
        do_free(p);
      }
    }
    for (int i = 0; i < 64; i++) do_free(v[i]);
  } else {
    return 2;
  }
  void *a = do_malloc(n), *b = do_malloc(n), *c = do_malloc(n);
  if (!a || !b || !c || a == b || a == c || b == c || hijacked(a) || hijacked(b) || hijacked(c)) {
    printf("DUPLICATE %p %p %p\n", a, b, c);
    return 1;
  }
  printf("DISTINCT\n");
  return 0;
}
