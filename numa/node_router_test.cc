// Tests of numa/node_router over fake topologies of 2 and 4 nodes: routing by
// the caller's node, frees from any thread, fallback on exhaustion, the
// interleave policy and threshold, per-node statistics, foreign pointers.
// The children are a small page allocator over each node's source (the
// configurations use a BFC per node; their conformance runs cover that).
#include "numa/node_router.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/detail.h"

namespace {

constexpr size_t kMiB = 1 << 20;

// A child: every block is its own region from the source, with a header.
struct PageChild {
  xsmem_allocator base;
  xsmem_source *source;
  int node;
  std::atomic<uint64_t> allocs{0}, frees{0}, in_use{0}, failed{0};
  std::mutex mu;
  std::set<const void *> live;  // for owns
};

struct Header {
  uint64_t magic;
  size_t got;
  size_t size;
  size_t pad;
};
constexpr uint64_t kMagic = 0x6e6f6465636869ull;

void *ChildAlloc(xsmem_allocator *a, size_t size, size_t align, unsigned flags) {
  auto *c = reinterpret_cast<PageChild *>(a);
  if (size > (1ull << 40)) {
    c->failed++;
    errno = ENOMEM;
    return nullptr;
  }
  size_t got;
  auto *base = static_cast<char *>(xsmem_source_map(c->source, size + 4096, 4096, &got));
  if (!base) {
    c->failed++;
    return nullptr;
  }
  auto *h = reinterpret_cast<Header *>(base + 4096 - sizeof(Header));
  *h = {kMagic, got, size, 0};
  c->allocs++;
  c->in_use += size;
  std::lock_guard<std::mutex> g(c->mu);
  c->live.insert(base + 4096);
  return base + 4096;
}

void ChildFree(xsmem_allocator *a, void *p, size_t) {
  auto *c = reinterpret_cast<PageChild *>(a);
  auto *h = reinterpret_cast<Header *>(static_cast<char *>(p) - sizeof(Header));
  ASSERT_EQ(h->magic, kMagic);
  h->magic = 0;
  c->frees++;
  c->in_use -= h->size;
  {
    std::lock_guard<std::mutex> g(c->mu);
    c->live.erase(p);
  }
  xsmem_source_unmap(c->source, static_cast<char *>(p) - 4096, h->got);
}

size_t ChildUsable(const xsmem_allocator *, const void *p) {
  return reinterpret_cast<const Header *>(static_cast<const char *>(p) - sizeof(Header))->size;
}

void ChildStats(const xsmem_allocator *a, xsmem_stats *out) {
  auto *c = reinterpret_cast<const PageChild *>(a);
  out->num_allocs = c->allocs;
  out->num_frees = c->frees;
  out->bytes_in_use = c->in_use;
  out->peak_bytes_in_use = c->in_use;
  out->num_failed = c->failed;
}

bool ChildOwns(const xsmem_allocator *a, const void *p) {
  auto *c = const_cast<PageChild *>(reinterpret_cast<const PageChild *>(a));
  std::lock_guard<std::mutex> g(c->mu);
  return c->live.count(p) != 0;
}

void ChildDestroy(xsmem_allocator *a) { delete reinterpret_cast<PageChild *>(a); }

const xsmem_allocator_ops kChildOps = {"page_child", ChildAlloc, ChildFree, ChildUsable,  ChildOwns, nullptr,
                                       ChildStats,   nullptr,    nullptr,   ChildDestroy, nullptr};

struct FactoryLog {
  std::vector<int> nodes;
  std::vector<std::string> names;
  int fail_at = -1;
};

xsmem_allocator *Factory(void *ctx, int node, xsmem_source *source, const char *name) {
  auto *log = static_cast<FactoryLog *>(ctx);
  if ((int)log->nodes.size() == log->fail_at) {
    errno = ENOMEM;
    return nullptr;
  }
  log->nodes.push_back(node);
  log->names.push_back(name);
  auto *c = new PageChild();
  c->base = {&kChildOps, name};
  c->source = source;
  c->node = node;
  return &c->base;
}

xsmem_node_router_options Options(xsmem_numa_policy policy) {
  xsmem_node_router_options o = {};
  o.policy = policy;
  o.fallback = true;
  o.space.span = 1ull << 30;
  o.space.bind = true;
  return o;
}

class Router : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { ASSERT_TRUE(xsmem_numa_fake_install(GetParam())); }
  void TearDown() override {
    if (built_) xsmem_node_router_allocator(r_.get())->ops->destroy(xsmem_node_router_allocator(r_.get()));
    xsmem_numa_fake_set_thread_node(-1);
    xsmem_numa_fake_remove();
  }
  xsmem_allocator *Build(const xsmem_node_router_options &o) {
    built_ = xsmem_node_router_init(r_.get(), "test_router", &o, Factory, &log_);
    EXPECT_TRUE(built_) << errno;
    return xsmem_node_router_allocator(r_.get());
  }
  xsmem_node_router_node_stats Node(int slot) {
    xsmem_node_router_node_stats s;
    EXPECT_TRUE(xsmem_node_router_node_stats_get(r_.get(), slot, &s));
    return s;
  }
  std::unique_ptr<xsmem_node_router> r_{new xsmem_node_router()};
  FactoryLog log_;
  bool built_ = false;
};

