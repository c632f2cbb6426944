// allocators/system/system.h: glibc's malloc behind the xsmem interface.
//
// The baseline every other configuration is measured against. It calls
// glibc's own entry points (__libc_malloc, __libc_memalign, __libc_free), so it
// keeps working when the xsmem shim has replaced malloc, and adds exact
// statistics (atomic counters of granted sizes). glibc detects some bad frees
// itself; this front cannot tell which pointers it owns.
#ifndef XSMEM_ALLOCATORS_SYSTEM_SYSTEM_H_
#define XSMEM_ALLOCATORS_SYSTEM_SYSTEM_H_

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

// Returns the process-wide system allocator (built on first call, no malloc).
xsmem_allocator *xsmem_system_allocator(void);

// The process-wide instance's malloc and free as direct calls, for a shim
// that skips the vtable (allocators/shim/system_tracked.h); the same counters
// as its ops. xsmem_system_malloc sets errno on failure (glibc does).
// REQUIRES: xsmem_system_allocator() has been called.
void *xsmem_system_malloc(size_t size);
void xsmem_system_free(void *p);

// The process-wide instance's address, built or not: a shim's test that the
// allocator it serves is this one (allocators/shim/system.h).
extern xsmem_allocator *const xsmem_system_instance_;

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_SYSTEM_SYSTEM_H_
