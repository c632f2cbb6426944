#include "platform/os_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "platform/base.h"
#include "platform/log.h"
#include "platform/options.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif

static _Atomic size_t g_reserved, g_committed, g_maps, g_unmaps, g_huge_explicit, g_huge_fallbacks;
static _Atomic size_t g_page_size, g_huge_size;
static _Atomic int g_huge_policy = -1;

size_t xsmem_os_page_size(void) {
  size_t ps = atomic_load_explicit(&g_page_size, memory_order_relaxed);
  if (XSMEM_UNLIKELY(ps == 0)) {
    long v = sysconf(_SC_PAGESIZE);
    ps = v > 0 ? (size_t)v : 4096;
    atomic_store_explicit(&g_page_size, ps, memory_order_relaxed);
  }
  return ps;
}

// Reads "Hugepagesize:    2048 kB" from /proc/meminfo without allocating.
static size_t read_huge_page_size(void) {
  int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 2 * XSMEM_MiB;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 2 * XSMEM_MiB;
  buf[n] = '\0';
  const char *p = strstr(buf, "Hugepagesize:");
  if (!p) return 2 * XSMEM_MiB;
  p += strlen("Hugepagesize:");
  while (*p == ' ') p++;
  size_t kb = 0;
  while (*p >= '0' && *p <= '9') kb = kb * 10 + (size_t)(*p++ - '0');
  return kb ? kb * XSMEM_KiB : 2 * XSMEM_MiB;
}

size_t xsmem_os_huge_page_size(void) {
  size_t hs = atomic_load_explicit(&g_huge_size, memory_order_relaxed);
  if (XSMEM_UNLIKELY(hs == 0)) {
    hs = read_huge_page_size();
    atomic_store_explicit(&g_huge_size, hs, memory_order_relaxed);
  }
  return hs;
}

int xsmem_os_huge_policy(void) {
  int p = atomic_load_explicit(&g_huge_policy, memory_order_relaxed);
  if (XSMEM_UNLIKELY(p < 0)) {
    static const char *const kChoices[] = {"off", "thp", "explicit"};
    p = xsmem_option_choice("XSMEM_HUGE_PAGES", kChoices, 3);
    atomic_store_explicit(&g_huge_policy, p, memory_order_relaxed);
  }
  return p;
}

