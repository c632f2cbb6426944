// allocators/bfc/bfc_report.c: what a BFC arena reports of itself. Its
// statistics (and, in the detail, the largest free chunk), the visitor
// over bins, regions and chunks (TensorFlow's MemoryDump), the text dump (on
// demand, and at the first failure when XSMEM_BFC_DUMP_ON_OOM), and the
// detail report with its chunk map. Everything reads under the arena's lock.
#include <pthread.h>

#include "allocators/bfc/bfc_internal.h"
#include "platform/log.h"
#include "platform/os_vm.h"

// Returns the size of the largest free chunk. REQUIRES: mu held.
static size_t largest_free(const xsmem_bfc *b) {
  if (!b->bin_mask) return 0;
  uint32_t n = b->bins[31 - __builtin_clz(b->bin_mask)];
  while (C(b, n)->right) n = C(b, n)->right;
  return C(b, n)->size;
}

// ---------------------------------------------------------------------------
// Statistics.

void bfc_stats(const xsmem_allocator *a, xsmem_stats *out) {
  xsmem_bfc *b = (xsmem_bfc *)a;
  pthread_mutex_lock(&b->mu);
  out->num_allocs = b->allocs;
  out->num_frees = b->frees;
  out->num_failed = __atomic_load_n(&b->failed, __ATOMIC_RELAXED);
  out->bytes_in_use = b->in_use;
  out->peak_bytes_in_use = b->peak;
  out->bytes_reserved = b->reserved;
  out->bytes_cached = b->usable - b->in_use;
  out->bytes_metadata = b->metadata;
  out->largest_alloc_size = b->largest;
  out->bytes_limit = b->opt.bytes_limit;
  pthread_mutex_unlock(&b->mu);
}

// ---------------------------------------------------------------------------
// Visiting and dumping.

static xsmem_bfc_chunk_info chunk_info(const chunk *c) {
  return (xsmem_bfc_chunk_info){
      c->ptr, c->size, c->requested, c->alloc_id != 0, c->alloc_id, c->freed_at, xsmem_bfc_bin_of(c->size)};
}

// REQUIRES: mu held.
static void bins_collect(const xsmem_bfc *b, xsmem_bfc_bin_info bins[NBINS]) {
  for (int i = 0; i < NBINS; i++) bins[i] = (xsmem_bfc_bin_info){.bin = i, .min_size = (size_t)G << i};
  for (size_t i = 0; i < b->num_regions; i++) {
    for (uint32_t h = b->regions[i].slots[0]; h; h = C(b, h)->next) {
      const chunk *c = C(b, h);
      xsmem_bfc_bin_info *bi = &bins[xsmem_bfc_bin_of(c->size)];
      if (c->alloc_id) {
        bi->used_chunks++;
        bi->used_bytes += c->size;
      } else {
        bi->free_chunks++;
        bi->free_bytes += c->size;
      }
    }
  }
}

static xsmem_bfc_region_info region_info(const xsmem_bfc *b, const region *r) {
  xsmem_bfc_region_info ri = {r->base, r->end - r->base, 0, 0, 0};
  for (uint32_t h = r->slots[0]; h; h = C(b, h)->next) {
    const chunk *c = C(b, h);
    ri.num_chunks++;
    if (!c->alloc_id) {
      ri.free_bytes += c->size;
      if (c->size > ri.largest_free) ri.largest_free = c->size;
    }
  }
  return ri;
}

static void visit_locked(xsmem_bfc *b, xsmem_bfc_visitor *v) {
  if (v->bin) {
    xsmem_bfc_bin_info bins[NBINS];
    bins_collect(b, bins);
    for (int i = 0; i < NBINS; i++) v->bin(v, &bins[i]);
  }
  for (size_t i = 0; i < b->num_regions; i++) {
    const region *r = &b->regions[i];
    xsmem_bfc_region_info ri = region_info(b, r);
    if (v->region) v->region(v, &ri);
    if (!v->chunk) continue;
    for (uint32_t h = r->slots[0]; h; h = C(b, h)->next) {
      xsmem_bfc_chunk_info ci = chunk_info(C(b, h));
      v->chunk(v, &ri, &ci);
    }
  }
}

