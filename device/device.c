// The stream-ordered device front: see device.h.
#include "device/device.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "allocators/bfc/bfc.h"
#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"

#define MAX_ENTRIES (1u << 16)  // blocks cached or pending at once (entry 0 means none)
#define MAX_BATCHES 256
#define HELD_SLOTS (2 * MAX_ENTRIES)  // the set of held blocks: at most half full

typedef struct entry {
  void *p;
  size_t size;  // usable size
  uint32_t next;
} entry;

typedef struct stream_cache {
  xsmem_stream stream;
  uint32_t head;  // most recently freed first
  size_t count, bytes;
} stream_cache;

typedef struct batch {
  void *event;  // NULL: recorded nothing (no streams, or recording failed): released at once
  uint32_t head;
  size_t count, bytes;
} batch;

typedef struct front {
  xsmem_allocator base;
  xsmem_allocator *below;
  xsmem_device_source *src;
  xsmem_device_options opt;
  pthread_mutex_t mu;
  bool have_first, multi;
  xsmem_stream first;
  stream_cache caches[XSMEM_DEVICE_MAX_STREAMS];
  int num_caches;
  batch batches[MAX_BATCHES];
  int num_batches;
  entry *entries;
  uintptr_t *held;  // open addressing, linear probing: every block an entry holds
  uint32_t free_entry, entries_used;
  size_t cached_blocks, cached_bytes, pending_blocks, pending_bytes;
  uint64_t num_allocs, num_frees, num_failed, cache_hits, events_recorded, event_waits;
  int oom_dumped, misuse_reported;
} front;

static const xsmem_allocator_ops kDeviceOps;

static inline front *F(const xsmem_allocator *a) { return (front *)a; }

bool xsmem_is_device_allocator(const xsmem_allocator *a) { return a && a->ops == &kDeviceOps; }

xsmem_device_options xsmem_device_options_from_env(void) {
  xsmem_device_options o;
  memset(&o, 0, sizeof(o));
  o.stream_cache_blocks = (size_t)xsmem_option_int("XSMEM_DEVICE_STREAM_CACHE");
  o.dump_on_oom = xsmem_option_bool("XSMEM_DEVICE_DUMP_ON_OOM");
  return o;
}

int xsmem_device_option_index(void) { return (int)xsmem_option_int("XSMEM_CUDA_DEVICE"); }

xsmem_bfc_options xsmem_device_bfc_options(xsmem_device_source *src) {
  xsmem_bfc_options o = xsmem_bfc_options_from_env();
  size_t free_b = 0, total_b = 0;
  bool known = xsmem_device_source_mem_info(src, &free_b, &total_b);
  size_t limit = (size_t)xsmem_option_int("XSMEM_CUDA_LIMIT_MB") << 20;
  long long percent = xsmem_option_int("XSMEM_CUDA_RESERVE_PERCENT");
  if (percent < 0 || percent > 100) {
    xsmem_log("%s: XSMEM_CUDA_RESERVE_PERCENT=%lld is not in 0..100: growing on demand instead", src->base.name,
              percent);
    percent = 0;
  }
  if (known && (!limit || limit > free_b)) limit = free_b;
  if (percent > 0 && known) {
    o.reserve_all = true;
    limit = xsmem_align_down((size_t)((double)free_b * (double)percent / 100.0), (size_t)2 << 20);
  }
  // A device's memory is not the host's: half of physical memory (bfc's default) means nothing here.
  if (limit) o.bytes_limit = limit;
  if (o.initial_region > o.bytes_limit && o.bytes_limit) o.initial_region = o.bytes_limit;
  o.dump_on_oom = false;
  return o;
}

// ---------------------------------------------------------------------------
// Entries, caches and batches (under mu).

// The set of blocks held for a stream or pending: a second free of one of
// them is found here (the allocator below still sees it live).
static uint32_t held_slot(uintptr_t p) {
  return (uint32_t)(((p >> 8) * 0x9E3779B97F4A7C15ull) >> 47) & (HELD_SLOTS - 1);
}

