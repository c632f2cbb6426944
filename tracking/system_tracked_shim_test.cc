// The system_tracked configuration as malloc, under each tracking mode (BUILD
// runs it with XSMEM_TRACK=sample, sample + guarded sampling, full, off). The
// shim (system_tracked_shim.h) frees a block whose pagemap chunk has no tag
// straight into glibc: exact only if every sampled block lives in a tagged
// tier, and if full mode and guarded sampling send every free to the tracker.
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <thread>
#include <vector>

#include "allocators/registry.h"
#include "gtest/gtest.h"
#include "platform/pagemap.h"
#include "tracking/testing.h"
#include "tracking/tracker.h"

namespace {

xsmem_allocator *Process() {
  free(malloc(1));  // builds the configuration
  return xsmem_process_allocator();
}

int GuardRate() {
  const char *guard = getenv("XSMEM_GUARD_SAMPLE_RATE");
  return guard ? atoi(guard) : 0;
}

// Sample mode frees inline what carries no tag (guarded sampling included,
// but for a rate of 1: every block guarded, every free to the tracker).
bool FastSample(xsmem_allocator *a) { return xsmem_tracker_mode(a) == XSMEM_TRACK_SAMPLE && GuardRate() != 1; }

TEST(SystemTrackedShim, ModeIsTheEnvironments) {
  xsmem_allocator *a = Process();
  const char *mode = getenv("XSMEM_TRACK");
  ASSERT_NE(mode, nullptr);
  if (strcmp(mode, "off") == 0) {
    EXPECT_FALSE(xsmem_is_tracker(a));
  } else {
    ASSERT_TRUE(xsmem_is_tracker(a));
    EXPECT_EQ(xsmem_tracker_mode(a), strcmp(mode, "full") == 0 ? XSMEM_TRACK_FULL : XSMEM_TRACK_SAMPLE);
  }
}

// Sample mode: only sampled blocks (the home's tags) and guarded ones (the
// guard pool's) are tagged, each sampled one is recorded, each free is seen,
// and the estimates stay unbiased.
TEST(SystemTrackedShim, SampledBlocksLiveInTaggedTiersAndTheirFreesAreSeen) {
  xsmem_allocator *a = Process();
  xsmem_track_summary before = tracker_test_summary(a);
  constexpr size_t kBlocks = 20000, kSize = 96;  // 1.9 MB: about 470 samples at 4 KiB
  static void *blocks[kBlocks];                  // not from malloc: only the blocks change the records
  size_t tagged = 0, guarded = 0;
  for (size_t i = 0; i < kBlocks; i++) {
    blocks[i] = malloc(kSize);
    ASSERT_NE(blocks[i], nullptr);
    memset(blocks[i], 0x5A, kSize);
    uint8_t tag = xsmem_pagemap_get(blocks[i]);
    guarded += tag == XSMEM_TAG_GUARD;
    tagged += tag != XSMEM_TAG_NONE && tag != XSMEM_TAG_GUARD;
  }
  xsmem_track_summary live = tracker_test_summary(a);
  if (FastSample(a)) {
    EXPECT_GT(tagged, 100u);
    EXPECT_EQ(live.records - before.records, tagged);
  } else {
    EXPECT_EQ(tagged, 0u);  // glibc's memory only: the shim sends every free to the tracker
  }
  if (GuardRate() > 0) {
    EXPECT_GT(guarded, 0u);
  }
  if (xsmem_tracker_mode(a) == XSMEM_TRACK_SAMPLE) {
    // Unbiased estimate of the live bytes: within 30% (about 5 standard errors).
    double bytes = (double)(kBlocks * kSize);
    EXPECT_GT(live.live_bytes, before.live_bytes + 0.7 * bytes);
    EXPECT_LT(live.live_bytes, before.live_bytes + 1.3 * bytes);
  }
  for (void *p : blocks) free(p);
  xsmem_track_summary after = tracker_test_summary(a);
  EXPECT_EQ(after.records, before.records);  // every recorded free reached the tracker
  EXPECT_EQ(after.errors, 0u);
}

// Blocks of every size and alignment, resized and measured: the tracked ones
// are found by realloc and malloc_usable_size as well as by free.
TEST(SystemTrackedShim, LargeAlignedAndResizedBlocks) {
  xsmem_allocator *a = Process();
  xsmem_track_summary before = tracker_test_summary(a);
  constexpr int kRounds = 32;
  static void *blocks[5 * kRounds];
  static const size_t kSizes[5] = {2 << 20, 40 << 20, 200, 3000, 70};
  for (int i = 0; i < kRounds; i++) {
    void **b = &blocks[5 * i];
    b[0] = malloc(kSizes[0]);  // always sampled at 4 KiB: buddy tier
    b[1] = malloc(kSizes[1]);  // beyond the buddy region: large tier
    ASSERT_EQ(posix_memalign(&b[2], 256, kSizes[2]), 0);
    EXPECT_EQ((uintptr_t)b[2] % 256, 0u);
    b[3] = malloc(100);
    ASSERT_NE(b[3], nullptr);
    memset(b[3], 0x33, 100);
    b[3] = realloc(b[3], kSizes[3]);  // grows
    b[4] = malloc(kSizes[1]);
    ASSERT_NE(b[4], nullptr);
    memset(b[4], 0x44, kSizes[4]);
    b[4] = realloc(b[4], kSizes[4]);  // a sampled block shrinks
    for (int k = 0; k < 5; k++) {
      ASSERT_NE(b[k], nullptr);
      EXPECT_GE(malloc_usable_size(b[k]), kSizes[k]);
    }
    for (int j = 0; j < 100; j++) ASSERT_EQ(((unsigned char *)b[3])[j], 0x33);
    for (size_t j = 0; j < kSizes[4]; j++) ASSERT_EQ(((unsigned char *)b[4])[j], 0x44);
    if (FastSample(a)) {  // sampled with probability ~1
      EXPECT_EQ(xsmem_pagemap_get(b[0]), XSMEM_TAG_BUDDY);
      EXPECT_EQ(xsmem_pagemap_get(b[1]), XSMEM_TAG_LARGE);
    }
  }
  if (xsmem_is_tracker(a)) {
    EXPECT_GE(tracker_test_summary(a).records - before.records, (uint64_t)2 * kRounds);
  }
  for (void *p : blocks) free(p);
  xsmem_track_summary after = tracker_test_summary(a);
  EXPECT_EQ(after.records, before.records);
  EXPECT_EQ(after.errors, 0u);
}

// A thread's first call may be malloc(0): it must reach the tracker in full
// mode (the countdown starts below zero), or its free is a foreign pointer.
TEST(SystemTrackedShim, FirstMallocOfAThreadMayBeZeroBytes) {
  xsmem_allocator *a = Process();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; i++) {
    threads.emplace_back([] {
      void *p = malloc(0);
      ASSERT_NE(p, nullptr);
      free(p);
      void *q = malloc(0);
      free(malloc(24));
      free(q);
    });
  }
  for (auto &t : threads) t.join();
  EXPECT_EQ(tracker_test_summary(a).errors, 0u);
}

}  // namespace
