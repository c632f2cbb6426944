// Configuration `os`: every block its own mapping from os_vm, checked frees.
#include "allocators/os/os_alloc.h"
#include "allocators/registry.h"

static xsmem_allocator *build(void) { return xsmem_os_allocator(); }

XSMEM_CONFIG(os, "every block its own os_vm mapping with a header and a side table (checked, slow)", build);
