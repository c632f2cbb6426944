// Configuration `pool`: an LRU pool of freed blocks by rounded size over its own bfc.
#include "allocators/pool/pool.h"
#include "allocators/registry.h"

const xsmem_config xsmem_config_pool = {
    .name = "pool",
    .summary = "LRU pool of freed blocks by rounded size (pow2 by default) over a bfc arena; hit/miss counters",
    .options = "XSMEM_POOL_LIMIT_MB XSMEM_POOL_ROUNDING XSMEM_POOL_AUTO_RESIZE XSMEM_BFC_LIMIT_MB "
               "XSMEM_BFC_RESERVE_ALL XSMEM_BFC_GC XSMEM_BFC_INITIAL_REGION XSMEM_BFC_SPLIT_SLACK XSMEM_BFC_DUMP_ON_OOM",
    .instance = xsmem_pool_default,
};
XSMEM_REGISTER_CONFIG(xsmem_config_pool);
