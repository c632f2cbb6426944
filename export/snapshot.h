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
// Binary forms (format version 2). A snapshot file and a stream of snapshots
// have one layout: a file header, then records appended one after another (a
// single-snapshot file is a stream of one record, written to a temporary name
// and renamed, see output.h; a periodic stream is appended to):
//   file header, 16 bytes:  "\x89XSMEM\r\n", version (u32, 2), CRC32C of the
//                           12 bytes before it (u32)
//   record header, 16 bytes: "\xc7XSR", payload length (u32), CRC32C of the
//                           payload (u32), CRC32C of the 12 bytes before it (u32)
//   payload:                a packed xsmem.Snapshot
// Integers are little-endian; CRC32C is the Castagnoli CRC (iSCSI, ext4).
// The checksums make every damaged record detectable: a reader refuses it with
// its byte offset and goes on at the next intact record (the header's own
// checksum says whether its length can be trusted to skip the payload; when it
// cannot, the reader looks for the next valid record header). A stream whose
// writer was killed or ran out of disk ends in a cut record: every record
// before it is read, and the cut is reported. A file header in the middle of a
// stream (two writers, or concatenated files) is skipped.
// Version 1 (before the header existed) is still read: a single packed Snapshot
// per file, or records each preceded by its length as a varint (the protobuf
// "delimited" convention). No version-1 writer produced the file header: its
// files start with a Snapshot (field 1's tag, 0x08) or with a varint length
// followed by one, and "\x89X" would be a length followed by 'S'.
// Readers refuse records over XSMEM_SNAPSHOT_MAX_RECORD and files over
// XSMEM_SNAPSHOT_MAX_FILE (so `xsmem stats /dev/zero` ends with an error).
// /api/snapshot serves the bare packed Snapshot (HTTP carries its own framing).
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
  XSMEM_SNAPSHOT_FORMAT_VERSION = 2,
  XSMEM_SNAPSHOT_FILE_HEADER = 16,    // bytes
  XSMEM_SNAPSHOT_RECORD_HEADER = 16,  // bytes
};

// The most a reader accepts: one record (a snapshot is tens of KiB to a few
// MiB: the bfc chunk map is its largest part) and one file.
#define XSMEM_SNAPSHOT_MAX_RECORD ((size_t)64 << 20)
#define XSMEM_SNAPSHOT_MAX_FILE ((size_t)1 << 30)

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

// Appends the packed snapshot to out (delimited: preceded by its varint
// length, the version-1 stream record).
bool xsmem_snapshot_pack(const Xsmem__Snapshot *s, bool delimited, xsmem_buf *out);

// Appends the file header / one record (header and payload) of format 2.
void xsmem_snapshot_file_header(xsmem_buf *out);
bool xsmem_snapshot_pack_record(const Xsmem__Snapshot *s, xsmem_buf *out);

// Returns the CRC32C of data[0..n) continuing from crc (0 to start).
uint32_t xsmem_crc32c(uint32_t crc, const void *data, size_t n);

// Writes s to path as a single-snapshot file (file header and one record), by
// the rules of output.h (temporary file + rename for a regular or new file, in
// place for a device or FIFO). wait_ms bounds the wait on a FIFO (-1: no
// bound). Returns false with errno set and, when why is not NULL, a message.
bool xsmem_snapshot_write_file_ex(const char *path, const Xsmem__Snapshot *s, int wait_ms, char *why, size_t why_cap);
// The same with the exporter's wait (2 s) and no message.
bool xsmem_snapshot_write_file(const char *path, const Xsmem__Snapshot *s);

// Appends one record of s to the stream at path (created with its file header
// if missing or empty) in one write. Returns false with errno set (and why).
bool xsmem_snapshot_append_file_ex(const char *path, const Xsmem__Snapshot *s, int wait_ms, char *why, size_t why_cap);
bool xsmem_snapshot_append_file(const char *path, const Xsmem__Snapshot *s);

// Reads a whole file into out, at most XSMEM_SNAPSHOT_MAX_FILE bytes. Returns
// false with errno set (EFBIG beyond the cap: a regular file is refused from
// its size without being read; a device or pipe once the cap is read).
bool xsmem_read_file(const char *path, xsmem_buf *out);
// The same with another cap.
bool xsmem_read_file_capped(const char *path, xsmem_buf *out, size_t cap);
// Reads a snapshot file (either format): as xsmem_read_file, but a file whose
// first 16 bytes cannot begin a snapshot is refused there with EBADMSG, unread
// (so `xsmem stats /dev/zero` or /dev/urandom ends at once).
bool xsmem_snapshot_read_file(const char *path, xsmem_buf *out);

// Returns the snapshot packed in data[0..len) unpacked into arena, or NULL
// (errno = EBADMSG) when it is not a valid Snapshot.
Xsmem__Snapshot *xsmem_snapshot_unpack(xsmem_arena *arena, const void *data, size_t len);

// Returns true when data[0..len) is a format-2 file: its file header, or (the
// header damaged) a valid record header right after where it should be.
bool xsmem_snapshot_is_framed(const void *data, size_t len);

// Reader of a stream held in memory: format 2, or version-1 delimited
// records. Zero-initialize, then set data and len.
typedef struct xsmem_snapshot_stream {
  const uint8_t *data;
  size_t len;
  size_t pos;
  size_t record_offset;  // where the last record returned began
  // Set when xsmem_snapshot_next returns -1:
  size_t error_offset;  // byte offset of what was refused
  const char *error;    // what was wrong (static text)
  bool cut;             // the stream ends in a cut record (nothing follows)
  int format;           // 0 until the first call, then 1 or 2
} xsmem_snapshot_stream;

// Returns 1 and the next snapshot in *out; 0 at the end of the stream; -1
// (errno = EBADMSG) for a damaged or cut record, described by st->error and
// st->error_offset. After -1 the reader has moved on: the next call returns
// the next intact record, or 0 (always 0 after a cut, and after a version-1
// record that does not parse, which cannot be skipped).
int xsmem_snapshot_next(xsmem_snapshot_stream *st, xsmem_arena *arena, Xsmem__Snapshot **out);

// Generic access to AllocatorStats fields by X-macro name (through the
// protobuf-c descriptor). Returns false when the proto has no such field.
bool xsmem_snapshot_stat_get(const Xsmem__AllocatorStats *st, const char *name, double *value);
bool xsmem_snapshot_stat_present(const char *name);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_SNAPSHOT_H_
