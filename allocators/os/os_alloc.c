#include "allocators/os/os_alloc.h"

#include <errno.h>
#include <string.h>

#include "platform/atomics.h"
#include "platform/log.h"
#include "platform/os_vm.h"
#include "platform/tool_hooks.h"

#define OS_MAGIC 0x78736d656d4f5321ull  // "xsmemOS!"
#define HEADER 32

typedef struct os_header {
  uint64_t magic;
  void *base;
  size_t map_size;
  size_t requested;
} os_header;

// ---------------------------------------------------------------------------
// Side table: a set of live user pointers. Slot values: 0 empty, a pointer
// (live), or pointer|1 (a tombstone that remembers a freed pointer).

typedef struct os_table {
  uintptr_t *slots;
  size_t cap;   // power of two
  size_t live;  // live entries
  size_t used;  // live + tombstones
} os_table;

typedef struct os_allocator {
  xsmem_allocator base;
  xsmem_spinlock lock;
  os_table table;
  uint64_t allocs, frees, failed, in_use, peak, largest, reserved, headers;
} os_allocator;

static size_t hash_ptr(uintptr_t p, size_t cap) { return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull >> 17) & (cap - 1); }

// Returns the slot holding p (live or tombstone), or the first free slot.
static uintptr_t *table_find(os_table *t, uintptr_t p, bool *found) {
  size_t i = hash_ptr(p, t->cap);
  uintptr_t *reuse = NULL;
  for (;; i = (i + 1) & (t->cap - 1)) {
    uintptr_t v = t->slots[i];
    if (v == 0) {
      *found = false;
      return reuse ? reuse : &t->slots[i];
    }
    if ((v & ~(uintptr_t)1) == p) {
      *found = true;
      return &t->slots[i];
    }
    if ((v & 1) && !reuse) reuse = &t->slots[i];
  }
}

static bool table_grow(os_table *t) {
  size_t cap = t->cap ? t->cap * 2 : 4096;
  if (t->cap && t->live * 4 < t->cap) cap = t->cap;  // mostly tombstones: rehash in place size
  uintptr_t *slots = xsmem_os_map(cap * sizeof(uintptr_t), xsmem_os_page_size(), 0);
  if (!slots) return false;
  os_table n = {slots, cap, 0, 0};
  for (size_t i = 0; i < t->cap; i++) {
    uintptr_t v = t->slots[i];
    if (v && !(v & 1)) {
      bool found;
      *table_find(&n, v, &found) = v;
      n.live++;
      n.used++;
    }
  }
  if (t->slots) xsmem_os_unmap(t->slots, t->cap * sizeof(uintptr_t));
  *t = n;
  return true;
}

// ---------------------------------------------------------------------------

static void *os_alloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  os_allocator *s = (os_allocator *)a;
  if (!xsmem_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  size_t page = xsmem_os_page_size();
  size_t offset = align <= HEADER ? HEADER : align;  // user pointer offset in the mapping
  // A zero-size block still gets a byte of its own mapping: with offset ==
  // align it would otherwise point one past the mapping's end, where the next
  // mapping (another allocator's) may begin, and its free would go there.
  size_t map_size;
  if (__builtin_add_overflow(size ? size : 1, offset, &map_size) ||
      !xsmem_align_up_checked(map_size, page, &map_size)) {
    goto fail;
  }
  char *base = xsmem_os_map(map_size, XSMEM_MAX(align, page), map_size >= 2 * XSMEM_MiB ? XSMEM_VM_HUGE : 0);
  if (!base) goto fail;
  char *user = base + offset;
  os_header *h = (os_header *)(user - HEADER);
  *h = (os_header){OS_MAGIC, base, map_size, size};
  xsmem_spin_lock(&s->lock);
  if ((s->table.used + 1) * 4 > s->table.cap * 3 && !table_grow(&s->table)) {
    xsmem_spin_unlock(&s->lock);
    xsmem_os_unmap(base, map_size);
    goto fail;
  }
  bool found;
  uintptr_t *slot = table_find(&s->table, (uintptr_t)user, &found);
  s->table.used += (*slot == 0);
  *slot = (uintptr_t)user;
  s->table.live++;
  s->allocs++;
  s->in_use += map_size - offset;
  s->reserved += map_size;
  s->headers += offset;
  xsmem_stats_note_peak(&s->peak, s->in_use);
  if (size > s->largest) s->largest = size;
  XSMEM_TOOL_POOL_ENSURE(s);  // the instance is static: its Valgrind pool starts here
  xsmem_spin_unlock(&s->lock);
  // Tools: the padding below the header is off limits, the rest of the mapping is the block.
  XSMEM_TOOL_POISON(base, offset - HEADER);
  XSMEM_TOOL_ALLOC(s, user, map_size - offset);
  XSMEM_TOOL_UNPOISON(user, size);  // memcheck: fresh pages are zero, so defined
  (void)flags;                      // fresh mappings are already zero
  return user;
fail:
  __atomic_fetch_add(&s->failed, 1, __ATOMIC_RELAXED);
  errno = ENOMEM;
  return NULL;
}

