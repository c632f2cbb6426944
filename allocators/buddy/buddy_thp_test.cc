// The process-wide buddy instance's huge-page advice, checked on the VMA flags
// in /proc/self/smaps: run twice (BUILD), with XSMEM_BUDDY_THP unset (default
// off: no block is advised) and with XSMEM_BUDDY_THP=on (a block of 2 MiB or
// more is advised MADV_HUGEPAGE; a smaller block later carved from the same
// huge page takes the advice back, so it never commits 2 MiB).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "allocators/buddy/buddy.h"
#include "gtest/gtest.h"
#include "platform/os_vm.h"

namespace {

// Returns the VmFlags line of the mapping holding p ("" when not found).
std::string VmFlags(const void *p) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return "";
  char line[512];
  bool inside = false;
  std::string out;
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = a >= lo && a < hi;
    } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      out = std::string(line + 8) + " ";
      break;
    }
  }
  fclose(f);
  return out;
}

bool Has(const std::string &flags, const char *flag) {
  return flags.find(std::string(" ") + flag + " ") != std::string::npos;
}

TEST(BuddyThp, AdviceFollowsBlockSize) {
  FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (!thp || xsmem_os_huge_page_size() != (2u << 20)) GTEST_SKIP() << "no transparent huge pages of 2 MiB here";
  fclose(thp);
  const char *env = getenv("XSMEM_BUDDY_THP");
  const bool on = env && strcmp(env, "on") == 0;
  xsmem_buddy_options o = xsmem_buddy_options_from_env();  // thp from XSMEM_BUDDY_THP
  xsmem_allocator *b = xsmem_buddy_create("buddy", xsmem_os_source(), &o);
  ASSERT_NE(b, nullptr);
  // A fresh region: every block below starts at its base (the freed ones merge back).
  void *mid = b->ops->alloc(b, 1 << 20, 16, 0);
  ASSERT_NE(mid, nullptr);
  EXPECT_FALSE(Has(VmFlags(mid), "hg")) << VmFlags(mid);
  b->ops->free(b, mid, 1 << 20);
  void *big = b->ops->alloc(b, 4 << 20, 16, 0);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big, mid);
  EXPECT_EQ(Has(VmFlags(big), "hg"), on) << VmFlags(big);
  EXPECT_EQ(Has(VmFlags(static_cast<char *>(big) + (2 << 20)), "hg"), on);
  b->ops->free(b, big, 4 << 20);
  void *small = b->ops->alloc(b, 16 << 10, 16, 0);
  ASSERT_EQ(small, big);
  EXPECT_FALSE(Has(VmFlags(small), "hg")) << VmFlags(small);
  EXPECT_EQ(Has(VmFlags(small), "nh"), on) << VmFlags(small);                 // the advice taken back
  EXPECT_EQ(Has(VmFlags(static_cast<char *>(small) + (2 << 20)), "hg"), on);  // the other huge page keeps it
  static_cast<char *>(small)[0] = 1;
  b->ops->free(b, small, 16 << 10);
}

}  // namespace
