#include "platform/os_vm.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

// Returns how many pages of [p, p+n) are resident.
size_t Resident(void *p, size_t n) {
  size_t page = xsmem_os_page_size();
  std::vector<unsigned char> vec(n / page);
  if (mincore(p, n, vec.data()) != 0) return SIZE_MAX;
  size_t r = 0;
  for (unsigned char c : vec) r += c & 1;
  return r;
}

TEST(OsVm, PageSizes) {
  EXPECT_EQ(xsmem_os_page_size(), (size_t)sysconf(_SC_PAGESIZE));
  EXPECT_GE(xsmem_os_huge_page_size(), xsmem_os_page_size());
}

TEST(OsVm, MapIsAlignedZeroedAndCounted) {
  xsmem_os_stats before, after;
  xsmem_os_counters(&before);
  for (size_t align = 4096; align <= ((size_t)1 << 30); align *= 8) {
    auto *p = static_cast<uint8_t *>(xsmem_os_map(3 * 4096, align, 0));
    ASSERT_NE(p, nullptr) << align;
    EXPECT_EQ((uintptr_t)p % align, 0u) << align;
    EXPECT_EQ(p[0], 0);
    p[3 * 4096 - 1] = 1;
    xsmem_os_counters(&after);
    EXPECT_EQ(after.bytes_reserved - before.bytes_reserved, 3u * 4096);
    xsmem_os_unmap(p, 3 * 4096);
    xsmem_os_counters(&after);
    EXPECT_EQ(after.bytes_reserved, before.bytes_reserved);
    EXPECT_EQ(after.bytes_committed, before.bytes_committed);
  }
}

TEST(OsVm, ReserveCommitDecommitRelease) {
  size_t n = 64 * 4096;
  auto *p = static_cast<uint8_t *>(xsmem_os_reserve(n, 1 << 21));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ((uintptr_t)p % (1 << 21), 0u);
  ASSERT_TRUE(xsmem_os_commit(p, n));
  memset(p, 0xAA, n);
  EXPECT_EQ(Resident(p, n), 64u);
  ASSERT_TRUE(xsmem_os_decommit(p, n));
  EXPECT_EQ(Resident(p, n), 0u);  // pages given back...
  EXPECT_EQ(p[100], 0);           // ...and the range still reads (as zero)
  xsmem_os_release(p, n, 0);
}

// A release past the process's limit on mappings (vm.max_map_count: the
// unmap would split a mapping) still gives the pages back, and says so once.
TEST(OsVm, ReleasePastTheMappingLimitGivesThePagesBack) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer's runtime needs mappings of its own, and fails once none are left";
#endif
  long limit = 0;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  if (f) {
    if (fscanf(f, "%ld", &limit) != 1) limit = 0;
    fclose(f);
  }
  if (limit <= 0 || limit > (1 << 20)) GTEST_SKIP() << "vm.max_map_count " << limit << ": too many mappings to reach";
  size_t page = xsmem_os_page_size(), pages = 2 * (size_t)limit + 64;
  auto *base = static_cast<char *>(xsmem_os_map(pages * page, page, 0));
  ASSERT_NE(base, nullptr);
  // Holes at every other page until the kernel refuses another split.
  size_t i = 1;
  for (; i + 2 < pages; i += 2) {
    if (munmap(base + i * page, page) != 0) break;
  }
  ASSERT_LT(i + 2, pages) << "the mapping limit was not reached";
  ASSERT_EQ(errno, ENOMEM);
  char *victim = base + (i + 1) * page;  // between two pages still mapped: its unmap must split
  memset(victim, 1, page);
  ASSERT_EQ(Resident(victim, page), 1u);
  testing::internal::CaptureStderr();
  xsmem_os_release(victim, page, page);
  xsmem_os_release(victim + 2 * page, page, page);
  std::string said = testing::internal::GetCapturedStderr();
  EXPECT_EQ(Resident(victim, page), 0u);  // given back all the same
  EXPECT_EQ(victim[0], 0);                // still mapped, zero-filled
  EXPECT_NE(said.find("vm.max_map_count"), std::string::npos) << said;
  EXPECT_EQ(said.find("vm.max_map_count"), said.rfind("vm.max_map_count")) << "said more than once: " << said;
  munmap(base, pages * page);  // every piece, whole: no split
}

TEST(OsVm, BadArgumentsFail) {
  errno = 0;
  EXPECT_EQ(xsmem_os_map(4096, 3, 0), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(xsmem_os_map(SIZE_MAX - 10, 4096, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(xsmem_os_reserve(0, 4096), nullptr);
}

TEST(OsVm, ExplicitHugePagesFallBack) {
  if (xsmem_os_huge_policy() != 2) GTEST_SKIP() << "run by os_vm_huge_test with XSMEM_HUGE_PAGES=explicit";
  size_t hs = xsmem_os_huge_page_size();
  auto *p = static_cast<uint8_t *>(xsmem_os_map(2 * hs, hs, XSMEM_VM_HUGE_EXPLICIT));
  ASSERT_NE(p, nullptr);  // served by MAP_HUGETLB or, with an empty pool, by THP
  EXPECT_EQ((uintptr_t)p % hs, 0u);
  p[0] = 1;
  p[2 * hs - 1] = 1;
  xsmem_os_stats s;
  xsmem_os_counters(&s);
  EXPECT_EQ(s.huge_explicit_maps + s.huge_fallbacks, 1u);
  xsmem_os_unmap(p, 2 * hs);
}

}  // namespace
