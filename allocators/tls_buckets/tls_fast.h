// allocators/tls_buckets/tls_fast.h: the whole fast path of the small tier.
//
// This file is everything a malloc/free of a small block runs when the
// calling thread's cache can serve it; the slow paths are in tls_cache.c, out
// of line. Budget (x86-64, -O2): malloc = size -> class (one branch, one lzcnt),
// one TLS load, a pop (its link decoded and tested: a mask, a load of the
// segment's key, one xor, one test; the block's free key compared), the
// block's free key cleared, one counter increment; free = mask to the segment
// header, a bounds + block-start check (one multiply), a bound check and a
// free-key check, a push (its link encoded: two xors), one counter store.
// No lock, no atomic read-modify-write, one predictable branch to the slow
// path on each side; both touch one line of the cache and the segment
// header's first line. Free's one load that may wait on memory is the key's:
// it reads the block it frees. 90 instructions a malloc+free pair, loop
// included (81 before the links were safe-linked; bench/RESULTS.md).
//
// Links are safe-linked (glibc's PROTECT_PTR, mimalloc's encoded free lists):
// every link stored inside a free block (a thread's list, a spare, a batch on
// the global stack, a slab's central list) is next ^ slot ^ key, where slot
// is the address of the word holding it and key its segment's random
// link_key, so a pointer written there by a write after free decodes to
// garbage, and a link copied from another block decodes wrong. A pop follows
// a link only if it decodes into the popped block's segment, 16-byte aligned,
// and hands the block out only if it still holds its free key (so a block
// start the tier took back: every block it holds has the key, fresh ones
// from their carving); anything else goes out of line to
// xsmem_tls_pop_checked, which follows the end of a list and a link into
// another segment of the class after checking it there (pagemap tag, class,
// block start), and reports the rest as heap corruption naming the tier, the
// block size and the block, dropping the rest of the list instead of
// following it. The slow paths check every link they follow the same way.
//
// Layout the fast path relies on (defined here, maintained by the tier's .c files):
//   - every small block lives in a segment that starts a 4 MiB chunk tagged
//     XSMEM_TAG_SMALL in platform/pagemap and serves one size class only
//     (the segment may map only the head of its chunk: data_bytes bounds it);
//   - the segment begins with xsmem_tls_seg_head: its class, and the byte
//     range of its blocks [XSMEM_TLS_SEG_HEADER, +data_bytes);
//   - each thread points xsmem_tls_cache_ at its cache: per class a singly
//     linked list (link in the block's first word), and the thread's counts
//     of allocations and frees of the class, which also bound the list.
//     A thread without a cache points at a shared empty cache whose lists
//     are empty and whose bounds are below any count, so both paths fall to
//     the slow path, which builds one;
//   - a block the tier took back holds its segment's free key in its second
//     word until it is handed out again (glibc's tcache key): a free that
//     finds the key there is a double free, wherever the first free put the
//     block (this thread's list, another thread's, the central lists). The
//     key is random per segment, and a block's second word is cleared when
//     it is handed out, so only a copy of freed memory can hold it. Gaps: a
//     16-byte block at the head of a batch on the global stack holds the
//     stack's link there instead (larger blocks keep it in their third word),
//     until the batch comes off the stack; and a block whose slab emptied
//     and was decommitted has lost its key (the slab's bitmap reports the
//     second free when the block comes back to it).
#ifndef XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_FAST_H_
#define XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_FAST_H_

#include <stddef.h>
#include <stdint.h>

#include "platform/base.h"
#include "platform/tool_hooks.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSMEM_TLS_SEGMENT_SHIFT 22  // = XSMEM_PAGEMAP_SHIFT: one pagemap tag per segment
#define XSMEM_TLS_SEGMENT ((size_t)1 << XSMEM_TLS_SEGMENT_SHIFT)
#define XSMEM_TLS_SEG_HEADER ((size_t)64 << 10)  // metadata at the segment's start
#define XSMEM_TLS_MAX_CLASSES 112                // classes up to 1 MiB (the largest small tier)
// Per-node size classes (the `numa` configuration): the class index space is
// replicated per node, slot = node * classes + class, so a segment, a bin and
// a batch belong to one node. One node (the default): slot = class.
#define XSMEM_TLS_MAX_NODES 8
#define XSMEM_TLS_MAX_SLOTS (XSMEM_TLS_MAX_CLASSES * XSMEM_TLS_MAX_NODES)