static bool held_has(const front *f, const void *p) {
  for (uint32_t i = held_slot((uintptr_t)p);; i = (i + 1) & (HELD_SLOTS - 1)) {
    if (!f->held[i]) return false;
    if (f->held[i] == (uintptr_t)p) return true;
  }
}

static void held_add(front *f, const void *p) {
  uint32_t i = held_slot((uintptr_t)p);
  while (f->held[i]) i = (i + 1) & (HELD_SLOTS - 1);
  f->held[i] = (uintptr_t)p;
}

// Backward-shift deletion: no tombstones, so lookups stay short.
static void held_remove(front *f, const void *p) {
  uint32_t i = held_slot((uintptr_t)p);
  while (f->held[i] != (uintptr_t)p) i = (i + 1) & (HELD_SLOTS - 1);
  for (uint32_t j = (i + 1) & (HELD_SLOTS - 1); f->held[j]; j = (j + 1) & (HELD_SLOTS - 1)) {
    uint32_t home = held_slot(f->held[j]);
    // Move j into the hole at i when its home does not lie in (i, j].
    if (((j - home) & (HELD_SLOTS - 1)) >= ((j - i) & (HELD_SLOTS - 1))) {
      f->held[i] = f->held[j];
      i = j;
    }
  }
  f->held[i] = 0;
}

static uint32_t entry_new(front *f, void *p, size_t size) {
  uint32_t i = f->free_entry;
  if (i) {
    f->free_entry = f->entries[i].next;
  } else if (f->entries_used + 1 < MAX_ENTRIES) {
    i = ++f->entries_used;
  } else {
    return 0;
  }
  f->entries[i].p = p;
  f->entries[i].size = size;
  f->entries[i].next = 0;
  held_add(f, p);
  return i;
}

static void entry_drop(front *f, uint32_t i) {
  held_remove(f, f->entries[i].p);
  f->entries[i].next = f->free_entry;
  f->free_entry = i;
}

// Gives a list of blocks back to the allocator below.
static void give_back(front *f, uint32_t head) {
  while (head) {
    uint32_t next = f->entries[head].next;
    f->below->ops->free(f->below, f->entries[head].p, 0);
    entry_drop(f, head);
    head = next;
  }
}

static void release_batch(front *f, int i) {
  batch *b = &f->batches[i];
  if (b->event) f->src->streams->release(f->src, b->event);
  give_back(f, b->head);
  f->pending_blocks -= b->count;
  f->pending_bytes -= b->bytes;
  f->batches[i] = f->batches[--f->num_batches];
}

static bool wait_batch(front *f, int i) {
  f->event_waits++;
  return f->batches[i].event == NULL || f->src->streams->wait(f->src, f->batches[i].event);
}

// Releases the batches whose events have completed; returns how many.
static int poll_pending(front *f) {
  int released = 0;
  for (int i = 0; i < f->num_batches;) {
    if (!f->batches[i].event || f->src->streams->query(f->src, f->batches[i].event) == 1) {
      release_batch(f, i);  // moves the last batch into slot i
      released++;
    } else {
      i++;
    }
  }
  return released;
}

// Waits for every pending batch and releases it; returns the bytes given back.
static size_t drain_pending(front *f) {
  size_t bytes = f->pending_bytes;
  while (f->num_batches) {
    wait_batch(f, 0);  // an error was reported: the block cannot be kept forever
    release_batch(f, 0);
  }
  return bytes;
}

// Makes a pending batch of a list of blocks freed on stream s, behind an event recorded on s now.
static void make_pending(front *f, xsmem_stream s, uint32_t head, size_t count, size_t bytes) {
  if (!head) return;
  if (f->num_batches == MAX_BATCHES) {
    wait_batch(f, 0);
    release_batch(f, 0);
  }
  batch *b = &f->batches[f->num_batches++];
  b->event = f->src->streams->record(f->src, s);
  if (b->event) f->events_recorded++;
  b->head = head;
  b->count = count;
  b->bytes = bytes;
  f->pending_blocks += count;
  f->pending_bytes += bytes;
}

