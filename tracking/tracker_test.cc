// Unit tests of the tracker over the system allocator (no shim: the test
// itself calls the decorator): modes and options, call sites and leaks,
// sampled estimates, analyses, concurrency. Full mode's checks are tested in
// tracker_checks_test.cc, guarded sampling in guarded_test.cc.
#include "tracking/tracker.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "allocators/system/system.h"
#include "gtest/gtest.h"
#include "tests/testing/detail.h"
#include "tracking/testing.h"

namespace {

// Reads what fn writes to a file descriptor.
template <typename F>
std::string Capture(F fn) {
  char path[] = "/tmp/xsmem_tracker_testXXXXXX";
  int fd = mkstemp(path);
  unlink(path);
  fn(fd);
  std::string out;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

TEST(Tracker, OffModeReturnsTheInnerAllocator) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_OFF);
  EXPECT_EQ(xsmem_tracker_create(xsmem_system_allocator(), &o, "x"), xsmem_system_allocator());
  o.guard_sample_rate = 10;
  xsmem_allocator *t = xsmem_tracker_create(xsmem_system_allocator(), &o, "x");
  EXPECT_TRUE(xsmem_is_tracker(t));
  t->ops->destroy(t);
}

TEST(Tracker, BadOptionsAreRejected) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  o.depth = 0;
  errno = 0;
  EXPECT_EQ(xsmem_tracker_create(xsmem_system_allocator(), &o, "x"), nullptr);
  EXPECT_EQ(errno, EINVAL);
  o = Options(XSMEM_TRACK_SAMPLE);
  o.sample_bytes = 0;
  EXPECT_EQ(xsmem_tracker_create(xsmem_system_allocator(), &o, "x"), nullptr);
  o = Options(XSMEM_TRACK_FULL);
  o.depth = XSMEM_TRACK_MAX_DEPTH + 1;
  EXPECT_EQ(xsmem_tracker_create(xsmem_system_allocator(), &o, "x"), nullptr);
}

TEST(Tracker, CaptureNamesTheCaller) {
  uintptr_t frames[8];
  for (auto how : {XSMEM_UNWIND_FP, XSMEM_UNWIND_BACKTRACE}) {
    unsigned n = xsmem_tracker_capture(frames, 8, how);
    ASSERT_GE(n, 2u);
    char buf[256];
    std::string top = xsmem_tracker_symbolize(frames[0], buf, sizeof(buf));
    EXPECT_NE(top.find("CaptureNamesTheCaller"), std::string::npos) << top << " unwind " << how;
  }
}

// One call line per function, so each function is one call site.
__attribute__((noinline)) void *AllocVia(void *(*fn)(xsmem_allocator *, size_t), xsmem_allocator *t, size_t n) {
  void *p = fn(t, n);
  __asm__ volatile("" ::: "memory");
  return p;
}

// Pushes n blocks of `bytes` from fn onto keep (memory the leak scan does
// not read: the blocks are definitely lost), then overwrites the dead stack
// its frames used, where a conservative scan would find their pointers.
__attribute__((noinline)) void KeepOnly(std::vector<void *> *keep, void *(*fn)(xsmem_allocator *, size_t),
                                        xsmem_allocator *t, size_t bytes, int n);
__attribute__((noinline)) void ScrubStack() {
  volatile char buf[16384];
  memset((char *)buf, 0, sizeof(buf));
  __asm__ volatile("" : : "r"(buf) : "memory");
}
__attribute__((noinline)) void KeepOnlyInner(std::vector<void *> *keep, void *(*fn)(xsmem_allocator *, size_t),
                                             xsmem_allocator *t, size_t bytes, int n) {
  for (int i = 0; i < n; i++) keep->push_back(AllocVia(fn, t, bytes));
}
void KeepOnly(std::vector<void *> *keep, void *(*fn)(xsmem_allocator *, size_t), xsmem_allocator *t, size_t bytes,
              int n) {
  KeepOnlyInner(keep, fn, t, bytes, n);
  ScrubStack();
}

