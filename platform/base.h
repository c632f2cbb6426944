// platform/base.h: the vocabulary every xsmem component shares.
//
// Status codes, branch hints, the cache-line size and the alignment and
// power-of-two helpers. Header-only, no dependencies beyond libc headers.
#ifndef XSMEM_PLATFORM_BASE_H_
#define XSMEM_PLATFORM_BASE_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Status codes of internal operations (allocation entry points use NULL + errno).
typedef enum xsmem_status {
  XSMEM_OK = 0,
  XSMEM_ENOMEM = 1,        // the source or a limit refused the memory
  XSMEM_EINVAL = 2,        // bad argument (alignment not a power of two, size overflow)
  XSMEM_ENOTFOUND = 3,     // lookup failed (no such configuration, pointer not owned)
  XSMEM_EUNSUPPORTED = 4,  // the platform cannot do it (no NUMA, no huge pages)
} xsmem_status;

// Returns a short constant string naming the status.
const char *xsmem_status_str(xsmem_status s);

#define XSMEM_LIKELY(x) __builtin_expect(!!(x), 1)
#define XSMEM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define XSMEM_INLINE static inline __attribute__((always_inline))
#define XSMEM_NOINLINE __attribute__((noinline))
#define XSMEM_COLD __attribute__((cold, noinline))
#define XSMEM_NORETURN __attribute__((noreturn))
#define XSMEM_UNUSED __attribute__((unused))
#define XSMEM_PRINTF(f, a) __attribute__((format(printf, f, a)))
// Symbols a preload library must export whatever the visibility default.
#define XSMEM_EXPORT __attribute__((visibility("default")))

#define XSMEM_CACHE_LINE 64
#define XSMEM_CACHE_ALIGNED __attribute__((aligned(XSMEM_CACHE_LINE)))
// The alignment malloc guarantees on this ABI (x86-64 and aarch64: 16).
#define XSMEM_MIN_ALIGN 16

#define XSMEM_KiB ((size_t)1 << 10)
#define XSMEM_MiB ((size_t)1 << 20)
#define XSMEM_GiB ((size_t)1 << 30)

#define XSMEM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define XSMEM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define XSMEM_MAX(a, b) ((a) > (b) ? (a) : (b))

// Returns true when x is a power of two (0 is not).
XSMEM_INLINE bool xsmem_is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Returns x rounded up to a multiple of align. REQUIRES: align is a power of two;
// the caller guards against overflow (see xsmem_align_up_checked).
XSMEM_INLINE size_t xsmem_align_up(size_t x, size_t align) { return (x + align - 1) & ~(align - 1); }

// Returns x rounded down to a multiple of align. REQUIRES: align is a power of two.
XSMEM_INLINE size_t xsmem_align_down(size_t x, size_t align) { return x & ~(align - 1); }

// Rounds x up to align into *out; returns false when that overflows.
XSMEM_INLINE bool xsmem_align_up_checked(size_t x, size_t align, size_t *out) {
  if (XSMEM_UNLIKELY(x > SIZE_MAX - (align - 1))) return false;
  *out = (x + align - 1) & ~(align - 1);
  return true;
}

XSMEM_INLINE bool xsmem_is_aligned(const void *p, size_t align) { return ((uintptr_t)p & (align - 1)) == 0; }

// Returns floor(log2(x)). REQUIRES: x > 0.
XSMEM_INLINE unsigned xsmem_log2_floor(size_t x) {
  return (unsigned)(sizeof(size_t) * 8 - 1 - (unsigned)__builtin_clzl(x));
}

// Returns ceil(log2(x)); 0 for x <= 1.
XSMEM_INLINE unsigned xsmem_log2_ceil(size_t x) { return x <= 1 ? 0 : xsmem_log2_floor(x - 1) + 1; }

// Returns the smallest power of two >= x (1 for x == 0). REQUIRES: x <= SIZE_MAX/2+1.
XSMEM_INLINE size_t xsmem_next_pow2(size_t x) { return (size_t)1 << xsmem_log2_ceil(x); }

// Levenshtein distance between a[0..la) and b[0..lb), ASCII case ignored;
// each is cut at XSMEM_EDIT_DISTANCE_MAX characters. For "did you mean"
// (platform/options.c, the xsmem command); no allocation.
#define XSMEM_EDIT_DISTANCE_MAX 64
size_t xsmem_edit_distance(const char *a, size_t la, const char *b, size_t lb);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_PLATFORM_BASE_H_
