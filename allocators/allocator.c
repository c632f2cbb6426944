// Generic parts of the allocator interface: slow paths, realloc, stats text,
// bad-pointer reports.
#include "allocators/allocator.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "platform/log.h"
#include "platform/options.h"

void *xsmem_alloc_slow(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  void *p = NULL;
  if ((flags & XSMEM_ALLOC_RETRY) && a->ops->trim) {
    a->ops->trim(a, SIZE_MAX);
    p = a->ops->alloc(a, size, align, flags);
  }
  if (!p && (flags & XSMEM_ALLOC_NOFAIL)) {
    xsmem_fatal("allocator '%s' could not allocate %zu bytes (alignment %zu) and the request may not fail", a->name,
                size, align);
  }
  if (!p) errno = ENOMEM;
  return p;
}

void *xsmem_realloc(xsmem_allocator *a, void *p, size_t size) {
  if (!p) return xsmem_alloc(a, size, XSMEM_MIN_ALIGN, 0);
  if (size == 0) {
    a->ops->free(a, p, 0);
    return NULL;
  }
  if (a->ops->realloc) return a->ops->realloc(a, p, size, 0);
  size_t usable = a->ops->usable_size(a, p);
  // A bad pointer (usable_size reported it) is refused, as the fronts' own
  // reallocs do, rather than replaced by a new block with none of its bytes.
  if (XSMEM_UNLIKELY(usable == 0) && a->ops->owns && !a->ops->owns(a, p)) {
    errno = EINVAL;
    return NULL;
  }
  // Keep the block when the new size fits and wastes at most half of it.
  if (size <= usable && size >= usable / 2) return p;
  return xsmem_move_block(a, p, usable, a->ops->alloc(a, size, XSMEM_MIN_ALIGN, 0), size);
}

void *xsmem_malloc_via_ops(xsmem_allocator *a, size_t n) {
  void *p = a->ops->alloc(a, n, XSMEM_MIN_ALIGN, 0);
  if (XSMEM_UNLIKELY(!p)) errno = ENOMEM;
  return p;
}

void *xsmem_move_block(xsmem_allocator *from, void *p, size_t have, void *q, size_t size) {
  if (!q) {
    errno = ENOMEM;
    return NULL;
  }
  memcpy(q, p, size < have ? size : have);
  from->ops->free(from, p, 0);
  return q;
}

xsmem_stats xsmem_get_stats(const xsmem_allocator *a) {
  xsmem_stats s = xsmem_stats_init();
  if (a && a->ops->stats) a->ops->stats(a, &s);
  s.fragmentation = xsmem_fragmentation_of(s.bytes_in_use, s.bytes_cached);
  return s;
}

void xsmem_stats_add_counts(xsmem_stats *out, const xsmem_stats *part) {
  out->num_allocs += part->num_allocs;
  out->num_frees += part->num_frees;
  out->num_failed += part->num_failed;
  out->bytes_in_use += part->bytes_in_use;
  out->peak_bytes_in_use += part->peak_bytes_in_use;
  out->bytes_reserved += part->bytes_reserved;
  out->bytes_metadata += part->bytes_metadata;
  out->largest_alloc_size = XSMEM_MAX(out->largest_alloc_size, part->largest_alloc_size);
}

void xsmem_stats_add_tier(xsmem_stats *out, const xsmem_stats *tier) {
  xsmem_stats_add_counts(out, tier);
  uint64_t held = tier->bytes_in_use + tier->bytes_metadata;
  uint64_t committed = tier->bytes_committed ? tier->bytes_committed : held + tier->bytes_cached;
  committed = XSMEM_MAX(committed, held);
  out->bytes_committed += committed;
  out->bytes_cached += committed - held;
}

__thread unsigned xsmem_query_depth_;

static _Atomic uint64_t g_bad_pointers;
static _Atomic int g_on_error = -1;      // 0 abort, 1 warn
static _Atomic uint64_t g_on_error_gen;  // xsmem_options_generation() when g_on_error was read

void xsmem_report_bad_pointer(const char *allocator, const char *op, const void *p, const char *what) {
  atomic_fetch_add_explicit(&g_bad_pointers, 1, memory_order_relaxed);
  // A query changes nothing, so nothing can be lost by answering it: a
  // foreign pointer's usable size is reported and answered 0, as glibc's
  // malloc_usable_size answers it, never an abort. (realloc's own look at a
  // block's size is no query: it goes on to change the block.)
  if (xsmem_query_depth_) {
    xsmem_log("error: %s(%p) in allocator '%s': %s (answered 0)", op, p, allocator, what);
    return;
  }
  // Read once, and again after xsmem_option_set changed an option (it is LIVE).
  int mode = atomic_load_explicit(&g_on_error, memory_order_relaxed);
  uint64_t gen = xsmem_options_generation();
  if (mode < 0 || gen != atomic_load_explicit(&g_on_error_gen, memory_order_relaxed)) {
    static const char *const kChoices[] = {"abort", "warn"};
    mode = xsmem_option_choice("XSMEM_ON_ERROR", kChoices, 2);
    atomic_store_explicit(&g_on_error, mode, memory_order_relaxed);
    atomic_store_explicit(&g_on_error_gen, gen, memory_order_relaxed);
  }
  if (mode == 1) {
    xsmem_log("error: %s(%p) in allocator '%s': %s (ignored: XSMEM_ON_ERROR=warn)", op, p, allocator, what);
    return;
  }
  xsmem_fatal("error: %s(%p) in allocator '%s': %s (set XSMEM_ON_ERROR=warn to continue)", op, p, allocator, what);
}

uint64_t xsmem_bad_pointer_count(void) { return atomic_load_explicit(&g_bad_pointers, memory_order_relaxed); }
