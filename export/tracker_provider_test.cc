// export/tracker_provider_test.cc: the tracker's analyses reach the snapshot.
// Linked with the system_tracked configuration serving malloc, in full mode.
#include <stdio.h>
#include <stdlib.h>

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

namespace {

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
  EXPECT_NE(std::string(b.data, b.len).find("xsmem_alloc_size_bytes_bucket{le=\"127\"}"), std::string::npos);
  xsmem_buf_free(&b);
  xsmem_arena_free(&ar);
  for (void *q : live) free(q);
}

}  // namespace
