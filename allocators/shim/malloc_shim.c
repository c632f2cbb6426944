// allocators/shim/malloc_shim.c: the C allocation API over one configuration.
//
// Compiled once per configuration (configs.bzl) with
//   XSMEM_SHIM_CONFIG=<the configuration's xsmem_config variable>
// and, optionally, XSMEM_SHIM_FAST_HEADER="path.h": a header that defines
// XSMEM_SHIM_MALLOC(a, n), XSMEM_SHIM_FREE(a, p) and XSMEM_SHIM_USABLE(a, p)
// as direct calls into the front, so the hot path skips the vtable. It may
// define XSMEM_SHIM_MALLOC_SETS_ERRNO when its malloc sets errno on failure,
// XSMEM_SHIM_TRY_FREE(p): frees p and returns true when p is a block of the
// front's fast path (false for NULL and bootstrap blocks), tried first; and,
// with XSMEM_SHIM_MALLOC_SETS_ERRNO, XSMEM_SHIM_MALLOC_FIRST(n): a statement
// that returns from malloc with a block of the front's fast path before the
// configuration is even looked at (it must serve nothing before the
// configuration exists, e.g. because a bound it tests is still 0); and
// XSMEM_SHIM_READY(a): run once, when the configuration is built, before any
// block of it exists (a header copies what its fast paths test into statics).
//
// Linked into a program (//allocators:NAME) or preloaded (libxsmem_NAME.so) it
// replaces malloc, free, calloc, realloc, reallocarray, memalign,
// posix_memalign, aligned_alloc, valloc, pvalloc and malloc_usable_size, and
// glibc's heap queries mallinfo, mallinfo2, malloc_trim and malloc_stats with
// the configuration's figures (system's include glibc's own).
//
// Bootstrap: the configuration is built on the first call. Anything the build
// itself allocates (dlsym, pthread_atfork) is served from a small static arena
// whose blocks are never freed; a second thread arriving meanwhile waits.
// A configuration that cannot be built (xsmem_config_instance returns NULL: the
// address space is limited, ulimit -v, and its tables do not fit) is said
// once on stderr; that call and every call until a build succeeds fail with
// ENOMEM, each trying the build again. Nothing aborts.
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "platform/log.h"
#include "platform/once.h"
#include "platform/options.h"

#ifndef XSMEM_SHIM_CONFIG
#error "XSMEM_SHIM_CONFIG must name the configuration (configs.bzl sets it)"
#endif

extern const xsmem_config XSMEM_SHIM_CONFIG;

#ifdef XSMEM_SHIM_FAST_HEADER
#include XSMEM_SHIM_FAST_HEADER
#endif
#ifndef XSMEM_SHIM_MALLOC
#define XSMEM_SHIM_MALLOC(a, n) ((a)->ops->alloc((a), (n), XSMEM_MIN_ALIGN, 0))
#define XSMEM_SHIM_FREE(a, p) ((a)->ops->free((a), (p), 0))
#define XSMEM_SHIM_USABLE(a, p) ((a)->ops->usable_size((a), (p)))
#endif

static xsmem_allocator *g_alloc;  // set once; read without a lock afterwards
static xsmem_once g_built;        // choose the configuration, build it, run XSMEM_SHIM_READY
static _Atomic int g_build_failed_said;

// ---------------------------------------------------------------------------
// Bootstrap arena: 256 KiB, bump allocation, 16-byte headers holding the size.

static char g_boot[256 * 1024] __attribute__((aligned(64)));
static _Atomic size_t g_boot_used;

static bool in_boot(const void *p) { return (const char *)p >= g_boot && (const char *)p < g_boot + sizeof(g_boot); }

static void *boot_alloc(size_t n, size_t align) {
  if (align < XSMEM_MIN_ALIGN) align = XSMEM_MIN_ALIGN;
  size_t old = atomic_load(&g_boot_used), start, end;
  do {
    start = xsmem_align_up(old + 16, align);
    end = start + xsmem_align_up(n ? n : 1, 16);
    if (end > sizeof(g_boot) || align > 4096) xsmem_fatal("bootstrap arena exhausted (%zu bytes)", n);
  } while (!atomic_compare_exchange_weak(&g_boot_used, &old, end));
  ((size_t *)(g_boot + start))[-1] = n;
  return g_boot + start;  // static storage: already zero
}

