// platform/options_list.h: every XSMEM_* environment option, in one table.
//
// XSMEM_OPTION(name, default, KIND, "accepted", WHEN, "one-line description"):
//   KIND      STR (any text; "accepted" only describes it), BOOL (1/0, on/off,
//             true/false, yes/no), INT (a decimal integer), BYTES (a size with
//             an optional k/m/g/t suffix, powers of 1024), NUMBER (a decimal
//             number; empty means 0) or CHOICE (one of "accepted")
//   accepted  INT, BYTES, NUMBER: "MIN..MAX" or "MIN.." (no upper bound), and
//             for BYTES optionally ", power of 2"; CHOICE: "a/b/c"
//   WHEN      START (read once, when the part that uses it is built) or LIVE
//             (xsmem_option_set may change it while the process runs: its
//             readers read it again; docs/OPTIONS.md says how each does)
// Every read validates the value against KIND and "accepted"; a value that
// does not fit is reported once on stderr and the default is used. Values
// come from XSMEM_NAME, else from XSMEM_OPTIONS="name=value,...", else the
// default (platform/options.h). docs/OPTIONS.md's option table is this list,
// row for row (//tests/platform:options_doc_test); add a row here and there
// together, and declare the option in the options.bzl of the package that
// reads it.
//
// XSMEM_INTERNAL_NAME(name, "who sets or reads it"): variables xsmem's own
// tools and tests use that are not options; they are not warned about as
// unknown names.

