// allocators/tls_buckets/tls_purger.c: the small tier's purger. A thread,
// started when a slab first empties, that every tick drains the batch
// stacks that sat idle, takes the spare batches of classes a thread left
// idle, and decommits the slabs empty for longer than XSMEM_DECOMMIT_DELAY_MS;
// xsmem_tls_purge runs the same pass at once (trim).
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "allocators/tls_buckets/tls_buckets_internal.h"
#include "platform/log.h"
#include "platform/options.h"

static size_t (*g_hook)(void *);
static void *g_hook_ctx;

void xsmem_tls_set_purge_hook(size_t (*fn)(void *ctx), void *ctx) {
  __atomic_store_n(&g_hook_ctx, ctx, __ATOMIC_RELAXED);
  __atomic_store_n(&g_hook, fn, __ATOMIC_RELEASE);
}

// Takes back the spare batches of classes that a thread has not used since
// the last pass (every spare when !idle_only): a thread that sits idle
// holding its cache keeps at most its lists. Lists stay: only their owner
// touches them.
static void purge_spares(bool idle_only) {
  void *taken = NULL;  // batches, linked like the stacks'
  xsmem_spin_lock(&tls_g.threads_lock);
  for (xsmem_tls_cache *tc = tls_g.threads; tc; tc = tc->next) {
    for (unsigned c = 0; c < tls_nslots; c++) {
      uint64_t ops = load_relaxed(&tc->bin[c].allocs) + load_relaxed(&tc->bin[c].frees);
      bool idle = ops == tc->purge_seen[c];
      tc->purge_seen[c] = ops;
      if (!idle && idle_only) continue;
      void *spare = tls_spare_take(tc, c);
      if (spare) {
        tls_batch_link_set(spare, taken);
        taken = spare;
      }
    }
  }
  xsmem_spin_unlock(&tls_g.threads_lock);
  // Released with no lock held: tls_central_put_list may start the purger thread,
  // and pthread_create may allocate.
  while (taken) {
    void *next = tls_batch_link_get(taken);
    unsigned c = xsmem_tls_seg_of(taken)->cls;
    if (next && !tls_block_of(next, NO_CLASS)) {
      tls_report_corruption("free", c, taken, "its batch link was overwritten (write after free)", next);
      next = NULL;  // the spares after it are lost, not followed
    }
    tls_batch_unlinked(taken);
    tls_central_put_list(c, taken);
    taken = next;
  }
}

static size_t purge_pass(long min_age_ms, bool idle_only) {
  size_t released = 0;
  purge_spares(idle_only);
  for (unsigned c = 0; c < tls_nslots; c++) {
    tls_stack *st = &tls_stacks[c];
    if (!idle_only || !__atomic_load_n(&st->active, __ATOMIC_RELAXED)) {
      void *batch;
      while ((batch = tls_stack_pop(c)) != NULL) tls_central_put_list(c, batch);
    }
    __atomic_store_n(&st->active, 0, __ATOMIC_RELAXED);
    tls_central *ce = &tls_centrals[c];
    if (!load_relaxed(&ce->nempty)) continue;
    tls_central_lock(ce);
    uint64_t now = now_ms();
    for (tls_slab *s = ce->empty, *next; s; s = next) {
      next = s->next;
      if (min_age_ms > 0 && now - s->empty_since < (uint64_t)min_age_ms) continue;
      list_remove(&ce->empty, s);
      bump(&ce->nempty, -1);
      released += tls_slab_decommit(s);
      s->state = SLAB_DECOMMITTED;
      list_push(&ce->decommitted, s);
      bump(&ce->ndecommitted, 1);
    }
    xsmem_spin_unlock(&ce->lock);
  }
  add_relaxed(&tls_g.bytes_decommitted, released);
  add_relaxed(&tls_g.purger_passes, 1);
  size_t (*hook)(void *) = __atomic_load_n(&g_hook, __ATOMIC_ACQUIRE);
  if (hook) released += hook(__atomic_load_n(&g_hook_ctx, __ATOMIC_RELAXED));
  return released;
}

size_t xsmem_tls_purge(long min_age_ms) {
  if (!xsmem_once_done(&tls_g.once)) return 0;
  return purge_pass(min_age_ms, false);
}

long tls_delay_ms(void) {
  if (tls_g.opt.follow_options) {
    uint64_t gen = xsmem_options_generation();
    if (gen != __atomic_load_n(&tls_g.options_generation, __ATOMIC_RELAXED)) {
      __atomic_store_n(&tls_g.options_generation, gen, __ATOMIC_RELAXED);
      __atomic_store_n(&tls_g.opt.decommit_delay_ms, (long)xsmem_option_int("XSMEM_DECOMMIT_DELAY_MS"),
                       __ATOMIC_RELAXED);
    }
  }
  return __atomic_load_n(&tls_g.opt.decommit_delay_ms, __ATOMIC_RELAXED);
}

static void *purger_main(void *arg) {
  for (;;) {
    long delay = tls_delay_ms();
    long tick = delay > 0 ? XSMEM_MAX(1, XSMEM_MIN(delay / 4, 250)) : 250;
    struct timespec ts = {tick / 1000, (tick % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    purge_pass(tls_delay_ms(), true);  // XSMEM_DECOMMIT_DELAY_MS is LIVE: a change counts from this pass
  }
  return arg;
}

// Starts the purger once (and again in a forked child). Called with no lock held.
void tls_purger_start(void) {
  int expected = 0;
  if (atomic_load_explicit(&tls_g.purger, memory_order_relaxed) != 0 ||
      !atomic_compare_exchange_strong(&tls_g.purger, &expected, 1)) {
    return;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * XSMEM_KiB);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the purger takes no signals
  pthread_t t;
  if (pthread_create(&t, &attr, purger_main, NULL) != 0) {
    xsmem_log("tls_buckets: cannot start the purger thread; empty slabs stay committed until trim");
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

void xsmem_tls_purger_start(void) { tls_purger_start(); }
