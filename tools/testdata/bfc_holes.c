// Three 64 KiB blocks with the middle one freed, the others kept to the end:
// under the bfc configuration the chunk map of the exit snapshot shows them as
// used / free / used at consecutive addresses. Prints the three addresses.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);  // no stdio buffer allocated after the free
  char *a = malloc(65536), *b = malloc(65536), *c = malloc(65536);
  if (!a || !b || !c) return 1;
  memset(a, 1, 65536);
  memset(b, 2, 65536);
  memset(c, 3, 65536);
  printf("%p %p %p\n", (void *)a, (void *)b, (void *)c);
  free(b);
  return a[1] + c[1] == 4 ? 0 : 1;
}
