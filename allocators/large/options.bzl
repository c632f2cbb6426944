"""The XSMEM_* options the large tier reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_DECOMMIT_DELAY_MS",
    "XSMEM_LARGE_CACHE",
    "XSMEM_LARGE_MIN",
]
