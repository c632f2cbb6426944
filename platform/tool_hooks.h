// platform/tool_hooks.h: telling AddressSanitizer and Valgrind what an
// allocator does, so both see xsmem blocks as they see malloc's.
//
// A front describes its memory with these macros (each a no-op unless a tool
// is compiled in, so the fast path pays nothing in a normal build):
//   XSMEM_TOOL_POOL_CREATE(pool)        a front's arena exists (pool: any unique address)
//   XSMEM_TOOL_POOL_ENSURE(pool)        ... created on first use (static instances)
//   XSMEM_TOOL_POOL_DESTROY(pool)       every block of the pool is gone
//   XSMEM_TOOL_ALLOC(pool, p, n)        [p, p+n) is handed out: accessible, undefined
//   XSMEM_TOOL_FREE(pool, p, n)         [p, p+n) is back: any access is an error
//   XSMEM_TOOL_RESIZE(pool, p, o, n)    the live block p changed size in place, o -> n bytes
//   XSMEM_TOOL_MOVE(pool, old, p, n)    the live block old now is [p, p+n) (pages moved by
//                                       mremap; the old range was UNPOISONed before the move)
//   XSMEM_TOOL_LEND(pool, p, n)         the live block p of pool becomes another front's region
//                                       (xsmem_source_from_allocator): memcheck forgets it as a
//                                       chunk, since chunks of two pools must not overlap
//   XSMEM_TOOL_RECLAIM(pool, p, n)      ... and it is pool's chunk again, before pool frees it
//   XSMEM_TOOL_POISON(p, n)             bytes the program must not touch (free memory,
//                                       bookkeeping, a fresh region)
//   XSMEM_TOOL_UNPOISON(p, n)           ... that the allocator itself now reads or writes, or
//                                       gives back to the OS (also: make [p, p+n) defined)
// Under --config=asan (XSMEM_ASAN / __SANITIZE_ADDRESS__) they map to ASan's
// manual poisoning interface (ASAN_POISON_MEMORY_REGION): a front poisons
// what it frees and caches and unpoisons what it hands out; ASan reports an
// access to it as "use-after-poison" at the offending instruction. With
// -DXSMEM_VALGRIND=1 (--config=valgrind, and valgrind's headers,
// /usr/include/valgrind) they map to memcheck's MEMPOOL client requests
// (VALGRIND_CREATE_MEMPOOL, VALGRIND_MEMPOOL_ALLOC/FREE/CHANGE) and
// VALGRIND_MAKE_MEM_NOACCESS/DEFINED: leaks, invalid reads and uses after free
// in xsmem blocks are reported as for malloc's, with the stack of the
// allocation (the requests cost a few instructions when not under valgrind).
//
// Rules a front follows:
// - a region fresh from the source is POISONed whole; it is UNPOISONed before
//   it goes back (ASan's shadow outlives munmap: the next mapping at that
//   address would read as poisoned);
// - free-list links and headers kept inside free memory are UNPOISONed for
//   the allocator's own read or write and POISONed again right after;
// - ALLOC covers the whole usable size (what usable_size reports), so an
//   overflow is caught where it leaves the block for free memory or headers;
//   calloc'ed bytes the front knows are zero without writing them are made
//   defined with UNPOISON after ALLOC (memcheck's ALLOC marks them undefined);
// - memcheck's chunks must not overlap (its leak search aborts): a block
//   lent as another front's region goes through LEND/RECLAIM (the
//   allocator-as-source adapter does it), and a front whose blocks are
//   another front's live blocks unchanged (pool over bfc) uses
//   POISON/UNPOISON only, not ALLOC/FREE. A front carving small objects out
//   of spans it takes from another front must LEND the span first.
//
// The tracker uses POISON/UNPOISON for its canaries and quarantined blocks,
// so ASan stops an overflow into a canary or a write after free at the
// offending instruction.
#ifndef XSMEM_PLATFORM_TOOL_HOOKS_H_
#define XSMEM_PLATFORM_TOOL_HOOKS_H_

#include <stddef.h>

#if defined(XSMEM_ASAN) || defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define XSMEM_TOOL_ASAN 1
#endif

// One tool at a time: ASan wins (memcheck cannot run an ASan binary anyway).
#if defined(XSMEM_VALGRIND) && XSMEM_VALGRIND && !defined(XSMEM_TOOL_ASAN) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define XSMEM_TOOL_VG 1
#endif

// 1 when a tool is compiled in: for work that only the tools need (a call
// to learn a size), under `if (XSMEM_TOOL_ENABLED)` so a normal build drops it.
#if defined(XSMEM_TOOL_ASAN) || defined(XSMEM_TOOL_VG)
#define XSMEM_TOOL_ENABLED 1
#else
#define XSMEM_TOOL_ENABLED 0
#endif

