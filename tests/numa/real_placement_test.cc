// Placement on real hardware: pages of node-bound regions, of bfc_numa and
// numa blocks and of moved ranges really live on the requested node, as the
// kernel reports through move_pages and get_mempolicy. Skips on a machine
// with one node.
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <thread>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "gtest/gtest.h"
#include "numa/numa_source.h"
#include "numa/topology.h"

namespace {

constexpr size_t kMiB = 1 << 20;

// The kernel's view of one page, asked directly (not through numa/).
int KernelNodeOf(void *p) {
  void *page = reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095});
  int status = -1;
  if (syscall(SYS_move_pages, 0, 1UL, &page, nullptr, &status, 0) != 0) return -1000 - errno;
  return status;
}

int KernelPolicyOf(void *p, unsigned long *mask) {
  int mode = -1;
  if (syscall(SYS_get_mempolicy, &mode, mask, 64 * 2 + 1, p, 2 /* MPOL_F_ADDR */) != 0) return -1;
  return mode;
}

// Runs f(node) on a thread bound to each node that has CPUs, one node after
// another.
template <typename F>
void OnEachNode(F f) {
  for (int node = 0; node < xsmem_numa_num_nodes(); node++) {
    if (xsmem_numa_node_cpu_count(node) == 0) continue;
    std::thread([&] {
      ASSERT_EQ(xsmem_numa_bind_thread(node), 0);
      f(node);
    }).join();
  }
}

class RealPlacement : public ::testing::Test {
 protected:
  void SetUp() override {
    if (xsmem_numa_topology_kind() != XSMEM_NUMA_KIND_REAL) {
      GTEST_SKIP() << "no NUMA support here (fallback topology): nothing to place";
    }
    if (xsmem_numa_num_nodes() < 2) {
      GTEST_SKIP() << "single node: placement on other nodes cannot be checked on this machine";
    }
  }
};

TEST_F(RealPlacement, NodeSourceRegionsLiveOnTheirNode) {
  xsmem_numa_space_options o = xsmem_numa_space_options_from_env();
  o.mode = XSMEM_NUMA_BIND_STRICT;
  o.span = 1ull << 30;
  std::unique_ptr<xsmem_numa_space> sp(new xsmem_numa_space());
  ASSERT_TRUE(xsmem_numa_space_init(sp.get(), &o));
  for (int node = 0; node < sp->num_nodes; node++) {
    if (xsmem_numa_node_cpu_count(node) == 0) continue;
    size_t got;
    auto *p = static_cast<char *>(xsmem_source_map(xsmem_numa_space_node_source(sp.get(), node), 8 * kMiB, 4096, &got));
    ASSERT_NE(p, nullptr) << node;
    unsigned long mask[2] = {};
    EXPECT_EQ(KernelPolicyOf(p, mask), 2 /* MPOL_BIND */) << node;
    EXPECT_EQ(mask[node / 64], 1UL << (node % 64)) << node;
    memset(p, 1, got);
    for (size_t off = 0; off < got; off += 512 * 1024) {
      EXPECT_EQ(KernelNodeOf(p + off), node) << "node " << node << " offset " << off;
      EXPECT_EQ(xsmem_numa_node_of_address(p + off), node);
    }
    xsmem_source_unmap(xsmem_numa_space_node_source(sp.get(), node), p, got);
  }
  xsmem_numa_space_release(sp.get());
}

TEST_F(RealPlacement, BfcNumaServesEachThreadFromItsNode) {
  const xsmem_config *c = xsmem_config_find("bfc_numa");
  ASSERT_NE(c, nullptr);
  xsmem_allocator *a = xsmem_config_instance(c);
  OnEachNode([&](int node) {
    EXPECT_EQ(xsmem_numa_current_node(), node);
    EXPECT_EQ(xsmem_numa_current_node_uncached(), node) << "the thread runs on the node's CPUs";
    std::vector<char *> blocks;
    for (size_t size : {64ul, 4096ul, 300000ul, 4 * kMiB}) {
      auto *p = static_cast<char *>(xsmem_alloc(a, size, 16, 0));
      ASSERT_NE(p, nullptr);
      memset(p, 2, size);
      EXPECT_EQ(KernelNodeOf(p), node) << size;
      EXPECT_EQ(KernelNodeOf(p + size - 1), node) << size;
      blocks.push_back(p);
    }
    for (char *p : blocks) xsmem_free(a, p);
  });
}

