// export/http.c: the HTTP endpoint over libmicrohttpd (see http.h).
#include "export/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "export/buf.h"
#include "export/dashboard_html.h"
#include "export/format.h"
#include "export/provider.h"
#include "export/snapshot.h"
#include "platform/log.h"
#include "platform/os_vm.h"

enum {
  RESPONSE_HEADER = 16,  // the mapping's size, kept in front of the body
  MAX_SLOTS = 64,        // connections at once (libmicrohttpd's hard limit)
  TOKEN_MAX = 256,
  HOSTS_MAX = 1024,
  DEFAULT_MAX_CONNECTIONS = 32,
  DEFAULT_REQUEST_TIMEOUT_MS = 15000,
  IDLE_TIMEOUT_S = 10,  // libmicrohttpd's own timeout: no byte for this long
  LOOP_WAIT_MS = 1000,  // the longest the loop sleeps between deadline checks
};

// One connection: when its current request began, and whether it is being
// answered (its headers are in) or waits for bytes.
typedef struct conn_slot {
  bool used, busy, killed;
  int fd;
  uint64_t start_ms;
} conn_slot;

struct xsmem_http_server {
  struct MHD_Daemon *daemon;
  uint16_t port;
  struct sockaddr_storage addr;
  bool wildcard;  // bound to 0.0.0.0 or ::
  bool show_cmdline;
  unsigned max_connections, request_timeout_ms;
  char token[TOKEN_MAX];
  size_t token_len;
  char allow_hosts[HOSTS_MAX];
  conn_slot slots[MAX_SLOTS];  // touched by the loop thread only
  int epoll_fd;
  int wake_fd;  // eventfd that wakes the loop to stop; -1 without a thread
  pthread_t thread;
  bool thread_running;
  _Atomic bool stop;
  size_t map_size;
};

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

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

// ---------------------------------------------------------------------------
// Connections: deadlines and eviction (all on the loop thread).

static void kill_slot(conn_slot *slot) {
  // libmicrohttpd sees the end of the stream at its next run and closes the
  // connection (the fd stays its own until then: no reuse race).
  if (slot->fd >= 0) shutdown(slot->fd, SHUT_RDWR);
  slot->killed = true;
}

static conn_slot *slot_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static unsigned live_connections(const xsmem_http_server *s) {
  unsigned n = 0;
  for (int i = 0; i < MAX_SLOTS; i++) n += s->slots[i].used && !s->slots[i].killed;
  return n;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_ConnectionNotificationCode toe) {
  xsmem_http_server *s = cls;
  if (toe != MHD_CONNECTION_NOTIFY_STARTED) {
    conn_slot *slot = *ctx;
    if (slot) slot->used = false;
    *ctx = NULL;
    return;
  }
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  int fd = ci ? ci->connect_fd : -1;
  conn_slot *slot = NULL;
  for (int i = 0; i < MAX_SLOTS && !slot; i++)
    if (!s->slots[i].used) slot = &s->slots[i];
  *ctx = slot;
  if (!slot) {  // cannot happen below libmicrohttpd's limit; refuse rather than track blindly
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    return;
  }
  *slot = (conn_slot){true, false, false, fd, mono_ms()};
  if (live_connections(s) <= s->max_connections) return;
  // Over the limit: the oldest connection that has no request being answered
  // (slow, or idle between requests) makes room for this one.
  conn_slot *old = NULL;
  for (int i = 0; i < MAX_SLOTS; i++) {
    conn_slot *o = &s->slots[i];
    if (o->used && o != slot && !o->busy && !o->killed && (!old || o->start_ms < old->start_ms)) old = o;
  }
  if (old) kill_slot(old);
}

// A request is over (answered, or its connection closed): a kept-alive
// connection's next request starts its clock now.
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  conn_slot *slot = slot_of(c);
  if (slot) {
    slot->busy = false;
    slot->start_ms = mono_ms();
  }
}

// Closes the connections whose request ran past its time. Returns the
// milliseconds until the next deadline (at most LOOP_WAIT_MS).
static uint64_t sweep(xsmem_http_server *s, uint64_t now) {
  uint64_t next = LOOP_WAIT_MS;
  for (int i = 0; i < MAX_SLOTS; i++) {
    conn_slot *slot = &s->slots[i];
    if (!slot->used || slot->killed) continue;
    uint64_t deadline = slot->start_ms + s->request_timeout_ms;
    if (now >= deadline) kill_slot(slot);
    else if (deadline - now < next) next = deadline - now;
  }
  return next;
}

// ---------------------------------------------------------------------------
// Who may ask: the Host header and the token.

