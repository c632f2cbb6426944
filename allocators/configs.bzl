"""Named configurations: one list drives every per-configuration target.

Each entry of XSMEM_CONFIGS is one composition. For an entry `NAME`,
xsmem_configurations() makes, in //allocators:
  NAME_config           registers the configuration by name (no malloc override)
  NAME                  NAME_config + the malloc shim: linking it makes NAME the
                        process allocator
  libxsmem_NAME.so      the same as a preloadable / linkable shared library
  NAME_conformance      the shared conformance suite run against NAME
Entry fields:
  name         what users type
  deps         the libraries the configuration file composes
  shim_header  optional: a header giving the shim direct calls into the front
  shim         optional: a replacement shim source (the peers forward to their
               own API instead of the generic shim)
  test_env     optional: environment for the conformance test
  size         optional: the conformance test's size (default "medium")
  tags         optional: tags for the conformance test
"""

load("//:copts.bzl", "XSMEM_C_COPTS", "XSMEM_TEST_COPTS")

# The configurations (`xsmem list` shows them by name).
XSMEM_CONFIGS = [
    {
        "name": "default",
        "deps": ["//allocators/default"],
        "shim_header": "allocators/default/default_shim.h",
    },
    {
        "name": "system",
        "deps": ["//allocators/system"],
        # malloc and free call glibc directly, as system_tracked's unsampled ones do.
        "shim_header": "allocators/system/system_shim.h",
    },
    {
        "name": "os",
        "deps": ["//allocators/os"],
        # A mapping per block: a shorter random sequence keeps the suite in time.
        "test_env": {"XSMEM_CONFORMANCE_OPS": "60000"},
    },
    {
        "name": "system_tracked",
        "deps": [
            "//allocators/buddy",
            "//allocators/large",
            "//allocators/system",
            "//platform:pagemap",
            "//tracking:system_tracked_shim",
            "//tracking:tracker",
        ],
        # Unsampled mallocs and frees call the system allocator directly;
        # sampled blocks live in tagged tiers (buddy, large) beside glibc.
        "shim_header": "tracking/system_tracked_shim.h",
        "test_env": {"XSMEM_TRACK": "full"},
    },
    {
        "name": "os_tracked",
        "deps": [
            "//allocators/os",
            "//tracking:tracker",
        ],
        # os is slow by design (a mapping per block): sampled tracking plus
        # guarded sampling of one allocation in 50, a shorter random sequence,
        # and a large test's time limit (a loaded machine took 170 s for one case).
        "size": "large",
        "test_env": {
            "XSMEM_CONFORMANCE_OPS": "60000",
            "XSMEM_GUARD_SAMPLE_RATE": "50",
            "XSMEM_TRACK": "sample",
        },
    },
    {
        "name": "default_tracked",
        "deps": [
            "//allocators/default",
            "//tracking:default_tracked_shim",
            "//tracking:tracker",
        ],
        # Unsampled mallocs and frees keep the default front's inline fast path.
        "shim_header": "tracking/default_tracked_shim.h",
        "test_env": {"XSMEM_TRACK": "full"},
    },
    {
        "name": "jemalloc",
        "deps": ["//allocators/peers:jemalloc", "//allocators/peers:new_delete", "//third_party/peers:jemalloc"],
    },
    {
        "name": "mimalloc",
        "deps": ["//allocators/peers:mimalloc", "//allocators/peers:new_delete", "//third_party/peers:mimalloc"],
    },
    {
        "name": "tcmalloc",
        "deps": ["//allocators/peers:tcmalloc", "//allocators/peers:new_delete", "//third_party/peers:tcmalloc"],
    },
    {
        "name": "bfc",
        "deps": ["//allocators/bfc"],
    },
    {
        "name": "bfc_tracked",
        "deps": [
            "//allocators/bfc",
            "//tracking:tracker",
        ],
        "test_env": {"XSMEM_TRACK": "full"},
    },
    {
        "name": "pool",
        "deps": ["//allocators/pool"],
    },
    {
        "name": "buddy_large",
        "deps": ["//allocators/buddy", "//allocators/large", "//platform:pagemap"],
    },
    {
        "name": "bfc_numa",
        "deps": ["//allocators/bfc", "//numa:node_router"],
    },
    {
        "name": "numa",
        "deps": ["//numa:numa_default"],
        "shim_header": "numa/numa_shim.h",
    },
]

def _configuration(cfg):
    name = cfg["name"]
    native.cc_library(
        name = name + "_config",
        srcs = ["configs/%s.c" % name],
        copts = XSMEM_C_COPTS,
        deps = [":registry"] + cfg["deps"],
        alwayslink = 1,
        visibility = ["//visibility:public"],
    )
    defines = ["XSMEM_SHIM_CONFIG=xsmem_config_" + name]
    if cfg.get("shim_header"):
        defines.append("XSMEM_SHIM_FAST_HEADER=\\\"%s\\\"" % cfg["shim_header"])
    native.cc_library(
        name = name + "_shim",
        srcs = [cfg.get("shim", "shim/malloc_shim.c")],
        copts = XSMEM_C_COPTS + ["-ftls-model=initial-exec"],
        local_defines = defines,
        deps = [
            name + "_config",
            ":allocator",
            ":registry",
            "//platform:log",
            "//platform:options",
        ] + cfg["deps"],
        alwayslink = 1,
    )
    native.cc_library(
        name = name,
        deps = [name + "_config", name + "_shim"],
        visibility = ["//visibility:public"],
    )
    native.cc_binary(
        name = "libxsmem_%s.so" % name,
        linkshared = 1,
        # Calls inside the library bind to its own definitions (no PLT hops);
        # --as-needed drops the toolchain's libstdc++/libm (1.5 MiB resident in C programs).
        linkopts = ["-Wl,-Bsymbolic-functions", "-Wl,-z,nodelete", "-Wl,--as-needed"],
        deps = [name],
        visibility = ["//visibility:public"],
    )
    native.cc_test(
        name = name + "_conformance",
        size = cfg.get("size", "medium"),
        copts = XSMEM_TEST_COPTS,
        env = dict({"XSMEM_TEST_CONFIG": name}, **cfg.get("test_env", {})),
        linkstatic = 1,
        # The shim replaces malloc in the test binary, which ASan and TSan
        # cannot share with their own allocators: the fronts are covered by
        # their unit tests under the sanitizers instead.
        tags = ["conformance", "noasan", "notsan"] + cfg.get("tags", []),
        deps = [
            name,
            "//tests/conformance:suite",
        ],
    )

def xsmem_configurations(configs = XSMEM_CONFIGS):
    """Generates the targets of every configuration, plus :all_configs and :conformance."""
    for cfg in configs:
        _configuration(cfg)
    native.test_suite(
        name = "conformance",
        tests = [c["name"] + "_conformance" for c in configs],
    )
    native.filegroup(
        name = "preload_libraries",
        srcs = ["libxsmem_%s.so" % c["name"] for c in configs],
        visibility = ["//visibility:public"],
    )

def xsmem_config_names(configs = XSMEM_CONFIGS):
    return [c["name"] for c in configs]
