// platform/once.h: building something once, lazily, without malloc.
//
// A xsmem_once in zero-initialised static storage goes new -> building ->
// ready. The first caller runs the build; callers arriving meanwhile wait for
// it (yielding: builds are short and happen once). A build that fails goes
// back to new, so a later call tries again (an address-space limit may have
// lifted, a peer's library may have loaded): pthread_once cannot retry, and
// it may allocate. The thread that is building may call in again (a build
// that mallocs through the shim it is building): it is told so instead of
// waiting for itself.
#ifndef XSMEM_PLATFORM_ONCE_H_
#define XSMEM_PLATFORM_ONCE_H_

#include <stdbool.h>

#include "platform/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_once {
  int state;    // XSMEM_ONCE_NEW, _BUILDING or _READY (atomic)
  int builder;  // thread id of the builder while building (atomic)
} xsmem_once;

enum { XSMEM_ONCE_NEW = 0, XSMEM_ONCE_BUILDING = 1, XSMEM_ONCE_READY = 2 };

typedef enum xsmem_once_result {
  XSMEM_ONCE_DONE,       // built, now or before
  XSMEM_ONCE_FAILED,     // this build, or the one waited for, failed; a later call tries again
  XSMEM_ONCE_RECURSIVE,  // the calling thread is the one building
} xsmem_once_result;

// Returns true once a build has succeeded: one acquire load, for fast paths.
XSMEM_INLINE bool xsmem_once_done(const xsmem_once *o) {
  return __atomic_load_n(&o->state, __ATOMIC_ACQUIRE) == XSMEM_ONCE_READY;
}

// Runs build(ctx) unless a build has succeeded; build returns whether it did.
// Everything build wrote is visible to every caller that gets XSMEM_ONCE_DONE.
xsmem_once_result xsmem_once_run(xsmem_once *o, bool (*build)(void *ctx), void *ctx);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_ONCE_H_
