// tests/limits: requests the machine cannot back, through every allocation
// entry point, with a configuration preloaded (impossible_test.sh). What the
// kernel's overcommit policy (/proc/sys/vm/overcommit_memory) says decides
// the expected outcome, as it does for glibc's:
//   0 (heuristic)  64 TiB and RAM + swap + 1 GiB fail with ENOMEM; 1 GiB
//                  (a quarter of RAM on small machines) succeeds
//   1 (always)     all of them succeed (nothing is touched)
//   2 (strict)     64 TiB and CommitLimit + 1 GiB fail with ENOMEM; 1 GiB
//                  succeeds when the commit limit has 2 GiB to spare
// A failed realloc leaves its block as it was. Prints one line per check and
// exits 1 when any outcome differs.
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Through volatile pointers: the compiler may not fold an impossible malloc to NULL.
static void *(*volatile do_malloc)(size_t) = malloc;
static void *(*volatile do_calloc)(size_t, size_t) = calloc;
static void *(*volatile do_realloc)(void *, size_t) = realloc;
static int (*volatile do_posix_memalign)(void **, size_t, size_t) = posix_memalign;
static void *(*volatile do_aligned_alloc)(size_t, size_t) = aligned_alloc;
static void *(*volatile do_memalign)(size_t, size_t) = memalign;

static int g_failures;

static long read_int(const char *path) {
  FILE *f = fopen(path, "r");
  long v = -1;
  if (f && fscanf(f, "%ld", &v) != 1) v = -1;
  if (f) fclose(f);
  return v;
}

// Returns a /proc/meminfo field in bytes (0 when absent).
static size_t meminfo(const char *field) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  size_t kb = 0, n = strlen(field);
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, field, n) == 0 && line[n] == ':') kb = strtoull(line + n + 1, NULL, 10);
  }
  if (f) fclose(f);
  return kb * 1024;
}

// Checks one outcome: p (NULL or a block of size bytes) against expect_ok;
// err is the errno (or posix_memalign's result) of a failure.
static void outcome(const char *call, size_t size, void *p, int err, int expect_ok) {
  const char *got = p ? "a block" : "NULL";
  int ok = expect_ok ? p != NULL : (p == NULL && err == ENOMEM);
  printf("%s %s(%zu GiB): %s (errno %d), expected %s\n", ok ? "ok  " : "FAIL", call, size >> 30, got, p ? 0 : err,
         expect_ok ? "a block" : "NULL with ENOMEM");
  g_failures += !ok;
  if (p) {
    ((volatile char *)p)[0] = 1;  // the first page only: nothing more is backed
  }
}

static void every_entry_point(size_t size, int expect_ok) {
  void *p;
  // calloc first, while the memory is fresh: an allocator that keeps freed
  // memory (bfc's regions) zeroes what it hands out again, and zeroing 64 TiB
  // that mode 1 lets it map would meet the OOM killer.
  errno = 0;
  p = do_calloc(1, size);
  outcome("calloc", size, p, errno, expect_ok);
  free(p);
  errno = 0;
  p = do_malloc(size);
  outcome("malloc", size, p, errno, expect_ok);
  free(p);
  errno = 0;
  p = do_aligned_alloc(4096, size);
  outcome("aligned_alloc", size, p, errno, expect_ok);
  free(p);
  errno = 0;
  p = do_memalign(1 << 16, size);
  outcome("memalign", size, p, errno, expect_ok);
  free(p);
  p = NULL;
  int rc = do_posix_memalign(&p, 64, size);
  outcome("posix_memalign", size, rc == 0 ? p : NULL, rc, expect_ok);
  if (rc == 0) free(p);
  // realloc of a small block: a failure keeps it.
  char *small = do_malloc(100);
  if (!small) {
    printf("FAIL malloc(100) failed\n");
    g_failures++;
    return;
  }
  memset(small, 0x6b, 100);
  errno = 0;
  char *q = do_realloc(small, size);
  outcome("realloc", size, q, errno, expect_ok);
  if (!q) {
    for (int i = 0; i < 100; i++) {
      if (small[i] != 0x6b) {
        printf("FAIL the failed realloc changed its block\n");
        g_failures++;
        break;
      }
    }
    free(small);
  } else {
    free(q);
  }
}

int main(void) {
  long mode = read_int("/proc/sys/vm/overcommit_memory");
  size_t ram = meminfo("MemTotal"), swap = meminfo("SwapTotal");
  size_t commit_limit = meminfo("CommitLimit"), committed = meminfo("Committed_AS");
  const size_t GiB = (size_t)1 << 30, huge = (size_t)64 << 40;
  size_t over = ram + swap + GiB;
  size_t modest = ram / 4 < GiB ? ram / 4 : GiB;
  printf("vm.overcommit_memory %ld, RAM %zu MiB, swap %zu MiB, CommitLimit %zu MiB, Committed_AS %zu MiB\n", mode,
         ram >> 20, swap >> 20, commit_limit >> 20, committed >> 20);
  if (ram == 0 || mode < 0 || mode > 2) {
    printf("FAIL cannot read the overcommit policy or the memory size\n");
    return 1;
  }
  switch (mode) {
    case 0:
      every_entry_point(huge, 0);
      every_entry_point(over, 0);
      every_entry_point(modest, 1);
      break;
    case 1:
      every_entry_point(huge, 1);
      every_entry_point(over, 1);
      every_entry_point(modest, 1);
      break;
    case 2:
      every_entry_point(huge, 0);
      every_entry_point(commit_limit + GiB, 0);
      if (commit_limit > committed + 2 * GiB) every_entry_point(modest, 1);
      break;
  }
  printf("%s\n", g_failures ? "FAIL" : "PASS");
  return g_failures ? 1 : 0;
}
