"""Named configurations: one list drives every per-configuration target.

A configuration is one composition of parts (sources, fronts, decorators),
written in allocators/configs/NAME.c and listed once in XSMEM_CONFIGS below.
xsmem_configurations() makes, in //allocators, for an entry NAME:
  NAME_config           registers the configuration by name (no malloc override)
  NAME                  NAME_config + the malloc shim: linking it makes NAME the
                        process allocator
  libxsmem_NAME.so      the same as a preloadable / linkable shared library
                        (SONAME libxsmem_NAME.so.XSMEM_SOVERSION, version.bzl)
  NAME_conformance      the shared conformance suite run against NAME
A configuration marked "malloc": False (device memory: not a malloc
replacement) gets NAME_config and NAME (the same, for symmetry) only, and
instead of the malloc conformance test NAME_device_conformance: the device
API's suite (tests/conformance/device_conformance_test.cc) run against NAME on
the fake device (XSMEM_CUDA_FAKE_DEVICE).
and the test and benchmark packages take their per-configuration variants
from the same list (xsmem_configs_for), so adding a configuration is its
configs/NAME.c plus one entry here.

Entry fields:
  name         what users type (a C identifier)
  parts        the PARTS it composes; their libraries become its deps and
               their options its option list (`xsmem list`, XSMEM_VERBOSE)
  over         configurations it is built on (their NAME_config is linked in:
               the tracked configurations wrap the untracked one)
  shim_header  optional: allocators/shim/NAME.h, direct calls into the front
               for the malloc shim
  tracked      the tracker wraps it (export adds the tracker's analyses)
  malloc       optional, default True: False for configurations that cannot
               serve malloc (device memory): no shim, no preloadable library,
               no export library, no malloc conformance test (see above)
  public       optional, default True: False keeps it out of the installed tree
               (//:install, //:dist; :public_libraries lists the others)
  test_env     optional: environment for the conformance test
  size         optional: the conformance test's size (default "medium")
  tests        which per-configuration variants it joins:
                 programs       real programs preloaded (tests/programs); a string
                                scales their inputs
                 thread_churn   short-lived threads (tests/programs)
                 fuzz           the allocator fuzzer and its replay (tests/fuzz)
                 replay         trace replay and bfc latency (bench)
                 bench          the whole-workload suite (bench)
                 numa           fake NUMA topologies (tests/numa)
                 limits         address-space limits, impossible sizes (tests/limits)
                 bad_free       {checker: [XSMEM_TRACK modes]}: who reports bad frees,
                                xsmem or glibc (tests/bad_free)
                 heap_corruption  (checker, sizes, modes): writes after free
                                (tests/bad_free)
"""

load("//:copts.bzl", "XSMEM_C_COPTS", "XSMEM_TEST_COPTS")
load("//:version.bzl", "XSMEM_SOVERSION")
load("//allocators:options.bzl", INTERFACE_OPTIONS = "OPTIONS")
load("//allocators/bfc:options.bzl", BFC_OPTIONS = "OPTIONS")
load("//allocators/buddy:options.bzl", BUDDY_OPTIONS = "OPTIONS")
load("//allocators/large:options.bzl", LARGE_OPTIONS = "OPTIONS")
load("//allocators/os:options.bzl", OS_OPTIONS = "OPTIONS")
load("//allocators/peers:options.bzl", PEERS_OPTIONS = "OPTIONS")
load("//allocators/pool:options.bzl", POOL_OPTIONS = "OPTIONS")
load("//allocators/shim:options.bzl", SHIM_OPTIONS = "OPTIONS")
load("//allocators/system:options.bzl", SYSTEM_OPTIONS = "OPTIONS")
load("//allocators/tiered:options.bzl", TIERED_OPTIONS = "OPTIONS")
load("//allocators/tls_buckets:options.bzl", TLS_BUCKETS_OPTIONS = "OPTIONS")
load("//device:options.bzl", DEVICE_OPTIONS = "OPTIONS")
load("//numa:options.bzl", NUMA_OPTIONS = "OPTIONS")
load("//platform:options.bzl", PLATFORM_OPTIONS = "OPTIONS")
load("//tracking:options.bzl", TRACKING_OPTIONS = "OPTIONS")

