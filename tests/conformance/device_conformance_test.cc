// The contract of every device configuration ("malloc": False in configs.bzl),
// through xsmem_device_alloc / xsmem_device_free, on the fake device
// (XSMEM_CUDA_FAKE_DEVICE, set by configs.bzl): sizes and alignment, many
// blocks that never overlap, stats that add up, the stream rule, running out,
// and the memory type every export shows. XSMEM_TEST_CONFIG names the
// configuration.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "allocators/allocator.h"
#include "allocators/registry.h"
#include "device/device.h"
#include "device/fake.h"
#include "gtest/gtest.h"

namespace {

const char *ConfigName() {
  const char *n = getenv("XSMEM_TEST_CONFIG");
  return n ? n : "";
}

xsmem_allocator *Instance() {
  const xsmem_config *c = xsmem_config_find(ConfigName());
  return c ? xsmem_config_instance(c) : nullptr;
}

bool Aligned(const void *p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

struct Collected {
  xsmem_stats_sink sink;
  std::vector<std::pair<std::string, double>> values;  // "group/label/key" -> value
};

void Collect(xsmem_stats_sink *s, const char *group, const char *label, const char *key, const char *kind, double v) {
  reinterpret_cast<Collected *>(s)->values.emplace_back(std::string(group) + "/" + label + "/" + key, v);
}

bool Detail(xsmem_allocator *a, const std::string &name, double *out) {
  Collected c{{Collect}, {}};
  a->ops->detail(a, &c.sink);
  for (auto &kv : c.values) {
    if (kv.first == name) {
      *out = kv.second;
      return true;
    }
  }
  return false;
}

void Append(void *opaque, const char *data, size_t len) { static_cast<std::string *>(opaque)->append(data, len); }

TEST(DeviceConformance, BuildsOverTheFakeDevice) {
  const xsmem_config *c = xsmem_config_find(ConfigName());
  ASSERT_NE(c, nullptr) << "configuration '" << ConfigName() << "' is not registered";
  xsmem_allocator *a = xsmem_config_instance(c);
  ASSERT_NE(a, nullptr) << ConfigName() << " did not build over the fake device";
  EXPECT_TRUE(xsmem_is_device_allocator(a));
  EXPECT_STREQ(a->name, ConfigName());
  // Each configuration's memory is what its name says, faked.
  std::string name = ConfigName();
  xsmem_memory_type want = name == "bfc_cuda" ? XSMEM_MEMORY_DEVICE
      : name == "pinned"                      ? XSMEM_MEMORY_HOST_PINNED
                                              : XSMEM_MEMORY_MANAGED;
  EXPECT_EQ(xsmem_device_memory_type(a), want);
}

TEST(DeviceConformance, SizesAndAlignment) {
  xsmem_allocator *a = Instance();
  ASSERT_NE(a, nullptr);
  for (size_t n : {size_t{0}, size_t{1}, size_t{255}, size_t{256}, size_t{257}, size_t{4096}, size_t{100000},
                   size_t{1} << 20, size_t{7} << 20}) {
    void *p = xsmem_device_alloc(a, n, nullptr);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(Aligned(p, XSMEM_DEVICE_ALIGN)) << n;
    EXPECT_GE(xsmem_usable_size(a, p), n);
    xsmem_device_free(a, p, nullptr);
  }
  xsmem_device_free(a, nullptr, nullptr);  // a no-op
}

TEST(DeviceConformance, ManyBlocksNeverOverlapAndStatsAddUp) {
  xsmem_allocator *a = Instance();
  ASSERT_NE(a, nullptr);
  xsmem_stats before = xsmem_get_stats(a);
  std::mt19937 rng(7);
  std::vector<std::pair<uintptr_t, size_t>> live;
  size_t requested = 0;
  for (int i = 0; i < 3000; i++) {
    size_t n = 1 + rng() % 16384;
    void *p = xsmem_device_alloc(a, n, nullptr);
    ASSERT_NE(p, nullptr) << i;
    live.emplace_back(reinterpret_cast<uintptr_t>(p), xsmem_usable_size(a, p));
    requested += n;
  }
  std::sort(live.begin(), live.end());
  for (size_t i = 1; i < live.size(); i++) ASSERT_LE(live[i - 1].first + live[i - 1].second, live[i].first);
  xsmem_stats mid = xsmem_get_stats(a);
  EXPECT_EQ(mid.num_allocs - before.num_allocs, 3000u);
  EXPECT_GE(mid.bytes_in_use - before.bytes_in_use, requested);
  EXPECT_GE(mid.bytes_reserved, mid.bytes_in_use);
  EXPECT_GE(mid.peak_bytes_in_use, mid.bytes_in_use);
  for (auto &b : live) xsmem_device_free(a, reinterpret_cast<void *>(b.first), nullptr);
  xsmem_stats after = xsmem_get_stats(a);
  EXPECT_EQ(after.num_frees - before.num_frees, 3000u);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_LE(after.bytes_in_use + after.bytes_cached, after.bytes_reserved + after.bytes_cached);
}

TEST(DeviceConformance, AnotherStreamWaitsForTheFreeingStream) {
  xsmem_allocator *a = Instance();
  ASSERT_NE(a, nullptr);
  xsmem_fake_stream s{}, t{};
  void *p = xsmem_device_alloc(a, 1 << 20, &s);
  void *q = xsmem_device_alloc(a, 1 << 20, &t);  // two streams: blocks are kept per stream from now on
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  xsmem_fake_stream_launch(&s);  // a kernel on s still uses p
  xsmem_device_free(a, p, &s);
  void *r = xsmem_device_alloc(a, 1 << 20, &t);
  EXPECT_NE(r, p) << "t got a block s may still be using";
  void *again = xsmem_device_alloc(a, 1 << 20, &s);
  EXPECT_EQ(again, p) << "s did not reuse its own block at once";
  xsmem_device_free(a, again, &s);
  xsmem_device_free(a, q, &t);
  xsmem_device_free(a, r, &t);
  xsmem_fake_stream_complete(&s);
  xsmem_device_empty_cache(a);
}

TEST(DeviceConformance, RunningOutIsNullAndEnomemWithOneDump) {
  xsmem_allocator *a = Instance();
  ASSERT_NE(a, nullptr);
  xsmem_stats before = xsmem_get_stats(a);
  testing::internal::CaptureStderr();
  errno = 0;
  void *p = xsmem_device_alloc(a, size_t{1} << 40, nullptr);  // more than any device here
  int err = errno;
  void *q = xsmem_device_alloc(a, size_t{1} << 40, nullptr);
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(q, nullptr);
  EXPECT_EQ(err, ENOMEM);
  EXPECT_EQ(xsmem_get_stats(a).num_failed - before.num_failed, 2u);
  // The dump names the allocator once, for the first failure only.
  size_t first = out.find(std::string("xsmem: ") + ConfigName() + " (");
  EXPECT_NE(first, std::string::npos) << out;
  EXPECT_EQ(out.find(std::string("xsmem: ") + ConfigName() + " (", first + 1), std::string::npos) << out;
  // Still serving.
  void *r = xsmem_device_alloc(a, 4096, nullptr);
  EXPECT_NE(r, nullptr);
  xsmem_device_free(a, r, nullptr);
}

TEST(DeviceConformance, MemoryTypeInDetailAndJson) {
  xsmem_allocator *a = Instance();
  ASSERT_NE(a, nullptr);
  const char *type = xsmem_memory_type_name(xsmem_device_memory_type(a));
  double device = -2, fallback = -1;
  ASSERT_TRUE(Detail(a, std::string("memory/") + type + "/device", &device));
  ASSERT_TRUE(Detail(a, std::string("memory/") + type + "/fallback", &fallback));
  EXPECT_EQ(device, xsmem_device_index(a));
  EXPECT_EQ(fallback, 0);
  std::string json;
  ASSERT_EQ(xsmem_stats_write(a, "json", Append, &json), 0);
  EXPECT_NE(json.find("\"group\": \"memory\", \"label\": \"" + std::string(type) + "\""), std::string::npos)
      << json.substr(0, 400);
}

TEST(DeviceConformance, HostInterfaceServesTheDefaultStream) {
  xsmem_allocator *a = Instance();
  ASSERT_NE(a, nullptr);
  void *p = xsmem_alloc(a, 1000, 16, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(Aligned(p, XSMEM_DEVICE_ALIGN));
  xsmem_free(a, p);
  // A zeroed block only where the host can write one.
  errno = 0;
  void *z = xsmem_alloc(a, 64, 16, XSMEM_ALLOC_ZERO);
  if (xsmem_device_memory_type(a) == XSMEM_MEMORY_DEVICE) {
    EXPECT_EQ(z, nullptr);
    EXPECT_EQ(errno, EINVAL);
  } else {
    ASSERT_NE(z, nullptr);
    for (int i = 0; i < 64; i++) ASSERT_EQ(static_cast<char *>(z)[i], 0);
    xsmem_free(a, z);
  }
}

}  // namespace
