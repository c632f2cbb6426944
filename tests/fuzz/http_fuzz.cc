// Fuzzes the HTTP request path: libmicrohttpd's parsing and our handler
// (export/http.c: the Host check, the token, the routes, the snapshot
// renderings) on the bytes a client sends.
//
// The servers run without a listening socket or a thread
// (xsmem_http_config.no_listen / no_thread): each input is written into one
// end of a socketpair whose other end is handed to the server, and the
// caller runs the event loop until the server has answered and closed the
// connection. The input's first byte picks the server: without a token, or
// with one. Checks: every response starts with a status line; the server
// lets go of every connection once the client has gone (no connection kept
// past its client: the slots are what bounds connections); a server with a
// token never answers 200 to bytes that do not carry it (literally, or
// %-encoded in a query).
// Built as a libFuzzer target under --config=fuzz; replayed over mutated
// seeds by http_fuzz_replay_test.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "export/http.h"
#include "export/snapshot.h"
#include "export/testing/fake_allocator.h"
}

namespace {

const char kToken[] = "fuzztoken7";

[[noreturn]] void Fail(const char *what, const std::string &in, const std::string &out) {
  fprintf(stderr, "http_fuzz: %s\n--- request (%zu bytes) ---\n%s\n--- response ---\n%s\n", what, in.size(), in.c_str(),
          out.c_str());
  abort();
}

xsmem_http_server *servers[2];

// The servers live in os_vm memory, which LeakSanitizer does not scan: stop
// them at exit, or their libmicrohttpd daemons read as leaks.
void StopServers() {
  for (xsmem_http_server *&s : servers) {
    xsmem_http_stop(s);
    s = nullptr;
  }
}

xsmem_http_server *Server(bool with_token) {
  static xsmem_fake_allocator fake;
  static bool added = [] {
    xsmem_fake_init(&fake, "fuzzed", "bfc");
    fake.stats.num_allocs = 10;
    fake.detail[0] = {"tier", "small", "bytes_in_use", "gauge", 30};
    fake.detail[1] = {"chunk", "0x1000", "size", "gauge", 64};
    fake.num_detail = 2;
    return xsmem_export_add_allocator(&fake.base);
  }();
  (void)added;
  if (!servers[with_token]) {
    xsmem_http_config cfg = {};
    cfg.no_listen = true;
    cfg.no_thread = true;
    cfg.allow_hosts = "ok.example";
    if (with_token) cfg.token = kToken;
    char why[256] = "";
    servers[with_token] = xsmem_http_start_config(&cfg, why, sizeof why);
    if (!servers[with_token]) {
      fprintf(stderr, "http_fuzz: cannot start a server: %s\n", why);
      abort();
    }
    static bool registered = atexit(StopServers) == 0;
    (void)registered;
  }
  return servers[with_token];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  bool with_token = data[0] & 1;
  std::string in((const char *)data + 1, size - 1);
  if (in.size() > 64 * 1024) in.resize(64 * 1024);  // within a socketpair's buffer: written at once
  xsmem_http_server *srv = Server(with_token);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  size_t off = 0;
  while (off < in.size()) {
    ssize_t w = write(sv[0], in.data() + off, in.size() - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  std::string out;
  if (xsmem_http_add_connection(srv, sv[1])) {  // the server owns sv[1] now (closed on failure too)
    // The server answers what it can; once nothing more comes, the client
    // stops sending (its half close), and the server must then close.
    bool half_closed = false, closed = false;
    int idle = 0;
    for (int iter = 0; iter < 4000 && !closed; iter++) {
      xsmem_http_run(srv, 0);
      char buf[65536];
      ssize_t r;
      bool got = false;
      while ((r = read(sv[0], buf, sizeof buf)) > 0) {
        out.append(buf, (size_t)r);
        got = true;
      }
      if (r == 0 || (r < 0 && errno != EAGAIN)) closed = true;
      idle = got ? 0 : idle + 1;
      if (idle >= 4 && !half_closed) {
        shutdown(sv[0], SHUT_WR);
        half_closed = true;
        idle = 0;
      }
    }
    if (!closed) Fail("the server kept the connection after its client stopped sending", in, out);
  }
  close(sv[0]);
  for (int i = 0; i < 200 && xsmem_http_connections(srv) > 0; i++) xsmem_http_run(srv, 0);
  if (xsmem_http_connections(srv) != 0) Fail("a connection outlived its client", in, out);
  if (!out.empty() && out.compare(0, 7, "HTTP/1.") != 0) Fail("a response without a status line", in, out);
  if (with_token && in.find(kToken) == std::string::npos && in.find('%') == std::string::npos) {
    for (const char *ok : {"HTTP/1.1 200", "HTTP/1.0 200"})
      if (out.find(ok) != std::string::npos) Fail("200 without the token", in, out);
  }
  return 0;
}

// Seeds for the replay test (and a libFuzzer corpus): every route, Host and
// token variant, methods, bodies, pipelining, garbage.
extern "C" void FuzzSeeds(std::vector<std::string> *out) {
  const std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
  const char *paths[] = {"/",
                         "/metrics",
                         "/api/allocators",
                         "/api/stats/fuzzed",
                         "/api/stats/none%22x",
                         "/api/snapshot",
                         "/api/snapshot?format=json",
                         "/api/snapshot?format=xml",
                         "/api/snapshot.json",
                         "/api/timeline.csv",
                         "/nope",
                         "/metrics?token=fuzztoken7"};
  const char *hosts[] = {"127.0.0.1", "localhost:9100", "[::1]:1", "evil.example", "ok.example:80", ""};
  for (int t = 0; t < 2; t++) {
    for (const char *p : paths) {
      for (const char *h : hosts) {
        std::string req = std::string("GET ") + p + " HTTP/1.1\r\n";
        if (*h) req += std::string("Host: ") + h + "\r\n";
        if (t) req += auth;
        req += "Connection: close\r\n\r\n";
        out->push_back(std::string(1, (char)t) + req);
      }
    }
  }
  out->push_back(std::string(1, '\1') + "HEAD /metrics HTTP/1.0\r\n" + auth + "\r\n");
  out->push_back(std::string(1, '\0') + "POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
  out->push_back(std::string(1, '\0') +
                 "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  out->push_back(std::string(1, '\0') +
                 "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\nGET /api/allocators "
                 "HTTP/1.1\r\nHost: localhost\r\n\r\n");
  out->push_back(std::string(1, '\1') +
                 "GET /api/snapshot.json?token=fuzz%74oken7 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  out->push_back(std::string(1, '\0') + "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1\r\n");
  out->push_back(std::string(1, '\0') + "\x01\x02 nonsense\r\n\r\n");
  out->push_back(std::string(1, '\0') + "GET /" + std::string(3000, 'a') + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}
