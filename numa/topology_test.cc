// Tests of numa/topology: the system topology as found, fake topologies of 2
// and 4 nodes (binding recorded, caller placement), and argument checks.
#include "numa/topology.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

bool FakeFromEnv() {
  const char *v = getenv("XSMEM_NUMA_FAKE_NODES");
  return v && atoi(v) > 0;
}

bool OffFromEnv() {
  const char *v = getenv("XSMEM_NUMA");
  return v && strcmp(v, "off") == 0;
}

// Removes any fake topology a test installed.
class Topology : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!FakeFromEnv()) xsmem_numa_fake_remove();
  }
};

std::vector<xsmem_numa_record> Records() {
  std::vector<xsmem_numa_record> r(4096);
  r.resize(xsmem_numa_fake_records(r.data(), r.size()));
  return r;
}

TEST_F(Topology, SystemTopologyIsConsistent) {
  if (FakeFromEnv()) GTEST_SKIP() << "XSMEM_NUMA_FAKE_NODES is set";
  int n = xsmem_numa_num_nodes();
  ASSERT_GE(n, 1);
  ASSERT_LE(n, XSMEM_NUMA_MAX_NODES);
  int mode;
  bool kernel = syscall(SYS_get_mempolicy, &mode, nullptr, 0, nullptr, 0) == 0;
  if (OffFromEnv()) {
    EXPECT_EQ(xsmem_numa_topology_kind(), XSMEM_NUMA_KIND_FALLBACK);
  } else {
    EXPECT_EQ(xsmem_numa_available(), kernel);
  }
  int cpus = 0;
  for (int node = 0; node < n; node++) {
    cpus += xsmem_numa_node_cpu_count(node);
    EXPECT_EQ(xsmem_numa_distance(node, node), 10) << node;
  }
  EXPECT_GE(cpus, 1);
  int here = xsmem_numa_current_node();
  EXPECT_GE(here, 0);
  EXPECT_LT(here, n);
  unsigned cpu = 0, node = 0;
  ASSERT_EQ(syscall(SYS_getcpu, &cpu, &node, nullptr), 0);
  if (xsmem_numa_topology_kind() == XSMEM_NUMA_KIND_REAL) {
    EXPECT_EQ(xsmem_numa_node_of_cpu((int)cpu), (int)node);
  }
  char buf[160];
  EXPECT_NE(std::string(xsmem_numa_describe(buf, sizeof(buf))).find(std::to_string(n) + " node"), std::string::npos)
      << buf;
}