// Returns true when name (lower case) is in the comma-separated list.
static bool in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    while (*p == ' ' || *p == ',') p++;
    const char *end = p;
    while (*end && *end != ',') end++;
    const char *last = end;
    while (last > p && last[-1] == ' ') last--;
    size_t len = (size_t)(last - p);
    if ((len == 1 && *p == '*') || (len == n && len > 0 && strncasecmp(p, name, n) == 0)) return true;
    p = end;
  }
  return false;
}

static bool same_address(const struct sockaddr_storage *ss, int family, const void *a) {
  if (ss->ss_family != family) return false;
  if (family == AF_INET) return memcmp(&((const struct sockaddr_in *)ss)->sin_addr, a, sizeof(struct in_addr)) == 0;
  return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof(struct in6_addr)) == 0;
}

// Returns true when the Host header names this server (see http.h).
static bool host_allowed(const xsmem_http_server *s, const char *host) {
  char name[256];
  const char *start = host, *end;
  bool bracketed = host[0] == '[';
  if (bracketed) {
    start = host + 1;
    end = strchr(start, ']');
    if (!end || (end[1] && end[1] != ':')) return false;
  } else {
    end = strchr(host, ':');  // the port, if any
    if (!end) end = host + strlen(host);
  }
  size_t n = (size_t)(end - start);
  if (n == 0 || n >= sizeof(name)) return false;
  for (size_t i = 0; i < n; i++) {
    char c = start[i];
    name[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  name[n] = '\0';
  if (strcmp(name, "localhost") == 0) return true;
  struct in_addr a4;
  struct in6_addr a6;
  if (!bracketed && inet_pton(AF_INET, name, &a4) == 1) {
    if ((ntohl(a4.s_addr) >> 24) == 127 || s->wildcard || same_address(&s->addr, AF_INET, &a4)) return true;
  } else if (bracketed && inet_pton(AF_INET6, name, &a6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&a6) || s->wildcard || same_address(&s->addr, AF_INET6, &a6)) return true;
  }
  return in_list(s->allow_hosts, name);
}

// Compares in time that depends on the token's length only.
static bool token_matches(const xsmem_http_server *s, const char *given) {
  size_t n = strnlen(given, TOKEN_MAX + 1);
  unsigned diff = n != s->token_len;
  for (size_t i = 0; i < s->token_len; i++) diff |= (unsigned char)s->token[i] ^ (unsigned char)(i < n ? given[i] : 0);
  return diff == 0;
}

static bool authorized(const xsmem_http_server *s, struct MHD_Connection *c) {
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
    auth += 7;
    while (*auth == ' ') auth++;
    if (token_matches(s, auth)) return true;
  }
  const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
  return q && token_matches(s, q);
}

static enum MHD_Result send_unauthorized(struct MHD_Connection *c) {
  xsmem_buf b = XSMEM_BUF_INIT;
  body_start(&b);
  xsmem_buf_puts(&b, "{\"error\":\"a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN\"}\n");
  if (b.failed) {
    xsmem_buf_free(&b);
    return MHD_NO;
  }
  size_t len, cap;
  char *base = xsmem_buf_take(&b, &len, &cap);
  memcpy(base, &cap, sizeof(cap));
  struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
      len - RESPONSE_HEADER, base + RESPONSE_HEADER, release_body, base);
  if (!r) {
    xsmem_buf_release_data(base, cap);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"xsmem\"");
  enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_UNAUTHORIZED, r);
  MHD_destroy_response(r);
  return ret;
}

// The command line without its arguments: "PROGRAM [arguments hidden]".
static char *redacted_cmdline(xsmem_arena *ar, const char *cmd) {
  static const char kHidden[] = " [arguments hidden]";
  size_t n = strcspn(cmd, " ");
  if (!cmd[n]) return (char *)cmd;
  char *out = xsmem_arena_alloc(ar, n + sizeof(kHidden));
  if (!out) return (char *)"";
  memcpy(out, cmd, n);
  memcpy(out + n, kHidden, sizeof(kHidden));
  return out;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
  xsmem_http_server *srv = cls;
  xsmem_export_set_observer_thread(true);
  conn_slot *slot = slot_of(c);
  if (slot) slot->busy = true;
  const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  if (host && !host_allowed(srv, host)) {
    return send_error(c, MHD_HTTP_FORBIDDEN,
                      "the Host header names another server (a DNS rebinding page?); "
                      "XSMEM_HTTP_ALLOW_HOSTS lists the names to accept");
  }
  if (srv->token_len && !authorized(srv, c)) return send_unauthorized(c);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD are served");
  }
  if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(xsmem_dashboard_html) - 1,
                                                             (void *)xsmem_dashboard_html, MHD_RESPMEM_PERSISTENT);
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
  else if (strncmp(url, "/api/stats/", 11) == 0 && url[11]) {
    what = STATS;
    name = url + 11;
  } else if (strcmp(url, "/api/snapshot.json") == 0) what = SNAPSHOT_JSON;
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
  if (!srv->show_cmdline) s->cmdline = redacted_cmdline(&arena, s->cmdline);
  xsmem_buf b = XSMEM_BUF_INIT;
  body_start(&b);
  unsigned status = MHD_HTTP_OK;
  const char *type = "application/json";
  switch (what) {
    case METRICS:
      xsmem_prometheus(s, &b);
      type = "text/plain; version=0.0.4; charset=utf-8";
      break;
    case ALLOCATORS: xsmem_json_allocators(s, &b); break;
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
    case SNAPSHOT_JSON: xsmem_json_snapshot(s, &b); break;
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

// ---------------------------------------------------------------------------
// Starting, the loop, stopping.

static int listen_on(const struct sockaddr_storage *ss, uint16_t *port) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ss->ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 64) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  struct sockaddr_storage got;
  socklen_t gl = sizeof(got);
  *port = 0;
  if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0)
    *port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                           : ((struct sockaddr_in6 *)&got)->sin6_port);
  return fd;
}

