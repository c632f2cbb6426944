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
#include "platform/once.h"

#ifdef __cplusplus
extern "C" {
#endif

// A configuration's built allocator; zero-initialised static storage.
typedef struct xsmem_config_state {
  xsmem_once once;
  xsmem_allocator *allocator;
} xsmem_config_state;

typedef struct xsmem_config {
  const char *name;     // what users type: XSMEM_CONFIG=name, //allocators:name
  const char *summary;  // one line for `xsmem list`
  const char *options;  // space-separated XSMEM_* options its parts read (configs.bzl derives it)
  // Composes the configuration from its parts: source, fronts, decorators.
  // Returns NULL (errno set) when it cannot be built now; it is tried again
  // on a later call. Must not call malloc. Called by xsmem_config_instance only.
  xsmem_allocator *(*build)(void);
  xsmem_config_state *state;
} xsmem_config;

#define XSMEM_REGISTER_CONFIG(cfg)                          \
  static const xsmem_config *const xsmem_config_entry_##cfg \
      __attribute__((used, section("xsmem_configs"), aligned(sizeof(void *)))) = &(cfg)

// The options list configs.bzl derives from a configuration's parts.
#ifndef XSMEM_CONFIG_OPTIONS
#define XSMEM_CONFIG_OPTIONS ""
#endif

// Defines and registers configuration NAME (a C identifier, the name users
// type): xsmem_config_NAME, built by BUILD, with its summary for `xsmem list`.
#define XSMEM_CONFIG(NAME, SUMMARY, BUILD)             \
  static xsmem_config_state xsmem_config_state_##NAME; \
  const xsmem_config xsmem_config_##NAME = {           \
      .name = #NAME,                                   \
      .summary = SUMMARY,                              \
      .options = XSMEM_CONFIG_OPTIONS,                 \
      .build = BUILD,                                  \
      .state = &xsmem_config_state_##NAME,             \
  };                                                   \
  XSMEM_REGISTER_CONFIG(xsmem_config_##NAME)

// Returns the configuration's process-wide allocator, building it on the
// first call (one build however many threads ask); NULL with errno when it
// cannot be built now (a later call tries again), or when the calling thread
// is the one building it. Never calls malloc.
xsmem_allocator *xsmem_config_instance(const xsmem_config *c);

// Returns the number of configurations linked into this binary or library.
size_t xsmem_config_count(void);

// Returns configuration i (0 <= i < count), ordered by name.
const xsmem_config *xsmem_config_at(size_t i);

// Returns the configuration with this name, or NULL.
const xsmem_config *xsmem_config_find(const char *name);

// Returns the allocator the malloc shim serves from (NULL when no shim is linked).
xsmem_allocator *xsmem_process_allocator(void);

// xsmem_stats_write (allocator.h) for the allocator malloc is served from:
// the process's statistics in one call (jemalloc's malloc_stats_print,
// mimalloc's mi_stats_print). ENOENT, writing nothing, when no configuration
// is linked as malloc.
int xsmem_malloc_stats_write(const char *format, xsmem_write_fn write, void *opaque);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_ALLOCATORS_REGISTRY_H_
