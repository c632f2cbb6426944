// export/output.h: writing an output file the way its path asks for.
//
// Every file xsmem writes (the exporter's XSMEM_SNAPSHOT, the tool's
// `report -o`, `run --report/--snapshot`) goes through here, so that one set
// of rules holds for every output path:
//   - a regular file, or a path that does not exist yet: the data goes to a
//     temporary file in the same directory ("NAME.tmp.PID.N"), renamed over
//     the path, so a reader never sees half a file; an existing file's
//     permission bits are kept (a new one gets 0666 less the umask);
//   - a symbolic link: followed (up to 40 links) and its target written by
//     these rules, so the link stays a link and its target is replaced
//     atomically (a link to a missing file creates the file);
//   - a character device, FIFO or anything else that is not a regular file
//     or a directory (/dev/null, /dev/stdout, a terminal, a named pipe): written
//     in place, never replaced (renaming over /dev/null as root would turn it
//     into a plain file);
//   - a directory: refused (EISDIR).
// Streams (append_open) follow the same rules: appended to a regular file,
// written in place otherwise.
//
// A FIFO with no reader: with a wait of -1 the open blocks until one comes (as
// a shell redirection does; the tool); otherwise it is retried for wait_ms and
// then refused with ENXIO, and a reader that stops reading makes the write
// fail with ETIMEDOUT after wait_ms (the exporter: a preloaded process must
// never hang at exit on a pipe nobody reads).
//
// Nothing here allocates: paths are built in fixed buffers of PATH_MAX, so the
// exporter can write from inside the process it observes.
#ifndef XSMEM_EXPORT_OUTPUT_H_
#define XSMEM_EXPORT_OUTPUT_H_

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Writes data[0..len) to path by the rules above. Returns false with errno
// set, and (when why is not NULL) a message naming the path and the error.
bool xsmem_output_write(const char *path, const void *data, size_t len, int wait_ms, char *why, size_t why_cap);

// Opens path for appending a stream by the rules above. Returns the file
// descriptor (close it), with *regular set when it is a regular file and
// *empty when that file is empty; -1 with errno and why set on failure.
int xsmem_output_append_open(const char *path, int wait_ms, bool *regular, bool *empty, char *why, size_t why_cap);

// Writes all of data to fd, waiting at most wait_ms (-1: forever) whenever a
// non-blocking fd is full. Returns false with errno set.
bool xsmem_output_write_fd(int fd, const void *data, size_t len, int wait_ms);

// Starts a fresh stream at path: a regular file (after following links) is
// removed; a device or FIFO is left alone. Returns false with errno and why set
// when path is a directory or the removal fails.
bool xsmem_output_reset(const char *path, char *why, size_t why_cap);

// Checks, before any work is done, that path can be written by the rules above:
// a writable directory for a new or regular file, write permission on a device
// or FIFO, not a directory. Returns false with errno and why set.
bool xsmem_output_check(const char *path, char *why, size_t why_cap);

// Resolves the symbolic links of path's last component (at most 40) into
// out[0..cap). Returns false with errno set (ELOOP, ENAMETOOLONG, or an lstat
// error other than ENOENT: a missing final target is returned as is).
bool xsmem_output_resolve(const char *path, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_EXPORT_OUTPUT_H_
