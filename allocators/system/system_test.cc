// Tests of the system front (glibc behind the interface; malloc stays glibc's
// in this binary, so both see one heap).
#include "allocators/system/system.h"

#include <malloc.h>

#include <vector>

#include "gtest/gtest.h"

namespace {

xsmem_allocator *A() { return xsmem_system_allocator(); }

// The usable size the front reads from glibc's chunk header is what glibc's
// malloc_usable_size says, for heap chunks, mapped chunks (128 KiB and up by
// default), aligned, zeroed and reallocated blocks.
TEST(System, UsableSizeIsGlibcs) {
  std::vector<void *> blocks;
  for (size_t n = 0; n < (1 << 20); n = n < 64 ? n + 1 : n * 5 / 4) {
    for (size_t align : {size_t{16}, size_t{64}, size_t{4096}}) {
      for (unsigned flags : {0u, unsigned{XSMEM_ALLOC_ZERO}}) {
        void *p = A()->ops->alloc(A(), n, align, flags);
        ASSERT_NE(p, nullptr) << n;
        EXPECT_EQ(A()->ops->usable_size(A(), p), malloc_usable_size(p)) << n << " align " << align;
        blocks.push_back(p);
      }
    }
  }
  for (void *&p : blocks) {
    size_t n = malloc_usable_size(p);
    p = A()->ops->realloc(A(), p, n * 2 + 100, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(A()->ops->usable_size(A(), p), malloc_usable_size(p));
  }
  xsmem_stats st = {};
  A()->ops->stats(A(), &st);
  size_t live = 0;
  for (void *p : blocks) live += malloc_usable_size(p);
  EXPECT_GE(st.bytes_in_use, live);
  for (void *p : blocks) A()->ops->free(A(), p, 0);
}

// A double free reaches glibc's free, which reports it and aborts: counting
// the block first must not crash on its header (it did, through
// malloc_usable_size, for a chunk merged into the top chunk). Heap chunks
// only: a mapped chunk is unmapped by its free, and glibc's own second free
// of it faults too.
TEST(SystemDeathTest, DoubleFreeIsGlibcsToReport) {
  for (size_t n : {size_t{24}, size_t{5000}, size_t{100000}}) {
    EXPECT_DEATH(
        {
          void *p = A()->ops->alloc(A(), n, 16, 0);
          A()->ops->free(A(), p, 0);
          A()->ops->free(A(), p, 0);
        },
        "double free")
        << n;
  }
}

}  // namespace
