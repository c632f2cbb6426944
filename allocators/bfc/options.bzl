"""The XSMEM_* options bfc reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_BFC_DUMP_ON_OOM",
    "XSMEM_BFC_GC",
    "XSMEM_BFC_INITIAL_REGION",
    "XSMEM_BFC_LIMIT_MB",
    "XSMEM_BFC_RESERVE_ALL",
    "XSMEM_BFC_SPLIT_SLACK",
]
