// allocators/bfc/bfc.h: best-fit with coalescing over regions from a source.
//
// Model (TensorFlow's BFC allocator, rewritten in C):
//   region   a large range obtained from an xsmem_source. Regions start small
//            (initial_region bytes) and each new one is as large as all the
//            others together (the total doubles), as long as bytes_reserved
//            stays within bytes_limit; when the source refuses, the size backs
//            off by halves down to what the request needs. reserve_all takes
//            the whole limit in one region up front (as much of it as the
//            address space allows: halved down to initial_region, and the
//            limit becomes what it got).
//   chunk    a piece of a region, a multiple of 256 bytes (the granularity),
//            free or in use. Chunks of a region are linked prev/next in address
//            order and cover it exactly. Chunks live in a metadata table outside
//            the regions and are named by 32-bit handles; each region has an
//            array with one handle slot per 256 bytes, filled at chunk starts,
//            so free(p) finds its chunk with a binary search over the regions
//            (sorted by address) and one array index.
//   bin      21 bins of free chunks by size: bin i holds sizes in
//            [256 << i, 256 << (i+1)), bin 20 everything from 256 MiB. Inside a
//            bin chunks are ordered by (size, address) in a treap, so the best
//            fit (smallest adequate chunk, lowest address on ties) is an
//            O(log n) lower bound; a bitmap of non-empty bins skips empty ones.
// Allocation rounds the request up to 256, takes the best fit and splits it
// when the remainder is worth keeping (the chunk is at least twice the request
// or the slack is at least split_slack bytes). Alignments above 256 take the
// first chunk in best-fit order that can hold an aligned block and split off
// the head; a new region for such a request is mapped with that alignment.
// Free coalesces with free neighbours on both sides at once.
//
// Safe frontier (streams): every allocation gets an id from a counter and
// every free records the counter in the chunk ("freed at"). With frontier mode
// on, xsmem_bfc_alloc_frontier(b, size, align, f) only reuses chunks freed at
// or before f, and freed chunks are not merged on free; they are merged when
// an allocation would otherwise have to grow, and then only chunks whose count
// the safe frontier (xsmem_bfc_set_safe_frontier) has passed.
//
// Exhaustion: NULL with errno = ENOMEM, never a crash. Before failing, wholly
// free regions are given back to make room for a new one; then the memory
// dump (bins, regions, chunks, largest free chunk) goes to the OOM callback or
// to stderr (options.dump_on_oom). Garbage collection (gc) gives a region back
// as soon as it is wholly free (keeping one); xsmem_bfc_trim does it on call.
//
// Errors: freeing a pointer that is not the start of a live chunk is reported
// through xsmem_report_bad_pointer as foreign, interior or double free.
// Thread-safety: one mutex around every operation; stats are exact.
#ifndef XSMEM_ALLOCATORS_BFC_BFC_H_
#define XSMEM_ALLOCATORS_BFC_BFC_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSMEM_BFC_GRANULE 256
#define XSMEM_BFC_NUM_BINS 21
// Most entries of the chunk map in the detail report (see the detail op).
#define XSMEM_BFC_MAP_ENTRIES 1024

typedef struct xsmem_bfc xsmem_bfc;

// What the memory dump and the visitor see.
typedef struct xsmem_bfc_region_info {
  uintptr_t base;
  size_t size;
  size_t num_chunks;
  size_t free_bytes;
  size_t largest_free;
} xsmem_bfc_region_info;

typedef struct xsmem_bfc_chunk_info {
  uintptr_t address;
  size_t size;       // chunk bytes (the usable size when in use)
  size_t requested;  // bytes asked for (0 when free)
  bool in_use;
  uint64_t allocation_id;  // 0 when free
  uint64_t freed_at;       // counter value at the free (0 when never freed)
  int bin;                 // the bin a chunk of this size belongs to
} xsmem_bfc_chunk_info;

typedef struct xsmem_bfc_bin_info {
  int bin;
  size_t min_size;  // smallest chunk size of the bin
  size_t free_chunks, free_bytes;
  size_t used_chunks, used_bytes;  // in-use chunks whose size falls in the bin
} xsmem_bfc_bin_info;

