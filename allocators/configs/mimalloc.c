// Configuration `mimalloc`: the peer allocator mimalloc behind the xsmem interface.
#include "allocators/peers/peer.h"
#include "allocators/registry.h"

XSMEM_CONFIG(mimalloc,
             "mimalloc 2.0 (Debian) through mi_malloc_aligned/mi_free, with xsmem statistics (a peer, for comparison)",
             xsmem_mimalloc_allocator);
