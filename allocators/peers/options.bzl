"""The XSMEM_* options the peers' wrappers reads (platform/options_list.h has their
defaults and meanings; configs.bzl lists them for every configuration built on it)."""

OPTIONS = []
