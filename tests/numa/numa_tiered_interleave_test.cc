// The `numa` configuration with XSMEM_NUMA=interleave on a fake 4-node
// topology: every tier's blocks come from interleaved memory (a region
// recorded as interleaved, node -1), whatever node the thread is on, and the figures are under the
// label "interleave"; the nodes themselves stay empty.
#include <string.h>

#include <string>
#include <thread>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "allocators/tls_buckets/tls_buckets.h"
#include "gtest/gtest.h"
#include "numa/numa_tiered.h"
#include "numa/topology.h"
#include "tests/testing/detail.h"

namespace {

// Returns the node of the newest binding record covering p (-2: none).
int RecordedNode(const void *p) {
  static xsmem_numa_record records[4096];
  size_t n = xsmem_numa_fake_records(records, 4096);
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (size_t i = n < 4096 ? n : 4096; i-- > 0;) {
    if (a >= records[i].addr && a < records[i].addr + records[i].len) return records[i].node;
  }
  return -2;
}

TEST(NumaDefaultInterleave, EveryTierIsInterleaved) {
  ASSERT_EQ(xsmem_numa_topology_kind(), XSMEM_NUMA_KIND_FAKE);
  const xsmem_config *c = xsmem_config_find("numa");
  ASSERT_NE(c, nullptr);
  xsmem_allocator *a = xsmem_config_instance(c);
  EXPECT_EQ(xsmem_tls_num_nodes(), 1u) << "one set of classes over interleaved memory";
  std::vector<void *> blocks;
  for (int node = 0; node < xsmem_numa_num_nodes(); node++) {
    std::thread([&, node] {
      xsmem_numa_fake_set_thread_node(node);
      for (size_t size : {16ul, 5000ul, 3ul << 20, 12ul << 20}) {
        void *p = xsmem_alloc(a, size, 16, 0);
        ASSERT_NE(p, nullptr);
        memset(p, 1, size);
        EXPECT_EQ(RecordedNode(p), -1) << size << " on node " << node;
        blocks.push_back(p);
      }
    }).join();
  }
  xsmem::testing::Detail detail(a);
  EXPECT_EQ(detail.Get("node", "interleave", "num_allocs"), 4.0 * xsmem_numa_num_nodes());
  xsmem_stats total = xsmem_get_stats(a);
  EXPECT_EQ(detail.Get("node", "interleave", "bytes_in_use"), (double)total.bytes_in_use);
  for (int node = 0; node < xsmem_numa_num_nodes(); node++) {
    EXPECT_EQ(detail.Get("node", std::to_string(node), "num_allocs"), 0) << node;
  }
  for (void *p : blocks) xsmem_free(a, p);
}

}  // namespace
