// tcmalloc (gperftools' libtcmalloc_minimal) behind the xsmem interface.
#include <gperftools/malloc_extension_c.h>
#include <gperftools/nallocx.h>
#include <gperftools/tcmalloc.h>
#include <string.h>

#include "allocators/peers/peer_internal.h"

typedef struct tcmalloc_allocator {
  xsmem_allocator base;
  xsmem_counters counters;
} tcmalloc_allocator;

static void *tc_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  tcmalloc_allocator *t = (tcmalloc_allocator *)a;
  // Checked first: tcmalloc prints a warning for (and may abort on) impossible sizes.
  if (XSMEM_UNLIKELY(!xsmem_peer_check(&t->counters, size, align))) return NULL;
  size_t n = xsmem_peer_request_size(size);
  void *p;
  if (XSMEM_LIKELY(align <= XSMEM_MIN_ALIGN)) {
    p = (flags & XSMEM_ALLOC_ZERO) ? tc_calloc(1, n) : tc_malloc(n);
  } else {
    p = tc_memalign(align, n);
    if (p && (flags & XSMEM_ALLOC_ZERO)) memset(p, 0, n);
  }
  if (XSMEM_UNLIKELY(!p)) {
    xsmem_counters_note_failed(&t->counters);
    return NULL;
  }
  // tc_malloc_size would build tcmalloc's MallocExtension with operator new on
  // first use, which (routed to malloc) recurses into here; tc_nallocx gives
  // the same granted size (checked for every class and alignment) without it.
  xsmem_counters_note_alloc(&t->counters, size,
                            tc_nallocx(n, align <= XSMEM_MIN_ALIGN ? 0 : (int)xsmem_log2_floor(align)));
  return p;
}

static void tc_release(xsmem_allocator *a, void *p, size_t size) {
  tcmalloc_allocator *t = (tcmalloc_allocator *)a;
  xsmem_counters_note_free(&t->counters, tc_malloc_size(p));
  tc_free(p);
}

static size_t tc_usable(const xsmem_allocator *a, const void *p) { return tc_malloc_size((void *)p); }

// tcmalloc's page map knows every page it handed out.
static bool tc_owns(const xsmem_allocator *a, const void *p) {
  return MallocExtension_GetOwnership(p) == MallocExtension_kOwned;
}

static void *tc_resize(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  tcmalloc_allocator *t = (tcmalloc_allocator *)a;
  if (XSMEM_UNLIKELY(!xsmem_peer_check(&t->counters, size, 1))) return NULL;
  size_t old = tc_malloc_size(p);
  void *q = tc_realloc(p, xsmem_peer_request_size(size));
  if (XSMEM_UNLIKELY(!q)) {
    xsmem_counters_note_failed(&t->counters);
    return NULL;
  }
  // Counted as a free of the old block and an allocation of the new one.
  xsmem_counters_note_free(&t->counters, old);
  xsmem_counters_note_alloc(&t->counters, size, tc_malloc_size(q));
  return q;
}

// Returns one of tcmalloc's numeric properties (0 when it has no such property).
static size_t tc_property(const char *name) {
  size_t v = 0;
  return MallocExtension_GetNumericProperty(name, &v) ? v : 0;
}

// Free bytes tcmalloc keeps for reuse, in its caches and its page heap.
static size_t tc_cached(void) {
  return tc_property("tcmalloc.pageheap_free_bytes") + tc_property("tcmalloc.central_cache_free_bytes") +
      tc_property("tcmalloc.transfer_cache_free_bytes") + tc_property("tcmalloc.thread_cache_free_bytes");
}

static void tc_stats(const xsmem_allocator *a, xsmem_stats *out) {
  xsmem_counters_fill_stats(&((const tcmalloc_allocator *)a)->counters, out);
  // heap_size counts released (unmapped) pages too; they are no longer backed.
  size_t heap = tc_property("generic.heap_size"), unmapped = tc_property("tcmalloc.pageheap_unmapped_bytes");
  out->bytes_reserved = heap > unmapped ? heap - unmapped : 0;
  out->bytes_cached = tc_cached();
}

static void tc_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  static const char *const kProperties[][2] = {
      {"generic.current_allocated_bytes", "allocated"},
      {"generic.heap_size", "heap_size"},
      {"generic.total_physical_bytes", "physical"},
      {"tcmalloc.pageheap_free_bytes", "pageheap_free"},
      {"tcmalloc.pageheap_unmapped_bytes", "pageheap_unmapped"},
      {"tcmalloc.central_cache_free_bytes", "central_cache_free"},
      {"tcmalloc.transfer_cache_free_bytes", "transfer_cache_free"},
      {"tcmalloc.thread_cache_free_bytes", "thread_cache_free"},
  };
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kProperties); i++) {
    xsmem_peer_detail(sink, "tcmalloc", kProperties[i][1], "gauge", (double)tc_property(kProperties[i][0]));
  }
}

// Returns free page-heap memory to the OS; returns the growth of the unmapped bytes.
static size_t tc_trim(xsmem_allocator *a, size_t goal_bytes) {
  size_t before = tc_property("tcmalloc.pageheap_unmapped_bytes");
  MallocExtension_ReleaseFreeMemory();
  size_t after = tc_property("tcmalloc.pageheap_unmapped_bytes");
  return after > before ? after - before : 0;
}

static const xsmem_allocator_ops kTcmallocOps = {
    .kind = "tcmalloc",
    .alloc = tc_alloc,
    .free = tc_release,
    .usable_size = tc_usable,
    .owns = tc_owns,
    .realloc = tc_resize,
    .stats = tc_stats,
    .trim = tc_trim,
    .detail = tc_detail,
};

// Constant-initialised: nothing to build, so nothing can race.
static tcmalloc_allocator g_tcmalloc = {.base = {.ops = &kTcmallocOps, .name = "tcmalloc"}};

xsmem_allocator *xsmem_tcmalloc_allocator(void) { return &g_tcmalloc.base; }
