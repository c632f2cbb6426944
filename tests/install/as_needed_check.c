// Built with -Wl,--as-needed before the installed library's flags
// (install_test.sh): names no xsmem symbol and calls no malloc itself, so
// only the flags keep the library linked. Exits 0 when a block libc's strdup
// allocated belongs to the xsmem configuration named in argv[1].
#define _GNU_SOURCE  // strdup and RTLD_DEFAULT under -std=c11
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/registry.h"

int main(int argc, char **argv) {
  const char *want = argc > 1 ? argv[1] : "default";
  char *p = strdup("as needed");  // libc's malloc call, interposed by the library if it is loaded
  xsmem_allocator *(*process_allocator)(void) =
      (xsmem_allocator * (*)(void)) dlsym(RTLD_DEFAULT, "xsmem_process_allocator");
  if (!process_allocator) {
    fprintf(stderr, "as_needed_check: no xsmem library is loaded\n");
    return 1;
  }
  xsmem_allocator *a = process_allocator();
  if (!a || strcmp(a->name, want) != 0 || !a->ops->owns || !a->ops->owns(a, p)) {
    fprintf(stderr, "as_needed_check: strdup's block is not xsmem's %s (malloc: %s)\n", want, a ? a->name : "none");
    return 1;
  }
  printf("as_needed_check: strdup's block is xsmem's %s\n", a->name);
  return 0;
}
