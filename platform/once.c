#include "platform/once.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

static int current_tid(void) { return (int)syscall(SYS_gettid); }

xsmem_once_result xsmem_once_run(xsmem_once *o, bool (*build)(void *ctx), void *ctx) {
  for (;;) {
    int state = __atomic_load_n(&o->state, __ATOMIC_ACQUIRE);
    if (state == XSMEM_ONCE_READY) return XSMEM_ONCE_DONE;
    if (state == XSMEM_ONCE_NEW) {
      if (!__atomic_compare_exchange_n(&o->state, &state, XSMEM_ONCE_BUILDING, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE)) {
        continue;
      }
      __atomic_store_n(&o->builder, current_tid(), __ATOMIC_RELAXED);
      bool ok = build(ctx);
      __atomic_store_n(&o->builder, 0, __ATOMIC_RELAXED);
      __atomic_store_n(&o->state, ok ? XSMEM_ONCE_READY : XSMEM_ONCE_NEW, __ATOMIC_RELEASE);
      return ok ? XSMEM_ONCE_DONE : XSMEM_ONCE_FAILED;
    }
    if (__atomic_load_n(&o->builder, __ATOMIC_RELAXED) == current_tid()) return XSMEM_ONCE_RECURSIVE;
    // Another thread builds: wait for its outcome (a failure is reported to
    // the waiters too; the next call builds again).
    while ((state = __atomic_load_n(&o->state, __ATOMIC_ACQUIRE)) == XSMEM_ONCE_BUILDING) sched_yield();
    return state == XSMEM_ONCE_READY ? XSMEM_ONCE_DONE : XSMEM_ONCE_FAILED;
  }
}
