// tracking/tool_hooks.h: telling AddressSanitizer and Valgrind what an
// allocator does, so both see xsmem blocks as they see malloc's.
//
// A front describes its memory with six macros (each a no-op unless a tool is
// compiled in, so the fast path pays nothing in a normal build):
//   XSMEM_TOOL_POOL_CREATE(pool)        a front's arena exists (pool: any unique address)
//   XSMEM_TOOL_POOL_DESTROY(pool)
//   XSMEM_TOOL_ALLOC(pool, p, n)        [p, p+n) is handed out: accessible, undefined
//   XSMEM_TOOL_FREE(pool, p, n)         [p, p+n) is back: any access is an error
//   XSMEM_TOOL_POISON(p, n)             bookkeeping bytes the program must not touch
//   XSMEM_TOOL_UNPOISON(p, n)           ... that the allocator itself now reads or writes
// Under --config=asan (XSMEM_ASAN / __SANITIZE_ADDRESS__) they map to ASan's
// manual poisoning interface (ASAN_POISON_MEMORY_REGION): a front poisons
// what it frees and caches and unpoisons what it hands out. With
// -DXSMEM_VALGRIND=1 (and valgrind's headers, /usr/include/valgrind) they map
// to memcheck's MEMPOOL client requests (VALGRIND_CREATE_MEMPOOL,
// VALGRIND_MEMPOOL_ALLOC/FREE) and VALGRIND_MAKE_MEM_NOACCESS/UNDEFINED:
// leaks, invalid reads and uses after free in xsmem blocks are reported as
// for malloc's (the requests cost a few instructions when not under valgrind).
//
// The tracker uses POISON/UNPOISON for its canaries and quarantined blocks,
// so ASan stops an overflow into a canary or a write after free at the
// offending instruction.
#ifndef XSMEM_TRACKING_TOOL_HOOKS_H_
#define XSMEM_TRACKING_TOOL_HOOKS_H_

#include <stddef.h>

#if defined(XSMEM_ASAN) || defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define XSMEM_TOOL_ASAN 1
#endif

#if defined(XSMEM_VALGRIND) && XSMEM_VALGRIND && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define XSMEM_TOOL_VG 1
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
#elif defined(XSMEM_TOOL_ASAN)
#define XSMEM_TOOL_POOL_CREATE(pool) ((void)(pool))
#define XSMEM_TOOL_POOL_DESTROY(pool) ((void)(pool))
#define XSMEM_TOOL_ALLOC(pool, p, n) ((void)(pool), ASAN_UNPOISON_MEMORY_REGION((p), (n)))
#define XSMEM_TOOL_FREE(pool, p, n) ((void)(pool), ASAN_POISON_MEMORY_REGION((p), (n)))
#else
#define XSMEM_TOOL_POOL_CREATE(pool) ((void)(pool))
#define XSMEM_TOOL_POOL_DESTROY(pool) ((void)(pool))
#define XSMEM_TOOL_ALLOC(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define XSMEM_TOOL_FREE(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#endif

#endif  // XSMEM_TRACKING_TOOL_HOOKS_H_
