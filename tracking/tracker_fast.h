// tracking/tracker_fast.h: the sampled tracker's fast path, for a malloc shim
// that calls its front inline (configs.bzl "shim_header").
//
// Sampled malloc costs what TCMalloc's does: the shim subtracts the size from
// the thread's byte countdown xsmem_track_until_sample and calls the inner
// front inline while it stays positive. Everything else is settled out of
// line when the countdown runs out (xsmem_tracker_malloc_slow): a sample is
// drawn and recorded; a thread's first call draws its countdown; a tracker
// that must see every malloc (full mode, guarding every block) pins the countdown
// far below zero and a process without a tracker (XSMEM_TRACK=off) far above.
// So the shim's malloc needs no test of the mode.
// Sampled free: a tracker whose sampled blocks live apart from the memory the
// shim frees inline (xsmem_tracker_options.sample_home: tagged pagemap
// chunks) needs nothing on free but the tag the shim reads; any other free
// goes through the tracker's ops, which read the counting filter.
// xsmem_tracker_view mirrors the first members of the tracker (checked by
// static asserts in tracker.c).
#ifndef XSMEM_TRACKING_TRACKER_FAST_H_
#define XSMEM_TRACKING_TRACKER_FAST_H_

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "allocators/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsmem_tracker_view {
  xsmem_allocator base;
  xsmem_allocator *inner;
  uint32_t fast_sample;
} xsmem_tracker_view;

extern const xsmem_allocator_ops xsmem_tracker_ops;
extern __thread int64_t xsmem_track_until_sample __attribute__((tls_model("initial-exec")));

// Requests of at least this many bytes can never be met (no address space
// has room). The countdown stays within +-2^62 and every size the tracker
// charges is below this, so its arithmetic never leaves the int64 range:
// xsmem_tracker_malloc_rest refuses such a request and takes back the
// shim's charge; a shim calling xsmem_tracker_malloc_slow directly must not
// pass it one.
#define XSMEM_TRACK_IMPOSSIBLE ((size_t)1 << 62)

// Charges a malloc of n bytes to the countdown: true while it is unsampled
// and may be served inline (the countdown is still >= 0; this form compiles
// to one subtraction in memory and a jump on its sign). For an impossible n
// the result is meaningless (computed modulo 2^64, never undefined): a shim
// either passes such a request, charged, to xsmem_tracker_malloc_rest, which
// undoes the charge, or tests for it before charging (system_tracked's,
// which then leaves it to glibc).
XSMEM_INLINE bool xsmem_tracker_charge(size_t n) {
  int64_t left = (int64_t)((uint64_t)xsmem_track_until_sample - n);
  xsmem_track_until_sample = left;
  return XSMEM_LIKELY(left >= 0);
}

// The countdown has run out (REQUIRES: n < XSMEM_TRACK_IMPOSSIBLE, charged):
// returns the block for malloc(n) from a, which is
// a tracker or (tracking off) the allocator the shim serves. front_inline: the
// shim's inline path serves that allocator when a is not a tracker (else the
// countdown is pinned so that every malloc comes here).
void *xsmem_tracker_malloc_slow(xsmem_allocator *a, size_t n, bool front_inline);

// An unsampled malloc(n) the shim does not serve inline (the countdown is
// already charged): from a's inner allocator, or a itself if not a tracker.
void *xsmem_tracker_malloc_unsampled(xsmem_allocator *a, size_t n);

// Either of the two, for a shim whose first step charged the countdown and
// served what it could inline: the slow path when the countdown ran out, else
// the unsampled one. The size comes first, where malloc received it, so the
// inline step needs no register move.
void *xsmem_tracker_malloc_rest(size_t n, xsmem_allocator *a, bool front_inline);

#ifdef __cplusplus
}
#endif
#endif  // XSMEM_TRACKING_TRACKER_FAST_H_
