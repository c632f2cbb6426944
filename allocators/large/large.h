// allocators/large/large.h: the biggest requests, one mapping each.
//
// Model: every block is its own mapping, 4 MiB-aligned and a multiple of
// 4 MiB (so the pagemap can tag it XSMEM_TAG_LARGE), with transparent huge
// pages asked for (XSMEM_VM_HUGE; XSMEM_HUGE_PAGES=off turns that off). The
// user pointer sits one page (or `align` bytes) into the mapping; the header
// just below it records the owner, the mapping and the requested size, and
// links the block into the allocator's live list (intrusive, doubly linked,
// one lock), which gives exact stats and a leak listing.
//
// Freed mappings are not unmapped at once: some stay mapped (their pages
// resident) on an LRU cache list, as many as the program had in use lately:
// at most the recent peak of live mapping bytes (the higher of this
// decommit_delay_ms window's and the last one's) less those live now, and at
// most cache_bytes. So live + cached never exceeds what the program itself
// held a moment ago, and a burst's mappings go back once it is two windows
// past, even while smaller blocks keep reusing some of them. An allocation first
// takes the best-fitting cached mapping, shrinking its surplus or growing it
// with mremap (already-touched pages come along, no faults), and only then
// maps afresh. Cached mappings unused for decommit_delay_ms, and any beyond
// that bound, go back to the OS at the next large operation or on
// trim. Page faults cost ~13 us here, so this cache is what makes a loop of
// several-MiB allocate/touch/free cheap.
//
// realloc resizes the mapping with mremap: shrinking releases the tail,
// growing extends in place when the address space after it is free, else
// moves the pages to a fresh 4 MiB-aligned reservation. Nothing is copied.
//
// With a source other than NULL the mappings come from that source (e.g. a
// NUMA-bound one) and realloc and cache reuse never remap (copy instead).
// Stats identity: bytes_in_use + bytes_cached + bytes_metadata == bytes_reserved
// (in_use counts usable sizes, metadata the header page of each mapping);
// bytes_committed == bytes_reserved (whole mappings).
#ifndef XSMEM_ALLOCATORS_LARGE_LARGE_H_
#define XSMEM_ALLOCATORS_LARGE_LARGE_H_

#include <stdbool.h>
#include <stddef.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_large_options {
  size_t cache_bytes;          // freed mappings kept for reuse (0: unmap at once)
  unsigned decommit_delay_ms;  // a cached mapping unused this long is unmapped
  bool huge_pages;             // ask for transparent huge pages (XSMEM_HUGE_PAGES caps it)
  // Follow XSMEM_DECOMMIT_DELAY_MS while running: the delay is read again when
  // xsmem_option_set changed an option (xsmem_large_options_from_env sets it).
  bool follow_options;
} xsmem_large_options;

// Returns the defaults: cache_bytes from XSMEM_LARGE_CACHE, the delay from
// XSMEM_DECOMMIT_DELAY_MS, huge_pages true.
xsmem_large_options xsmem_large_options_from_env(void);

// Returns a new large allocator named name over source (NULL: os_vm directly,
// which enables mremap), or NULL with errno. Its state lives in an os_vm page;
// nothing is malloc'd. Release it with its destroy op.
xsmem_allocator *xsmem_large_create(const char *name, xsmem_source *source, const xsmem_large_options *options);

// Unmaps the cached mappings unused for longer than the delay; returns the
// bytes released. For a periodic purger (the cache is also checked on every
// large alloc and free). Thread-safe.
size_t xsmem_large_purge(xsmem_allocator *a);

// Returns XSMEM_LARGE_MIN: requests at or above it belong to the large tier.
size_t xsmem_large_min_size(void);

// Calls fn(ctx, p, requested_size) for every live block of a (a leak listing),
// under the allocator's lock: fn must not call into a.
void xsmem_large_for_each(xsmem_allocator *a, void (*fn)(void *ctx, const void *p, size_t size), void *ctx);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_LARGE_LARGE_H_
