// The device configurations on a machine without a usable GPU, through the
// registry as a program would use them: bfc_cuda and managed are not built
// and say why once (however many ask, and again), pinned serves pageable
// host memory and says so in its memory type, its detail and under
// XSMEM_VERBOSE. Run twice (BUILD): with XSMEM_CUDA_LIBRARY=none (no
// runtime) and with the machine's runtime (no device here; on a GPU machine
// that variant skips).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "allocators/registry.h"
#include "device/cuda.h"
#include "device/device.h"
#include "gtest/gtest.h"

namespace {

struct Found {
  xsmem_stats_sink sink;
  double fallback = -1, device = -2;
  std::string type;
};

void Collect(xsmem_stats_sink *s, const char *group, const char *label, const char *key, const char *, double v) {
  Found *f = reinterpret_cast<Found *>(s);
  if (strcmp(group, "memory") != 0) return;
  f->type = label;
  if (strcmp(key, "fallback") == 0) f->fallback = v;
  if (strcmp(key, "device") == 0) f->device = v;
}

size_t Count(const std::string &hay, const std::string &needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) n++;
  return n;
}

TEST(NoCuda, DeviceConfigurationsAreNotBuiltAndSayWhyOnce) {
  if (xsmem_cuda()) GTEST_SKIP() << "a device is present: " << xsmem_cuda_status();
  testing::internal::CaptureStderr();
  EXPECT_EQ(xsmem_config_instance(xsmem_config_find("bfc_cuda")), nullptr);
  EXPECT_EQ(xsmem_config_instance(xsmem_config_find("managed")), nullptr);
  EXPECT_EQ(xsmem_config_instance(xsmem_config_find("bfc_cuda")), nullptr);  // tried again, not said again
  std::string err = testing::internal::GetCapturedStderr();
  std::string status = xsmem_cuda_status();
  const char *expect = getenv("XSMEM_TEST_EXPECT");
  ASSERT_NE(expect, nullptr);
  EXPECT_EQ(status.rfind(expect, 0), 0u) << status;
  EXPECT_EQ(Count(err, status), 1u) << err;
}

TEST(NoCuda, PinnedFallsBackToPageableMemoryAndSaysSo) {
  if (xsmem_cuda()) GTEST_SKIP() << "a device is present: " << xsmem_cuda_status();
  testing::internal::CaptureStderr();
  xsmem_allocator *a = xsmem_config_instance(xsmem_config_find("pinned"));
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_NE(a, nullptr);
  EXPECT_NE(err.find(std::string("pinned memory: ") + xsmem_cuda_status() +
                     "; using page-aligned pageable host memory instead"),
            std::string::npos)
      << err;  // XSMEM_VERBOSE=1 (BUILD)
  EXPECT_EQ(xsmem_device_memory_type(a), XSMEM_MEMORY_HOST_PAGEABLE);
  Found f;
  f.sink.value = Collect;
  a->ops->detail(a, &f.sink);
  EXPECT_EQ(f.type, "host_pageable");
  EXPECT_EQ(f.fallback, 1);
  EXPECT_EQ(f.device, -1);
  // Host memory: the host writes it; the device API serves it (no streams: reused at once).
  void *p = xsmem_device_alloc(a, 1 << 20, nullptr);
  ASSERT_NE(p, nullptr);
  memset(p, 7, 1 << 20);
  xsmem_device_free(a, p, nullptr);
  void *q = xsmem_device_alloc(a, 1 << 20, reinterpret_cast<xsmem_stream>(0x1234));
  EXPECT_EQ(q, p);
  xsmem_device_free(a, q, reinterpret_cast<xsmem_stream>(0x1234));
}

}  // namespace
