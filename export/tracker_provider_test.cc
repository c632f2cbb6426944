// export/tracker_provider_test.cc: the tracker's analyses reach the snapshot.
// Linked with the system_tracked configuration serving malloc, in full mode.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" {
#include "export/buf.h"
#include "export/format.h"
#include "export/provider.h"
#include "export/snapshot.h"
}

// Outside the anonymous namespace so -rdynamic exports the names to dladdr.
// Two named frames: a frame-pointer walk through a malloc compiled without
// frame pointers can skip the immediate caller.
extern "C" __attribute__((noinline)) void *ExportTestAllocateOne(size_t n) {
  void *p = malloc(n);
  __asm__ volatile("" : : "r"(p) : "memory");
  return p;
}

extern "C" __attribute__((noinline)) void ExportTestAllocateForTheSnapshot(std::vector<void *> *v) {
  for (int i = 0; i < 200; i++) v->push_back(ExportTestAllocateOne(100));   // [64, 128)
  for (int i = 0; i < 200; i++) v->push_back(ExportTestAllocateOne(5000));  // [4096, 8192)
  __asm__ volatile("" : : : "memory");
}

// Three leaking call sites, two named frames each (as above): A leaks
// 40 x 3000 bytes, B 25 x 1000, C 10 x 7000 but is suppressed by the
// test's XSMEM_LEAK_SUPPRESS (BUILD.bazel).
extern "C" __attribute__((noinline)) void *TrackerLeakAOne(size_t n) {
  void *p = malloc(n);
  __asm__ volatile("" : : "r"(p) : "memory");
  return p;
}
extern "C" __attribute__((noinline)) void TrackerLeakA(std::vector<void *> *v) {
  for (int i = 0; i < 40; i++) v->push_back(TrackerLeakAOne(3000));
  __asm__ volatile("" : : : "memory");
}
extern "C" __attribute__((noinline)) void *TrackerLeakBOne(size_t n) {
  void *p = malloc(n);
  __asm__ volatile("" : : "r"(p) : "memory");
  return p;
}
extern "C" __attribute__((noinline)) void TrackerLeakB(std::vector<void *> *v) {
  for (int i = 0; i < 25; i++) v->push_back(TrackerLeakBOne(1000));
  __asm__ volatile("" : : : "memory");
}
extern "C" __attribute__((noinline)) void *TrackerLeakSuppressedOne(size_t n) {
  void *p = malloc(n);
  __asm__ volatile("" : : "r"(p) : "memory");
  return p;
}
extern "C" __attribute__((noinline)) void TrackerLeakSuppressed(std::vector<void *> *v) {
  for (int i = 0; i < 10; i++) v->push_back(TrackerLeakSuppressedOne(7000));
  __asm__ volatile("" : : : "memory");
}

