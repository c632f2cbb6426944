"""The XSMEM_* options pool reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_POOL_AUTO_RESIZE",
    "XSMEM_POOL_LIMIT_MB",
    "XSMEM_POOL_ROUNDING",
]
