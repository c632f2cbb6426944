// platform/pagemap.h: which front owns an address, in two loads.
//
// Model: the 48-bit user address space is cut into 4 MiB chunks
// (XSMEM_PAGEMAP_SHIFT = 22), and each chunk has a one-byte tag naming the
// front that carved it (small, buddy, large, ...). A free() that is handed a
// bare pointer reads the tag of its chunk and goes straight to the owner
// without a search. Fronts tag whole chunks: every region a front takes from
// its source is 4 MiB-aligned and a multiple of 4 MiB, tagged after it is
// mapped and cleared (tag 0) before it is given back. (The small tier may map
// only the head of a chunk under an address-space limit and tag the chunk
// whole: its segment header bounds its blocks.)
//
// The 2^26 tags are a two-level radix table: a static root of 1024 entries,
// one per 256 GiB, each naming a leaf of 2^16 tags (64 KiB, mapped with
// os_vm by the first set() that tags a chunk it covers). A root entry that
// has no leaf names one shared static leaf of zeroes, never written, so a
// lookup never tests for a missing leaf: a bound test of p >> 38, the root
// entry, the tag. A process pays 64 KiB of address space per 256 GiB range
// it allocates in (usually one or two), not the 64 MiB a flat table needed
// up front (which an address-space limit, ulimit -v, refused). The lookup
// never faults: NULL, addresses never tagged and addresses at or above 2^48
// all read XSMEM_TAG_NONE.
//
// Thread-safety: tags are single bytes read and written with relaxed atomics;
// set() on one range may run concurrently with get() anywhere, and leaves are
// published with a release store. Ordering between a tag and the memory it
// describes is the caller's: a front tags a region before handing out any
// block from it, so any pointer a thread can legitimately free was tagged
// before it existed.
#ifndef XSMEM_PLATFORM_PAGEMAP_H_
#define XSMEM_PLATFORM_PAGEMAP_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSMEM_PAGEMAP_SHIFT 22
#define XSMEM_PAGEMAP_CHUNK ((size_t)1 << XSMEM_PAGEMAP_SHIFT)  // 4 MiB
#define XSMEM_PAGEMAP_ADDRESS_BITS 48
#define XSMEM_PAGEMAP_ENTRIES ((size_t)1 << (XSMEM_PAGEMAP_ADDRESS_BITS - XSMEM_PAGEMAP_SHIFT))

// Tags: which front owns a chunk. 4..15 are reserved for later fronts; any
// value up to 255 can be stored.
enum {
  XSMEM_TAG_NONE = 0,   // never tagged, or given back
  XSMEM_TAG_SMALL = 1,  // thread-cached small size classes
  XSMEM_TAG_BUDDY = 2,  // allocators/buddy regions
  XSMEM_TAG_LARGE = 3,  // allocators/large direct mappings
  XSMEM_TAG_GUARD = 4,  // the tracker's guarded-sampling pool (tracking/guarded.c)
  XSMEM_TAG_RESERVED_FIRST = 5,
  XSMEM_TAG_RESERVED_LAST = 15,
};

#define XSMEM_PAGEMAP_LEAF_BITS 16  // tags per leaf: 2^16 chunks, 256 GiB
#define XSMEM_PAGEMAP_LEAF ((size_t)1 << XSMEM_PAGEMAP_LEAF_BITS)
#define XSMEM_PAGEMAP_ROOT_SHIFT (XSMEM_PAGEMAP_SHIFT + XSMEM_PAGEMAP_LEAF_BITS)                   // 38
#define XSMEM_PAGEMAP_ROOT ((size_t)1 << (XSMEM_PAGEMAP_ADDRESS_BITS - XSMEM_PAGEMAP_ROOT_SHIFT))  // 1024

// The root and the shared leaf of zeroes, together so that a lookup finds
// both through one address. root[i] is leaf i's address minus zero's, so the
// tag of chunk c (c = p >> 22) is the byte at zero + root[c >> 16] +
// (c & 0xffff); 0 (the static initial value) names zero itself. All of it is
// zero-initialized (.bss): the library carries no table and no relocation,
// and nothing runs before the first lookup. Not for direct use but by fast
// paths that index it themselves (allocators/shim/system_tracked.h).
typedef struct xsmem_pagemap_state {
  uintptr_t root[XSMEM_PAGEMAP_ROOT];  // stored with release once the leaf is mapped
  uint8_t zero[XSMEM_PAGEMAP_LEAF];    // never written: the leaf of every absent root entry
} xsmem_pagemap_state;
extern xsmem_pagemap_state xsmem_pagemap_;

// Tags every 4 MiB chunk of [base, base+size) with tag (0 clears). Returns
// false, with nothing tagged and errno ENOMEM, when a leaf the range needs
// cannot be mapped (an address-space limit): the caller gives the region
// back and fails its request. Clearing (tag 0) maps nothing and never fails.
// REQUIRES: base and size multiples of XSMEM_PAGEMAP_CHUNK; base + size <= 2^48
// (fatal otherwise: a front's bug, not a condition of the machine).
bool xsmem_pagemap_set(const void *base, size_t size, uint8_t tag);

// Returns the byte holding the tag of chunk c (c < XSMEM_PAGEMAP_ENTRIES),
// for readers that index the table themselves.
XSMEM_INLINE const uint8_t *xsmem_pagemap_slot_(uintptr_t c) {
  uintptr_t leaf = __atomic_load_n(&xsmem_pagemap_.root[c >> XSMEM_PAGEMAP_LEAF_BITS], __ATOMIC_ACQUIRE);
  return (const uint8_t *)((uintptr_t)xsmem_pagemap_.zero + leaf + (c & (XSMEM_PAGEMAP_LEAF - 1)));
}

// Returns the tag of the chunk holding p; XSMEM_TAG_NONE for anything never
// tagged (NULL, addresses >= 2^48 included). Never faults. Cost: a shift and
// a compare against a constant, the root entry, the tag (two loads besides
// the table's address).
XSMEM_INLINE uint8_t xsmem_pagemap_get(const void *p) {
  uintptr_t c = (uintptr_t)p >> XSMEM_PAGEMAP_SHIFT;
  if (XSMEM_UNLIKELY(c >= XSMEM_PAGEMAP_ENTRIES)) return XSMEM_TAG_NONE;
  return __atomic_load_n(xsmem_pagemap_slot_(c), __ATOMIC_RELAXED);
}

// Returns the bytes of the leaves that have been written (whole pages), for
// metadata accounting; 0 before first use.
size_t xsmem_pagemap_bytes_touched(void);

// Returns the leaves mapped so far (64 KiB of address space each).
size_t xsmem_pagemap_leaves(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_PAGEMAP_H_
