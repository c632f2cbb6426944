// jemalloc (Debian's libjemalloc2, unprefixed API) behind the xsmem interface.
#include <jemalloc/jemalloc.h>

#include "allocators/peers/peer_internal.h"

typedef struct jemalloc_allocator {
  xsmem_allocator base;
  xsmem_counters counters;
} jemalloc_allocator;

// Returns mallocx flags for an alignment (0 up to the 16 bytes every class has).
XSMEM_INLINE int align_flags(size_t align) { return align <= XSMEM_MIN_ALIGN ? 0 : MALLOCX_ALIGN(align); }

static void *je_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  jemalloc_allocator *j = (jemalloc_allocator *)a;
  if (XSMEM_UNLIKELY(!xsmem_peer_check(&j->counters, size, align))) return NULL;
  int f = align_flags(align) | ((flags & XSMEM_ALLOC_ZERO) ? MALLOCX_ZERO : 0);
  void *p = mallocx(xsmem_peer_request_size(size), f);
  if (XSMEM_UNLIKELY(!p)) {
    xsmem_counters_note_failed(&j->counters);
    return NULL;
  }
  xsmem_counters_note_alloc(&j->counters, size, sallocx(p, 0));
  return p;
}

static void je_free(xsmem_allocator *a, void *p, size_t size) {
  jemalloc_allocator *j = (jemalloc_allocator *)a;
  xsmem_counters_note_free(&j->counters, sallocx(p, 0));
  dallocx(p, 0);
}

static size_t je_usable(const xsmem_allocator *a, const void *p) { return sallocx((void *)p, 0); }

static void *je_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  jemalloc_allocator *j = (jemalloc_allocator *)a;
  if (XSMEM_UNLIKELY(!xsmem_peer_check(&j->counters, size, 1))) return NULL;
  size_t old = sallocx(p, 0);
  void *q = rallocx(p, xsmem_peer_request_size(size), 0);
  if (XSMEM_UNLIKELY(!q)) {
    xsmem_counters_note_failed(&j->counters);
    return NULL;
  }
  // Counted as a free of the old block and an allocation of the new one.
  xsmem_counters_note_free(&j->counters, old);
  xsmem_counters_note_alloc(&j->counters, size, sallocx(q, 0));
  return q;
}

// Returns a size_t statistic of jemalloc's (0 when the build has no such
// statistic). Callers refresh the epoch first.
static size_t je_stat(const char *name) {
  size_t v = 0, len = sizeof(v);
  if (mallctl(name, &v, &len, NULL, 0) != 0) return 0;
  return v;
}

static void je_refresh(void) {
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  mallctl("epoch", &epoch, &len, &epoch, len);
}

static void je_stats(const xsmem_allocator *a, xsmem_stats *out) {
  const jemalloc_allocator *j = (const jemalloc_allocator *)a;
  xsmem_counters_fill_stats(&j->counters, out);
  je_refresh();
  out->bytes_reserved = je_stat("stats.mapped");
  out->bytes_metadata = je_stat("stats.metadata");
}

static void je_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  static const char *const kStats[][2] = {
      {"stats.allocated", "allocated"}, {"stats.active", "active"}, {"stats.metadata", "metadata"},
      {"stats.resident", "resident"},   {"stats.mapped", "mapped"}, {"stats.retained", "retained"},
  };
  je_refresh();
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kStats); i++) {
    xsmem_peer_detail(sink, "jemalloc", kStats[i][1], "gauge", (double)je_stat(kStats[i][0]));
  }
}

#define JE_STR2(x) #x
#define JE_STR(x) JE_STR2(x)

// Purges every arena's dirty and muzzy pages; returns the drop in resident bytes.
static size_t je_trim(xsmem_allocator *a, size_t goal_bytes) {
  je_refresh();
  size_t before = je_stat("stats.resident");
  mallctl("arena." JE_STR(MALLCTL_ARENAS_ALL) ".purge", NULL, NULL, NULL, 0);
  je_refresh();
  size_t after = je_stat("stats.resident");
  return before > after ? before - after : 0;
}

static const xsmem_allocator_ops kJemallocOps = {
    .kind = "jemalloc",
    .alloc = je_alloc,
    .free = je_free,
    .usable_size = je_usable,
    .realloc = je_realloc,
    .stats = je_stats,
    .trim = je_trim,
    .detail = je_detail,
};

// Constant-initialised: nothing to build, so nothing can race.
static jemalloc_allocator g_jemalloc = {.base = {.ops = &kJemallocOps, .name = "jemalloc"}};

xsmem_allocator *xsmem_jemalloc_allocator(void) { return &g_jemalloc.base; }
