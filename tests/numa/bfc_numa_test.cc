// The `bfc_numa` configuration on a fake topology (XSMEM_NUMA_FAKE_NODES from
// the test's env, a small XSMEM_NUMA_NODE_LIMIT): blocks come from the
// caller's node, frees go back to the owner, an exhausted node falls back to
// another, and the per-node figures say so.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <thread>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "gtest/gtest.h"
#include "numa/topology.h"
#include "tests/testing/detail.h"

namespace {

constexpr size_t kMiB = 1 << 20;

using xsmem::testing::Detail;

xsmem_allocator *BfcNuma() {
  const xsmem_config *c = xsmem_config_find("bfc_numa");
  EXPECT_NE(c, nullptr);
  return c ? xsmem_config_instance(c) : nullptr;
}

int Nodes() { return atoi(getenv("XSMEM_NUMA_FAKE_NODES")); }

TEST(BfcNuma, BlocksComeFromTheCallersNode) {
  ASSERT_EQ(xsmem_numa_topology_kind(), XSMEM_NUMA_KIND_FAKE);
  ASSERT_EQ(xsmem_numa_num_nodes(), Nodes());
  xsmem_allocator *a = BfcNuma();
  ASSERT_NE(a, nullptr);
  EXPECT_STREQ(a->ops->kind, "numa_router");
  auto before = Detail(a);
  std::vector<void *> blocks;
  for (int node = 0; node < Nodes(); node++) {
    xsmem_numa_fake_set_thread_node(node);
    for (size_t size : {16, 1000, 70000}) {
      void *p = xsmem_alloc(a, size, 16, 0);
      ASSERT_NE(p, nullptr);
      memset(p, node, size);
      EXPECT_EQ(xsmem_numa_node_of_address(p), node) << size;
      blocks.push_back(p);
    }
  }
  auto during = Detail(a);
  for (int node = 0; node < Nodes(); node++) {
    std::string n = std::to_string(node);
    EXPECT_EQ(during.Get("node", n, "num_allocs") - before.Get("node", n, "num_allocs"), 3) << node;
    EXPECT_GE(during.Get("node", n, "bytes_in_use") - before.Get("node", n, "bytes_in_use"), 16 + 1000 + 70000) << node;
    EXPECT_GT(during.Get("node", n, "bytes_mapped"), 0) << node;
  }
  // Freed from a thread on another node: each block returns to its owner.
  std::thread([&] {
    xsmem_numa_fake_set_thread_node(Nodes() - 1);
    for (void *p : blocks) xsmem_free(a, p);
  }).join();
  auto after = Detail(a);
  for (int node = 0; node < Nodes(); node++) {
    std::string n = std::to_string(node);
    EXPECT_EQ(after.Get("node", n, "num_frees") - before.Get("node", n, "num_frees"), 3) << node;
    EXPECT_EQ(after.Get("node", n, "bytes_in_use"), before.Get("node", n, "bytes_in_use")) << node;
  }
  xsmem_numa_fake_set_thread_node(-1);
}

TEST(BfcNuma, AnExhaustedNodeFallsBackToAnother) {
  xsmem_allocator *a = BfcNuma();
  ASSERT_NE(a, nullptr);
  xsmem_numa_fake_set_thread_node(0);
  auto before = Detail(a);
  std::vector<void *> blocks;
  std::vector<int> where(Nodes());
  // XSMEM_NUMA_NODE_LIMIT is 64 MiB: 100 blocks of 1 MiB cannot all fit on node 0.
  for (int i = 0; i < 100; i++) {
    void *p = xsmem_alloc(a, kMiB, 16, 0);
    ASSERT_NE(p, nullptr) << i;
    int node = xsmem_numa_node_of_address(p);
    ASSERT_GE(node, 0);
    where[node]++;
    blocks.push_back(p);
  }
  auto during = Detail(a);
  EXPECT_GT(where[0], 32);
  EXPECT_LE(where[0], 64);
  EXPECT_GT(during.Get("node", "0", "fallbacks_out") - before.Get("node", "0", "fallbacks_out"), 0);
  EXPECT_EQ(during.Get("node", "0", "fallbacks_out") - before.Get("node", "0", "fallbacks_out"), 100 - where[0]);
  double in = 0;
  for (int node = 1; node < Nodes(); node++) in += during.Get("node", std::to_string(node), "fallbacks_in");
  EXPECT_EQ(in, 100 - where[0]);
  EXPECT_GT(during.Get("node", "0", "refused"), 0) << "node 0's source refused at its limit";
  for (void *p : blocks) xsmem_free(a, p);
  xsmem_stats s = xsmem_get_stats(a);
  EXPECT_EQ(s.num_failed, 0u) << "every request was served somewhere";
  xsmem_numa_fake_set_thread_node(-1);
}

TEST(BfcNuma, FailsOnlyWhenEveryNodeIsFull) {
  xsmem_allocator *a = BfcNuma();
  ASSERT_NE(a, nullptr);
  uint64_t failed = xsmem_get_stats(a).num_failed;
  errno = 0;
  EXPECT_EQ(xsmem_alloc(a, 65 * kMiB, 16, 0), nullptr) << "larger than any node's limit";
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(xsmem_get_stats(a).num_failed, failed + 1);
}

TEST(BfcNuma, ForeignPointersAreReported) {
  xsmem_allocator *a = BfcNuma();
  ASSERT_NE(a, nullptr);
  static char outside[64];
  EXPECT_DEATH(xsmem_free(a, outside), "bfc_numa.*pointer not allocated by this allocator");
}

}  // namespace