// `numa`: every tier's blocks of a thread bound to node N are on node N; the
// small tier's segments carry an MPOL_BIND policy for N alone.
TEST_F(RealPlacement, NumaServesEachThreadFromItsNode) {
  const xsmem_config *c = xsmem_config_find("numa");
  ASSERT_NE(c, nullptr);
  xsmem_allocator *a = xsmem_config_instance(c);
  OnEachNode([&](int node) {
    std::vector<char *> blocks;
    for (size_t size : {32ul, 4096ul, 300000ul, 4 * kMiB, 600 * kMiB}) {
      auto *p = static_cast<char *>(xsmem_alloc(a, size, 16, 0));
      ASSERT_NE(p, nullptr);
      size_t touch = size > 64 * kMiB ? 4096 : size;  // the large block: its first and last pages
      memset(p, 5, touch);
      p[size - 1] = 5;
      EXPECT_EQ(KernelNodeOf(p), node) << size;
      EXPECT_EQ(KernelNodeOf(p + size - 1), node) << size;
      if (size <= 300000) {
        unsigned long mask[2] = {};
        EXPECT_EQ(KernelPolicyOf(p, mask), 2 /* MPOL_BIND */) << size;
        EXPECT_EQ(mask[node / 64], 1UL << (node % 64)) << size;
      }
      blocks.push_back(p);
    }
    for (char *p : blocks) xsmem_free(a, p);
  });
}

TEST_F(RealPlacement, MoveRangeMovesPages) {
  int last = xsmem_numa_num_nodes() - 1;
  size_t len = 4 * kMiB;
  auto *p = static_cast<char *>(aligned_alloc(4096, len));  // whatever serves malloc here
  ASSERT_NE(p, nullptr);
  memset(p, 3, len);
  size_t on = 0;
  ASSERT_EQ(xsmem_numa_move_range(p, len, last, &on), 0);
  EXPECT_GE(on, len / 4096 * 9 / 10) << "most pages moved";
  EXPECT_EQ(KernelNodeOf(p + len / 2), last);
  ASSERT_EQ(xsmem_numa_move_range(p, len, 0, &on), 0);
  EXPECT_EQ(KernelNodeOf(p + len / 2), 0);
  free(p);
}

TEST_F(RealPlacement, InterleavedRegionsSpreadOverNodes) {
  xsmem_numa_space_options o = xsmem_numa_space_options_from_env();
  o.span = 1ull << 30;
  std::unique_ptr<xsmem_numa_space> sp(new xsmem_numa_space());
  ASSERT_TRUE(xsmem_numa_space_init(sp.get(), &o));
  size_t got;
  auto *p = static_cast<char *>(xsmem_source_map(xsmem_numa_space_interleaved_source(sp.get()), 4 * kMiB, 4096, &got));
  ASSERT_NE(p, nullptr);
  memset(p, 4, got);
  std::vector<int> pages(xsmem_numa_num_nodes());
  for (size_t off = 0; off < got; off += 4096) {
    int n = KernelNodeOf(p + off);
    if (n >= 0 && n < (int)pages.size()) pages[n]++;
  }
  int nodes_used = 0;
  for (int n : pages) nodes_used += n > 0;
  EXPECT_GE(nodes_used, 2);
  xsmem_source_unmap(xsmem_numa_space_interleaved_source(sp.get()), p, got);
  xsmem_numa_space_release(sp.get());
}

}  // namespace
