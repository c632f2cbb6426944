"""The XSMEM_* options device/ reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_CUDA_DEVICE",
    "XSMEM_CUDA_FAKE_DEVICE",
    "XSMEM_CUDA_LIBRARY",
    "XSMEM_CUDA_LIMIT_MB",
    "XSMEM_CUDA_RESERVE_PERCENT",
    "XSMEM_DEVICE_DUMP_ON_OOM",
    "XSMEM_DEVICE_STREAM_CACHE",
    "XSMEM_VERBOSE",
]
