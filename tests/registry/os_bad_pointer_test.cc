// The os configuration serves malloc here; bad pointers must be reported.
#include <stdlib.h>

#include "allocators/allocator.h"
#include "gtest/gtest.h"

namespace {

void (*volatile g_free)(void *) = free;

TEST(OsBadPointer, DoubleFreeIsReported) {
  // Both frees in the child: in between, the address could be handed out again.
  EXPECT_DEATH(
      {
        void *p = malloc(100);
        g_free(p);
        g_free(p);
      },
      "free\\(0x[0-9a-f]+\\) in allocator 'os': double free");
}

TEST(OsBadPointer, ForeignPointerIsReported) {
  static char not_heap[64];
  EXPECT_DEATH(g_free(not_heap + 16), "in allocator 'os': pointer not allocated by this allocator");
}

TEST(OsBadPointer, InteriorPointerIsReported) {
  char *p = static_cast<char *>(malloc(100));
  EXPECT_DEATH(g_free(p + 8), "pointer not allocated by this allocator");
  g_free(p);
}

TEST(OsBadPointer, WarnModeContinues) {
  setenv("XSMEM_ON_ERROR", "warn", 1);
  void *p = malloc(10);
  g_free(p);
  uint64_t before = xsmem_bad_pointer_count();
  g_free(p);  // reported, ignored
  EXPECT_EQ(xsmem_bad_pointer_count(), before + 1);
  void *q = malloc(10);  // the allocator still works
  EXPECT_NE(q, nullptr);
  g_free(q);
}

}  // namespace
