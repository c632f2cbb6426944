// platform/pagemap.h: which front owns an address, in one load.
//
// Model: the 48-bit user address space is cut into 4 MiB chunks
// (XSMEM_PAGEMAP_SHIFT = 22), and each chunk has a one-byte tag naming the
// front that carved it (small, buddy, large, ...). A free() that is handed a
// bare pointer reads the tag of its chunk and goes straight to the owner
// without a search. Fronts tag whole chunks: every region a front takes from
// its source is 4 MiB-aligned and a multiple of 4 MiB, tagged after it is
// mapped and cleared (tag 0) before it is given back.
//
// The map is 2^26 bytes of address space (64 MiB) mapped once, lazily, with
// os_vm (MAP_NORESERVE, readable): pages never written stay the kernel's zero
// page and cost nothing, so a lookup of any address never tagged reads 0. The
// lookup never faults: NULL, addresses before the first xsmem_pagemap_set and
// addresses at or above 2^48 all read XSMEM_TAG_NONE.
//
// Thread-safety: tags are single bytes read and written with relaxed atomics;
// set() on one range may run concurrently with get() anywhere. Ordering
// between a tag and the memory it describes is the caller's: a front tags a
// region before handing out any block from it, so any pointer a thread can
// legitimately free was tagged before it existed.
#ifndef XSMEM_PLATFORM_PAGEMAP_H_
#define XSMEM_PLATFORM_PAGEMAP_H_

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

// The table and its bound, together so a lookup finds both through one
// address: entries is 0 until the table is mapped (the first
// xsmem_pagemap_set), then XSMEM_PAGEMAP_ENTRIES, so one compare rejects
// both "no table yet" and addresses at or above 2^48. Not for direct use.
typedef struct xsmem_pagemap_state {
  uintptr_t entries;  // stored (release) after table
  uint8_t *table;
} xsmem_pagemap_state;
extern xsmem_pagemap_state xsmem_pagemap_;

// Tags every 4 MiB chunk of [base, base+size) with tag (0 clears). Maps the
// table on first use (fatal if 64 MiB of address space cannot be had).
// REQUIRES: base and size multiples of XSMEM_PAGEMAP_CHUNK; base + size <= 2^48.
void xsmem_pagemap_set(const void *base, size_t size, uint8_t tag);

// Returns the tag of the chunk holding p; XSMEM_TAG_NONE for anything never
// tagged (NULL, addresses >= 2^48 included). Never faults. Cost: the bound
// and the table pointer (one hot line), a compare and one byte load.
XSMEM_INLINE uint8_t xsmem_pagemap_get(const void *p) {
  uintptr_t idx = (uintptr_t)p >> XSMEM_PAGEMAP_SHIFT;
  if (XSMEM_UNLIKELY(idx >= __atomic_load_n(&xsmem_pagemap_.entries, __ATOMIC_ACQUIRE))) return XSMEM_TAG_NONE;
  return __atomic_load_n(__atomic_load_n(&xsmem_pagemap_.table, __ATOMIC_RELAXED) + idx, __ATOMIC_RELAXED);
}

// Returns the table, mapping it if need be, for a reader that indexes it
// itself (tracking/system_tracked_shim.h): entry i holds the tag of the chunk
// at i << XSMEM_PAGEMAP_SHIFT, for i < XSMEM_PAGEMAP_ENTRIES. Fatal as set().
const uint8_t *xsmem_pagemap_table(void);

// Returns the bytes of the table that have been written (whole pages), for
// metadata accounting; 0 before first use.
size_t xsmem_pagemap_bytes_touched(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_PAGEMAP_H_
