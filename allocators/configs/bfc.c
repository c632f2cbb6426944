// Configuration `bfc`: TensorFlow-style best-fit with coalescing over os_vm regions.
#include "allocators/bfc/bfc.h"
#include "allocators/registry.h"

const xsmem_config xsmem_config_bfc = {
    .name = "bfc",
    .summary = "best-fit with coalescing over os_vm regions up to a limit (TensorFlow's BFC): exact stats, memory dump",
    .options = "XSMEM_BFC_LIMIT_MB XSMEM_BFC_RESERVE_ALL XSMEM_BFC_GC XSMEM_BFC_INITIAL_REGION XSMEM_BFC_SPLIT_SLACK "
               "XSMEM_BFC_DUMP_ON_OOM",
    .instance = xsmem_bfc_default,
};
XSMEM_REGISTER_CONFIG(xsmem_config_bfc);
