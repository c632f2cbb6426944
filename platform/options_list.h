// platform/options_list.h: every XSMEM_* environment option, in one table.
//
// XSMEM_OPTION(name, default, "one-line description"). The README's option
// table is checked against this list by //tests/platform:readme_options_test;
// add a row here and there together. Values are read once, at first use.
// Sizes accept k/m/g suffixes; booleans accept 1/0, on/off, true/false, yes/no.

// Core (registry, shim, error reporting)
XSMEM_OPTION(
    XSMEM_CONFIG, "",
    "configuration used by the malloc shim when several are linked in (default: the one the library was built for)")
XSMEM_OPTION(XSMEM_ON_ERROR, "abort", "what a bad free or corrupted block does after its report: abort or warn")
XSMEM_OPTION(XSMEM_STATS_AT_EXIT, "0", "print the process allocator's statistics to stderr at exit")
XSMEM_OPTION(XSMEM_VERBOSE, "0", "log configuration choices and fallbacks to stderr")
// os_vm
XSMEM_OPTION(XSMEM_HUGE_PAGES, "thp",
             "huge pages for large mappings: off, thp (madvise) or explicit (MAP_HUGETLB, falls back to thp)")
// numa (numa/, configurations bfc_numa and numa)
XSMEM_OPTION(XSMEM_NUMA, "local",
             "NUMA placement: off (no binding, one node), local (memory from the calling thread's node) or interleave "
             "(over every node)")
XSMEM_OPTION(
    XSMEM_NUMA_BIND, "bind",
    "how node-bound regions are bound before first touch: bind (MPOL_BIND, strict) or preferred (MPOL_PREFERRED)")
XSMEM_OPTION(XSMEM_NUMA_FALLBACK, "on",
             "when the caller's node is exhausted, serve from the nearest other node (on) or fail with ENOMEM (off)")
XSMEM_OPTION(XSMEM_NUMA_NODE_LIMIT, "0",
             "bytes each node's source may map (0: no limit), address space not memory: a 4 MiB segment per small size "
             "class in use, and buddy regions (shrunk to a quarter of the limit), so a Python-sized program needs "
             "256m; reaching it counts as the node being exhausted")
XSMEM_OPTION(XSMEM_NUMA_INTERLEAVE_MIN, "0",
             "requests of at least this size are served from interleaved memory (0: never)")
XSMEM_OPTION(
    XSMEM_NUMA_SPAN, "256g",
    "address space reserved per node (halved until the reservation succeeds; under ulimit -v the spans together take "
    "at most an eighth of it, and none is made below 64m; a region that does not fit its span is mapped outside it)")
XSMEM_OPTION(XSMEM_NUMA_FAKE_NODES, "0",
             "testing: pretend to have this many nodes; binding is recorded instead of performed")
// bfc (allocators/bfc)
XSMEM_OPTION(XSMEM_BFC_LIMIT_MB, "0",
             "bfc: upper bound on bytes reserved from the source, in MiB (0: half of physical memory)")
XSMEM_OPTION(XSMEM_BFC_RESERVE_ALL, "0", "bfc: map the whole limit as one region up front")
XSMEM_OPTION(XSMEM_BFC_GC, "0", "bfc: give a region back to the source as soon as it is wholly free (one is kept)")
XSMEM_OPTION(XSMEM_BFC_INITIAL_REGION, "2m",
             "bfc: size of the first region; each new region doubles it while the limit allows")
XSMEM_OPTION(XSMEM_BFC_SPLIT_SLACK, "1k",
             "bfc: split a chunk when the remainder is at least this (it is always split at twice the request)")
XSMEM_OPTION(XSMEM_BFC_DUMP_ON_OOM, "1",
             "bfc: write the memory dump (bins, regions, chunks) to stderr when a request within the limit first fails "
             "(later failures are counted, not printed)")
// pool (allocators/pool)
XSMEM_OPTION(XSMEM_POOL_LIMIT_MB, "64",
             "pool: bytes of freed blocks kept for reuse, in MiB (the starting limit when auto-resize is on)")
