// allocators/peers/peer_internal.h: what the three peer wrappers share (C only).
//
// The argument checks done before a peer is called; exact counters come from
// allocators/counters.h, shared with the system configuration.
#ifndef XSMEM_ALLOCATORS_PEERS_PEER_INTERNAL_H_
#define XSMEM_ALLOCATORS_PEERS_PEER_INTERNAL_H_

#include <errno.h>
#include <stdatomic.h>

#include "allocators/counters.h"
#include "allocators/peers/peer.h"

#ifdef __cplusplus
#error "peer_internal.h is C only (C11 atomics)"
#endif

// No request above this can be served in a 47-bit user address space; the
// peers are not asked (tcmalloc warns about, and may abort on, such sizes).
#define XSMEM_PEER_MAX_REQUEST ((size_t)1 << 46)

// Returns the size to ask the peer for: at least XSMEM_MIN_ALIGN, so that the
// peers' 8-byte classes (only 8-aligned) are never used.
XSMEM_INLINE size_t xsmem_peer_request_size(size_t size) { return size < XSMEM_MIN_ALIGN ? XSMEM_MIN_ALIGN : size; }

// Returns true when (size, align) may be passed to a peer; otherwise counts a
// failure, sets errno (EINVAL for a bad alignment, else ENOMEM), returns false.
XSMEM_INLINE bool xsmem_peer_check(xsmem_counters *c, size_t size, size_t align) {
  if (XSMEM_LIKELY(size <= XSMEM_PEER_MAX_REQUEST && align <= XSMEM_PEER_MAX_REQUEST && xsmem_is_pow2(align))) {
    return true;
  }
  atomic_fetch_add_explicit(&c->failed, 1, memory_order_relaxed);
  errno = xsmem_is_pow2(align) ? ENOMEM : EINVAL;
  return false;
}

// Reports one of the peer's own figures to a detail sink (group "peer").
XSMEM_INLINE void xsmem_peer_detail(xsmem_stats_sink *sink, const char *peer, const char *key, const char *kind,
                                    double value) {
  sink->value(sink, "peer", peer, key, kind, value);
}

#endif  // XSMEM_ALLOCATORS_PEERS_PEER_INTERNAL_H_