// The first bytes of every segment; the fast path reads nothing else of it.
typedef struct xsmem_tls_seg_head {
  uint32_t cls;         // size class slot (node * classes + class) of every block
  uint32_t data_bytes;  // blocks occupy [XSMEM_TLS_SEG_HEADER, + data_bytes)
  uint64_t div_magic;   // UINT64_MAX / block size + 1: divisibility test (Lemire)
  uint64_t free_key;    // in a free block's second word (random, never 0)
  uint64_t link_key;    // mixed into every link stored in the segment's free blocks (random)
} xsmem_tls_seg_head;

typedef struct xsmem_tls_bin {
  void *head;  // free blocks, linked through their first word
  // Operation counts, written only by the owner (plain increments done as
  // relaxed load + store) and summed by readers of the statistics. They also
  // give the length of the list, so neither side keeps a separate count:
  //   length = (frees - allocs) - stop + (the class's batch).
  uint64_t allocs, frees;
  // A free with (int64_t)(frees - allocs) >= stop goes to the slow path: the
  // list holds a whole batch. INT64_MIN in the empty cache: always.
  int64_t stop;
} xsmem_tls_bin;  // 32 bytes: two bins per cache line

typedef struct xsmem_tls_cache {
  xsmem_tls_bin bin[XSMEM_TLS_MAX_SLOTS];
  // Per class, a full list of `limit` blocks set aside when the list filled
  // up (NULL: none). An empty list takes it back whole, and a full list that
  // finds it taken pushes it to the global stack first: moving blocks in
  // and out of the cache never walks a list (the "loaded and previous
  // magazine" of Bonwick's slab allocator).
  // Taken and set with atomic exchanges (slow paths only): the purger takes
  // the spares of classes a thread left idle.
  void *spare[XSMEM_TLS_MAX_SLOTS];
  uint64_t spare_bytes;  // held in spares (atomic), within XSMEM_TLS_SPARE_BYTES
  // Per class, the bound of the list: 0 until the thread uses the class
  // (every operation of it goes to the slow path, which opens the list and
  // counts it against the process-wide budget), then the class's batch.
  uint32_t cap[XSMEM_TLS_MAX_SLOTS];
  uint64_t list_bytes;  // the open lists' bounds, in bytes (counted in the budget)
  // The purger's: each class's allocs + frees when it last looked.
  uint64_t purge_seen[XSMEM_TLS_MAX_SLOTS];
  // Blocks the next refill from the central list asks for: starts at about a
  // page and doubles up to a batch (slow start: a class used once touches
  // little memory).
  uint32_t refill[XSMEM_TLS_MAX_SLOTS];
  struct xsmem_tls_cache *next, *prev;  // the list of live caches (slow path)
} xsmem_tls_cache;

extern __thread xsmem_tls_cache *xsmem_tls_cache_ __attribute__((tls_model("initial-exec")));

// The calling thread's node times the number of classes: the first slot of
// its node (0 with one node). Set on the slow path from the caller's node.
extern __thread uint32_t xsmem_tls_node_base_ __attribute__((tls_model("initial-exec")));

// Largest request the tier serves (XSMEM_SMALL_MAX), set when it is built.
extern size_t xsmem_tls_small_max_;