namespace {

bool Has(const char *s, const char *part) { return s && strstr(s, part) != nullptr; }

TEST(TrackerProvider, LeaksAreTheLeakReportByCallSite) {
  std::vector<void *> live;
  live.reserve(100);
  TrackerLeakB(&live);  // the smaller site first: order must come from the sizes
  TrackerLeakA(&live);
  TrackerLeakSuppressed(&live);
  xsmem_arena ar = XSMEM_ARENA_INIT;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar);
  ASSERT_NE(s, nullptr);
  ASSERT_GT(s->n_leaks, 0u);
  long a = -1, b = -1;
  for (size_t i = 0; i < s->n_leaks; i++) {
    const Xsmem__Leak *l = s->leaks[i];
    fprintf(stderr, "leak %zu: %llu bytes in %llu blocks at %s (%zu frames)\n", i, (unsigned long long)l->size,
            (unsigned long long)l->count, l->symbol, l->n_frames);
    EXPECT_EQ(l->address, 0u);  // call-site groups
    EXPECT_GE(l->count, 1u);
    EXPECT_STREQ(l->kind, "reachable") << "the test's vector still holds them";
    if (i) {
      EXPECT_GE(s->leaks[i - 1]->size, l->size) << "not largest first at " << i;
    }
    EXPECT_FALSE(Has(l->symbol, "TrackerLeakSuppressed")) << "XSMEM_LEAK_SUPPRESS not honoured";
    EXPECT_FALSE(Has(l->symbol, "malloc")) << "frames start inside the allocator";
    if (Has(l->symbol, "TrackerLeakA")) a = (long)i;
    if (Has(l->symbol, "TrackerLeakB")) b = (long)i;
  }
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_LT(a, b);
  EXPECT_EQ(s->leaks[a]->size, 40u * 3000);
  EXPECT_EQ(s->leaks[a]->count, 40u);
  EXPECT_EQ(s->leaks[b]->size, 25u * 1000);
  EXPECT_EQ(s->leaks[b]->count, 25u);
  ASSERT_GT(s->leaks[a]->n_frames, 0u);
  // The first frame is the one the symbol names (the program's, outside malloc).
  EXPECT_TRUE(Has(s->leaks[a]->symbol, "TrackerLeakA"));
  // Rendered: JSON carries the groups with their counts; Prometheus sums blocks.
  xsmem_buf j = XSMEM_BUF_INIT;
  xsmem_json_snapshot(s, &j);
  std::string js(j.data, j.len);
  EXPECT_NE(js.find("\"size\":120000,\"count\":40,"), std::string::npos) << js.substr(0, 200);
  xsmem_buf_free(&j);
  for (void *q : live) free(q);
  live.clear();
  // Freed: the sites drop out of the next snapshot.
  xsmem_arena ar2 = XSMEM_ARENA_INIT;
  Xsmem__Snapshot *s2 = xsmem_snapshot_collect(&ar2);
  ASSERT_NE(s2, nullptr);
  for (size_t i = 0; i < s2->n_leaks; i++) {
    EXPECT_FALSE(Has(s2->leaks[i]->symbol, "TrackerLeakA")) << "freed blocks still reported";
  }
  xsmem_arena_free(&ar2);
  xsmem_arena_free(&ar);
}

TEST(TrackerProvider, HistogramAndCallSitesComeFromTheTracker) {
  const xsmem_analysis_provider *p = xsmem_export_provider();
  ASSERT_NE(p, nullptr);
  EXPECT_STREQ(p->name, "tracker");
  std::vector<void *> live;
  live.reserve(400);
  ExportTestAllocateForTheSnapshot(&live);
  xsmem_arena ar = XSMEM_ARENA_INIT;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(s->config, "system_tracked");
  EXPECT_STREQ(s->analysis_source, "tracker");
  uint64_t b64 = 0, b4k = 0;
  for (size_t i = 0; i < s->n_histogram; i++) {
    if (s->histogram[i]->lower == 64) b64 = s->histogram[i]->count;
    if (s->histogram[i]->lower == 4096) b4k = s->histogram[i]->count;
  }
  EXPECT_GE(b64, 200u);
  EXPECT_GE(b4k, 200u);
  ASSERT_GT(s->n_call_sites, 0u);
  // The sites of our two loops: 200 x 5000 bytes live (and 200 x 100). The
  // tracker may also attribute a few other blocks to these frames.
  uint64_t ours = 0;
  for (size_t i = 0; i < s->n_call_sites; i++) {
    if (std::string(s->call_sites[i]->symbol).find("ExportTestAllocate") != std::string::npos &&
        s->call_sites[i]->live_bytes > ours)
      ours = s->call_sites[i]->live_bytes;
  }
  if (ours < 200u * 5000) {
    for (size_t i = 0; i < s->n_call_sites; i++) {
      fprintf(stderr, "site %zu %s live %llu frames %zu\n", i, s->call_sites[i]->symbol,
              (unsigned long long)s->call_sites[i]->live_bytes, s->call_sites[i]->n_frames);
    }
  }
  EXPECT_GE(ours, 200u * 5000);
  xsmem_buf b = XSMEM_BUF_INIT;
  xsmem_prometheus(s, &b);
  // The tracker's own size buckets, as its histogram in /metrics: the 64-byte
  // blocks are in le="127".
  std::string text(b.data, b.len);
  const std::string bucket =
      "xsmem_request_size_bytes_bucket{allocator=\"system_tracked\",config=\"system_tracked\",le=\"127\"} ";
  size_t at = text.find(bucket);
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_GE(std::stoull(text.substr(at + bucket.size())), 200u);
  xsmem_buf_free(&b);
  xsmem_arena_free(&ar);
  for (void *q : live) free(q);
}

}  // namespace
