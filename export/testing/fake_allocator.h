// export/testing/fake_allocator.h: an allocator whose statistics and detail
// figures a test sets directly (it serves no memory), for exporter tests.
#ifndef XSMEM_EXPORT_TESTING_FAKE_ALLOCATOR_H_
#define XSMEM_EXPORT_TESTING_FAKE_ALLOCATOR_H_

#include <stddef.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_fake_detail {
  const char *group, *label, *key, *kind;
  double value;
} xsmem_fake_detail;

typedef struct xsmem_fake_allocator {
  xsmem_allocator base;
  xsmem_stats stats;
  xsmem_fake_detail detail[32];
  size_t num_detail;
} xsmem_fake_allocator;

// Initialises f with the given instance name and component kind.
void xsmem_fake_init(xsmem_fake_allocator *f, const char *name, const char *kind);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_TESTING_FAKE_ALLOCATOR_H_