TEST(Tracker, FullModeRecordsSitesAndReportsLeaksLargestFirst) {
  // Two frames: the allocating function and AllocVia, whatever line (or
  // unrolled loop copy) of the test called them.
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  o.depth = 2;
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
  std::vector<void *> keep;
  void *freed = AllocVia(tracker_test_other_site, t, 777);
  EXPECT_EQ(xsmem_usable_size(t, freed), 777u);
  xsmem_free(t, freed);
  KeepOnly(&keep, tracker_test_leak_here, t, 5000, 2);
  KeepOnly(&keep, tracker_test_other_site, t, 100, 3);

  xsmem_track_summary s;
  xsmem_tracker_summary(t, &s);
  EXPECT_EQ(s.records, 5u);
  EXPECT_DOUBLE_EQ(s.live_bytes, 10300);
  EXPECT_DOUBLE_EQ(s.total_count, 6);

  xsmem_track_site sites[4];
  ASSERT_EQ(xsmem_tracker_top_sites(t, XSMEM_BY_LIVE_BYTES, sites, 4), 2u);
  EXPECT_DOUBLE_EQ(sites[0].live_bytes, 10000);
  EXPECT_DOUBLE_EQ(sites[0].live_count, 2);
  EXPECT_DOUBLE_EQ(sites[0].peak_bytes, 10000);
  EXPECT_DOUBLE_EQ(sites[1].live_bytes, 300);
  EXPECT_DOUBLE_EQ(sites[1].total_bytes, 1077);
  EXPECT_DOUBLE_EQ(sites[1].total_count, 4);
  EXPECT_DOUBLE_EQ(sites[1].peak_bytes, 777);  // the 777 bytes, freed before the three 100s came

  std::string text = Capture([&](int fd) { xsmem_tracker_leak_report(t, fd, XSMEM_REPORT_TEXT, 10); });
  EXPECT_NE(text.find("): 10300 bytes in 5 blocks lost, from 2 groups: definitely lost 10300 bytes in 5 blocks"),
            std::string::npos)
      << text;
  size_t a = text.find("tracker_test_leak_here"), b = text.find("tracker_test_other_site");
  ASSERT_NE(a, std::string::npos) << text;
  ASSERT_NE(b, std::string::npos) << text;
  EXPECT_LT(a, b) << "largest first";
  EXPECT_NE(text.find("#0 "), std::string::npos);
  std::string json = Capture([&](int fd) { xsmem_tracker_leak_report(t, fd, XSMEM_REPORT_JSON, 10); });
  EXPECT_EQ(json.rfind("{\"allocator\":\"test_tracker\",\"mode\":\"full\",\"leaked_bytes\":10300,", 0), 0u) << json;
  EXPECT_NE(json.find("\"symbol\":\"tracker_test_leak_here+0x"), std::string::npos) << json;

  for (void *p : keep) xsmem_free(t, p);
  text = Capture([&](int fd) { xsmem_tracker_leak_report(t, fd, XSMEM_REPORT_TEXT, 10); });
  EXPECT_NE(text.find("no leaks"), std::string::npos) << text;
  t->ops->destroy(t);
}

TEST(Tracker, LeaksAsDataAreTheReportsGroups) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  o.depth = 2;
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
  std::vector<void *> keep;
  KeepOnly(&keep, tracker_test_other_site, t, 100, 3);
  KeepOnly(&keep, tracker_test_leak_here, t, 5000, 2);
  xsmem_track_leak out[4];
  xsmem_track_leak_totals tot;
  ASSERT_EQ(xsmem_tracker_leaks(t, out, 4, &tot), 2u);
  EXPECT_DOUBLE_EQ(out[0].bytes, 10000);  // largest first
  EXPECT_DOUBLE_EQ(out[0].count, 2);
  EXPECT_DOUBLE_EQ(out[1].bytes, 300);
  EXPECT_DOUBLE_EQ(out[1].count, 3);
  EXPECT_EQ(strncmp(out[0].symbol, "tracker_test_leak_here+0x", 25), 0) << out[0].symbol;
  EXPECT_EQ(strncmp(out[1].symbol, "tracker_test_other_site+0x", 26), 0) << out[1].symbol;
  ASSERT_GE(out[0].depth, 1u);
  char sym[192];
  EXPECT_STREQ(xsmem_tracker_symbolize(out[0].frames[0], sym, sizeof(sym)), out[0].symbol)
      << "frames start at the site";
  EXPECT_DOUBLE_EQ(tot.bytes, 10300);
  EXPECT_DOUBLE_EQ(tot.count, 5);
  EXPECT_EQ(tot.sites, 2u);
  EXPECT_EQ(tot.suppressed_sites, 0u);
  // max bounds what is written, not the totals.
  ASSERT_EQ(xsmem_tracker_leaks(t, out, 1, &tot), 1u);
  EXPECT_DOUBLE_EQ(out[0].bytes, 10000);
  EXPECT_EQ(tot.sites, 2u);
  for (void *p : keep) xsmem_free(t, p);
  EXPECT_EQ(xsmem_tracker_leaks(t, out, 4, nullptr), 0u);
  t->ops->destroy(t);
}