static size_t boot_usable(const void *p) { return ((const size_t *)p)[-1]; }

// ---------------------------------------------------------------------------
// Initialisation.

static void fork_prepare(void) {
  if (g_alloc->ops->fork) g_alloc->ops->fork(g_alloc, XSMEM_FORK_PREPARE);
}
static void fork_parent(void) {
  if (g_alloc->ops->fork) g_alloc->ops->fork(g_alloc, XSMEM_FORK_PARENT);
}
static void fork_child(void) {
  if (g_alloc->ops->fork) g_alloc->ops->fork(g_alloc, XSMEM_FORK_CHILD);
}

static const xsmem_config *choose_config(void) {
  const char *want = xsmem_option_str("XSMEM_CONFIG");
  if (!want[0] || strcmp(want, XSMEM_SHIM_CONFIG.name) == 0) return &XSMEM_SHIM_CONFIG;
  const xsmem_config *c = xsmem_config_find(want);
  if (c) return c;
  xsmem_log("XSMEM_CONFIG=%s is not linked into this library; using '%s'", want, XSMEM_SHIM_CONFIG.name);
  return &XSMEM_SHIM_CONFIG;
}

// What the API uses while the configuration cannot be built: every request
// fails with ENOMEM (g_alloc stays NULL, so the next call builds again).
static void *unbuilt_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  errno = ENOMEM;
  return NULL;
}
static void unbuilt_free(xsmem_allocator *a, void *p, size_t size) {
  xsmem_report_bad_pointer(a->name, "free", p, "pointer freed before any allocation");
}
static size_t unbuilt_usable(const xsmem_allocator *a, const void *p) {
  xsmem_report_bad_pointer(a->name, "malloc_usable_size", p, "pointer given before any allocation");
  return 0;
}
static void unbuilt_stats(const xsmem_allocator *a, xsmem_stats *out) { *out = xsmem_stats_init(); }
static const xsmem_allocator_ops kUnbuiltOps = {
    .kind = "unbuilt",
    .alloc = unbuilt_alloc,
    .free = unbuilt_free,
    .usable_size = unbuilt_usable,
    .stats = unbuilt_stats,
};
static xsmem_allocator g_unbuilt = {&kUnbuiltOps, NULL};

// Defined by the exporter (//export:runtime: the options it reads) when the
// process has it linked; a weak reference, so the shim needs no dependency
// on export/ (a layer above it) and is NULL without it.
extern const char xsmem_export_options[] __attribute__((weak));

static const char *exporter_options(void) { return xsmem_export_options; }

// Said once, when the process allocator starts: an export option set in a
// process without the exporter would otherwise do nothing, silently.
static void check_exporter(const xsmem_config *c) {
  if (exporter_options()) return;
  static const char *const kExportOptions[] = {"XSMEM_HTTP", "XSMEM_SNAPSHOT"};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(kExportOptions); i++) {
    xsmem_option_state st;
    if (!xsmem_option_lookup(kExportOptions[i], &st) || !st.given || !st.given[0]) continue;
    xsmem_log(
        "%s is set (%s) but this process has no exporter: nothing serves or writes it; preload "
        "libxsmem_%s_export.so (export/) instead of libxsmem_%s.so, or link //export:runtime",
        kExportOptions[i], xsmem_option_source_name(st.source), c->name, c->name);
    return;
  }
}

// Builds the configuration the shim serves (g_built's build).
static bool shim_build(void *ctx) {
  const xsmem_config *c = choose_config();
  *(const xsmem_config **)ctx = c;
  xsmem_allocator *a = xsmem_config_instance(c);
  if (!a) return false;
#ifdef XSMEM_SHIM_READY
  XSMEM_SHIM_READY(a);
#endif
  g_alloc = a;
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  check_exporter(c);
  if (xsmem_option_bool("XSMEM_VERBOSE")) {
    xsmem_log("malloc served by configuration '%s'; its options (the value in effect, where it came from):", c->name);
    xsmem_options_print(2, c->options);
    if (exporter_options()) {
      xsmem_log("the exporter's options:");
      xsmem_options_print(2, exporter_options());
    }
  }
  return true;
}

