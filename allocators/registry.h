// allocators/registry.h: named configurations, collected at link time.
//
// A configuration is one composition of sources, fronts and decorators with a
// name ("system", "os", "bfc", "default", ...). Linking its cc_library places
// a pointer to its xsmem_config in the ELF section `xsmem_configs`; the
// registry walks that section on first use. No constructors run, nothing
// allocates, and link order does not matter. Two configurations with the same
// name are a fatal error naming both.
//
// REQUIRES: the registering library is linked with alwayslink (configs.bzl
// does this) and, in tests, statically (linkstatic = True), because every
// shared object has its own section.
#ifndef XSMEM_ALLOCATORS_REGISTRY_H_
#define XSMEM_ALLOCATORS_REGISTRY_H_

#include <stddef.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_config {
  const char *name;     // what users type: XSMEM_CONFIG=name, //allocators:name
  const char *summary;  // one line for `xsmem list`
  const char *options;  // space-separated XSMEM_* options it reads ("" if none)
  // Returns the configuration's process-wide allocator, building it on the
  // first call. Must not call malloc. Thread-safe and idempotent.
  xsmem_allocator *(*instance)(void);
} xsmem_config;

#define XSMEM_REGISTER_CONFIG(cfg)                                              \
  static const xsmem_config *const xsmem_config_entry_##cfg                     \
      __attribute__((used, section("xsmem_configs"), aligned(sizeof(void *)))) = \
          &(cfg)

// Returns the number of configurations linked into this binary or library.
size_t xsmem_config_count(void);

// Returns configuration i (0 <= i < count), ordered by name.
const xsmem_config *xsmem_config_at(size_t i);

// Returns the configuration with this name, or NULL.
const xsmem_config *xsmem_config_find(const char *name);

// Returns the allocator the malloc shim serves from (NULL when no shim is linked).
xsmem_allocator *xsmem_process_allocator(void);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_REGISTRY_H_
