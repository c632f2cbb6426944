// The `numa` configuration under a node limit much smaller than the default
// buddy region (XSMEM_NUMA_NODE_LIMIT=64m, XSMEM_BUDDY_REGION=1g): the limit
// counts what a node's source maps and a buddy region is mapped whole, so the
// regions shrink to a quarter of the limit and the medium tier still serves
// (a 1 GiB region was refused outright: a buffer grown past the small tier
// failed, and every tier after it).
#include <string.h>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "gtest/gtest.h"

namespace {

TEST(NumaDefaultLimit, MediumTierServesUnderASmallNodeLimit) {
  const xsmem_config *c = xsmem_config_find("numa");
  ASSERT_NE(c, nullptr);
  xsmem_allocator *a = xsmem_config_instance(c);
  auto *p = static_cast<char *>(xsmem_alloc(a, 16, 16, 0));
  ASSERT_NE(p, nullptr);
  memset(p, 1, 16);
  for (size_t n = 32; n <= (size_t{8} << 20); n *= 2) {
    auto *q = static_cast<char *>(a->ops->realloc(a, p, n, 0));
    ASSERT_NE(q, nullptr) << "growing to " << n;
    EXPECT_EQ(q[0], 1);
    memset(q, 1, n);
    p = q;
  }
  void *small = xsmem_alloc(a, 40, 16, 0);
  EXPECT_NE(small, nullptr);
  void *medium = xsmem_alloc(a, size_t{3} << 20, 16, 0);
  EXPECT_NE(medium, nullptr);
  xsmem_free(a, medium);
  xsmem_free(a, small);
  xsmem_free(a, p);
}

}  // namespace
