"""Compiler flags for xsmem's own code (never for external repositories)."""

# Shipping C code: C11, warnings are errors, no implicit libc assumptions.
XSMEM_C_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-fno-strict-aliasing",
    "-D_GNU_SOURCE",
]

# Tests and benchmarks (C++17 with googletest / google benchmark).
XSMEM_TEST_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-sign-compare",
    "-D_GNU_SOURCE",
]

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
