// allocators/tls_buckets/tls_cache.c: the small tier's thread caches and the
// slow paths of malloc and free (tls_fast.h is the fast path). A cache is
// built by a thread's first malloc, its lists opened (and counted against the
// process-wide budget) by the thread's first use of a class, its full lists
// set aside as spares or pushed to the global stacks, and all of it handed
// back when the thread exits.
#include <errno.h>
#include <string.h>

#include "allocators/tls_buckets/tls_buckets_internal.h"
#include "platform/log.h"
#include "platform/os_vm.h"

// ---------------------------------------------------------------------------
// Thread caches: creation, flush, exit.

xsmem_tls_cache tls_empty_cache;  // bounds 0: every operation takes the slow path
__thread xsmem_tls_cache *xsmem_tls_cache_ __attribute__((tls_model("initial-exec"))) = &tls_empty_cache;
static __thread int t_exited __attribute__((tls_model("initial-exec")));
// Frees a thread made before it had a cache. The first few go straight to
// the central lists instead of building a cache (a cache is built by the
// thread's first malloc): a thread that frees a block
// another thread handed it and then allocates the same size must not get
// that block back, next to the giver's other blocks in one cache line
// (passive false sharing, bench/workloads/cache_scratch.c). A thread that
// only frees (a consumer) gets its cache after kCachelessFrees.
enum { kCachelessFrees = 64 };
static __thread uint32_t t_cacheless_frees __attribute__((tls_model("initial-exec")));
__thread uint32_t xsmem_tls_node_base_ __attribute__((tls_model("initial-exec")));

// A list's length is kept in its bin's counts (tls_fast.h): these read and
// set it. Its bound is the cache's cap: 0 until the thread uses the class
// (every operation of it goes to the slow path, which opens the list), then
// tls_cap.
static uint32_t bin_count(const xsmem_tls_cache *tc, unsigned c) {
  const xsmem_tls_bin *b = &tc->bin[c];
  return (uint32_t)((int64_t)(b->frees - b->allocs) - b->stop + (int64_t)tc->cap[c]);
}

static void bin_set(xsmem_tls_cache *tc, unsigned c, void *list, uint32_t n) {
  xsmem_tls_bin *b = &tc->bin[c];
  b->head = list;
  b->stop = (int64_t)(b->frees - b->allocs) - (int64_t)n + (int64_t)tc->cap[c];
}

// Opens the calling thread's list of class c (its first use since the
// cache's last flush): counted at its bound from now on.
static void list_open(xsmem_tls_cache *tc, unsigned c) {
  uint32_t n = bin_count(tc, c);  // 0: a closed list is empty
  tc->cap[c] = tls_cap[c];
  held_add((int64_t)tls_cap[c] * tls_size[c]);
  __atomic_store_n(&tc->list_bytes, tc->list_bytes + (uint64_t)tls_cap[c] * tls_size[c], __ATOMIC_RELAXED);
  bin_set(tc, c, tc->bin[c].head, n);
}

static xsmem_tls_cache *cache_create(void) {
  xsmem_spin_lock(&tls_g.threads_lock);
  xsmem_tls_cache *tc = tls_g.pool;
  if (tc) {
    tls_g.pool = tc->next;
    memset(tc, 0, sizeof(*tc));
  } else {
    size_t need = xsmem_align_up(sizeof(xsmem_tls_cache), XSMEM_CACHE_LINE);
    if (tls_g.pool_left < need) {
      size_t chunk = 64 * XSMEM_KiB;
      char *mem = (char *)xsmem_os_map(chunk, xsmem_os_page_size(), 0);
      if (!mem) {
        xsmem_spin_unlock(&tls_g.threads_lock);
        return NULL;
      }
      tls_g.pool_chunk = mem;
      tls_g.pool_left = chunk;
      bump(&tls_g.pool_bytes, (int64_t)chunk);  // read without the lock by the statistics
    }
    tc = (xsmem_tls_cache *)tls_g.pool_chunk;
    tls_g.pool_chunk += need;
    tls_g.pool_left -= need;
  }
  // Fresh chunks are zero: only a reused cache is cleared, so a thread touches
  // the pages of the slots in use, not the whole (per-node sized) cache.
  for (unsigned c = 0; c < tls_nslots; c++) {
    bin_set(tc, c, NULL, 0);  // closed (cap 0) until the thread uses the class
    tc->refill[c] = (uint32_t)XSMEM_MIN(XSMEM_MAX(4096 / tls_size[c], 1), tls_batch[c]);
  }
  tc->next = tls_g.threads;
  if (tls_g.threads) tls_g.threads->prev = tc;
  tls_g.threads = tc;
  tls_g.threads_live++;
  xsmem_spin_unlock(&tls_g.threads_lock);
  xsmem_tls_cache_ = tc;  // before setspecific, which may allocate
  pthread_setspecific(tls_g.key, tc);
  return tc;
}

