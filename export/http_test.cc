// export/http_test.cc: the HTTP endpoint over a real socket: routes and
// errors, addresses, the Host check against DNS rebinding, the token, and
// clients that trickle their requests.
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

extern "C" {
#include "export/http.h"
#include "export/snapshot.h"
}
#include "export/testing/export_testing.h"

namespace {

using xsmem::testing::Arena;
using xsmem::testing::Connect;
using xsmem::testing::ExportTest;
using xsmem::testing::Get;
using xsmem::testing::Reply;
using xsmem::testing::Request;
using xsmem::testing::TmpPath;

TEST_F(ExportTest, HttpEndpoint) {
  xsmem_http_server *srv = xsmem_http_start("127.0.0.1:0");
  ASSERT_NE(srv, nullptr) << errno;
  uint16_t port = xsmem_http_port(srv);
  ASSERT_NE(port, 0);

  Reply m = Get(port, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.headers.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(m.body.find("# TYPE xsmem_allocations_total counter"), std::string::npos);
  EXPECT_NE(m.body.find("allocator=\"fake_bfc\""), std::string::npos);

  Reply a = Get(port, "/api/allocators");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body[0], '[');
  EXPECT_NE(a.body.find("\"name\":\"fake_pool\""), std::string::npos);

  Reply st = Get(port, "/api/stats/fake_bfc");
  EXPECT_EQ(st.status, 200);
  EXPECT_NE(st.body.find("\"tier\":{\"small\""), std::string::npos);
  Reply missing = Get(port, "/api/stats/nobody%22here");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("no allocator named nobody\\\"here"), std::string::npos) << missing.body;

  Reply pb = Get(port, "/api/snapshot");
  EXPECT_EQ(pb.status, 200);
  EXPECT_NE(pb.headers.find("application/x-protobuf"), std::string::npos);
  Arena ar;
  Xsmem__Snapshot *s = xsmem_snapshot_unpack(&ar.a, pb.body.data(), pb.body.size());
  ASSERT_NE(s, nullptr);
  EXPECT_NE(xsmem_snapshot_find(s, "fake_bfc"), nullptr);
  EXPECT_EQ(Get(port, "/api/snapshot?format=json").body.substr(0, 12), "{\"sequence\":");
  EXPECT_EQ(Get(port, "/api/snapshot?format=xml").status, 400);
  EXPECT_EQ(Get(port, "/api/snapshot.json").status, 200);
  Reply csv = Get(port, "/api/timeline.csv");
  EXPECT_EQ(csv.status, 200);
  EXPECT_EQ(csv.body.substr(0, 8), "time_ns,");