// One row per line: the tests and docs/OPTIONS.md's table read it so.
// clang-format off
// Core (registry, shim, error reporting)
XSMEM_OPTION(XSMEM_CONFIG, "", STR, "a linked configuration's name", START, "configuration used by the malloc shim when several are linked in (default: the one the library was built for)")
XSMEM_OPTION(XSMEM_ON_ERROR, "abort", CHOICE, "abort/warn", LIVE, "what a bad free or corrupted block does after its report: abort or warn")
XSMEM_OPTION(XSMEM_STATS_AT_EXIT, "0", BOOL, "", LIVE, "print the process allocator's statistics to stderr at exit")
XSMEM_OPTION(XSMEM_VERBOSE, "0", BOOL, "", LIVE, "log configuration choices and fallbacks to stderr")
// os_vm
XSMEM_OPTION(XSMEM_HUGE_PAGES, "thp", CHOICE, "off/thp/explicit", START, "huge pages for large mappings: off, thp (madvise) or explicit (MAP_HUGETLB, falls back to thp)")
// numa (numa/, configurations bfc_numa and numa)
XSMEM_OPTION(XSMEM_NUMA, "local", CHOICE, "off/local/interleave", START, "NUMA placement: off (no binding, one node), local (memory from the calling thread's node) or interleave (over every node)")
XSMEM_OPTION(XSMEM_NUMA_BIND, "bind", CHOICE, "bind/preferred", START, "how node-bound regions are bound before first touch: bind (MPOL_BIND, strict) or preferred (MPOL_PREFERRED)")
XSMEM_OPTION(XSMEM_NUMA_FALLBACK, "on", BOOL, "", START, "when the caller's node is exhausted, serve from the nearest other node (on) or fail with ENOMEM (off)")
XSMEM_OPTION(XSMEM_NUMA_NODE_LIMIT, "0", BYTES, "0..", START, "bytes each node's source may map (0: no limit), address space not memory: a 4 MiB segment per small size class in use, and buddy regions (shrunk to a quarter of the limit), so a Python-sized program needs 256m; reaching it counts as the node being exhausted")
XSMEM_OPTION(XSMEM_NUMA_INTERLEAVE_MIN, "0", BYTES, "0..", START, "requests of at least this size are served from interleaved memory (0: never)")
XSMEM_OPTION(XSMEM_NUMA_SPAN, "256g", BYTES, "64m..128t", START, "address space reserved per node (rounded down to a power of two, halved until the reservation succeeds; under ulimit -v the spans together take at most an eighth of it, and none is made below 64m; a region that does not fit its span is mapped outside it)")
XSMEM_OPTION(XSMEM_NUMA_FAKE_NODES, "0", INT, "0..64", START, "testing: pretend to have this many nodes; binding is recorded instead of performed")
// bfc (allocators/bfc)
XSMEM_OPTION(XSMEM_BFC_LIMIT_MB, "0", INT, "0..1073741824", START, "bfc: upper bound on bytes reserved from the source, in MiB (0: half of physical memory)")
XSMEM_OPTION(XSMEM_BFC_RESERVE_ALL, "0", BOOL, "", START, "bfc: map the whole limit as one region up front")
XSMEM_OPTION(XSMEM_BFC_GC, "0", BOOL, "", START, "bfc: give a region back to the source as soon as it is wholly free (one is kept)")
XSMEM_OPTION(XSMEM_BFC_INITIAL_REGION, "2m", BYTES, "4k..128t", START, "bfc: size of the first region; each new region doubles it while the limit allows")
XSMEM_OPTION(XSMEM_BFC_SPLIT_SLACK, "1k", BYTES, "16..128t", START, "bfc: split a chunk when the remainder is at least this (it is always split at twice the request)")
XSMEM_OPTION(XSMEM_BFC_DUMP_ON_OOM, "1", BOOL, "", START, "bfc: write the memory dump (bins, regions, chunks) to stderr when a request within the limit first fails (later failures are counted, not printed)")
// device/ (CUDA through dlopen, the fake device, the device configurations)
XSMEM_OPTION(XSMEM_CUDA_LIBRARY, "", STR, "a path, or none", START, "device: the CUDA runtime library to load first, before libcudart.so.13, libcudart.so.12, libcudart.so and $CUDA_HOME/lib64/libcudart.so (none: load no runtime, as on a machine without CUDA)")
XSMEM_OPTION(XSMEM_CUDA_DEVICE, "0", INT, "0..1023", START, "bfc_cuda and managed: the index of the device whose memory they serve")
XSMEM_OPTION(XSMEM_CUDA_LIMIT_MB, "0", INT, "0..1073741824", START, "bfc_cuda: upper bound on the device memory it reserves, in MiB (0: the device's free memory when it is built)")
XSMEM_OPTION(XSMEM_CUDA_RESERVE_PERCENT, "0", INT, "0..100", START, "bfc_cuda: reserve this percentage of the device's free memory up front, as one region that is also the limit (0: grow on demand)")
XSMEM_OPTION(XSMEM_CUDA_FAKE_DEVICE, "0", BYTES, "0..", START, "testing: a fake device of this size (host memory behind addresses of its own, fake streams) replaces CUDA for bfc_cuda, pinned and managed (0: off)")
XSMEM_OPTION(XSMEM_DEVICE_STREAM_CACHE, "256", INT, "0..1000000", START, "device configurations: blocks a stream keeps for its own reuse; past it they go, behind one event, to every stream")
XSMEM_OPTION(XSMEM_DEVICE_DUMP_ON_OOM, "1", BOOL, "", START, "device configurations: write the memory dump (device figures, then the regions and chunks) to stderr when a request first fails (later failures are counted, not printed)")
// pool (allocators/pool)
XSMEM_OPTION(XSMEM_POOL_LIMIT_MB, "64", INT, "1..1073741824", START, "pool: bytes of freed blocks kept for reuse, in MiB (the starting limit when auto-resize is on)")
XSMEM_OPTION(XSMEM_POOL_ROUNDING, "pow2", CHOICE, "none/pow2", START, "pool: size rounding of cached blocks: none (16-byte steps) or pow2 (powers of two up to 64 MiB, then eighths of one: at most 12.5% more)")
XSMEM_OPTION(XSMEM_POOL_AUTO_RESIZE, "1", BOOL, "", START, "pool: grow or shrink the limit from the observed hit and eviction rates")
// buddy and large (allocators/buddy, allocators/large)
XSMEM_OPTION(XSMEM_BUDDY_THP, "off", BOOL, "", START, "buddy (the default configuration's medium tier): advise blocks of a huge page or more MADV_HUGEPAGE (fewer faults for buffers that are filled; a sparsely touched block commits whole 2 MiB pages); off under XSMEM_HUGE_PAGES=off")
XSMEM_OPTION(XSMEM_BUDDY_REGION, "1g", BYTES, "4m..128t, power of 2", START, "buddy: bytes per region taken from the source (under ulimit -v at most an eighth of the limit); also the largest buddy block")
XSMEM_OPTION(XSMEM_LARGE_MIN, "512m", BYTES, "0..", START, "requests of at least this size skip the buddy tier and are mapped directly by the large tier")
XSMEM_OPTION(XSMEM_LARGE_CACHE, "1g", BYTES, "0..", START, "large: bytes of freed large mappings kept for reuse (0: unmap at once)")
XSMEM_OPTION(XSMEM_DECOMMIT_DELAY_MS, "1000", INT, "0..86400000", LIVE, "how long freed memory kept for reuse (empty small slabs, empty buddy regions, cached large mappings) stays before it goes back to the OS (0: at once)")
// small tier (allocators/tls_buckets)
XSMEM_OPTION(XSMEM_SMALL_MAX, "1m", BYTES, "1k..1m", START, "small tier: requests up to this size use thread-cached size classes")
XSMEM_OPTION(XSMEM_TLS_CACHE_BYTES, "32k", BYTES, "0..4m", START, "small tier: per-thread cache bound per size class, in bytes (up to 512 blocks; a class whose block is larger is not thread-cached; 0: none is); half of it moves per batch")
XSMEM_OPTION(XSMEM_TLS_SPARE_BYTES, "32k", BYTES, "0..", START, "small tier: per-thread bound on the bytes kept in spare batches (a second full list per class), all classes together")
XSMEM_OPTION(XSMEM_TLS_TOTAL_BYTES, "64m", BYTES, "0..", START, "small tier: process-wide bound on the bytes thread caches (each list counted at its bound, spare batches) and the global batch stacks hold; past it, batches leaving a thread go to the central lists (0: no bound)")
// export/ (snapshots, HTTP endpoint, alerts)
XSMEM_OPTION(XSMEM_SNAPSHOT, "", STR, "a path", START, "write a protobuf Snapshot of the allocators to this path at exit (%p: the process id)")
XSMEM_OPTION(XSMEM_SNAPSHOT_INTERVAL_MS, "0", INT, "0..86400000", START, "also append a snapshot every N ms (0: never; at least 10); XSMEM_SNAPSHOT is then a stream of checksummed snapshot records, the last taken at exit")
XSMEM_OPTION(XSMEM_HTTP, "", STR, "HOST:PORT", START, "serve /metrics, /api/* and the dashboard on HOST:PORT (HOST defaults to 127.0.0.1; PORT 0 picks one); the process says on stderr which pid serves which port")
XSMEM_OPTION(XSMEM_HTTP_TOKEN, "", STR, "a token", START, "require this token on every HTTP request, as Authorization: Bearer TOKEN or ?token=TOKEN (the dashboard passes its own ?token= on)")
XSMEM_OPTION(XSMEM_HTTP_TOKEN_FILE, "", STR, "a path", START, "read the HTTP token from this file (trailing white space dropped) when XSMEM_HTTP_TOKEN is unset; the endpoint does not start if it cannot be read")
XSMEM_OPTION(XSMEM_HTTP_ALLOW_HOSTS, "", STR, "host names, comma-separated", START, "comma-separated Host header names the endpoint accepts besides localhost, loopback addresses and its own address (* accepts any); other names get 403, so a web page cannot read the endpoint by DNS rebinding")
XSMEM_OPTION(XSMEM_HTTP_SHOW_CMDLINE, "0", BOOL, "", START, "serve the command line with its arguments over HTTP (by default the program is shown and its arguments, which may hold secrets, are hidden; snapshot files keep them)")
XSMEM_OPTION(XSMEM_HTTP_CHILDREN, "quiet", CHOICE, "quiet/next", START, "what a child that inherits XSMEM_HTTP from the process serving it does: quiet (does not serve) or next (serves on the next free port and says so)")
XSMEM_OPTION(XSMEM_HTTP_SERVER, "", STR, "PID ADDRESS", START, "set by the process serving XSMEM_HTTP for its children (PID ADDRESS): how a child knows it inherited the address; not meant to be set by hand")
XSMEM_OPTION(XSMEM_METRICS_CALL_SITES, "0", INT, "0..32", START, "the top N call sites (by live bytes, at most 32) in /metrics as xsmem_call_site_live_bytes{site=SYMBOL}; these series come and go as the ranking changes, so 0 (none) by default")
XSMEM_OPTION(XSMEM_ALERT_BYTES_IN_USE, "0", BYTES, "0..", LIVE, "alert when an allocator's bytes in use exceed this size (0: off)")
XSMEM_OPTION(XSMEM_ALERT_FRAGMENTATION, "", NUMBER, "0..1", LIVE, "alert when an allocator's fragmentation exceeds this fraction, e.g. 0.5 (empty or 0: off)")
XSMEM_OPTION(XSMEM_ALERT_ALLOC_RATE, "0", NUMBER, "0..", LIVE, "alert when allocations per second exceed this rate (0: off)")
XSMEM_OPTION(XSMEM_ALERT_POOL_HIT_RATE, "", NUMBER, "0..1", LIVE, "alert when an allocator's detail hits/(hits+misses) falls below this fraction (empty or 0: off)")
// tracking (tracker decorator: the *_tracked configurations)
XSMEM_OPTION(XSMEM_TRACK, "sample", CHOICE, "off/sample/full", START, "tracker mode: off (pass-through), sample (one allocation per XSMEM_TRACK_SAMPLE_BYTES, unbiased estimates) or full (every block: canaries, quarantine, double/foreign free)")
XSMEM_OPTION(XSMEM_TRACK_SAMPLE_BYTES, "2m", BYTES, "1..", START, "mean bytes allocated between two sampled allocations (geometric sampling; TCMalloc's default; 512k, jemalloc's, halves the estimates' error for about 3% more CPU at 1 GB/s of allocation)")
XSMEM_OPTION(XSMEM_TRACK_DEPTH, "32", INT, "1..64", START, "return addresses kept per call site")
XSMEM_OPTION(XSMEM_TRACK_UNWIND, "dwarf", CHOICE, "fp/backtrace/dwarf", START, "stack capture: dwarf (rule tables built once per module from .eh_frame: whole stacks without frame pointers, every frame checked to be code), fp (frame-pointer walk, 16-28 ns for 8 frames) or backtrace (glibc unwinder, 7-11 us)")
XSMEM_OPTION(XSMEM_TRACK_TIMELINE_MS, "10", INT, "1..86400000", START, "first interval between usage timeline points (ms); it doubles whenever the 512 points fill up (every other point is dropped)")
XSMEM_OPTION(XSMEM_TRACK_FREE_SITES, "0", BOOL, "", START, "full tracking: capture the call site of every free too, named in double-free and write-after-free reports (a stack capture per free)")
XSMEM_OPTION(XSMEM_LEAK_REPORT, "0", BOOL, "", LIVE, "print the leak report (unfreed blocks by call site) to stderr at exit")
XSMEM_OPTION(XSMEM_LEAK_REPORT_SITES, "20", INT, "1..256", LIVE, "call sites shown in the leak report")
XSMEM_OPTION(XSMEM_QUARANTINE_BYTES, "4m", BYTES, "0..", START, "freed bytes kept poisoned before reuse in full tracking (catches writes after free), in 8 stripes by thread: one thread fills at most an eighth; 0 disables")
XSMEM_OPTION(XSMEM_GUARD_SAMPLE_RATE, "0", INT, "0..", START, "guarded sampling: about one allocation in N (<= 1 page) placed against a guard page, protected after free; 0 disables (5000 is a production setting)")
XSMEM_OPTION(XSMEM_GUARD_SLOTS, "64", INT, "1..65536", START, "guarded pages live or in their after-free window at once")
XSMEM_OPTION(XSMEM_LEAK_SUPPRESS, "ld-linux,libtasn1,libgnutls", STR, "patterns, comma-separated", LIVE, "comma-separated patterns: leak sites whose first program frame (symbol or module; operator new and malloc are never a site's first frame) contains one are left out of the report")
XSMEM_OPTION(XSMEM_DEBUG_ROOT, "/usr/lib/debug", STR, "directories, colon-separated", LIVE, "where leak reports and the xsmem tools look for separate debug files (DIR/.build-id/ab/cdef.debug by build-id, DIR/MODULEDIR/NAME by .gnu_debuglink), as gdb's debug-file-directory")
XSMEM_OPTION(XSMEM_LEAK_SHOW_REACHABLE, "0", BOOL, "", LIVE, "full tracking: list still-reachable blocks (pointed to by globals, stacks or TLS) by call site in leak reports and snapshots, not only their total")
// Not options: names xsmem's tools, tests and CI set or read.
XSMEM_INTERNAL_NAME(XSMEM_OPTIONS, "platform/options.c: several options in one variable, name=value,...")
XSMEM_INTERNAL_NAME(XSMEM_LIB_DIR, "tools/libraries.c: where the xsmem command looks for preload libraries")
XSMEM_INTERNAL_NAME(XSMEM_TEST_CONFIG, "tests/conformance: the configuration under test")
XSMEM_INTERNAL_NAME(XSMEM_CONFORMANCE_OPS, "tests/conformance: the length of the random operation sequence")
XSMEM_INTERNAL_NAME(XSMEM_NO_INSTALL, "bazelw: skip the Debian package check")
XSMEM_INTERNAL_NAME(XSMEM_CI_FUZZ_SECONDS, ".ci/run: how long each fuzzer runs")
// clang-format on
