// Configuration `tcmalloc`: the peer allocator tcmalloc behind the xsmem interface.
#include "allocators/peers/peer.h"
#include "allocators/registry.h"

XSMEM_CONFIG(tcmalloc,
             "gperftools tcmalloc_minimal 2.10 (Debian) through tc_memalign/tc_free, with xsmem statistics (a peer, "
             "for comparison)",
             xsmem_tcmalloc_allocator);