# What a configuration is made of: each part's libraries, the parts it is
# built on, and the options its own code reads (declared beside the code).
PARTS = {
    "platform": struct(
        deps = [],
        parts = [],
        options = PLATFORM_OPTIONS + INTERFACE_OPTIONS + SHIM_OPTIONS,
    ),
    "tls_buckets": struct(deps = ["//allocators/tls_buckets"], parts = ["platform"], options = TLS_BUCKETS_OPTIONS),
    "buddy": struct(deps = ["//allocators/buddy"], parts = ["platform"], options = BUDDY_OPTIONS),
    "large": struct(deps = ["//allocators/large"], parts = ["platform"], options = LARGE_OPTIONS),
    "tiered": struct(deps = ["//allocators/tiered"], parts = ["tls_buckets", "buddy", "large"], options = TIERED_OPTIONS),
    "pair": struct(deps = ["//allocators/tiered:pair"], parts = ["buddy", "large"], options = []),
    "bfc": struct(deps = ["//allocators/bfc"], parts = ["platform"], options = BFC_OPTIONS),
    "pool": struct(deps = ["//allocators/pool"], parts = ["bfc"], options = POOL_OPTIONS),
    "os": struct(deps = ["//allocators/os"], parts = ["platform"], options = OS_OPTIONS),
    "system": struct(deps = ["//allocators/system"], parts = ["platform"], options = SYSTEM_OPTIONS),
    "jemalloc": struct(
        deps = ["//allocators/peers:jemalloc", "//allocators/peers:new_delete", "//third_party/peers:jemalloc"],
        parts = ["platform"],
        options = PEERS_OPTIONS,
    ),
    "mimalloc": struct(
        deps = ["//allocators/peers:mimalloc", "//allocators/peers:new_delete", "//third_party/peers:mimalloc"],
        parts = ["platform"],
        options = PEERS_OPTIONS,
    ),
    "tcmalloc": struct(
        deps = ["//allocators/peers:tcmalloc", "//allocators/peers:new_delete", "//third_party/peers:tcmalloc"],
        parts = ["platform"],
        options = PEERS_OPTIONS,
    ),
    "node_router": struct(deps = ["//numa:node_router"], parts = ["platform"], options = NUMA_OPTIONS),
    "numa_tiered": struct(deps = ["//numa:numa_tiered"], parts = ["tiered", "node_router"], options = []),
    "tracker": struct(deps = ["//tracking:tracker"], parts = ["platform"], options = TRACKING_OPTIONS),
    "system_samples": struct(deps = ["//tracking:system_samples"], parts = ["buddy", "large"], options = []),
    "device": struct(deps = ["//device"], parts = ["bfc"], options = DEVICE_OPTIONS),
}

_SMALL_SIZES = "16 64 1000 100000 2097152"  # the small tier's classes and buddy's blocks
_MEDIUM_SIZES = "64 5000 2097152"

