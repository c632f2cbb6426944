// export/snapshot.h: collecting, packing and reading Snapshot messages.
//
// A snapshot (export/xsmem_stats.proto) is collected into an xsmem_arena: the
// process's identity, every observed allocator (each configuration in the
// registry, plus allocators added with xsmem_export_add_allocator) with its
// xsmem_stats and detail figures, the os_vm counters, the analysis provider's
// sections when one is installed, the sampler's timeline otherwise, and the
// alert states. Collecting never calls malloc: allocator stats/detail ops and
// the provider write through sinks that copy into the arena.
//
// Binary forms: one snapshot per file (written by output.h's rules: to a
// temporary name renamed over a regular file, so a reader never sees half a
// file; in place to a device or FIFO), and a stream file to which snapshots
// are appended, each preceded by its length as a varint (the protobuf
// "delimited" convention; Java's parseDelimitedFrom reads it too).
// Thread-safety: collection may run on any thread; concurrent collections are
// safe (each has its own arena) but cost a stats call each.
#ifndef XSMEM_EXPORT_SNAPSHOT_H_
#define XSMEM_EXPORT_SNAPSHOT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allocators/allocator.h"
#include "export/buf.h"
#include "export/xsmem_stats.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  XSMEM_EXPORT_MAX_ALLOCATORS = 64,  // observed allocators per process
  XSMEM_EXPORT_TOP_CALL_SITES = 32,  // call sites per snapshot
  XSMEM_EXPORT_MAX_LEAKS = 256,      // leaks per snapshot
};

// Adds an allocator that is not a registered configuration (a private bfc, a
// pool inside an application) to every snapshot. Returns false when the table
// is full. a must outlive the process's use of the exporter.
bool xsmem_export_add_allocator(xsmem_allocator *a);

// One observed allocator.
typedef struct xsmem_observed {
  xsmem_allocator *allocator;
  const char *config;  // configuration name, "" when added by hand
  bool process;        // serves malloc
} xsmem_observed;

// Fills out[0..max) with the observed allocators (registered configurations,
// built on first use, then the added ones); returns how many.
size_t xsmem_export_observed(xsmem_observed *out, size_t max);

// Returns a snapshot of this process allocated in arena, or NULL (errno =
// ENOMEM) when the arena cannot grow.
Xsmem__Snapshot *xsmem_snapshot_collect(xsmem_arena *arena);

// Returns the allocator named `name` of s, or NULL.
const Xsmem__Allocator *xsmem_snapshot_find(const Xsmem__Snapshot *s, const char *name);

// Appends the packed snapshot to out (delimited: preceded by its varint length).
bool xsmem_snapshot_pack(const Xsmem__Snapshot *s, bool delimited, xsmem_buf *out);

// Writes s to path as a single-snapshot file by the rules of output.h
// (temporary file + rename for a regular or new file, in place for a device or
// FIFO, links followed). wait_ms bounds the wait on a FIFO (-1: no bound).
// Returns false with errno set and, when why is not NULL, a message.
bool xsmem_snapshot_write_file_ex(const char *path, const Xsmem__Snapshot *s, int wait_ms, char *why,
                                  size_t why_cap);
// The same with the exporter's wait (2 s) and no message.
bool xsmem_snapshot_write_file(const char *path, const Xsmem__Snapshot *s);

// Appends s, delimited, to the stream at path (created if missing) in one
// write, by the same rules. Returns false with errno set (and why).
bool xsmem_snapshot_append_file_ex(const char *path, const Xsmem__Snapshot *s, int wait_ms, char *why,
                                   size_t why_cap);
bool xsmem_snapshot_append_file(const char *path, const Xsmem__Snapshot *s);

// Reads a whole file into out. Returns false with errno set.
bool xsmem_read_file(const char *path, xsmem_buf *out);

// Returns the snapshot packed in data[0..len) unpacked into arena, or NULL
// (errno = EBADMSG) when it is not a valid Snapshot.
Xsmem__Snapshot *xsmem_snapshot_unpack(xsmem_arena *arena, const void *data, size_t len);

// Reader of a delimited stream held in memory.
typedef struct xsmem_snapshot_stream {
  const uint8_t *data;
  size_t len;
  size_t pos;
} xsmem_snapshot_stream;

// Returns 1 and the next snapshot in *out, 0 at the clean end of the stream,
// -1 (errno = EBADMSG) on a truncated or corrupt record.
int xsmem_snapshot_next(xsmem_snapshot_stream *st, xsmem_arena *arena, Xsmem__Snapshot **out);

// Generic access to AllocatorStats fields by X-macro name (through the
// protobuf-c descriptor). Returns false when the proto has no such field.
bool xsmem_snapshot_stat_get(const Xsmem__AllocatorStats *st, const char *name, double *value);
bool xsmem_snapshot_stat_present(const char *name);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_SNAPSHOT_H_