static void cache_to_pending(front *f, stream_cache *c) {
  make_pending(f, c->stream, c->head, c->count, c->bytes);
  f->cached_blocks -= c->count;
  f->cached_bytes -= c->bytes;
  c->head = 0;
  c->count = c->bytes = 0;
}

// Gives a stream's own cache back below at once: only that stream is asking.
static void cache_give_back(front *f, stream_cache *c) {
  give_back(f, c->head);
  f->cached_blocks -= c->count;
  f->cached_bytes -= c->bytes;
  c->head = 0;
  c->count = c->bytes = 0;
}

static stream_cache *cache_of(front *f, xsmem_stream s, bool add) {
  for (int i = 0; i < f->num_caches; i++) {
    if (f->caches[i].stream == s) return &f->caches[i];
  }
  if (!add || f->num_caches == XSMEM_DEVICE_MAX_STREAMS) return NULL;
  stream_cache *c = &f->caches[f->num_caches++];
  memset(c, 0, sizeof(*c));
  c->stream = s;
  return c;
}

// A request or free on stream s: the single-stream shortcut ends at the second stream.
static void note_stream(front *f, xsmem_stream s) {
  if (f->multi || !f->src->streams) return;
  if (!f->have_first) {
    f->have_first = true;
    f->first = s;
    return;
  }
  if (s == f->first) return;
  // Blocks freed so far went below at once and may now go to s: wait once
  // for the work queued on the first stream.
  if (f->num_frees) {
    void *ev = f->src->streams->record(f->src, f->first);
    if (ev) {
      f->events_recorded++;
      f->event_waits++;
      f->src->streams->wait(f->src, ev);
      f->src->streams->release(f->src, ev);
    }
  }
  f->multi = true;
}

// ---------------------------------------------------------------------------
// Allocation.

static void dump_once(front *f, size_t size, xsmem_stream s) {
  f->num_failed++;
  if (!f->opt.dump_on_oom || __atomic_exchange_n(&f->oom_dumped, 1, __ATOMIC_RELAXED)) return;
  size_t free_b = 0, total_b = 0;
  bool known = xsmem_device_source_mem_info(f->src, &free_b, &total_b);
  xsmem_dprintf(2,
                "xsmem: %s (%s memory, device %d) cannot serve %zu bytes on stream %p; device: %s%zu of %zu bytes "
                "free; cached for streams: %zu bytes, pending: %zu bytes. The memory map follows (printed for the "
                "first failure only: later ones are counted in num_failed)\n",
                f->base.name, xsmem_memory_type_name(f->src->type), f->src->device, size, s, known ? "" : "unknown, ",
                free_b, total_b, f->cached_bytes, f->pending_bytes);
  xsmem_bfc *b = xsmem_bfc_from_allocator(f->below);
  if (b) {
    xsmem_bfc_dump(b, 2, 64);
  } else {
    xsmem_stats_print(2, f->below);
  }
}

static void *below_alloc(front *f, size_t size, size_t align) { return f->below->ops->alloc(f->below, size, align, 0); }

// The request missed its cache and the allocator below refused it.
static void *alloc_hard(front *f, stream_cache *own, size_t size, size_t align) {
  void *p = NULL;
  if (own && own->count) {
    cache_give_back(f, own);
    if ((p = below_alloc(f, size, align))) return p;
  }
  bool moved = false;
  for (int i = 0; i < f->num_caches; i++) {
    if (f->caches[i].count) {
      cache_to_pending(f, &f->caches[i]);
      moved = true;
    }
  }
  if (moved && poll_pending(f) && (p = below_alloc(f, size, align))) return p;
  if (f->num_batches && drain_pending(f) && (p = below_alloc(f, size, align))) return p;
  return NULL;
}

