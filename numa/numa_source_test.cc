// Tests of numa/numa_source: carving, reuse, limits and binding of node-bound
// and interleaved sources, on fake topologies of 2 and 4 nodes and on this machine.
#include "numa/numa_source.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/address_space.h"

namespace {

constexpr size_t kMiB = 1 << 20;

std::vector<xsmem_numa_record> Records() {
  std::vector<xsmem_numa_record> r(4096);
  r.resize(xsmem_numa_fake_records(r.data(), r.size()));
  return r;
}

bool AllZero(const void *p, size_t n) {
  auto *b = static_cast<const uint8_t *>(p);
  for (size_t i = 0; i < n; i++) {
    if (b[i]) return false;
  }
  return true;
}

struct Space {
  std::unique_ptr<xsmem_numa_space> sp{new xsmem_numa_space()};
  explicit Space(xsmem_numa_space_options o) { EXPECT_TRUE(xsmem_numa_space_init(sp.get(), &o)) << errno; }
  ~Space() { xsmem_numa_space_release(sp.get()); }
  xsmem_numa_space *operator->() { return sp.get(); }
  xsmem_numa_space *get() { return sp.get(); }
};

xsmem_numa_space_options Options(int nodes) {
  xsmem_numa_space_options o = {};
  o.num_nodes = nodes;
  o.span = 4ull << 30;
  o.bind = true;
  return o;
}

class NodeSource : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { ASSERT_TRUE(xsmem_numa_fake_install(GetParam())); }
  void TearDown() override { xsmem_numa_fake_remove(); }
};

TEST_P(NodeSource, RegionsLieInTheirNodeSpanAndAreBoundBeforeUse) {
  int n = GetParam();
  Space sp(Options(n));
  EXPECT_EQ(sp->num_nodes, n);
  EXPECT_EQ(sp->span, 4ull << 30);
  for (int node = 0; node < n; node++) {
    xsmem_source *s = xsmem_numa_space_node_source(sp.get(), node);
    EXPECT_TRUE(s->ops->caps & XSMEM_SRC_NODE_BOUND);
    EXPECT_TRUE(s->ops->caps & XSMEM_SRC_ZEROED);
    size_t got = 0;
    auto *p = static_cast<char *>(xsmem_source_map(s, 3 * kMiB + 5, 2 * kMiB, &got));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(got, 3 * kMiB + 4096);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % (2 * kMiB), 0u);
    EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), p), node);
    EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), p + got - 1), node);
    EXPECT_TRUE(AllZero(p, got));
    memset(p, 0xab, got);
    EXPECT_EQ(xsmem_numa_node_of_address(p + got / 2), node);
    auto rec = Records();
    ASSERT_FALSE(rec.empty());
    EXPECT_EQ(rec.back().addr, reinterpret_cast<uintptr_t>(p));
    EXPECT_EQ(rec.back().len, got);
    EXPECT_EQ(rec.back().node, node);
    EXPECT_EQ(rec.back().mode, XSMEM_NUMA_BIND_STRICT);
    xsmem_numa_source_stats st;
    xsmem_numa_source_stats_get(sp.get(), node, &st);
    EXPECT_EQ(st.bytes_mapped, got);
    EXPECT_EQ(st.num_binds, 1u);
    xsmem_source_unmap(s, p, got);
    xsmem_numa_source_stats_get(sp.get(), node, &st);
    EXPECT_EQ(st.bytes_mapped, 0u);
    EXPECT_EQ(st.peak_mapped, got);
    EXPECT_EQ(st.num_unmaps, 1u);
  }
  int x;
  EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), &x), -1);
  EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), nullptr), -1);
  EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), reinterpret_cast<char *>(sp->base) + sp->reserved), -1);
}

