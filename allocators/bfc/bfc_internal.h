// allocators/bfc/bfc_internal.h: what the BFC arena's files share
// (package-private; the model is in bfc.h).
//
//   bfc.c         the arena: chunk handles, bins, regions, split and merge,
//                 allocation, lookup and free (the hot paths), trim, fork,
//                 options, creation and destruction;
//   bfc_report.c  what it reports of itself: statistics, the visitor, the
//                 memory dump and the detail report with its chunk map.
// What is declared here has hidden visibility (no PLT or GOT between the files).
#ifndef XSMEM_ALLOCATORS_BFC_BFC_INTERNAL_H_
#define XSMEM_ALLOCATORS_BFC_BFC_INTERNAL_H_

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "allocators/bfc/bfc.h"

#pragma GCC visibility push(hidden)

#define G XSMEM_BFC_GRANULE
#define G_SHIFT 8
#define NBINS XSMEM_BFC_NUM_BINS
#define SEG_SHIFT 14  // chunks per metadata segment: 16384
#define SEG_CHUNKS ((uint32_t)1 << SEG_SHIFT)
#define MAX_SEGS 16384   // up to 2^28 chunks
#define TOMB UINT32_MAX  // slot of a chunk start that was merged away

// ---------------------------------------------------------------------------
// Types.

typedef struct chunk {
  uintptr_t ptr;
  size_t size;
  size_t requested;      // 0 when free
  uint64_t alloc_id;     // 0 when free (ids start at 1)
  uint64_t freed_at;     // counter at the last free, inherited by split pieces
  uint32_t prev, next;   // address neighbours in the region, 0 at its ends;
                         // next links unused handles
  uint32_t left, right;  // treap children while free
} chunk;

typedef struct region {
  uintptr_t base, end;  // [base, end) is covered by chunks
  size_t mapped;        // bytes the source handed out (what unmap gets)
  uint32_t *slots;      // one per granule: handle of the chunk starting there
  size_t slots_bytes;
  bool pinned;    // the reserve_all region: never given back
  uintptr_t hwm;  // end of the highest chunk ever handed out: above it the
                  // source's memory is untouched (zero where it was zeroed)
} region;

// Regions given back (garbage collection): a free of a pointer into one is
// named as such rather than as foreign. The last few only: a diagnosis.
#define RELEASED_KEPT 16

struct xsmem_bfc {
  xsmem_allocator base;  // first: the allocator interface
  pthread_mutex_t mu;
  xsmem_source *source;
  xsmem_bfc_options opt;
  uint32_t bins[NBINS];  // treap roots
  uint32_t bin_mask;     // bit i: bin i is non-empty
  region *regions;       // sorted by address
  size_t num_regions, region_cap;
  size_t next_region;  // the growth step's bound (bfc_region_step), doubling from initial_region
  size_t page;
  chunk *segs[MAX_SEGS];
  uint32_t num_segs, fresh, free_handles;  // fresh: next never-used handle
  uint64_t counter, safe_frontier;
  // Statistics, exact under mu.
  uint64_t allocs, frees, failed, in_use, peak, largest, reserved, usable, metadata;
  bool oom_dumped;  // the first failure's dump was printed (atomic)
  bool zeroed;      // the source's fresh regions read as zero (XSMEM_SRC_ZEROED)
  struct {
    uintptr_t base, end;
  } released[RELEASED_KEPT];  // a ring, under mu
  uint32_t released_next;
};

// Returns the chunk of handle h.
XSMEM_INLINE chunk *C(const xsmem_bfc *b, uint32_t h) { return &b->segs[h >> SEG_SHIFT][h & (SEG_CHUNKS - 1)]; }

// bfc.c
size_t bfc_region_step(const xsmem_bfc *b);  // the size of the next region (grow)

// bfc_report.c: the ops of the same names.
void bfc_stats(const xsmem_allocator *a, xsmem_stats *out);
void bfc_detail(const xsmem_allocator *a, xsmem_stats_sink *sink);

#pragma GCC visibility pop

#endif  // XSMEM_ALLOCATORS_BFC_BFC_INTERNAL_H_
