// allocators/peers/peer_internal.h: what the three peer wrappers share (C only).
//
// Exact counters of granted sizes (atomic, relaxed: the same scheme as the
// system configuration) and the argument checks done before a peer is called.
#ifndef XSMEM_ALLOCATORS_PEERS_PEER_INTERNAL_H_
#define XSMEM_ALLOCATORS_PEERS_PEER_INTERNAL_H_

#include <errno.h>
#include <stdatomic.h>

#include "allocators/peers/peer.h"

#ifdef __cplusplus
#error "peer_internal.h is C only (C11 atomics)"
#endif

// No request above this can be served in a 47-bit user address space; the
// peers are not asked (tcmalloc warns about, and may abort on, such sizes).
#define XSMEM_PEER_MAX_REQUEST ((size_t)1 << 46)

typedef struct xsmem_peer_counters {
  _Atomic uint64_t allocs, frees, failed, in_use, peak, largest;
} xsmem_peer_counters;

// Returns the size to ask the peer for: at least XSMEM_MIN_ALIGN, so that the
// peers' 8-byte classes (only 8-aligned) are never used.
XSMEM_INLINE size_t xsmem_peer_request_size(size_t size) {
  return size < XSMEM_MIN_ALIGN ? XSMEM_MIN_ALIGN : size;
}

// Returns true when (size, align) may be passed to a peer; otherwise counts a
// failure, sets errno (EINVAL for a bad alignment, else ENOMEM), returns false.
XSMEM_INLINE bool xsmem_peer_check(xsmem_peer_counters *c, size_t size, size_t align) {
  if (XSMEM_LIKELY(size <= XSMEM_PEER_MAX_REQUEST && align <= XSMEM_PEER_MAX_REQUEST && xsmem_is_pow2(align))) {
    return true;
  }
  atomic_fetch_add_explicit(&c->failed, 1, memory_order_relaxed);
  errno = xsmem_is_pow2(align) ? ENOMEM : EINVAL;
  return false;
}

// Counts an allocation of `requested` bytes that was granted `granted` bytes.
XSMEM_INLINE void xsmem_peer_note_alloc(xsmem_peer_counters *c, size_t requested, size_t granted) {
  atomic_fetch_add_explicit(&c->allocs, 1, memory_order_relaxed);
  uint64_t now = atomic_fetch_add_explicit(&c->in_use, granted, memory_order_relaxed) + granted;
  uint64_t peak = atomic_load_explicit(&c->peak, memory_order_relaxed);
  while (now > peak &&
         !atomic_compare_exchange_weak_explicit(&c->peak, &peak, now, memory_order_relaxed, memory_order_relaxed)) {
  }
  uint64_t largest = atomic_load_explicit(&c->largest, memory_order_relaxed);
  while (requested > largest && !atomic_compare_exchange_weak_explicit(&c->largest, &largest, requested,
                                                                        memory_order_relaxed, memory_order_relaxed)) {
  }
}

// Counts a failed allocation and sets errno = ENOMEM.
XSMEM_INLINE void xsmem_peer_note_failed(xsmem_peer_counters *c) {
  atomic_fetch_add_explicit(&c->failed, 1, memory_order_relaxed);
  errno = ENOMEM;
}

// Counts the free of a block that had `granted` usable bytes.
XSMEM_INLINE void xsmem_peer_note_free(xsmem_peer_counters *c, size_t granted) {
  atomic_fetch_add_explicit(&c->frees, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&c->in_use, granted, memory_order_relaxed);
}

// Copies the counters into out (the fields the peer cannot know stay as they are).
XSMEM_INLINE void xsmem_peer_fill_stats(const xsmem_peer_counters *c, xsmem_stats *out) {
  xsmem_peer_counters *m = (xsmem_peer_counters *)c;  // atomic loads of a const object
  out->num_allocs = atomic_load_explicit(&m->allocs, memory_order_relaxed);
  out->num_frees = atomic_load_explicit(&m->frees, memory_order_relaxed);
  out->num_failed = atomic_load_explicit(&m->failed, memory_order_relaxed);
  out->bytes_in_use = atomic_load_explicit(&m->in_use, memory_order_relaxed);
  out->peak_bytes_in_use = atomic_load_explicit(&m->peak, memory_order_relaxed);
  out->largest_alloc_size = atomic_load_explicit(&m->largest, memory_order_relaxed);
}

// Reports one of the peer's own figures to a detail sink (group "peer").
XSMEM_INLINE void xsmem_peer_detail(xsmem_stats_sink *sink, const char *peer, const char *key, const char *kind,
                                    double value) {
  sink->value(sink, "peer", peer, key, kind, value);
}

#endif  // XSMEM_ALLOCATORS_PEERS_PEER_INTERNAL_H_
