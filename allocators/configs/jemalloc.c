// Configuration `jemalloc`: the peer allocator jemalloc behind the xsmem interface.
#include "allocators/peers/peer.h"
#include "allocators/registry.h"

XSMEM_CONFIG(jemalloc, "jemalloc 5.3 (Debian) through mallocx/dallocx, with xsmem statistics (a peer, for comparison)",
             xsmem_jemalloc_allocator);
