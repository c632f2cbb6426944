// allocators/os/os_alloc.h: every request served straight from os_vm.
//
// Each block is its own mapping, with a 32-byte header just before the user
// pointer (magic, mapping base, mapping size, requested size). A side table
// of live pointers (open addressing, in os_vm memory, one lock) lets free,
// realloc and usable_size reject pointers this allocator did not hand out,
// and its tombstones keep freed pointers so a double free is named as such.
// Slow by design (a system call per operation): the reference for
// correctness, and the front of choice for huge, rare blocks.
#ifndef XSMEM_ALLOCATORS_OS_OS_ALLOC_H_
#define XSMEM_ALLOCATORS_OS_OS_ALLOC_H_

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

// Returns the process-wide os allocator (built on first call, no malloc).
xsmem_allocator *xsmem_os_allocator(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_OS_OS_ALLOC_H_