TEST_P(Router, OneChildPerNodeNamedAfterIt) {
  int n = GetParam();
  Build(Options(XSMEM_NUMA_POLICY_LOCAL));
  ASSERT_EQ(log_.nodes.size(), (size_t)n);
  for (int i = 0; i < n; i++) {
    EXPECT_EQ(log_.nodes[i], i);
    EXPECT_EQ(log_.names[i], "test_router.node" + std::to_string(i));
  }
  EXPECT_EQ(xsmem_node_router_child(r_.get(), n), nullptr) << "no interleaved child unless asked";
}

TEST_P(Router, RequestsGoToTheCallersNodeAndFreesToTheOwner) {
  int n = GetParam();
  xsmem_allocator *a = Build(Options(XSMEM_NUMA_POLICY_LOCAL));
  std::vector<void *> blocks;
  for (int node = 0; node < n; node++) {
    xsmem_numa_fake_set_thread_node(node);
    for (int i = 0; i < 5; i++) {
      void *p = xsmem_alloc(a, 1000 + node, 16, 0);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(xsmem_node_router_owner(r_.get(), p), node);
      EXPECT_EQ(xsmem_numa_node_of_address(p), node) << "its region was bound to the caller's node";
      EXPECT_TRUE(a->ops->owns(a, p));
      EXPECT_EQ(xsmem_usable_size(a, p), (size_t)1000 + node);
      blocks.push_back(p);
    }
  }
  for (int node = 0; node < n; node++) {
    auto s = Node(node);
    EXPECT_EQ(s.child.num_allocs, 5u) << node;
    EXPECT_EQ(s.child.bytes_in_use, 5u * (1000 + node)) << node;
    EXPECT_EQ(s.fallbacks_out + s.fallbacks_in, 0u);
  }
  // Another thread, on another node, frees them: each goes back to its owner.
  std::thread([&] {
    xsmem_numa_fake_set_thread_node(n - 1);
    for (void *p : blocks) xsmem_free(a, p);
  }).join();
  for (int node = 0; node < n; node++) {
    auto s = Node(node);
    EXPECT_EQ(s.child.num_frees, 5u) << node;
    EXPECT_EQ(s.child.bytes_in_use, 0u) << node;
  }
  xsmem_stats total = xsmem_get_stats(a);
  EXPECT_EQ(total.num_allocs, 5u * n);
  EXPECT_EQ(total.num_frees, 5u * n);
  EXPECT_EQ(total.bytes_in_use, 0u);
}

