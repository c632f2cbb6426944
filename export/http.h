// export/http.h: the live HTTP endpoint (libmicrohttpd, from Debian).
//
// Routes (GET or HEAD; anything else is 405, an unknown path 404):
//   /                     the dashboard (one self-contained page; polls the API)
//   /metrics              Prometheus text exposition format
//   /api/allocators       JSON array of the observed allocators and their stats
//   /api/stats/NAME       JSON of one allocator with its detail values (404 if unknown)
//   /api/snapshot         the protobuf Snapshot (?format=json for JSON)
//   /api/snapshot.json    the Snapshot as JSON
//   /api/timeline.csv     the timeline as CSV
//
// Who may ask. Every request is checked, in this order:
//   Host    The Host header must name this server: "localhost", a loopback
//           address, the bound address (any address literal when bound to
//           0.0.0.0 or ::), or a name of allow_hosts (XSMEM_HTTP_ALLOW_HOSTS;
//           "*" accepts any); the port is not checked (an ssh tunnel changes
//           it). Anything else is 403: a web page the user visits cannot read
//           the endpoint by rebinding its own DNS name to 127.0.0.1. A request
//           without Host (HTTP/1.0) passes: browsers always send one.
//   token   When a token is set (XSMEM_HTTP_TOKEN, or XSMEM_HTTP_TOKEN_FILE),
//           a request must carry it as "Authorization: Bearer TOKEN" or as
//           ?token=TOKEN (the dashboard passes its own URL's token on to the
//           API); else 401. Compared in constant time.
// What is served. The command line's arguments may hold secrets: a snapshot
// served here carries the program (argv[0]) and "[arguments hidden]" unless
// show_cmdline is set (XSMEM_HTTP_SHOW_CMDLINE=1). Files written by
// XSMEM_SNAPSHOT keep the whole command line (they are the user's own).
//
// Connections. One thread runs libmicrohttpd's event loop (external polling
// over epoll) and answers every request. A request has request_timeout_ms in
// all, from its first byte (or the end of the one before it on a kept-alive
// connection) to its response's last byte: a client that sends a byte every
// few seconds (slow loris) no longer holds its connection for as long as it
// likes. Past max_connections, each new connection evicts the oldest one that
// has no request being answered (a slow or idle client), so 40 slow clients
// cannot lock a new GET out; at most 64 connections exist at once.
// Each request collects a fresh snapshot into an os_vm arena and renders it
// into an os_vm buffer that libmicrohttpd sends and then hands back to
// munmap: the exporter's own work never goes through malloc. libmicrohttpd
// itself calls malloc for connections; that thread is marked as an observer
// thread (provider.h) and never holds an allocator lock while it allocates, so
// it cannot recurse into or deadlock the allocator it observes.
#ifndef XSMEM_EXPORT_HTTP_H_
#define XSMEM_EXPORT_HTTP_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_http_server xsmem_http_server;

typedef struct xsmem_http_config {
  // "HOST:PORT", "[V6HOST]:PORT", ":PORT" or "PORT". HOST defaults to
  // 127.0.0.1 (loopback); "localhost" means 127.0.0.1; other hosts must be
  // numeric addresses. PORT 0 picks a free port.
  const char *addr;
  const char *token;            // required on every request when not NULL or ""
  const char *token_file;       // the token's file (used when token is unset); its
                                // trailing white space is dropped; unreadable: no start
  const char *allow_hosts;      // comma-separated Host names accepted besides ours; "*": any
  bool show_cmdline;            // serve the command line's arguments
  unsigned max_connections;     // before eviction starts; 0: 32
  unsigned request_timeout_ms;  // a request's total time; 0: 15000
  // Testing and fuzzing: no listening socket (connections come from
  // xsmem_http_add_connection) and no thread (the caller runs the loop with
  // xsmem_http_run).
  bool no_listen;
  bool no_thread;
} xsmem_http_config;

// Starts serving as cfg says. Returns NULL with errno set (EINVAL for a
// malformed address, a token over 255 bytes or an empty token file, the bind
// error, or the token file's open error), with a message in why when it is
// not NULL.
xsmem_http_server *xsmem_http_start_config(const xsmem_http_config *cfg, char *why, size_t why_cap);

// Starts serving on addr with the defaults (no token, no extra hosts).
xsmem_http_server *xsmem_http_start(const char *addr);

// Returns the port actually bound (0 under no_listen).
uint16_t xsmem_http_port(const xsmem_http_server *s);

// Writes "HOST:PORT" ("[V6HOST]:PORT") of the bound address into buf.
void xsmem_http_address(const xsmem_http_server *s, char *buf, size_t cap);

// Returns true when requests must carry a token.
bool xsmem_http_has_token(const xsmem_http_server *s);

// Stops the server, waiting for its thread; s is freed.
void xsmem_http_stop(xsmem_http_server *s);

// Testing and fuzzing (no_listen, no_thread): hands a connected stream socket
// to the server as if accepted from 127.0.0.1 (it owns fd from then on), and
// runs the event loop once, waiting at most timeout_ms for activity.
bool xsmem_http_add_connection(xsmem_http_server *s, int fd);
void xsmem_http_run(xsmem_http_server *s, int timeout_ms);

// Returns how many connections the server holds now.
unsigned xsmem_http_connections(const xsmem_http_server *s);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_HTTP_H_