XSMEM_OPTION(XSMEM_POOL_ROUNDING, "pow2",
             "pool: size rounding of cached blocks: none (16-byte steps) or pow2 (powers of two up to 64 MiB, then "
             "eighths of one: at most 12.5% more)")
XSMEM_OPTION(XSMEM_POOL_AUTO_RESIZE, "1", "pool: grow or shrink the limit from the observed hit and eviction rates")
// buddy and large (allocators/buddy, allocators/large)
XSMEM_OPTION(
    XSMEM_BUDDY_THP, "off",
    "buddy (the default configuration's medium tier): advise blocks of a huge page or more MADV_HUGEPAGE (fewer faults "
    "for buffers that are filled; a sparsely touched block commits whole 2 MiB pages); off under XSMEM_HUGE_PAGES=off")
XSMEM_OPTION(XSMEM_BUDDY_REGION, "1g",
             "buddy: bytes per region taken from the source (a power of two >= 4m; under ulimit -v at most an eighth "
             "of the limit); also the largest buddy block")
XSMEM_OPTION(XSMEM_LARGE_MIN, "512m",
             "requests of at least this size skip the buddy tier and are mapped directly by the large tier")
XSMEM_OPTION(XSMEM_LARGE_CACHE, "1g", "large: bytes of freed large mappings kept for reuse (0: unmap at once)")
XSMEM_OPTION(XSMEM_DECOMMIT_DELAY_MS, "1000",
             "how long freed memory kept for reuse (empty small slabs, empty buddy regions, cached large mappings) "
             "stays before it goes back to the OS")
// small tier (allocators/tls_buckets)
XSMEM_OPTION(XSMEM_SMALL_MAX, "1m", "small tier: requests up to this size use thread-cached size classes (1k..1m)")
XSMEM_OPTION(XSMEM_TLS_CACHE_BYTES, "32k",
             "small tier: per-thread cache bound per size class, in bytes (up to 512 blocks; a class whose block is "
             "larger is not thread-cached); half of it moves per batch")
XSMEM_OPTION(XSMEM_TLS_SPARE_BYTES, "32k",
             "small tier: per-thread bound on the bytes kept in spare batches (a second full list per class), all "
             "classes together")
XSMEM_OPTION(
    XSMEM_TLS_TOTAL_BYTES, "64m",
    "small tier: process-wide bound on the bytes thread caches (each list counted at its bound, spare batches) and the "
    "global batch stacks hold; past it, batches leaving a thread go to the central lists (0: no bound)")
// export/ (snapshots, HTTP endpoint, alerts)
XSMEM_OPTION(XSMEM_SNAPSHOT, "",
             "write a protobuf Snapshot of the allocators to this path at exit (%p: the process id)")
XSMEM_OPTION(XSMEM_SNAPSHOT_INTERVAL_MS, "0",
             "also append a snapshot every N ms; XSMEM_SNAPSHOT is then a stream of checksummed snapshot records, the "
             "last taken at exit")
XSMEM_OPTION(XSMEM_HTTP, "",
             "serve /metrics, /api/* and the dashboard on HOST:PORT (HOST defaults to 127.0.0.1; PORT 0 picks one); "
             "the process says on stderr which pid serves which port")
XSMEM_OPTION(XSMEM_HTTP_TOKEN, "",
             "require this token on every HTTP request, as Authorization: Bearer TOKEN or ?token=TOKEN (the dashboard "
             "passes its own ?token= on)")
XSMEM_OPTION(XSMEM_HTTP_TOKEN_FILE, "",
             "read the HTTP token from this file (trailing white space dropped) when XSMEM_HTTP_TOKEN is unset; the "
             "endpoint does not start if it cannot be read")
XSMEM_OPTION(XSMEM_HTTP_ALLOW_HOSTS, "",
             "comma-separated Host header names the endpoint accepts besides localhost, loopback addresses and its own "
             "address (* accepts any); other names get 403, so a web page cannot read the endpoint by DNS rebinding")
