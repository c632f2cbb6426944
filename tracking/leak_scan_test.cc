// The leak scan (leak_scan.c) over a full-mode tracker of the system
// allocator: which unfreed blocks are definitely lost, indirectly lost or
// still reachable, by the pointers the roots and the live blocks hold.
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "platform/options.h"
#include "tracking/testing.h"
#include "tracking/tracker.h"

// One allocating function per site (and per kind), none inlined.
extern "C" __attribute__((noinline)) void *leak_scan_global(xsmem_allocator *t, size_t n) {
  void *p = xsmem_alloc(t, n, 16, 0);
  __asm__ volatile("" ::: "memory");
  return p;
}
extern "C" __attribute__((noinline)) void *leak_scan_interior(xsmem_allocator *t, size_t n) {
  void *p = xsmem_alloc(t, n, 16, 0);
  __asm__ volatile("" ::: "memory");
  return p;
}
extern "C" __attribute__((noinline)) void *leak_scan_head(xsmem_allocator *t, size_t n) {
  void *p = xsmem_alloc(t, n, 16, 0);
  __asm__ volatile("" ::: "memory");
  return p;
}
extern "C" __attribute__((noinline)) void *leak_scan_node(xsmem_allocator *t, size_t n) {
  void *p = xsmem_alloc(t, n, 16, 0);
  __asm__ volatile("" ::: "memory");
  return p;
}
extern "C" __attribute__((noinline)) void *leak_scan_plain(xsmem_allocator *t, size_t n) {
  void *p = xsmem_alloc(t, n, 16, 0);
  __asm__ volatile("" ::: "memory");
  return p;
}
extern "C" __attribute__((noinline)) void *leak_scan_thread(xsmem_allocator *t, size_t n) {
  void *p = xsmem_alloc(t, n, 16, 0);
  __asm__ volatile("" ::: "memory");
  return p;
}

namespace {

struct Node {
  Node *next;
  char pad[40];
};

void *volatile g_global_held;    // a global: still reachable
char *volatile g_interior_held;  // a global pointing inside a block: still reachable

// Overwrites the dead stack below the caller, where the helpers' frames held
// the pointers they returned (a conservative scan would find them there).
__attribute__((noinline)) void ScrubStack() {
  volatile char buf[16384];
  memset((char *)buf, 0, sizeof(buf));
  __asm__ volatile("" : : "r"(buf) : "memory");
}

// Makes the blocks and drops every pointer but the global ones; the
// pointers to lost blocks are xor-masked in `masked` so the test can free
// them afterwards without the scan seeing them.
__attribute__((noinline)) void MakeBlocks(xsmem_allocator *t, uintptr_t *masked) {
  g_global_held = leak_scan_global(t, 1000);
  g_interior_held = (char *)leak_scan_interior(t, 3000) + 1234;
  Node *head = (Node *)leak_scan_head(t, sizeof(Node));
  head->next = (Node *)leak_scan_node(t, sizeof(Node));
  head->next->next = (Node *)leak_scan_node(t, sizeof(Node));
  head->next->next->next = nullptr;
  void *plain = leak_scan_plain(t, 777);
  masked[0] = (uintptr_t)head ^ 0x5a5a5a5a5a5a5a5aull;
  masked[1] = (uintptr_t)plain ^ 0x5a5a5a5a5a5a5a5aull;
}

struct Group {
  double bytes = 0, count = 0;
};

// The groups whose symbol names `fn`, by kind.
Group Find(const xsmem_track_leak *out, size_t n, const char *fn, xsmem_leak_kind kind) {
  Group g;
  for (size_t i = 0; i < n; i++) {
    if (out[i].kind == kind && strstr(out[i].symbol, fn)) {
      g.bytes += out[i].bytes;
      g.count += out[i].count;
    }
  }
  return g;
}

TEST(LeakScan, ClassifiesDefiniteIndirectAndReachable) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  o.depth = 4;
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
  uintptr_t masked[2];
  MakeBlocks(t, masked);
  ScrubStack();
  ASSERT_EQ(xsmem_option_set("XSMEM_LEAK_SHOW_REACHABLE", "1"), 0);
  xsmem_track_leak out[16];
  xsmem_track_leak_totals tot;
  size_t n = xsmem_tracker_leaks(t, out, 16, &tot);
  EXPECT_TRUE(tot.classified);
  Group g = Find(out, n, "leak_scan_global", XSMEM_LEAK_REACHABLE);
  EXPECT_EQ(g.bytes, 1000);
  g = Find(out, n, "leak_scan_interior", XSMEM_LEAK_REACHABLE);
  EXPECT_EQ(g.bytes, 3000) << "an interior pointer keeps its block reachable";
  g = Find(out, n, "leak_scan_head", XSMEM_LEAK_DEFINITE);
  EXPECT_EQ(g.count, 1);
  EXPECT_EQ(g.bytes, sizeof(Node));
  g = Find(out, n, "leak_scan_node", XSMEM_LEAK_INDIRECT);
  EXPECT_EQ(g.count, 2) << "the lost head's nodes are indirectly lost";
  EXPECT_EQ(Find(out, n, "leak_scan_node", XSMEM_LEAK_DEFINITE).count, 0);
  g = Find(out, n, "leak_scan_plain", XSMEM_LEAK_DEFINITE);
  EXPECT_EQ(g.bytes, 777);
  EXPECT_EQ(tot.definite_bytes, sizeof(Node) + 777);
  EXPECT_EQ(tot.definite_count, 2);
  EXPECT_EQ(tot.indirect_bytes, 2 * sizeof(Node));
  EXPECT_EQ(tot.reachable_bytes, 4000);
  EXPECT_EQ(tot.reachable_count, 2);
  // Definitely lost groups come first, then indirectly lost, then reachable.
  for (size_t i = 1; i < n; i++)
    EXPECT_LE(out[i - 1].kind == XSMEM_LEAK_REACHABLE, out[i].kind == XSMEM_LEAK_REACHABLE);

