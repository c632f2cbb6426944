// platform/pagemap.c: the chunk -> tag table (see pagemap.h).
#include "platform/pagemap.h"

#include <stdatomic.h>

#include "platform/log.h"
#include "platform/os_vm.h"

xsmem_pagemap_state xsmem_pagemap_;

// One bit per 4 KiB page of the table written so far (2^26 / 2^12 pages).
#define PAGEMAP_TABLE_PAGES (XSMEM_PAGEMAP_ENTRIES >> 12)
static _Atomic uint64_t g_touched[PAGEMAP_TABLE_PAGES / 64];

// Returns the table, mapping it on first use. Two racing first callers both
// map; the loser gives its copy back (nothing was written to it).
static uint8_t *pagemap_table(void) {
  uint8_t *t = __atomic_load_n(&xsmem_pagemap_.table, __ATOMIC_ACQUIRE);
  if (XSMEM_LIKELY(t != NULL)) return t;
  uint8_t *fresh = (uint8_t *)xsmem_os_map(XSMEM_PAGEMAP_ENTRIES, xsmem_os_page_size(), 0);
  if (fresh == NULL) xsmem_fatal("pagemap: cannot map %zu bytes for the table", XSMEM_PAGEMAP_ENTRIES);
  uint8_t *expected = NULL;
  if (__atomic_compare_exchange_n(&xsmem_pagemap_.table, &expected, fresh, false, __ATOMIC_ACQ_REL,
                                  __ATOMIC_ACQUIRE)) {
    t = fresh;
  } else {
    xsmem_os_unmap(fresh, XSMEM_PAGEMAP_ENTRIES);
    t = expected;
  }
  // Lookups start reading the table once they see the bound (both racers
  // store the same value).
  __atomic_store_n(&xsmem_pagemap_.entries, XSMEM_PAGEMAP_ENTRIES, __ATOMIC_RELEASE);
  return t;
}

void xsmem_pagemap_set(const void *base, size_t size, uint8_t tag) {
  uintptr_t b = (uintptr_t)base;
  if (XSMEM_UNLIKELY((b | size) & (XSMEM_PAGEMAP_CHUNK - 1))) {
    xsmem_fatal("pagemap: set(%p, %zu) not aligned to 4 MiB chunks", base, size);
  }
  uintptr_t first = b >> XSMEM_PAGEMAP_SHIFT;
  uintptr_t n = size >> XSMEM_PAGEMAP_SHIFT;
  if (XSMEM_UNLIKELY(first > XSMEM_PAGEMAP_ENTRIES || n > XSMEM_PAGEMAP_ENTRIES - first)) {
    xsmem_fatal("pagemap: set(%p, %zu) beyond the 48-bit address space", base, size);
  }
  if (n == 0) return;
  uint8_t *t = pagemap_table();
  for (uintptr_t i = first; i < first + n; i++) __atomic_store_n(t + i, tag, __ATOMIC_RELAXED);
  // Accounting only: which pages of the table now have backing.
  for (uintptr_t pg = first >> 12; pg <= (first + n - 1) >> 12; pg++) {
    uint64_t bit = (uint64_t)1 << (pg & 63);
    if (!(atomic_load_explicit(&g_touched[pg >> 6], memory_order_relaxed) & bit)) {
      atomic_fetch_or_explicit(&g_touched[pg >> 6], bit, memory_order_relaxed);
    }
  }
}

const uint8_t *xsmem_pagemap_table(void) { return pagemap_table(); }

size_t xsmem_pagemap_bytes_touched(void) {
  size_t pages = 0;
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(g_touched); i++) {
    pages += (size_t)__builtin_popcountll(atomic_load_explicit(&g_touched[i], memory_order_relaxed));
  }
  return pages << 12;
}