static void *device_alloc_locked(front *f, size_t size, size_t align, xsmem_stream s) {
  note_stream(f, s);
  stream_cache *c = NULL;
  if (f->multi) {
    c = cache_of(f, s, false);
    size_t want = xsmem_align_up(size ? size : 1, XSMEM_DEVICE_ALIGN);
    if (c && c->head && align <= XSMEM_DEVICE_ALIGN && want) {
      // Best fit among the stream's blocks, at most twice the size (a small
      // request does not pin a large block).
      uint32_t best = 0, best_prev = 0;
      for (uint32_t prev = 0, i = c->head; i; prev = i, i = f->entries[i].next) {
        size_t n = f->entries[i].size;
        if (n >= want && n / 2 <= want && (!best || n < f->entries[best].size)) {
          best = i;
          best_prev = prev;
          if (n == want) break;
        }
      }
      if (best) {
        if (best_prev) {
          f->entries[best_prev].next = f->entries[best].next;
        } else {
          c->head = f->entries[best].next;
        }
        void *p = f->entries[best].p;
        c->count--;
        c->bytes -= f->entries[best].size;
        f->cached_blocks--;
        f->cached_bytes -= f->entries[best].size;
        entry_drop(f, best);
        f->cache_hits++;
        f->num_allocs++;
        return p;
      }
    }
    if (f->num_batches) poll_pending(f);
  }
  void *p = below_alloc(f, size, align);
  if (!p && f->multi) p = alloc_hard(f, c, size, align);
  if (!p) {
    dump_once(f, size, s);
    errno = ENOMEM;
    return NULL;
  }
  f->num_allocs++;
  return p;
}

void *xsmem_device_alloc(xsmem_allocator *a, size_t size, xsmem_stream stream) {
  if (!xsmem_is_device_allocator(a)) return xsmem_alloc(a, size, XSMEM_DEVICE_ALIGN, 0);
  front *f = F(a);
  pthread_mutex_lock(&f->mu);
  void *p = device_alloc_locked(f, size, XSMEM_DEVICE_ALIGN, stream);
  pthread_mutex_unlock(&f->mu);
  return p;
}

// ---------------------------------------------------------------------------
// Free.

static void device_free_locked(front *f, void *p, xsmem_stream s) {
  note_stream(f, s);
  f->num_frees++;
  if (!f->multi) {
    f->below->ops->free(f->below, p, 0);
    return;
  }
  if (held_has(f, p)) {
    xsmem_report_bad_pointer(f->base.name, "free", p, "double free (the block is already freed, kept for reuse)");
    f->num_frees--;
    return;  // warn mode: the block stays where it is, freed once
  }
  xsmem_query_depth_++;  // a bad pointer is reported by the free below, not by this query
  size_t size = f->below->ops->usable_size(f->below, p);
  xsmem_query_depth_--;
  uint32_t e = size ? entry_new(f, p, size) : 0;
  if (!e && size) {
    // Every entry holds a block: make room, then keep this one.
    for (int i = 0; i < f->num_caches; i++) cache_to_pending(f, &f->caches[i]);
    drain_pending(f);
    e = entry_new(f, p, size);
  }
  if (!e) {
    f->below->ops->free(f->below, p, 0);  // reports the bad pointer (size 0)
    return;
  }
  stream_cache *c = cache_of(f, s, true);
  if (!c) {
    make_pending(f, s, e, 1, size);  // no cache for this stream: behind an event at once
    return;
  }
  f->entries[e].next = c->head;
  c->head = e;
  c->count++;
  c->bytes += size;
  f->cached_blocks++;
  f->cached_bytes += size;
  size_t cap = f->opt.stream_cache_blocks ? f->opt.stream_cache_blocks : 256;
  if (c->count > cap) cache_to_pending(f, c);
}

