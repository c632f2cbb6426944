// platform/pagemap.c: the chunk -> tag table (see pagemap.h).
#include "platform/pagemap.h"

#include <errno.h>
#include <stdatomic.h>

#include "platform/log.h"
#include "platform/os_vm.h"

xsmem_pagemap_state xsmem_pagemap_;

// One bit per 4 KiB page of the leaves written so far (chunk c's tag is on
// page c >> 12 of the flat 2^26-byte index space the leaves cover).
#define PAGEMAP_TABLE_PAGES (XSMEM_PAGEMAP_ENTRIES >> 12)
static _Atomic uint64_t g_touched[PAGEMAP_TABLE_PAGES / 64];
static _Atomic size_t g_leaves;

static bool leaf_present(uintptr_t i) { return __atomic_load_n(&xsmem_pagemap_.root[i], __ATOMIC_ACQUIRE) != 0; }

// Maps root entry i's leaf if it has none. Two racing callers both map; the
// loser gives its copy back (nothing was written to it). Returns false
// (errno ENOMEM) when the leaf cannot be mapped.
static bool leaf_make(uintptr_t i) {
  if (leaf_present(i)) return true;
  uint8_t *leaf = (uint8_t *)xsmem_os_map(XSMEM_PAGEMAP_LEAF, xsmem_os_page_size(), 0);
  if (leaf == NULL) {
    errno = ENOMEM;
    return false;
  }
  uintptr_t expected = 0;
  uintptr_t offset = (uintptr_t)leaf - (uintptr_t)xsmem_pagemap_.zero;  // never 0: the leaf is not zero[]
  if (__atomic_compare_exchange_n(&xsmem_pagemap_.root[i], &expected, offset, false, __ATOMIC_RELEASE,
                                  __ATOMIC_ACQUIRE)) {
    atomic_fetch_add_explicit(&g_leaves, 1, memory_order_relaxed);
  } else {
    xsmem_os_unmap(leaf, XSMEM_PAGEMAP_LEAF);
  }
  return true;
}

bool xsmem_pagemap_set(const void *base, size_t size, uint8_t tag) {
  uintptr_t b = (uintptr_t)base;
  if (XSMEM_UNLIKELY((b | size) & (XSMEM_PAGEMAP_CHUNK - 1))) {
    xsmem_fatal("pagemap: set(%p, %zu) not aligned to 4 MiB chunks", base, size);
  }
  uintptr_t first = b >> XSMEM_PAGEMAP_SHIFT;
  uintptr_t n = size >> XSMEM_PAGEMAP_SHIFT;
  if (XSMEM_UNLIKELY(first > XSMEM_PAGEMAP_ENTRIES || n > XSMEM_PAGEMAP_ENTRIES - first)) {
    xsmem_fatal("pagemap: set(%p, %zu) beyond the 48-bit address space", base, size);
  }
  if (n == 0) return true;
  uintptr_t last = first + n - 1;
  if (tag != XSMEM_TAG_NONE) {
    // Every leaf first: a failure leaves the range as it was.
    for (uintptr_t i = first >> XSMEM_PAGEMAP_LEAF_BITS; i <= last >> XSMEM_PAGEMAP_LEAF_BITS; i++) {
      if (!leaf_make(i)) return false;
    }
  }
  for (uintptr_t c = first; c <= last; c++) {
    // Clearing skips leaves never mapped: their chunks read 0 already.
    if (tag == XSMEM_TAG_NONE && !leaf_present(c >> XSMEM_PAGEMAP_LEAF_BITS)) {
      c |= XSMEM_PAGEMAP_LEAF - 1;
      continue;
    }
    __atomic_store_n((uint8_t *)xsmem_pagemap_slot_(c), tag, __ATOMIC_RELAXED);
  }
  if (tag == XSMEM_TAG_NONE) return true;
  // Accounting only: which pages of the leaves now have backing.
  for (uintptr_t pg = first >> 12; pg <= last >> 12; pg++) {
    uint64_t bit = (uint64_t)1 << (pg & 63);
    if (!(atomic_load_explicit(&g_touched[pg >> 6], memory_order_relaxed) & bit)) {
      atomic_fetch_or_explicit(&g_touched[pg >> 6], bit, memory_order_relaxed);
    }
  }
  return true;
}

size_t xsmem_pagemap_bytes_touched(void) {
  size_t pages = 0;
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(g_touched); i++) {
    pages += (size_t)__builtin_popcountll(atomic_load_explicit(&g_touched[i], memory_order_relaxed));
  }
  return pages << 12;
}

size_t xsmem_pagemap_leaves(void) { return atomic_load_explicit(&g_leaves, memory_order_relaxed); }
