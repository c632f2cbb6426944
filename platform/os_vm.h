// platform/os_vm.h: address space and pages from the operating system.
//
// Model: a *reservation* is address space with no access and no memory behind
// it; *committing* part of it makes it readable and writable (the kernel backs
// it lazily, on first touch); *decommitting* gives the physical pages back while
// the range stays mapped and accessible (it reads as zeroes afterwards), so an
// allocator can reuse it without another system call; *releasing* returns the
// address space. xsmem_os_map is reserve + commit in one call.
//
// Alignment: any power of two up to 1 GiB (and beyond, address space allowing):
// the mapping is over-reserved and trimmed, so nothing is wasted.
//
// Huge pages: XSMEM_VM_HUGE asks for transparent huge pages (madvise
// MADV_HUGEPAGE); XSMEM_VM_HUGE_EXPLICIT asks for MAP_HUGETLB pages and falls
// back to transparent ones when the pool is empty. XSMEM_HUGE_PAGES=off|thp|explicit
// caps what callers get.
//
// Overcommit: mappings are made without MAP_NORESERVE, so the kernel applies
// its overcommit policy (vm.overcommit_memory) to them as it does to glibc's:
// under the heuristic (0) a mapping or commit larger than RAM + swap is
// refused, under strict accounting (2) one past the commit limit, and under 1
// nothing. xsmem_os_map is checked when it maps; a reservation costs nothing
// (PROT_NONE is not accounted) and is checked, and charged, when part of it
// is committed. A request the kernel would refuse glibc fails here too, with
// ENOMEM, instead of succeeding and meeting the OOM killer later.
//
// Address-space limits (RLIMIT_AS, ulimit -v): xsmem_os_as_limit reads the
// limit, and xsmem_os_fit_limit sizes a reservation to a share of it, so that
// one reservation (a region, a span) never takes the whole of a limited
// address space.
//
// Accounting: bytes reserved and committed are process-wide counters updated
// on every call, readable at any time (xsmem_os_counters).
// Thread-safety: every function may be called from any thread.
#ifndef XSMEM_PLATFORM_OS_VM_H_
#define XSMEM_PLATFORM_OS_VM_H_

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  XSMEM_VM_HUGE = 1u << 0,           // transparent huge pages (madvise)
  XSMEM_VM_HUGE_EXPLICIT = 1u << 1,  // MAP_HUGETLB, falling back to XSMEM_VM_HUGE
  XSMEM_VM_POPULATE = 1u << 2,       // fault the pages in now (MAP_POPULATE)
};

typedef struct xsmem_os_stats {
  size_t bytes_reserved;      // address space held (reserved or mapped)
  size_t bytes_committed;     // of which accessible and possibly backed
  size_t num_maps;            // mappings made since start
  size_t num_unmaps;          // mappings released since start
  size_t huge_explicit_maps;  // mappings served with MAP_HUGETLB pages
  size_t huge_fallbacks;      // MAP_HUGETLB requests served with THP instead
} xsmem_os_stats;

// Returns the base page size (4096 on x86-64 Linux).
size_t xsmem_os_page_size(void);

// Returns the default huge page size (from /proc/meminfo; 2 MiB if unknown).
size_t xsmem_os_huge_page_size(void);

// Returns a reservation of size bytes aligned to align, or NULL with errno set
// (ENOMEM; EINVAL for a bad alignment). REQUIRES: size > 0.
void *xsmem_os_reserve(size_t size, size_t align);

// Makes [p, p+size) of a reservation accessible. Returns false (errno set) on failure.
// REQUIRES: p and size page-aligned.
bool xsmem_os_commit(void *p, size_t size);

// Gives the physical pages of [p, p+size) back; the range stays accessible
// and reads as zeroes. REQUIRES: p and size page-aligned.
bool xsmem_os_decommit(void *p, size_t size);

// Makes [p, p+size) inaccessible (a guard). Does not change the accounting.
bool xsmem_os_protect(void *p, size_t size);

// Returns address space to the OS. `committed` is how much of it the caller
// still had committed (for the accounting).
void xsmem_os_release(void *p, size_t size, size_t committed);

// Returns a committed mapping of size bytes aligned to align (a power of two),
// or NULL with errno set. flags: XSMEM_VM_*. The memory is zeroed.
void *xsmem_os_map(size_t size, size_t align, unsigned flags);

// Releases a mapping made by xsmem_os_map (same size).
void xsmem_os_unmap(void *p, size_t size);

// Resizes a mapping made by xsmem_os_map from old_size to new_size keeping
// its contents (the kernel moves page tables; nothing is copied). With target
// NULL it resizes in place and fails when the address space after the
// mapping is taken; with target a reservation of new_size bytes from
// xsmem_os_reserve, the pages move onto it and the old range is released.
// Returns the mapping's new address, or NULL (errno set; p unchanged and the
// target still reserved). The counters follow. REQUIRES: sizes page multiples.
void *xsmem_os_remap(void *p, size_t old_size, size_t new_size, void *target);

// Fills *out with the process-wide counters.
void xsmem_os_counters(xsmem_os_stats *out);

// Huge-page policy in force (from XSMEM_HUGE_PAGES): 0 off, 1 thp, 2 explicit.
int xsmem_os_huge_policy(void);

// Returns the process's address-space limit in bytes (the soft RLIMIT_AS),
// SIZE_MAX when there is none. Read afresh on every call (one system call):
// for construction and failure paths, not fast paths.
size_t xsmem_os_as_limit(void);

// Returns want when the address space is not limited; else the largest power
// of two no greater than want nor than limit / share (at least min, a power
// of two). For reservations that must leave most of a limited address space
// to the program. REQUIRES: share > 0, min > 0.
size_t xsmem_os_fit_limit(size_t want, size_t share, size_t min);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_OS_VM_H_
