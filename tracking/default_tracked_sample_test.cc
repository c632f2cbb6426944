// The default_tracked configuration as malloc, in sample mode: the shim frees
// small-tier blocks inline without asking the tracker (default_tracked_shim.h),
// which is exact only if every sampled block lives outside the small tier.
// Run with XSMEM_TRACK=sample and a small XSMEM_TRACK_SAMPLE_BYTES (BUILD).
#include <stdlib.h>

#include <string.h>

#include "allocators/registry.h"
#include "gtest/gtest.h"
#include "platform/pagemap.h"
#include "tracking/tracker.h"

namespace {

xsmem_allocator *Tracker() {
  free(malloc(1));  // builds the configuration
  xsmem_allocator *a = xsmem_process_allocator();
  EXPECT_TRUE(xsmem_is_tracker(a));
  EXPECT_EQ(xsmem_tracker_mode(a), XSMEM_TRACK_SAMPLE);
  return a;
}

TEST(DefaultTrackedSample, SampledBlocksLiveOutsideTheSmallTierAndTheirFreesAreSeen) {
  xsmem_allocator *a = Tracker();
  xsmem_track_summary before;
  xsmem_tracker_summary(a, &before);
  constexpr size_t kBlocks = 20000, kSize = 96;  // 1.9 MB: about 470 samples at 4 KiB
  static void *blocks[kBlocks];                  // not from malloc: only the blocks change the records
  size_t outside = 0;
  for (size_t i = 0; i < kBlocks; i++) {
    blocks[i] = malloc(kSize);
    ASSERT_NE(blocks[i], nullptr);
    memset(blocks[i], 0x5A, kSize);
    outside += xsmem_pagemap_get(blocks[i]) != XSMEM_TAG_SMALL;
  }
  xsmem_track_summary live;
  xsmem_tracker_summary(a, &live);
  // Only sampled blocks leave the small tier, and each one is recorded.
  EXPECT_GT(outside, 100u);
  EXPECT_EQ(live.records - before.records, outside);
  // Unbiased estimate of the live bytes: within 30% (about 5 standard errors).
  double bytes = (double)(kBlocks * kSize);
  EXPECT_GT(live.live_bytes, before.live_bytes + 0.7 * bytes);
  EXPECT_LT(live.live_bytes, before.live_bytes + 1.3 * bytes);
  for (void *p : blocks) free(p);
  xsmem_track_summary after;
  xsmem_tracker_summary(a, &after);
  EXPECT_EQ(after.records, before.records);  // every sampled free reached the tracker
  EXPECT_EQ(after.errors, 0u);
}

TEST(DefaultTrackedSample, LargeAndAlignedBlocksAreSampledToo) {
  xsmem_allocator *a = Tracker();
  xsmem_track_summary before;
  xsmem_tracker_summary(a, &before);
  static void *blocks[3 * 64];
  for (int i = 0; i < 64; i++) {
    blocks[3 * i] = malloc(2 << 20);  // beyond the small tier: always sampled at 4 KiB
    ASSERT_EQ(posix_memalign(&blocks[3 * i + 1], 256, 200), 0);
    blocks[3 * i + 2] = realloc(malloc(100), 3000);
  }
  xsmem_track_summary live;
  xsmem_tracker_summary(a, &live);
  EXPECT_GE(live.records - before.records, 64u);
  for (void *p : blocks) free(p);
  xsmem_track_summary after;
  xsmem_tracker_summary(a, &after);
  EXPECT_EQ(after.records, before.records);
  EXPECT_EQ(after.errors, 0u);
}

}  // namespace
