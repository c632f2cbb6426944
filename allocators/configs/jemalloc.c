// Configuration `jemalloc`: the peer allocator jemalloc behind the xsmem interface.
#include "allocators/peers/peer.h"
#include "allocators/registry.h"

const xsmem_config xsmem_config_jemalloc = {
    .name = "jemalloc",
    .summary = "jemalloc 5.3 (Debian) through mallocx/dallocx, with xsmem statistics (a peer, for comparison)",
    .options = "",
    .instance = xsmem_jemalloc_allocator,
};
XSMEM_REGISTER_CONFIG(xsmem_config_jemalloc);
