// platform/log.h: formatted output that never allocates.
//
// An allocator cannot call printf to report that it is broken: printf may
// allocate, and the allocator may be the one being reported. These functions
// format into a stack buffer with a small printf subset and write(2) it.
//
// Supported conversions: %s %c %d %i %u %x %X %p %zu %zd %zx %ld %lu %lx %lld
// %llu %llx %f (fixed, 3 decimals unless a precision is given) and %%, with
// optional '-', '0', width and precision (precision for %s and %f).
#ifndef XSMEM_PLATFORM_LOG_H_
#define XSMEM_PLATFORM_LOG_H_

#include <stdarg.h>
#include <stddef.h>

#include "platform/base.h"

#ifdef __cplusplus
extern "C" {
#endif

// Formats into buf (always NUL-terminated when cap > 0). Returns the length the
// full output would have had, like snprintf.
size_t xsmem_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap);
size_t xsmem_snprintf(char *buf, size_t cap, const char *fmt, ...) XSMEM_PRINTF(3, 4);

// Writes all of buf to fd, retrying on EINTR and short writes.
void xsmem_write_all(int fd, const char *buf, size_t len);

// Formats and writes to fd (output longer than 4 KiB is cut).
void xsmem_dprintf(int fd, const char *fmt, ...) XSMEM_PRINTF(2, 3);

// Returns the description of an errno value ("No such file or directory"),
// without allocating or translating (strerror may allocate for unknown values).
const char *xsmem_strerror(int err);

// Writes "xsmem: <message>\n" to stderr.
void xsmem_log(const char *fmt, ...) XSMEM_PRINTF(1, 2);

// Writes "xsmem: fatal: <message>\n" to stderr and aborts.
XSMEM_NORETURN XSMEM_COLD void xsmem_fatal(const char *fmt, ...) XSMEM_PRINTF(1, 2);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_LOG_H_
