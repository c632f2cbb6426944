// The `numa` configuration on a fake topology (XSMEM_NUMA_FAKE_NODES from the
// test's env, small buddy regions, a large tier from 8 MiB, a node limit):
// threads on different nodes get blocks of every tier from their node's
// segments (the recorded bindings say so), a block freed on another node goes
// back to its own node's lists, the per-node figures add up to the totals, and
// an exhausted node falls back to another (or fails, XSMEM_NUMA_FALLBACK=off).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "allocators/tls_buckets/tls_buckets.h"
#include "allocators/tls_buckets/tls_fast.h"
#include "gtest/gtest.h"
#include "numa/numa_tiered.h"
#include "numa/topology.h"
#include "tests/testing/detail.h"

namespace {

constexpr size_t kMiB = 1 << 20;

using xsmem::testing::Detail;

xsmem_allocator *Numa() {
  const xsmem_config *c = xsmem_config_find("numa");
  EXPECT_NE(c, nullptr);
  return c ? xsmem_config_instance(c) : nullptr;
}

int Nodes() { return atoi(getenv("XSMEM_NUMA_FAKE_NODES")); }
bool Fallback() {
  const char *f = getenv("XSMEM_NUMA_FALLBACK");
  return !f || strcmp(f, "off") != 0;
}

// The node of a small block's slot (from its segment header).
int SlotNode(const void *p) { return (int)(xsmem_tls_seg_of(p)->cls / xsmem_tls_class_count()); }

// One size of each tier: small (two classes), medium (buddy), large.
const size_t kSizes[] = {16, 1000, 100000, 2 * kMiB, 12 * kMiB};
constexpr int kSmallSizes = 3;

TEST(NumaTiered, BuiltPerNode) {
  ASSERT_EQ(xsmem_numa_topology_kind(), XSMEM_NUMA_KIND_FAKE);
  xsmem_allocator *a = Numa();
  ASSERT_NE(a, nullptr);
  EXPECT_STREQ(a->ops->kind, "numa_tiered");
  EXPECT_EQ(xsmem_numa_tiered_num_nodes(Numa()), Nodes());
  EXPECT_EQ((int)xsmem_tls_num_nodes(), Nodes());
  EXPECT_EQ(Detail(a).Get("route", "small", "nodes"), Nodes());
}

TEST(NumaTiered, EveryTierServesTheCallersNode) {
  xsmem_allocator *a = Numa();
  auto before = Detail(a);
  std::vector<std::vector<void *>> blocks(Nodes());
  for (int node = 0; node < Nodes(); node++) {
    std::thread([&, node] {
      xsmem_numa_fake_set_thread_node(node);
      for (int i = 0; i < (int)(sizeof(kSizes) / sizeof(kSizes[0])); i++) {
        size_t size = kSizes[i];
        void *p = xsmem_alloc(a, size, 16, 0);
        ASSERT_NE(p, nullptr) << size;
        memset(p, node, size);
        EXPECT_EQ(xsmem_numa_node_of_address(p), node) << size;
        if (i < kSmallSizes) {
          EXPECT_EQ(SlotNode(p), node) << size;
        }
        blocks[node].push_back(p);
      }
    }).join();
  }
  auto during = Detail(a);
  for (int node = 0; node < Nodes(); node++) {
    std::string n = std::to_string(node);
    EXPECT_EQ(during.Get("node", n, "num_allocs") - before.Get("node", n, "num_allocs"), 5) << node;
    EXPECT_GE(during.Get("node", n, "bytes_in_use") - before.Get("node", n, "bytes_in_use"),
              16 + 1000 + 100000 + 14 * kMiB)
        << node;
    EXPECT_GT(during.Get("node", n, "small_bytes_in_use"), 0) << node;
    EXPECT_GE(during.Get("node", n, "medium_bytes_in_use"), 2 * kMiB) << node;
    EXPECT_GE(during.Get("node", n, "large_bytes_in_use"), 12 * kMiB) << node;
    EXPECT_GT(during.Get("node", n, "small_segments"), 0) << node;
    EXPECT_GT(during.Get("node", n, "bytes_mapped"), 0) << node;
  }
  // Freed by a thread on the last node: each block goes back to its own node.
  std::thread([&] {
    xsmem_numa_fake_set_thread_node(Nodes() - 1);
    for (auto &v : blocks) {
      for (void *p : v) xsmem_free(a, p);
    }
  }).join();
  auto after = Detail(a);
  for (int node = 0; node < Nodes(); node++) {
    std::string n = std::to_string(node);
    EXPECT_EQ(after.Get("node", n, "num_frees") - before.Get("node", n, "num_frees"), 5) << node;
    EXPECT_EQ(after.Get("node", n, "bytes_in_use"), before.Get("node", n, "bytes_in_use")) << node;
  }
}

// Blocks of node 1 freed on node 0 (and handed back at thread exit) are
// found again by node 1, never by node 0: batches do not mix nodes.
TEST(NumaTiered, FreedBlocksReturnToTheirNodesLists) {
  xsmem_allocator *a = Numa();
  std::set<void *> of_node1;
  std::vector<void *> v;
  std::thread([&] {
    xsmem_numa_fake_set_thread_node(1);
    for (int i = 0; i < 2000; i++) v.push_back(xsmem_alloc(a, 48, 16, 0));
  }).join();
  for (void *p : v) {
    ASSERT_NE(p, nullptr);
    of_node1.insert(p);
  }
  std::thread([&] {
    xsmem_numa_fake_set_thread_node(0);
    for (void *p : v) xsmem_free(a, p);
  }).join();  // the exit hands the cache back: node 1's slot gets the blocks
  std::thread([&] {
    xsmem_numa_fake_set_thread_node(0);
    std::vector<void *> mine;
    for (int i = 0; i < 2000; i++) {
      void *p = xsmem_alloc(a, 48, 16, 0);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(of_node1.count(p), 0u) << "node 0 got a block of node 1";
      EXPECT_EQ(SlotNode(p), 0);
      mine.push_back(p);
    }
    for (void *p : mine) xsmem_free(a, p);
  }).join();
  size_t reused = 0;
  std::thread([&] {
    xsmem_numa_fake_set_thread_node(1);
    std::vector<void *> mine;
    for (int i = 0; i < 2000; i++) {
      void *p = xsmem_alloc(a, 48, 16, 0);
      reused += of_node1.count(p);
      EXPECT_EQ(SlotNode(p), 1);
      mine.push_back(p);
    }
    for (void *p : mine) xsmem_free(a, p);
  }).join();
  EXPECT_GT(reused, 1000u) << "node 1 should find its own freed blocks";
}

// A thread that moves to another node follows at its next refill.
TEST(NumaTiered, MigratedThreadFollows) {
  xsmem_allocator *a = Numa();
  std::thread([&] {
    xsmem_numa_fake_set_thread_node(0);
    void *p = xsmem_alloc(a, 4000, 16, 0);
    EXPECT_EQ(SlotNode(p), 0);
    xsmem_numa_fake_set_thread_node(Nodes() - 1);
    xsmem_tls_flush_thread();  // empty bins: the next malloc refills
    void *q = xsmem_alloc(a, 4000, 16, 0);
    EXPECT_EQ(SlotNode(q), Nodes() - 1);
    EXPECT_EQ(xsmem_numa_node_of_address(q), Nodes() - 1);
    xsmem_free(a, p);
    xsmem_free(a, q);
  }).join();
}

TEST(NumaTiered, PerNodeFiguresAddUpToTheTotals) {
  xsmem_allocator *a = Numa();
  std::vector<void *> keep;
  for (int node = 0; node < Nodes(); node++) {
    std::thread([&, node] {
      xsmem_numa_fake_set_thread_node(node);
      for (int i = 0; i < 50 * (node + 1); i++) keep.push_back(xsmem_alloc(a, 16 << (i % 10), 16, 0));
      keep.push_back(xsmem_alloc(a, 3 * kMiB, 16, 0));
    }).join();
  }
  xsmem_stats total = xsmem_get_stats(a);
  uint64_t in_use = 0, allocs = 0, frees = 0;
  for (int node = 0; node < Nodes(); node++) {
    xsmem_numa_tiered_node_stats s;
    ASSERT_TRUE(xsmem_numa_tiered_node_stats_get(a, node, &s));
    EXPECT_EQ(s.bytes_in_use, s.small_bytes_in_use + s.medium_bytes_in_use + s.large_bytes_in_use);
    in_use += s.bytes_in_use;
    allocs += s.num_allocs;
    frees += s.num_frees;
  }
  EXPECT_EQ(in_use, total.bytes_in_use);
  EXPECT_EQ(allocs, total.num_allocs);
  EXPECT_EQ(frees, total.num_frees);
  xsmem_numa_tiered_node_stats none;
  EXPECT_FALSE(xsmem_numa_tiered_node_stats_get(a, Nodes(), &none));
  for (void *p : keep) xsmem_free(a, p);
}

// Node 0 runs out (XSMEM_NUMA_NODE_LIMIT): with fallback the nearest other
// node serves and both ends count it; without, the request fails with ENOMEM.
// Runs last: it leaves node 0 full.
TEST(NumaTiered, ZZExhaustedNodeFallsBack) {
  xsmem_allocator *a = Numa();
  auto before = Detail(a);
  std::vector<void *> small, medium;
  bool failed_small = false, failed_medium = false;
  int small_elsewhere = 0, medium_elsewhere = 0;
  std::thread([&] {
    xsmem_numa_fake_set_thread_node(0);
    // 1 MiB blocks: three per 4 MiB segment; node 0's 160 MiB hold at most
    // 120 (less what the tests before took). Stops two segments past node 0.
    for (int i = 0; i < 200 && small_elsewhere < 6; i++) {
      void *p = xsmem_alloc(a, kMiB, 16, 0);
      if (!p) {
        EXPECT_EQ(errno, ENOMEM);
        failed_small = true;
        break;
      }
      EXPECT_EQ(SlotNode(p), 0);  // the slot stays node 0's even when mapped elsewhere
      if (xsmem_numa_node_of_address(p) != 0) small_elsewhere++;
      small.push_back(p);
    }
    // 4 MiB blocks: buddy regions of 16 MiB, then the large tier (8 MiB mappings).
    for (int i = 0; i < 100 && medium_elsewhere < 2; i++) {
      void *p = xsmem_alloc(a, 4 * kMiB, 16, 0);
      if (!p) {
        EXPECT_EQ(errno, ENOMEM);
        failed_medium = true;
        break;
      }
      if (xsmem_numa_node_of_address(p) != 0) medium_elsewhere++;
      medium.push_back(p);
    }
  }).join();
  auto after = Detail(a);
  double out = after.Get("node", "0", "fallbacks_out") - before.Get("node", "0", "fallbacks_out");
  double in = 0;
  for (int node = 1; node < Nodes(); node++) {
    std::string n = std::to_string(node);
    in += after.Get("node", n, "fallbacks_in") - before.Get("node", n, "fallbacks_in");
  }
  EXPECT_GT(after.Get("node", "0", "refused"), 0);
  if (Fallback()) {
    EXPECT_FALSE(failed_small);
    EXPECT_FALSE(failed_medium);
    EXPECT_GT(small_elsewhere, 0);
    EXPECT_GT(medium_elsewhere, 0);
    EXPECT_GT(out, 0);
    EXPECT_EQ(out, in);
  } else {
    EXPECT_TRUE(failed_small);
    EXPECT_TRUE(failed_medium);
    EXPECT_EQ(small_elsewhere, 0);
    EXPECT_EQ(medium_elsewhere, 0);
    EXPECT_EQ(out, 0);
  }
  for (void *p : small) xsmem_free(a, p);
  for (void *p : medium) xsmem_free(a, p);
}

}  // namespace
