// Serves its allocator's statistics at /metrics while it allocates (run it
// with XSMEM_HTTP=127.0.0.1:0; the port chosen is printed on stderr) until
// its standard input closes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  enum { kBlocks = 4096 };
  static void *blocks[kBlocks];
  for (int i = 0; i < kBlocks; i++) {
    blocks[i] = malloc((size_t)(i % 64 + 1) * 16);
    if (!blocks[i]) return 2;
    memset(blocks[i], 1, 16);
  }
  printf("ready\n");
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {}
  for (int i = 0; i < kBlocks; i++) free(blocks[i]);
  return 0;
}
