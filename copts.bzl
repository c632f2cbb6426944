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
