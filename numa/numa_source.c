// numa/numa_source.c: node-bound and interleaved sources carved from one space.
#include "numa/numa_source.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "platform/log.h"
#include "platform/options.h"
#include "platform/os_vm.h"

// Spans shorter than this are not worth a reservation: the space then has
// none, and every region is mapped outside it (overflow, below).
#define MIN_SPAN ((size_t)64 << 20)

// ---------------------------------------------------------------------------
// Free extents: sorted by address, merged with neighbours. REQUIRES: s->lock.

// Removes extent i, or replaces it by what is left around [start, start+len).
// Returns false (nothing changed) when the split needs a slot there is no room for.
static bool extent_take(xsmem_numa_source *s, int i, uintptr_t start, size_t len) {
  xsmem_numa_extent e = s->extents[i];
  size_t head = start - e.start;
  size_t tail = e.start + e.len - (start + len);
  if (head && tail) {
    if (s->num_extents == XSMEM_NUMA_SOURCE_EXTENTS) return false;
    memmove(&s->extents[i + 2], &s->extents[i + 1], (size_t)(s->num_extents - i - 1) * sizeof(e));
    s->extents[i] = (xsmem_numa_extent){e.start, head};
    s->extents[i + 1] = (xsmem_numa_extent){start + len, tail};
    s->num_extents++;
  } else if (head) {
    s->extents[i].len = head;
  } else if (tail) {
    s->extents[i] = (xsmem_numa_extent){start + len, tail};
  } else {
    memmove(&s->extents[i], &s->extents[i + 1], (size_t)(s->num_extents - i - 1) * sizeof(e));
    s->num_extents--;
  }
  return true;
}

// Returns [start, start+len) to the free extents (or to the bump frontier).
static void extent_give(xsmem_numa_source *s, uintptr_t start, size_t len) {
  int i = 0;
  while (i < s->num_extents && s->extents[i].start < start) i++;
  bool join_prev = i > 0 && s->extents[i - 1].start + s->extents[i - 1].len == start;
  bool join_next = i < s->num_extents && start + len == s->extents[i].start;
  if (join_prev && join_next) {
    s->extents[i - 1].len += len + s->extents[i].len;
    memmove(&s->extents[i], &s->extents[i + 1], (size_t)(s->num_extents - i - 1) * sizeof(xsmem_numa_extent));
    s->num_extents--;
  } else if (join_prev) {
    s->extents[i - 1].len += len;
  } else if (join_next) {
    s->extents[i].start = start;
    s->extents[i].len += len;
  } else if (s->num_extents < XSMEM_NUMA_SOURCE_EXTENTS) {
    memmove(&s->extents[i + 1], &s->extents[i], (size_t)(s->num_extents - i) * sizeof(xsmem_numa_extent));
    s->extents[i] = (xsmem_numa_extent){start, len};
    s->num_extents++;
  } else if (start + len == s->bump) {
    s->bump = start;
  } else {
    s->stats.bytes_lost += len;  // no room to remember it: the address space stays unused
    return;
  }
  // Extents touching the frontier fold back into it.
  while (s->num_extents > 0) {
    xsmem_numa_extent *last = &s->extents[s->num_extents - 1];
    if (last->start + last->len != s->bump) break;
    s->bump = last->start;
    s->num_extents--;
  }
}

// Returns the start of a free range of len bytes aligned to align, taken from
// the extents or the frontier; 0 when the span cannot hold it. REQUIRES: lock.
static uintptr_t carve(xsmem_numa_source *s, size_t len, size_t align) {
  for (int i = 0; i < s->num_extents; i++) {
    xsmem_numa_extent e = s->extents[i];
    uintptr_t start = xsmem_align_up(e.start, align);
    if (start >= e.start && start - e.start <= e.len && e.start + e.len - start >= len &&
        extent_take(s, i, start, len)) {
      return start;
    }
  }
  uintptr_t start = xsmem_align_up(s->bump, align);
  if (start < s->bump || start > s->hi || s->hi - start < len) return 0;
  if (start > s->bump) {  // the alignment gap stays reusable
    uintptr_t gap = s->bump;
    s->bump = start + len;
    extent_give(s, gap, start - gap);
  } else {
    s->bump = start + len;
  }
  return start;
}

