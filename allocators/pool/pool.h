// allocators/pool/pool.h: a cache of freed blocks by size, with LRU eviction.
//
// Model (TensorFlow's PoolAllocator, in C): a pool sits in front of a backing
// allocator (any xsmem_allocator, e.g. a bfc) or a source. A request of n
// bytes is rounded to a size R by the pool's rounding strategy, chosen when
// the pool is made: none (16-byte steps) or pow2 (the next power of two up
// to 64 MiB, then steps of an eighth of a power of two: at most 12.5% more).
// Freeing a block does not return it to the backing: it is kept, keyed by R,
// for the next request of the same rounded size (a hit); a request with no
// kept block of its size (a miss) goes to the backing. Kept blocks are in one
// LRU list; when keeping a block would push the kept bytes over the limit,
// the least recently freed blocks are given back to the backing (evictions).
// A miss the backing cannot serve gives every kept block back and asks once
// more (the backing may coalesce them into what the request needs).
// With auto-resize, every 1000 requests the pool looks at its window: when
// more than 2% of them were "ghost hits" (misses on a size whose blocks were
// evicted before: a larger pool would have served them) the limit grows by a
// quarter (up to max_limit); a window without ghost hits in which the kept
// bytes stayed under a quarter of the limit, or fewer than a quarter of the
// requests hit, shrinks it by an eighth (down to min_limit).
//
// Metadata: a table of the blocks the pool handed out or keeps (pointer ->
// R, and whether it is kept) in os_vm memory, so free finds R without a
// header and reports foreign pointers and double frees; kept blocks carry
// their list links in their own first 32 bytes (R >= 32), safe-linked and
// checked before the pool writes through them (a write after free that
// breaks one is reported as heap corruption; under XSMEM_ON_ERROR=warn the
// lists are rebuilt from the block table). Nothing mallocs.
// Statistics: bytes_in_use counts the R of blocks handed out and not freed;
// kept blocks are bytes_cached, never in use. usable_size(p) is R.
// Thread-safety: one mutex; the backing is called with it held (lock order
// pool then backing).
#ifndef XSMEM_ALLOCATORS_POOL_POOL_H_
#define XSMEM_ALLOCATORS_POOL_POOL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_pool xsmem_pool;

typedef enum xsmem_pool_rounding {
  XSMEM_POOL_ROUND_NONE = 0,  // 16-byte steps
  XSMEM_POOL_ROUND_POW2 = 1,  // the next power of two (eighths past 64 MiB)
} xsmem_pool_rounding;

typedef struct xsmem_pool_options {
  size_t limit;  // bytes of kept blocks (0: 64 MiB)
  xsmem_pool_rounding rounding;
  bool auto_resize;
  size_t min_limit, max_limit;  // auto-resize bounds (0: limit / 16 and limit * 4)
} xsmem_pool_options;

typedef struct xsmem_pool_counters {
  uint64_t hits, misses, evictions, puts, resizes;
  size_t limit, cached_bytes, cached_blocks, live_blocks;
} xsmem_pool_counters;

// Returns the options read from XSMEM_POOL_* (limit, rounding, auto-resize).
xsmem_pool_options xsmem_pool_options_from_env(void);

// Builds a pool over an allocator; NULL with errno set when its metadata
// cannot be mapped. The backing must outlive the pool; name too.
xsmem_pool *xsmem_pool_create(xsmem_allocator *backing, const xsmem_pool_options *options, const char *name);

// Builds a pool whose misses map blocks from a source (R rounded to pages).
xsmem_pool *xsmem_pool_create_on_source(xsmem_source *source, const xsmem_pool_options *options, const char *name);

XSMEM_INLINE xsmem_allocator *xsmem_pool_allocator(xsmem_pool *p) { return (xsmem_allocator *)p; }

// Returns the size a request of n bytes is kept under (0 when n is too large).
size_t xsmem_pool_round(const xsmem_pool *p, size_t n);

// Reads the hit, miss, eviction and resize counters.
void xsmem_pool_get_counters(xsmem_pool *p, xsmem_pool_counters *out);

// Sets the limit (evicting down to it); auto-resize continues from there.
void xsmem_pool_set_limit(xsmem_pool *p, size_t limit);

// Gives every kept block back to the backing; returns the bytes given back.
size_t xsmem_pool_drain(xsmem_pool *p);

// Gives kept blocks back and releases the metadata; not the backing.
void xsmem_pool_destroy(xsmem_pool *p);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_POOL_POOL_H_
