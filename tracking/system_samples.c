// tracking/system_samples.c: glibc with a home beside it for the tracker's
// sampled blocks (see system_samples.h).
#include "tracking/system_samples.h"

#include <string.h>

#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"
#include "platform/os_vm.h"
#include "platform/pagemap.h"

enum {
  kHomeRegion = 16 << 20,  // buddy region: the largest sampled block it holds
  kHomeMinBlock = 64,      // sampled blocks are few: small ones waste little
};

// glibc with the sampled blocks' home beside it: the tracker's inner allocator
// in sample mode (whose unsampled frees the shim sends to glibc itself);
// unused in the others.
typedef struct samples {
  xsmem_allocator base;
  xsmem_allocator *system, *buddy, *large;
} samples;

static samples g_samples;

// The home tier holding p, or NULL for glibc's (untagged) memory.
static xsmem_allocator *home_of(const void *p) {
  switch (xsmem_pagemap_get(p)) {
    case XSMEM_TAG_BUDDY: return g_samples.buddy;
    case XSMEM_TAG_LARGE: return g_samples.large;
    default: return NULL;
  }
}

static xsmem_allocator *owner(const void *p) {
  xsmem_allocator *h = home_of(p);
  return h ? h : g_samples.system;
}

static void *s_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  return g_samples.system->ops->alloc(g_samples.system, size, align, flags);
}

static void s_free(xsmem_allocator *a, void *p, size_t size) {
  xsmem_allocator *o = owner(p);
  o->ops->free(o, p, size);
}

static size_t s_usable(const xsmem_allocator *a, const void *p) {
  xsmem_allocator *o = owner(p);
  return o->ops->usable_size(o, p);
}

static bool s_owns(const xsmem_allocator *a, const void *p) {
  xsmem_allocator *h = home_of(p);
  return h && h->ops->owns(h, p);  // glibc cannot tell
}

// A glibc block keeps glibc's realloc; a home block (sampled) moves to glibc.
static void *s_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  xsmem_allocator *h = home_of(p), *sys = g_samples.system;
  if (!h) return sys->ops->realloc(sys, p, size, flags);
  return xsmem_move_block(h, p, h->ops->usable_size(h, p), sys->ops->alloc(sys, size, XSMEM_MIN_ALIGN, 0), size);
}

// Adds the home tiers' blocks and memory to *out.
static void add_home_stats(xsmem_stats *out) {
  xsmem_allocator *tiers[] = {g_samples.buddy, g_samples.large};
  for (size_t i = 0; i < XSMEM_ARRAY_SIZE(tiers); i++) {
    if (!tiers[i]) continue;
    xsmem_stats h = xsmem_get_stats(tiers[i]);
    xsmem_stats_add_counts(out, &h);
    out->bytes_cached += h.bytes_cached;
    out->bytes_committed += h.bytes_committed;
  }
}

static void s_stats(const xsmem_allocator *a, xsmem_stats *out) {
  g_samples.system->ops->stats(g_samples.system, out);
  add_home_stats(out);
}

static size_t s_trim(xsmem_allocator *a, size_t goal) {
  size_t got = g_samples.system->ops->trim(g_samples.system, goal);
  if (g_samples.buddy) got += g_samples.buddy->ops->trim(g_samples.buddy, goal);
  if (g_samples.large) got += g_samples.large->ops->trim(g_samples.large, goal);
  return got;
}

static void s_fork(xsmem_allocator *a, int phase) {
  if (g_samples.buddy) g_samples.buddy->ops->fork(g_samples.buddy, phase);
  if (g_samples.large) g_samples.large->ops->fork(g_samples.large, phase);
}

static const xsmem_allocator_ops kSamplesOps = {
    .kind = "system",
    .alloc = s_alloc,
    .free = s_free,
    .usable_size = s_usable,
    .owns = s_owns,
    .realloc = s_realloc,
    .stats = s_stats,
    .trim = s_trim,
    .fork = s_fork,
};

// Sampled blocks go to the buddy tier when it can hold them, else the large one.
static void *home_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  xsmem_allocator *t = xsmem_buddy_block_size(g_samples.buddy, size, align) ? g_samples.buddy : g_samples.large;
  return t->ops->alloc(t, size, align, flags);
}

static void home_stats(const xsmem_allocator *a, xsmem_stats *out) {
  *out = xsmem_stats_init();
  add_home_stats(out);
}

// The tracker allocates sampled blocks here; everything else goes through inner.
static const xsmem_allocator_ops kHomeOps = {
    .kind = "system.samples",
    .alloc = home_alloc,
    .free = s_free,
    .usable_size = s_usable,
    .owns = s_owns,
    .stats = home_stats,
};
static xsmem_allocator g_home = {.ops = &kHomeOps, .name = "system.samples"};

// The home: a buddy tier, and a large tier for what the buddy cannot hold.
// Returns false (no home) when either cannot be made.
static bool make_home(void) {
  xsmem_buddy_options b = xsmem_buddy_options_from_env();
  // Under an address-space limit a region takes at most 1/32 of it (4 MiB
  // under 128 MiB): a home for a few sampled blocks must not hold the
  // address space glibc would serve the program from.
  b.region_size = xsmem_os_fit_limit(kHomeRegion, 32, XSMEM_PAGEMAP_CHUNK);
  b.min_block = kHomeMinBlock;
  g_samples.buddy = xsmem_buddy_create("system.samples.buddy", xsmem_os_source(), &b);
  if (!g_samples.buddy) return false;
  xsmem_large_options l = xsmem_large_options_from_env();
  g_samples.large = xsmem_large_create("system.samples.large", NULL, &l);
  return g_samples.large != NULL;
}

bool xsmem_system_samples_build(xsmem_allocator *system, xsmem_allocator **inner, xsmem_allocator **home) {
  if (!make_home()) return false;
  g_samples.system = system;
  g_samples.base.ops = &kSamplesOps;
  g_samples.base.name = system->name;
  *inner = &g_samples.base;
  *home = &g_home;
  return true;
}
