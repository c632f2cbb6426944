// The registry: walks the xsmem_configs section; no constructors, no malloc.
#include "allocators/registry.h"

#include <stdatomic.h>
#include <string.h>

#include "platform/log.h"

// Defined by the linker when at least one configuration is linked in; weak so
// that a binary with none still links (and lists nothing).
extern const xsmem_config *const __start_xsmem_configs[] __attribute__((weak));
extern const xsmem_config *const __stop_xsmem_configs[] __attribute__((weak));

enum { kMaxConfigs = 64 };
static const xsmem_config *g_sorted[kMaxConfigs];
static size_t g_count;
static _Atomic int g_state;  // 0 new, 1 building, 2 ready

static void build_index(void) {
  size_t n = 0;
  for (const xsmem_config *const *it = __start_xsmem_configs; it && it < __stop_xsmem_configs; it++) {
    const xsmem_config *c = *it;
    if (n == kMaxConfigs) xsmem_fatal("more than %d configurations linked in", kMaxConfigs);
    // Insertion sort by name; a duplicate name is fatal (two libraries claim it).
    size_t i = n;
    while (i > 0 && strcmp(g_sorted[i - 1]->name, c->name) > 0) {
      g_sorted[i] = g_sorted[i - 1];
      i--;
    }
    if (i > 0 && strcmp(g_sorted[i - 1]->name, c->name) == 0) {
      xsmem_fatal("configuration '%s' is registered twice (\"%s\" and \"%s\")", c->name, g_sorted[i - 1]->summary,
                  c->summary);
    }
    g_sorted[i] = c;
    n++;
  }
  g_count = n;
}

static void ensure_index(void) {
  if (XSMEM_LIKELY(atomic_load_explicit(&g_state, memory_order_acquire) == 2)) return;
  int expected = 0;
  if (atomic_compare_exchange_strong(&g_state, &expected, 1)) {
    build_index();
    atomic_store_explicit(&g_state, 2, memory_order_release);
    return;
  }
  while (atomic_load_explicit(&g_state, memory_order_acquire) != 2) {
  }
}

size_t xsmem_config_count(void) {
  ensure_index();
  return g_count;
}

const xsmem_config *xsmem_config_at(size_t i) {
  ensure_index();
  return i < g_count ? g_sorted[i] : NULL;
}

const xsmem_config *xsmem_config_find(const char *name) {
  ensure_index();
  for (size_t i = 0; i < g_count; i++) {
    if (strcmp(g_sorted[i]->name, name) == 0) return g_sorted[i];
  }
  return NULL;
}

// Replaced by the malloc shim's strong definition when a shim is linked.
__attribute__((weak)) xsmem_allocator *xsmem_process_allocator(void) { return NULL; }
