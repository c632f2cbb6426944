// allocators/tls_buckets/tls_buckets.c: the small tier itself. Its state and
// construction, the options, the allocator ops, statistics and detail, fork,
// and the tool builds' link accessors. The rest is in the files named in
// tls_buckets_internal.h; the fast path is tls_fast.h.
#include "allocators/tls_buckets/tls_buckets.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "allocators/tls_buckets/tls_buckets_internal.h"
#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"

#define SLAB_TARGET ((size_t)64 << 10)  // blocks per slab: about this many bytes
#define MAX_PER_SLAB 4096
// Batches per class on the global stack, and at most about this many bytes
// (all stacks and spares together stay within XSMEM_TLS_TOTAL_BYTES). Deep
// enough for a program that frees tens of thousands of blocks of one size at
// once: past the stack, every block is sorted back into its slab one by one
// under the class lock, and at 128 batches / 4 MiB that sorting (and the
// carving back) was 40% of such a loop's instructions (bench/workloads/bulk_free.c).
#define STACK_MAX_DEPTH 2048
#define STACK_MAX_BYTES ((size_t)32 << 20)
#define CACHE_MAX 512

// ---------------------------------------------------------------------------
// Tool builds (tls_fast.h): link accesses that bypass ASan's checks or
// silence Valgrind's, and the hand-out / take-back of whole blocks.

#ifdef XSMEM_TLS_TOOLS
TOOL_NO_CHECKS void *xsmem_tls_link_get(const void *b) {
  TOOL_CHECKS_OFF();
  void *next = *(void *const *)b;
  TOOL_CHECKS_ON();
  return next;
}

TOOL_NO_CHECKS void xsmem_tls_link_set(void *b, void *next) {
  TOOL_CHECKS_OFF();
  *(void **)b = next;
  TOOL_CHECKS_ON();
}

TOOL_NO_CHECKS uint64_t xsmem_tls_key_get(const void *b) {
  TOOL_CHECKS_OFF();
  uint64_t key = __atomic_load_n((const uint64_t *)b + 1, __ATOMIC_RELAXED);
  TOOL_CHECKS_ON();
  return key;
}

TOOL_NO_CHECKS void xsmem_tls_key_set(void *b, uint64_t key) {
  TOOL_CHECKS_OFF();
  __atomic_store_n((uint64_t *)b + 1, key, __ATOMIC_RELAXED);
  TOOL_CHECKS_ON();
}

static int g_tool_pool;  // the pool's name for Valgrind

void xsmem_tls_tool_alloc(void *p, unsigned c) { XSMEM_TOOL_ALLOC(&g_tool_pool, p, tls_size[c]); }
void xsmem_tls_tool_free(void *p, unsigned c) { XSMEM_TOOL_FREE(&g_tool_pool, p, tls_size[c]); }
#endif

// ---------------------------------------------------------------------------
// The tier's state.

uint32_t tls_size[XSMEM_TLS_MAX_SLOTS];
uint32_t tls_limit[XSMEM_TLS_MAX_SLOTS];  // thread cache bound (list + spare)
uint32_t tls_batch[XSMEM_TLS_MAX_SLOTS];  // blocks per batch (of the stacks, spares)
uint32_t tls_cap[XSMEM_TLS_MAX_SLOTS];    // bound of a thread's list: tls_batch, or 0 (not thread-cached)
bool tls_spare[XSMEM_TLS_MAX_SLOTS];      // the bound leaves room for a spare batch
uint32_t tls_depth[XSMEM_TLS_MAX_SLOTS];  // batches the global stack may hold
uint32_t tls_per_slab[XSMEM_TLS_MAX_SLOTS];
// The shortest segment of a slot: its header and one slab, rounded up to a
// power of two (128 KiB for classes up to 64 KiB; 2 MiB for 1 MiB blocks).
uint32_t tls_seg_min[XSMEM_TLS_MAX_SLOTS];
// The most bytes a new segment maps: 4 MiB (the whole chunk); under an
// address-space limit 1/256 of it, halved whenever the source refuses (only
// ever halved; atomic). Whether a limit was in force when the tier was built:
// then each class's segments start at its minimum and double (segment_map).
size_t tls_seg_len;
bool tls_seg_limited;
unsigned tls_nclasses;
unsigned tls_nnodes = 1, tls_nslots;  // tls_nslots = tls_nnodes * tls_nclasses
xsmem_source *tls_node_src[XSMEM_TLS_MAX_NODES];

