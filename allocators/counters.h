// allocators/counters.h: exact statistics for fronts that wrap another allocator.
//
// The system and peer configurations hand every request to an allocator that
// keeps no xsmem statistics of its own; these relaxed atomic counters of
// granted sizes give them exact num_allocs, num_frees, num_failed,
// bytes_in_use, peak_bytes_in_use and largest_alloc_size. C only (C11 atomics).
// Thread-safety: every function may be called from any thread.
#ifndef XSMEM_ALLOCATORS_COUNTERS_H_
#define XSMEM_ALLOCATORS_COUNTERS_H_

#include <errno.h>
#include <stdatomic.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
#error "allocators/counters.h is C only (C11 atomics)"
#endif

typedef struct xsmem_counters {
  _Atomic uint64_t allocs, frees, failed, in_use, peak, largest;
} xsmem_counters;

// Counts an allocation of `requested` bytes that was granted `granted` bytes.
XSMEM_INLINE void xsmem_counters_note_alloc(xsmem_counters *c, size_t requested, size_t granted) {
  atomic_fetch_add_explicit(&c->allocs, 1, memory_order_relaxed);
  uint64_t now = atomic_fetch_add_explicit(&c->in_use, granted, memory_order_relaxed) + granted;
  uint64_t peak = atomic_load_explicit(&c->peak, memory_order_relaxed);
  while (now > peak &&
         !atomic_compare_exchange_weak_explicit(&c->peak, &peak, now, memory_order_relaxed, memory_order_relaxed)) {}
  uint64_t largest = atomic_load_explicit(&c->largest, memory_order_relaxed);
  while (requested > largest &&
         !atomic_compare_exchange_weak_explicit(&c->largest, &largest, requested, memory_order_relaxed,
                                                memory_order_relaxed)) {}
}

// Counts a failed allocation and sets errno = ENOMEM.
XSMEM_INLINE void xsmem_counters_note_failed(xsmem_counters *c) {
  atomic_fetch_add_explicit(&c->failed, 1, memory_order_relaxed);
  errno = ENOMEM;
}

// Counts the free of a block that had `granted` usable bytes.
XSMEM_INLINE void xsmem_counters_note_free(xsmem_counters *c, size_t granted) {
  atomic_fetch_add_explicit(&c->frees, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&c->in_use, granted, memory_order_relaxed);
}

// Copies the counters into out (the fields they do not know stay as they are).
XSMEM_INLINE void xsmem_counters_fill_stats(const xsmem_counters *c, xsmem_stats *out) {
  xsmem_counters *m = (xsmem_counters *)c;  // atomic loads of a const object
  out->num_allocs = atomic_load_explicit(&m->allocs, memory_order_relaxed);
  out->num_frees = atomic_load_explicit(&m->frees, memory_order_relaxed);
  out->num_failed = atomic_load_explicit(&m->failed, memory_order_relaxed);
  out->bytes_in_use = atomic_load_explicit(&m->in_use, memory_order_relaxed);
  out->peak_bytes_in_use = atomic_load_explicit(&m->peak, memory_order_relaxed);
  out->largest_alloc_size = atomic_load_explicit(&m->largest, memory_order_relaxed);
}

#endif  // XSMEM_ALLOCATORS_COUNTERS_H_