// Reads the token file into s->token (trailing white space dropped).
static bool read_token_file(xsmem_http_server *s, const char *path, char *why, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (why) xsmem_snprintf(why, cap, "cannot read the token file %s: %s", path, xsmem_strerror(err));
    errno = err;
    return false;
  }
  size_t n = 0;
  ssize_t r;
  while (n < TOKEN_MAX && (r = read(fd, s->token + n, TOKEN_MAX - n)) != 0) {
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    n += (size_t)r;
  }
  close(fd);
  while (n > 0 &&
         (s->token[n - 1] == '\n' || s->token[n - 1] == '\r' || s->token[n - 1] == ' ' || s->token[n - 1] == '\t'))
    n--;
  if (n == 0 || n >= TOKEN_MAX) {
    if (why) xsmem_snprintf(why, cap, "the token file %s is %s", path, n ? "longer than 255 bytes" : "empty");
    errno = EINVAL;
    return false;
  }
  s->token[n] = '\0';
  s->token_len = n;
  return true;
}

static void loop_once(xsmem_http_server *s, int max_wait_ms) {
  uint64_t wait = sweep(s, mono_ms());
  MHD_UNSIGNED_LONG_LONG mt;
  if (MHD_get_timeout(s->daemon, &mt) == MHD_YES && mt < wait) wait = mt;
  if (max_wait_ms >= 0 && wait > (uint64_t)max_wait_ms) wait = (uint64_t)max_wait_ms;
  struct pollfd p[2] = {{s->epoll_fd, POLLIN, 0}, {s->wake_fd, POLLIN, 0}};
  if (poll(p, s->wake_fd >= 0 ? 2 : 1, (int)wait) > 0 && s->wake_fd >= 0 && p[1].revents) {
    uint64_t v;
    if (read(s->wake_fd, &v, sizeof(v)) < 0) {
      // nothing to drain
    }
  }
  MHD_run(s->daemon);
}

static void *loop_main(void *arg) {
  xsmem_http_server *s = arg;
  xsmem_export_set_observer_thread(true);
  while (!atomic_load_explicit(&s->stop, memory_order_acquire)) loop_once(s, -1);
  return NULL;
}

static void release(xsmem_http_server *s) {
  if (s->wake_fd >= 0) close(s->wake_fd);
  xsmem_os_unmap(s, s->map_size);
}

static xsmem_http_server *fail_start(xsmem_http_server *s, int err, char *why, size_t cap, const char *what) {
  if (why && what) xsmem_snprintf(why, cap, "%s", what);
  if (s) release(s);
  errno = err;
  return NULL;
}

