// Configuration `system_tracked`: glibc's malloc under the tracker decorator
// (XSMEM_TRACK=off|sample|full picks what is recorded at run time).
//
// In sample mode the tracker places its sampled blocks apart from glibc's
// (xsmem_tracker_options.sample_home): in a buddy tier for blocks up to
// kHomeRegion and a large tier above it, both over os_vm and tagged in the
// pagemap. glibc's memory carries no tag, so the shim
// (tracking/system_tracked_shim.h) frees a pointer whose chunk has no tag
// straight into glibc and sends only tagged ones, the sampled blocks, to the
// tracker: the free fast path reads one pagemap byte instead of the tracker's
// counting filter. The tracker's inner allocator is glibc plus that home
// (`samples` below), so its free, usable_size and realloc know both.
#include <string.h>

#include "allocators/buddy/buddy.h"
#include "allocators/large/large.h"
#include "allocators/registry.h"
#include "allocators/system/system.h"
#include "platform/os_vm.h"
#include "platform/pagemap.h"
#include "tracking/tracker.h"
#include "tracking/system_tracked_shim.h"
#include "tracking/tracker_fast.h"

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
static xsmem_allocator *volatile g_instance;

// Read by the shim's free (system_tracked_shim.h): every free goes to the
// tracker until instance() finds it may go to glibc.
xsmem_system_tracked_route xsmem_system_tracked_route_ = {.inline_tag = 0xFF, .inline_free = false};

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
  xsmem_buddy_options b = xsmem_buddy_default_options();
  // Under an address-space limit a region takes at most 1/32 of it (4 MiB
  // under 128 MiB): a home for a few sampled blocks must not hold the
  // address space glibc would serve the program from.
  b.region_size = xsmem_os_fit_limit(kHomeRegion, 32, XSMEM_PAGEMAP_CHUNK);
  b.min_block = kHomeMinBlock;
  g_samples.buddy = xsmem_buddy_create("system.samples.buddy", xsmem_os_source(), &b);
  if (!g_samples.buddy) return false;
  xsmem_large_options l = xsmem_large_default_options();
  g_samples.large = xsmem_large_create("system.samples.large", NULL, &l);
  return g_samples.large != NULL;
}

// Built under xsmem_tracker_once_with's lock, before any tracker exists.
// Only sample mode records blocks that the shim's inline free must not take,
// and needs the home; every other mode keeps glibc itself as the tracker's
// inner allocator. (Guarded blocks carry the guard pool's own tag.)
static xsmem_allocator *inner(void) {
  xsmem_allocator *sys = xsmem_system_allocator();
  xsmem_tracker_options o;
  xsmem_tracker_options_from_env(&o);
  if (o.mode != XSMEM_TRACK_SAMPLE || !make_home()) return sys;
  g_samples.system = sys;
  g_samples.base.ops = &kSamplesOps;
  g_samples.base.name = "system";
  return &g_samples.base;
}

static void place_samples(xsmem_tracker_options *o) {
  if (!g_samples.large) return;  // no home: sampled blocks stay in glibc, every free through the tracker
  o->sample_home = &g_home;
  o->sample_home_max = SIZE_MAX;  // every sampled block: one left in glibc would be freed inline
}

static xsmem_allocator *instance(void) {
  xsmem_allocator *a = xsmem_tracker_once_with(&g_instance, inner, place_samples, "system_tracked");
  // Off (guarded sampling or not), or sample mode with every sampled block
  // tagged: an untagged block is never one the tracker must see (guarded
  // blocks are tagged XSMEM_TAG_GUARD).
  bool inline_free = a && (!xsmem_is_tracker(a) || (((const xsmem_tracker_view *)a)->fast_sample &&
                                                    (g_samples.large != NULL || xsmem_tracker_mode(a) == XSMEM_TRACK_OFF)));
  if (inline_free) {
    xsmem_system_tracked_route *r = &xsmem_system_tracked_route_;
    __atomic_store_n(&r->inline_tag, (uint8_t)XSMEM_TAG_NONE, __ATOMIC_RELAXED);
    __atomic_store_n(&r->inline_free, true, __ATOMIC_RELAXED);
  }
  return a;
}

const xsmem_config xsmem_config_system_tracked = {
    .name = "system_tracked",
    .summary = "glibc malloc under the tracker (leaks, call sites, sampling, corruption checks)",
    .options = XSMEM_TRACKER_OPTIONS,
    .instance = instance,
};
XSMEM_REGISTER_CONFIG(xsmem_config_system_tracked);