TEST_P(NodeSource, FreedRangesAreReusedZeroedAndMerged) {
  Space sp(Options(GetParam()));
  xsmem_source *s = xsmem_numa_space_node_source(sp.get(), GetParam() - 1);
  size_t got[3];
  char *p[3];
  for (int i = 0; i < 3; i++) {
    p[i] = static_cast<char *>(xsmem_source_map(s, kMiB, 4096, &got[i]));
    ASSERT_NE(p[i], nullptr);
    memset(p[i], 1, got[i]);
  }
  EXPECT_EQ(p[1], p[0] + kMiB) << "consecutive regions are adjacent";
  EXPECT_EQ(p[2], p[1] + kMiB);
  xsmem_source_unmap(s, p[1], kMiB);
  xsmem_source_unmap(s, p[0], kMiB);
  EXPECT_EQ(sp->sources[GetParam() - 1].num_extents, 1) << "the two freed neighbours merge";
  size_t g;
  auto *q = static_cast<char *>(xsmem_source_map(s, 2 * kMiB, 4096, &g));
  EXPECT_EQ(q, p[0]) << "the merged range serves a request of both sizes";
  EXPECT_TRUE(AllZero(q, g)) << "reused memory reads as zero";
  xsmem_source_unmap(s, q, g);
  xsmem_source_unmap(s, p[2], kMiB);
  EXPECT_EQ(sp->sources[GetParam() - 1].num_extents, 0) << "everything folded back into the frontier";
  EXPECT_EQ(sp->sources[GetParam() - 1].bump, sp->sources[GetParam() - 1].lo);
}

TEST_P(NodeSource, AlignmentGapsAreReusable) {
  Space sp(Options(GetParam()));
  xsmem_source *s = xsmem_numa_space_node_source(sp.get(), 0);
  size_t g1, g2, g3;
  void *a = xsmem_source_map(s, 4096, 4096, &g1);
  void *b = xsmem_source_map(s, kMiB, 64 * kMiB, &g2);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % (64 * kMiB), 0u);
  void *c = xsmem_source_map(s, 8192, 4096, &g3);
  EXPECT_EQ(c, static_cast<char *>(a) + 4096) << "the gap before the aligned region serves small requests";
  xsmem_source_unmap(s, a, g1);
  xsmem_source_unmap(s, b, g2);
  xsmem_source_unmap(s, c, g3);
}

