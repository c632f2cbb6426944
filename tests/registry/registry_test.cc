#include <string.h>

#include <string>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "gtest/gtest.h"

namespace {

TEST(Registry, FindsEveryLinkedConfiguration) {
  ASSERT_EQ(xsmem_config_count(), 2u);
  // Sorted by name.
  EXPECT_STREQ(xsmem_config_at(0)->name, "os");
  EXPECT_STREQ(xsmem_config_at(1)->name, "system");
  EXPECT_EQ(xsmem_config_at(2), nullptr);
  EXPECT_EQ(xsmem_config_find("system"), xsmem_config_at(1));
  EXPECT_EQ(xsmem_config_find("nope"), nullptr);
  // No shim is linked: malloc is glibc's and there is no process allocator.
  EXPECT_EQ(xsmem_process_allocator(), nullptr);
}

TEST(Registry, InstancesWorkSideBySide) {
  for (const char *name : {"os", "system"}) {
    xsmem_allocator *a = xsmem_config_instance(xsmem_config_find(name));
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a, xsmem_config_instance(xsmem_config_find(name))) << "instance() must be idempotent";
    xsmem_stats s0 = xsmem_get_stats(a);
    void *p = xsmem_alloc(a, 1000, 64, XSMEM_ALLOC_ZERO);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ((uintptr_t)p % 64, 0u);
    EXPECT_EQ(static_cast<unsigned char *>(p)[999], 0);
    EXPECT_GE(xsmem_usable_size(a, p), 1000u);
    p = xsmem_realloc(a, p, 5000);
    ASSERT_NE(p, nullptr);
    xsmem_free(a, p);
    xsmem_stats s1 = xsmem_get_stats(a);
    EXPECT_EQ(s1.num_allocs - s0.num_allocs, s1.num_frees - s0.num_frees) << name;
    EXPECT_EQ(s1.bytes_in_use, s0.bytes_in_use) << name;
  }
}

TEST(Registry, NoFailAbortsWithAMessage) {
  xsmem_allocator *a = xsmem_config_instance(xsmem_config_find("os"));
  EXPECT_DEATH(xsmem_alloc(a, SIZE_MAX / 2, 16, XSMEM_ALLOC_NOFAIL), "could not allocate");
}

}  // namespace