// ---------------------------------------------------------------------------
// The source.

// Binds a fresh range to the source's node (or interleaves it) before its
// first touch.
static void bind_range(xsmem_numa_source *s, void *p, size_t len) {
  // Before the first touch: the kernel places each page when it faults in.
  int r = s->node >= 0 ? xsmem_numa_bind_range(p, len, s->node, s->mode) : xsmem_numa_interleave_range(p, len);
  xsmem_spin_lock(&s->lock);
  if (r < 0) {
    s->stats.bind_failures++;
  } else {
    s->stats.num_binds++;
  }
  xsmem_spin_unlock(&s->lock);
  if (r < 0 && xsmem_option_bool("XSMEM_VERBOSE")) {
    xsmem_log("numa: binding %zu bytes to %s failed (errno %d); the region stays unbound", len, s->name, -r);
  }
}

static void *source_map(xsmem_source *src, size_t size, size_t align, size_t *got) {
  xsmem_numa_source *s = (xsmem_numa_source *)src;
  size_t page = xsmem_os_page_size();
  size_t len;
  if (size == 0 || !xsmem_is_pow2(align) || !xsmem_align_up_checked(size, page, &len)) {
    errno = size == 0 || !xsmem_is_pow2(align) ? EINVAL : ENOMEM;
    return NULL;
  }
  if (align < page) align = page;
  xsmem_spin_lock(&s->lock);
  if (s->limit && s->stats.bytes_mapped + len > s->limit) {  // the node is exhausted
    s->stats.num_refused++;
    xsmem_spin_unlock(&s->lock);
    errno = ENOMEM;
    return NULL;
  }
  uintptr_t start = len <= s->hi - s->lo ? carve(s, len, align) : 0;
  s->stats.bytes_mapped += len;
  s->stats.num_maps++;
  xsmem_stats_note_peak(&s->stats.peak_mapped, s->stats.bytes_mapped);
  xsmem_spin_unlock(&s->lock);

  void *p = (void *)start;
  bool ok = start ? xsmem_os_commit(p, len) : false;
  if (start && !ok) {  // the kernel refused the commit (its overcommit policy)
    xsmem_spin_lock(&s->lock);
    extent_give(s, start, len);
    xsmem_spin_unlock(&s->lock);
  }
  if (!start) {
    // The span is full, or there is none (an address-space limit left no room
    // for a reservation): a mapping of its own, outside the space, bound all
    // the same. Its owner is found by asking (xsmem_numa_space_slot_of says -1).
    p = xsmem_os_map(len, align, 0);
    ok = p != NULL;
    if (ok) {
      xsmem_spin_lock(&s->lock);
      s->stats.overflow_maps++;
      s->stats.overflow_bytes += len;
      xsmem_spin_unlock(&s->lock);
    }
  }
  if (!ok) {
    xsmem_spin_lock(&s->lock);
    s->stats.bytes_mapped -= len;
    s->stats.num_maps--;
    s->stats.num_refused++;
    xsmem_spin_unlock(&s->lock);
    errno = ENOMEM;
    return NULL;
  }
  // No huge-page advice here: the consumer decides (large advises its
  // mappings; a 4 MiB small-tier segment under THP would be resident whole).
  if (s->bind) bind_range(s, p, len);
  *got = len;
  return p;
}

static void source_unmap(xsmem_source *src, void *p, size_t size) {
  xsmem_numa_source *s = (xsmem_numa_source *)src;
  size_t len = xsmem_align_up(size, xsmem_os_page_size());
  if ((uintptr_t)p < s->lo || (uintptr_t)p + len > s->hi || s->lo == s->hi) {
    xsmem_spin_lock(&s->lock);
    bool overflow = s->stats.overflow_bytes >= len;  // outside the span: one of its own mappings
    if (overflow) {
      s->stats.overflow_bytes -= len;
      s->stats.bytes_mapped -= len;
      s->stats.num_unmaps++;
    }
    xsmem_spin_unlock(&s->lock);
    if (!overflow) {
      xsmem_report_bad_pointer(s->name, "unmap", p, "region not mapped by this source");
      return;
    }
    xsmem_os_unmap(p, len);
    return;
  }
  xsmem_os_decommit(p, len);  // the pages go back; the range reads as zero when reused
  xsmem_os_protect(p, len);
  xsmem_spin_lock(&s->lock);
  s->stats.bytes_mapped -= len;
  s->stats.num_unmaps++;
  extent_give(s, (uintptr_t)p, len);
  xsmem_spin_unlock(&s->lock);
}