XSMEM_OPTION(XSMEM_HTTP_SHOW_CMDLINE, "0",
             "serve the command line with its arguments over HTTP (by default the program is shown and its arguments, "
             "which may hold secrets, are hidden; snapshot files keep them)")
XSMEM_OPTION(XSMEM_HTTP_CHILDREN, "quiet",
             "what a child that inherits XSMEM_HTTP from the process serving it does: quiet (does not serve) or next "
             "(serves on the next free port and says so)")
XSMEM_OPTION(XSMEM_HTTP_SERVER, "",
             "set by the process serving XSMEM_HTTP for its children (PID ADDRESS): how a child knows it inherited the "
             "address; not meant to be set by hand")
XSMEM_OPTION(XSMEM_ALERT_BYTES_IN_USE, "0", "alert when an allocator's bytes in use exceed this size (0: off)")
XSMEM_OPTION(XSMEM_ALERT_FRAGMENTATION, "",
             "alert when an allocator's fragmentation exceeds this fraction, e.g. 0.5 (empty: off)")
XSMEM_OPTION(XSMEM_ALERT_ALLOC_RATE, "0", "alert when allocations per second exceed this rate (0: off)")
XSMEM_OPTION(XSMEM_ALERT_POOL_HIT_RATE, "",
             "alert when an allocator's detail hits/(hits+misses) falls below this fraction (empty: off)")
// tracking (tracker decorator: the *_tracked configurations)
XSMEM_OPTION(XSMEM_TRACK, "sample",
             "tracker mode: off (pass-through), sample (one allocation per XSMEM_TRACK_SAMPLE_BYTES, unbiased "
             "estimates) or full (every block: canaries, quarantine, double/foreign free)")
XSMEM_OPTION(XSMEM_TRACK_SAMPLE_BYTES, "2m",
             "mean bytes allocated between two sampled allocations (geometric sampling; TCMalloc's default; 512k, "
             "jemalloc's, halves the estimates' error for about 3% more CPU at 1 GB/s of allocation)")
XSMEM_OPTION(XSMEM_TRACK_DEPTH, "8", "return addresses kept per call site (1..16)")
XSMEM_OPTION(XSMEM_TRACK_UNWIND, "fp",
             "stack capture: fp (frame-pointer walk, 16-28 ns for 8 frames) or backtrace (glibc unwinder, exact "
             "without frame pointers, 7-11 us)")
XSMEM_OPTION(XSMEM_TRACK_TIMELINE_MS, "10",
             "first interval between usage timeline points (ms); it doubles whenever the 512 points fill up (every "
             "other point is dropped)")
XSMEM_OPTION(XSMEM_TRACK_FREE_SITES, "0",
             "full tracking: capture the call site of every free too, named in double-free and write-after-free "
             "reports (a stack capture per free)")
XSMEM_OPTION(XSMEM_LEAK_REPORT, "0", "print the leak report (unfreed blocks by call site) to stderr at exit")
XSMEM_OPTION(XSMEM_LEAK_REPORT_SITES, "20", "call sites shown in the leak report")
XSMEM_OPTION(XSMEM_QUARANTINE_BYTES, "4m",
             "freed bytes kept poisoned before reuse in full tracking (catches writes after free), in 8 stripes by "
             "thread: one thread fills at most an eighth; 0 disables")
XSMEM_OPTION(XSMEM_GUARD_SAMPLE_RATE, "0",
             "guarded sampling: about one allocation in N (<= 1 page) placed against a guard page, protected after "
             "free; 0 disables (5000 is a production setting)")
XSMEM_OPTION(XSMEM_GUARD_SLOTS, "64", "guarded pages live or in their after-free window at once")
XSMEM_OPTION(XSMEM_LEAK_SUPPRESS, "libstdc++.so,ld-linux,libtasn1,libgnutls",
             "comma-separated patterns: leak sites whose first program frame (symbol or module) contains one are left "
             "out of the report")