// Sanitizer and Valgrind builds (platform/tool_hooks.h): a block is poisoned
// whenever the tier holds it and unpoisoned (its whole class size) when it is
// handed out; the tier reads and writes the links inside free blocks through
// these, which bypass the checks (ASan) or silence them (Valgrind). In normal
// builds all of it is a plain load or store, or nothing.
#if defined(XSMEM_TOOL_ASAN) || defined(XSMEM_TOOL_VG)
#define XSMEM_TLS_TOOLS 1
void *xsmem_tls_link_get(const void *b);
void xsmem_tls_link_set(void *b, void *next);
uint64_t xsmem_tls_key_get(const void *b);
void xsmem_tls_key_set(void *b, uint64_t key);
void xsmem_tls_tool_alloc(void *p, unsigned cls);
void xsmem_tls_tool_free(void *p, unsigned cls);
#else
XSMEM_INLINE void *xsmem_tls_link_get(const void *b) { return *(void *const *)b; }
XSMEM_INLINE void xsmem_tls_link_set(void *b, void *next) { *(void **)b = next; }
// Relaxed atomics (plain moves): a stale pop of the global stack may read a
// batch's second word while its new owner writes it (tls_stack.c).
XSMEM_INLINE uint64_t xsmem_tls_key_get(const void *b) {
  return __atomic_load_n((const uint64_t *)b + 1, __ATOMIC_RELAXED);
}
XSMEM_INLINE void xsmem_tls_key_set(void *b, uint64_t key) {
  __atomic_store_n((uint64_t *)b + 1, key, __ATOMIC_RELAXED);
}
XSMEM_INLINE void xsmem_tls_tool_alloc(void *p, unsigned cls) { (void)p, (void)cls; }
XSMEM_INLINE void xsmem_tls_tool_free(void *p, unsigned cls) { (void)p, (void)cls; }
#endif

// Slow paths (tls_cache.c).
void *xsmem_tls_alloc_slow(unsigned cls);
void xsmem_tls_free_slow(void *p);
void xsmem_tls_free_bad(void *p);
// A pop the fast path did not finish: the head's link leaves its segment or
// ends the list, or the head lost its free key. Pops with every check.
void *xsmem_tls_pop_checked(unsigned c);

// The classes of requests up to 1 KiB, by (n + 15) >> 4: every class
// boundary there is a multiple of 16, so one byte load replaces the
// arithmetic below (SizeClasses tests in tls_buckets_test check each class).
static const uint8_t xsmem_tls_class_by_16_[65] = {0,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                                   16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23, 23, 24,
                                                   24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27, 27, 28, 28,
                                                   28, 28, 29, 29, 29, 29, 30, 30, 30, 30, 31, 31, 31, 31};

// Returns the size class of n: 16-byte steps up to 128 B, then 8 classes per
// power of two (at most 12.5% rounding above 128 B).
XSMEM_INLINE unsigned xsmem_tls_class_of(size_t n) {
  if (XSMEM_LIKELY(n <= 1024)) return xsmem_tls_class_by_16_[(n + 15) >> 4];  // most requests
  size_t m = n - 1;
  unsigned l = 63u - (unsigned)__builtin_clzll(m);  // l >= 7
  return (l - 7) * 8 + (unsigned)(m >> (l - 3));
}

