// allocators/tls_buckets/tls_central.c: the small tier's memory and its
// central lists. Segments are mapped from the source, tagged in the pagemap
// and given their keys; slabs come from the empty, decommitted or fresh ones
// of a class; the central list of each class, under a spinlock, carves fresh
// blocks, sorts every block that comes back into its slab (a per-slab free
// bitmap: a second free reaching it is a double free) and parks a slab that
// empties for the purger. Also the checks of the links found inside free
// blocks, which every file of the tier follows.
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "allocators/tls_buckets/tls_buckets_internal.h"
#include "platform/log.h"
#include "platform/os_vm.h"

tls_central tls_centrals[XSMEM_TLS_MAX_SLOTS];

// ---------------------------------------------------------------------------
// Segments and slabs.

static char *seg_data(tls_segment *s) { return (char *)s + SEG_HEADER; }

// n / d for a 32-bit n by one multiply, magic = UINT64_MAX / d + 1 (Lemire,
// Kaser, Kurz: exact for every 32-bit n). The central lists divide by the
// block size and the slab length once per block: a hardware division each
// would cost more than the rest of the block's handling.
static uint32_t fastdiv(uint64_t magic, uint32_t n) { return (uint32_t)(((unsigned __int128)magic * n) >> 64); }

// Returns the index of block p in its segment.
static uint32_t block_index(tls_segment *seg, const void *p) {
  return fastdiv(seg->head.div_magic, (uint32_t)((const char *)p - seg_data(seg)));
}

// Returns the slab of block index j.
static uint32_t slab_of(const tls_segment *seg, uint32_t j) {
  return seg->slab_magic ? fastdiv(seg->slab_magic, j) : j;
}

static char *slab_start(const tls_slab *s) {
  return seg_data(s->seg) + (size_t)s->index * s->seg->per_slab * s->seg->size;
}

// Decommits the whole pages inside a slab (its edge pages may hold neighbours).
size_t tls_slab_decommit(tls_slab *s) {
  size_t page = xsmem_os_page_size();
  uintptr_t b = xsmem_align_up((uintptr_t)slab_start(s), page);
  uintptr_t e = xsmem_align_down((uintptr_t)slab_start(s) + (size_t)s->seg->per_slab * s->seg->size, page);
  if (e <= b || !xsmem_os_decommit((void *)b, e - b)) return 0;
  return e - b;
}

static void slab_recommit(tls_slab *s) {
  size_t page = xsmem_os_page_size();
  uintptr_t b = xsmem_align_up((uintptr_t)slab_start(s), page);
  uintptr_t e = xsmem_align_down((uintptr_t)slab_start(s) + (size_t)s->seg->per_slab * s->seg->size, page);
  if (e > b) xsmem_os_commit((void *)b, e - b);  // accounting; the range never lost access
}

// The keys of a new segment (tls_fast.h): its free key (never 0) and its
// link key, drawn for each segment, so that one segment's keys say nothing of
// another's. Where the kernel has no entropy to give yet (early boot), they
// come from a secret drawn with the tier, the clock and the address.
static uint64_t g_key_secret;

static uint64_t mix64(uint64_t x) {  // splitmix64's finalizer
  x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ x >> 27) * 0x94D049BB133111EBull;
  return x ^ x >> 31;
}

static uint64_t random_secret(void) {
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts;  // no entropy yet (early boot): the clock and ASLR
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = ((uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec) ^ (uintptr_t)&r;
  }
  return r;
}

static void segment_keys(tls_segment *s) {
  uint64_t r[2];
  if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r[0] = mix64(g_key_secret ^ (uintptr_t)s ^ (uint64_t)ts.tv_nsec);
    r[1] = mix64(r[0] + g_key_secret);
  }
  s->head.free_key = r[0] | 1;
  s->head.link_key = r[1];
}

void tls_segment_keys_init(void) { g_key_secret = random_secret(); }

