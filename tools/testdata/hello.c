// A program for the preload checks of `xsmem run` (built static and with ASan).
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char *p = malloc(64);
  snprintf(p, 64, "hello");
  puts(p);
  free(p);
  return 0;
}