void xsmem_bfc_visit(xsmem_bfc *b, xsmem_bfc_visitor *v) {
  pthread_mutex_lock(&b->mu);
  visit_locked(b, v);
  pthread_mutex_unlock(&b->mu);
}

typedef struct dump_visitor {
  xsmem_bfc_visitor v;
  int fd;
  size_t max_chunks, shown, skipped;
} dump_visitor;

static void dump_bin(xsmem_bfc_visitor *v, const xsmem_bfc_bin_info *bi) {
  dump_visitor *d = (dump_visitor *)v;
  if (!bi->free_chunks && !bi->used_chunks) return;
  xsmem_dprintf(d->fd, "  bin %2d (>= %zu B): free %zu chunks / %zu B, in use %zu chunks / %zu B\n", bi->bin,
                bi->min_size, bi->free_chunks, bi->free_bytes, bi->used_chunks, bi->used_bytes);
}

static void dump_region(xsmem_bfc_visitor *v, const xsmem_bfc_region_info *ri) {
  dump_visitor *d = (dump_visitor *)v;
  xsmem_dprintf(d->fd, "  region [%p, %p) %zu B: %zu chunks, free %zu B, largest free %zu B\n", (void *)ri->base,
                (void *)(ri->base + ri->size), ri->size, ri->num_chunks, ri->free_bytes, ri->largest_free);
}

static void dump_chunk(xsmem_bfc_visitor *v, const xsmem_bfc_region_info *ri, const xsmem_bfc_chunk_info *ci) {
  dump_visitor *d = (dump_visitor *)v;
  if (d->max_chunks && d->shown >= d->max_chunks) {
    d->skipped++;
    return;
  }
  d->shown++;
  if (ci->in_use) {
    xsmem_dprintf(d->fd, "    %p %10zu B  in use  requested %zu  id %llu\n", (void *)ci->address, ci->size,
                  ci->requested, (unsigned long long)ci->allocation_id);
  } else {
    xsmem_dprintf(d->fd, "    %p %10zu B  free    bin %d  freed at %llu\n", (void *)ci->address, ci->size, ci->bin,
                  (unsigned long long)ci->freed_at);
  }
}

void xsmem_bfc_dump(xsmem_bfc *b, int fd, size_t max_chunks) {
  dump_visitor d = {{dump_bin, dump_region, dump_chunk}, fd, max_chunks, 0, 0};
  pthread_mutex_lock(&b->mu);
  xsmem_dprintf(fd,
                "xsmem bfc '%s': limit %zu B, reserved %llu B in %zu regions, in use %llu B, free %llu B, "
                "largest free chunk %zu B\n",
                b->base.name, b->opt.bytes_limit, (unsigned long long)b->reserved, b->num_regions,
                (unsigned long long)b->in_use, (unsigned long long)(b->usable - b->in_use), largest_free(b));
  visit_locked(b, &d.v);
  pthread_mutex_unlock(&b->mu);
  if (d.skipped) xsmem_dprintf(fd, "    ... %zu more chunks\n", d.skipped);
}

// The chunk map of the detail report: chunks in address order, at most
// XSMEM_BFC_MAP_ENTRIES entries. When the chunks outnumber the entries, each
// entry is a run of address-adjacent chunks of one region in the same state
// (merged), and what still does not fit is counted as dropped.
typedef struct map_entry {
  uintptr_t address;
  size_t size;
  bool used;
} map_entry;

typedef struct chunk_map {
  map_entry *e;  // NULL when the buffer could not be mapped
  size_t n, chunks, dropped_chunks, dropped_bytes;
  bool merged;
} chunk_map;

