// platform/options_list.h: every XSMEM_* environment option, in one table.
//
// XSMEM_OPTION(name, default, "one-line description"). The README's option
// table is checked against this list by //tests/platform:readme_options_test;
// add a row here and there together. Values are read once, at first use.
// Sizes accept k/m/g suffixes; booleans accept 1/0, on/off, true/false, yes/no.

// Core (registry, shim, error reporting)
XSMEM_OPTION(XSMEM_CONFIG, "", "configuration used by the malloc shim when several are linked in (default: the one the library was built for)")
XSMEM_OPTION(XSMEM_ON_ERROR, "abort", "what a bad free or corrupted block does after its report: abort or warn")
XSMEM_OPTION(XSMEM_STATS_AT_EXIT, "0", "print the process allocator's statistics to stderr at exit")
XSMEM_OPTION(XSMEM_VERBOSE, "0", "log configuration choices and fallbacks to stderr")
// os_vm
XSMEM_OPTION(XSMEM_HUGE_PAGES, "thp", "huge pages for large mappings: off, thp (madvise) or explicit (MAP_HUGETLB, falls back to thp)")
// numa (numa/, configurations bfc_numa and numa)
XSMEM_OPTION(XSMEM_NUMA, "local", "NUMA placement: off (no binding, one node), local (memory from the calling thread's node) or interleave (over every node)")
XSMEM_OPTION(XSMEM_NUMA_BIND, "bind", "how node-bound regions are bound before first touch: bind (MPOL_BIND, strict) or preferred (MPOL_PREFERRED)")
XSMEM_OPTION(XSMEM_NUMA_FALLBACK, "on", "when the caller's node is exhausted, serve from the nearest other node (on) or fail with ENOMEM (off)")
XSMEM_OPTION(XSMEM_NUMA_NODE_LIMIT, "0", "bytes each node's source may map (0: no limit); reaching it counts as the node being exhausted")
XSMEM_OPTION(XSMEM_NUMA_INTERLEAVE_MIN, "0", "requests of at least this size are served from interleaved memory (0: never)")
XSMEM_OPTION(XSMEM_NUMA_SPAN, "256g", "address space reserved per node (halved until the reservation succeeds)")
XSMEM_OPTION(XSMEM_NUMA_FAKE_NODES, "0", "testing: pretend to have this many nodes; binding is recorded instead of performed")
// bfc (allocators/bfc)
XSMEM_OPTION(XSMEM_BFC_LIMIT_MB, "0", "bfc: upper bound on bytes reserved from the source, in MiB (0: half of physical memory)")
XSMEM_OPTION(XSMEM_BFC_RESERVE_ALL, "0", "bfc: map the whole limit as one region up front")
XSMEM_OPTION(XSMEM_BFC_GC, "0", "bfc: give a region back to the source as soon as it is wholly free (one is kept)")
XSMEM_OPTION(XSMEM_BFC_INITIAL_REGION, "2m", "bfc: size of the first region; each new region doubles it while the limit allows")
XSMEM_OPTION(XSMEM_BFC_SPLIT_SLACK, "1k", "bfc: split a chunk when the remainder is at least this (it is always split at twice the request)")
XSMEM_OPTION(XSMEM_BFC_DUMP_ON_OOM, "1", "bfc: write the memory dump (bins, regions, chunks) to stderr when a request within the limit fails")
// pool (allocators/pool)
XSMEM_OPTION(XSMEM_POOL_LIMIT_MB, "64", "pool: bytes of freed blocks kept for reuse, in MiB (the starting limit when auto-resize is on)")
XSMEM_OPTION(XSMEM_POOL_ROUNDING, "pow2", "pool: size rounding of cached blocks: none (16-byte steps) or pow2")
XSMEM_OPTION(XSMEM_POOL_AUTO_RESIZE, "1", "pool: grow or shrink the limit from the observed hit and eviction rates")
// buddy and large (allocators/buddy, allocators/large)
XSMEM_OPTION(XSMEM_BUDDY_REGION, "1g", "buddy: bytes per region taken from the source (a power of two >= 4m); also the largest buddy block")
XSMEM_OPTION(XSMEM_LARGE_MIN, "64m", "requests of at least this size skip the buddy tier and are mapped directly by the large tier")
XSMEM_OPTION(XSMEM_LARGE_CACHE, "256m", "large: bytes of freed large mappings kept for reuse (0: unmap at once)")
XSMEM_OPTION(XSMEM_DECOMMIT_DELAY_MS, "1000", "how long freed memory kept for reuse (empty small slabs, empty buddy regions, cached large mappings) stays before it goes back to the OS")
// small tier (allocators/tls_buckets)
XSMEM_OPTION(XSMEM_SMALL_MAX, "256k", "small tier: requests up to this size use thread-cached size classes (1k..1m)")
XSMEM_OPTION(XSMEM_TLS_CACHE_BYTES, "64k", "small tier: per-thread cache bound per size class, in bytes (2..128 blocks)")