// Checks p under the lock; returns its header, or NULL after reporting.
static os_header *lookup(os_allocator *s, const void *p, const char *op, bool remove) {
  xsmem_spin_lock(&s->lock);
  bool found = false;
  // No table yet (nothing allocated): nothing to find, and no slot to probe.
  uintptr_t *slot = s->table.cap ? table_find(&s->table, (uintptr_t)p, &found) : NULL;
  if (!found || (*slot & 1)) {
    xsmem_spin_unlock(&s->lock);
    xsmem_report_bad_pointer(s->base.name, op, p,
                             found ? "double free (block already freed)" : "pointer not allocated by this allocator");
    return NULL;
  }
  os_header *h = (os_header *)((char *)p - HEADER);
  if (h->magic != OS_MAGIC) {
    xsmem_spin_unlock(&s->lock);
    xsmem_report_bad_pointer(s->base.name, op, p, "corrupted block header");
    return NULL;
  }
  if (remove) {
    *slot = (uintptr_t)p | 1;  // tombstone remembers the pointer
    s->table.live--;
    s->frees++;
    size_t offset = (size_t)((char *)p - (char *)h->base);
    s->in_use -= h->map_size - offset;
    s->headers -= offset;
    s->reserved -= h->map_size;
  }
  xsmem_spin_unlock(&s->lock);
  return h;
}

static void os_free(xsmem_allocator *a, void *p, size_t size) {
  os_header *h = lookup((os_allocator *)a, p, "free", true);
  if (h) {
    h->magic = 0;
    XSMEM_TOOL_FREE(a, p, h->map_size - (size_t)((char *)p - (char *)h->base));
    XSMEM_TOOL_UNPOISON(h->base, h->map_size);  // ASan's shadow outlives the mapping
    xsmem_os_unmap(h->base, h->map_size);
  }
}

static size_t os_usable(const xsmem_allocator *a, const void *p) {
  os_header *h = lookup((os_allocator *)a, p, "malloc_usable_size", false);
  return h ? h->map_size - (size_t)((const char *)p - (char *)h->base) : 0;
}

static bool os_owns(const xsmem_allocator *a, const void *p) {
  os_allocator *s = (os_allocator *)a;
  xsmem_spin_lock(&s->lock);
  bool found = false;
  if (s->table.cap) {
    uintptr_t *slot = table_find(&s->table, (uintptr_t)p, &found);
    found = found && !(*slot & 1);
  }
  xsmem_spin_unlock(&s->lock);
  return found;
}

static void os_stats(const xsmem_allocator *a, xsmem_stats *out) {
  os_allocator *s = (os_allocator *)a;
  xsmem_spin_lock(&s->lock);
  out->num_allocs = s->allocs;
  out->num_frees = s->frees;
  out->num_failed = __atomic_load_n(&s->failed, __ATOMIC_RELAXED);
  out->bytes_in_use = s->in_use;
  out->peak_bytes_in_use = s->peak;
  out->largest_alloc_size = s->largest;
  out->bytes_metadata = s->table.cap * sizeof(uintptr_t) + s->headers;
  out->bytes_reserved = s->reserved + s->table.cap * sizeof(uintptr_t);  // the block mappings plus the side table
  xsmem_spin_unlock(&s->lock);
}

static void os_fork(xsmem_allocator *a, int phase) {
  os_allocator *s = (os_allocator *)a;
  if (phase == XSMEM_FORK_PREPARE) {
    xsmem_spin_lock(&s->lock);
  } else {
    xsmem_spin_unlock(&s->lock);
  }
}

static const xsmem_allocator_ops kOsOps = {
    .kind = "os",
    .alloc = os_alloc,
    .free = os_free,
    .usable_size = os_usable,
    .owns = os_owns,
    .stats = os_stats,
    .fork = os_fork,
};

static os_allocator g_os = {.base = {&kOsOps, "os"}};

xsmem_allocator *xsmem_os_allocator(void) { return &g_os.base; }