TEST_P(Router, ThreadsOnEveryNode) {
  int n = GetParam();
  xsmem_allocator *a = Build(Options(XSMEM_NUMA_POLICY_LOCAL));
  constexpr int kThreads = 8, kOps = 300;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      xsmem_numa_fake_set_thread_node(t % n);
      std::vector<void *> mine;
      for (int i = 0; i < kOps; i++) {
        void *p = xsmem_alloc(a, 64 + i, 16, 0);
        if (!p || xsmem_node_router_owner(r_.get(), p) != t % n) wrong++;
        mine.push_back(p);
        if (i % 3 == 0) {
          xsmem_free(a, mine.back());
          mine.pop_back();
        }
      }
      for (void *p : mine) xsmem_free(a, p);
    });
  }
  for (auto &th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  for (int node = 0; node < n; node++) {
    int threads_here = (kThreads - node + n - 1) / n;
    auto s = Node(node);
    EXPECT_EQ(s.child.num_allocs, (uint64_t)threads_here * kOps) << node;
    EXPECT_EQ(s.child.num_frees, s.child.num_allocs) << node;
  }
}

TEST_P(Router, ExhaustedNodeFallsBackToTheNearest) {
  int n = GetParam();
  xsmem_node_router_options o = Options(XSMEM_NUMA_POLICY_LOCAL);
  o.space.node_limit = 4 * kMiB;
  xsmem_allocator *a = Build(o);
  xsmem_numa_fake_set_thread_node(0);
  void *big = xsmem_alloc(a, 3 * kMiB, 16, 0);  // 3 MiB + a header page of node 0's 4
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(xsmem_node_router_owner(r_.get(), big), 0);
  void *p = xsmem_alloc(a, 2 * kMiB, 16, 0);
  if (n == 1) {
    EXPECT_EQ(p, nullptr) << "one node: nowhere to fall back to";
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_EQ(xsmem_get_stats(a).num_failed, 1u);
  } else {
    ASSERT_NE(p, nullptr);
    int nearest = -1;
    for (int b = 1; b < n; b++) {
      if (nearest < 0 || xsmem_numa_distance(0, b) < xsmem_numa_distance(0, nearest)) nearest = b;
    }
    EXPECT_EQ(xsmem_node_router_owner(r_.get(), p), nearest);
    EXPECT_EQ(xsmem_numa_node_of_address(p), nearest);
    EXPECT_EQ(Node(0).fallbacks_out, 1u);
    EXPECT_EQ(Node(nearest).fallbacks_in, 1u);
    EXPECT_EQ(Node(0).source.num_refused, 1u);
    EXPECT_EQ(xsmem_get_stats(a).num_failed, 0u);
    xsmem_free(a, p);
    // When every node is full the request fails with ENOMEM.
    std::vector<void *> fill;
    for (int b = 1; b < n; b++) {
      xsmem_numa_fake_set_thread_node(b);
      fill.push_back(xsmem_alloc(a, 3 * kMiB, 16, 0));
      ASSERT_NE(fill.back(), nullptr);
    }
    xsmem_numa_fake_set_thread_node(0);
    errno = 0;
    EXPECT_EQ(xsmem_alloc(a, 2 * kMiB, 16, 0), nullptr);
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_EQ(xsmem_get_stats(a).num_failed, 1u);
    for (void *q : fill) xsmem_free(a, q);
  }
  xsmem_free(a, big);
}

