// export/http.c: the HTTP endpoint over libmicrohttpd (see http.h).
#include "export/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "export/buf.h"
#include "export/dashboard_html.h"
#include "export/format.h"
#include "export/provider.h"
#include "export/snapshot.h"
#include "platform/log.h"
#include "platform/os_vm.h"

struct xsmem_http_server {
  struct MHD_Daemon *daemon;
  uint16_t port;
  struct sockaddr_storage addr;
};

enum { RESPONSE_HEADER = 16 };  // the mapping's size, kept in front of the body

// Frees a response body made by send_buf.
static void release_body(void *cls) {
  char *base = cls;
  size_t cap;
  memcpy(&cap, base, sizeof(cap));
  xsmem_buf_release_data(base, cap);
}

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *type, xsmem_buf *b) {
  if (b->failed) {
    xsmem_buf_free(b);
    return MHD_NO;  // out of memory: drop the connection
  }
  size_t len, cap;
  char *base = xsmem_buf_take(b, &len, &cap);
  memcpy(base, &cap, sizeof(cap));
  struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
      len - RESPONSE_HEADER, base + RESPONSE_HEADER, release_body, base);
  if (!r) {
    xsmem_buf_release_data(base, cap);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

// Starts a response body (the header slot first).
static void body_start(xsmem_buf *b) {
  char zero[RESPONSE_HEADER] = {0};
  xsmem_buf_append(b, zero, sizeof(zero));
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg) {
  xsmem_buf b = XSMEM_BUF_INIT;
  body_start(&b);
  xsmem_buf_puts(&b, "{\"error\":");
  xsmem_json_string(&b, msg);
  xsmem_buf_puts(&b, "}\n");
  return send_buf(c, status, "application/json", &b);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls) {
  xsmem_export_set_observer_thread(true);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD are served");
  }
  if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof(xsmem_dashboard_html) - 1, (void *)xsmem_dashboard_html, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
  }
  enum { METRICS, ALLOCATORS, STATS, SNAPSHOT_PB, SNAPSHOT_JSON, TIMELINE_CSV } what;
  const char *name = NULL;
  if (strcmp(url, "/metrics") == 0) what = METRICS;
  else if (strcmp(url, "/api/allocators") == 0) what = ALLOCATORS;
  else if (strncmp(url, "/api/stats/", 11) == 0 && url[11]) { what = STATS; name = url + 11; }
  else if (strcmp(url, "/api/snapshot.json") == 0) what = SNAPSHOT_JSON;
  else if (strcmp(url, "/api/timeline.csv") == 0) what = TIMELINE_CSV;
  else if (strcmp(url, "/api/snapshot") == 0) {
    const char *fmt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
    if (!fmt || strcmp(fmt, "protobuf") == 0) what = SNAPSHOT_PB;
    else if (strcmp(fmt, "json") == 0) what = SNAPSHOT_JSON;
    else return send_error(c, MHD_HTTP_BAD_REQUEST, "format must be protobuf or json");
  } else {
    return send_error(c, MHD_HTTP_NOT_FOUND, "no such path");
  }

  xsmem_arena arena = XSMEM_ARENA_INIT;
  Xsmem__Snapshot *s = xsmem_snapshot_collect(&arena);
  if (!s) {
    xsmem_arena_free(&arena);
    return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory collecting the snapshot");
  }
  xsmem_buf b = XSMEM_BUF_INIT;
  body_start(&b);
  unsigned status = MHD_HTTP_OK;
  const char *type = "application/json";
  switch (what) {
    case METRICS:
      xsmem_prometheus(s, &b);
      type = "text/plain; version=0.0.4; charset=utf-8";
      break;
    case ALLOCATORS:
      xsmem_json_allocators(s, &b);
      break;
    case STATS: {
      const Xsmem__Allocator *a = xsmem_snapshot_find(s, name);
      if (a) {
        xsmem_json_allocator(a, &b);
      } else {
        status = MHD_HTTP_NOT_FOUND;
        xsmem_buf_puts(&b, "{\"error\":\"no allocator named ");
        // The name is echoed inside a JSON string, escaped.
        xsmem_buf c2 = XSMEM_BUF_INIT;
        xsmem_json_string(&c2, name);
        if (c2.len >= 2) xsmem_buf_append(&b, c2.data + 1, c2.len - 2);
        xsmem_buf_free(&c2);
        xsmem_buf_puts(&b, "\"}");
      }
      break;
    }
    case SNAPSHOT_PB:
      xsmem_snapshot_pack(s, false, &b);
      type = "application/x-protobuf; messageType=xsmem.Snapshot";
      break;
    case SNAPSHOT_JSON:
      xsmem_json_snapshot(s, &b);
      break;
    case TIMELINE_CSV:
      xsmem_csv_timeline(s, &b);
      type = "text/csv";
      break;
  }
  if (what != SNAPSHOT_PB && what != TIMELINE_CSV && what != METRICS) xsmem_buf_puts(&b, "\n");
  xsmem_arena_free(&arena);
  return send_buf(c, status, type, &b);
}

// Parses addr into *ss (see http.h). Returns false for a malformed address.
static bool parse_addr(const char *addr, struct sockaddr_storage *ss) {
  char host[64] = "127.0.0.1";
  const char *port = addr;
  const char *colon = strrchr(addr, ':');
  if (addr[0] == '[') {
    const char *close = strchr(addr, ']');
    if (!close || close[1] != ':' || (size_t)(close - addr - 1) >= sizeof(host)) return false;
    memcpy(host, addr + 1, (size_t)(close - addr - 1));
    host[close - addr - 1] = '\0';
    port = close + 2;
  } else if (colon) {
    size_t n = (size_t)(colon - addr);
    if (n >= sizeof(host)) return false;
    if (n > 0) {
      memcpy(host, addr, n);
      host[n] = '\0';
    }
    port = colon + 1;
  }
  if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
  if (!port[0]) return false;
  unsigned long p = 0;
  for (const char *q = port; *q; q++) {
    if (*q < '0' || *q > '9') return false;
    p = p * 10 + (unsigned long)(*q - '0');
    if (p > 65535) return false;
  }
  memset(ss, 0, sizeof(*ss));
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)p);
    return true;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)p);
    return true;
  }
  return false;
}

static bool is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) {
    return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
  }
  return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

xsmem_http_server *xsmem_http_start(const char *addr) {
  struct sockaddr_storage ss;
  if (!addr || !parse_addr(addr, &ss)) {
    errno = EINVAL;
    return NULL;
  }
  if (!is_loopback(&ss)) xsmem_log("HTTP endpoint on %s is reachable from other hosts", addr);
  xsmem_http_server *s = xsmem_os_map(xsmem_os_page_size(), xsmem_os_page_size(), 0);
  if (!s) return NULL;
  s->addr = ss;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
  if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->addr,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT,
                               (unsigned)10, MHD_OPTION_END);
  if (!s->daemon) {
    int err = errno ? errno : EADDRINUSE;
    xsmem_os_unmap(s, xsmem_os_page_size());
    errno = err;
    return NULL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : 0;
  return s;
}

uint16_t xsmem_http_port(const xsmem_http_server *s) { return s->port; }

void xsmem_http_stop(xsmem_http_server *s) {
  if (!s) return;
  MHD_stop_daemon(s->daemon);
  xsmem_os_unmap(s, xsmem_os_page_size());
}
