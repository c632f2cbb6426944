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

static size_t block_usable(const void *p) { return malloc_usable_size((void *)p); }
static size_t query_usable(const void *p) { return malloc_usable_size((void *)p); }
#else
// glibc's internal entry points: exported, and never interposed.
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

// What glibc's malloc_usable_size says of a live block, from the chunk's size
// word before it (malloc/malloc.c: the size, its low 3 bits flags, IS_MMAPPED
// = 2; a mapped chunk's header takes 16 bytes of it, a heap chunk's 8, the
// next chunk's prev_size word being the block's too). Read here rather than
// asked: malloc_usable_size also reads the next chunk's header, which a
// chunk freed and merged into its neighbours no longer bounds, so counting a
// double free crashed before glibc's free could report it. The size word is
// what glibc's free reads first as well.
static size_t block_usable(const void *p) {
  size_t head = ((const size_t *)p)[-1];
  return (head & ~(size_t)7) - (head & 2 ? 16 : 8);
}

// malloc_usable_size's own answer (glibc's musable): a heap chunk counts only
// when the next chunk's header says it is in use, so a pointer glibc never
// handed out (its size word 0, say) reads 0 rather than a wrapped size.
static size_t query_usable(const void *p) {
  size_t head = ((const size_t *)p)[-1], size = head & ~(size_t)7;
  if (head & 2) return size - 16;
  const size_t *next = (const size_t *)((const char *)p - 16 + size);
  return (next[1] & 1) ? size - 8 : 0;
}
#endif

// glibc's mallinfo2 and malloc_trim, found past this object: the malloc shim
// defines both (answered from these statistics), and a plain call here would
// come back to it.
static struct mallinfo2 libc_mallinfo2(void) {
  static struct mallinfo2 (*fn)(void);
  if (!fn) fn = (struct mallinfo2(*)(void))dlsym(RTLD_NEXT, "mallinfo2");
  struct mallinfo2 mi;
  memset(&mi, 0, sizeof(mi));
  return fn ? fn() : mi;
}

static int libc_malloc_trim(size_t pad) {
  static int (*fn)(size_t);
  if (!fn) fn = (int (*)(size_t))dlsym(RTLD_NEXT, "malloc_trim");
  return fn ? fn(pad) : 0;
}

typedef struct system_allocator {
  xsmem_allocator base;
  _Atomic int ready;
  xsmem_counters counters;
} system_allocator;

static system_allocator g_system;
xsmem_allocator *const xsmem_system_instance_ = &g_system.base;

static void note_alloc(system_allocator *s, void *p, size_t n) {
  if (p) {
    xsmem_counters_note_alloc(&s->counters, n, block_usable(p));
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
  xsmem_counters_note_free(&s->counters, block_usable(p));
  __libc_free(p);
}

void *xsmem_system_malloc(size_t size) {
  void *p = __libc_malloc(size);
  note_alloc(&g_system, p, size);
  return p;
}

void xsmem_system_free(void *p) { system_free(&g_system.base, p, 0); }

static size_t system_usable(const xsmem_allocator *a, const void *p) { return query_usable(p); }

static void *system_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  system_allocator *s = (system_allocator *)a;
  uint64_t old = block_usable(p);
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
  // glibc's own view of its heap.
  struct mallinfo2 mi = libc_mallinfo2();
  out->bytes_reserved = mi.arena + mi.hblkhd;
  out->bytes_committed = out->bytes_reserved;  // glibc's heaps and mappings are memory it touched
  out->bytes_cached = mi.fordblks;
}

// glibc gives back the free memory of its heaps; the size released is not
// said, only whether there was any (1 byte stands for "some").
static size_t system_trim(xsmem_allocator *a, size_t goal) {
  (void)a, (void)goal;
  return libc_malloc_trim(0) ? 1 : 0;
}

static const xsmem_allocator_ops kSystemOps = {
    .kind = "system",
    .alloc = system_alloc,
    .free = system_free,
    .usable_size = system_usable,
    .realloc = system_realloc,
    .stats = system_stats,
    .trim = system_trim,
};

xsmem_allocator *xsmem_system_allocator(void) {
  if (XSMEM_LIKELY(atomic_load_explicit(&g_system.ready, memory_order_acquire))) return &g_system.base;
  g_system.base.ops = &kSystemOps;
  g_system.base.name = "system";
  atomic_store_explicit(&g_system.ready, 1, memory_order_release);
  return &g_system.base;
}