TEST_P(NodeSource, NodeLimitRefusesWithENOMEM) {
  xsmem_numa_space_options o = Options(GetParam());
  o.node_limit = 4 * kMiB;
  Space sp(o);
  xsmem_source *s = xsmem_numa_space_node_source(sp.get(), 0);
  size_t g1, g2;
  void *a = xsmem_source_map(s, 3 * kMiB, 4096, &g1);
  ASSERT_NE(a, nullptr);
  errno = 0;
  EXPECT_EQ(xsmem_source_map(s, 2 * kMiB, 4096, &g2), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void *b = xsmem_source_map(s, kMiB, 4096, &g2);
  EXPECT_NE(b, nullptr) << "exactly up to the limit";
  xsmem_numa_source_stats st;
  xsmem_numa_source_stats_get(sp.get(), 0, &st);
  EXPECT_EQ(st.num_refused, 1u);
  // Other nodes have their own limit.
  if (GetParam() > 1) {
    size_t g3;
    void *c = xsmem_source_map(xsmem_numa_space_node_source(sp.get(), 1), 3 * kMiB, 4096, &g3);
    EXPECT_NE(c, nullptr);
    xsmem_source_unmap(xsmem_numa_space_node_source(sp.get(), 1), c, g3);
  }
  // A request larger than the span, or a bad one, fails cleanly.
  EXPECT_EQ(xsmem_source_map(s, sp->span + 1, 4096, &g2), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(xsmem_source_map(s, 0, 4096, &g2), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(xsmem_source_map(s, 4096, 3000, &g2), nullptr);
  EXPECT_EQ(errno, EINVAL);
  xsmem_source_unmap(s, a, g1);
  xsmem_source_unmap(s, b, kMiB);
}

// A span with no room left: the region is a mapping of its own outside the
// space (slot -1), bound like the others, counted, and given back to the OS.
TEST_P(NodeSource, AFullSpanOverflowsIntoMappingsOfItsOwn) {
  xsmem_numa_space_options o = Options(GetParam());
  o.span = 64 * kMiB;
  Space sp(o);
  ASSERT_EQ(sp->span, 64 * kMiB);
  int node = GetParam() - 1;
  xsmem_source *s = xsmem_numa_space_node_source(sp.get(), node);
  size_t g1, g2;
  auto *in = static_cast<char *>(xsmem_source_map(s, 48 * kMiB, 4096, &g1));
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), in), node);
  size_t binds_before = Records().size();
  auto *out = static_cast<char *>(xsmem_source_map(s, 32 * kMiB, 4 * kMiB, &g2));
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), out), -1);
  EXPECT_EQ((uintptr_t)out % (4 * kMiB), 0u);
  EXPECT_TRUE(AllZero(out, 32 * kMiB));
  memset(out, 7, 32 * kMiB);
  if (GetParam() > 1) {
    std::vector<xsmem_numa_record> r = Records();
    ASSERT_GT(r.size(), binds_before) << "the overflow region is bound too";
    EXPECT_EQ(r.back().node, node);
    EXPECT_EQ((char *)r.back().addr, out);
  }
  xsmem_numa_source_stats st;
  xsmem_numa_source_stats_get(sp.get(), node, &st);
  EXPECT_EQ(st.overflow_maps, 1u);
  EXPECT_EQ(st.overflow_bytes, 32 * kMiB);
  EXPECT_EQ(st.bytes_mapped, 80 * kMiB);
  xsmem_source_unmap(s, out, g2);
  xsmem_source_unmap(s, in, g1);
  xsmem_numa_source_stats_get(sp.get(), node, &st);
  EXPECT_EQ(st.overflow_bytes, 0u);
  EXPECT_EQ(st.bytes_mapped, 0u);
}

TEST_P(NodeSource, InterleavedSourceSpreadsPages) {
  int n = GetParam();
  Space sp(Options(n));
  xsmem_source *s = xsmem_numa_space_interleaved_source(sp.get());
  size_t got;
  auto *p = static_cast<char *>(xsmem_source_map(s, 64 * 4096, 4096, &got));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), p), n);
  auto rec = Records();
  ASSERT_FALSE(rec.empty());
  EXPECT_EQ(rec.back().node, -1);
  std::vector<int> pages(n);
  for (int i = 0; i < 64; i++) pages[xsmem_numa_node_of_address(p + i * 4096)]++;
  for (int node = 0; node < n; node++) EXPECT_EQ(pages[node], 64 / n);
  xsmem_source_unmap(s, p, got);
}

TEST_P(NodeSource, PreferredModeIsRecordedAsSuch) {
  xsmem_numa_space_options o = Options(GetParam());
  o.mode = XSMEM_NUMA_BIND_PREFERRED;
  Space sp(o);
  size_t got;
  void *p = xsmem_source_map(xsmem_numa_space_node_source(sp.get(), 0), 4096, 4096, &got);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Records().back().mode, XSMEM_NUMA_BIND_PREFERRED);
  xsmem_source_unmap(xsmem_numa_space_node_source(sp.get(), 0), p, got);
}

TEST_P(NodeSource, WithoutBindingNothingIsRecorded) {
  xsmem_numa_space_options o = Options(GetParam());
  o.bind = false;
  Space sp(o);
  xsmem_source *s = xsmem_numa_space_node_source(sp.get(), 0);
  EXPECT_FALSE(s->ops->caps & XSMEM_SRC_NODE_BOUND);
  size_t got;
  void *p = xsmem_source_map(s, 4096, 4096, &got);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(Records().empty());
  xsmem_source_unmap(s, p, got);
}

