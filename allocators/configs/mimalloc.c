// Configuration `mimalloc`: the peer allocator mimalloc behind the xsmem interface.
#include "allocators/peers/peer.h"
#include "allocators/registry.h"

const xsmem_config xsmem_config_mimalloc = {
    .name = "mimalloc",
    .summary = "mimalloc 2.0 (Debian) through mi_malloc_aligned/mi_free, with xsmem statistics (a peer, for comparison)",
    .options = "",
    .instance = xsmem_mimalloc_allocator,
};
XSMEM_REGISTER_CONFIG(xsmem_config_mimalloc);
