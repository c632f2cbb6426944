// tracking/testing.h: what the tracker's tests share.
#ifndef XSMEM_TRACKING_TESTING_H_
#define XSMEM_TRACKING_TESTING_H_

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracking/tracker.h"

// A C test's assertion: the failed condition and where, then abort.
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                   \
    }                                                                            \
  } while (0)

// a's tracking summary; all zero when a is not a tracker (tracking off).
static inline xsmem_track_summary tracker_test_summary(xsmem_allocator *a) {
  xsmem_track_summary s;
  memset(&s, 0, sizeof(s));
  if (xsmem_is_tracker(a)) xsmem_tracker_summary(a, &s);
  return s;
}

#endif  // XSMEM_TRACKING_TESTING_H_
