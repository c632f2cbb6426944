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
