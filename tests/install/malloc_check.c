// Built outside Bazel against an installed tree (install_test.sh): plain gcc
// with pkg-config's flags, or CMake's find_package. Exits 0 when malloc is
// served by the xsmem configuration named in argv[1] and a block malloc
// returned is one of its own; else says what it found and exits 1.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Both include forms the installed flags allow: the tree path, and xsmem/ in front.
#include <xsmem/platform/base.h>

#include "allocators/registry.h"

int main(int argc, char **argv) {
  const char *want = argc > 1 ? argv[1] : "default";
  void *p = malloc(100);
  xsmem_allocator *a = xsmem_process_allocator();
  if (!a) {
    fprintf(stderr, "malloc_check: no xsmem configuration serves malloc\n");
    return 1;
  }
  if (strcmp(a->name, want) != 0) {
    fprintf(stderr, "malloc_check: malloc is xsmem's '%s', not '%s'\n", a->name, want);
    return 1;
  }
  if (!a->ops->owns || !a->ops->owns(a, p)) {
    fprintf(stderr, "malloc_check: %p from malloc is not %s's\n", p, a->name);
    return 1;
  }
  printf("malloc_check: malloc is xsmem's %s (%zu configuration(s) linked, XSMEM_MIN_ALIGN %d)\n", a->name,
         xsmem_config_count(), XSMEM_MIN_ALIGN);
  free(p);
  return 0;
}
