// bulk_free: one thread allocates tens of thousands of blocks of one size,
// then frees them all, size after size.
//
// The pattern of a program that builds a large structure of one node type and
// tears it down (a compiler's pass, a parser's tree), the way the classic
// single-size allocator benchmarks do it. The live set (50000 blocks) far
// exceeds any thread cache, so every round moves most blocks between a
// thread's lists and the allocator's shared structures twice. Rounds free in
// allocation order and in reverse by turns.
// Usage: bulk_free [scale]
#include <string.h>

#include "bench/workloads/common.h"

enum { kBlocks = 50000 };

int main(int argc, char **argv) {
  double scale = workload_scale(argc, argv);
  long rounds = workload_scaled(30, scale, 1);
  static const size_t kSizes[] = {16, 32, 48, 64, 80, 96, 128, 160, 256, 512};
  enum { kNumSizes = sizeof(kSizes) / sizeof(kSizes[0]) };
  char **blocks = workload_check(malloc(kBlocks * sizeof(char *)), kBlocks * sizeof(char *));
  uint64_t checksum = 0;
  long ops = 0;
  for (long round = 0; round < rounds; round++) {
    for (int s = 0; s < kNumSizes; s++) {
      size_t n = kSizes[s];
      for (long i = 0; i < kBlocks; i++) {
        char *p = workload_check(malloc(n), n);
        p[0] = (char)i;
        p[n - 1] = (char)s;
        blocks[i] = p;
      }
      if ((round + s) & 1) {
        for (long i = kBlocks - 1; i >= 0; i--) {
          checksum += (unsigned char)blocks[i][0] + (unsigned char)blocks[i][n - 1];
          free(blocks[i]);
        }
      } else {
        for (long i = 0; i < kBlocks; i++) {
          checksum += (unsigned char)blocks[i][0] + (unsigned char)blocks[i][n - 1];
          free(blocks[i]);
        }
      }
      ops += kBlocks;
    }
  }
  free(blocks);
  printf("bulk_free rounds=%ld blocks=%ld checksum=%llu peak_rss_kib=%ld\n", rounds, ops, (unsigned long long)checksum,
         workload_peak_rss_kib());
  return 0;
}
