// large_random: twenty live blocks of random sizes from 5 to 25 MiB, each
// replaced in turn and written whole (after the malloc-large pattern of the
// published allocator benchmarks).
//
// Unlike large_blocks (a few fixed sizes), the sizes here fall anywhere in a
// range, so an allocator that rounds them up (to a power of two, say) or
// reuses a freed block for a smaller request keeps the pages an earlier,
// larger block touched: its peak RSS grows past the live bytes. Fault-
// dominated on the VMs measured here (about 13 us per 4 KiB first touch).
// Not in //bench:run's default list (--workloads large_random).
// Usage: large_random [scale]
#include <string.h>

#include "bench/workloads/common.h"

enum { kLive = 20 };

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long iterations = workload_scaled(500, scale, 20);
  char *live[kLive] = {0};
  uint64_t seed = 88172645463325252ull, checksum = 0, touched = 0;
  for (long i = 0; i < iterations; i++) {
    size_t n = ((size_t)5 << 20) + (size_t)(workload_rand(&seed) % ((uint64_t)20 << 20));
    int k = (int)(i % kLive);
    free(live[k]);
    char *p = workload_check(malloc(n), n);
    memset(p, (int)(i & 0xff), n);
    touched += n;
    checksum += (unsigned char)p[n / 2] + (unsigned char)p[n - 1];
    live[k] = p;
  }
  for (int k = 0; k < kLive; k++) free(live[k]);
  printf("large_random iterations=%ld touched_mib=%llu checksum=%llu peak_rss_kib=%ld\n", iterations,
         (unsigned long long)(touched >> 20), (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
