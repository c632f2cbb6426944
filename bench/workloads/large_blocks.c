// large_blocks: very large blocks allocated, touched, freed, in a loop.
//
// Blocks of 2 to 32 MiB, every page written, then freed; a few stay live
// across iterations so the heap is not trivially empty. An allocator that
// returns such blocks to the OS at once and maps them again pays a page fault
// per 4 KiB on every iteration: on the VMs where bench/RESULTS.md was
// measured a fault costs about 13 us, so this workload is fault-dominated.
// Usage: large_blocks [scale]
#include <string.h>

#include "bench/workloads/common.h"

enum { kLive = 3 };

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long iterations = workload_scaled(40, scale, 4);
  static const size_t kSizes[] = {2u << 20, 4u << 20, 3u << 20, 8u << 20, (6u << 20) + 4096, 32u << 20};
  char *live[kLive] = {0};
  uint64_t seed = 42, checksum = 0, touched = 0;
  for (long i = 0; i < iterations; i++) {
    size_t n = kSizes[workload_rand(&seed) % (sizeof(kSizes) / sizeof(kSizes[0]))];
    char *p = workload_check(malloc(n), n);
    for (size_t off = 0; off < n; off += 4096) p[off] = (char)(off >> 12);
    p[n - 1] = (char)i;
    touched += n;
    checksum += (unsigned char)p[n / 2 & ~(size_t)4095] + (unsigned char)p[n - 1];
    // Keep a few blocks alive for a while: replace a random live one.
    int k = (int)(workload_rand(&seed) % kLive);
    free(live[k]);
    live[k] = p;
  }
  for (int k = 0; k < kLive; k++) free(live[k]);
  printf("large_blocks iterations=%ld touched_mib=%llu checksum=%llu peak_rss_kib=%ld\n", iterations,
         (unsigned long long)(touched >> 20), (unsigned long long)checksum, workload_peak_rss_kib());
  return 0;
}
