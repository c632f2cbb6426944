// tracking/tracker_capture.c: stack capture, the call sites' frames.
//
// Three unwinders: the rule tables built from each module's .eh_frame
// (tracking/unwind.c, the default: whole stacks through code built without
// frame pointers), the frame-pointer walk (walk_frames, tracker_internal.h,
// inline because the recording paths hash the frames as they walk) and
// glibc's backtrace(). Captures start at their own frames and skip the
// tracker's, which live in their own section (XSMEM_TRACKER_TEXT), whatever
// was inlined where.
#include <execinfo.h>
#include <pthread.h>

#include "tracking/tracker_internal.h"
#include "tracking/unwind.h"

XSMEM_TLS uintptr_t xsmem_track_stack_lo, xsmem_track_stack_top;

// Finds this thread's stack bounds once (may allocate: called with busy
// set). xsmem_track_stack_top: the highest frame address whose two words
// lie in the stack. On failure lo = 1 > top = 0: no walk, and no retry.
XSMEM_NOINLINE XSMEM_COLD static void stack_bounds(void) {
  pthread_attr_t attr;
  void *addr;
  size_t size;
  xsmem_track_stack_lo = 1;
  xsmem_track_stack_top = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0 && size >= 16) {
    xsmem_track_stack_lo = (uintptr_t)addr;
    xsmem_track_stack_top = (uintptr_t)addr + size - 16;
  }
  pthread_attr_destroy(&attr);
}

// Finds this thread's stack bounds (once; stack_bounds may allocate).
XSMEM_NOINLINE XSMEM_COLD void tracker_stack_bounds(void) {
  xsmem_track_busy++;
  stack_bounds();
  xsmem_track_busy--;
}

// The walk from a given frame record (tracker_internal.h).
unsigned tracker_walk_from(uintptr_t frame, uintptr_t *out, unsigned max) {
  unsigned n;
  walk_frames(frame, max, out, &n);
  return n;
}

// Captures from this function's caller (depth returned).
XSMEM_TRACKER_TEXT XSMEM_NOINLINE static unsigned capture_fp(uintptr_t *out, unsigned max) {
  unsigned n;
  walk_frames((uintptr_t)__builtin_frame_address(0), max, out, &n);
  return n;
}

// Skips the tracker's frames by their frame pointers (the tracker is built
// with them), then unwinds by the tables from the first frame outside: the
// frame record f of the outermost tracker function gives its caller's state
// on return (pc f[1], rsp f + 16, rbp f[0]). The tables' walk reads only
// above that, so a tail call into it from a capture loses nothing.
XSMEM_INLINE unsigned unwind_from(uintptr_t start, uintptr_t *out, unsigned max) {
  if (XSMEM_UNLIKELY(!xsmem_track_stack_lo)) tracker_stack_bounds();
  uintptr_t f = start, top = xsmem_track_stack_top;
  if (f < xsmem_track_stack_lo || f > top || (f & (sizeof(uintptr_t) - 1))) return 0;
  while (tracker_text(((const uintptr_t *)f)[1])) {
    uintptr_t next = ((const uintptr_t *)f)[0];
    if (!frame_leads_on(next, f, top)) return 0;
    f = next;
  }
  const uintptr_t *rec = (const uintptr_t *)f;
  return xsmem_unwind(rec[1], f + 2 * sizeof(uintptr_t), rec[0], xsmem_track_stack_lo, top + 2 * sizeof(uintptr_t), out,
                      max);
}

unsigned tracker_unwind_from(uintptr_t start, uintptr_t *out, unsigned max) { return unwind_from(start, out, max); }

XSMEM_TRACKER_TEXT XSMEM_NOINLINE static unsigned capture_dwarf(uintptr_t *out, unsigned max) {
  return unwind_from((uintptr_t)__builtin_frame_address(0), out, max);
}

XSMEM_TRACKER_TEXT XSMEM_NOINLINE static unsigned capture_backtrace(uintptr_t *out, unsigned max) {
  void *buf[XSMEM_TRACK_MAX_DEPTH + 2];
  xsmem_track_busy++;  // the first call loads libgcc_s, which allocates
  int n = backtrace(buf, (int)XSMEM_MIN(max + 2, XSMEM_ARRAY_SIZE(buf)));
  xsmem_track_busy--;
  unsigned k = 0;
  // Skip ours, and whatever precedes them (a sanitizer's backtrace interceptor).
  int i = 0;
  for (int k = 0; k < n && k < 8; k++) {
    if (tracker_text((uintptr_t)buf[k])) i = k + 1;
  }
  for (; i < n && k < max; i++) out[k++] = (uintptr_t)buf[i];
  return k;
}

XSMEM_TRACKER_TEXT unsigned tracker_capture(uintptr_t *frames, unsigned max, xsmem_track_unwind how) {
  if (max > XSMEM_TRACK_MAX_DEPTH) max = XSMEM_TRACK_MAX_DEPTH;
  if (how == XSMEM_UNWIND_DWARF) return capture_dwarf(frames, max);
  return how == XSMEM_UNWIND_BACKTRACE ? capture_backtrace(frames, max) : capture_fp(frames, max);
}

XSMEM_TRACKER_TEXT XSMEM_NOINLINE unsigned xsmem_tracker_capture(uintptr_t *frames, unsigned max,
                                                                 xsmem_track_unwind how) {
  return tracker_capture(frames, max, how);
}