// Returns the allocator to use now: the real one; NULL while this thread
// builds it (the caller serves from the bootstrap arena); or g_unbuilt, whose
// every allocation fails with ENOMEM, when the build failed (said once; the
// next call tries again).
XSMEM_COLD static xsmem_allocator *shim_init(void) {
  const xsmem_config *c = &XSMEM_SHIM_CONFIG;
  switch (xsmem_once_run(&g_built, shim_build, &c)) {
    case XSMEM_ONCE_DONE: return g_alloc;
    case XSMEM_ONCE_RECURSIVE: return NULL;
    case XSMEM_ONCE_FAILED: break;
  }
  int err = errno;
  g_unbuilt.name = c->name;
  if (!atomic_exchange(&g_build_failed_said, 1)) {
    xsmem_log(
        "configuration '%s' could not be built (%s): allocations fail with ENOMEM until it can be "
        "(tried again on each call; said once)",
        c->name, err ? xsmem_strerror(err) : "no reason given");
  }
  errno = ENOMEM;
  return &g_unbuilt;
}

XSMEM_INLINE xsmem_allocator *get_alloc(void) {
  xsmem_allocator *a = g_alloc;
  if (XSMEM_LIKELY(a != NULL)) return a;
  return shim_init();
}

xsmem_allocator *xsmem_process_allocator(void) { return get_alloc(); }

// Prints the statistics at exit when XSMEM_STATS_AT_EXIT is set.
__attribute__((destructor)) static void shim_exit(void) {
  if (g_alloc && xsmem_option_bool("XSMEM_STATS_AT_EXIT")) xsmem_stats_print(2, g_alloc);
}

// ---------------------------------------------------------------------------
// The API.

static void *alloc_aligned(size_t n, size_t align, unsigned flags) {
  xsmem_allocator *a = get_alloc();
  if (XSMEM_UNLIKELY(!a)) return boot_alloc(n, align);
  void *p = a->ops->alloc(a, n, align, flags);
  if (XSMEM_UNLIKELY(!p)) errno = ENOMEM;
  return p;
}

#ifdef XSMEM_SHIM_MALLOC_SETS_ERRNO
// malloc before the configuration exists, out of line: malloc then only makes
// tail calls and needs no stack frame. (Only with such a front: a tracked
// configuration's stacks keep malloc as the frame above the caller.)
XSMEM_COLD __attribute__((noinline)) static void *malloc_first(size_t n) {
  xsmem_allocator *a = shim_init();
  if (!a) return boot_alloc(n, XSMEM_MIN_ALIGN);
  if (a == &g_unbuilt) return NULL;  // errno set; before the header's direct calls, which need a built front
  return XSMEM_SHIM_MALLOC(a, n);
}

XSMEM_EXPORT void *malloc(size_t n) {
#ifdef XSMEM_SHIM_MALLOC_FIRST
  XSMEM_SHIM_MALLOC_FIRST(n);
#endif
  xsmem_allocator *a = g_alloc;
  if (XSMEM_UNLIKELY(!a)) return malloc_first(n);
  return XSMEM_SHIM_MALLOC(a, n);  // a tail call when it leaves the fast path
}
#else
XSMEM_EXPORT void *malloc(size_t n) {
  xsmem_allocator *a = get_alloc();
  if (XSMEM_UNLIKELY(!a)) return boot_alloc(n, XSMEM_MIN_ALIGN);
  void *p = XSMEM_SHIM_MALLOC(a, n);
  if (XSMEM_UNLIKELY(!p)) errno = ENOMEM;
  return p;
}
#endif

XSMEM_EXPORT void free(void *p) {
#ifdef XSMEM_SHIM_TRY_FREE
  if (XSMEM_LIKELY(XSMEM_SHIM_TRY_FREE(p))) return;  // the front's own blocks, before any other test
#endif
  if (XSMEM_UNLIKELY(!p)) return;
  if (XSMEM_UNLIKELY(in_boot(p))) return;  // bootstrap blocks live forever
  xsmem_allocator *a = g_alloc;
  if (XSMEM_UNLIKELY(!a)) {
    xsmem_report_bad_pointer(XSMEM_SHIM_CONFIG.name, "free", p, "pointer freed before any allocation");
    return;
  }
  XSMEM_SHIM_FREE(a, p);
}

