// Overhead of the tracker on a larson-style workload: each thread keeps 1000
// live blocks and repeatedly frees a random one and allocates a random size in
// [16, 1024). The untracked run calls the system allocator directly; the
// others go through a tracker over the same allocator.
//   bazel run -c opt //tracking:tracker_benchmark -- --benchmark_repetitions=5
#include <string.h>

#include <mutex>
#include <random>
#include <vector>

#include "allocators/system/system.h"
#include "benchmark/benchmark.h"
#include "tracking/tracker.h"

namespace {

enum Mode { kUntracked, kSample, kSampleGuarded, kFull, kFullBacktrace };

xsmem_allocator *Allocator(Mode m) {
  static xsmem_allocator *made[5];
  static std::once_flag once[5];
  std::call_once(once[m], [m] {
    xsmem_tracker_options o;
    memset(&o, 0, sizeof(o));
    o.sample_bytes = XSMEM_TRACK_DEFAULT_SAMPLE_BYTES;
    o.quarantine_bytes = 4 << 20;
    o.depth = 8;
    o.guard_slots = 64;
    o.timeline_ms = 100;
    switch (m) {
      case kUntracked: made[m] = xsmem_system_allocator(); return;
      case kSample: o.mode = XSMEM_TRACK_SAMPLE; break;
      case kSampleGuarded:
        o.mode = XSMEM_TRACK_SAMPLE;
        o.guard_sample_rate = 5000;
        break;
      case kFull: o.mode = XSMEM_TRACK_FULL; break;
      case kFullBacktrace:
        o.mode = XSMEM_TRACK_FULL;
        o.unwind = XSMEM_UNWIND_BACKTRACE;
        break;
    }
    made[m] = xsmem_tracker_create(xsmem_system_allocator(), &o, "bench");
  });
  return made[m];
}

void BM_Larson(benchmark::State &state) {
  xsmem_allocator *a = Allocator(static_cast<Mode>(state.range(0)));
  constexpr int kSlots = 1000;
  std::vector<void *> slots(kSlots);
  std::minstd_rand rng(state.thread_index() + 1);
  for (auto &p : slots) p = xsmem_alloc(a, 16 + rng() % 1008, 16, 0);
  for (auto _ : state) {
    void *&p = slots[rng() % kSlots];
    xsmem_free(a, p);
    size_t n = 16 + rng() % 1008;
    p = xsmem_alloc(a, n, 16, 0);
    static_cast<char *>(p)[0] = 1;  // touch, as a program would
  }
  for (auto &p : slots) xsmem_free(a, p);
  state.SetItemsProcessed(state.iterations());
}

void Modes(benchmark::internal::Benchmark *b) {
  for (int m : {kUntracked, kSample, kSampleGuarded, kFull, kFullBacktrace}) b->Arg(m);
}

BENCHMARK(BM_Larson)->Apply(Modes)->ArgName("mode")->Threads(1)->Threads(2)->UseRealTime();

// The cost of one stack capture, by unwinder (0 fp, 1 backtrace, 2 dwarf)
// and frames kept at most; the frames counter is the depth reached.
void BM_Capture(benchmark::State &state) {
  uintptr_t frames[XSMEM_TRACK_MAX_DEPTH];
  unsigned max = static_cast<unsigned>(state.range(1)), n = 0;
  for (auto _ : state) {
    n = xsmem_tracker_capture(frames, max, static_cast<xsmem_track_unwind>(state.range(0)));
    benchmark::DoNotOptimize(n);
  }
  state.counters["frames"] = n;
}
BENCHMARK(BM_Capture)
    ->ArgsProduct({{XSMEM_UNWIND_FP, XSMEM_UNWIND_BACKTRACE, XSMEM_UNWIND_DWARF}, {8, 32}})
    ->ArgNames({"unwind", "max"});

}  // namespace

namespace {
// A fixed amount of work per mode, for instruction counts under callgrind
// (stable where time on a shared machine is not):
//   valgrind --tool=callgrind tracker_benchmark --benchmark_filter='LarsonFixed/mode:1$'
void BM_LarsonFixed(benchmark::State &state) { BM_Larson(state); }
BENCHMARK(BM_LarsonFixed)->Apply(Modes)->ArgName("mode")->Iterations(200000);
}  // namespace
