// export/service_test.cc: the option-driven service (export/service.c):
// started from XSMEM_SNAPSHOT, XSMEM_SNAPSHOT_INTERVAL_MS and XSMEM_HTTP, it
// samples, streams snapshots, serves HTTP and stops cleanly.
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

extern "C" {
#include "export/buf.h"
#include "export/service.h"
#include "export/snapshot.h"
}
#include "export/testing/export_testing.h"

namespace {

using xsmem::testing::Arena;
using xsmem::testing::Buf;
using xsmem::testing::ExportTest;
using xsmem::testing::Get;
using xsmem::testing::Stream;
using xsmem::testing::TmpPath;

// The option-driven service: sampler thread, periodic stream, HTTP, clean stop.
TEST_F(ExportTest, ServiceStartsFromOptionsAndStopsCleanly) {
  std::string path = TmpPath("service-%p.pb");
  std::string real = TmpPath(("service-" + std::to_string(getpid()) + ".pb").c_str());
  setenv("XSMEM_SNAPSHOT", path.c_str(), 1);
  setenv("XSMEM_SNAPSHOT_INTERVAL_MS", "20", 1);
  setenv("XSMEM_HTTP", "127.0.0.1:0", 1);
  ASSERT_TRUE(xsmem_export_start());
  EXPECT_TRUE(xsmem_export_start());  // idempotent
  uint16_t port = xsmem_export_http_port();
  ASSERT_NE(port, 0);
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(Get(port, "/metrics").status, 200);
    usleep(30000);
  }
  xsmem_export_stop();
  xsmem_export_stop();  // idempotent
  EXPECT_EQ(xsmem_export_http_port(), 0);
  EXPECT_EQ(Get(port, "/metrics").status, 0);
  unsetenv("XSMEM_SNAPSHOT");
  unsetenv("XSMEM_SNAPSHOT_INTERVAL_MS");
  unsetenv("XSMEM_HTTP");
  Buf file;
  ASSERT_TRUE(xsmem_read_file(real.c_str(), &file.b)) << real;
  Arena ar;
  xsmem_snapshot_stream st = Stream(file.b.data, file.b.len);
  Xsmem__Snapshot *s;
  int n = 0, r;
  size_t last_timeline = 0;
  while ((r = xsmem_snapshot_next(&st, &ar.a, &s)) == 1) {
    n++;
    last_timeline = s->n_timeline;
  }
  EXPECT_EQ(r, 0);
  EXPECT_GE(n, 3);  // periodic ones, then the exit one
  EXPECT_GE(last_timeline, 1u);
}

}  // namespace
