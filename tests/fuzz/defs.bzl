"""One fuzz harness: its library, its libFuzzer target and its replay test."""

load("//:copts.bzl", "XSMEM_TEST_COPTS")

def xsmem_fuzz_harness(name, srcs, deps, replay_main, size = "small"):
    """Declares NAME_lib (the harness: LLVMFuzzerTestOneInput and what it needs),
    NAME (the libFuzzer target, built under --config=fuzz only) and
    NAME_replay_test (replay_main driving the harness in every test run)."""
    native.cc_library(
        name = name + "_lib",
        testonly = 1,
        srcs = srcs,
        copts = XSMEM_TEST_COPTS,
        deps = deps,
        alwayslink = 1,
    )
    native.cc_binary(
        name = name,
        testonly = 1,
        linkopts = ["-fsanitize=fuzzer"],
        linkstatic = True,
        tags = [
            "fuzz",
            "manual",
        ],
        deps = [":%s_lib" % name],
    )
    native.cc_test(
        name = name + "_replay_test",
        size = size,
        srcs = [replay_main, "replay.h"],
        copts = XSMEM_TEST_COPTS,
        linkstatic = True,
        deps = [":%s_lib" % name],
    )