size_t xsmem_tls_small_max_;

tls_global tls_g;

static const xsmem_allocator_ops tls_ops;

// ---------------------------------------------------------------------------
// The allocator ops.

unsigned xsmem_tls_class_count(void) { return tls_nclasses; }
size_t xsmem_tls_class_size(unsigned c) { return c < tls_nclasses ? tls_size[c] : 0; }

// Returns the smallest class of at least n bytes whose blocks are all aligned
// to align (block size a multiple of it; slabs start 64 KiB-aligned).
static unsigned class_for(size_t n, size_t align) {
  if (n > xsmem_tls_small_max_ || align > SEG_HEADER) return NO_CLASS;
  unsigned c = xsmem_tls_class_of(XSMEM_MAX(n, align));
  for (; c < tls_nclasses; c++) {
    if (tls_size[c] % align == 0) return c;
  }
  return NO_CLASS;
}

static void *tls_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  if (!xsmem_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  unsigned c =
      align <= XSMEM_MIN_ALIGN && size <= xsmem_tls_small_max_ ? xsmem_tls_class_of(size) : class_for(size, align);
  if (c == NO_CLASS) {
    add_relaxed(&tls_g.failed, 1);
    errno = ENOMEM;
    return NULL;
  }
  void *p = xsmem_tls_pop_(c + xsmem_tls_node_base_);  // the caller's node's slot (0 with one node)
  if (!p) return NULL;
  if (flags & XSMEM_ALLOC_ZERO) memset(p, 0, size);
  return p;
}

// Returns the class of a live small block, or reports p and returns NO_CLASS.
static unsigned check_block(const void *p, const char *op) {
  if (xsmem_pagemap_get(p) != XSMEM_TAG_SMALL) {
    xsmem_report_bad_pointer(tls_g.base.name, op, p, "pointer not allocated by xsmem");
    return NO_CLASS;
  }
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
  if (!xsmem_tls_is_block_start(s, p)) {
    xsmem_report_bad_pointer(tls_g.base.name, op, p, "not the start of a block (interior pointer)");
    return NO_CLASS;
  }
  return s->cls;
}

static void tls_free(xsmem_allocator *a, void *p, size_t size) {
  if (check_block(p, "free") != NO_CLASS) xsmem_tls_free(p);
}

static size_t tls_usable(const xsmem_allocator *a, const void *p) {
  unsigned c = check_block(p, "usable_size");
  return c == NO_CLASS ? 0 : tls_size[c];
}

static bool tls_owns(const xsmem_allocator *a, const void *p) {
  return xsmem_pagemap_get(p) == XSMEM_TAG_SMALL && xsmem_tls_is_block_start(xsmem_tls_seg_of(p), p);
}

static void *tls_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  unsigned c = check_block(p, "realloc");
  if (c == NO_CLASS) {
    errno = EINVAL;
    return NULL;
  }
  if (size <= tls_size[c] && (c == 0 || size > tls_size[c] / 2)) return p;  // fits, wastes at most half
  void *q = tls_alloc(a, size, XSMEM_MIN_ALIGN, 0);
  if (!q) return NULL;
  memcpy(q, p, XSMEM_MIN(size, tls_size[c]));
  xsmem_tls_free(p);
  return q;
}

