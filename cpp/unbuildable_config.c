// Configuration `unbuildable`, for memory_resource_test: its build always
// fails, as a configuration's does under a tight address-space limit.
#include <errno.h>
#include <stddef.h>

#include "allocators/registry.h"

static xsmem_allocator *build(void) {
  errno = ENOMEM;
  return NULL;
}

XSMEM_CONFIG(unbuildable, "for tests: its build always fails (ENOMEM)", build);
