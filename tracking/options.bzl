"""The XSMEM_* options the tracker reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = [
    "XSMEM_DEBUG_ROOT",
    "XSMEM_GUARD_SAMPLE_RATE",
    "XSMEM_GUARD_SLOTS",
    "XSMEM_LEAK_REPORT",
    "XSMEM_LEAK_REPORT_SITES",
    "XSMEM_LEAK_SHOW_REACHABLE",
    "XSMEM_LEAK_SUPPRESS",
    "XSMEM_QUARANTINE_BYTES",
    "XSMEM_TRACK",
    "XSMEM_TRACK_DEPTH",
    "XSMEM_TRACK_FREE_SITES",
    "XSMEM_TRACK_SAMPLE_BYTES",
    "XSMEM_TRACK_TIMELINE_MS",
    "XSMEM_TRACK_UNWIND",
]