// Per-class operation counts, live threads and exited ones together.
static void class_counts(uint64_t *allocs, uint64_t *frees) {
  for (unsigned c = 0; c < tls_nslots; c++) {
    allocs[c] = load_relaxed(&tls_g.direct_allocs[c]);
    frees[c] = load_relaxed(&tls_g.direct_frees[c]);
  }
  xsmem_spin_lock(&tls_g.threads_lock);
  for (unsigned c = 0; c < tls_nslots; c++) {
    allocs[c] += tls_g.dead_allocs[c];
    frees[c] += tls_g.dead_frees[c];
  }
  for (xsmem_tls_cache *tc = tls_g.threads; tc; tc = tc->next) {
    for (unsigned c = 0; c < tls_nslots; c++) {
      allocs[c] += load_relaxed(&tc->bin[c].allocs);
      frees[c] += load_relaxed(&tc->bin[c].frees);
    }
  }
  xsmem_spin_unlock(&tls_g.threads_lock);
}

static uint64_t rd(const uint64_t *x) { return __atomic_load_n(x, __ATOMIC_RELAXED); }

static void tls_stats(const xsmem_allocator *a, xsmem_stats *out) {
  *out = xsmem_stats_init();
  if (!xsmem_once_done(&tls_g.once)) return;
  uint64_t allocs[XSMEM_TLS_MAX_SLOTS], frees[XSMEM_TLS_MAX_SLOTS];
  class_counts(allocs, frees);
  uint64_t cached = 0;
  for (unsigned c = 0; c < tls_nslots; c++) {
    tls_central *ce = &tls_centrals[c];
    uint64_t live = allocs[c] - frees[c];
    out->num_allocs += allocs[c];
    out->num_frees += frees[c];
    out->bytes_in_use += live * tls_size[c];
    if (allocs[c]) out->largest_alloc_size = XSMEM_MAX(out->largest_alloc_size, tls_size[c]);
    uint64_t out_blocks = rd(&ce->out), free_blocks = rd(&ce->free_blocks);
    uint64_t idle = (out_blocks > live ? out_blocks - live : 0) + free_blocks;
    cached += idle * tls_size[c];
    out->bytes_reserved += rd(&ce->segment_bytes);
    out->bytes_metadata += rd(&ce->nsegments) * xsmem_align_up(sizeof(tls_segment), xsmem_os_page_size());
  }
  out->bytes_cached = cached;
  out->bytes_metadata += rd(&tls_g.pool_bytes);
  out->num_failed = rd(&tls_g.failed);
  uint64_t peak = rd(&tls_g.peak);
  while (
      out->bytes_in_use > peak &&
      !__atomic_compare_exchange_n(&tls_g.peak, &peak, out->bytes_in_use, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
  out->peak_bytes_in_use = XSMEM_MAX(peak, out->bytes_in_use);
}

void xsmem_tls_get_counters(xsmem_tls_counters *o) {
  memset(o, 0, sizeof(*o));
  xsmem_spin_lock(&tls_g.threads_lock);
  o->threads_live = tls_g.threads_live;
  o->threads_exited = tls_g.threads_exited;
  for (xsmem_tls_cache *tc = tls_g.threads; tc; tc = tc->next) {
    o->bytes_lists += load_relaxed(&tc->list_bytes);
    o->bytes_spares += load_relaxed(&tc->spare_bytes);
  }
  xsmem_spin_unlock(&tls_g.threads_lock);
  for (unsigned c = 0; c < tls_nslots; c++) {
    o->segments += rd(&tls_centrals[c].nsegments);
    o->slabs_empty += rd(&tls_centrals[c].nempty);
    o->slabs_decommitted += rd(&tls_centrals[c].ndecommitted);
    o->lock_waits += rd(&tls_centrals[c].lock_waits);
    o->cas_retries += rd(&tls_stacks[c].cas_retries);
    uint64_t depth = STACK_DEPTH(xsmem_load128(&tls_stacks[c].head).hi);
    o->stack_batches += depth;
    o->bytes_stacks += depth * tls_batch[c] * tls_size[c];
  }
  o->bytes_held = load_relaxed(&tls_g.held);
  o->bytes_decommitted = rd(&tls_g.bytes_decommitted);
  o->purger_passes = rd(&tls_g.purger_passes);
}

void xsmem_tls_get_node_stats(unsigned node, xsmem_tls_node_stats *o) {
  memset(o, 0, sizeof(*o));
  if (!xsmem_once_done(&tls_g.once) || node >= tls_nnodes) return;
  uint64_t allocs[XSMEM_TLS_MAX_SLOTS], frees[XSMEM_TLS_MAX_SLOTS];
  class_counts(allocs, frees);
  for (unsigned c = node * tls_nclasses; c < (node + 1) * tls_nclasses; c++) {
    o->allocs += allocs[c];
    o->frees += frees[c];
    o->bytes_in_use += (allocs[c] - frees[c]) * tls_size[c];
    o->segments += rd(&tls_centrals[c].nsegments);
  }
}

static void tls_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  if (!xsmem_once_done(&tls_g.once)) return;
  uint64_t allocs[XSMEM_TLS_MAX_SLOTS], frees[XSMEM_TLS_MAX_SLOTS];
  class_counts(allocs, frees);
  char label[24];
  for (unsigned c = 0; c < tls_nslots; c++) {
    tls_central *ce = &tls_centrals[c];
    if (!allocs[c] && !rd(&ce->nsegments)) continue;
    if (tls_nnodes > 1) xsmem_snprintf(label, sizeof(label), "%u.node%u", tls_size[c], c / tls_nclasses);
    else xsmem_snprintf(label, sizeof(label), "%u", tls_size[c]);
    sink->value(sink, "class", label, "allocs", "counter", (double)allocs[c]);
    sink->value(sink, "class", label, "frees", "counter", (double)frees[c]);
    sink->value(sink, "class", label, "bytes_in_use", "gauge", (double)((allocs[c] - frees[c]) * tls_size[c]));
    sink->value(sink, "class", label, "segments", "gauge", (double)rd(&ce->nsegments));
    sink->value(sink, "class", label, "slabs_empty", "gauge", (double)rd(&ce->nempty));
    sink->value(sink, "class", label, "slabs_decommitted", "gauge", (double)rd(&ce->ndecommitted));
    sink->value(sink, "class", label, "central_free_blocks", "gauge", (double)rd(&ce->free_blocks));
    sink->value(sink, "class", label, "stack_batches", "gauge",
                (double)STACK_DEPTH(xsmem_load128(&tls_stacks[c].head).hi));
    sink->value(sink, "class", label, "cas_retries", "counter", (double)rd(&tls_stacks[c].cas_retries));
    sink->value(sink, "class", label, "lock_waits", "counter", (double)rd(&ce->lock_waits));
  }
  xsmem_stats s;
  tls_stats(a, &s);
  xsmem_tls_counters k;
  xsmem_tls_get_counters(&k);
  sink->value(sink, "tier", "small", "allocs", "counter", (double)s.num_allocs);
  sink->value(sink, "tier", "small", "frees", "counter", (double)s.num_frees);
  sink->value(sink, "tier", "small", "bytes_in_use", "gauge", (double)s.bytes_in_use);
  sink->value(sink, "tier", "small", "bytes_cached", "gauge", (double)s.bytes_cached);
  sink->value(sink, "tier", "small", "bytes_reserved", "gauge", (double)s.bytes_reserved);
  sink->value(sink, "tier", "small", "bytes_decommitted", "counter", (double)k.bytes_decommitted);
  sink->value(sink, "tier", "small", "slabs_empty", "gauge", (double)k.slabs_empty);
  sink->value(sink, "tier", "small", "slabs_decommitted", "gauge", (double)k.slabs_decommitted);
  sink->value(sink, "tier", "small", "threads_live", "gauge", (double)k.threads_live);
  sink->value(sink, "tier", "small", "threads_exited", "counter", (double)k.threads_exited);
  sink->value(sink, "tier", "small", "purger_passes", "counter", (double)k.purger_passes);
  sink->value(sink, "tier", "small", "bytes_held", "gauge", (double)k.bytes_held);
  sink->value(sink, "tier", "small", "bytes_thread_lists", "gauge", (double)k.bytes_lists);
  sink->value(sink, "tier", "small", "bytes_stacks", "gauge", (double)k.bytes_stacks);
  sink->value(sink, "contention", "small", "stack_cas_retries", "counter", (double)k.cas_retries);
  sink->value(sink, "contention", "small", "central_lock_waits", "counter", (double)k.lock_waits);
}

static size_t tls_trim(xsmem_allocator *a, size_t goal) {
  xsmem_tls_flush_thread();
  return xsmem_tls_purge(0);
}

// Fork: every lock is taken in PREPARE so the child finds them consistent.
static void tls_fork(xsmem_allocator *a, int phase) {
  if (phase == XSMEM_FORK_PREPARE) {
    xsmem_spin_lock(&tls_g.threads_lock);
    for (unsigned c = 0; c < tls_nslots; c++) {
#ifdef XSMEM_CAS128_LOCKED
      xsmem_spin_lock(&tls_stacks[c].pop_lock);
#endif
      xsmem_spin_lock(&tls_centrals[c].lock);
    }
    return;
  }
  for (unsigned c = tls_nslots; c-- > 0;) {
    xsmem_spin_unlock(&tls_centrals[c].lock);
#ifdef XSMEM_CAS128_LOCKED
    xsmem_spin_unlock(&tls_stacks[c].pop_lock);
#endif
  }
  xsmem_spin_unlock(&tls_g.threads_lock);
  if (phase == XSMEM_FORK_CHILD) atomic_store(&tls_g.purger, 0);  // threads do not survive fork
}

static const xsmem_allocator_ops tls_ops = {
    .kind = "tls_buckets",
    .alloc = tls_alloc,
    .free = tls_free,
    .usable_size = tls_usable,
    .owns = tls_owns,
    .realloc = tls_realloc,
    .stats = tls_stats,
    .trim = tls_trim,
    .fork = tls_fork,
    .destroy = NULL,  // thread caches point into it for the life of the process
    .detail = tls_detail,
};

// ---------------------------------------------------------------------------
// Construction.

void xsmem_tls_options_from_env(xsmem_tls_options *o) {
  memset(o, 0, sizeof(*o));
  o->small_max = xsmem_option_bytes("XSMEM_SMALL_MAX");
  o->cache_bytes = xsmem_option_bytes("XSMEM_TLS_CACHE_BYTES");
  o->decommit_delay_ms = (long)xsmem_option_int("XSMEM_DECOMMIT_DELAY_MS");
  o->spare_bytes = xsmem_option_bytes("XSMEM_TLS_SPARE_BYTES");
  o->total_bytes = xsmem_option_bytes("XSMEM_TLS_TOTAL_BYTES");
  o->follow_options = true;
}

// What the first call of xsmem_tls_buckets passes in.
typedef struct build_args {
  xsmem_source *src;
  const xsmem_tls_options *opt;
} build_args;

// Builds the tier (xsmem_once_run's build). Never fails (what cannot be set
// up is a fatal configuration error) and never mallocs.
static bool build(void *ctx) {
  xsmem_source *src = ((build_args *)ctx)->src;
  const xsmem_tls_options *opt = ((build_args *)ctx)->opt;
  if (opt) tls_g.opt = *opt;
  else xsmem_tls_options_from_env(&tls_g.opt);
  tls_g.options_generation = xsmem_options_generation();
  tls_g.opt.small_max = XSMEM_MIN(XSMEM_MAX(tls_g.opt.small_max, XSMEM_KiB), XSMEM_MiB);
  if (tls_g.opt.cache_bytes == 0) tls_g.opt.cache_bytes = 1;
  tls_g.src = src ? src : xsmem_os_source();
  tls_g.base.ops = &tls_ops;
  tls_g.base.name = "tls_buckets";
#ifdef XSMEM_TLS_TOOLS
  XSMEM_TOOL_POOL_CREATE(&g_tool_pool);
#endif
  for (unsigned c = 0; c < XSMEM_TLS_MAX_SLOTS; c++) tls_empty_cache.bin[c].stop = INT64_MIN;
  tls_segment_keys_init();
  tls_nclasses = xsmem_tls_class_of(tls_g.opt.small_max) + 1;
  for (unsigned c = 0; c < tls_nclasses; c++) {
    size_t size = c < 8 ? 16 * (c + 1) : (size_t)(9 + (c - 8) % 8) << (4 + (c - 8) / 8);
    tls_size[c] = (uint32_t)size;
    tls_per_slab[c] = (uint32_t)XSMEM_MIN(XSMEM_MAX(SLAB_TARGET / size, 1), MAX_PER_SLAB);
    // A block larger than the per-class bound is not thread-cached at all
    // (jemalloc's tcache_max): one block of each such class per thread, up
    // to 1 MiB each, made most of the footprint of many threads.
    size_t limit = XSMEM_MIN(tls_g.opt.cache_bytes / size, CACHE_MAX);
    tls_limit[c] = (uint32_t)limit;
    tls_batch[c] = (uint32_t)XSMEM_MAX(limit / 2, 1);
    tls_cap[c] = limit ? tls_batch[c] : 0;
    tls_spare[c] = limit >= 2 * (size_t)tls_batch[c];
    tls_depth[c] = (uint32_t)XSMEM_MIN(XSMEM_MAX(STACK_MAX_BYTES / ((size_t)tls_batch[c] * size), 2), STACK_MAX_DEPTH);
    if ((SEG_SIZE - SEG_HEADER) / size / tls_per_slab[c] > MAX_SLABS)
      xsmem_fatal("tls_buckets: class %zu needs too many slabs", size);
    tls_seg_min[c] = (uint32_t)xsmem_next_pow2(SEG_HEADER + (size_t)tls_per_slab[c] * size);
  }
  tls_nnodes = 1;
  if (tls_g.opt.num_nodes > 1 && tls_g.opt.node_source) {
    tls_nnodes = XSMEM_MIN(tls_g.opt.num_nodes, XSMEM_TLS_MAX_NODES);
    for (unsigned n = 0; n < tls_nnodes; n++) {
      if (!(tls_node_src[n] = tls_g.opt.node_source(tls_g.opt.node_ctx, n)))
        xsmem_fatal("tls_buckets: no source for node %u", n);
    }
    for (unsigned c = tls_nclasses; c < tls_nnodes * tls_nclasses; c++) {  // every node's slots as node 0's
      unsigned k = c % tls_nclasses;
      tls_size[c] = tls_size[k];
      tls_per_slab[c] = tls_per_slab[k];
      tls_limit[c] = tls_limit[k];
      tls_batch[c] = tls_batch[k];
      tls_cap[c] = tls_cap[k];
      tls_spare[c] = tls_spare[k];
      tls_depth[c] = tls_depth[k];
      tls_seg_min[c] = tls_seg_min[k];
    }
  }
  tls_nslots = tls_nnodes * tls_nclasses;
  // Under an address-space limit a segment is at most 1/256 of it (256 KiB
  // under 64 MiB, the whole 4 MiB chunk from 1 GiB up): a program touches
  // tens of classes, each with segments of its own.
  tls_seg_limited = xsmem_os_as_limit() != SIZE_MAX;
  tls_seg_len = xsmem_os_fit_limit(SEG_SIZE, 256, 128 * XSMEM_KiB);
  xsmem_tls_small_max_ = tls_g.opt.small_max;
  if (pthread_key_create(&tls_g.key, tls_thread_exit) != 0) xsmem_fatal("tls_buckets: pthread_key_create failed");
  return true;
}

xsmem_allocator *xsmem_tls_buckets(xsmem_source *src, const xsmem_tls_options *opt) {
  if (XSMEM_LIKELY(xsmem_once_done(&tls_g.once))) return &tls_g.base;
  build_args args = {src, opt};
  // Callers arriving during the build wait for it. The build never fails and
  // never calls back in (it does not malloc): NULL is for a call from inside
  // it, which would have waited on itself forever before.
  return xsmem_once_run(&tls_g.once, build, &args) == XSMEM_ONCE_DONE ? &tls_g.base : NULL;
}
