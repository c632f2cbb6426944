// bench/workloads/pairs_blocks.h: the blocks pairs and pairs_rounds hand
// from producers to consumers: their sizes and how they are written. One
// definition, so the two programs measure the same blocks (pairs_rounds is
// pairs in lock-step rounds).
#ifndef XSMEM_BENCH_WORKLOADS_PAIRS_BLOCKS_H_
#define XSMEM_BENCH_WORKLOADS_PAIRS_BLOCKS_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bench/workloads/common.h"

// Returns the size of the next block: three in four small (16 B to 1 KiB),
// the rest medium (1 KiB to 64 KiB), one in twenty-five up to 1 MiB.
static inline size_t pairs_pick_size(uint64_t *seed) {
  uint64_t r = workload_rand(seed);
  unsigned kind = (unsigned)(r % 100);
  r >>= 8;
  if (kind < 75) return 16 + r % 1009;           // small: 16 B .. 1 KiB
  if (kind < 96) return 1024 + r % (63 * 1024);  // medium: 1 .. 64 KiB
  return 64 * 1024 + r % (960 * 1024);           // large: 64 KiB .. 1 MiB
}

// Writes a message into p: its first bytes and one in every page, so every
// page of the block is resident (a whole memset would cost more than the
// allocators being measured).
static inline void pairs_fill(unsigned char *p, size_t n) {
  memset(p, (int)(n & 0xff), n < 256 ? n : 256);
  for (size_t i = 4096; i < n; i += 4096) p[i] = (unsigned char)i;
  p[n - 1] = (unsigned char)n;
}

#endif  // XSMEM_BENCH_WORKLOADS_PAIRS_BLOCKS_H_