TEST_P(NodeSource, ManyRegionsFreedInRandomOrder) {
  Space sp(Options(GetParam()));
  xsmem_source *s = xsmem_numa_space_node_source(sp.get(), 0);
  std::vector<std::pair<void *, size_t>> live;
  uint64_t x = 88172645463325252ull;
  for (int round = 0; round < 2000; round++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    if (live.size() < 300 && (x & 3) != 0) {
      size_t got;
      size_t size = 4096 * (1 + x % 64);
      void *p = xsmem_source_map(s, size, 4096 << (x % 4), &got);
      ASSERT_NE(p, nullptr);
      memset(p, 7, got);
      live.push_back({p, got});
    } else if (!live.empty()) {
      size_t i = x % live.size();
      xsmem_source_unmap(s, live[i].first, live[i].second);
      live[i] = live.back();
      live.pop_back();
    }
  }
  // No two live regions overlap.
  std::sort(live.begin(), live.end());
  for (size_t i = 1; i < live.size(); i++) {
    EXPECT_LE(static_cast<char *>(live[i - 1].first) + live[i - 1].second, live[i].first);
  }
  for (auto &r : live) xsmem_source_unmap(s, r.first, r.second);
  xsmem_numa_source_stats st;
  xsmem_numa_source_stats_get(sp.get(), 0, &st);
  EXPECT_EQ(st.bytes_mapped, 0u);
  if (st.bytes_lost == 0) {
    EXPECT_EQ(sp->sources[0].bump, sp->sources[0].lo);
  }
}

TEST_P(NodeSource, ForeignUnmapIsReported) {
  Space sp(Options(GetParam()));
  static char outside[8192];
  EXPECT_DEATH(xsmem_source_unmap(xsmem_numa_space_node_source(sp.get(), 0), outside, 4096),
               "region not mapped by this source");
}

TEST_P(NodeSource, LocalSourceMapsFromTheCallersNode) {
  int n = GetParam();
  xsmem_numa_space_options o = Options(n);
  o.node_limit = 2 * kMiB;
  Space sp(o);
  xsmem_source *local = xsmem_numa_space_local_source(sp.get(), true);
  std::vector<std::pair<void *, size_t>> regions;
  for (int node = 0; node < n; node++) {
    xsmem_numa_fake_set_thread_node(node);
    size_t got;
    void *p = xsmem_source_map(local, node == 0 ? 3 * kMiB / 2 : 64 * 1024, 4096, &got);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), p), node);
    EXPECT_EQ(xsmem_numa_node_of_address(p), node);
    regions.push_back({p, got});
  }
  // Node 0 has 512 KiB left: a 1 MiB map falls back to another node (or fails on one node).
  xsmem_numa_fake_set_thread_node(0);
  size_t got;
  void *p = xsmem_source_map(local, kMiB, 4096, &got);
  if (n == 1) {
    EXPECT_EQ(p, nullptr);
    EXPECT_EQ(errno, ENOMEM);
  } else {
    ASSERT_NE(p, nullptr);
    EXPECT_NE(xsmem_numa_space_slot_of(sp.get(), p), 0);
    EXPECT_EQ(sp->local.fallbacks, 1u);
    regions.push_back({p, got});
  }
  xsmem_source *strict = xsmem_numa_space_local_source(sp.get(), false);
  EXPECT_EQ(xsmem_source_map(strict, kMiB, 4096, &got), nullptr) << "no fallback asked for";
  // Unmap from a thread on another node: each region goes back to its own span.
  xsmem_numa_fake_set_thread_node(n - 1);
  for (auto &r : regions) xsmem_source_unmap(local, r.first, r.second);
  for (int node = 0; node < n; node++) {
    xsmem_numa_source_stats st;
    xsmem_numa_source_stats_get(sp.get(), node, &st);
    EXPECT_EQ(st.bytes_mapped, 0u) << node;
  }
  xsmem_numa_fake_set_thread_node(-1);
}

INSTANTIATE_TEST_SUITE_P(Nodes, NodeSource, ::testing::Values(1, 2, 4));

