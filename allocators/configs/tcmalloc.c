// Configuration `tcmalloc`: the peer allocator tcmalloc behind the xsmem interface.
#include "allocators/peers/peer.h"
#include "allocators/registry.h"

const xsmem_config xsmem_config_tcmalloc = {
    .name = "tcmalloc",
    .summary = "gperftools tcmalloc_minimal 2.10 (Debian) through tc_memalign/tc_free, with xsmem statistics (a peer, for comparison)",
    .options = "",
    .instance = xsmem_tcmalloc_allocator,
};
XSMEM_REGISTER_CONFIG(xsmem_config_tcmalloc);
