"""The XSMEM_* options buddy reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_BUDDY_REGION",
    "XSMEM_BUDDY_THP",
    "XSMEM_DECOMMIT_DELAY_MS",
]