XSMEM_EXPORT void *calloc(size_t count, size_t size) {
  size_t n;
  if (XSMEM_UNLIKELY(__builtin_mul_overflow(count, size, &n))) {
    errno = ENOMEM;
    return NULL;
  }
  return alloc_aligned(n, XSMEM_MIN_ALIGN, XSMEM_ALLOC_ZERO);
}

XSMEM_EXPORT size_t malloc_usable_size(void *p) {
  if (!p) return 0;
  if (XSMEM_UNLIKELY(in_boot(p))) return boot_usable(p);
  xsmem_allocator *a = g_alloc;
  if (XSMEM_UNLIKELY(!a)) {
    xsmem_report_bad_pointer(XSMEM_SHIM_CONFIG.name, "malloc_usable_size", p, "pointer given before any allocation");
    return 0;
  }
  xsmem_query_depth_++;  // a bad pointer is reported and answered 0, never an abort
  size_t n = XSMEM_SHIM_USABLE(a, p);
  xsmem_query_depth_--;
  return n;
}

XSMEM_EXPORT void *realloc(void *p, size_t n) {
  if (XSMEM_UNLIKELY(p && in_boot(p))) {
    if (n == 0) return NULL;
    void *q = malloc(n);
    if (q) memcpy(q, p, XSMEM_MIN(n, boot_usable(p)));
    return q;
  }
  xsmem_allocator *a = get_alloc();
  if (XSMEM_UNLIKELY(!a)) return boot_alloc(n, XSMEM_MIN_ALIGN);  // p is NULL here
  return xsmem_realloc(a, p, n);
}

XSMEM_EXPORT void *reallocarray(void *p, size_t count, size_t size) {
  size_t n;
  if (XSMEM_UNLIKELY(__builtin_mul_overflow(count, size, &n))) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, n);
}

XSMEM_EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (!xsmem_is_pow2(align) || align % sizeof(void *) != 0) return EINVAL;
  int saved = errno;
  void *p = alloc_aligned(n, align, 0);
  if (!p) return ENOMEM;
  errno = saved;  // posix_memalign reports through its result, not errno
  *out = p;
  return 0;
}

XSMEM_EXPORT void *memalign(size_t align, size_t n) {
  // glibc semantics: a non-power-of-two alignment is rounded up.
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  return alloc_aligned(n, xsmem_next_pow2(align ? align : 1), 0);
}

// glibc 2.36's aligned_alloc is memalign: an alignment that is not a power of
// two (0, 3, 24) is rounded up rather than refused (C11 leaves it undefined;
// C17's EINVAL came to glibc in 2.38), and programs built against it rely on that.
XSMEM_EXPORT void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }

XSMEM_EXPORT void *valloc(size_t n) { return alloc_aligned(n, (size_t)sysconf(_SC_PAGESIZE), 0); }

XSMEM_EXPORT void *pvalloc(size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE), rounded;
  if (!xsmem_align_up_checked(n ? n : 1, page, &rounded)) {
    errno = ENOMEM;
    return NULL;
  }
  return alloc_aligned(rounded, page, 0);
}

// ---------------------------------------------------------------------------
// C++ operator new and new[] (tracked configurations: XSMEM_SHIM_OPERATOR_NEW).
//
// libstdc++'s operator new is built without frame pointers: a frame-pointer
// walk from malloc steps from its frame straight to its caller's caller, so
// the line that said `new` is lost and every `new` of a function is one call
// site (`new Gadget` and `new int[1000]` merged at main). Defined here, with
// frame pointers, they keep that line: the report skips them (operator new
// is never a call site) and names the caller. Weak, so a program defining
// its own operator new keeps it. Only the success path is here: on failure
// the next definition (libstdc++'s, found by dlsym) runs the new-handler
// loop and throws std::bad_alloc, which C cannot. Blocks are freed by
// whichever operator delete the program has: every one of them calls free.
#ifdef XSMEM_SHIM_OPERATOR_NEW

typedef void *(*xsmem_new_fn)(size_t);
typedef void *(*xsmem_new_aligned_fn)(size_t, size_t);

// The next definition of `name` (libstdc++'s), or abort: operator new never
// returns NULL, and without libstdc++ no C++ code could have called it.
static void *next_new(const char *name) {
  void *f = dlsym(RTLD_NEXT, name);
  if (!f) {
    xsmem_log("operator new failed and no %s to throw std::bad_alloc from", name);
    abort();
  }
  return f;
}

