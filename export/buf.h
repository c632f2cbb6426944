// export/buf.h: memory for the exporter that never comes from malloc.
//
// The exporter runs inside the process it observes, often with the observed
// allocator serving malloc. To keep its own work out of the figures it reports
// (and to stay safe when called while that allocator is inconsistent or
// locked), everything it builds lives in os_vm mappings:
//   xsmem_buf    a growable byte buffer (output of every writer); growth maps a
//                region twice the size, copies, and unmaps the old one.
//   xsmem_arena  a bump arena of mapped chunks (snapshots and their strings);
//                freed all at once. xsmem_arena_pb gives a ProtobufCAllocator
//                over it so protobuf-c packs and unpacks without malloc.
// Released mappings of up to 256 KiB are kept in a 4-slot cache for the next
// collection (at most 1 MiB held while idle), which spares the page faults.
// A mapping failure sets the object's `failed` flag; later appends are dropped
// and the writer reports failure, so no call here aborts.
// Thread-safety: none; each object belongs to one thread at a time.
#ifndef XSMEM_EXPORT_BUF_H_
#define XSMEM_EXPORT_BUF_H_

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "platform/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_buf {
  char *data;  // NUL-terminated when len < cap
  size_t len;
  size_t cap;
  bool failed;
} xsmem_buf;

#define XSMEM_BUF_INIT \
  { NULL, 0, 0, false }

// Ensures room for `extra` more bytes. Returns false (and sets failed) when
// the mapping is refused.
bool xsmem_buf_reserve(xsmem_buf *b, size_t extra);
void xsmem_buf_append(xsmem_buf *b, const void *p, size_t n);
void xsmem_buf_puts(xsmem_buf *b, const char *s);
void xsmem_buf_printf(xsmem_buf *b, const char *fmt, ...) XSMEM_PRINTF(2, 3);
// Appends v in the shortest exact-enough form: an integer when v is integral,
// else up to 9 decimals with trailing zeros removed; NaN and infinities are
// written as nan_text / inf_text (with '-' for negative infinity).
void xsmem_buf_number(xsmem_buf *b, double v, const char *nan_text, const char *inf_text);
// Unmaps the buffer and resets it to empty.
void xsmem_buf_free(xsmem_buf *b);
// Gives the mapping to the caller (to release with xsmem_buf_release_data) and
// resets b.
char *xsmem_buf_take(xsmem_buf *b, size_t *len, size_t *cap);
void xsmem_buf_release_data(char *data, size_t cap);

typedef struct xsmem_arena_chunk xsmem_arena_chunk;
typedef struct xsmem_arena {
  xsmem_arena_chunk *head;
  size_t bytes_mapped;
  bool failed;
} xsmem_arena;

#define XSMEM_ARENA_INIT \
  { NULL, 0, false }

// Returns n bytes aligned to 16, zeroed; NULL when the mapping is refused.
void *xsmem_arena_alloc(xsmem_arena *a, size_t n);
// Returns a copy of s (NUL-terminated) in the arena; "" when s is NULL.
char *xsmem_arena_strdup(xsmem_arena *a, const char *s);
// Releases every chunk.
void xsmem_arena_free(xsmem_arena *a);
// Returns a protobuf-c allocator drawing from a (its free is a no-op).
ProtobufCAllocator xsmem_arena_pb(xsmem_arena *a);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_BUF_H_