// ---------------------------------------------------------------------------
// Sampling: estimates against the truth.

TEST(Tracker, SampledEstimatesAreUnbiased) {
  // A 16 KiB mean interval T over about 440 MB allocated: about 23 000
  // samples (the sum of the blocks' probabilities). The sampler is seeded from the clock, so every bound must hold
  // by a wide margin. Standard errors (variance of a Horvitz-Thompson sum,
  // sum of s^2 (1-p)/p with p = 1-exp(-s/T)): byte total 0.6% (bound 6%, 10
  // sigma), live bytes 0.9% (8%, 9 sigma), sample count 0.6% (10%, 16 sigma).
  // The count carries the most (a block of s bytes stands for up to T/s):
  // 1.9%, bound 10%, 5 sigma. (At a 64 KiB interval it was 3.8%: 2.6 sigma,
  // and about one run in a hundred failed.) Twenty runs measured 0.47%,
  // 1.8%, 0.75% and 0.48%.
  xsmem_tracker_options o = Options(XSMEM_TRACK_SAMPLE);
  o.sample_bytes = 16 * 1024;
  xsmem_allocator *t = Make(XSMEM_TRACK_SAMPLE, &o);
  std::mt19937_64 rng(7);
  std::vector<void *> live;
  double true_bytes = 0, true_count = 0, live_bytes = 0, expected_samples = 0;
  for (int i = 0; i < 400000; i++) {
    size_t n = (rng() % 4 == 0) ? 1 + rng() % 8192 : 16 + rng() % 256;
    void *p = xsmem_alloc(t, n, 16, 0);
    true_bytes += n;
    true_count += 1;
    expected_samples += 1 - exp(-double(n) / o.sample_bytes);  // each block's sampling probability
    if (i % 2 == 0) {
      live.push_back(p);
      live_bytes += n;
    } else {
      xsmem_free(t, p);
    }
  }
  xsmem_track_summary s;
  xsmem_tracker_summary(t, &s);
  EXPECT_NEAR(s.total_bytes / true_bytes, 1.0, 0.06) << s.total_bytes << " vs " << true_bytes;
  EXPECT_NEAR(s.total_count / true_count, 1.0, 0.10) << s.total_count << " vs " << true_count;
  EXPECT_NEAR(s.live_bytes / live_bytes, 1.0, 0.08) << s.live_bytes << " vs " << live_bytes;
  EXPECT_NEAR(double(s.sampled) / expected_samples, 1.0, 0.1);
  double counts[XSMEM_TRACK_HIST_BUCKETS], bytes[XSMEM_TRACK_HIST_BUCKETS];
  xsmem_tracker_histogram(t, counts, bytes);
  double hist_bytes = 0;
  for (double b : bytes) hist_bytes += b;
  EXPECT_NEAR(hist_bytes / true_bytes, 1.0, 0.06);
  for (void *p : live) xsmem_free(t, p);
  xsmem_tracker_summary(t, &s);
  EXPECT_EQ(s.records, 0u);
  t->ops->destroy(t);
}

// ---------------------------------------------------------------------------
// Analyses and the detail op.

