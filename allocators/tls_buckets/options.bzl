"""The XSMEM_* options the small tier reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_DECOMMIT_DELAY_MS",
    "XSMEM_SMALL_MAX",
    "XSMEM_TLS_CACHE_BYTES",
    "XSMEM_TLS_SPARE_BYTES",
    "XSMEM_TLS_TOTAL_BYTES",
]