#define XSMEM_NEW_ATTRS XSMEM_EXPORT __attribute__((weak, noinline))
XSMEM_NEW_ATTRS void *_Znwm(size_t n) {
  void *p = malloc(n ? n : 1);
  if (XSMEM_UNLIKELY(!p)) p = ((xsmem_new_fn)next_new("_Znwm"))(n);
  return p;
}
XSMEM_NEW_ATTRS void *_Znam(size_t n) {
  void *p = malloc(n ? n : 1);
  if (XSMEM_UNLIKELY(!p)) p = ((xsmem_new_fn)next_new("_Znam"))(n);
  return p;
}
XSMEM_NEW_ATTRS void *_ZnwmSt11align_val_t(size_t n, size_t align) {
  void *p = memalign(align, n);
  if (XSMEM_UNLIKELY(!p)) p = ((xsmem_new_aligned_fn)next_new("_ZnwmSt11align_val_t"))(n, align);
  return p;
}
XSMEM_NEW_ATTRS void *_ZnamSt11align_val_t(size_t n, size_t align) {
  void *p = memalign(align, n);
  if (XSMEM_UNLIKELY(!p)) p = ((xsmem_new_aligned_fn)next_new("_ZnamSt11align_val_t"))(n, align);
  return p;
}
typedef void *(*xsmem_new_nothrow_fn)(size_t, const void *);
XSMEM_NEW_ATTRS void *_ZnwmRKSt9nothrow_t(size_t n, const void *tag) {
  void *p = malloc(n ? n : 1);
  if (XSMEM_UNLIKELY(!p)) p = ((xsmem_new_nothrow_fn)next_new("_ZnwmRKSt9nothrow_t"))(n, tag);
  return p;
}
XSMEM_NEW_ATTRS void *_ZnamRKSt9nothrow_t(size_t n, const void *tag) {
  void *p = malloc(n ? n : 1);
  if (XSMEM_UNLIKELY(!p)) p = ((xsmem_new_nothrow_fn)next_new("_ZnamRKSt9nothrow_t"))(n, tag);
  return p;
}
#endif  // XSMEM_SHIM_OPERATOR_NEW

// ---------------------------------------------------------------------------
// glibc's heap queries, answered from the configuration's statistics.

// arena: memory taken from the OS (committed where the allocator tracks it,
// else reserved); uordblks: in use; fordblks and keepcost: free memory held
// for reuse, what malloc_trim can give back. Fields that describe glibc's
// own chunk lists (ordblks, smblks, hblks, ...) have no counterpart: 0.
XSMEM_EXPORT struct mallinfo2 mallinfo2(void) {
  struct mallinfo2 mi;
  memset(&mi, 0, sizeof(mi));
  xsmem_allocator *a = g_alloc;
  if (!a) return mi;
  xsmem_stats s = xsmem_get_stats(a);
  mi.arena = s.bytes_committed ? s.bytes_committed : s.bytes_reserved;
  mi.uordblks = s.bytes_in_use;
  mi.fordblks = s.bytes_cached;
  mi.keepcost = s.bytes_cached;
  return mi;
}

// The old interface's fields are int: figures past INT_MAX read INT_MAX
// rather than wrapping to nonsense as glibc's do.
static int clamp_int(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

XSMEM_EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 m2 = mallinfo2();
  struct mallinfo mi;
  memset(&mi, 0, sizeof(mi));
  mi.arena = clamp_int(m2.arena);
  mi.uordblks = clamp_int(m2.uordblks);
  mi.fordblks = clamp_int(m2.fordblks);
  mi.keepcost = clamp_int(m2.keepcost);
  return mi;
}

// Gives free memory back to the OS (the calling thread's cache, empty slabs,
// regions, cached mappings: the allocator's trim); returns 1 when something
// was released, as glibc does. pad is glibc's top-of-heap slack: no meaning here.
XSMEM_EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  xsmem_allocator *a = g_alloc;
  if (!a || !a->ops->trim) return 0;
  return a->ops->trim(a, 0) > 0;
}

// glibc prints its arenas' totals to stderr; this prints the statistics table.
XSMEM_EXPORT void malloc_stats(void) {
  xsmem_allocator *a = g_alloc;
  if (a) xsmem_stats_print(2, a);
}