#if defined(XSMEM_TOOL_ASAN)
#define XSMEM_TOOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define XSMEM_TOOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif defined(XSMEM_TOOL_VG)
#define XSMEM_TOOL_POISON(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define XSMEM_TOOL_UNPOISON(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define XSMEM_TOOL_POISON(p, n) ((void)(p), (void)(n))
#define XSMEM_TOOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(XSMEM_TOOL_VG)
#define XSMEM_TOOL_POOL_CREATE(pool) VALGRIND_CREATE_MEMPOOL((pool), 0, 0)
#define XSMEM_TOOL_POOL_DESTROY(pool) VALGRIND_DESTROY_MEMPOOL((pool))
#define XSMEM_TOOL_ALLOC(pool, p, n) VALGRIND_MEMPOOL_ALLOC((pool), (p), (n))
#define XSMEM_TOOL_FREE(pool, p, n) VALGRIND_MEMPOOL_FREE((pool), (p))
// MEMPOOL_CHANGE only moves the chunk's bounds: the bytes gained or lost change access here.
#define XSMEM_TOOL_RESIZE(pool, p, o, n)                                            \
  do {                                                                              \
    VALGRIND_MEMPOOL_CHANGE((pool), (p), (p), (n));                                 \
    if ((n) > (o)) (void)VALGRIND_MAKE_MEM_UNDEFINED((char *)(p) + (o), (n) - (o)); \
    else (void)VALGRIND_MAKE_MEM_NOACCESS((char *)(p) + (n), (o) - (n));            \
  } while (0)
#define XSMEM_TOOL_MOVE(pool, old, p, n) VALGRIND_MEMPOOL_CHANGE((pool), (old), (p), (n))
// pool may be no front's (a decorator used as a source): then nothing to say.
#define XSMEM_TOOL_LEND(pool, p, n)                                        \
  do {                                                                     \
    if (VALGRIND_MEMPOOL_EXISTS(pool)) VALGRIND_MEMPOOL_FREE((pool), (p)); \
  } while (0)
#define XSMEM_TOOL_RECLAIM(pool, p, n)                                           \
  do {                                                                           \
    if (VALGRIND_MEMPOOL_EXISTS(pool)) VALGRIND_MEMPOOL_ALLOC((pool), (p), (n)); \
  } while (0)
#define XSMEM_TOOL_POOL_ENSURE(pool)                                  \
  do {                                                                \
    if (!VALGRIND_MEMPOOL_EXISTS(pool)) XSMEM_TOOL_POOL_CREATE(pool); \
  } while (0)
#elif defined(XSMEM_TOOL_ASAN)
#define XSMEM_TOOL_POOL_CREATE(pool) ((void)(pool))
#define XSMEM_TOOL_POOL_DESTROY(pool) ((void)(pool))
#define XSMEM_TOOL_ALLOC(pool, p, n) ((void)(pool), ASAN_UNPOISON_MEMORY_REGION((p), (n)))
#define XSMEM_TOOL_FREE(pool, p, n) ((void)(pool), ASAN_POISON_MEMORY_REGION((p), (n)))
#define XSMEM_TOOL_RESIZE(pool, p, o, n)                                 \
  ((void)(pool),                                                         \
   (n) > (o) ? ASAN_UNPOISON_MEMORY_REGION((char *)(p) + (o), (n) - (o)) \
             : ASAN_POISON_MEMORY_REGION((char *)(p) + (n), (o) - (n)))
#define XSMEM_TOOL_MOVE(pool, old, p, n) ((void)(pool), (void)(old), ASAN_UNPOISON_MEMORY_REGION((p), (n)))
#define XSMEM_TOOL_LEND(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define XSMEM_TOOL_RECLAIM(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define XSMEM_TOOL_POOL_ENSURE(pool) ((void)(pool))
#else
#define XSMEM_TOOL_POOL_CREATE(pool) ((void)(pool))
#define XSMEM_TOOL_POOL_DESTROY(pool) ((void)(pool))
#define XSMEM_TOOL_ALLOC(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define XSMEM_TOOL_FREE(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define XSMEM_TOOL_RESIZE(pool, p, o, n) ((void)(pool), (void)(p), (void)(o), (void)(n))
#define XSMEM_TOOL_MOVE(pool, old, p, n) ((void)(pool), (void)(old), (void)(p), (void)(n))
#define XSMEM_TOOL_LEND(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define XSMEM_TOOL_RECLAIM(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define XSMEM_TOOL_POOL_ENSURE(pool) ((void)(pool))
#endif

#endif  // XSMEM_PLATFORM_TOOL_HOOKS_H_
