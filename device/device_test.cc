// The device front's rules on a fake device: the stream rule (reuse at once
// on the freeing stream, on another only after an event recorded after the
// free has completed), the single-stream shortcut and its one wait, running
// out (NULL + ENOMEM after giving back what the streams hold), the stats, and
// the fake device itself (its pointers are not host memory).
#include "device/device.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "allocators/bfc/bfc.h"
#include "allocators/pool/pool.h"
#include "device/fake.h"
#include "gtest/gtest.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;

struct Front {
  xsmem_device_source *src = nullptr;
  xsmem_allocator *a = nullptr;
  explicit Front(size_t device_bytes, size_t cache_blocks = 0) {
    src = xsmem_fake_device_create(device_bytes, "test.fake");
    if (!src) return;
    xsmem_bfc_options o = xsmem_device_bfc_options(src);
    o.initial_region = 2 * kMiB;
    xsmem_bfc *b = xsmem_bfc_create(&src->base, &o, "test.bfc");
    xsmem_device_options d = {cache_blocks, true};
    a = b ? xsmem_device_front_create(xsmem_bfc_allocator(b), src, &d, "test.device") : nullptr;
  }
  ~Front() {
    if (a) a->ops->destroy(a);
  }
};

// Two streams in use: blocks are kept per stream from here on.
void TwoStreams(xsmem_allocator *a, xsmem_fake_stream *s, xsmem_fake_stream *t) {
  xsmem_device_free(a, xsmem_device_alloc(a, 256, s), s);
  xsmem_device_free(a, xsmem_device_alloc(a, 256, t), t);
}

TEST(FakeDevice, PointersAreNotHostMemoryAndHaveAHostView) {
  Front f(64 * kMiB);
  ASSERT_NE(f.a, nullptr);
  void *p = xsmem_device_alloc(f.a, 4096, nullptr);
  ASSERT_NE(p, nullptr);
  char *view = static_cast<char *>(xsmem_fake_device_host_view(f.src, p));
  ASSERT_NE(view, nullptr);
  EXPECT_NE(view, p);
  memset(view, 0x5a, 4096);  // the memory behind the device pointer is writable...
  // ...and the device pointer itself is not: a host access faults, as on a GPU.
  EXPECT_DEATH(*static_cast<volatile char *>(p) = 1, "");
  EXPECT_EQ(xsmem_fake_device_host_view(f.src, view), nullptr);
  xsmem_device_free(f.a, p, nullptr);
}

TEST(DeviceFront, SingleStreamFreesAreReusedAtOnce) {
  Front f(64 * kMiB);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{};
  void *p = xsmem_device_alloc(f.a, kMiB, &s);
  xsmem_fake_stream_launch(&s);  // still in use by a kernel on s: s may reuse it regardless
  xsmem_device_free(f.a, p, &s);
  EXPECT_EQ(xsmem_device_alloc(f.a, kMiB, &s), p);
  xsmem_device_free(f.a, p, &s);
}

TEST(DeviceFront, AnotherStreamFirstWaitsOnceForTheFirst) {
  Front f(64 * kMiB);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{}, t{};
  void *p = xsmem_device_alloc(f.a, kMiB, &s);
  xsmem_fake_stream_launch(&s);
  xsmem_device_free(f.a, p, &s);  // single stream: straight back to the bfc
  uint64_t waits = xsmem_fake_event_waits();
  void *q = xsmem_device_alloc(f.a, kMiB, &t);  // may be p: only after s's work is done
  EXPECT_EQ(xsmem_fake_event_waits(), waits + 1);
  EXPECT_TRUE(xsmem_fake_stream_idle(&s));
  xsmem_device_free(f.a, q, &t);
  // From now on no more waits for ordinary requests.
  void *r = xsmem_device_alloc(f.a, kMiB, &s);
  xsmem_device_free(f.a, r, &s);
  EXPECT_EQ(xsmem_fake_event_waits(), waits + 1);
}

TEST(DeviceFront, NoWaitWhenNothingWasFreed) {
  Front f(64 * kMiB);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{}, t{};
  uint64_t waits = xsmem_fake_event_waits();
  void *p = xsmem_device_alloc(f.a, kMiB, &s);
  void *q = xsmem_device_alloc(f.a, kMiB, &t);
  EXPECT_EQ(xsmem_fake_event_waits(), waits);
  xsmem_device_free(f.a, p, &s);
  xsmem_device_free(f.a, q, &t);
}

TEST(DeviceFront, FreedOnOneStreamIsNotHandedToAnotherWhileBusy) {
  Front f(64 * kMiB);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{}, t{};
  TwoStreams(f.a, &s, &t);
  void *p = xsmem_device_alloc(f.a, 4 * kMiB, &s);
  ASSERT_NE(p, nullptr);
  xsmem_fake_stream_launch(&s);
  xsmem_device_free(f.a, p, &s);
  // t takes memory until the device is full: never p while s is busy.
  std::vector<void *> got;
  for (int i = 0; i < 64; i++) {
    uint64_t waits = xsmem_fake_event_waits();
    void *q = xsmem_device_alloc(f.a, 4 * kMiB, &t);
    if (!q) break;
    if (q == p) {
      EXPECT_TRUE(xsmem_fake_stream_idle(&s)) << "t got p while s's work was queued";
      EXPECT_GT(xsmem_fake_event_waits(), waits) << "p went to t without waiting for s";
    }
    got.push_back(q);
  }
  EXPECT_GE(got.size(), 14u);  // 64 MiB of device, less what the earlier blocks' regions hold
  for (void *q : got) xsmem_device_free(f.a, q, &t);
}