// Maps a segment for slot c from src: at the start of a 4 MiB-aligned chunk,
// the whole chunk, or under an address-space limit a power of two between
// the slot's minimum and tls_seg_len: a class's first segment is the minimum
// (128 KiB for most classes: a program touches tens of classes and most hold
// a few blocks) and each next one doubles, so a busy class pays little for
// headers. When the source refuses, the length is halved down to the slot's
// minimum and tls_seg_len with it. The rest of the chunk stays unmapped: the
// header's data_bytes bounds the blocks, so a pointer there is never taken
// for one. Returns the segment and its length in *len, or NULL (errno).
// REQUIRES: the class lock.
static void *segment_map(xsmem_source *src, unsigned c, size_t *len) {
  tls_central *ce = &tls_centrals[c];
  size_t cap = __atomic_load_n(&tls_seg_len, __ATOMIC_RELAXED), min = tls_seg_min[c];
  size_t want = !__atomic_load_n(&tls_seg_limited, __ATOMIC_RELAXED)
      ? SEG_SIZE
      : XSMEM_MAX(XSMEM_MIN(ce->next_seg_len ? ce->next_seg_len : min, cap), min);
  for (;;) {
    size_t got = 0;
    void *mem = xsmem_source_map(src, want, SEG_SIZE, &got);
    if (mem) {
      ce->next_seg_len = XSMEM_MIN(2 * want, SEG_SIZE);
      *len = got;
      return mem;
    }
    if (errno != ENOMEM || want <= min) return NULL;
    want = XSMEM_MAX(want / 2, min);
    __atomic_store_n(
        &tls_seg_limited, true,
        __ATOMIC_RELAXED);  // refused without a limit in sight (say, a node limit): from now on, as under one
    size_t cur = __atomic_load_n(&tls_seg_len, __ATOMIC_RELAXED);
    while (cur > want &&
           !__atomic_compare_exchange_n(&tls_seg_len, &cur, want, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
  }
}

// Returns a new segment for class c, tagged in the pagemap; NULL (errno
// ENOMEM) when the source refuses or the pagemap cannot take the tag.
static tls_segment *segment_new(unsigned c) {
  size_t len = 0;
  xsmem_source *src = tls_nnodes > 1 ? tls_node_src[c / tls_nclasses] : tls_g.src;  // the slot's node
  void *mem = segment_map(src, c, &len);
  if (!mem) return NULL;
  if (((uintptr_t)mem & (SEG_SIZE - 1)) != 0) xsmem_fatal("tls_buckets: source returned a misaligned segment");
  if (!xsmem_pagemap_set(mem, SEG_SIZE, XSMEM_TAG_SMALL)) {  // before any block of it exists
    xsmem_source_unmap(src, mem, len);
    errno = ENOMEM;
    return NULL;
  }
  tls_segment *s = (tls_segment *)mem;
  if (!(src->ops->caps & XSMEM_SRC_ZEROED)) memset(s, 0, sizeof(*s));
  uint32_t size = tls_size[c], k = tls_per_slab[c];
  uint32_t nblocks = (uint32_t)((XSMEM_MIN(len, SEG_SIZE) - SEG_HEADER) / size);
  s->size = size;
  s->per_slab = k;
  s->nslabs = nblocks / k;
  s->fresh = 0;
  s->head.cls = c;
  s->head.data_bytes = s->nslabs * k * size;
  s->head.div_magic = UINT64_MAX / size + 1;
  segment_keys(s);
  s->slab_magic = k > 1 ? UINT64_MAX / k + 1 : 0;
  bump(&tls_centrals[c].segment_bytes, (int64_t)len);
  return s;
}

// Returns a slab with room for class c (empty, decommitted, fresh or from a
// new segment), or NULL. REQUIRES: the class lock.
static tls_slab *slab_acquire(unsigned c) {
  tls_central *ce = &tls_centrals[c];
  tls_slab *s = ce->empty;
  if (s) {
    list_remove(&ce->empty, s);
    bump(&ce->nempty, -1);
    return s;
  }
  if ((s = ce->decommitted)) {
    list_remove(&ce->decommitted, s);
    bump(&ce->ndecommitted, -1);
    slab_recommit(s);
    return s;
  }
  tls_segment *seg = ce->cur;
  if (!seg || seg->fresh == seg->nslabs) {
    seg = segment_new(c);
    if (!seg) return NULL;
    seg->next = ce->segments;
    ce->segments = seg;
    ce->cur = seg;
    bump(&ce->nsegments, 1);
  }
  s = &seg->slab[seg->fresh];
  s->seg = seg;
  s->index = seg->fresh++;
  s->free = NULL;
  s->nfree = s->carved = 0;
  return s;
}

// ---------------------------------------------------------------------------
// Checks of the links inside free blocks (safe-linked, tls_fast.h).

// Returns true when q is the start of a block slot of a small segment (of
// slot c unless c is NO_CLASS): a decoded link that may be followed (read).
// Never faults, whatever q is: the pagemap says whether q's segment exists.
bool tls_block_of(const void *q, unsigned c) {
  if (xsmem_pagemap_get(q) != XSMEM_TAG_SMALL) return false;
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(q);
  return (c == NO_CLASS || s->cls == c) && xsmem_tls_is_block_start(s, q);
}

// Reports heap corruption found in the free block p of slot c (what was
// wrong; link: what its link decoded to, when that was it). Returns only
// under XSMEM_ON_ERROR=warn; the caller then drops what it cannot trust.
XSMEM_COLD void tls_report_corruption(const char *op, unsigned c, const void *p, const char *what, const void *link) {
  char node[16] = "", msg[320];
  if (tls_nnodes > 1) xsmem_snprintf(node, sizeof(node), ", node %u", c / tls_nclasses);
  size_t n = xsmem_snprintf(msg, sizeof(msg), "heap corruption in a free %u-byte block (size class %u%s): %s",
                            tls_size[c], c % tls_nclasses, node, what);
  if (link && n < sizeof(msg)) {
    xsmem_snprintf(msg + n, sizeof(msg) - n, " (it decodes to %p, not a block of the class; not followed)", link);
  }
  xsmem_report_bad_pointer(tls_g.base.name, op, p, msg);
}

// ---------------------------------------------------------------------------
// The central lists.

void tls_central_lock(tls_central *ce) {
  if (XSMEM_LIKELY(xsmem_spin_trylock(&ce->lock))) return;
  add_relaxed(&ce->lock_waits, 1);
  xsmem_spin_lock(&ce->lock);
}

// A list of blocks being built: head, and the last block (whose link is set
// when the list is closed).
typedef struct block_chain {
  void *head, *last;
} block_chain;

static void chain_add(block_chain *ch, void *b) {
  if (ch->last) link_to(ch->last, b);
  else ch->head = b;
  ch->last = b;
}

// Returns true when q is a block of slab s on its free list (its bit set):
// what a slab's list link must decode to. REQUIRES: the class lock.
static bool slab_holds_free(const tls_slab *s, const void *q) {
  tls_segment *seg = s->seg;
  if (((uintptr_t)q ^ (uintptr_t)seg) >> XSMEM_TLS_SEGMENT_SHIFT || !xsmem_tls_is_block_start(&seg->head, q)) {
    return false;
  }
  uint32_t j = block_index(seg, q);
  return slab_of(seg, j) == s->index && (seg->bitmap[j >> 6] >> (j & 63) & 1);
}

// Moves up to `want` blocks of class c out of the central list into a NULL-
// terminated list; returns how many. Freshly carved blocks come first and
// blocks that were freed before come last: a thread pops its list from the
// head, so the first block it uses is one no other thread has had, rather
// than one another thread just gave back next to blocks it still writes
// (see t_cacheless_frees, tls_cache.c). REQUIRES: the class lock.
uint32_t tls_central_take(unsigned c, uint32_t want, void **out) {
  tls_central *ce = &tls_centrals[c];
  block_chain fresh = {NULL, NULL}, reused = {NULL, NULL};
  uint32_t got = 0;
  while (got < want) {
    tls_slab *s = ce->partial;
    if (!s) {
      if (!(s = slab_acquire(c))) break;
      s->state = SLAB_PARTIAL;
      list_push(&ce->partial, s);
    }
    tls_segment *seg = s->seg;
    while (got < want && s->free) {
      void *b = s->free;
      void *next = link_of(b);
      if (next && !slab_holds_free(s, next)) {
        // Not followed: the blocks after b stay counted free in the slab
        // (nfree, bitmap), so the slab still empties, and is carved anew,
        // once its other blocks come back.
        tls_report_corruption("malloc", c, b, "its central free-list link was overwritten (write after free)", next);
        next = NULL;
      }
      s->free = next;
      s->nfree--;
      bump(&ce->free_blocks, -1);
      uint32_t j = block_index(seg, b);
      seg->bitmap[j >> 6] &= ~((uint64_t)1 << (j & 63));
      chain_add(&reused, b);
      got++;
    }
    if (got < want && s->carved < seg->per_slab) {
      char *b = slab_start(s) + (size_t)s->carved * seg->size;
      uint32_t n = XSMEM_MIN(want - got, seg->per_slab - s->carved);
      for (uint32_t i = 0; i < n; i++, b += seg->size) {
        XSMEM_TOOL_POISON(b, seg->size);           // fresh blocks are held by the tier too
        xsmem_tls_key_set(b, seg->head.free_key);  // as every block the tier holds (a pop checks it)
        chain_add(&fresh, b);
      }
      s->carved += n;
      got += n;
    }
    if (!s->free && s->carved == seg->per_slab) {
      list_remove(&ce->partial, s);
      s->state = SLAB_FULL;
    }
  }
  if (fresh.last) link_to(fresh.last, reused.head);
  if (reused.last) link_to(reused.last, NULL);
  bump(&ce->out, got);
  *out = fresh.head ? fresh.head : reused.head;
  return got;
}

// Gives one block back to its slab. Returns true when the slab became empty
// and waits for the purger. REQUIRES: the class lock; p a block start.
bool tls_central_put(unsigned c, void *p) {
  tls_central *ce = &tls_centrals[c];
  tls_segment *seg = (tls_segment *)xsmem_tls_seg_of(p);
  uint32_t j = block_index(seg, p), k = slab_of(seg, j);
  tls_slab *s = &seg->slab[k];
  uint64_t bit = (uint64_t)1 << (j & 63);
  if (j - k * seg->per_slab >= s->carved || s->index >= seg->fresh) {
    xsmem_report_bad_pointer(tls_g.base.name, "free", p,
                             "double free (its slab was already emptied) or block never allocated");
    return false;
  }
  if (seg->bitmap[j >> 6] & bit) {
    xsmem_report_bad_pointer(tls_g.base.name, "free", p, "double free");
    return false;
  }
  seg->bitmap[j >> 6] |= bit;
  link_to(p, s->free);
  s->free = p;
  s->nfree++;
  bump(&ce->free_blocks, 1);
  bump(&ce->out, -1);
  if (s->state == SLAB_FULL) {
    s->state = SLAB_PARTIAL;
    list_push(&ce->partial, s);
  }
  if (s->nfree != s->carved) return false;
  // Empty: forget its blocks (carving restarts at 0) and park it.
  list_remove(&ce->partial, s);
  size_t first = (size_t)s->index * seg->per_slab, last = first + s->carved;
  for (size_t b = first; b < last; b++) seg->bitmap[b >> 6] &= ~((uint64_t)1 << (b & 63));
  bump(&ce->free_blocks, -(int64_t)s->nfree);
  s->free = NULL;
  s->nfree = s->carved = 0;
  long delay = tls_delay_ms();
  if (delay == 0) {
    add_relaxed(&tls_g.bytes_decommitted, tls_slab_decommit(s));
    s->state = SLAB_DECOMMITTED;
    list_push(&ce->decommitted, s);
    bump(&ce->ndecommitted, 1);
    return false;
  }
  s->state = SLAB_EMPTY;
  s->empty_since = now_ms();
  list_push(&ce->empty, s);
  bump(&ce->nempty, 1);
  return delay > 0;
}

// Gives a NULL-terminated list of class-c blocks back to the central list.
void tls_central_put_list(unsigned c, void *list) {
  bool emptied = false;
  tls_central_lock(&tls_centrals[c]);
  while (list) {
    void *next = link_of(list);
    if (next && !link_ok(list, next, c)) {
      tls_report_corruption("free", c, list, "its free-list link was overwritten (write after free)", next);
      next = NULL;  // the rest of the list is lost, not followed
    }
    emptied |= tls_central_put(c, list);
    list = next;
  }
  xsmem_spin_unlock(&tls_centrals[c].lock);
  if (emptied) tls_purger_start();
}
