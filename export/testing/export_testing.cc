// export/testing/export_testing.cc: see export_testing.h.
#include "export/testing/export_testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

namespace xsmem::testing {

// The fakes are statics of the binary: the exporter keeps pointers to them.
xsmem_fake_allocator *Bfc() {
  static xsmem_fake_allocator f;
  static bool init = [] {
    xsmem_fake_init(&f, "fake_bfc", "bfc");
    f.stats.num_allocs = 1000;
    f.stats.num_frees = 400;
    f.stats.bytes_in_use = 600 * 64;
    f.stats.peak_bytes_in_use = 700 * 64;
    f.stats.bytes_reserved = 1 << 20;
    f.stats.bytes_cached = 200 * 64;  // fragmentation 200 / (600 + 200) = 0.25
    f.detail[0] = {"tier", "small", "bytes_in_use", "gauge", 30000};
    f.detail[1] = {"tier", "large", "bytes_in_use", "gauge", 8400};
    f.detail[2] = {"node", "0", "bytes_in_use", "gauge", 20000};
    f.detail[3] = {"node", "1", "bytes_in_use", "gauge", 18400};
    f.detail[4] = {"tier", "small", "allocs", "counter", 900};
    f.detail[5] = {"class", "we\"ird\\la\nbel", "bytes_in_use", "gauge", 1.5};
    f.num_detail = 6;
    return xsmem_export_add_allocator(&f.base);
  }();
  EXPECT_TRUE(init);
  return &f;
}

xsmem_fake_allocator *Pool() {
  static xsmem_fake_allocator f;
  static bool init = [] {
    xsmem_fake_init(&f, "fake_pool", "pool");
    f.stats.num_allocs = 50;
    f.detail[0] = {"pool", "all", "hits", "counter", 10};
    f.detail[1] = {"pool", "all", "misses", "counter", 90};
    f.num_detail = 2;
    return xsmem_export_add_allocator(&f.base);
  }();
  EXPECT_TRUE(init);
  return &f;
}

const uint64_t kFrames[3] = {0x401000, 0x402000, 0x403000};

namespace {

void Hist(void *ctx, xsmem_analysis_sink *s) {
  for (uint64_t k = 4; k < 10; k++) {
    xsmem_hist_bucket b = {1ull << k, 1ull << (k + 1), 10 * k, 10 * k * (1ull << k), k, k << k};
    s->bucket(s, &b);
  }
  xsmem_hist_bucket last = {1024, 0, 1, 5000, 1, 5000};
  s->bucket(s, &last);
}
void Sites(void *ctx, size_t max, xsmem_analysis_sink *s) {
  for (size_t i = 0; i < 40 && i < max + 5; i++) {  // more than max: the sink must cap
    xsmem_call_site c = {kFrames, 3, i == 0 ? "parse_input+0x1c (a.out)" : NULL, 100 - i, 1000, 10, 640};
    s->call_site(s, &c);
  }
}
void Leaks(void *ctx, size_t max, xsmem_analysis_sink *s) {
  xsmem_leak l = {0x7f0000001000, 48, kFrames, 2, "leaky", 1, "definite"};
  s->leak(s, &l);
}

}  // namespace

const xsmem_analysis_provider kProvider = {"test", nullptr, Hist, nullptr, Sites, Leaks};

void ExportTest::SetUp() {
  Bfc();
  Pool();
  xsmem_export_set_provider(&kProvider);
}

void ExportTest::TearDown() { xsmem_export_set_provider(nullptr); }

xsmem_snapshot_stream Stream(const void *data, size_t len) {
  xsmem_snapshot_stream st;
  memset(&st, 0, sizeof(st));
  st.data = (const uint8_t *)data;
  st.len = len;
  return st;
}

std::string TmpPath(const char *name) {
  const char *d = getenv("TEST_TMPDIR");
  return std::string(d ? d : "/tmp") + "/" + name;
}

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

Reply Request(uint16_t port, const std::string &raw) {
  Reply r;
  int fd = Connect(port);
  if (fd < 0) return r;
  (void)!write(fd, raw.data(), raw.size());
  std::string all;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) all.append(buf, n);
  close(fd);
  size_t sp = all.find(' ');
  if (sp != std::string::npos) r.status = atoi(all.c_str() + sp + 1);
  size_t end = all.find("\r\n\r\n");
  if (end != std::string::npos) {
    r.headers = all.substr(0, end);
    r.body = all.substr(end + 4);
  }
  return r;
}

Reply Get(uint16_t port, const std::string &path, const char *method, const std::string &headers,
          const std::string &host) {
  return Request(
      port,
      std::string(method) + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + headers + "Connection: close\r\n\r\n");
}

}  // namespace xsmem::testing
