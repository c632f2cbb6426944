// A device configuration in every export: bfc_cuda on the fake device
// (XSMEM_CUDA_FAKE_DEVICE) is collected into a snapshot whose Allocator
// carries memory_type "device" and device 0, which the JSON and Prometheus
// writers show and a packed snapshot keeps; host allocators say host_pageable.
#include <string>

#include "allocators/registry.h"
#include "device/device.h"
#include "export/buf.h"
#include "export/format.h"
#include "export/snapshot.h"
#include "gtest/gtest.h"

namespace {

struct Buf {
  xsmem_buf b = XSMEM_BUF_INIT;
  ~Buf() { xsmem_buf_free(&b); }
  std::string str() const { return std::string(b.data ? b.data : "", b.len); }
};

TEST(DeviceExport, MemoryTypeInSnapshotJsonAndPrometheus) {
  const xsmem_config *c = xsmem_config_find("bfc_cuda");
  ASSERT_NE(c, nullptr);
  xsmem_allocator *a = xsmem_config_instance(c);
  ASSERT_NE(a, nullptr) << "bfc_cuda did not build over the fake device";
  xsmem_device_free(a, xsmem_device_alloc(a, 4096, nullptr), nullptr);
  xsmem_arena ar = XSMEM_ARENA_INIT;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&ar);
  ASSERT_NE(s, nullptr);
  const Xsmem__Allocator *m = xsmem_snapshot_find(s, "bfc_cuda");
  ASSERT_NE(m, nullptr);
  EXPECT_STREQ(m->memory_type, "device");
  EXPECT_EQ(m->device, 0);
  const Xsmem__Allocator *os = xsmem_snapshot_find(s, "os");
  ASSERT_NE(os, nullptr);
  EXPECT_STREQ(os->memory_type, "host_pageable");
  EXPECT_EQ(os->device, -1);

  Buf json;
  xsmem_json_allocator(m, &json.b);
  EXPECT_NE(json.str().find("\"memory_type\":\"device\",\"device\":0,"), std::string::npos) << json.str();

  Buf prom;
  xsmem_prometheus(s, &prom.b);
  EXPECT_NE(prom.str().find("xsmem_allocator_memory_info{allocator=\"bfc_cuda\",config=\"bfc_cuda\",memory_type="
                            "\"device\",device=\"0\"} 1\n"),
            std::string::npos)
      << prom.str().substr(0, 2000);
  EXPECT_NE(prom.str().find("memory_type=\"host_pageable\",device=\"-1\"} 1\n"), std::string::npos);

  // The fields survive packing (new numbers: older readers skip them).
  Buf packed;
  ASSERT_TRUE(xsmem_snapshot_pack(s, false, &packed.b));
  xsmem_arena ar2 = XSMEM_ARENA_INIT;
  Xsmem__Snapshot *back = xsmem_snapshot_unpack(&ar2, packed.b.data, packed.b.len);
  ASSERT_NE(back, nullptr);
  const Xsmem__Allocator *mb = xsmem_snapshot_find(back, "bfc_cuda");
  ASSERT_NE(mb, nullptr);
  EXPECT_STREQ(mb->memory_type, "device");
  EXPECT_EQ(mb->device, 0);
  xsmem_arena_free(&ar2);
  xsmem_arena_free(&ar);
}

}  // namespace
