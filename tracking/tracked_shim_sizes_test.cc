// An impossible malloc through a tracked configuration's shim (BUILD runs
// this for default_tracked and system_tracked under each mode) must fail
// with ENOMEM and leave the thread's sampling countdown as it was. The shim
// charges the size to the countdown before anything else; a size near 2^63
// once pushed it past the int64 range and left it positive, so in full mode
// the following mallocs were served inline, unseen by the tracker, and their
// frees reported as foreign pointers; in sample mode sampling stopped.
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "allocators/registry.h"
#include "gtest/gtest.h"
#include "tracking/testing.h"
#include "tracking/tracker.h"

namespace {

TEST(TrackedShim, ImpossibleSizesFailAndLeaveTheCountdownAlone) {
  free(malloc(1));  // builds the configuration
  xsmem_allocator *a = xsmem_process_allocator();
  const size_t kSizes[] = {
      SIZE_MAX, SIZE_MAX - 4095, (size_t)1 << 63, (size_t)PTRDIFF_MAX, ((size_t)1 << 62) + 12345, (size_t)1 << 62};
  char *kept = static_cast<char *>(malloc(64));
  ASSERT_NE(kept, nullptr);
  memset(kept, 0x6B, 64);
  for (int round = 0; round < 3; round++) {
    for (size_t size : kSizes) {
      volatile size_t n = size;  // opaque to the compiler's size checks
      errno = 0;
      EXPECT_EQ(malloc(n), nullptr) << n;
      EXPECT_EQ(errno, ENOMEM) << n;
      errno = 0;
      void *moved = realloc(kept, n);
      EXPECT_EQ(moved, nullptr) << n;  // the block stays as it was
      EXPECT_EQ(errno, ENOMEM) << n;
      if (moved) kept = static_cast<char *>(moved);
    }
  }
  for (int i = 0; i < 64; i++) ASSERT_EQ(kept[i], 0x6B);
  free(kept);
  xsmem_track_summary before = tracker_test_summary(a);
  constexpr size_t kBlocks = 20000, kSize = 96;  // 1.9 MB: about 470 samples at 4 KiB
  static void *blocks[kBlocks];                  // not from malloc: only the blocks change the records
  for (size_t i = 0; i < kBlocks; i++) {
    blocks[i] = malloc(kSize);
    ASSERT_NE(blocks[i], nullptr);
  }
  xsmem_track_summary after = tracker_test_summary(a);
  switch (xsmem_tracker_mode(a)) {
    case XSMEM_TRACK_FULL:
      EXPECT_EQ(after.records - before.records, kBlocks);  // every block seen
      break;
    case XSMEM_TRACK_SAMPLE:
      EXPECT_GT(after.records - before.records, 200u);  // still sampling at its rate
      break;
    case XSMEM_TRACK_OFF: break;
  }
  // Full mode: a block the tracker had not seen would be reported here as foreign.
  for (size_t i = 0; i < kBlocks; i++) free(blocks[i]);
}

}  // namespace