TEST_F(Topology, NodeOfAddressOnTheSystem) {
  if (FakeFromEnv()) GTEST_SKIP() << "XSMEM_NUMA_FAKE_NODES is set";
  size_t page = sysconf(_SC_PAGESIZE);
  auto *p = static_cast<char *>(mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  if (xsmem_numa_topology_kind() == XSMEM_NUMA_KIND_REAL) {
    EXPECT_EQ(xsmem_numa_node_of_address(p + page), -1) << "an untouched page is not resident";
  }
  p[page] = 1;
  int node = xsmem_numa_node_of_address(p + page + 100);
  EXPECT_GE(node, 0);
  EXPECT_LT(node, xsmem_numa_num_nodes());
  if (xsmem_numa_num_nodes() == 1) {
    EXPECT_EQ(node, 0);
  }
  munmap(p, 4 * page);
}

TEST_F(Topology, BindingOnTheSystem) {
  if (FakeFromEnv()) GTEST_SKIP() << "XSMEM_NUMA_FAKE_NODES is set";
  size_t page = sysconf(_SC_PAGESIZE);
  size_t len = 16 * page;
  auto *p = static_cast<char *>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  int n = xsmem_numa_num_nodes();
  int want = xsmem_numa_topology_kind() == XSMEM_NUMA_KIND_REAL ? 0 : XSMEM_NUMA_NOOP;
  EXPECT_EQ(xsmem_numa_bind_range(p, len, n - 1, XSMEM_NUMA_BIND_STRICT), want);
  EXPECT_EQ(xsmem_numa_bind_range(p, len, 0, XSMEM_NUMA_BIND_PREFERRED), want);
  EXPECT_EQ(xsmem_numa_interleave_range(p, len), want);
  memset(p, 1, len);
  size_t on = 0;
  EXPECT_EQ(xsmem_numa_move_range(p, len, 0, &on), want);
  if (want == 0 && n == 1) {
    EXPECT_EQ(on, len / page);
  }
  // Bad nodes are refused whatever the topology.
  EXPECT_EQ(xsmem_numa_bind_range(p, len, n, XSMEM_NUMA_BIND_STRICT), -EINVAL);
  EXPECT_EQ(xsmem_numa_bind_range(p, len, -1, XSMEM_NUMA_BIND_STRICT), -EINVAL);
  EXPECT_EQ(xsmem_numa_move_range(p, len, n, &on), -EINVAL);
  EXPECT_EQ(xsmem_numa_bind_thread(n), -EINVAL);
  munmap(p, len);
}

class FakeTopology : public Topology, public ::testing::WithParamInterface<int> {};

TEST_P(FakeTopology, ShapeAndDistances) {
  int n = GetParam();
  ASSERT_TRUE(xsmem_numa_fake_install(n));
  EXPECT_EQ(xsmem_numa_topology_kind(), XSMEM_NUMA_KIND_FAKE);
  EXPECT_TRUE(xsmem_numa_available());
  EXPECT_EQ(xsmem_numa_num_nodes(), n);
  for (int c = 0; c < 16; c++) EXPECT_EQ(xsmem_numa_node_of_cpu(c), c % n);
  for (int a = 0; a < n; a++) {
    EXPECT_EQ(xsmem_numa_distance(a, a), 10);
    int order[XSMEM_NUMA_MAX_NODES];
    ASSERT_EQ(xsmem_numa_nodes_by_distance(a, order, XSMEM_NUMA_MAX_NODES), n - 1);
    std::vector<bool> seen(n);
    for (int i = 0; i < n - 1; i++) {
      EXPECT_NE(order[i], a);
      EXPECT_FALSE(seen[order[i]]);
      seen[order[i]] = true;
      if (i > 0) {
        EXPECT_LE(xsmem_numa_distance(a, order[i - 1]), xsmem_numa_distance(a, order[i]));
      }
    }
    for (int b = 0; b < n; b++) EXPECT_EQ(xsmem_numa_distance(a, b), xsmem_numa_distance(b, a));
  }
  EXPECT_EQ(xsmem_numa_distance(0, n), 0);
}

TEST_P(FakeTopology, BindingIsRecordedNotPerformed) {
  int n = GetParam();
  ASSERT_TRUE(xsmem_numa_fake_install(n));
  size_t page = sysconf(_SC_PAGESIZE);
  size_t len = 8 * page;
  std::vector<char *> ranges;
  for (int node = 0; node < n; node++) {
    auto *p = static_cast<char *>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(p, MAP_FAILED);
    ranges.push_back(p);
    EXPECT_EQ(xsmem_numa_bind_range(p, len, node, XSMEM_NUMA_BIND_STRICT), XSMEM_NUMA_RECORDED);
    // The kernel saw nothing: the range keeps the default policy.
    int mode = -1;
    ASSERT_EQ(syscall(SYS_get_mempolicy, &mode, nullptr, 0, p, 2 /* MPOL_F_ADDR */), 0);
    EXPECT_EQ(mode, 0 /* MPOL_DEFAULT */);
  }
  auto rec = Records();
  ASSERT_EQ(rec.size(), (size_t)n);
  for (int node = 0; node < n; node++) {
    EXPECT_EQ(rec[node].addr, (uintptr_t)ranges[node]);
    EXPECT_EQ(rec[node].len, len);
    EXPECT_EQ(rec[node].node, node);
    EXPECT_EQ(xsmem_numa_node_of_address(ranges[node] + len - 1), node);
    EXPECT_EQ(xsmem_numa_node_of_address(ranges[node] + 3 * page), node);
  }
  // Moving re-records; interleaving spreads pages over nodes.
  size_t on = 0;
  EXPECT_EQ(xsmem_numa_move_range(ranges[0] + 10, page, n - 1, &on), XSMEM_NUMA_RECORDED);
  EXPECT_EQ(on, 2u) << "an unaligned range of one page spans two";
  EXPECT_EQ(xsmem_numa_node_of_address(ranges[0]), n - 1);
  EXPECT_EQ(xsmem_numa_interleave_range(ranges[0], len), XSMEM_NUMA_RECORDED);
  for (int i = 0; i < 8; i++) EXPECT_EQ(xsmem_numa_node_of_address(ranges[0] + i * page), i % n);
  char unrelated[64];
  EXPECT_EQ(xsmem_numa_node_of_address(unrelated), -1);
  xsmem_numa_fake_clear_records();
  EXPECT_EQ(Records().size(), 0u);
  EXPECT_EQ(xsmem_numa_node_of_address(ranges[n - 1]), -1);
  for (char *p : ranges) munmap(p, len);
}

TEST_P(FakeTopology, ThreadPlacement) {
  int n = GetParam();
  ASSERT_TRUE(xsmem_numa_fake_install(n));
  for (int node = n - 1; node >= 0; node--) {
    xsmem_numa_fake_set_thread_node(node);
    for (int i = 0; i < 3 * XSMEM_NUMA_REFRESH; i++) ASSERT_EQ(xsmem_numa_current_node(), node);
  }
  EXPECT_EQ(xsmem_numa_bind_thread(n - 1), XSMEM_NUMA_RECORDED);
  EXPECT_EQ(xsmem_numa_current_node(), n - 1);
  // Another thread is not placed: it runs where its CPU says.
  int other = -1, other_cpu_node = -2;
  std::thread([&] {
    other = xsmem_numa_current_node();
    other_cpu_node = xsmem_numa_current_node_uncached();
  }).join();
  EXPECT_EQ(other, other_cpu_node);
  // Unplacing returns to the CPU's node; a new topology forgets placements.
  xsmem_numa_fake_set_thread_node(-1);
  EXPECT_EQ(xsmem_numa_current_node(), xsmem_numa_current_node_uncached());
  xsmem_numa_fake_set_thread_node(n - 1);
  ASSERT_TRUE(xsmem_numa_fake_install(n));
  EXPECT_EQ(xsmem_numa_current_node(), xsmem_numa_current_node_uncached());
}

// The refresh asks the CPU at once but keeps a placement.
TEST_P(FakeTopology, RefreshKeepsPlacement) {
  int n = GetParam();
  ASSERT_TRUE(xsmem_numa_fake_install(n));
  xsmem_numa_fake_set_thread_node(n - 1);
  EXPECT_EQ(xsmem_numa_current_node_refresh(), n - 1);
  EXPECT_EQ(xsmem_numa_current_node(), n - 1);
  xsmem_numa_fake_set_thread_node(-1);
  int fresh = xsmem_numa_current_node_refresh();
  EXPECT_GE(fresh, 0);
  EXPECT_LT(fresh, n);
  EXPECT_EQ(xsmem_numa_current_node(), fresh);
}

INSTANTIATE_TEST_SUITE_P(Nodes, FakeTopology, ::testing::Values(1, 2, 4));

TEST_F(Topology, FakeInstallRejectsBadCounts) {
  EXPECT_FALSE(xsmem_numa_fake_install(0));
  EXPECT_FALSE(xsmem_numa_fake_install(XSMEM_NUMA_MAX_NODES + 1));
}

TEST_F(Topology, RemovingTheFakeBringsTheSystemBack) {
  if (FakeFromEnv()) GTEST_SKIP() << "XSMEM_NUMA_FAKE_NODES is set";
  int n = xsmem_numa_num_nodes();
  xsmem_numa_kind k = xsmem_numa_topology_kind();
  ASSERT_TRUE(xsmem_numa_fake_install(3));
  EXPECT_EQ(xsmem_numa_num_nodes(), 3);
  xsmem_numa_fake_remove();
  EXPECT_EQ(xsmem_numa_num_nodes(), n);
  EXPECT_EQ(xsmem_numa_topology_kind(), k);
}

TEST_F(Topology, FakeFromTheEnvironment) {
  if (!FakeFromEnv()) GTEST_SKIP() << "run by topology_env_fake_test";
  EXPECT_EQ(xsmem_numa_topology_kind(), XSMEM_NUMA_KIND_FAKE);
  EXPECT_EQ(xsmem_numa_num_nodes(), atoi(getenv("XSMEM_NUMA_FAKE_NODES")));
}

TEST_F(Topology, PolicyFollowsTheOption) {
  const char *v = getenv("XSMEM_NUMA");
  xsmem_numa_policy want = XSMEM_NUMA_POLICY_LOCAL;
  if (v && strcmp(v, "off") == 0) want = XSMEM_NUMA_POLICY_OFF;
  if (v && strcmp(v, "interleave") == 0) want = XSMEM_NUMA_POLICY_INTERLEAVE;
  if (xsmem_numa_topology_kind() == XSMEM_NUMA_KIND_FALLBACK) want = XSMEM_NUMA_POLICY_OFF;
  EXPECT_EQ(xsmem_numa_policy_get(), want);
}

}  // namespace
