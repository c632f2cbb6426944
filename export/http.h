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
// The server runs one thread (libmicrohttpd's internal polling thread). Each
// request collects a fresh snapshot into an os_vm arena and renders it into
// an os_vm buffer that libmicrohttpd sends and then hands back to munmap: the
// exporter's own work never goes through malloc. libmicrohttpd itself calls
// malloc for connections; that thread is marked as an observer thread
// (provider.h) and never holds an allocator lock while it allocates, so it
// cannot recurse into or deadlock the allocator it observes.
#ifndef XSMEM_EXPORT_HTTP_H_
#define XSMEM_EXPORT_HTTP_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_http_server xsmem_http_server;

// Starts serving on addr: "HOST:PORT", "[V6HOST]:PORT", ":PORT" or "PORT".
// HOST defaults to 127.0.0.1 (loopback); "localhost" means 127.0.0.1; other
// hosts must be numeric addresses. PORT 0 picks a free port. Returns NULL
// with errno set (EINVAL for a malformed address, or the bind error).
xsmem_http_server *xsmem_http_start(const char *addr);

// Returns the port actually bound.
uint16_t xsmem_http_port(const xsmem_http_server *s);

// Stops the server, waiting for its thread; s is freed.
void xsmem_http_stop(xsmem_http_server *s);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_HTTP_H_
