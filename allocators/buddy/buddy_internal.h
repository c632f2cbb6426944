// allocators/buddy/buddy_internal.h: what the buddy front's files share
// (package-private; the model is in buddy.h).
//
//   buddy.c         the front: free lists (safe-linked) and orders, regions
//                   and their lookup table, alloc, free and realloc (the hot
//                   paths), fork, destroy, options and creation;
//   buddy_pages.c   what backs the blocks: per-block huge-page advice, empty
//                   regions given back after the delay, free blocks' pages
//                   dropped (trim and the periodic purge);
//   buddy_report.c  statistics and the detail report.
// What is declared here has hidden visibility (no PLT or GOT between the files).
#ifndef XSMEM_ALLOCATORS_BUDDY_BUDDY_INTERNAL_H_
#define XSMEM_ALLOCATORS_BUDDY_BUDDY_INTERNAL_H_

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "allocators/buddy/buddy.h"
#include "platform/atomics.h"
#include "platform/tool_hooks.h"

#pragma GCC visibility push(hidden)

#define BUDDY_ORDERS 48   // absolute orders 0..47 (2^47 = the user address space)
#define META_ALLOC 0x40u  // meta byte: allocated block of order (byte & 0x3f)
#define META_FREE 0x80u   // meta byte: free block of order (byte & 0x3f)
#define META_ORDER(m) ((unsigned)(m)&0x3fu)
#define MAX_REGIONS_LIMIT 65535u  // region ids are uint16 in the lookup table
#define TABLE_ROOT 1024u          // the lookup table's root: leaves mapped on demand

typedef struct free_block {
  struct free_block *next, *prev;
} free_block;

// Under ASan/Valgrind (platform/tool_hooks.h) free blocks are poisoned whole:
// their links are opened only for the allocator's own read or write. Nothing
// in a normal build.
#define LINKS_OPEN(f) XSMEM_TOOL_UNPOISON((f), sizeof(free_block))
#define LINKS_CLOSE(f) XSMEM_TOOL_POISON((f), sizeof(free_block))

// One region. Everything but `nonempty` (also read as a hint without the
// lock) is accessed under `lock`.
typedef struct XSMEM_CACHE_ALIGNED buddy_region {
  xsmem_spinlock lock;
  char *base;         // NULL: the slot is unused
  uint8_t *meta;      // one byte per min block
  uint64_t nonempty;  // bit k: free list k is non-empty
  uint64_t link_key;  // mixed into every free-list link stored in the region's blocks (random)
  // Bit k: list k holds one block whose links were never written (they read
  // as NULL). A split pushes each upper half on a list of its own size,
  // usually empty, so carving a small block from a fresh region writes no
  // links into the halves (18 pages touched for a 4 KiB block of a 1 GiB
  // region); the links are written when a second block joins the list.
  uint64_t lone;
  uint64_t allocs, frees;
  uint64_t in_use;          // granted bytes of live blocks
  uint64_t empty_since_ns;  // when the region last became empty (0: not empty)
  size_t hwm;               // bytes from base ever handed out: above it a zeroed source's memory is still zero
  uint64_t freed_dirty;     // bytes freed since the free blocks' pages were last dropped
  uint64_t active_pass;     // the purge pass of the last alloc or free here
  free_block *head[BUDDY_ORDERS];
  uint32_t nfree[BUDDY_ORDERS];
  uint32_t nlive[BUDDY_ORDERS];
} buddy_region;

typedef struct buddy {
  xsmem_allocator base;
  xsmem_source *source;
  unsigned min_shift, region_shift;
  size_t region_size, meta_bytes, max_regions;
  unsigned thp_shift;           // nonzero: blocks of at least 1 << thp_shift get huge-page advice, others not
  uint64_t delay_ns;            // atomic: followed when the options change (buddy_delay_ns)
  uint64_t options_generation;  // atomic: xsmem_options_generation() delay_ns was read at
  bool follow_options;
  size_t self_bytes;  // this mapping (header + region slots)
  bool zeroed;        // the source's regions read as zero (XSMEM_SRC_ZEROED)
  // address >> region_shift -> region id + 1, as a two-level table: root
  // entry i is the leaf of slots [i << leaf_shift, (i + 1) << leaf_shift),
  // NULL until a region lies there (a flat table of 8 MiB regions would be
  // 64 MiB of address space up front). Leaves are written under grow_lock.
  uint16_t *table[TABLE_ROOT];
  size_t table_entries;
  unsigned leaf_shift;
  uintptr_t leaf_mask;                     // (1 << leaf_shift) - 1
  size_t leaf_bytes;                       // mapped per leaf (whole pages)
  uint32_t leaves;                         // leaves mapped (under grow_lock)
  xsmem_spinlock grow_lock;                // region creation and release
  uint32_t nslots;                         // slots [0, nslots) may be in use (grows only)
  uint32_t active;                         // regions mapped now (under grow_lock)
  uint32_t next_home;                      // round-robin home assignment
  uint64_t in_use, peak, failed, largest;  // atomics
  uint64_t passes;                         // periodic purge passes (atomic)
  buddy_region regions[];
} buddy;

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// buddy.c
free_block *buddy_list_next(buddy *b, buddy_region *r, unsigned k, free_block *f);
bool buddy_table_set(buddy *b, const char *base, uint16_t v);

// buddy_pages.c
void buddy_thp_advise(buddy *b, buddy_region *r, char *blk, unsigned k);
size_t buddy_purge_empty(buddy *b, bool force);
size_t buddy_trim(xsmem_allocator *a, size_t goal_bytes);  // the trim op

// buddy_report.c: the ops of the same names.
void buddy_stats(const xsmem_allocator *a, xsmem_stats *out);
void buddy_detail(const xsmem_allocator *a, xsmem_stats_sink *sink);

#pragma GCC visibility pop

#endif  // XSMEM_ALLOCATORS_BUDDY_BUDDY_INTERNAL_H_
