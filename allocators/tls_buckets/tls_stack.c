// allocators/tls_buckets/tls_stack.c: the small tier's global batch stacks,
// one per slot, between the thread caches and the central lists (the third
// layer of tls_buckets.h): lock-free, ABA-safe through the tag. A batch is
// tls_batch[c] blocks linked through word 0; a word of its first block links
// the batch below it. Segments are never unmapped, so reading a stale top's
// link cannot fault; the CAS then fails on the tag.
#include "allocators/tls_buckets/tls_buckets_internal.h"

tls_stack tls_stacks[XSMEM_TLS_MAX_SLOTS];

// The word of a batch's first block that links the batch below it: word 2,
// past the free key (tls_fast.h), in blocks of 32 bytes or more; word 1 in
// 16-byte blocks, which have no other, and get their key back when the
// batch comes off (tls_batch_unlinked).
static unsigned batch_link_word(const void *batch) { return tls_size[xsmem_tls_seg_of(batch)->cls] > 16 ? 2 : 1; }

// A pop reads the link from a top that another thread may have popped and
// handed out meanwhile (the CAS then fails): an atomic, and no tool
// check (its poisoning says nothing then). Safe-linked as a list's link is,
// with the address of its own word (tls_fast.h).
TOOL_NO_CHECKS void tls_batch_link_set(void *batch, void *below) {
  void **slot = &((void **)batch)[batch_link_word(batch)];
  TOOL_CHECKS_OFF();
  __atomic_store_n(slot, xsmem_tls_decode(xsmem_tls_seg_of(batch), slot, below), __ATOMIC_RELAXED);
  TOOL_CHECKS_ON();
}

TOOL_NO_CHECKS void *tls_batch_link_get(void *batch) {
  void **slot = &((void **)batch)[batch_link_word(batch)];
  TOOL_CHECKS_OFF();
  void *stored = __atomic_load_n(slot, __ATOMIC_ACQUIRE);  // before tls_stack_pop's second look at the head
  TOOL_CHECKS_ON();
  return xsmem_tls_decode(xsmem_tls_seg_of(batch), slot, stored);
}

// A batch taken off a stack or a list of batches: its first block holds the
// free key again.
void tls_batch_unlinked(void *batch) {
  if (batch_link_word(batch) == 1) xsmem_tls_key_set(batch, xsmem_tls_seg_of(batch)->free_key);
}

#define STACK_NEXT_TAG(hi) ((((hi) >> 16) + 1) << 16)

// Pushes a batch of slot c (tls_batch[c] blocks). Returns false, the batch
// still the caller's, when the budget or the stack's depth refuses it.
bool tls_stack_push(unsigned c, void *batch) {
  tls_stack *st = &tls_stacks[c];
  uint64_t bytes = (uint64_t)tls_batch[c] * tls_size[c];
  if (!budget_allows(bytes)) return false;
  xsmem_pair128 old = xsmem_load128(&st->head);
  for (;;) {
    if (STACK_DEPTH(old.hi) >= tls_depth[c]) {
      tls_batch_unlinked(batch);  // a 16-byte head's link, written by a try that lost the race, goes
      return false;
    }
    tls_batch_link_set(batch, (void *)(uintptr_t)old.lo);
    xsmem_pair128 nw = {(uint64_t)(uintptr_t)batch, STACK_NEXT_TAG(old.hi) | (STACK_DEPTH(old.hi) + 1)};
    if (xsmem_cas128(&st->head, &old, nw)) break;
    add_relaxed(&st->cas_retries, 1);
  }
  held_add((int64_t)bytes);
  if (!__atomic_load_n(&st->active, __ATOMIC_RELAXED)) __atomic_store_n(&st->active, 1, __ATOMIC_RELAXED);
  return true;
}

// Returns the top batch of slot c, or NULL when the stack is empty.
void *tls_stack_pop(unsigned c) {
  tls_stack *st = &tls_stacks[c];
  void *top = NULL;
  uint64_t taken = 0;  // batches off the stack: the top, and those dropped below a bad link
#ifdef XSMEM_CAS128_LOCKED
  xsmem_spin_lock(&st->pop_lock);
#endif
  xsmem_pair128 old = xsmem_load128(&st->head);
  while (old.lo) {
    taken = 1;
    void *next = tls_batch_link_get((void *)(uintptr_t)old.lo);
    xsmem_pair128 nw = {(uint64_t)(uintptr_t)next, STACK_NEXT_TAG(old.hi) | (STACK_DEPTH(old.hi) - 1)};
    if (next && !tls_block_of(next, c)) {
      // A stale top (popped meanwhile, and written by its new owner) moved
      // the head on: try again. A head unchanged since (the tag changes with
      // every push and pop; the link's load is an acquire, so this load
      // follows it) held its top while the link was read: the link was
      // overwritten on the stack.
      xsmem_pair128 now = xsmem_load128(&st->head);
      if (now.lo != old.lo || now.hi != old.hi) {
        old = now;
        continue;
      }
      tls_report_corruption("malloc", c, (void *)(uintptr_t)old.lo,
                            "its batch link on the global stack was overwritten (write after free)", next);
      nw.lo = 0;  // the batches below are dropped, not followed (nor counted)
      nw.hi = STACK_NEXT_TAG(old.hi);
      taken = STACK_DEPTH(old.hi);
    }
    if (xsmem_cas128(&st->head, &old, nw)) {
      top = (void *)(uintptr_t)old.lo;
      break;
    }
    add_relaxed(&st->cas_retries, 1);
  }
#ifdef XSMEM_CAS128_LOCKED
  xsmem_spin_unlock(&st->pop_lock);
#endif
  if (!top) return NULL;
  tls_batch_unlinked(top);
  held_add(-(int64_t)(taken * tls_batch[c] * tls_size[c]));
  if (!__atomic_load_n(&st->active, __ATOMIC_RELAXED)) __atomic_store_n(&st->active, 1, __ATOMIC_RELAXED);
  return top;
}
