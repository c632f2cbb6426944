#include "allocators/system/system.h"

#include "allocators/counters.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdatomic.h>
#include <string.h>

#include "platform/log.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// Under ASan or TSan the sanitizer owns malloc (and no shim is linked, see
// configs.bzl): call it, so the sanitizer sees every block.
#define __libc_malloc malloc
#define __libc_calloc calloc
#define __libc_memalign memalign
#define __libc_realloc realloc
#define __libc_free free
#else
// glibc's internal entry points: exported, and never interposed.
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
#endif

typedef struct system_allocator {
  xsmem_allocator base;
  size_t (*usable)(void *);  // glibc's malloc_usable_size (found with dlsym)
  _Atomic int ready;
  xsmem_counters counters;
} system_allocator;

static system_allocator g_system;
xsmem_allocator *const xsmem_system_instance_ = &g_system.base;

static void note_alloc(system_allocator *s, void *p, size_t n) {
  if (p) {
    xsmem_counters_note_alloc(&s->counters, n, s->usable(p));
  } else {
    xsmem_counters_note_failed(&s->counters);
  }
}

static void *system_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  system_allocator *s = (system_allocator *)a;
  void *p;
  if (align <= XSMEM_MIN_ALIGN) {
    p = (flags & XSMEM_ALLOC_ZERO) ? __libc_calloc(1, size) : __libc_malloc(size);
  } else {
    p = __libc_memalign(align, size);
    if (p && (flags & XSMEM_ALLOC_ZERO)) memset(p, 0, size);
  }
  note_alloc(s, p, size);
  return p;
}

static void system_free(xsmem_allocator *a, void *p, size_t size) {
  system_allocator *s = (system_allocator *)a;
  xsmem_counters_note_free(&s->counters, s->usable(p));
  __libc_free(p);
}

void *xsmem_system_malloc(size_t size) {
  void *p = __libc_malloc(size);
  note_alloc(&g_system, p, size);
  return p;
}

void xsmem_system_free(void *p) { system_free(&g_system.base, p, 0); }

static size_t system_usable(const xsmem_allocator *a, const void *p) {
  return ((const system_allocator *)a)->usable((void *)p);
}

static void *system_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  system_allocator *s = (system_allocator *)a;
  uint64_t old = s->usable(p);
  void *q = __libc_realloc(p, size);
  if (!q) {
    xsmem_counters_note_failed(&s->counters);
    return NULL;
  }
  // Counted as a free of the old block and an allocation of the new one.
  xsmem_counters_note_free(&s->counters, old);
  note_alloc(s, q, size);
  return q;
}

static void system_stats(const xsmem_allocator *a, xsmem_stats *out) {
  system_allocator *s = (system_allocator *)a;
  xsmem_counters_fill_stats(&s->counters, out);
  // glibc's own view of its heap (mallinfo2 is glibc's, never interposed).
  struct mallinfo2 mi = mallinfo2();
  out->bytes_reserved = mi.arena + mi.hblkhd;
  out->bytes_cached = mi.fordblks;
}

static const xsmem_allocator_ops kSystemOps = {
    .kind = "system",
    .alloc = system_alloc,
    .free = system_free,
    .usable_size = system_usable,
    .realloc = system_realloc,
    .stats = system_stats,
};

xsmem_allocator *xsmem_system_allocator(void) {
  if (XSMEM_LIKELY(atomic_load_explicit(&g_system.ready, memory_order_acquire))) return &g_system.base;
  // dlsym may allocate; the shim serves that from its bootstrap arena. RTLD_NEXT
  // skips the shim's own malloc_usable_size and finds glibc's.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  size_t (*usable)(void *) = malloc_usable_size;
#else
  size_t (*usable)(void *) = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
#endif
  if (!usable) xsmem_fatal("system allocator: glibc's malloc_usable_size not found");
  g_system.usable = usable;
  g_system.base.ops = &kSystemOps;
  g_system.base.name = "system";
  atomic_store_explicit(&g_system.ready, 1, memory_order_release);
  return &g_system.base;
}
