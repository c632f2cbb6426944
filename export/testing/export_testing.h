// export/testing/export_testing.h: what the exporter's tests share (one test
// binary per way of linking `os`, built from snapshot_test.cc,
// snapshot_integrity_test.cc, format_test.cc, monitor_test.cc, http_test.cc
// and service_test.cc): two fake allocators added to the exporter once per
// binary, an analysis provider with fixed figures and the ExportTest fixture
// that installs it, snapshot streams over memory, temporary paths, and an
// HTTP client over a real loopback socket.
#ifndef XSMEM_EXPORT_TESTING_EXPORT_TESTING_H_
#define XSMEM_EXPORT_TESTING_EXPORT_TESTING_H_

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "export/testing/scoped.h"
#include "gtest/gtest.h"

extern "C" {
#include "export/provider.h"
#include "export/snapshot.h"
#include "export/testing/fake_allocator.h"
}

namespace xsmem::testing {

// "fake_bfc" (kind bfc): 1000 allocations, fragmentation 0.25 (200 of 800 cached), six detail
// figures (tiers, nodes, a counter, a label that needs escaping). Added to
// the exporter on the first call; tests may change its figures.
xsmem_fake_allocator *Bfc();
// "fake_pool" (kind pool): 50 allocations, 10 hits and 90 misses.
xsmem_fake_allocator *Pool();

// Stands in for the tracker: a histogram of 7 buckets, 40 call sites (more
// than the snapshot keeps; the first symbolized), one leak.
extern const xsmem_analysis_provider kProvider;
extern const uint64_t kFrames[3];  // the frames of every call site and leak

// Adds both fakes and installs kProvider; takes the provider out after.
class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
};

// Returns a reader over len bytes at data.
xsmem_snapshot_stream Stream(const void *data, size_t len);

// Returns name in the test's temporary directory.
std::string TmpPath(const char *name);

// ---------------------------------------------------------------------------
// HTTP over a real socket.

struct Reply {
  int status = 0;  // 0: no connection, or no status line
  std::string headers, body;
};

// Sends raw to 127.0.0.1:port and reads the reply to the end.
Reply Request(uint16_t port, const std::string &raw);
// Sends one request (Connection: close) with a Host header and more headers.
Reply Get(uint16_t port, const std::string &path, const char *method = "GET", const std::string &headers = "",
          const std::string &host = "127.0.0.1");
// Returns a socket connected to 127.0.0.1:port, or -1.
int Connect(uint16_t port);

}  // namespace xsmem::testing

#endif  // XSMEM_EXPORT_TESTING_EXPORT_TESTING_H_