static const xsmem_source_ops kNodeSourceOps = {
    .map = source_map,
    .unmap = source_unmap,
    .caps = XSMEM_SRC_ZEROED | XSMEM_SRC_ADJACENT | XSMEM_SRC_NODE_BOUND,
};

static const xsmem_source_ops kPlainSourceOps = {
    .map = source_map,
    .unmap = source_unmap,
    .caps = XSMEM_SRC_ZEROED | XSMEM_SRC_ADJACENT,
};

// ---------------------------------------------------------------------------
// The space.

xsmem_numa_space_options xsmem_numa_space_options_from_env(void) {
  xsmem_numa_space_options o;
  memset(&o, 0, sizeof(o));
  xsmem_numa_policy policy = xsmem_numa_policy_get();
  o.bind = policy != XSMEM_NUMA_POLICY_OFF;
  o.num_nodes = o.bind ? xsmem_numa_num_nodes() : 1;
  o.span = xsmem_option_bytes("XSMEM_NUMA_SPAN");
  o.node_limit = xsmem_option_bytes("XSMEM_NUMA_NODE_LIMIT");
  o.mode = xsmem_numa_bind_mode_get();
  return o;
}

bool xsmem_numa_space_init(xsmem_numa_space *sp, const xsmem_numa_space_options *o) {
  int nodes = o->num_nodes ? o->num_nodes : xsmem_numa_num_nodes();
  if (nodes < 1 || nodes > XSMEM_NUMA_MAX_NODES) {
    errno = EINVAL;
    return false;
  }
  size_t span = o->span ? o->span : xsmem_option_bytes("XSMEM_NUMA_SPAN");
  span = span < MIN_SPAN ? MIN_SPAN : (size_t)1 << xsmem_log2_floor(span);
  size_t slots = (size_t)nodes + 1;
  // Under an address-space limit the whole space takes at most an eighth of
  // it (the reservation counts against the limit though nothing is committed).
  size_t cap = xsmem_os_fit_limit(SIZE_MAX / 2 + 1, 8, 1);
  while (span >= MIN_SPAN && (span > SIZE_MAX / slots || span * slots > cap)) span /= 2;
  void *base = NULL;
  for (; span >= MIN_SPAN; span /= 2) {
    base = xsmem_os_reserve(span * slots, span);
    if (base) break;
  }
  memset(sp, 0, sizeof(*sp));
  sp->num_nodes = nodes;
  if (base) {
    sp->base = (uintptr_t)base;
    sp->span = span;
    sp->span_shift = xsmem_log2_floor(span);
    sp->reserved = span * slots;
  } else {
    // No span of MIN_SPAN fits: no reservation at all. The spans are empty
    // (every region overflows, below) and lie above the user address space,
    // so that xsmem_numa_space_slot_of says -1 for every pointer.
    sp->base = (uintptr_t)1 << 63;
    sp->span = 0;
    sp->span_shift = 48;
    sp->reserved = 0;
  }
  // Binding means something on a fake topology or a real one with several nodes.
  xsmem_numa_kind kind = xsmem_numa_topology_kind();
  bool bind = o->bind && (kind == XSMEM_NUMA_KIND_FAKE || (kind == XSMEM_NUMA_KIND_REAL && nodes > 1));
  for (size_t i = 0; i < slots; i++) {
    xsmem_numa_source *s = &sp->sources[i];
    s->node = i < (size_t)nodes ? (int)i : -1;
    s->bind = bind;
    s->mode = o->mode == XSMEM_NUMA_BIND_PREFERRED ? XSMEM_NUMA_BIND_PREFERRED : XSMEM_NUMA_BIND_STRICT;
    s->limit = o->node_limit;
    s->lo = sp->base + i * sp->span;
    s->hi = s->lo + sp->span;
    s->bump = s->lo;
    if (s->node >= 0) {
      xsmem_snprintf(s->name, sizeof(s->name), "numa.node%d", s->node);
    } else {
      xsmem_snprintf(s->name, sizeof(s->name), "numa.interleave");
    }
    s->base.ops = bind ? &kNodeSourceOps : &kPlainSourceOps;
    s->base.name = s->name;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The caller's-node source.

static void *local_map(xsmem_source *src, size_t size, size_t align, size_t *got) {
  xsmem_numa_local_source *l = (xsmem_numa_local_source *)src;
  xsmem_numa_space *sp = l->space;
  int node = sp->num_nodes == 1 ? 0 : xsmem_numa_current_node();
  if (node >= sp->num_nodes) node = 0;
  void *p = xsmem_source_map(&sp->sources[node].base, size, align, got);
  if (p || !l->fallback || sp->num_nodes == 1 || errno != ENOMEM) return p;
  int order[XSMEM_NUMA_MAX_NODES];
  int n = xsmem_numa_num_nodes() == sp->num_nodes ? xsmem_numa_nodes_by_distance(node, order, XSMEM_NUMA_MAX_NODES) : 0;
  for (int i = 0; i < sp->num_nodes - 1; i++) {
    int other = i < n ? order[i] : (node + 1 + i) % sp->num_nodes;
    p = xsmem_source_map(&sp->sources[other].base, size, align, got);
    if (p) {
      __atomic_fetch_add(&l->fallbacks, 1, __ATOMIC_RELAXED);
      return p;
    }
  }
  errno = ENOMEM;
  return NULL;
}

static void local_unmap(xsmem_source *src, void *p, size_t size) {
  xsmem_numa_local_source *l = (xsmem_numa_local_source *)src;
  int slot = xsmem_numa_space_slot_of(l->space, p);
  if (slot < 0) {
    xsmem_report_bad_pointer(l->base.name, "unmap", p, "region not mapped by this source");
    return;
  }
  xsmem_source_unmap(&l->space->sources[slot].base, p, size);
}

static const xsmem_source_ops kLocalSourceOps = {
    .map = local_map,
    .unmap = local_unmap,
    .caps = XSMEM_SRC_ZEROED | XSMEM_SRC_NODE_BOUND,  // consecutive maps may come from different nodes
};

xsmem_source *xsmem_numa_space_local_source(xsmem_numa_space *sp, bool fallback) {
  sp->local.base.ops = &kLocalSourceOps;
  sp->local.base.name = "numa.local";
  sp->local.space = sp;
  sp->local.fallback = fallback;
  return &sp->local.base;
}

void xsmem_numa_source_stats_get(xsmem_numa_space *sp, int slot, xsmem_numa_source_stats *out) {
  xsmem_numa_source *s = &sp->sources[slot];
  xsmem_spin_lock(&s->lock);
  *out = s->stats;
  xsmem_spin_unlock(&s->lock);
}

void xsmem_numa_space_fork(xsmem_numa_space *sp, int phase) {
  for (int i = 0; i <= sp->num_nodes; i++) {
    if (phase == XSMEM_FORK_PREPARE) {
      xsmem_spin_lock(&sp->sources[i].lock);
    } else {
      xsmem_spin_unlock(&sp->sources[i].lock);
    }
  }
}

void xsmem_numa_space_release(xsmem_numa_space *sp) {
  if (!sp->base) return;
  size_t committed = 0;
  for (int i = 0; i <= sp->num_nodes; i++) {
    committed += sp->sources[i].stats.bytes_mapped - sp->sources[i].stats.overflow_bytes;
  }
  // Overflow regions are their owners' to give back (source_unmap).
  if (sp->reserved) xsmem_os_release((void *)sp->base, sp->reserved, committed);
  memset(sp, 0, sizeof(*sp));
}
