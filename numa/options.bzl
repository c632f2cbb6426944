"""The XSMEM_* options numa/ (topology, node-bound sources, node routers) reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_NUMA",
    "XSMEM_NUMA_BIND",
    "XSMEM_NUMA_FAKE_NODES",
    "XSMEM_NUMA_FALLBACK",
    "XSMEM_NUMA_INTERLEAVE_MIN",
    "XSMEM_NUMA_NODE_LIMIT",
    "XSMEM_NUMA_SPAN",
    "XSMEM_VERBOSE",
]