void xsmem_device_free(xsmem_allocator *a, void *p, xsmem_stream stream) {
  if (!p) return;
  if (!xsmem_is_device_allocator(a)) {
    xsmem_free(a, p);
    return;
  }
  front *f = F(a);
  pthread_mutex_lock(&f->mu);
  device_free_locked(f, p, stream);
  pthread_mutex_unlock(&f->mu);
}

size_t xsmem_device_empty_cache(xsmem_allocator *a) {
  if (!xsmem_is_device_allocator(a)) return 0;
  front *f = F(a);
  pthread_mutex_lock(&f->mu);
  size_t bytes = f->cached_bytes;
  for (int i = 0; i < f->num_caches; i++) cache_to_pending(f, &f->caches[i]);
  drain_pending(f);
  pthread_mutex_unlock(&f->mu);
  return bytes;
}

xsmem_memory_type xsmem_device_memory_type(const xsmem_allocator *a) {
  return xsmem_is_device_allocator(a) ? F(a)->src->type : XSMEM_MEMORY_HOST_PAGEABLE;
}

int xsmem_device_index(const xsmem_allocator *a) { return xsmem_is_device_allocator(a) ? F(a)->src->device : -1; }

xsmem_device_source *xsmem_device_source_of_allocator(const xsmem_allocator *a) {
  return xsmem_is_device_allocator(a) ? F(a)->src : NULL;
}

// ---------------------------------------------------------------------------
// The allocator interface.

static bool host_addressable(const front *f) { return f->src->type != XSMEM_MEMORY_DEVICE; }

static void misuse(front *f, const char *what) {
  if (!__atomic_exchange_n(&f->misuse_reported, 1, __ATOMIC_RELAXED)) {
    xsmem_log("%s: %s: device memory is not addressable by the host (EINVAL; reported once)", f->base.name, what);
  }
  errno = EINVAL;
}

static void *op_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  front *f = F(a);
  if ((flags & XSMEM_ALLOC_ZERO) && !host_addressable(f)) {
    misuse(f, "a zeroed allocation");
    return NULL;
  }
  if (!xsmem_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  pthread_mutex_lock(&f->mu);
  void *p = device_alloc_locked(f, size, align < XSMEM_DEVICE_ALIGN ? XSMEM_DEVICE_ALIGN : align, NULL);
  pthread_mutex_unlock(&f->mu);
  if (p && (flags & XSMEM_ALLOC_ZERO)) memset(p, 0, size);
  return p;
}

static void op_free(xsmem_allocator *a, void *p, size_t size) { xsmem_device_free(a, p, NULL); }

static size_t op_usable_size(const xsmem_allocator *a, const void *p) {
  return F(a)->below->ops->usable_size(F(a)->below, p);
}

static bool op_owns(const xsmem_allocator *a, const void *p) {
  const xsmem_allocator *b = F(a)->below;
  return b->ops->owns && b->ops->owns(b, p);
}

static void *op_realloc(xsmem_allocator *a, void *p, size_t size, unsigned flags) {
  front *f = F(a);
  if (!host_addressable(f)) {
    misuse(f, "realloc");
    return NULL;
  }
  size_t have = op_usable_size(a, p);
  if (have >= size) return p;
  return xsmem_move_block(a, p, have, op_alloc(a, size, XSMEM_MIN_ALIGN, 0), size);
}

static void op_stats(const xsmem_allocator *a, xsmem_stats *out) {
  front *f = F(a);
  xsmem_stats s = xsmem_stats_init();
  f->below->ops->stats(f->below, &s);
  pthread_mutex_lock(&f->mu);
  size_t held = f->cached_bytes + f->pending_bytes;
  s.num_allocs = f->num_allocs;
  s.num_frees = f->num_frees;
  s.num_failed = f->num_failed;  // the requests the program saw fail (below counts its tries)
  // Blocks kept for their stream are live below and cached here.
  s.bytes_in_use = s.bytes_in_use > held ? s.bytes_in_use - held : 0;
  s.bytes_cached += held;
  pthread_mutex_unlock(&f->mu);
  *out = s;
}

