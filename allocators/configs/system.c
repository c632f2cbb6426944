// Configuration `system`: glibc's malloc with exact xsmem statistics. The baseline.
#include "allocators/registry.h"
#include "allocators/system/system.h"

const xsmem_config xsmem_config_system = {
    .name = "system",
    .summary = "glibc malloc underneath, with xsmem statistics (the baseline)",
    .options = "",
    .instance = xsmem_system_allocator,
};
XSMEM_REGISTER_CONFIG(xsmem_config_system);
