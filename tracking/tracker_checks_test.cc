// Unit tests of what full mode checks: canaries, the quarantine, and the
// reports of overflows, underflows, bad frees and writes after free (the
// tracker over the system allocator, no shim).
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "allocators/system/system.h"
#include "gtest/gtest.h"
#include "tracking/testing.h"

namespace {

TEST(Tracker, CanariesAlignmentAndZeroing) {
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
  for (size_t align : {1, 16, 64, 4096, 65536}) {
    for (size_t n : {0, 1, 15, 100, 5000}) {
      auto *p = static_cast<uint8_t *>(xsmem_alloc(t, n, align, XSMEM_ALLOC_ZERO));
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
      for (size_t i = 0; i < n; i++) ASSERT_EQ(p[i], 0);
      memset(p, 0x55, n);  // exactly the block: no canary touched
      xsmem_free(t, p);
    }
  }
  EXPECT_EQ(xsmem_tracker_check(t), 0u);
  errno = 0;
  EXPECT_EQ(xsmem_alloc(t, SIZE_MAX - 8, 16, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  t->ops->destroy(t);
}

TEST(Tracker, StatsAccountForQuarantine) {
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
  xsmem_stats s0 = xsmem_get_stats(t);
  void *p = xsmem_alloc(t, 1000, 16, 0);
  xsmem_stats s1 = xsmem_get_stats(t);
  EXPECT_GE(s1.bytes_in_use - s0.bytes_in_use, 1000u);
  xsmem_free(t, p);
  xsmem_stats s2 = xsmem_get_stats(t);
  EXPECT_EQ(s2.bytes_in_use, s0.bytes_in_use);
  EXPECT_EQ(s2.num_frees - s1.num_frees, 1u);
  EXPECT_GT(s2.bytes_metadata, 0u);
  xsmem_track_summary s;
  xsmem_tracker_summary(t, &s);
  EXPECT_EQ(s.quarantine_bytes, 1000u);
  t->ops->destroy(t);
}

// A full stripe evicts the oldest blocks in a batch, down to 15/16 of its
// budget: the quarantine never holds more than its budget, and once full
// never less than that low mark minus one block; evicted blocks go back to
// the wrapped allocator.
TEST(Tracker, QuarantineEvictsInBatchesWithinItsBudget) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  const size_t stripe = 64 * 1024, block = 1000;
  o.quarantine_bytes = 8 * stripe;
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
  xsmem_stats inner0 = xsmem_get_stats(xsmem_system_allocator());
  const size_t low = stripe - stripe / 16;
  size_t evicting_rounds = 0, last = 0;
  for (int i = 0; i < 2000; i++) {
    xsmem_free(t, xsmem_alloc(t, block, 16, 0));
    xsmem_track_summary s;
    xsmem_tracker_summary(t, &s);
    ASSERT_LE(s.quarantine_bytes, stripe);  // one thread: one stripe
    if (i > 100) {
      ASSERT_GT(s.quarantine_bytes, low - block);
    }
    if (s.quarantine_bytes < last) evicting_rounds++;
    last = s.quarantine_bytes;
  }
  // A batch is about (stripe - low) / block = 4 blocks here: 2000 frees of
  // 1000 bytes overflow a 64 KiB stripe about (2000 - 65) / 4 times.
  EXPECT_GT(evicting_rounds, 300u);
  EXPECT_LT(evicting_rounds, 700u);
  // Every block that left the quarantine went back to the inner allocator.
  xsmem_stats inner1 = xsmem_get_stats(xsmem_system_allocator());
  EXPECT_EQ(inner1.num_frees - inner0.num_frees, 2000 - last / block);
  t->ops->destroy(t);
}

// ---------------------------------------------------------------------------
// Corruption classes (each aborts with its report).

using TrackerDeathTest = ::testing::Test;

// Under AddressSanitizer the tracker poisons its canaries and quarantined
// blocks (ASan's manual poisoning interface), so ASan itself stops the bad
// access at the instruction, before the tracker's own check would.
#if defined(__SANITIZE_ADDRESS__)
#define TRACKER_OR_ASAN(msg) "AddressSanitizer: use-after-poison"
#else
#define TRACKER_OR_ASAN(msg) msg
#endif

TEST(TrackerDeathTest, OverflowIsReportedAtFree) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
        auto *p = static_cast<char *>(tracker_test_leak_here(t, 40));
        p[40] = 1;  // one past the end
        xsmem_free(t, p);
      },
      TRACKER_OR_ASAN("heap buffer overflow \\(canary after the block damaged\\): free\\(0x[0-9a-f]+\\) of a "
                      "40-byte block(.|\n)*allocated at:(.|\n)*tracker_test_leak_here(.|\n)*detected "
                      "at:(.|\n)*OverflowIsReportedAtFree"));
}