// Takes the spare batch of class c out of a cache (NULL: none). The owner
// and the purger both may: whoever exchanges it out owns it.
void *tls_spare_take(xsmem_tls_cache *tc, unsigned c) {
  if (!__atomic_load_n(&tc->spare[c], __ATOMIC_RELAXED)) return NULL;
  void *s = __atomic_exchange_n(&tc->spare[c], NULL, __ATOMIC_ACQUIRE);
  if (s) {
    __atomic_fetch_sub(&tc->spare_bytes, (uint64_t)tls_batch[c] * tls_size[c], __ATOMIC_RELAXED);
    held_add(-(int64_t)tls_batch[c] * tls_size[c]);
  }
  return s;
}

// Gives a list of class-c blocks that left a thread cache to the global stack
// (a full batch, when the stack has room) or to the central list.
static void cache_release(unsigned c, void *list, uint32_t n) {
  if (n != tls_batch[c] || !tls_stack_push(c, list)) tls_central_put_list(c, list);
}

// Moves everything in a thread's cache to the stacks (whole batches) and the
// central lists (the rest), and closes every list (its bound no longer
// counted in the budget until the thread uses the class again).
static void cache_flush(xsmem_tls_cache *tc) {
  for (unsigned c = 0; c < tls_nslots; c++) {
    void *spare = tls_spare_take(tc, c), *list = tc->bin[c].head;
    uint32_t n = bin_count(tc, c);
    tc->cap[c] = 0;
    bin_set(tc, c, NULL, 0);
    if (spare) cache_release(c, spare, tls_batch[c]);
    if (list) cache_release(c, list, n);
  }
  held_add(-(int64_t)tc->list_bytes);
  __atomic_store_n(&tc->list_bytes, 0, __ATOMIC_RELAXED);
}

void tls_thread_exit(void *arg) {
  xsmem_tls_cache *tc = (xsmem_tls_cache *)arg;
  cache_flush(tc);
  xsmem_tls_cache_ = &tls_empty_cache;
  t_exited = 1;  // later calls of this thread go cacheless
  xsmem_spin_lock(&tls_g.threads_lock);
  for (unsigned c = 0; c < tls_nslots; c++) {
    tls_g.dead_allocs[c] += load_relaxed(&tc->bin[c].allocs);
    tls_g.dead_frees[c] += load_relaxed(&tc->bin[c].frees);
  }
  if (tc->prev) tc->prev->next = tc->next;
  else tls_g.threads = tc->next;
  if (tc->next) tc->next->prev = tc->prev;
  tc->next = tls_g.pool;
  tls_g.pool = tc;
  tls_g.threads_live--;
  tls_g.threads_exited++;
  xsmem_spin_unlock(&tls_g.threads_lock);
}

uint32_t xsmem_tls_thread_cached(unsigned c) {
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  if (tc == &tls_empty_cache || c >= tls_nslots) return 0;
  return bin_count(tc, c) + (__atomic_load_n(&tc->spare[c], __ATOMIC_RELAXED) ? tls_batch[c] : 0);
}