// REQUIRES: mu held; chunks = the number of chunks in every region.
static void map_collect(const xsmem_bfc *b, chunk_map *m, size_t chunks) {
  m->chunks = chunks;
  m->merged = chunks > XSMEM_BFC_MAP_ENTRIES;
  if (!m->e) return;
  for (size_t i = 0; i < b->num_regions; i++) {
    bool open = false;  // the last entry is in this region and may take the next chunk
    for (uint32_t h = b->regions[i].slots[0]; h; h = C(b, h)->next) {
      const chunk *c = C(b, h);
      bool used = c->alloc_id != 0;
      if (m->dropped_chunks || (m->n == XSMEM_BFC_MAP_ENTRIES && !(open && m->e[m->n - 1].used == used))) {
        m->dropped_chunks++;  // past the first drop everything is dropped: no gaps inside the map
        m->dropped_bytes += c->size;
      } else if (m->merged && open && m->e[m->n - 1].used == used) {
        m->e[m->n - 1].size += c->size;
      } else {
        m->e[m->n++] = (map_entry){c->ptr, c->size, used};
        open = true;
      }
    }
  }
}

void bfc_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  xsmem_bfc *b = (xsmem_bfc *)a;
  xsmem_bfc_bin_info bins[NBINS];
  // The map's buffer is mapped outside the lock, and the values go to the
  // sink after it is dropped: the sink may allocate (from this allocator).
  size_t map_bytes = xsmem_align_up(XSMEM_BFC_MAP_ENTRIES * sizeof(map_entry), b->page);
  chunk_map m = {xsmem_os_map(map_bytes, b->page, 0), 0, 0, 0, 0, false};
  pthread_mutex_lock(&b->mu);
  bins_collect(b, bins);
  size_t chunks = 0;
  for (int i = 0; i < NBINS; i++) chunks += bins[i].free_chunks + bins[i].used_chunks;
  map_collect(b, &m, chunks);
  size_t regions = b->num_regions, largest = largest_free(b), free_bytes = b->usable - b->in_use;
  size_t next_region = XSMEM_MIN(bfc_region_step(b), b->opt.bytes_limit - b->reserved);
  pthread_mutex_unlock(&b->mu);
  char label[24];
  for (int i = 0; i < NBINS; i++) {
    xsmem_snprintf(label, sizeof(label), "%zu", bins[i].min_size);
    sink->value(sink, "bin", label, "free_chunks", "gauge", (double)bins[i].free_chunks);
    sink->value(sink, "bin", label, "free_bytes", "gauge", (double)bins[i].free_bytes);
    sink->value(sink, "bin", label, "used_chunks", "gauge", (double)bins[i].used_chunks);
    sink->value(sink, "bin", label, "used_bytes", "gauge", (double)bins[i].used_bytes);
  }
  sink->value(sink, "bfc", "regions", "count", "gauge", (double)regions);
  sink->value(sink, "bfc", "regions", "next_size", "gauge", (double)next_region);
  // Whether a large request fits without a new region (TensorFlow's
  // fragmentation metric is 1 - largest_chunk / bytes).
  sink->value(sink, "bfc", "free", "largest_free_chunk_bytes", "gauge", (double)largest);
  sink->value(sink, "bfc", "free", "free_bytes", "gauge", (double)free_bytes);
  if (!m.e) return;
  sink->value(sink, "chunk_summary", "map", "chunks", "gauge", (double)m.chunks);
  sink->value(sink, "chunk_summary", "map", "entries", "gauge", (double)m.n);
  sink->value(sink, "chunk_summary", "map", "merged", "gauge", m.merged ? 1.0 : 0.0);
  sink->value(sink, "chunk_summary", "map", "dropped_chunks", "gauge", (double)m.dropped_chunks);
  sink->value(sink, "chunk_summary", "map", "dropped_bytes", "gauge", (double)m.dropped_bytes);
  for (size_t i = 0; i < m.n; i++) {
    xsmem_snprintf(label, sizeof(label), "0x%zx", (size_t)m.e[i].address);
    sink->value(sink, "chunk", label, "size", "gauge", (double)m.e[i].size);
    sink->value(sink, "chunk", label, "used", "gauge", m.e[i].used ? 1.0 : 0.0);
  }
  xsmem_os_unmap(m.e, map_bytes);
}
