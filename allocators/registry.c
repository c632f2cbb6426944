// The registry: walks the xsmem_configs section; no constructors, no malloc.
#include "allocators/registry.h"

#include <errno.h>
#include <string.h>

#include "platform/log.h"

// Defined by the linker when at least one configuration is linked in; weak so
// that a binary with none still links (and lists nothing).
extern const xsmem_config *const __start_xsmem_configs[] __attribute__((weak));
extern const xsmem_config *const __stop_xsmem_configs[] __attribute__((weak));

enum { kMaxConfigs = 64 };
static const xsmem_config *g_sorted[kMaxConfigs];
static size_t g_count;
static xsmem_once g_index;

static bool build_index(void *ctx) {
  (void)ctx;
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
  return true;
}

static void ensure_index(void) {
  if (XSMEM_LIKELY(xsmem_once_done(&g_index))) return;
  xsmem_once_run(&g_index, build_index, NULL);
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

static bool build_config(void *ctx) {
  const xsmem_config *c = ctx;
  errno = 0;
  c->state->allocator = c->build();
  return c->state->allocator != NULL;
}

xsmem_allocator *xsmem_config_instance(const xsmem_config *c) {
  if (XSMEM_LIKELY(xsmem_once_done(&c->state->once))) return c->state->allocator;
  if (xsmem_once_run(&c->state->once, build_config, (void *)c) != XSMEM_ONCE_DONE) {
    if (!errno) errno = ENOMEM;
    return NULL;
  }
  return c->state->allocator;
}

// Replaced by the malloc shim's strong definition when a shim is linked.
__attribute__((weak)) xsmem_allocator *xsmem_process_allocator(void) { return NULL; }

int xsmem_malloc_stats_write(const char *format, xsmem_write_fn write, void *opaque) {
  const xsmem_allocator *a = xsmem_process_allocator();
  return a ? xsmem_stats_write(a, format, write, opaque) : ENOENT;
}