uint32_t xsmem_tls_thread_cache_limit(unsigned c) { return c < tls_nslots ? tls_limit[c] : 0; }

void xsmem_tls_flush_thread(void) {
  if (xsmem_tls_cache_ != &tls_empty_cache) cache_flush(xsmem_tls_cache_);
}

// ---------------------------------------------------------------------------
// Slow paths.

// Takes up to `want` blocks of slot c from its central list, under its lock.
// Returns how many; none: the failure is counted and errno is ENOMEM.
static uint32_t central_refill(unsigned c, uint32_t want, void **list) {
  tls_central_lock(&tls_centrals[c]);
  uint32_t n = tls_central_take(c, want, list);
  xsmem_spin_unlock(&tls_centrals[c].lock);
  if (!n) {
    add_relaxed(&tls_g.failed, 1);
    errno = ENOMEM;
  }
  return n;
}

static void *direct_alloc(unsigned c) {
  void *p;
  if (!central_refill(c, 1, &p)) return NULL;
  add_relaxed(&tls_g.direct_allocs[c], 1);
  xsmem_tls_tool_alloc(p, c);
  xsmem_tls_key_set(p, 0);
  return p;
}

// Re-reads the caller's node and returns class c's slot on it.
static unsigned node_slot(unsigned c) {
  int n = tls_g.opt.current_node ? tls_g.opt.current_node() : 0;
  unsigned node = n < 0 ? 0 : (unsigned)n % tls_nnodes;
  xsmem_tls_node_base_ = node * tls_nclasses;
  return c % tls_nclasses + xsmem_tls_node_base_;
}

unsigned xsmem_tls_num_nodes(void) { return tls_nnodes; }

unsigned xsmem_tls_node_refresh(void) {
  if (tls_nnodes > 1 && tls_nclasses) node_slot(0);
  return tls_nclasses ? xsmem_tls_node_base_ / tls_nclasses : 0;
}

// A block of a class no thread caches: from the global stack (batches of
// one block), else the central list. The bin only counts (its bound stays 0,
// so every free of the class comes to the slow path).
static void *uncached_alloc(xsmem_tls_cache *tc, unsigned c) {
  void *p = tls_stack_pop(c);
  if (!p && !central_refill(c, 1, &p)) return NULL;
  if (xsmem_tls_key_get(p) != xsmem_tls_seg_of(p)->free_key) {
    tls_report_corruption("malloc", c, p, "its free key was overwritten (write after free)", NULL);
    return uncached_alloc(tc, c);  // p is not trusted: left where it is
  }
  void *next = link_of(p);  // a batch of one block: its list ends there
  if (next) tls_report_corruption("malloc", c, p, "its free-list link was overwritten (write after free)", next);
  xsmem_tls_count_(&tc->bin[c].allocs);
  bin_set(tc, c, NULL, 0);
  xsmem_tls_tool_alloc(p, c);
  xsmem_tls_key_set(p, 0);
  return p;
}

void *xsmem_tls_alloc_slow(unsigned c) {
  if (tls_nnodes > 1) c = node_slot(c);  // a migrated thread follows at its next refill
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  if (tc == &tls_empty_cache) {
    if (t_exited || !(tc = cache_create())) return direct_alloc(c);
  }
  xsmem_tls_bin *b = &tc->bin[c];
  if (!tls_cap[c]) return uncached_alloc(tc, c);
  if (!tc->cap[c]) list_open(tc, c);
  if (!b->head) {
    // The spare batch, else a batch from the global stack, else the central list.
    void *list = tls_spare_take(tc, c);
    uint32_t n = tls_batch[c];
    if (!list) list = tls_stack_pop(c);
    if (!list) {
      n = tc->refill[c];
      if (n < tls_batch[c]) tc->refill[c] = XSMEM_MIN(2 * n, tls_batch[c]);
      if (!(n = central_refill(c, n, &list))) return NULL;
    }
    bin_set(tc, c, list, n);
  }
  return xsmem_tls_pop_checked(c);
}

