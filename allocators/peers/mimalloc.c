// mimalloc (Debian's libmimalloc2.0) behind the xsmem interface.
#include <mimalloc.h>

#include "allocators/peers/peer_internal.h"

typedef struct mimalloc_allocator {
  xsmem_allocator base;
  xsmem_counters counters;
} mimalloc_allocator;

static void *mim_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  mimalloc_allocator *m = (mimalloc_allocator *)a;
  if (XSMEM_UNLIKELY(!xsmem_peer_check(&m->counters, size, align))) return NULL;
  size_t n = xsmem_peer_request_size(size);
  void *p;
  if (XSMEM_LIKELY(align <= XSMEM_MIN_ALIGN)) {
    p = (flags & XSMEM_ALLOC_ZERO) ? mi_zalloc(n) : mi_malloc(n);
  } else {
    p = (flags & XSMEM_ALLOC_ZERO) ? mi_zalloc_aligned(n, align) : mi_malloc_aligned(n, align);
    if (XSMEM_UNLIKELY(p && !xsmem_is_aligned(p, align))) {
      // mimalloc 2.0.9 misaligns a small block whose size is a multiple of the
      // alignment (seen: align 256..1024, size <= 1 KiB); a size past its small
      // range takes the path that honours the alignment.
      mi_free(p);
      n = XSMEM_MAX(n, (size_t)1024) + 1;
      p = (flags & XSMEM_ALLOC_ZERO) ? mi_zalloc_aligned(n, align) : mi_malloc_aligned(n, align);
    }
  }
  if (XSMEM_UNLIKELY(!p)) {
    xsmem_counters_note_failed(&m->counters);
    return NULL;
  }
  xsmem_counters_note_alloc(&m->counters, size, mi_usable_size(p));
  return p;
}

static void mim_free(xsmem_allocator *a, void *p, size_t size) {
  mimalloc_allocator *m = (mimalloc_allocator *)a;
  xsmem_counters_note_free(&m->counters, mi_usable_size(p));
  mi_free(p);
}

static size_t mim_usable(const xsmem_allocator *a, const void *p) { return mi_usable_size(p); }

static void *mim_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  mimalloc_allocator *m = (mimalloc_allocator *)a;
  if (XSMEM_UNLIKELY(!xsmem_peer_check(&m->counters, size, 1))) return NULL;
  size_t old = mi_usable_size(p);
  void *q = mi_realloc(p, xsmem_peer_request_size(size));
  if (XSMEM_UNLIKELY(!q)) {
    xsmem_counters_note_failed(&m->counters);
    return NULL;
  }
  // Counted as a free of the old block and an allocation of the new one.
  xsmem_counters_note_free(&m->counters, old);
  xsmem_counters_note_alloc(&m->counters, size, mi_usable_size(q));
  return q;
}

typedef struct mim_info {
  size_t elapsed_ms, user_ms, system_ms, rss, peak_rss, commit, peak_commit, page_faults;
} mim_info;

static mim_info mim_process_info(void) {
  mim_info i = {0};
  mi_process_info(&i.elapsed_ms, &i.user_ms, &i.system_ms, &i.rss, &i.peak_rss, &i.commit, &i.peak_commit,
                  &i.page_faults);
  return i;
}

static void mim_stats(const xsmem_allocator *a, xsmem_stats *out) {
  xsmem_counters_fill_stats(&((const mimalloc_allocator *)a)->counters, out);
  out->bytes_reserved = mim_process_info().commit;  // mimalloc's own committed bytes
}

static void mim_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  mim_info i = mim_process_info();
  xsmem_peer_detail(sink, "mimalloc", "committed", "gauge", (double)i.commit);
  xsmem_peer_detail(sink, "mimalloc", "peak_committed", "gauge", (double)i.peak_commit);
  xsmem_peer_detail(sink, "mimalloc", "process_rss", "gauge", (double)i.rss);
  xsmem_peer_detail(sink, "mimalloc", "process_peak_rss", "gauge", (double)i.peak_rss);
  xsmem_peer_detail(sink, "mimalloc", "process_page_faults", "counter", (double)i.page_faults);
}

// Collects every heap's free pages; returns the drop in committed bytes.
static size_t mim_trim(xsmem_allocator *a, size_t goal_bytes) {
  size_t before = mim_process_info().commit;
  mi_collect(true);
  size_t after = mim_process_info().commit;
  return before > after ? before - after : 0;
}

static const xsmem_allocator_ops kMimallocOps = {
    .kind = "mimalloc",
    .alloc = mim_alloc,
    .free = mim_free,
    .usable_size = mim_usable,
    // No owns: mi_is_in_heap_region answered false for live blocks under ASan
    // (its segment map misses segments mapped where ASan's layout puts them),
    // and mi_check_owned walks every heap page. Neither is a cheap exact answer.
    .realloc = mim_realloc,
    .stats = mim_stats,
    .trim = mim_trim,
    .detail = mim_detail,
};

// Constant-initialised: nothing to build, so nothing can race.
static mimalloc_allocator g_mimalloc = {.base = {.ops = &kMimallocOps, .name = "mimalloc"}};

xsmem_allocator *xsmem_mimalloc_allocator(void) { return &g_mimalloc.base; }