  // By default the still-reachable blocks are only a total.
  ASSERT_EQ(xsmem_option_set("XSMEM_LEAK_SHOW_REACHABLE", "0"), 0);
  n = xsmem_tracker_leaks(t, out, 16, &tot);
  for (size_t i = 0; i < n; i++) EXPECT_NE(out[i].kind, XSMEM_LEAK_REACHABLE) << out[i].symbol;
  EXPECT_EQ(tot.reachable_bytes, 4000);
  EXPECT_EQ(tot.bytes, sizeof(Node) * 3 + 777);

  // The text report: the kinds apart, still reachable as one line.
  char path[] = "/tmp/xsmem_leak_scan_testXXXXXX";
  int fd = mkstemp(path);
  unlink(path);
  xsmem_tracker_leak_report(t, fd, XSMEM_REPORT_TEXT, 10);
  lseek(fd, 0, SEEK_SET);
  std::string text;
  char buf[4096];
  ssize_t k;
  while ((k = read(fd, buf, sizeof(buf))) > 0) text.append(buf, k);
  close(fd);
  char expect[256];
  snprintf(expect, sizeof(expect),
           ": %zu bytes in 4 blocks lost, from 4 groups: definitely lost %zu bytes in 2 blocks, indirectly lost %zu "
           "bytes in 2 blocks",
           3 * sizeof(Node) + 777, sizeof(Node) + 777, 2 * sizeof(Node));
  EXPECT_NE(text.find(expect), std::string::npos) << text;
  EXPECT_NE(text.find("definitely lost: 777 bytes in 1 blocks allocated at"), std::string::npos) << text;
  EXPECT_NE(text.find("indirectly lost: 48 bytes in 1 blocks allocated at"), std::string::npos) << text;
  EXPECT_NE(text.find("still reachable: 4000 bytes in 2 blocks from 2 call sites"), std::string::npos) << text;
  EXPECT_EQ(text.find("leak_scan_global"), std::string::npos) << text;

  // Freed, nothing is left.
  xsmem_free(t, g_global_held);
  g_global_held = nullptr;
  Node *head = (Node *)(masked[0] ^ 0x5a5a5a5a5a5a5a5aull);
  xsmem_free(t, head->next->next);
  xsmem_free(t, head->next);
  xsmem_free(t, head);
  xsmem_free(t, (void *)(masked[1] ^ 0x5a5a5a5a5a5a5a5aull));
  xsmem_free(t, g_interior_held - 1234);
  EXPECT_EQ(xsmem_tracker_leaks(t, out, 16, &tot), 0u);
  t->ops->destroy(t);
}

// A block held only by another live thread's stack is still reachable; once
// the thread has exited and dropped it, it is definitely lost.
TEST(LeakScan, OtherThreadsStacksAreRoots) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_FULL);
  o.depth = 4;
  xsmem_allocator *t = Make(XSMEM_TRACK_FULL, &o);
  std::atomic<int> stage{0};
  std::atomic<uintptr_t> masked{0};
  std::thread th([&] {
    void *volatile held = leak_scan_thread(t, 5000);  // on this thread's stack only
    masked = (uintptr_t)held ^ 0x5a5a5a5a5a5a5a5aull;
    stage = 1;
    while (stage != 2) usleep(100);
    held = nullptr;
  });
  while (stage != 1) usleep(100);
  xsmem_track_leak out[8];
  xsmem_track_leak_totals tot;
  size_t n = xsmem_tracker_leaks(t, out, 8, &tot);
  EXPECT_EQ(Find(out, n, "leak_scan_thread", XSMEM_LEAK_DEFINITE).count, 0) << "held by the thread's stack";
  EXPECT_EQ(tot.reachable_bytes, 5000);
  stage = 2;
  th.join();
  // join returns when the thread has cleared its tid, a moment before the
  // kernel lets it go (tgkill finds it until then).
  for (int i = 0; i < 1000 && tot.reachable_bytes > 0; i++) {
    usleep(1000);
    xsmem_tracker_leaks(t, out, 8, &tot);
  }
  n = xsmem_tracker_leaks(t, out, 8, &tot);
  EXPECT_EQ(Find(out, n, "leak_scan_thread", XSMEM_LEAK_DEFINITE).bytes, 5000) << "its thread is gone";
  xsmem_free(t, (void *)(masked ^ 0x5a5a5a5a5a5a5a5aull));
  t->ops->destroy(t);
}

// Sample mode does not scan: its figures are estimates, unclassified.
TEST(LeakScan, SampleModeIsUnclassified) {
  xsmem_tracker_options o = Options(XSMEM_TRACK_SAMPLE);
  o.sample_bytes = 1;
  xsmem_allocator *t = Make(XSMEM_TRACK_SAMPLE, &o);
  void *p = leak_scan_plain(t, 4096);
  xsmem_track_leak out[4];
  xsmem_track_leak_totals tot;
  size_t n = xsmem_tracker_leaks(t, out, 4, &tot);
  ASSERT_GE(n, 1u);
  EXPECT_EQ(out[0].kind, XSMEM_LEAK_UNCLASSIFIED);
  EXPECT_FALSE(tot.classified);
  xsmem_free(t, p);
  t->ops->destroy(t);
}

}  // namespace
