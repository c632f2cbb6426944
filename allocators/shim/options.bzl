"""The XSMEM_* options the malloc shim reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_CONFIG",
    "XSMEM_STATS_AT_EXIT",
    "XSMEM_VERBOSE",
]
