// allocators/buddy/buddy_report.c: what a buddy front reports of itself:
// its statistics (exact, summed over the regions under their locks) and the detail
// report (regions, free and live blocks per order).
#include "allocators/buddy/buddy_internal.h"
#include "platform/log.h"

void buddy_stats(const xsmem_allocator *a, xsmem_stats *out) {
  buddy *b = (buddy *)a;
  uint64_t allocs = 0, frees = 0, in_use = 0, free_bytes = 0, regions = 0, touched = 0;
  uint32_t n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n; i++) {
    buddy_region *r = &b->regions[i];
    xsmem_spin_lock(&r->lock);
    allocs += r->allocs;
    frees += r->frees;
    if (r->base) {
      regions++;
      in_use += r->in_use;
      free_bytes += b->region_size - r->in_use;
      touched += r->hwm;  // blocks were handed out below it; above, the region was never touched
    }
    xsmem_spin_unlock(&r->lock);
  }
  size_t table_touched = (size_t)__atomic_load_n(&b->leaves, __ATOMIC_RELAXED) * b->leaf_bytes;
  out->num_allocs = allocs;
  out->num_frees = frees;
  out->num_failed = __atomic_load_n(&b->failed, __ATOMIC_RELAXED);
  out->bytes_in_use = in_use;
  out->peak_bytes_in_use = __atomic_load_n(&b->peak, __ATOMIC_RELAXED);
  out->bytes_cached = free_bytes;
  out->bytes_metadata = b->self_bytes + regions * b->meta_bytes + table_touched;
  out->bytes_reserved = regions * b->region_size + out->bytes_metadata;
  out->bytes_committed = touched + out->bytes_metadata;
  out->largest_alloc_size = __atomic_load_n(&b->largest, __ATOMIC_RELAXED);
  out->bytes_limit = b->max_regions * b->region_size;
}

void buddy_detail(const xsmem_allocator *a, xsmem_stats_sink *sink) {
  buddy *b = (buddy *)a;
  uint64_t nfree[BUDDY_ORDERS] = {0}, nlive[BUDDY_ORDERS] = {0};
  uint32_t n = __atomic_load_n(&b->nslots, __ATOMIC_ACQUIRE), regions = 0;
  for (uint32_t i = 0; i < n; i++) {
    buddy_region *r = &b->regions[i];
    xsmem_spin_lock(&r->lock);
    regions += r->base != NULL;
    for (unsigned k = b->min_shift; k <= b->region_shift; k++) {
      nfree[k] += r->nfree[k];
      nlive[k] += r->nlive[k];
    }
    xsmem_spin_unlock(&r->lock);
  }
  sink->value(sink, "tier", "buddy", "regions", "gauge", regions);
  for (unsigned k = b->min_shift; k <= b->region_shift; k++) {
    char label[24];
    xsmem_snprintf(label, sizeof(label), "%zu", (size_t)1 << k);
    sink->value(sink, "order", label, "free_blocks", "gauge", (double)nfree[k]);
    sink->value(sink, "order", label, "live_blocks", "gauge", (double)nlive[k]);
  }
}
