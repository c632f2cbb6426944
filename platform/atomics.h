// platform/atomics.h: C11 atomics plus a 128-bit compare-and-swap.
//
// The 128-bit CAS updates a (pointer, tag) pair in one step, which is what an
// ABA-safe lock-free stack needs: the tag changes on every successful push or
// pop, so a stale head never compares equal. Implementations:
//   x86-64   lock cmpxchg16b (every x86-64 CPU since 2006 has it)
//   aarch64  ldxp/stxp exclusive pair (casp needs LSE, which v8.0 lacks)
//   other    a striped spinlock (correct, not lock-free)
// Under ThreadSanitizer the striped lock is used everywhere, because TSan
// cannot see inside inline assembly.
//
// The header uses GCC __atomic builtins only, so it is valid C and C++.
#ifndef XSMEM_PLATFORM_ATOMICS_H_
#define XSMEM_PLATFORM_ATOMICS_H_

#include <stdbool.h>
#include <stdint.h>

#include "platform/base.h"

#if !defined(__cplusplus)
#include <stdatomic.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

// A 16-byte-aligned pair: lo is usually a pointer, hi a tag or count.
typedef struct xsmem_pair128 {
  uint64_t lo;
  uint64_t hi;
} __attribute__((aligned(16))) xsmem_pair128;

#if defined(XSMEM_TSAN) || defined(__SANITIZE_THREAD__) || (!defined(__x86_64__) && !defined(__aarch64__))
#define XSMEM_CAS128_LOCKED 1
#endif

#ifdef XSMEM_CAS128_LOCKED
// Out of line (platform/atomics.c): a stripe of spinlocks keyed by address.
bool xsmem_cas128_locked(xsmem_pair128 *p, xsmem_pair128 *expected, xsmem_pair128 desired);
xsmem_pair128 xsmem_load128_locked(xsmem_pair128 *p);
#endif

// Atomically: if *p == *expected then *p = desired and return true; otherwise
// copy *p into *expected and return false. Sequentially consistent.
XSMEM_INLINE bool xsmem_cas128(xsmem_pair128 *p, xsmem_pair128 *expected, xsmem_pair128 desired) {
#if defined(XSMEM_CAS128_LOCKED)
  return xsmem_cas128_locked(p, expected, desired);
#elif defined(__x86_64__)
  bool ok;
  __asm__ __volatile__("lock cmpxchg16b %1"
                       : "=@ccz"(ok), "+m"(*p), "+a"(expected->lo), "+d"(expected->hi)
                       : "b"(desired.lo), "c"(desired.hi)
                       : "memory");
  return ok;
#else  // aarch64
  uint64_t lo, hi;
  uint32_t fail;
  do {
    __asm__ __volatile__("ldaxp %0, %1, %2" : "=&r"(lo), "=&r"(hi) : "Q"(*p) : "memory");
    if (lo != expected->lo || hi != expected->hi) {
      // Release the exclusive monitor by storing back what we read.
      __asm__ __volatile__("stlxp %w0, %1, %2, %3" : "=&r"(fail) : "r"(lo), "r"(hi), "Q"(*p) : "memory");
      if (fail) continue;
      expected->lo = lo;
      expected->hi = hi;
      return false;
    }
    __asm__ __volatile__("stlxp %w0, %1, %2, %3" : "=&r"(fail) : "r"(desired.lo), "r"(desired.hi), "Q"(*p) : "memory");
  } while (fail);
  return true;
#endif
}

// Reads the pair. The two halves may come from different moments (a torn
// read); a following xsmem_cas128 detects that, which is all a lock-free stack
// needs. Acquire ordering on each half.
XSMEM_INLINE xsmem_pair128 xsmem_load128(xsmem_pair128 *p) {
#if defined(XSMEM_CAS128_LOCKED)
  return xsmem_load128_locked(p);
#else
  xsmem_pair128 v;
  v.hi = __atomic_load_n(&p->hi, __ATOMIC_ACQUIRE);
  v.lo = __atomic_load_n(&p->lo, __ATOMIC_ACQUIRE);
  return v;
#endif
}

// Returns the name of the 128-bit CAS implementation compiled in.
const char *xsmem_cas128_impl(void);

// A spin-then-yield lock for the rare paths (init, slow refills). Zero is unlocked.
typedef struct xsmem_spinlock {
  int locked;
} xsmem_spinlock;

void xsmem_spin_lock_slow(xsmem_spinlock *l);

XSMEM_INLINE void xsmem_spin_lock(xsmem_spinlock *l) {
  if (XSMEM_LIKELY(!__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))) return;
  xsmem_spin_lock_slow(l);
}

XSMEM_INLINE bool xsmem_spin_trylock(xsmem_spinlock *l) {
  return !__atomic_load_n(&l->locked, __ATOMIC_RELAXED) && !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

XSMEM_INLINE void xsmem_spin_unlock(xsmem_spinlock *l) { __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE); }

// CPU hint inside spin loops.
XSMEM_INLINE void xsmem_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_ATOMICS_H_
