// tracking/live_set.c: the live-block set of full mode (model in live_set.h).
#include "tracking/live_set.h"

#include <errno.h>

#include "platform/os_vm.h"

XSMEM_NOINLINE XSMEM_COLD live_chunk *live_set_make_chunk(live_set *s, uintptr_t p) {
  uintptr_t i = p >> kLiveTopShift;
  if (i >= kLiveTopEntries) {
    errno = ENOMEM;
    return NULL;
  }
  live_chunk *c = NULL;
  xsmem_spin_lock(&s->make_lock);
  _Atomic(live_chunk *) *mid = atomic_load_explicit(&s->top[i], memory_order_relaxed);
  if (!mid) {
    mid = xsmem_os_map(kLiveMidEntries * sizeof(*mid), xsmem_os_page_size(), 0);
    if (!mid) goto out;
    atomic_store_explicit(&s->top[i], mid, memory_order_release);
    atomic_fetch_add_explicit(&s->mid_count, 1, memory_order_relaxed);
  }
  _Atomic(live_chunk *) *slot = &mid[(p >> kLiveChunkShift) & (kLiveMidEntries - 1)];
  c = atomic_load_explicit(slot, memory_order_relaxed);
  if (!c) {
    c = xsmem_os_map(sizeof(live_chunk), xsmem_os_page_size(), 0);
    if (!c) goto out;
    c->base = p & ~(((uintptr_t)1 << kLiveChunkShift) - 1);
    c->next = atomic_load_explicit(&s->chunks, memory_order_relaxed);
    atomic_store_explicit(&s->chunks, c, memory_order_release);
    atomic_store_explicit(slot, c, memory_order_release);
    atomic_fetch_add_explicit(&s->chunk_count, 1, memory_order_relaxed);
  }
out:
  xsmem_spin_unlock(&s->make_lock);
  if (!c) errno = ENOMEM;
  return c;
}

// Eight granules' bytes as one word (each byte 0 or 1). Walks read the map a
// word at a time; an atomic load, so it is ordered like the byte operations.
// Byte i of the word is granule 8k + i, in the low bits (byte-swapped on a
// big-endian machine).
static uint64_t live_word(const live_chunk *c, size_t k, int order) {
  uint64_t w = __atomic_load_n((const uint64_t *)(const void *)&c->live[8 * k], order);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

size_t live_set_size(live_set *s) {
  size_t n = 0;
  for (live_chunk *c = atomic_load_explicit(&s->chunks, memory_order_acquire); c; c = c->next) {
    for (size_t k = 0; k < kLiveGranules / 8; k++) {
      n += (size_t)__builtin_popcountll(live_word(c, k, __ATOMIC_RELAXED));
    }
  }
  return n;
}

size_t live_set_bytes(live_set *s) {
  return atomic_load_explicit(&s->chunk_count, memory_order_relaxed) * sizeof(live_chunk) +
      atomic_load_explicit(&s->mid_count, memory_order_relaxed) * kLiveMidEntries * sizeof(live_chunk *);
}

void live_set_wait_walk(live_set *s) {
  while (atomic_load_explicit(&s->walking, memory_order_acquire)) xsmem_cpu_relax();
}

void live_set_walk_begin(live_set *s) {
  xsmem_spin_lock(&s->walk_lock);
  // Raised before any byte is read (both sequentially consistent): a free
  // whose quiesce reads 0 erased its byte before this walk can see it.
  atomic_store_explicit(&s->walking, 1, memory_order_seq_cst);
}

void live_set_walk_end(live_set *s) {
  atomic_store_explicit(&s->walking, 0, memory_order_release);
  xsmem_spin_unlock(&s->walk_lock);
}

// Visits the live pointers of chunk c in address order.
static void visit_chunk(live_chunk *c, void (*fn)(uintptr_t p, void *ctx), void *ctx) {
  for (size_t k = 0; k < kLiveGranules / 8; k++) {
    uint64_t w = live_word(c, k, __ATOMIC_RELAXED);  // which bytes to look at
    while (w) {
      size_t g = 8 * k + (unsigned)__builtin_ctzll(w) / 8;
      w &= w - 1;
      // The byte itself, sequentially consistent against an erase's
      // quiesce, and acquiring the header its insert released.
      if (atomic_load_explicit(&c->live[g], memory_order_seq_cst)) fn(c->base + (g << kLiveGranuleShift), ctx);
    }
  }
}

void live_set_for_each(live_set *s, void (*fn)(uintptr_t p, void *ctx), void *ctx) {
  live_set_walk_begin(s);
  for (live_chunk *c = atomic_load_explicit(&s->chunks, memory_order_acquire); c; c = c->next) visit_chunk(c, fn, ctx);
  live_set_walk_end(s);
}

void live_set_visit_ordered(live_set *s, void (*fn)(uintptr_t p, void *ctx), void *ctx) {
  // The radix tables are in address order: top level, then chunk within it.
  for (size_t i = 0; i < kLiveTopEntries; i++) {
    _Atomic(live_chunk *) *mid = atomic_load_explicit(&s->top[i], memory_order_acquire);
    for (size_t j = 0; mid && j < kLiveMidEntries; j++) {
      live_chunk *c = atomic_load_explicit(&mid[j], memory_order_acquire);
      if (c) visit_chunk(c, fn, ctx);
    }
  }
}

void live_set_lock_all(live_set *s) {
  xsmem_spin_lock(&s->make_lock);
  xsmem_spin_lock(&s->walk_lock);
}

void live_set_unlock_all(live_set *s) {
  xsmem_spin_unlock(&s->walk_lock);
  xsmem_spin_unlock(&s->make_lock);
}

void live_set_destroy(live_set *s) {
  live_chunk *c = atomic_load_explicit(&s->chunks, memory_order_acquire);
  while (c) {
    live_chunk *next = c->next;
    xsmem_os_unmap(c, sizeof(live_chunk));
    c = next;
  }
  for (size_t i = 0; i < kLiveTopEntries; i++) {
    _Atomic(live_chunk *) *mid = atomic_load_explicit(&s->top[i], memory_order_relaxed);
    if (mid) xsmem_os_unmap(mid, kLiveMidEntries * sizeof(*mid));
    atomic_store_explicit(&s->top[i], NULL, memory_order_relaxed);
  }
  atomic_store_explicit(&s->chunks, NULL, memory_order_relaxed);
  atomic_store_explicit(&s->chunk_count, 0, memory_order_relaxed);
  atomic_store_explicit(&s->mid_count, 0, memory_order_relaxed);
}