static size_t op_trim(xsmem_allocator *a, size_t goal) {
  size_t n = xsmem_device_empty_cache(a);
  xsmem_allocator *b = F(a)->below;
  if (b->ops->trim) b->ops->trim(b, goal);
  return n;
}

static void op_destroy(xsmem_allocator *a) {
  front *f = F(a);
  xsmem_device_empty_cache(a);
  if (f->below->ops->destroy) f->below->ops->destroy(f->below);
  pthread_mutex_destroy(&f->mu);
  xsmem_os_unmap(f->entries, MAX_ENTRIES * sizeof(entry));
  xsmem_os_unmap(f->held, HELD_SLOTS * sizeof(uintptr_t));
  xsmem_os_unmap(f, xsmem_align_up(sizeof(front), xsmem_os_page_size()));
}

static void op_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  front *f = F(a);
  const char *type = xsmem_memory_type_name(f->src->type);
  size_t free_b, total_b;
  bool known = xsmem_device_source_mem_info(f->src, &free_b, &total_b);
  pthread_mutex_lock(&f->mu);
  double v[] = {f->src->device,    f->src->fallback, f->num_caches,      f->cached_blocks, f->cached_bytes,
                f->pending_blocks, f->pending_bytes, f->events_recorded, f->event_waits,   f->cache_hits};
  pthread_mutex_unlock(&f->mu);
  static const char *const keys[] = {
      "device",         "fallback",      "streams",         "stream_cached_blocks", "stream_cached_bytes",
      "pending_blocks", "pending_bytes", "events_recorded", "event_waits",          "cache_hits"};
  static const char *const kinds[] = {"gauge", "gauge", "gauge",   "gauge",   "gauge",
                                      "gauge", "gauge", "counter", "counter", "counter"};
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) sink->value(sink, "memory", type, keys[i], kinds[i], v[i]);
  if (known) {
    sink->value(sink, "memory", type, "device_free_bytes", "gauge", (double)free_b);
    sink->value(sink, "memory", type, "device_total_bytes", "gauge", (double)total_b);
  }
  if (f->below->ops->detail) f->below->ops->detail(f->below, sink);
}

static const xsmem_allocator_ops kDeviceOps = {
    .kind = "device",
    .alloc = op_alloc,
    .free = op_free,
    .usable_size = op_usable_size,
    .owns = op_owns,
    .realloc = op_realloc,
    .stats = op_stats,
    .trim = op_trim,
    .destroy = op_destroy,
    .detail = op_detail,
};

xsmem_allocator *xsmem_device_front_create(xsmem_allocator *below, xsmem_device_source *src,
                                           const xsmem_device_options *options, const char *name) {
  if (!below || !src) {
    errno = EINVAL;
    return NULL;
  }
  front *f = xsmem_os_map(xsmem_align_up(sizeof(front), xsmem_os_page_size()), xsmem_os_page_size(), 0);
  if (!f) return NULL;
  f->entries = xsmem_os_map(MAX_ENTRIES * sizeof(entry), xsmem_os_page_size(), 0);
  f->held = f->entries ? xsmem_os_map(HELD_SLOTS * sizeof(uintptr_t), xsmem_os_page_size(), 0) : NULL;
  if (!f->held) {
    int err = errno;
    if (f->entries) xsmem_os_unmap(f->entries, MAX_ENTRIES * sizeof(entry));
    xsmem_os_unmap(f, xsmem_align_up(sizeof(front), xsmem_os_page_size()));
    errno = err;
    return NULL;
  }
  f->base.ops = &kDeviceOps;
  f->base.name = name;
  f->below = below;
  f->src = src;
  if (options) {
    f->opt = *options;
  } else {
    f->opt = xsmem_device_options_from_env();
  }
  pthread_mutex_init(&f->mu, NULL);
  return &f->base;
}
