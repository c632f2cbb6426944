// A program that leaks through a known call chain (main -> leak_outer ->
// leak_inner -> malloc), for `xsmem run`'s symbolized stacks.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static void *leak_inner(size_t n) {
  void *p = malloc(n);
  memset(p, 1, n);
  return p;
}

__attribute__((noinline)) static void *leak_outer(size_t n) {
  void *p = leak_inner(n);
  __asm__ volatile("" ::: "memory");  // keeps the frame (no tail call)
  return p;
}

int main(void) {
  volatile size_t sum = 0;
  for (int i = 0; i < 9; i++) sum += (size_t)leak_outer(3000 + (size_t)i) & 1;
  printf("leaked 9 blocks\n");
  return 0;
}
