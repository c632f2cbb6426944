// tests/glibc_compat: glibc behaviours a program may rely on, checked through
// malloc's API with a configuration preloaded (glibc_compat_test.sh runs each
// scenario under each configuration, and plain, under glibc itself).
//
// usage: glibc_compat SCENARIO    prints "OK" and exits 0 when the scenario holds
//   aligned_alloc  an alignment that is not a power of two (0, 3, 24) is
//                  rounded up, as glibc 2.36's aligned_alloc (= memalign) does
//   mallinfo       mallinfo2 / mallinfo count what is in use, and less after frees
//   trim           malloc_trim after a burst of frees gives memory back (returns 1
//                  when it held some, and resident memory falls)
//   usable_foreign malloc_usable_size of a pointer malloc never gave answers 0
//   calloc_realloc calloc 260 MiB and realloc it to 150 MiB (under a bfc limit of 512 MiB)
//   oom_repeat     a request within bfc's limit that fails, five times
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Through volatile pointers: the compiler must not drop or fold the calls.
static void *(*volatile do_malloc)(size_t) = malloc;
static void *(*volatile do_aligned_alloc)(size_t, size_t) = aligned_alloc;
static size_t (*volatile do_usable)(void *) = malloc_usable_size;

static _Alignas(64) char not_heap[256];

static int fail(const char *what) {
  printf("FAIL %s (errno %d)\n", what, errno);
  return 1;
}

static int aligned(void) {
  static const size_t kAlign[] = {0, 3, 24, 48, 100};
  for (size_t i = 0; i < sizeof(kAlign) / sizeof(kAlign[0]); i++) {
    size_t a = kAlign[i], want = 16;
    while (want < a) want *= 2;
    char *p = do_aligned_alloc(a, 100);
    if (!p) return fail("aligned_alloc of a non-power-of-two alignment returned NULL");
    if ((uintptr_t)p % want) return fail("aligned_alloc: not rounded up to the next power of two");
    memset(p, 1, 100);
    free(p);
  }
  return 0;
}

static int info(void) {
  enum { N = 1000, SIZE = 10000 };
  static void *blocks[N];
  struct mallinfo2 before = mallinfo2();
  for (int i = 0; i < N; i++) {
    if (!(blocks[i] = do_malloc(SIZE))) return fail("malloc");
    memset(blocks[i], 1, SIZE);
  }
  struct mallinfo2 full = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  struct mallinfo old = mallinfo();  // the int interface, still used
#pragma GCC diagnostic pop
  if (full.uordblks < before.uordblks + (size_t)N * SIZE) return fail("mallinfo2.uordblks misses the blocks");
  if (full.arena < full.uordblks) return fail("mallinfo2.arena below what is in use");
  if ((size_t)old.uordblks < (size_t)N * SIZE) return fail("mallinfo.uordblks misses the blocks");
  for (int i = 0; i < N; i++) free(blocks[i]);
  struct mallinfo2 after = mallinfo2();
  if (after.uordblks + (size_t)N * SIZE / 2 > full.uordblks) return fail("mallinfo2.uordblks did not fall");
  return 0;
}

// Resident bytes of this process (/proc/self/statm).
static size_t resident(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, res = 0;
  if (f) {
    if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
    fclose(f);
  }
  return (size_t)res * 4096;
}

static int trim(void) {
  enum { N = 20000 };
  static void *blocks[N];
  size_t rss0 = resident();
  for (int i = 0; i < N; i++) {
    size_t n = 64 + (size_t)(i % 64) * 512;  // small and medium, about 330 MB in all
    if (!(blocks[i] = do_malloc(n))) return fail("malloc");
    memset(blocks[i], 1, n);
  }
  for (int i = 0; i < N; i++) free(blocks[i]);
  size_t held = mallinfo2().fordblks, rss = resident();
  int rc = malloc_trim(0);
  size_t rss_after = resident();
  printf("free bytes held %zu, resident %zu -> %zu, malloc_trim %d\n", held, rss, rss_after, rc);
  // What an allocator holds free must go back: resident memory falls to
  // within a quarter of the burst (at least 16 MB) of where it started.
  const size_t kSlack = (size_t)16 << 20;
  size_t burst = rss > rss0 ? rss - rss0 : 0;
  if (held > kSlack && rc != 1) return fail("malloc_trim returned 0 while free memory was held");
  if (rss_after > rss0 + (burst / 4 > kSlack ? burst / 4 : kSlack)) {
    return fail("resident memory did not fall after malloc_trim");
  }
  return 0;
}

static int usable_foreign(void) {
  free(do_malloc(100));  // the allocator exists
  if (do_usable(not_heap + 64) != 0) return fail("malloc_usable_size of a foreign pointer is not 0");
  return 0;
}

static int calloc_realloc(void) {
  // Run with XSMEM_BFC_LIMIT_MB=512: pool's power-of-two rounding made these
  // 512 and 256 MiB, more than the limit together.
  size_t M = (size_t)1 << 20;
  char *p = calloc(1, 260 * M);
  if (!p) return fail("calloc 260 MiB");
  if (p[260 * M - 1] != 0) return fail("calloc's block is not zero");
  p[0] = 7;
  char *q = realloc(p, 150 * M);
  if (!q) return fail("realloc 260 MiB -> 150 MiB under a 512 MiB limit");
  if (q[0] != 7) return fail("realloc lost the contents");
  q[150 * M - 1] = 1;
  free(q);
  return 0;
}

static int oom_repeat(void) {
  // Run with XSMEM_BFC_LIMIT_MB=64.
  // 24 and 48 MB: pool's rounding keeps them at 32 and 64 MB, within the limit.
  void *a = do_malloc(24 << 20);
  if (!a) return fail("malloc 24 MB");
  for (int i = 0; i < 5; i++) {
    errno = 0;
    if (do_malloc(48 << 20)) return fail("48 MB fit beside 24 MB in a 64 MB limit");
    if (errno != ENOMEM) return fail("errno is not ENOMEM");
  }
  free(a);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *s = argv[1];
  int rc = !strcmp(s, "aligned_alloc") ? aligned()
      : !strcmp(s, "mallinfo")         ? info()
      : !strcmp(s, "trim")             ? trim()
      : !strcmp(s, "usable_foreign")   ? usable_foreign()
      : !strcmp(s, "calloc_realloc")   ? calloc_realloc()
      : !strcmp(s, "oom_repeat")       ? oom_repeat()
                                       : 2;
  if (rc == 0) printf("OK\n");
  return rc;
}
