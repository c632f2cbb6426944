// Configuration `system`: glibc's malloc with exact xsmem statistics. The baseline.
#include "allocators/registry.h"
#include "allocators/system/system.h"

static xsmem_allocator *build(void) { return xsmem_system_allocator(); }

XSMEM_CONFIG(system, "glibc malloc underneath, with xsmem statistics (the baseline)", build);
