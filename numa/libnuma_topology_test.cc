// numa/topology (raw system calls and /sys) agrees with libnuma on this machine.
#include "numa/libnuma_topology.h"

#include <numa.h>

#include <string>

#include "gtest/gtest.h"

namespace {

TEST(LibnumaTopology, AgreesWithTheRawView) {
  if (xsmem_numa_topology_kind() == XSMEM_NUMA_KIND_FAKE) GTEST_SKIP() << "a fake topology";
  if (xsmem_numa_policy_get() == XSMEM_NUMA_POLICY_OFF && xsmem_numa_topology_kind() == XSMEM_NUMA_KIND_FALLBACK &&
      numa_available() >= 0) {
    GTEST_SKIP() << "XSMEM_NUMA=off: the fallback is chosen, not found";
  }
  char why[160];
  EXPECT_EQ(xsmem_numa_libnuma_compare(why, sizeof(why)), 0) << why;
  static xsmem_numa_libnuma_view v;
  EXPECT_EQ(xsmem_numa_libnuma_view_get(&v), xsmem_numa_available());
  EXPECT_EQ(v.num_nodes, xsmem_numa_num_nodes());
}

TEST(LibnumaTopology, AFakeTopologyDisagrees) {
  ASSERT_TRUE(xsmem_numa_fake_install(3));
  char why[160];
  EXPECT_GT(xsmem_numa_libnuma_compare(why, sizeof(why)), 0);
  EXPECT_NE(std::string(why).find("nodes: libnuma"), std::string::npos) << why;
  xsmem_numa_fake_remove();
}

}  // namespace
