// export/export_benchmark.cc: what one snapshot costs, per stage.
//   ./bazelw run //export:export_benchmark
// The process holds the `os` configuration, one added allocator reporting 200
// detail values (50 size classes x 4 keys), and a provider with 48 histogram
// buckets and 32 call sites: about what a dashboard poll or a /metrics scrape
// of a tracked bfc process collects.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

extern "C" {
#include "export/buf.h"
#include "export/format.h"
#include "export/provider.h"
#include "export/snapshot.h"
#include "export/testing/fake_allocator.h"
}

namespace {

std::vector<std::string> *g_labels;
xsmem_fake_allocator g_fake;

const uint64_t kFrames[8] = {1, 2, 3, 4, 5, 6, 7, 8};
void Hist(void *, xsmem_analysis_sink *s) {
  for (uint64_t k = 0; k < 48; k++) {
    xsmem_hist_bucket b = {k ? 1ull << k : 0, 1ull << (k + 1), 100 * k, 1000 * k, k, 10 * k};
    s->bucket(s, &b);
  }
}
void Sites(void *, size_t max, xsmem_analysis_sink *s) {
  for (size_t i = 0; i < max; i++) {
    xsmem_call_site c = {kFrames, 8, "some_function+0x42 (libapp.so)", 100, 1000, 10, 100};
    s->call_site(s, &c);
  }
}
const xsmem_analysis_provider kProvider = {"bench", nullptr, Hist, nullptr, Sites, nullptr};

void Setup() {
  if (g_labels) return;
  g_labels = new std::vector<std::string>();
  xsmem_fake_init(&g_fake, "bench_bfc", "bfc");
  g_fake.stats.num_allocs = 123456;
  for (int c = 0; c < 50; c++) g_labels->push_back(std::to_string(16 * (c + 1)));
  // The fake holds 32 values; the other 168 come from a second pass below.
  xsmem_export_add_allocator(&g_fake.base);
  xsmem_export_set_provider(&kProvider);
}

struct Detail200 {
  xsmem_allocator base;
};
void Detail200Stats(const xsmem_allocator *, xsmem_stats *out) { *out = g_fake.stats; }
void Detail200Detail(const xsmem_allocator *, xsmem_stats_sink *sink) {
  static const char *keys[4] = {"bytes_in_use", "bytes_cached", "allocs", "frees"};
  for (auto &l : *g_labels) {
    for (int k = 0; k < 4; k++) sink->value(sink, "class", l.c_str(), keys[k], k >= 2 ? "counter" : "gauge", 1234);
  }
}
xsmem_allocator_ops g_ops;
Detail200 g_detail;

void SetupDetail() {
  Setup();
  if (g_ops.stats) return;
  g_ops = *g_fake.base.ops;
  g_ops.kind = "bench";
  g_ops.stats = Detail200Stats;
  g_ops.detail = Detail200Detail;
  g_detail.base.ops = &g_ops;
  g_detail.base.name = "bench_classes";
  xsmem_export_add_allocator(&g_detail.base);
}

void BM_Collect(benchmark::State &state) {
  SetupDetail();
  for (auto _ : state) {
    xsmem_arena ar = XSMEM_ARENA_INIT;
    benchmark::DoNotOptimize(xsmem_snapshot_collect(&ar));
    xsmem_arena_free(&ar);
  }
}
BENCHMARK(BM_Collect);

template <int kFormat>
void BM_Render(benchmark::State &state) {
  SetupDetail();
  xsmem_arena ar = XSMEM_ARENA_INIT;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar);
  size_t bytes = 0;
  for (auto _ : state) {
    xsmem_buf b = XSMEM_BUF_INIT;
    if (kFormat == 0) xsmem_prometheus(s, &b);
    if (kFormat == 1) xsmem_json_snapshot(s, &b);
    if (kFormat == 2) xsmem_snapshot_pack(s, false, &b);
    bytes = b.len;
    xsmem_buf_free(&b);
  }
  state.counters["output_bytes"] = bytes;
  xsmem_arena_free(&ar);
}
BENCHMARK_TEMPLATE(BM_Render, 0)->Name("BM_Prometheus");
BENCHMARK_TEMPLATE(BM_Render, 1)->Name("BM_Json");
BENCHMARK_TEMPLATE(BM_Render, 2)->Name("BM_ProtobufPack");

}  // namespace
