// Configuration `pool`: an LRU pool of freed blocks by rounded size over its own bfc.
#include "allocators/bfc/bfc.h"
#include "allocators/pool/pool.h"
#include "allocators/registry.h"

static xsmem_allocator *build(void) {
  // No room for the bfc's or the pool's state (an address-space limit): NULL,
  // and the next call tries again (the malloc shim fails the request meanwhile).
  xsmem_bfc_options bo = xsmem_bfc_options_from_env();
  xsmem_bfc *backing = xsmem_bfc_create(xsmem_os_source(), &bo, "pool.bfc");
  if (!backing) return NULL;
  xsmem_pool_options po = xsmem_pool_options_from_env();
  xsmem_pool *p = xsmem_pool_create(xsmem_bfc_allocator(backing), &po, "pool");
  if (!p) xsmem_bfc_destroy(backing);
  return p ? xsmem_pool_allocator(p) : NULL;
}

XSMEM_CONFIG(pool, "LRU pool of freed blocks by rounded size (pow2 by default) over a bfc arena; hit/miss counters",
             build);