XSMEM_INLINE void xsmem_tls_count_(uint64_t *c) {
  __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

// Returns the segment header of a small block.
XSMEM_INLINE const xsmem_tls_seg_head *xsmem_tls_seg_of(const void *p) {
  return (const xsmem_tls_seg_head *)((uintptr_t)p & ~(uintptr_t)(XSMEM_TLS_SEGMENT - 1));
}

// Safe-linking: the word at `slot` (inside a free block of segment s) holds
// next ^ slot ^ s->link_key.
XSMEM_INLINE void *xsmem_tls_decode(const xsmem_tls_seg_head *s, const void *slot, const void *stored) {
  return (void *)((uintptr_t)stored ^ (uintptr_t)slot ^ s->link_key);
}

XSMEM_INLINE void *xsmem_tls_next_get(const xsmem_tls_seg_head *s, const void *b) {
  return xsmem_tls_decode(s, b, xsmem_tls_link_get(b));
}

XSMEM_INLINE void xsmem_tls_next_set(const xsmem_tls_seg_head *s, void *b, const void *next) {
  xsmem_tls_link_set(b, xsmem_tls_decode(s, b, next));
}

// Returns true when next lies in b's segment and is 16-byte aligned: a link
// the fast path follows without looking further (b is 16-byte aligned).
XSMEM_INLINE int xsmem_tls_link_near(const void *b, const void *next) {
  return (((uintptr_t)b ^ (uintptr_t)next) & ~(uintptr_t)(XSMEM_TLS_SEGMENT - 16)) == 0;
}

// Pops a block of slot c from the calling thread's cache.
XSMEM_INLINE void *xsmem_tls_pop_(unsigned c) {
  xsmem_tls_bin *b = &xsmem_tls_cache_->bin[c];
  void *p = b->head;
  if (XSMEM_UNLIKELY(p == NULL)) return xsmem_tls_alloc_slow(c);
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
  // next ^ p: the near test needs no more (xsmem_tls_link_near), and the
  // end of the list (next NULL: rel == p) is told apart only when it fails.
  // A link into another segment of the class is checked out of line.
  uintptr_t rel = (uintptr_t)xsmem_tls_link_get(p) ^ s->link_key;
  if (XSMEM_UNLIKELY(((rel & ~(uintptr_t)(XSMEM_TLS_SEGMENT - 16)) != 0 && rel != (uintptr_t)p) ||
                     xsmem_tls_key_get(p) != s->free_key)) {
    return xsmem_tls_pop_checked(c);
  }
  b->head = (void *)(rel ^ (uintptr_t)p);
  xsmem_tls_count_(&b->allocs);
  xsmem_tls_tool_alloc(p, c);
  xsmem_tls_key_set(p, 0);
  return p;
}

// Returns a block of at least n bytes (16-byte aligned), or NULL with errno.
// REQUIRES: n <= xsmem_tls_small_max_ and the tier built.
XSMEM_INLINE void *xsmem_tls_malloc(size_t n) { return xsmem_tls_pop_(xsmem_tls_class_of(n)); }

// xsmem_tls_malloc for per-node classes: the same with the thread's node base
// added to the class (one TLS load and an add more), for the `numa`
// configuration; xsmem_tls_malloc (node base 0) stays as short as it was.
XSMEM_INLINE void *xsmem_tls_malloc_node(size_t n) {
  return xsmem_tls_pop_(xsmem_tls_class_of(n) + xsmem_tls_node_base_);
}

// Returns true when p is the start of a block slot of its segment.
XSMEM_INLINE int xsmem_tls_is_block_start(const xsmem_tls_seg_head *s, const void *p) {
  uint32_t off = (uint32_t)((uintptr_t)p - (uintptr_t)s) - (uint32_t)XSMEM_TLS_SEG_HEADER;
  return off < s->data_bytes && (uint64_t)off * s->div_magic <= s->div_magic - 1;
}

// Frees a block. REQUIRES: xsmem_pagemap_get(p) == XSMEM_TAG_SMALL.
// An interior pointer is reported here, a double free (the block holds the
// free key) by the slow path.
XSMEM_INLINE void xsmem_tls_free(void *p) {
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
  if (XSMEM_UNLIKELY(!xsmem_tls_is_block_start(s, p))) {
    xsmem_tls_free_bad(p);
    return;
  }
  unsigned c = s->cls;
  uint64_t key = s->free_key;
  uintptr_t mix = (uintptr_t)xsmem_tls_decode(s, p, NULL);  // the header's last use: no register kept for it
  xsmem_tls_tool_free(p, c);
  xsmem_tls_bin *b = &xsmem_tls_cache_->bin[c];
  uint64_t frees = b->frees;
  void *head = b->head;
  if (XSMEM_UNLIKELY((int64_t)(frees - b->allocs) >= b->stop || xsmem_tls_key_get(p) == key)) {
    xsmem_tls_free_slow(p);
    return;
  }
  xsmem_tls_link_set(p, (void *)((uintptr_t)head ^ mix));
  xsmem_tls_key_set(p, key);
  b->head = p;
  __atomic_store_n(&b->frees, frees + 1, __ATOMIC_RELAXED);
}

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_FAST_H_