TEST(TrackerDeathTest, UnderflowIsReportedAtFree) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
        auto *p = static_cast<char *>(tracker_test_leak_here(t, 40));
        p[-3] = 1;
        xsmem_free(t, p);
      },
      TRACKER_OR_ASAN("heap buffer underflow"));
}

TEST(TrackerDeathTest, OverflowIsFoundByCheckOnDemand) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
        auto *p = static_cast<char *>(tracker_test_other_site(t, 64));
        p[70] = 1;
        xsmem_tracker_check(t);
      },
      TRACKER_OR_ASAN("heap buffer overflow(.|\n)*check\\((.|\n)*tracker_test_other_site"));
}

// A program that overflows a block, or writes to one after freeing it, and
// exits before the block is freed or leaves the quarantine: the check at exit
// finds it (it used to go unreported).
TEST(TrackerDeathTest, OverflowOfALiveBlockIsFoundAtExit) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
        auto *p = static_cast<char *>(tracker_test_leak_here(t, 40));
        p[40] = 1;
        exit(0);
      },
      TRACKER_OR_ASAN("heap buffer overflow \\(canary after the block damaged\\): check\\(0x[0-9a-f]+\\) of a "
                      "40-byte block(.|\n)*allocated at:(.|\n)*tracker_test_leak_here"));
}

TEST(TrackerDeathTest, WriteAfterFreeInQuarantineIsFoundAtExit) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
        auto *p = static_cast<char *>(tracker_test_leak_here(t, 1000));
        xsmem_free(t, p);
        p[10] = 42;
        exit(0);
      },
      TRACKER_OR_ASAN("write after free(.|\n)*allocated at:(.|\n)*tracker_test_leak_here"));
}

// The double-free report: the allocation's call site and the bad
// free's own (captured when it is reported).
TEST(TrackerDeathTest, DoubleFreeNamesAllocationAndTheBadFree) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
        void *p = tracker_test_leak_here(t, 24);
        xsmem_free(t, p);
        xsmem_free(t, p);
      },
      "double free: free\\(0x[0-9a-f]+\\) of a 24-byte block(.|\n)*allocated at:(.|\n)*tracker_test_leak_here"
      "(.|\n)*detected at:(.|\n)*DoubleFreeNamesAllocationAndTheBadFree");
}

TEST(TrackerDeathTest, DoubleFreeNamesTheFirstFreeWithFreeSites) {
  EXPECT_DEATH(
      {
        xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
        o.free_sites = true;
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
        void *p = tracker_test_leak_here(t, 24);
        xsmem_free(t, p);
        xsmem_free(t, p);
      },
      "double free: free\\(0x[0-9a-f]+\\) of a 24-byte block(.|\n)*allocated at:(.|\n)*tracker_test_leak_here"
      "(.|\n)*freed at:(.|\n)*DoubleFree(.|\n)*detected at:");
}

TEST(TrackerDeathTest, ForeignFreeIsReported) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
        static char not_heap[64];
        xsmem_free(t, not_heap + 16);
      },
      "pointer not allocated by this allocator");
}

// Writes to a block after freeing it, then frees others until the block
// leaves the quarantine (4 KiB a stripe): its poison is checked then.
void WriteAfterFreeThenEvict(bool free_sites) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  o.free_sites = free_sites;
  o.quarantine_bytes = 8 * 4096;  // 4 KiB per stripe
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
  auto *p = static_cast<char *>(tracker_test_leak_here(t, 1000));
  xsmem_free(t, p);
  p[10] = 42;  // use after free
  for (int i = 0; i < 100; i++) xsmem_free(t, xsmem_alloc(t, 1000, 16, 0));
}

TEST(TrackerDeathTest, WriteAfterFreeIsCaughtWhenLeavingQuarantine) {
  EXPECT_DEATH(WriteAfterFreeThenEvict(false),
               TRACKER_OR_ASAN("write after free(.|\n)*allocated at:(.|\n)*tracker_test_leak_here"));
}

TEST(TrackerDeathTest, WriteAfterFreeIsFoundByCheckOnDemand) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
        auto *p = static_cast<char *>(tracker_test_leak_here(t, 1000));
        xsmem_free(t, p);
        p[10] = 42;  // use after free, still in quarantine
        xsmem_tracker_check(t);
      },
      TRACKER_OR_ASAN("write after free(.|\n)*check\\((.|\n)*allocated at:(.|\n)*tracker_test_leak_here"));
}

TEST(TrackerDeathTest, WriteAfterFreeNamesTheFreeWithFreeSites) {
  EXPECT_DEATH(WriteAfterFreeThenEvict(true),
               TRACKER_OR_ASAN("write after free(.|\n)*allocated at:(.|\n)*tracker_test_leak_here(.|\n)*freed at:"));
}

TEST(TrackerDeathTest, InteriorPointerFreeIsReportedWithoutTouchingTheBlock) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
        auto *p = static_cast<char *>(tracker_test_leak_here(t, 100));
        xsmem_free(t, p + 32);
      },
      "pointer not allocated by this allocator");
}

}  // namespace
