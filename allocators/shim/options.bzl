"""The XSMEM_* options the malloc shim reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_CONFIG",
    "XSMEM_STATS_AT_EXIT",
    "XSMEM_VERBOSE",
]

# Options the shim names in a message but does not act on: the exporter reads
# them (export/options.bzl), and the shim says when they are set in a process
# without it. Not part of a configuration's option list.
MENTIONED = [
    "XSMEM_HTTP",
    "XSMEM_SNAPSHOT",
]