TEST(DeviceFront, CompletedEventsLetAnotherStreamReuseWithoutWaiting) {
  Front f(32 * kMiB);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{}, t{};
  TwoStreams(f.a, &s, &t);
  std::vector<void *> mine;
  for (void *p; (p = xsmem_device_alloc(f.a, 4 * kMiB, &s));) mine.push_back(p);
  ASSERT_FALSE(mine.empty());
  xsmem_fake_stream_launch(&s);
  for (void *p : mine) xsmem_device_free(f.a, p, &s);
  xsmem_fake_stream_complete(&s);  // s's work is done: its blocks may go to t
  uint64_t waits = xsmem_fake_event_waits(), recorded = xsmem_fake_events_recorded();
  void *q = xsmem_device_alloc(f.a, 4 * kMiB, &t);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(xsmem_fake_event_waits(), waits);             // the event had completed: no wait
  EXPECT_EQ(xsmem_fake_events_recorded(), recorded + 1);  // one event for s's whole cache
  xsmem_device_free(f.a, q, &t);
}

TEST(DeviceFront, SameStreamBestFitWithinTwiceTheSize) {
  Front f(64 * kMiB);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{}, t{};
  TwoStreams(f.a, &s, &t);
  void *big = xsmem_device_alloc(f.a, 8 * kMiB, &s);
  void *mid = xsmem_device_alloc(f.a, kMiB, &s);
  xsmem_device_free(f.a, big, &s);
  xsmem_device_free(f.a, mid, &s);
  EXPECT_EQ(xsmem_device_alloc(f.a, 600 * 1024, &s), mid);  // 1 MiB <= 2 x 600 KiB
  void *small = xsmem_device_alloc(f.a, 1024, &s);          // no cached block is small enough
  EXPECT_NE(small, big);
  xsmem_device_free(f.a, mid, &s);
  xsmem_device_free(f.a, small, &s);
}

TEST(DeviceFront, StatsCountCachedBlocksAsCached) {
  Front f(64 * kMiB);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{}, t{};
  TwoStreams(f.a, &s, &t);
  xsmem_device_empty_cache(f.a);  // TwoStreams' block cached on t
  void *p = xsmem_device_alloc(f.a, kMiB, &s);
  size_t usable = xsmem_usable_size(f.a, p);
  xsmem_stats live = xsmem_get_stats(f.a);
  EXPECT_GE(live.bytes_in_use, kMiB);
  xsmem_device_free(f.a, p, &s);
  xsmem_stats freed = xsmem_get_stats(f.a);
  EXPECT_EQ(freed.bytes_in_use, live.bytes_in_use - usable);
  EXPECT_GE(freed.bytes_cached, usable);
  EXPECT_EQ(freed.num_frees, live.num_frees + 1);
  EXPECT_EQ(xsmem_device_empty_cache(f.a), usable);
  EXPECT_EQ(xsmem_get_stats(f.a).bytes_in_use, freed.bytes_in_use);
}

TEST(DeviceFront, OverflowingAStreamCacheGoesPendingBehindOneEvent) {
  Front f(64 * kMiB, 4);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{}, t{};
  TwoStreams(f.a, &s, &t);
  std::vector<void *> ps;
  for (int i = 0; i < 5; i++) ps.push_back(xsmem_device_alloc(f.a, 4096, &s));
  uint64_t recorded = xsmem_fake_events_recorded();
  xsmem_fake_stream_launch(&s);
  for (void *p : ps) xsmem_device_free(f.a, p, &s);  // the fifth overflows the cache of 4
  EXPECT_EQ(xsmem_fake_events_recorded(), recorded + 1);
  double pending = 0;
  struct Sink {
    xsmem_stats_sink base;
    double *pending;
  } sink{{[](xsmem_stats_sink *k, const char *g, const char *l, const char *key, const char *, double v) {
           if (std::string(g) == "memory" && std::string(key) == "pending_blocks") *((Sink *)k)->pending = v;
         }},
         &pending};
  f.a->ops->detail(f.a, &sink.base);
  EXPECT_EQ(pending, 5);
  xsmem_fake_stream_complete(&s);
  xsmem_device_empty_cache(f.a);
}