# The configurations (`xsmem list` shows them by name).
XSMEM_CONFIGS = [
    {
        "name": "default",
        "parts": ["tiered"],
        "shim_header": "default",
        "tests": {
            "programs": True,
            "thread_churn": True,
            "fuzz": True,
            "replay": True,
            "bench": True,
            "limits": True,
            "bad_free": {"xsmem": []},
            "heap_corruption": ("xsmem", _SMALL_SIZES, []),
        },
    },
    {
        "name": "system",
        "parts": ["system"],
        # malloc and free call glibc directly, as system_tracked's unsampled ones do.
        "shim_header": "system",
        "tests": {
            "programs": True,
            "thread_churn": True,
            "replay": True,
            "bench": True,
            "limits": True,
            "bad_free": {"glibc": []},
        },
    },
    {
        "name": "os",
        "parts": ["os"],
        # A mapping per block: a shorter random sequence keeps the suite in time.
        "test_env": {"XSMEM_CONFORMANCE_OPS": "60000"},
        "tests": {
            "programs": "0.02",  # smaller inputs: every block is a system call
            "fuzz": True,
            "replay": True,
            "limits": True,
            "bad_free": {"xsmem": []},
        },
    },
    {
        "name": "system_tracked",
        "parts": ["system", "tracker", "system_samples"],
        # Unsampled mallocs and frees call the system allocator directly;
        # sampled blocks live in tagged tiers (buddy, large) beside glibc.
        "shim_header": "system_tracked",
        "tracked": True,
        "test_env": {"XSMEM_TRACK": "full"},
        "tests": {
            "limits": True,
            "bad_free": {"xsmem": ["full"], "glibc": ["off", "sample"]},
        },
    },
    {
        "name": "os_tracked",
        "parts": ["tracker"],
        "over": ["os"],
        "tracked": True,
        # os is slow by design (a mapping per block): sampled tracking plus
        # guarded sampling of one allocation in 50, a shorter random sequence,
        # and a large test's time limit (a loaded machine took 170 s for one case).
        "size": "large",
        "test_env": {
            "XSMEM_CONFORMANCE_OPS": "60000",
            "XSMEM_GUARD_SAMPLE_RATE": "50",
            "XSMEM_TRACK": "sample",
        },
        "tests": {
            "limits": True,
            "bad_free": {"xsmem": ["off", "sample", "full"]},
        },
    },
    {
        "name": "default_tracked",
        "parts": ["tiered", "tracker"],
        "over": ["default"],
        # Unsampled mallocs and frees keep the default front's inline fast path.
        "shim_header": "default_tracked",
        "tracked": True,
        "test_env": {"XSMEM_TRACK": "full"},
        "tests": {
            "thread_churn": True,
            "limits": True,
            "bad_free": {"xsmem": ["off", "sample", "full"]},
            "heap_corruption": ("xsmem", _SMALL_SIZES, ["off", "sample"]),
        },
    },
    {
        "name": "jemalloc",
        "parts": ["jemalloc"],
        # Debian's allocator behind xsmem statistics, for comparison: not installed
        # (the installed library would need Debian's package at run time).
        "public": False,
        "tests": {"programs": True},
    },
    {
        "name": "mimalloc",
        "parts": ["mimalloc"],
        "public": False,  # a peer, for comparison (as jemalloc)
        "tests": {"programs": True},
    },
    {
        "name": "tcmalloc",
        "parts": ["tcmalloc"],
        "public": False,  # a peer, for comparison (as jemalloc)
        "tests": {"programs": True},
    },
    {
        "name": "bfc",
        "parts": ["bfc"],
        "tests": {
            "programs": True,
            "thread_churn": True,
            "fuzz": True,
            "replay": True,
            "limits": True,
            "bad_free": {"xsmem": []},
            # bfc keeps nothing inside free blocks: nothing to report, nothing harmed.
            "heap_corruption": ("none", _MEDIUM_SIZES, []),
        },
    },
    {
        "name": "bfc_tracked",
        "parts": ["tracker"],
        "over": ["bfc"],
        "tracked": True,
        "test_env": {"XSMEM_TRACK": "full"},
        "tests": {
            "thread_churn": True,
            "limits": True,
            "bad_free": {"xsmem": ["off", "sample", "full"]},
        },
    },
    {
        "name": "pool",
        "parts": ["pool"],
        "tests": {
            "programs": True,
            "thread_churn": True,
            "fuzz": True,
            "replay": True,
            "limits": True,
            "bad_free": {"xsmem": []},
            "heap_corruption": ("xsmem", _MEDIUM_SIZES, []),
        },
    },
    {
        "name": "buddy_large",
        "parts": ["pair"],
        "public": False,  # for tests: default's medium and large tiers without the small one
        "tests": {
            "fuzz": True,
            "limits": True,
            "bad_free": {"xsmem": []},
            "heap_corruption": ("xsmem", _MEDIUM_SIZES, []),
        },
    },
    {
        "name": "bfc_numa",
        "parts": ["bfc", "node_router"],
        "tests": {
            "thread_churn": True,
            "numa": True,
            "limits": True,
            "bad_free": {"xsmem": []},
        },
    },
    {
        "name": "numa",
        "parts": ["numa_tiered"],
        "shim_header": "numa",
        "tests": {
            "programs": True,
            "thread_churn": True,
            "bench": True,
            "numa": True,
            "limits": True,
            "bad_free": {"xsmem": []},
            "heap_corruption": ("xsmem", _SMALL_SIZES, []),
        },
    },
    # Device memory (docs/DEVICE.md): allocators for xsmem_device_alloc, not
    # malloc. Not installed: they are linked from Bazel (@xsmem//allocators:bfc_cuda)
    # with the device headers, which //:public_headers does not ship yet.
    {
        "name": "bfc_cuda",
        "parts": ["device"],
        "malloc": False,
        "public": False,
    },
    {
        "name": "pinned",
        "parts": ["device", "pool"],
        "malloc": False,
        "public": False,
    },
    {
        "name": "managed",
        "parts": ["device"],
        "malloc": False,
        "public": False,
    },
]

