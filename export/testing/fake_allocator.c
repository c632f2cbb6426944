// export/testing/fake_allocator.c: see fake_allocator.h.
#include "export/testing/fake_allocator.h"

#include <errno.h>
#include <string.h>

static void *fake_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  errno = ENOMEM;
  return NULL;
}
static void fake_free(xsmem_allocator *a, void *p, size_t size) {}
static size_t fake_usable(const xsmem_allocator *a, const void *p) { return 0; }
static void fake_stats(const xsmem_allocator *a, xsmem_stats *out) { *out = ((const xsmem_fake_allocator *)a)->stats; }
static void fake_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  const xsmem_fake_allocator *f = (const xsmem_fake_allocator *)a;
  for (size_t i = 0; i < f->num_detail; i++) {
    const xsmem_fake_detail *d = &f->detail[i];
    sink->value(sink, d->group, d->label, d->key, d->kind, d->value);
  }
}

static xsmem_allocator_ops g_ops[8];
static size_t g_num_ops;

void xsmem_fake_init(xsmem_fake_allocator *f, const char *name, const char *kind) {
  memset(f, 0, sizeof(*f));
  // One ops table per kind (the kind string lives in the table).
  const xsmem_allocator_ops *ops = NULL;
  for (size_t i = 0; i < g_num_ops; i++) {
    if (strcmp(g_ops[i].kind, kind) == 0) ops = &g_ops[i];
  }
  if (!ops && g_num_ops < 8) {
    xsmem_allocator_ops *o = &g_ops[g_num_ops++];
    o->kind = kind;
    o->alloc = fake_alloc;
    o->free = fake_free;
    o->usable_size = fake_usable;
    o->stats = fake_stats;
    o->detail = fake_detail;
    ops = o;
  }
  f->base.ops = ops;
  f->base.name = name;
  f->stats = xsmem_stats_init();
}
