#include "platform/atomics.h"

#include <sched.h>

void xsmem_spin_lock_slow(xsmem_spinlock *l) {
  for (unsigned spins = 0;; spins++) {
    if (!__atomic_load_n(&l->locked, __ATOMIC_RELAXED) && !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE)) {
      return;
    }
    if (spins < 64) {
      xsmem_cpu_relax();
    } else {
      sched_yield();  // the holder may be descheduled on a 2-core machine
    }
  }
}

#ifdef XSMEM_CAS128_LOCKED
// 64 stripes, one cache line each, keyed by the pair's address.
static struct {
  xsmem_spinlock lock;
  char pad[XSMEM_CACHE_LINE - sizeof(xsmem_spinlock)];
} stripes[64];

static xsmem_spinlock *stripe_of(const void *p) { return &stripes[((uintptr_t)p >> 4) % 64].lock; }

bool xsmem_cas128_locked(xsmem_pair128 *p, xsmem_pair128 *expected, xsmem_pair128 desired) {
  xsmem_spinlock *l = stripe_of(p);
  xsmem_spin_lock(l);
  bool ok = p->lo == expected->lo && p->hi == expected->hi;
  if (ok) {
    *p = desired;
  } else {
    *expected = *p;
  }
  xsmem_spin_unlock(l);
  return ok;
}

xsmem_pair128 xsmem_load128_locked(xsmem_pair128 *p) {
  xsmem_spinlock *l = stripe_of(p);
  xsmem_spin_lock(l);
  xsmem_pair128 v = *p;
  xsmem_spin_unlock(l);
  return v;
}

const char *xsmem_cas128_impl(void) { return "striped-lock"; }
#elif defined(__x86_64__)
const char *xsmem_cas128_impl(void) { return "cmpxchg16b"; }
#else
const char *xsmem_cas128_impl(void) { return "ldaxp/stlxp"; }
#endif
