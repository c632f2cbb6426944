// A C++ program that leaks from a C++ function (orphan_maker(unsigned long),
// mangled _Z12orphan_makerm) and a C one (leak_plain), for the symbolizer's
// tests: built with -g, then stripped, its names and lines come from a
// separate debug file (tools/symbolize_test.sh).
#include <cstdio>
#include <cstdlib>
#include <cstring>

__attribute__((noinline)) void *orphan_maker(unsigned long n) {
  void *p = malloc(n);  // the C++ leak
  memset(p, 2, n);
  __asm__ volatile("" ::: "memory");  // keeps the frame (no tail call)
  return p;
}

extern "C" __attribute__((noinline)) void *leak_plain(size_t n) {
  void *p = malloc(n);  // the C leak
  memset(p, 3, n);
  __asm__ volatile("" ::: "memory");
  return p;
}

int main() {
  volatile size_t sum = 0;
  for (int i = 0; i < 5; i++) sum += (size_t)orphan_maker(4000 + (size_t)i) & 1;
  for (int i = 0; i < 3; i++) sum += (size_t)leak_plain(7000 + (size_t)i) & 1;
  printf("orphaned 8 blocks\n");
  return 0;
}
