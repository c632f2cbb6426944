// churn: mixed-size random churn with a live set that grows and shrinks.
//
// A table of slots is filled and emptied in phases (the live set swings
// between about 20% and 100% of the slots); every operation frees a random
// slot's block and allocates one of a new random size: mostly small, some
// medium, a few large. Reports the peak resident set, which shows how much
// an allocator's heap fragments and how much it gives back between phases.
// Usage: churn [scale]
#include <string.h>

#include "bench/workloads/common.h"

enum { kSlots = 50000 };

static size_t pick_size(uint64_t *seed) {
  uint64_t r = workload_rand(seed);
  switch (r % 100) {
    case 0: return 64 * 1024 + (r >> 40) % (448 * 1024);  // 1%: 64 KiB..512 KiB
    case 1:
    case 2:
    case 3:
    case 4:
    case 5: return 1024 + (r >> 40) % 15360;  // 5%: 1..16 KiB
    default: return 8 + (r >> 40) % 500;      // 94%: 8..507 B
  }
}

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long ops = workload_scaled(2000000, scale, 1000);
  char **slots = workload_check(calloc(kSlots, sizeof(char *)), kSlots * sizeof(char *));
  uint64_t seed = 7, checksum = 0;
  long live = 0;
  for (long i = 0; i < ops; i++) {
    // Phase: the target fill rises and falls every 400k operations.
    long phase = (i / 400000) % 2;
    long k = (long)(workload_rand(&seed) % kSlots);
    int want_live = phase == 0 ? (workload_rand(&seed) % 10) < 8 : (workload_rand(&seed) % 10) < 2;
    if (slots[k]) {
      checksum += (unsigned char)slots[k][0];
      free(slots[k]);
      slots[k] = NULL;
      live--;
    }
    if (want_live) {
      size_t n = pick_size(&seed);
      char *p = workload_check(malloc(n), n);
      memset(p, (int)(i & 0xff), n < 32 ? n : 32);
      slots[k] = p;
      live++;
    }
  }
  for (long k = 0; k < kSlots; k++) free(slots[k]);
  free(slots);
  printf("churn ops=%ld checksum=%llu peak_rss_kib=%ld\n", ops, (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
