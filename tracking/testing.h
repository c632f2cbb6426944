// tracking/testing.h: what the tracker's tests share.
#ifndef XSMEM_TRACKING_TESTING_H_
#define XSMEM_TRACKING_TESTING_H_

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracking/tracker.h"

// A C test's assertion: the failed condition and where, then abort.
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

// a's tracking summary; all zero when a is not a tracker (tracking off).
static inline xsmem_track_summary tracker_test_summary(xsmem_allocator *a) {
  xsmem_track_summary s;
  memset(&s, 0, sizeof(s));
  if (xsmem_is_tracker(a)) xsmem_tracker_summary(a, &s);
  return s;
}

#ifdef __cplusplus
// The tracker's unit tests (tracker_test.cc, tracker_checks_test.cc,
// guarded_test.cc): trackers over the system allocator, and two allocating
// functions whose frames name call sites.
#include "allocators/system/system.h"
#include "gtest/gtest.h"

// The tests' options for `mode`: small intervals and a short timeline step.
inline xsmem_tracker_options Options(xsmem_track_mode mode) {
  xsmem_tracker_options o;
  memset(&o, 0, sizeof(o));
  o.mode = mode;
  o.sample_bytes = 64 * 1024;
  o.quarantine_bytes = 1 << 20;
  o.depth = 8;
  o.unwind = XSMEM_UNWIND_FP;
  o.guard_slots = 16;
  o.timeline_ms = 1;
  o.leak_report_sites = 10;
  return o;
}

// A tracker over the system allocator, with Options(mode) or *custom.
inline xsmem_allocator *Make(xsmem_track_mode mode, xsmem_tracker_options *custom = nullptr) {
  xsmem_tracker_options o = custom ? *custom : Options(mode);
  xsmem_allocator *t = xsmem_tracker_create(xsmem_system_allocator(), &o, "test_tracker");
  EXPECT_NE(t, nullptr);
  return t;
}

extern "C" inline __attribute__((noinline)) void *tracker_test_leak_here(xsmem_allocator *t, size_t n) {
  void *p = xsmem_alloc(t, n, 16, 0);
  __asm__ volatile("" ::: "memory");  // keep the frame (no tail call)
  return p;
}

extern "C" inline __attribute__((noinline)) void *tracker_test_other_site(xsmem_allocator *t, size_t n) {
  void *p = xsmem_alloc(t, n, 16, 0);
  __asm__ volatile("" ::: "memory");
  return p;
}
#endif  // __cplusplus

#endif  // XSMEM_TRACKING_TESTING_H_
