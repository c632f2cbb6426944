"""The XSMEM_* options the exporter (export/runtime) reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_ALERT_ALLOC_RATE",
    "XSMEM_ALERT_BYTES_IN_USE",
    "XSMEM_ALERT_FRAGMENTATION",
    "XSMEM_ALERT_POOL_HIT_RATE",
    "XSMEM_HTTP",
    "XSMEM_HTTP_ALLOW_HOSTS",
    "XSMEM_HTTP_CHILDREN",
    "XSMEM_HTTP_SERVER",
    "XSMEM_HTTP_SHOW_CMDLINE",
    "XSMEM_HTTP_TOKEN",
    "XSMEM_HTTP_TOKEN_FILE",
    "XSMEM_METRICS_CALL_SITES",
    "XSMEM_SNAPSHOT",
    "XSMEM_SNAPSHOT_INTERVAL_MS",
    "XSMEM_VERBOSE",
]
