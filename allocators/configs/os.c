// Configuration `os`: every block its own mapping from os_vm, checked frees.
#include "allocators/os/os_alloc.h"
#include "allocators/registry.h"

const xsmem_config xsmem_config_os = {
    .name = "os",
    .summary = "every block its own os_vm mapping with a header and a side table (checked, slow)",
    .options = "XSMEM_HUGE_PAGES",
    .instance = xsmem_os_allocator,
};
XSMEM_REGISTER_CONFIG(xsmem_config_os);