xsmem_http_server *xsmem_http_start_config(const xsmem_http_config *cfg, char *why, size_t why_cap) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  char msg[512];
  if (!cfg->no_listen && (!cfg->addr || !parse_addr(cfg->addr, &ss))) {
    xsmem_snprintf(msg, sizeof(msg), "malformed address '%s' (HOST:PORT, [V6HOST]:PORT or PORT, HOST numeric)",
                   cfg->addr ? cfg->addr : "");
    return fail_start(NULL, EINVAL, why, why_cap, msg);
  }
  size_t size = xsmem_align_up(sizeof(xsmem_http_server), xsmem_os_page_size());
  xsmem_http_server *s = xsmem_os_map(size, xsmem_os_page_size(), 0);
  if (!s) return fail_start(NULL, ENOMEM, why, why_cap, "out of memory");
  s->map_size = size;
  s->wake_fd = -1;
  s->addr = ss;
  s->show_cmdline = cfg->show_cmdline;
  s->max_connections = cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS;
  if (s->max_connections > MAX_SLOTS) s->max_connections = MAX_SLOTS;
  s->request_timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;
  if (ss.ss_family == AF_INET) s->wildcard = ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
  if (ss.ss_family == AF_INET6) s->wildcard = IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr);
  if (cfg->token && cfg->token[0]) {
    size_t n = strlen(cfg->token);
    if (n >= TOKEN_MAX) return fail_start(s, EINVAL, why, why_cap, "the token is longer than 255 bytes");
    memcpy(s->token, cfg->token, n + 1);
    s->token_len = n;
  } else if (cfg->token_file && cfg->token_file[0] && !read_token_file(s, cfg->token_file, msg, sizeof(msg))) {
    return fail_start(s, errno, why, why_cap, msg);
  }
  const char *hosts = cfg->allow_hosts ? cfg->allow_hosts : "";
  if (strlen(hosts) >= HOSTS_MAX) return fail_start(s, EINVAL, why, why_cap, "the list of allowed hosts is too long");
  memcpy(s->allow_hosts, hosts, strlen(hosts) + 1);
  int lfd = -1;
  if (!cfg->no_listen) {
    lfd = listen_on(&ss, &s->port);
    if (lfd < 0) {
      int err = errno;
      xsmem_snprintf(msg, sizeof(msg), "cannot serve HTTP on %s: %s", cfg->addr, xsmem_strerror(err));
      return fail_start(s, err, why, why_cap, msg);
    }
    if (!is_loopback(&ss)) {
      xsmem_log("HTTP endpoint on %s is reachable from other hosts%s", cfg->addr,
                s->token_len ? "" : "; set XSMEM_HTTP_TOKEN to require a token");
    }
  }
  if (!cfg->no_thread) {
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0) {
      int err = errno;
      if (lfd >= 0) close(lfd);
      return fail_start(s, err, why, why_cap, "cannot create the HTTP loop's eventfd");
    }
  }
  unsigned flags = MHD_USE_EPOLL;
  if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  if (cfg->no_listen) flags |= MHD_USE_NO_LISTEN_SOCKET;
  if (cfg->no_listen) {
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_SLOTS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_NOTIFY_CONNECTION,
                                 on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
  } else {
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_LISTEN_SOCKET, lfd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_SLOTS, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
  }
  if (!s->daemon) {
    if (lfd >= 0) close(lfd);
    return fail_start(s, EIO, why, why_cap, "libmicrohttpd refused to start");
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
  s->epoll_fd = di ? di->epoll_fd : -1;
  if (!cfg->no_thread) {
    if (pthread_create(&s->thread, NULL, loop_main, s) != 0) {
      MHD_stop_daemon(s->daemon);
      return fail_start(s, EAGAIN, why, why_cap, "cannot start the HTTP thread");
    }
    s->thread_running = true;
  }
  return s;
}

xsmem_http_server *xsmem_http_start(const char *addr) {
  xsmem_http_config cfg = {.addr = addr};
  return xsmem_http_start_config(&cfg, NULL, 0);
}

uint16_t xsmem_http_port(const xsmem_http_server *s) { return s->port; }

void xsmem_http_address(const xsmem_http_server *s, char *buf, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  bool v6 = s->addr.ss_family == AF_INET6;
  if (v6) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&s->addr)->sin6_addr, host, sizeof(host));
  else inet_ntop(AF_INET, &((const struct sockaddr_in *)&s->addr)->sin_addr, host, sizeof(host));
  xsmem_snprintf(buf, cap, v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)s->port);
}

bool xsmem_http_has_token(const xsmem_http_server *s) { return s->token_len > 0; }

unsigned xsmem_http_connections(const xsmem_http_server *s) {
  unsigned n = 0;
  for (int i = 0; i < MAX_SLOTS; i++) n += s->slots[i].used;
  return n;
}

bool xsmem_http_add_connection(xsmem_http_server *s, int fd) {
  struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(1), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  return MHD_add_connection(s->daemon, fd, (const struct sockaddr *)&from, sizeof(from)) == MHD_YES;
}

void xsmem_http_run(xsmem_http_server *s, int timeout_ms) { loop_once(s, timeout_ms); }

void xsmem_http_stop(xsmem_http_server *s) {
  if (!s) return;
  if (s->thread_running) {
    atomic_store_explicit(&s->stop, true, memory_order_release);
    uint64_t one = 1;
    if (write(s->wake_fd, &one, sizeof(one)) < 0) {
      // the loop wakes within LOOP_WAIT_MS anyway
    }
    pthread_join(s->thread, NULL);
  }
  MHD_stop_daemon(s->daemon);
  release(s);
}
