"""Compiler flags for xsmem's own code (never for external repositories)."""

# The allocators' fast paths are the product: they are optimized in every
# compilation mode but dbg, so a consumer's default (fastbuild) build does not
# get an -O0 malloc (about 2.5x slower per pair); -g keeps them debuggable.
# Warnings are errors only in xsmem's own builds (.bazelrc sets
# --define=xsmem_werror=1): a consumer's newer compiler must not fail the build
# on a new warning.
_OPTIMIZED = select({
    "//platform:dbg_mode": [],
    "//platform:fastbuild_mode": ["-O2", "-g"],
    "//conditions:default": [],
})
_WERROR = select({
    "//platform:werror": ["-Werror"],
    "//conditions:default": [],
})

# Shipping C code: C11, warnings are errors, no implicit libc assumptions.
XSMEM_C_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-fno-strict-aliasing",
    "-D_GNU_SOURCE",
] + _WERROR + _OPTIMIZED

# Tests and benchmarks (C++17 with googletest / google benchmark): the
# targets set the standard themselves, so no workspace needs --cxxopt.
XSMEM_TEST_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-Wno-sign-compare",
    "-D_GNU_SOURCE",
    "-std=c++17",
] + _WERROR

# Libraries compiled a second time with their Valgrind client requests
# (platform/tool_hooks.h) for the memcheck tests: NAME_vg, testonly. A twin
# depends on the twins of its deps, so a program links one set or the other.
_VALGRIND_TWINS = [
    "//allocators:allocator",
    "//allocators/bfc:bfc",
    "//allocators/buddy:buddy",
    "//allocators/large:large",
    "//allocators/os:os",
    "//allocators/pool:pool",
    "//allocators/tls_buckets:tls_buckets",
]

def _absolute(label):
    if label.startswith(":"):
        return "//%s%s" % (native.package_name(), label)
    if label.startswith("//") and ":" not in label:
        return "%s:%s" % (label, label.split("/")[-1])
    return label

def xsmem_cc_library(name, deps = [], copts = XSMEM_C_COPTS, valgrind_twin = False, **kwargs):
    """A cc_library, and with valgrind_twin its NAME_vg twin built with -DXSMEM_VALGRIND=1."""
    native.cc_library(name = name, deps = deps, copts = copts, **kwargs)
    if not valgrind_twin:
        return
    twin_deps = []
    for d in deps:
        a = _absolute(d)
        twin_deps.append(a + "_vg" if a in _VALGRIND_TWINS else d)
    twin = dict(kwargs)
    twin["visibility"] = ["//visibility:public"]
    native.cc_library(
        name = name + "_vg",
        testonly = 1,
        deps = twin_deps,
        copts = copts + ["-DXSMEM_VALGRIND=1", "-g", "-O1", "-fno-omit-frame-pointer"],
        **twin
    )

def xsmem_declared_options_test(options):
    """Fails when this package's C sources name an XSMEM_* option (a row of
    platform/options_list.h) that `options` (its options.bzl) does not declare."""
    native.sh_test(
        name = "declared_options_test",
        size = "small",
        srcs = ["//tests/platform:declared_options_test.sh"],
        args = ["$(location //platform:options_list.h)", native.package_name()] + options,
        data = ["//platform:options_list.h"] + native.glob(["*.c", "*.h"], exclude = ["*_test.c", "options_list.h"]),
    )