_BY_NAME = {c["name"]: c for c in XSMEM_CONFIGS}

def _closure(parts):
    """The parts named and every part they are built on, in a stable order."""
    seen = []
    todo = list(parts) + ["platform"]
    for _ in range(64):  # Starlark has no while: the depth is small
        if not todo:
            break
        nxt = []
        for p in todo:
            if p not in seen:
                seen.append(p)
                nxt += PARTS[p].parts
        todo = nxt
    return seen

def _configs_closure(cfg):
    """cfg and every configuration it is built on (Starlark has no recursion)."""
    out = [cfg]
    todo = cfg.get("over", [])
    for _ in range(16):
        if not todo:
            break
        nxt = []
        for name in todo:
            out.append(_BY_NAME[name])
            nxt += _BY_NAME[name].get("over", [])
        todo = nxt
    return out

def xsmem_config_options(cfg):
    """The sorted XSMEM_* options a configuration's parts read."""
    options = {}
    for c in _configs_closure(cfg):
        for p in _closure(c["parts"]):
            for o in PARTS[p].options:
                options[o] = True
    return sorted(options.keys())

def _config_deps(cfg):
    deps = []
    for p in _closure(cfg["parts"]):
        for d in PARTS[p].deps:
            if d not in deps:
                deps.append(d)
    if cfg.get("shim_header"):
        deps.append("//allocators/shim:" + cfg["shim_header"])  # its route variables are the configuration's
    return deps + [":%s_config" % o for o in cfg.get("over", [])]

def _configuration(cfg):
    name = cfg["name"]
    deps = _config_deps(cfg)
    options = xsmem_config_options(cfg)
    native.cc_library(
        name = name + "_config",
        srcs = ["configs/%s.c" % name],
        # Single quotes keep the list one word through Bazel's tokenizing.
        copts = XSMEM_C_COPTS + ["'-DXSMEM_CONFIG_OPTIONS=\"%s\"'" % " ".join(options)],
        deps = [":registry"] + deps,
        alwayslink = 1,
        visibility = ["//visibility:public"],
    )
    if not cfg.get("malloc", True):
        _device_configuration(cfg)
        return
    defines = ["XSMEM_SHIM_CONFIG=xsmem_config_" + name]
    if cfg.get("tracked"):
        # operator new with frame pointers: call sites keep the line of `new`.
        defines.append("XSMEM_SHIM_OPERATOR_NEW=1")
    shim_deps = []
    if cfg.get("shim_header"):
        defines.append("XSMEM_SHIM_FAST_HEADER=\\\"allocators/shim/%s.h\\\"" % cfg["shim_header"])
        shim_deps.append("//allocators/shim:" + cfg["shim_header"])
    native.cc_library(
        name = name + "_shim",
        # The guard first: its duplicate is the first link error when two
        # configurations are linked as malloc (one_malloc_guard.c).
        srcs = [
            "//allocators/shim:one_malloc_guard.c",
            "//allocators/shim:malloc_shim.c",
        ],
        copts = XSMEM_C_COPTS + ["-ftls-model=initial-exec"],
        local_defines = defines,
        deps = [
            name + "_config",
            ":allocator",
            ":registry",
            "//platform:log",
            "//platform:once",
            "//platform:options",
        ] + shim_deps,
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
        # The SONAME is what a program linked against the installed library
        # records (//:install names the file libxsmem_NAME.so.VERSION).
        linkopts = [
            "-Wl,-Bsymbolic-functions",
            "-Wl,-z,nodelete",
            "-Wl,--as-needed",
            "-Wl,-soname,%s" % xsmem_soname("libxsmem_%s.so" % name),
        ],
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
        tags = ["conformance", "noasan", "notsan"],
        deps = [
            name,
            "//tests/conformance:suite",
        ],
    )

