// Configuration `bfc`: TensorFlow-style best-fit with coalescing over os_vm regions.
#include "allocators/bfc/bfc.h"
#include "allocators/registry.h"

static xsmem_allocator *build(void) {
  xsmem_bfc_options o = xsmem_bfc_options_from_env();
  xsmem_bfc *b = xsmem_bfc_create(xsmem_os_source(), &o, "bfc");
  return b ? xsmem_bfc_allocator(b) : NULL;  // NULL: no room for its state, tried again later
}

XSMEM_CONFIG(bfc,
             "best-fit with coalescing over os_vm regions up to a limit (TensorFlow's BFC): exact stats, memory dump",
             build);
