// tracking/live_set.c: the live-block set of full mode (model in live_set.h).
#include "tracking/live_set.h"

#include <errno.h>

#include "platform/os_vm.h"

enum { kFirstCapacity = 256 };

XSMEM_INLINE uint64_t live_hash(uintptr_t p) { return (uint64_t)p * 0x9e3779b97f4a7c15ull; }

// Shard from the top six bits, the home slot from the bits below them (the
// low bits of the product are zero for aligned pointers).
XSMEM_INLINE live_shard *shard_of(live_set *s, uint64_t h) { return &s->shards[h >> 58]; }
XSMEM_INLINE size_t home_of(uint64_t h, size_t mask) { return (size_t)(h >> 20) & mask; }

// Doubles the table (or makes the first). REQUIRES: sh->lock held.
static bool grow(live_shard *sh) {
  size_t old_cap = sh->slots ? sh->mask + 1 : 0;
  size_t cap = old_cap ? old_cap * 2 : kFirstCapacity;
  uintptr_t *slots = xsmem_os_map(cap * sizeof(uintptr_t), xsmem_os_page_size(), 0);
  if (!slots) {
    errno = ENOMEM;
    return false;
  }
  size_t mask = cap - 1;
  for (size_t i = 0; i < old_cap; i++) {
    uintptr_t p = sh->slots[i];
    if (!p) continue;
    size_t j = home_of(live_hash(p), mask);
    while (slots[j]) j = (j + 1) & mask;
    slots[j] = p;
  }
  if (sh->slots) xsmem_os_unmap(sh->slots, old_cap * sizeof(uintptr_t));
  sh->slots = slots;
  sh->mask = mask;
  return true;
}

// Stores p in its run. REQUIRES: sh->lock held, a free slot.
XSMEM_INLINE void place(live_shard *sh, uint64_t h, uintptr_t p) {
  size_t i = home_of(h, sh->mask);
  while (sh->slots[i]) i = (i + 1) & sh->mask;
  sh->slots[i] = p;
  sh->size++;
}

// The insert that grows the table first (out of line: the common insert
// then needs no saved registers). REQUIRES: sh->lock held; releases it.
XSMEM_NOINLINE static bool insert_growing(live_shard *sh, uint64_t h, uintptr_t p) {
  bool ok = grow(sh);
  if (ok) place(sh, h, p);
  xsmem_spin_unlock(&sh->lock);
  return ok;
}

// The slot holding p, or SIZE_MAX. REQUIRES: sh->lock held.
XSMEM_INLINE size_t find(const live_shard *sh, uint64_t h, uintptr_t p) {
  if (XSMEM_UNLIKELY(!sh->slots)) return SIZE_MAX;
  for (size_t i = home_of(h, sh->mask);; i = (i + 1) & sh->mask) {
    if (sh->slots[i] == p) return i;
    if (!sh->slots[i]) return SIZE_MAX;
  }
}

bool live_set_insert(live_set *s, uintptr_t p) {
  uint64_t h = live_hash(p);
  live_shard *sh = shard_of(s, h);
  xsmem_spin_lock(&sh->lock);
  if (XSMEM_UNLIKELY(!sh->slots || (sh->size + 1) * 4 > sh->mask + 1)) return insert_growing(sh, h, p);
  place(sh, h, p);
  xsmem_spin_unlock(&sh->lock);
  return true;
}

bool live_set_erase(live_set *s, uintptr_t p) {
  uint64_t h = live_hash(p);
  live_shard *sh = shard_of(s, h);
  xsmem_spin_lock(&sh->lock);
  size_t i = find(sh, h, p);
  if (XSMEM_UNLIKELY(i == SIZE_MAX)) {
    xsmem_spin_unlock(&sh->lock);
    return false;
  }
  uintptr_t *slots = sh->slots;
  size_t mask = sh->mask;
  // Backward shift: an entry further along the run moves into the hole
  // unless its home lies cyclically in (hole, its slot].
  for (size_t j = (i + 1) & mask; slots[j]; j = (j + 1) & mask) {
    size_t home = home_of(live_hash(slots[j]), mask);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      slots[i] = slots[j];
      i = j;
    }
  }
  slots[i] = 0;
  sh->size--;
  xsmem_spin_unlock(&sh->lock);
  return true;
}

bool live_set_contains(live_set *s, uintptr_t p) {
  uint64_t h = live_hash(p);
  live_shard *sh = shard_of(s, h);
  xsmem_spin_lock(&sh->lock);
  bool found = find(sh, h, p) != SIZE_MAX;
  xsmem_spin_unlock(&sh->lock);
  return found;
}

size_t live_set_size(live_set *s) {
  size_t n = 0;
  for (int k = 0; k < kLiveShards; k++) {
    xsmem_spin_lock(&s->shards[k].lock);
    n += s->shards[k].size;
    xsmem_spin_unlock(&s->shards[k].lock);
  }
  return n;
}

size_t live_set_bytes(live_set *s) {
  size_t n = 0;
  for (int k = 0; k < kLiveShards; k++) {
    live_shard *sh = &s->shards[k];
    xsmem_spin_lock(&sh->lock);
    if (sh->slots) n += (sh->mask + 1) * sizeof(uintptr_t);
    xsmem_spin_unlock(&sh->lock);
  }
  return n;
}

void live_set_for_each(live_set *s, void (*fn)(uintptr_t p, void *ctx), void *ctx) {
  for (int k = 0; k < kLiveShards; k++) {
    live_shard *sh = &s->shards[k];
    xsmem_spin_lock(&sh->lock);
    for (size_t i = 0; sh->slots && i <= sh->mask; i++) {
      if (sh->slots[i]) fn(sh->slots[i], ctx);
    }
    xsmem_spin_unlock(&sh->lock);
  }
}

void live_set_lock_all(live_set *s) {
  for (int k = 0; k < kLiveShards; k++) xsmem_spin_lock(&s->shards[k].lock);
}

void live_set_unlock_all(live_set *s) {
  for (int k = kLiveShards - 1; k >= 0; k--) xsmem_spin_unlock(&s->shards[k].lock);
}

void live_set_destroy(live_set *s) {
  for (int k = 0; k < kLiveShards; k++) {
    live_shard *sh = &s->shards[k];
    if (sh->slots) xsmem_os_unmap(sh->slots, (sh->mask + 1) * sizeof(uintptr_t));
    sh->slots = NULL;
    sh->mask = sh->size = 0;
  }
}