// The timeline keeps its first point and drops every other one when full.
// Only explicit ticks record here (the interval is long), one allocation
// before each, so a point's allocs numbers it.
TEST(Tracker, TimelineDecimatesWhenFull) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  o.timeline_ms = 1000000;
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
  std::vector<xsmem_track_point> pts(600);
  ASSERT_EQ(xsmem_tracker_timeline(t, pts.data(), pts.size()), 1u);  // the creation point
  uint64_t base = pts[0].allocs;
  std::vector<void *> keep;
  for (int i = 1; i <= 511; i++) {
    keep.push_back(xsmem_alloc(t, 16, 16, 0));
    xsmem_tracker_tick(t);
  }
  size_t n = xsmem_tracker_timeline(t, pts.data(), pts.size());
  ASSERT_EQ(n, 512u);  // full, nothing dropped yet
  for (size_t i = 0; i < n; i++) ASSERT_EQ(pts[i].allocs - base, i);
  keep.push_back(xsmem_alloc(t, 16, 16, 0));
  xsmem_tracker_tick(t);  // point 512: the first half of the points stays
  n = xsmem_tracker_timeline(t, pts.data(), pts.size());
  ASSERT_EQ(n, 257u);
  for (size_t i = 0; i < 256; i++) ASSERT_EQ(pts[i].allocs - base, 2 * i) << i;
  EXPECT_EQ(pts[256].allocs - base, 512u);
  for (int i = 0; i < 1000; i++) {
    keep.push_back(xsmem_alloc(t, 16, 16, 0));
    xsmem_tracker_tick(t);
  }
  n = xsmem_tracker_timeline(t, pts.data(), pts.size());
  EXPECT_LE(n, 512u);
  EXPECT_GT(n, 256u);
  EXPECT_EQ(pts[0].allocs, base);  // still starts at the creation point
  EXPECT_EQ(pts[n - 1].allocs - base, 1512u);
  for (size_t i = 1; i < n; i++) ASSERT_GT(pts[i].allocs, pts[i - 1].allocs) << i;
  // The newest max points when max is smaller.
  xsmem_track_point last[4];
  ASSERT_EQ(xsmem_tracker_timeline(t, last, 4), 4u);
  EXPECT_EQ(last[3].allocs, pts[n - 1].allocs);
  EXPECT_EQ(last[0].allocs, pts[n - 4].allocs);
  for (void *p : keep) xsmem_free(t, p);
  t->ops->destroy(t);
}

// Temporary allocations, as heaptrack counts them (per thread here): a block
// freed before its thread allocates again. Sites freed by exit keep their
// figures over the run (total bytes and blocks).
TEST(Tracker, TemporaryAllocationsPerSite) {
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
  for (int i = 0; i < 10; i++) xsmem_free(t, tracker_test_leak_here(t, 100));  // each one temporary
  std::vector<void *> keep;
  for (int i = 0; i < 10; i++) keep.push_back(tracker_test_other_site(t, 200));
  for (void *p : keep) xsmem_free(t, p);  // the last one allocated is freed first: one temporary
  xsmem_track_site sites[4];
  ASSERT_EQ(xsmem_tracker_top_sites(t, XSMEM_BY_TOTAL_BYTES, sites, 4), 2u);
  EXPECT_EQ(sites[0].total_bytes, 2000);  // other_site: all freed, still listed by total
  EXPECT_EQ(sites[0].live_bytes, 0);
  EXPECT_EQ(sites[0].temporary, 0);  // its first free came after nine more allocations
  EXPECT_EQ(sites[1].total_count, 10);
  EXPECT_EQ(sites[1].temporary, 10);
  std::thread([&] {
    void *p = tracker_test_leak_here(t, 100);
    void *q = tracker_test_leak_here(t, 100);
    xsmem_free(t, q);  // temporary
    xsmem_free(t, p);  // not: q was allocated after it
  }).join();
  ASSERT_EQ(xsmem_tracker_top_sites(t, XSMEM_BY_TOTAL_BYTES, sites, 4), 4u);  // two more stacks
  double temporary = 0;
  for (const xsmem_track_site &s : sites) temporary += s.temporary;
  EXPECT_EQ(temporary, 11);
  t->ops->destroy(t);
}

