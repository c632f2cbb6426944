"""The XSMEM_* options the tiered front reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_VERBOSE",
]
