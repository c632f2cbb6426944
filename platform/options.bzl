"""The XSMEM_* options platform/ (os_vm, log) reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_HUGE_PAGES",
    "XSMEM_VERBOSE",
]