TEST(Tracker, HistogramTimelineAndDetail) {
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL);
  std::vector<void *> keep;
  for (int i = 0; i < 10; i++) keep.push_back(tracker_test_leak_here(t, 100));   // bucket 64
  for (int i = 0; i < 5; i++) keep.push_back(tracker_test_other_site(t, 5000));  // bucket 4096
  double counts[XSMEM_TRACK_HIST_BUCKETS], bytes[XSMEM_TRACK_HIST_BUCKETS];
  xsmem_tracker_histogram(t, counts, bytes);
  EXPECT_EQ(counts[6], 10);
  EXPECT_EQ(bytes[6], 1000);
  EXPECT_EQ(counts[12], 5);
  // What is live per bucket: all of them, then the 100-byte ones once freed
  // (the exporter's histogram showed live 0 everywhere).
  double live_counts[XSMEM_TRACK_HIST_BUCKETS], live_bytes[XSMEM_TRACK_HIST_BUCKETS];
  xsmem_tracker_live_histogram(t, live_counts, live_bytes);
  EXPECT_EQ(live_counts[6], 10);
  EXPECT_EQ(live_bytes[12], 25000);
  usleep(2000);
  xsmem_tracker_tick(t);
  xsmem_track_point pts[16];
  size_t n = xsmem_tracker_timeline(t, pts, 16);
  ASSERT_GE(n, 2u);
  EXPECT_GT(pts[n - 1].time_ns, pts[0].time_ns);
  EXPECT_GE(pts[n - 1].allocs - pts[0].allocs, 15u);
  EXPECT_GE(pts[n - 1].bytes_in_use, pts[0].bytes_in_use + 26000);

  xsmem::testing::Detail d(t);
  EXPECT_EQ(d.Get("tracker", "full", "records"), 15);
  EXPECT_EQ(d.Get("size_histogram", "64", "count"), 10);
  EXPECT_EQ(d.Get("size_histogram", "4096", "bytes"), 25000);
  EXPECT_GE(d.Labels("timeline").size(), 1u);
  bool found = false;
  for (const std::string &site : d.Labels("callsite")) {
    if (site.find("tracker_test_other_site") != std::string::npos) {
      found = true;
      EXPECT_EQ(d.Get("callsite", site, "live_bytes"), 25000);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(d.HasGroup("fragmentation"));
  for (int i = 0; i < 10; i++) xsmem_free(t, keep[i]);
  keep.erase(keep.begin(), keep.begin() + 10);
  xsmem_tracker_live_histogram(t, live_counts, live_bytes);
  EXPECT_EQ(live_counts[6], 0);
  EXPECT_EQ(live_counts[12], 5);
  xsmem_tracker_histogram(t, counts, bytes);
  EXPECT_EQ(counts[6], 10);  // allocations over the run stay
  for (void *p : keep) xsmem_free(t, p);
  t->ops->destroy(t);
}

// ---------------------------------------------------------------------------
// Concurrency (run under --config=tsan too).

TEST(Tracker, ThreadsAllocateAndFreeAcrossEachOther) {
  for (auto mode : {XSMEM_TRACK_SAMPLE, XSMEM_TRACK_FULL}) {
    xsmem_tracker_options o = Options(mode);
    o.sample_bytes = 4096;
    o.guard_sample_rate = 97;
    // Full mode's figures are read back per site below: two frames keep the
    // sites few (deeper, a walk past frames without frame pointers, as
    // under TSan, may end on varying words and split a site).
    if (mode == XSMEM_TRACK_FULL) o.depth = 2;
    o.quarantine_bytes = 8 * 16 * 1024;  // blocks leave it (back to the inner allocator) soon
    xsmem_allocator *t = Make(mode, &o);
    constexpr int kThreads = 4, kOps = 20000;
    std::vector<std::atomic<void *>> mailbox(256);
    std::vector<std::thread> ts;
    for (int k = 0; k < kThreads; k++) {
      ts.emplace_back([&, k] {
        std::mt19937 rng(k);
        for (int i = 0; i < kOps; i++) {
          size_t n = 1 + rng() % 2000;
          auto *p = static_cast<uint8_t *>(xsmem_alloc(t, n, 16, 0));
          memset(p, 1, n);
          void *old = mailbox[rng() % mailbox.size()].exchange(p);
          if (old) xsmem_free(t, old);  // often another thread's block
        }
      });
    }
    // Full mode: walks of the live set (check, summary) run while blocks are
    // freed and, leaving a small quarantine, go back to the inner allocator,
    // which writes over their headers: a walk must never read one of those.
    // And site figures are read while the tallies change.
    std::atomic<bool> done{false};
    std::thread reader;
    if (mode == XSMEM_TRACK_FULL) {
      // Site figures read while the threads' tallies move changes to their
      // sites: each allocation counted once, so a site total never falls.
      reader = std::thread([&] {
        std::vector<xsmem_track_site> snap(64);
        double before = 0;
        while (!done.load()) {
          EXPECT_EQ(xsmem_tracker_check(t), 0u);
          xsmem_track_summary s;
          xsmem_tracker_summary(t, &s);
          size_t n = xsmem_tracker_top_sites(t, XSMEM_BY_TOTAL_BYTES, snap.data(), snap.size());
          double total = 0;
          for (size_t i = 0; i < n; i++) total += snap[i].total_count;
          EXPECT_GE(total, before);
          EXPECT_LE(total, kThreads * kOps);
          before = total;
        }
      });
    }
    for (auto &th : ts) th.join();
    done.store(true);
    if (reader.joinable()) reader.join();
    for (auto &m : mailbox) {
      if (void *p = m.exchange(nullptr)) xsmem_free(t, p);
    }
    xsmem_track_summary s;
    xsmem_tracker_summary(t, &s);
    EXPECT_EQ(s.records, 0u);
    EXPECT_EQ(s.errors, 0u);
    EXPECT_EQ(xsmem_tracker_check(t), 0u);
    if (mode == XSMEM_TRACK_FULL) {
      // Every thread's batched figures (tallies) are in what is read: all
      // allocations counted once, none live, whichever thread freed them.
      double total = 0, live = 0;
      std::vector<xsmem_track_site> sites(64);
      size_t n = xsmem_tracker_top_sites(t, XSMEM_BY_TOTAL_BYTES, sites.data(), sites.size());
      for (size_t i = 0; i < n; i++) {
        total += sites[i].total_count;
        live += sites[i].live_count;
      }
      EXPECT_EQ(total + s.guarded_allocs, kThreads * kOps);
      EXPECT_EQ(live, 0);
      EXPECT_EQ(s.total_count + s.guarded_allocs, kThreads * kOps);
    }
    t->ops->destroy(t);
  }
}

// More threads than the tracker has tallies, one after another, each
// leaving blocks live and freeing one made by the thread before it: the
// tallies of exited threads are adopted with their pending figures, and the
// figures read stay exact.
TEST(Tracker, ExitedThreadsTalliesAreAdoptedExactly) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  o.depth = 2;  // the allocating function and the line of the lambda
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
  constexpr int kThreads = 300;
  void *carried = nullptr;
  std::vector<void *> keep;
  for (int k = 0; k < kThreads; k++) {
    std::thread([&] {
      keep.push_back(tracker_test_leak_here(t, 10));
      keep.push_back(tracker_test_leak_here(t, 20));
      if (carried) xsmem_free(t, carried);
      carried = tracker_test_leak_here(t, 30);
    }).join();
  }
  // Three call sites (three lines of the lambda), largest live bytes first.
  xsmem_track_site sites[4];
  ASSERT_EQ(xsmem_tracker_top_sites(t, XSMEM_BY_LIVE_BYTES, sites, 4), 3u);
  const double kLive[3] = {20.0 * kThreads, 10.0 * kThreads, 30};
  const double kCount[3] = {kThreads, kThreads, 1};
  for (int i = 0; i < 3; i++) {
    EXPECT_DOUBLE_EQ(sites[i].live_bytes, kLive[i]) << i;
    EXPECT_DOUBLE_EQ(sites[i].live_count, kCount[i]) << i;
    EXPECT_DOUBLE_EQ(sites[i].total_count, kThreads) << i;
    EXPECT_DOUBLE_EQ(sites[i].peak_bytes, kLive[i]) << i;  // each only grew (the last: one at a time)
  }
  double counts[XSMEM_TRACK_HIST_BUCKETS], bytes[XSMEM_TRACK_HIST_BUCKETS];
  xsmem_tracker_histogram(t, counts, bytes);
  EXPECT_EQ(counts[3], kThreads);      // 10 bytes
  EXPECT_EQ(counts[4], 2 * kThreads);  // 20 and 30 bytes
  EXPECT_EQ(bytes[4], 50.0 * kThreads);
  for (void *p : keep) xsmem_free(t, p);
  xsmem_free(t, carried);
  t->ops->destroy(t);
}