TEST(NumaSpace, HugeSpansAreHalvedUntilTheyFit) {
  xsmem_numa_space_options o = {};
  o.num_nodes = 4;
  o.span = 1ull << 46;  // 5 x 64 TiB cannot be reserved in a 47-bit address space
  std::unique_ptr<xsmem_numa_space> sp(new xsmem_numa_space());
  ASSERT_TRUE(xsmem_numa_space_init(sp.get(), &o));
  EXPECT_LT(sp->span, 1ull << 46);
  EXPECT_GE(sp->span, 1ull << 30);
  EXPECT_EQ(sp->base % sp->span, 0u);
  xsmem_numa_space_release(sp.get());
}

// Under an address-space limit (ulimit -v) the space reserves at most an
// eighth of it; when no span of 64 MiB fits it reserves nothing and every
// region overflows. Before, the space needed 1 GiB per span or failed, and
// the `numa` configuration aborted before main under ulimit -v 4 GiB.
TEST(NumaSpace, NoReservationUnderATightAddressSpaceLimit) {
  uint64_t mapped = xsmem::testing::MappedBytes();
  ASSERT_GT(mapped, 0u);
  // Room for a little, not for 2 x 64 MiB / (1/8).
  xsmem::testing::AddressSpaceLimit limit(mapped + 256 * kMiB);
  ASSERT_TRUE(limit.ok());
  xsmem_numa_space_options o = {};
  o.num_nodes = 2;
  o.span = 1ull << 38;
  std::unique_ptr<xsmem_numa_space> sp(new xsmem_numa_space());
  bool built = xsmem_numa_space_init(sp.get(), &o);
  size_t got = 0;
  void *p = built ? xsmem_source_map(xsmem_numa_space_node_source(sp.get(), 1), 8 * kMiB, 4096, &got) : nullptr;
  ASSERT_TRUE(limit.Restore());
  ASSERT_TRUE(built) << errno;
  EXPECT_EQ(sp->reserved, 0u);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(xsmem_numa_space_slot_of(sp.get(), p), -1);
  memset(p, 1, got);
  xsmem_source_unmap(xsmem_numa_space_node_source(sp.get(), 1), p, got);
  xsmem_numa_source_stats st;
  xsmem_numa_source_stats_get(sp.get(), 1, &st);
  EXPECT_EQ(st.overflow_maps, 1u);
  EXPECT_EQ(st.bytes_mapped, 0u);
  xsmem_numa_space_release(sp.get());
}

TEST(NumaSpace, BadNodeCountsAreRejected) {
  xsmem_numa_space_options o = {};
  o.num_nodes = XSMEM_NUMA_MAX_NODES + 1;
  std::unique_ptr<xsmem_numa_space> sp(new xsmem_numa_space());
  errno = 0;
  EXPECT_FALSE(xsmem_numa_space_init(sp.get(), &o));
  EXPECT_EQ(errno, EINVAL);
}

TEST(NumaSpace, SystemSourceServesUsableMemory) {
  xsmem_numa_space_options o = xsmem_numa_space_options_from_env();
  o.span = 1ull << 30;
  Space sp(o);
  EXPECT_EQ(sp->num_nodes, xsmem_numa_policy_get() == XSMEM_NUMA_POLICY_OFF ? 1 : xsmem_numa_num_nodes());
  for (int node = 0; node < sp->num_nodes; node++) {
    size_t got;
    auto *p = static_cast<char *>(xsmem_source_map(xsmem_numa_space_node_source(sp.get(), node), kMiB, 4096, &got));
    ASSERT_NE(p, nullptr);
    memset(p, 3, got);
    int where = xsmem_numa_node_of_address(p);
    if (sp->num_nodes > 1 && xsmem_numa_bind_mode_get() == XSMEM_NUMA_BIND_STRICT) {
      EXPECT_EQ(where, node);
    } else {
      EXPECT_GE(where, 0);
    }
    xsmem_source_unmap(xsmem_numa_space_node_source(sp.get(), node), p, got);
  }
}

}  // namespace