  Reply page = Get(port, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<canvas id=\"usage\""), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos);  // no external assets
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(Get(port, "/", "HEAD").status, 200);

  // Bad requests: 4xx, and the server keeps serving.
  EXPECT_EQ(Get(port, "/nope").status, 404);
  EXPECT_EQ(Get(port, "/api/stats/").status, 404);
  EXPECT_EQ(Get(port, "/metrics", "POST").status, 405);
  EXPECT_EQ(Get(port, "/metrics", "DELETE").status, 405);
  int garbage = Request(port, "\x01\x02 nonsense\r\n\r\n").status;
  EXPECT_GE(garbage, 400);
  EXPECT_LT(garbage, 500);
  EXPECT_GE(Request(port, "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status, 400);
  EXPECT_EQ(Get(port, "/metrics").status, 200);

  // A second server on the same port fails cleanly.
  std::string addr = "127.0.0.1:" + std::to_string(port);
  errno = 0;
  EXPECT_EQ(xsmem_http_start(addr.c_str()), nullptr);
  EXPECT_NE(errno, 0);
  xsmem_http_stop(srv);
  EXPECT_EQ(Get(port, "/metrics").status, 0);  // stopped: connection refused
}

TEST(Http, RejectsMalformedAddresses) {
  for (const char *bad : {"", "127.0.0.1:", "127.0.0.1:99999", "nohost.example:80", "[::1:80", "1.2.3.4:8x"}) {
    errno = 0;
    EXPECT_EQ(xsmem_http_start(bad), nullptr) << bad;
    EXPECT_EQ(errno, EINVAL) << bad;
  }
  xsmem_http_server *v6 = xsmem_http_start("[::1]:0");
  if (v6) xsmem_http_stop(v6);  // IPv6 loopback may be absent in containers
  xsmem_http_server *plain = xsmem_http_start("0");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(Get(xsmem_http_port(plain), "/metrics").status, 200);  // loopback by default
  xsmem_http_stop(plain);
}

// DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1
// sends Host: evil.example. Only names of this server are answered.
TEST_F(ExportTest, HttpAnswersOnlyHostsNamingItself) {
  xsmem_http_config cfg = {};
  cfg.addr = "127.0.0.1:0";
  cfg.allow_hosts = "metrics.internal, Other.Example";
  char why[256] = "";
  xsmem_http_server *srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  uint16_t port = xsmem_http_port(srv);
  std::string p = ":" + std::to_string(port);
  for (std::string ok :
       std::vector<std::string>{"127.0.0.1", "127.0.0.1" + p, "localhost" + p, "LOCALHOST", "[::1]" + p, "127.0.0.2",
                                "metrics.internal" + p, "other.example", "127.0.0.1:1"}) {
    EXPECT_EQ(Get(port, "/metrics", "GET", "", ok).status, 200) << ok;
  }
  for (std::string bad :
       std::vector<std::string>{"evil.example", "evil.example" + p, "localhost.evil.example", "10.0.0.1", "[::2]",
                                "[::1", "metrics.internal.evil", ":" + std::to_string(port), "a:b:c"}) {
    Reply r = Get(port, "/metrics", "GET", "", bad);
    EXPECT_EQ(r.status, 403) << bad;
    EXPECT_NE(r.body.find("XSMEM_HTTP_ALLOW_HOSTS"), std::string::npos) << r.body;
  }
  // HTTP/1.0 without a Host header (no browser sends that).
  EXPECT_EQ(Request(port, "GET /metrics HTTP/1.0\r\n\r\n").status, 200);
  xsmem_http_stop(srv);
  cfg.allow_hosts = "*";
  srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  EXPECT_EQ(Get(xsmem_http_port(srv), "/metrics", "GET", "", "evil.example").status, 200);
  xsmem_http_stop(srv);
}

TEST_F(ExportTest, HttpTokenIsRequiredWhenSet) {
  xsmem_http_config cfg = {};
  cfg.addr = "127.0.0.1:0";
  cfg.token = "s3cret-token";
  char why[256] = "";
  xsmem_http_server *srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  uint16_t port = xsmem_http_port(srv);
  for (const char *path : {"/metrics", "/api/snapshot", "/", "/nope"}) {
    Reply r = Get(port, path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_NE(r.headers.find("WWW-Authenticate: Bearer"), std::string::npos) << r.headers;
    EXPECT_EQ(r.body.find("fake_bfc"), std::string::npos);
  }
  EXPECT_EQ(Get(port, "/metrics", "GET", "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(Get(port, "/metrics", "GET", "Authorization: Bearer s3cret-toke\r\n").status, 401);
  EXPECT_EQ(Get(port, "/metrics", "GET", "Authorization: Bearer s3cret-tokenX\r\n").status, 401);
  EXPECT_EQ(Get(port, "/metrics?token=wrong").status, 401);
  EXPECT_EQ(Get(port, "/metrics", "GET", "Authorization: Bearer s3cret-token\r\n").status, 200);
  EXPECT_EQ(Get(port, "/metrics", "GET", "authorization: bearer s3cret-token\r\n").status, 200);
  EXPECT_EQ(Get(port, "/metrics?token=s3cret-token").status, 200);
  EXPECT_EQ(Get(port, "/?token=s3cret-token").status, 200);  // the dashboard, which passes it on
  EXPECT_EQ(Get(port, "/api/snapshot.json?token=s3cret-token").status, 200);
  // The Host check comes first: a rebinding page learns nothing either way.
  EXPECT_EQ(Get(port, "/metrics?token=s3cret-token", "GET", "", "evil.example").status, 403);
  xsmem_http_stop(srv);

  // From a file: its trailing newline is not part of the token.
  std::string file = TmpPath("token");
  FILE *f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("from-a-file\n", f);
  fclose(f);
  cfg.token = nullptr;
  cfg.token_file = file.c_str();
  srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  EXPECT_EQ(Get(xsmem_http_port(srv), "/metrics").status, 401);
  EXPECT_EQ(Get(xsmem_http_port(srv), "/metrics", "GET", "Authorization: Bearer from-a-file\r\n").status, 200);
  xsmem_http_stop(srv);
  // An unreadable or empty token file stops the endpoint from starting (it
  // never serves without the token it was asked for).
  cfg.token_file = "/no/such/token";
  errno = 0;
  EXPECT_EQ(xsmem_http_start_config(&cfg, why, sizeof why), nullptr);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_NE(std::string(why).find("cannot read the token file /no/such/token: No such file or directory"),
            std::string::npos)
      << why;
  f = fopen(file.c_str(), "w");
  fputs(" \n", f);
  fclose(f);
  cfg.token_file = file.c_str();
  EXPECT_EQ(xsmem_http_start_config(&cfg, why, sizeof why), nullptr);
  EXPECT_NE(std::string(why).find("is empty"), std::string::npos) << why;
}

// A slow client (slow loris) sends a header line every few hundred ms: it
// kept its connection as long as it liked (the idle timeout restarts on each
// byte), and 40 of them locked every GET out (the limit was 32). Now a
// request has a total time, and a new connection evicts the oldest one that
// has no request being answered. Functional, not timed: the GET must succeed
// while 40 slow clients trickle, and the slow ones must be closed.
TEST_F(ExportTest, HttpServesNewClientsPastFortySlowOnes) {
  xsmem_http_config cfg = {};
  cfg.addr = "127.0.0.1:0";
  cfg.request_timeout_ms = 2000;
  char why[256] = "";
  xsmem_http_server *srv = xsmem_http_start_config(&cfg, why, sizeof why);
  ASSERT_NE(srv, nullptr) << why;
  uint16_t port = xsmem_http_port(srv);
  std::vector<int> slow;
  for (int i = 0; i < 40; i++) {
    int fd = Connect(port);
    ASSERT_GE(fd, 0);
    const char start[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    ASSERT_EQ(write(fd, start, sizeof(start) - 1), (ssize_t)sizeof(start) - 1);
    slow.push_back(fd);
  }
  std::atomic<bool> done{false};
  std::thread trickle([&] {  // a header line every 300 ms on every slow connection
    while (!done) {
      for (int fd : slow) (void)!send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);
      usleep(300000);
    }
  });
  usleep(200000);
  for (int i = 0; i < 3; i++) EXPECT_EQ(Get(port, "/metrics").status, 200) << "GET " << i << " locked out";
  // Every slow connection is closed: evicted, or past its 2 s in all (it
  // would have lived as long as it kept sending).
  size_t closed = 0;
  for (int fd : slow) {
    timeval tv = {20, 0};  // generous: the server's limit is 2 s
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {}
    closed += n == 0 || (n < 0 && errno == ECONNRESET);
  }
  done = true;
  trickle.join();
  for (int fd : slow) close(fd);
  EXPECT_EQ(closed, slow.size());
  EXPECT_EQ(Get(port, "/metrics").status, 200);
  xsmem_http_stop(srv);
}

}  // namespace