TEST(DeviceFront, OutOfMemoryGivesBackCachesThenFails) {
  Front f(16 * kMiB);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{}, t{};
  TwoStreams(f.a, &s, &t);
  // Take most of the device from s, free it all on s while s is busy.
  std::vector<void *> mine;
  for (int i = 0; i < 10; i++) mine.push_back(xsmem_device_alloc(f.a, kMiB, &s));
  for (void *p : mine) ASSERT_NE(p, nullptr);
  uint64_t failed = xsmem_get_stats(f.a).num_failed;
  xsmem_fake_stream_launch(&s);
  for (void *p : mine) xsmem_device_free(f.a, p, &s);
  // t needs the memory: it waits for s's event, then gets it.
  void *q = xsmem_device_alloc(f.a, 8 * kMiB, &t);
  EXPECT_NE(q, nullptr);
  EXPECT_TRUE(xsmem_fake_stream_idle(&s));
  // Past the device: NULL and ENOMEM, the dump once.
  testing::internal::CaptureStderr();
  errno = 0;
  EXPECT_EQ(xsmem_device_alloc(f.a, 64 * kMiB, &t), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(xsmem_device_alloc(f.a, 64 * kMiB, &t), nullptr);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("test.device (device memory, device 0) cannot serve 67108864 bytes"), std::string::npos) << err;
  EXPECT_EQ(err.find("cannot serve", err.find("cannot serve") + 1), std::string::npos) << err;
  EXPECT_EQ(xsmem_get_stats(f.a).num_failed, failed + 2);
  xsmem_device_free(f.a, q, &t);
}

TEST(DeviceFront, OtherAllocatorsServeTheDeviceApiWithoutStreams) {
  xsmem_bfc_options o = xsmem_bfc_options_from_env();
  o.bytes_limit = 64 * kMiB;
  xsmem_bfc *b = xsmem_bfc_create(xsmem_os_source(), &o, "host.bfc");
  ASSERT_NE(b, nullptr);
  xsmem_allocator *a = xsmem_bfc_allocator(b);
  void *p = xsmem_device_alloc(a, 1000, nullptr);
  ASSERT_NE(p, nullptr);
  memset(p, 1, 1000);  // host memory
  xsmem_device_free(a, p, nullptr);
  EXPECT_EQ(xsmem_device_memory_type(a), XSMEM_MEMORY_HOST_PAGEABLE);
  EXPECT_EQ(xsmem_device_index(a), -1);
  xsmem_bfc_destroy(b);
}

TEST(DeviceFront, DoubleFreeOfABlockHeldForItsStreamIsReported) {
  Front f(16 * kMiB);
  ASSERT_NE(f.a, nullptr);
  xsmem_fake_stream s{}, t{};
  TwoStreams(f.a, &s, &t);
  void *p = xsmem_device_alloc(f.a, 4096, &s);
  xsmem_device_free(f.a, p, &s);  // held for s: the bfc still counts it live
  EXPECT_DEATH(xsmem_device_free(f.a, p, &s), "double free");
  EXPECT_DEATH(xsmem_device_free(f.a, p, &t), "double free");
}

TEST(DeviceFront, RejectsHostOnlyRequestsOnDeviceMemory) {
  Front f(16 * kMiB);
  ASSERT_NE(f.a, nullptr);
  void *p = xsmem_alloc(f.a, 100, 16, 0);
  ASSERT_NE(p, nullptr);
  errno = 0;
  EXPECT_EQ(f.a->ops->realloc(f.a, p, 5000, 0), nullptr);  // would copy device memory on the host
  EXPECT_EQ(errno, EINVAL);
  xsmem_free(f.a, p);
}

// Threads on their own streams, each block stamped (through the fake
// device's host view) with its owner and checked at its free: a block handed
// to two owners at once shows as a changed stamp.
TEST(DeviceFront, ThreadsOnTheirOwnStreamsNeverShareABlock) {
  Front f(64 * kMiB);
  ASSERT_NE(f.a, nullptr);
  constexpr int kThreads = 4;
  std::vector<xsmem_fake_stream> streams(kThreads);
  std::vector<std::thread> threads;
  std::vector<int> bad(kThreads, 0);
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::pair<void *, uint32_t>> live;
      for (int i = 0; i < 3000; i++) {
        if (live.size() < 32 && rng() % 2) {
          void *p = xsmem_device_alloc(f.a, 256 + rng() % 65536, &streams[t]);
          if (!p) continue;
          uint32_t stamp = (uint32_t)(t << 24 | i);
          memcpy(xsmem_fake_device_host_view(f.src, p), &stamp, sizeof(stamp));
          live.emplace_back(p, stamp);
          if (rng() % 8 == 0) xsmem_fake_stream_launch(&streams[t]);
          if (rng() % 8 == 0) xsmem_fake_stream_complete(&streams[t]);
        } else if (!live.empty()) {
          auto b = live.back();
          live.pop_back();
          uint32_t now;
          memcpy(&now, xsmem_fake_device_host_view(f.src, b.first), sizeof(now));
          bad[t] += now != b.second;
          xsmem_device_free(f.a, b.first, &streams[t]);
        }
      }
      for (auto &b : live) xsmem_device_free(f.a, b.first, &streams[t]);
    });
  }
  for (auto &th : threads) th.join();
  for (int t = 0; t < kThreads; t++) EXPECT_EQ(bad[t], 0) << "thread " << t;
  xsmem_device_empty_cache(f.a);
  EXPECT_EQ(xsmem_get_stats(f.a).bytes_in_use, 0u);
}

}  // namespace