// mmap of size bytes aligned to align: over-map by align and trim both ends.
// granule is the page size of the mapping (the huge page size for MAP_HUGETLB,
// whose mappings can only be trimmed in whole huge pages).
static void *map_aligned_granule(size_t size, size_t align, size_t granule, int prot, int flags) {
  if (align < granule) align = granule;
  size_t span = size;
  if (align > granule && __builtin_add_overflow(size, align - granule, &span)) {
    errno = ENOMEM;
    return NULL;
  }
  void *raw = mmap(NULL, span, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
  if (raw == MAP_FAILED) {
    errno = ENOMEM;
    return NULL;
  }
  uintptr_t start = (uintptr_t)raw;
  uintptr_t aligned = xsmem_align_up(start, align);
  size_t head = aligned - start;
  size_t tail = span - head - size;
  if (head) munmap(raw, head);
  if (tail) munmap((void *)(aligned + size), tail);
  return (void *)aligned;
}

// No MAP_NORESERVE: with it the kernel's overcommit heuristic (mode 0) skips
// the mapping, and a 64 TiB malloc would succeed here where glibc's fails
// (see os_vm.h). Without it a writable mapping is checked and charged to the
// commit count when it is made, a PROT_NONE reservation when mprotect makes
// part of it writable (xsmem_os_commit). The charge is bookkeeping: page
// faults and the cost of mmap are the same either way.
static void *map_aligned(size_t size, size_t align, int prot, int extra_flags) {
  return map_aligned_granule(size, align, xsmem_os_page_size(), prot, extra_flags);
}

static bool check_args(size_t *size, size_t align) {
  if (*size == 0 || !xsmem_is_pow2(align)) {
    errno = EINVAL;
    return false;
  }
  if (!xsmem_align_up_checked(*size, xsmem_os_page_size(), size)) {
    errno = ENOMEM;
    return false;
  }
  return true;
}

void *xsmem_os_reserve(size_t size, size_t align) {
  if (!check_args(&size, align)) return NULL;
  void *p = map_aligned(size, align, PROT_NONE, 0);
  if (p) {
    atomic_fetch_add_explicit(&g_reserved, size, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_maps, 1, memory_order_relaxed);
  }
  return p;
}

bool xsmem_os_commit(void *p, size_t size) {
  if (mprotect(p, size, PROT_READ | PROT_WRITE) != 0) {
    errno = ENOMEM;
    return false;
  }
  atomic_fetch_add_explicit(&g_committed, size, memory_order_relaxed);
  return true;
}

bool xsmem_os_decommit(void *p, size_t size) {
  if (madvise(p, size, MADV_DONTNEED) != 0) return false;
  atomic_fetch_sub_explicit(&g_committed, size, memory_order_relaxed);
  return true;
}

bool xsmem_os_protect(void *p, size_t size) { return mprotect(p, size, PROT_NONE) == 0; }

static _Atomic int g_release_failed_said;

void xsmem_os_release(void *p, size_t size, size_t committed) {
  size = xsmem_align_up(size, xsmem_os_page_size());
  if (XSMEM_UNLIKELY(munmap(p, size) != 0)) {
    // ENOMEM: unmapping part of a mapping splits it, past the process's limit
    // on mappings (vm.max_map_count; one mapping per block, as `os` makes,
    // reaches it). The memory still goes back (madvise splits nothing); the
    // address range stays reserved. Said once, not once per free.
    int err = errno;
    if (madvise(p, size, MADV_DONTNEED) == 0) atomic_fetch_sub_explicit(&g_committed, committed, memory_order_relaxed);
    if (!atomic_exchange_explicit(&g_release_failed_said, 1, memory_order_relaxed)) {
      xsmem_log(
          "munmap(%p, %zu) failed (errno %d%s): its pages were given back with madvise and the range stays "
          "reserved, here and in later failures (said once)",
          p, size, err, err == ENOMEM ? ": the process's limit on mappings, vm.max_map_count" : "");
    }
    return;
  }
  atomic_fetch_sub_explicit(&g_reserved, size, memory_order_relaxed);
  atomic_fetch_sub_explicit(&g_committed, committed, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_unmaps, 1, memory_order_relaxed);
}

// Tries MAP_HUGETLB; returns NULL when the huge page pool cannot serve it.
static void *map_explicit_huge(size_t size, size_t align) {
  size_t hs = xsmem_os_huge_page_size();
  if (size % hs != 0) return NULL;
  // No MAP_NORESERVE: the kernel must reserve the huge pages now, or a later
  // first touch would die of SIGBUS when the pool runs dry.
  void *p = map_aligned_granule(size, align, hs, PROT_READ | PROT_WRITE, MAP_HUGETLB);
  if (p) atomic_fetch_add_explicit(&g_huge_explicit, 1, memory_order_relaxed);
  return p;
}

void *xsmem_os_map(size_t size, size_t align, unsigned flags) {
  if (!check_args(&size, align)) return NULL;
  int policy = xsmem_os_huge_policy();
  void *p = NULL;
  if ((flags & XSMEM_VM_HUGE_EXPLICIT) && policy == 2) {
    p = map_explicit_huge(size, align);
    if (!p) {
      atomic_fetch_add_explicit(&g_huge_fallbacks, 1, memory_order_relaxed);
      flags |= XSMEM_VM_HUGE;
    }
  }
  if (!p) {
    int extra = (flags & XSMEM_VM_POPULATE) ? MAP_POPULATE : 0;
    p = map_aligned(size, align, PROT_READ | PROT_WRITE, extra);
    if (!p) return NULL;
    if ((flags & (XSMEM_VM_HUGE | XSMEM_VM_HUGE_EXPLICIT)) && policy >= 1) {
      madvise(p, size, MADV_HUGEPAGE);  // advice only: failure changes nothing
    }
  }
  atomic_fetch_add_explicit(&g_reserved, size, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_committed, size, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_maps, 1, memory_order_relaxed);
  return p;
}

void xsmem_os_unmap(void *p, size_t size) { xsmem_os_release(p, size, xsmem_align_up(size, xsmem_os_page_size())); }

void *xsmem_os_remap(void *p, size_t old_size, size_t new_size, void *target) {
  void *q =
      target ? mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target) : mremap(p, old_size, new_size, 0);
  if (q == MAP_FAILED) {
    errno = ENOMEM;
    return NULL;
  }
  if (target) {
    // The reservation (counted reserved) is now committed; the old mapping is gone.
    atomic_fetch_sub_explicit(&g_reserved, old_size, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_committed, new_size - old_size, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_unmaps, 1, memory_order_relaxed);
  } else {
    atomic_fetch_add_explicit(&g_reserved, new_size - old_size, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_committed, new_size - old_size, memory_order_relaxed);
  }
  return q;
}

size_t xsmem_os_as_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)SIZE_MAX) {
    return SIZE_MAX;
  }
  return (size_t)rl.rlim_cur;
}

size_t xsmem_os_fit_limit(size_t want, size_t share, size_t min) {
  size_t limit = xsmem_os_as_limit();
  if (limit == SIZE_MAX) return want;
  size_t cap = limit / share;
  size_t fit = want;
  if (fit > cap) fit = cap;
  fit = fit ? (size_t)1 << xsmem_log2_floor(fit) : 0;
  return fit < min ? min : fit;
}

void xsmem_os_counters(xsmem_os_stats *out) {
  out->bytes_reserved = atomic_load_explicit(&g_reserved, memory_order_relaxed);
  out->bytes_committed = atomic_load_explicit(&g_committed, memory_order_relaxed);
  out->num_maps = atomic_load_explicit(&g_maps, memory_order_relaxed);
  out->num_unmaps = atomic_load_explicit(&g_unmaps, memory_order_relaxed);
  out->huge_explicit_maps = atomic_load_explicit(&g_huge_explicit, memory_order_relaxed);
  out->huge_fallbacks = atomic_load_explicit(&g_huge_fallbacks, memory_order_relaxed);
}
