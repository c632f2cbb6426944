// allocators/buddy/buddy.h: power-of-two blocks over large regions.
//
// Model: the buddy front takes *regions* of region_size bytes (a power of two,
// at least 4 MiB) from an xsmem_source, aligned to their size, and tags them
// XSMEM_TAG_BUDDY in the pagemap. A region is a binary tree of blocks: a
// block of order k (2^k bytes, aligned to 2^k) is either free, allocated, or
// split into two halves of order k-1, its *buddies* (offsets differing only in
// bit k-1). Allocation takes the smallest free block that fits (one ctz over
// the region's bitmap of non-empty orders), splitting it down and putting the
// upper halves on their free lists; free merges the block with its buddy for as
// long as the buddy is free and whole. Every block is aligned to its size, so
// alignments up to the block size come for free and larger ones round the
// order up.
//
// Metadata lives outside the blocks: one byte per min_block of each region
// (the order of the block that starts there, and whether it is free or
// allocated; 0 inside a block), so free finds a block's order in O(1) and
// rejects foreign, interior and double-freed pointers (xsmem_report_bad_pointer).
// Free blocks carry their free-list links in their first 16 bytes, except a
// block alone on its list, whose links are written only when a second block
// joins it (so a split of a fresh region touches none of its halves). The
// links are safe-linked (stored mixed with their own address and a random
// key of the region) and checked before they are followed or written
// through: each must lead to a free block of its order whose back link
// points back. A write after free that breaks one is reported as heap
// corruption (xsmem_report_bad_pointer), and under XSMEM_ON_ERROR=warn the
// list is rebuilt from the order bytes. A pointer is mapped to its region
// through a per-instance table indexed by address / region_size (two levels:
// leaves are mapped where regions live).
//
// Concurrency: one spinlock per region. A thread starts at its own home region
// (assigned round robin) and try-locks its way around the regions, then
// blocks, and only then maps a new region (under a grow lock). Free locks only
// the block's region. bytes_in_use and peak are exact (one atomic counter);
// the rest is summed over regions under their locks.
//
// A region the source refuses (an address-space limit, ENOMEM) fails the
// request, after the regions kept empty have been given back and the region
// tried once more; the caller falls back (`default` sends it to the large tier).
//
// Empty regions: a region whose blocks are all free again is kept for
// decommit_delay_ms (a reused region costs no page faults), then given back to
// the source at the next slow-path event (a region emptying or growing) or on
// trim, which also drops the physical pages of free blocks (MADV_DONTNEED).
//
// Stats identity: bytes_in_use + bytes_cached + bytes_metadata == bytes_reserved
// (in_use counts granted block sizes, cached the free blocks). bytes_committed
// is the metadata plus each region's high-water mark (the part ever handed
// out; the rest of a region is address space only): an upper bound on what
// the regions hold in memory (pages trim dropped below the mark still count).
#ifndef XSMEM_ALLOCATORS_BUDDY_BUDDY_H_
#define XSMEM_ALLOCATORS_BUDDY_BUDDY_H_

#include <stddef.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_buddy_options {
  size_t region_size;          // power of two >= 4 MiB; also the largest block
  size_t min_block;            // power of two, 16 .. region_size / 2; smallest block
  size_t max_regions;          // at most this many regions (<= 65535); bounds bytes_reserved
  unsigned decommit_delay_ms;  // how long an empty region is kept before release
  // Blocks of a huge page or more are advised MADV_HUGEPAGE one by one and
  // smaller ones are not (whole THP regions made the first touch of any
  // block commit 2 MiB: 132x glibc's peak RSS for sparsely touched buffers).
  bool thp;
  // Follow XSMEM_DECOMMIT_DELAY_MS while running: the delay is read again when
  // xsmem_option_set changed an option (xsmem_buddy_options_from_env sets it).
  bool follow_options;
} xsmem_buddy_options;

// Returns the defaults: region_size from XSMEM_BUDDY_REGION (under an
// address-space limit at most an eighth of it, xsmem_os_fit_limit), min_block 4 KiB,
// max_regions 4096 (under a limit, as many regions as it could hold),
// decommit_delay_ms from XSMEM_DECOMMIT_DELAY_MS, thp from XSMEM_BUDDY_THP.
xsmem_buddy_options xsmem_buddy_options_from_env(void);

// Returns a new buddy allocator named name (kept by pointer) over source, or
// NULL with errno (EINVAL for bad options, ENOMEM). Its state lives in an
// os_vm mapping: nothing is malloc'd. Release it with its destroy op.
xsmem_allocator *xsmem_buddy_create(const char *name, xsmem_source *source, const xsmem_buddy_options *options);

// Gives back the regions that have stayed empty for longer than the delay;
// returns the bytes released. Cheap when there are none: for a periodic
// purger. Thread-safe.
size_t xsmem_buddy_purge(xsmem_allocator *a);

// Returns the size of the live block p of a buddy allocator, without taking
// a lock; reports p as a bad pointer of operation op (xsmem_report_bad_pointer)
// and returns 0 when p is not the start of a live block.
size_t xsmem_buddy_live_size(const xsmem_allocator *a, const void *p, const char *op);

// Returns the largest request a buddy allocator serves (its region size).
// REQUIRES: a was made by xsmem_buddy_create.
size_t xsmem_buddy_max_size(const xsmem_allocator *a);

// Returns the size of the block that a request of size bytes aligned to align
// would get (0 when it cannot be served).
size_t xsmem_buddy_block_size(const xsmem_allocator *a, size_t size, size_t align);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_BUDDY_BUDDY_H_