void *xsmem_tls_pop_checked(unsigned c) {
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  xsmem_tls_bin *b = &tc->bin[c];
  void *p = b->head;  // a block of slot c: every link was checked before it became the head
  const xsmem_tls_seg_head *s = xsmem_tls_seg_of(p);
  if (xsmem_tls_key_get(p) != s->free_key) {
    // Not a block the tier holds (a bad link that stayed in the segment),
    // or one whose first words were overwritten after free: neither it nor
    // its link is trusted. The list is dropped and refilled.
    tls_report_corruption("malloc", c, p, "its free key was overwritten (write after free)", NULL);
    bin_set(tc, c, NULL, 0);
    return xsmem_tls_alloc_slow(c);
  }
  void *next = xsmem_tls_next_get(s, p);
  if (next && !link_ok(p, next, c)) {
    tls_report_corruption("malloc", c, p, "its free-list link was overwritten (write after free)", next);
    bin_set(tc, c, p, 1);  // the list ends at p: the rest is lost, not followed
    next = NULL;
  }
  b->head = next;
  xsmem_tls_count_(&b->allocs);
  xsmem_tls_tool_alloc(p, c);
  xsmem_tls_key_set(p, 0);
  return p;
}

void xsmem_tls_free_slow(void *p) {
  unsigned c = xsmem_tls_seg_of(p)->cls;
  uint64_t key = xsmem_tls_seg_of(p)->free_key;
  if (xsmem_tls_key_get(p) == key) {
    xsmem_report_bad_pointer(tls_g.base.name, "free", p, "double free (block already freed)");
    return;
  }
  xsmem_tls_key_set(p, key);  // every block the tier takes back, wherever it goes
  xsmem_tls_cache *tc = xsmem_tls_cache_;
  if (tc == &tls_empty_cache) {
    if (t_exited || t_cacheless_frees++ < kCachelessFrees || !(tc = cache_create())) {
      tls_central_lock(&tls_centrals[c]);
      bool emptied = tls_central_put(c, p);
      xsmem_spin_unlock(&tls_centrals[c].lock);
      add_relaxed(&tls_g.direct_frees[c], 1);
      if (emptied) tls_purger_start();
      return;
    }
  }
  xsmem_tls_bin *b = &tc->bin[c];
  if (!tls_cap[c]) {  // not thread-cached: a batch of one block, to the stack or its slab
    link_to(p, NULL);
    cache_release(c, p, 1);
    xsmem_tls_count_(&b->frees);
    bin_set(tc, c, NULL, 0);
    return;
  }
  if (!tc->cap[c]) list_open(tc, c);
  uint32_t n = bin_count(tc, c);
  if (n >= tls_batch[c]) {
    // The full list (one batch, NULL-terminated) becomes the spare, if the
    // thread's spares stay within their budget and the process within its
    // own; the spare it replaces goes to the global stack. No walk of a list.
    void *full = b->head, *old = tls_spare_take(tc, c);
    uint64_t bytes = (uint64_t)tls_batch[c] * tls_size[c];
    bin_set(tc, c, NULL, 0);
    if (tls_spare[c] && __atomic_load_n(&tc->spare_bytes, __ATOMIC_RELAXED) + bytes <= tls_g.opt.spare_bytes &&
        budget_allows(bytes)) {
      __atomic_fetch_add(&tc->spare_bytes, bytes, __ATOMIC_RELAXED);
      held_add((int64_t)bytes);
      __atomic_store_n(&tc->spare[c], full, __ATOMIC_RELEASE);
    } else {
      cache_release(c, full, n);
    }
    if (old) cache_release(c, old, tls_batch[c]);
  }
  link_to(p, b->head);
  b->head = p;
  xsmem_tls_count_(&b->frees);
}

void xsmem_tls_free_bad(void *p) {
  xsmem_report_bad_pointer(tls_g.base.name, "free", p, "not the start of a block (interior pointer)");
}
