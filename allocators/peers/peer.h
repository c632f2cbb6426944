// allocators/peers/peer.h: the peer allocators behind the xsmem interface.
//
// jemalloc, mimalloc and tcmalloc (gperftools' minimal build), as Debian ships
// them, each wrapped as an xsmem_allocator that calls the peer's own
// non-standard API (mallocx/dallocx/sallocx/rallocx; mi_malloc_aligned/
// mi_free/mi_usable_size/mi_realloc; tc_memalign/tc_free/tc_malloc_size/
// tc_realloc). They are configurations like any other (`jemalloc`,
// `mimalloc`, `tcmalloc`), so the conformance suite, the programs tests and
// the bench suite compare xsmem's fronts with the peers through one door.
//
// Statistics are exact, counted like the system configuration does: atomic
// counters of granted sizes (the peer's usable size), updated on every call.
// The peer's own view of itself (jemalloc's stats.allocated/resident/mapped
// after an epoch refresh, mimalloc's process info, tcmalloc's numeric
// properties) is reported through `detail` in group "peer", and the peer's
// mapped bytes fill bytes_reserved where the peer reports them.
//
// What the wrappers add to the peers: a 16-byte minimum block (the peers'
// 8-byte classes are only 8-aligned, malloc promises 16), an explicit size
// check so impossible requests fail with ENOMEM instead of the peer's
// warnings or aborts, EINVAL for a non-power-of-two alignment. Bad frees are
// left to the peer (tcmalloc aborts on some; jemalloc and mimalloc in their
// release builds mostly do not check); `owns` exists only for tcmalloc, whose
// page map answers exactly.
#ifndef XSMEM_ALLOCATORS_PEERS_PEER_H_
#define XSMEM_ALLOCATORS_PEERS_PEER_H_

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

// Returns the process-wide wrapper of each peer (built on first call, no malloc).
xsmem_allocator *xsmem_jemalloc_allocator(void);
xsmem_allocator *xsmem_mimalloc_allocator(void);
xsmem_allocator *xsmem_tcmalloc_allocator(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_PEERS_PEER_H_