// Visitor over the allocator's state, called under its lock: callbacks must
// not call into this allocator. Any callback may be NULL.
typedef struct xsmem_bfc_visitor xsmem_bfc_visitor;
struct xsmem_bfc_visitor {
  void (*bin)(xsmem_bfc_visitor *v, const xsmem_bfc_bin_info *bin);
  void (*region)(xsmem_bfc_visitor *v, const xsmem_bfc_region_info *region);
  void (*chunk)(xsmem_bfc_visitor *v, const xsmem_bfc_region_info *region, const xsmem_bfc_chunk_info *chunk);
};

// Called when a request cannot be served (instead of the stderr dump).
typedef void (*xsmem_bfc_oom_fn)(void *ctx, xsmem_bfc *b, size_t size, size_t align);

typedef struct xsmem_bfc_options {
  size_t bytes_limit;     // upper bound on bytes_reserved (0: half of physical memory)
  size_t initial_region;  // first region size (0: 2 MiB, capped by the limit)
  size_t split_slack;     // split also when the slack is at least this (0: 1 KiB)
  bool reserve_all;       // map the whole limit (or as much as fits) as one region at creation
  bool gc;                // give wholly free regions back on free
  bool frontier;          // timestamped chunks: no merge on free (see above)
  bool dump_on_oom;       // write the memory dump to stderr when a request fails
  xsmem_bfc_oom_fn oom;   // optional, replaces the stderr dump
  void *oom_ctx;
} xsmem_bfc_options;

// Returns the options read from XSMEM_BFC_* (limit, reserve-all, gc, dump).
xsmem_bfc_options xsmem_bfc_options_from_env(void);

// Builds a BFC allocator in storage obtained from os_vm (never malloc).
// Returns NULL with errno set when the metadata, or even initial_region bytes
// of the reserve_all region, cannot be mapped. name must outlive the allocator.
xsmem_bfc *xsmem_bfc_create(xsmem_source *source, const xsmem_bfc_options *options, const char *name);

// The allocator interface of b (alloc, free, usable_size, owns, stats, trim,
// fork, destroy, detail). detail reports, besides group "bin" (per bin, by
// its smallest size: free/used chunks and bytes) and "bfc" (regions), the
// chunk map: group "chunk", label the start address ("0x7f..."), keys "size"
// and "used" (1 or 0), in address order, region after region. It holds at
// most XSMEM_BFC_MAP_ENTRIES entries: with more chunks than that, each entry
// is a run of adjacent chunks in the same state, and when the runs do not fit
// either the first ones are reported. Group "chunk_summary" label "map" says
// which: keys chunks (all chunks), entries, merged (1/0), dropped_chunks and
// dropped_bytes (past the last entry).
XSMEM_INLINE xsmem_allocator *xsmem_bfc_allocator(xsmem_bfc *b) { return (xsmem_allocator *)b; }

// Returns the same allocator as xsmem_bfc, or NULL when a is not a bfc.
xsmem_bfc *xsmem_bfc_from_allocator(xsmem_allocator *a);

// Allocates reusing only chunks freed at or before freed_before (0: any).
void *xsmem_bfc_alloc_frontier(xsmem_bfc *b, size_t size, size_t align, uint64_t freed_before);

// Returns the counter: the number of allocations and frees so far. A chunk
// freed now gets a freed_at above every value returned before.
uint64_t xsmem_bfc_counter(xsmem_bfc *b);

// Declares that every chunk freed at or before f is safe to merge.
void xsmem_bfc_set_safe_frontier(xsmem_bfc *b, uint64_t f);

// Returns the allocation id of the live block p (0 if p is not one).
uint64_t xsmem_bfc_allocation_id(xsmem_bfc *b, const void *p);

// Gives every wholly free region back to the source; returns the bytes released.
size_t xsmem_bfc_trim(xsmem_bfc *b);

// Walks bins, regions and chunks (address order) under the lock.
void xsmem_bfc_visit(xsmem_bfc *b, xsmem_bfc_visitor *v);

// Writes the memory dump (bins, regions with their chunks, largest free
// chunk) to fd without allocating. max_chunks caps the chunk lines (0: all).
void xsmem_bfc_dump(xsmem_bfc *b, int fd, size_t max_chunks);

// Returns the bin of a chunk size.
int xsmem_bfc_bin_of(size_t size);

// Gives everything back; b is unusable afterwards.
void xsmem_bfc_destroy(xsmem_bfc *b);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_BFC_BFC_H_
