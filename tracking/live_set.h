// tracking/live_set.h: the set of live full-mode blocks (user pointers).
//
// Full mode keeps each block's record in a header before the block
// (tracker_internal.h, block_header); this set only answers "did the tracker
// hand out this pointer and is it still live?" before any of the block's
// memory is read (so a foreign or stale pointer is reported, never
// dereferenced), and lets the leak report, the summary and the canary check
// enumerate the live blocks.
//
// Model: one byte per 16-byte granule of the address space, 1 while the
// block whose user pointer starts there is live (full-mode user pointers are
// 16-aligned). The space is cut into 16 MiB chunks; a chunk's map (1 MiB of
// os_vm, a page touched per 64 KiB of heap in use) is made on the first
// insert in it, and found by a two-level radix table over the 48-bit address
// space (address >> 36, then the chunk within those 64 GiB). An insert is two
// dependent loads and a plain store: a byte of its own needs no locked
// instruction, which would wait for the header and canary stores just made
// to a block that is often cold (bits shared a word, so they took a locked
// or, and that wait was most of full mode's cost on larson). An erase is an
// exchange, so of two frees racing on one block only one finds it live. A
// for_each reads the headers of the blocks it finds, so a freed block's
// memory must not go back to the wrapped allocator while a walk might still
// read it: the owner calls live_set_quiesce first, one load of a flag the
// walk raises (sequentially consistent on both sides: either the walk sees
// the erased byte, or the quiesce sees the walk and waits it out). This
// replaced a sharded open-addressing table (a multiply, a probe run and
// backward shifting: about 45 instructions each way against about 15). Maps
// and tables come from os_vm, never from malloc, and stay until destroy.
//
// Thread-safety: every function may be called from any thread; walks are
// serialised, and fn must not free (a free's quiesce would wait on the walk).
#ifndef XSMEM_TRACKING_LIVE_SET_H_
#define XSMEM_TRACKING_LIVE_SET_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdatomic.h>

#include "platform/atomics.h"
#include "platform/base.h"

enum {
  kLiveGranuleShift = 4,  // a byte per 16 bytes
  kLiveChunkShift = 24,   // 16 MiB chunks
  kLiveTopShift = 36,     // first level: 64 GiB each
  kLiveTopEntries = 1 << (48 - kLiveTopShift),
  kLiveMidEntries = 1 << (kLiveTopShift - kLiveChunkShift),
  kLiveGranules = 1 << (kLiveChunkShift - kLiveGranuleShift),
};

typedef struct live_chunk {
  struct live_chunk *next;  // every chunk made, newest first
  uintptr_t base;
  _Alignas(64) _Atomic uint8_t live[kLiveGranules];  // read 8 at a time by walks
} live_chunk;

typedef struct live_set {
  _Atomic(live_chunk *) *_Atomic top[kLiveTopEntries];  // each kLiveMidEntries chunk pointers (os_vm)
  _Atomic(live_chunk *) chunks;                         // list of every chunk (for_each)
  xsmem_spinlock make_lock;                             // making tables and chunks
  xsmem_spinlock walk_lock;                             // one for_each at a time (and none across fork)
  _Atomic int walking;                                  // a for_each may be reading headers
  _Atomic size_t chunk_count, mid_count;
} live_set;

// Makes p's chunk (and its table), or finds the one another thread made;
// NULL (errno = ENOMEM) when os_vm refuses, or p lies above 2^48.
live_chunk *live_set_make_chunk(live_set *s, uintptr_t p);

// The chunk holding p's granule, or NULL when none was made.
XSMEM_INLINE live_chunk *live_chunk_of(live_set *s, uintptr_t p) {
  uintptr_t i = p >> kLiveTopShift;
  if (XSMEM_UNLIKELY(i >= kLiveTopEntries)) return NULL;
  _Atomic(live_chunk *) *mid = atomic_load_explicit(&s->top[i], memory_order_acquire);
  if (XSMEM_UNLIKELY(!mid)) return NULL;
  return atomic_load_explicit(&mid[(p >> kLiveChunkShift) & (kLiveMidEntries - 1)], memory_order_acquire);
}

XSMEM_INLINE size_t live_granule(uintptr_t p) {
  return (p & (((uintptr_t)1 << kLiveChunkShift) - 1)) >> kLiveGranuleShift;
}

// Adds p (16-aligned, below 2^48), which must be absent. Returns false
// (errno = ENOMEM) when os_vm refuses a table, or p is out of that range.
XSMEM_INLINE bool live_set_insert(live_set *s, uintptr_t p) {
  live_chunk *c = live_chunk_of(s, p);
  if (XSMEM_UNLIKELY(!c) && !(c = live_set_make_chunk(s, p))) return false;
  // Release: a for_each that sees the byte sees the block's header.
  atomic_store_explicit(&c->live[live_granule(p)], 1, memory_order_release);
  return true;
}

// Removes p; returns false when p was not in the set. Sequentially
// consistent, against a walk's flag (live_set_quiesce).
XSMEM_INLINE bool live_set_erase(live_set *s, uintptr_t p) {
  live_chunk *c = live_chunk_of(s, p);
  if (XSMEM_UNLIKELY(!c) || (p & ((1u << kLiveGranuleShift) - 1))) return false;
  return atomic_exchange_explicit(&c->live[live_granule(p)], 0, memory_order_seq_cst) != 0;
}

void live_set_wait_walk(live_set *s);

// Returns once no for_each can still read a block erased before the call:
// call it before an erased block's memory goes back to the allocator it
// came from. One load when no walk runs.
XSMEM_INLINE void live_set_quiesce(live_set *s) {
  if (XSMEM_UNLIKELY(atomic_load_explicit(&s->walking, memory_order_seq_cst))) live_set_wait_walk(s);
}

XSMEM_INLINE bool live_set_contains(live_set *s, uintptr_t p) {
  live_chunk *c = live_chunk_of(s, p);
  if (!c || (p & ((1u << kLiveGranuleShift) - 1))) return false;
  return atomic_load_explicit(&c->live[live_granule(p)], memory_order_acquire) != 0;
}

// Pointers held (counts every map), and os_vm bytes of the maps and tables.
size_t live_set_size(live_set *s);
size_t live_set_bytes(live_set *s);

void live_set_for_each(live_set *s, void (*fn)(uintptr_t p, void *ctx), void *ctx);

// A walk held open across several visits (the leak scan reads the blocks'
// contents, not only their headers, for as long as it runs): between begin
// and end no erased block goes back to its allocator (frees wait in
// live_set_quiesce), so the caller must neither free nor allocate through
// the set's owner meanwhile. visit_ordered calls fn for each live pointer in
// address order. REQUIRES for visit_ordered: between begin and end.
void live_set_walk_begin(live_set *s);
void live_set_visit_ordered(live_set *s, void (*fn)(uintptr_t p, void *ctx), void *ctx);
void live_set_walk_end(live_set *s);

// For fork: hold every lock across it (no walk runs meanwhile).
void live_set_lock_all(live_set *s);
void live_set_unlock_all(live_set *s);

// Releases every table (the set is empty and reusable).
void live_set_destroy(live_set *s);

#endif  // XSMEM_TRACKING_LIVE_SET_H_
