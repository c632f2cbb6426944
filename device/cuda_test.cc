// The CUDA runtime through dlopen, against the real library. Without a GPU
// (the build machines have the runtime and no device) every test checks that
// xsmem says so, in words, and builds nothing, then skips; with a device
// (tests/gpu/run_on_device.sh) they allocate, copy and reuse for real.
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "allocators/bfc/bfc.h"
#include "device/cuda.h"
#include "device/device.h"
#include "device/source.h"
#include "gtest/gtest.h"

namespace {

bool HaveDevice() {
  if (xsmem_cuda()) return true;
  printf("SKIPPED: %s\n", xsmem_cuda_status());
  return false;
}

TEST(Cuda, StatusSaysWhyThereIsNoDevice) {
  std::string status = xsmem_cuda_status();
  switch (xsmem_cuda_state_get()) {
    case XSMEM_CUDA_NO_RUNTIME: EXPECT_EQ(status.rfind("no CUDA runtime (", 0), 0u) << status; break;
    case XSMEM_CUDA_NO_DEVICE:
      // The driver's words: "CUDA driver version is insufficient ...", "no CUDA-capable device is detected".
      EXPECT_EQ(status.rfind("no device (cudaGetDeviceCount", 0), 0u) << status;
      EXPECT_EQ(xsmem_cuda_device_count(), 0);
      break;
    case XSMEM_CUDA_READY: EXPECT_EQ(status.rfind("CUDA ready: ", 0), 0u) << status; break;
  }
  printf("%s\n", status.c_str());
}

TEST(Cuda, NoDeviceMeansNoDeviceSourcesAndAHostFallbackForPinned) {
  if (xsmem_cuda()) GTEST_SKIP() << "a device is present";
  testing::internal::CaptureStderr();
  EXPECT_EQ(xsmem_cuda_device_source(0), nullptr);
  EXPECT_EQ(xsmem_cuda_managed_source(0), nullptr);
  std::string err = testing::internal::GetCapturedStderr();
  // Said once, however many sources asked.
  EXPECT_NE(err.find(xsmem_cuda_status()), std::string::npos) << err;
  EXPECT_EQ(err.find(xsmem_cuda_status(), err.find(xsmem_cuda_status()) + 1), std::string::npos) << err;
  xsmem_device_source *pinned = xsmem_cuda_pinned_source();
  ASSERT_NE(pinned, nullptr);
  EXPECT_TRUE(pinned->fallback);
  EXPECT_EQ(pinned->type, XSMEM_MEMORY_HOST_PAGEABLE);
  EXPECT_STREQ(pinned->note, xsmem_cuda_status());
  size_t got = 0;
  void *p = xsmem_source_map(&pinned->base, 1 << 20, 4096, &got);
  ASSERT_NE(p, nullptr);
  memset(p, 1, got);
  xsmem_source_unmap(&pinned->base, p, got);
}

TEST(Cuda, ErrorStringsNeverCrash) {
  EXPECT_NE(xsmem_cuda_error_string(100), nullptr);
  EXPECT_NE(xsmem_cuda_error_string(-5), nullptr);
}

TEST(Cuda, DeviceMemoryRoundTrip) {
  if (!HaveDevice()) GTEST_SKIP() << xsmem_cuda_status();
  const xsmem_cuda_api *api = xsmem_cuda();
  xsmem_device_source *src = xsmem_cuda_device_source(0);
  ASSERT_NE(src, nullptr);
  xsmem_bfc_options o = xsmem_device_bfc_options(src);
  xsmem_bfc *b = xsmem_bfc_create(&src->base, &o, "cuda_test.bfc");
  ASSERT_NE(b, nullptr);
  xsmem_device_options d = xsmem_device_options_from_env();
  xsmem_allocator *a = xsmem_device_front_create(xsmem_bfc_allocator(b), src, &d, "cuda_test");
  ASSERT_NE(a, nullptr);
  xsmem_cuda_stream s = nullptr, t = nullptr;
  ASSERT_EQ(api->stream_create_with_flags(&s, XSMEM_CUDA_STREAM_NON_BLOCKING), 0);
  ASSERT_EQ(api->stream_create_with_flags(&t, XSMEM_CUDA_STREAM_NON_BLOCKING), 0);
  std::vector<char> in(1 << 20), out(1 << 20);
  for (size_t i = 0; i < in.size(); i++) in[i] = static_cast<char>(i * 7);
  void *p = xsmem_device_alloc(a, in.size(), s);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(api->memcpy_async(p, in.data(), in.size(), XSMEM_CUDA_MEMCPY_HOST_TO_DEVICE, s), 0);
  ASSERT_EQ(api->memcpy_async(out.data(), p, out.size(), XSMEM_CUDA_MEMCPY_DEVICE_TO_HOST, s), 0);
  ASSERT_EQ(api->stream_synchronize(s), 0);
  EXPECT_EQ(in, out);
  xsmem_device_free(a, p, s);
  EXPECT_EQ(xsmem_device_alloc(a, in.size(), s), p);  // the same stream reuses at once
  void *q = xsmem_device_alloc(a, in.size(), t);
  EXPECT_NE(q, nullptr);
  xsmem_device_free(a, p, s);
  xsmem_device_free(a, q, t);
  EXPECT_GT(xsmem_device_empty_cache(a), 0u);
  api->stream_destroy(s);
  api->stream_destroy(t);
  a->ops->destroy(a);
}

TEST(Cuda, PinnedAndManagedAreHostAddressable) {
  if (!HaveDevice()) GTEST_SKIP() << xsmem_cuda_status();
  for (xsmem_device_source *src : {xsmem_cuda_pinned_source(), xsmem_cuda_managed_source(0)}) {
    ASSERT_NE(src, nullptr);
    EXPECT_FALSE(src->fallback);
    size_t got = 0;
    void *p = xsmem_source_map(&src->base, 4 << 20, 4096, &got);
    ASSERT_NE(p, nullptr) << src->base.name;
    memset(p, 3, got);
    xsmem_source_unmap(&src->base, p, got);
  }
}

}  // namespace
