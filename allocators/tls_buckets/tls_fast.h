// allocators/tls_buckets/tls_fast.h: the whole fast path of the small tier.
//
// This file is everything a malloc/free of a small block runs when the
// calling thread's cache can serve it; all else is in tls_buckets.c, out of
// line. Budget (x86-64, -O2): malloc = size -> class (one branch, one lzcnt),
// one TLS load, a pop, two plain stores; free = mask to the segment header,
// a bounds + block-start check (one multiply), a push, two plain stores. No
// lock, no atomic read-modify-write, one predictable branch to the slow path
// on each side.
//
// Layout the fast path relies on (defined here, maintained by tls_buckets.c):
//   - every small block lives in a 4 MiB segment, aligned to 4 MiB and tagged
//     XSMEM_TAG_SMALL in platform/pagemap, that serves one size class only;
//   - the segment begins with xsmem_tls_seg_head: its class, and the byte
//     range of its blocks [XSMEM_TLS_SEG_HEADER, +data_bytes);
//   - each thread points xsmem_tls_cache_ at its cache: per class a singly
//     linked list (link in the block's first word), its length and its bound.
//     A thread without a cache points at a shared empty cache whose bounds are
//     0, so both paths fall to the slow path, which builds one.
#ifndef XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_FAST_H_
#define XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_FAST_H_

#include <stddef.h>
#include <stdint.h>

#include "platform/base.h"

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
} xsmem_tls_seg_head;

typedef struct xsmem_tls_bin {
  void *head;      // free blocks, linked through their first word
  uint32_t count;  // length of the list
  uint32_t limit;  // a free with count == limit flushes a batch (0: no cache)
} xsmem_tls_bin;

typedef struct xsmem_tls_cache {
  xsmem_tls_bin bin[XSMEM_TLS_MAX_SLOTS];
  // Per-class operation counts, written only by the owner (plain increments
  // done as relaxed load + store) and summed by readers of the statistics.
  uint64_t allocs[XSMEM_TLS_MAX_SLOTS];
  uint64_t frees[XSMEM_TLS_MAX_SLOTS];
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

// Slow paths (tls_buckets.c).
void *xsmem_tls_alloc_slow(unsigned cls);
void xsmem_tls_free_slow(void *p, unsigned cls);
void xsmem_tls_free_bad(void *p);

// Returns the size class of n: 16-byte steps up to 128 B, then 8 classes per
// power of two (at most 12.5% rounding above 128 B).
XSMEM_INLINE unsigned xsmem_tls_class_of(size_t n) {
  if (n <= 128) return n ? (unsigned)((n + 15) >> 4) - 1 : 0;
  size_t m = n - 1;
  unsigned l = 63u - (unsigned)__builtin_clzll(m);  // l >= 7
  return (l - 7) * 8 + (unsigned)(m >> (l - 3));
}

XSMEM_INLINE void xsmem_tls_count_(uint64_t *c) {
  __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

// Returns a block of at least n bytes (16-byte aligned), or NULL with errno.
// REQUIRES: n <= xsmem_tls_small_max_ and the tier built.
XSMEM_INLINE void *xsmem_tls_malloc(size_t n) {
  unsigned c = xsmem_tls_class_of(n);
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  xsmem_tls_bin *b = &tc->bin[c];
  void *p = b->head;
  if (XSMEM_UNLIKELY(p == NULL)) return xsmem_tls_alloc_slow(c);
  b->head = *(void **)p;
  b->count--;
  xsmem_tls_count_(&tc->allocs[c]);
  return p;
}

// xsmem_tls_malloc for per-node classes: the same with the thread's node base
// added to the class (one TLS load and an add more), for the `numa`
// configuration; xsmem_tls_malloc (node base 0) stays as short as it was.
XSMEM_INLINE void *xsmem_tls_malloc_node(size_t n) {
  unsigned c = xsmem_tls_class_of(n) + xsmem_tls_node_base_;
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  xsmem_tls_bin *b = &tc->bin[c];
  void *p = b->head;
  if (XSMEM_UNLIKELY(p == NULL)) return xsmem_tls_alloc_slow(c);
  b->head = *(void **)p;
  b->count--;
  xsmem_tls_count_(&tc->allocs[c]);
  return p;
}

// Returns the segment header of a small block.
XSMEM_INLINE const xsmem_tls_seg_head *xsmem_tls_seg_of(const void *p) {
  return (const xsmem_tls_seg_head *)((uintptr_t)p & ~(uintptr_t)(XSMEM_TLS_SEGMENT - 1));
}

// Returns true when p is the start of a block slot of its segment.
XSMEM_INLINE int xsmem_tls_is_block_start(const xsmem_tls_seg_head *s, const void *p) {
  uint32_t off = (uint32_t)((uintptr_t)p - (uintptr_t)s) - (uint32_t)XSMEM_TLS_SEG_HEADER;
  return off < s->data_bytes && (uint64_t)off * s->div_magic <= s->div_magic - 1;
}

// Frees a block. REQUIRES: xsmem_pagemap_get(p) == XSMEM_TAG_SMALL.
// An interior pointer and an immediate double free are reported.
XSMEM_INLINE void xsmem_tls_free(void *p) {
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
  if (XSMEM_UNLIKELY(!xsmem_tls_is_block_start(s, p))) {
    xsmem_tls_free_bad(p);
    return;
  }
  unsigned c = s->cls;
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  xsmem_tls_bin *b = &tc->bin[c];
  if (XSMEM_UNLIKELY(b->count >= b->limit || p == b->head)) {
    xsmem_tls_free_slow(p, c);
    return;
  }
  *(void **)p = b->head;
  b->head = p;
  b->count++;
  xsmem_tls_count_(&tc->frees[c]);
}

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_TLS_BUCKETS_TLS_FAST_H_