TEST_P(Router, NoFallbackWhenTurnedOff) {
  xsmem_node_router_options o = Options(XSMEM_NUMA_POLICY_LOCAL);
  o.space.node_limit = 2 * kMiB;
  o.fallback = false;
  xsmem_allocator *a = Build(o);
  xsmem_numa_fake_set_thread_node(GetParam() - 1);
  errno = 0;
  EXPECT_EQ(xsmem_alloc(a, 3 * kMiB, 16, 0), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(Node(GetParam() - 1).fallbacks_out, 0u);
  EXPECT_EQ(xsmem_get_stats(a).num_failed, 1u);
}

TEST_P(Router, InterleavePolicyUsesOneInterleavedChild) {
  int n = GetParam();
  xsmem_allocator *a = Build(Options(XSMEM_NUMA_POLICY_INTERLEAVE));
  if (n == 1) {
    EXPECT_EQ(r_->interleave_slot, -1) << "one node: nothing to interleave";
    return;
  }
  ASSERT_EQ(log_.nodes.size(), 1u);
  EXPECT_EQ(log_.nodes[0], -1);
  EXPECT_EQ(log_.names[0], "test_router.interleave");
  for (int node = 0; node < n; node++) {
    xsmem_numa_fake_set_thread_node(node);
    auto *p = static_cast<char *>(xsmem_alloc(a, 64 * 4096, 16, 0));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(xsmem_node_router_owner(r_.get(), p), n);
    std::vector<int> pages(n);
    for (int i = 0; i < 64; i++) pages[xsmem_numa_node_of_address(p + i * 4096)]++;
    for (int b = 0; b < n; b++) EXPECT_GT(pages[b], 0) << "node " << b << " holds none of the pages";
    xsmem_free(a, p);
  }
  EXPECT_EQ(Node(n).child.num_allocs, (uint64_t)n);
}

TEST_P(Router, LargeRequestsGoInterleavedAboveTheThreshold) {
  int n = GetParam();
  xsmem_node_router_options o = Options(XSMEM_NUMA_POLICY_LOCAL);
  o.interleave_min = kMiB;
  xsmem_allocator *a = Build(o);
  xsmem_numa_fake_set_thread_node(n - 1);
  void *small = xsmem_alloc(a, kMiB - 1, 16, 0);
  void *large = xsmem_alloc(a, kMiB, 16, 0);
  ASSERT_NE(small, nullptr);
  ASSERT_NE(large, nullptr);
  EXPECT_EQ(xsmem_node_router_owner(r_.get(), small), n - 1);
  EXPECT_EQ(xsmem_node_router_owner(r_.get(), large), n == 1 ? 0 : n);
  errno = 0;
  EXPECT_EQ(xsmem_alloc(a, SIZE_MAX, 16, 0), nullptr) << "an impossible size fails, whatever the route";
  EXPECT_EQ(errno, ENOMEM);
  xsmem_free(a, small);
  xsmem_free(a, large);
}

TEST_P(Router, PolicyOffMeansOneUnboundChild) {
  xsmem_allocator *a = Build(Options(XSMEM_NUMA_POLICY_OFF));
  ASSERT_EQ(log_.nodes.size(), 1u);
  xsmem_numa_fake_set_thread_node(GetParam() - 1);
  void *p = xsmem_alloc(a, 100, 16, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(xsmem_node_router_owner(r_.get(), p), 0);
  EXPECT_EQ(xsmem_numa_node_of_address(p), -1) << "nothing was bound (or recorded)";
  xsmem_free(a, p);
}

TEST_P(Router, ReallocStaysWithTheOwner) {
  int n = GetParam();
  xsmem_allocator *a = Build(Options(XSMEM_NUMA_POLICY_LOCAL));
  xsmem_numa_fake_set_thread_node(0);
  auto *p = static_cast<char *>(xsmem_alloc(a, 100, 16, 0));
  ASSERT_NE(p, nullptr);
  memset(p, 0x5a, 100);
  xsmem_numa_fake_set_thread_node(n - 1);
  auto *q = static_cast<char *>(xsmem_realloc(a, p, 20000));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(xsmem_node_router_owner(r_.get(), q), 0);
  for (int i = 0; i < 100; i++) ASSERT_EQ((uint8_t)q[i], 0x5a);
  xsmem_free(a, q);
}

TEST_P(Router, DetailReportsEveryNode) {
  int n = GetParam();
  xsmem_node_router_options o = Options(XSMEM_NUMA_POLICY_LOCAL);
  o.interleave_min = 8 * kMiB;
  xsmem_allocator *a = Build(o);
  std::vector<void *> blocks;
  for (int node = 0; node < n; node++) {
    xsmem_numa_fake_set_thread_node(node);
    for (int i = 0; i <= node; i++) blocks.push_back(xsmem_alloc(a, 4096, 16, 0));
  }
  xsmem::testing::Detail d(a);
  for (int node = 0; node < n; node++) {
    std::string label = std::to_string(node);
    EXPECT_EQ(d.Get("node", label, "num_allocs"), node + 1) << node;
    EXPECT_EQ(d.Get("node", label, "bytes_in_use"), 4096.0 * (node + 1)) << node;
    EXPECT_EQ(d.Get("node", label, "bytes_mapped"), 8192.0 * (node + 1)) << node;
    EXPECT_TRUE(d.Has("node", label, "fallbacks_out")) << node;
    EXPECT_TRUE(d.Has("node", label, "fallbacks_in")) << node;
  }
  EXPECT_EQ(d.Has("node", "interleave", "num_allocs"), n > 1);
  for (void *p : blocks) xsmem_free(a, p);
}

TEST_P(Router, ForeignPointersAreReported) {
  xsmem_allocator *a = Build(Options(XSMEM_NUMA_POLICY_LOCAL));
  static char outside[64];
  EXPECT_FALSE(a->ops->owns(a, outside));
  EXPECT_DEATH(xsmem_free(a, outside), "test_router.*pointer not allocated by this allocator");
}

// A block whose region did not fit its node's span lies outside the space:
// free, usable_size and realloc find its owner by asking the children.
TEST_P(Router, BlocksOutsideTheSpansAreFoundByAsking) {
  int n = GetParam();
  xsmem_node_router_options o = Options(XSMEM_NUMA_POLICY_LOCAL);
  o.space.span = 64 * kMiB;
  xsmem_allocator *a = Build(o);
  for (int node = 0; node < n; node++) {
    xsmem_numa_fake_set_thread_node(node);
    void *big = xsmem_alloc(a, 100 * kMiB, 16, 0);  // more than the span
    void *small = xsmem_alloc(a, kMiB, 16, 0);
    ASSERT_NE(big, nullptr);
    ASSERT_NE(small, nullptr);
    EXPECT_EQ(xsmem_node_router_owner(r_.get(), big), -1);
    EXPECT_EQ(xsmem_node_router_owner(r_.get(), small), node);
    EXPECT_TRUE(a->ops->owns(a, big));
    EXPECT_EQ(a->ops->usable_size(a, big), 100 * kMiB);
    xsmem_numa_fake_set_thread_node((node + 1) % n);  // freed from another node's thread
    xsmem_free(a, big);
    xsmem_free(a, small);
    xsmem_node_router_node_stats s = Node(node);
    EXPECT_EQ(s.child.num_frees, 2u) << node;
    EXPECT_EQ(s.child.bytes_in_use, 0u) << node;
    EXPECT_EQ(s.source.bytes_mapped, 0u) << node;
  }
  xsmem_numa_fake_set_thread_node(-1);
}

TEST_P(Router, AFailingFactoryUndoesTheBuild) {
  log_.fail_at = GetParam() - 1;
  xsmem_node_router_options o = Options(XSMEM_NUMA_POLICY_LOCAL);
  errno = 0;
  EXPECT_FALSE(xsmem_node_router_init(r_.get(), "test_router", &o, Factory, &log_));
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(r_->space.base, 0u) << "the space was released";
}

INSTANTIATE_TEST_SUITE_P(Nodes, Router, ::testing::Values(1, 2, 4));

}  // namespace