// One call site per N: 32 sites share a tally's 16 entries, so the threads
// below keep moving their pending figures to the sites.
template <int N>
__attribute__((noinline)) void *AllocAtSite(xsmem_allocator *t, size_t n) {
  void *p = xsmem_alloc(t, n, 16, 0);
  __asm__ volatile("" ::: "memory");  // keep the frame (no tail call)
  return p;
}

template <int... N>
constexpr std::array<void *(*)(xsmem_allocator *, size_t), sizeof...(N)> SiteFunctions(
    std::integer_sequence<int, N...>) {
  return {&AllocAtSite<N>...};
}

// Site figures read while every thread's tally flushes entries to the sites
// (and takes them over for others): each allocation is counted once at every
// moment, so the total read never falls nor passes the truth, and ends exact.
TEST(Tracker, SiteFiguresStayExactWhileTalliesFlush) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  o.depth = 1;  // the AllocAtSite<N> frame: one site per N
  o.quarantine_bytes = 0;
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
  constexpr auto kSites = SiteFunctions(std::make_integer_sequence<int, 32>());
  constexpr int kThreads = 3, kOps = 30000;
  std::vector<std::atomic<void *>> mailbox(64);
  std::atomic<bool> done{false};
  // Allocations returned so far: a read's total lies between the count
  // before it and the count after it plus one in flight per thread.
  std::atomic<int> returned{0};
  std::thread reader([&] {
    std::vector<xsmem_track_site> snap(64);
    while (!done.load()) {
      int low = returned.load();
      size_t n = xsmem_tracker_top_sites(t, XSMEM_BY_TOTAL_BYTES, snap.data(), snap.size());
      int high = returned.load() + kThreads;
      double total = 0;
      for (size_t i = 0; i < n; i++) total += snap[i].total_count;
      ASSERT_GE(total, low);
      ASSERT_LE(total, high);
    }
  });
  std::vector<std::thread> ts;
  for (int k = 0; k < kThreads; k++) {
    ts.emplace_back([&, k] {
      std::mt19937 rng(k);
      for (int i = 0; i < kOps; i++) {
        void *p = kSites[rng() % kSites.size()](t, 16 + rng() % 64);
        returned.fetch_add(1);
        if (void *old = mailbox[rng() % mailbox.size()].exchange(p)) xsmem_free(t, old);
      }
    });
  }
  for (auto &th : ts) th.join();
  done.store(true);
  reader.join();
  for (auto &m : mailbox) {
    if (void *p = m.exchange(nullptr)) xsmem_free(t, p);
  }
  std::vector<xsmem_track_site> sites(64);
  size_t n = xsmem_tracker_top_sites(t, XSMEM_BY_TOTAL_BYTES, sites.data(), sites.size());
  EXPECT_EQ(n, kSites.size());
  double total = 0, live = 0;
  for (size_t i = 0; i < n; i++) {
    total += sites[i].total_count;
    live += sites[i].live_count;
  }
  EXPECT_EQ(total, kThreads * kOps);
  EXPECT_EQ(live, 0);
  t->ops->destroy(t);
}

}  // namespace
