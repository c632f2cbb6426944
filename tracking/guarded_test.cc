// Unit tests of guarded sampling (guarded.c): guarded blocks fault at the
// bad access, report their slack's damage and double frees, and serve like
// others; at a production rate about one allocation in the rate is guarded.
#include <stdint.h>
#include <string.h>

#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "platform/pagemap.h"
#include "tracking/testing.h"

namespace {

using TrackerDeathTest = ::testing::Test;

// A tracker in `mode` that guards every allocation (a rate of 1).
xsmem_allocator *MakeGuardingAll(xsmem_track_mode mode) {
  xsmem_tracker_options o = Options(mode);
  o.guard_sample_rate = 1;
  return Make(mode, &o);
}

// A thread's very first allocation can be guarded: at a rate of 1 it is, in
// full mode and with tracking off (it used to only set the count's phase).
TEST(Guarded, AThreadsFirstAllocationIsGuardedToo) {
  for (xsmem_track_mode mode : {XSMEM_TRACK_OFF, XSMEM_TRACK_FULL}) {
    xsmem_allocator *t = MakeGuardingAll(mode);
    void *first = nullptr;
    std::thread([&] { first = xsmem_alloc(t, 64, 16, 0); }).join();
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(xsmem_pagemap_get(first), XSMEM_TAG_GUARD) << mode;
    xsmem_free(t, first);
  }
}

TEST(TrackerDeathTest, GuardedOverflowFaultsAtTheInstruction) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = MakeGuardingAll(XSMEM_TRACK_OFF);
        volatile char *p = nullptr;
        for (int i = 0; i < 4 && !p; i++) {
          auto *q = static_cast<volatile char *>(tracker_test_leak_here(t, 64));
          if (reinterpret_cast<uintptr_t>(q) % 4096 != 0) p = q;  // right-aligned: ends at the guard
        }
        p[64] = 1;
      },
      // The access: a write, its address, and the stack of the faulting instruction.
      "heap buffer overflow: write of address 0x[0-9a-f]+: guarded block(.|\n)*accessed at:(.|\n)*"
      "GuardedOverflowFaultsAtTheInstruction(.|\n)*allocated at:(.|\n)*tracker_test_leak_here");
}

TEST(TrackerDeathTest, GuardedUseAfterFreeFaults) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = MakeGuardingAll(XSMEM_TRACK_SAMPLE);
        auto *p = static_cast<volatile char *>(tracker_test_leak_here(t, 100));
        xsmem_free(t, (void *)p);
        p[0] = 1;
      },
      "use after free: write of address 0x[0-9a-f]+(.|\n)*accessed at:(.|\n)*allocated at:(.|\n)*"
      "tracker_test_leak_here(.|\n)*freed at:");
}

// A read after free is caught too, and said to be a read.
TEST(TrackerDeathTest, GuardedReadAfterFreeFaults) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = MakeGuardingAll(XSMEM_TRACK_OFF);
        auto *p = static_cast<volatile char *>(tracker_test_leak_here(t, 100));
        xsmem_free(t, (void *)p);
        if (p[3] == 7) abort();  // the read faults first
      },
      "use after free: read of address 0x[0-9a-f]+(.|\n)*accessed at:(.|\n)*GuardedReadAfterFreeFaults");
}

// Overflows and underflows too small to reach a guard page land in the
// slack between the block and the page's ends: found when the block is freed.
TEST(TrackerDeathTest, GuardedSlackDamageIsReportedOnFree) {
  for (int underflow = 0; underflow < 2; underflow++) {
    EXPECT_DEATH(
        {
          xsmem_allocator *t = MakeGuardingAll(XSMEM_TRACK_OFF);
          // 40 bytes: 8 bytes of slack after a block against the next guard
          // page (16-byte alignment), and a whole page of it after one at the
          // page's start; an underflow needs the former.
          char *p = nullptr;
          for (int i = 0; i < 4 && !p; i++) {
            auto *q = static_cast<char *>(tracker_test_leak_here(t, 40));
            if (!underflow || reinterpret_cast<uintptr_t>(q) % 4096 != 0) p = q;
          }
          if (underflow) {
            p[-1] = 1;
          } else {
            p[40] = 1;
          }
          xsmem_free(t, p);
        },
        underflow ? "heap buffer underflow \\(slack damaged\\)(.|\n)*allocated at:(.|\n)*tracker_test_leak_here"
                  : "heap buffer overflow \\(slack damaged\\)(.|\n)*allocated at:(.|\n)*tracker_test_leak_here");
  }
}

TEST(TrackerDeathTest, GuardedDoubleFree) {
  EXPECT_DEATH(
      {
        xsmem_allocator *t = MakeGuardingAll(XSMEM_TRACK_OFF);
        void *p = tracker_test_leak_here(t, 100);
        xsmem_free(t, p);
        xsmem_free(t, p);
      },
      "double free of a guarded block");
}

TEST(Tracker, GuardedBlocksWorkLikeOthers) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_OFF);
  o.guard_sample_rate = 3;
  o.guard_slots = 4;
  xsmem_allocator *t = Make(XSMEM_TRACK_OFF, &o);
  std::vector<std::pair<uint8_t *, size_t>> live;
  for (int i = 0; i < 300; i++) {
    size_t n = (i * 37) % 3000;
    auto *p = static_cast<uint8_t *>(xsmem_alloc(t, n, 16, XSMEM_ALLOC_ZERO));
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    for (size_t k = 0; k < n; k++) ASSERT_EQ(p[k], 0);
    memset(p, i, n);
    EXPECT_GE(xsmem_usable_size(t, p), n);
    live.push_back({p, n});
    if (live.size() > 5) {
      xsmem_free(t, live.front().first);
      live.erase(live.begin());
    }
  }
  for (auto &b : live) xsmem_free(t, b.first);
  xsmem_track_summary s;
  xsmem_tracker_summary(t, &s);
  EXPECT_GT(s.guarded_allocs, 50u);
  t->ops->destroy(t);
}

// Guarded sampling at a production rate rides on the sampler's countdown (a
// byte clock whose mean is the rate times the thread's estimated mean block):
// about one allocation in the rate is guarded, with tracking off or sampling.
TEST(Tracker, GuardedSamplingPicksAboutOneAllocationInTheRate) {
  for (auto mode : {XSMEM_TRACK_OFF, XSMEM_TRACK_SAMPLE}) {
    xsmem_tracker_options o = Options(mode);
    o.guard_sample_rate = 50;
    o.guard_slots = 64;
    xsmem_allocator *t = Make(mode, &o);
    constexpr int kAllocs = 100000;
    std::mt19937 rng(7);
    for (int i = 0; i < kAllocs; i++) {
      size_t n = 16 + rng() % 1985;
      void *p = xsmem_alloc(t, n, 16, 0);
      ASSERT_NE(p, nullptr);
      memset(p, 1, n);
      xsmem_free(t, p);
    }
    xsmem_track_summary s;
    xsmem_tracker_summary(t, &s);
    const double expected = double(kAllocs) / 50;  // 2000; Poisson noise about 45
    EXPECT_GT(double(s.guarded_allocs), 0.7 * expected) << "mode " << mode;
    EXPECT_LT(double(s.guarded_allocs), 1.3 * expected) << "mode " << mode;
    t->ops->destroy(t);
  }
}

}  // namespace