def _device_configuration(cfg):
    name = cfg["name"]
    native.cc_library(
        name = name,
        deps = [name + "_config"],
        visibility = ["//visibility:public"],
    )
    native.cc_test(
        name = name + "_device_conformance",
        size = "small",
        copts = XSMEM_TEST_COPTS,
        # 64 MiB of fake device: small enough that the suite reaches its end.
        env = dict({"XSMEM_TEST_CONFIG": name, "XSMEM_CUDA_FAKE_DEVICE": "64m"}, **cfg.get("test_env", {})),
        linkstatic = 1,
        tags = ["conformance"],
        deps = [
            name,
            "//tests/conformance:device_suite",
        ],
    )

def xsmem_configurations(configs = XSMEM_CONFIGS):
    """Generates the targets of every configuration, plus :conformance, :preload_libraries
    and :public_libraries (those //:install ships)."""
    for cfg in configs:
        _configuration(cfg)
    native.test_suite(
        name = "conformance",
        tests = [c["name"] + ("_conformance" if c.get("malloc", True) else "_device_conformance") for c in configs],
    )
    native.filegroup(
        name = "preload_libraries",
        srcs = ["libxsmem_%s.so" % c["name"] for c in configs if c.get("malloc", True)],
        visibility = ["//visibility:public"],
    )
    native.filegroup(
        name = "public_libraries",
        srcs = ["libxsmem_%s.so" % n for n in xsmem_public_config_names(configs)],
        visibility = ["//visibility:public"],
    )

def xsmem_config_names(configs = XSMEM_CONFIGS):
    return [c["name"] for c in configs]

def xsmem_malloc_config_names(configs = XSMEM_CONFIGS):
    """The configurations that can serve malloc (all but those marked "malloc": False)."""
    return [c["name"] for c in configs if c.get("malloc", True)]

def xsmem_public_config_names(configs = XSMEM_CONFIGS):
    """The configurations //:install and //:dist ship (all but those marked "public": False)."""
    return [c["name"] for c in configs if c.get("public", True) and c.get("malloc", True)]

def xsmem_soname(library):
    """The SONAME of an installed library: libxsmem_NAME.so -> libxsmem_NAME.so.XSMEM_SOVERSION."""
    return "%s.%s" % (library, XSMEM_SOVERSION)

def xsmem_configs_for(test):
    """The configurations that join a per-configuration test (a key of their "tests"), with its value."""
    return [(c["name"], c["tests"][test]) for c in XSMEM_CONFIGS if c.get("tests", {}).get(test)]

def xsmem_tracked_config(name):
    return _BY_NAME[name].get("tracked", False)

def xsmem_tracked_shim_configs():
    """The tracked configurations whose malloc shim has a header of its own."""
    return [c["name"] for c in XSMEM_CONFIGS if c.get("tracked") and c.get("shim_header")]
